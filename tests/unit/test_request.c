/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the request module: protocol.md §1.8's literal requests (with
 * the shortened refs and uuids written out) parsed into struct sm_call,
 * and every way a request can be refused.  After a failed call_parse the
 * caller still calls call_free, as sm_main does; the ASan build checks
 * that nothing leaks either way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/driver.h"
#include "csm/error.h"
#include "csm/util.h"
#include "csm/xmlrpc.h"

#define SR_UUID   "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"
#define VDI_UUID  "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e"
#define NEW_UUID  "c0ffee00-1234-4abc-8def-0123456789ab"
#define HOST_REF  "OpaqueRef:6f4e3f0a-93b1-4c3e-9d0b-2b1c3f6b7d11"
#define SESS_REF  "OpaqueRef:0c4b7a2e-1f5d-4e8a-b6a1-7d2f9e3c5a40"
#define SR_REF    "OpaqueRef:a1b2c3d4-0000-4000-8000-000000000001"
#define VDI_REF   "OpaqueRef:9d8c7b6a-5555-4666-8777-888899997777"
#define TASK_REF  "OpaqueRef:5e6f7a8b-1111-4222-8333-444455556666"

/* protocol.md §1.8, one line each. */
static const char req_vdi_create[] =
	"<methodCall><methodName>vdi_create</methodName><params><param><value><struct><member><name>host_ref</name><value>" HOST_REF "</value></member>"
	"<member><name>command</name><value>vdi_create</value></member>"
	"<member><name>args</name><value><array><data><value>10737418240</value><value>data disk</value><value/><value/><value>false</value><value>19700101T00:00:00Z</value><value/><value>false</value></data></array></value></member>"
	"<member><name>device_config</name><value><struct><member><name>SRmaster</name><value>true</value></member>"
	"<member><name>server</name><value>10.0.0.5</value></member>"
	"<member><name>serverpath</name><value>/exports/xs</value></member>"
	"</struct></value></member>"
	"<member><name>session_ref</name><value>" SESS_REF "</value></member>"
	"<member><name>sr_ref</name><value>" SR_REF "</value></member>"
	"<member><name>vdi_type</name><value>user</value></member>"
	"<member><name>sr_uuid</name><value>" SR_UUID "</value></member>"
	"<member><name>vdi_sm_config</name><value><struct/></value></member>"
	"<member><name>subtask_of</name><value>" TASK_REF "</value></member>"
	"</struct></value></param></params></methodCall>";

static const char req_sr_scan[] =
	"<methodCall><methodName>sr_scan</methodName><params><param><value><struct><member><name>host_ref</name><value>" HOST_REF "</value></member>"
	"<member><name>command</name><value>sr_scan</value></member>"
	"<member><name>args</name><value><array><data/></array></value></member>"
	"<member><name>device_config</name><value><struct><member><name>SRmaster</name><value>true</value></member>"
	"<member><name>server</name><value>10.0.0.5</value></member>"
	"<member><name>serverpath</name><value>/exports/xs</value></member>"
	"</struct></value></member>"
	"<member><name>session_ref</name><value>" SESS_REF "</value></member>"
	"<member><name>sr_ref</name><value>" SR_REF "</value></member>"
	"<member><name>sr_uuid</name><value>" SR_UUID "</value></member>"
	"<member><name>subtask_of</name><value>" TASK_REF "</value></member>"
	"</struct></value></param></params></methodCall>";

static const char req_vdi_attach[] =
	"<methodCall><methodName>vdi_attach</methodName><params><param><value><struct><member><name>host_ref</name><value>" HOST_REF "</value></member>"
	"<member><name>command</name><value>vdi_attach</value></member>"
	"<member><name>args</name><value><array><data><value>true</value></data></array></value></member>"
	"<member><name>device_config</name><value><struct><member><name>SRmaster</name><value>false</value></member>"
	"<member><name>server</name><value>10.0.0.5</value></member>"
	"<member><name>serverpath</name><value>/exports/xs</value></member>"
	"</struct></value></member>"
	"<member><name>session_ref</name><value>" SESS_REF "</value></member>"
	"<member><name>sr_ref</name><value>" SR_REF "</value></member>"
	"<member><name>sr_uuid</name><value>" SR_UUID "</value></member>"
	"<member><name>vdi_ref</name><value>" VDI_REF "</value></member>"
	"<member><name>vdi_location</name><value>" VDI_UUID "</value></member>"
	"<member><name>vdi_uuid</name><value>" VDI_UUID "</value></member>"
	"<member><name>subtask_of</name><value>" TASK_REF "</value></member>"
	"<member><name>vdi_on_boot</name><value>persist</value></member>"
	"<member><name>vdi_allow_caching</name><value>false</value></member>"
	"</struct></value></param></params></methodCall>";

static const char req_sr_get_driver_info[] =
	"<methodCall><methodName>sr_get_driver_info</methodName><params><param><value><struct><member><name>host_ref</name><value>" HOST_REF "</value></member>"
	"<member><name>command</name><value>sr_get_driver_info</value></member>"
	"<member><name>args</name><value><array><data/></array></value></member>"
	"<member><name>device_config</name><value><struct/></value></member>"
	"</struct></value></param></params></methodCall>";

/* Building blocks for the requests made up below. */
#define M(n, v)  "<member><name>" n "</name><value>" v "</value></member>"
#define DCONF    M("device_config", "<struct>" M("SRmaster", "true") "</struct>")
#define CALL(method, members) \
	"<methodCall><methodName>" method "</methodName><params><param><value><struct>" \
	members "</struct></value></param></params></methodCall>"

/* ---------------------------------------------------------------- helpers */

static void parse_ok(const char *doc, struct sm_call *c)
{
	struct sm_error err = { 0 };

	if (call_parse(doc, strlen(doc), c, &err) < 0)
		fail_msg("call_parse failed: %d %s", err.code, err.detail);
	assert_int_equal(err.code, SM_OK);
}

/* Refused with code; the detail contains want (when not NULL). */
static void parse_fails(const char *doc, int code, const char *want)
{
	struct sm_error err = { 0 };
	struct sm_call c;

	if (call_parse(doc, strlen(doc), &c, &err) == 0) {
		call_free(&c);
		fail_msg("accepted: %s", doc);
	}
	call_free(&c);
	if (err.code != code)
		fail_msg("code %d (%s), expected %d", err.code, err.detail, code);
	if (want && !strstr(err.detail, want))
		fail_msg("detail \"%s\" does not mention \"%s\"", err.detail, want);
}

/* ------------------------------------------------------- §1.8 requests */

static void test_vdi_create(void **state)
{
	struct sm_error err = { 0 };
	struct sm_call c;
	const char *a;

	parse_ok(req_vdi_create, &c);
	assert_string_equal(c.method, "vdi_create");
	assert_int_equal(c.op, SM_OP_VDI_CREATE);
	assert_string_equal(c.command, "vdi_create");
	assert_string_equal(c.host_ref, HOST_REF);
	assert_string_equal(c.session_ref, SESS_REF);
	assert_string_equal(c.sr_ref, SR_REF);
	assert_string_equal(c.sr_uuid, SR_UUID);
	assert_string_equal(c.vdi_type, "user");
	assert_null(c.vdi_uuid);
	assert_null(c.vdi_ref);
	assert_null(c.vdi_location);
	assert_null(c.new_uuid);
	assert_null(c.vdi_on_boot);
	assert_null(c.driver_params);
	assert_null(c.sr_sm_config);
	assert_non_null(c.vdi_sm_config);
	assert_int_equal(c.vdi_sm_config->type, XR_STRUCT);
	assert_int_equal(c.vdi_sm_config->u.st.count, 0);
	assert_true(c.sr_master);
	assert_non_null(c.req);
	assert_int_equal(c.req->type, XR_STRUCT);

	assert_string_equal(call_dconf(&c, "server"), "10.0.0.5");
	assert_string_equal(call_dconf(&c, "serverpath"), "/exports/xs");
	assert_string_equal(call_dconf(&c, "SRmaster"), "true");
	assert_null(call_dconf(&c, "location"));

	assert_int_equal(call_nargs(&c), 8);
	assert_int_equal(call_arg(&c, 0, &a, &err), 0);
	assert_string_equal(a, "10737418240");
	assert_int_equal(call_arg(&c, 1, &a, &err), 0);
	assert_string_equal(a, "data disk");
	assert_int_equal(call_arg(&c, 2, &a, &err), 0);
	assert_string_equal(a, "");
	assert_int_equal(call_arg(&c, 5, &a, &err), 0);
	assert_string_equal(a, "19700101T00:00:00Z");
	assert_int_equal(call_arg(&c, 7, &a, &err), 0);
	assert_string_equal(a, "false");
	assert_int_equal(err.code, SM_OK);
	assert_int_equal(call_arg(&c, 8, &a, &err), -1);
	assert_int_equal(err.code, SME_BAD_REQUEST);
	assert_non_null(strstr(err.detail, "vdi_create"));

	/* No vdi_uuid in the request: a fresh one is made up. */
	assert_non_null(call_vdi_uuid(&c));
	assert_true(sm_uuid_valid(call_vdi_uuid(&c)));
	assert_int_equal(call_vdi_uuid(&c)[14], '4');
	call_free(&c);
}

static void test_vdi_create_generates_distinct_uuids(void **state)
{
	struct sm_call c1, c2;

	parse_ok(req_vdi_create, &c1);
	parse_ok(req_vdi_create, &c2);
	assert_string_not_equal(call_vdi_uuid(&c1), call_vdi_uuid(&c2));
	call_free(&c1);
	call_free(&c2);
}

static void test_vdi_create_with_uuid(void **state)
{
	static const char doc[] = CALL("vdi_create",
		M("command", "vdi_create") DCONF M("sr_uuid", SR_UUID)
		M("vdi_uuid", VDI_UUID)
		M("args", "<array><data><value>1024</value></data></array>"));
	struct sm_call c;

	parse_ok(doc, &c);
	assert_string_equal(c.vdi_uuid, VDI_UUID);
	assert_string_equal(call_vdi_uuid(&c), VDI_UUID);
	assert_string_equal(c.generated_uuid, "");
	call_free(&c);
}

static void test_sr_scan(void **state)
{
	struct sm_error err = { 0 };
	struct sm_call c;
	const char *a = NULL;

	parse_ok(req_sr_scan, &c);
	assert_string_equal(c.method, "sr_scan");
	assert_int_equal(c.op, SM_OP_SR_SCAN);
	assert_string_equal(c.sr_uuid, SR_UUID);
	assert_string_equal(c.session_ref, SESS_REF);
	assert_true(c.sr_master);
	assert_null(c.vdi_uuid);
	assert_null(call_vdi_uuid(&c));
	assert_int_equal(call_nargs(&c), 0);
	assert_int_equal(call_arg(&c, 0, &a, &err), -1);
	assert_int_equal(err.code, SME_BAD_REQUEST);
	assert_non_null(strstr(err.detail, "sr_scan"));
	assert_null(a);
	call_free(&c);
}

static void test_vdi_attach(void **state)
{
	struct sm_error err = { 0 };
	struct sm_call c;
	const char *a;

	parse_ok(req_vdi_attach, &c);
	assert_int_equal(c.op, SM_OP_VDI_ATTACH);
	assert_string_equal(c.command, "vdi_attach");
	assert_string_equal(c.host_ref, HOST_REF);
	assert_string_equal(c.sr_ref, SR_REF);
	assert_string_equal(c.sr_uuid, SR_UUID);
	assert_string_equal(c.vdi_ref, VDI_REF);
	assert_string_equal(c.vdi_location, VDI_UUID);
	assert_string_equal(c.vdi_uuid, VDI_UUID);
	assert_string_equal(c.vdi_on_boot, "persist");
	assert_string_equal(call_vdi_uuid(&c), VDI_UUID);
	assert_false(c.sr_master);
	assert_int_equal(call_nargs(&c), 1);
	assert_int_equal(call_arg(&c, 0, &a, &err), 0);
	assert_string_equal(a, "true");
	assert_string_equal(call_dconf(&c, "SRmaster"), "false");
	call_free(&c);
}

static void test_sr_get_driver_info(void **state)
{
	struct sm_call c;

	parse_ok(req_sr_get_driver_info, &c);
	assert_int_equal(c.op, SM_OP_COUNT);
	assert_string_equal(c.method, "sr_get_driver_info");
	assert_null(c.sr_uuid);
	assert_non_null(c.dconf);
	assert_int_equal(c.dconf->u.st.count, 0);
	assert_false(c.sr_master);
	assert_int_equal(call_nargs(&c), 0);
	call_free(&c);
}

static void test_python_style_request(void **state)
{
	/* What xmlrpc.client.dumps writes: declaration, <string>, newlines. */
	static const char doc[] =
		"<?xml version='1.0'?>\n<methodCall>\n<methodName>sr_scan</methodName>\n"
		"<params>\n<param>\n<value><struct>\n"
		"<member>\n<name>command</name>\n<value><string>sr_scan</string></value>\n</member>\n"
		"<member>\n<name>sr_uuid</name>\n<value><string>" SR_UUID "</string></value>\n</member>\n"
		"<member>\n<name>device_config</name>\n<value><struct>\n"
		"<member>\n<name>SRmaster</name>\n<value><string>false</string></value>\n</member>\n"
		"</struct></value>\n</member>\n"
		"</struct></value>\n</param>\n</params>\n</methodCall>\n";
	struct sm_call c;

	parse_ok(doc, &c);
	assert_int_equal(c.op, SM_OP_SR_SCAN);
	assert_string_equal(c.sr_uuid, SR_UUID);
	assert_false(c.sr_master);
	call_free(&c);
}

static void test_no_args_member(void **state)
{
	static const char doc[] = CALL("sr_scan", DCONF M("sr_uuid", SR_UUID));
	struct sm_error err = { 0 };
	struct sm_call c;
	const char *a;

	parse_ok(doc, &c);
	assert_null(c.command);
	assert_non_null(c.args);
	assert_int_equal(call_nargs(&c), 0);
	assert_int_equal(call_arg(&c, 0, &a, &err), -1);
	assert_int_equal(err.code, SME_BAD_REQUEST);
	call_free(&c);
}

static void test_sr_master_values(void **state)
{
	static const char absent[] = CALL("sr_scan",
		M("device_config", "<struct/>") M("sr_uuid", SR_UUID));
	static const char odd[] = CALL("sr_scan",
		M("device_config", "<struct>" M("SRmaster", "True") "</struct>")
		M("sr_uuid", SR_UUID));
	struct sm_call c;

	parse_ok(absent, &c);
	assert_false(c.sr_master);
	call_free(&c);
	parse_ok(odd, &c);
	assert_false(c.sr_master);
	call_free(&c);
}

static void test_vdi_introduce(void **state)
{
	static const char doc[] = CALL("vdi_introduce",
		DCONF M("sr_uuid", SR_UUID) M("new_uuid", NEW_UUID)
		M("vdi_location", "somewhere"));
	struct sm_call c;

	parse_ok(doc, &c);
	assert_int_equal(c.op, SM_OP_VDI_INTRODUCE);
	assert_null(c.vdi_uuid);
	assert_string_equal(c.new_uuid, NEW_UUID);
	assert_string_equal(call_vdi_uuid(&c), NEW_UUID);
	call_free(&c);
}

static void test_sr_probe_needs_no_sr_uuid(void **state)
{
	static const char doc[] = CALL("sr_probe", DCONF);
	struct sm_call c;

	parse_ok(doc, &c);
	assert_int_equal(c.op, SM_OP_SR_PROBE);
	assert_null(c.sr_uuid);
	call_free(&c);
}

/* Every command name parses to its op. */
static void test_every_op_parses(void **state)
{
	for (int op = 0; op < SM_OP_COUNT; op++) {
		const char *name = sm_op_name((enum sm_op)op);
		struct sm_error err = { 0 };
		struct sm_call c;
		char *doc;

		assert_non_null(name);
		assert_true(asprintf(&doc,
			"<methodCall><methodName>%s</methodName><params><param><value><struct>"
			M("command", "%s") DCONF M("sr_uuid", SR_UUID) M("vdi_uuid", VDI_UUID)
			M("new_uuid", NEW_UUID)
			"</struct></value></param></params></methodCall>", name, name) > 0);
		if (call_parse(doc, strlen(doc), &c, &err) < 0)
			fail_msg("%s: %d %s", name, err.code, err.detail);
		assert_int_equal(c.op, op);
		assert_string_equal(call_vdi_uuid(&c), VDI_UUID);
		call_free(&c);
		free(doc);
	}
}

static void test_op_names_and_capabilities(void **state)
{
	assert_string_equal(sm_op_name(SM_OP_SR_CREATE), "sr_create");
	assert_string_equal(sm_op_name(SM_OP_VDI_EPOCH_END), "vdi_epoch_end");
	assert_string_equal(sm_op_capability(SM_OP_SR_CREATE), "SR_CREATE");
	assert_string_equal(sm_op_capability(SM_OP_VDI_CREATE), "VDI_CREATE");
	assert_string_equal(sm_op_capability(SM_OP_VDI_RESIZE_ONLINE), "VDI_RESIZE_ONLINE");
	assert_string_equal(sm_op_capability(SM_OP_VDI_GENERATE_CONFIG), "VDI_GENERATE_CONFIG");
	assert_null(sm_op_capability(SM_OP_SR_CONTENT_TYPE));
	assert_null(sm_op_capability(SM_OP_VDI_ATTACH_FROM_CONFIG));
	assert_null(sm_op_capability(SM_OP_VDI_EPOCH_BEGIN));
	assert_null(sm_op_name(SM_OP_COUNT));
	assert_null(sm_op_capability(SM_OP_COUNT));
	/* Names are distinct, and capabilities are the upper-case names. */
	for (int i = 0; i < SM_OP_COUNT; i++) {
		const char *cap = sm_op_capability((enum sm_op)i);
		const char *name = sm_op_name((enum sm_op)i);

		for (int j = i + 1; j < SM_OP_COUNT; j++)
			assert_string_not_equal(name, sm_op_name((enum sm_op)j));
		if (cap) {
			assert_int_equal(strlen(cap), strlen(name));
			for (size_t k = 0; name[k]; k++)
				assert_int_equal(cap[k], name[k] >= 'a' && name[k] <= 'z' ?
						 name[k] - 'a' + 'A' : name[k]);
		}
	}
}

/* --------------------------------------------------------------- refusals */

static void test_missing_device_config(void **state)
{
	parse_fails(CALL("sr_scan", M("command", "sr_scan") M("sr_uuid", SR_UUID)),
		    SME_BAD_REQUEST, "device_config");
	parse_fails(CALL("sr_get_driver_info", M("command", "sr_get_driver_info")),
		    SME_BAD_REQUEST, "device_config");
}

static void test_method_command_mismatch(void **state)
{
	parse_fails(CALL("sr_scan", M("command", "sr_delete") DCONF M("sr_uuid", SR_UUID)),
		    SME_BAD_REQUEST, "sr_delete");
	parse_fails(CALL("sr_get_driver_info", M("command", "sr_scan") DCONF),
		    SME_BAD_REQUEST, NULL);
}

static void test_unknown_command(void **state)
{
	parse_fails(CALL("sr_frobnicate", M("command", "sr_frobnicate") DCONF
			 M("sr_uuid", SR_UUID)),
		    SME_BAD_REQUEST, "sr_frobnicate");
	parse_fails(CALL("vdi_enable_cbt", DCONF M("sr_uuid", SR_UUID) M("vdi_uuid", VDI_UUID)),
		    SME_BAD_REQUEST, "vdi_enable_cbt");
	parse_fails(CALL("SR_SCAN", DCONF M("sr_uuid", SR_UUID)), SME_BAD_REQUEST, "SR_SCAN");
}

static void test_bad_uuids(void **state)
{
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", "3F1C0D9E-5D2A-4B7E-9C61-0E8A2B4F7A10")),
		    SME_BAD_REQUEST, "sr_uuid");
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", "../../../../etc")),
		    SME_BAD_REQUEST, "sr_uuid");
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", "")), SME_BAD_REQUEST, "sr_uuid");
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", "{" SR_UUID "}")),
		    SME_BAD_REQUEST, "sr_uuid");
	parse_fails(CALL("vdi_attach", DCONF M("sr_uuid", SR_UUID)
			 M("vdi_uuid", "../" SR_UUID)),
		    SME_BAD_REQUEST, "vdi_uuid");
	parse_fails(CALL("vdi_delete", DCONF M("sr_uuid", SR_UUID)
			 M("vdi_uuid", "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5")),
		    SME_BAD_REQUEST, "vdi_uuid");
	parse_fails(CALL("vdi_introduce", DCONF M("sr_uuid", SR_UUID) M("new_uuid", "x")),
		    SME_BAD_REQUEST, "new_uuid");
	/* A bad one is refused even by a command that does not need it. */
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", SR_UUID) M("vdi_uuid", "/etc/passwd")),
		    SME_BAD_REQUEST, "vdi_uuid");
}

static void test_required_uuids_missing(void **state)
{
	parse_fails(CALL("sr_scan", DCONF), SME_BAD_REQUEST, "sr_uuid");
	parse_fails(CALL("vdi_create", DCONF), SME_BAD_REQUEST, "sr_uuid");
	parse_fails(CALL("vdi_attach", DCONF M("sr_uuid", SR_UUID)), SME_BAD_REQUEST,
		    "vdi_uuid");
	parse_fails(CALL("vdi_delete", DCONF M("sr_uuid", SR_UUID)), SME_BAD_REQUEST,
		    "vdi_uuid");
	parse_fails(CALL("vdi_introduce", DCONF M("sr_uuid", SR_UUID)), SME_BAD_REQUEST,
		    "new_uuid");
}

static void test_non_string_members(void **state)
{
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", "<int>5</int>")), SME_BAD_REQUEST,
		    "sr_uuid");
	parse_fails(CALL("sr_scan", M("command", "<struct/>") DCONF M("sr_uuid", SR_UUID)),
		    SME_BAD_REQUEST, "command");
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", SR_UUID)
			 M("session_ref", "<array><data/></array>")),
		    SME_BAD_REQUEST, "session_ref");
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", SR_UUID) M("host_ref", "<boolean>1</boolean>")),
		    SME_BAD_REQUEST, "host_ref");
	parse_fails(CALL("vdi_attach", DCONF M("sr_uuid", SR_UUID) M("vdi_uuid", VDI_UUID)
			 M("vdi_location", "<int>1</int>")),
		    SME_BAD_REQUEST, "vdi_location");
	parse_fails(CALL("sr_scan", M("device_config", "just a string") M("sr_uuid", SR_UUID)),
		    SME_BAD_REQUEST, "device_config");
	parse_fails(CALL("sr_scan", M("device_config", "<struct>" M("port", "<int>3260</int>")
				"</struct>") M("sr_uuid", SR_UUID)),
		    SME_BAD_REQUEST, "port");
	parse_fails(CALL("vdi_create", DCONF M("sr_uuid", SR_UUID)
			 M("vdi_sm_config", "<array><data/></array>")),
		    SME_BAD_REQUEST, "vdi_sm_config");
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", SR_UUID) M("driver_params", "x")),
		    SME_BAD_REQUEST, "driver_params");
}

static void test_args_types(void **state)
{
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", SR_UUID) M("args", "10")),
		    SME_BAD_REQUEST, "args");
	parse_fails(CALL("sr_scan", DCONF M("sr_uuid", SR_UUID) M("args", "<struct/>")),
		    SME_BAD_REQUEST, "args");
	parse_fails(CALL("sr_create", DCONF M("sr_uuid", SR_UUID)
			 M("args", "<array><data><value><int>10</int></value></data></array>")),
		    SME_BAD_REQUEST, "args[0]");
	parse_fails(CALL("sr_create", DCONF M("sr_uuid", SR_UUID)
			 M("args", "<array><data><value>a</value><value><array><data/></array></value></data></array>")),
		    SME_BAD_REQUEST, "args[1]");
}

static void test_param_shape(void **state)
{
	parse_fails("<methodCall><methodName>sr_scan</methodName><params/></methodCall>",
		    SME_BAD_REQUEST, NULL);
	parse_fails("<methodCall><methodName>sr_scan</methodName><params><param><value>x</value>"
		    "</param></params></methodCall>", SME_BAD_REQUEST, NULL);
	parse_fails("<methodCall><methodName>sr_scan</methodName><params>"
		    "<param><value><struct>" DCONF M("sr_uuid", SR_UUID) "</struct></value></param>"
		    "<param><value><struct/></value></param></params></methodCall>",
		    SME_BAD_REQUEST, NULL);
	parse_fails("not xml at all", SME_BAD_REQUEST, NULL);
	parse_fails("", SME_BAD_REQUEST, NULL);
	parse_fails("<methodResponse/>", SME_BAD_REQUEST, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vdi_create),
		cmocka_unit_test(test_vdi_create_generates_distinct_uuids),
		cmocka_unit_test(test_vdi_create_with_uuid),
		cmocka_unit_test(test_sr_scan),
		cmocka_unit_test(test_vdi_attach),
		cmocka_unit_test(test_sr_get_driver_info),
		cmocka_unit_test(test_python_style_request),
		cmocka_unit_test(test_no_args_member),
		cmocka_unit_test(test_sr_master_values),
		cmocka_unit_test(test_vdi_introduce),
		cmocka_unit_test(test_sr_probe_needs_no_sr_uuid),
		cmocka_unit_test(test_every_op_parses),
		cmocka_unit_test(test_op_names_and_capabilities),
		cmocka_unit_test(test_missing_device_config),
		cmocka_unit_test(test_method_command_mismatch),
		cmocka_unit_test(test_unknown_command),
		cmocka_unit_test(test_bad_uuids),
		cmocka_unit_test(test_required_uuids_missing),
		cmocka_unit_test(test_non_string_members),
		cmocka_unit_test(test_args_types),
		cmocka_unit_test(test_param_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
