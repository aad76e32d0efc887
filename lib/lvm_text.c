/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/util.h"
#include "lvm_internal.h"

static const char filter_end[] = "\"r|.*|\"";

/* One path of the longest, all escapes, always fits an empty filter. */
_Static_assert(LVM_FILTER_MAX > 3 * LVM_PATH_MAX + 16, "LVM_FILTER_MAX too small");

bool lvm_path_ok(const char *p)
{
	if (p[0] != '/' || strlen(p) > LVM_PATH_MAX)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("/_.:+-=@,", *p)))
			return false;
	return true;
}

void lvm_filter_init(struct lvm_filter *f)
{
	f->len = 0;
	f->text[0] = '\0';
}

/* '.' and '+' are the only allowed characters a regex gives a meaning. */
static size_t escaped_len(const char *path)
{
	size_t n = 0;

	for (const char *p = path; *p; p++)
		n += (*p == '.' || *p == '+') ? 3 : 1;
	return n;
}

static void put(struct lvm_filter *f, const char *s)
{
	size_t n = strlen(s);

	memcpy(f->text + f->len, s, n);
	f->len += n;
}

int lvm_filter_add(struct lvm_filter *f, const char *path)
{
	size_t need;

	if (!lvm_path_ok(path))
		return -EINVAL;
	/* The whole entry is measured first, so a path never half-fits. */
	need = strlen("\"a|^") + escaped_len(path) + strlen("$|\",");
	if (need + sizeof(filter_end) > sizeof(f->text) - f->len)
		return -E2BIG;
	put(f, "\"a|^");
	for (const char *p = path; *p; p++) {
		if (*p == '.' || *p == '+') {
			f->text[f->len++] = '[';
			f->text[f->len++] = *p;
			f->text[f->len++] = ']';
		} else {
			f->text[f->len++] = *p;
		}
	}
	put(f, "$|\",");
	f->text[f->len] = '\0';
	return 0;
}

void lvm_filter_finish(struct lvm_filter *f)
{
	put(f, filter_end);
	f->text[f->len] = '\0';
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	for (end = s + strlen(s); end > s && (end[-1] == ' ' || end[-1] == '\t'); end--)
		end[-1] = '\0';
	return s;
}

int lvm_row_parse(char *row, char **fields, size_t n)
{
	char *p = row;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		char *end = strchr(p, '|');

		if (!end && i + 1 < n)
			return -1;   /* fewer fields */
		if (end && i + 1 == n)
			return -1;   /* more fields */
		if (end)
			*end = '\0';
		fields[i] = trim(p);
		p = end ? end + 1 : p;
	}
	return 0;
}

int lvm_field_u64(const char *field, uint64_t *out)
{
	return sm_parse_u64(field, out);
}

/* ---- names ------------------------------------------------------------ */

bool lvm_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= LVM_NAME_MAX || name[0] == '-' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("+_.-", *p)))
			return false;
	return true;
}

bool lvm_tag_ok(const char *tag)
{
	size_t len = strlen(tag);

	if (len == 0 || len > 1024 || tag[0] == '-')
		return false;
	for (const char *p = tag; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("_+.-/=!:&#", *p)))
			return false;
	return true;
}

/* s with every '-' doubled at out+*pos; false if it does not fit. */
static bool put_doubled(char *out, size_t cap, size_t *pos, const char *s)
{
	for (; *s; s++) {
		size_t need = *s == '-' ? 2 : 1;

		if (*pos + need >= cap)
			return false;
		out[(*pos)++] = *s;
		if (*s == '-')
			out[(*pos)++] = '-';
	}
	out[*pos] = '\0';
	return true;
}

int lvm_dm_name(const char *vg, const char *lv, char *out, size_t cap)
{
	size_t pos = 0;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	if (!put_doubled(out, cap, &pos, vg) || pos + 1 >= cap)
		return -1;
	out[pos++] = '-';
	out[pos] = '\0';
	return put_doubled(out, cap, &pos, lv) ? 0 : -1;
}

/* Append c at out[*pos] if it fits (with its NUL); false if not. */
static bool put_char(char *out, size_t cap, size_t *pos, char c)
{
	if (*pos + 1 >= cap)
		return false;
	out[(*pos)++] = c;
	out[*pos] = '\0';
	return true;
}

int lvm_dm_name_split(const char *name, char *vg, size_t vgcap, char *lv, size_t lvcap)
{
	const char *base = strrchr(name, '/');
	size_t vpos = 0, lpos = 0;
	bool in_lv = false;

	base = base ? base + 1 : name;
	if (vgcap == 0 || lvcap == 0)
		return -1;
	vg[0] = lv[0] = '\0';
	for (const char *p = base; *p; p++) {
		char c = *p;

		if (c == '-' && p[1] == '-') {
			p++;                 /* "--": one '-' of a name */
		} else if (c == '-') {
			if (in_lv)
				return -1;   /* a second separator: a layer ("-real"), no LV's own */
			in_lv = true;
			continue;
		}
		if (!(in_lv ? put_char(lv, lvcap, &lpos, c) : put_char(vg, vgcap, &vpos, c)))
			return -1;
	}
	return in_lv && vpos && lvm_name_ok(lv) ? 0 : -1;
}

int lvm_lv_from_dm_name(const char *vg, const char *name, char *out, size_t cap)
{
	char vg_part[2 * LVM_NAME_MAX + 2], lv_part[LVM_NAME_MAX];

	if (lvm_dm_name_split(name, vg_part, sizeof(vg_part), lv_part, sizeof(lv_part)) < 0 ||
	    strcmp(vg_part, vg) != 0 || strlen(lv_part) >= cap)
		return -1;
	memcpy(out, lv_part, strlen(lv_part) + 1);
	return 0;
}

/* ---- reports ---------------------------------------------------------- */

static int __attribute__((format(printf, 3, 4))) why_fail(char *why, size_t whylen,
							   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

static int copy_field(char *dst, size_t cap, const char *src)
{
	size_t len = strlen(src);

	if (len >= cap)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

void lvm_lv_list_free(struct lvm_lv_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++)
		free(list->lv[i].seg);
	free(list->lv);
	list->lv = NULL;
	list->n = 0;
}

const struct lvm_lv *lvm_lv_find(const struct lvm_lv_list *list, const char *name)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->lv[i].name, name) == 0)
			return &list->lv[i];
	return NULL;
}

bool lvm_lv_has_tag(const struct lvm_lv *lv, const char *tag)
{
	size_t len = strlen(tag);

	for (const char *p = lv->tags; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && strncmp(p, tag, len) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

/* "/dev/loop3:1-3": PV up to the last ':', then first-last extents. */
static int parse_pe_range(char *s, struct lvm_seg *seg)
{
	char *colon = strrchr(s, ':'), *dash;
	uint64_t last;

	if (!colon || strchr(s, ' '))
		return -1;   /* one range only: a linear segment */
	*colon = '\0';
	dash = strchr(colon + 1, '-');
	if (!dash)
		return -1;
	*dash = '\0';
	if (sm_parse_u64(colon + 1, &seg->pe_first) < 0 || sm_parse_u64(dash + 1, &last) < 0 ||
	    last < seg->pe_first || copy_field(seg->pv, sizeof(seg->pv), s) < 0 || s[0] != '/')
		return -1;
	seg->pe_count = last - seg->pe_first + 1;
	return 0;
}

/* The LV a row belongs to: the last one (rows come grouped) or a new one. */
static struct lvm_lv *lv_for_row(struct lvm_lv_list *out, const char *name, size_t *cap)
{
	struct lvm_lv *grown;

	if (out->n && strcmp(out->lv[out->n - 1].name, name) == 0)
		return &out->lv[out->n - 1];
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		grown = realloc(out->lv, ncap * sizeof(*grown));
		if (!grown)
			return NULL;
		out->lv = grown;
		*cap = ncap;
	}
	memset(&out->lv[out->n], 0, sizeof(out->lv[0]));
	return &out->lv[out->n++];
}

static int add_segment(struct lvm_lv *lv, char **f, char *why, size_t whylen)
{
	struct lvm_seg seg = { 0 }, *grown;
	uint64_t end = lv->nseg ? lv->seg[lv->nseg - 1].start + lv->seg[lv->nseg - 1].size : 0;

	if (sm_parse_u64(f[5], &seg.start) < 0 || sm_parse_u64(f[6], &seg.size) < 0 ||
	    seg.size == 0)
		return why_fail(why, whylen, "segment of %.128s: start or size not a number", lv->name);
	if (seg.start != end || seg.size > lv->size || seg.start > lv->size - seg.size)
		return why_fail(why, whylen, "segments of %.128s do not tile the LV", lv->name);
	if (lv->nseg >= LVM_SEGS_MAX)
		return why_fail(why, whylen, "%.128s has too many segments", lv->name);
	seg.linear = strcmp(f[4], "linear") == 0;
	if (seg.linear && parse_pe_range(f[7], &seg) < 0)
		return why_fail(why, whylen, "segment of %.128s: bad PV range", lv->name);
	grown = realloc(lv->seg, (lv->nseg + 1) * sizeof(*grown));
	if (!grown)
		return why_fail(why, whylen, "%s", "out of memory");
	lv->seg = grown;
	lv->seg[lv->nseg++] = seg;
	return 0;
}

static int new_lv(struct lvm_lv *lv, char **f, char *why, size_t whylen)
{
	if (!lvm_name_ok(f[0]) || copy_field(lv->name, sizeof(lv->name), f[0]) < 0)
		return why_fail(why, whylen, "LV name '%.128s' is not an LVM name", f[0]);
	if (sm_parse_u64(f[1], &lv->size) < 0)
		return why_fail(why, whylen, "size of %.128s is not a number", f[0]);
	if (strlen(f[2]) < 6 || copy_field(lv->attr, sizeof(lv->attr), f[2]) < 0)
		return why_fail(why, whylen, "attr of %.128s is not an lv_attr", f[0]);
	if (copy_field(lv->tags, sizeof(lv->tags), f[3]) < 0)
		return why_fail(why, whylen, "tags of %.128s too long", f[0]);
	lv->read_only = lv->attr[1] == 'r';
	lv->active = lv->attr[4] == 'a';
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * An LV's rows come together: a name seen again after another LV's rows
 * means the report is not ours.  Sorted, not searched row by row: a VG of
 * a thousand LVs is scanned on every sr_scan.
 */
static int names_unique(const struct lvm_lv_list *out, char *why, size_t whylen)
{
	const char **names;
	int rc = 0;

	if (out->n < 2)
		return 0;
	names = malloc(out->n * sizeof(*names));
	if (!names)
		return why_fail(why, whylen, "%s", "out of memory");
	for (size_t i = 0; i < out->n; i++)
		names[i] = out->lv[i].name;
	qsort(names, out->n, sizeof(*names), cmp_name);
	for (size_t i = 1; i < out->n && rc == 0; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			rc = why_fail(why, whylen, "rows of LV '%.128s' not together", names[i]);
	free(names);
	return rc;
}

int lvm_lvs_parse(char **rows, size_t n, struct lvm_lv_list *out, char *why, size_t whylen)
{
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		char *f[LVM_LVS_NFIELDS];
		struct lvm_lv *lv;
		size_t before = out->n;

		if (lvm_row_parse(rows[i], f, LVM_LVS_NFIELDS) < 0) {
			why_fail(why, whylen, "unexpected report line '%.200s'", rows[i]);
			goto bad;
		}
		lv = lv_for_row(out, f[0], &cap);
		if (!lv) {
			why_fail(why, whylen, "%s", "out of memory");
			goto bad;
		}
		if (out->n != before && new_lv(lv, f, why, whylen) < 0)
			goto bad;
		if (out->n == before && strcmp(lv->attr, f[2]) != 0) {
			why_fail(why, whylen, "rows of LV '%.128s' disagree", f[0]);
			goto bad;
		}
		if (add_segment(lv, f, why, whylen) < 0)
			goto bad;
	}
	if (names_unique(out, why, whylen) < 0)
		goto bad;
	for (size_t i = 0; i < out->n; i++) {
		const struct lvm_seg *last = &out->lv[i].seg[out->lv[i].nseg - 1];

		if (last->start + last->size != out->lv[i].size) {
			why_fail(why, whylen, "segments of %.128s do not cover the LV", out->lv[i].name);
			goto bad;
		}
	}
	return 0;
bad:
	lvm_lv_list_free(out);
	return -1;
}

int lvm_vgs_parse(char **rows, size_t n, const char *vg, bool *found, struct lvm_vg_stats *st,
		  char *why, size_t whylen)
{
	*found = false;
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < n; i++) {
		char *f[LVM_VGS_NFIELDS];
		struct lvm_pv_info *pv;
		uint64_t size, free_b, ext;

		if (lvm_row_parse(rows[i], f, LVM_VGS_NFIELDS) < 0)
			return why_fail(why, whylen, "unexpected report line '%.200s'", rows[i]);
		if (strcmp(f[0], vg) != 0)
			continue;
		if (sm_parse_u64(f[1], &size) < 0 || sm_parse_u64(f[2], &free_b) < 0 ||
		    sm_parse_u64(f[3], &ext) < 0 || ext == 0 || ext % 512 || free_b > size)
			return why_fail(why, whylen, "sizes of VG %.128s are not numbers", vg);
		if (*found && (size != st->size || free_b != st->free || ext != st->extent_size))
			return why_fail(why, whylen, "rows of VG %.128s disagree", vg);
		st->size = size;
		st->free = free_b;
		st->extent_size = ext;
		*found = true;
		if (st->npv >= LVM_MAX_DEVICES)
			return why_fail(why, whylen, "VG %.128s has too many PVs", vg);
		pv = &st->pv[st->npv];
		if (f[4][0] != '/' || copy_field(pv->name, sizeof(pv->name), f[4]) < 0 ||
		    sm_parse_u64(f[5], &pv->pe_start) < 0 || sm_parse_u64(f[6], &pv->pe_count) < 0 ||
		    pv->pe_start % 512)
			return why_fail(why, whylen, "a PV row of VG %.128s is not a PV", vg);
		st->npv++;
	}
	return 0;
}

int lvm_lv_extents(const struct lvm_lv *lv, const struct lvm_vg_stats *vg,
		   struct vhd_io_extent *ext, size_t cap, size_t *n, struct sm_error *err)
{
	*n = 0;
	if (lv->nseg == 0)
		return sm_fail(err, SME_VDI_LOAD, "%s: no segments", lv->name);
	if (lv->nseg > cap)
		return sm_fail(err, SME_VDI_LOAD, "%s: %zu segments, more than %zu", lv->name, lv->nseg,
			       cap);
	for (size_t i = 0; i < lv->nseg; i++) {
		const struct lvm_seg *s = &lv->seg[i];
		const struct lvm_pv_info *pv = NULL;

		if (!s->linear)
			return sm_fail(err, SME_VDI_LOAD, "%s: segment %zu is not linear", lv->name, i);
		for (size_t j = 0; j < vg->npv && !pv; j++)
			if (strcmp(vg->pv[j].name, s->pv) == 0)
				pv = &vg->pv[j];
		if (!pv)
			return sm_fail(err, SME_VDI_LOAD, "%s: segment %zu on %s, no PV of the VG",
				       lv->name, i, s->pv);
		/* The range must be what the segment says, and lie on the PV. */
		if (s->pe_count > UINT64_MAX / vg->extent_size ||
		    s->pe_count * vg->extent_size != s->size || s->pe_first > pv->pe_count ||
		    s->pe_count > pv->pe_count - s->pe_first ||
		    s->pe_first > (UINT64_MAX - pv->pe_start) / vg->extent_size)
			return sm_fail(err, SME_VDI_LOAD, "%s: segment %zu does not fit %s", lv->name, i,
				       s->pv);
		ext[i].dev = s->pv;
		ext[i].dev_off = pv->pe_start + s->pe_first * vg->extent_size;
		ext[i].len = s->size;
	}
	*n = lv->nseg;
	return 0;
}

/* ---- the one-command report (lvm fullreport) ------------------------------ */

static size_t field_count(const char *row)
{
	size_t n = 1;

	for (const char *p = strchr(row, '|'); p; p = strchr(p + 1, '|'))
		n++;
	return n;
}

/* A row's first field (trimmed) is vg; the row is left as it was. */
static bool first_field_is(const char *row, const char *vg)
{
	size_t len = strlen(vg);
	const char *p = row;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, vg, len) != 0)
		return false;
	for (p += len; *p == ' ' || *p == '\t'; p++)
		;
	return *p == '|';
}

static int full_vg_row(char *row, const char *vg, bool *found, struct lvm_vg_stats *st,
		       char *why, size_t whylen)
{
	char *f[LVM_FULL_VG_NFIELDS];

	if (lvm_row_parse(row, f, LVM_FULL_VG_NFIELDS) < 0)
		return why_fail(why, whylen, "unexpected report line '%.200s'", row);
	if (strcmp(f[0], vg) != 0)
		return 0;
	if (*found)
		return why_fail(why, whylen, "two rows for VG %.128s", vg);
	if (sm_parse_u64(f[1], &st->size) < 0 || sm_parse_u64(f[2], &st->free) < 0 ||
	    sm_parse_u64(f[3], &st->extent_size) < 0 || st->extent_size == 0 ||
	    st->extent_size % 512 || st->free > st->size)
		return why_fail(why, whylen, "sizes of VG %.128s are not numbers", vg);
	*found = true;
	return 0;
}

static int full_pv_row(char *row, const char *vg, struct lvm_vg_stats *st, char *why,
		       size_t whylen)
{
	char *f[LVM_FULL_PV_NFIELDS];
	struct lvm_pv_info *pv;

	if (lvm_row_parse(row, f, LVM_FULL_PV_NFIELDS) < 0)
		return why_fail(why, whylen, "unexpected report line '%.200s'", row);
	if (strcmp(f[1], vg) != 0)
		return 0;   /* another VG's, or an orphan PV ("") */
	if (st->npv >= LVM_MAX_DEVICES)
		return why_fail(why, whylen, "VG %.128s has too many PVs", vg);
	pv = &st->pv[st->npv];
	if (f[0][0] != '/' || copy_field(pv->name, sizeof(pv->name), f[0]) < 0 ||
	    sm_parse_u64(f[2], &pv->pe_start) < 0 || sm_parse_u64(f[3], &pv->pe_count) < 0 ||
	    pv->pe_start % 512)
		return why_fail(why, whylen, "a PV row of VG %.128s is not a PV", vg);
	st->npv++;
	return 0;
}

int lvm_full_parse(char **rows, size_t n, const char *vg, bool *found, struct lvm_vg_stats *st,
		   struct lvm_lv_list *out, char *why, size_t whylen)
{
	char **segs = malloc((n ? n : 1) * sizeof(*segs));
	size_t nseg = 0;
	int rc = 0;

	*found = false;
	memset(st, 0, sizeof(*st));
	memset(out, 0, sizeof(*out));
	if (!segs)
		return why_fail(why, whylen, "%s", "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		switch (field_count(rows[i])) {
		case LVM_FULL_VG_NFIELDS:
			rc = full_vg_row(rows[i], vg, found, st, why, whylen);
			break;
		case LVM_FULL_PV_NFIELDS:
			rc = full_pv_row(rows[i], vg, st, why, whylen);
			break;
		case LVM_FULL_SEG_NFIELDS:
			/* The LV fields after the VG's go to lvm_lvs_parse as an lvs row. */
			if (first_field_is(rows[i], vg))
				segs[nseg++] = strchr(rows[i], '|') + 1;
			break;
		default:
			rc = why_fail(why, whylen, "unexpected report line '%.200s'", rows[i]);
		}
	}
	if (rc == 0 && !*found && (st->npv || nseg))
		rc = why_fail(why, whylen, "PV or LV rows of VG %.128s but no VG row", vg);
	else if (rc == 0 && *found && !st->npv)
		rc = why_fail(why, whylen, "VG %.128s has no PV rows", vg);
	if (rc == 0 && *found)
		rc = lvm_lvs_parse(segs, nseg, out, why, whylen);
	free(segs);
	if (rc < 0) {
		*found = false;
		memset(st, 0, sizeof(*st));
	}
	return rc;
}
