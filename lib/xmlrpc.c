/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * XML-RPC values, parser and writers.
 *
 * Parsing goes through a libxml2 tree.  The request is hostile input as
 * far as we are concerned (anyone who can run the driver can hand it any
 * argv[1]), so the parser never substitutes entities, never touches the
 * network, refuses any DOCTYPE before its internal subset is read (so no
 * entity can even be declared), and keeps libxml2 quiet: stdout and
 * stderr belong to the driver.
 *
 * The writers reproduce the bytes of Python's xmlrpc.client.dumps (the
 * response xapi has always parsed) and of xapi's own xml-light2 request
 * serialiser.  Both drop the control characters XML 1.0 cannot carry (as
 * xapi does) and replace bytes that are not valid UTF-8 with U+FFFD, so a
 * document we write is always well-formed whatever the strings held.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "csm/buf.h"
#include "csm/xmlrpc.h"

#define XR_MAX_DOC   (16u * 1024 * 1024)
#define XR_MAX_DEPTH 64

/* ---------------------------------------------------------------- values */

static struct xr_value *xr_alloc(enum xr_type type)
{
	struct xr_value *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

struct xr_value *xr_nil(void)
{
	return xr_alloc(XR_NIL);
}

struct xr_value *xr_string(const char *s)
{
	struct xr_value *v = xr_alloc(XR_STRING);

	if (!v)
		return NULL;
	v->u.str = strdup(s ? s : "");
	if (!v->u.str) {
		free(v);
		return NULL;
	}
	return v;
}

/* Take ownership of a malloc'd string (freed on failure). */
static struct xr_value *xr_string_take(char *s)
{
	struct xr_value *v = xr_alloc(XR_STRING);

	if (!v) {
		free(s);
		return NULL;
	}
	v->u.str = s;
	return v;
}

struct xr_value *xr_int(int64_t i)
{
	struct xr_value *v = xr_alloc(XR_INT);

	if (v)
		v->u.i = i;
	return v;
}

struct xr_value *xr_bool(bool b)
{
	struct xr_value *v = xr_alloc(XR_BOOL);

	if (v)
		v->u.b = b;
	return v;
}

struct xr_value *xr_double(double d)
{
	struct xr_value *v = xr_alloc(XR_DOUBLE);

	if (v)
		v->u.d = d;
	return v;
}

struct xr_value *xr_datetime_text(const char *text)
{
	struct xr_value *v = xr_string(text);

	if (v)
		v->type = XR_DATETIME;
	return v;
}

struct xr_value *xr_datetime(time_t t)
{
	struct tm tm;
	char text[64];

	if (!gmtime_r(&t, &tm) || !strftime(text, sizeof(text), "%Y%m%dT%H:%M:%SZ", &tm))
		return xr_datetime_text("19700101T00:00:00Z");
	return xr_datetime_text(text);
}

struct xr_value *xr_struct(void)
{
	return xr_alloc(XR_STRUCT);
}

struct xr_value *xr_array(void)
{
	return xr_alloc(XR_ARRAY);
}

void xr_free(struct xr_value *v)
{
	size_t i;

	if (!v)
		return;
	switch (v->type) {
	case XR_STRING:
	case XR_DATETIME:
		free(v->u.str);
		break;
	case XR_STRUCT:
		for (i = 0; i < v->u.st.count; i++) {
			free(v->u.st.members[i].name);
			xr_free(v->u.st.members[i].value);
		}
		free(v->u.st.members);
		break;
	case XR_ARRAY:
		for (i = 0; i < v->u.arr.count; i++)
			xr_free(v->u.arr.items[i]);
		free(v->u.arr.items);
		break;
	default:
		break;
	}
	free(v);
}

/* Grow an array of elem-sized slots so that one more fits. */
static int grow(void **items, size_t *cap, size_t count, size_t elem)
{
	size_t ncap;
	void *p;

	if (count < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	p = reallocarray(*items, ncap, elem);
	if (!p)
		return -1;
	*items = p;
	*cap = ncap;
	return 0;
}

static struct xr_member *struct_find(const struct xr_value *st, const char *name)
{
	for (size_t i = 0; i < st->u.st.count; i++)
		if (strcmp(st->u.st.members[i].name, name) == 0)
			return &st->u.st.members[i];
	return NULL;
}

int xr_struct_set(struct xr_value *st, const char *name, struct xr_value *v)
{
	struct xr_member *m;
	char *copy;

	if (!st || st->type != XR_STRUCT || !name || !v)
		goto fail;
	m = struct_find(st, name);
	if (m) {
		/* Last one wins, as in Python's dict; the position is kept. */
		xr_free(m->value);
		m->value = v;
		return 0;
	}
	if (grow((void **)&st->u.st.members, &st->u.st.cap, st->u.st.count,
		 sizeof(*st->u.st.members)))
		goto fail;
	copy = strdup(name);
	if (!copy)
		goto fail;
	st->u.st.members[st->u.st.count].name = copy;
	st->u.st.members[st->u.st.count].value = v;
	st->u.st.count++;
	return 0;
fail:
	xr_free(v);
	return -1;
}

int xr_struct_set_string(struct xr_value *st, const char *name, const char *s)
{
	struct xr_value *v = xr_string(s);

	if (!v)
		return -1;
	return xr_struct_set(st, name, v);
}

int xr_array_append(struct xr_value *arr, struct xr_value *v)
{
	if (!arr || arr->type != XR_ARRAY || !v)
		goto fail;
	if (grow((void **)&arr->u.arr.items, &arr->u.arr.cap, arr->u.arr.count,
		 sizeof(*arr->u.arr.items)))
		goto fail;
	arr->u.arr.items[arr->u.arr.count++] = v;
	return 0;
fail:
	xr_free(v);
	return -1;
}

const struct xr_value *xr_struct_get(const struct xr_value *st, const char *name)
{
	const struct xr_member *m;

	if (!st || st->type != XR_STRUCT || !name)
		return NULL;
	m = struct_find(st, name);
	return m ? m->value : NULL;
}

const char *xr_struct_get_string(const struct xr_value *st, const char *name)
{
	const struct xr_value *v = xr_struct_get(st, name);

	return v && v->type == XR_STRING ? v->u.str : NULL;
}

/* ---------------------------------------------------------------- parser */

static pthread_once_t xr_once = PTHREAD_ONCE_INIT;

static void xr_silent_generic(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

#if LIBXML_VERSION >= 21200
static void xr_silent_structured(void *ctx, const xmlError *error)
#else
static void xr_silent_structured(void *ctx, xmlErrorPtr error)
#endif
{
	(void)ctx;
	(void)error;
}

static void xr_init_once(void)
{
	xmlInitParser();
	/*
	 * Some libxml2 paths report through the generic handler whatever the
	 * parse options say; nothing of libxml2's may reach stdout/stderr.
	 */
	xmlSetGenericErrorFunc(NULL, xr_silent_generic);
}

/*
 * Called by the SAX parser when it meets <!DOCTYPE ...>, before any
 * declaration of the internal subset is read: stopping here means no
 * entity is ever declared, let alone expanded.
 */
static void xr_refuse_doctype(void *ctx, const xmlChar *name,
			      const xmlChar *external_id, const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;

	(void)name;
	(void)external_id;
	(void)system_id;
	ctxt->_private = (void *)1;
	xmlStopParser(ctxt);
}

static void trim_newline(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static xmlDocPtr read_doc(const char *doc, size_t len, const char *what,
			  struct sm_error *err)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr xdoc;
	const xmlError *xe;
	char msg[256];

	pthread_once(&xr_once, xr_init_once);
	if (!doc || len == 0) {
		sm_fail(err, SME_BAD_REQUEST, "the %s is empty", what);
		return NULL;
	}
	if (len > XR_MAX_DOC) {
		sm_fail(err, SME_BAD_REQUEST, "the %s is %zu bytes, more than the limit of %u",
			what, len, XR_MAX_DOC);
		return NULL;
	}
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		sm_fail(err, SME_BAD_REQUEST, "out of memory parsing the %s", what);
		return NULL;
	}
	ctxt->sax->internalSubset = xr_refuse_doctype;
	ctxt->sax->serror = xr_silent_structured;
	ctxt->_private = NULL;
	xdoc = xmlCtxtReadMemory(ctxt, doc, (int)len, NULL, NULL,
				 XML_PARSE_NONET | XML_PARSE_NOERROR |
				 XML_PARSE_NOWARNING);
	if (ctxt->_private) {
		sm_fail(err, SME_BAD_REQUEST, "the %s has a DOCTYPE, which is not allowed", what);
		goto fail;
	}
	if (!xdoc || !ctxt->wellFormed) {
		xe = xmlCtxtGetLastError(ctxt);
		snprintf(msg, sizeof(msg), "%s",
			 xe && xe->message ? xe->message : "not well-formed");
		trim_newline(msg);
		sm_fail(err, SME_BAD_REQUEST, "XML parse error at line %d: %s",
			xe ? xe->line : 0, msg);
		goto fail;
	}
	xmlFreeParserCtxt(ctxt);
	return xdoc;
fail:
	xmlFreeDoc(xdoc);
	xmlFreeParserCtxt(ctxt);
	return NULL;
}

static bool is_named(const xmlNode *n, const char *name)
{
	return strcmp((const char *)n->name, name) == 0;
}

static bool is_blank(const xmlChar *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

static bool is_text(const xmlNode *n)
{
	return n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE;
}

/* Comments and processing instructions carry nothing for XML-RPC. */
static bool is_ignorable(const xmlNode *n)
{
	return n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE;
}

/*
 * The next element child from n on, skipping comments and whitespace
 * between elements.  Stray text or other nodes are an error.  *out is
 * NULL at the end of the children.
 */
static int next_element(xmlNode *n, xmlNode **out, const xmlNode *parent,
			struct sm_error *err)
{
	for (; n; n = n->next) {
		if (n->type == XML_ELEMENT_NODE) {
			*out = n;
			return 0;
		}
		if (is_ignorable(n) || (is_text(n) && is_blank(n->content)))
			continue;
		return sm_fail(err, SME_BAD_REQUEST, "unexpected %s inside <%s>",
			       is_text(n) ? "text" : "node", parent->name);
	}
	*out = NULL;
	return 0;
}

/* The only element child of parent (must exist, must be named want). */
static int only_element(xmlNode *parent, const char *want, xmlNode **out,
			struct sm_error *err)
{
	xmlNode *c, *extra;

	if (next_element(parent->children, &c, parent, err))
		return -1;
	if (!c)
		return sm_fail(err, SME_BAD_REQUEST, "<%s> without <%s>",
			       parent->name, want);
	if (!is_named(c, want))
		return sm_fail(err, SME_BAD_REQUEST, "unexpected <%s> inside <%s>, expected <%s>",
			       c->name, parent->name, want);
	if (next_element(c->next, &extra, parent, err))
		return -1;
	if (extra)
		return sm_fail(err, SME_BAD_REQUEST, "unexpected <%s> after <%s> inside <%s>",
			       extra->name, want, parent->name);
	*out = c;
	return 0;
}

/* The text of an element that must hold nothing but text. */
static int text_of(const xmlNode *el, char **out, struct sm_error *err)
{
	struct sm_buf b = SM_BUF_INIT;
	const xmlNode *n;

	for (n = el->children; n; n = n->next) {
		if (is_text(n)) {
			if (n->content)
				buf_puts(&b, (const char *)n->content);
		} else if (!is_ignorable(n)) {
			buf_free(&b);
			return sm_fail(err, SME_BAD_REQUEST, "<%s> must contain only text",
				       el->name);
		}
	}
	*out = buf_steal(&b);
	if (!*out)
		return sm_fail(err, SME_BAD_REQUEST, "out of memory");
	return 0;
}

static int parse_value(xmlNode *val, int depth, struct xr_value **out,
		       struct sm_error *err);

/* Strict decimal: optional sign, digits, nothing else; overflow is an error. */
static int parse_int(const xmlNode *el, struct xr_value **out, struct sm_error *err)
{
	char *s, *end;
	const char *p;
	long long n;
	int rc = -1;

	if (text_of(el, &s, err))
		return -1;
	p = s + (s[0] == '-' || s[0] == '+');
	if (*p < '0' || *p > '9' || strspn(p, "0123456789") != strlen(p)) {
		/* Never quote the value: it may be a password (masked keys). */
		sm_fail(err, SME_BAD_REQUEST, "<%s> at line %ld is not a decimal integer",
			el->name, xmlGetLineNo(el));
		goto out;
	}
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno == ERANGE ||
	    (is_named(el, "i4") && (n < INT32_MIN || n > INT32_MAX))) {
		sm_fail(err, SME_BAD_REQUEST, "<%s> at line %ld is out of range",
			el->name, xmlGetLineNo(el));
		goto out;
	}
	*out = xr_int(n);
	rc = *out ? 0 : sm_fail(err, SME_BAD_REQUEST, "out of memory");
out:
	free(s);
	return rc;
}

static int parse_bool(const xmlNode *el, struct xr_value **out, struct sm_error *err)
{
	char *s;
	int rc = -1;

	if (text_of(el, &s, err))
		return -1;
	if (strcmp(s, "0") != 0 && strcmp(s, "1") != 0) {
		sm_fail(err, SME_BAD_REQUEST, "<boolean> at line %ld must be 0 or 1",
			xmlGetLineNo(el));
		goto out;
	}
	*out = xr_bool(s[0] == '1');
	rc = *out ? 0 : sm_fail(err, SME_BAD_REQUEST, "out of memory");
out:
	free(s);
	return rc;
}

static int parse_double(const xmlNode *el, struct xr_value **out, struct sm_error *err)
{
	char *s, *end;
	double d;
	int rc = -1;

	if (text_of(el, &s, err))
		return -1;
	d = strtod(s, &end);
	/* strtod skips leading blanks; a <double> must be the number alone. */
	if (s[0] == '\0' || *end != '\0' || strchr(" \t\n\r", s[0])) {
		sm_fail(err, SME_BAD_REQUEST, "<double> at line %ld is not a number",
			xmlGetLineNo(el));
		goto out;
	}
	*out = xr_double(d);
	rc = *out ? 0 : sm_fail(err, SME_BAD_REQUEST, "out of memory");
out:
	free(s);
	return rc;
}

static int parse_text_value(const xmlNode *el, struct xr_value **out,
			    struct sm_error *err)
{
	char *s;

	if (text_of(el, &s, err))
		return -1;
	*out = xr_string_take(s);
	return *out ? 0 : sm_fail(err, SME_BAD_REQUEST, "out of memory");
}

static int parse_nil(const xmlNode *el, struct xr_value **out, struct sm_error *err)
{
	char *s;

	if (text_of(el, &s, err))
		return -1;
	if (!is_blank((const xmlChar *)s)) {
		free(s);
		return sm_fail(err, SME_BAD_REQUEST, "<nil> must be empty");
	}
	free(s);
	*out = xr_nil();
	return *out ? 0 : sm_fail(err, SME_BAD_REQUEST, "out of memory");
}

/*
 * The children of an element that holds at most one <a> and one <b>
 * (a <member>'s name and value, a <methodCall>'s methodName and params),
 * in any order; anything else is malformed.  Missing ones stay NULL.
 */
static int pick_two(xmlNode *parent, const char *a, xmlNode **ea, const char *b,
		    xmlNode **eb, struct sm_error *err)
{
	xmlNode *c;

	*ea = *eb = NULL;
	for (c = parent->children; ; c = c->next) {
		if (next_element(c, &c, parent, err))
			return -1;
		if (!c)
			return 0;
		if (is_named(c, a) && !*ea)
			*ea = c;
		else if (is_named(c, b) && !*eb)
			*eb = c;
		else
			return sm_fail(err, SME_BAD_REQUEST, "unexpected <%s> inside <%s>",
				       c->name, parent->name);
	}
}

static int parse_member(xmlNode *mem, struct xr_value *st, int depth,
			struct sm_error *err)
{
	xmlNode *name_el, *val_el;
	struct xr_value *v = NULL;
	char *name = NULL;
	int rc = -1;

	if (pick_two(mem, "name", &name_el, "value", &val_el, err))
		return -1;
	if (!name_el)
		return sm_fail(err, SME_BAD_REQUEST, "member without <name>");
	if (text_of(name_el, &name, err))
		return -1;
	if (!val_el) {
		sm_fail(err, SME_BAD_REQUEST, "member \"%.64s\" without <value>", name);
		goto out;
	}
	if (parse_value(val_el, depth, &v, err))
		goto out;
	if (xr_struct_set(st, name, v)) {
		sm_fail(err, SME_BAD_REQUEST, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(name);
	return rc;
}

static int parse_struct(xmlNode *el, int depth, struct xr_value **out,
			struct sm_error *err)
{
	struct xr_value *st = xr_struct();
	xmlNode *c;

	if (!st)
		return sm_fail(err, SME_BAD_REQUEST, "out of memory");
	for (c = el->children; ; c = c->next) {
		if (next_element(c, &c, el, err))
			goto fail;
		if (!c)
			break;
		if (!is_named(c, "member")) {
			sm_fail(err, SME_BAD_REQUEST, "unexpected <%s> inside <struct>", c->name);
			goto fail;
		}
		if (parse_member(c, st, depth, err))
			goto fail;
	}
	*out = st;
	return 0;
fail:
	xr_free(st);
	return -1;
}

/* The <value> children of a <data> or <params>-like list, appended to arr. */
static int parse_array(xmlNode *el, int depth, struct xr_value **out,
		       struct sm_error *err)
{
	struct xr_value *arr, *v;
	xmlNode *data, *c;

	if (only_element(el, "data", &data, err))
		return -1;
	arr = xr_array();
	if (!arr)
		return sm_fail(err, SME_BAD_REQUEST, "out of memory");
	for (c = data->children; ; c = c->next) {
		if (next_element(c, &c, data, err))
			goto fail;
		if (!c)
			break;
		if (!is_named(c, "value")) {
			sm_fail(err, SME_BAD_REQUEST, "unexpected <%s> inside <data>", c->name);
			goto fail;
		}
		if (parse_value(c, depth, &v, err))
			goto fail;
		if (xr_array_append(arr, v)) {
			sm_fail(err, SME_BAD_REQUEST, "out of memory");
			goto fail;
		}
	}
	*out = arr;
	return 0;
fail:
	xr_free(arr);
	return -1;
}

static int parse_typed(xmlNode *el, int depth, struct xr_value **out,
		       struct sm_error *err)
{
	if (is_named(el, "string") || is_named(el, "base64"))
		return parse_text_value(el, out, err);
	if (is_named(el, "dateTime.iso8601")) {
		if (parse_text_value(el, out, err))
			return -1;
		(*out)->type = XR_DATETIME;
		return 0;
	}
	if (is_named(el, "int") || is_named(el, "i4") || is_named(el, "i8"))
		return parse_int(el, out, err);
	if (is_named(el, "boolean"))
		return parse_bool(el, out, err);
	if (is_named(el, "double"))
		return parse_double(el, out, err);
	if (is_named(el, "nil"))
		return parse_nil(el, out, err);
	if (is_named(el, "struct"))
		return parse_struct(el, depth + 1, out, err);
	if (is_named(el, "array"))
		return parse_array(el, depth + 1, out, err);
	return sm_fail(err, SME_BAD_REQUEST, "unknown value type <%s>", el->name);
}

/*
 * A <value>: a typeless one (only text, possibly none) is a string, as
 * xapi sends them; otherwise exactly one type element.
 */
static int parse_value(xmlNode *val, int depth, struct xr_value **out,
		       struct sm_error *err)
{
	xmlNode *c, *typed = NULL;

	if (depth > XR_MAX_DEPTH)
		return sm_fail(err, SME_BAD_REQUEST, "values nested deeper than %d",
			       XR_MAX_DEPTH);
	for (c = val->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			break;
	if (!c)
		return parse_text_value(val, out, err);
	if (only_element(val, (const char *)c->name, &typed, err))
		return -1;
	return parse_typed(typed, depth, out, err);
}

static int parse_params(xmlNode *params, struct xr_value **out,
			struct sm_error *err)
{
	struct xr_value *arr = xr_array(), *v;
	xmlNode *c, *val;

	if (!arr)
		return sm_fail(err, SME_BAD_REQUEST, "out of memory");
	for (c = params ? params->children : NULL; ; c = c->next) {
		if (next_element(c, &c, params, err))
			goto fail;
		if (!c)
			break;
		if (!is_named(c, "param")) {
			sm_fail(err, SME_BAD_REQUEST, "unexpected <%s> inside <params>", c->name);
			goto fail;
		}
		if (only_element(c, "value", &val, err) || parse_value(val, 1, &v, err))
			goto fail;
		if (xr_array_append(arr, v)) {
			sm_fail(err, SME_BAD_REQUEST, "out of memory");
			goto fail;
		}
	}
	*out = arr;
	return 0;
fail:
	xr_free(arr);
	return -1;
}

static int check_root(xmlDocPtr xdoc, const char *want, xmlNode **root,
		      struct sm_error *err)
{
	*root = xmlDocGetRootElement(xdoc);
	if (!*root)
		return sm_fail(err, SME_BAD_REQUEST, "the document has no root element");
	if (!is_named(*root, want))
		return sm_fail(err, SME_BAD_REQUEST, "root element is <%s>, expected <%s>",
			       (*root)->name, want);
	return 0;
}

static int parse_call_tree(xmlNode *root, char **method, struct xr_value **params,
			   struct sm_error *err)
{
	xmlNode *name_el, *params_el;

	if (pick_two(root, "methodName", &name_el, "params", &params_el, err))
		return -1;
	if (!name_el)
		return sm_fail(err, SME_BAD_REQUEST, "<methodCall> without <methodName>");
	if (text_of(name_el, method, err))
		return -1;
	if ((*method)[0] == '\0') {
		sm_fail(err, SME_BAD_REQUEST, "empty <methodName>");
		goto fail;
	}
	/* Python's loads accepts a call without <params>: no arguments. */
	if (parse_params(params_el, params, err))
		goto fail;
	return 0;
fail:
	free(*method);
	*method = NULL;
	return -1;
}

int xr_parse_call(const char *doc, size_t len, char **method,
		  struct xr_value **params, struct sm_error *err)
{
	xmlDocPtr xdoc;
	xmlNode *root;
	int rc = -1;

	*method = NULL;
	*params = NULL;
	xdoc = read_doc(doc, len, "request", err);
	if (!xdoc)
		return -1;
	if (check_root(xdoc, "methodCall", &root, err))
		goto out;
	rc = parse_call_tree(root, method, params, err);
out:
	xmlFreeDoc(xdoc);
	return rc;
}

static int parse_fault(xmlNode *fault, struct xr_value **result,
		       struct sm_error *err)
{
	const struct xr_value *code;
	xmlNode *val;

	if (only_element(fault, "value", &val, err) || parse_value(val, 1, result, err))
		return -1;
	code = xr_struct_get(*result, "faultCode");
	if ((*result)->type != XR_STRUCT || !code || code->type != XR_INT ||
	    !xr_struct_get_string(*result, "faultString")) {
		xr_free(*result);
		*result = NULL;
		return sm_fail(err, SME_BAD_REQUEST,
			       "<fault> is not a struct of an int faultCode and a string faultString");
	}
	return 0;
}

int xr_parse_response(const char *doc, size_t len, struct xr_value **result,
		      bool *is_fault, struct sm_error *err)
{
	xmlNode *root, *c, *extra, *param, *val;
	xmlDocPtr xdoc;
	int rc = -1;

	*result = NULL;
	*is_fault = false;
	xdoc = read_doc(doc, len, "response", err);
	if (!xdoc)
		return -1;
	if (check_root(xdoc, "methodResponse", &root, err) ||
	    next_element(root->children, &c, root, err))
		goto out;
	if (!c) {
		sm_fail(err, SME_BAD_REQUEST, "empty <methodResponse>");
		goto out;
	}
	if (next_element(c->next, &extra, root, err))
		goto out;
	if (extra) {
		sm_fail(err, SME_BAD_REQUEST, "unexpected <%s> after <%s> in <methodResponse>",
			extra->name, c->name);
		goto out;
	}
	if (is_named(c, "fault")) {
		*is_fault = true;
		rc = parse_fault(c, result, err);
	} else if (is_named(c, "params")) {
		if (only_element(c, "param", &param, err) ||
		    only_element(param, "value", &val, err))
			goto out;
		rc = parse_value(val, 1, result, err);
	} else {
		sm_fail(err, SME_BAD_REQUEST, "unexpected <%s> in <methodResponse>", c->name);
	}
out:
	xmlFreeDoc(xdoc);
	return rc;
}

/* ---------------------------------------------------------------- writers */

/*
 * Length of the valid UTF-8 sequence at s that is also an XML 1.0 Char
 * (no surrogates, no U+FFFE/U+FFFF), or 0.  s is NUL-terminated, and NUL
 * is never a continuation byte, so we never read past the end.
 */
static size_t utf8_char_len(const unsigned char *s)
{
	unsigned char c = s[0];

#define CONT(x) (((x) & 0xC0) == 0x80)
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return CONT(s[1]) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (!CONT(s[1]) || !CONT(s[2]))
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0;   /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0;   /* surrogate */
		if (c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE)
			return 0;   /* U+FFFE, U+FFFF */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (!CONT(s[1]) || !CONT(s[2]) || !CONT(s[3]))
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;   /* overlong */
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;   /* beyond U+10FFFF */
		return 4;
	}
#undef CONT
	return 0;
}

/*
 * Character data, escaped as the peer escapes it (Python: & < >; xapi:
 * also ").  Control characters XML cannot carry are dropped, as xapi's
 * serialiser drops them; invalid UTF-8 becomes U+FFFD.
 */
static void put_text(struct sm_buf *b, const char *str, bool quote)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	while (*s) {
		const unsigned char *run = s;

		/* Plain ASCII goes out in one append: scans are ~1 MB of it. */
		while ((*s >= 0x20 && *s < 0x7f && *s != '&' && *s != '<' && *s != '>' &&
			*s != '"') || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (s != run)
			buf_append(b, (const char *)run, (size_t)(s - run));
		if (!*s)
			break;
		switch (*s) {
		case '&': buf_puts(b, "&amp;"); s++; continue;
		case '<': buf_puts(b, "&lt;"); s++; continue;
		case '>': buf_puts(b, "&gt;"); s++; continue;
		case '"':
			buf_puts(b, quote ? "&quot;" : "\"");
			s++;
			continue;
		default:
			break;
		}
		if (*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r') {
			s++;
			continue;
		}
		n = utf8_char_len(s);
		if (!n) {
			buf_puts(b, "\xEF\xBF\xBD");
			s++;
			continue;
		}
		buf_append(b, (const char *)s, n);
		s += n;
	}
}

/*
 * repr(float) as Python 3 prints it: the shortest digits that read back
 * to the same double, in positional notation when the decimal exponent
 * is in [-4, 16), else in exponent notation with at least two digits.
 */
static void format_double(char *out, size_t size, double d)
{
	char tmp[40], digits[24];
	int prec, exp10, nd, i;
	size_t pos = 0;
	char *e;

	if (isnan(d)) {
		snprintf(out, size, "nan");
		return;
	}
	if (isinf(d)) {
		snprintf(out, size, d < 0 ? "-inf" : "inf");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* tmp is [-]D[.DDD]e[+-]XX */
	nd = 0;
	for (i = tmp[0] == '-'; tmp[i] != 'e'; i++)
		if (tmp[i] != '.')
			digits[nd++] = tmp[i];
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	e = strchr(tmp, 'e');
	exp10 = atoi(e + 1);

	pos += (size_t)snprintf(out + pos, size - pos, "%s", signbit(d) ? "-" : "");
	if (exp10 < -4 || exp10 >= 16) {
		snprintf(out + pos, size - pos, "%c%s%se%c%02d", digits[0],
			 nd > 1 ? "." : "", digits + 1, exp10 < 0 ? '-' : '+',
			 abs(exp10));
		return;
	}
	if (exp10 < 0) {
		snprintf(out + pos, size - pos, "0.%.*s%s", -exp10 - 1,
			 "0000", digits);
		return;
	}
	for (i = 0; i <= exp10; i++)
		out[pos++] = i < nd ? digits[i] : '0';
	out[pos++] = '.';
	snprintf(out + pos, size - pos, "%s", nd > exp10 + 1 ? digits + exp10 + 1 : "0");
}

static void put_python_string(struct sm_buf *b, const char *s)
{
	buf_puts(b, "<value><string>");
	put_text(b, s, false);
	buf_puts(b, "</string></value>\n");
}

void xr_write_value(struct sm_buf *b, const struct xr_value *v)
{
	char num[64];
	size_t i;

	switch (v->type) {
	case XR_NIL:
		/* Python writes no newline after nil, unlike every other type. */
		buf_puts(b, "<value><nil/></value>");
		break;
	case XR_STRING:
		put_python_string(b, v->u.str);
		break;
	case XR_DATETIME:
		buf_puts(b, "<value><dateTime.iso8601>");
		put_text(b, v->u.str, false);
		buf_puts(b, "</dateTime.iso8601></value>\n");
		break;
	case XR_INT:
		buf_printf(b, "<value><int>%" PRId64 "</int></value>\n", v->u.i);
		break;
	case XR_BOOL:
		buf_printf(b, "<value><boolean>%d</boolean></value>\n", v->u.b ? 1 : 0);
		break;
	case XR_DOUBLE:
		format_double(num, sizeof(num), v->u.d);
		buf_printf(b, "<value><double>%s</double></value>\n", num);
		break;
	case XR_STRUCT:
		buf_puts(b, "<value><struct>\n");
		for (i = 0; i < v->u.st.count; i++) {
			buf_puts(b, "<member>\n<name>");
			put_text(b, v->u.st.members[i].name, false);
			buf_puts(b, "</name>\n");
			xr_write_value(b, v->u.st.members[i].value);
			buf_puts(b, "</member>\n");
		}
		buf_puts(b, "</struct></value>\n");
		break;
	case XR_ARRAY:
		buf_puts(b, "<value><array><data>\n");
		for (i = 0; i < v->u.arr.count; i++)
			xr_write_value(b, v->u.arr.items[i]);
		buf_puts(b, "</data></array></value>\n");
		break;
	}
}

#define PY_DECL "<?xml version='1.0'?>\n"

char *xr_write_response(const struct xr_value *v)
{
	struct sm_buf b = SM_BUF_INIT;

	buf_puts(&b, PY_DECL "<methodResponse>\n<params>\n<param>\n");
	xr_write_value(&b, v);
	buf_puts(&b, "</param>\n</params>\n</methodResponse>\n");
	return buf_steal(&b);
}

char *xr_write_fault(int code, const char *fault_string)
{
	struct sm_buf b = SM_BUF_INIT;

	buf_printf(&b, PY_DECL "<methodResponse>\n<fault>\n<value><struct>\n"
		   "<member>\n<name>faultCode</name>\n<value><int>%d</int></value>\n"
		   "</member>\n<member>\n<name>faultString</name>\n", code);
	put_python_string(&b, fault_string ? fault_string : "");
	buf_puts(&b, "</member>\n</struct></value>\n</fault>\n</methodResponse>\n");
	return buf_steal(&b);
}

/* xml-light2 prints an element without children as <tag/>. */
static void put_xapi_text_element(struct sm_buf *b, const char *tag, const char *s)
{
	if (s[0] == '\0') {
		buf_printf(b, "<%s/>", tag);
		return;
	}
	buf_printf(b, "<%s>", tag);
	put_text(b, s, true);
	buf_printf(b, "</%s>", tag);
}

static void write_value_xapi(struct sm_buf *b, const struct xr_value *v)
{
	char num[64];
	size_t i;

	switch (v->type) {
	case XR_NIL:
		buf_puts(b, "<value><nil/></value>");
		break;
	case XR_STRING:
		put_xapi_text_element(b, "value", v->u.str);
		break;
	case XR_DATETIME:
		buf_puts(b, "<value>");
		put_xapi_text_element(b, "dateTime.iso8601", v->u.str);
		buf_puts(b, "</value>");
		break;
	case XR_INT:
		buf_printf(b, "<value><i4>%" PRId64 "</i4></value>", v->u.i);
		break;
	case XR_BOOL:
		buf_printf(b, "<value><boolean>%d</boolean></value>", v->u.b ? 1 : 0);
		break;
	case XR_DOUBLE:
		format_double(num, sizeof(num), v->u.d);
		buf_printf(b, "<value><double>%s</double></value>", num);
		break;
	case XR_STRUCT:
		if (!v->u.st.count) {
			buf_puts(b, "<value><struct/></value>");
			break;
		}
		buf_puts(b, "<value><struct>");
		for (i = 0; i < v->u.st.count; i++) {
			buf_puts(b, "<member>");
			put_xapi_text_element(b, "name", v->u.st.members[i].name);
			write_value_xapi(b, v->u.st.members[i].value);
			buf_puts(b, "</member>");
		}
		buf_puts(b, "</struct></value>");
		break;
	case XR_ARRAY:
		if (!v->u.arr.count) {
			buf_puts(b, "<value><array><data/></array></value>");
			break;
		}
		buf_puts(b, "<value><array><data>");
		for (i = 0; i < v->u.arr.count; i++)
			write_value_xapi(b, v->u.arr.items[i]);
		buf_puts(b, "</data></array></value>");
		break;
	}
}

static void write_call_xapi(struct sm_buf *b, const char *method,
			    const struct xr_value *params)
{
	size_t n = params ? params->u.arr.count : 0;

	buf_puts(b, "<methodCall>");
	put_xapi_text_element(b, "methodName", method);
	if (!n) {
		buf_puts(b, "<params/></methodCall>");
		return;
	}
	buf_puts(b, "<params>");
	for (size_t i = 0; i < n; i++) {
		buf_puts(b, "<param>");
		write_value_xapi(b, params->u.arr.items[i]);
		buf_puts(b, "</param>");
	}
	buf_puts(b, "</params></methodCall>");
}

static void write_call_python(struct sm_buf *b, const char *method,
			      const struct xr_value *params)
{
	size_t n = params ? params->u.arr.count : 0;

	buf_puts(b, PY_DECL "<methodCall>\n<methodName>");
	put_text(b, method, false);
	buf_puts(b, "</methodName>\n<params>\n");
	for (size_t i = 0; i < n; i++) {
		buf_puts(b, "<param>\n");
		xr_write_value(b, params->u.arr.items[i]);
		buf_puts(b, "</param>\n");
	}
	buf_puts(b, "</params>\n</methodCall>\n");
}

char *xr_write_call(const char *method, const struct xr_value *params,
		    enum xr_call_style style)
{
	struct sm_buf b = SM_BUF_INIT;

	if (params && params->type != XR_ARRAY)
		return NULL;
	if (style == XR_STYLE_XAPI)
		write_call_xapi(&b, method ? method : "", params);
	else
		write_call_python(&b, method ? method : "", params);
	return buf_steal(&b);
}
