/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the XenAPI client against a forked child serving a Unix
 * socket: the child records the request bytes it read and answers with
 * canned response bytes (xapi's own layout: typeless <value>s, no
 * declaration), or never answers at all.  The expected request body is
 * what Python's xmlrpc.client.dumps((session, uuid), "VDI.get_by_uuid")
 * produces (generated once and pasted here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/error.h"
#include "csm/xapi.h"
#include "csm/xmlrpc.h"
#include "xapi_testutil.h"

#define UUID "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"

static const char expected_request[] =
	"POST / HTTP/1.1\r\n"
	"Host: _var_lib_xcp_xapi\r\n"
	"originator: SM\r\n"
	"Subtask-of: OpaqueRef:task1\r\n"
	"Content-Type: text/xml\r\n"
	"User-Agent: csm-xapi/1\r\n"
	"Content-Length: 257\r\n"
	"\r\n"
	"<?xml version='1.0'?>\n<methodCall>\n<methodName>VDI.get_by_uuid</methodName>\n"
	"<params>\n<param>\n<value><string>OpaqueRef:s1</string></value>\n</param>\n"
	"<param>\n<value><string>" UUID "</string></value>\n</param>\n"
	"</params>\n</methodCall>\n";

#define XAPI_BODY_OK \
	"<methodResponse><params><param><value><struct>" \
	"<member><name>Status</name><value>Success</value></member>" \
	"<member><name>Value</name><value>OpaqueRef:vdi1</value></member>" \
	"</struct></value></param></params></methodResponse>"
#define XAPI_BODY_UUID_INVALID \
	"<methodResponse><params><param><value><struct>" \
	"<member><name>Status</name><value>Failure</value></member>" \
	"<member><name>ErrorDescription</name><value><array><data>" \
	"<value>UUID_INVALID</value><value>VDI</value><value>" UUID "</value>" \
	"</data></array></value></member></struct></value></param></params></methodResponse>"
#define XAPI_BODY_SESSION_INVALID \
	"<methodResponse><params><param><value><struct>" \
	"<member><name>Status</name><value>Failure</value></member>" \
	"<member><name>ErrorDescription</name><value><array><data>" \
	"<value>SESSION_INVALID</value><value>OpaqueRef:s1</value>" \
	"</data></array></value></member></struct></value></param></params></methodResponse>"

static void conn_for(struct xapi_conn *c, const struct server *s, int timeout_ms)
{
	struct sm_error err = { 0 };

	setenv("ORIGINATOR", "SM", 1);
	unsetenv("TRACEPARENT");
	unsetenv("BAGGAGE");
	assert_int_equal(xapi_conn_init(c, s->sock, "OpaqueRef:s1",
					"OpaqueRef:task1", timeout_ms, &err), 0);
}

/* One VDI.get_by_uuid against canned responses; returns the request log. */
static char *get_by_uuid(const char *const responses[], size_t n,
			 int timeout_ms, char **ref, struct sm_error *err,
			 xapi_relogin_fn relogin, void *ctx)
{
	struct server s;
	struct xapi_conn c;
	char *log;

	serve(&s, responses, n);
	conn_for(&c, &s, timeout_ms);
	c.relogin = relogin;
	c.relogin_ctx = ctx;
	xapi_vdi_get_by_uuid(&c, UUID, ref, err);
	xapi_conn_free(&c);
	log = stop(&s);
	return log;
}

static void test_request_bytes_and_success(void **state)
{
	char *ok = http_ok(XAPI_BODY_OK);
	const char *resp[] = { ok };
	struct sm_error err = { 0 };
	char *ref = NULL;
	char *log = get_by_uuid(resp, 1, 5000, &ref, &err, NULL, NULL);

	assert_int_equal(err.code, 0);
	assert_string_equal(ref, "OpaqueRef:vdi1");
	assert_non_null(log);
	assert_string_equal(log, expected_request);
	free(ref);
	free(log);
	free(ok);
}

static void test_build_request_matches_literal(void **state)
{
	struct server s = { .sock = "/nonexistent" };
	struct xapi_conn c;
	struct xr_value *uuid = xr_string(UUID);
	const struct xr_value *p[] = { uuid };
	size_t len = 0;
	char *req;

	conn_for(&c, &s, 1000);
	req = xapi_build_request(&c, "VDI.get_by_uuid", p, 1, &len);
	assert_non_null(req);
	assert_int_equal(len, strlen(expected_request));
	assert_memory_equal(req, expected_request, len);
	free(req);
	xr_free(uuid);
	xapi_conn_free(&c);
}

/* Python's layout (declaration, <string>, newlines) parses as well. */
static void test_python_layout_success(void **state)
{
	char *ok = http_ok("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
			   "<value><struct>\n<member>\n<name>Status</name>\n"
			   "<value><string>Success</string></value>\n</member>\n<member>\n"
			   "<name>Value</name>\n<value><string>OpaqueRef:v1</string></value>\n"
			   "</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n");
	const char *resp[] = { ok };
	struct sm_error err = { 0 };
	char *ref = NULL;
	char *log = get_by_uuid(resp, 1, 5000, &ref, &err, NULL, NULL);

	assert_int_equal(err.code, 0);
	assert_string_equal(ref, "OpaqueRef:v1");
	free(ref);
	free(log);
	free(ok);
}

static int relogin_fails(struct xapi_conn *c, void *ctx, struct sm_error *err)
{
	(*(int *)ctx)++;
	return -1;
}

/* A re-login hook that fails: no retry, the SESSION_INVALID failure is returned. */
static void test_relogin_hook_fails(void **state)
{
	char *bad = http_ok(XAPI_BODY_SESSION_INVALID);
	const char *resp[] = { bad };
	struct sm_error err = { 0 };
	int calls = 0;
	char *ref = NULL;
	char *log = get_by_uuid(resp, 1, 5000, &ref, &err, relogin_fails, &calls);

	assert_int_equal(calls, 1);
	assert_int_equal(err.code, SME_API_FAILURE);
	assert_string_equal(err.detail, "['SESSION_INVALID', 'OpaqueRef:s1']");
	free(log);
	free(bad);
}

#define XAPI_BODY_VOID \
	"<methodResponse><params><param><value><struct>" \
	"<member><name>Status</name><value>Success</value></member>" \
	"<member><name>Value</name><value/></member>" \
	"</struct></value></param></params></methodResponse>"

/* The size setters send (session, ref, size as a decimal string). */
static void test_typed_setters(void **state)
{
	char *ok = http_ok(XAPI_BODY_VOID);
	const char *resp[] = { ok, ok, ok, ok, ok, ok };
	struct sm_error err = { 0 };
	struct server s;
	struct xapi_conn c;
	char *log;

	serve(&s, resp, 6);
	conn_for(&c, &s, 5000);
	assert_int_equal(xapi_sr_set_physical_size(&c, "OpaqueRef:sr", 10737418240ULL, &err), 0);
	assert_int_equal(xapi_sr_set_physical_utilisation(&c, "OpaqueRef:sr", 1, &err), 0);
	assert_int_equal(xapi_sr_set_virtual_allocation(&c, "OpaqueRef:sr", 0, &err), 0);
	assert_int_equal(xapi_vdi_set_virtual_size(&c, "OpaqueRef:v", 18446744073709551615ULL, &err), 0);
	assert_int_equal(xapi_vdi_set_physical_utilisation(&c, "OpaqueRef:v", 512, &err), 0);
	assert_int_equal(xapi_vdi_db_forget(&c, "OpaqueRef:v", &err), 0);
	xapi_conn_free(&c);
	log = stop(&s);
	assert_non_null(strstr(log, "<methodName>SR.set_physical_size</methodName>\n<params>\n"
				    "<param>\n<value><string>OpaqueRef:s1</string></value>\n</param>\n"
				    "<param>\n<value><string>OpaqueRef:sr</string></value>\n</param>\n"
				    "<param>\n<value><string>10737418240</string></value>\n</param>\n"));
	assert_non_null(strstr(log, "<methodName>SR.set_physical_utilisation</methodName>"));
	assert_non_null(strstr(log, "<methodName>SR.set_virtual_allocation</methodName>"));
	assert_non_null(strstr(log, "<methodName>VDI.set_virtual_size</methodName>"));
	assert_non_null(strstr(log, "<value><string>18446744073709551615</string></value>"));
	assert_non_null(strstr(log, "<methodName>VDI.set_physical_utilisation</methodName>"));
	assert_non_null(strstr(log, "<methodName>VDI.db_forget</methodName>\n<params>\n"
				    "<param>\n<value><string>OpaqueRef:s1</string></value>\n</param>\n"
				    "<param>\n<value><string>OpaqueRef:v</string></value>\n</param>\n"
				    "</params>"));
	free(log);
	free(ok);
}

static void test_failure(void **state)
{
	char *fail = http_ok(XAPI_BODY_UUID_INVALID);
	const char *resp[] = { fail };
	struct sm_error err = { 0 };
	char *ref = NULL;
	char *log = get_by_uuid(resp, 1, 5000, &ref, &err, NULL, NULL);

	assert_int_equal(err.code, SME_API_FAILURE);
	assert_string_equal(err.detail, "['UUID_INVALID', 'VDI', '" UUID "']");
	assert_null(ref);
	free(log);
	free(fail);
}

struct relogin_state {
	int calls;
};

static int relogin(struct xapi_conn *c, void *ctx, struct sm_error *err)
{
	struct relogin_state *st = ctx;

	st->calls++;
	return xapi_conn_set_session(c, "OpaqueRef:s2");
}

static void test_session_invalid_retries_once(void **state)
{
	char *bad = http_ok(XAPI_BODY_SESSION_INVALID), *ok = http_ok(XAPI_BODY_OK);
	const char *resp[] = { bad, ok };
	struct relogin_state st = { 0 };
	struct sm_error err = { 0 };
	char *ref = NULL;
	char *log = get_by_uuid(resp, 2, 5000, &ref, &err, relogin, &st);

	assert_int_equal(err.code, 0);
	assert_int_equal(st.calls, 1);
	assert_string_equal(ref, "OpaqueRef:vdi1");
	/* The first request had the old session, the retry the new one. */
	assert_non_null(strstr(log, "<string>OpaqueRef:s1</string>"));
	assert_non_null(strstr(log, "<string>OpaqueRef:s2</string>"));
	free(ref);
	free(log);
	free(bad);
	free(ok);
}

static void test_session_invalid_without_hook(void **state)
{
	char *bad = http_ok(XAPI_BODY_SESSION_INVALID);
	const char *resp[] = { bad };
	struct sm_error err = { 0 };
	char *ref = NULL;
	char *log = get_by_uuid(resp, 1, 5000, &ref, &err, NULL, NULL);

	assert_int_equal(err.code, SME_API_FAILURE);
	assert_string_equal(err.detail, "['SESSION_INVALID', 'OpaqueRef:s1']");
	free(log);
	free(bad);
}

/* A canned response that must give APIProtocolError with this detail. */
static void expect_protocol_error(const char *response, const char *detail)
{
	const char *resp[] = { response };
	struct sm_error err = { 0 };
	char *ref = NULL;
	char *log = get_by_uuid(resp, 1, 5000, &ref, &err, NULL, NULL);

	assert_int_equal(err.code, SME_API_PROTOCOL);
	if (!strstr(err.detail, detail))
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, detail);
	assert_null(ref);
	free(log);
}

static void test_malformed_http(void **state)
{
	expect_protocol_error("garbage\r\n\r\n", "malformed HTTP");
	expect_protocol_error("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n", "malformed HTTP");
	expect_protocol_error("", "malformed HTTP");
	expect_protocol_error("HTTP/1.1 500 Internal Error\r\ncontent-length: 0\r\n\r\n",
			      "HTTP status 500");
	expect_protocol_error("HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
			      "bad Content-Length");
	expect_protocol_error("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnope",
			      "bad XML-RPC body");
}

static void test_short_body(void **state)
{
	expect_protocol_error("HTTP/1.1 200 OK\r\ncontent-length: 400\r\n\r\n"
			      "<methodResponse><params>", "short body (24 of 400 bytes)");
}

static void test_chunked_refused(void **state)
{
	expect_protocol_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "5\r\nhello\r\n0\r\n\r\n", "unsupported Transfer-Encoding chunked");
}

static void test_not_a_result_struct(void **state)
{
	char *r = http_ok("<methodResponse><params><param><value>OpaqueRef:x</value>"
			  "</param></params></methodResponse>");

	expect_protocol_error(r, "without Status");
	free(r);
}

static void test_silent_peer_times_out(void **state)
{
	const char *resp[] = { NULL };
	struct sm_error err = { 0 };
	struct timespec t0, t1;
	char *ref = NULL, *log;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	log = get_by_uuid(resp, 1, 300, &ref, &err, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(err.code, SME_API_PROTOCOL);
	assert_non_null(strstr(err.detail, "timed out waiting for the response"));
	assert_true(ms >= 250 && ms < 3000);
	free(log);
}

static void test_no_socket(void **state)
{
	struct xapi_conn c;
	struct sm_error err = { 0 };
	struct xr_value *v = NULL;

	setenv(XAPI_SOCKET_ENV, "/nonexistent/csm-xapi", 1);
	assert_int_equal(xapi_conn_init(&c, NULL, "OpaqueRef:s1", NULL, 1000, &err), 0);
	assert_string_equal(c.socket_path, "/nonexistent/csm-xapi");
	assert_int_equal(xapi_call(&c, "VDI.get_all", NULL, 0, &v, &err), -1);
	assert_int_equal(err.code, SME_API_PROTOCOL);
	assert_non_null(strstr(err.detail, "connect /nonexistent/csm-xapi"));
	assert_null(v);
	xapi_conn_free(&c);
	unsetenv(XAPI_SOCKET_ENV);
	assert_int_equal(xapi_conn_init(&c, NULL, "OpaqueRef:s1", NULL, 0, &err), 0);
	assert_string_equal(c.socket_path, XAPI_DEFAULT_SOCKET);
	assert_int_equal(c.timeout_ms, XAPI_DEFAULT_TIMEOUT_MS);
	xapi_conn_free(&c);
}

static void test_fault_string(void **state)
{
	struct sm_error err = { 0 };

	sm_fail(&err, SME_API_PROTOCOL, "x");
	assert_string_equal(sm_error_name(SME_API_PROTOCOL), "APIProtocolError");
	assert_string_equal(sm_error_name(SME_API_FAILURE), "APIFailure");
	assert_int_equal(SME_API_PROTOCOL, 154);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_request_matches_literal),
		cmocka_unit_test(test_request_bytes_and_success),
		cmocka_unit_test(test_python_layout_success),
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_typed_setters),
		cmocka_unit_test(test_relogin_hook_fails),
		cmocka_unit_test(test_session_invalid_retries_once),
		cmocka_unit_test(test_session_invalid_without_hook),
		cmocka_unit_test(test_malformed_http),
		cmocka_unit_test(test_short_body),
		cmocka_unit_test(test_chunked_refused),
		cmocka_unit_test(test_not_a_result_struct),
		cmocka_unit_test(test_silent_peer_times_out),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_fault_string),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
