/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The garbage collector's planning, pure: from the forest of a store and
 * the set of VDIs active on some host, what to do next.  No I/O; csm-gc
 * runs the plan (drivers/gc.c) and unit tests check it over forests they
 * build by hand (tests/unit/test_gc_plan.c).
 *
 * Work, by kind:
 *   garbage        hidden images no visible image depends on (all of them,
 *                  up to GC_PLAN_MAX_GARBAGE per plan);
 *   coalesce       a hidden image N with children whose hidden parent has N
 *                  as its only child (the deepest such N first);
 *   leaf coalesce  a visible leaf L holding at most leaf_max bytes of data
 *                  whose hidden parent has L as its only child, L neither
 *                  vdi_locked nor active on any host (the first such L).
 * Only positive knowledge moves it: an image that could not be read holds
 * back all work on its chain, one whose parent is unknown all work in the
 * store, activation records that could not be read every leaf coalesce.
 */
#ifndef CSM_GC_PLAN_H
#define CSM_GC_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "csm/scan.h"
#include "csm/vdiforest.h"

#define GC_PLAN_MAX_GARBAGE 1024

/* The VDIs active on some host, from one listing of the activation records. */
/* Longest host id an activation record's name carries that is told apart. */
#define GC_HOST_MAX 64

struct gc_active_set {
	char (*uuid)[37];
	char (*host)[GC_HOST_MAX];   /* the host each activation is on */
	size_t count, cap;
	int rc;                 /* the listing's: < 0, nothing is known */
};

/* vstore_active_fn that adds uuid and host to the set (arg: struct gc_active_set). */
int gc_active_set_add(void *arg, const char *uuid, const char *host);
void gc_active_set_free(struct gc_active_set *a);

/*
 * xapi mode: a VDI whose sm_config (kv[0..n-1]) has host_<ref> keys
 * (blktap2 adds one for each host that has it attached, also another
 * host of a shared SR) is active on each of those hosts.  A key of
 * this_host_ref (NULL: unknown) counts as local_host's activation, as
 * this host's own records name it; another host is named
 * "<name> (<ref>)" when name (may be NULL) gives one, else by its ref,
 * neither of which can be taken for local_host.  0 or -ENOMEM.
 */
typedef const char *(*gc_host_name_fn)(void *arg, const char *host_ref);
int gc_active_set_add_attached(struct gc_active_set *a, const char *uuid,
			       const struct scan_kv *kv, size_t n, const char *this_host_ref,
			       const char *local_host, gc_host_name_fn name, void *arg);

/*
 * A child of n_uuid in f that a is active on a host other than
 * local_host: the host, with the child's uuid in *child; NULL for none.
 * A relink of n's children cannot pause such a child's server, so the
 * plan holds the coalesce back and the runner asks again before it.
 */
const char *gc_child_active_elsewhere(const struct vdi_forest *f, const struct gc_active_set *a,
				      const char *n_uuid, const char *local_host,
				      const char **child);

struct gc_plan_input {
	const struct vdi_forest *forest;
	const struct gc_active_set *active;  /* NULL: not loaded (unknown parents) */
	uint64_t leaf_max;                   /* leaf coalesce only up to this much data */
	const char *backed_off;              /* a leaf whose merge was given up this run, or "" */
	/*
	 * This host's id (as activation records name it), or NULL.  A
	 * coalesce relinks the coalesced image's children; a child active on
	 * another host is served there, by a server this GC cannot pause, so
	 * that coalesce is held back.
	 */
	const char *local_host;
};

struct gc_plan {
	const struct vdi_node *garbage[GC_PLAN_MAX_GARBAGE];
	unsigned ngarbage;
	const struct vdi_node *coalesce;     /* NULL: none */
	const struct vdi_node *leaf;         /* NULL: none (only planned without a coalesce) */
	unsigned q_garbage, q_coalesce, q_leaf;   /* how many of each were found */
	char held_back[300];                 /* the first reason work was left undone, or "" */
};

/* Whether the plan needs the active set: false when nothing may be done at all. */
bool gc_plan_needs_active(const struct vdi_forest *f);
void gc_plan_make(const struct gc_plan_input *in, struct gc_plan *out);

#endif
