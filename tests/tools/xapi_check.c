/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xapi_check: read a driver's stdout and judge it the way xapi would
 * (protocol.md §2.5, sm_exec.ml / xMLRPC.ml):
 *
 *   xapi_check unit|string|vdi_info|attach|driver_info < stdout
 *   xapi_check fault [CODE] < stdout
 *
 * xapi parses with xmlm into a tree from which whitespace-only text
 * (space, \n, \t -- not \r) is dropped, takes the fast path
 * methodResponse > params > param > ONE element, and hands that element to
 * a per-call From.* parser.  We rebuild that tree view over libxml2 and
 * apply the same shape rules.  Exit 0 when xapi would accept the output,
 * else print why on stderr and exit 1 (2 for usage errors).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define MAX_KIDS 4096

static char reason[2048];

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
	va_list ap;

	if (reason[0])
		return -1;	/* keep the innermost, most specific reason */
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* xml.ml drops text made only of these; note \r is not among them. */
static bool xapi_blank(const xmlChar *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t')
			return false;
	return true;
}

static bool is_text(const xmlNode *n)
{
	return n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE;
}

/*
 * The children xapi's tree has: elements and non-blank text.  xmlm joins
 * adjacent character data; libxml2 already does for text, and we count a
 * CDATA section as text too.  Comments and PIs are not in xmlm's tree.
 */
static int kids(const xmlNode *el, xmlNode **out, int *n)
{
	xmlNode *c;

	*n = 0;
	for (c = el->children; c; c = c->next) {
		if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE)
			continue;
		if (is_text(c) && xapi_blank(c->content))
			continue;
		if (c->type != XML_ELEMENT_NODE && !is_text(c))
			return bad("unexpected node type %d inside <%s>", c->type, el->name);
		if (*n == MAX_KIDS)
			return bad("too many children inside <%s>", el->name);
		out[(*n)++] = c;
	}
	return 0;
}

static bool named(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const char *describe(const xmlNode *n)
{
	return n->type == XML_ELEMENT_NODE ? (const char *)n->name : "text";
}

/* el must have exactly one child, an element called name. */
static int only(const xmlNode *el, const char *name, xmlNode **child)
{
	xmlNode *k[MAX_KIDS];
	int n;

	if (kids(el, k, &n))
		return -1;
	if (n != 1)
		return bad("<%s> has %d children, xapi requires exactly one <%s>",
			   el->name, n, name);
	if (!named(k[0], name))
		return bad("<%s> holds <%s>, xapi requires <%s>", el->name,
			   describe(k[0]), name);
	*child = k[0];
	return 0;
}

/* The text of an element whose only child is text (or nothing: ""). */
static int pcdata(const xmlNode *el, const char **text)
{
	xmlNode *k[MAX_KIDS];
	int n;

	if (kids(el, k, &n))
		return -1;
	if (n == 0) {
		*text = "";
		return 0;
	}
	if (n != 1 || !is_text(k[0]))
		return bad("<%s> must hold only text", el->name);
	*text = (const char *)k[0]->content;
	return 0;
}

/*
 * XMLRPC.From.string: <value>t</value>, <value/>,
 * <value><string>t</string></value>, <value><string/></value>.
 */
static int string_text(const xmlNode *value, const char **text, const char *what)
{
	xmlNode *k[MAX_KIDS];
	int n;

	if (!named(value, "value"))
		return bad("%s: expected <value>, found <%s>", what, describe(value));
	if (kids(value, k, &n))
		return -1;
	if (n == 0) {
		*text = "";
		return 0;
	}
	if (n == 1 && is_text(k[0])) {
		*text = (const char *)k[0]->content;
		return 0;
	}
	if (n == 1 && named(k[0], "string"))
		return pcdata(k[0], text);
	return bad("%s: not a string (From.string accepts <value>t</value> or "
		   "<value><string>t</string></value>)", what);
}

static int from_string(const xmlNode *value, const char *what)
{
	const char *t;

	return string_text(value, &t, what);
}

static int from_nil(const xmlNode *value)
{
	xmlNode *k[MAX_KIDS];
	int n, m;

	if (!named(value, "value"))
		return bad("expected <value>, found <%s>", describe(value));
	if (kids(value, k, &n))
		return -1;
	if (n != 1 || !named(k[0], "nil"))
		return bad("a void call must return <value><nil/></value>");
	if (kids(k[0], k, &m) || m)
		return bad("<nil> must be empty");
	return 0;
}

static int from_boolean(const xmlNode *value, const char *what)
{
	xmlNode *b;
	const char *t;

	if (only(value, "boolean", &b) || pcdata(b, &t))
		return bad("%s: not a <boolean>", what);
	if (strcmp(t, "0") && strcmp(t, "1"))
		return bad("%s: <boolean> must be 0 or 1, not \"%s\"", what, t);
	return 0;
}

/* A struct's members as (name, value element) pairs. */
struct member {
	const char *name;
	xmlNode *value;
};

static int from_struct(const xmlNode *value, struct member *mem, int *count,
		       const char *what)
{
	xmlNode *st, *k[MAX_KIDS], *mk[MAX_KIDS];
	int n, m, i;

	if (!named(value, "value") || only(value, "struct", &st))
		return bad("%s: not a struct", what);
	if (kids(st, k, &n))
		return -1;
	for (i = 0; i < n; i++) {
		if (!named(k[i], "member"))
			return bad("%s: <%s> inside <struct>", what, describe(k[i]));
		/* From.structure wants exactly [<name>k</name>; <value>..]. */
		if (kids(k[i], mk, &m))
			return -1;
		if (m != 2 || !named(mk[0], "name") || !named(mk[1], "value"))
			return bad("%s: a <member> must be <name> then <value>", what);
		if (pcdata(mk[0], &mem[i].name))
			return -1;
		mem[i].value = mk[1];
	}
	*count = n;
	return 0;
}

static xmlNode *member_get(const struct member *mem, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(mem[i].name, name) == 0)
			return mem[i].value;
	return NULL;
}

static int from_array(const xmlNode *value, xmlNode **items, int *count,
		      const char *what)
{
	xmlNode *arr, *data;
	int i;

	if (!named(value, "value") || only(value, "array", &arr) ||
	    only(arr, "data", &data))
		return bad("%s: not an <array><data>", what);
	if (kids(data, items, count))
		return -1;
	for (i = 0; i < *count; i++)
		if (!named(items[i], "value"))
			return bad("%s: <%s> inside <data>", what, describe(items[i]));
	return 0;
}

static struct member mem[MAX_KIDS];

static int check_vdi_info(const xmlNode *value)
{
	int n, i;

	if (from_struct(value, mem, &n, "vdi_info"))
		return -1;
	for (i = 0; i < n; i++)
		if (from_string(mem[i].value, mem[i].name))
			return bad("vdi_info: member %s is not a string", mem[i].name);
	if (!member_get(mem, n, "uuid"))
		return bad("vdi_info: no uuid");
	if (!member_get(mem, n, "location"))
		return bad("vdi_info: no location");
	return 0;
}

static int check_attach(const xmlNode *value)
{
	struct member xs[MAX_KIDS];
	xmlNode *v;
	int n, m, i;

	if (from_struct(value, mem, &n, "attach"))
		return -1;
	v = member_get(mem, n, "params");
	if (v && from_string(v, "params"))
		return -1;
	v = member_get(mem, n, "params_nbd");
	if (!v)
		return bad("attach: params_nbd is required");
	if (from_string(v, "params_nbd"))
		return -1;
	v = member_get(mem, n, "o_direct");
	if (v && from_boolean(v, "o_direct"))
		return -1;
	v = member_get(mem, n, "o_direct_reason");
	if (v && from_string(v, "o_direct_reason"))
		return -1;
	v = member_get(mem, n, "xenstore_data");
	if (!v)
		return 0;
	if (from_struct(v, xs, &m, "xenstore_data"))
		return -1;
	for (i = 0; i < m; i++)
		if (from_string(xs[i].value, xs[i].name))
			return bad("xenstore_data: %s is not a string", xs[i].name);
	return 0;
}

static int check_string_array(xmlNode *v, const char *what)
{
	static xmlNode *items[MAX_KIDS];
	int n, i;

	if (from_array(v, items, &n, what))
		return -1;
	for (i = 0; i < n; i++)
		if (from_string(items[i], what))
			return -1;
	return 0;
}

static int check_configuration(xmlNode *v)
{
	static xmlNode *items[MAX_KIDS];
	struct member cm[MAX_KIDS];
	xmlNode *k, *d;
	int n, m, i;

	if (from_array(v, items, &n, "configuration"))
		return -1;
	for (i = 0; i < n; i++) {
		if (from_struct(items[i], cm, &m, "configuration entry"))
			return -1;
		k = member_get(cm, m, "key");
		d = member_get(cm, m, "description");
		if (!k || !d)
			return bad("configuration entry %d lacks key or description", i);
		if (from_string(k, "configuration key") ||
		    from_string(d, "configuration description"))
			return -1;
	}
	return 0;
}

static int check_driver_info(const xmlNode *value)
{
	static const char *const strings[] = {
		"name", "description", "vendor", "copyright", "driver_version",
		"required_api_version",
	};
	xmlNode *v;
	int n;

	if (from_struct(value, mem, &n, "driver_info"))
		return -1;
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		v = member_get(mem, n, strings[i]);
		if (!v)
			return bad("driver_info: %s is missing", strings[i]);
		if (from_string(v, strings[i]))
			return -1;
	}
	v = member_get(mem, n, "capabilities");
	if (!v)
		return bad("driver_info: capabilities is missing");
	if (check_string_array(v, "capabilities"))
		return -1;
	v = member_get(mem, n, "configuration");
	if (!v)
		return bad("driver_info: configuration is missing");
	return check_configuration(v);
}

/* faultCode must be <int> or <i4> (xMLRPC.ml:215), faultString From.string. */
static int check_fault(const xmlNode *fault, long want, bool have_want)
{
	xmlNode *value, *code_value, *k[MAX_KIDS], *fs;
	const char *t, *text;
	char *end;
	long code;
	int n;

	if (only(fault, "value", &value) || from_struct(value, mem, &n, "fault"))
		return -1;
	code_value = member_get(mem, n, "faultCode");
	fs = member_get(mem, n, "faultString");
	if (!code_value || !fs)
		return bad("fault: faultCode and faultString are required");
	if (kids(code_value, k, &n))
		return -1;
	if (n != 1 || !(named(k[0], "int") || named(k[0], "i4")))
		return bad("fault: faultCode must be <int> or <i4>");
	if (pcdata(k[0], &t))
		return -1;
	errno = 0;
	code = strtol(t, &end, 10);
	if (!*t || *end || errno)
		return bad("fault: faultCode \"%s\" is not an integer", t);
	if (string_text(fs, &text, "faultString"))
		return -1;
	if (have_want && code != want)
		return bad("fault code %ld (%s), expected %ld", code, text, want);
	return 0;
}

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap), *p;

	if (!buf)
		return NULL;
	while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			p = realloc(buf, cap *= 2);
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
		}
	}
	*len = n;
	return buf;
}

static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *eid,
			   const xmlChar *sid)
{
	xmlParserCtxtPtr ctxt = ctx;

	(void)name;
	(void)eid;
	(void)sid;
	ctxt->_private = (void *)1;
	xmlStopParser(ctxt);
}

static void silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static xmlDocPtr parse(const char *buf, size_t len)
{
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	xmlDocPtr doc;
	const xmlError *e;

	if (!ctxt) {
		bad("out of memory");
		return NULL;
	}
	ctxt->sax->internalSubset = refuse_doctype;
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (ctxt->_private) {
		bad("output has a DOCTYPE");
	} else if (!doc || !ctxt->wellFormed) {
		/* Also catches a second document or junk after the first. */
		e = xmlCtxtGetLastError(ctxt);
		bad("not one well-formed XML document (line %d: %.*s)", e ? e->line : 0,
		    e && e->message ? (int)strcspn(e->message, "\n") : 1,
		    e && e->message ? e->message : "?");
	} else {
		xmlFreeParserCtxt(ctxt);
		return doc;
	}
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return NULL;
}

/* methodResponse > params > param > ONE element, the sm_exec.ml fast path. */
static int success_value(const xmlNode *root, xmlNode **value)
{
	xmlNode *k[MAX_KIDS], *params, *param;
	const char *t;
	int n;

	if (kids(root, k, &n))
		return -1;
	if (n == 1 && named(k[0], "fault")) {
		xmlNode *fv, *fs;

		/* Say which fault, to make a failing integration test readable. */
		if (only(k[0], "value", &fv) == 0 &&
		    from_struct(fv, mem, &n, "fault") == 0 &&
		    (fs = member_get(mem, n, "faultString")) &&
		    string_text(fs, &t, "faultString") == 0)
			return bad("the driver returned a fault: %s", t);
		reason[0] = '\0';
		return bad("the driver returned a malformed fault");
	}
	if (only(root, "params", &params) || only(params, "param", &param))
		return -1;
	if (kids(param, k, &n))
		return -1;
	if (n != 1 || k[0]->type != XML_ELEMENT_NODE)
		return bad("<param> must hold exactly one element, found %d children", n);
	*value = k[0];
	return 0;
}

static int check(const char *kind, xmlDocPtr doc, int argc, char **argv)
{
	xmlNode *root = xmlDocGetRootElement(doc), *value, *fault;

	if (!root || !named(root, "methodResponse"))
		return bad("root element is not <methodResponse>");
	if (strcmp(kind, "fault") == 0) {
		if (only(root, "fault", &fault))
			return -1;
		return check_fault(fault, argc > 2 ? strtol(argv[2], NULL, 10) : 0,
				   argc > 2);
	}
	if (success_value(root, &value))
		return -1;
	if (strcmp(kind, "unit") == 0)
		return from_nil(value);
	if (strcmp(kind, "string") == 0)
		return from_string(value, "result");
	if (strcmp(kind, "vdi_info") == 0)
		return check_vdi_info(value);
	if (strcmp(kind, "attach") == 0)
		return check_attach(value);
	if (strcmp(kind, "driver_info") == 0)
		return check_driver_info(value);
	return bad("unknown kind %s", kind);
}

static bool known_kind(const char *k)
{
	static const char *const kinds[] = {
		"unit", "string", "vdi_info", "attach", "driver_info", "fault",
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(k, kinds[i]) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	xmlDocPtr doc;
	size_t len = 0;
	char *buf;
	int rc = 1;

	if (argc < 2 || argc > 3 || !known_kind(argv[1]) ||
	    (argc == 3 && strcmp(argv[1], "fault") != 0)) {
		fprintf(stderr, "usage: xapi_check unit|string|vdi_info|attach|driver_info"
			" < stdout\n       xapi_check fault [CODE] < stdout\n");
		return 2;
	}
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, silent);
	buf = read_all(stdin, &len);
	if (!buf) {
		fprintf(stderr, "xapi_check: cannot read stdin\n");
		return 1;
	}
	if (len == 0 || len > 64u * 1024 * 1024) {
		bad("output is empty or too large (%zu bytes)", len);
		goto out;
	}
	doc = parse(buf, len);
	if (!doc)
		goto out;
	rc = check(argv[1], doc, argc, argv) ? 1 : 0;
	xmlFreeDoc(doc);
out:
	if (rc)
		fprintf(stderr, "xapi_check %s: %s\n", argv[1], reason);
	free(buf);
	xmlCleanupParser();
	return rc;
}
