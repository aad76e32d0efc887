/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The LVM2 label and metadata reader (csm/lvm_label.h).  The device bytes
 * are untrusted: every offset and length is checked before use, and the
 * metadata text is parsed by a small tokenizer that keeps only what the
 * probe needs.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/lvm_label.h"

#define SECTOR 512
#define LABEL_SCAN_SECTORS 4
#define LABEL_CRC_FROM 20          /* the label's crc covers bytes 20..511 */
#define PV_UUID_LEN 32
#define MDA_HEADER_SIZE 512
#define MDA_MAGIC " LVM2 x[5A%r0N*>"
#define MDA_VERSION 1
#define RAW_LOCN_IGNORED 1u
/* Bounds against hostile bytes: LVM's own areas are far smaller. */
#define MDA_SIZE_MAX (1ull << 40)
#define TEXT_MAX (64u << 20)
#define DEPTH_MAX 8

uint32_t sm_lvm_crc(uint32_t initial, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = initial;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return crc;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int __attribute__((format(printf, 2, 3))) bad(struct sm_error *err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sm_fail(err, SME_LVM_READ, "LVM label: %s", msg);
}

static int read_at(sm_lvm_read_fn read, void *ctx, uint64_t off, void *buf, size_t len,
		   struct sm_error *err)
{
	int rc = read(ctx, off, buf, len);

	if (rc < 0)
		return sm_fail(err, SME_LVM_READ, "LVM label: reading %zu bytes at %llu: %s", len,
			       (unsigned long long)off, strerror(-rc));
	return 0;
}

/* 32 uuid characters as LVM prints them: groups of 6-4-4-4-4-4-6. */
static void format_uuid(const char *raw, char out[SM_LVM_UUID_TEXT])
{
	static const int groups[] = { 6, 4, 4, 4, 4, 4, 6 };
	size_t o = 0, r = 0;

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		if (g)
			out[o++] = '-';
		for (int i = 0; i < groups[g]; i++)
			out[o++] = raw[r++];
	}
	out[o] = '\0';
}

static bool uuid_chars_ok(const char *raw, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)raw[i]))
			return false;
	return true;
}

/* ---- label and pv_header -------------------------------------------- */

struct pv_layout {
	char uuid_raw[PV_UUID_LEN];
	uint64_t device_size;
	uint64_t pe_start;
	uint64_t mda_offset[2], mda_size[2];
	size_t mdas;
};

/* The sector holding a valid label: its index, or -1 (none), -2 (read error). */
static int find_label(sm_lvm_read_fn read, void *ctx, uint8_t sector[SECTOR],
		      struct sm_error *err)
{
	for (int s = 0; s < LABEL_SCAN_SECTORS; s++) {
		if (read_at(read, ctx, (uint64_t)s * SECTOR, sector, SECTOR, err) < 0)
			return -2;
		if (memcmp(sector, "LABELONE", 8) != 0 || le64(sector + 8) != (uint64_t)s)
			continue;
		if (sm_lvm_crc(SM_LVM_INITIAL_CRC, sector + LABEL_CRC_FROM, SECTOR - LABEL_CRC_FROM) !=
		    le32(sector + 16)) {
			bad(err, "label checksum mismatch in sector %d", s);
			return -2;
		}
		return s;
	}
	return -1;
}

/* {offset, size} pairs up to the {0, 0} that ends the list; *pos moves past it. */
static int disk_locns(const uint8_t *sector, size_t *pos, uint64_t *offs, uint64_t *sizes,
		      size_t max, size_t *n, const char *what, struct sm_error *err)
{
	*n = 0;
	for (;;) {
		uint64_t off, size;

		if (*pos + 16 > SECTOR)
			return bad(err, "%s list runs past the label sector", what);
		off = le64(sector + *pos);
		size = le64(sector + *pos + 8);
		*pos += 16;
		if (!off && !size)
			return 0;
		if (*n < max) {
			offs[*n] = off;
			sizes[*n] = size;
		}
		(*n)++;
	}
}

static int parse_pv_header(const uint8_t *sector, struct pv_layout *pv, struct sm_error *err)
{
	uint32_t offset = le32(sector + 20);
	uint64_t da_off[1], da_size[1];
	size_t pos, n;

	if (memcmp(sector + 24, "LVM2 001", 8) != 0)
		return bad(err, "unknown label type (not \"LVM2 001\")");
	if (offset < 32 || offset > SECTOR - PV_UUID_LEN - 8)
		return bad(err, "pv_header offset %u out of range", offset);
	memcpy(pv->uuid_raw, sector + offset, PV_UUID_LEN);
	if (!uuid_chars_ok(pv->uuid_raw, PV_UUID_LEN))
		return bad(err, "PV uuid is not alphanumeric");
	pv->device_size = le64(sector + offset + PV_UUID_LEN);
	pos = offset + PV_UUID_LEN + 8;
	if (disk_locns(sector, &pos, da_off, da_size, 1, &n, "data area", err) < 0 ||
	    disk_locns(sector, &pos, pv->mda_offset, pv->mda_size, 2, &pv->mdas, "metadata area",
		       err) < 0)
		return -1;
	pv->pe_start = n ? da_off[0] : 0;
	if (pv->mdas > 2)
		pv->mdas = 2;
	return 0;
}

/* ---- metadata area -------------------------------------------------- */

struct raw_text {
	char *text;          /* malloc'd, NUL-terminated */
	size_t len;
	uint64_t offset, size;   /* its raw_locn */
};

/* The current metadata of one area: 0, 1 when it holds none, -1 on error. */
static int read_mda_text(sm_lvm_read_fn read, void *ctx, uint64_t start, uint64_t size,
			 struct raw_text *t, struct sm_error *err)
{
	uint8_t h[MDA_HEADER_SIZE];
	uint64_t off, len, first;
	uint32_t sum, flags;

	if (size <= MDA_HEADER_SIZE || size > MDA_SIZE_MAX || start > UINT64_MAX - size)
		return bad(err, "metadata area size %llu out of range", (unsigned long long)size);
	if (read_at(read, ctx, start, h, sizeof(h), err) < 0)
		return -1;
	if (memcmp(h + 4, MDA_MAGIC, 16) != 0)
		return bad(err, "no metadata area header at %llu", (unsigned long long)start);
	if (sm_lvm_crc(SM_LVM_INITIAL_CRC, h + 4, MDA_HEADER_SIZE - 4) != le32(h))
		return bad(err, "metadata area header checksum mismatch at %llu", (unsigned long long)start);
	if (le32(h + 20) != MDA_VERSION || le64(h + 24) != start || le64(h + 32) != size)
		return bad(err, "metadata area header at %llu disagrees with the label", (unsigned long long)start);
	off = le64(h + 40);
	len = le64(h + 48);
	sum = le32(h + 56);
	flags = le32(h + 60);
	if ((!off && !len) || (flags & RAW_LOCN_IGNORED))
		return 1;
	if (off < MDA_HEADER_SIZE || off >= size || len == 0 || len > TEXT_MAX ||
	    len > size - MDA_HEADER_SIZE)
		return bad(err, "metadata text location (offset %llu, size %llu) out of range", (unsigned long long)off, (unsigned long long)len);
	t->text = malloc(len + 1);
	if (!t->text)
		return sm_fail(err, SME_LVM_READ, "LVM label: out of memory");
	/* A circular buffer: what runs past the end continues after the header. */
	first = len < size - off ? len : size - off;
	if (read_at(read, ctx, start + off, t->text, first, err) < 0 ||
	    (len > first &&
	     read_at(read, ctx, start + MDA_HEADER_SIZE, t->text + first, len - first, err) < 0)) {
		free(t->text);
		t->text = NULL;
		return -1;
	}
	if (sm_lvm_crc(SM_LVM_INITIAL_CRC, t->text, len) != sum) {
		free(t->text);
		t->text = NULL;
		return bad(err, "metadata text checksum mismatch in the area at %llu", (unsigned long long)start);
	}
	t->text[len] = '\0';
	t->len = strlen(t->text);
	t->offset = off;
	t->size = len;   /* the stored text may end in its NUL */
	return 0;
}

/* ---- metadata text -------------------------------------------------- */

enum tok { T_END, T_WORD, T_STRING, T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET, T_EQ,
	   T_COMMA, T_BAD };

struct lexer {
	const char *start, *p, *end;
	char val[256];        /* the word or string, truncated */
	bool truncated;
};

static void skip_space(struct lexer *lx)
{
	while (lx->p < lx->end) {
		if (*lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (isspace((unsigned char)*lx->p)) {
			lx->p++;
		} else {
			break;
		}
	}
}

static void keep(struct lexer *lx, size_t *n, char c)
{
	if (*n + 1 < sizeof(lx->val))
		lx->val[(*n)++] = c;
	else
		lx->truncated = true;
}

static enum tok lex_string(struct lexer *lx)
{
	size_t n = 0;

	for (lx->p++; lx->p < lx->end && *lx->p != '"'; lx->p++) {
		if (*lx->p == '\\' && lx->p + 1 < lx->end)
			lx->p++;
		keep(lx, &n, *lx->p);
	}
	lx->val[n] = '\0';
	if (lx->p >= lx->end)
		return T_BAD;
	lx->p++;
	return T_STRING;
}

static enum tok next(struct lexer *lx)
{
	static const char punct[] = "{}[]=,";
	static const enum tok ptok[] = { T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET, T_EQ, T_COMMA };
	const char *q;
	size_t n = 0;

	lx->truncated = false;
	skip_space(lx);
	if (lx->p >= lx->end)
		return T_END;
	if (*lx->p == '"')
		return lex_string(lx);
	q = strchr(punct, *lx->p);
	if (q && *q) {
		lx->p++;
		return ptok[q - punct];
	}
	while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || strchr("_.+-", *lx->p))) {
		keep(lx, &n, *lx->p);
		lx->p++;
	}
	lx->val[n] = '\0';
	return n ? T_WORD : T_BAD;
}

struct vg_scan {
	const char *pv_uuid_raw;       /* the PV being read, to find its pe_count */
	struct sm_lvm_pv_info *out;
	char path[DEPTH_MAX][256];     /* the open sections, outermost first */
	int depth;
	bool in_pvs_this;              /* inside physical_volumes/<pv> */
	uint64_t pv_pe_count;
	bool pv_is_ours, have_extent_size;
	bool overflow;                 /* the extents of the PVs do not fit 64 bits */
};

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !*end && errno == 0;
}

/* "abcdef-ghij-..." with its dashes removed equals the 32 raw characters. */
static bool same_uuid(const char *text, const char *raw)
{
	size_t r = 0;

	for (; *text; text++) {
		if (*text == '-')
			continue;
		if (r >= PV_UUID_LEN || *text != raw[r++])
			return false;
	}
	return r == PV_UUID_LEN;
}

/* A "key = value" inside the sections the probe reads. */
static void assign(struct vg_scan *s, const char *key, enum tok t, const char *val)
{
	struct sm_lvm_pv_info *o = s->out;
	uint64_t v = 0;
	bool num = t == T_WORD && parse_u64(val, &v);

	if (s->depth == 1) {
		if (strcmp(key, "id") == 0 && t == T_STRING && strlen(val) == 38)
			memcpy(o->vg_uuid, val, sizeof(o->vg_uuid));   /* 38 characters and the NUL */
		else if (strcmp(key, "seqno") == 0 && num)
			o->seqno = v;
		else if (strcmp(key, "extent_size") == 0 && num) {
			o->extent_size = v;
			s->have_extent_size = true;
		}
	} else if (s->in_pvs_this) {
		if (strcmp(key, "id") == 0 && t == T_STRING)
			s->pv_is_ours = same_uuid(val, s->pv_uuid_raw);
		else if (strcmp(key, "pe_count") == 0 && num)
			s->pv_pe_count = v;
	}
}

static void open_section(struct vg_scan *s, const char *name)
{
	snprintf(s->path[s->depth], sizeof(s->path[0]), "%s", name);
	s->depth++;
	if (s->depth == 3 && strcmp(s->path[1], "physical_volumes") == 0) {
		s->in_pvs_this = true;
		s->pv_pe_count = 0;
		s->pv_is_ours = false;
	}
}

static void close_section(struct vg_scan *s)
{
	struct sm_lvm_pv_info *o = s->out;

	if (s->in_pvs_this && s->depth == 3) {
		o->pv_count++;
		if (o->vg_pe_count > UINT64_MAX - s->pv_pe_count)
			s->overflow = true;
		o->vg_pe_count += s->pv_pe_count;
		if (s->pv_is_ours)
			o->pe_count = s->pv_pe_count;
		s->in_pvs_this = false;
	}
	s->depth--;
}

/* The value after '=': a word, a string, or an array (skipped). */
static int value(struct lexer *lx, enum tok *t)
{
	*t = next(lx);
	if (*t == T_WORD || *t == T_STRING)
		return 0;
	if (*t != T_LBRACKET)
		return -1;
	for (;;) {
		enum tok e = next(lx);

		if (e == T_RBRACKET)
			return 0;
		if (e != T_WORD && e != T_STRING && e != T_COMMA)
			return -1;
	}
}

/* Walk the text: sections and assignments, the VG section first. */
static int scan_text(struct lexer *lx, struct vg_scan *s, struct sm_error *err)
{
	enum tok t;

	while ((t = next(lx)) != T_END) {
		char key[sizeof(lx->val)];
		bool key_truncated;
		enum tok vt;

		if (t == T_RBRACE) {
			if (s->depth == 0)
				return bad(err, "metadata text: unbalanced '}'");
			close_section(s);
			continue;
		}
		if (t != T_WORD)
			return bad(err, "metadata text: unexpected token at byte %td", lx->p - lx->start);
		memcpy(key, lx->val, sizeof(key));
		key_truncated = lx->truncated;
		t = next(lx);
		if (t == T_LBRACE) {
			if (s->depth == 0 && !s->out->vg_name[0]) {
				if (key_truncated || strlen(key) > SM_LVM_VG_NAME_MAX)
					return bad(err, "metadata text: VG name too long");
				memcpy(s->out->vg_name, key, strlen(key) + 1);
			}
			if (s->depth >= DEPTH_MAX)
				return bad(err, "metadata text: sections nested deeper than %d", DEPTH_MAX);
			open_section(s, key);
			continue;
		}
		if (t != T_EQ || value(lx, &vt) < 0)
			return bad(err, "metadata text: bad assignment to '%.60s'", key);
		if (s->depth >= 1 && strcmp(s->path[0], s->out->vg_name) == 0)
			assign(s, key, vt, lx->val);
	}
	if (s->depth != 0)
		return bad(err, "metadata text: a section is not closed");
	return 0;
}

static int parse_text(const struct raw_text *t, const char *pv_uuid_raw,
		      struct sm_lvm_pv_info *out, struct sm_error *err)
{
	struct lexer lx = { .start = t->text, .p = t->text, .end = t->text + t->len };
	struct vg_scan s = { .pv_uuid_raw = pv_uuid_raw, .out = out };

	if (scan_text(&lx, &s, err) < 0)
		return -1;
	if (!out->vg_name[0] || !s.have_extent_size || out->pv_count == 0)
		return bad(err, "metadata text has no VG with extent_size and PVs");
	if (s.overflow ||
	    out->extent_size > UINT64_MAX / 512 / (out->vg_pe_count ? out->vg_pe_count : 1))
		return bad(err, "metadata text: VG size overflows (extent_size %llu)",
			   (unsigned long long)out->extent_size);
	out->extent_size *= 512;
	out->vg_size = out->extent_size * out->vg_pe_count;
	return 0;
}

int sm_lvm_label_read(sm_lvm_read_fn read, void *ctx, struct sm_lvm_pv_info *out,
		      struct sm_error *err)
{
	uint8_t sector[SECTOR];
	struct pv_layout pv;
	struct raw_text t = { .text = NULL };
	int s, rc = 1;

	memset(out, 0, sizeof(*out));
	memset(&pv, 0, sizeof(pv));
	s = find_label(read, ctx, sector, err);
	if (s == -1)
		return SM_LVM_NO_LABEL;
	if (s < 0 || parse_pv_header(sector, &pv, err) < 0)
		return -1;
	format_uuid(pv.uuid_raw, out->pv_uuid);
	out->device_size = pv.device_size;
	out->pe_start = pv.pe_start;
	/* The first area with current metadata; pvcreate --metadatacopies 2 adds one at the end. */
	for (size_t i = 0; i < pv.mdas && rc == 1; i++) {
		rc = read_mda_text(read, ctx, pv.mda_offset[i], pv.mda_size[i], &t, err);
		if (rc == 0) {
			out->mda_offset = pv.mda_offset[i];
			out->mda_size = pv.mda_size[i];
			out->text_offset = t.offset;
			out->text_size = t.size;
		}
	}
	if (rc < 0)
		return -1;
	if (rc == 1)
		return 0;   /* a PV in no VG */
	rc = parse_text(&t, pv.uuid_raw, out, err);
	free(t.text);
	return rc;
}
