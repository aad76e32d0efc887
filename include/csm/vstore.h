/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A VDI store: what the VDI operations and the garbage collector need from
 * wherever the images of an SR live.  It is semantic, not POSIX-shaped:
 * each op is a step of a VDI operation with its crash protocol inside the
 * store (a directory does it with temporary names, link and rename-over;
 * a volume group with LV renames and LV journals), so the operations over
 * it (lib/vdiforest.c, drivers/vhdsr.c, drivers/gc.c) are written once.
 *
 * Implementations: the directory store (lib/vstore_dir.c: FileSR, EXTSR,
 * NFSSR, through struct srfs); an LVM store and an in-memory store for unit
 * tests are meant to follow this contract.
 *
 * Conventions, for every op:
 *  - An op that changes the store takes struct sm_error * and returns 0 or
 *    -1 with err filled (the code given as `code` where there is one, but a
 *    full store is always SME_SR_NO_SPACE and an unreachable one (a timeout,
 *    a lost server) SME_SR_UNAVAILABLE).  err may be NULL where the caller
 *    goes on whatever happens (best-effort cleanup).
 *  - Lookups and record reads (find excepted) return 1/0 or -errno
 *    (-ENOENT: no such record) instead of filling err: the caller names
 *    the failure after its own operation.  Pure ops (names, room_for,
 *    data_path) cannot fail.
 *  - Lookups are tri-state: present, absent, or could not look.  "Could not
 *    look" is never "absent": nothing destructive may follow from it.
 *  - "Durable" means a crash (of the process or the host) after the op
 *    returned cannot undo it.
 *  - uuids are canonical (sm_uuid_valid); the caller checks them, so a
 *    store may build names from them without escaping.
 *  - Recovery runs under the SR lock, before any other op of a call that
 *    changes the SR: journal_replay hands every record to the caller, who
 *    calls the store's own undo/recover ops for the steps it owns.
 *  - An op marked "optional" may be NULL; the vstore_* helpers below then do
 *    what a store without that property needs (usually nothing).
 */
#ifndef CSM_VSTORE_H
#define CSM_VSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"
#include "csm/journal.h"
#include "csm/vdimeta.h"
#include "csm/vhd.h"
#include "csm/vhdio.h"

enum vstore_kind { VSTORE_NONE, VSTORE_VHD, VSTORE_RAW };

/* The records a listing found beside an image (vstore_image.records). */
#define VSTORE_HAS_META 0x1
#define VSTORE_HAS_LOCK 0x2

/*
 * One image as a listing sees it: enough for the forest (lib/vdiforest.c),
 * the scan document and the GC's planning, without knowing the store.
 */
struct vstore_image {
	char uuid[37];
	enum vstore_kind kind;
	uint64_t phys_size;         /* bytes the image takes: file size | LV size */
	uint64_t virtual_size;      /* what the guest sees (raw: phys_size) */
	uint64_t allocated;         /* bytes of data it holds (full listing only; raw: 0) */
	bool hidden;                /* VHD footer flag | the store's flag for raw */
	char parent[37];            /* uuid of the parent in this store, "" for none */
	/*
	 * A VHD whose header could not be read: its parent, so the children
	 * counts of the whole store, are unknown (vdi_forest.unknown_parents).
	 */
	bool parent_unknown;
	unsigned records;           /* VSTORE_HAS_META | VSTORE_HAS_LOCK */
	char error[256];            /* "" when the image read cleanly */
	struct vhd_info info;       /* VHD: footer and header (BAT too in a full listing) */
};

/* Called once per image; non-zero stops the listing and is returned. */
typedef int (*vstore_list_fn)(void *arg, const struct vstore_image *img);

/* How much room an image must be given (vstore_room_for). */
enum vstore_fit {
	VSTORE_FIT_EMPTY,   /* a VHD with no data yet (thin create, snapshot leaves) */
	VSTORE_FIT_FULL,    /* every block of the virtual size allocated (thick, RW attach) */
	VSTORE_FIT_DATA,    /* the data given (GC: a parent about to receive a child's blocks) */
};

/* Which grow an undo record belongs to (vstore_ops.undo_name). */
enum vstore_undo {
	VSTORE_UNDO_RESIZE, /* vdi_resize: recovered by the driver's journal replay */
	VSTORE_UNDO_GC,     /* the GC's parent grow: the GC's own, kept while it runs unlocked */
};

/* A persistent vdi_lock record (seed API vdi_lock / vdi_unlock). */
struct vstore_lock {
	char user[256];
	char host[256];
	long long since;
};

/*
 * The record as the file stores (dir, mem) keep it, one "key=value" a
 * line: format returns snprintf's count; parse fills r from text (which
 * it cuts up), ignoring lines it does not know.
 */
int vstore_lock_format(const struct vstore_lock *r, char *out, size_t cap);
void vstore_lock_parse(char *text, struct vstore_lock *r);
/*
 * The holder for people, as the "locked" faults name it:
 * "'<user>' on host <host> since <local ISO 8601 time> (<age> ago)",
 * the age taken at now (epoch seconds).  snprintf's count.
 */
int vstore_lock_describe(const struct vstore_lock *r, long long now, char *out, size_t cap);
/*
 * The parent uuid of a file store's VHD (dir, mem), whose parents are
 * siblings named "<uuid>.vhd" as blktap names them; "" for anything else.
 */
void vstore_file_parent_uuid(const struct vhd_info *info, char out[37]);

/* Every activation record: fn(arg, vdi, host); non-zero stops and is returned. */
typedef int (*vstore_active_fn)(void *arg, const char *uuid, const char *host);

struct vstore;

struct vstore_ops {
	const char *type;   /* "dir", "lvm", "mem" */

	/* ---- names -------------------------------------------------------- */
	/*
	 * The image's name: what the chain opener (opener) opens and what
	 * messages show.  dir: "<uuid>.vhd" / "<uuid>.raw"; lvm: "VHD-<uuid>" /
	 * "LV-<uuid>".  Pure.
	 */
	void (*image_name)(const struct vstore *vs, const char *uuid, enum vstore_kind kind,
			   char *out, size_t cap);
	/* Where a name lives, for messages ("/srv/sr/<uuid>.vhd", "nfs://...").  Pure. */
	void (*describe)(const struct vstore *vs, const char *name, char *out, size_t cap);
	/*
	 * The parent locator to write into a child of parent_uuid (blktap
	 * resolves it relative to the child).  dir: "./<uuid>.vhd"; lvm: the
	 * device-mapper name.  Pure.
	 */
	void (*locator)(const struct vstore *vs, const char *parent_uuid, char *out, size_t cap);
	/*
	 * The parent uuid a VHD names (its prt_name, else its first locator),
	 * or "" when it names nothing of this store.  Pure.
	 */
	void (*parent_uuid)(const struct vstore *vs, const struct vhd_info *info, char out[37]);

	/* ---- listing and lookup ------------------------------------------ */
	/*
	 * Every image, once each (order unspecified), with its records flags.
	 * full: read each VHD's BAT too (allocated, info.phys_size); without
	 * it one read of footer and header per image.  An image that cannot be
	 * read is listed with error set (never left out, never a failed
	 * listing); one that vanishes during the listing is left out.  -1 only
	 * when the store itself could not be listed (SME_SR_UNAVAILABLE).
	 */
	int (*list)(struct vstore *vs, bool full, vstore_list_fn fn, void *arg,
		    struct sm_error *err);
	/*
	 * Which image holds uuid: 0 with *kind (VSTORE_NONE only when the store
	 * positively said neither exists), or -1 with err (code, or
	 * SME_SR_UNAVAILABLE for a timeout or a store that is not there: a
	 * missing SR directory is never "absent") when it could not tell, or when the
	 * name exists but is not an image (a directory, a link: left alone).
	 */
	int (*find)(struct vstore *vs, const char *uuid, enum vstore_kind *kind, int code,
		    struct sm_error *err);
	/* The store is there and usable (SME_SR_UNAVAILABLE otherwise). */
	int (*check)(struct vstore *vs, struct sm_error *err);
	/*
	 * Is the store there at all: 1, 0 (positively not: not made yet, or
	 * deleted; recovery then has nothing to do), or -errno (could not look:
	 * recovery must fail the call, not skip).
	 */
	int (*exists)(struct vstore *vs);
	/*
	 * For sr_delete, once no image is left: drop every journal record (the
	 * GC's included: its images are gone) and every activation record, and
	 * whatever held them, so the store can go.  -1 when the journals could
	 * not be read.
	 */
	int (*clear)(struct vstore *vs, struct sm_error *err);

	/* ---- create, publish, abandon ------------------------------------ */
	/*
	 * A new image for uuid, open RDWR in io, invisible to list/find/open
	 * until publish.  room: bytes it may take (vstore_room_for; a store
	 * that grows by itself ignores it).  dir: exclusive ".<uuid>.<ext>.tmp"
	 * (a leftover of a killed create is removed first); lvm: the LV under
	 * its final name, tagged as unfinished.  A crash leaves a leftover that
	 * abandon (or the sweep) removes.
	 */
	int (*create)(struct vstore *vs, const char *uuid, enum vstore_kind kind, uint64_t room,
		      struct vhd_io *io, struct sm_error *err);
	/*
	 * Make the image made by create visible under its name; io is synced and
	 * closed whatever happens.  Durable on return.  An existing image of
	 * that uuid is never replaced (SME_VDI_EXISTS).  The temporary is gone
	 * on return, success or not.  A crash in the middle leaves either the
	 * temporary (invisible) or the image; the caller's "create" journal
	 * leads recovery to abandon.
	 */
	int (*publish)(struct vstore *vs, const char *uuid, enum vstore_kind kind,
		       struct vhd_io *io, struct sm_error *err);
	/*
	 * Remove everything of uuid, of either kind, published or not, and its
	 * records: the undo of an unfinished create (the caller never learnt
	 * the VDI).  Safe to repeat; durable on return.  -1 when something
	 * could not be removed (recovery then keeps its journal record).
	 */
	int (*abandon)(struct vstore *vs, const char *uuid, struct sm_error *err);

	/* ---- open and remove ---------------------------------------------- */
	/* flags: VHD_IO_RDONLY / VHD_IO_RDWR.  SME_VDI_MISSING when absent. */
	int (*open)(struct vstore *vs, const char *uuid, enum vstore_kind kind, int flags,
		    struct vhd_io *io, struct sm_error *err);
	/*
	 * Remove the image and its records (metadata, vdi_lock).  0 when it is
	 * gone, also when it was absent; durable on return unless nosync (the
	 * GC removes garbage in a batch and then calls sync).  A crash leaves
	 * the image or not, and records without an image (harmless; a repeated
	 * remove or forget removes them).
	 */
	int (*remove)(struct vstore *vs, const char *uuid, enum vstore_kind kind, bool nosync,
		      struct sm_error *err);
	/* Remove uuid's records (metadata, vdi_lock) only (absent ones are fine). */
	int (*forget)(struct vstore *vs, const char *uuid, struct sm_error *err);
	/* Make removals and renames so far durable. */
	int (*sync)(struct vstore *vs, struct sm_error *err);

	/* ---- snapshot steps ----------------------------------------------- */
	/*
	 * Step 1, keep-as-base: the data of the leaf src becomes reachable as
	 * the image base as well (base must not exist).  dir: hard link
	 * <src>.vhd -> <base>.vhd (src still names the data); lvm: lvrename
	 * src -> base (src's name is then free) and deflate base.
	 */
	int (*snap_keep)(struct vstore *vs, const char *src, const char *base, int code,
			 struct sm_error *err);
	/*
	 * Step 2: a new empty VHD child of parent (vhd_create_diff with the
	 * store's locator) published as uuid, of virtual size `size`.  replace:
	 * uuid is the snapshotted leaf whose name still holds the original data
	 * (dir: the child is built as <uuid>.vhd.new and renamed over the leaf,
	 * so the name never points at a half-made file; fault points
	 * "snapshot:child" between the two); otherwise the name must be free.
	 * replace on a store whose names cannot be replaced in one step (lvm:
	 * no LV is renamed over another): if snap_keep moved the leaf away,
	 * the name is free and the child is made under it; if the leaf is
	 * still named (a clone reusing the parent), the child is made under a
	 * temporary name, the leaf parked under a second one (OLD_<uuid>), the
	 * child renamed in and the parked leaf removed, as vstore_mem's
	 * LVM-like mode does; snap_undo puts a parked leaf back and removes
	 * both temporaries.  Fails with `code` whatever step failed (the
	 * detail says which: parent missing, name taken).
	 */
	int (*snap_child)(struct vstore *vs, const char *uuid, const char *parent, uint64_t size,
			  bool replace, int code, struct sm_error *err);
	/* Step 3: make every step so far durable (dir: sync the directory). */
	int (*snap_commit)(struct vstore *vs, int code, struct sm_error *err);
	/*
	 * Undo a snapshot of src that was not committed, or whose journal
	 * record survived a crash: afterwards src names the original data
	 * (visible), and neither base nor clone ("" when none) nor any
	 * temporary exists.  Every step is safe to repeat; durable on return.
	 * -1 when a step failed: the snapshot's journal record must then stay,
	 * so the next recovery finishes the undo (dropping it would leave the
	 * original's data under the hidden base's name, for the GC to delete).
	 * dir: compares the names' identities to tell whether base is still a
	 * second name of src or already the only one.
	 */
	int (*snap_undo)(struct vstore *vs, const char *src, const char *base, const char *clone,
			 struct sm_error *err);

	/* ---- leaf-coalesce take-over -------------------------------------- */
	/*
	 * The merged parent p takes the leaf l's name, in one step the caller
	 * can recover: dir: rename <p>.vhd over <l>.vhd (atomic) then p's
	 * records go; lvm: rename l -> OLD_l, p -> l, remove OLD_l.  Durable
	 * on return.  Called under the SR lock with the "leaf" journal record
	 * written.
	 */
	int (*take_over)(struct vstore *vs, const char *l, const char *p, struct sm_error *err);
	/*
	 * After a crash with the "leaf" record left: 0 when p still has its own
	 * name (the take-over did not happen, or was rolled back here: l names
	 * l's data); 1 when it happened (finished here: p's name and records
	 * are gone, l names the merged image); -1 when it could not tell.
	 */
	int (*take_over_recover)(struct vstore *vs, const char *l, const char *p,
				 struct sm_error *err);

	/* ---- room: inflate and deflate (optional; NULL for files) ---------- */
	/*
	 * Bytes an image of virtual size `virt` needs for `fit` (data: the
	 * bytes of data for VSTORE_FIT_DATA).  NULL: 0 (grows by itself).
	 * When they are called (block-family §A.5: by the generic code for
	 * vdi_create, vdi_resize and the GC; by the LVM driver's layer,
	 * drivers/lvm.c, for attach, detach and snapshot):
	 *   vdi_create    create(room_for(EMPTY or FULL by vstore.thin))
	 *   vdi_attach RW inflate(vdi, room_for(FULL)) before answering
	 *   vdi_detach    deflate(vdi) for a snapshot, or on a thin SR
	 *   snapshot      deflate(base) after snap_keep (inside snap_keep on lvm);
	 *                 children created with room_for(EMPTY), or FULL for an
	 *                 attached leaf on a thick SR
	 *   vdi_resize    inflate(vdi, room_for(FULL, new size)) before the grow (not thin)
	 *   GC coalesce   inflate(parent, room_for(DATA, parent + child data))
	 *                 before the copy, deflate(parent) after the relink
	 *   GC leaf       deflate(leaf), inflate(parent) before the copy;
	 *                 inflate(new leaf, FULL) after take_over
	 */
	uint64_t (*room_for)(const struct vstore *vs, uint64_t virt, enum vstore_fit fit,
			     uint64_t data);
	/*
	 * The size a new VHD's BAT is made for (vhd-util create -S: LVHD's
	 * 2 TiB), so a resize up to it rewrites footers only and a deflated
	 * image keeps room for its metadata; 0: the BAT of the virtual size.
	 */
	uint64_t vhd_prealloc;
	/*
	 * Give uuid at least `room` bytes (journaled: a crash leaves the old
	 * size or the new one, never a footer in the middle).  No-op when it
	 * already has them.  SME_SR_NO_SPACE when the store has not.
	 */
	int (*inflate)(struct vstore *vs, const char *uuid, uint64_t room, struct sm_error *err);
	/* Give back what uuid does not use (the VHD's footer moved first). */
	int (*deflate)(struct vstore *vs, const char *uuid, struct sm_error *err);

	/* ---- flags (optional) --------------------------------------------- */
	/* The store's read-only protection (lvm: LV permission).  NULL: none. */
	int (*set_read_only)(struct vstore *vs, const char *uuid, bool ro, struct sm_error *err);
	/*
	 * Hidden for a raw image, which has no footer to say it (lvm: a tag).
	 * NULL: raw images cannot be hidden (SME_UNIMPLEMENTED).  A VHD's
	 * hidden flag is its footer's: the generic code sets it through open.
	 */
	int (*raw_set_hidden)(struct vstore *vs, const char *uuid, bool hidden,
			      struct sm_error *err);

	/* ---- space --------------------------------------------------------- */
	/* Size, used and free bytes of the store (SME_SR_UNAVAILABLE). */
	int (*space)(struct vstore *vs, uint64_t *size, uint64_t *used, uint64_t *free,
		     struct sm_error *err);

	/* ---- host-local activation and the data path ----------------------- */
	/*
	 * Make uuid usable on this host (lvm: refcounted lvchange -ay; the
	 * generic code is to activate a chain from the root down, leaf last,
	 * at vdi_activate, and deactivate it at vdi_deactivate; not wired yet,
	 * as above).  Optional: NULL for files, which are always usable.
	 */
	int (*activate)(struct vstore *vs, const char *uuid, bool leaf, struct sm_error *err);
	int (*deactivate)(struct vstore *vs, const char *uuid, bool leaf, struct sm_error *err);
	/*
	 * An activation the GC borrows for one step (a copy, a relink): as
	 * activate/deactivate with leaf false, plus a host-local marker, so
	 * that a GC killed between the two (kill -9, OOM) does not leave a
	 * count that keeps the LV active and unremovable until a reboot: the
	 * next GC's reclaim_borrowed gives each marked count back.  The marker
	 * is made after the count is taken and removed before it is given
	 * back, so a kill in those instants leaks one count, never takes one
	 * the GC did not take.  reclaim_borrowed only while holding the GC's
	 * own lock (no other GC has a borrow open).  Optional, as activate.
	 */
	int (*borrow)(struct vstore *vs, const char *uuid, bool on, struct sm_error *err);
	int (*reclaim_borrowed)(struct vstore *vs, unsigned *reclaimed, struct sm_error *err);
	/* What vdi_attach answers as params: the path tapdisk opens.  Pure. */
	void (*data_path)(const struct vstore *vs, const char *uuid, enum vstore_kind kind,
			  char *out, size_t cap);

	/* ---- small durable records ---------------------------------------- */
	/* The VDI's metadata: 0, -ENOENT (none), or -errno; m zeroed first. */
	int (*meta_read)(struct vstore *vs, const char *uuid, struct vdi_meta *m);
	/* Replace it atomically; durable on return (a crash: old or new). */
	int (*meta_write)(struct vstore *vs, const char *uuid, const struct vdi_meta *m, int code,
			  struct sm_error *err);
	/* Has a metadata record: 1, 0, or -errno. */
	int (*meta_lookup)(struct vstore *vs, const char *uuid);
	/* The vdi_lock record: 0, -ENOENT, or -errno. */
	int (*lock_read)(struct vstore *vs, const char *uuid, struct vstore_lock *r);
	/*
	 * Write it, durable on return: replace=false fails with -EEXIST (err
	 * SME_LOCK_ERR) if one exists (two takers race: one wins); replace=true
	 * replaces atomically (refresh, force).
	 */
	int (*lock_write)(struct vstore *vs, const char *uuid, const struct vstore_lock *r,
			  bool replace, struct sm_error *err);
	/* Remove it: 0 (also when absent) or -errno. */
	int (*lock_remove)(struct vstore *vs, const char *uuid);
	/* A vdi_lock record exists: 1, 0, or -errno. */
	int (*is_locked)(struct vstore *vs, const char *uuid);
	/*
	 * Activation records, on the store itself, the one place every host
	 * shares (see vstore_dir.h for the protocol against the GC's
	 * leaf-coalesce).  set: durable on return; clear: this host's, absent
	 * is fine; each: every record, 0 or -errno when they could not be read.
	 */
	int (*active_set)(struct vstore *vs, const char *uuid, bool rw, int code,
			  struct sm_error *err);
	int (*active_clear)(struct vstore *vs, const char *uuid);
	int (*active_each)(struct vstore *vs, vstore_active_fn fn, void *arg);

	/* ---- journals ------------------------------------------------------ */
	/*
	 * Intent records <op>-<id> holding "key=value\n" text, written and
	 * durable before the first step of a change, removed (durably) after
	 * its last.  lookup: 1, 0, or -errno.  replay: fn for every record
	 * (journal.h's journal_fn: 0 repaired, the record is removed; 1 leave
	 * it; -1 error).  dir: .csm-journal/<op>-<id>; lvm: journal LVs.
	 */
	int (*journal_begin)(struct vstore *vs, const char *op, const char *id, const char *text,
			     struct sm_error *err);
	int (*journal_end)(struct vstore *vs, const char *op, const char *id, struct sm_error *err);
	int (*journal_lookup)(struct vstore *vs, const char *op, const char *id);
	int (*journal_replay)(struct vstore *vs, journal_fn fn, void *arg, struct sm_error *err);

	/* ---- grow undo records ---------------------------------------------- */
	/*
	 * The opener name of the undo record of a grow of uuid (see
	 * vhd_grow_with_undo).  dir: ".<uuid>.vhd.undo" (resize) and
	 * "<uuid>.vhd.undo" (the GC's, which the leftover sweep leaves alone
	 * because the GC grows without the SR lock).  Pure.
	 */
	void (*undo_name)(const struct vstore *vs, const char *uuid, enum vstore_undo which,
			  char *out, size_t cap);

	/* ---- chains, leftovers, end ---------------------------------------- */
	/* Opens images (and their parents through locators) by name. */
	const struct vhd_opener *(*opener)(struct vstore *vs);
	/*
	 * Remove temporaries a killed process left (half-written records,
	 * unfinished children, resize undo records no journal needs).  Only
	 * under the SR lock, after journal replay.
	 */
	void (*sweep)(struct vstore *vs);
	/* Release what the store holds open (it may be used again: it reopens). */
	void (*close)(struct vstore *vs);
};

struct vstore {
	const struct vstore_ops *ops;
	const char *sr_uuid;
	/*
	 * Thin provisioning (LVMSR's allocation=thin): vdi_create makes VHDs
	 * with room_for(EMPTY) and vdi_resize leaves their room as it is (the
	 * driver inflates for a writable attach).  false: room_for(FULL) for
	 * both; a store that grows by itself has room_for NULL either way.
	 */
	bool thin;
};

/* ---- helpers over the ops (the same for every store) ----------------- */

static inline uint64_t vstore_room_for(const struct vstore *vs, uint64_t virt,
				       enum vstore_fit fit, uint64_t data)
{
	return vs->ops->room_for ? vs->ops->room_for(vs, virt, fit, data) : 0;
}

static inline int vstore_inflate(struct vstore *vs, const char *uuid, uint64_t room,
				 struct sm_error *err)
{
	return vs->ops->inflate ? vs->ops->inflate(vs, uuid, room, err) : 0;
}

static inline int vstore_deflate(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	return vs->ops->deflate ? vs->ops->deflate(vs, uuid, err) : 0;
}

static inline int vstore_set_read_only(struct vstore *vs, const char *uuid, bool ro,
				       struct sm_error *err)
{
	return vs->ops->set_read_only ? vs->ops->set_read_only(vs, uuid, ro, err) : 0;
}

static inline int vstore_activate(struct vstore *vs, const char *uuid, bool leaf,
				  struct sm_error *err)
{
	return vs->ops->activate ? vs->ops->activate(vs, uuid, leaf, err) : 0;
}

static inline int vstore_deactivate(struct vstore *vs, const char *uuid, bool leaf,
				    struct sm_error *err)
{
	return vs->ops->deactivate ? vs->ops->deactivate(vs, uuid, leaf, err) : 0;
}

/* A borrowed activation (see borrow above); plain activation without the op. */
static inline int vstore_borrow(struct vstore *vs, const char *uuid, bool on,
				struct sm_error *err)
{
	if (vs->ops->borrow)
		return vs->ops->borrow(vs, uuid, on, err);
	return on ? vstore_activate(vs, uuid, false, err) : vstore_deactivate(vs, uuid, false, err);
}

/* "vhd" / "raw": the kind as the scan document and vdi_sm_config name it. */
const char *vstore_kind_name(enum vstore_kind kind);

/* Active on any host?  1 (holder gets the host if not NULL), 0, or -errno. */
int vstore_active_lookup(struct vstore *vs, const char *uuid, char holder[128]);

/* Set or clear a VHD's hidden flag through open (synced). */
int vstore_vhd_set_hidden(struct vstore *vs, const char *uuid, bool hidden,
			  struct sm_error *err);
/* vhd_repair on uuid's VHD (what a killed writer left), logged. */
int vstore_vhd_repair(struct vstore *vs, const char *uuid, struct sm_error *err);
/* Footer and header of uuid's VHD (fast: one read) or with the BAT. */
int vstore_vhd_query(struct vstore *vs, const char *uuid, bool fast, struct vhd_info *info,
		     struct sm_error *err);

/*
 * Finish or undo a leaf-coalesce of l into p that died (SR lock held, the
 * "leaf" record left): take_over_recover, then, when p still has its own
 * name, p hidden again and repaired (it is l's parent again).  Used by the
 * driver's recovery and by the GC (recovery, and backing off).
 */
int vstore_leaf_recover(struct vstore *vs, const char *l, const char *p, struct sm_error *err);

/*
 * The one grow with an undo record, over the store: grow uuid's VHD to
 * size (vhd_grow_with_undo on the store's opener and undo_name).  Durable
 * on return.  *pending: a failed grow could not be undone here; the record
 * (and the journal that leads recovery to it) must stay.
 */
int vstore_grow(struct vstore *vs, const char *uuid, uint64_t size, enum vstore_undo which,
		bool *pending, struct sm_error *err);
/*
 * Undo a grow of uuid a crash cut short, if its record is there: 0 (undone,
 * or none was pending; *undone says which, may be NULL), -1 when it could
 * not look or not undo (the record stays).
 */
int vstore_grow_recover(struct vstore *vs, const char *uuid, enum vstore_undo which,
			bool *undone, struct sm_error *err);

#endif
