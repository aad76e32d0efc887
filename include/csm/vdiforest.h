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

/*
 * Why the link from an image to its parent does not hold (a broken
 * chain): what sr_scan reports as <chain_error reason="...">, what
 * vdi_resize, snapshot and attach refuse and what the GC leaves alone.
 */
enum vdi_chain_fault {
	VDI_CHAIN_OK,
	VDI_CHAIN_MISSING_PARENT,   /* the parent it names is not in the store */
	VDI_CHAIN_FOREIGN_PARENT,   /* a differencing image naming nothing of this store */
	VDI_CHAIN_SELF_PARENT,      /* it names itself */
	VDI_CHAIN_LOOP,             /* following parents comes back round */
	VDI_CHAIN_UUID_MISMATCH,    /* the parent's footer uuid is not the one it was made from */
	VDI_CHAIN_UNREADABLE,       /* the parent cannot be read */
};

struct vdi_node {
	struct vstore_image img;
	int nchildren;
	bool live;              /* visible, or an ancestor of a visible image */
	/*
	 * Unreadable, or an ancestor of an unreadable image, or on a broken
	 * chain (above or below the break): no GC work may touch it.
	 */
	bool blocked;
	enum vdi_chain_fault link;   /* of its own link to its parent (VDI_CHAIN_LOOP: it closes one) */
	bool broken;                 /* some link from it up to its root is broken */
};

/* Where and why a chain breaks (vdi_forest_chain_break). */
struct vdi_chain_break {
	enum vdi_chain_fault fault;
	const struct vdi_node *link;   /* the image whose link to its parent breaks */
	char parent[37];               /* the parent uuid it names, "" when none of this store */
	const char *parent_name;       /* the name it gives for its parent (header, else locator) */
	char detail[300];              /* the rest: the parent's read error, the two uuids */
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
	size_t broken_links;                    /* images whose own link is broken */
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

/*
 * The first broken link on the way from n up to its root, n's own link
 * first: 1 with b filled, 0 when the chain holds (an image that cannot
 * be read is not a broken chain of its own: that is img.error).
 */
int vdi_forest_chain_break(const struct vdi_forest *f, const struct vdi_node *n,
			   struct vdi_chain_break *b);
/* "missing-parent", "loop", ...: the reason attribute of the scan document. */
const char *vdi_chain_fault_name(enum vdi_chain_fault fault);
/*
 * One line for people: "4a0f…'s parent 2ec5… is missing (2ec5….vhd)",
 * where names the parent's file (may be NULL or "").
 */
void vdi_chain_break_text(const struct vdi_chain_break *b, const char *where, char *out,
			  size_t cap);
/*
 * Every image whose chain runs through uuid (its descendants, uuid
 * itself left out, present or not): fn(arg, node) for each, in uuid
 * order; the count.
 */
size_t vdi_forest_dependents(const struct vdi_forest *f, const char *uuid,
			     void (*fn)(void *arg, const struct vdi_node *n), void *arg);

#endif
