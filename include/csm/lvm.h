/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * LVM through liblvm2cmd (no exec of /sbin/lvm): liblvm2cmd is initialised
 * once in our process, and each command runs in a forked child on that
 * handle, its report rows and error lines piped back.  The parent waits
 * with a deadline (lvm_opts.timeout_ms, else CSM_LVM_TIMEOUT_MS, else
 * LVM_DEFAULT_TIMEOUT_MS): liblvm2cmd cannot be interrupted and sleeps in
 * D state on a dead path, so past the deadline the child is killed, left
 * behind if it cannot die yet (reaped at the next command or lvm_close),
 * and the caller gets a fault.  Every command gets one --config that
 * restricts LVM to the SR's devices, so a scan never touches (or waits
 * on) other disks.  LVM_SYSTEM_DIR is honoured as by the lvm tools.
 *
 * Failures come back as sm_error with the code the caller names and
 * LVM's own error lines as the detail.
 *
 * Test builds: the child reaches the fault point "lvm-<command>" (e.g.
 * lvm-lvs) before it runs the command; CSM_FAULT_PAUSE there makes it
 * hang as on a dead path, CSM_FAULT_POINT kills the child only (the
 * caller then gets a fault, the driver lives on).
 */
#ifndef CSM_LVM_H
#define CSM_LVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "csm/error.h"
#include "csm/vhdio.h"

#define LVM_MAX_DEVICES 16
#define LVM_NAME_MAX 128
/* A device path as LVM reports it (lvm_path_ok's bound) plus the NUL. */
#define LVM_DEV_MAX 513
/* Tags of one LV as LVM prints them, comma-separated. */
#define LVM_TAGS_MAX 1024
/* Tags one lvm_lvcreate may add. */
#define LVM_MAX_TAGS 8
#define LVM_DEFAULT_TIMEOUT_MS 120000

struct lvm {
	void *handle;             /* NULL when commands run through the exec helper */
	bool is_open;
	char config[8192];        /* the one --config of every command */
	bool activation;          /* false: global{activation=0} */
	bool read_only;           /* global{metadata_read_only=1} */
	int timeout_ms;           /* deadline of each command */
	pid_t abandoned[16];      /* children killed at a deadline, not yet reaped */
	size_t nabandoned;
};

struct lvm_opts {
	/* dconf SRmaster: false adds global{metadata_read_only=1}. */
	bool master;
	/* 0: CSM_LVM_TIMEOUT_MS from the environment, else LVM_DEFAULT_TIMEOUT_MS. */
	int timeout_ms;
	/* false (the default): backup{backup=0 archive=0}, nothing written under /etc/lvm. */
	bool keep_backups;
};

/* Report rows of a query (level-4 lines that carry the '|' separator). */
struct lvm_rows {
	char **row;
	size_t n;
};

/*
 * Open liblvm2cmd for commands restricted to devices (absolute paths;
 * their resolved names are allowed too).  SME_SM_GENERAL if a path has
 * characters LVM's command line cannot carry, is longer than 512
 * characters, or the paths together do not fit in the device filter.
 */
int lvm_open(struct lvm *l, const char *const *devices, size_t ndev, struct sm_error *err);
/*
 * As lvm_open, for the LVM store: activation off (global{activation=0})
 * when /dev/mapper/control cannot be opened or CSM_LVM_ACTIVATION=off;
 * backups off unless o->keep_backups.  Unless o->master, the config says
 * metadata_read_only=1 and lvm_run itself refuses (SME_LVM_MASTER) every
 * command but the reports (lvs, vgs, pvs) and lvchange/vgchange -ay, -an,
 * --refresh: LVM 2.03.16 does not honour that setting.  On a master with LVM_SYSTEM_DIR unset it is set to
 * /etc/lvm/master when that exists (XenServer's split, SR.py).
 * lvm_open keeps the EXT driver's settings (activation on, backups
 * unless CSM_LVM_BACKUP=off, metadata writable).
 */
int lvm_open_opts(struct lvm *l, const char *const *devices, size_t ndev,
		  const struct lvm_opts *o, struct sm_error *err);
/* Whether LVs can be activated (device-mapper usable and not turned off). */
bool lvm_activation(const struct lvm *l);
/* Children killed at a deadline that have not died yet (D state). */
size_t lvm_abandoned(const struct lvm *l);
void lvm_close(struct lvm *l);

/*
 * Run "argv[0] --config ... argv[1..]" (argv NULL-terminated) in a child,
 * within the deadline.  Rows are
 * collected into rows when it is not NULL.  On failure: code, detail =
 * "<command>: <LVM's error lines>".
 */
int lvm_run(struct lvm *l, const char *const argv[], struct lvm_rows *rows,
	    int code, struct sm_error *err);
void lvm_rows_free(struct lvm_rows *rows);

/*
 * For a process with threads (the nbdkit plugin): every command's child
 * execs this helper (csm-lvm-run, an absolute path) instead of running
 * liblvm2cmd in the forked copy of the process, where a lock another
 * thread held at the fork would hang it.  NULL goes back to fork only.
 * 0, or -errno (not absolute, too long, not executable).
 */
int lvm_use_exec_helper(const char *path);
/* The helper's main(): argv = { name, FD, COMMAND, LINE }; never returns but on a usage error. */
int lvm_helper_main(int argc, char **argv);

/* ---- names ---- */

/* An LVM VG or LV name: [A-Za-z0-9+_.-], not starting with '-', not "." or "..", < LVM_NAME_MAX. */
bool lvm_name_ok(const char *name);
/* An LVM tag: 1-1024 of [A-Za-z0-9_+.-/=!:&#], not starting with '-'. */
bool lvm_tag_ok(const char *tag);
/*
 * The device-mapper name of vg/lv: each '-' doubled, joined with '-'
 * ("VG_XenStorage--<sr>-VHD--<u>", the name LVHD's parent locators carry
 * after "./").  -1 if it does not fit in cap.
 */
int lvm_dm_name(const char *vg, const char *lv, char *out, size_t cap);
/*
 * A device-mapper name of an LV (what follows the last '/' of name) split
 * as device-mapper does: "--" is a '-' of a name, and the one single '-'
 * separates VG and LV.  -1 if there is no single '-', or a second one (a
 * dm layer such as "-real", not the LV's own device), an empty VG part,
 * an LV part that is no LVM name, or a part that does not fit its buffer.
 * The one decoder of these names: lvm_lv_from_dm_name and LVHD's
 * lvhd_locator_lv are built on it.
 */
int lvm_dm_name_split(const char *name, char *vg, size_t vgcap, char *lv, size_t lvcap);
/*
 * The LV a name of vg's LVs stands for, as blktap decodes a locator:
 * the part after the last '/' is the dm name of vg/<lv> ("--" for each
 * '-' of the LV name).  -1 if it is no dm name of an LV of vg (a plain
 * LV name such as "VHD-<u>" is not: the caller takes it as it is).
 */
int lvm_lv_from_dm_name(const char *vg, const char *name, char *out, size_t cap);

/* ---- reports ---- */

/* One segment of an LV (lvs --segments). */
struct lvm_seg {
	uint64_t start;           /* bytes into the LV */
	uint64_t size;            /* bytes */
	bool linear;              /* segtype linear: one range of one PV */
	char pv[LVM_DEV_MAX];     /* linear: the PV, as LVM names it */
	uint64_t pe_first;        /* linear: first physical extent on it */
	uint64_t pe_count;        /* linear: extents */
};

struct lvm_lv {
	char name[LVM_NAME_MAX];
	uint64_t size;            /* bytes */
	char attr[16];            /* lv_attr, e.g. "-wi-a-----" or "-ri-XX----" */
	char tags[LVM_TAGS_MAX];  /* comma-separated, "" for none */
	bool read_only;           /* attr[1] == 'r' (lvchange -p r) */
	/* attr[4] == 'a'; with activation off LVM prints 'X' (unknown): false. */
	bool active;
	size_t nseg;              /* in LV order, contiguous from 0 */
	struct lvm_seg *seg;
};

struct lvm_lv_list {
	struct lvm_lv *lv;
	size_t n;
};

struct lvm_pv_info {
	char name[LVM_DEV_MAX];
	uint64_t pe_start;        /* bytes from the PV start to extent 0 */
	uint64_t pe_count;        /* extents on it */
};

struct lvm_vg_stats {
	uint64_t size, free;      /* bytes */
	uint64_t extent_size;     /* bytes (4 MiB by default) */
	size_t npv;
	struct lvm_pv_info pv[LVM_MAX_DEVICES];
};

/*
 * Every LV of vg, from one "lvs --segments" report parsed in process
 * (names, sizes, attr, tags, read-only, segments).  A row that is not
 * the report asked for (field count, numbers, names, lengths, segments
 * that do not tile the LV) is a fault, never a silently skipped LV.
 * SME_SM_GENERAL on failure (a VG that does not exist included).
 */
int lvm_lvs(struct lvm *l, const char *vg, struct lvm_lv_list *out, struct sm_error *err);
void lvm_lv_list_free(struct lvm_lv_list *list);
const struct lvm_lv *lvm_lv_find(const struct lvm_lv_list *list, const char *name);
bool lvm_lv_has_tag(const struct lvm_lv *lv, const char *tag);

/* vg's size, free space, extent size and PVs (with pe_start); *exists false if LVM does not see it. */
int lvm_vg_stats(struct lvm *l, const char *vg, bool *exists, struct lvm_vg_stats *st,
		 struct sm_error *err);

/*
 * Both of the above from one LVM command ("lvm fullreport" of every VG on
 * the allowed devices, each row naming its VG): what the store needs at
 * every fresh look, for the price of one lvs.  *exists false (st and out
 * empty) if LVM does not see vg; out is to be freed by the caller when
 * *exists.  Faults as lvm_lvs and lvm_vg_stats.
 */
int lvm_vg_report(struct lvm *l, const char *vg, bool *exists, struct lvm_vg_stats *st,
		  struct lvm_lv_list *out, struct sm_error *err);

/*
 * The extent map of lv as vhd_io extents (vhd_io_open_extents): PV byte
 * offset = pe_start + pe_first * extent_size for each segment.  Only
 * linear segments on PVs of vg; SME_VDI_LOAD otherwise, or if the map
 * needs more than cap entries.  The extents point into lv and vg: keep
 * them while the io is opened.
 */
int lvm_lv_extents(const struct lvm_lv *lv, const struct lvm_vg_stats *vg,
		   struct vhd_io_extent *ext, size_t cap, size_t *n, struct sm_error *err);

/* ---- queries (SME_SM_GENERAL on failure) ---- */

/* The VG dev belongs to ("" for an orphan PV); *is_pv false if dev is no PV. */
int lvm_pv_vg(struct lvm *l, const char *dev, bool *is_pv, char vg[LVM_NAME_MAX],
	      struct sm_error *err);
/* Whether vg is visible on the allowed devices; size and free in bytes if so (may be NULL). */
int lvm_vg_info(struct lvm *l, const char *vg, bool *exists, uint64_t *size, uint64_t *free,
		struct sm_error *err);
/* Whether vg/lv exists. */
int lvm_lv_exists(struct lvm *l, const char *vg, const char *lv, bool *exists,
		  struct sm_error *err);
/* The PV names of vg, one per row. */
int lvm_vg_pvs(struct lvm *l, const char *vg, struct lvm_rows *pvs, struct sm_error *err);

/* ---- changes (the reference's codes: 55, 77, 50, 52, 53, 51) ---- */

int lvm_pvcreate(struct lvm *l, const char *const *devs, size_t n, struct sm_error *err);
int lvm_vgcreate(struct lvm *l, const char *vg, const char *const *devs, size_t n,
		 struct sm_error *err);
/* One LV over all the VG's free space. */
int lvm_lvcreate_all(struct lvm *l, const char *vg, const char *lv, struct sm_error *err);
int lvm_lv_activate(struct lvm *l, const char *vg, const char *lv, bool on, struct sm_error *err);
int lvm_vg_activate(struct lvm *l, const char *vg, bool on, struct sm_error *err);
int lvm_lvremove(struct lvm *l, const char *vg, const char *lv, struct sm_error *err);
int lvm_vgremove(struct lvm *l, const char *vg, struct sm_error *err);
int lvm_pvremove(struct lvm *l, const char *const *devs, size_t n, struct sm_error *err);
/* vgextend vg with devs (already PVs or not: LVM makes them PVs); SME_LVM_GROUP_CREATE. */
int lvm_vgextend(struct lvm *l, const char *vg, const char *const *devs, size_t n,
		 struct sm_error *err);
/* pvresize dev to its device's size (the SR's LUN grew); SME_SM_GENERAL. */
int lvm_pvresize(struct lvm *l, const char *dev, struct sm_error *err);

/* ---- LVs (names checked with lvm_name_ok, tags with lvm_tag_ok) ---- */

/*
 * lvcreate -n lv -L <size>b vg [--addtag t...] [-p r]: LVM rounds size up
 * to whole extents.  With activation off: -an -Zn -Wn (nothing to wipe
 * through); with it: -Wy --yes, and -Zn for a read-only LV.
 * SME_LVM_CREATE; an existing lv is refused by LVM.
 */
int lvm_lvcreate(struct lvm *l, const char *vg, const char *lv, uint64_t size,
		 const char *const *tags, size_t ntags, bool read_only, struct sm_error *err);
/* lvrename vg old new; LVM refuses (SME_SM_GENERAL) if new exists. */
int lvm_lvrename(struct lvm *l, const char *vg, const char *old_name, const char *new_name,
		 struct sm_error *err);
/* lvresize -L <size>b (-f: down too, no prompt); SME_SM_GENERAL. */
int lvm_lvresize(struct lvm *l, const char *vg, const char *lv, uint64_t size,
		 struct sm_error *err);
/*
 * lvchange -p r|rw alone, for a caller that knows the LV is not so yet
 * (LVM fails on "already read only").  SME_SM_GENERAL.
 */
int lvm_lv_set_permission(struct lvm *l, const char *vg, const char *lv, bool ro,
			  struct sm_error *err);
/* lvchange -p r|rw; already so is success (an lvs first).  SME_SM_GENERAL. */
int lvm_lv_set_read_only(struct lvm *l, const char *vg, const char *lv, bool ro,
			 struct sm_error *err);
/* lvchange --addtag / --deltag; SME_SM_GENERAL. */
int lvm_lv_add_tag(struct lvm *l, const char *vg, const char *lv, const char *tag,
		   struct sm_error *err);
int lvm_lv_del_tag(struct lvm *l, const char *vg, const char *lv, const char *tag,
		   struct sm_error *err);

enum lvm_act { LVM_ACTIVATE, LVM_DEACTIVATE, LVM_REFRESH };
/*
 * lvchange -ay / -an / --refresh vg/lv.  With activation off nothing is
 * run and *noop (may be NULL) is set: there is no device node to make.
 * SME_LVM_MOUNT (activate, refresh) or SME_LVM_UNMOUNT.
 */
int lvm_lv_activation(struct lvm *l, const char *vg, const char *lv, enum lvm_act act,
		      bool *noop, struct sm_error *err);

#endif
