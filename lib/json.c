/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The JSON writer behind every tool's --output=json (csm/json.h).  The
 * writer, not its callers, places commas and checks that keys go in
 * objects only, so a tool cannot emit a document a parser refuses.
 */
#include <math.h>
#include <stdio.h>

#include "csm/json.h"

void json_init(struct json_writer *w, struct sm_buf *out, bool pretty)
{
	*w = (struct json_writer){ .out = out, .pretty = pretty };
}

static void newline_indent(struct json_writer *w)
{
	if (!w->pretty)
		return;
	buf_puts(w->out, "\n");
	for (unsigned i = 0; i < w->depth; i++)
		buf_puts(w->out, "  ");
}

/* What goes before any value: its separator, or nothing after a key. */
static void before_value(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	if (w->in_object[w->depth - 1]) {
		w->bad = true;          /* a value where a key is due */
		return;
	}
	if (w->count[w->depth - 1]++)
		buf_puts(w->out, ",");
	newline_indent(w);
}

static void begin(struct json_writer *w, bool object)
{
	before_value(w);
	if (w->depth == JSON_MAX_DEPTH) {
		w->bad = true;
		return;
	}
	buf_puts(w->out, object ? "{" : "[");
	w->in_object[w->depth] = object;
	w->count[w->depth] = 0;
	w->depth++;
}

static void end(struct json_writer *w, bool object)
{
	if (w->depth == 0 || w->in_object[w->depth - 1] != object || w->after_key) {
		w->bad = true;
		return;
	}
	w->depth--;
	if (w->count[w->depth])
		newline_indent(w);
	buf_puts(w->out, object ? "}" : "]");
}

void json_begin_object(struct json_writer *w) { begin(w, true); }
void json_end_object(struct json_writer *w) { end(w, true); }
void json_begin_array(struct json_writer *w) { begin(w, false); }
void json_end_array(struct json_writer *w) { end(w, false); }

void json_key(struct json_writer *w, const char *key)
{
	if (w->depth == 0 || !w->in_object[w->depth - 1] || w->after_key) {
		w->bad = true;
		return;
	}
	if (w->count[w->depth - 1]++)
		buf_puts(w->out, ",");
	newline_indent(w);
	json_put_string(w->out, key);
	buf_puts(w->out, w->pretty ? ": " : ":");
	w->after_key = true;
}

/* The length of the well-formed UTF-8 sequence at s, or 0 (RFC 3629). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not characters. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void json_put_string(struct sm_buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	buf_puts(b, "\"");
	while (*s) {
		size_t n = utf8_len(s);

		if (n == 0) {
			buf_puts(b, "\\ufffd");
			s++;
		} else if (*s == '"' || *s == '\\') {
			buf_printf(b, "\\%c", *s++);
		} else if (*s == '\n') {
			buf_puts(b, "\\n");
			s++;
		} else if (*s == '\t') {
			buf_puts(b, "\\t");
			s++;
		} else if (*s == '\r') {
			buf_puts(b, "\\r");
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			buf_printf(b, "\\u%04x", *s++);
		} else {
			buf_append(b, (const char *)s, n);
			s += n;
		}
	}
	buf_puts(b, "\"");
}

void json_string(struct json_writer *w, const char *s)
{
	before_value(w);
	if (s)
		json_put_string(w->out, s);
	else
		buf_puts(w->out, "null");
}

void json_u64(struct json_writer *w, uint64_t v)
{
	before_value(w);
	buf_printf(w->out, "%llu", (unsigned long long)v);
}

void json_i64(struct json_writer *w, int64_t v)
{
	before_value(w);
	buf_printf(w->out, "%lld", (long long)v);
}

void json_double(struct json_writer *w, double v)
{
	before_value(w);
	if (isfinite(v))
		buf_printf(w->out, "%.17g", v);
	else
		buf_puts(w->out, "null");
}

void json_bool(struct json_writer *w, bool v)
{
	before_value(w);
	buf_puts(w->out, v ? "true" : "false");
}

void json_null(struct json_writer *w)
{
	before_value(w);
	buf_puts(w->out, "null");
}

static const char *digits(const char *s)
{
	while (*s >= '0' && *s <= '9')
		s++;
	return s;
}

bool json_is_number(const char *s)
{
	const char *e;

	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		s = digits(s);
	else
		return false;
	if (*s == '.') {
		e = digits(s + 1);
		if (e == s + 1)
			return false;
		s = e;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		e = digits(s);
		if (e == s)
			return false;
		s = e;
	}
	return *s == '\0';
}

void json_number_or_string(struct json_writer *w, const char *text)
{
	if (!json_is_number(text)) {
		json_string(w, text);
		return;
	}
	before_value(w);
	buf_puts(w->out, text);
}

void json_kv_string(struct json_writer *w, const char *key, const char *s)
{
	json_key(w, key);
	json_string(w, s);
}

void json_kv_u64(struct json_writer *w, const char *key, uint64_t v)
{
	json_key(w, key);
	json_u64(w, v);
}

void json_kv_bool(struct json_writer *w, const char *key, bool v)
{
	json_key(w, key);
	json_bool(w, v);
}

int json_finish(struct json_writer *w)
{
	if (w->depth || w->after_key)
		w->bad = true;
	buf_puts(w->out, "\n");
	return w->bad || w->out->oom ? -1 : 0;
}
