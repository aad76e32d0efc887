/* SPDX-License-Identifier: LGPL-2.1-only */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/log.h"
#include "csm/xmlrpc.h"

static bool log_enabled = true;
static bool log_stderr;

void sm_log_open(void)
{
	const char *e = getenv("SM_LOG_STDERR");

	log_stderr = e && strcmp(e, "1") == 0;
	log_enabled = access("/etc/xensource/no_sm_log", F_OK) != 0;
	if (log_enabled)
		openlog("SM", 0, LOG_LOCAL2);
}

/* One syslog record per line, each prefixed "[pid] " as the Python SM does. */
static void log_lines(int priority, const char *msg)
{
	int pid = (int)getpid();

	while (*msg) {
		size_t n = strcspn(msg, "\n");

		if (log_enabled)
			syslog(priority, "[%d] %.*s", pid, (int)n, msg);
		if (log_stderr)
			fprintf(stderr, "SM: [%d] %.*s\n", pid, (int)n, msg);
		msg += n;
		if (*msg == '\n')
			msg++;
	}
}

void sm_log(int priority, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	if (!log_enabled && !log_stderr)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_lines(priority, msg);
}

int sm_log_is_secret_key(const char *key)
{
	static const char *const secrets[] = {
		"password", "cifspassword", "chappassword", "incoming_chappassword",
		"chappassword_secret", "incoming_chappassword_secret", "session_ref",
	};

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strcmp(key, secrets[i]) == 0)
			return 1;
	/* Anything that looks like a password is masked too: better safe. */
	return strstr(key, "password") != NULL;
}

static void log_value(struct sm_buf *b, const struct xr_value *v, int depth);

static void log_struct(struct sm_buf *b, const struct xr_value *v, int depth)
{
	buf_puts(b, "{");
	for (size_t i = 0; i < v->u.st.count; i++) {
		const struct xr_member *m = &v->u.st.members[i];

		buf_printf(b, "%s'%s': ", i ? ", " : "", m->name);
		if (sm_log_is_secret_key(m->name))
			buf_puts(b, "'******'");
		else
			log_value(b, m->value, depth + 1);
	}
	buf_puts(b, "}");
}

static void log_value(struct sm_buf *b, const struct xr_value *v, int depth)
{
	if (depth > 16) {
		buf_puts(b, "...");
		return;
	}
	switch (v->type) {
	case XR_NIL: buf_puts(b, "None"); break;
	case XR_STRING: buf_printf(b, "'%s'", v->u.str); break;
	/* As Python's repr of xmlrpc.client.DateTime, without the address. */
	case XR_DATETIME: buf_printf(b, "<DateTime '%s'>", v->u.str); break;
	case XR_INT: buf_printf(b, "%lld", (long long)v->u.i); break;
	case XR_BOOL: buf_puts(b, v->u.b ? "True" : "False"); break;
	case XR_DOUBLE: buf_printf(b, "%g", v->u.d); break;
	case XR_STRUCT: log_struct(b, v, depth); break;
	case XR_ARRAY:
		buf_puts(b, "[");
		for (size_t i = 0; i < v->u.arr.count; i++) {
			if (i)
				buf_puts(b, ", ");
			log_value(b, v->u.arr.items[i], depth + 1);
		}
		buf_puts(b, "]");
		break;
	}
}

void sm_log_request(const char *method, const struct xr_value *req)
{
	struct sm_buf b = SM_BUF_INIT;

	if (!log_enabled && !log_stderr)
		return;
	buf_printf(&b, "%s ", method);
	if (req)
		log_value(&b, req, 0);
	if (b.data)
		log_lines(LOG_INFO, b.data);
	buf_free(&b);
}
