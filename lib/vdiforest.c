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

/*
 * Whether n's own link to its parent holds.  An image that cannot be read
 * has no link to judge (its error says why); a root has none.  The uuid
 * check is blktap's: a child records the footer uuid of the parent it was
 * made from, and anything else under that name is other data.
 */
static enum vdi_chain_fault own_link(const struct vdi_forest *f, const struct vdi_node *n)
{
	const struct vdi_node *p;

	if (n->img.error[0] || n->img.kind != VSTORE_VHD)
		return VDI_CHAIN_OK;
	if (!n->img.parent[0])
		return n->img.info.type == VHD_TYPE_DIFF ? VDI_CHAIN_FOREIGN_PARENT : VDI_CHAIN_OK;
	if (strcmp(n->img.parent, n->img.uuid) == 0)
		return VDI_CHAIN_SELF_PARENT;
	p = vdi_forest_find(f, n->img.parent);
	if (!p)
		return VDI_CHAIN_MISSING_PARENT;
	if (p->img.error[0])
		return VDI_CHAIN_UNREADABLE;
	if (n->img.info.type == VHD_TYPE_DIFF && p->img.kind == VSTORE_VHD && p->img.info.type &&
	    memcmp(p->img.info.uuid, n->img.info.parent_uuid, 16) != 0)
		return VDI_CHAIN_UUID_MISMATCH;
	return VDI_CHAIN_OK;
}

/* Following parents from n meets a broken link (or runs round a loop). */
static struct vdi_node *first_break(const struct vdi_forest *f, struct vdi_node *n)
{
	for (size_t hops = 0; n && hops <= f->count; hops++) {
		if (n->link != VDI_CHAIN_OK)
			return n;
		n = vdi_forest_find(f, n->img.parent);
	}
	return n;   /* still going after more hops than images: inside a loop */
}

/*
 * A loop is marked once, on its member of the lowest uuid, so every walk
 * that enters it stops there and every report names the same link.
 */
static void mark_loop(struct vdi_forest *f, struct vdi_node *in_loop)
{
	struct vdi_node *low = in_loop, *m = in_loop;
	size_t hops = 0;

	do {
		if (m < low)
			low = m;
		m = vdi_forest_find(f, m->img.parent);
	} while (m && m != in_loop && ++hops <= f->count);
	low->link = VDI_CHAIN_LOOP;
}

/*
 * Broken chains are left alone: everything on them, below the break (the
 * children would be merged into data that is not theirs) and above it (a
 * coalesce would re-point the broken child and hide the break).
 */
static void mark_broken(struct vdi_forest *f)
{
	f->broken_links = 0;
	for (size_t i = 0; i < f->count; i++)
		f->nodes[i].link = own_link(f, &f->nodes[i]);
	for (size_t i = 0; i < f->count; i++) {
		struct vdi_node *b = first_break(f, &f->nodes[i]);

		if (b && b->link == VDI_CHAIN_OK)
			mark_loop(f, b);
	}
	for (size_t i = 0; i < f->count; i++) {
		struct vdi_node *n = &f->nodes[i];
		size_t hops = 0;

		if (n->link != VDI_CHAIN_OK)
			f->broken_links++;
		if (!first_break(f, n))
			continue;
		n->broken = true;
		for (; n && hops <= f->count; hops++) {
			n->blocked = true;
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
		f->nodes[i].live = f->nodes[i].blocked = f->nodes[i].broken = false;
	}
	for (size_t i = 0; i < f->count; i++) {
		struct vdi_node *p = vdi_forest_find(f, f->nodes[i].img.parent);

		if (p)
			p->nchildren++;
	}
	mark_live(f);
	mark_blocked(f);
	mark_broken(f);
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

/* ---- broken chains, for reports --------------------------------------- */

const char *vdi_chain_fault_name(enum vdi_chain_fault fault)
{
	switch (fault) {
	case VDI_CHAIN_OK:             return "ok";
	case VDI_CHAIN_MISSING_PARENT: return "missing-parent";
	case VDI_CHAIN_FOREIGN_PARENT: return "foreign-parent";
	case VDI_CHAIN_SELF_PARENT:    return "self-parent";
	case VDI_CHAIN_LOOP:           return "loop";
	case VDI_CHAIN_UUID_MISMATCH:  return "parent-uuid-mismatch";
	case VDI_CHAIN_UNREADABLE:     return "unreadable-parent";
	}
	return "unknown";
}

/* "a -> b -> c -> a": the loop as the parents run, from its marked member. */
static void loop_text(const struct vdi_forest *f, const struct vdi_node *start, char *out,
		      size_t cap)
{
	const struct vdi_node *m = start;
	size_t len = 0, hops = 0;

	out[0] = '\0';
	do {
		len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s -> ", m->img.uuid);
		if (len >= cap)
			return;
		m = vdi_forest_find(f, m->img.parent);
	} while (m && m != start && ++hops <= f->count);
	snprintf(out + len, cap - len, "%s", start->img.uuid);
}

int vdi_forest_chain_break(const struct vdi_forest *f, const struct vdi_node *n,
			   struct vdi_chain_break *b)
{
	const struct vdi_node *m = first_break(f, (struct vdi_node *)n);
	const struct vdi_node *p;
	char want[37], have[37];

	memset(b, 0, sizeof(*b));
	if (!m || m->link == VDI_CHAIN_OK)
		return 0;
	b->fault = m->link;
	b->link = m;
	memcpy(b->parent, m->img.parent, sizeof(b->parent));
	b->parent_name = m->img.info.parent_name[0] ? m->img.info.parent_name
						    : m->img.info.parent_locator;
	p = vdi_forest_find(f, m->img.parent);
	switch (b->fault) {
	case VDI_CHAIN_UNREADABLE:
		snprintf(b->detail, sizeof(b->detail), "%s", p ? p->img.error : "");
		break;
	case VDI_CHAIN_UUID_MISMATCH:
		vhd_uuid_format(p->img.info.uuid, have);
		vhd_uuid_format(m->img.info.parent_uuid, want);
		snprintf(b->detail, sizeof(b->detail), "its footer uuid is %s, the child was made "
			 "from %s", have, want);
		break;
	case VDI_CHAIN_LOOP:
		loop_text(f, m, b->detail, sizeof(b->detail));
		break;
	default:
		break;
	}
	return 1;
}

void vdi_chain_break_text(const struct vdi_chain_break *b, const char *where, char *out,
			  size_t cap)
{
	const char *link = b->link ? b->link->img.uuid : "?";
	char at[300] = "";

	if (where && *where)
		snprintf(at, sizeof(at), " (%s)", where);
	switch (b->fault) {
	case VDI_CHAIN_MISSING_PARENT:
		snprintf(out, cap, "chain broken at %s: its parent %s is missing%s", link, b->parent, at);
		break;
	case VDI_CHAIN_FOREIGN_PARENT:
		snprintf(out, cap, "chain broken at %s: its parent '%s' is not an image of this SR",
			 link, b->parent_name ? b->parent_name : "");
		break;
	case VDI_CHAIN_SELF_PARENT:
		snprintf(out, cap, "chain broken at %s: it names itself as its parent%s", link, at);
		break;
	case VDI_CHAIN_LOOP:
		snprintf(out, cap, "chain broken at %s: its parents run in a loop (%s)", link, b->detail);
		break;
	case VDI_CHAIN_UUID_MISMATCH:
		snprintf(out, cap, "chain broken at %s: its parent %s%s is not the image it was made "
			 "from (%s)", link, b->parent, at, b->detail);
		break;
	case VDI_CHAIN_UNREADABLE:
		snprintf(out, cap, "chain broken at %s: its parent %s cannot be read%s: %s", link,
			 b->parent, at, b->detail);
		break;
	default:
		snprintf(out, cap, "chain intact");
		break;
	}
}

size_t vdi_forest_dependents(const struct vdi_forest *f, const char *uuid,
			     void (*fn)(void *arg, const struct vdi_node *n), void *arg)
{
	size_t count = 0;

	for (size_t i = 0; i < f->count; i++) {
		const struct vdi_node *m = &f->nodes[i];

		if (strcmp(m->img.uuid, uuid) == 0)
			continue;
		for (size_t hops = 0; m && hops <= f->count; hops++) {
			if (strcmp(m->img.parent, uuid) == 0) {
				count++;
				if (fn)
					fn(arg, &f->nodes[i]);
				break;
			}
			m = vdi_forest_find(f, m->img.parent);
		}
	}
	return count;
}
