/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A small JSON writer for the tools' --output=json: values appended to an
 * sm_buf in order, commas and indentation kept by the writer, strings
 * escaped (quotes, backslashes, control characters; bytes that are not
 * UTF-8 become U+FFFD, so the output is always valid JSON).  Nesting
 * deeper than JSON_MAX_DEPTH, or a value where a key is due, sets
 * w->bad; the caller checks json_finish().
 */
#ifndef CSM_JSON_H
#define CSM_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "csm/buf.h"

#define JSON_MAX_DEPTH 32

struct json_writer {
	struct sm_buf *out;
	bool pretty;                    /* newlines and two-space indents */
	unsigned depth;
	bool in_object[JSON_MAX_DEPTH]; /* per level: object (keys) or array */
	unsigned count[JSON_MAX_DEPTH]; /* per level: members written so far */
	bool after_key;                 /* a key was written, its value is due */
	bool bad;                       /* misuse: unbalanced, too deep, key in array */
};

void json_init(struct json_writer *w, struct sm_buf *out, bool pretty);
void json_begin_object(struct json_writer *w);
void json_end_object(struct json_writer *w);
void json_begin_array(struct json_writer *w);
void json_end_array(struct json_writer *w);
/* The name of the next member of the object being written. */
void json_key(struct json_writer *w, const char *key);
void json_string(struct json_writer *w, const char *s);   /* NULL: null */
void json_u64(struct json_writer *w, uint64_t v);
void json_i64(struct json_writer *w, int64_t v);
void json_double(struct json_writer *w, double v);        /* NaN, inf: null */
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/*
 * text as a JSON number if it is one as it stands (-?digits[.digits][e..],
 * no leading zeros), else as a string: for key=value files whose values
 * are numbers or words.
 */
void json_number_or_string(struct json_writer *w, const char *text);
/* Is text a JSON number (RFC 8259 section 6)? */
bool json_is_number(const char *text);
/* Shorthands for one member: json_key then the value. */
void json_kv_string(struct json_writer *w, const char *key, const char *s);
void json_kv_u64(struct json_writer *w, const char *key, uint64_t v);
void json_kv_bool(struct json_writer *w, const char *key, bool v);
/* Ends the document with a newline: 0, or -1 if it is incomplete or misused or out of memory. */
int json_finish(struct json_writer *w);
/* Append s as a JSON string literal (with the quotes). */
void json_put_string(struct sm_buf *b, const char *s);

#endif
