/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/vdiforest.h"
#include "csm/vhdchain.h"

static int node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct vdi_node *)a)->img.uuid, ((const struct vdi_node *)b)->img.uuid);
}

struct vdi_node *vdi_forest_find(const struct vdi_forest *f, const char *uuid)
{
	struct vdi_node key;

	if (!uuid || !*uuid || f->count == 0)
		return NULL;
	snprintf(key.img.uuid, sizeof(key.img.uuid), "%s", uuid);
	return bsearch(&key, f->nodes, f->count, sizeof(f->nodes[0]), node_cmp);
}

int vdi_forest_add(struct vdi_forest *f, const struct vstore_image *img)
{
	struct vdi_node *n;

	if (f->count == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 128;
		struct vdi_node *p = realloc(f->nodes, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		f->nodes = p;
		f->cap = cap;
	}
	n = &f->nodes[f->count++];
	memset(n, 0, sizeof(*n));
	n->img = *img;
	return 0;
}

/*
 * What could not be read stops the GC's work where it could matter: an
 * image of unknown parent may hang below any image (nothing is known to
 * be childless); one of known parent blocks its own chain upwards.
 */
static void mark_blocked(struct vdi_forest *f)
{
	for (size_t i = 0; i < f->count; i++) {
		struct vdi_node *n = &f->nodes[i];
		size_t hops = 0;

		if (!n->img.error[0])
			continue;
		if (n->img.parent_unknown) {
			f->unknown_parents++;
			if (!f->first_unknown)
				f->first_unknown = n;
		}
		for (; n && !(n->blocked && hops) && hops <= f->count; hops++) {
			n->blocked = true;
			n = vdi_forest_find(f, n->img.parent);
		}
	}
}

/*
 * An image nobody can reach is garbage: hidden, with no visible image
 * below it.  Mark everything on the way up from each visible image.
 */
static void mark_live(struct vdi_forest *f)
{
	for (size_t i = 0; i < f->count; i++) {
		struct vdi_node *n = &f->nodes[i];
		size_t hops = 0;

		if (n->img.hidden && !n->img.error[0])
			continue;
		for (; n && !n->live && hops <= f->count; hops++) {
			n->live = true;
			n = vdi_forest_find(f, n->img.parent);
		}
	}
}

void vdi_forest_link(struct vdi_forest *f)
{
	if (f->count > 1)
		qsort(f->nodes, f->count, sizeof(f->nodes[0]), node_cmp);
	f->unknown_parents = 0;
	f->first_unknown = NULL;
	for (size_t i = 0; i < f->count; i++) {
		f->nodes[i].nchildren = 0;
		f->nodes[i].live = f->nodes[i].blocked = false;
	}
	for (size_t i = 0; i < f->count; i++) {
		struct vdi_node *p = vdi_forest_find(f, f->nodes[i].img.parent);

		if (p)
			p->nchildren++;
	}
	mark_live(f);
	mark_blocked(f);
}

static int add_image(void *arg, const struct vstore_image *img)
{
	return vdi_forest_add(arg, img);
}

int vdi_forest_load(struct vdi_forest *f, struct vstore *vs, bool full, struct sm_error *err)
{
	int rc;

	memset(f, 0, sizeof(*f));
	rc = vs->ops->list(vs, full, add_image, f, err);
	if (rc != 0) {
		vdi_forest_free(f);
		if (rc == -ENOMEM)
			return sm_fail(err, SME_GENERIC, "out of memory");
		return -1;
	}
	vdi_forest_link(f);
	return 0;
}

int vdi_forest_depth(const struct vdi_forest *f, const struct vdi_node *n)
{
	int d = 0;

	while (n && d <= VHD_CHAIN_MAX) {
		n = vdi_forest_find(f, n->img.parent);
		d++;
	}
	return d;
}

void vdi_forest_free(struct vdi_forest *f)
{
	free(f->nodes);
	memset(f, 0, sizeof(*f));
}
