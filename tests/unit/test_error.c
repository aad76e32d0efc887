/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the error module: the code table (checked against the lines
 * tests/data/extract-errorcodes.py took from the reference
 * XE_SR_ERRORCODES.xml), first-error-wins, and the faultString format.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/error.h"

#define REFERENCE "tests/data/errorcodes-reference.txt"

/* Every value enum sm_errcode names (but SM_OK). */
static const int all_codes[] = {
	SME_INVALID_ARG, SME_SR_IN_USE, SME_VDI_IN_USE, SME_LOCK_ERR,
	SME_UNIMPLEMENTED, SME_SR_NOT_EMPTY, SME_SR_SCAN, SME_SR_EXISTS,
	SME_VDI_EXISTS, SME_SR_NO_SPACE, SME_VDI_UNAVAILABLE, SME_SR_UNAVAILABLE,
	SME_FILE_SR_CREATE, SME_FILE_SR_RMDIR, SME_FILE_SR_DELETE, SME_VDI_REMOVE,
	SME_VDI_LOAD, SME_VDI_TYPE, SME_VDI_CREATE, SME_VDI_SIZE, SME_VDI_DELETE,
	SME_VDI_CLONE, SME_VDI_SNAPSHOT, SME_CONFIG_DEVICE_MISSING,
	SME_CONFIG_LOCATION_MISSING, SME_SNAPSHOT_CHAIN_TOO_LONG, SME_VDI_RESIZE,
	SME_CONFIG_PARAMS_MISSING, SME_BAD_REQUEST, SME_VDI_MISSING, SME_EIO,
	SME_SM_GENERAL, SME_XML_PARSE, SME_ILLEGAL_XML_CHAR, SME_GENERIC,
	SME_LVM_CREATE, SME_LVM_DELETE, SME_LVM_MOUNT, SME_LVM_UNMOUNT,
	SME_LVM_PART_CREATE, SME_LVM_PART_IN_USE, SME_LVM_FILESYSTEM, SME_LVM_MASTER,
	SME_LVM_GROUP_CREATE, SME_CONFIG_DEVICE_INVALID,
	SME_NFS_VERSION, SME_NFS_MOUNT, SME_NFS_UNMOUNT, SME_NFS_ATTACHED,
	SME_NFS_DELETE, SME_NFS_CREATE, SME_CONFIG_SERVER_PATH_MISSING,
	SME_CONFIG_SERVER_MISSING, SME_CONFIG_SERVER_PATH_BAD, SME_NFS_TARGET,
	SME_SHARED_FS_NO_WRITE, SME_LVM_WRITE, SME_LVM_NO_VOLUME, SME_LVM_READ,
	SME_METADATA_ERROR,
};

#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

static void test_every_code_has_name_and_description(void **state)
{
	for (size_t i = 0; i < NCODES; i++) {
		const char *name = sm_error_name(all_codes[i]);
		const char *desc = sm_error_description(all_codes[i]);

		if (!name || !desc)
			fail_msg("code %d has no table entry", all_codes[i]);
		assert_true(name[0] != '\0');
		assert_true(desc[0] != '\0');
	}
}

static void test_names_unique(void **state)
{
	for (size_t i = 0; i < NCODES; i++)
		for (size_t j = i + 1; j < NCODES; j++)
			assert_string_not_equal(sm_error_name(all_codes[i]),
						sm_error_name(all_codes[j]));
}

static void test_known_entries(void **state)
{
	assert_string_equal(sm_error_name(SME_SR_SCAN), "SRScan");
	/* The reference has a trailing space here, and so must we. */
	assert_string_equal(sm_error_description(40), "The SR scan failed ");
	assert_string_equal(sm_error_name(143), "BadRequest");
	assert_string_equal(sm_error_description(143), "Failed to parse the request");
	assert_string_equal(sm_error_name(38), "Unimplemented");
	assert_string_equal(sm_error_name(1200), "GenericException");
}

static void test_unknown_code(void **state)
{
	struct sm_error err = { 0 };
	char *fs;

	assert_null(sm_error_name(0));
	assert_null(sm_error_description(0));
	assert_null(sm_error_name(-1));
	assert_null(sm_error_description(99999));
	assert_null(sm_error_name(41));   /* a gap in the enum */

	sm_fail(&err, 99999, NULL);
	fs = sm_error_fault_string(&err);
	assert_non_null(fs);
	assert_string_equal(fs, "Error reporting error, unknown key 99999");
	free(fs);

	sm_error_clear(&err);
	sm_fail(&err, 99999, "why");
	fs = sm_error_fault_string(&err);
	assert_string_equal(fs, "Error reporting error, unknown key 99999 [opterr=why]");
	free(fs);
}

static void test_fail_returns_minus_one_and_records(void **state)
{
	struct sm_error err = { 0 };

	assert_int_equal(sm_fail(&err, SME_VDI_CREATE, "disk %d is %s", 3, "full"), -1);
	assert_int_equal(err.code, SME_VDI_CREATE);
	assert_string_equal(err.detail, "disk 3 is full");
	/* NULL err is allowed and still returns -1. */
	assert_int_equal(sm_fail(NULL, SME_VDI_CREATE, "x"), -1);
	assert_int_equal(sm_fail_errno(NULL, SME_EIO, ENOENT, "x"), -1);
}

static void test_first_error_wins(void **state)
{
	struct sm_error err = { 0 };

	sm_fail(&err, SME_VDI_LOAD, "root cause");
	assert_int_equal(sm_fail(&err, SME_SM_GENERAL, "later wrapper"), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	assert_string_equal(err.detail, "root cause");
	assert_int_equal(sm_fail_errno(&err, SME_EIO, EIO, "also later"), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	assert_string_equal(err.detail, "root cause");

	/* A first error without detail is still first. */
	sm_error_clear(&err);
	assert_int_equal(err.code, SM_OK);
	assert_string_equal(err.detail, "");
	sm_fail(&err, SME_SR_SCAN, NULL);
	sm_fail(&err, SME_EIO, "detail that must not appear");
	assert_int_equal(err.code, SME_SR_SCAN);
	assert_string_equal(err.detail, "");
}

static void test_fail_errno(void **state)
{
	struct sm_error err = { 0 };
	char want[256];

	sm_fail_errno(&err, SME_FILE_SR_CREATE, ENOENT, "mkdir %s", "/x");
	assert_int_equal(err.code, SME_FILE_SR_CREATE);
	snprintf(want, sizeof(want), "mkdir /x: %s", strerror(ENOENT));
	assert_string_equal(err.detail, want);
}

/* A full SR is SRNoSpace whatever step met it; the errno text stays in the detail. */
static void test_fail_errno_no_space(void **state)
{
	struct sm_error err = { 0 };
	char want[256];

	sm_fail_errno(&err, SME_SM_GENERAL, ENOSPC, "cannot write journal %s", "/sr/j");
	assert_int_equal(err.code, SME_SR_NO_SPACE);
	snprintf(want, sizeof(want), "cannot write journal /sr/j: %s", strerror(ENOSPC));
	assert_string_equal(err.detail, want);
	sm_error_clear(&err);
	sm_fail_errno(&err, SME_LOCK_ERR, EDQUOT, "lock");
	assert_int_equal(err.code, SME_SR_NO_SPACE);
	sm_error_clear(&err);
	sm_fail_errno(&err, SME_VDI_CREATE, EIO, "x");
	assert_int_equal(err.code, SME_VDI_CREATE);
	/* ...and it is still the first error that wins. */
	sm_fail_errno(&err, SME_VDI_CREATE, ENOSPC, "later");
	assert_int_equal(err.code, SME_VDI_CREATE);
}

static void test_recode(void **state)
{
	static const int kept[] = { SME_SR_NO_SPACE, SME_SR_UNAVAILABLE };
	static const int renamed[] = { SME_VDI_LOAD, SME_EIO, SME_SM_GENERAL, SME_VDI_CREATE,
				       SME_VDI_MISSING };
	struct sm_error err = { 0 };

	sm_error_recode(&err, SME_VDI_SNAPSHOT);
	assert_int_equal(err.code, SM_OK);
	sm_error_recode(NULL, SME_VDI_SNAPSHOT);
	for (size_t i = 0; i < sizeof(renamed) / sizeof(renamed[0]); i++) {
		sm_error_clear(&err);
		sm_fail(&err, renamed[i], "step %zu", i);
		sm_error_recode(&err, SME_VDI_SNAPSHOT);
		assert_int_equal(err.code, SME_VDI_SNAPSHOT);
		assert_non_null(strstr(err.detail, "step"));
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		sm_error_clear(&err);
		sm_fail(&err, kept[i], "why");
		sm_error_recode(&err, SME_VDI_CLONE);
		assert_int_equal(err.code, kept[i]);
		assert_string_equal(err.detail, "why");
	}
}

static void test_fault_string(void **state)
{
	struct sm_error err = { 0 };
	char *fs;

	sm_fail(&err, SME_CONFIG_LOCATION_MISSING, NULL);
	fs = sm_error_fault_string(&err);
	assert_string_equal(fs, "The request is missing the location parameter");
	free(fs);

	sm_error_clear(&err);
	sm_fail(&err, SME_CONFIG_LOCATION_MISSING, "%s", "");
	fs = sm_error_fault_string(&err);
	assert_string_equal(fs, "The request is missing the location parameter");
	free(fs);

	sm_error_clear(&err);
	sm_fail(&err, SME_VDI_CREATE, "no space left");
	fs = sm_error_fault_string(&err);
	assert_string_equal(fs, "VDI Creation failed [opterr=no space left]");
	free(fs);

	/* SRScan keeps its trailing space before the opterr. */
	sm_error_clear(&err);
	sm_fail(&err, SME_SR_SCAN, "bad image");
	fs = sm_error_fault_string(&err);
	assert_string_equal(fs, "The SR scan failed  [opterr=bad image]");
	free(fs);
}

static void test_long_detail_truncated(void **state)
{
	struct sm_error err = { 0 };
	char big[3000];
	char *fs;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sm_fail(&err, SME_EIO, "%s", big);
	assert_int_equal(strlen(err.detail), SM_ERROR_DETAIL_MAX - 1);
	sm_error_clear(&err);
	sm_fail_errno(&err, SME_EIO, EIO, "%s", big);
	assert_int_equal(strlen(err.detail), SM_ERROR_DETAIL_MAX - 1);
	fs = sm_error_fault_string(&err);
	assert_non_null(fs);
	assert_int_equal(strlen(fs), strlen("General IO error [opterr=]") +
			 SM_ERROR_DETAIL_MAX - 1);
	free(fs);
}

/* Split "<value>\t<name>\t<description>\n" in place. */
static int split_line(char *line, int *value, char **name, char **desc)
{
	char *t1 = strchr(line, '\t'), *t2, *end;
	long v;

	if (!t1)
		return -1;
	t2 = strchr(t1 + 1, '\t');
	if (!t2)
		return -1;
	*t1 = *t2 = '\0';
	end = strchr(t2 + 1, '\n');
	if (end)
		*end = '\0';
	v = strtol(line, &end, 10);
	if (*end != '\0' || v <= 0)
		return -1;
	*value = (int)v;
	*name = t1 + 1;
	*desc = t2 + 1;
	return 0;
}

static void test_table_matches_reference(void **state)
{
	FILE *f = fopen(REFERENCE, "r");
	char line[1024];
	int seen[NCODES] = { 0 };
	size_t rows = 0;

	if (!f)
		fail_msg("cannot open %s (run from the repository root)", REFERENCE);
	while (fgets(line, sizeof(line), f)) {
		char *name, *desc;
		int value;
		size_t i;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (split_line(line, &value, &name, &desc) < 0)
			fail_msg("malformed reference line: %s", line);
		rows++;
		if (!sm_error_name(value))
			fail_msg("reference code %d (%s) is not in the table", value, name);
		assert_string_equal(sm_error_name(value), name);
		assert_string_equal(sm_error_description(value), desc);
		for (i = 0; i < NCODES; i++)
			if (all_codes[i] == value)
				seen[i]++;
	}
	fclose(f);
	/* Every code of the table is in the reference, exactly once. */
	assert_int_equal(rows, NCODES);
	for (size_t i = 0; i < NCODES; i++)
		if (seen[i] != 1)
			fail_msg("code %d appears %d times in %s", all_codes[i], seen[i],
				 REFERENCE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_name_and_description),
		cmocka_unit_test(test_names_unique),
		cmocka_unit_test(test_known_entries),
		cmocka_unit_test(test_unknown_code),
		cmocka_unit_test(test_fail_returns_minus_one_and_records),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_fail_errno),
		cmocka_unit_test(test_fail_errno_no_space),
		cmocka_unit_test(test_recode),
		cmocka_unit_test(test_fault_string),
		cmocka_unit_test(test_long_detail_truncated),
		cmocka_unit_test(test_table_matches_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
