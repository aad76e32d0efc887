/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the JSON writer (lib/json.c): string escaping (quotes,
 * backslashes, every control character, UTF-8 kept, bad UTF-8 replaced),
 * commas and nesting, numbers, and misuse reported by json_finish.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/json.h"

/* The string literal json_put_string makes of s (caller frees). */
static char *literal(const char *s)
{
	struct sm_buf b = SM_BUF_INIT;

	json_put_string(&b, s);
	return buf_steal(&b);
}

static void check_literal(const char *in, const char *want)
{
	char *got = literal(in);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_plain_and_special_escapes(void **state)
{
	check_literal("", "\"\"");
	check_literal("abc def", "\"abc def\"");
	check_literal("say \"hi\"", "\"say \\\"hi\\\"\"");
	check_literal("C:\\dir\\", "\"C:\\\\dir\\\\\"");
	check_literal("a\nb\tc\rd", "\"a\\nb\\tc\\rd\"");
	check_literal("/slash/", "\"/slash/\"");
	check_literal("\x7f", "\"\\u007f\"");
}

static void test_every_control_character_escaped(void **state)
{
	for (int c = 1; c < 0x20; c++) {
		char in[2] = { (char)c, 0 };
		char *got = literal(in);

		assert_non_null(got);
		/* No raw control byte may reach the output. */
		for (const char *p = got; *p; p++)
			assert_true((unsigned char)*p >= 0x20);
		if (c != '\n' && c != '\t' && c != '\r') {
			char want[16];

			snprintf(want, sizeof(want), "\"\\u%04x\"", c);
			assert_string_equal(got, want);
		}
		free(got);
	}
}

static void test_utf8_kept_bad_bytes_replaced(void **state)
{
	check_literal("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* A lone continuation byte, a truncated sequence, an overlong '/', a surrogate, 0xff. */
	check_literal("a\x80" "b", "\"a\\ufffdb\"");
	check_literal("\xc3", "\"\\ufffd\"");
	check_literal("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_literal("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_literal("\xff", "\"\\ufffd\"");
	check_literal("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void test_compact_document(void **state)
{
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer w;
	char *doc;

	json_init(&w, &b, false);
	json_begin_object(&w);
	json_kv_string(&w, "name", "a \"b\"");
	json_kv_u64(&w, "size", UINT64_MAX);
	json_key(&w, "neg");
	json_i64(&w, INT64_MIN);
	json_kv_bool(&w, "hidden", false);
	json_key(&w, "none");
	json_string(&w, NULL);
	json_key(&w, "list");
	json_begin_array(&w);
	json_u64(&w, 1);
	json_begin_object(&w);
	json_end_object(&w);
	json_begin_array(&w);
	json_end_array(&w);
	json_null(&w);
	json_end_array(&w);
	json_key(&w, "rate");
	json_double(&w, 0.5);
	json_key(&w, "nan");
	json_double(&w, 0.0 / 0.0);
	json_end_object(&w);
	assert_int_equal(json_finish(&w), 0);
	doc = buf_steal(&b);
	assert_string_equal(doc, "{\"name\":\"a \\\"b\\\"\",\"size\":18446744073709551615,"
			    "\"neg\":-9223372036854775808,\"hidden\":false,\"none\":null,"
			    "\"list\":[1,{},[],null],\"rate\":0.5,\"nan\":null}\n");
	free(doc);
}

static void test_pretty_document(void **state)
{
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer w;
	char *doc;

	json_init(&w, &b, true);
	json_begin_object(&w);
	json_kv_u64(&w, "a", 1);
	json_key(&w, "b");
	json_begin_array(&w);
	json_string(&w, "x");
	json_string(&w, "y");
	json_end_array(&w);
	json_key(&w, "c");
	json_begin_object(&w);
	json_end_object(&w);
	json_end_object(&w);
	assert_int_equal(json_finish(&w), 0);
	doc = buf_steal(&b);
	assert_string_equal(doc, "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    \"y\"\n  ],\n  \"c\": {}\n}\n");
	free(doc);
}

static int misuse(void (*f)(struct json_writer *w))
{
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer w;
	int rc;

	json_init(&w, &b, false);
	f(&w);
	rc = json_finish(&w);
	buf_free(&b);
	return rc;
}

static void unclosed(struct json_writer *w) { json_begin_object(w); }
static void value_without_key(struct json_writer *w) { json_begin_object(w); json_u64(w, 1); json_end_object(w); }
static void key_in_array(struct json_writer *w) { json_begin_array(w); json_key(w, "k"); json_u64(w, 1); json_end_array(w); }
static void key_without_value(struct json_writer *w) { json_begin_object(w); json_key(w, "k"); json_end_object(w); }
static void mismatched(struct json_writer *w) { json_begin_object(w); json_end_array(w); }
static void too_deep(struct json_writer *w)
{
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_begin_array(w);
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_end_array(w);
}

static void test_misuse_reported(void **state)
{
	assert_int_equal(misuse(unclosed), -1);
	assert_int_equal(misuse(value_without_key), -1);
	assert_int_equal(misuse(key_in_array), -1);
	assert_int_equal(misuse(key_without_value), -1);
	assert_int_equal(misuse(mismatched), -1);
	assert_int_equal(misuse(too_deep), -1);
}

static void test_numbers_as_they_stand(void **state)
{
	static const char *const numbers[] = { "0", "7", "-3", "2147483648", "345.2", "0.5",
					       "1e9", "-1.5E-3", "18446744073709551615" };
	static const char *const words[] = { "", "-", "01", "1.", ".5", "1e", "1e+", "0x10",
					     "12 ", " 12", "yes", "1,5", "NaN", "--1" };
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer w;
	char *doc;

	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		assert_true(json_is_number(numbers[i]));
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (json_is_number(words[i]))
			fail_msg("'%s' taken for a number", words[i]);
	json_init(&w, &b, false);
	json_begin_array(&w);
	json_number_or_string(&w, "345.2");
	json_number_or_string(&w, "01");
	json_number_or_string(&w, "copying");
	json_end_array(&w);
	assert_int_equal(json_finish(&w), 0);
	doc = buf_steal(&b);
	assert_string_equal(doc, "[345.2,\"01\",\"copying\"]\n");
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_special_escapes),
		cmocka_unit_test(test_every_control_character_escaped),
		cmocka_unit_test(test_utf8_kept_bad_bytes_replaced),
		cmocka_unit_test(test_compact_document),
		cmocka_unit_test(test_pretty_document),
		cmocka_unit_test(test_misuse_reported),
		cmocka_unit_test(test_numbers_as_they_stand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
