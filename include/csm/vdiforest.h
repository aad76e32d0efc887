/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The forest of VHD chains of a VDI store, built from one listing
 * (vstore_ops.list): who is whose parent, how many children each image
 * has, which images a visible VDI needs (live), and which cannot be
 * worked on because something on their chain could not be read
 * (blocked).  Store-neutral: the scan, vdi_delete/vdi_resize's children
 * count and the GC's planning all read it.
 */
#ifndef CSM_VDIFOREST_H
#define CSM_VDIFOREST_H

#include <stdbool.h>
#include <stddef.h>

#include "csm/error.h"
#include "csm/vstore.h"

struct vdi_node {
	struct vstore_image img;
	int nchildren;
	bool live;              /* visible, or an ancestor of a visible image */
	/* Unreadable, or an ancestor of an unreadable image: no GC work may touch it. */
	bool blocked;
};

struct vdi_forest {
	struct vdi_node *nodes;  /* sorted by uuid once linked */
	size_t count;
	size_t cap;
	/*
	 * Images whose parent could not be read: any image could be the
	 * parent of one of them, so no image is known to be childless.
	 */
	size_t unknown_parents;
	const struct vdi_node *first_unknown;   /* one of them, for messages */
};

/*
 * List and query every image of vs; sorted by uuid, children counted,
 * liveness and blocking marked.  full: read each BAT too (allocated).
 */
int vdi_forest_load(struct vdi_forest *f, struct vstore *vs, bool full, struct sm_error *err);
/* The same from images given one by one (tests, other listings): add, then link. */
int vdi_forest_add(struct vdi_forest *f, const struct vstore_image *img);
void vdi_forest_link(struct vdi_forest *f);
struct vdi_node *vdi_forest_find(const struct vdi_forest *f, const char *uuid);
/* Links from n up to its root, n included (a loop or a chain too long: VHD_CHAIN_MAX + 1). */
int vdi_forest_depth(const struct vdi_forest *f, const struct vdi_node *n);
void vdi_forest_free(struct vdi_forest *f);

#endif
