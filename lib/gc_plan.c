/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/gc_plan.h"

int gc_active_set_add(void *arg, const char *uuid, const char *host)
{
	struct gc_active_set *a = arg;

	if (a->count == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		void *p = realloc(a->uuid, cap * sizeof(a->uuid[0]));

		if (!p)
			return -ENOMEM;
		a->uuid = p;
		p = realloc(a->host, cap * sizeof(a->host[0]));
		if (!p)
			return -ENOMEM;
		a->host = p;
		a->cap = cap;
	}
	memcpy(a->uuid[a->count], uuid, 37);
	snprintf(a->host[a->count], GC_HOST_MAX, "%s", host ? host : "");
	a->count++;
	return 0;
}

void gc_active_set_free(struct gc_active_set *a)
{
	free(a->uuid);
	free(a->host);
	memset(a, 0, sizeof(*a));
}

int gc_active_set_add_attached(struct gc_active_set *a, const char *uuid,
			       const struct scan_kv *kv, size_t n, const char *this_host_ref,
			       const char *local_host, gc_host_name_fn name, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		const char *ref = kv[i].key + 5, *label;
		char host[GC_HOST_MAX];
		int rc;

		if (strncmp(kv[i].key, "host_", 5) != 0 || !*ref)
			continue;
		if (this_host_ref && strcmp(ref, this_host_ref) == 0) {
			rc = gc_active_set_add(a, uuid, local_host);
		} else {
			label = name ? name(arg, ref) : NULL;
			if (label && *label)
				snprintf(host, sizeof(host), "%s (%s)", label, ref);
			else
				snprintf(host, sizeof(host), "%s", ref);
			rc = gc_active_set_add(a, uuid, host);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The host of an activation of uuid on a host other than local, or NULL. */
static const char *active_elsewhere(const struct gc_active_set *a, const char *uuid,
				    const char *local)
{
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->uuid[i], uuid) == 0 && strcmp(a->host[i], local) != 0)
			return a->host[i];
	return NULL;
}

const char *gc_child_active_elsewhere(const struct vdi_forest *f, const struct gc_active_set *a,
				      const char *n_uuid, const char *local_host,
				      const char **child)
{
	for (size_t i = 0; i < f->count; i++) {
		const struct vstore_image *c = &f->nodes[i].img;
		const char *host;

		if (strcmp(c->parent, n_uuid) != 0)
			continue;
		host = active_elsewhere(a, c->uuid, local_host);
		if (host) {
			*child = c->uuid;
			return host;
		}
	}
	return NULL;
}

static bool active_set_has(const struct gc_active_set *a, const char *uuid)
{
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->uuid[i], uuid) == 0)
			return true;
	return false;
}

static void hold_back(struct gc_plan *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Remember the first reason work was left undone. */
static void hold_back(struct gc_plan *pl, const char *fmt, ...)
{
	va_list ap;

	if (pl->held_back[0])
		return;
	va_start(ap, fmt);
	vsnprintf(pl->held_back, sizeof(pl->held_back), fmt, ap);
	va_end(ap);
}

static bool node_ok(const struct vdi_node *n)
{
	return n && n->img.kind == VSTORE_VHD && !n->img.error[0];
}

/* Hidden N with children, whose hidden parent has N as its only child. */
static bool coalesceable(const struct vdi_forest *f, const struct vdi_node *n)
{
	const struct vdi_node *p = vdi_forest_find(f, n->img.parent);

	return node_ok(n) && !n->blocked && n->img.hidden && n->live && n->nchildren > 0 &&
	       node_ok(p) && !p->blocked && p->img.hidden && p->nchildren == 1;
}

/*
 * A coalesce relinks N's children and removes N: not while a chain
 * attached on this host runs through N (an activation count of N).  Its
 * user holds N open, and nothing here can make it reopen the chain (the
 * Python SM pauses and refreshes tapdisk): N waits for the detach.
 */
static bool coalesce_idle(const struct gc_plan_input *in, struct gc_plan *pl,
			  const struct vdi_node *n)
{
	const char *host, *child;

	if (!in->active || in->active->rc < 0) {
		hold_back(pl, "coalesce of %s: cannot read the activation records (%s)",
			  n->img.uuid, strerror(in->active ? -in->active->rc : EIO));
		return false;
	}
	if (active_set_has(in->active, n->img.uuid)) {
		hold_back(pl, "coalesce of %s: an attached chain runs through it", n->img.uuid);
		return false;
	}
	if (!in->local_host)
		return true;
	host = gc_child_active_elsewhere(in->forest, in->active, n->img.uuid, in->local_host,
					 &child);
	if (host) {
		hold_back(pl, "coalesce of %s: its child %s is active on host %s, whose "
			  "server this host cannot pause for the relink", n->img.uuid, child, host);
		return false;
	}
	return true;
}

static bool leaf_coalesceable(const struct gc_plan_input *in, struct gc_plan *pl,
			      const struct vdi_node *n)
{
	const struct vdi_node *p = vdi_forest_find(in->forest, n->img.parent);

	if (!(node_ok(n) && !n->blocked && !n->img.hidden && n->nchildren == 0 &&
	      n->img.allocated <= in->leaf_max &&
	      node_ok(p) && !p->blocked && p->img.hidden && p->nchildren == 1 &&
	      !(n->img.records & VSTORE_HAS_LOCK)))
		return false;
	if (in->backed_off && strcmp(n->img.uuid, in->backed_off) == 0)
		return false;
	if (!in->active || in->active->rc < 0) {
		hold_back(pl, "leaf-coalesce of %s: cannot read the activation records (%s)",
			  n->img.uuid, strerror(in->active ? -in->active->rc : EIO));
		return false;
	}
	return !active_set_has(in->active, n->img.uuid);
}

bool gc_plan_needs_active(const struct vdi_forest *f)
{
	return f->unknown_parents == 0;
}

void gc_plan_make(const struct gc_plan_input *in, struct gc_plan *pl)
{
	const struct vdi_forest *f = in->forest;
	int best = -1;

	memset(pl, 0, sizeof(*pl));
	/*
	 * A broken chain is named where it breaks, once per broken link, and
	 * before an unreadable image (the chain says more: what depends on
	 * it); vdi_forest_link blocked all of it.
	 */
	for (size_t i = 0; i < f->count; i++) {
		struct vdi_chain_break b;
		char text[sizeof(pl->held_back)];

		if (f->nodes[i].link == VDI_CHAIN_OK ||
		    !vdi_forest_chain_break(f, &f->nodes[i], &b))
			continue;
		vdi_chain_break_text(&b, NULL, text, sizeof(text));
		hold_back(pl, "%s; the chain is left alone", text);
	}
	for (size_t i = 0; i < f->count; i++)
		if (f->nodes[i].img.error[0])
			hold_back(pl, "%s cannot be read (%s)", f->nodes[i].img.uuid, f->nodes[i].img.error);
	/* Any image could be the parent of one we cannot read: none is known childless. */
	if (!gc_plan_needs_active(f))
		return;
	for (size_t i = 0; i < f->count; i++) {
		const struct vdi_node *n = &f->nodes[i];

		if (!n->live && !n->img.error[0] && !n->blocked) {
			pl->q_garbage++;
			if (pl->ngarbage < GC_PLAN_MAX_GARBAGE)
				pl->garbage[pl->ngarbage++] = n;
		} else if (coalesceable(f, n)) {
			int d;

			if (!coalesce_idle(in, pl, n))
				continue;
			d = vdi_forest_depth(f, n);
			pl->q_coalesce++;
			if (d > best) {
				best = d;
				pl->coalesce = n;
			}
		} else if (leaf_coalesceable(in, pl, n)) {
			pl->q_leaf++;
			if (!pl->leaf)
				pl->leaf = n;
		}
	}
}
