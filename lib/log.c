/* SPDX-License-Identifier: LGPL-2.1-only */
#include <ctype.h>
#include <errno.h>
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
	/* Anything that looks like a password or a secret, in any case, too: better safe. */
	return strcasestr(key, "password") != NULL || strcasestr(key, "secret") != NULL;
}

/*
 * A string as Python's repr writes it with single quotes, so the line
 * stays one line and reads back (sm_log_parse_request): backslash,
 * quote and control characters escaped, other bytes (UTF-8) as they are.
 */
static void log_string(struct sm_buf *b, const char *s)
{
	buf_puts(b, "'");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '\'')
			buf_printf(b, "\\%c", c);
		else if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\t')
			buf_puts(b, "\\t");
		else if (c == '\r')
			buf_puts(b, "\\r");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_append(b, s, 1);
	}
	buf_puts(b, "'");
}

static void log_value(struct sm_buf *b, const struct xr_value *v, int depth);

static void log_struct(struct sm_buf *b, const struct xr_value *v, int depth)
{
	buf_puts(b, "{");
	for (size_t i = 0; i < v->u.st.count; i++) {
		const struct xr_member *m = &v->u.st.members[i];

		buf_puts(b, i ? ", " : "");
		log_string(b, m->name);
		buf_puts(b, ": ");
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
	case XR_STRING: log_string(b, v->u.str); break;
	/* As Python's repr of xmlrpc.client.DateTime, without the address. */
	case XR_DATETIME:
		buf_puts(b, "<DateTime ");
		log_string(b, v->u.str);
		buf_puts(b, ">");
		break;
	case XR_INT: buf_printf(b, "%lld", (long long)v->u.i); break;
	case XR_BOOL: buf_puts(b, v->u.b ? "True" : "False"); break;
	case XR_DOUBLE: buf_printf(b, "%.17g", v->u.d); break;
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

char *sm_log_format_request(const char *method, const struct xr_value *req)
{
	struct sm_buf b = SM_BUF_INIT;

	buf_printf(&b, "%s ", method);
	if (req)
		log_value(&b, req, 0);
	return buf_steal(&b);
}

void sm_log_request(const char *method, const struct xr_value *req)
{
	char *line;

	if (!log_enabled && !log_stderr)
		return;
	line = sm_log_format_request(method, req);
	if (line)
		log_lines(LOG_INFO, line);
	free(line);
}

/* ---- reading a request line back ------------------------------------------------ */

struct lit_parser {
	const char *start, *p;
	struct sm_error *err;
	int depth;
};

static int lit_fail(struct lit_parser *lp, const char *what)
{
	return sm_fail(lp->err, SME_BAD_REQUEST, "cannot read the log line at column %d: %s",
		       (int)(lp->p - lp->start) + 1, what);
}

static void lit_space(struct lit_parser *lp)
{
	while (*lp->p == ' ' || *lp->p == '\t')
		lp->p++;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One escape after the backslash, appended to b; how many characters it took, or 0. */
static size_t lit_escape(const char *e, struct sm_buf *b)
{
	static const char plain[] = "\\\\''\"\"n\nt\tr\r";
	int hi, lo;

	for (size_t i = 0; plain[i]; i += 2)
		if (*e == plain[i]) {
			buf_append(b, &plain[i + 1], 1);
			return 1;
		}
	if (*e == 'x' && (hi = hex_digit(e[1])) >= 0 && (lo = hex_digit(e[2])) >= 0) {
		char c = (char)(hi * 16 + lo);

		if (!c)
			return 0;
		buf_append(b, &c, 1);
		return 3;
	}
	return 0;
}

/* A quoted string ('...' or "...") as Python's repr writes it; malloc'd into *out. */
static int lit_string(struct lit_parser *lp, char **out)
{
	char quote = *lp->p++;
	struct sm_buf b = SM_BUF_INIT;

	for (;;) {
		size_t n;

		if (!*lp->p) {
			buf_free(&b);
			return lit_fail(lp, "a string is not closed");
		}
		if (*lp->p == quote)
			break;
		if (*lp->p != '\\') {
			buf_append(&b, lp->p++, 1);
			continue;
		}
		n = lit_escape(lp->p + 1, &b);
		if (!n) {
			buf_free(&b);
			return lit_fail(lp, "an escape it does not know (or a NUL)");
		}
		lp->p += 1 + n;
	}
	lp->p++;
	buf_puts(&b, "");
	if (b.oom) {
		buf_free(&b);
		return sm_fail(lp->err, SME_SM_GENERAL, "out of memory");
	}
	*out = buf_steal(&b);
	return 0;
}

static int lit_value(struct lit_parser *lp, struct xr_value **out);

/* '[' items ']' or '{' 'key': value ... '}' */
static int lit_container(struct lit_parser *lp, bool is_struct, struct xr_value **out)
{
	char close = is_struct ? '}' : ']';
	struct xr_value *c = is_struct ? xr_struct() : xr_array();

	if (!c)
		return sm_fail(lp->err, SME_SM_GENERAL, "out of memory");
	lp->p++;
	lit_space(lp);
	while (*lp->p != close) {
		struct xr_value *v = NULL;
		char *key = NULL;
		int rc;

		if (is_struct) {
			if (*lp->p != '\'' && *lp->p != '"') {
				rc = lit_fail(lp, "a key must be a quoted string");
				goto fail;
			}
			if (lit_string(lp, &key) < 0)
				goto fail;
			lit_space(lp);
			if (*lp->p++ != ':') {
				free(key);
				rc = lit_fail(lp, "':' expected after a key");
				goto fail;
			}
		}
		rc = lit_value(lp, &v);
		if (rc == 0)
			rc = is_struct ? xr_struct_set(c, key, v) : xr_array_append(c, v);
		free(key);
		if (rc < 0)
			goto fail;
		lit_space(lp);
		if (*lp->p == ',') {
			lp->p++;
			lit_space(lp);
		} else if (*lp->p != close) {
			lit_fail(lp, is_struct ? "',' or '}' expected" : "',' or ']' expected");
			goto fail;
		}
	}
	lp->p++;
	*out = c;
	return 0;
fail:
	if (!lp->err->code)
		sm_fail(lp->err, SME_SM_GENERAL, "out of memory");
	xr_free(c);
	return -1;
}

static int lit_number(struct lit_parser *lp, struct xr_value **out)
{
	char *end;
	long long i;
	double d;

	errno = 0;
	i = strtoll(lp->p, &end, 10);
	if (end != lp->p && *end != '.' && *end != 'e' && *end != 'E' && !errno) {
		lp->p = end;
		*out = xr_int(i);
	} else {
		d = strtod(lp->p, &end);
		if (end == lp->p)
			return lit_fail(lp, "a value expected ('...', a number, True, False, None, [ or {)");
		lp->p = end;
		*out = xr_double(d);
	}
	return *out ? 0 : sm_fail(lp->err, SME_SM_GENERAL, "out of memory");
}

/*
 * "<DateTime '20260101T00:00:00Z'>", as Python's repr writes an
 * xmlrpc.client.DateTime (and the log a dateTime.iso8601 value, once
 * xmlrpc has the type): its text.  Without a dateTime type here it comes
 * back as a string; with one, xr_datetime of the text belongs here.
 */
static int lit_datetime(struct lit_parser *lp, struct xr_value **out)
{
	char *text = NULL;

	lp->p += 10;
	if (lit_string(lp, &text) < 0)
		return -1;
	if (*lp->p != '>') {
		free(text);
		return lit_fail(lp, "'>' expected after a DateTime's text");
	}
	lp->p++;
	*out = xr_datetime_text(text);
	free(text);
	return *out ? 0 : sm_fail(lp->err, SME_SM_GENERAL, "out of memory");
}

static int lit_value(struct lit_parser *lp, struct xr_value **out)
{
	static const struct { const char *word; int kind; } words[] = {
		{ "True", 1 }, { "False", 0 }, { "None", -1 },
	};
	int rc;

	lit_space(lp);
	if (++lp->depth > 64)
		return lit_fail(lp, "nested deeper than 64");
	if (*lp->p == '{' || *lp->p == '[') {
		rc = lit_container(lp, *lp->p == '{', out);
	} else if (strncmp(lp->p, "<DateTime '", 11) == 0) {
		rc = lit_datetime(lp, out);
	} else if (*lp->p == '\'' || *lp->p == '"') {
		char *s = NULL;

		rc = lit_string(lp, &s);
		if (rc == 0 && !(*out = xr_string(s)))
			rc = sm_fail(lp->err, SME_SM_GENERAL, "out of memory");
		free(s);
	} else {
		rc = 1;
		for (size_t i = 0; rc == 1 && i < sizeof(words) / sizeof(words[0]); i++) {
			size_t n = strlen(words[i].word);

			if (strncmp(lp->p, words[i].word, n) != 0)
				continue;
			lp->p += n;
			*out = words[i].kind < 0 ? xr_nil() : xr_bool(words[i].kind);
			rc = *out ? 0 : sm_fail(lp->err, SME_SM_GENERAL, "out of memory");
		}
		if (rc == 1)
			rc = lit_number(lp, out);
	}
	lp->depth--;
	return rc;
}

/* Where the request starts: "<method> {" after whatever syslog put before it. */
static const char *find_request(const char *line, const char **method_end)
{
	const char *brace = strstr(line, " {"), *m;

	if (!brace)
		return NULL;
	for (m = brace; m > line && (isalnum((unsigned char)m[-1]) || m[-1] == '_' || m[-1] == '.'); m--)
		;
	if (m == brace)
		return NULL;
	*method_end = brace;
	return m;
}

static void note_masked(const struct xr_value *v, struct sm_buf *masked)
{
	for (size_t i = 0; v->type == XR_STRUCT && i < v->u.st.count; i++) {
		const struct xr_member *m = &v->u.st.members[i];

		if (m->value->type == XR_STRING && strcmp(m->value->u.str, "******") == 0 &&
		    sm_log_is_secret_key(m->name))
			buf_printf(masked, "%s%s", masked->len ? ", " : "", m->name);
		else
			note_masked(m->value, masked);
	}
	for (size_t i = 0; v->type == XR_ARRAY && i < v->u.arr.count; i++)
		note_masked(v->u.arr.items[i], masked);
}

int sm_log_parse_request(const char *line, char **method, struct xr_value **req,
			 char **masked, struct sm_error *err)
{
	struct lit_parser lp = { .err = err };
	const char *m_end = NULL, *m = find_request(line, &m_end);
	struct sm_buf names = SM_BUF_INIT;
	struct xr_value *v = NULL;

	*method = NULL;
	*req = NULL;
	*masked = NULL;
	if (!m)
		return sm_fail(err, SME_BAD_REQUEST, "not a request line: no '<command> {' in it");
	lp.start = lp.p = m_end + 1;
	if (lit_value(&lp, &v) < 0)
		return -1;
	lit_space(&lp);
	if (*lp.p && *lp.p != '\n' && *lp.p != '\r') {
		xr_free(v);
		return lit_fail(&lp, "text after the request");
	}
	note_masked(v, &names);
	buf_puts(&names, "");
	*method = strndup(m, (size_t)(m_end - m));
	*masked = buf_steal(&names);
	if (!*method || !*masked) {
		free(*method);
		free(*masked);
		xr_free(v);
		return sm_fail(err, SME_SM_GENERAL, "out of memory");
	}
	*req = v;
	return 0;
}
