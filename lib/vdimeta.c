/* SPDX-License-Identifier: LGPL-2.1-only */
#include <stdlib.h>
#include <string.h>

#include "csm/buf.h"
#include "csm/vdimeta.h"

static void put_escaped(struct sm_buf *b, const char *key, const char *v)
{
	buf_printf(b, "%s=", key);
	for (; v && *v; v++) {
		if (*v == '\\')
			buf_puts(b, "\\\\");
		else if (*v == '\n')
			buf_puts(b, "\\n");
		else if (*v == '\r')
			buf_puts(b, "\\r");
		else
			buf_append(b, v, 1);
	}
	buf_puts(b, "\n");
}

char *vdimeta_format(const struct vdi_meta *m)
{
	struct sm_buf b = SM_BUF_INIT;

	put_escaped(&b, "label", m->label);
	put_escaped(&b, "description", m->description);
	put_escaped(&b, "vdi_type", m->vdi_type);
	put_escaped(&b, "read_only", m->read_only ? "true" : "false");
	put_escaped(&b, "is_a_snapshot", m->is_a_snapshot ? "true" : "false");
	put_escaped(&b, "snapshot_of", m->snapshot_of);
	put_escaped(&b, "snapshot_time", m->snapshot_time);
	return buf_steal(&b);
}

size_t vdimeta_size(const struct vdi_meta *m)
{
	char *text = vdimeta_format(m);
	size_t n = text ? strlen(text) : 0;

	free(text);
	return n;
}

static char *unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			i++;
			*o++ = s[i] == 'n' ? '\n' : s[i] == 'r' ? '\r' : s[i];
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static void copy_fixed(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int set_field(struct vdi_meta *m, const char *key, size_t klen, char *v)
{
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
	if (KEY("label")) {
		free(m->label);
		m->label = v;
		return 0;
	}
	if (KEY("description")) {
		free(m->description);
		m->description = v;
		return 0;
	}
	if (KEY("vdi_type"))
		copy_fixed(m->vdi_type, sizeof(m->vdi_type), v);
	else if (KEY("read_only"))
		m->read_only = strcmp(v, "true") == 0;
	else if (KEY("is_a_snapshot"))
		m->is_a_snapshot = strcmp(v, "true") == 0;
	else if (KEY("snapshot_of"))
		copy_fixed(m->snapshot_of, sizeof(m->snapshot_of), v);
	else if (KEY("snapshot_time"))
		copy_fixed(m->snapshot_time, sizeof(m->snapshot_time), v);
#undef KEY
	free(v);
	return 0;
}

int vdimeta_parse(const char *text, struct vdi_meta *m)
{
	while (*text) {
		size_t n = strcspn(text, "\n");
		const char *eq = memchr(text, '=', n);

		if (eq) {
			char *v = unescape(eq + 1, n - (size_t)(eq + 1 - text));

			if (!v || set_field(m, text, (size_t)(eq - text), v) < 0)
				return -1;
		}
		text += n;
		if (*text == '\n')
			text++;
	}
	return 0;
}

void vdimeta_free(struct vdi_meta *m)
{
	free(m->label);
	free(m->description);
	memset(m, 0, sizeof(*m));
}

int vdimeta_set(char **field, const char *value)
{
	char *v = strdup(value ? value : "");

	if (!v)
		return -1;
	free(*field);
	*field = v;
	return 0;
}
