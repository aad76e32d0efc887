/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the text lib/lvm.c gives liblvm2cmd and reads back from it
 * (lib/lvm_text.c): the device filter, bounded however long the paths,
 * and the pvs/vgs/lvs report rows, whatever LVM prints.
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

#include "../../lib/lvm_internal.h"

/* ---------------------------------------------------------------- helpers */

/* "/" followed by n-1 copies of c: a path of exactly n characters. */
static char *long_path(size_t n, char c)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	p[0] = '/';
	memset(p + 1, c, n - 1);
	p[n] = '\0';
	return p;
}

static void assert_filter_unchanged(const struct lvm_filter *f, const char *before, size_t len)
{
	assert_int_equal(f->len, len);
	assert_string_equal(f->text, before);
}

/* ----------------------------------------------------------------- filter */

static void test_filter_one_device(void **state)
{
	struct lvm_filter f;

	lvm_filter_init(&f);
	assert_int_equal(lvm_filter_add(&f, "/dev/sdb"), 0);
	lvm_filter_finish(&f);
	assert_string_equal(f.text, "\"a|^/dev/sdb$|\",\"r|.*|\"");
	assert_int_equal(f.len, strlen(f.text));
}

static void test_filter_escapes_regex_characters(void **state)
{
	struct lvm_filter f;

	lvm_filter_init(&f);
	assert_int_equal(lvm_filter_add(&f, "/dev/disk/by-id/wwn-0x5000.c500+a_b:c=d@e,f"), 0);
	assert_int_equal(lvm_filter_add(&f, "/dev/loop0"), 0);
	lvm_filter_finish(&f);
	assert_string_equal(f.text, "\"a|^/dev/disk/by-id/wwn-0x5000[.]c500[+]a_b:c=d@e,f$|\","
				    "\"a|^/dev/loop0$|\",\"r|.*|\"");
}

/* The outside trial's case: two paths of the longest allowed length. */
static void test_filter_two_longest_paths(void **state)
{
	char *p = long_path(LVM_PATH_MAX, 'a'), *q = long_path(LVM_PATH_MAX, 'b');
	struct lvm_filter f;

	lvm_filter_init(&f);
	assert_int_equal(lvm_filter_add(&f, p), 0);
	assert_int_equal(lvm_filter_add(&f, q), 0);
	lvm_filter_finish(&f);
	assert_int_equal(f.len, 2 * (LVM_PATH_MAX + 8) + 7);
	assert_int_equal(strlen(f.text), f.len);
	assert_memory_equal(f.text + 4, p, LVM_PATH_MAX);
	assert_string_equal(f.text + f.len - 7, "\"r|.*|\"");
	free(p);
	free(q);
}

/* Every '.' triples: the second such path cannot fit, and says so. */
static void test_filter_two_longest_escaped_paths(void **state)
{
	char *p = long_path(LVM_PATH_MAX, '.');
	struct lvm_filter f;
	char before[LVM_FILTER_MAX];
	size_t len;

	lvm_filter_init(&f);
	assert_int_equal(lvm_filter_add(&f, p), 0);
	assert_int_equal(f.len, 3 * (LVM_PATH_MAX - 1) + 1 + 8);
	memcpy(before, f.text, f.len + 1);
	len = f.len;
	assert_int_equal(lvm_filter_add(&f, p), -E2BIG);
	assert_filter_unchanged(&f, before, len);
	lvm_filter_finish(&f);
	assert_string_equal(f.text + f.len - 7, "\"r|.*|\"");
	assert_true(f.len < LVM_FILTER_MAX);
	free(p);
}

/* The last byte: an entry that leaves exactly room for the end fits, one more does not. */
static void test_filter_boundary(void **state)
{
	char *filler = long_path(LVM_PATH_MAX, 'x');
	struct lvm_filter f;
	size_t room;
	char *fits, *too_long;

	lvm_filter_init(&f);
	/* Fill until the room left is less than one more filler. */
	while (LVM_FILTER_MAX - f.len - 16 >= LVM_PATH_MAX + 8 + 2)
		assert_int_equal(lvm_filter_add(&f, filler), 0);
	/* Quotes and anchors of the entry (8), the final "r|.*|" (7) and a NUL. */
	room = LVM_FILTER_MAX - f.len - 16;
	assert_true(room > 1 && room < LVM_PATH_MAX);
	fits = long_path(room, 'y');
	too_long = long_path(room + 1, 'y');
	assert_int_equal(lvm_filter_add(&f, too_long), -E2BIG);
	assert_int_equal(lvm_filter_add(&f, fits), 0);
	lvm_filter_finish(&f);
	assert_int_equal(f.len, LVM_FILTER_MAX - 1);
	assert_int_equal(strlen(f.text), LVM_FILTER_MAX - 1);
	assert_string_equal(f.text + f.len - 7, "\"r|.*|\"");
	free(filler);
	free(fits);
	free(too_long);
}

/* Many devices until the filter is full: never past the buffer (ASan watches). */
static void test_filter_fills_up(void **state)
{
	char *p = long_path(300, '+');
	struct lvm_filter f;
	int added = 0, rc;

	lvm_filter_init(&f);
	while ((rc = lvm_filter_add(&f, p)) == 0)
		added++;
	assert_int_equal(rc, -E2BIG);
	assert_int_equal(added, 3);
	lvm_filter_finish(&f);
	assert_true(f.len < LVM_FILTER_MAX);
	assert_int_equal(strlen(f.text), f.len);
	free(p);
}

static void test_filter_refuses_paths(void **state)
{
	char *too_long = long_path(LVM_PATH_MAX + 1, 'a');
	const char *const bad[] = {
		"", "dev/sdb", "/dev/sd b", "/dev/sd'b", "/dev/sd\"b", "/dev/sd|b",
		"/dev/sd\nb", "/dev/sd*", "/dev/sd[a]", "/dev/sd$", "/dev/\xc3\xa9", too_long,
	};
	struct lvm_filter f;

	lvm_filter_init(&f);
	assert_int_equal(lvm_filter_add(&f, "/dev/sdb"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(lvm_path_ok(bad[i]));
		assert_int_equal(lvm_filter_add(&f, bad[i]), -EINVAL);
		assert_filter_unchanged(&f, "\"a|^/dev/sdb$|\",", 16);
	}
	free(too_long);
}

/* --------------------------------------------------------------- rows */

static void test_row_normal(void **state)
{
	char row[] = "  /dev/loop3|XSLocalEXT-3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10";
	char vgs[] = "  vg0\t|10733223936|4194304  ";
	char *f[3];

	assert_int_equal(lvm_row_parse(row, f, 2), 0);
	assert_string_equal(f[0], "/dev/loop3");
	assert_string_equal(f[1], "XSLocalEXT-3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10");
	assert_int_equal(lvm_row_parse(vgs, f, 3), 0);
	assert_string_equal(f[0], "vg0");
	assert_string_equal(f[1], "10733223936");
	assert_string_equal(f[2], "4194304");
}

static void test_row_empty_fields(void **state)
{
	char orphan[] = "  /dev/sdc|";
	char bars[] = "|";
	char blank[] = "   ";
	char empty[] = "";
	char *f[2];

	assert_int_equal(lvm_row_parse(orphan, f, 2), 0);
	assert_string_equal(f[0], "/dev/sdc");
	assert_string_equal(f[1], "");
	assert_int_equal(lvm_row_parse(bars, f, 2), 0);
	assert_string_equal(f[0], "");
	assert_string_equal(f[1], "");
	assert_int_equal(lvm_row_parse(blank, f, 1), 0);
	assert_string_equal(f[0], "");
	assert_int_equal(lvm_row_parse(empty, f, 1), 0);
	assert_string_equal(f[0], "");
	assert_int_equal(lvm_row_parse(empty, f, 2), -1);
	assert_int_equal(lvm_row_parse(empty, f, 0), -1);
}

static void test_row_too_many_fields(void **state)
{
	char three[] = "a|b|c";
	char trailing[] = "a|b|";
	char many[] = "||||||||||";
	char *f[2];

	assert_int_equal(lvm_row_parse(three, f, 2), -1);
	assert_int_equal(lvm_row_parse(trailing, f, 2), -1);
	assert_int_equal(lvm_row_parse(many, f, 2), -1);
}

static void test_row_too_few_fields(void **state)
{
	char one[] = "  vg0  ";
	char two[] = "vg0|1024";
	char *f[3];

	assert_int_equal(lvm_row_parse(one, f, 2), -1);
	assert_int_equal(lvm_row_parse(two, f, 3), -1);
}

static void test_row_long_values(void **state)
{
	size_t n = 100000;
	char *row = malloc(2 * n + 2), *f[2];

	assert_non_null(row);
	memset(row, 'v', n);
	row[n] = '|';
	memset(row + n + 1, 'w', n);
	row[2 * n + 1] = '\0';
	assert_int_equal(lvm_row_parse(row, f, 2), 0);
	assert_int_equal(strlen(f[0]), n);
	assert_int_equal(strlen(f[1]), n);
	assert_int_equal(f[1][n - 1], 'w');
	free(row);
}

static void test_row_garbage(void **state)
{
	char ctl[] = "\x01\x02|\x7f";
	char bytes[] = "\xff\xfe|\xc3\x28|x";
	char *f[3];

	/* Fields are passed through (a name compared later will not match)... */
	assert_int_equal(lvm_row_parse(ctl, f, 2), 0);
	assert_string_equal(f[0], "\x01\x02");
	assert_string_equal(f[1], "\x7f");
	assert_int_equal(lvm_row_parse(bytes, f, 3), 0);
	assert_string_equal(f[2], "x");
}

/* ...and numbers must be numbers: a garbled size is no size. */
static void test_field_u64(void **state)
{
	const char *const bad[] = {
		"", "-1", "+1", "12abc", "1.5", "0x10", " 12", "12 ", "1e6", "10.00g",
		"18446744073709551616", "99999999999999999999999",
	};
	uint64_t v = 7;

	assert_int_equal(lvm_field_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(lvm_field_u64("10733223936", &v), 0);
	assert_int_equal(v, 10733223936ull);
	assert_int_equal(lvm_field_u64("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lvm_field_u64(bad[i], &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_one_device),
		cmocka_unit_test(test_filter_escapes_regex_characters),
		cmocka_unit_test(test_filter_two_longest_paths),
		cmocka_unit_test(test_filter_two_longest_escaped_paths),
		cmocka_unit_test(test_filter_boundary),
		cmocka_unit_test(test_filter_fills_up),
		cmocka_unit_test(test_filter_refuses_paths),
		cmocka_unit_test(test_row_normal),
		cmocka_unit_test(test_row_empty_fields),
		cmocka_unit_test(test_row_too_many_fields),
		cmocka_unit_test(test_row_too_few_fields),
		cmocka_unit_test(test_row_long_values),
		cmocka_unit_test(test_row_garbage),
		cmocka_unit_test(test_field_u64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
