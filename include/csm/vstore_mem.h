/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The in-memory VDI store (lib/vstore_mem.c): a complete struct vstore
 * for unit tests of the code written over the store (the forest, the VDI
 * operations, the GC's planning and recovery).  Images are growable byte
 * buffers behind struct vhd_io, so VHDs are made and read by the real VHD
 * library; every record (metadata, vdi_lock, journals, activation) is a
 * small "file" in the same flat namespace:
 *   <uuid>.vhd, <uuid>.raw     images (parents located as "./<uuid>.vhd")
 *   <uuid>.meta, <uuid>.lock   records
 *   .<uuid>.<ext>.tmp          an image being created (directory mode)
 *   <uuid>.vhd.new             a snapshot child before it replaces the leaf
 *   OLD_<uuid>.vhd             LVM-like: the leaf parked while another image
 *                              takes its name (take-over, or a snapshot child
 *                              replacing a leaf that kept its name)
 *   .<uuid>.vhd.undo, <uuid>.vhd.undo   grow undo records
 *   journal/<op>-<id>, active/<uuid>@<host>
 *
 * The crash model.  Each name has a current binding and a durable one; a
 * file has its current bytes and the bytes of its last sync.  An op the
 * contract (csm/vstore.h) calls durable commits the names it touched;
 * others (snap_keep, snap_child, remove with nosync, names made or removed
 * through the chain opener) stay pending until snap_commit or sync.  So a
 * caller that relies on durability the contract does not promise is
 * caught by vstore_mem_crash(VSTORE_MEM_CRASH_HOST).  Records, journals
 * and activation records are written whole and committed (old or new).
 *
 * Killing at every step.  Every change (a name bound, unbound or
 * committed, a write, a truncate, a sync, a room change) is one step.
 * vstore_mem_kill_after(n) lets n more steps happen; the next one, and
 * every call after it, fails (-EIO, SME_SR_UNAVAILABLE) and changes
 * nothing, as if the process had died there.  vstore_mem_crash() then
 * brings the store back as the next process (or, after a host crash, the
 * next boot) finds it.  A test learns how many steps an operation takes
 * from vstore_mem_steps() and kills it at each in turn.
 *
 * Modes.  Directory-like (the default): names replace by rename, images
 * grow by themselves up to the capacity, room_for/inflate/deflate are
 * NULL.  LVM-like (vstore_mem_set_lvm): no name is ever replaced (snapshot
 * renames the leaf away first, take-over and a replacing child go through
 * OLD_<uuid>), create gives an image its room up front under its final
 * name (visible only once published), writes
 * beyond an image's room fail with ENOSPC until it is inflated, names are
 * durable as soon as they change (LVM metadata commits), read-only is the
 * store's flag, raw images can be hidden, activation is refcounted.
 */
#ifndef CSM_VSTORE_MEM_H
#define CSM_VSTORE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/vstore.h"

/* Every op of the store, for fault injection and call counts. */
enum vstore_mem_op {
	VMEM_LIST, VMEM_FIND, VMEM_CHECK, VMEM_EXISTS, VMEM_CLEAR,
	VMEM_CREATE, VMEM_PUBLISH, VMEM_ABANDON, VMEM_OPEN, VMEM_REMOVE, VMEM_FORGET, VMEM_SYNC,
	VMEM_SNAP_KEEP, VMEM_SNAP_CHILD, VMEM_SNAP_COMMIT, VMEM_SNAP_UNDO,
	VMEM_TAKE_OVER, VMEM_TAKE_OVER_RECOVER,
	VMEM_INFLATE, VMEM_DEFLATE, VMEM_SET_READ_ONLY, VMEM_RAW_SET_HIDDEN, VMEM_SPACE,
	VMEM_ACTIVATE, VMEM_DEACTIVATE,
	VMEM_META_READ, VMEM_META_WRITE, VMEM_META_LOOKUP,
	VMEM_LOCK_READ, VMEM_LOCK_WRITE, VMEM_LOCK_REMOVE, VMEM_IS_LOCKED,
	VMEM_ACTIVE_SET, VMEM_ACTIVE_CLEAR, VMEM_ACTIVE_EACH,
	VMEM_JOURNAL_BEGIN, VMEM_JOURNAL_END, VMEM_JOURNAL_LOOKUP, VMEM_JOURNAL_REPLAY,
	VMEM_SWEEP,
	/* the chain opener (vstore_ops.opener) and the byte I/O of every open image */
	VMEM_OPENER_OPEN, VMEM_OPENER_UNLINK, VMEM_OPENER_SYNC_NAME,
	VMEM_IO_READ, VMEM_IO_WRITE, VMEM_IO_TRUNCATE, VMEM_IO_SYNC,
	VMEM_OP_COUNT
};

/*
 * What survives.  A real host crash keeps what was durable and any part
 * of the rest; the last two are the corners: every unsynced write made it
 * to disk but no unsynced name change did, or the other way round.
 */
enum vstore_mem_crash {
	VSTORE_MEM_CRASH_PROCESS,   /* the process died: everything done so far stays */
	VSTORE_MEM_CRASH_HOST,      /* the host died: only what was durable stays */
	VSTORE_MEM_CRASH_HOST_BYTES,   /* durable names, every file's current bytes */
	VSTORE_MEM_CRASH_HOST_NAMES,   /* current names, every file's synced bytes */
};

struct vstore_mem;

/* A new empty store (NULL when out of memory); sr_uuid is copied. */
struct vstore_mem *vstore_mem_new(const char *sr_uuid);
void vstore_mem_free(struct vstore_mem *m);
struct vstore *vstore_mem_vs(struct vstore_mem *m);
/* The in-memory store behind vs (vs->ops must be this store's). */
struct vstore_mem *vstore_mem_of(struct vstore *vs);

/* LVM-like behaviour (see above); set before the first image is made. */
void vstore_mem_set_lvm(struct vstore_mem *m, bool lvm);
/* Bytes the store holds (default 64 GiB); beyond it: SME_SR_NO_SPACE / ENOSPC. */
void vstore_mem_set_capacity(struct vstore_mem *m, uint64_t bytes);
/* This host in activation records (default "mem-host"); copied. */
void vstore_mem_set_host(struct vstore_mem *m, const char *host);
/* The store is not there (exists 0, check and list SME_SR_UNAVAILABLE) until cleared. */
void vstore_mem_set_gone(struct vstore_mem *m, bool gone);

/* ---- fault injection ------------------------------------------------ */
/*
 * The nth call (1-based, counted from now) of op fails with -errnum (ops
 * with err: that errno in err, SME_SR_NO_SPACE for ENOSPC,
 * SME_SR_UNAVAILABLE for ETIMEDOUT, else the op's code).  nth 0: every
 * call until vstore_mem_fail_clear, e.g. find/list/meta_lookup/
 * journal_lookup "could not look".  One rule per op; a new one replaces it.
 */
void vstore_mem_fail(struct vstore_mem *m, enum vstore_mem_op op, unsigned nth, int errnum);
void vstore_mem_fail_clear(struct vstore_mem *m);
/* Calls of op so far (failed ones included). */
unsigned vstore_mem_calls(const struct vstore_mem *m, enum vstore_mem_op op);
const char *vstore_mem_op_name(enum vstore_mem_op op);

/* ---- killing and crashing ------------------------------------------- */
/* Steps taken so far. */
unsigned long vstore_mem_steps(const struct vstore_mem *m);
/* Let n more steps happen, then die (see above).  Replaces an earlier limit. */
void vstore_mem_kill_after(struct vstore_mem *m, unsigned long n);
/* Has the limit been reached? */
bool vstore_mem_dead(const struct vstore_mem *m);
/*
 * Come back after a crash: every open io of the store goes stale (fails
 * -ESTALE; close it), activation refcounts go (host), the kill limit and
 * fault rules are cleared, and after a host crash every name and every
 * file's bytes go back to their durable state (see enum vstore_mem_crash).
 */
void vstore_mem_crash(struct vstore_mem *m, enum vstore_mem_crash how);

/* ---- looking inside, for tests ---------------------------------------- */
/* Is name bound (any entry, temporaries and records included)? */
bool vstore_mem_has(const struct vstore_mem *m, const char *name);
/* A copy of name's current bytes (free it): 0, or -ENOENT. */
int vstore_mem_get(const struct vstore_mem *m, const char *name, uint8_t **data, size_t *len);
/* Bind name to a new file holding data, durably (a test's planted image or record). */
int vstore_mem_put(struct vstore_mem *m, const char *name, const void *data, size_t len);
/* Bind name durably to something that is not a file (a directory, a link). */
int vstore_mem_put_odd(struct vstore_mem *m, const char *name);
/* Every bound name, sorted; fn's non-zero stops and is returned. */
int vstore_mem_each_name(const struct vstore_mem *m, int (*fn)(void *arg, const char *name),
			 void *arg);
/* Number of bound names. */
size_t vstore_mem_count(const struct vstore_mem *m);
/* LVM-like: an image's room (bytes), its read-only flag, its activation refcount. */
uint64_t vstore_mem_room(const struct vstore_mem *m, const char *uuid);
bool vstore_mem_read_only(const struct vstore_mem *m, const char *uuid);
int vstore_mem_active_count(const struct vstore_mem *m, const char *uuid);
/* Bytes in use (LVM-like: the rooms; else the files' lengths). */
uint64_t vstore_mem_used(const struct vstore_mem *m);

#endif
