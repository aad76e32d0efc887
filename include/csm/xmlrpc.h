/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * XML-RPC values, the request parser and the response writer.
 *
 * The parser accepts what xapi sends (typeless <value>x</value>, <value/>,
 * no declaration, no whitespace) and what Python's xmlrpc.client writes
 * (<value><string>, a declaration, newlines).  It never resolves external
 * entities or loads DTDs.  The writer produces the bytes Python's
 * xmlrpc.client.dumps(..., methodresponse=True) produces, which is what
 * xapi's parser has always been fed.
 */
#ifndef CSM_XMLRPC_H
#define CSM_XMLRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "csm/error.h"

enum xr_type {
	XR_NIL,
	XR_STRING,   /* also <base64> text, verbatim */
	XR_INT,
	XR_BOOL,
	XR_DOUBLE,
	XR_STRUCT,
	XR_ARRAY,
	/*
	 * <dateTime.iso8601>: the text verbatim in u.str (xmlrpc.client's
	 * DateTime keeps it so too, e.g. "20261127T22:00:00Z"), written back
	 * as <dateTime.iso8601> in every style.  XenAPI's snapshot_time.
	 */
	XR_DATETIME,
};

struct xr_value;

struct xr_member {
	char *name;
	struct xr_value *value;
};

struct xr_value {
	enum xr_type type;
	union {
		char *str;        /* XR_STRING, XR_DATETIME; never NULL */
		int64_t i;        /* XR_INT */
		bool b;           /* XR_BOOL */
		double d;         /* XR_DOUBLE */
		struct {          /* XR_STRUCT: members in document order */
			struct xr_member *members;
			size_t count;
			size_t cap;
		} st;
		struct {          /* XR_ARRAY */
			struct xr_value **items;
			size_t count;
			size_t cap;
		} arr;
	} u;
};

/* Constructors return NULL only when out of memory. */
struct xr_value *xr_nil(void);
struct xr_value *xr_string(const char *s);
struct xr_value *xr_int(int64_t i);
struct xr_value *xr_bool(bool b);
struct xr_value *xr_double(double d);
/*
 * A DateTime for t in UTC as YYYYMMDDTHH:MM:SSZ, the form of the Python
 * SM's DateTime strings (VDI.py: "19700101T00:00:00Z").
 */
struct xr_value *xr_datetime(time_t t);
/* A DateTime holding text verbatim (what the peer sent, or "19700101T00:00:00Z"). */
struct xr_value *xr_datetime_text(const char *text);
struct xr_value *xr_struct(void);
struct xr_value *xr_array(void);

/*
 * Add a member / item; the container takes ownership of v (also on
 * failure, when v is freed).  Returns 0 or -1 (out of memory, or
 * container of the wrong type).  A struct keeps insertion order; setting
 * an existing name replaces its value in place.
 */
int xr_struct_set(struct xr_value *st, const char *name, struct xr_value *v);
int xr_struct_set_string(struct xr_value *st, const char *name, const char *s);
int xr_array_append(struct xr_value *arr, struct xr_value *v);

/* Lookups; NULL when absent or not a struct. */
const struct xr_value *xr_struct_get(const struct xr_value *st, const char *name);
/* The member's string, or NULL when absent or not a string. */
const char *xr_struct_get_string(const struct xr_value *st, const char *name);

void xr_free(struct xr_value *v);

/*
 * Parse a <methodCall>.  On success *method is the malloc'd methodName and
 * *params the malloc'd XR_ARRAY of the <param> values (maybe empty).
 * Any malformation (not XML, wrong root, unknown value type, bad int, a
 * struct member without a name, ...) is an SME_BAD_REQUEST error whose
 * detail says what was wrong.  Limits: documents over 16 MiB and nesting
 * deeper than 64 are refused.
 */
int xr_parse_call(const char *doc, size_t len, char **method,
		  struct xr_value **params, struct sm_error *err);

/*
 * Parse a <methodResponse> (for tools and tests).  Success: *result is
 * the single param value and *is_fault false.  Fault: *result is the
 * fault struct and *is_fault true.
 */
int xr_parse_response(const char *doc, size_t len, struct xr_value **result,
		      bool *is_fault, struct sm_error *err);

/* Documents; malloc'd, NULL only when out of memory. */
/* Success response for one value, byte-for-byte as Python writes it. */
char *xr_write_response(const struct xr_value *v);
/* Fault response: faultCode <int>, faultString. */
char *xr_write_fault(int code, const char *fault_string);

enum xr_call_style {
	XR_STYLE_XAPI,    /* xml-light2: no declaration, typeless strings, <value/> */
	XR_STYLE_PYTHON,  /* xmlrpc.client.dumps(..., methodname) layout */
};
/* A <methodCall> with the given params (an XR_ARRAY). */
char *xr_write_call(const char *method, const struct xr_value *params,
		    enum xr_call_style style);

/* Append the serialisation of one <value> in the Python layout. */
struct sm_buf;
void xr_write_value(struct sm_buf *b, const struct xr_value *v);

#endif
