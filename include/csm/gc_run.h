/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The garbage collector's runner (lib/gc_run.c): it carries out what the
 * planner (csm/gc_plan.h) chose, over any VDI store (csm/vstore.h), and
 * resumes what a killed run left from the store's journals.  The CLI
 * (drivers/gc.c: csm-gc) only picks the store, daemonizes and shows the
 * status; unit tests drive the runner over the in-memory store.
 *
 * Work, repeated until there is none:
 *   garbage       remove hidden images no visible VDI depends on (batch,
 *                 then one sync);
 *   coalesce      N into its hidden parent P (journal "coalesce" N
 *                 parent=P): P writable (store flag), inflated for the
 *                 data of both and grown to N's size, the copy without the
 *                 SR lock, then under it N's children re-pointed at P (a
 *                 read-only child writable for that and back), N removed,
 *                 P deflated and read-only again;
 *   leaf coalesce a visible idle leaf L into its hidden parent P (journal
 *                 "leaf" L parent=P, under the SR lock throughout): P
 *                 writable, L deflated, P inflated and grown, the copy, P
 *                 unhidden, take_over (P takes L's name; the OLD_ pair on
 *                 LVM), the new L inflated fully unless it is a snapshot
 *                 nobody has active (then deflated).
 * The store's optional ops (room, read-only, activation) are no-ops on a
 * directory store.  Images are activated only around the I/O on them
 * (copy, relink), as borrowed activations (vstore_borrow): a GC killed
 * while it held one (kill -9, OOM) leaves a marked count that the next
 * run gives back first, so no LV stays active, and unremovable, until a
 * reboot.
 *
 * Every step is safe to repeat: a record found by journal replay is
 * finished (coalesce) or finished/rolled back (leaf: vstore_leaf_recover),
 * including the room and flag steps.
 */
#ifndef CSM_GC_RUN_H
#define CSM_GC_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "csm/error.h"
#include "csm/gc_plan.h"
#include "csm/lock.h"
#include "csm/vstore.h"

struct gc_run;

/* What the caller sees of a run; every hook may be NULL. */
struct gc_run_hooks {
	void *arg;
	/* Stop requested: checked between steps, and within a copy per block. */
	bool (*aborted)(void *arg);
	/* The status fields changed (force: a new state; else rate-limit). */
	void (*status)(void *arg, const struct gc_run *g, bool force);
	/* A line for a person (the runner logs it to syslog itself). */
	void (*say)(void *arg, const char *msg);
	/*
	 * Activations the store does not record (xapi mode: the VDIs whose
	 * sm_config has host_<ref> keys, attached on any host of the pool),
	 * added to the set each plan is made with; local_host is how this
	 * host's activations are named there.  -1 with err: the round fails
	 * before it changes anything.
	 */
	int (*active_more)(void *arg, struct gc_active_set *a, const char *local_host,
			   struct sm_error *err);
	/*
	 * The images of uuids were removed, merged or re-pointed (the SR
	 * lock held), and so were the children of each: the caller's
	 * records of them follow (xapi mode: the VDI records, as a scan
	 * would leave them).  -1 with err: the run fails (the storage is
	 * consistent; the next scan brings the records back in line).
	 */
	int (*changed)(void *arg, const char *const *uuids, size_t n, struct sm_error *err);
};

struct gc_run {
	/* ---- set by the caller ---- */
	struct vstore *vs;
	char sr_uuid[37];             /* names the SR lock and the log lines */
	uint64_t leaf_max;            /* leaf coalesce only below this many bytes of data */
	struct gc_run_hooks hooks;
	unsigned lock_wait_s;         /* how long to wait for the SR lock (0: 600) */
	/* ---- status, for the hooks ---- */
	const char *state;            /* starting, deleting, copying, relinking, waiting, ... */
	char current[160];
	char waiting[200];
	char held_back[300];          /* why work was left undone ("" if none) */
	char backed_off[37];          /* a leaf whose merge we gave up this run */
	unsigned q_garbage, q_coalesce, q_leaf;
	uint64_t total, done;         /* bytes of the copy under way */
	double copy_started;          /* monotonic seconds */
	unsigned deleted, coalesced, leaf_coalesced, resumed;
	/* ---- private ---- */
	struct sm_lock srlock;
};

/* Defaults (leaf_max 20 MiB, state "starting"), vs and the SR's uuid. */
void gc_run_init(struct gc_run *g, struct vstore *vs, const char *sr_uuid);

/*
 * Work until there is none, taking the SR lock for each round (the caller
 * holds the GC's own lock, gc_active, so only one runner works an SR):
 * first give back the activations a killed run borrowed, then each round:
 * replay the journals (resume), plan, delete, one coalesce or leaf
 * coalesce.  0 when nothing is left (held_back may say what was not
 * done), -1 with err (an abort: SME_SR_UNAVAILABLE "aborted ...").
 */
int gc_run_loop(struct gc_run *g, struct sm_error *err);

/*
 * Only the recovery: replay the GC's journals (coalesce, leaf) under the
 * SR lock, finishing or rolling back what a killed run left.
 */
int gc_run_resume(struct gc_run *g, struct sm_error *err);

/* Seconds on the monotonic clock (status rates). */
double gc_run_now(void);

/*
 * Who holds the lock <lock dir>/<ns>/<name>, without taking it or creating
 * it (F_GETLK on a read-only descriptor): 1 held (*pid, comm: the holder's
 * pid and process name), 0 free or never created, -errno when it cannot
 * be told (e.g. the lock path is not a regular file).  Asking never makes
 * a process that tries to take the lock at the same instant fail.
 */
int gc_lock_holder(const char *ns, const char *name, int *pid, char *comm, size_t comm_len);

#endif
