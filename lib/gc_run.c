/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The GC's runner over the VDI store (see csm/gc_run.h).
 *
 * The long copy of a non-leaf coalesce runs without the SR lock (nothing
 * writes a hidden image with one child); every change of names or
 * parents happens under it.  Only positive knowledge moves it: an image
 * that cannot be read holds back all work on its chain (the planner), a
 * child we cannot see holds back a relink, activation records that cannot
 * be read hold back a leaf coalesce.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/fault.h"
#include "csm/gc_plan.h"
#include "csm/gc_run.h"
#include "csm/journal.h"
#include "csm/log.h"
#include "csm/nbd_serve.h"
#include "csm/util.h"
#include "csm/vdiforest.h"
#include "csm/vhdchain.h"
#include "csm/vstore_dir.h"

double gc_run_now(void)
{
	return (double)sm_monotonic_ms() / 1000.0;
}

int gc_lock_holder(const char *ns, const char *name, int *pid, char *comm, size_t comm_len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_MAX], *text = NULL;
	struct stat st;
	int fd, rc = 0;

	*pid = 0;
	snprintf(comm, comm_len, "?");
	snprintf(path, sizeof(path), "%s/%s/%s", sm_lock_dir(), ns, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if (fcntl(fd, F_GETLK, &fl) < 0)
		rc = -errno;
	else if (fl.l_type != F_UNLCK)
		rc = 1;
	/* Closing drops no lock of ours: we never took one on this file. */
	close(fd);
	if (rc != 1)
		return rc;
	*pid = (int)fl.l_pid;
	snprintf(path, sizeof(path), "/proc/%d/comm", *pid);
	if (sm_read_file(path, 64, &text) == 0) {
		snprintf(comm, comm_len, "%.*s", (int)strcspn(text, "\n"), text);
		free(text);
	}
	return 1;
}

void gc_run_init(struct gc_run *g, struct vstore *vs, const char *sr_uuid)
{
	memset(g, 0, sizeof(*g));
	g->vs = vs;
	snprintf(g->sr_uuid, sizeof(g->sr_uuid), "%s", sr_uuid);
	g->leaf_max = 20ull << 20;
	g->state = "starting";
	g->srlock = (struct sm_lock)SM_LOCK_INIT;
}

static void say(struct gc_run *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct gc_run *g, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sm_log(LOG_INFO, "gc %s: %s", g->sr_uuid, msg);
	if (g->hooks.say)
		g->hooks.say(g->hooks.arg, msg);
}

static void status(struct gc_run *g, bool force)
{
	if (g->hooks.status)
		g->hooks.status(g->hooks.arg, g, force);
}

static bool aborted(struct gc_run *g)
{
	return g->hooks.aborted && g->hooks.aborted(g->hooks.arg);
}

static void hold_back(struct gc_run *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Remember (the first) reason work was left undone, for the status and the exit status. */
static void hold_back(struct gc_run *g, const char *fmt, ...)
{
	va_list ap;

	if (g->held_back[0])
		return;
	va_start(ap, fmt);
	vsnprintf(g->held_back, sizeof(g->held_back), fmt, ap);
	va_end(ap);
	say(g, "held back: %s", g->held_back);
}

/* ---- the SR lock ------------------------------------------------------------- */

/*
 * What we wait for, named by the lock holder's pid and process name; said
 * (foreground: on stderr) when it starts and whenever the holder changes.
 * A holder gone between our try and the look keeps the last text.
 */
static void note_wait(struct gc_run *g, const struct sm_error *e)
{
	char text[sizeof(g->waiting)], comm[32];
	int pid = 0, held = gc_lock_holder(g->sr_uuid, "sr", &pid, comm, sizeof(comm));

	if (held == 1)
		snprintf(text, sizeof(text), "the SR lock, held by pid %d (%s)", pid, comm);
	else if (!g->waiting[0])
		snprintf(text, sizeof(text), "the SR lock (%.150s)", e->detail);
	else
		return;
	if (strcmp(text, g->waiting) == 0)
		return;
	snprintf(g->waiting, sizeof(g->waiting), "%s", text);
	say(g, "waiting for %s", g->waiting);
}

/*
 * Take the SR lock, politely: try, and while an SR operation holds it,
 * say so in the status and keep watching for an abort request.
 */
static int sr_lock(struct gc_run *g, struct sm_error *err)
{
	unsigned wait_s = g->lock_wait_s ? g->lock_wait_s : 600;
	double until = gc_run_now() + wait_s;

	for (;;) {
		struct sm_error e = { 0 };

		if (lock_acquire(&g->srlock, g->sr_uuid, "sr", 0, SME_SR_UNAVAILABLE, &e) == 0) {
			g->waiting[0] = '\0';
			return 0;
		}
		note_wait(g, &e);
		g->state = "waiting";
		status(g, false);
		if (aborted(g))
			return sm_fail(err, SME_SR_UNAVAILABLE, "aborted while waiting for the SR lock");
		if (gc_run_now() > until)
			return sm_fail(err, SME_SR_UNAVAILABLE, "SR lock busy for %u s", wait_s);
		usleep(50 * 1000);
	}
}

static void sr_unlock(struct gc_run *g)
{
	lock_release(&g->srlock);
}

static int progress(void *arg, uint64_t done, uint64_t total)
{
	struct gc_run *g = arg;

	g->done = done;
	g->total = total;
	status(g, false);
	return aborted(g);
}

/* ---- choosing work (lib/gc_plan.c) ----------------------------------------------- */

/*
 * The store's activation records and those the caller knows beside them
 * (active_more) into *a; a->rc < 0: the store's could not be read.  -1
 * with err: the caller's could not.
 */
static int active_load(struct gc_run *g, struct gc_active_set *a, const char *local_host,
		       struct sm_error *err)
{
	a->rc = g->vs->ops->active_each(g->vs, gc_active_set_add, a);
	if (a->rc >= 0 && g->hooks.active_more &&
	    g->hooks.active_more(g->hooks.arg, a, local_host, err) < 0)
		return -1;
	return 0;
}

/*
 * The plan's only I/O, done here: the activation records, when they can
 * matter, and those the caller knows beside them (active_more).  -1 with
 * err when the caller's cannot be had: nothing may be planned then.
 */
static int plan_work(struct gc_run *g, const struct vdi_forest *f, struct gc_plan *pl,
		     struct sm_error *err)
{
	struct gc_active_set active = { 0 };
	struct gc_plan_input in = { .forest = f, .leaf_max = g->leaf_max,
				    .backed_off = g->backed_off, .local_host = vstore_dir_host_id() };

	if (gc_plan_needs_active(f)) {
		if (active_load(g, &active, in.local_host, err) < 0) {
			gc_active_set_free(&active);
			return -1;
		}
		in.active = &active;
	}
	gc_plan_make(&in, pl);
	gc_active_set_free(&active);
	g->q_garbage = pl->q_garbage;
	g->q_coalesce = pl->q_coalesce;
	g->q_leaf = pl->q_leaf;
	if (pl->held_back[0])
		hold_back(g, "%s", pl->held_back);
	return 0;
}

/* The caller's records of uuids (and their children) follow what was done. */
static int tell_changed(struct gc_run *g, const char *const *uuids, size_t n,
			struct sm_error *err)
{
	if (!n || !g->hooks.changed)
		return 0;
	return g->hooks.changed(g->hooks.arg, uuids, n, err);
}

/* The same for a pair: what a coalesce or a leaf-coalesce of a into b changed. */
static int tell_changed_pair(struct gc_run *g, const char *a, const char *b,
			     struct sm_error *err)
{
	const char *both[] = { a, b };

	return tell_changed(g, both, 2, err);
}

/* ---- small steps ------------------------------------------------------------------ */

/* The store's name of uuid's VHD: what its chain opener opens. */
static void vhd_name(struct gc_run *g, const char *uuid, char out[128])
{
	g->vs->ops->image_name(g->vs, uuid, VSTORE_VHD, out, 128);
}

/* Does uuid have an image: 1, 0, or -1 with err (could not tell). */
static int image_exists(struct gc_run *g, const char *uuid, struct sm_error *err)
{
	enum vstore_kind kind;

	if (g->vs->ops->find(g->vs, uuid, &kind, SME_SR_UNAVAILABLE, err) < 0) {
		sm_error_recode(err, SME_SR_UNAVAILABLE);
		return -1;
	}
	return kind != VSTORE_NONE;
}

/* true when it is gone */
static bool delete_image(struct gc_run *g, const struct vdi_node *n)
{
	bool gone = g->vs->ops->remove(g->vs, n->img.uuid, n->img.kind, true, NULL) == 0;

	if (gone) {
		say(g, "deleted garbage %s", n->img.uuid);
		g->deleted++;
	}
	lock_cleanup_namespace(n->img.uuid);
	return gone;
}

/*
 * Activate a and b (b may be NULL) for the I/O of one step, borrowed (a
 * killed run's are given back by the next: gc_run_loop); the caller pairs
 * it with deactivate_pair whatever happens.
 */
static int activate_pair(struct gc_run *g, const char *a, const char *b, struct sm_error *err)
{
	if (vstore_borrow(g->vs, a, true, err) < 0)
		return -1;
	if (b && vstore_borrow(g->vs, b, true, err) < 0) {
		vstore_borrow(g->vs, a, false, NULL);
		return -1;
	}
	sm_fault_point("gc:borrowed");
	return 0;
}

static int deactivate_pair(struct gc_run *g, const char *a, const char *b, struct sm_error *err)
{
	int rc = 0;

	if (b && vstore_borrow(g->vs, b, false, err) < 0)
		rc = -1;
	if (vstore_borrow(g->vs, a, false, rc < 0 ? NULL : err) < 0)
		rc = -1;
	return rc;
}

/*
 * The parent must hold the child's data and cover its virtual size before
 * the copy: the store makes room (inflate), then the one grow with an
 * undo record (the GC's own, kept while the copy runs without the SR lock).
 */
static int grow_parent(struct gc_run *g, const char *c_uuid, const char *p_uuid,
		       struct sm_error *err)
{
	struct vhd_info ci, pi;
	bool pending;

	if (vstore_vhd_query(g->vs, c_uuid, true, &ci, err) < 0 ||
	    vstore_vhd_query(g->vs, p_uuid, false, &pi, err) < 0)
		return -1;
	if (vstore_inflate(g->vs, p_uuid,
			   vstore_room_for(g->vs, ci.virtual_size, VSTORE_FIT_DATA,
					   (uint64_t)pi.allocated_blocks * VHD_BLOCK_SIZE +
					   (uint64_t)ci.blocks * VHD_BLOCK_SIZE), err) < 0)
		return -1;
	sm_fault_point("gc:inflated");
	if (pi.virtual_size >= ci.virtual_size)
		return 0;
	return vstore_grow(g->vs, p_uuid, ci.virtual_size, VSTORE_UNDO_GC, &pending, err);
}

/* Copy c's blocks into p, both active for it (the copy is idempotent). */
static int copy_blocks(struct gc_run *g, const char *c_uuid, const char *p_uuid,
		       uint64_t *copied, struct sm_error *err)
{
	char cname[128], pname[128];
	int rc;

	vhd_name(g, c_uuid, cname);
	vhd_name(g, p_uuid, pname);
	g->state = "copying";
	g->done = g->total = 0;
	g->copy_started = gc_run_now();
	status(g, true);
	if (activate_pair(g, c_uuid, p_uuid, err) < 0)
		return -1;
	rc = vhd_coalesce_with(g->vs->ops->opener(g->vs), cname, pname, copied, progress, g, err);
	if (deactivate_pair(g, c_uuid, p_uuid, rc < 0 ? NULL : err) < 0)
		rc = -1;
	return rc;
}

/*
 * Re-point one child at p (locator: the store's, e.g. LVM's dm name).  A
 * hidden child is a base copy, read-only on a store with that flag: made
 * writable for the write and read-only again.
 */
static int relink_child(struct gc_run *g, const struct vdi_node *c, const char *p_uuid,
			struct sm_error *err)
{
	char cname[128], ploc[256];
	int rc;

	vhd_name(g, c->img.uuid, cname);
	g->vs->ops->locator(g->vs, p_uuid, ploc, sizeof(ploc));
	if (c->img.hidden && vstore_set_read_only(g->vs, c->img.uuid, false, err) < 0)
		return -1;
	if (activate_pair(g, c->img.uuid, NULL, err) < 0)
		return -1;
	rc = vhd_set_parent_with(g->vs->ops->opener(g->vs), cname, ploc, err);
	if (deactivate_pair(g, c->img.uuid, NULL, rc < 0 ? NULL : err) < 0)
		rc = -1;
	if (rc == 0 && c->img.hidden)
		rc = vstore_set_read_only(g->vs, c->img.uuid, true, err);
	return rc;
}

/*
 * Re-point a child that this host serves over NBD (csm/nbd_serve.h) with
 * its server paused: it lets go of the chain, then reopens it through p,
 * before n goes.  A server that does not pause holds the relink back
 * (the journal stays; the next run tries again).  A server on another
 * host is out of reach: its chain keeps n open, as the plan's activation
 * check intends (see coalesce_idle).
 */
static int relink_served(struct gc_run *g, const struct vdi_node *c, const char *p_uuid,
			 struct sm_error *err)
{
	struct nbd_server srv;
	struct sm_error late = { 0 };
	int rc;

	if (nbd_serve_find(g->sr_uuid, c->img.uuid, &srv) == 0)
		return relink_child(g, c, p_uuid, err);
	if (nbd_serve_pause(&srv, SME_SR_UNAVAILABLE, err) < 0)
		return -1;
	rc = relink_child(g, c, p_uuid, err);
	if (nbd_serve_resume(&srv, SME_SR_UNAVAILABLE, &late) < 0 &&
	    nbd_serve_resume(&srv, SME_SR_UNAVAILABLE, &late) < 0)
		sm_log(LOG_ERR, "gc: the NBD server of %s (pid %d) did not resume after the relink: "
		       "%s", c->img.uuid, (int)srv.pid, late.detail);
	else
		say(g, "the NBD server of %s reopened its chain", c->img.uuid);
	return rc;
}

/*
 * The plan saw no child of n active on another host, but the copy ran
 * without the SR lock: ask again before the relink, since a server there
 * cannot be paused from here (see coalesce_idle).  A refusal keeps the
 * journal: the next run resumes.
 */
static int relink_still_safe(struct gc_run *g, const struct vdi_forest *f, const char *n_uuid,
			     struct sm_error *err)
{
	struct gc_active_set a = { 0 };
	const char *local = vstore_dir_host_id(), *host, *child;
	int rc = active_load(g, &a, local, err);

	if (rc == 0 && a.rc < 0)
		rc = sm_fail(err, SME_SR_UNAVAILABLE, "relink of %s's children held back: cannot "
			     "read the activation records (%s)", n_uuid, strerror(-a.rc));
	if (rc == 0 && (host = gc_child_active_elsewhere(f, &a, n_uuid, local, &child)))
		rc = sm_fail(err, SME_SR_UNAVAILABLE, "relink of %s's children held back: %s "
			     "became active on host %s during the copy; the next run resumes",
			     n_uuid, child, host);
	gc_active_set_free(&a);
	return rc;
}

/* Re-point every child of n at p, then remove n (SR lock held). */
static int relink_and_remove(struct gc_run *g, const char *n_uuid, const char *p_uuid,
			     struct sm_error *err)
{
	struct vdi_forest f;
	int rc = 0;

	if (vdi_forest_load(&f, g->vs, true, err) < 0)
		return -1;
	/* A child we cannot see would be orphaned when n goes: keep n. */
	if (f.unknown_parents) {
		sm_fail(err, SME_SR_UNAVAILABLE, "relink of %s's children held back: %s cannot be read (%s)",
			n_uuid, f.first_unknown->img.uuid, f.first_unknown->img.error);
		vdi_forest_free(&f);
		return -1;
	}
	if (relink_still_safe(g, &f, n_uuid, err) < 0) {
		vdi_forest_free(&f);
		return -1;
	}
	g->state = "relinking";
	for (size_t i = 0; i < f.count && rc == 0; i++) {
		const struct vstore_image *c = &f.nodes[i].img;

		/*
		 * A base copy relinked by a run killed before it was made
		 * read-only again: it is P's child by now.
		 */
		if (strcmp(c->parent, p_uuid) == 0 && c->hidden && strcmp(c->uuid, n_uuid) != 0)
			rc = vstore_set_read_only(g->vs, c->uuid, true, err);
		if (rc < 0 || strcmp(c->parent, n_uuid) != 0)
			continue;
		rc = relink_served(g, &f.nodes[i], p_uuid, err);
		if (rc == 0) {
			say(g, "re-pointed %s at %s", f.nodes[i].img.uuid, p_uuid);
			sm_fault_point("gc:relinked-one");
		}
	}
	vdi_forest_free(&f);
	if (rc < 0)
		return -1;
	if (g->vs->ops->remove(g->vs, n_uuid, VSTORE_VHD, false, err) < 0)
		return -1;
	lock_cleanup_namespace(n_uuid);
	sm_fault_point("gc:removed");
	return 0;
}

/* A hidden base copy back to its resting form: smallest room, read-only. */
static int base_at_rest(struct gc_run *g, const char *p_uuid, struct sm_error *err)
{
	if (vstore_deflate(g->vs, p_uuid, err) < 0)
		return -1;
	sm_fault_point("gc:deflated");
	return vstore_set_read_only(g->vs, p_uuid, true, err);
}

/* ---- non-leaf coalesce -------------------------------------------------------------- */

/*
 * The work of a coalesce of N into P whose journal record is written:
 * copy (without the SR lock), relink, remove N, P at rest.  Called and
 * returns with the SR lock held; the record stays on failure.
 */
static int coalesce_work(struct gc_run *g, const char *n_uuid, const char *p_uuid,
			 struct sm_error *err)
{
	uint64_t copied = 0;
	int rc;

	snprintf(g->current, sizeof(g->current), "coalesce %s into %s", n_uuid, p_uuid);
	say(g, "coalescing %s into its parent %s", n_uuid, p_uuid);
	sr_unlock(g);
	rc = vstore_set_read_only(g->vs, p_uuid, false, err);
	if (rc == 0)
		rc = grow_parent(g, n_uuid, p_uuid, err);
	if (rc == 0)
		rc = copy_blocks(g, n_uuid, p_uuid, &copied, err);
	if (sr_lock(g, rc < 0 ? NULL : err) < 0 && rc == 0)
		return -1;
	if (rc < 0)
		return -1;     /* the journal stays: the next run resumes */
	sm_fault_point("gc:copied");
	say(g, "copied %" PRIu64 " bytes in %.2f s", copied, gc_run_now() - g->copy_started);
	if (relink_and_remove(g, n_uuid, p_uuid, err) < 0 || base_at_rest(g, p_uuid, err) < 0)
		return -1;
	g->coalesced++;
	return 0;
}

static int coalesce_one(struct gc_run *g, const char *n_uuid, const char *p_uuid,
			struct sm_error *err)
{
	char jtext[64];

	snprintf(jtext, sizeof(jtext), "parent=%s\n", p_uuid);
	if (g->vs->ops->journal_begin(g->vs, "coalesce", n_uuid, jtext, err) < 0)
		return -1;
	sm_fault_point("gc:coalesce-journal");
	if (coalesce_work(g, n_uuid, p_uuid, err) < 0)
		return -1;
	return g->vs->ops->journal_end(g->vs, "coalesce", n_uuid, err);
}

/* ---- leaf coalesce --------------------------------------------------------------------- */

/*
 * Is uuid active by the activations the caller knows beside the store's
 * (active_more: xapi's host_<ref> keys, where another host of a shared
 * LVM SR shows)?  1 (holder: the host), 0, or < 0: cannot tell
 * (-ECANCELED: the reason is held back already).
 */
static int caller_active_lookup(struct gc_run *g, const char *uuid, char *holder, size_t len)
{
	struct gc_active_set a = { 0 };
	struct sm_error e = { 0 };
	int rc = 0;

	if (!g->hooks.active_more)
		return 0;
	if (g->hooks.active_more(g->hooks.arg, &a, vstore_dir_host_id(), &e) < 0) {
		hold_back(g, "leaf-coalesce of %s: %s", uuid, e.detail);
		rc = -ECANCELED;
	}
	for (size_t i = 0; rc == 0 && i < a.count; i++)
		if (strcmp(a.uuid[i], uuid) == 0) {
			snprintf(holder, len, "%s", a.host[i]);
			rc = 1;
		}
	gc_active_set_free(&a);
	return rc;
}

/*
 * Is L free to be renamed over?  Asked after our journal record (the
 * claim vdi_activate looks for) is durable; see vstore_dir.h.  Anything
 * but a clear "no activation record" is a reason to leave L alone.
 */
static bool leaf_still_idle(struct gc_run *g, const char *l_uuid)
{
	char holder[128] = "";
	int rc = vstore_active_lookup(g->vs, l_uuid, holder);

	if (rc == 0)
		rc = caller_active_lookup(g, l_uuid, holder, sizeof(holder));
	if (rc == 0)
		return true;
	if (rc > 0)
		say(g, "leaf-coalesce of %s stopped: activated on host %s", l_uuid, holder);
	else if (rc != -ECANCELED)
		hold_back(g, "leaf-coalesce of %s: cannot read its activation records (%s)",
			  l_uuid, strerror(-rc));
	return false;
}

/*
 * The merged image under L's name, after take_over: room for every block
 * (a leaf may be attached and written), or, for a snapshot nobody has
 * active, only what it uses (Python's _finishCoalesceLeaf).
 */
static int leaf_at_rest(struct gc_run *g, const char *l_uuid, struct sm_error *err)
{
	struct vdi_meta m;
	struct vhd_info info;
	bool snapshot = false;

	if (!g->vs->ops->room_for)
		return 0;
	if (g->vs->ops->meta_read(g->vs, l_uuid, &m) == 0) {
		snapshot = m.is_a_snapshot;
		vdimeta_free(&m);
	}
	if (snapshot && vstore_active_lookup(g->vs, l_uuid, NULL) == 0)
		return vstore_deflate(g->vs, l_uuid, err);
	if (vstore_vhd_query(g->vs, l_uuid, true, &info, err) < 0)
		return -1;
	return vstore_inflate(g->vs, l_uuid,
			      vstore_room_for(g->vs, info.virtual_size, VSTORE_FIT_FULL, 0), err);
}

/*
 * Finish or undo a leaf-coalesce of l into p whose "leaf" record is left
 * (SR lock held): the store's take-over recovery and P hidden again
 * (vstore_leaf_recover), then the rooms and flags the GC changed: P, if
 * it kept its name, at rest again; else the merged L at rest.
 */
static int leaf_recover(struct gc_run *g, const char *l_uuid, const char *p_uuid,
			struct sm_error *err)
{
	int p_there = image_exists(g, p_uuid, err);

	if (p_there < 0)
		return -1;
	/* Hiding P again writes its footer. */
	if (p_there && vstore_set_read_only(g->vs, p_uuid, false, err) < 0)
		return -1;
	if (vstore_leaf_recover(g->vs, l_uuid, p_uuid, err) < 0)
		return -1;
	p_there = image_exists(g, p_uuid, err);
	if (p_there < 0)
		return -1;
	if (p_there)
		return base_at_rest(g, p_uuid, err);
	switch (image_exists(g, l_uuid, err)) {
	case 1:
		return leaf_at_rest(g, l_uuid, err);
	case 0:
		return sm_fail(err, SME_SR_UNAVAILABLE, "leaf-coalesce of %s into %s: neither "
			       "image is there after recovery", l_uuid, p_uuid);
	default:
		return -1;
	}
}

/*
 * Give up a leaf-coalesce before its commit: L untouched, P hidden again
 * (it holds L's data too, which is harmless in a hidden base copy).
 */
static int leaf_back_off(struct gc_run *g, const char *l_uuid, const char *p_uuid,
			 struct sm_error *err)
{
	memcpy(g->backed_off, l_uuid, sizeof(g->backed_off));
	if (leaf_recover(g, l_uuid, p_uuid, err) < 0)
		return -1;   /* the record stays: recovery runs again */
	return g->vs->ops->journal_end(g->vs, "leaf", l_uuid, err);
}

/* Everything before the take-over: rooms, the copy, P visible. */
static int leaf_merge(struct gc_run *g, const char *l_uuid, const char *p_uuid,
		      uint64_t *copied, struct sm_error *err)
{
	if (vstore_set_read_only(g->vs, p_uuid, false, err) < 0 ||
	    vstore_deflate(g->vs, l_uuid, err) < 0)
		return -1;
	sm_fault_point("gc:leaf-deflated");
	if (grow_parent(g, l_uuid, p_uuid, err) < 0 || copy_blocks(g, l_uuid, p_uuid, copied, err) < 0)
		return -1;
	sm_fault_point("gc:leaf-copied");
	if (vstore_vhd_set_hidden(g->vs, p_uuid, false, err) < 0)
		return -1;
	sm_fault_point("gc:leaf-unhidden");
	return 0;
}

/* Leaf L into P; P then takes L's name.  SR lock held throughout. */
static int leaf_coalesce_one(struct gc_run *g, const char *l_uuid, const char *p_uuid,
			     struct sm_error *err)
{
	char jtext[64];
	uint64_t copied = 0;

	/* Planned with an older view of the activation records: one may come now. */
	sm_fault_point("gc:leaf-planned");
	snprintf(jtext, sizeof(jtext), "parent=%s\n", p_uuid);
	if (g->vs->ops->journal_begin(g->vs, "leaf", l_uuid, jtext, err) < 0)
		return -1;
	sm_fault_point("gc:leaf-journal");
	if (!leaf_still_idle(g, l_uuid))
		return leaf_back_off(g, l_uuid, p_uuid, err);
	snprintf(g->current, sizeof(g->current), "leaf-coalesce %s into %s", l_uuid, p_uuid);
	if (leaf_merge(g, l_uuid, p_uuid, &copied, err) < 0)
		return -1;
	/* The protocol makes this redundant; the take-over is the one step that cannot be undone. */
	if (!leaf_still_idle(g, l_uuid))
		return leaf_back_off(g, l_uuid, p_uuid, err);
	/* One step the store can recover: the merged image takes the leaf's name. */
	if (g->vs->ops->take_over(g->vs, l_uuid, p_uuid, err) < 0)
		return -1;
	lock_cleanup_namespace(p_uuid);
	sm_fault_point("gc:leaf-taken-over");
	if (leaf_at_rest(g, l_uuid, err) < 0)
		return -1;
	sm_fault_point("gc:leaf-at-rest");
	say(g, "leaf %s merged into its parent (%" PRIu64 " bytes); parent %s gone",
	    l_uuid, copied, p_uuid);
	g->leaf_coalesced++;
	return g->vs->ops->journal_end(g->vs, "leaf", l_uuid, err);
}

/* ---- resuming after a crash or abort ------------------------------------------------- */

/*
 * The parent grow before a copy keeps an undo record (VSTORE_UNDO_GC); a
 * GC killed mid-grow leaves it, and the parent must be put back before
 * anything reads or writes it again.
 */
static int undo_parent_grow(struct gc_run *g, const char *p_uuid, struct sm_error *err)
{
	bool undone;

	if (vstore_grow_recover(g->vs, p_uuid, VSTORE_UNDO_GC, &undone, err) < 0)
		return -1;
	if (undone)
		say(g, "rolled back the interrupted grow of %s", p_uuid);
	return 0;
}

/* A "coalesce" record: finish it (N gone: only P's rest is left). */
static int resume_coalesce(struct gc_run *g, const char *n_uuid, const char *p_uuid,
			   struct sm_error *err)
{
	int n_there = image_exists(g, n_uuid, err), p_there;

	if (n_there < 0)
		return -1;
	if (!n_there) {
		p_there = image_exists(g, p_uuid, err);
		if (p_there <= 0)
			return p_there;
		return base_at_rest(g, p_uuid, err);
	}
	if (vstore_set_read_only(g->vs, p_uuid, false, err) < 0 ||
	    undo_parent_grow(g, p_uuid, err) < 0 || vstore_vhd_repair(g->vs, p_uuid, err) < 0)
		return -1;
	say(g, "resuming the coalesce of %s into %s", n_uuid, p_uuid);
	return coalesce_work(g, n_uuid, p_uuid, err);
}

static int resume_one(void *arg, const char *op, const char *id, const char *text,
		      struct sm_error *err)
{
	struct gc_run *g = arg;
	char parent[37];
	int rc;

	journal_get(text, "parent", parent, sizeof(parent));
	if (!sm_uuid_valid(id) || !sm_uuid_valid(parent))
		return 1;   /* not ours, or damaged: leave it for a person */
	if (strcmp(op, "coalesce") == 0)
		rc = resume_coalesce(g, id, parent, err);
	else if (strcmp(op, "leaf") == 0)
		rc = leaf_recover(g, id, parent, err);
	else
		return 1;
	if (rc == 0)
		g->resumed++;
	if (rc == 0)
		rc = tell_changed_pair(g, id, parent, err);
	return rc < 0 ? -1 : 0;
}

int gc_run_resume(struct gc_run *g, struct sm_error *err)
{
	int rc;

	if (sr_lock(g, err) < 0)
		return -1;
	rc = g->vs->ops->journal_replay(g->vs, resume_one, g, err);
	sr_unlock(g);
	return rc < 0 ? -1 : 0;
}

/* ---- the loop --------------------------------------------------------------------------- */

/* One round under the SR lock: resume, plan, delete, one merge.  1: more may be left. */
static int round_locked(struct gc_run *g, struct sm_error *err)
{
	static const char *gone[GC_PLAN_MAX_GARBAGE];
	struct vdi_forest f;
	struct gc_plan pl;
	char n_uuid[37] = "", p_uuid[37] = "";
	size_t ngone = 0;
	int rc = 0;

	if (g->vs->ops->journal_replay(g->vs, resume_one, g, err) < 0 ||
	    vdi_forest_load(&f, g->vs, true, err) < 0)
		return -1;
	if (plan_work(g, &f, &pl, err) < 0) {
		vdi_forest_free(&f);
		return -1;
	}
	g->state = "deleting";
	status(g, true);
	for (unsigned i = 0; i < pl.ngarbage; i++)
		if (delete_image(g, pl.garbage[i]))
			gone[ngone++] = pl.garbage[i]->img.uuid;
	if (pl.ngarbage)
		g->vs->ops->sync(g->vs, NULL);
	rc = tell_changed(g, gone, ngone, err);
	if (pl.coalesce || pl.leaf) {
		const struct vdi_node *n = pl.coalesce ? pl.coalesce : pl.leaf;

		memcpy(n_uuid, n->img.uuid, 37);
		memcpy(p_uuid, n->img.parent, 37);
	}
	vdi_forest_free(&f);
	if (rc == 0 && pl.coalesce)
		rc = coalesce_one(g, n_uuid, p_uuid, err);
	else if (rc == 0 && pl.leaf)
		rc = leaf_coalesce_one(g, n_uuid, p_uuid, err);
	if (rc == 0 && n_uuid[0])
		rc = tell_changed_pair(g, n_uuid, p_uuid, err);
	if (rc < 0)
		return -1;
	return n_uuid[0] || pl.ngarbage;
}

/* What a killed run borrowed (its counts would keep LVs active and unremovable). */
static int reclaim_borrowed(struct gc_run *g, struct sm_error *err)
{
	unsigned n = 0;

	if (!g->vs->ops->reclaim_borrowed)
		return 0;
	if (g->vs->ops->reclaim_borrowed(g->vs, &n, err) < 0)
		return -1;
	if (n)
		say(g, "gave back %u activation%s a killed run held", n, n == 1 ? "" : "s");
	return 0;
}

int gc_run_loop(struct gc_run *g, struct sm_error *err)
{
	if (reclaim_borrowed(g, err) < 0)
		return -1;
	for (;;) {
		int rc;

		if (aborted(g))
			return sm_fail(err, SME_SR_UNAVAILABLE, "aborted on request");
		if (sr_lock(g, err) < 0)
			return -1;
		rc = round_locked(g, err);
		sr_unlock(g);
		if (rc <= 0)
			return rc;
	}
}
