/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the LVHD names and sizes: the size table of the Python SM's
 * formulas (worked values computed from lvhdutil.py/vhdutil.py), names,
 * dm mangling and blktap's unmangling of locators, and refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/lvhd.h"
#include "csm/lvm.h"

#define SR "3f1c0d9e-5d2a-4c8b-9e7f-0a1b2c3d4e5f"
#define U  "cccccccc-0000-4000-8000-000000000003"
#define SR_DM "3f1c0d9e--5d2a--4c8b--9e7f--0a1b2c3d4e5f"
#define U_DM  "cccccccc--0000--4000--8000--000000000003"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)

static void test_size_table(void **state)
{
	/* virtual size -> fully inflated LV (lvhdutil.calcSizeVHDLV) */
	static const uint64_t table[][2] = {
		{ 2 * MIB, 8 * MIB },
		{ 100 * MIB, 108 * MIB },
		{ 1 * GIB, 1 * GIB + 8 * MIB },
		{ 10 * GIB, 10766778368ull },
		{ 100 * GIB, 107592286208ull },
		{ 1024 * GIB, 1101667500032ull },
		{ 2040 * GIB, 2194719899648ull },
		/* and around the edges */
		{ 0, 8 * MIB },
		{ 1, 8 * MIB },
		{ 3 * MIB + 1, 8 * MIB },
		{ 5 * GIB + 12345, 5385486336ull },
	};
	struct sm_error err = { 0 };

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		uint64_t lv = 0;

		assert_int_equal(lvhd_vhd_lv_size(table[i][0], &lv, &err), 0);
		if (lv != table[i][1])
			fail_msg("virt %llu: LV %llu, want %llu", (unsigned long long)table[i][0],
				 (unsigned long long)lv, (unsigned long long)table[i][1]);
	}
}

static void test_overheads(void **state)
{
	/* The 2 TiB preallocation of every LVHD VHD: 4,329,472 bytes, a thin LV of 8 MiB. */
	uint64_t thin = 0;
	struct sm_error err = { 0 };

	assert_int_equal(lvhd_overhead_empty(LVHD_VHD_PREALLOC), 4329472);
	assert_int_equal(lvhd_round_lv(lvhd_overhead_empty(LVHD_VHD_PREALLOC), &thin, &err), 0);
	assert_int_equal(thin, LVHD_THIN_LV_SIZE);
	assert_int_equal(LVHD_THIN_LV_SIZE, 8 * MIB);

	assert_int_equal(lvhd_overhead_empty(0), 4096);
	assert_int_equal(lvhd_overhead_empty(2 * MIB), 4096);
	assert_int_equal(lvhd_overhead_empty(1 * GIB), 8192);
	assert_int_equal(lvhd_overhead_empty(100 * GIB), 217088);
	assert_int_equal(lvhd_overhead_empty(2040 * GIB), 4313088);

	assert_int_equal(lvhd_overhead_bitmap(0), 0);
	assert_int_equal(lvhd_overhead_bitmap(1), 4096);
	assert_int_equal(lvhd_overhead_bitmap(2 * MIB), 4096);
	assert_int_equal(lvhd_overhead_bitmap(2 * MIB + 1), 8192);
	assert_int_equal(lvhd_overhead_bitmap(100 * MIB), 204800);
}

static void test_round_and_raw(void **state)
{
	static const uint64_t table[][2] = {
		{ 0, 4 * MIB },          /* util.roundup counts 0 as 1 */
		{ 1, 4 * MIB },
		{ 4 * MIB, 4 * MIB },
		{ 4 * MIB + 1, 8 * MIB },
		{ 10 * GIB, 10 * GIB },
		{ UINT64_MAX - 4 * MIB + 1, UINT64_MAX - 4 * MIB + 1 },   /* a multiple already */
	};
	struct sm_error err = { 0 };
	uint64_t out;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		assert_int_equal(lvhd_round_lv(table[i][0], &out, &err), 0);
		assert_int_equal(out, table[i][1]);
		assert_int_equal(lvhd_raw_lv_size(table[i][0], &out, &err), 0);
		assert_int_equal(out, table[i][1]);
	}
	/* Overflow is an error, never a wrap to a small size. */
	assert_int_equal(lvhd_round_lv(UINT64_MAX - 4 * MIB + 2, &out, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	assert_int_equal(lvhd_vhd_lv_size(UINT64_MAX - MIB, &out, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	assert_int_equal(lvhd_vhd_lv_size(UINT64_MAX, &out, &err), -1);
}

static void test_vhd_size_round(void **state)
{
	static const uint64_t table[][2] = {
		{ 0, 2 * MIB },
		{ 1, 2 * MIB },
		{ 2 * MIB, 2 * MIB },
		{ 2 * MIB + 1, 4 * MIB },
		{ 100 * MIB - 1, 100 * MIB },
		{ 2040 * GIB - 1, 2040 * GIB },
		{ 2040 * GIB, 2040 * GIB },
	};
	struct sm_error err = { 0 };
	uint64_t out;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		assert_int_equal(lvhd_vhd_size_round(table[i][0], &out, &err), 0);
		assert_int_equal(out, table[i][1]);
	}
	assert_int_equal(lvhd_vhd_size_round(2040 * GIB + 1, &out, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	assert_string_equal(err.detail, "VDI size must be between 1 MB and 2088960 MB");
	sm_error_clear(&err);
	assert_int_equal(lvhd_vhd_size_round(UINT64_MAX, &out, &err), -1);
}

static void test_names(void **state)
{
	char out[LVHD_DM_NAME_MAX];
	struct sm_error err = { 0 };

	assert_int_equal(lvhd_vg_name(SR, out, sizeof(out), &err), 0);
	assert_string_equal(out, "VG_XenStorage-" SR);
	assert_int_equal(strlen(out) + 1, LVHD_VG_NAME_MAX);
	assert_int_equal(lvhd_ns(SR, out, sizeof(out), &err), 0);
	assert_string_equal(out, "lvm-" SR);
	assert_int_equal(lvhd_lv_name(LVHD_VHD, false, U, out, sizeof(out), &err), 0);
	assert_string_equal(out, "VHD-" U);
	assert_int_equal(lvhd_lv_name(LVHD_RAW, false, U, out, sizeof(out), &err), 0);
	assert_string_equal(out, "LV-" U);
	assert_int_equal(lvhd_lv_name(LVHD_VHD, true, U, out, sizeof(out), &err), 0);
	assert_string_equal(out, "VHD-OLD_" U);
	assert_int_equal(strlen(out) + 1, LVHD_LV_NAME_MAX);
	assert_string_equal(lvhd_vdi_type(LVHD_VHD), "vhd");
	assert_string_equal(lvhd_vdi_type(LVHD_RAW), "aio");
	assert_null(lvhd_vdi_type(LVHD_NONE));

	/* Refusals: not canonical, no room, no kind. */
	assert_int_equal(lvhd_vg_name("3F1C0D9E-5D2A-4C8B-9E7F-0A1B2C3D4E5F", out, sizeof(out), &err), -1);
	assert_int_equal(err.code, SME_INVALID_ARG);
	assert_int_equal(lvhd_vg_name("../etc", out, sizeof(out), &err), -1);
	assert_int_equal(lvhd_vg_name(NULL, out, sizeof(out), &err), -1);
	assert_int_equal(lvhd_lv_name(LVHD_VHD, false, U, out, 40, &err), -1);
	assert_int_equal(lvhd_lv_name(LVHD_NONE, false, U, out, sizeof(out), &err), -1);
	assert_int_equal(lvhd_lv_name(LVHD_VHD, false, U "x", out, sizeof(out), &err), -1);
}

static void test_lv_parse(void **state)
{
	static const struct {
		const char *name;
		bool ok;
		enum lvhd_kind kind;
		bool old;
	} table[] = {
		{ "VHD-" U, true, LVHD_VHD, false },
		{ "LV-" U, true, LVHD_RAW, false },
		{ "VHD-OLD_" U, true, LVHD_VHD, true },
		{ "LV-OLD_" U, true, LVHD_RAW, true },
		{ "MGT", false, LVHD_NONE, false },
		{ "clone_" U "_1", false, LVHD_NONE, false },
		{ "inflate_" U "_8388608", false, LVHD_NONE, false },
		{ "jvhd_" U, false, LVHD_NONE, false },
		{ U ".cbtlog", false, LVHD_NONE, false },
		{ "VHD-", false, LVHD_NONE, false },
		{ "VHD-" U "x", false, LVHD_NONE, false },
		{ "VHD-" U "-", false, LVHD_NONE, false },
		{ "VHD-CCCCCCCC-0000-4000-8000-000000000003", false, LVHD_NONE, false },
		{ "VHD-OLD_OLD_" U, false, LVHD_NONE, false },
		{ "vhd-" U, false, LVHD_NONE, false },
		{ "XVHD-" U, false, LVHD_NONE, false },
		{ "", false, LVHD_NONE, false },
	};
	struct lvhd_lv lv;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		bool ok = lvhd_lv_parse(table[i].name, &lv);

		if (ok != table[i].ok)
			fail_msg("'%s': parse %d, want %d", table[i].name, ok, table[i].ok);
		assert_int_equal(lv.kind, table[i].kind);
		assert_int_equal(lv.old, table[i].old);
		assert_string_equal(lv.uuid, ok ? U : "");
	}
	assert_false(lvhd_lv_parse(NULL, &lv));
}

static void test_dm_names(void **state)
{
	char out[LVHD_DM_NAME_MAX], lv[LVHD_DM_NAME_MAX];
	struct sm_error err = { 0 };

	assert_int_equal(lvhd_sr_dm_name(SR, "VHD-" U, out, sizeof(out), &err), 0);
	assert_string_equal(out, "VG_XenStorage--" SR_DM "-VHD--" U_DM);
	assert_int_equal(lvhd_sr_dm_name(SR, "MGT", out, sizeof(out), &err), 0);
	assert_string_equal(out, "VG_XenStorage--" SR_DM "-MGT");
	assert_int_equal(lvhd_dm_name("vg-a", "lv-b--c", out, sizeof(out), &err), 0);
	assert_string_equal(out, "vg--a-lv--b----c");
	assert_int_equal(lvhd_parent_locator(SR, "VHD-" U, out, sizeof(out), &err), 0);
	assert_string_equal(out, "./VG_XenStorage--" SR_DM "-VHD--" U_DM);
	/* 15 + 40 + 1 + 9 + 40 = 105 characters, the longest of ours: within 127. */
	assert_int_equal(lvhd_sr_dm_name(SR, "VHD-OLD_" U, out, sizeof(out), &err), 0);
	assert_int_equal(strlen(out), 105);

	/* Refusals: too long for device-mapper, too small a buffer, a '/' in a name. */
	memset(lv, 'x', 80);
	lv[80] = '\0';
	assert_int_equal(lvhd_sr_dm_name(SR, lv, out, sizeof(out), &err), -1);
	assert_int_equal(err.code, SME_INVALID_ARG);
	assert_int_equal(lvhd_sr_dm_name(SR, "VHD-" U, out, 50, &err), -1);
	assert_int_equal(lvhd_dm_name("vg", "a/b", out, sizeof(out), &err), -1);
	assert_int_equal(lvhd_dm_name("", "lv", out, sizeof(out), &err), -1);
	assert_int_equal(lvhd_dm_name("vg", "lv", out, 0, &err), -1);
	assert_int_equal(lvhd_parent_locator("bad", "VHD-" U, out, sizeof(out), &err), -1);
}

/* blktap's vhd-util scan reading of what it wrote, and round trips. */
static void test_locator_decoding(void **state)
{
	static const struct {
		const char *in;
		const char *lv;   /* NULL: refused */
	} table[] = {
		{ "./VG_XenStorage--" SR_DM "-VHD--" U_DM, "VHD-" U },
		{ "VG_XenStorage--" SR_DM "-VHD--" U_DM, "VHD-" U },
		{ "/dev/mapper/VG_XenStorage--" SR_DM "-LV--" U_DM, "LV-" U },
		{ "file://./VG_XenStorage--" SR_DM "-VHD--" U_DM, "VHD-" U },
		/* W2KU uses '\': blktap looks for '/' only, and still ends at the LV */
		{ ".\\VG_XenStorage--" SR_DM "-VHD--" U_DM, "VHD-" U },
		{ "vg--a-lv--b----c", "lv-b--c" },
		/* a second single '-': vhd-util scan -l would keep "c" */
		{ "a-b-c", NULL },
		{ "no_dashes_here", NULL },
		{ "only--double--dashes", NULL },
		{ "trailing-", NULL },
		{ "./", NULL },
		{ "", NULL },
	};
	char out[LVHD_DM_NAME_MAX];
	struct sm_error err = { 0 };

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int rc = lvhd_locator_lv(table[i].in, out, sizeof(out), &err);

		if (!table[i].lv) {
			if (rc != -1)
				fail_msg("'%s' decoded to '%s'", table[i].in, out);
			assert_int_equal(err.code, SME_VDI_LOAD);
			sm_error_clear(&err);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s': %s", table[i].in, err.detail);
		assert_string_equal(out, table[i].lv);
	}
	assert_int_equal(lvhd_locator_lv(NULL, out, sizeof(out), &err), -1);

	/* Every name of ours survives mangling and blktap's unmangling. */
	for (int kind = LVHD_VHD; kind <= LVHD_RAW; kind++) {
		for (int old = 0; old <= 1; old++) {
			char name[LVHD_LV_NAME_MAX], loc[LVHD_DM_NAME_MAX + 2];
			struct lvhd_lv back;

			assert_int_equal(lvhd_lv_name(kind, old, U, name, sizeof(name), &err), 0);
			assert_int_equal(lvhd_parent_locator(SR, name, loc, sizeof(loc), &err), 0);
			assert_int_equal(lvhd_locator_lv(loc, out, sizeof(out), &err), 0);
			assert_string_equal(out, name);
			assert_true(lvhd_locator_uuid(loc, &back));
			assert_int_equal(back.kind, kind);
			assert_int_equal(back.old, old);
			assert_string_equal(back.uuid, U);
		}
	}
}

/*
 * The names on which lvhd_locator_lv (blktap's reading) and
 * lvm_lv_from_dm_name (the LVM store's) gave different answers before
 * both were built on lvm_dm_name_split: they agree now, on the one VG
 * lvm_lv_from_dm_name is given.
 */
static void test_locator_same_as_lvm(void **state)
{
	static const char vg[] = "VG_XenStorage-" SR;
	static const struct {
		const char *in;
		const char *lv;   /* NULL: refused by both */
	} table[] = {
		/* an LV part with single dashes: blktap kept the last uuid group */
		{ "./VG_XenStorage--" SR_DM "-VHD-" U, NULL },
		/* a dm layer after the LV: blktap kept "real" */
		{ "./VG_XenStorage--" SR_DM "-VHD--" U_DM "-real", NULL },
		/* an LV part that is no LVM name: blktap kept it */
		{ "./VG_XenStorage--" SR_DM "-VHD--a%b", NULL },
		{ "./VG_XenStorage--" SR_DM "-VHD--a b", NULL },
		/* what both always read alike */
		{ "./VG_XenStorage--" SR_DM "-VHD--" U_DM, "VHD-" U },
		{ "/dev/mapper/VG_XenStorage--" SR_DM "-LV--" U_DM, "LV-" U },
		{ "VG_XenStorage--" SR_DM "-MGT", "MGT" },
		{ "VG_XenStorage--" SR_DM "-", NULL },
	};
	char a[LVHD_DM_NAME_MAX], b[LVHD_DM_NAME_MAX];
	struct sm_error err = { 0 };

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int ra = lvhd_locator_lv(table[i].in, a, sizeof(a), &err);
		int rb = lvm_lv_from_dm_name(vg, table[i].in, b, sizeof(b));

		sm_error_clear(&err);
		if (!table[i].lv) {
			if (ra != -1 || rb != -1)
				fail_msg("'%s': lvhd %d, lvm %d: both should refuse", table[i].in, ra, rb);
			continue;
		}
		if (ra != 0 || rb != 0)
			fail_msg("'%s': lvhd %d, lvm %d", table[i].in, ra, rb);
		assert_string_equal(a, table[i].lv);
		assert_string_equal(b, table[i].lv);
	}
	/* Still apart by design: the locator's reader takes any VG. */
	assert_int_equal(lvhd_locator_lv("./other--vg-VHD--" U_DM, a, sizeof(a), &err), 0);
	assert_string_equal(a, "VHD-" U);
	assert_int_equal(lvm_lv_from_dm_name(vg, "./other--vg-VHD--" U_DM, b, sizeof(b)), -1);
}

/* lvhdutil.extractUuid's inputs, strictly. */
static void test_locator_uuid(void **state)
{
	static const struct {
		const char *in;
		bool ok;
	} table[] = {
		{ "./VG_XenStorage--" SR_DM "-VHD--" U_DM, true },
		{ "/dev/VG_XenStorage-" SR "/VHD-" U, true },
		{ "/dev/mapper/VG_XenStorage--" SR_DM "-LV--" U_DM, true },
		{ "VHD-" U, true },
		{ "./" U ".vhd", false },            /* a file SR's locator */
		{ "/dev/VG_XenStorage-" SR "/MGT", false },
		{ "./VG_XenStorage--" SR_DM "-MGT", false },
		{ "./VG_XenStorage--" SR_DM "-VHD--" "not--a--uuid", false },
		{ "./VG_XenStorage-", false },
		{ "", false },
	};
	struct lvhd_lv lv;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		bool ok = lvhd_locator_uuid(table[i].in, &lv);

		if (ok != table[i].ok)
			fail_msg("'%s': %d, want %d", table[i].in, ok, table[i].ok);
		if (ok)
			assert_string_equal(lv.uuid, U);
	}
	assert_false(lvhd_locator_uuid(NULL, &lv));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_table),
		cmocka_unit_test(test_overheads),
		cmocka_unit_test(test_round_and_raw),
		cmocka_unit_test(test_vhd_size_round),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_lv_parse),
		cmocka_unit_test(test_dm_names),
		cmocka_unit_test(test_locator_decoding),
		cmocka_unit_test(test_locator_same_as_lvm),
		cmocka_unit_test(test_locator_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
