/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <limits.h>
#include <lvm2cmd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csm/log.h"
#include "csm/lvm.h"

/*
 * liblvm2cmd has one process-global log callback; a command's output is
 * gathered into the capture of the command running now (a driver process
 * runs one command at a time).
 */
struct capture {
	struct lvm_rows *rows;
	char errors[SM_ERROR_DETAIL_MAX];
	size_t elen;
	int oom;
};

static struct capture *current;

static void rows_add(struct capture *c, const char *line)
{
	struct lvm_rows *r = c->rows;
	char **grown;

	if (!r || !strchr(line, '|'))
		return;   /* warnings and messages share level 4 with rows */
	grown = realloc(r->row, (r->n + 1) * sizeof(*grown));
	if (!grown || !(grown[r->n] = strdup(line))) {
		if (grown)
			r->row = grown;
		c->oom = 1;
		return;
	}
	r->row = grown;
	r->n++;
}

static void on_log(int level, const char *file, int line, int dm_errno, const char *msg)
{
	struct capture *c = current;

	level &= 7;   /* flags above the level bits */
	if (!msg)
		return;
	if (level <= LVM2_LOG_ERROR)
		sm_log(LOG_ERR, "lvm: %s", msg);
	else if (level == LVM2_LOG_PRINT)
		sm_log(LOG_DEBUG, "lvm: %s", msg);
	if (!c)
		return;
	if (level == LVM2_LOG_PRINT) {
		rows_add(c, msg);
	} else if (level <= LVM2_LOG_ERROR && level > 0 && c->elen < sizeof(c->errors) - 1) {
		int n = snprintf(c->errors + c->elen, sizeof(c->errors) - c->elen, "%s%s",
				 c->elen ? "; " : "", msg);

		if (n > 0)
			c->elen = (size_t)n + c->elen < sizeof(c->errors) ? c->elen + (size_t)n
									  : sizeof(c->errors) - 1;
	}
}

/*
 * Characters a device path may have here: LVM's command line splits on
 * quotes, and the filter is a regular expression in a quoted string.
 */
static bool path_ok(const char *p)
{
	if (p[0] != '/' || strlen(p) > 512)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("/_.:+-=@,", *p)))
			return false;
	return true;
}

/* Append the anchored, escaped regex accepting path to the filter list. */
static void filter_add(char *buf, size_t cap, size_t *off, const char *path)
{
	*off += snprintf(buf + *off, cap - *off, "\"a|^");
	for (const char *p = path; *p && *off < cap; p++) {
		if (*p == '.' || *p == '+')
			*off += snprintf(buf + *off, cap - *off, "[%c]", *p);
		else
			*off += snprintf(buf + *off, cap - *off, "%c", *p);
	}
	*off += snprintf(buf + *off, cap - *off, "$|\",");
}

int lvm_open(struct lvm *l, const char *const *devices, size_t ndev, struct sm_error *err)
{
	char list[3000], real[PATH_MAX];
	const char *backup = getenv("CSM_LVM_BACKUP");
	size_t off = 0;

	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < ndev; i++) {
		if (!path_ok(devices[i]))
			return sm_fail(err, SME_SM_GENERAL, "device path '%.200s' cannot be passed to LVM",
				       devices[i]);
		filter_add(list, sizeof(list), &off, devices[i]);
		/* LVM names a device by its node; accept that name as well as the link. */
		if (realpath(devices[i], real) && strcmp(real, devices[i]) && path_ok(real))
			filter_add(list, sizeof(list), &off, real);
		if (off >= sizeof(list) - 16)
			return sm_fail(err, SME_SM_GENERAL, "too many devices for the LVM filter");
	}
	snprintf(list + off, sizeof(list) - off, "\"r|.*|\"");
	/*
	 * global_filter too: a site lvm.conf may accept more there; no devices
	 * file, which would override the filter; scan /dev ourselves, as udev
	 * may not be running (early boot, the test VM).
	 */
	snprintf(l->config, sizeof(l->config),
		 "devices{filter=[%s] global_filter=[%s] use_devicesfile=0 "
		 "obtain_device_list_from_udev=0}%s",
		 list, list, backup && strcmp(backup, "off") == 0 ? " backup{backup=0 archive=0}" : "");
	lvm2_log_fn(on_log);
	l->handle = lvm2_init();
	if (!l->handle)
		return sm_fail(err, SME_SM_GENERAL, "liblvm2cmd initialisation failed");
	lvm2_disable_dmeventd_monitoring(l->handle);
	return 0;
}

void lvm_close(struct lvm *l)
{
	if (l->handle)
		lvm2_exit(l->handle);
	l->handle = NULL;
}

void lvm_rows_free(struct lvm_rows *rows)
{
	if (!rows)
		return;
	for (size_t i = 0; i < rows->n; i++)
		free(rows->row[i]);
	free(rows->row);
	rows->row = NULL;
	rows->n = 0;
}

size_t lvm_row_split(char *row, char **fields, size_t max)
{
	size_t n = 0;
	char *p = row;

	while (n < max) {
		char *end = strchr(p, '|');

		if (end)
			*end = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		for (char *t = p + strlen(p); t > p && (t[-1] == ' ' || t[-1] == '\t'); t--)
			t[-1] = '\0';
		fields[n++] = p;
		if (!end)
			break;
		p = end + 1;
	}
	return n;
}

/* lvm2_run splits the line itself; every argument goes in single quotes. */
static int build_cmdline(const struct lvm *l, const char *const argv[], char **out)
{
	size_t cap = strlen(l->config) + 16, off = 0;
	char *line;

	for (size_t i = 0; argv[i]; i++) {
		if (strchr(argv[i], '\'') || strchr(argv[i], '\n'))
			return -EINVAL;
		cap += strlen(argv[i]) + 3;
	}
	line = malloc(cap + 16);
	if (!line)
		return -ENOMEM;
	off += sprintf(line, "%s '--config' '%s'", argv[0], l->config);
	for (size_t i = 1; argv[i]; i++)
		off += sprintf(line + off, " '%s'", argv[i]);
	*out = line;
	return 0;
}

int lvm_run(struct lvm *l, const char *const argv[], struct lvm_rows *rows,
	    int code, struct sm_error *err)
{
	struct capture cap = { .rows = rows };
	char *line = NULL;
	int rc;

	if (rows)
		memset(rows, 0, sizeof(*rows));
	rc = build_cmdline(l, argv, &line);
	if (rc < 0)
		return sm_fail(err, code, "%s: cannot build the LVM command line", argv[0]);
	sm_log(LOG_INFO, "lvm: %s%s", argv[0], line + strlen(argv[0]) + strlen(l->config) + 14);
	current = &cap;
	rc = lvm2_run(l->handle, line);
	current = NULL;
	free(line);
	if (rc != LVM2_COMMAND_SUCCEEDED) {
		lvm_rows_free(rows);
		return sm_fail(err, code, "%s failed (%d): %s", argv[0], rc,
			       cap.elen ? cap.errors : "no message from LVM");
	}
	if (cap.oom) {
		lvm_rows_free(rows);
		return sm_fail(err, SME_GENERIC, "out of memory");
	}
	return 0;
}

/* ---- queries ----------------------------------------------------------- */

static bool same_device(const char *a, const char *b)
{
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return true;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && S_ISBLK(sa.st_mode) &&
	       S_ISBLK(sb.st_mode) && sa.st_rdev == sb.st_rdev;
}

int lvm_pv_vg(struct lvm *l, const char *dev, bool *is_pv, char vg[LVM_NAME_MAX],
	      struct sm_error *err)
{
	/* All PVs the filter lets LVM see: "not a PV" is then no error to parse. */
	const char *argv[] = { "pvs", "--noheadings", "--separator", "|", "-o", "pv_name,vg_name", NULL };
	struct lvm_rows rows;

	*is_pv = false;
	vg[0] = '\0';
	if (lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	for (size_t i = 0; i < rows.n; i++) {
		char *f[2];

		if (lvm_row_split(rows.row[i], f, 2) == 2 && same_device(f[0], dev)) {
			*is_pv = true;
			snprintf(vg, LVM_NAME_MAX, "%s", f[1]);
			break;
		}
	}
	lvm_rows_free(&rows);
	return 0;
}

int lvm_vg_info(struct lvm *l, const char *vg, bool *exists, uint64_t *size, uint64_t *free_b,
		struct sm_error *err)
{
	const char *argv[] = { "vgs", "--noheadings", "--separator", "|", "--units", "b", "--nosuffix",
			       "-o", "vg_name,vg_size,vg_free", NULL };
	struct lvm_rows rows;

	*exists = false;
	if (lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	for (size_t i = 0; i < rows.n; i++) {
		char *f[3];

		if (lvm_row_split(rows.row[i], f, 3) == 3 && strcmp(f[0], vg) == 0) {
			*exists = true;
			if (size)
				*size = strtoull(f[1], NULL, 10);
			if (free_b)
				*free_b = strtoull(f[2], NULL, 10);
			break;
		}
	}
	lvm_rows_free(&rows);
	return 0;
}

int lvm_lv_exists(struct lvm *l, const char *vg, const char *lv, bool *exists,
		  struct sm_error *err)
{
	const char *argv[] = { "lvs", "--noheadings", "--separator", "|", "-o", "vg_name,lv_name", NULL };
	struct lvm_rows rows;

	*exists = false;
	if (lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	for (size_t i = 0; i < rows.n && !*exists; i++) {
		char *f[2];

		*exists = lvm_row_split(rows.row[i], f, 2) == 2 && strcmp(f[0], vg) == 0 &&
			  strcmp(f[1], lv) == 0;
	}
	lvm_rows_free(&rows);
	return 0;
}

int lvm_vg_pvs(struct lvm *l, const char *vg, struct lvm_rows *pvs, struct sm_error *err)
{
	const char *argv[] = { "pvs", "--noheadings", "--separator", "|", "-o", "pv_name,vg_name", NULL };
	size_t keep = 0;

	if (lvm_run(l, argv, pvs, SME_SM_GENERAL, err) < 0)
		return -1;
	for (size_t i = 0; i < pvs->n; i++) {
		char *f[2];

		if (lvm_row_split(pvs->row[i], f, 2) == 2 && strcmp(f[1], vg) == 0) {
			memmove(pvs->row[i], f[0], strlen(f[0]) + 1);
			pvs->row[keep++] = pvs->row[i];
		} else {
			free(pvs->row[i]);
		}
	}
	pvs->n = keep;
	return 0;
}

/* ---- changes ----------------------------------------------------------- */

/* argv = fixed words then the devices; room for LVM_MAX_DEVICES. */
static int run_with_devs(struct lvm *l, const char *const *words, size_t nwords,
			 const char *const *devs, size_t n, int code, struct sm_error *err)
{
	const char *argv[16 + LVM_MAX_DEVICES + 1];

	if (nwords > 16 || n > LVM_MAX_DEVICES)
		return sm_fail(err, code, "too many arguments");
	memcpy(argv, words, nwords * sizeof(*argv));
	memcpy(argv + nwords, devs, n * sizeof(*argv));
	argv[nwords + n] = NULL;
	return lvm_run(l, argv, NULL, code, err);
}

int lvm_pvcreate(struct lvm *l, const char *const *devs, size_t n, struct sm_error *err)
{
	/* 10 MiB of metadata area, as the reference's createVG. */
	const char *w[] = { "pvcreate", "-y", "--metadatasize", "10M" };

	return run_with_devs(l, w, 4, devs, n, SME_LVM_PART_CREATE, err);
}

int lvm_vgcreate(struct lvm *l, const char *vg, const char *const *devs, size_t n,
		 struct sm_error *err)
{
	const char *w[] = { "vgcreate", "--metadatasize", "10M", vg };

	return run_with_devs(l, w, 4, devs, n, SME_LVM_GROUP_CREATE, err);
}

static void lv_path(char out[2 * LVM_NAME_MAX + 2], const char *vg, const char *lv)
{
	snprintf(out, 2 * LVM_NAME_MAX + 2, "%s/%s", vg, lv);
}

int lvm_lvcreate_all(struct lvm *l, const char *vg, const char *lv, struct sm_error *err)
{
	const char *argv[] = { "lvcreate", "-n", lv, "-l", "100%FREE", vg, "-W", "y", "--yes", NULL };

	return lvm_run(l, argv, NULL, SME_LVM_CREATE, err);
}

int lvm_lv_activate(struct lvm *l, const char *vg, const char *lv, bool on, struct sm_error *err)
{
	char path[2 * LVM_NAME_MAX + 2];
	const char *argv[] = { "lvchange", on ? "-ay" : "-an", path, NULL };

	lv_path(path, vg, lv);
	return lvm_run(l, argv, NULL, on ? SME_LVM_MOUNT : SME_LVM_UNMOUNT, err);
}

int lvm_vg_activate(struct lvm *l, const char *vg, bool on, struct sm_error *err)
{
	const char *argv[] = { "vgchange", on ? "-ay" : "-an", vg, NULL };

	return lvm_run(l, argv, NULL, on ? SME_LVM_MOUNT : SME_LVM_UNMOUNT, err);
}

int lvm_lvremove(struct lvm *l, const char *vg, const char *lv, struct sm_error *err)
{
	char path[2 * LVM_NAME_MAX + 2];
	const char *argv[] = { "lvremove", "-f", path, NULL };

	lv_path(path, vg, lv);
	return lvm_run(l, argv, NULL, SME_LVM_DELETE, err);
}

int lvm_vgremove(struct lvm *l, const char *vg, struct sm_error *err)
{
	const char *argv[] = { "vgremove", "-f", vg, NULL };

	return lvm_run(l, argv, NULL, SME_LVM_DELETE, err);
}

int lvm_pvremove(struct lvm *l, const char *const *devs, size_t n, struct sm_error *err)
{
	const char *w[] = { "pvremove", "-y" };

	return run_with_devs(l, w, 2, devs, n, SME_LVM_DELETE, err);
}
