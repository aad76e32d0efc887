/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
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
