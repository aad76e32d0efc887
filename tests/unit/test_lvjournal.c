/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the LV journal names and data: each journal type the Python SM
 * writes, named as journaler.py names it in a real VG (the 127-character
 * rule on the dm name, with the LV name not dash-doubled), the exact
 * boundary, parsing back, the data sector, and hostile sectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/lvjournal.h"

#define VG    "VG_XenStorage-3f1c0d9e-5d2a-4c8b-9e7f-0a1b2c3d4e5f"
#define ORIG  "aaaaaaaa-0000-4000-8000-000000000001"
#define BASE  "bbbbbbbb-0000-4000-8000-000000000002"
#define CLONE "cccccccc-0000-4000-8000-000000000003"

/* The dm name length journaler.py checks: VG dash-doubled (55), '-', the LV name. */
static size_t mapper_len(const char *lv)
{
	return 56 + strlen(lv);
}

static void test_python_types(void **state)
{
	static const struct {
		const char *type, *value, *name;
		bool in_lv;
	} table[] = {
		/* vdi_snapshot/clone: 56 + 116 = 172 > 127 */
		{ "clone", BASE "_" CLONE, "clone_" ORIG "_1", true },
		/* single snapshot: 56 + 80 = 136 > 127 */
		{ "clone", BASE "_", "clone_" ORIG "_1", true },
		/* inflate: old LV size in the name, 56 + 52 = 108 */
		{ "inflate", "8388608", "inflate_" ORIG "_8388608", false },
		/* GC leaf-coalesce: 56 + 78 = 134 > 127 */
		{ "leaf", BASE, "leaf_" ORIG "_1", true },
		{ "coalesce", "1", "coalesce_" ORIG "_1", false },
		{ "relink", "1", "relink_" ORIG "_1", false },
		{ "zero", "1048576", "zero_" ORIG "_1048576", false },
	};
	char name[LVJ_NAME_MAX];
	struct sm_error err = { 0 };

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		bool in_lv = !table[i].in_lv;

		assert_int_equal(lvjournal_lv_name(VG, table[i].type, ORIG, table[i].value, name,
						   sizeof(name), &in_lv, &err), 0);
		assert_string_equal(name, table[i].name);
		assert_int_equal(in_lv, table[i].in_lv);
		assert_true(mapper_len(name) <= LVJ_MAX_DM_NAME);
	}
	assert_true(lvjournal_type_reads_data("clone"));
	assert_true(lvjournal_type_reads_data("leaf"));
	assert_false(lvjournal_type_reads_data("inflate"));
	assert_false(lvjournal_type_reads_data("coalesce"));
	assert_false(lvjournal_type_reads_data(NULL));
}

/* 127 characters stay in the name; 128 go into the LV. */
static void test_boundary(void **state)
{
	char value[64], name[LVJ_NAME_MAX];
	struct sm_error err = { 0 };
	bool in_lv;

	/* 56 + len("inflate_" ORIG "_") = 101: a 26-digit value makes 127. */
	memset(value, '9', 26);
	value[26] = '\0';
	assert_int_equal(lvjournal_lv_name(VG, "inflate", ORIG, value, name, sizeof(name),
					   &in_lv, &err), 0);
	assert_false(in_lv);
	assert_int_equal(mapper_len(name), 127);
	strcat(value, "9");
	assert_int_equal(lvjournal_lv_name(VG, "inflate", ORIG, value, name, sizeof(name),
					   &in_lv, &err), 0);
	assert_true(in_lv);
	assert_string_equal(name, "inflate_" ORIG "_1");

	/* The VG's dashes count twice; the LV name's dashes once (journaler.py's check). */
	assert_int_equal(lvjournal_lv_name("a-b", "t", "i-d", "v-v", name, sizeof(name),
					   &in_lv, &err), 0);
	assert_false(in_lv);
	assert_string_equal(name, "t_i-d_v-v");
}

static void test_name_refusals(void **state)
{
	char name[LVJ_NAME_MAX], big[600];
	struct sm_error err = { 0 };
	bool in_lv;

	assert_int_equal(lvjournal_lv_name(VG, "clo_ne", ORIG, "1", name, sizeof(name), &in_lv, &err), -1);
	assert_int_equal(err.code, SME_INVALID_ARG);
	assert_int_equal(lvjournal_lv_name(VG, "clone", "a_b", "1", name, sizeof(name), &in_lv, &err), -1);
	assert_int_equal(lvjournal_lv_name(VG, "", ORIG, "1", name, sizeof(name), &in_lv, &err), -1);
	assert_int_equal(lvjournal_lv_name(VG, "clone", "", "1", name, sizeof(name), &in_lv, &err), -1);
	assert_int_equal(lvjournal_lv_name(VG, "clone", "a/b", "1", name, sizeof(name), &in_lv, &err), -1);
	assert_int_equal(lvjournal_lv_name(VG, "clone", ORIG, NULL, name, sizeof(name), &in_lv, &err), -1);
	/* A short value that cannot be part of an LV name. */
	assert_int_equal(lvjournal_lv_name(VG, "zero", ORIG, "1 2", name, sizeof(name), &in_lv, &err), -1);
	/* A long value that does not fit the data sector. */
	memset(big, 'v', 509);
	big[509] = '\0';
	sm_error_clear(&err);
	assert_int_equal(lvjournal_lv_name(VG, "clone", ORIG, big, name, sizeof(name), &in_lv, &err), -1);
	assert_int_equal(err.code, SME_LVM_WRITE);
	big[508] = '\0';
	assert_int_equal(lvjournal_lv_name(VG, "clone", ORIG, big, name, sizeof(name), &in_lv, &err), 0);
	/* An id so long even <type>_<id>_1 passes 127. */
	memset(big, 'i', 80);
	big[80] = '\0';
	assert_int_equal(lvjournal_lv_name(VG, "clone", big, "1", name, sizeof(name), &in_lv, &err), -1);
	/* No room in the caller's buffer. */
	assert_int_equal(lvjournal_lv_name(VG, "clone", ORIG, "1", name, 20, &in_lv, &err), -1);
}

static void test_parse_name(void **state)
{
	struct lvj_name n;
	struct sm_error err = { 0 };

	assert_int_equal(lvjournal_parse_name("clone_" ORIG "_1", &n, &err), 0);
	assert_string_equal(n.type, "clone");
	assert_string_equal(n.id, ORIG);
	assert_string_equal(n.value, "1");
	assert_int_equal(lvjournal_parse_name("inflate_" ORIG "_8388608", &n, &err), 0);
	assert_string_equal(n.value, "8388608");
	/* Split at the first two '_' only. */
	assert_int_equal(lvjournal_parse_name("a_b_c_d", &n, &err), 0);
	assert_string_equal(n.type, "a");
	assert_string_equal(n.id, "b");
	assert_string_equal(n.value, "c_d");
	assert_int_equal(lvjournal_parse_name("a__", &n, &err), 0);
	assert_string_equal(n.id, "");

	assert_int_equal(lvjournal_parse_name("MGT", &n, &err), -1);
	assert_int_equal(err.code, SME_LVM_NO_VOLUME);
	assert_string_equal(err.detail, "Bad LV name: MGT");
	sm_error_clear(&err);
	assert_int_equal(lvjournal_parse_name("jvhd_" ORIG, &n, &err), -1);
	assert_int_equal(lvjournal_parse_name("", &n, &err), -1);
	assert_int_equal(lvjournal_parse_name(NULL, &n, &err), -1);
	assert_string_equal(n.type, "");
}

static void test_data_format(void **state)
{
	uint8_t sector[LVJ_DATA_SIZE];
	char value[LVJ_DATA_SIZE + 1];
	struct sm_error err = { 0 };
	const char *want = "73 " BASE "_" CLONE;

	assert_int_equal(lvjournal_data_encode(BASE "_" CLONE, sector, &err), 0);
	assert_memory_equal(sector, want, strlen(want));
	for (size_t i = strlen(want); i < LVJ_DATA_SIZE; i++)
		assert_int_equal(sector[i], ' ');
	assert_int_equal(lvjournal_data_decode(sector, sizeof(sector), value, sizeof(value), &err), 0);
	assert_string_equal(value, BASE "_" CLONE);

	/* A single snapshot's "<base>_", and a value with spaces in it. */
	assert_int_equal(lvjournal_data_encode(BASE "_", sector, &err), 0);
	assert_memory_equal(sector, "37 " BASE "_ ", 41);
	assert_int_equal(lvjournal_data_decode(sector, sizeof(sector), value, sizeof(value), &err), 0);
	assert_string_equal(value, BASE "_");
	assert_int_equal(lvjournal_data_encode("a b ", sector, &err), 0);
	assert_int_equal(lvjournal_data_decode(sector, sizeof(sector), value, sizeof(value), &err), 0);
	assert_string_equal(value, "a b ");

	/* The length counts characters, as Python's len(): é is one. */
	assert_int_equal(lvjournal_data_encode("\xc3\xa9x", sector, &err), 0);
	assert_memory_equal(sector, "2 \xc3\xa9x ", 6);
	assert_int_equal(lvjournal_data_decode(sector, sizeof(sector), value, sizeof(value), &err), 0);
	assert_string_equal(value, "\xc3\xa9x");

	/* What Python reads from a journal written by hand: the sector only. */
	memset(sector, ' ', sizeof(sector));
	memcpy(sector, "36 " BASE, 39);
	assert_int_equal(lvjournal_data_decode(sector, 39, value, sizeof(value), &err), 0);
	assert_string_equal(value, BASE);
	/* The empty value. */
	assert_int_equal(lvjournal_data_encode("", sector, &err), 0);
	assert_int_equal(lvjournal_data_decode(sector, sizeof(sector), value, sizeof(value), &err), 0);
	assert_string_equal(value, "");
}

static void bad_data(const char *text, size_t len, const char *want)
{
	uint8_t sector[LVJ_DATA_SIZE];
	char value[LVJ_DATA_SIZE + 1];
	struct sm_error err = { 0 };

	memset(sector, ' ', sizeof(sector));
	memcpy(sector, text, len);
	assert_int_equal(lvjournal_data_decode(sector, sizeof(sector), value, sizeof(value), &err), -1);
	assert_int_equal(err.code, SME_LVM_READ);
	if (!strstr(err.detail, want))
		fail_msg("'%s' does not say '%s'", err.detail, want);
}

static void test_data_hostile(void **state)
{
	uint8_t sector[LVJ_DATA_SIZE];
	char value[8];
	struct sm_error err = { 0 };

	bad_data("x", 1, "does not start");
	bad_data(" 3 abc", 6, "does not start");
	bad_data("+3 abc", 6, "does not start");
	bad_data("-3 abc", 6, "does not start");
	bad_data("3abc", 4, "does not start");
	bad_data("99999999999999999999 a", 22, "out of range");
	bad_data("600 a", 5, "out of range");
	bad_data("510 a", 5, "fewer than");
	bad_data("3 \xff\xfe", 4, "UTF-8");
	bad_data("3 a\0b", 5, "NUL");
	memset(sector, 0, sizeof(sector));
	assert_int_equal(lvjournal_data_decode(sector, sizeof(sector), value, sizeof(value), &err), -1);
	/* Not more than the caller's buffer. */
	assert_int_equal(lvjournal_data_encode("abcdefghij", sector, &err), 0);
	assert_int_equal(lvjournal_data_decode(sector, sizeof(sector), value, sizeof(value), &err), -1);
	/* A truncated read. */
	assert_int_equal(lvjournal_data_decode(sector, 4, value, sizeof(value), &err), -1);
	assert_int_equal(lvjournal_data_decode(sector, 0, value, sizeof(value), &err), -1);
	/* Encoding refuses what does not fit, or is not UTF-8. */
	sm_error_clear(&err);
	assert_int_equal(lvjournal_data_encode("\xc3", sector, &err), -1);
	assert_int_equal(err.code, SME_LVM_WRITE);
	assert_int_equal(lvjournal_data_encode(NULL, sector, &err), -1);
}

static void test_csm_records(void **state)
{
	char name[LVJ_NAME_MAX], op[32], id[64], big[64];
	struct sm_error err = { 0 };

	assert_int_equal(lvjournal_csm_name(VG, "snapshot", ORIG, name, sizeof(name), &err), 0);
	assert_string_equal(name, "csm_snapshot_" ORIG);
	assert_true(lvjournal_csm_parse(name, op, sizeof(op), id, sizeof(id)));
	assert_string_equal(op, "snapshot");
	assert_string_equal(id, ORIG);
	/* Other journals are not ours, and ours are not Python's types. */
	assert_false(lvjournal_csm_parse("clone_" ORIG "_1", op, sizeof(op), id, sizeof(id)));
	assert_false(lvjournal_csm_parse("csm_a_b_c", op, sizeof(op), id, sizeof(id)));
	assert_false(lvjournal_csm_parse("csm__" ORIG, op, sizeof(op), id, sizeof(id)));
	assert_false(lvjournal_csm_parse("csm_snapshot_" ORIG, op, 4, id, sizeof(id)));
	assert_false(lvjournal_csm_parse("MGT", op, sizeof(op), id, sizeof(id)));

	assert_int_equal(lvjournal_csm_name(VG, "snap_shot", ORIG, name, sizeof(name), &err), -1);
	assert_int_equal(err.code, SME_INVALID_ARG);
	/* 56 + 4 + 31 + 1 + 36 = 128: one too many. */
	memset(big, 'o', 31);
	big[31] = '\0';
	assert_int_equal(lvjournal_csm_name(VG, big, ORIG, name, sizeof(name), &err), -1);
	big[30] = '\0';
	assert_int_equal(lvjournal_csm_name(VG, big, ORIG, name, sizeof(name), &err), 0);
	assert_int_equal(mapper_len(name), 127);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_types),
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_name_refusals),
		cmocka_unit_test(test_parse_name),
		cmocka_unit_test(test_data_format),
		cmocka_unit_test(test_data_hostile),
		cmocka_unit_test(test_csm_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
