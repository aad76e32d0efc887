/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the VDI metadata file format: exact text, round trips through
 * format/parse with awkward values, and tolerance of what it ignores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/vdimeta.h"

#define UUID_A "7e431c89-429b-4c56-93dc-6b2d8557b101"

/* format, then parse into a fresh struct. */
static void round_trip(const struct vdi_meta *in, struct vdi_meta *out)
{
	char *text = vdimeta_format(in);

	assert_non_null(text);
	memset(out, 0, sizeof(*out));
	assert_int_equal(vdimeta_parse(text, out), 0);
	free(text);
}

static void test_format_exact(void **state)
{
	struct vdi_meta m = { 0 };
	char *text;

	m.label = strdup("data disk");
	m.description = strdup("two\nlines \\ and\rcr");
	strcpy(m.vdi_type, "user");
	m.read_only = true;
	strcpy(m.snapshot_of, UUID_A);
	strcpy(m.snapshot_time, "20240101T00:00:00Z");
	text = vdimeta_format(&m);
	assert_string_equal(text,
		"label=data disk\n"
		"description=two\\nlines \\\\ and\\rcr\n"
		"vdi_type=user\n"
		"read_only=true\n"
		"is_a_snapshot=false\n"
		"snapshot_of=" UUID_A "\n"
		"snapshot_time=20240101T00:00:00Z\n");
	/* One line per key: no raw newline or CR inside a value. */
	assert_null(strchr(text, '\r'));
	free(text);
	vdimeta_free(&m);
}

static void test_round_trip(void **state)
{
	static const char *const labels[] = {
		"plain",
		"line one\nline two\n",
		"\n\n\n",
		"windows\r\nline",
		"back\\slash",
		"trailing backslash \\",
		"\\n is not a newline",
		"\\\\n",
		"a=b=c",
		"=",
		"key=value\nlabel=injected",
		"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
		" spaces kept ",
		"tab\there",
	};

	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		struct vdi_meta in = { 0 }, out;

		in.label = strdup(labels[i]);
		in.description = strdup(labels[sizeof(labels) / sizeof(labels[0]) - 1 - i]);
		strcpy(in.vdi_type, "system");
		in.is_a_snapshot = true;
		strcpy(in.snapshot_of, UUID_A);
		strcpy(in.snapshot_time, "19700101T00:00:00Z");
		round_trip(&in, &out);
		if (!out.label || strcmp(out.label, in.label) != 0)
			fail_msg("label[%zu] \"%s\" came back as \"%s\"", i, in.label,
				 out.label ? out.label : "(null)");
		assert_string_equal(out.description, in.description);
		assert_string_equal(out.vdi_type, "system");
		assert_true(out.is_a_snapshot);
		assert_false(out.read_only);
		assert_string_equal(out.snapshot_of, UUID_A);
		assert_string_equal(out.snapshot_time, "19700101T00:00:00Z");
		vdimeta_free(&in);
		vdimeta_free(&out);
	}
}

static void test_empty_values(void **state)
{
	struct vdi_meta in = { 0 }, out;

	/* NULL label/description and empty fixed fields. */
	round_trip(&in, &out);
	assert_non_null(out.label);
	assert_string_equal(out.label, "");
	assert_string_equal(out.description, "");
	assert_string_equal(out.vdi_type, "");
	assert_string_equal(out.snapshot_of, "");
	assert_false(out.read_only);
	assert_false(out.is_a_snapshot);
	vdimeta_free(&out);

	in.label = strdup("");
	in.description = strdup("");
	round_trip(&in, &out);
	assert_string_equal(out.label, "");
	assert_string_equal(out.description, "");
	vdimeta_free(&out);
	vdimeta_free(&in);
}

static void test_parse_ignores(void **state)
{
	static const char text[] =
		"# not a key\n"
		"\n"
		"no equals sign here\n"
		"future_key=some value\n"
		"=value without key\n"
		"LABEL=wrong case\n"
		"label =space in key\n"
		"label=the label\n"
		"labelx=nope\n"
		"read_only=True\n"
		"is_a_snapshot=true\n"
		"description=no newline at end";
	struct vdi_meta m = { 0 };

	assert_int_equal(vdimeta_parse(text, &m), 0);
	assert_string_equal(m.label, "the label");
	assert_string_equal(m.description, "no newline at end");
	assert_false(m.read_only);
	assert_true(m.is_a_snapshot);
	assert_string_equal(m.vdi_type, "");
	vdimeta_free(&m);

	assert_int_equal(vdimeta_parse("", &m), 0);
	assert_null(m.label);
	vdimeta_free(&m);
}

static void test_parse_repeated_key(void **state)
{
	struct vdi_meta m = { 0 };

	/* Last one wins; the first value is freed (the ASan build checks). */
	assert_int_equal(vdimeta_parse("label=one\nlabel=two\ndescription=a\ndescription=b\n",
				       &m), 0);
	assert_string_equal(m.label, "two");
	assert_string_equal(m.description, "b");
	/* Parsing into a filled struct replaces, too. */
	assert_int_equal(vdimeta_parse("label=three\n", &m), 0);
	assert_string_equal(m.label, "three");
	assert_string_equal(m.description, "b");
	vdimeta_free(&m);
	assert_null(m.label);
	assert_null(m.description);
}

static void test_fixed_fields_truncate(void **state)
{
	struct vdi_meta m = { 0 };
	char text[256], want[64];

	snprintf(text, sizeof(text), "vdi_type=%s\nsnapshot_of=%s%s\n",
		 "0123456789012345678901234567890123456789", UUID_A, "-extra");
	assert_int_equal(vdimeta_parse(text, &m), 0);
	memcpy(want, "0123456789012345678901234567890123456789", sizeof(m.vdi_type) - 1);
	want[sizeof(m.vdi_type) - 1] = '\0';
	assert_string_equal(m.vdi_type, want);
	assert_string_equal(m.snapshot_of, UUID_A);
	vdimeta_free(&m);
}

static void test_unescape_raw(void **state)
{
	struct vdi_meta m = { 0 };

	/* Escapes written by hand; an unknown escape keeps the character. */
	assert_int_equal(vdimeta_parse("label=a\\nb\\\\c\\rd\\x\\=e\\\n", &m), 0);
	assert_string_equal(m.label, "a\nb\\c\rdx=e\\");
	vdimeta_free(&m);
}

static void test_set(void **state)
{
	char *field = NULL;

	assert_int_equal(vdimeta_set(&field, "one"), 0);
	assert_string_equal(field, "one");
	assert_int_equal(vdimeta_set(&field, "two"), 0);
	assert_string_equal(field, "two");
	assert_int_equal(vdimeta_set(&field, NULL), 0);
	assert_string_equal(field, "");
	free(field);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_exact),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_parse_ignores),
		cmocka_unit_test(test_parse_repeated_key),
		cmocka_unit_test(test_fixed_fields_truncate),
		cmocka_unit_test(test_unescape_raw),
		cmocka_unit_test(test_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
