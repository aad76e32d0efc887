/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the XML-RPC module.  The expected documents are the bytes
 * Python's xmlrpc.client.dumps produced for the same values (generated
 * once and pasted here), and the requests are protocol.md §1.8's literal
 * examples of what xapi puts in argv[1].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/buf.h"
#include "csm/error.h"
#include "csm/xmlrpc.h"

/* protocol.md §1.8, with the shortened refs of vdi_attach written out. */
static const char req_vdi_create[] =
	"<methodCall><methodName>vdi_create</methodName><params><param><value><struct><member><name>host_ref</name><value>OpaqueRef:6f4e3f0a-93b1-4c3e-9d0b-2b1c3f6b7d11</value></member>"
	"<member><name>command</name><value>vdi_create</value></member>"
	"<member><name>args</name><value><array><data><value>10737418240</value><value>data disk</value><value/><value/><value>false</value><value>19700101T00:00:00Z</value><value/><value>false</value></data></array></value></member>"
	"<member><name>device_config</name><value><struct><member><name>SRmaster</name><value>true</value></member>"
	"<member><name>server</name><value>10.0.0.5</value></member>"
	"<member><name>serverpath</name><value>/exports/xs</value></member>"
	"</struct></value></member>"
	"<member><name>session_ref</name><value>OpaqueRef:0c4b7a2e-1f5d-4e8a-b6a1-7d2f9e3c5a40</value></member>"
	"<member><name>sr_ref</name><value>OpaqueRef:a1b2c3d4-0000-4000-8000-000000000001</value></member>"
	"<member><name>vdi_type</name><value>user</value></member>"
	"<member><name>sr_uuid</name><value>3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10</value></member>"
	"<member><name>vdi_sm_config</name><value><struct/></value></member>"
	"<member><name>subtask_of</name><value>OpaqueRef:5e6f7a8b-1111-4222-8333-444455556666</value></member>"
	"</struct></value></param></params></methodCall>";

static const char req_sr_scan[] =
	"<methodCall><methodName>sr_scan</methodName><params><param><value><struct><member><name>host_ref</name><value>OpaqueRef:6f4e3f0a-93b1-4c3e-9d0b-2b1c3f6b7d11</value></member>"
	"<member><name>command</name><value>sr_scan</value></member>"
	"<member><name>args</name><value><array><data/></array></value></member>"
	"<member><name>device_config</name><value><struct><member><name>SRmaster</name><value>true</value></member>"
	"<member><name>server</name><value>10.0.0.5</value></member>"
	"<member><name>serverpath</name><value>/exports/xs</value></member>"
	"</struct></value></member>"
	"<member><name>session_ref</name><value>OpaqueRef:0c4b7a2e-1f5d-4e8a-b6a1-7d2f9e3c5a40</value></member>"
	"<member><name>sr_ref</name><value>OpaqueRef:a1b2c3d4-0000-4000-8000-000000000001</value></member>"
	"<member><name>sr_uuid</name><value>3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10</value></member>"
	"<member><name>subtask_of</name><value>OpaqueRef:5e6f7a8b-1111-4222-8333-444455556666</value></member>"
	"</struct></value></param></params></methodCall>";

static const char req_vdi_attach[] =
	"<methodCall><methodName>vdi_attach</methodName><params><param><value><struct><member><name>host_ref</name><value>OpaqueRef:6f4e3f0a-93b1-4c3e-9d0b-2b1c3f6b7d11</value></member>"
	"<member><name>command</name><value>vdi_attach</value></member>"
	"<member><name>args</name><value><array><data><value>true</value></data></array></value></member>"
	"<member><name>device_config</name><value><struct><member><name>SRmaster</name><value>false</value></member>"
	"<member><name>server</name><value>10.0.0.5</value></member>"
	"<member><name>serverpath</name><value>/exports/xs</value></member>"
	"</struct></value></member>"
	"<member><name>session_ref</name><value>OpaqueRef:0c4b7a2e-1f5d-4e8a-b6a1-7d2f9e3c5a40</value></member>"
	"<member><name>sr_ref</name><value>OpaqueRef:a1b2c3d4-0000-4000-8000-000000000001</value></member>"
	"<member><name>sr_uuid</name><value>3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10</value></member>"
	"<member><name>vdi_ref</name><value>OpaqueRef:9d8c7b6a-5555-4666-8777-888899997777</value></member>"
	"<member><name>vdi_location</name><value>b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e</value></member>"
	"<member><name>vdi_uuid</name><value>b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e</value></member>"
	"<member><name>subtask_of</name><value>OpaqueRef:5e6f7a8b-1111-4222-8333-444455556666</value></member>"
	"<member><name>vdi_on_boot</name><value>persist</value></member>"
	"<member><name>vdi_allow_caching</name><value>false</value></member>"
	"</struct></value></param></params></methodCall>";

static const char req_sr_get_driver_info[] =
	"<methodCall><methodName>sr_get_driver_info</methodName><params><param><value><struct><member><name>host_ref</name><value>OpaqueRef:6f4e3f0a-93b1-4c3e-9d0b-2b1c3f6b7d11</value></member>"
	"<member><name>command</name><value>sr_get_driver_info</value></member>"
	"<member><name>args</name><value><array><data/></array></value></member>"
	"<member><name>device_config</name><value><struct/></value></member>"
	"</struct></value></param></params></methodCall>";

/* ---------------------------------------------------------------- helpers */

static struct xr_value *parse_ok(const char *doc, const char *want_method)
{
	struct sm_error err = { 0 };
	struct xr_value *params = NULL;
	char *method = NULL;
	int rc;

	rc = xr_parse_call(doc, strlen(doc), &method, &params, &err);
	if (rc)
		fail_msg("parse failed: %d %s", err.code, err.detail);
	assert_int_equal(err.code, 0);
	assert_non_null(params);
	assert_int_equal(params->type, XR_ARRAY);
	if (want_method)
		assert_string_equal(method, want_method);
	free(method);
	return params;
}

/* The single struct param every xapi request carries. */
static struct xr_value *parse_struct_ok(const char *doc, const char *want_method)
{
	struct xr_value *params = parse_ok(doc, want_method);

	assert_int_equal(params->u.arr.count, 1);
	assert_int_equal(params->u.arr.items[0]->type, XR_STRUCT);
	return params;
}

/* The value of a one-param request "<methodCall>...<param>V</param>...". */
static struct xr_value *parse_one(const char *value_xml)
{
	struct xr_value *params, *v;
	char *doc = NULL;

	assert_true(asprintf(&doc, "<methodCall><methodName>m</methodName><params>"
			     "<param>%s</param></params></methodCall>", value_xml) > 0);
	params = parse_ok(doc, "m");
	free(doc);
	assert_int_equal(params->u.arr.count, 1);
	v = params->u.arr.items[0];
	params->u.arr.count = 0;
	xr_free(params);
	return v;
}

static void expect_str_value(const char *value_xml, const char *want)
{
	struct xr_value *v = parse_one(value_xml);

	assert_int_equal(v->type, XR_STRING);
	assert_string_equal(v->u.str, want);
	xr_free(v);
}

static void expect_bad_len(const char *doc, size_t len, const char *detail_part)
{
	struct sm_error err = { 0 };
	struct xr_value *params = (struct xr_value *)1;
	char *method = (char *)1;

	assert_int_equal(xr_parse_call(doc, len, &method, &params, &err), -1);
	assert_int_equal(err.code, SME_BAD_REQUEST);
	assert_null(method);
	assert_null(params);
	assert_true(err.detail[0] != '\0');
	if (detail_part && !strstr(err.detail, detail_part))
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, detail_part);
}

static void expect_bad(const char *doc, const char *detail_part)
{
	expect_bad_len(doc, strlen(doc), detail_part);
}

static void expect_bad_value(const char *value_xml, const char *detail_part)
{
	char *doc = NULL;

	assert_true(asprintf(&doc, "<methodCall><methodName>m</methodName><params>"
			     "<param>%s</param></params></methodCall>", value_xml) > 0);
	expect_bad(doc, detail_part);
	free(doc);
}

static const char *str_at(const struct xr_value *arr, size_t i)
{
	assert_int_equal(arr->type, XR_ARRAY);
	assert_true(i < arr->u.arr.count);
	assert_int_equal(arr->u.arr.items[i]->type, XR_STRING);
	return arr->u.arr.items[i]->u.str;
}

/* ---------------------------------------------------------------- parsing */

static void test_parse_vdi_create(void **state)
{
	struct xr_value *params = parse_struct_ok(req_vdi_create, "vdi_create");
	const struct xr_value *st = params->u.arr.items[0], *args, *dc, *smc;

	assert_int_equal(st->u.st.count, 10);
	assert_string_equal(st->u.st.members[0].name, "host_ref");
	assert_string_equal(st->u.st.members[9].name, "subtask_of");
	assert_string_equal(xr_struct_get_string(st, "command"), "vdi_create");
	assert_string_equal(xr_struct_get_string(st, "vdi_type"), "user");
	assert_string_equal(xr_struct_get_string(st, "sr_uuid"),
			    "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10");
	args = xr_struct_get(st, "args");
	assert_non_null(args);
	assert_int_equal(args->u.arr.count, 8);
	assert_string_equal(str_at(args, 0), "10737418240");
	assert_string_equal(str_at(args, 1), "data disk");
	assert_string_equal(str_at(args, 2), "");
	assert_string_equal(str_at(args, 3), "");
	assert_string_equal(str_at(args, 4), "false");
	assert_string_equal(str_at(args, 5), "19700101T00:00:00Z");
	assert_string_equal(str_at(args, 6), "");
	assert_string_equal(str_at(args, 7), "false");
	dc = xr_struct_get(st, "device_config");
	assert_int_equal(dc->type, XR_STRUCT);
	assert_int_equal(dc->u.st.count, 3);
	assert_string_equal(xr_struct_get_string(dc, "SRmaster"), "true");
	assert_string_equal(xr_struct_get_string(dc, "server"), "10.0.0.5");
	assert_string_equal(xr_struct_get_string(dc, "serverpath"), "/exports/xs");
	smc = xr_struct_get(st, "vdi_sm_config");
	assert_int_equal(smc->type, XR_STRUCT);
	assert_int_equal(smc->u.st.count, 0);
	/* Lookups of absent keys and of non-strings are NULL. */
	assert_null(xr_struct_get(st, "vdi_ref"));
	assert_null(xr_struct_get_string(st, "args"));
	assert_null(xr_struct_get_string(args, "x"));
	xr_free(params);
}

static void test_parse_sr_scan(void **state)
{
	struct xr_value *params = parse_struct_ok(req_sr_scan, "sr_scan");
	const struct xr_value *st = params->u.arr.items[0], *args;

	assert_int_equal(st->u.st.count, 8);
	args = xr_struct_get(st, "args");
	assert_int_equal(args->type, XR_ARRAY);
	assert_int_equal(args->u.arr.count, 0);
	assert_string_equal(xr_struct_get_string(st, "sr_ref"),
			    "OpaqueRef:a1b2c3d4-0000-4000-8000-000000000001");
	assert_string_equal(xr_struct_get_string(st, "session_ref"),
			    "OpaqueRef:0c4b7a2e-1f5d-4e8a-b6a1-7d2f9e3c5a40");
	xr_free(params);
}

static void test_parse_vdi_attach(void **state)
{
	struct xr_value *params = parse_struct_ok(req_vdi_attach, "vdi_attach");
	const struct xr_value *st = params->u.arr.items[0], *args;

	assert_int_equal(st->u.st.count, 13);
	args = xr_struct_get(st, "args");
	assert_int_equal(args->u.arr.count, 1);
	assert_string_equal(str_at(args, 0), "true");
	assert_string_equal(xr_struct_get_string(xr_struct_get(st, "device_config"),
						 "SRmaster"), "false");
	assert_string_equal(xr_struct_get_string(st, "vdi_location"),
			    "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e");
	assert_string_equal(xr_struct_get_string(st, "vdi_ref"),
			    "OpaqueRef:9d8c7b6a-5555-4666-8777-888899997777");
	assert_string_equal(xr_struct_get_string(st, "vdi_on_boot"), "persist");
	assert_string_equal(xr_struct_get_string(st, "vdi_allow_caching"), "false");
	xr_free(params);
}

static void test_parse_sr_get_driver_info(void **state)
{
	struct xr_value *params = parse_struct_ok(req_sr_get_driver_info,
						  "sr_get_driver_info");
	const struct xr_value *st = params->u.arr.items[0];

	assert_int_equal(st->u.st.count, 4);
	assert_int_equal(xr_struct_get(st, "device_config")->u.st.count, 0);
	assert_null(xr_struct_get(st, "session_ref"));
	xr_free(params);
}

/* xmlrpc.client.dumps(({...},), 'sr_scan'), as static-vdis sends it. */
static const char py_call[] =
	"<?xml version='1.0'?>\n"
	"<methodCall>\n"
	"<methodName>sr_scan</methodName>\n"
	"<params>\n"
	"<param>\n"
	"<value><struct>\n"
	"<member>\n"
	"<name>host_ref</name>\n"
	"<value><string>OpaqueRef:1</string></value>\n"
	"</member>\n"
	"<member>\n"
	"<name>command</name>\n"
	"<value><string>sr_scan</string></value>\n"
	"</member>\n"
	"<member>\n"
	"<name>args</name>\n"
	"<value><array><data>\n"
	"</data></array></value>\n"
	"</member>\n"
	"<member>\n"
	"<name>device_config</name>\n"
	"<value><struct>\n"
	"<member>\n"
	"<name>SRmaster</name>\n"
	"<value><string>true</string></value>\n"
	"</member>\n"
	"<member>\n"
	"<name>location</name>\n"
	"<value><string>/tmp/a&amp;b</string></value>\n"
	"</member>\n"
	"</struct></value>\n"
	"</member>\n"
	"<member>\n"
	"<name>empty</name>\n"
	"<value><string></string></value>\n"
	"</member>\n"
	"</struct></value>\n"
	"</param>\n"
	"</params>\n"
	"</methodCall>\n";

static struct xr_value *build_py_call_params(void)
{
	struct xr_value *params = xr_array(), *st = xr_struct(), *dc = xr_struct();

	assert_int_equal(xr_struct_set_string(st, "host_ref", "OpaqueRef:1"), 0);
	assert_int_equal(xr_struct_set_string(st, "command", "sr_scan"), 0);
	assert_int_equal(xr_struct_set(st, "args", xr_array()), 0);
	assert_int_equal(xr_struct_set_string(dc, "SRmaster", "true"), 0);
	assert_int_equal(xr_struct_set_string(dc, "location", "/tmp/a&b"), 0);
	assert_int_equal(xr_struct_set(st, "device_config", dc), 0);
	assert_int_equal(xr_struct_set_string(st, "empty", ""), 0);
	assert_int_equal(xr_array_append(params, st), 0);
	return params;
}

static void test_parse_python_style(void **state)
{
	struct xr_value *params = parse_struct_ok(py_call, "sr_scan");
	const struct xr_value *st = params->u.arr.items[0], *dc;

	assert_int_equal(st->u.st.count, 5);
	assert_string_equal(xr_struct_get_string(st, "host_ref"), "OpaqueRef:1");
	assert_int_equal(xr_struct_get(st, "args")->u.arr.count, 0);
	dc = xr_struct_get(st, "device_config");
	assert_string_equal(xr_struct_get_string(dc, "location"), "/tmp/a&b");
	assert_string_equal(xr_struct_get_string(st, "empty"), "");
	xr_free(params);

	/* A declaration with an encoding, CRLF line ends and comments. */
	params = parse_ok("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
			  "<!-- hi --><methodCall>\r\n<methodName>x</methodName>\r\n"
			  "<params>\r\n<param>\r\n<value><string>a</string></value>\r\n"
			  "</param>\r\n</params>\r\n</methodCall>\r\n", "x");
	assert_string_equal(str_at(params, 0), "a");
	xr_free(params);

	/* Latin-1 is converted to UTF-8. */
	params = parse_ok("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
			  "<methodCall><methodName>x</methodName><params><param>"
			  "<value>\xe9</value></param></params></methodCall>", "x");
	assert_string_equal(str_at(params, 0), "\xc3\xa9");
	xr_free(params);
}

static void test_parse_no_params(void **state)
{
	struct xr_value *params;

	params = parse_ok("<methodCall><methodName>x</methodName></methodCall>", "x");
	assert_int_equal(params->u.arr.count, 0);
	xr_free(params);
	params = parse_ok("<methodCall><methodName>x</methodName><params/></methodCall>", "x");
	assert_int_equal(params->u.arr.count, 0);
	xr_free(params);
	params = parse_ok("<methodCall><methodName>x</methodName><params><param><value>a"
			  "</value></param><param><value>b</value></param></params>"
			  "</methodCall>", "x");
	assert_int_equal(params->u.arr.count, 2);
	assert_string_equal(str_at(params, 1), "b");
	xr_free(params);
}

static void test_parse_escapes(void **state)
{
	expect_str_value("<value>a&amp;b&lt;c&gt;d&quot;e&apos;f</value>", "a&b<c>d\"e'f");
	expect_str_value("<value><string>&#65;&#x42;&#233;&#x20AC;&#x1D11E;</string></value>",
		      "AB\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e");
	expect_str_value("<value>tab&#9;nl&#10;cr&#13;</value>", "tab\tnl\ncr\r");
	expect_str_value("<value><![CDATA[<raw> & ]]>x</value>", "<raw> & x");
	expect_str_value("<value>a<!-- c -->b</value>", "ab");
	expect_str_value("<value>caf\xc3\xa9</value>", "caf\xc3\xa9");
}

static void test_parse_empty_values(void **state)
{
	expect_str_value("<value/>", "");
	expect_str_value("<value></value>", "");
	expect_str_value("<value><string/></value>", "");
	expect_str_value("<value><string></string></value>", "");
	/* Whitespace inside a value is data, not layout. */
	expect_str_value("<value> </value>", " ");
	expect_str_value("<value>\n\t</value>", "\n\t");
	expect_str_value("<value><string>  </string></value>", "  ");
	expect_str_value("<value>\n<string>x</string>\n</value>", "x");
	expect_str_value("<value><base64>aGk=</base64></value>", "aGk=");
}

static void test_parse_scalars(void **state)
{
	struct xr_value *v;

	v = parse_one("<value><int>-42</int></value>");
	assert_int_equal(v->type, XR_INT);
	assert_int_equal(v->u.i, -42);
	xr_free(v);
	v = parse_one("<value><i4>2147483647</i4></value>");
	assert_int_equal(v->u.i, 2147483647);
	xr_free(v);
	v = parse_one("<value><i8>9223372036854775807</i8></value>");
	assert_true(v->u.i == INT64_MAX);
	xr_free(v);
	v = parse_one("<value><int>+7</int></value>");
	assert_int_equal(v->u.i, 7);
	xr_free(v);
	v = parse_one("<value><boolean>1</boolean></value>");
	assert_int_equal(v->type, XR_BOOL);
	assert_true(v->u.b);
	xr_free(v);
	v = parse_one("<value><boolean>0</boolean></value>");
	assert_false(v->u.b);
	xr_free(v);
	v = parse_one("<value><double>-2.5e3</double></value>");
	assert_int_equal(v->type, XR_DOUBLE);
	assert_true(v->u.d == -2500.0);
	xr_free(v);
	v = parse_one("<value><nil/></value>");
	assert_int_equal(v->type, XR_NIL);
	xr_free(v);
}

static void test_parse_nested(void **state)
{
	struct xr_value *v;
	const struct xr_value *a, *s;

	v = parse_one("<value><struct>"
		      "<member><name>a</name><value><array><data>"
		      "<value><struct><member><name>k</name><value>v</value></member>"
		      "</struct></value>"
		      "<value><array><data><value><int>1</int></value></data></array></value>"
		      "<value><array><data/></array></value>"
		      "</data></array></value></member>"
		      "<member><name>b</name><value><struct/></value></member>"
		      "<member><name></name><value>noname</value></member>"
		      "<member><name>a</name><value>again</value></member>"
		      "</struct></value>");
	assert_int_equal(v->type, XR_STRUCT);
	/* A repeated name replaces the value in place (last one wins). */
	assert_int_equal(v->u.st.count, 3);
	assert_string_equal(v->u.st.members[0].name, "a");
	assert_string_equal(xr_struct_get_string(v, "a"), "again");
	assert_string_equal(xr_struct_get_string(v, ""), "noname");
	xr_free(v);

	v = parse_one("<value><array><data>"
		      "<value><struct><member><name>k</name><value>v</value></member>"
		      "</struct></value>"
		      "<value><array><data><value><int>1</int></value></data></array></value>"
		      "</data></array></value>");
	assert_int_equal(v->u.arr.count, 2);
	s = v->u.arr.items[0];
	assert_string_equal(xr_struct_get_string(s, "k"), "v");
	a = v->u.arr.items[1];
	assert_int_equal(a->u.arr.items[0]->u.i, 1);
	xr_free(v);
}

/* n nested arrays around a string. */
static char *nested_doc(int n)
{
	struct sm_buf b = SM_BUF_INIT;

	buf_puts(&b, "<methodCall><methodName>m</methodName><params><param>");
	for (int i = 1; i < n; i++)
		buf_puts(&b, "<value><array><data>");
	buf_puts(&b, "<value>x</value>");
	for (int i = 1; i < n; i++)
		buf_puts(&b, "</data></array></value>");
	buf_puts(&b, "</param></params></methodCall>");
	return buf_steal(&b);
}

static void test_parse_depth(void **state)
{
	char *doc = nested_doc(64);
	struct xr_value *params = parse_ok(doc, "m");

	xr_free(params);
	free(doc);
	doc = nested_doc(65);
	expect_bad(doc, "nested deeper than 64");
	free(doc);
	doc = nested_doc(1000);
	expect_bad(doc, NULL);
	free(doc);
}

static void test_parse_malformed(void **state)
{
	static const char big_prefix[] = "<methodCall><methodName>m</methodName><params>"
					 "<param><value>";
	size_t big_len = 16 * 1024 * 1024 + 1;
	char *big;

	expect_bad_len("", 0, "empty");
	expect_bad_len(NULL, 0, "empty");
	expect_bad("--help", "XML parse error at line 1");
	expect_bad("not xml at all", "XML parse error");
	expect_bad("<methodCall><methodName>x</methodName>", "XML parse error");
	expect_bad("<methodCall><methodName>x</methodName><params><param><value>",
		   "XML parse error");
	expect_bad("<methodCall><methodName>x</methodName></methodCall><methodCall/>",
		   "XML parse error");
	expect_bad("<methodCall><methodName>x</methodName></methodcall>", "XML parse error");
	expect_bad("<methodCall><methodName>a&b</methodName></methodCall>", "XML parse error");
	expect_bad("<methodCall><methodName>&foo;</methodName></methodCall>", "XML parse error");
	expect_bad("<methodCall><methodName>&#1;</methodName></methodCall>", "XML parse error");
	expect_bad_len("<methodCall><methodName>a\0b</methodName></methodCall>", 50,
		       "XML parse error");
	expect_bad("<methodCall><methodName>\xff\xfe</methodName></methodCall>",
		   "XML parse error");
	expect_bad("<methodResponse><params/></methodResponse>",
		   "root element is <methodResponse>, expected <methodCall>");
	expect_bad("<foo/>", "root element is <foo>, expected <methodCall>");
	expect_bad("<methodCall><params/></methodCall>", "without <methodName>");
	expect_bad("<methodCall><methodName></methodName></methodCall>", "empty <methodName>");
	expect_bad("<methodCall><methodName><b>x</b></methodName></methodCall>",
		   "must contain only text");
	expect_bad("<methodCall><methodName>x</methodName><methodName>y</methodName>"
		   "</methodCall>", "unexpected <methodName>");
	expect_bad("<methodCall><methodName>x</methodName><foo/></methodCall>",
		   "unexpected <foo>");
	expect_bad("<methodCall>junk<methodName>x</methodName></methodCall>",
		   "unexpected text");
	expect_bad("<methodCall><methodName>x</methodName><params><value>x</value>"
		   "</params></methodCall>", "unexpected <value> inside <params>");
	expect_bad("<methodCall><methodName>x</methodName><params><param/>"
		   "</params></methodCall>", "<param> without <value>");
	expect_bad("<methodCall><methodName>x</methodName><params><param><value/><value/>"
		   "</param></params></methodCall>", "unexpected <value>");

	/* Entity tricks: no DOCTYPE at all, so nothing can be declared. */
	expect_bad("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		   "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		   "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
		   "<methodCall><methodName>&lol3;</methodName></methodCall>", "DOCTYPE");
	expect_bad("<!DOCTYPE methodCall SYSTEM \"file:///etc/passwd\">"
		   "<methodCall><methodName>x</methodName></methodCall>", "DOCTYPE");
	expect_bad("<!DOCTYPE methodCall [<!ENTITY x SYSTEM \"http://example.com/\">]>"
		   "<methodCall><methodName>&x;</methodName></methodCall>", "DOCTYPE");

	expect_bad_value("<value><foo>x</foo></value>", "unknown value type <foo>");
	expect_bad_value("<value><int>abc</int></value>", "not a decimal integer");
	expect_bad_value("<value><int></int></value>", "not a decimal integer");
	expect_bad_value("<value><int> 1</int></value>", "not a decimal integer");
	expect_bad_value("<value><int>1 </int></value>", "not a decimal integer");
	expect_bad_value("<value><int>-</int></value>", "not a decimal integer");
	expect_bad_value("<value><int>0x10</int></value>", "not a decimal integer");
	expect_bad_value("<value><int>9223372036854775808</int></value>", "out of range");
	expect_bad_value("<value><int>-9223372036854775809</int></value>", "out of range");
	expect_bad_value("<value><i4>2147483648</i4></value>", "out of range");
	expect_bad_value("<value><boolean>true</boolean></value>", "0 or 1");
	expect_bad_value("<value><boolean>2</boolean></value>", "0 or 1");
	expect_bad_value("<value><double>x</double></value>", "not a number");
	expect_bad_value("<value><double></double></value>", "not a number");
	expect_bad_value("<value><double> 1</double></value>", "not a number");
	expect_bad_value("<value><nil>x</nil></value>", "<nil> must be empty");
	expect_bad_value("<value><string><b/></string></value>", "must contain only text");
	expect_bad_value("<value>x<string>y</string></value>", "unexpected text");
	expect_bad_value("<value><string>y</string><string>z</string></value>",
			 "unexpected <string>");
	expect_bad_value("<value><struct><member><value>x</value></member></struct></value>",
			 "member without <name>");
	expect_bad_value("<value><struct><member><name>k</name></member></struct></value>",
			 "member \"k\" without <value>");
	expect_bad_value("<value><struct><member><name>k</name><value/><value/></member>"
			 "</struct></value>", "unexpected <value> inside <member>");
	expect_bad_value("<value><struct><value>x</value></struct></value>",
			 "unexpected <value> inside <struct>");
	expect_bad_value("<value><struct>text</struct></value>", "unexpected text");
	expect_bad_value("<value><array><value>x</value></array></value>",
			 "expected <data>");
	expect_bad_value("<value><array/></value>", "<array> without <data>");
	expect_bad_value("<value><array><data><int>1</int></data></array></value>",
			 "unexpected <int> inside <data>");
	expect_bad_value("<value><struct><member><name>k</name><value><int>x</int></value>"
			 "</member></struct></value>", "not a decimal integer");

	/* Over the size limit, refused before libxml2 sees it. */
	big = malloc(big_len);
	assert_non_null(big);
	memset(big, 'a', big_len);
	memcpy(big, big_prefix, sizeof(big_prefix) - 1);
	expect_bad_len(big, big_len, "limit");
	free(big);
}

/* ---------------------------------------------------------------- writers */

static void expect_response(struct xr_value *v, const char *want)
{
	char *doc = xr_write_response(v);

	assert_non_null(doc);
	assert_string_equal(doc, want);
	free(doc);
	xr_free(v);
}

static void test_write_nil(void **state)
{
	expect_response(xr_nil(),
			"<?xml version='1.0'?>\n"
			"<methodResponse>\n"
			"<params>\n"
			"<param>\n"
			"<value><nil/></value></param>\n"
			"</params>\n"
			"</methodResponse>\n");
}

static void test_write_string(void **state)
{
	expect_response(xr_string("a&b<c>d\"e'f \xc3\xa9\xe2\x82\xac \xf0\x9d\x84\x9e"),
			"<?xml version='1.0'?>\n"
			"<methodResponse>\n"
			"<params>\n"
			"<param>\n"
			"<value><string>a&amp;b&lt;c&gt;d\"e'f \xc3\xa9\xe2\x82\xac "
			"\xf0\x9d\x84\x9e</string></value>\n"
			"</param>\n"
			"</params>\n"
			"</methodResponse>\n");
}

static void test_write_struct(void **state)
{
	struct xr_value *st = xr_struct();

	assert_int_equal(xr_struct_set_string(st, "location",
					      "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e"), 0);
	assert_int_equal(xr_struct_set_string(st, "uuid", "placeholder"), 0);
	/* Replacing keeps the position. */
	assert_int_equal(xr_struct_set_string(st, "uuid",
					      "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e"), 0);
	expect_response(st,
			"<?xml version='1.0'?>\n"
			"<methodResponse>\n"
			"<params>\n"
			"<param>\n"
			"<value><struct>\n"
			"<member>\n"
			"<name>location</name>\n"
			"<value><string>b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e</string></value>\n"
			"</member>\n"
			"<member>\n"
			"<name>uuid</name>\n"
			"<value><string>b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e</string></value>\n"
			"</member>\n"
			"</struct></value>\n"
			"</param>\n"
			"</params>\n"
			"</methodResponse>\n");
}

/* [1, [True, False, []], {'k': [-5, 'x'], 'e': {}}, "", 2147483647] */
static void test_write_nested(void **state)
{
	struct xr_value *top = xr_array(), *inner = xr_array(), *st = xr_struct(),
			*k = xr_array();

	assert_int_equal(xr_array_append(top, xr_int(1)), 0);
	assert_int_equal(xr_array_append(inner, xr_bool(true)), 0);
	assert_int_equal(xr_array_append(inner, xr_bool(false)), 0);
	assert_int_equal(xr_array_append(inner, xr_array()), 0);
	assert_int_equal(xr_array_append(top, inner), 0);
	assert_int_equal(xr_array_append(k, xr_int(-5)), 0);
	assert_int_equal(xr_array_append(k, xr_string("x")), 0);
	assert_int_equal(xr_struct_set(st, "k", k), 0);
	assert_int_equal(xr_struct_set(st, "e", xr_struct()), 0);
	assert_int_equal(xr_array_append(top, st), 0);
	assert_int_equal(xr_array_append(top, xr_string("")), 0);
	assert_int_equal(xr_array_append(top, xr_int(2147483647)), 0);
	expect_response(top,
			"<?xml version='1.0'?>\n"
			"<methodResponse>\n"
			"<params>\n"
			"<param>\n"
			"<value><array><data>\n"
			"<value><int>1</int></value>\n"
			"<value><array><data>\n"
			"<value><boolean>1</boolean></value>\n"
			"<value><boolean>0</boolean></value>\n"
			"<value><array><data>\n"
			"</data></array></value>\n"
			"</data></array></value>\n"
			"<value><struct>\n"
			"<member>\n"
			"<name>k</name>\n"
			"<value><array><data>\n"
			"<value><int>-5</int></value>\n"
			"<value><string>x</string></value>\n"
			"</data></array></value>\n"
			"</member>\n"
			"<member>\n"
			"<name>e</name>\n"
			"<value><struct>\n"
			"</struct></value>\n"
			"</member>\n"
			"</struct></value>\n"
			"<value><string></string></value>\n"
			"<value><int>2147483647</int></value>\n"
			"</data></array></value>\n"
			"</param>\n"
			"</params>\n"
			"</methodResponse>\n");
}

static void test_write_bool_int(void **state)
{
	expect_response(xr_bool(true),
			"<?xml version='1.0'?>\n"
			"<methodResponse>\n"
			"<params>\n"
			"<param>\n"
			"<value><boolean>1</boolean></value>\n"
			"</param>\n"
			"</params>\n"
			"</methodResponse>\n");
	expect_response(xr_int(-42),
			"<?xml version='1.0'?>\n"
			"<methodResponse>\n"
			"<params>\n"
			"<param>\n"
			"<value><int>-42</int></value>\n"
			"</param>\n"
			"</params>\n"
			"</methodResponse>\n");
}

/* repr(float) for each, as Python 3 prints it. */
static void test_write_double(void **state)
{
	static const struct {
		double d;
		const char *repr;
	} cases[] = {
		{ 1.0, "1.0" },
		{ 1e+16, "1e+16" },
		{ 1000000000000000.0, "1000000000000000.0" },
		{ 1.5e-05, "1.5e-05" },
		{ 0.0001, "0.0001" },
		{ 0.1, "0.1" },
		{ 0.3333333333333333, "0.3333333333333333" },
		{ -0.0, "-0.0" },
		{ 1.2345678901234568e+17, "1.2345678901234568e+17" },
		{ 5e-324, "5e-324" },
		{ 1.7976931348623157e+308, "1.7976931348623157e+308" },
		{ -2.5, "-2.5" },
		{ 100.0, "100.0" },
		{ 0.00012345, "0.00012345" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sm_buf b = SM_BUF_INIT;
		struct xr_value *v = xr_double(cases[i].d);
		char want[128];

		snprintf(want, sizeof(want), "<value><double>%s</double></value>\n",
			 cases[i].repr);
		xr_write_value(&b, v);
		assert_string_equal(b.data, want);
		buf_free(&b);
		xr_free(v);
	}
}

static const char fault94[] =
	"<?xml version='1.0'?>\n"
	"<methodResponse>\n"
	"<fault>\n"
	"<value><struct>\n"
	"<member>\n"
	"<name>faultCode</name>\n"
	"<value><int>94</int></value>\n"
	"</member>\n"
	"<member>\n"
	"<name>faultString</name>\n"
	"<value><string>The request is missing the location parameter</string></value>\n"
	"</member>\n"
	"</struct></value>\n"
	"</fault>\n"
	"</methodResponse>\n";

static void test_write_fault(void **state)
{
	struct sm_error err = { 0 };
	char *fs, *doc;

	sm_fail(&err, SME_CONFIG_LOCATION_MISSING, NULL);
	fs = sm_error_fault_string(&err);
	doc = xr_write_fault(err.code, fs);
	assert_string_equal(doc, fault94);
	free(doc);
	free(fs);
}

/* XML 1.0 cannot carry these: dropped, as xapi drops them. */
static void test_write_sanitises(void **state)
{
	struct sm_buf b = SM_BUF_INIT;
	struct xr_value *v = xr_string("a\x01""b\x1f""c\td\ne\rf\x7f");

	xr_write_value(&b, v);
	assert_string_equal(b.data, "<value><string>abc\td\ne\rf\x7f</string></value>\n");
	buf_free(&b);
	xr_free(v);

	/* Invalid UTF-8, surrogates and U+FFFF become U+FFFD. */
	v = xr_string("x\xff""y\xc3""z\xed\xa0\x80\xef\xbf\xbf");
	xr_write_value(&b, v);
	assert_string_equal(b.data, "<value><string>x\xef\xbf\xbdy\xef\xbf\xbdz"
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd</string></value>\n");
	buf_free(&b);
	xr_free(v);
}

static void test_write_call_xapi(void **state)
{
	struct xr_value *params = xr_array(), *st = xr_struct(), *dc = xr_struct();
	char *doc;

	assert_int_equal(xr_struct_set_string(st, "host_ref",
			 "OpaqueRef:6f4e3f0a-93b1-4c3e-9d0b-2b1c3f6b7d11"), 0);
	assert_int_equal(xr_struct_set_string(st, "command", "sr_scan"), 0);
	assert_int_equal(xr_struct_set(st, "args", xr_array()), 0);
	assert_int_equal(xr_struct_set_string(dc, "SRmaster", "true"), 0);
	assert_int_equal(xr_struct_set_string(dc, "server", "10.0.0.5"), 0);
	assert_int_equal(xr_struct_set_string(dc, "serverpath", "/exports/xs"), 0);
	assert_int_equal(xr_struct_set(st, "device_config", dc), 0);
	assert_int_equal(xr_struct_set_string(st, "session_ref",
			 "OpaqueRef:0c4b7a2e-1f5d-4e8a-b6a1-7d2f9e3c5a40"), 0);
	assert_int_equal(xr_struct_set_string(st, "sr_ref",
			 "OpaqueRef:a1b2c3d4-0000-4000-8000-000000000001"), 0);
	assert_int_equal(xr_struct_set_string(st, "sr_uuid",
			 "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"), 0);
	assert_int_equal(xr_struct_set_string(st, "subtask_of",
			 "OpaqueRef:5e6f7a8b-1111-4222-8333-444455556666"), 0);
	assert_int_equal(xr_array_append(params, st), 0);
	doc = xr_write_call("sr_scan", params, XR_STYLE_XAPI);
	assert_string_equal(doc, req_sr_scan);
	free(doc);
	xr_free(params);

	/* xml-light2 escaping: quotes too, control characters dropped. */
	params = xr_array();
	assert_int_equal(xr_array_append(params, xr_string("a\"b'c<&>\x02")), 0);
	assert_int_equal(xr_array_append(params, xr_string("")), 0);
	doc = xr_write_call("m", params, XR_STYLE_XAPI);
	assert_string_equal(doc, "<methodCall><methodName>m</methodName><params>"
			    "<param><value>a&quot;b'c&lt;&amp;&gt;</value></param>"
			    "<param><value/></param></params></methodCall>");
	free(doc);
	xr_free(params);

	/* Every §1.8 request survives parse → write unchanged. */
	{
		const char *reqs[] = { req_vdi_create, req_sr_scan, req_vdi_attach,
				       req_sr_get_driver_info };

		for (size_t i = 0; i < 4; i++) {
			struct sm_error err = { 0 };
			char *method;

			assert_int_equal(xr_parse_call(reqs[i], strlen(reqs[i]), &method,
						       &params, &err), 0);
			doc = xr_write_call(method, params, XR_STYLE_XAPI);
			assert_string_equal(doc, reqs[i]);
			free(doc);
			free(method);
			xr_free(params);
		}
	}
}

static void test_write_call_python(void **state)
{
	struct xr_value *params = build_py_call_params();
	char *doc = xr_write_call("sr_scan", params, XR_STYLE_PYTHON);

	assert_string_equal(doc, py_call);
	free(doc);
	xr_free(params);

	params = xr_array();
	doc = xr_write_call("m", params, XR_STYLE_PYTHON);
	assert_string_equal(doc, "<?xml version='1.0'?>\n<methodCall>\n<methodName>m"
			    "</methodName>\n<params>\n</params>\n</methodCall>\n");
	free(doc);
	xr_free(params);
}

/*
 * <dateTime.iso8601> is its own type (XenAPI checks snapshot_time is one):
 * parsed with its text kept, written back as the same element in every
 * style.  The expected bytes are xmlrpc.client.dumps((DateTime(
 * "20261127T22:00:00Z"),), methodresponse=True) and xapi's layout.
 */
static void test_datetime(void **state)
{
	struct xr_value *v = parse_one("<value><dateTime.iso8601>20261127T22:00:00Z"
				       "</dateTime.iso8601></value>"), *params;
	char *doc;

	assert_int_equal(v->type, XR_DATETIME);
	assert_string_equal(v->u.str, "20261127T22:00:00Z");
	/* Not a string to callers that want one. */
	params = xr_struct();
	assert_int_equal(xr_struct_set(params, "t", v), 0);
	assert_null(xr_struct_get_string(params, "t"));
	xr_free(params);

	expect_response(xr_datetime_text("20261127T22:00:00Z"),
			"<?xml version='1.0'?>\n"
			"<methodResponse>\n"
			"<params>\n"
			"<param>\n"
			"<value><dateTime.iso8601>20261127T22:00:00Z</dateTime.iso8601></value>\n"
			"</param>\n"
			"</params>\n"
			"</methodResponse>\n");

	/* The constructor: UTC, YYYYMMDDTHH:MM:SSZ. */
	v = xr_datetime(0);
	assert_int_equal(v->type, XR_DATETIME);
	assert_string_equal(v->u.str, "19700101T00:00:00Z");
	xr_free(v);
	v = xr_datetime(1795816800);
	assert_string_equal(v->u.str, "20261127T22:00:00Z");

	params = xr_array();
	assert_int_equal(xr_array_append(params, v), 0);
	doc = xr_write_call("m", params, XR_STYLE_XAPI);
	assert_string_equal(doc, "<methodCall><methodName>m</methodName><params><param>"
			    "<value><dateTime.iso8601>20261127T22:00:00Z</dateTime.iso8601>"
			    "</value></param></params></methodCall>");
	free(doc);
	doc = xr_write_call("m", params, XR_STYLE_PYTHON);
	assert_string_equal(doc, "<?xml version='1.0'?>\n<methodCall>\n<methodName>m"
			    "</methodName>\n<params>\n<param>\n<value><dateTime.iso8601>"
			    "20261127T22:00:00Z</dateTime.iso8601></value>\n</param>\n"
			    "</params>\n</methodCall>\n");
	xr_free(params);

	/* Round trip through the parser keeps type and text. */
	{
		struct sm_error err = { 0 };
		char *method;

		assert_int_equal(xr_parse_call(doc, strlen(doc), &method, &params, &err), 0);
		assert_int_equal(params->u.arr.items[0]->type, XR_DATETIME);
		assert_string_equal(params->u.arr.items[0]->u.str, "20261127T22:00:00Z");
		free(method);
		xr_free(params);
	}
	free(doc);
}

/* ---------------------------------------------------------------- round trips */

static void test_roundtrip_response(void **state)
{
	struct xr_value *orig = build_py_call_params(), *back = NULL;
	struct sm_error err = { 0 };
	bool is_fault = true;
	char *doc, *doc2;

	assert_int_equal(xr_array_append(orig, xr_nil()), 0);
	assert_int_equal(xr_array_append(orig, xr_int(INT64_MIN)), 0);
	assert_int_equal(xr_array_append(orig, xr_bool(true)), 0);
	assert_int_equal(xr_array_append(orig, xr_double(0.1)), 0);
	assert_int_equal(xr_array_append(orig, xr_string(" \n ")), 0);
	doc = xr_write_response(orig);
	assert_int_equal(xr_parse_response(doc, strlen(doc), &back, &is_fault, &err), 0);
	assert_false(is_fault);
	doc2 = xr_write_response(back);
	assert_string_equal(doc, doc2);
	assert_int_equal(back->u.arr.items[1]->type, XR_NIL);
	assert_true(back->u.arr.items[2]->u.i == INT64_MIN);
	assert_true(back->u.arr.items[4]->u.d == 0.1);
	assert_string_equal(back->u.arr.items[5]->u.str, " \n ");
	free(doc);
	free(doc2);
	xr_free(back);
	xr_free(orig);
}

static void test_roundtrip_fault(void **state)
{
	struct xr_value *back = NULL;
	struct sm_error err = { 0 };
	bool is_fault = false;

	assert_int_equal(xr_parse_response(fault94, strlen(fault94), &back, &is_fault,
					   &err), 0);
	assert_true(is_fault);
	assert_int_equal(xr_struct_get(back, "faultCode")->u.i, 94);
	assert_string_equal(xr_struct_get_string(back, "faultString"),
			    "The request is missing the location parameter");
	xr_free(back);
}

static void expect_bad_response(const char *doc, const char *detail_part)
{
	struct xr_value *back = (struct xr_value *)1;
	struct sm_error err = { 0 };
	bool is_fault;

	assert_int_equal(xr_parse_response(doc, strlen(doc), &back, &is_fault, &err), -1);
	assert_null(back);
	assert_int_equal(err.code, SME_BAD_REQUEST);
	if (detail_part && !strstr(err.detail, detail_part))
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, detail_part);
}

static void test_parse_response_bad(void **state)
{
	expect_bad_response("", "empty");
	expect_bad_response("<methodCall/>", "root element is <methodCall>");
	expect_bad_response("<methodResponse/>", "empty <methodResponse>");
	expect_bad_response("<methodResponse><params/></methodResponse>",
			    "<params> without <param>");
	expect_bad_response("<methodResponse><params><param><value/></param><param>"
			    "<value/></param></params></methodResponse>", "unexpected <param>");
	expect_bad_response("<methodResponse><params><param><value/></param></params>"
			    "<fault/></methodResponse>", "unexpected <fault>");
	expect_bad_response("<methodResponse><fault><value>x</value></fault>"
			    "</methodResponse>", "<fault> is not a struct");
	expect_bad_response("<methodResponse><fault><value><struct><member><name>"
			    "faultCode</name><value>94</value></member><member><name>"
			    "faultString</name><value>x</value></member></struct></value>"
			    "</fault></methodResponse>", "<fault> is not a struct");
	expect_bad_response("<methodResponse><foo/></methodResponse>", "unexpected <foo>");
}

static void test_value_api(void **state)
{
	struct xr_value *st = xr_struct(), *arr = xr_array(), *s = xr_string(NULL);

	assert_string_equal(s->u.str, "");
	/* The container takes ownership even on failure: no leak here. */
	assert_int_equal(xr_struct_set(arr, "x", xr_string("a")), -1);
	assert_int_equal(xr_array_append(st, xr_string("a")), -1);
	assert_int_equal(xr_struct_set(st, NULL, xr_string("a")), -1);
	assert_int_equal(xr_struct_set(st, "x", NULL), -1);
	assert_null(xr_struct_get(arr, "x"));
	assert_null(xr_struct_get(NULL, "x"));
	assert_null(xr_struct_get_string(s, "x"));
	for (int i = 0; i < 100; i++) {
		char name[16];

		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(xr_struct_set(st, name, xr_int(i)), 0);
		assert_int_equal(xr_array_append(arr, xr_int(i)), 0);
	}
	assert_int_equal(st->u.st.count, 100);
	assert_int_equal(xr_struct_get(st, "k57")->u.i, 57);
	assert_int_equal(arr->u.arr.items[99]->u.i, 99);
	xr_free(st);
	xr_free(arr);
	xr_free(s);
	xr_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_vdi_create),
		cmocka_unit_test(test_parse_sr_scan),
		cmocka_unit_test(test_parse_vdi_attach),
		cmocka_unit_test(test_parse_sr_get_driver_info),
		cmocka_unit_test(test_parse_python_style),
		cmocka_unit_test(test_parse_no_params),
		cmocka_unit_test(test_parse_escapes),
		cmocka_unit_test(test_parse_empty_values),
		cmocka_unit_test(test_parse_scalars),
		cmocka_unit_test(test_parse_nested),
		cmocka_unit_test(test_parse_depth),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_write_nil),
		cmocka_unit_test(test_write_string),
		cmocka_unit_test(test_write_struct),
		cmocka_unit_test(test_write_nested),
		cmocka_unit_test(test_write_bool_int),
		cmocka_unit_test(test_write_double),
		cmocka_unit_test(test_write_fault),
		cmocka_unit_test(test_write_sanitises),
		cmocka_unit_test(test_write_call_xapi),
		cmocka_unit_test(test_write_call_python),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_roundtrip_response),
		cmocka_unit_test(test_roundtrip_fault),
		cmocka_unit_test(test_parse_response_bad),
		cmocka_unit_test(test_value_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
