/* SPDX-License-Identifier: LGPL-2.1-only */
/* A growable byte buffer for building documents. */
#ifndef CSM_BUF_H
#define CSM_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct sm_buf {
	char *data;     /* always NUL-terminated once anything was appended */
	size_t len;
	size_t cap;
	bool oom;       /* sticky: set when an allocation failed */
};

#define SM_BUF_INIT { NULL, 0, 0, false }

void buf_append(struct sm_buf *b, const char *s, size_t n);
void buf_puts(struct sm_buf *b, const char *s);
void buf_printf(struct sm_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append s with XML escaping of & < > (and " when quote is true). */
void buf_put_xml_escaped(struct sm_buf *b, const char *s, bool quote);
/* Give the string to the caller (NULL on oom) and reset b. */
char *buf_steal(struct sm_buf *b);
void buf_free(struct sm_buf *b);

#endif
