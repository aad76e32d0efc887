/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What the unit tests that drive the XenAPI test server (tests/xapi/
 * server.sh) share: a shell command line, and a session from it.
 * Include after cmocka.h, csm/xapi.h and csm/xmlrpc.h.
 */
#ifndef CSM_XAPI_SERVER_TESTUTIL_H
#define CSM_XAPI_SERVER_TESTUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int xts_shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int xts_shell(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	rc = system(cmd);
	free(cmd);
	return rc;
}

/* A session from session.login_with_password(user, password) into out. */
static void xts_login(const char *socket_path, char *out, size_t size)
{
	struct xapi_conn c;
	struct sm_error err = { 0 };
	struct xr_value *pw = xr_string("pw"), *v = NULL;
	const struct xr_value *p[] = { pw };

	/* The client sends its session first: here that is the user name. */
	assert_int_equal(xapi_conn_init(&c, socket_path, "root", NULL, 5000, &err), 0);
	if (xapi_call(&c, "session.login_with_password", p, 1, &v, &err))
		fail_msg("login: %s", err.detail);
	assert_int_equal(v->type, XR_STRING);
	snprintf(out, size, "%s", v->u.str);
	xr_free(v);
	xr_free(pw);
	xapi_conn_free(&c);
}

#endif
