/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of lib/static/no_icu.c, linked as the drivers link it: libxml2
 * statically, with these stand-ins for ICU.  A request in an encoding only
 * ICU knows must fail as an unsupported encoding (a parse error, which the
 * driver answers with a fault), while what libxml2 decodes itself
 * (ISO-8859-1) or through libc's iconv (windows-1252, ISO-2022-JP, EBCDIC)
 * must still be read as before.
 */
#include <iconv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/error.h"
#include "csm/xmlrpc.h"

#if defined(__has_include)
#if __has_include(<unicode/ucnv.h>)
#define HAVE_ICU_HEADER 1
#include <unicode/ucnv.h>
#endif
#endif

/* A one-param request whose value is v, declared in encoding enc. */
static char *request(const char *enc, const char *v)
{
	char *doc = NULL;

	assert_true(asprintf(&doc, "<?xml version=\"1.0\" encoding=\"%s\"?>"
			     "<methodCall><methodName>m</methodName><params><param>"
			     "<value>%s</value></param></params></methodCall>", enc, v) > 0);
	return doc;
}

/* doc (UTF-8) re-encoded with libc's iconv, as a client would send it. */
static char *reencode(const char *doc, const char *to, size_t *out_len)
{
	iconv_t cd = iconv_open(to, "UTF-8");
	size_t in_left = strlen(doc), cap = 4 * in_left + 16, out_left = cap;
	char *in = (char *)doc, *out = malloc(cap), *p = out;

	assert_true(cd != (iconv_t)-1);
	assert_non_null(out);
	assert_true(iconv(cd, &in, &in_left, &p, &out_left) != (size_t)-1);
	assert_true(iconv(cd, NULL, NULL, &p, &out_left) != (size_t)-1);
	iconv_close(cd);
	*out_len = cap - out_left;
	return out;
}

/* Parse doc; its one string value must be want (UTF-8). */
static void read_as(const char *doc, size_t len, const char *want)
{
	struct sm_error err = { 0 };
	struct xr_value *params = NULL;
	char *method = NULL;

	if (xr_parse_call(doc, len, &method, &params, &err))
		fail_msg("parse failed: %d %s", err.code, err.detail);
	assert_string_equal(method, "m");
	assert_int_equal(params->u.arr.count, 1);
	assert_int_equal(params->u.arr.items[0]->type, XR_STRING);
	assert_string_equal(params->u.arr.items[0]->u.str, want);
	free(method);
	xr_free(params);
}

/* Parsing a request declared in enc fails as an unsupported encoding. */
static void expect_unsupported(const char *enc)
{
	struct sm_error err = { 0 };
	struct xr_value *params = NULL;
	char *method = NULL, *doc = request(enc, "a"), want[128];

	assert_int_equal(xr_parse_call(doc, strlen(doc), &method, &params, &err), -1);
	assert_int_equal(err.code, SME_BAD_REQUEST);
	snprintf(want, sizeof(want), "Unsupported encoding %s", enc);
	if (!strstr(err.detail, want))
		fail_msg("%s: detail \"%s\" does not say \"%s\"", enc, err.detail, want);
	assert_null(method);
	assert_null(params);
	free(doc);
}

static void test_icu_only_encodings_refused(void **state)
{
	/* Names only ICU has (glibc's iconv spells Mac Roman "MACINTOSH"). */
	expect_unsupported("SCSU");
	expect_unsupported("BOCU-1");
	expect_unsupported("x-mac-roman");
	expect_unsupported("macos-0_2-10.2");
	/* And names nobody has, as before. */
	expect_unsupported("x-made-up");
	expect_unsupported("UTF-9");
}

static void test_native_and_iconv_encodings_still_read(void **state)
{
	char *doc, *enc;
	size_t len;

	/* libxml2's own: Latin-1 (and its alias), ASCII, UTF-8. */
	doc = request("ISO-8859-1", "caf\xe9");
	read_as(doc, strlen(doc), "caf\xc3\xa9");
	free(doc);
	doc = request("latin1", "caf\xe9");
	read_as(doc, strlen(doc), "caf\xc3\xa9");
	free(doc);
	doc = request("US-ASCII", "plain");
	read_as(doc, strlen(doc), "plain");
	free(doc);
	doc = request("UTF-8", "caf\xc3\xa9");
	read_as(doc, strlen(doc), "caf\xc3\xa9");
	free(doc);

	/* libc's iconv: a single-byte code page, a stateful one, EBCDIC. */
	doc = request("windows-1252", "\x80");
	read_as(doc, strlen(doc), "\xe2\x82\xac");
	free(doc);
	doc = request("ISO-2022-JP", "\xe6\x97\xa5\xe6\x9c\xac");
	enc = reencode(doc, "ISO-2022-JP", &len);
	read_as(enc, len, "\xe6\x97\xa5\xe6\x9c\xac");
	free(enc);
	free(doc);
	doc = request("IBM037", "sr_scan");
	enc = reencode(doc, "IBM037", &len);
	assert_int_equal((unsigned char)enc[0], 0x4c);  /* '<' in EBCDIC */
	read_as(enc, len, "sr_scan");
	free(enc);
	free(doc);
}

static void test_stand_ins_fail_like_icu(void **state)
{
#ifdef HAVE_ICU_HEADER
	UErrorCode status = U_ZERO_ERROR;
	UConverterToUCallback old_to = NULL;
	const void *old_ctx = NULL;
	char out[8], *target = out;
	const char *in = "a", *source = in;
	UChar pivot[4], *ps = pivot, *pt = pivot;

	assert_null(ucnv_open("UTF-8", &status));
	assert_int_equal(status, U_FILE_ACCESS_ERROR);
	/* A failure already recorded is left alone (ICU's convention). */
	status = U_ILLEGAL_ARGUMENT_ERROR;
	assert_null(ucnv_open("SCSU", &status));
	assert_int_equal(status, U_ILLEGAL_ARGUMENT_ERROR);
	ucnv_close(NULL);

	status = U_ZERO_ERROR;
	ucnv_setToUCallBack(NULL, UCNV_TO_U_CALLBACK_STOP, NULL, &old_to, &old_ctx, &status);
	assert_true(U_FAILURE(status));
	status = U_ZERO_ERROR;
	ucnv_setFromUCallBack(NULL, UCNV_FROM_U_CALLBACK_STOP, NULL, NULL, NULL, &status);
	assert_true(U_FAILURE(status));
	status = U_ZERO_ERROR;
	ucnv_convertEx(NULL, NULL, &target, out + sizeof(out), &source, in + 1,
		       pivot, &ps, &pt, pivot + 4, 1, 1, &status);
	assert_true(U_FAILURE(status));
	assert_ptr_equal(target, out);
	assert_ptr_equal(source, in);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_icu_only_encodings_refused),
		cmocka_unit_test(test_native_and_iconv_encodings_still_read),
		cmocka_unit_test(test_stand_ins_fail_like_icu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
