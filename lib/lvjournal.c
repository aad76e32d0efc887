/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * LV journal names and data (include/csm/lvjournal.h), computed as
 * journaler.py computes them so both implementations find each other's.
 */
#include <stdio.h>
#include <string.h>

#include "csm/lvjournal.h"
#include "csm/util.h"

#define SEP '_'

/* Characters LVM accepts in an LV name. */
static bool lv_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '_' || c == '.' || c == '-';
}

static bool lv_name_part(const char *s, bool allow_sep)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!lv_name_char(*s) || (!allow_sep && *s == SEP))
			return false;
	return true;
}

/* Length of the dm name journaler.py checks: vg with '-' doubled, '-', the LV name as is. */
static size_t mapper_len(const char *vg, const char *lv)
{
	size_t n = strlen(lv) + 1;

	for (; *vg; vg++)
		n += *vg == '-' ? 2 : 1;
	return n;
}

/*
 * Code points in a UTF-8 string of len bytes (what Python's len() of the
 * decoded text counts); -1 when it is not well-formed UTF-8.
 */
static long utf8_chars(const uint8_t *s, size_t len)
{
	long chars = 0;
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			chars++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return -1;
		}
		if (i + n >= len)
			return -1;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += n + 1;
		chars++;
	}
	return chars;
}

/* Byte length of the first n code points of well-formed UTF-8. */
static size_t utf8_prefix_bytes(const uint8_t *s, size_t len, long n)
{
	size_t i = 0;

	while (n-- > 0 && i < len) {
		i++;
		while (i < len && (s[i] & 0xc0) == 0x80)
			i++;
	}
	return i;
}

static int put3(char *out, size_t cap, const char *a, const char *b, const char *c,
		struct sm_error *err)
{
	int n = snprintf(out, cap, "%s_%s_%s", a, b, c);

	if (n < 0 || (size_t)n >= cap)
		return sm_fail(err, SME_INVALID_ARG, "journal name %s_%s_... does not fit %zu bytes",
			       a, b, cap);
	return 0;
}

static int data_fits(const char *value, struct sm_error *err)
{
	long chars = utf8_chars((const uint8_t *)value, strlen(value));
	char prefix[32];

	if (chars < 0)
		return sm_fail(err, SME_LVM_WRITE, "journal value is not UTF-8");
	snprintf(prefix, sizeof(prefix), "%ld ", chars);
	if (strlen(prefix) + strlen(value) > LVJ_DATA_SIZE)
		return sm_fail(err, SME_LVM_WRITE, "journal value of %zu bytes does not fit %d",
			       strlen(value), LVJ_DATA_SIZE);
	return 0;
}

int lvjournal_lv_name(const char *vg, const char *type, const char *id, const char *value,
		      char *out, size_t cap, bool *value_in_lv, struct sm_error *err)
{
	char name[LVJ_NAME_MAX * 4];

	*value_in_lv = false;
	if (!vg || !*vg || !lv_name_part(type, false) || !lv_name_part(id, false) || !value)
		return sm_fail(err, SME_INVALID_ARG,
			       "journal type '%s' and id '%s' must be LV-name characters without '_'",
			       type ? type : "", id ? id : "");
	/* journaler.py tries the value in the name first; the check is on the whole string. */
	snprintf(name, sizeof(name), "%s_%s_%s", type, id, value);
	if (mapper_len(vg, name) <= LVJ_MAX_DM_NAME) {
		if (!lv_name_part(value, true))
			return sm_fail(err, SME_INVALID_ARG,
				       "journal value '%s' cannot be part of an LV name", value);
		return put3(out, cap, type, id, value, err);
	}
	if (data_fits(value, err) < 0)
		return -1;
	if (put3(out, cap, type, id, "1", err) < 0)
		return -1;
	if (mapper_len(vg, out) > LVJ_MAX_DM_NAME)
		return sm_fail(err, SME_INVALID_ARG, "journal %s in %s: dm name above %d characters",
			       out, vg, LVJ_MAX_DM_NAME);
	*value_in_lv = true;
	return 0;
}

static int copy_part(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

int lvjournal_parse_name(const char *lv_name, struct lvj_name *out, struct sm_error *err)
{
	const char *a, *b;

	memset(out, 0, sizeof(*out));
	a = lv_name ? strchr(lv_name, SEP) : NULL;
	b = a ? strchr(a + 1, SEP) : NULL;
	if (!b || copy_part(out->type, sizeof(out->type), lv_name, (size_t)(a - lv_name)) < 0 ||
	    copy_part(out->id, sizeof(out->id), a + 1, (size_t)(b - a - 1)) < 0 ||
	    copy_part(out->value, sizeof(out->value), b + 1, strlen(b + 1)) < 0) {
		memset(out, 0, sizeof(*out));
		return sm_fail(err, SME_LVM_NO_VOLUME, "Bad LV name: %s", lv_name ? lv_name : "");
	}
	return 0;
}

bool lvjournal_type_reads_data(const char *type)
{
	return type && (strcmp(type, LVJ_CLONE) == 0 || strcmp(type, LVJ_LEAF) == 0);
}

int lvjournal_data_encode(const char *value, uint8_t out[LVJ_DATA_SIZE], struct sm_error *err)
{
	char prefix[32];
	size_t plen, vlen;

	if (!value)
		return sm_fail(err, SME_LVM_WRITE, "no journal value");
	if (data_fits(value, err) < 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "%ld ",
		 utf8_chars((const uint8_t *)value, strlen(value)));
	plen = strlen(prefix);
	vlen = strlen(value);
	memset(out, ' ', LVJ_DATA_SIZE);
	memcpy(out, prefix, plen);
	memcpy(out + plen, value, vlen);
	return 0;
}

int lvjournal_data_decode(const uint8_t *data, size_t len, char *value, size_t cap,
			  struct sm_error *err)
{
	uint64_t want = 0;
	size_t i = 0, take;
	long avail;

	if (len > LVJ_DATA_SIZE)
		len = LVJ_DATA_SIZE;
	if (utf8_chars(data, len) < 0)
		return sm_fail(err, SME_LVM_READ, "journal data is not UTF-8");
	while (i < len && data[i] >= '0' && data[i] <= '9') {
		want = want * 10 + (uint64_t)(data[i] - '0');
		if (want > LVJ_DATA_SIZE)
			return sm_fail(err, SME_LVM_READ, "journal data length is out of range");
		i++;
	}
	if (i == 0 || i >= len || data[i] != ' ')
		return sm_fail(err, SME_LVM_READ, "journal data does not start with '<length> '");
	i++;
	avail = utf8_chars(data + i, len - i);
	if (avail < 0 || (uint64_t)avail < want)
		return sm_fail(err, SME_LVM_READ, "journal data holds fewer than %llu characters",
			       (unsigned long long)want);
	take = utf8_prefix_bytes(data + i, len - i, (long)want);
	if (memchr(data + i, '\0', take))
		return sm_fail(err, SME_LVM_READ, "journal value holds a NUL byte");
	if (take >= cap)
		return sm_fail(err, SME_LVM_READ, "journal value of %zu bytes does not fit %zu",
			       take, cap);
	memcpy(value, data + i, take);
	value[take] = '\0';
	return 0;
}

int lvjournal_csm_name(const char *vg, const char *op, const char *id, char *out, size_t cap,
		       struct sm_error *err)
{
	if (!vg || !*vg || !lv_name_part(op, false) || !lv_name_part(id, false))
		return sm_fail(err, SME_INVALID_ARG,
			       "journal op '%s' and id '%s' must be LV-name characters without '_'",
			       op ? op : "", id ? id : "");
	if (put3(out, cap, LVJ_CSM_PREFIX, op, id, err) < 0)
		return -1;
	if (mapper_len(vg, out) > LVJ_MAX_DM_NAME)
		return sm_fail(err, SME_INVALID_ARG, "journal %s in %s: dm name above %d characters",
			       out, vg, LVJ_MAX_DM_NAME);
	return 0;
}

bool lvjournal_csm_parse(const char *lv_name, char *op, size_t op_cap, char *id, size_t id_cap)
{
	struct lvj_name n;

	if (lvjournal_parse_name(lv_name, &n, NULL) < 0 || strcmp(n.type, LVJ_CSM_PREFIX) != 0 ||
	    !lv_name_part(n.id, false) || !lv_name_part(n.value, false) ||
	    strlen(n.id) >= op_cap || strlen(n.value) >= id_cap)
		return false;
	strcpy(op, n.id);
	strcpy(id, n.value);
	return true;
}
