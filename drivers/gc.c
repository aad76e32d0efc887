/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * csm-gc: garbage collection and coalesce for a file-based SR.
 *
 *   csm-gc --sr UUID --dir PATH            run in the foreground, with progress
 *   csm-gc --sr UUID --dir PATH --background   (what the driver starts)
 *   csm-gc --sr UUID --nfs SERVER:PATH [--nfs-version 3|4] [--nfs-timeout MS]
 *          [--nfs-ports NFS,MOUNT]         an NFS SR through libnfs, no mount
 *   csm-gc --sr UUID --status              what it is doing, or why it waits
 *   csm-gc --sr UUID --abort               ask a running GC to stop; waits for it
 *
 * Work, repeated until there is none:
 *   - delete hidden images no visible VDI depends on (garbage);
 *   - non-leaf coalesce: a hidden image N whose hidden parent P has only N
 *     as child is copied into P, N's children are re-pointed at P, N goes;
 *   - leaf coalesce: a visible leaf L with little data whose hidden parent
 *     P has only L as child is copied into P, and P takes L's name.
 * The long copy of a non-leaf coalesce runs without the SR lock (nothing
 * writes a hidden image with one child); every change of names or
 * parents happens under it.  Each step is journaled and safe to resume.
 *
 * Only positive knowledge moves it: an image that cannot be read holds
 * back all work on its chain, and one whose parent cannot be read (it
 * could hang below any image) all deletion and coalescing in the SR;
 * --status and the exit status (3) say what was held back and why.  A
 * leaf active on any host (its record in .csm-active) is never merged.
 * An abort request (flag file, or csm-gc --abort, which sr_detach and
 * sr_delete use) stops the copy within a block; the next run resumes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csm/fault.h"
#include "csm/gc_plan.h"
#include "csm/journal.h"
#include "csm/lock.h"
#include "csm/srfs_nfs.h"
#include "csm/log.h"
#include "csm/util.h"
#include "csm/vdiforest.h"
#include "csm/vhdchain.h"
#include "csm/vstore_dir.h"
#include "filebased.h"

#define MIB (1024.0 * 1024.0)
/* The code lock_acquire gives when gc_active is held: anything else is an error. */
#define GC_BUSY SME_SR_UNAVAILABLE

struct gc {
	struct file_sr sr;             /* how the SR is reached (its directory) */
	struct vstore *vs;             /* what the work goes through */
	char sr_uuid[37];
	bool verbose;
	uint64_t leaf_max;             /* leaf coalesce only below this many bytes of data */
	struct sm_lock active;
	struct sm_lock srlock;
	/* status */
	const char *state;
	char current[160];
	char waiting[200];
	char held_back[300];           /* why work was left undone ("" if none) */
	char backed_off[37];           /* a leaf whose merge we gave up this run */
	unsigned q_garbage, q_coalesce, q_leaf;
	uint64_t total, done;
	double started, copy_started, last_status;
	unsigned deleted, coalesced, leaf_coalesced;
};

/* Seconds on the monotonic clock, for the status file's rates and waits. */
static double now(void)
{
	return (double)sm_monotonic_ms() / 1000.0;
}

static void say(struct gc *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct gc *g, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sm_log(LOG_INFO, "gc %s: %s", g->sr_uuid, msg);
	if (g->verbose)
		fprintf(stderr, "csm-gc: %s\n", msg);
}

static void status_path(const char *sr_uuid, const char *name, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s/%s", sm_lock_dir(), sr_uuid, name);
}

/* The status file: what a person (or --status) reads to see what we do. */
static void status_write(struct gc *g, bool force)
{
	char path[PATH_MAX], text[1024];
	double t = now(), rate = 0;
	int n;

	if (!force && t - g->last_status < 0.5)
		return;
	g->last_status = t;
	if (g->done && t > g->copy_started)
		rate = (double)g->done / MIB / (t - g->copy_started);
	n = snprintf(text, sizeof(text),
		     "pid=%d\nstate=%s\ncurrent=%s\nwaiting_for=%s\nqueued_garbage=%u\n"
		     "queued_coalesce=%u\nqueued_leaf_coalesce=%u\nbytes_total=%" PRIu64 "\n"
		     "bytes_done=%" PRIu64 "\nbytes_left=%" PRIu64 "\nrate_mib_s=%.1f\n"
		     "deleted=%u\ncoalesced=%u\nleaf_coalesced=%u\nheld_back=%s\nupdated=%lld\n",
		     (int)getpid(), g->state, g->current, g->waiting, g->q_garbage,
		     g->q_coalesce, g->q_leaf, g->total, g->done,
		     g->total > g->done ? g->total - g->done : 0, rate, g->deleted,
		     g->coalesced, g->leaf_coalesced, g->held_back, (long long)time(NULL));
	status_path(g->sr_uuid, "gc.status", path);
	sm_write_file_atomic(path, text, (size_t)n);
}

static bool abort_requested(struct gc *g)
{
	char path[PATH_MAX];

	status_path(g->sr_uuid, "gc.abort", path);
	return access(path, F_OK) == 0;
}

/*
 * Take the SR lock, politely: try, and while an SR operation holds it,
 * say so in the status and keep watching for an abort request.
 */
static int sr_lock(struct gc *g, struct sm_error *err)
{
	double until = now() + 600;

	for (;;) {
		struct sm_error e = { 0 };

		if (lock_acquire(&g->srlock, g->sr_uuid, "sr", 0, SME_SR_UNAVAILABLE, &e) == 0) {
			g->waiting[0] = '\0';
			return 0;
		}
		snprintf(g->waiting, sizeof(g->waiting), "the SR lock (%.150s)", e.detail);
		g->state = "waiting";
		status_write(g, false);
		if (abort_requested(g))
			return sm_fail(err, SME_SR_UNAVAILABLE, "aborted while waiting for the SR lock");
		if (now() > until)
			return sm_fail(err, SME_SR_UNAVAILABLE, "SR lock busy for 600 s");
		usleep(50 * 1000);
	}
}

static void sr_unlock(struct gc *g)
{
	lock_release(&g->srlock);
}

static int progress(void *arg, uint64_t done, uint64_t total)
{
	struct gc *g = arg;

	g->done = done;
	g->total = total;
	status_write(g, false);
	if (g->verbose && total)
		fprintf(stderr, "\r  %6.1f%%  %8.1f MiB left", 100.0 * (double)done / (double)total,
			(double)(total - done) / MIB);
	return abort_requested(g);
}

/* ---- choosing work (lib/gc_plan.c) ---------------------------------------- */

static void hold_back(struct gc *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Remember (the first) reason work was left undone, for --status and the exit status. */
static void hold_back(struct gc *g, const char *fmt, ...)
{
	va_list ap;

	if (g->held_back[0])
		return;
	va_start(ap, fmt);
	vsnprintf(g->held_back, sizeof(g->held_back), fmt, ap);
	va_end(ap);
	say(g, "held back: %s", g->held_back);
}

/* The plan's only I/O, done here: the activation records, when they can matter. */
static void plan_work(struct gc *g, const struct vdi_forest *f, struct gc_plan *pl)
{
	struct gc_active_set active = { 0 };
	struct gc_plan_input in = { .forest = f, .leaf_max = g->leaf_max,
				    .backed_off = g->backed_off };

	if (gc_plan_needs_active(f)) {
		active.rc = g->vs->ops->active_each(g->vs, gc_active_set_add, &active);
		in.active = &active;
	}
	gc_plan_make(&in, pl);
	gc_active_set_free(&active);
	g->q_garbage = pl->q_garbage;
	g->q_coalesce = pl->q_coalesce;
	g->q_leaf = pl->q_leaf;
	if (pl->held_back[0])
		hold_back(g, "%s", pl->held_back);
}

/* ---- the work -------------------------------------------------------------- */

/* The store's name of uuid's VHD: what its chain opener opens. */
static void vhd_name(struct gc *g, const char *uuid, char out[128])
{
	g->vs->ops->image_name(g->vs, uuid, VSTORE_VHD, out, 128);
}

static void delete_image(struct gc *g, const struct vdi_node *n)
{
	if (g->vs->ops->remove(g->vs, n->img.uuid, n->img.kind, true, NULL) == 0) {
		say(g, "deleted garbage %s", n->img.uuid);
		g->deleted++;
	}
	lock_cleanup_namespace(n->img.uuid);
}

/* Re-point every child of n at parent, then remove n (SR lock held). */
static int relink_and_remove(struct gc *g, const char *n_uuid, const char *p_uuid,
			     struct sm_error *err)
{
	char pname[128], cname[128];
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
	vhd_name(g, p_uuid, pname);
	g->state = "relinking";
	for (size_t i = 0; i < f.count && rc == 0; i++) {
		if (strcmp(f.nodes[i].img.parent, n_uuid) != 0)
			continue;
		vhd_name(g, f.nodes[i].img.uuid, cname);
		rc = vhd_set_parent_with(g->vs->ops->opener(g->vs), cname, pname, err);
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

/*
 * The parent must cover the child's virtual size before the copy: the one
 * grow with an undo record (the GC's own, kept while the copy runs
 * without the SR lock), after the store made room for the child's data.
 */
static int grow_parent(struct gc *g, const char *c_uuid, const char *p_uuid,
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
	if (pi.virtual_size >= ci.virtual_size)
		return 0;
	return vstore_grow(g->vs, p_uuid, ci.virtual_size, VSTORE_UNDO_GC, &pending, err);
}

/*
 * Copy N into P (the copy is idempotent and leaves N untouched, so an
 * interruption is harmless), then relink under the SR lock.  Called and
 * returns with the SR lock held.
 */
static int coalesce_one(struct gc *g, const char *n_uuid, const char *p_uuid,
			struct sm_error *err)
{
	char nname[128], pname[128], jtext[64];
	uint64_t copied = 0;
	int rc;

	snprintf(jtext, sizeof(jtext), "parent=%s\n", p_uuid);
	if (g->vs->ops->journal_begin(g->vs, "coalesce", n_uuid, jtext, err) < 0)
		return -1;
	sm_fault_point("gc:coalesce-journal");
	vhd_name(g, n_uuid, nname);
	vhd_name(g, p_uuid, pname);
	snprintf(g->current, sizeof(g->current), "coalesce %s into %s", n_uuid, p_uuid);
	g->state = "copying";
	g->done = g->total = 0;
	g->copy_started = now();
	say(g, "coalescing %s into its parent %s", n_uuid, p_uuid);
	sr_unlock(g);
	rc = grow_parent(g, n_uuid, p_uuid, err);
	if (rc == 0)
		rc = vhd_coalesce_with(g->vs->ops->opener(g->vs), nname, pname, &copied, progress, g,
				       err);
	if (g->verbose)
		fprintf(stderr, "\n");
	if (sr_lock(g, rc < 0 ? NULL : err) < 0 && rc == 0)
		return -1;
	if (rc < 0)
		return -1;     /* the journal stays: the next run resumes */
	sm_fault_point("gc:copied");
	say(g, "copied %" PRIu64 " bytes in %.2f s", copied, now() - g->copy_started);
	if (relink_and_remove(g, n_uuid, p_uuid, err) < 0)
		return -1;
	if (vstore_deflate(g->vs, p_uuid, err) < 0)
		return -1;
	g->coalesced++;
	return g->vs->ops->journal_end(g->vs, "coalesce", n_uuid, err);
}

/*
 * Is L free to be renamed over?  Asked after our journal record (the
 * claim vdi_activate looks for) is durable; see vstore_dir.h.  Anything
 * but a clear "no activation record" is a reason to leave L alone.
 */
static bool leaf_still_idle(struct gc *g, const char *l_uuid)
{
	char holder[128] = "";
	int rc = vstore_active_lookup(g->vs, l_uuid, holder);

	if (rc == 0)
		return true;
	if (rc > 0)
		say(g, "leaf-coalesce of %s stopped: activated on host %s", l_uuid, holder);
	else
		hold_back(g, "leaf-coalesce of %s: cannot read its activation records (%s)",
			  l_uuid, strerror(-rc));
	return false;
}

/*
 * Give up a leaf-coalesce before its commit: L untouched, P hidden again
 * (it holds L's data too, which is harmless in a hidden base copy).
 */
static int leaf_back_off(struct gc *g, const char *l_uuid, const char *p_uuid,
			 struct sm_error *err)
{
	memcpy(g->backed_off, l_uuid, sizeof(g->backed_off));
	if (vstore_leaf_recover(g->vs, l_uuid, p_uuid, err) < 0)
		return -1;   /* the record stays: recovery runs again */
	return g->vs->ops->journal_end(g->vs, "leaf", l_uuid, err);
}

/* Leaf L into P; P then takes L's name.  SR lock held throughout. */
static int leaf_coalesce_one(struct gc *g, const char *l_uuid, const char *p_uuid,
			     struct sm_error *err)
{
	char lname[128], pname[128], jtext[64];
	uint64_t copied = 0;

	/* Planned with an older view of the activation records: one may come now. */
	sm_fault_point("gc:leaf-planned");
	snprintf(jtext, sizeof(jtext), "parent=%s\n", p_uuid);
	if (g->vs->ops->journal_begin(g->vs, "leaf", l_uuid, jtext, err) < 0)
		return -1;
	sm_fault_point("gc:leaf-journal");
	if (!leaf_still_idle(g, l_uuid))
		return leaf_back_off(g, l_uuid, p_uuid, err);
	vhd_name(g, l_uuid, lname);
	vhd_name(g, p_uuid, pname);
	snprintf(g->current, sizeof(g->current), "leaf-coalesce %s into %s", l_uuid, p_uuid);
	g->state = "copying";
	g->copy_started = now();
	if (vstore_deflate(g->vs, l_uuid, err) < 0 || grow_parent(g, l_uuid, p_uuid, err) < 0 ||
	    vhd_coalesce_with(g->vs->ops->opener(g->vs), lname, pname, &copied, progress, g,
			      err) < 0)
		return -1;
	sm_fault_point("gc:leaf-copied");
	if (vstore_vhd_set_hidden(g->vs, p_uuid, false, err) < 0)
		return -1;
	sm_fault_point("gc:leaf-unhidden");
	/* The protocol makes this redundant; the take-over is the one step that cannot be undone. */
	if (!leaf_still_idle(g, l_uuid))
		return leaf_back_off(g, l_uuid, p_uuid, err);
	/* One step the store can recover: the merged image takes the leaf's name. */
	if (g->vs->ops->take_over(g->vs, l_uuid, p_uuid, err) < 0)
		return -1;
	lock_cleanup_namespace(p_uuid);
	say(g, "leaf %s merged into its parent (%" PRIu64 " bytes); parent %s gone",
	    l_uuid, copied, p_uuid);
	g->leaf_coalesced++;
	return g->vs->ops->journal_end(g->vs, "leaf", l_uuid, err);
}

/* ---- resuming after a crash or abort ---------------------------------------- */

/*
 * The parent grow before a copy keeps an undo record (VSTORE_UNDO_GC); a
 * GC killed mid-grow leaves it, and the parent must be put back before
 * anything reads or writes it again.
 */
static int undo_parent_grow(struct gc *g, const char *p_uuid, struct sm_error *err)
{
	bool undone;

	if (vstore_grow_recover(g->vs, p_uuid, VSTORE_UNDO_GC, &undone, err) < 0)
		return -1;
	if (undone)
		say(g, "rolled back the interrupted grow of %s", p_uuid);
	return 0;
}

static int resume_one(void *arg, const char *op, const char *id, const char *text,
		      struct sm_error *err)
{
	struct gc *g = arg;
	enum vstore_kind kind;
	char parent[37];

	journal_get(text, "parent", parent, sizeof(parent));
	if (!sm_uuid_valid(id) || !sm_uuid_valid(parent))
		return 1;   /* not ours, or damaged: leave it for a person */
	if (strcmp(op, "coalesce") == 0) {
		if (g->vs->ops->find(g->vs, id, &kind, SME_SR_UNAVAILABLE, err) < 0) {
			sm_error_recode(err, SME_SR_UNAVAILABLE);
			return -1;
		}
		if (kind == VSTORE_NONE)
			return 0;   /* finished before the crash */
		if (undo_parent_grow(g, parent, err) < 0 || vstore_vhd_repair(g->vs, parent, err) < 0)
			return -1;
		say(g, "resuming the coalesce of %s into %s", id, parent);
		if (coalesce_one(g, id, parent, err) < 0)
			return -1;
		return 0;
	}
	if (strcmp(op, "leaf") == 0)
		return vstore_leaf_recover(g->vs, id, parent, err);
	return 1;
}

/* ---- the loop ------------------------------------------------------------------ */

static int gc_loop(struct gc *g, struct sm_error *err)
{
	for (;;) {
		struct vdi_forest f;
		struct gc_plan pl;
		char n_uuid[37], p_uuid[37];
		int rc = 0;

		if (abort_requested(g))
			return sm_fail(err, SME_SR_UNAVAILABLE, "aborted on request");
		if (sr_lock(g, err) < 0)
			return -1;
		if (g->vs->ops->journal_replay(g->vs, resume_one, g, err) < 0 ||
		    vdi_forest_load(&f, g->vs, true, err) < 0) {
			sr_unlock(g);
			return -1;
		}
		plan_work(g, &f, &pl);
		g->state = "deleting";
		status_write(g, true);
		for (unsigned i = 0; i < pl.ngarbage; i++)
			delete_image(g, pl.garbage[i]);
		if (pl.ngarbage)
			g->vs->ops->sync(g->vs, NULL);
		n_uuid[0] = p_uuid[0] = '\0';
		if (pl.coalesce) {
			memcpy(n_uuid, pl.coalesce->img.uuid, 37);
			memcpy(p_uuid, pl.coalesce->img.parent, 37);
			vdi_forest_free(&f);
			rc = coalesce_one(g, n_uuid, p_uuid, err);
		} else if (pl.leaf) {
			memcpy(n_uuid, pl.leaf->img.uuid, 37);
			memcpy(p_uuid, pl.leaf->img.parent, 37);
			vdi_forest_free(&f);
			rc = leaf_coalesce_one(g, n_uuid, p_uuid, err);
		} else {
			vdi_forest_free(&f);
		}
		sr_unlock(g);
		if (rc < 0)
			return -1;
		if (!n_uuid[0] && !pl.ngarbage)
			return 0;   /* nothing left to do */
	}
}

static void daemonize(void)
{
	int fd;

	if (fork() != 0)
		_exit(0);
	setsid();
	if (fork() != 0)
		_exit(0);
	if (chdir("/") < 0)
		_exit(1);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static int show_status(const char *sr_uuid)
{
	char path[PATH_MAX], *text = NULL;
	struct sm_lock probe = SM_LOCK_INIT;
	struct sm_error e = { 0 };

	if (lock_acquire(&probe, sr_uuid, "gc_active", 0, GC_BUSY, &e) == 0) {
		printf("running=no\n");
	} else if (e.code == GC_BUSY) {
		printf("running=yes\nholder=%s\n", e.detail);
	} else {
		/* Not "running": a lock we cannot open says nothing about a GC. */
		printf("running=unknown\nlock_error=%s\n", e.detail);
	}
	lock_release(&probe);
	status_path(sr_uuid, "gc.status", path);
	if (sm_read_file(path, 4096, &text) == 0) {
		printf("%s", text);
		free(text);
	} else {
		printf("state=never-run\n");
	}
	return 0;
}

static int request_abort(const char *sr_uuid, int timeout_s)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct sm_lock wait_lock = SM_LOCK_INIT;
	struct sm_error e = { 0 };
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s/%s", sm_lock_dir(), sr_uuid);
	sm_mkdir_p(dir, 0755);
	status_path(sr_uuid, "gc.abort", path);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	/* The GC holds gc_active until it has stopped. */
	rc = lock_acquire(&wait_lock, sr_uuid, "gc_active", timeout_s, SME_SR_UNAVAILABLE, &e);
	lock_release(&wait_lock);
	unlink(path);
	if (rc < 0) {
		fprintf(stderr, "csm-gc: GC did not stop: %s\n", e.detail);
		return 1;
	}
	return 0;
}

/*
 * The lock we take is named by --sr: working on another SR's directory
 * under it would be working unprotected.  The directory must say it is
 * this SR: its marker (sr_create writes it), or else its own name (NFS
 * and EXT SRs live in a directory named by the SR's uuid).
 */
static int check_identity(struct gc *g, struct sm_error *err)
{
	char *text = NULL, found[37] = "";
	const char *base = strrchr(g->sr.fs.root, '/');
	int rc = srfs_read_file(&g->sr.fs, FSR_MARKER, 256, &text);

	if (rc == 0) {
		if (strncmp(text, "uuid=", 5) == 0)
			snprintf(found, sizeof(found), "%.36s", text + 5);
		free(text);
		if (strcmp(found, g->sr_uuid) == 0)
			return 0;
		return sm_fail(err, SME_SR_UNAVAILABLE, "%s belongs to SR %s, not %s: refusing to touch it",
			       g->sr.fs.root, found[0] ? found : "(unreadable marker)", g->sr_uuid);
	}
	if (rc != -ENOENT)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "cannot read %s/%s to check the SR",
				     g->sr.fs.root, FSR_MARKER);
	if (base && strcmp(base + 1, g->sr_uuid) == 0)
		return 0;
	return sm_fail(err, SME_SR_UNAVAILABLE, "%s has no %s and is not named %s: not SR %s, "
		       "refusing to touch it", g->sr.fs.root, FSR_MARKER, g->sr_uuid, g->sr_uuid);
}

/* The SR's directory: a local path, or "server:/path" over libnfs. */
static int open_sr(struct gc *g, const char *dir, const char *nfs,
		   struct srfs_nfs_opts *o, struct sm_error *err)
{
	static char server[256], path[PATH_MAX];
	const char *colon;

	if (dir) {
		snprintf(g->sr.path, sizeof(g->sr.path), "%s", dir);
		return srfs_open_posix(&g->sr.fs, g->sr.path, err);
	}
	colon = strchr(nfs, ':');
	if (!colon || colon == nfs || colon[1] != '/' || (size_t)(colon - nfs) >= sizeof(server))
		return sm_fail(err, SME_CONFIG_SERVER_PATH_BAD, "--nfs wants server:/path, not %s", nfs);
	memcpy(server, nfs, (size_t)(colon - nfs));
	server[colon - nfs] = '\0';
	snprintf(path, sizeof(path), "%s", colon + 1);
	o->server = server;
	o->export_path = path;
	return srfs_open_nfs(&g->sr.fs, o, err);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: csm-gc --sr UUID --dir PATH [--background] [--quiet] [--leaf-max BYTES]\n"
		"       csm-gc --sr UUID --nfs SERVER:/PATH [--nfs-version 3|4] [--nfs-timeout MS]\n"
		"              [--nfs-ports NFS,MOUNT] [...]\n"
		"       csm-gc --sr UUID --status\n"
		"       csm-gc --sr UUID --abort\n"
		"exit status: 0 done, 1 failed, 2 refused, 3 work held back (see --status)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sr", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "background", no_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "status", no_argument, NULL, 'S' },
		{ "abort", no_argument, NULL, 'A' },
		{ "leaf-max", required_argument, NULL, 'l' },
		{ "nfs", required_argument, NULL, 'n' },
		{ "nfs-version", required_argument, NULL, 'V' },
		{ "nfs-timeout", required_argument, NULL, 'T' },
		{ "nfs-ports", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct gc g = { .verbose = true, .state = "starting", .leaf_max = 20ull << 20 };
	struct sm_error err = { 0 };
	const char *sr_uuid = NULL, *dir = NULL, *nfs = NULL;
	struct srfs_nfs_opts nfs_opts = { .version = 3, .timeout_ms = 10000 };
	bool background = false, status = false, abort_gc = false;
	uint64_t n;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': sr_uuid = optarg; break;
		case 'd': dir = optarg; break;
		case 'b': background = true; g.verbose = false; break;
		case 'q': g.verbose = false; break;
		case 'S': status = true; break;
		case 'A': abort_gc = true; break;
		case 'l':
			if (sm_parse_u64(optarg, &g.leaf_max) < 0)
				usage();
			break;
		case 'n': nfs = optarg; break;
		case 'V':
			if (sm_parse_u64(optarg, &n) < 0 || (n != 3 && n != 4))
				usage();
			nfs_opts.version = (int)n;
			break;
		case 'T':
			if (sm_parse_u64(optarg, &n) < 0 || n < 100 || n > 600000)
				usage();
			nfs_opts.timeout_ms = (int)n;
			break;
		case 'P':	/* the driver's port= and mountport= options; 0: the usual */
			if (sscanf(optarg, "%d,%d", &nfs_opts.nfs_port, &nfs_opts.mount_port) != 2)
				usage();
			break;
		default: usage();
		}
	}
	if (!sr_uuid || !sm_uuid_valid(sr_uuid)) {
		fprintf(stderr, "csm-gc: --sr needs a canonical SR uuid\n");
		return 2;
	}
	if (status)
		return show_status(sr_uuid);
	if (abort_gc)
		return request_abort(sr_uuid, 60);
	if (!!dir == !!nfs || (dir && (dir[0] != '/' || strlen(dir) >= sizeof(g.sr.path))))
		usage();
	sm_log_open();
	if (background)
		daemonize();
	snprintf(g.sr_uuid, sizeof(g.sr_uuid), "%s", sr_uuid);
	g.sr.sr_uuid = g.sr_uuid;
	vstore_dir_init(&g.sr.store, &g.sr.fs, g.sr.path, g.sr_uuid);
	g.vs = &g.sr.store.vs;
	if (open_sr(&g, dir, nfs, &nfs_opts, &err) < 0) {
		fprintf(stderr, "csm-gc: %s\n", err.detail);
		return 1;
	}
	g.started = now();
	if (check_identity(&g, &err) < 0) {
		fprintf(stderr, "csm-gc: %s\n", err.detail);
		sm_log(LOG_ERR, "gc %s: %s", g.sr_uuid, err.detail);
		srfs_close(&g.sr.fs);
		return 2;
	}
	/* One GC per SR; a second one has nothing to add. */
	if (lock_acquire(&g.active, sr_uuid, "gc_active", 0, GC_BUSY, &err) < 0) {
		bool busy = err.code == GC_BUSY;

		if (g.verbose || !busy)
			fprintf(stderr, "csm-gc: %s (%s)\n",
				busy ? "already running" : "cannot take the GC lock", err.detail);
		if (!busy)
			sm_log(LOG_ERR, "gc %s: cannot take the GC lock: %s", g.sr_uuid, err.detail);
		srfs_close(&g.sr.fs);
		return busy ? 0 : 1;
	}
	rc = gc_loop(&g, &err);
	g.state = rc < 0 ? (abort_requested(&g) ? "aborted" : "failed") : "idle";
	snprintf(g.current, sizeof(g.current), "%.150s", rc < 0 ? err.detail : "");
	g.done = g.total = 0;
	status_write(&g, true);
	say(&g, "%s: deleted %u, coalesced %u, leaf-coalesced %u%s%s", g.state, g.deleted,
	    g.coalesced, g.leaf_coalesced, rc < 0 ? ": " : "", rc < 0 ? err.detail : "");
	lock_release(&g.active);
	srfs_close(&g.sr.fs);
	if (rc < 0)
		return abort_requested(&g) ? 0 : 1;
	if (g.held_back[0]) {
		if (g.verbose)
			fprintf(stderr, "csm-gc: work held back: %s\n", g.held_back);
		return 3;
	}
	return 0;
}
