/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The Python SM's LV journals (journaler.py), so that an operation this
 * project leaves half done on an LVHD SR is one the Python SM can recover,
 * and the other way round.  A journal is (type, id) -> value, held as a
 * 4 MiB LV tagged "journaler":
 *
 *   name  <type>_<id>_<value>, or <type>_<id>_1 when the device-mapper name
 *         VG_XenStorage--<sr, '-' doubled>-<LV name> would be longer than
 *         127 characters (the LV name itself is not dash-doubled in that
 *         check, exactly as journaler.py computes it); then the value is
 *   data  written into the LV at offset 0: "<length> <value>" padded with
 *         spaces to 512 bytes, length counting characters.
 *
 * The Python SM reads the value from the LV for the types clone and leaf
 * only, and from the name for every other type.
 *
 * Records of this project's own that the Python SM must not see use the
 * tag "csm-journal" and the name csm_<op>_<id>, their text always in the
 * LV in the same data format.
 *
 * Pure functions over names and buffers: creating, tagging and reading the
 * LVs is the LVM store's part.
 */
#ifndef CSM_LVJOURNAL_H
#define CSM_LVJOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

#define LVJ_TAG              "journaler"
#define LVJ_CSM_TAG          "csm-journal"
#define LVJ_CSM_PREFIX       "csm"
#define LVJ_LV_SIZE          (4u * 1024 * 1024)
#define LVJ_DATA_SIZE        512
/* journaler.py's LVM_MAX_NAME_LEN, applied to the dm name. */
#define LVJ_MAX_DM_NAME      127
/* An LV name holds at most 127 characters too. */
#define LVJ_NAME_MAX         128
/* The longest value the data sector holds ("<len> " + value in 512 bytes). */
#define LVJ_VALUE_MAX        (LVJ_DATA_SIZE - 4)

/* The journal types the Python SM writes. */
#define LVJ_CLONE            "clone"
#define LVJ_INFLATE          "inflate"
#define LVJ_LEAF             "leaf"
#define LVJ_COALESCE         "coalesce"
#define LVJ_RELINK           "relink"
#define LVJ_ZERO             "zero"

/* A journal LV's name, read back. */
struct lvj_name {
	char type[LVJ_NAME_MAX];
	char id[LVJ_NAME_MAX];
	char value[LVJ_NAME_MAX];   /* as in the name: "1" when the value is in the LV */
};

/*
 * The LV name of journal (type, id, value) in VG vg (VG_XenStorage-<sr>):
 * "<type>_<id>_<value>", or "<type>_<id>_1" with *value_in_lv set when the
 * dm name would exceed 127 characters.  type and id must be non-empty LV-name
 * characters without '_'; value must be LV-name characters when it goes into
 * the name, and fit the data sector when it goes into the LV.
 */
int lvjournal_lv_name(const char *vg, const char *type, const char *id, const char *value,
		      char *out, size_t cap, bool *value_in_lv, struct sm_error *err);

/*
 * Split a journal LV's name at its first two '_' (journaler.py's rule):
 * anything else is SME_LVM_NO_VOLUME "Bad LV name", as in Python.
 */
int lvjournal_parse_name(const char *lv_name, struct lvj_name *out, struct sm_error *err);

/* Whether the Python SM takes this type's value from inside the LV (clone, leaf). */
bool lvjournal_type_reads_data(const char *type);

/*
 * The 512-byte data sector for value: "<characters> <value>", space padded.
 * A value longer than the sector (or not UTF-8) is SME_LVM_WRITE.
 */
int lvjournal_data_encode(const char *value, uint8_t out[LVJ_DATA_SIZE], struct sm_error *err);

/*
 * Read a data sector (len bytes, at most the first 512 count) back into
 * value (cap bytes, NUL-terminated).  A sector that is not "<digits> <value>"
 * with that many characters is SME_LVM_READ, as journaler.py raises.
 */
int lvjournal_data_decode(const uint8_t *data, size_t len, char *value, size_t cap,
			  struct sm_error *err);

/*
 * This project's own records: "csm_<op>_<id>" (tag LVJ_CSM_TAG), text in
 * the LV.  op: LV-name characters without '_'; the dm name must fit 127.
 */
int lvjournal_csm_name(const char *vg, const char *op, const char *id, char *out, size_t cap,
		       struct sm_error *err);
/* Read csm_<op>_<id> back; false for any other name. */
bool lvjournal_csm_parse(const char *lv_name, char *op, size_t op_cap, char *id, size_t id_cap);

#endif
