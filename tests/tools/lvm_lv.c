/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The LV-level LVM calls (lib/lvm.c) and VHDs inside LVs through the
 * extent map (lib/vhdio_lv.c), one command per run; driven by
 * tests/integration/test_lvm_lv.sh.
 *
 *   lvm_lv [--timeout MS] [--slave] DEV[,DEV...] COMMAND ARGS...
 *
 *   pvcreate | pvremove             the devices
 *   vgcreate VG | vgextend VG DEV | vgremove VG | pvresize DEV
 *   lvcreate VG LV BYTES [ro] [TAG...]
 *   lvremove VG LV | lvrename VG OLD NEW | lvresize VG LV BYTES
 *   perm VG LV r|rw | addtag VG LV TAG | deltag VG LV TAG
 *   activate VG LV on|off|refresh   prints "noop" when activation is off
 *   lvs VG      one line per LV: name|size|attr|tags|ro|pv:first:count,...
 *   vgs VG      size free extent_size then pv:pe_start:pe_count per PV
 *   vhd-create VG LV VSIZE          dynamic, preallocated for 2 TiB
 *   vhd-snap VG PARENT CHILD        child of PARENT, locator ./<dm name>, 2 TiB
 *   vhd-write VG LV OFF FILE | vhd-read VG LV OFF LEN (to stdout), through the chain
 *   vhd-check VG LV                 the chain, parents found by the locators
 *   vhd-query VG LV | vhd-hide VG LV | vhd-phys VG LV BYTES
 *   dev-query PATH | dev-write PATH OFF FILE | dev-read PATH OFF LEN
 *                                   one image through an active LV's node (O_DIRECT)
 *
 * A failure prints "FAULT <code> <detail>" and exits 1; after every
 * command the tool reports on stderr a child process that it still has
 * ("children: N"), so a test sees that no LVM child was left behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csm/lvm.h"
#include "csm/util.h"
#include "csm/vhd.h"
#include "csm/vhdchain.h"

#include "tool_common.h"

#define TWO_TIB (2ull << 40)

static struct lvm lvm;
static struct sm_error err;

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: lvm_lv [--timeout MS] [--slave] DEV[,DEV...] COMMAND ARGS...\n");
	exit(2);
}

/* Children we still have: an LVM child left behind would be one. */
static int count_children(void)
{
	int n = 0;
	pid_t p;

	while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
		n++;   /* a zombie we had not reaped */
	if (p == 0)
		n++;   /* one still running */
	return n;
}

/* ---- VHDs in LVs: an opener over the VG's extent map ------------------- */

struct lv_opener {
	const char *vg;
	struct lvm_lv_list lvs;
	struct lvm_vg_stats st;
};

static int lv_open(void *arg, const char *path, int flags, struct vhd_io *io,
		   struct sm_error *e)
{
	struct lv_opener *o = arg;
	struct vhd_io_extent ext[64];
	const struct lvm_lv *lv;
	const char *base = strrchr(path, '/');
	char name[LVM_NAME_MAX];
	size_t n;

	/* A parent locator names the dm node; a plain name is the LV's own. */
	if (lvm_lv_from_dm_name(o->vg, path, name, sizeof(name)) < 0)
		snprintf(name, sizeof(name), "%s", base ? base + 1 : path);
	lv = lvm_lv_find(&o->lvs, name);
	if (!lv)
		return sm_fail(e, SME_VDI_MISSING, "%s: no LV %s in %s", path, name, o->vg);
	if (lvm_lv_extents(lv, &o->st, ext, 64, &n, e) < 0)
		return -1;
	return vhd_io_open_extents(io, name, ext, n, flags, e);
}

static void opener_load(struct lv_opener *o, const char *vg, struct vhd_opener *op)
{
	bool exists;

	o->vg = vg;
	if (lvm_vg_stats(&lvm, vg, &exists, &o->st, &err) < 0 || lvm_lvs(&lvm, vg, &o->lvs, &err) < 0)
		tool_fault(&err);
	if (!exists) {
		sm_fail(&err, SME_SR_UNAVAILABLE, "no VG %s", vg);
		tool_fault(&err);
	}
	*op = (struct vhd_opener){ .open = lv_open, .arg = o };
}

static int vhd_cmd(const char *cmd, char **a, int n)
{
	struct lv_opener o = { 0 };
	struct vhd_opener op;
	struct vhd_io io = { 0 }, parent = { 0 };
	struct vhd_chain ch;
	struct vhd_info info;
	int rc = -1;

	if (n < 2)
		usage();
	opener_load(&o, a[0], &op);
	if (strcmp(cmd, "vhd-create") == 0 && n == 3) {
		if (op.open(op.arg, a[1], VHD_IO_RDWR, &io, &err) == 0)
			rc = vhd_create_dynamic_prealloc(&io, tool_num(a[2]), TWO_TIB, &err);
	} else if (strcmp(cmd, "vhd-snap") == 0 && n == 3) {
		char loc[2 * LVM_NAME_MAX + 4] = "./";

		if (lvm_dm_name(a[0], a[1], loc + 2, sizeof(loc) - 2) == 0 &&
		    op.open(op.arg, a[1], VHD_IO_RDONLY, &parent, &err) == 0 &&
		    op.open(op.arg, a[2], VHD_IO_RDWR, &io, &err) == 0)
			rc = vhd_create_diff_prealloc(&io, &parent, loc, 0, TWO_TIB, &err);
	} else if (strcmp(cmd, "vhd-write") == 0 && n == 4) {
		FILE *f = fopen(a[3], "rb");
		static char buf[16 << 20];
		size_t len = f ? fread(buf, 1, sizeof(buf), f) : 0;

		if (f)
			fclose(f);
		if (vhd_chain_open_with(&ch, &op, a[1], true, &err) == 0) {
			rc = vhd_chain_write(&ch, buf, len, tool_num(a[2]), &err);
			if (rc == 0)
				rc = vhd_chain_flush(&ch, &err);
			vhd_chain_close(&ch);
		}
	} else if (strcmp(cmd, "vhd-read") == 0 && n == 4) {
		uint64_t len = tool_num(a[3]);
		char *buf = malloc(len ? len : 1);

		if (buf && vhd_chain_open_with(&ch, &op, a[1], false, &err) == 0) {
			rc = vhd_chain_read(&ch, buf, len, tool_num(a[2]), &err);
			if (rc == 0)
				fwrite(buf, 1, len, stdout);
			vhd_chain_close(&ch);
		}
		free(buf);
	} else if (strcmp(cmd, "vhd-check") == 0 && n == 2) {
		rc = vhd_check_with(&op, a[1], true, &err);
		if (rc == 0)
			printf("ok\n");
	} else if (strcmp(cmd, "vhd-query") == 0 && n == 2) {
		if (op.open(op.arg, a[1], VHD_IO_RDONLY, &io, &err) == 0 &&
		    (rc = vhd_query(&io, &info, &err)) == 0)
			printf("type=%d virtual=%llu phys=%llu max_bat=%u hidden=%d parent_name=%s "
			       "parent_locator=%s\n",
			       info.type, (unsigned long long)info.virtual_size,
			       (unsigned long long)info.phys_size, info.max_bat_entries, info.hidden,
			       info.parent_name, info.parent_locator);
	} else if (strcmp(cmd, "vhd-hide") == 0 && n == 2) {
		if (op.open(op.arg, a[1], VHD_IO_RDWR, &io, &err) == 0)
			rc = vhd_set_hidden(&io, true, &err);
	} else if (strcmp(cmd, "vhd-phys") == 0 && n == 3) {
		if (op.open(op.arg, a[1], VHD_IO_RDWR, &io, &err) == 0)
			rc = vhd_set_phys_size(&io, tool_num(a[2]), &err);
	} else {
		usage();
	}
	vhd_io_close(&io);
	vhd_io_close(&parent);
	lvm_lv_list_free(&o.lvs);
	return rc;
}

/* One image through a device node (vhd_io_open_direct). */
static int dev_cmd(const char *cmd, char **a, int n)
{
	struct vhd_info info;
	struct vhd_io io;
	int rc = -1;

	if (n < 1 || vhd_io_open_direct(&io, a[0],
					strcmp(cmd, "dev-write") == 0 ? VHD_IO_RDWR : VHD_IO_RDONLY,
					&err) < 0)
		return -1;
	if (strcmp(cmd, "dev-query") == 0 && n == 1) {
		rc = vhd_query(&io, &info, &err);
		if (rc == 0)
			printf("type=%d virtual=%llu phys=%llu max_bat=%u hidden=%d\n", info.type,
			       (unsigned long long)info.virtual_size,
			       (unsigned long long)info.phys_size, info.max_bat_entries, info.hidden);
	} else if (strcmp(cmd, "dev-write") == 0 && n == 3) {
		static char buf[16 << 20];
		FILE *f = fopen(a[2], "rb");
		size_t len = f ? fread(buf, 1, sizeof(buf), f) : 0;

		if (f)
			fclose(f);
		rc = vhd_write(&io, buf, len, tool_num(a[1]), &err);
	} else if (strcmp(cmd, "dev-read") == 0 && n == 3) {
		uint64_t len = tool_num(a[2]);
		char *buf = malloc(len ? len : 1);

		if (buf && (rc = vhd_read(&io, buf, len, tool_num(a[1]), &err)) == 0)
			fwrite(buf, 1, len, stdout);
		free(buf);
	} else {
		vhd_io_close(&io);
		usage();
	}
	vhd_io_close(&io);
	return rc;
}

/* ---- LVM -------------------------------------------------------------- */

static int print_lvs(const char *vg)
{
	struct lvm_lv_list list;

	if (lvm_lvs(&lvm, vg, &list, &err) < 0)
		return -1;
	for (size_t i = 0; i < list.n; i++) {
		const struct lvm_lv *lv = &list.lv[i];

		printf("%s|%llu|%s|%s|%d|", lv->name, (unsigned long long)lv->size, lv->attr, lv->tags,
		       lv->read_only);
		for (size_t s = 0; s < lv->nseg; s++)
			printf("%s%s:%llu:%llu", s ? "," : "", lv->seg[s].pv,
			       (unsigned long long)lv->seg[s].pe_first,
			       (unsigned long long)lv->seg[s].pe_count);
		printf("\n");
	}
	lvm_lv_list_free(&list);
	return 0;
}

static int print_vgs(const char *vg)
{
	struct lvm_vg_stats st;
	bool exists;

	if (lvm_vg_stats(&lvm, vg, &exists, &st, &err) < 0)
		return -1;
	if (!exists) {
		printf("absent\n");
		return 0;
	}
	printf("%llu %llu %llu", (unsigned long long)st.size, (unsigned long long)st.free,
	       (unsigned long long)st.extent_size);
	for (size_t i = 0; i < st.npv; i++)
		printf(" %s:%llu:%llu", st.pv[i].name, (unsigned long long)st.pv[i].pe_start,
		       (unsigned long long)st.pv[i].pe_count);
	printf("\n");
	return 0;
}

static int activate(char **a)
{
	enum lvm_act act = strcmp(a[2], "on") == 0 ? LVM_ACTIVATE
			   : strcmp(a[2], "off") == 0 ? LVM_DEACTIVATE : LVM_REFRESH;
	bool noop;
	int rc = lvm_lv_activation(&lvm, a[0], a[1], act, &noop, &err);

	if (rc == 0)
		printf("%s\n", noop ? "noop" : "done");
	return rc;
}

static int lvm_cmd(const char *cmd, char **a, int n, const char *const *devs, size_t ndev)
{
	if (strcmp(cmd, "pvcreate") == 0)
		return lvm_pvcreate(&lvm, devs, ndev, &err);
	if (strcmp(cmd, "pvremove") == 0)
		return lvm_pvremove(&lvm, devs, ndev, &err);
	if (strcmp(cmd, "vgcreate") == 0 && n == 1)
		return lvm_vgcreate(&lvm, a[0], devs, 1, &err);
	if (strcmp(cmd, "vgextend") == 0 && n == 2)
		return lvm_vgextend(&lvm, a[0], (const char *const *)&a[1], 1, &err);
	if (strcmp(cmd, "vgremove") == 0 && n == 1)
		return lvm_vgremove(&lvm, a[0], &err);
	if (strcmp(cmd, "pvresize") == 0 && n == 1)
		return lvm_pvresize(&lvm, a[0], &err);
	if (strcmp(cmd, "lvcreate") == 0 && n >= 3) {
		bool ro = n > 3 && strcmp(a[3], "ro") == 0;
		int first = ro ? 4 : 3;

		return lvm_lvcreate(&lvm, a[0], a[1], tool_num(a[2]), (const char *const *)a + first,
				    (size_t)(n - first), ro, &err);
	}
	if (strcmp(cmd, "lvremove") == 0 && n == 2)
		return lvm_lvremove(&lvm, a[0], a[1], &err);
	if (strcmp(cmd, "lvrename") == 0 && n == 3)
		return lvm_lvrename(&lvm, a[0], a[1], a[2], &err);
	if (strcmp(cmd, "lvresize") == 0 && n == 3)
		return lvm_lvresize(&lvm, a[0], a[1], tool_num(a[2]), &err);
	if (strcmp(cmd, "perm") == 0 && n == 3)
		return lvm_lv_set_read_only(&lvm, a[0], a[1], strcmp(a[2], "r") == 0, &err);
	if (strcmp(cmd, "addtag") == 0 && n == 3)
		return lvm_lv_add_tag(&lvm, a[0], a[1], a[2], &err);
	if (strcmp(cmd, "deltag") == 0 && n == 3)
		return lvm_lv_del_tag(&lvm, a[0], a[1], a[2], &err);
	if (strcmp(cmd, "activate") == 0 && n == 3)
		return activate(a);
	if (strcmp(cmd, "lvs") == 0 && n == 1)
		return print_lvs(a[0]);
	if (strcmp(cmd, "vgs") == 0 && n == 1)
		return print_vgs(a[0]);
	if (strncmp(cmd, "vhd-", 4) == 0)
		return vhd_cmd(cmd, a, n);
	if (strncmp(cmd, "dev-", 4) == 0)
		return dev_cmd(cmd, a, n);
	usage();
}

int main(int argc, char **argv)
{
	struct lvm_opts o = { .master = true };
	const char *devs[LVM_MAX_DEVICES];
	size_t ndev = 0;
	char *list, *tok, *save = NULL;
	int i = 1, rc, kids;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			o.timeout_ms = (int)tool_num(argv[++i]);
		else if (strcmp(argv[i], "--slave") == 0)
			o.master = false;
		else
			usage();
	}
	if (argc - i < 2)
		usage();
	list = argv[i++];
	for (tok = strtok_r(list, ",", &save); tok && ndev < LVM_MAX_DEVICES;
	     tok = strtok_r(NULL, ",", &save))
		devs[ndev++] = tok;
	if (lvm_open_opts(&lvm, devs, ndev, &o, &err) < 0)
		tool_fault(&err);
	rc = lvm_cmd(argv[i], argv + i + 1, argc - i - 1, devs, ndev);
	kids = count_children();
	fprintf(stderr, "children: %d abandoned: %zu\n", kids, lvm_abandoned(&lvm));
	lvm_close(&lvm);
	if (rc < 0)
		tool_fault(&err);
	return 0;
}
