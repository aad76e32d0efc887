/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the logging module: which keys are secret, and that a logged
 * request never shows their values.  SM_LOG_STDERR=1 copies the log to
 * stderr, so a forked child's stderr, read through a pipe, is what
 * syslog would have received.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/driver.h"
#include "csm/log.h"
#include "csm/xmlrpc.h"

#define SR_UUID "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"

#define M(n, v)  "<member><name>" n "</name><value>" v "</value></member>"
#define CALL(method, members) \
	"<methodCall><methodName>" method "</methodName><params><param><value><struct>" \
	M("command", method) members "</struct></value></param></params></methodCall>"

/* ---------------------------------------------------------------- helpers */

typedef void (*child_fn)(const void *arg);

/* Run fn(arg) in a child with SM_LOG_STDERR=1; return what it wrote to stderr. */
static char *child_stderr(child_fn fn, const void *arg)
{
	size_t len = 0, cap = 4096;
	int fds[2], status;
	char *out;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		close(fds[1]);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		setenv("SM_LOG_STDERR", "1", 1);
		fn(arg);
		exit(0);
	}
	close(fds[1]);
	out = malloc(cap);
	assert_non_null(out);
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		n = read(fds[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child exit status 0x%x, stderr:\n%s", status, out);
	return out;
}

static void expect_absent(const char *log, const char *secret)
{
	if (strstr(log, secret))
		fail_msg("the log shows \"%s\":\n%s", secret, log);
}

static void expect_present(const char *log, const char *s)
{
	if (!strstr(log, s))
		fail_msg("the log lacks \"%s\":\n%s", s, log);
}

/* ------------------------------------------------------------ secret keys */

static void test_secret_keys(void **state)
{
	static const char *const secret[] = {
		"password", "cifspassword", "chappassword", "incoming_chappassword",
		"chappassword_secret", "incoming_chappassword_secret", "session_ref",
		"mgt_password", "password_secret",
	};
	static const char *const plain[] = {
		"target", "chapuser", "incoming_chapuser", "username", "server",
		"serverpath", "SRmaster", "host_ref", "sr_ref", "vdi_ref", "location",
		"", "pass", "session",
	};

	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (!sm_log_is_secret_key(secret[i]))
			fail_msg("\"%s\" is not treated as secret", secret[i]);
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (sm_log_is_secret_key(plain[i]))
			fail_msg("\"%s\" is treated as secret", plain[i]);
}

/* ------------------------------------------------------- sm_log_request */

static struct xr_value *make_request(void)
{
	struct xr_value *req = xr_struct(), *dconf = xr_struct(), *args = xr_array();
	struct xr_value *nested = xr_struct(), *smc = xr_struct();

	assert_non_null(req);
	assert_int_equal(xr_struct_set_string(req, "command", "sr_attach"), 0);
	assert_int_equal(xr_struct_set_string(dconf, "chappassword", "s3cret"), 0);
	assert_int_equal(xr_struct_set_string(dconf, "target", "x"), 0);
	assert_int_equal(xr_struct_set_string(dconf, "incoming_chappassword", "in-s3cret"), 0);
	assert_int_equal(xr_struct_set_string(dconf, "cifspassword", "cifs-s3cret"), 0);
	assert_int_equal(xr_struct_set(req, "device_config", dconf), 0);
	assert_int_equal(xr_struct_set_string(req, "session_ref", "OpaqueRef:secret"), 0);
	assert_int_equal(xr_struct_set_string(req, "sr_uuid", SR_UUID), 0);
	/* Secrets deeper down and of other types are masked too. */
	assert_int_equal(xr_struct_set_string(nested, "password", "deep-s3cret"), 0);
	assert_int_equal(xr_array_append(args, nested), 0);
	assert_int_equal(xr_array_append(args, xr_string("plain arg")), 0);
	assert_int_equal(xr_struct_set(req, "args", args), 0);
	assert_int_equal(xr_struct_set(smc, "password", xr_int(424242)), 0);
	assert_int_equal(xr_struct_set(req, "sr_sm_config", smc), 0);
	assert_int_equal(xr_struct_set(req, "when", xr_datetime_text("20261127T22:00:00Z")), 0);
	return req;
}

static void log_request_child(const void *arg)
{
	struct xr_value *req = make_request();

	sm_log_open();
	sm_log_request("sr_attach", req);
	xr_free(req);
}

static void test_log_request_masks_secrets(void **state)
{
	char *log = child_stderr(log_request_child, NULL);

	expect_present(log, "sr_attach");
	expect_present(log, "******");
	expect_present(log, "'target': 'x'");
	expect_present(log, "'chappassword': '******'");
	expect_present(log, "'session_ref': '******'");
	expect_present(log, SR_UUID);
	expect_present(log, "plain arg");
	expect_present(log, "'when': <DateTime '20261127T22:00:00Z'>");
	expect_absent(log, "s3cret");
	expect_absent(log, "OpaqueRef:secret");
	expect_absent(log, "424242");
	/* Every line carries the pid, as the Python SM's log does. */
	expect_present(log, "SM: [");
	free(log);
}

/* -------------------------------------------------- sm_main end to end */

static const struct sm_driver empty_driver = {
	.type = "empty",
	.name = "Empty",
	.description = "",
	.vendor = "",
	.copyright = "",
	.driver_version = "0",
	.required_api_version = "1.0",
};

static void main_child(const void *arg)
{
	char *argv[] = { (char *)"EmptySR", (char *)arg, NULL };

	exit(sm_main(&empty_driver, 2, argv));
}

static void test_main_log_masks_secrets(void **state)
{
	static const char doc[] = CALL("sr_attach",
		M("device_config", "<struct>" M("SRmaster", "true") M("chappassword", "s3cret")
		  M("target", "x") "</struct>")
		M("session_ref", "OpaqueRef:secret") M("sr_uuid", SR_UUID));
	char *log = child_stderr(main_child, doc);

	expect_present(log, "sr_attach");
	expect_present(log, "******");
	expect_present(log, "fault 38");
	expect_absent(log, "s3cret");
	expect_absent(log, "OpaqueRef:secret");
	free(log);
}

/* Requests refused by the parser log their fault; no secret in it. */
static void test_main_refused_log_masks_secrets(void **state)
{
	static const char *const docs[] = {
		CALL("sr_attach", M("device_config", "<struct>" M("chappassword", "s3cret")
				   "</struct>") M("sr_uuid", "not-a-uuid")),
		CALL("sr_attach", M("device_config", "<struct>" M("chappassword",
				   "<array><data><value>s3cret</value></data></array>")
				   "</struct>") M("sr_uuid", SR_UUID)),
		CALL("sr_attach", M("device_config", "<struct>" M("chappassword", "s3cret")
				   "</struct>") M("sr_uuid", SR_UUID) M("args", "oops")),
		"<methodCall><methodName>sr_attach</methodName><params><param><value><struct>"
		M("device_config", "<struct>" M("chappassword", "s3cret") "</struct>")
		"</struct></value></param></params>",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char *log = child_stderr(main_child, docs[i]);

		expect_present(log, "fault 143");
		expect_absent(log, "s3cret");
		free(log);
	}
}

/*
 * A secret sent as a typed <int>/<boolean>/<double> value that does not
 * parse must not be quoted in the BadRequest detail, which sm_main logs
 * and prints as the faultString (this once leaked).
 */
static void test_typed_secret_not_echoed(void **state)
{
	static const char *const docs[] = {
		CALL("sr_attach", M("device_config", "<struct>" M("chappassword",
				   "<int>s3cret</int>") "</struct>") M("sr_uuid", SR_UUID)),
		CALL("sr_attach", M("device_config", "<struct>" M("chappassword",
				   "<boolean>s3cret</boolean>") "</struct>") M("sr_uuid", SR_UUID)),
		CALL("sr_attach", M("device_config", "<struct>" M("chappassword",
				   "<double>s3cret</double>") "</struct>") M("sr_uuid", SR_UUID)),
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char *log = child_stderr(main_child, docs[i]);

		expect_present(log, "fault 143");
		expect_absent(log, "s3cret");
		free(log);
	}
}

/* ------------------------------------------- the log line read back */

/* A request with every kind of value and the strings that need escaping. */
static struct xr_value *tricky_request(const char *session)
{
	struct xr_value *req = xr_struct(), *dconf = xr_struct(), *args = xr_array();

	assert_non_null(req);
	assert_int_equal(xr_struct_set_string(req, "command", "vdi_create"), 0);
	assert_int_equal(xr_array_append(args, xr_string("10485760")), 0);
	assert_int_equal(xr_array_append(args, xr_string("it's \"q\" \\ back\nslash\ttab\x01 caf\xc3\xa9 {x}, ]")), 0);
	assert_int_equal(xr_array_append(args, xr_string("")), 0);
	assert_int_equal(xr_array_append(args, xr_int(-42)), 0);
	assert_int_equal(xr_array_append(args, xr_bool(true)), 0);
	assert_int_equal(xr_array_append(args, xr_nil()), 0);
	assert_int_equal(xr_array_append(args, xr_double(0.1)), 0);
	assert_int_equal(xr_struct_set(req, "args", args), 0);
	assert_int_equal(xr_struct_set_string(dconf, "SRmaster", "true"), 0);
	assert_int_equal(xr_struct_set_string(dconf, "location", "/tmp/a 'b'"), 0);
	assert_int_equal(xr_struct_set_string(dconf, "PASSWORD", session), 0);
	assert_int_equal(xr_struct_set(req, "device_config", dconf), 0);
	assert_int_equal(xr_struct_set_string(req, "session_ref", session), 0);
	assert_int_equal(xr_struct_set(req, "vdi_sm_config", xr_struct()), 0);
	assert_int_equal(xr_struct_set_string(req, "sr_uuid", SR_UUID), 0);
	return req;
}

static char *as_call(const char *method, struct xr_value *req)
{
	struct xr_value *params = xr_array();
	char *doc;

	assert_int_equal(xr_array_append(params, req), 0);
	doc = xr_write_call(method, params, XR_STYLE_XAPI);
	assert_non_null(doc);
	xr_free(params);
	return doc;
}

/*
 * format -> parse gives the request back member for member, in order,
 * with the masked secrets (and only those) still "******" and named.
 */
static void test_log_line_round_trip(void **state)
{
	struct xr_value *req = tricky_request("OpaqueRef:s3cret"), *back = NULL;
	char *line = sm_log_format_request("vdi_create", req), *method = NULL, *masked = NULL;
	char prefixed[8192], *want, *got;
	struct sm_error err = { 0 };

	assert_non_null(line);
	assert_null(strchr(line, '\n'));
	expect_absent(line, "s3cret");
	/* As syslog writes it, with its prefix before the command. */
	snprintf(prefixed, sizeof(prefixed), "Nov 27 22:30:01 xcp-host-07 SM: [4242] %s", line);
	assert_int_equal(sm_log_parse_request(prefixed, &method, &back, &masked, &err), 0);
	assert_string_equal(method, "vdi_create");
	assert_string_equal(masked, "PASSWORD, session_ref");
	xr_free(req);
	want = as_call("vdi_create", tricky_request("******"));
	got = as_call(method, back);
	assert_string_equal(got, want);
	free(want);
	free(got);
	free(line);
	free(method);
	free(masked);
}

/* A DateTime as Python's repr (and the log) writes one comes back with its text. */
static void test_log_line_datetime(void **state)
{
	static const char line[] = "SM: [7] vdi_create {'args': [<DateTime '20260101T00:00:00Z'>, 'x']}";
	struct sm_error err = { 0 };
	struct xr_value *req = NULL;
	const struct xr_value *args;
	char *method = NULL, *masked = NULL;

	assert_int_equal(sm_log_parse_request(line, &method, &req, &masked, &err), 0);
	args = xr_struct_get(req, "args");
	assert_non_null(args);
	assert_int_equal(args->u.arr.count, 2);
	assert_int_equal(args->u.arr.items[0]->type, XR_DATETIME);
	assert_string_equal(args->u.arr.items[0]->u.str, "20260101T00:00:00Z");
	xr_free(req);
	free(method);
	free(masked);
	assert_int_equal(sm_log_parse_request("SM: [7] x {'a': <DateTime '2026'}", &method, &req, &masked, &err), -1);
}

/* What is not a request line is refused, saying where. */
static void test_log_line_refused(void **state)
{
	static const char *const bad[] = {
		"SM: [1] vdi_create: /tmp/x.vhd, 10485760 bytes",
		"SM: [1] vdi_create {'a': 'b'",
		"SM: [1] vdi_create {'a': 'b\\q'}",
		"SM: [1] vdi_create {'a' 'b'}",
		"SM: [1] vdi_create {a: 'b'}",
		"SM: [1] vdi_create {'a': 'b'} trailing",
		"SM: [1] vdi_create {'a': 'b\\x00'}",
		"SM: [1] vdi_create {'a': bogus}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sm_error err = { 0 };
		struct xr_value *req = NULL;
		char *method = NULL, *masked = NULL;

		if (sm_log_parse_request(bad[i], &method, &req, &masked, &err) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(err.code, SME_BAD_REQUEST);
		assert_null(req);
		assert_null(method);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_keys),
		cmocka_unit_test(test_log_request_masks_secrets),
		cmocka_unit_test(test_main_log_masks_secrets),
		cmocka_unit_test(test_main_refused_log_masks_secrets),
		cmocka_unit_test(test_typed_secret_not_echoed),
		cmocka_unit_test(test_log_line_round_trip),
		cmocka_unit_test(test_log_line_refused),
		cmocka_unit_test(test_log_line_datetime),
	};

	unsetenv("SM_LOG_STDERR");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
