/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The typed XenAPI calls (lib/xapi_db.c) against recorded bytes: the
 * request each writes (the db_introduce body is what Python's
 * xmlrpc.client.dumps writes for VDI.py's _db_introduce arguments,
 * generated once and pasted here) and records answered in xapi's own
 * layout (typeless strings, sizes as strings, <boolean>, a DateTime).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "csm/error.h"
#include "csm/xapi_db.h"
#include "xapi_testutil.h"

#define VDI_UUID "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e"
#define PARENT "c0ffee00-1111-4222-8333-444455556666"

/* xmlrpc.client.dumps(("OpaqueRef:s1", VDI_UUID, "data disk", "", "OpaqueRef:sr1",
 * "user", False, False, {}, VDI_UUID, {}, {"vhd-parent": PARENT}, True,
 * "10737418240", "4608", "OpaqueRef:NULL", True,
 * DateTime("20261127T22:00:00Z"), "OpaqueRef:v0", False), "VDI.db_introduce") */
static const char introduce_body[] =
	"<?xml version='1.0'?>\n"
	"<methodCall>\n"
	"<methodName>VDI.db_introduce</methodName>\n"
	"<params>\n"
	"<param>\n<value><string>OpaqueRef:s1</string></value>\n</param>\n"
	"<param>\n<value><string>" VDI_UUID "</string></value>\n</param>\n"
	"<param>\n<value><string>data disk</string></value>\n</param>\n"
	"<param>\n<value><string></string></value>\n</param>\n"
	"<param>\n<value><string>OpaqueRef:sr1</string></value>\n</param>\n"
	"<param>\n<value><string>user</string></value>\n</param>\n"
	"<param>\n<value><boolean>0</boolean></value>\n</param>\n"
	"<param>\n<value><boolean>0</boolean></value>\n</param>\n"
	"<param>\n<value><struct>\n</struct></value>\n</param>\n"
	"<param>\n<value><string>" VDI_UUID "</string></value>\n</param>\n"
	"<param>\n<value><struct>\n</struct></value>\n</param>\n"
	"<param>\n<value><struct>\n<member>\n<name>vhd-parent</name>\n"
	"<value><string>" PARENT "</string></value>\n</member>\n</struct></value>\n</param>\n"
	"<param>\n<value><boolean>1</boolean></value>\n</param>\n"
	"<param>\n<value><string>10737418240</string></value>\n</param>\n"
	"<param>\n<value><string>4608</string></value>\n</param>\n"
	"<param>\n<value><string>OpaqueRef:NULL</string></value>\n</param>\n"
	"<param>\n<value><boolean>1</boolean></value>\n</param>\n"
	"<param>\n<value><dateTime.iso8601>20261127T22:00:00Z</dateTime.iso8601></value>\n</param>\n"
	"<param>\n<value><string>OpaqueRef:v0</string></value>\n</param>\n"
	"<param>\n<value><boolean>0</boolean></value>\n</param>\n"
	"</params>\n"
	"</methodCall>\n";

#define XAPI_OK(v) \
	"<methodResponse><params><param><value><struct>" \
	"<member><name>Status</name><value>Success</value></member>" \
	"<member><name>Value</name>" v "</member>" \
	"</struct></value></param></params></methodResponse>"

/* Two VDI records as xapi writes them (fields trimmed to a representative set). */
static const char records_xapi_layout[] = XAPI_OK(
	"<value><struct>"
	"<member><name>OpaqueRef:v1</name><value><struct>"
	"<member><name>uuid</name><value>" VDI_UUID "</value></member>"
	"<member><name>name_label</name><value>data &amp; more</value></member>"
	"<member><name>name_description</name><value/></member>"
	"<member><name>allowed_operations</name><value><array><data>"
	"<value>clone</value><value>snapshot</value></data></array></value></member>"
	"<member><name>SR</name><value>OpaqueRef:sr1</value></member>"
	"<member><name>virtual_size</name><value>10737418240</value></member>"
	"<member><name>physical_utilisation</name><value>4608</value></member>"
	"<member><name>type</name><value>user</value></member>"
	"<member><name>sharable</name><value><boolean>0</boolean></value></member>"
	"<member><name>read_only</name><value><boolean>1</boolean></value></member>"
	"<member><name>location</name><value>" VDI_UUID "</value></member>"
	"<member><name>managed</name><value><boolean>1</boolean></value></member>"
	"<member><name>missing</name><value><boolean>0</boolean></value></member>"
	"<member><name>sm_config</name><value><struct>"
	"<member><name>vhd-parent</name><value>" PARENT "</value></member>"
	"<member><name>host_OpaqueRef:h1</name><value>RW</value></member>"
	"</struct></value></member>"
	"<member><name>is_a_snapshot</name><value><boolean>1</boolean></value></member>"
	"<member><name>snapshot_time</name><value><dateTime.iso8601>20261127T22:00:00Z"
	"</dateTime.iso8601></value></member>"
	"</struct></value></member>"
	"<member><name>OpaqueRef:v2</name><value><struct>"
	"<member><name>uuid</name><value>" PARENT "</value></member>"
	"<member><name>name_label</name><value>base copy</value></member>"
	"<member><name>virtual_size</name><value>18446744073709551615</value></member>"
	"<member><name>physical_utilisation</name><value>0</value></member>"
	"<member><name>read_only</name><value><boolean>1</boolean></value></member>"
	"<member><name>managed</name><value><boolean>0</boolean></value></member>"
	"<member><name>sm_config</name><value><struct/></value></member>"
	"</struct></value></member>"
	"</struct></value>");

static void conn_for(struct xapi_conn *c, const struct server *s)
{
	struct sm_error err = { 0 };

	unsetenv("ORIGINATOR");
	unsetenv("TRACEPARENT");
	unsetenv("BAGGAGE");
	assert_int_equal(xapi_conn_init(c, s->sock, "OpaqueRef:s1", NULL, 5000, &err), 0);
}

static void test_db_introduce_bytes(void **state)
{
	char *ok = http_ok(XAPI_OK("<value>OpaqueRef:new</value>"));
	const char *resp[] = { ok };
	struct scan_kv cfg[] = { { .key = "vhd-parent", .value = PARENT } };
	struct xapi_introduce in = {
		.uuid = VDI_UUID, .name_label = "data disk", .sr_ref = "OpaqueRef:sr1",
		.location = VDI_UUID, .sm_config = cfg, .sm_config_count = 1,
		.managed = true, .virtual_size = 10737418240ULL, .physical_utilisation = 4608,
		.is_a_snapshot = true, .snapshot_time = 1795816800, .snapshot_of = "OpaqueRef:v0",
	};
	struct sm_error err = { 0 };
	struct server s;
	struct xapi_conn c;
	char *ref = NULL, *log, *want;

	serve(&s, resp, 1);
	conn_for(&c, &s);
	assert_int_equal(xapi_vdi_db_introduce(&c, &in, &ref, &err), 0);
	assert_string_equal(ref, "OpaqueRef:new");
	xapi_conn_free(&c);
	log = stop(&s);
	assert_true(asprintf(&want, "POST / HTTP/1.1\r\nHost: _var_lib_xcp_xapi\r\n"
			     "Content-Type: text/xml\r\nUser-Agent: csm-xapi/1\r\n"
			     "Content-Length: %zu\r\n\r\n%s", strlen(introduce_body),
			     introduce_body) > 0);
	assert_int_equal(strlen(introduce_body), 1429);
	assert_string_equal(log, want);
	free(want);
	free(log);
	free(ref);
	free(ok);
}

/* NULL label, description, type and snapshot_of: "", "", "user", OpaqueRef:NULL; time 0 is the epoch. */
static void test_db_introduce_defaults(void **state)
{
	char *ok = http_ok(XAPI_OK("<value>OpaqueRef:new</value>"));
	const char *resp[] = { ok };
	struct xapi_introduce in = {
		.uuid = VDI_UUID, .sr_ref = "OpaqueRef:sr1", .location = VDI_UUID,
		.read_only = true,
	};
	struct sm_error err = { 0 };
	struct server s;
	struct xapi_conn c;
	char *ref = NULL, *log;

	serve(&s, resp, 1);
	conn_for(&c, &s);
	assert_int_equal(xapi_vdi_db_introduce(&c, &in, &ref, &err), 0);
	xapi_conn_free(&c);
	log = stop(&s);
	assert_non_null(strstr(log, "<param>\n<value><string>" VDI_UUID "</string></value>\n</param>\n"
				    "<param>\n<value><string></string></value>\n</param>\n"
				    "<param>\n<value><string></string></value>\n</param>\n"
				    "<param>\n<value><string>OpaqueRef:sr1</string></value>\n</param>\n"
				    "<param>\n<value><string>user</string></value>\n</param>\n"
				    "<param>\n<value><boolean>0</boolean></value>\n</param>\n"
				    "<param>\n<value><boolean>1</boolean></value>\n</param>\n"));
	assert_non_null(strstr(log, "<param>\n<value><struct>\n</struct></value>\n</param>\n"
				    "<param>\n<value><boolean>0</boolean></value>\n</param>\n"
				    "<param>\n<value><string>0</string></value>\n</param>\n"
				    "<param>\n<value><string>0</string></value>\n</param>\n"
				    "<param>\n<value><string>OpaqueRef:NULL</string></value>\n</param>\n"
				    "<param>\n<value><boolean>0</boolean></value>\n</param>\n"
				    "<param>\n<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>\n</param>\n"
				    "<param>\n<value><string>OpaqueRef:NULL</string></value>\n</param>\n"));
	free(log);
	free(ref);
	free(ok);
}

#define PARAM(x) "<param>\n<value>" x "</value>\n</param>\n"
#define S(x) "<string>" x "</string>"
#define SESSION PARAM(S("OpaqueRef:s1"))

/* Every setter: method name, then exactly these params (session first). */
static void test_setters_bytes(void **state)
{
	char *ok = http_ok(XAPI_OK("<value/>"));
	char *plugin_ok = http_ok(XAPI_OK("<value>True</value>"));
	char *ref_ok = http_ok(XAPI_OK("<value>OpaqueRef:sr1</value>"));
	char *map_ok = http_ok(XAPI_OK("<value><struct><member><name>paused</name>"
				       "<value>true</value></member><member><name>host_OpaqueRef:h1"
				       "</name><value>RO</value></member></struct></value>"));
	const char *resp[] = { ok, ok, ok, ok, ok, ref_ok, plugin_ok, map_ok };
	struct scan_kv kv[] = { { .key = "vhd-parent", .value = PARENT },
				{ .key = "type", .value = "raw" } };
	struct scan_kv args[] = { { .key = "sr_uuid", .value = "s" },
				  { .key = "vdi_uuid", .value = "v" },
				  { .key = "failfast", .value = "False" } };
	struct scan_kv *got = NULL;
	size_t n = 0;
	struct sm_error err = { 0 };
	struct server s;
	struct xapi_conn c;
	char *ref = NULL, *result = NULL, *log;

	serve(&s, resp, 8);
	conn_for(&c, &s);
	assert_int_equal(xapi_vdi_set_read_only(&c, "OpaqueRef:v", true, &err), 0);
	assert_int_equal(xapi_vdi_set_managed(&c, "OpaqueRef:v", false, &err), 0);
	assert_int_equal(xapi_vdi_add_to_sm_config(&c, "OpaqueRef:v", "paused", "true", &err), 0);
	assert_int_equal(xapi_vdi_remove_from_sm_config(&c, "OpaqueRef:v", "paused", &err), 0);
	assert_int_equal(xapi_vdi_set_sm_config(&c, "OpaqueRef:v", kv, 2, &err), 0);
	assert_int_equal(xapi_sr_get_by_uuid(&c, VDI_UUID, &ref, &err), 0);
	assert_string_equal(ref, "OpaqueRef:sr1");
	assert_int_equal(xapi_host_call_plugin(&c, "OpaqueRef:h1", "tapdisk-pause", "pause",
					       args, 3, &result, &err), 0);
	assert_string_equal(result, "True");
	assert_int_equal(xapi_vdi_get_sm_config(&c, "OpaqueRef:v", &got, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(xapi_kv_get(got, n, "paused"), "true");
	assert_string_equal(xapi_kv_get(got, n, "host_OpaqueRef:h1"), "RO");
	assert_null(xapi_kv_get(got, n, "activating"));
	xapi_conn_free(&c);
	log = stop(&s);
	assert_non_null(strstr(log, "<methodName>VDI.set_read_only</methodName>\n<params>\n" SESSION
				    PARAM(S("OpaqueRef:v")) PARAM("<boolean>1</boolean>") "</params>"));
	assert_non_null(strstr(log, "<methodName>VDI.set_managed</methodName>\n<params>\n" SESSION
				    PARAM(S("OpaqueRef:v")) PARAM("<boolean>0</boolean>") "</params>"));
	assert_non_null(strstr(log, "<methodName>VDI.add_to_sm_config</methodName>\n<params>\n"
				    SESSION PARAM(S("OpaqueRef:v")) PARAM(S("paused"))
				    PARAM(S("true")) "</params>"));
	assert_non_null(strstr(log, "<methodName>VDI.remove_from_sm_config</methodName>\n<params>\n"
				    SESSION PARAM(S("OpaqueRef:v")) PARAM(S("paused")) "</params>"));
	assert_non_null(strstr(log, "<methodName>VDI.set_sm_config</methodName>\n<params>\n"
				    SESSION PARAM(S("OpaqueRef:v"))
				    "<param>\n<value><struct>\n<member>\n<name>vhd-parent</name>\n"
				    "<value><string>" PARENT "</string></value>\n</member>\n"
				    "<member>\n<name>type</name>\n<value><string>raw</string></value>\n"
				    "</member>\n</struct></value>\n</param>\n</params>"));
	assert_non_null(strstr(log, "<methodName>SR.get_by_uuid</methodName>\n<params>\n"
				    SESSION PARAM(S(VDI_UUID)) "</params>"));
	assert_non_null(strstr(log, "<methodName>host.call_plugin</methodName>\n<params>\n"
				    SESSION PARAM(S("OpaqueRef:h1")) PARAM(S("tapdisk-pause"))
				    PARAM(S("pause"))
				    "<param>\n<value><struct>\n"
				    "<member>\n<name>sr_uuid</name>\n<value><string>s</string></value>\n</member>\n"
				    "<member>\n<name>vdi_uuid</name>\n<value><string>v</string></value>\n</member>\n"
				    "<member>\n<name>failfast</name>\n<value><string>False</string></value>\n</member>\n"
				    "</struct></value>\n</param>\n</params>"));
	assert_non_null(strstr(log, "<methodName>VDI.get_sm_config</methodName>\n<params>\n"
				    SESSION PARAM(S("OpaqueRef:v")) "</params>"));
	xapi_kv_free(got, n);
	free(log);
	free(ref);
	free(result);
	free(ok);
	free(plugin_ok);
	free(ref_ok);
	free(map_ok);
}

static void test_records_xapi_layout(void **state)
{
	char *ok = http_ok(records_xapi_layout);
	const char *resp[] = { ok };
	struct xapi_vdi_list l;
	struct xapi_vdi_rec *r;
	struct sm_error err = { 0 };
	struct server s;
	struct xapi_conn c;
	char *log;

	serve(&s, resp, 1);
	conn_for(&c, &s);
	assert_int_equal(xapi_vdi_records_of_sr(&c, "OpaqueRef:sr1", &l, &err), 0);
	xapi_conn_free(&c);
	log = stop(&s);
	/* util.list_VDI_records_in_sr's expression. */
	assert_non_null(strstr(log, "<methodName>VDI.get_all_records_where</methodName>\n<params>\n"
				    SESSION PARAM(S("field \"SR\" = \"OpaqueRef:sr1\"")) "</params>"));
	assert_int_equal(l.count, 2);
	r = xapi_vdi_list_find(&l, VDI_UUID);
	assert_non_null(r);
	assert_string_equal(r->ref, "OpaqueRef:v1");
	assert_string_equal(r->name_label, "data & more");
	assert_string_equal(r->name_description, "");
	assert_string_equal(r->location, VDI_UUID);
	assert_string_equal(r->type, "user");
	assert_int_equal(r->virtual_size, 10737418240ULL);
	assert_int_equal(r->physical_utilisation, 4608);
	assert_true(r->read_only);
	assert_true(r->managed);
	assert_false(r->sharable);
	assert_false(r->missing);
	assert_true(r->is_a_snapshot);
	assert_int_equal(r->sm_config_count, 2);
	assert_string_equal(xapi_vdi_rec_config(r, "vhd-parent"), PARENT);
	assert_string_equal(xapi_vdi_rec_config(r, "host_OpaqueRef:h1"), "RW");
	assert_null(xapi_vdi_rec_config(r, "paused"));
	r = xapi_vdi_list_find(&l, PARENT);
	assert_non_null(r);
	assert_string_equal(r->ref, "OpaqueRef:v2");
	assert_true(r->virtual_size == UINT64_MAX);
	assert_false(r->managed);
	/* Fields the record leaves out read as empty. */
	assert_string_equal(r->location, "");
	assert_int_equal(r->sm_config_count, 0);
	assert_null(xapi_vdi_list_find(&l, "00000000-0000-0000-0000-000000000000"));
	xapi_vdi_list_free(&l);
	free(log);
	free(ok);
}

/* A typed peer (Python's layout) sends <int> sizes: read as well. */
static void test_record_python_layout(void **state)
{
	char *ok = http_ok("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
			   "<value><struct>\n<member>\n<name>Status</name>\n"
			   "<value><string>Success</string></value>\n</member>\n<member>\n"
			   "<name>Value</name>\n<value><struct>\n"
			   "<member>\n<name>uuid</name>\n<value><string>" VDI_UUID "</string></value>\n</member>\n"
			   "<member>\n<name>virtual_size</name>\n<value><int>2097152</int></value>\n</member>\n"
			   "<member>\n<name>read_only</name>\n<value><boolean>0</boolean></value>\n</member>\n"
			   "</struct></value>\n</member>\n</struct></value>\n</param>\n</params>\n"
			   "</methodResponse>\n");
	const char *resp[] = { ok };
	struct xapi_vdi_rec r;
	struct sm_error err = { 0 };
	struct server s;
	struct xapi_conn c;
	char *log;

	serve(&s, resp, 1);
	conn_for(&c, &s);
	assert_int_equal(xapi_vdi_get_record(&c, "OpaqueRef:v9", &r, &err), 0);
	xapi_conn_free(&c);
	log = stop(&s);
	assert_non_null(strstr(log, "<methodName>VDI.get_record</methodName>\n<params>\n"
				    SESSION PARAM(S("OpaqueRef:v9")) "</params>"));
	assert_string_equal(r.ref, "OpaqueRef:v9");
	assert_string_equal(r.uuid, VDI_UUID);
	assert_int_equal(r.virtual_size, 2097152);
	xapi_vdi_rec_free(&r);
	free(log);
	free(ok);
}

/* A record that is not what xapi sends is APIProtocolError, not a guess. */
static void test_record_bad_fields(void **state)
{
	const char *bodies[] = {
		XAPI_OK("<value><struct><member><name>uuid</name><value>" VDI_UUID "</value></member>"
			"<member><name>virtual_size</name><value>12x</value></member></struct></value>"),
		XAPI_OK("<value><struct><member><name>uuid</name><value>" VDI_UUID "</value></member>"
			"<member><name>read_only</name><value>maybe</value></member></struct></value>"),
		XAPI_OK("<value><struct><member><name>uuid</name><value>" VDI_UUID "</value></member>"
			"<member><name>sm_config</name><value>x</value></member></struct></value>"),
		XAPI_OK("<value><struct><member><name>name_label</name><value>x</value></member>"
			"</struct></value>"),
		XAPI_OK("<value>OpaqueRef:v1</value>"),
	};
	const char *want[] = { "virtual_size is not a size", "read_only is not a bool",
			       "sm_config is not a map", "has no uuid", "is not a struct" };

	for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
		char *resp0 = http_ok(bodies[i]);
		const char *resp[] = { resp0 };
		struct xapi_vdi_rec r;
		struct sm_error err = { 0 };
		struct server s;
		struct xapi_conn c;

		serve(&s, resp, 1);
		conn_for(&c, &s);
		assert_int_equal(xapi_vdi_get_record(&c, "OpaqueRef:v1", &r, &err), -1);
		xapi_conn_free(&c);
		free(stop(&s));
		assert_int_equal(err.code, SME_API_PROTOCOL);
		if (!strstr(err.detail, want[i]))
			fail_msg("detail \"%s\" lacks \"%s\"", err.detail, want[i]);
		assert_null(r.ref);
		free(resp0);
	}
}

#define SECRET "s3cr3t-Pa55word"

/* secret.get_by_uuid then secret.get_value; the value reaches the caller only. */
static void test_secret_value(void **state)
{
	char *ref_ok = http_ok(XAPI_OK("<value>OpaqueRef:sec1</value>"));
	char *val_ok = http_ok(XAPI_OK("<value>" SECRET "</value>"));
	const char *resp[] = { ref_ok, val_ok };
	struct sm_error err = { 0 };
	struct server s;
	struct xapi_conn c;
	char *value = NULL, *log;

	serve(&s, resp, 2);
	conn_for(&c, &s);
	assert_int_equal(xapi_secret_value(&c, VDI_UUID, &value, &err), 0);
	assert_string_equal(value, SECRET);
	assert_int_equal(err.code, 0);
	xapi_conn_free(&c);
	log = stop(&s);
	assert_non_null(strstr(log, "<methodName>secret.get_by_uuid</methodName>\n<params>\n"
				    SESSION PARAM(S(VDI_UUID)) "</params>"));
	assert_non_null(strstr(log, "<methodName>secret.get_value</methodName>\n<params>\n"
				    SESSION PARAM(S("OpaqueRef:sec1")) "</params>"));
	free(value);
	free(log);
	free(ref_ok);
	free(val_ok);
}

/* An answer that is not a string, holding the secret: the fault names the uuid only. */
static void test_secret_not_in_fault(void **state)
{
	char *ref_ok = http_ok(XAPI_OK("<value>OpaqueRef:sec1</value>"));
	char *odd = http_ok(XAPI_OK("<value><array><data><value>" SECRET "</value></data></array></value>"));
	char *fail = http_ok("<methodResponse><params><param><value><struct>"
			     "<member><name>Status</name><value>Failure</value></member>"
			     "<member><name>ErrorDescription</name><value><array><data>"
			     "<value>HANDLE_INVALID</value><value>secret</value>"
			     "<value>OpaqueRef:sec1</value></data></array></value></member>"
			     "</struct></value></param></params></methodResponse>");
	const char *resp[] = { ref_ok, odd, ref_ok, fail };
	struct sm_error err = { 0 };
	struct server s;
	struct xapi_conn c;
	char *value = NULL;

	serve(&s, resp, 4);
	conn_for(&c, &s);
	assert_int_equal(xapi_secret_value(&c, VDI_UUID, &value, &err), -1);
	assert_null(value);
	assert_int_equal(err.code, SME_API_PROTOCOL);
	assert_non_null(strstr(err.detail, VDI_UUID));
	assert_null(strstr(err.detail, SECRET));
	sm_error_clear(&err);
	assert_int_equal(xapi_secret_value(&c, VDI_UUID, &value, &err), -1);
	assert_int_equal(err.code, SME_API_FAILURE);
	assert_string_equal(err.detail, "['HANDLE_INVALID', 'secret', 'OpaqueRef:sec1']");
	xapi_conn_free(&c);
	free(stop(&s));
	free(ref_ok);
	free(odd);
	free(fail);
}

static void test_datetime_parse(void **state)
{
	time_t t = 1;

	assert_int_equal(xapi_datetime_parse("20261127T22:00:00Z", &t), 0);
	assert_int_equal(t, 1795816800);
	assert_int_equal(xapi_datetime_parse("19700101T00:00:00", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(xapi_datetime_parse("2026-11-27", &t), -1);
	assert_int_equal(xapi_datetime_parse("20261127T22:00:00Zx", &t), -1);
	assert_int_equal(xapi_datetime_parse("", &t), -1);
	assert_int_equal(xapi_datetime_parse(NULL, &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_introduce_bytes),
		cmocka_unit_test(test_db_introduce_defaults),
		cmocka_unit_test(test_setters_bytes),
		cmocka_unit_test(test_records_xapi_layout),
		cmocka_unit_test(test_record_python_layout),
		cmocka_unit_test(test_record_bad_fields),
		cmocka_unit_test(test_secret_value),
		cmocka_unit_test(test_secret_not_in_fault),
		cmocka_unit_test(test_datetime_parse),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
