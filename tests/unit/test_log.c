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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_keys),
		cmocka_unit_test(test_log_request_masks_secrets),
		cmocka_unit_test(test_main_log_masks_secrets),
		cmocka_unit_test(test_main_refused_log_masks_secrets),
		cmocka_unit_test(test_typed_secret_not_echoed),
	};

	unsetenv("SM_LOG_STDERR");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
