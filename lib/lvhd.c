/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * LVHD names and sizes (include/csm/lvhd.h).  The formulas are the Python
 * SM's (lvhdutil.py, vhdutil.py) and the name mangling is LVM's and
 * blktap's; each function says which one it follows where they differ.
 */
#include <stdio.h>
#include <string.h>

#include "csm/lvhd.h"
#include "csm/lvm.h"
#include "csm/util.h"

/* a, b and c joined into out, or an error naming what did not fit. */
static int put_name(char *out, size_t cap, struct sm_error *err, const char *what,
		    const char *a, const char *b, const char *c)
{
	int n = snprintf(out, cap, "%s%s%s", a, b, c);

	if (n < 0 || (size_t)n >= cap)
		return sm_fail(err, SME_INVALID_ARG, "%s does not fit %zu bytes", what, cap);
	return 0;
}

static int check_uuid(const char *uuid, const char *what, struct sm_error *err)
{
	if (!sm_uuid_valid(uuid))
		return sm_fail(err, SME_INVALID_ARG, "%s '%s' is not a canonical uuid", what,
			       uuid ? uuid : "(null)");
	return 0;
}

int lvhd_vg_name(const char *sr_uuid, char *out, size_t cap, struct sm_error *err)
{
	if (check_uuid(sr_uuid, "SR uuid", err) < 0)
		return -1;
	return put_name(out, cap, err, "VG name", LVHD_VG_PREFIX, sr_uuid, "");
}

int lvhd_ns(const char *sr_uuid, char *out, size_t cap, struct sm_error *err)
{
	if (check_uuid(sr_uuid, "SR uuid", err) < 0)
		return -1;
	return put_name(out, cap, err, "namespace", LVHD_NS_PREFIX, sr_uuid, "");
}

static const char *kind_prefix(enum lvhd_kind kind)
{
	switch (kind) {
	case LVHD_VHD:
		return LVHD_VHD_PREFIX;
	case LVHD_RAW:
		return LVHD_RAW_PREFIX;
	default:
		return NULL;
	}
}

const char *lvhd_vdi_type(enum lvhd_kind kind)
{
	switch (kind) {
	case LVHD_VHD:
		return "vhd";
	case LVHD_RAW:
		return "aio";
	default:
		return NULL;
	}
}

int lvhd_lv_name(enum lvhd_kind kind, bool old, const char *uuid, char *out, size_t cap,
		 struct sm_error *err)
{
	const char *prefix = kind_prefix(kind);

	if (!prefix)
		return sm_fail(err, SME_INVALID_ARG, "no LV name for VDI kind %d", (int)kind);
	if (check_uuid(uuid, "VDI uuid", err) < 0)
		return -1;
	return put_name(out, cap, err, "LV name", prefix, old ? LVHD_OLD_PREFIX : "", uuid);
}

bool lvhd_lv_parse(const char *lv_name, struct lvhd_lv *out)
{
	static const enum lvhd_kind kinds[] = { LVHD_VHD, LVHD_RAW };
	const char *rest = NULL;

	memset(out, 0, sizeof(*out));
	if (!lv_name)
		return false;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *prefix = kind_prefix(kinds[i]);

		if (strncmp(lv_name, prefix, strlen(prefix)) == 0) {
			out->kind = kinds[i];
			rest = lv_name + strlen(prefix);
			break;
		}
	}
	if (!rest)
		return false;
	if (strncmp(rest, LVHD_OLD_PREFIX, strlen(LVHD_OLD_PREFIX)) == 0) {
		out->old = true;
		rest += strlen(LVHD_OLD_PREFIX);
	}
	/* The Python SM only takes names that hold a uuid; we want exactly one. */
	if (!sm_uuid_valid(rest)) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	memcpy(out->uuid, rest, SM_UUID_LEN + 1);
	return true;
}

int lvhd_dm_name(const char *vg, const char *lv, char *out, size_t cap, struct sm_error *err)
{
	size_t len;

	if (!vg || !lv || !*vg || !*lv || strchr(vg, '/') || strchr(lv, '/'))
		return sm_fail(err, SME_INVALID_ARG, "a VG and an LV name are needed for a dm name");
	if (cap == 0)
		return sm_fail(err, SME_INVALID_ARG, "no room for a dm name");
	/* The mangling is LVM's (lvm_dm_name); LVHD adds the kernel's length limit. */
	if (lvm_dm_name(vg, lv, out, cap) < 0)
		return sm_fail(err, SME_INVALID_ARG, "dm name of %s/%s does not fit %zu bytes", vg,
			       lv, cap);
	len = strlen(out);
	if (len > LVHD_DM_NAME_MAX - 1)
		return sm_fail(err, SME_INVALID_ARG, "dm name of %s/%s is %zu characters, above %d",
			       vg, lv, len, LVHD_DM_NAME_MAX - 1);
	return 0;
}

int lvhd_sr_dm_name(const char *sr_uuid, const char *lv, char *out, size_t cap,
		    struct sm_error *err)
{
	char vg[LVHD_VG_NAME_MAX];

	if (lvhd_vg_name(sr_uuid, vg, sizeof(vg), err) < 0)
		return -1;
	return lvhd_dm_name(vg, lv, out, cap, err);
}

int lvhd_parent_locator(const char *sr_uuid, const char *parent_lv, char *out, size_t cap,
			struct sm_error *err)
{
	char dm[LVHD_DM_NAME_MAX];

	if (lvhd_sr_dm_name(sr_uuid, parent_lv, dm, sizeof(dm), err) < 0)
		return -1;
	return put_name(out, cap, err, "parent locator", "./", dm, "");
}

int lvhd_locator_lv(const char *locator, char *out, size_t cap, struct sm_error *err)
{
	char vg[LVHD_DM_NAME_MAX * 2], lv[LVM_NAME_MAX];

	if (!locator || !*locator)
		return sm_fail(err, SME_VDI_LOAD, "parent name is empty");
	/* Any VG: the locator's reader does not know which SR wrote it. */
	if (lvm_dm_name_split(locator, vg, sizeof(vg), lv, sizeof(lv)) < 0)
		return sm_fail(err, SME_VDI_LOAD,
			       "parent name '%.200s' is not the device-mapper name of an LV", locator);
	return put_name(out, cap, err, "parent LV name", lv, "", "");
}

bool lvhd_locator_uuid(const char *locator, struct lvhd_lv *out)
{
	char lv[LVHD_DM_NAME_MAX * 2];
	const char *base;

	memset(out, 0, sizeof(*out));
	if (!locator)
		return false;
	base = strrchr(locator, '/');
	base = base ? base + 1 : locator;
	/* A dm name (what blktap writes) starts with the VG prefix; else a plain LV name. */
	if (strncmp(base, LVHD_VG_PREFIX, strlen(LVHD_VG_PREFIX)) == 0) {
		if (lvhd_locator_lv(base, lv, sizeof(lv), NULL) < 0)
			return false;
		return lvhd_lv_parse(lv, out);
	}
	return lvhd_lv_parse(base, out);
}

static int add_checked(uint64_t a, uint64_t b, uint64_t *out, struct sm_error *err)
{
	if (__builtin_add_overflow(a, b, out))
		return sm_fail(err, SME_VDI_SIZE, "size %llu + %llu does not fit 64 bits",
			       (unsigned long long)a, (unsigned long long)b);
	return 0;
}

/* util.roundup: 0 counts as 1. */
static int roundup_checked(uint64_t unit, uint64_t v, uint64_t *out, struct sm_error *err)
{
	uint64_t rem;

	if (v == 0)
		v = 1;
	rem = v % unit;
	if (rem == 0) {
		*out = v;
		return 0;
	}
	return add_checked(v, unit - rem, out, err);
}

/* For values known small enough (the overheads of a 64-bit size). */
static uint64_t roundup_small(uint64_t unit, uint64_t v)
{
	if (v == 0)
		v = 1;
	return (v + unit - 1) / unit * unit;
}

int lvhd_round_lv(uint64_t size, uint64_t *out, struct sm_error *err)
{
	return roundup_checked(LVHD_EXTENT, size, out, err);
}

uint64_t lvhd_overhead_empty(uint64_t virt)
{
	uint64_t blocks = virt / LVHD_MIB / 2;   /* size_mb // 2, as vhdutil */
	uint64_t overhead = 3 * 1024;            /* footer, its copy, header */

	overhead += blocks * 4;                  /* BAT */
	overhead = roundup_small(512, overhead);
	overhead += blocks / 8;                  /* batmap */
	return roundup_small(4096, overhead);
}

uint64_t lvhd_overhead_bitmap(uint64_t virt)
{
	uint64_t blocks = virt / LVHD_VHD_BLOCK + (virt % LVHD_VHD_BLOCK ? 1 : 0);

	return blocks * 4096;
}

int lvhd_vhd_lv_size(uint64_t virt, uint64_t *out, struct sm_error *err)
{
	uint64_t sum;

	if (add_checked(virt, lvhd_overhead_empty(LVHD_VHD_PREALLOC), &sum, err) < 0 ||
	    add_checked(sum, lvhd_overhead_bitmap(virt), &sum, err) < 0)
		return -1;
	return lvhd_round_lv(sum, out, err);
}

int lvhd_raw_lv_size(uint64_t size, uint64_t *out, struct sm_error *err)
{
	return lvhd_round_lv(size, out, err);
}

int lvhd_vhd_size_round(uint64_t size, uint64_t *out, struct sm_error *err)
{
	if (size > LVHD_VHD_MAX)
		return sm_fail(err, SME_VDI_SIZE, "VDI size must be between 1 MB and %llu MB",
			       (unsigned long long)(LVHD_VHD_MAX / LVHD_MIB));
	if (size < LVHD_VHD_MIN)
		size = LVHD_VHD_MIN;
	return roundup_checked(LVHD_VHD_BLOCK, size, out, err);
}
