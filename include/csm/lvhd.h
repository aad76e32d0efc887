/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The names and sizes of the Python SM's LVHD layout (VHD on LVM), as
 * pure functions over strings and numbers, so the LVM store, the GC and
 * the tests agree with each other and with an SR the Python SM made:
 *
 *   VG        VG_XenStorage-<sr>
 *   VDI LVs   VHD-<uuid> (vdi_type vhd), LV-<uuid> (vdi_type aio, raw)
 *   metadata  MGT (include/csm/mgt.h)
 *   dm name   VG_XenStorage--<sr, '-' doubled>-<lv, '-' doubled>
 *   locator   ./<dm name of the parent>   (what blktap writes)
 *
 * Every function that writes a name returns 0, or -1 with an error when
 * an argument is not what it must be (a uuid that is not canonical, an
 * output buffer too small); none of them allocates.
 */
#ifndef CSM_LVHD_H
#define CSM_LVHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

#define LVHD_MIB                (1024ull * 1024)
#define LVHD_GIB                (1024ull * LVHD_MIB)
#define LVHD_VG_PREFIX          "VG_XenStorage-"
#define LVHD_VHD_PREFIX         "VHD-"
#define LVHD_RAW_PREFIX         "LV-"
#define LVHD_MGT_LV             "MGT"
/* The GC's leaf-coalesce renames the leaf to <prefix>OLD_<uuid> for a moment. */
#define LVHD_OLD_PREFIX         "OLD_"
/* Host-local refcount and activation-lock namespace: lvm-<sr>. */
#define LVHD_NS_PREFIX          "lvm-"

/* LVM allocates in 4 MiB extents; every LV size is a multiple. */
#define LVHD_EXTENT             (4 * LVHD_MIB)
/* Every LVHD VHD has BAT and batmap for this virtual size (fast resize). */
#define LVHD_VHD_PREALLOC       (2048 * LVHD_GIB)
#define LVHD_VHD_BLOCK          (2 * LVHD_MIB)
#define LVHD_VHD_MIN            (2 * LVHD_MIB)
#define LVHD_VHD_MAX            (2040 * LVHD_GIB)
/* A thin (deflated, empty) VHD LV: roundup4M(calcOverheadEmpty(2 TiB)). */
#define LVHD_THIN_LV_SIZE       (8 * LVHD_MIB)
/* The MGT volume's size. */
#define LVHD_MGT_SIZE           (4 * LVHD_MIB)

/* VG_XenStorage-<sr> plus NUL; an LV name of ours is at most "VHD-OLD_<uuid>". */
#define LVHD_VG_NAME_MAX        (sizeof(LVHD_VG_PREFIX) + 36)
#define LVHD_LV_NAME_MAX        (sizeof(LVHD_VHD_PREFIX LVHD_OLD_PREFIX) + 36)
/* device-mapper names are at most 127 characters (DM_NAME_LEN 128). */
#define LVHD_DM_NAME_MAX        128

enum lvhd_kind {
	LVHD_NONE = 0,   /* not a VDI LV of ours (MGT, a journal, anything else) */
	LVHD_VHD,        /* VHD-<uuid> */
	LVHD_RAW,        /* LV-<uuid> */
};

/* What an LV name says. */
struct lvhd_lv {
	enum lvhd_kind kind;
	bool old;        /* the GC's VHD-OLD_<uuid> / LV-OLD_<uuid> leftover */
	char uuid[37];   /* canonical, lowercase */
};

/* "VG_XenStorage-<sr>". */
int lvhd_vg_name(const char *sr_uuid, char *out, size_t cap, struct sm_error *err);
/* "lvm-<sr>": the namespace of refcount files and activation locks. */
int lvhd_ns(const char *sr_uuid, char *out, size_t cap, struct sm_error *err);
/* "VHD-<uuid>" or "LV-<uuid>" (old: "VHD-OLD_<uuid>"...). */
int lvhd_lv_name(enum lvhd_kind kind, bool old, const char *uuid, char *out, size_t cap,
		 struct sm_error *err);
/* The vdi_type the Python SM records for a kind: "vhd" or "aio"; NULL for LVHD_NONE. */
const char *lvhd_vdi_type(enum lvhd_kind kind);

/*
 * Read an LV name: VHD-<uuid>, LV-<uuid> and their OLD_ forms give the kind
 * and the uuid; anything else (MGT, journals, a foreign LV, a VHD- name
 * whose rest is not a canonical uuid) gives LVHD_NONE and returns false.
 */
bool lvhd_lv_parse(const char *lv_name, struct lvhd_lv *out);

/*
 * The device-mapper name of vg/lv as LVM and blktap make it: each '-' of
 * either name doubled, one '-' between them.  Fails when the result does
 * not fit cap or is longer than 127 characters.
 */
int lvhd_dm_name(const char *vg, const char *lv, char *out, size_t cap, struct sm_error *err);
/* The same for an LV of SR sr_uuid. */
int lvhd_sr_dm_name(const char *sr_uuid, const char *lv, char *out, size_t cap,
		    struct sm_error *err);
/*
 * The parent locator a child VHD gets for its parent LV: "./<dm name>",
 * as vhd-util snapshot writes it relative to /dev/mapper.
 */
int lvhd_parent_locator(const char *sr_uuid, const char *parent_lv, char *out, size_t cap,
			struct sm_error *err);
/*
 * The LV a parent locator or prt_name names (what blktap writes:
 * "./VG_XenStorage--<sr>-VHD--<u>" gives "VHD-<u>"): lvm_dm_name_split of
 * what follows the last '/', of any VG.  Stricter than vhd-util scan -l,
 * which keeps what follows the last single '-' of anything: a name with a
 * second single '-' (a dm layer, "...-VHD--<u>-real") or an LV part that
 * is no LVM name is SME_VDI_LOAD here, as for lvm_lv_from_dm_name.
 */
int lvhd_locator_lv(const char *locator, char *out, size_t cap, struct sm_error *err);
/*
 * The VDI a locator, dm name, path or LV name points at (the Python SM's
 * extractUuid, but strict): the blktap decoding when it is a dm name,
 * then lvhd_lv_parse (an OLD_ name is recognised and flagged as such).
 */
bool lvhd_locator_uuid(const char *locator, struct lvhd_lv *out);

/*
 * Sizes.  All arithmetic is checked: a result that would not fit 64 bits
 * is an error (SME_VDI_SIZE), never a wrapped number.
 */
/* roundup(4 MiB, size), where 0 counts as 1 (so at least 4 MiB), as util.roundup. */
int lvhd_round_lv(uint64_t size, uint64_t *out, struct sm_error *err);
/* vhdutil.calcOverheadEmpty: footer, header, BAT and batmap of an empty VHD. */
uint64_t lvhd_overhead_empty(uint64_t virt);
/* vhdutil.calcOverheadBitmap: one 4 KiB sector bitmap per 2 MiB block. */
uint64_t lvhd_overhead_bitmap(uint64_t virt);
/* lvhdutil.calcSizeVHDLV: the LV size of a fully inflated VHD of virt bytes. */
int lvhd_vhd_lv_size(uint64_t virt, uint64_t *out, struct sm_error *err);
/* The LV size of a raw VDI of size bytes (calcSizeLV). */
int lvhd_raw_lv_size(uint64_t size, uint64_t *out, struct sm_error *err);
/*
 * vhdutil.validate_and_round_vhd_size: above 2040 GiB is SME_VDI_SIZE;
 * below 2 MiB becomes 2 MiB; then rounded up to 2 MiB.
 */
int lvhd_vhd_size_round(uint64_t size, uint64_t *out, struct sm_error *err);

#endif
