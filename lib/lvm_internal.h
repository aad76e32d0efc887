/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The text lib/lvm.c exchanges with liblvm2cmd: the device filter of each
 * command's --config and the rows of pvs/vgs/lvs reports.  Kept in
 * lib/lvm_text.c, apart from the library calls, so the unit tests reach
 * it without linking liblvm2cmd.
 */
#ifndef CSM_LVM_INTERNAL_H
#define CSM_LVM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/lvm.h"

/* Longest device path passed to LVM (the EXT driver's dconf check agrees). */
#define LVM_PATH_MAX 512
/*
 * The filter list, twice in struct lvm's config (filter and
 * global_filter) with room for the rest of the config line.
 */
#define LVM_FILTER_MAX 3000

/* "\"a|^<path>$|\",..." then "\"r|.*|\"" to refuse every other device. */
struct lvm_filter {
	char text[LVM_FILTER_MAX];
	size_t len;
};

/*
 * An absolute path of at most LVM_PATH_MAX characters from [A-Za-z0-9]
 * and "/_.:+-=@,": LVM's command line splits at quotes and the filter is
 * a regular expression between '|' delimiters, so nothing else can be
 * carried safely.
 */
bool lvm_path_ok(const char *path);

void lvm_filter_init(struct lvm_filter *f);
/*
 * Accept path (its regex special characters escaped, anchored at both
 * ends).  -EINVAL if !lvm_path_ok(path), -E2BIG if it does not fit with
 * room left for lvm_filter_finish; the filter is unchanged on failure.
 */
int lvm_filter_add(struct lvm_filter *f, const char *path);
/* Refuse every device not accepted before; always fits after _add. */
void lvm_filter_finish(struct lvm_filter *f);

/*
 * Split a report row in place at '|' into exactly n fields, each without
 * the blanks LVM pads with.  0, or -1 if the row has fewer or more
 * fields than n (not the report that was asked for); an empty field is
 * a field ("" is an orphan PV's VG name).
 */
int lvm_row_parse(char *row, char **fields, size_t n);
/* A --units b --nosuffix number: decimal digits only; 0 or -1. */
int lvm_field_u64(const char *field, uint64_t *out);

/* The lvs and vgs reports lib/lvm.c asks for and lib/lvm_text.c parses. */
#define LVM_LVS_FIELDS "lv_name,lv_size,lv_attr,lv_tags,segtype,seg_start,seg_size,seg_pe_ranges"
#define LVM_LVS_NFIELDS 8
#define LVM_VGS_FIELDS "vg_name,vg_size,vg_free,vg_extent_size,pv_name,pe_start,pv_pe_count"
#define LVM_VGS_NFIELDS 7
/*
 * lvm_vg_report's "lvm fullreport": every row names its VG, and the kinds
 * differ in their number of fields (VG 4, PV 5, segment 9); the lv and
 * pvseg sub-reports are asked for one field, and rows without a
 * separator never reach the parser (lib/lvm.c drops them as messages).
 */
#define LVM_FULL_VG_FIELDS "vg_name,vg_size,vg_free,vg_extent_size"
#define LVM_FULL_VG_NFIELDS 4
#define LVM_FULL_PV_FIELDS "pv_name,vg_name,pe_start,pv_pe_count,pv_pe_alloc_count"
#define LVM_FULL_PV_NFIELDS 5
#define LVM_FULL_SEG_FIELDS "vg_name," LVM_LVS_FIELDS
#define LVM_FULL_SEG_NFIELDS (1 + LVM_LVS_NFIELDS)
/* Segments of one LV we accept (LVM allows many; LVHD has a handful). */
#define LVM_SEGS_MAX 4096

/*
 * The rows of an LVM_LVS_FIELDS report (split in place) into out, LVs in
 * order of first appearance; 0, or -1 with why (a row that is not such a
 * report, numbers that are no numbers, names too long, segments that do
 * not tile their LV).  out is empty on failure.
 */
int lvm_lvs_parse(char **rows, size_t n, struct lvm_lv_list *out, char *why, size_t whylen);
/* The rows of an LVM_VGS_FIELDS report for vg (one per PV); *found false if none. */
int lvm_vgs_parse(char **rows, size_t n, const char *vg, bool *found, struct lvm_vg_stats *st,
		  char *why, size_t whylen);

/*
 * The rows of that fullreport (split in place): vg's stats and its LVs
 * (as lvm_lvs_parse); rows of other VGs are skipped.  *found false (and
 * st, out empty) when no VG row names vg; a PV or segment row of vg
 * without it, a second VG row, or any row that is none of the three
 * kinds is a fault.  out is to be freed by the caller on success.
 */
int lvm_full_parse(char **rows, size_t n, const char *vg, bool *found, struct lvm_vg_stats *st,
		   struct lvm_lv_list *out, char *why, size_t whylen);

#endif
