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
		free(sr->vdis[i].label);
		free(sr->vdis[i].description);
		free(sr->vdis[i].error);
	}
	free(sr->vdis);
	sr->vdis = NULL;
	sr->count = sr->cap = 0;
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
	if (v->error)
		put_text(b, in, "error", v->error);
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
