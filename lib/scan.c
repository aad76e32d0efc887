/* SPDX-License-Identifier: LGPL-2.1-only */
#include <stdlib.h>
#include <string.h>

#include "csm/buf.h"
#include "csm/scan.h"

struct scan_vdi *scan_add_vdi(struct scan_sr *sr)
{
	if (sr->count == sr->cap) {
		size_t cap = sr->cap ? sr->cap * 2 : 64;
		struct scan_vdi *v = realloc(sr->vdis, cap * sizeof(*v));

		if (!v)
			return NULL;
		sr->vdis = v;
		sr->cap = cap;
	}
	memset(&sr->vdis[sr->count], 0, sizeof(sr->vdis[0]));
	return &sr->vdis[sr->count++];
}

void scan_sr_free(struct scan_sr *sr)
{
	for (size_t i = 0; i < sr->count; i++) {
		free(sr->vdis[i].lock_user);
		free(sr->vdis[i].lock_host);
		free(sr->vdis[i].label);
		free(sr->vdis[i].description);
		free(sr->vdis[i].error);
		free(sr->vdis[i].chain_file);
		free(sr->vdis[i].chain_error);
		free(sr->vdis[i].vendor);
		free(sr->vdis[i].serial);
		for (size_t k = 0; k < sr->vdis[i].sm_config_count; k++) {
			free(sr->vdis[i].sm_config[k].key);
			free(sr->vdis[i].sm_config[k].value);
		}
		free(sr->vdis[i].sm_config);
	}
	free(sr->vdis);
	sr->vdis = NULL;
	sr->count = sr->cap = 0;
}

int scan_vdi_set_config(struct scan_vdi *v, const char *key, const char *value)
{
	char *val = strdup(value);
	struct scan_kv *kv;

	if (!val)
		return -1;
	for (size_t i = 0; i < v->sm_config_count; i++) {
		if (strcmp(v->sm_config[i].key, key) == 0) {
			free(v->sm_config[i].value);
			v->sm_config[i].value = val;
			return 0;
		}
	}
	kv = realloc(v->sm_config, (v->sm_config_count + 1) * sizeof(*kv));
	if (!kv) {
		free(val);
		return -1;
	}
	v->sm_config = kv;
	kv[v->sm_config_count].key = strdup(key);
	if (!kv[v->sm_config_count].key) {
		free(val);
		return -1;
	}
	kv[v->sm_config_count++].value = val;
	return 0;
}

static int cmp_vdi(const void *a, const void *b)
{
	return strcmp(((const struct scan_vdi *)a)->uuid, ((const struct scan_vdi *)b)->uuid);
}

void scan_sort(struct scan_sr *sr)
{
	if (sr->count > 1)
		qsort(sr->vdis, sr->count, sizeof(sr->vdis[0]), cmp_vdi);
}

/*
 * The document is ~1 KiB a VDI and a scan of thousands is on the
 * toolstack's critical path: plain appends, no printf per field.
 */
static void put_open(struct sm_buf *b, const char *indent, const char *tag)
{
	buf_puts(b, indent);
	buf_puts(b, "<");
	buf_puts(b, tag);
	buf_puts(b, ">");
}

static void put_close(struct sm_buf *b, const char *tag)
{
	buf_puts(b, "</");
	buf_puts(b, tag);
	buf_puts(b, ">\n");
}

static void put_text(struct sm_buf *b, const char *indent, const char *tag, const char *text)
{
	put_open(b, indent, tag);
	buf_put_xml_escaped(b, text ? text : "", false);
	put_close(b, tag);
}

static void put_u64(struct sm_buf *b, const char *indent, const char *tag, uint64_t v)
{
	char digits[24];
	size_t i = sizeof(digits);

	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_open(b, indent, tag);
	buf_append(b, digits + i, sizeof(digits) - i);
	put_close(b, tag);
}

static void put_bool(struct sm_buf *b, const char *indent, const char *tag, bool v)
{
	put_open(b, indent, tag);
	buf_puts(b, v ? "true" : "false");
	put_close(b, tag);
}

/*
 * sm_config keys are free-form strings (xapi's map), not XML names, so
 * the key is an attribute: <entry key="LUNid">1</entry>.
 */
static void put_sm_config(struct sm_buf *b, const struct scan_vdi *v)
{
	if (!v->sm_config_count)
		return;
	buf_puts(b, "    <sm_config>\n");
	for (size_t i = 0; i < v->sm_config_count; i++) {
		buf_puts(b, "      <entry key=\"");
		buf_put_xml_escaped(b, v->sm_config[i].key, true);
		buf_puts(b, "\">");
		buf_put_xml_escaped(b, v->sm_config[i].value, false);
		buf_puts(b, "</entry>\n");
	}
	buf_puts(b, "    </sm_config>\n");
}

static void put_attr(struct sm_buf *b, const char *name, const char *value)
{
	buf_puts(b, " ");
	buf_puts(b, name);
	buf_puts(b, "=\"");
	buf_put_xml_escaped(b, value ? value : "", true);
	buf_puts(b, "\"");
}

/*
 * The facts a program needs are attributes (which link, which parent,
 * which file, why); the text is the sentence for people.
 */
static void put_chain_error(struct sm_buf *b, const struct scan_vdi *v)
{
	if (!v->chain_reason)
		return;
	buf_puts(b, "    <chain_error");
	put_attr(b, "reason", v->chain_reason);
	put_attr(b, "link", v->chain_link);
	put_attr(b, "parent", v->chain_parent);
	put_attr(b, "file", v->chain_file);
	buf_puts(b, ">");
	buf_put_xml_escaped(b, v->chain_error ? v->chain_error : "", false);
	buf_puts(b, "</chain_error>\n");
}

static void put_vdi(struct sm_buf *b, const struct scan_vdi *v)
{
	const char *in = "    ";

	buf_puts(b, "  <vdi>\n");
	put_text(b, in, "uuid", v->uuid);
	put_text(b, in, "location", v->location);
	put_u64(b, in, "size", v->size);
	put_u64(b, in, "utilisation", v->utilisation);
	put_text(b, in, "parent", v->parent);
	put_bool(b, in, "hidden", v->hidden);
	put_bool(b, in, "managed", v->managed);
	put_bool(b, in, "read_only", v->read_only);
	put_text(b, in, "type", v->type);
	put_text(b, in, "label", v->label);
	put_text(b, in, "description", v->description);
	put_bool(b, in, "locked", v->locked);
	if (v->lock_user) {
		put_text(b, in, "lock_user", v->lock_user);
		put_text(b, in, "lock_host", v->lock_host);
		put_u64(b, in, "lock_since", v->lock_since > 0 ? (uint64_t)v->lock_since : 0);
	}
	if (v->error)
		put_text(b, in, "error", v->error);
	put_chain_error(b, v);
	if (v->vendor)
		put_text(b, in, "vendor", v->vendor);
	if (v->serial)
		put_text(b, in, "serial", v->serial);
	put_sm_config(b, v);
	buf_puts(b, "  </vdi>\n");
}

char *scan_write_xml(const struct scan_sr *sr)
{
	struct sm_buf b = SM_BUF_INIT;
	const char *in = "  ";

	buf_puts(&b, "<?xml version=\"1.0\" ?>\n<sr>\n");
	put_text(&b, in, "uuid", sr->uuid);
	put_u64(&b, in, "physical_size", sr->physical_size);
	put_u64(&b, in, "physical_utilisation", sr->physical_utilisation);
	put_u64(&b, in, "virtual_allocation", sr->virtual_allocation);
	put_bool(&b, in, "default_vdi_visibility", sr->default_vdi_visibility);
	for (size_t i = 0; i < sr->count; i++)
		put_vdi(&b, &sr->vdis[i]);
	buf_puts(&b, "</sr>\n");
	return buf_steal(&b);
}
