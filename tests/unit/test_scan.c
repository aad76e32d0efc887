/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the sr_scan document writer (docs/scan-xml.md): the output is
 * parsed back with libxml2 and every element checked.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "csm/scan.h"

#define SR_UUID "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"
#define UUID_A  "7e431c89-429b-4c56-93dc-6b2d8557b101"
#define UUID_B  "ba64304a-005b-4a4c-a1c0-ce84ff89edab"
#define UUID_C  "00000000-0000-4000-8000-000000000000"

static const char *const sr_children[] = {
	"uuid", "physical_size", "physical_utilisation", "virtual_allocation",
	"default_vdi_visibility",
};

static const char *const vdi_children[] = {
	"uuid", "location", "size", "utilisation", "parent", "hidden", "managed",
	"read_only", "type", "label", "description", "locked",
};

/* ---------------------------------------------------------------- helpers */

static xmlDocPtr parse(const char *doc)
{
	xmlDocPtr d = xmlReadMemory(doc, (int)strlen(doc), "scan.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

	if (!d)
		fail_msg("not well-formed:\n%s", doc);
	return d;
}

static xmlNode *next_elem(xmlNode *n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

static xmlNode *child(xmlNode *parent, const char *name)
{
	for (xmlNode *n = next_elem(parent->children); n; n = next_elem(n->next))
		if (strcmp((const char *)n->name, name) == 0)
			return n;
	return NULL;
}

static size_t count_children(xmlNode *parent, const char *name)
{
	size_t k = 0;

	for (xmlNode *n = next_elem(parent->children); n; n = next_elem(n->next))
		if (!name || strcmp((const char *)n->name, name) == 0)
			k++;
	return k;
}

/* The text of parent/name, which must exist. */
static void expect_text(xmlNode *parent, const char *name, const char *want)
{
	xmlNode *n = child(parent, name);
	xmlChar *t;

	if (!n)
		fail_msg("no <%s> in <%s>", name, parent->name);
	t = xmlNodeGetContent(n);
	assert_non_null(t);
	if (strcmp((const char *)t, want) != 0)
		fail_msg("<%s> is \"%s\", expected \"%s\"", name, t, want);
	xmlFree(t);
}

/* The element names under parent, in order, are exactly names[]. */
static void expect_order(xmlNode *parent, const char *const *names, size_t n,
			 const char *extra)
{
	xmlNode *c = next_elem(parent->children);

	for (size_t i = 0; i < n; i++, c = next_elem(c->next)) {
		assert_non_null(c);
		assert_string_equal((const char *)c->name, names[i]);
	}
	if (extra) {
		assert_non_null(c);
		assert_string_equal((const char *)c->name, extra);
		c = next_elem(c->next);
	}
	if (c && strcmp((const char *)c->name, "vdi") != 0)
		fail_msg("unexpected <%s> in <%s>", c->name, parent->name);
}

static void set_vdi(struct scan_vdi *v, const char *uuid)
{
	snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
	snprintf(v->location, sizeof(v->location), "%s", uuid);
	v->type = "vhd";
}

/* ------------------------------------------------------------------ tests */

static void test_empty_sr(void **state)
{
	struct scan_sr sr = { .uuid = SR_UUID, .physical_size = 270553174016ULL,
			      .physical_utilisation = 17125380096ULL,
			      .virtual_allocation = 0, .default_vdi_visibility = true };
	char *doc = scan_write_xml(&sr);
	xmlDocPtr d;
	xmlNode *root;

	assert_non_null(doc);
	d = parse(doc);
	root = xmlDocGetRootElement(d);
	assert_string_equal((const char *)root->name, "sr");
	expect_order(root, sr_children, sizeof(sr_children) / sizeof(sr_children[0]), NULL);
	expect_text(root, "uuid", SR_UUID);
	expect_text(root, "physical_size", "270553174016");
	expect_text(root, "physical_utilisation", "17125380096");
	expect_text(root, "virtual_allocation", "0");
	expect_text(root, "default_vdi_visibility", "true");
	assert_int_equal(count_children(root, "vdi"), 0);
	assert_int_equal(count_children(root, NULL), 5);
	xmlFreeDoc(d);
	free(doc);
	scan_sr_free(&sr);
}

static void test_two_vdis(void **state)
{
	struct scan_sr sr = { .uuid = SR_UUID, .physical_size = UINT64_MAX,
			      .physical_utilisation = 1, .virtual_allocation = 2147483648ULL };
	struct scan_vdi *a, *b;
	xmlNode *root, *v;
	char max[32];
	char *doc;
	xmlDocPtr d;

	a = scan_add_vdi(&sr);
	assert_non_null(a);
	set_vdi(a, UUID_A);
	a->size = 1073741824;
	a->utilisation = 13824;
	snprintf(a->parent, sizeof(a->parent), "%s", UUID_B);
	a->managed = true;
	a->locked = true;
	a->label = strdup("Tom & Jerry <disk>");
	a->description = strdup("a > b && c < d; \"quoted\" 'too'");
	b = scan_add_vdi(&sr);
	assert_non_null(b);
	set_vdi(b, UUID_B);
	b->size = UINT64_MAX;
	b->utilisation = 2105856;
	b->hidden = true;
	b->read_only = true;
	b->type = "raw";
	b->error = strdup("footer checksum <bad> & cannot read");

	doc = scan_write_xml(&sr);
	assert_non_null(doc);
	d = parse(doc);
	root = xmlDocGetRootElement(d);
	expect_text(root, "default_vdi_visibility", "false");
	snprintf(max, sizeof(max), "%" PRIu64, UINT64_MAX);
	expect_text(root, "physical_size", max);
	expect_text(root, "virtual_allocation", "2147483648");
	assert_int_equal(count_children(root, "vdi"), 2);

	v = child(root, "vdi");
	expect_order(v, vdi_children, sizeof(vdi_children) / sizeof(vdi_children[0]), NULL);
	assert_int_equal(count_children(v, NULL), 12);   /* no <error> */
	expect_text(v, "uuid", UUID_A);
	expect_text(v, "location", UUID_A);
	expect_text(v, "size", "1073741824");
	expect_text(v, "utilisation", "13824");
	expect_text(v, "parent", UUID_B);
	expect_text(v, "hidden", "false");
	expect_text(v, "managed", "true");
	expect_text(v, "read_only", "false");
	expect_text(v, "type", "vhd");
	expect_text(v, "label", "Tom & Jerry <disk>");
	expect_text(v, "description", "a > b && c < d; \"quoted\" 'too'");
	expect_text(v, "locked", "true");
	assert_null(child(v, "error"));

	v = next_elem(v->next);
	assert_non_null(v);
	expect_order(v, vdi_children, sizeof(vdi_children) / sizeof(vdi_children[0]), "error");
	assert_int_equal(count_children(v, NULL), 13);
	expect_text(v, "uuid", UUID_B);
	expect_text(v, "size", max);
	expect_text(v, "utilisation", "2105856");
	expect_text(v, "parent", "");
	expect_text(v, "hidden", "true");
	expect_text(v, "managed", "false");
	expect_text(v, "read_only", "true");
	expect_text(v, "type", "raw");
	expect_text(v, "label", "");          /* NULL label */
	expect_text(v, "description", "");
	expect_text(v, "locked", "false");
	expect_text(v, "error", "footer checksum <bad> & cannot read");

	/* The escaping itself, as docs/scan-xml.md says. */
	assert_non_null(strstr(doc, "<label>Tom &amp; Jerry &lt;disk&gt;</label>"));
	assert_non_null(strstr(doc, "<error>footer checksum &lt;bad&gt; &amp; cannot read</error>"));
	assert_non_null(strstr(doc, "<?xml version=\"1.0\" ?>\n<sr>\n"));

	xmlFreeDoc(d);
	free(doc);
	scan_sr_free(&sr);
	assert_null(sr.vdis);
	assert_int_equal(sr.count, 0);
}

/* <chain_error>: the facts as attributes, the sentence as text, after <error>. */
static void test_chain_error(void **state)
{
	struct scan_sr sr = { .uuid = SR_UUID };
	struct scan_vdi *a = scan_add_vdi(&sr);
	xmlNode *v, *ce;
	xmlChar *t;
	char *doc;
	xmlDocPtr d;

	assert_non_null(a);
	set_vdi(a, UUID_A);
	a->chain_reason = "missing-parent";
	snprintf(a->chain_link, sizeof(a->chain_link), "%s", UUID_B);
	snprintf(a->chain_parent, sizeof(a->chain_parent), "%s", UUID_C);
	a->chain_file = strdup("/sr/\"odd\" & <dir>/" UUID_C ".vhd");
	a->chain_error = strdup("chain broken at " UUID_B ": its parent " UUID_C " is missing");
	doc = scan_write_xml(&sr);
	assert_non_null(doc);
	d = parse(doc);
	v = child(xmlDocGetRootElement(d), "vdi");
	expect_order(v, vdi_children, sizeof(vdi_children) / sizeof(vdi_children[0]), "chain_error");
	ce = child(v, "chain_error");
	assert_non_null(ce);
#define ATTR(name, want) do { \
		t = xmlGetProp(ce, (const xmlChar *)(name)); \
		assert_non_null(t); \
		assert_string_equal((const char *)t, want); \
		xmlFree(t); \
	} while (0)
	ATTR("reason", "missing-parent");
	ATTR("link", UUID_B);
	ATTR("parent", UUID_C);
	ATTR("file", "/sr/\"odd\" & <dir>/" UUID_C ".vhd");
#undef ATTR
	expect_text(v, "chain_error", "chain broken at " UUID_B ": its parent " UUID_C " is missing");
	xmlFreeDoc(d);
	free(doc);
	/* an intact chain writes nothing */
	a->chain_reason = NULL;
	doc = scan_write_xml(&sr);
	assert_null(strstr(doc, "chain_error"));
	free(doc);
	scan_sr_free(&sr);
}

static void test_sort(void **state)
{
	static const char *const in[] = { UUID_B, UUID_C, UUID_A, "ffffffff-0000-4000-8000-000000000000",
		"7e431c89-429b-4c56-93dc-6b2d8557b100" };
	static const char *const want[] = { UUID_C, "7e431c89-429b-4c56-93dc-6b2d8557b100", UUID_A,
		UUID_B, "ffffffff-0000-4000-8000-000000000000" };
	struct scan_sr sr = { .uuid = SR_UUID };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct scan_vdi *v = scan_add_vdi(&sr);

		assert_non_null(v);
		set_vdi(v, in[i]);
		v->label = strdup(in[i]);   /* the owned pointers move with the entry */
		v->size = i;
	}
	scan_sort(&sr);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(sr.vdis[i].uuid, want[i]);
		assert_string_equal(sr.vdis[i].label, want[i]);
	}
	assert_int_equal(sr.vdis[0].size, 1);
	scan_sr_free(&sr);

	/* Empty and single-entry SRs sort to themselves. */
	scan_sort(&sr);
	set_vdi(scan_add_vdi(&sr), UUID_A);
	scan_sort(&sr);
	assert_string_equal(sr.vdis[0].uuid, UUID_A);
	scan_sr_free(&sr);
}

/* Growing past the first allocation keeps entries intact and zeroes new ones. */
static void test_many_vdis(void **state)
{
	struct scan_sr sr = { .uuid = SR_UUID };
	xmlDocPtr d;
	char *doc;

	for (int i = 0; i < 200; i++) {
		struct scan_vdi *v = scan_add_vdi(&sr);
		char uuid[37];

		assert_non_null(v);
		assert_null(v->label);
		assert_null(v->error);
		assert_int_equal(v->size, 0);
		snprintf(uuid, sizeof(uuid), "%08x-0000-4000-8000-000000000000", 199 - i);
		set_vdi(v, uuid);
		v->size = (uint64_t)i;
		if (i % 3 == 0)
			v->description = strdup("d");
	}
	assert_int_equal(sr.count, 200);
	scan_sort(&sr);
	assert_string_equal(sr.vdis[0].uuid, "00000000-0000-4000-8000-000000000000");
	assert_int_equal(sr.vdis[0].size, 199);
	doc = scan_write_xml(&sr);
	d = parse(doc);
	assert_int_equal(count_children(xmlDocGetRootElement(d), "vdi"), 200);
	xmlFreeDoc(d);
	free(doc);
	scan_sr_free(&sr);
}

/*
 * A raw LUN's VDI (ISCSISR): vendor, serial and <sm_config> after the
 * usual elements; keys are attributes (free-form), values escaped, a key
 * set twice keeps one entry with the later value.
 */
static void test_sm_config(void **state)
{
	struct scan_sr sr = { .uuid = SR_UUID };
	struct scan_vdi *v = scan_add_vdi(&sr);
	xmlNode *root, *vd, *sc, *e;
	xmlChar *t;
	char *doc;
	xmlDocPtr d;

	assert_non_null(v);
	set_vdi(v, UUID_A);
	v->type = "raw";
	v->vendor = strdup("IET");
	v->serial = strdup("beaf11");
	assert_int_equal(scan_vdi_set_config(v, "LUNid", "0"), 0);
	assert_int_equal(scan_vdi_set_config(v, "SCSIid", "360000000000000000e00000000010001"), 0);
	assert_int_equal(scan_vdi_set_config(v, "backend-kind", "vbd"), 0);
	assert_int_equal(scan_vdi_set_config(v, "LUNid", "1"), 0);
	assert_int_equal(scan_vdi_set_config(v, "a\"<&", "x<y"), 0);
	assert_int_equal(v->sm_config_count, 4);

	doc = scan_write_xml(&sr);
	assert_non_null(doc);
	d = parse(doc);
	root = xmlDocGetRootElement(d);
	vd = child(root, "vdi");
	assert_int_equal(count_children(vd, NULL), 15);
	assert_non_null(strstr(doc, "    <locked>false</locked>\n    <vendor>IET</vendor>\n"));
	expect_text(vd, "vendor", "IET");
	expect_text(vd, "serial", "beaf11");
	sc = child(vd, "sm_config");
	assert_non_null(sc);
	assert_int_equal(count_children(sc, "entry"), 4);
	e = next_elem(sc->children);
	t = xmlGetProp(e, (const xmlChar *)"key");
	assert_string_equal((const char *)t, "LUNid");
	xmlFree(t);
	t = xmlNodeGetContent(e);
	assert_string_equal((const char *)t, "1");
	xmlFree(t);
	assert_non_null(strstr(doc, "      <entry key=\"SCSIid\">360000000000000000e00000000010001</entry>\n"));
	assert_non_null(strstr(doc, "<entry key=\"a&quot;&lt;&amp;\">x&lt;y</entry>"));
	assert_non_null(strstr(doc, "    <serial>beaf11</serial>\n    <sm_config>\n"));
	xmlFreeDoc(d);
	free(doc);
	scan_sr_free(&sr);
}

/* A locked VDI carries its holder; an unlocked one has no lock_* elements. */
static void test_lock_holder(void **state)
{
	struct scan_sr sr = { .uuid = SR_UUID };
	struct scan_vdi *a = scan_add_vdi(&sr), *b;
	xmlNode *root, *va, *vb;
	char *doc;
	xmlDocPtr d;

	(void)state;
	assert_non_null(a);
	set_vdi(a, UUID_A);
	a->locked = true;
	a->lock_user = strdup("OpaqueRef:<dead> & gone");
	a->lock_host = strdup("xcp-host-07");
	a->lock_since = 1795778361;
	b = scan_add_vdi(&sr);
	assert_non_null(b);
	set_vdi(b, UUID_B);
	doc = scan_write_xml(&sr);
	assert_non_null(doc);
	d = parse(doc);
	root = xmlDocGetRootElement(d);
	va = child(root, "vdi");
	vb = next_elem(va->next);
	expect_text(va, "locked", "true");
	expect_text(va, "lock_user", "OpaqueRef:<dead> & gone");
	expect_text(va, "lock_host", "xcp-host-07");
	expect_text(va, "lock_since", "1795778361");
	assert_non_null(strstr(doc, "    <locked>true</locked>\n    <lock_user>"));
	assert_null(child(vb, "lock_user"));
	assert_null(child(vb, "lock_since"));
	xmlFreeDoc(d);
	free(doc);
	scan_sr_free(&sr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_sr),
		cmocka_unit_test(test_two_vdis),
		cmocka_unit_test(test_chain_error),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_many_vdis),
		cmocka_unit_test(test_sm_config),
		cmocka_unit_test(test_lock_holder),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	xmlCleanupParser();
	return rc;
}
