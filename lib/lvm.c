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
#include "lvm_internal.h"

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

/* filter and global_filter, plus the rest of the line. */
_Static_assert(sizeof(((struct lvm *)0)->config) > 2 * LVM_FILTER_MAX + 256, "lvm config too small");

/* Every path fits on its own: it is the sum of them that did not. */
static int filter_full(struct sm_error *err, const char *path)
{
	return sm_fail(err, SME_SM_GENERAL,
		       "the device paths do not fit in LVM's device filter (%d bytes) at '%.200s'; "
		       "use shorter names (/dev/disk/by-id/... or /dev/sdX)",
		       LVM_FILTER_MAX, path);
}

int lvm_open(struct lvm *l, const char *const *devices, size_t ndev, struct sm_error *err)
{
	const char *backup = getenv("CSM_LVM_BACKUP");
	struct lvm_filter filter;
	char real[PATH_MAX];
	int n;

	memset(l, 0, sizeof(*l));
	lvm_filter_init(&filter);
	for (size_t i = 0; i < ndev; i++) {
		if (!lvm_path_ok(devices[i]))
			return sm_fail(err, SME_SM_GENERAL, "device path '%.200s' cannot be passed to LVM",
				       devices[i]);
		if (lvm_filter_add(&filter, devices[i]) < 0)
			return filter_full(err, devices[i]);
		/* LVM names a device by its node; accept that name as well as the link. */
		if (realpath(devices[i], real) && strcmp(real, devices[i]) && lvm_path_ok(real) &&
		    lvm_filter_add(&filter, real) < 0)
			return filter_full(err, real);
	}
	lvm_filter_finish(&filter);
	n = snprintf(l->config, sizeof(l->config),
		     "devices{filter=[%s] global_filter=[%s] use_devicesfile=0 "
		     "obtain_device_list_from_udev=0}%s",
		     filter.text, filter.text,
		     backup && strcmp(backup, "off") == 0 ? " backup{backup=0 archive=0}" : "");
	if (n < 0 || (size_t)n >= sizeof(l->config))
		return sm_fail(err, SME_SM_GENERAL, "the LVM configuration does not fit");
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

		if (lvm_row_parse(rows.row[i], f, 2) < 0 || !same_device(f[0], dev))
			continue;
		if (strlen(f[1]) >= LVM_NAME_MAX) {
			lvm_rows_free(&rows);
			return sm_fail(err, SME_SM_GENERAL, "%s: VG name longer than %d characters",
				       dev, LVM_NAME_MAX - 1);
		}
		*is_pv = true;
		memcpy(vg, f[1], strlen(f[1]) + 1);
		break;
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

		uint64_t sz, fr;

		if (lvm_row_parse(rows.row[i], f, 3) < 0 || strcmp(f[0], vg) != 0)
			continue;
		/* A size we cannot read must not become 0 bytes free. */
		if (lvm_field_u64(f[1], &sz) < 0 || lvm_field_u64(f[2], &fr) < 0) {
			sm_fail(err, SME_SM_GENERAL, "vgs: size '%.40s' or free '%.40s' of %s is not a number",
				f[1], f[2], vg);
			lvm_rows_free(&rows);
			return -1;
		}
		*exists = true;
		if (size)
			*size = sz;
		if (free_b)
			*free_b = fr;
		break;
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

		*exists = lvm_row_parse(rows.row[i], f, 2) == 0 && strcmp(f[0], vg) == 0 &&
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

		if (lvm_row_parse(pvs->row[i], f, 2) == 0 && strcmp(f[1], vg) == 0) {
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
