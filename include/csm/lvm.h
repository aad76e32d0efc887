/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * LVM through liblvm2cmd: the LVM commands run in our process (no fork of
 * /sbin/lvm), their report rows and messages arrive through a log
 * callback.  Every command gets one --config that restricts LVM to the
 * SR's devices, so a scan never touches (or waits on) other disks, and,
 * under tests (CSM_LVM_BACKUP=off), turns off the metadata backups in
 * /etc/lvm.  LVM_SYSTEM_DIR is honoured as by the lvm tools.
 *
 * Failures come back as sm_error with the code the caller names and
 * LVM's own error lines as the detail.
 */
#ifndef CSM_LVM_H
#define CSM_LVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

#define LVM_MAX_DEVICES 16
#define LVM_NAME_MAX 128

struct lvm {
	void *handle;
	char config[8192];        /* the one --config of every command */
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
void lvm_close(struct lvm *l);

/*
 * Run "argv[0] --config ... argv[1..]" (argv NULL-terminated).  Rows are
 * collected into rows when it is not NULL.  On failure: code, detail =
 * "<command>: <LVM's error lines>".
 */
int lvm_run(struct lvm *l, const char *const argv[], struct lvm_rows *rows,
	    int code, struct sm_error *err);
void lvm_rows_free(struct lvm_rows *rows);

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

#endif
