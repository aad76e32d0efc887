/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the util module: UUID checks and generation, the strict
 * number/boolean parsers, file helpers, the XML-legality check and base64
 * (RFC 4648 section 10 vectors).
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/util.h"

/* ---------------------------------------------------------------- helpers */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int tmpdir_setup(void **state)
{
	char *dir = strdup("/tmp/csm-test-util-XXXXXX");

	if (!dir || !mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int tmpdir_teardown(void **state)
{
	rm_rf(*state);
	free(*state);
	return 0;
}

/* ------------------------------------------------------------------ uuids */

static void test_uuid_valid_accepts_canonical(void **state)
{
	assert_true(sm_uuid_valid("3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"));
	assert_true(sm_uuid_valid("00000000-0000-0000-0000-000000000000"));
	assert_true(sm_uuid_valid("ffffffff-ffff-ffff-ffff-ffffffffffff"));
	assert_true(sm_uuid_valid("0123abcd-4567-89ef-abcd-ef0123456789"));
}

static void test_uuid_valid_refuses(void **state)
{
	static const char *const bad[] = {
		"3F1C0D9E-5D2A-4B7E-9C61-0E8A2B4F7A10",    /* uppercase */
		"3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7A10",    /* one uppercase */
		"{3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a1}",   /* braces */
		"{3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10}",
		"3f1c0d9e5-d2a-4b7e-9c61-0e8a2b4f7a10",    /* dash moved */
		"3f1c0d9e-5d2a4-b7e-9c61-0e8a2b4f7a10",
		"3f1c0d9e-5d2a-4b7e9-c61-0e8a2b4f7a10",
		"3f1c0d9e-5d2a-4b7e-9c610-e8a2b4f7a10",
		"3f1c0d9e05d2a04b7e09c6100e8a2b4f7a10",    /* no dashes */
		"3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a1",     /* 35 chars */
		"3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a100",   /* 37 chars */
		"3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a1g",    /* not hex */
		"3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a1 ",
		"../../../../../../../../../etc/pass",     /* 36 chars */
		"../1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10",
		"..",
		"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sm_uuid_valid(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
	assert_false(sm_uuid_valid(NULL));
}

static void test_uuid_generate(void **state)
{
	char a[SM_UUID_LEN + 1], b[SM_UUID_LEN + 1];

	for (int i = 0; i < 100; i++) {
		sm_uuid_generate(a);
		sm_uuid_generate(b);
		assert_int_equal(strlen(a), SM_UUID_LEN);
		assert_true(sm_uuid_valid(a));
		assert_true(sm_uuid_valid(b));
		assert_string_not_equal(a, b);
		/* Version 4, RFC 4122 variant (8, 9, a or b). */
		assert_int_equal(a[14], '4');
		assert_non_null(strchr("89ab", a[19]));
	}
}

/* ---------------------------------------------------------------- parsers */

static void test_parse_u64_ok(void **state)
{
	uint64_t v = 1;

	assert_int_equal(sm_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sm_parse_u64("10737418240", &v), 0);
	assert_int_equal(v, 10737418240ULL);
	assert_int_equal(sm_parse_u64("007", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(sm_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(sm_parse_u64("18446744073709551610", &v), 0);
	assert_true(v == UINT64_MAX - 5);
}

static void test_parse_u64_refuses(void **state)
{
	static const char *const bad[] = {
		"", "-1", "+1", "-0", " 1", "1 ", "1\n", "0x10", "0X10", "1e3",
		"1.0", "12a", "a12", "\t5",
		"18446744073709551616",     /* UINT64_MAX + 1 */
		"18446744073709551620",
		"99999999999999999999",
		"184467440737095516150",
	};
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sm_parse_u64(bad[i], &v) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(v, 42);   /* untouched on failure */
	}
	assert_int_not_equal(sm_parse_u64(NULL, &v), 0);
}

static void test_parse_bool(void **state)
{
	static const char *const bad[] = {
		"", "True", "TRUE", "False", "1", "0", "yes", "true ", " true", "truex",
		"t", "f",
	};
	bool b = false;

	assert_int_equal(sm_parse_bool("true", &b), 0);
	assert_true(b);
	assert_int_equal(sm_parse_bool("false", &b), 0);
	assert_false(b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sm_parse_bool(bad[i], &b) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_not_equal(sm_parse_bool(NULL, &b), 0);
}

/* ------------------------------------------------------------------ files */

static void test_mkdir_p(void **state)
{
	const char *dir = *state;
	char path[512], file[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(sm_mkdir_p(path, 0755), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* Existing is fine, and a trailing slash too. */
	assert_int_equal(sm_mkdir_p(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/a/b/d/", dir);
	assert_int_equal(sm_mkdir_p(path, 0755), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* A file in the way is an error. */
	snprintf(file, sizeof(file), "%s/f", dir);
	assert_int_equal(sm_write_file_atomic(file, "x", 1), 0);
	snprintf(path, sizeof(path), "%s/f/g", dir);
	assert_int_equal(sm_mkdir_p(path, 0755), -ENOTDIR);
	assert_true(sm_mkdir_p("", 0755) < 0);
}

static void test_write_read_round_trip(void **state)
{
	const char *dir = *state;
	static const char data[] = "line one\nline two\n\0binary\xff";
	char path[512], tmp[600];
	char *out = NULL;

	snprintf(path, sizeof(path), "%s/meta", dir);
	assert_int_equal(sm_write_file_atomic(path, data, sizeof(data) - 1), 0);
	assert_int_equal(sm_read_file(path, 4096, &out), 0);
	assert_non_null(out);
	assert_memory_equal(out, data, sizeof(data) - 1);
	assert_int_equal(out[sizeof(data) - 1], '\0');
	free(out);

	/* Overwrite with something shorter: no old bytes left, no temp file. */
	assert_int_equal(sm_write_file_atomic(path, "new", 3), 0);
	assert_int_equal(sm_read_file(path, 4096, &out), 0);
	assert_string_equal(out, "new");
	free(out);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	assert_int_equal(access(tmp, F_OK), -1);

	/* Empty file. */
	assert_int_equal(sm_write_file_atomic(path, "", 0), 0);
	assert_int_equal(sm_read_file(path, 4096, &out), 0);
	assert_string_equal(out, "");
	free(out);
}

static void test_read_file_max(void **state)
{
	const char *dir = *state;
	char path[512];
	char *out = NULL;

	snprintf(path, sizeof(path), "%s/big", dir);
	assert_int_equal(sm_write_file_atomic(path, "0123456789", 10), 0);
	assert_int_equal(sm_read_file(path, 4, &out), 0);
	assert_string_equal(out, "0123");
	free(out);
	assert_int_equal(sm_read_file(path, 10, &out), 0);
	assert_string_equal(out, "0123456789");
	free(out);
	assert_int_equal(sm_read_file(path, 0, &out), 0);
	assert_string_equal(out, "");
	free(out);
}

static void test_file_errors(void **state)
{
	const char *dir = *state;
	char path[512];
	char *out = (char *)"untouched";

	snprintf(path, sizeof(path), "%s/absent", dir);
	assert_int_equal(sm_read_file(path, 10, &out), -ENOENT);
	assert_string_equal(out, "untouched");
	snprintf(path, sizeof(path), "%s/no/such/dir/file", dir);
	assert_int_equal(sm_write_file_atomic(path, "x", 1), -ENOENT);
	assert_int_equal(sm_fsync_dir(dir), 0);
	snprintf(path, sizeof(path), "%s/absent", dir);
	assert_int_equal(sm_fsync_dir(path), -ENOENT);
}

static void test_env_dirs(void **state)
{
	unsetenv("SM_LOCK_DIR");
	unsetenv("SM_MOUNT_BASE");
	assert_string_equal(sm_lock_dir(), "/var/lock/sm");
	assert_string_equal(sm_mount_base(), "/run/sr-mount");
	setenv("SM_LOCK_DIR", "/tmp/locks", 1);
	setenv("SM_MOUNT_BASE", "/tmp/mnt", 1);
	assert_string_equal(sm_lock_dir(), "/tmp/locks");
	assert_string_equal(sm_mount_base(), "/tmp/mnt");
	/* A relative override is ignored. */
	setenv("SM_LOCK_DIR", "relative", 1);
	assert_string_equal(sm_lock_dir(), "/var/lock/sm");
	unsetenv("SM_LOCK_DIR");
	unsetenv("SM_MOUNT_BASE");
}

/* ------------------------------------------------------------ xml legality */

static void test_illegal_xml_chars(void **state)
{
	static const char *const bad[] = {
		"\x01", "a\x08z", "\x0b", "\x0c", "\x0e", "\x1b[0m", "\x1f",
		"\x7f", "DEL\x7f",
		"\xc2\x80", "\xc2\x84", "\xc2\x86", "\xc2\x9f", "x\xc2\x90y",  /* C1 */
		"\xef\xb7\x90", "\xef\xb7\x9f", "\xef\xb7\x95",   /* U+FDD0-U+FDDF */
		"\xef\xbf\xbe", "\xef\xbf\xbf",                   /* U+FFFE, U+FFFF */
	};
	static const char *const good[] = {
		"", "plain label", "tab\there", "lf\nhere", "cr\rhere", " ~",
		"\xc2\x85",                  /* U+0085 NEL is allowed */
		"\xc2\xa0", "\xc2\xbf",      /* U+00A0, U+00BF */
		"caf\xc3\xa9",               /* café */
		"\xe6\x97\xa5\xe6\x9c\xac",  /* 日本 */
		"\xef\xb7\x8f", "\xef\xb7\xa0",   /* U+FDCF, U+FDE0 */
		"\xef\xbf\xbd",              /* U+FFFD */
		"\xf0\x9f\x98\x80",          /* U+1F600 */
		"\xe2\x82\xac 5",            /* € */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!sm_has_illegal_xml_char(bad[i]))
			fail_msg("bad[%zu] not detected", i);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (sm_has_illegal_xml_char(good[i]))
			fail_msg("good[%zu] refused", i);
	assert_false(sm_has_illegal_xml_char(NULL));
}

/* Every C0 control byte but TAB, LF, CR, in the middle of a label. */
static void test_illegal_xml_all_c0(void **state)
{
	for (int c = 1; c < 0x20; c++) {
		char s[4] = { 'a', (char)c, 'b', '\0' };
		bool want = !(c == '\t' || c == '\n' || c == '\r');

		if (sm_has_illegal_xml_char(s) != want)
			fail_msg("byte 0x%02x: got %d", c, !want);
	}
}

/* ----------------------------------------------------------------- base64 */

static void test_base64_rfc4648(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *out = sm_base64((const unsigned char *)v[i].in, strlen(v[i].in));

		assert_non_null(out);
		assert_string_equal(out, v[i].out);
		free(out);
	}
}

static void test_base64_binary(void **state)
{
	static const unsigned char bin[] = { 0x00, 0xff, 0xfe, 0x3e, 0x3f, 0x80 };
	char *out = sm_base64(bin, sizeof(bin));

	assert_string_equal(out, "AP/+Pj+A");
	free(out);
	out = sm_base64(bin, 1);
	assert_string_equal(out, "AA==");
	free(out);
}

/* ------------------------------------------------------------------ sizes */

static uint64_t size_of(const char *s)
{
	const char *why = NULL;
	uint64_t v = 0;

	assert_int_equal(sm_parse_size(s, &v, &why), 0);
	assert_null(why);
	return v;
}

static void test_parse_size_forms(void **state)
{
	assert_int_equal(size_of("0"), 0);
	assert_int_equal(size_of("4096"), 4096);
	assert_int_equal(size_of("010"), 10);           /* never octal */
	assert_int_equal(size_of("0010M"), 10ull << 20);
	assert_int_equal(size_of("4096B"), 4096);
	assert_int_equal(size_of("1K"), 1024);
	assert_int_equal(size_of("1k"), 1024);
	assert_int_equal(size_of("512M"), 512ull << 20);
	assert_int_equal(size_of("512MiB"), 512ull << 20);
	assert_int_equal(size_of("512MB"), 512ull << 20);
	assert_int_equal(size_of("10G"), 10ull << 30);
	assert_int_equal(size_of("10g"), 10ull << 30);
	assert_int_equal(size_of("10GiB"), 10ull << 30);
	assert_int_equal(size_of("10gib"), 10ull << 30);
	assert_int_equal(size_of("1.5GiB"), 3ull << 29);
	assert_int_equal(size_of("1.5G"), 3ull << 29);
	assert_int_equal(size_of("0.5K"), 512);
	assert_int_equal(size_of("1.25M"), 1310720);
	assert_int_equal(size_of("2T"), 2ull << 40);
	assert_int_equal(size_of("3P"), 3ull << 50);
	assert_int_equal(size_of("15E"), 15ull << 60);
	assert_int_equal(size_of("15.5E"), 31ull << 59);
	assert_int_equal(size_of("18446744073709551615"), UINT64_MAX);
	assert_int_equal(size_of("16777215.75T"), (16777215ull << 40) + (3ull << 38));
	assert_int_equal(size_of("4.0"), 4);
}

static void refused(const char *s, const char *reason_part)
{
	const char *why = NULL;
	uint64_t v = 12345;

	assert_int_equal(sm_parse_size(s, &v, &why), -1);
	assert_int_equal(v, 12345);                     /* untouched */
	assert_non_null(why);
	if (!strstr(why, reason_part))
		fail_msg("'%s': reason '%s' lacks '%s'", s, why, reason_part);
}

static void test_parse_size_refuses(void **state)
{
	uint64_t v;

	refused("", "empty");
	refused("-1", "digit");
	refused("+1", "digit");
	refused(" 1", "digit");
	refused("1 ", "unit");
	refused("G", "digit");
	refused(".5G", "digit");
	refused("1.G", "decimal point");
	refused("0x10", "unit");
	refused("1e3", "unit");
	refused("10X", "unit");
	refused("10GG", "unit");
	refused("10GiBs", "unit");
	refused("10iB", "unit");
	refused("10Gi", "unit");
	refused("1.5", "whole number");
	refused("0.1K", "whole number");
	refused("1.0000000000000000001", "too many digits");
	refused("18446744073709551616", "too large");
	refused("99999999999999999999999", "too large");
	refused("16E", "too large");
	refused("16384P", "too large");
	refused("17179869184G", "too large");
	refused("15.9999999999999999E", "whole number");
	/* why may be NULL. */
	assert_int_equal(sm_parse_size("junk", &v, NULL), -1);
	assert_int_equal(sm_parse_size(NULL, &v, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_valid_accepts_canonical),
		cmocka_unit_test(test_uuid_valid_refuses),
		cmocka_unit_test(test_uuid_generate),
		cmocka_unit_test(test_parse_u64_ok),
		cmocka_unit_test(test_parse_u64_refuses),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_size_forms),
		cmocka_unit_test(test_parse_size_refuses),
		cmocka_unit_test_setup_teardown(test_mkdir_p, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_write_read_round_trip, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_read_file_max, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_env_dirs),
		cmocka_unit_test(test_illegal_xml_chars),
		cmocka_unit_test(test_illegal_xml_all_c0),
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_base64_binary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
