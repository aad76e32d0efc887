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


/* ---------------------------------------------------------- names */

#define SR_VG "VG_XenStorage-3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"
#define VDI_LV "VHD-cccccccc-0000-0000-0000-000000000000"
#define DM_NAME "VG_XenStorage--3f1c0d9e--5d2a--4b7e--9c61--0e8a2b4f7a10-VHD--cccccccc--0000--0000--0000--000000000000"

static void test_names(void **state)
{
	char *long_name = long_path(LVM_NAME_MAX, 'n');
	const char *const bad[] = { "", "-x", ".", "..", "a b", "a/b", "a'b", "a|b", "a\nb", "\xc3\xa9" };

	assert_true(lvm_name_ok(SR_VG));
	assert_true(lvm_name_ok(VDI_LV));
	assert_true(lvm_name_ok("MGT"));
	assert_true(lvm_name_ok("inflate_x_104857600"));
	assert_true(lvm_name_ok("a.b+c"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(lvm_name_ok(bad[i]));
	long_name[0] = 'n';
	assert_false(lvm_name_ok(long_name));
	long_name[LVM_NAME_MAX - 1] = '\0';
	assert_true(lvm_name_ok(long_name));
	free(long_name);

	assert_true(lvm_tag_ok("hidden"));
	assert_true(lvm_tag_ok("journaler"));
	assert_true(lvm_tag_ok("a_b+c.d-e/f=g!h:i&j#k"));
	assert_false(lvm_tag_ok(""));
	assert_false(lvm_tag_ok("-x"));
	assert_false(lvm_tag_ok("a,b"));
	assert_false(lvm_tag_ok("a|b"));
	assert_false(lvm_tag_ok("a b"));
	assert_false(lvm_tag_ok("a'b"));
}

/* The names blktap writes in LVHD parent locators, and their decoding. */
static void test_dm_names(void **state)
{
	char out[300], small[20];

	assert_int_equal(lvm_dm_name(SR_VG, VDI_LV, out, sizeof(out)), 0);
	assert_string_equal(out, DM_NAME);
	assert_int_equal(lvm_dm_name("vg", "lv", out, sizeof(out)), 0);
	assert_string_equal(out, "vg-lv");
	assert_int_equal(lvm_dm_name(SR_VG, VDI_LV, small, sizeof(small)), -1);
	assert_int_equal(lvm_dm_name("vg", "lv", out, 5), -1);
	assert_int_equal(lvm_dm_name("vg", "lv", out, 6), 0);

	assert_int_equal(lvm_lv_from_dm_name(SR_VG, DM_NAME, out, sizeof(out)), 0);
	assert_string_equal(out, VDI_LV);
	assert_int_equal(lvm_lv_from_dm_name(SR_VG, "./" DM_NAME, out, sizeof(out)), 0);
	assert_string_equal(out, VDI_LV);
	assert_int_equal(lvm_lv_from_dm_name(SR_VG, "/dev/mapper/" DM_NAME, out, sizeof(out)), 0);
	assert_string_equal(out, VDI_LV);
	/* Plain LV names, other VGs, and manglings that no LV name gives. */
	assert_int_equal(lvm_lv_from_dm_name(SR_VG, VDI_LV, out, sizeof(out)), -1);
	assert_int_equal(lvm_lv_from_dm_name(SR_VG, "./VG_XenStorage--0000-VHD--x", out, sizeof(out)), -1);
	assert_int_equal(lvm_lv_from_dm_name(SR_VG, "VG_XenStorage--3f1c0d9e--5d2a--4b7e--9c61--0e8a2b4f7a10-VHD-x",
					     out, sizeof(out)), -1);
	assert_int_equal(lvm_lv_from_dm_name(SR_VG, "VG_XenStorage--3f1c0d9e--5d2a--4b7e--9c61--0e8a2b4f7a10-",
					     out, sizeof(out)), -1);
	assert_int_equal(lvm_lv_from_dm_name(SR_VG, "VG_XenStorage--3f1c0d9e--5d2a--4b7e--9c61--0e8a2b4f7a10---x",
					     out, sizeof(out)), -1);   /* "-x" is no LV name */
	assert_int_equal(lvm_lv_from_dm_name(SR_VG, DM_NAME, small, sizeof(small)), -1);
	/* Round trip over names with dashes in odd places. */
	{
		const char *const lvs[] = { "a", "a-b", "a--b", "x-", "MGT", "VHD-OLD_1-2" };

		for (size_t i = 0; i < sizeof(lvs) / sizeof(lvs[0]); i++) {
			char dm[300];

			assert_int_equal(lvm_dm_name("vg-1", lvs[i], dm, sizeof(dm)), 0);
			assert_int_equal(lvm_lv_from_dm_name("vg-1", dm, out, sizeof(out)), 0);
			assert_string_equal(out, lvs[i]);
		}
	}
}

/* --------------------------------------------------------- reports */

/* rows[] as lvm_run hands them over (malloc'd, split in place by the parser). */
static char **rows_of(const char *const *text, size_t n)
{
	char **rows = calloc(n ? n : 1, sizeof(*rows));

	assert_non_null(rows);
	for (size_t i = 0; i < n; i++)
		assert_non_null(rows[i] = strdup(text[i]));
	return rows;
}

static void rows_drop(char **rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

static int parse_lvs(const char *const *text, size_t n, struct lvm_lv_list *out, char *why)
{
	char **rows = rows_of(text, n);
	int rc = lvm_lvs_parse(rows, n, out, why, 256);

	rows_drop(rows, n);
	return rc;
}

static void test_lvs_report(void **state)
{
	/* As LVM 2.03.16 prints them with activation off (research F.1, E.2). */
	const char *const text[] = {
		"  MGT|4194304|-wi-XX----||linear|0|4194304|/dev/loop3:0-0",
		"  VHD-bbbb|20971520|-ri-XX----|hidden,journaler|linear|0|12582912|/dev/loop3:1-3",
		"  VHD-bbbb|20971520|-ri-XX----|hidden,journaler|linear|12582912|8388608|/dev/loop3:7-8",
		"  thin|8388608|Vwi-a-tz--||thin|0|8388608|",
	};
	struct lvm_lv_list l;
	const struct lvm_lv *lv;
	char why[256];

	assert_int_equal(parse_lvs(text, 4, &l, why), 0);
	assert_int_equal(l.n, 3);
	lv = lvm_lv_find(&l, "VHD-bbbb");
	assert_non_null(lv);
	assert_int_equal(lv->size, 20971520);
	assert_string_equal(lv->attr, "-ri-XX----");
	assert_true(lv->read_only);
	assert_false(lv->active);
	assert_true(lvm_lv_has_tag(lv, "hidden"));
	assert_true(lvm_lv_has_tag(lv, "journaler"));
	assert_false(lvm_lv_has_tag(lv, "hid"));
	assert_false(lvm_lv_has_tag(lv, "journal"));
	assert_int_equal(lv->nseg, 2);
	assert_true(lv->seg[1].linear);
	assert_string_equal(lv->seg[1].pv, "/dev/loop3");
	assert_int_equal(lv->seg[1].start, 12582912);
	assert_int_equal(lv->seg[1].pe_first, 7);
	assert_int_equal(lv->seg[1].pe_count, 2);
	lv = lvm_lv_find(&l, "MGT");
	assert_non_null(lv);
	assert_false(lv->read_only);
	assert_false(lvm_lv_has_tag(lv, "hidden"));
	lv = lvm_lv_find(&l, "thin");
	assert_true(lv->active);
	assert_false(lv->seg[0].linear);
	assert_null(lvm_lv_find(&l, "nosuch"));
	lvm_lv_list_free(&l);
	assert_int_equal(parse_lvs(NULL, 0, &l, why), 0);
	assert_int_equal(l.n, 0);
}

/* Whatever LVM (or something in its place) prints, a bad row is a fault. */
static void test_lvs_hostile(void **state)
{
	static const char *const bad[][2] = {
		{ "a|4194304|-wi-XX----||linear|0|4194304", NULL },                  /* 7 fields */
		{ "a|4194304|-wi-XX----||linear|0|4194304|/dev/l:0-0|x", NULL },     /* 9 */
		{ "a|4194304x|-wi-XX----||linear|0|4194304|/dev/l:0-0", NULL },      /* size */
		{ "a|-1|-wi-XX----||linear|0|4194304|/dev/l:0-0", NULL },
		{ "a|4194304|-wi-XX----||linear|0|0|/dev/l:0-0", NULL },             /* empty segment */
		{ "a|4194304|-wi-XX----||linear|4096|4190208|/dev/l:0-0", NULL },    /* gap at 0 */
		{ "a|4194304|-wi-XX----||linear|0|8388608|/dev/l:0-1", NULL },       /* past the LV */
		{ "a|8388608|-wi-XX----||linear|0|4194304|/dev/l:0-0", NULL },       /* short of it */
		{ "a|4194304|-wi-XX----||linear|0|4194304|/dev/l:3-1", NULL },       /* range backwards */
		{ "a|4194304|-wi-XX----||linear|0|4194304|/dev/l", NULL },           /* no range */
		{ "a|4194304|-wi-XX----||linear|0|4194304|dev/l:0-0", NULL },        /* relative PV */
		{ "a|4194304|-wi-XX----||linear|0|4194304|/dev/l:0-0 /dev/m:0-0", NULL },
		{ "a|4194304|-wi|x|linear|0|4194304|/dev/l:0-0", NULL },             /* attr */
		{ "-a|4194304|-wi-XX----||linear|0|4194304|/dev/l:0-0", NULL },      /* name */
		{ "a b|4194304|-wi-XX----||linear|0|4194304|/dev/l:0-0", NULL },
		{ "a|8388608|-wi-XX----||linear|0|4194304|/dev/l:0-0",               /* rows apart */
		  "b|4194304|-wi-XX----||linear|0|4194304|/dev/l:1-1" },
		{ "a|18446744073709551615|-wi-XX----||linear|0|18446744073709551615|/dev/l:0-0",
		  "a|18446744073709551615|-wi-XX----||linear|18446744073709551615|1|/dev/l:1-1" },
		{ "a|8388608|-wi-XX----||linear|0|4194304|/dev/l:0-0",               /* attr changes */
		  "a|8388608|-ri-XX----||linear|4194304|4194304|/dev/l:1-1" },
		{ "  WARNING: something | odd happened", NULL },
	};
	struct lvm_lv_list l;
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = bad[i][1] ? 2 : 1;

		why[0] = '\0';
		if (parse_lvs(bad[i], n, &l, why) != -1)
			fail_msg("row %zu accepted: %s", i, bad[i][0]);
		assert_true(why[0] != '\0');
		assert_int_equal(l.n, 0);
		assert_null(l.lv);
	}
	/* "rows apart": a's second segment after b's row. */
	{
		const char *const apart[] = {
			"a|8388608|-wi-XX----||linear|0|4194304|/dev/l:0-0",
			"b|4194304|-wi-XX----||linear|0|4194304|/dev/l:1-1",
			"a|8388608|-wi-XX----||linear|4194304|4194304|/dev/l:2-2",
		};

		const char *const twice[] = {
			"a|4194304|-wi-XX----||linear|0|4194304|/dev/l:0-0",
			"b|4194304|-wi-XX----||linear|0|4194304|/dev/l:1-1",
			"a|4194304|-wi-XX----||linear|0|4194304|/dev/l:2-2",
		};

		assert_int_equal(parse_lvs(apart, 3, &l, why), -1);
		/* Each row a whole LV: only the name says that a is there twice. */
		assert_int_equal(parse_lvs(twice, 3, &l, why), -1);
		assert_non_null(strstr(why, "not together"));
	}
	/* A name of 128 characters, tags of 2000. */
	{
		char row[4096];
		const char *one[1] = { row };
		char *name = long_path(LVM_NAME_MAX, 'n'), *tags = long_path(2000, 't');

		name[0] = 'n';
		snprintf(row, sizeof(row), "%s|4194304|-wi-XX----||linear|0|4194304|/dev/l:0-0", name);
		assert_int_equal(parse_lvs(one, 1, &l, why), -1);
		tags[0] = 't';
		snprintf(row, sizeof(row), "a|4194304|-wi-XX----|%s|linear|0|4194304|/dev/l:0-0", tags);
		assert_int_equal(parse_lvs(one, 1, &l, why), -1);
		free(name);
		free(tags);
	}
}

static void test_vgs_report(void **state)
{
	const char *const text[] = {
		"  other_vg|1000|1000|4194304|/dev/sdz|1048576|250",
		"  " SR_VG "|1061158912|1044381696|4194304|/dev/loop3|11534336|253",
		"  " SR_VG "|1061158912|1044381696|4194304|/dev/loop4|11534336|60",
	};
	const char *const bad[][2] = {
		{ SR_VG "|1|1|4194304|/dev/l|11534336", NULL },
		{ SR_VG "|x|1|4194304|/dev/l|11534336|1", NULL },
		{ SR_VG "|1|2|4194304|/dev/l|11534336|1", NULL },          /* free > size */
		{ SR_VG "|1|1|0|/dev/l|11534336|1", NULL },                /* extent 0 */
		{ SR_VG "|1|1|1000|/dev/l|11534336|1", NULL },             /* not sectors */
		{ SR_VG "|1|1|4194304|/dev/l|1000|1", NULL },              /* pe_start */
		{ SR_VG "|1|1|4194304|l|11534336|1", NULL },               /* relative PV */
		{ SR_VG "|2|1|4194304|/dev/l|11534336|1",
		  SR_VG "|3|1|4194304|/dev/m|11534336|1" },                /* rows disagree */
	};
	struct lvm_vg_stats st;
	char **rows = rows_of(text, 3), why[256];
	bool found;

	assert_int_equal(lvm_vgs_parse(rows, 3, SR_VG, &found, &st, why, sizeof(why)), 0);
	assert_true(found);
	assert_int_equal(st.size, 1061158912);
	assert_int_equal(st.free, 1044381696);
	assert_int_equal(st.extent_size, 4194304);
	assert_int_equal(st.npv, 2);
	assert_string_equal(st.pv[1].name, "/dev/loop4");
	assert_int_equal(st.pv[1].pe_start, 11534336);
	assert_int_equal(st.pv[1].pe_count, 60);
	rows_drop(rows, 3);
	rows = rows_of(text, 1);
	assert_int_equal(lvm_vgs_parse(rows, 1, SR_VG, &found, &st, why, sizeof(why)), 0);
	assert_false(found);
	rows_drop(rows, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = bad[i][1] ? 2 : 1;

		rows = rows_of(bad[i], n);
		if (lvm_vgs_parse(rows, n, SR_VG, &found, &st, why, sizeof(why)) != -1)
			fail_msg("vgs row %zu accepted: %s", i, bad[i][0]);
		rows_drop(rows, n);
	}
}

/*
 * lvm fullreport as lvm_vg_report asks for it: another VG first, then
 * ours, then an orphan PV that LVM prints after the last VG (it must not
 * count as ours); the one-field lv and pvseg rows never reach the parser.
 */
static void test_full_report(void **state)
{
	const char *const text[] = {
		"  other_vg|1000|1000|4194304",
		"  /dev/sdz|other_vg|1048576|250|0",
		"  other_vg|lv-x|8388608|-wi-XX----||linear|0|8388608|/dev/sdz:0-1",
		"  " SR_VG "|1061158912|1044381696|4194304",
		"  /dev/loop3|" SR_VG "|11534336|193|4",
		"  /dev/loop4|" SR_VG "|1048576|60|0",
		"  " SR_VG "|MGT|4194304|-wi-XX----||linear|0|4194304|/dev/loop3:0-0",
		"  " SR_VG "|VHD-b|20971520|-wi-XX----|a,b|linear|0|12582912|/dev/loop3:1-3",
		"  " SR_VG "|VHD-b|20971520|-wi-XX----|a,b|linear|12582912|8388608|/dev/loop4:7-8",
		"  /dev/loop5||1048576|0|0",
	};
	const char *const bad[][2] = {
		/* rows of the VG without its VG row */
		{ "/dev/loop3|" SR_VG "|11534336|193|4", NULL },
		{ SR_VG "|MGT|4194304|-wi-XX----||linear|0|4194304|/dev/loop3:0-0", NULL },
		/* a VG with no PV row */
		{ SR_VG "|1|1|4194304", NULL },
		/* two VG rows */
		{ SR_VG "|1|1|4194304", SR_VG "|1|1|4194304" },
		/* a row of no kind asked for */
		{ SR_VG "|1|1|4194304|x|y", NULL },
		/* numbers, PV names, segments */
		{ SR_VG "|1|2|4194304", "/dev/l|" SR_VG "|11534336|1|0" },
		{ SR_VG "|1|1|4194304", "l|" SR_VG "|11534336|1|0" },
		{ SR_VG "|1|1|4194304", "/dev/l|" SR_VG "|1000|1|0" },
	};
	struct lvm_lv_list l;
	struct lvm_vg_stats st;
	char **rows = rows_of(text, 10), why[256];
	const struct lvm_lv *lv;
	bool found;

	assert_int_equal(lvm_full_parse(rows, 10, SR_VG, &found, &st, &l, why, sizeof(why)), 0);
	assert_true(found);
	assert_int_equal(st.size, 1061158912);
	assert_int_equal(st.free, 1044381696);
	assert_int_equal(st.extent_size, 4194304);
	assert_int_equal(st.npv, 2);
	assert_string_equal(st.pv[0].name, "/dev/loop3");
	assert_string_equal(st.pv[1].name, "/dev/loop4");
	assert_int_equal(st.pv[1].pe_start, 1048576);
	assert_int_equal(st.pv[1].pe_count, 60);
	assert_int_equal(l.n, 2);
	assert_null(lvm_lv_find(&l, "lv-x"));
	lv = lvm_lv_find(&l, "VHD-b");
	assert_non_null(lv);
	assert_int_equal(lv->size, 20971520);
	assert_int_equal(lv->nseg, 2);
	assert_true(lvm_lv_has_tag(lv, "b"));
	lvm_lv_list_free(&l);
	rows_drop(rows, 10);

	/* A VG that is not there: an answer, not a failure. */
	rows = rows_of(text, 3);
	assert_int_equal(lvm_full_parse(rows, 3, SR_VG, &found, &st, &l, why, sizeof(why)), 0);
	assert_false(found);
	assert_int_equal(l.n, 0);
	rows_drop(rows, 3);
	assert_int_equal(lvm_full_parse(NULL, 0, SR_VG, &found, &st, &l, why, sizeof(why)), 0);
	assert_false(found);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = bad[i][1] ? 2 : 1;

		rows = rows_of(bad[i], n);
		if (lvm_full_parse(rows, n, SR_VG, &found, &st, &l, why, sizeof(why)) != -1)
			fail_msg("fullreport rows %zu accepted: %s", i, bad[i][0]);
		assert_false(found);
		rows_drop(rows, n);
	}
}

/* The extent map: PV offset = pe_start + first extent * extent size. */
static void test_extents(void **state)
{
	const char *const text[] = {
		"VHD-b|20971520|-wi-XX----||linear|0|12582912|/dev/loop3:1-3",
		"VHD-b|20971520|-wi-XX----||linear|12582912|8388608|/dev/loop4:7-8",
		"t|4194304|Vwi-a-tz--||thin|0|4194304|",
		"far|4194304|-wi-XX----||linear|0|4194304|/dev/loop3:253-253",
		"nopv|4194304|-wi-XX----||linear|0|4194304|/dev/sdq:0-0",
	};
	const char *const vgs[] = {
		"vg|100|10|4194304|/dev/loop3|11534336|253",
		"vg|100|10|4194304|/dev/loop4|1048576|60",
	};
	struct vhd_io_extent ext[4];
	struct sm_error err = { 0 };
	struct lvm_lv_list l;
	struct lvm_vg_stats st;
	char **rows = rows_of(vgs, 2), why[256];
	bool found;
	size_t n;

	assert_int_equal(lvm_vgs_parse(rows, 2, "vg", &found, &st, why, sizeof(why)), 0);
	rows_drop(rows, 2);
	assert_int_equal(parse_lvs(text, 5, &l, why), 0);
	assert_int_equal(lvm_lv_extents(lvm_lv_find(&l, "VHD-b"), &st, ext, 4, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ext[0].dev, "/dev/loop3");
	assert_int_equal(ext[0].dev_off, 11534336 + 4194304);
	assert_int_equal(ext[0].len, 12582912);
	assert_string_equal(ext[1].dev, "/dev/loop4");
	assert_int_equal(ext[1].dev_off, 1048576 + 7 * 4194304ull);
	assert_int_equal(ext[1].len, 8388608);
	assert_int_equal(lvm_lv_extents(lvm_lv_find(&l, "VHD-b"), &st, ext, 1, &n, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	sm_error_clear(&err);
	assert_int_equal(lvm_lv_extents(lvm_lv_find(&l, "t"), &st, ext, 4, &n, &err), -1);
	assert_non_null(strstr(err.detail, "not linear"));
	sm_error_clear(&err);
	/* Extent 253 of a PV of 253 extents (0-252) is off its end. */
	assert_int_equal(lvm_lv_extents(lvm_lv_find(&l, "far"), &st, ext, 4, &n, &err), -1);
	assert_non_null(strstr(err.detail, "does not fit"));
	sm_error_clear(&err);
	assert_int_equal(lvm_lv_extents(lvm_lv_find(&l, "nopv"), &st, ext, 4, &n, &err), -1);
	assert_non_null(strstr(err.detail, "no PV of the VG"));
	lvm_lv_list_free(&l);
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
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_dm_names),
		cmocka_unit_test(test_lvs_report),
		cmocka_unit_test(test_lvs_hostile),
		cmocka_unit_test(test_vgs_report),
		cmocka_unit_test(test_full_report),
		cmocka_unit_test(test_extents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
