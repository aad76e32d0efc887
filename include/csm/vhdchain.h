/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Guest data through a VHD chain, coalesce, and a full structural check.
 *
 * A chain is the leaf and its ancestors, opened leaf first.  A read of a
 * sector the leaf does not hold falls through to the nearest ancestor
 * that does (zeros past the root).  A write always lands in the leaf.
 */
#ifndef CSM_VHDCHAIN_H
#define CSM_VHDCHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "csm/error.h"
#include "csm/vhd.h"

#define VHD_CHAIN_MAX 64

struct vhd_chain {
	size_t depth;                      /* images, leaf first */
	struct vhd_io io[VHD_CHAIN_MAX];
	char path[VHD_CHAIN_MAX][4096];
	void *priv;                        /* library state (parsed metadata, caches) */
};

/*
 * Open path and every ancestor.  A child's parent is the first of the
 * names its header gives (the MACX/W2KU/W2RU locators in slot order, as
 * blktap tries them, then prt_name; relative to the child's directory)
 * whose file carries the footer uuid the header's parent uuid asks for.
 * blktap stops at the first name that exists and fails if its uuid
 * differs; trying the others keeps a child readable while a re-parenting
 * cut short leaves names and header disagreeing (see vhd_set_parent).
 * When no name fits, the error is that of the first file that exists
 * (SME_VDI_LOAD, naming both uuids) or SME_VDI_MISSING if none does.
 * writable opens only the leaf RDWR (and heals it first, see vhd_repair).
 */
int vhd_chain_open(struct vhd_chain *ch, const char *path, bool writable, struct sm_error *err);
void vhd_chain_close(struct vhd_chain *ch);

/*
 * The same through an opener: path and every parent name are the
 * opener's (e.g. srfs-relative names through srfs_opener); a parent is
 * the child's directory joined with its relative locator, "./"
 * dropped.  The plain functions use vhd_opener_local.
 */
int vhd_chain_open_with(struct vhd_chain *ch, const struct vhd_opener *op, const char *path,
			bool writable, struct sm_error *err);

/* Guest view: any offset and length within the leaf's virtual size. */
int vhd_chain_read(struct vhd_chain *ch, void *buf, uint64_t len, uint64_t off,
		   struct sm_error *err);
/*
 * Write into the leaf.  A sector only partly covered by the write is
 * first filled from the chain, so the leaf's bitmap only ever marks
 * whole, correct sectors.  BAT, batmap and footer updates are batched and
 * written by vhd_chain_flush (and close); a block's data and bitmap are
 * always durable before the BAT entry that points at them.
 */
int vhd_chain_write(struct vhd_chain *ch, const void *buf, uint64_t len, uint64_t off,
		    struct sm_error *err);
int vhd_chain_flush(struct vhd_chain *ch, struct sm_error *err);

/* Progress callback for long operations: return non-zero to abort (SME_... "aborted"). */
typedef int (*vhd_progress_fn)(void *arg, uint64_t done_bytes, uint64_t total_bytes);

/*
 * Copy every sector the child holds into its parent (the parent must be
 * the child's direct parent; the parent is grown to the child's virtual
 * size first if smaller).  Whole blocks are copied as one write when the
 * child's bitmap is full.  The child is not modified, so an interrupted
 * coalesce leaves a chain that still reads correctly.  *copied gets the
 * number of bytes copied.
 */
int vhd_coalesce(const char *child_path, const char *parent_path, uint64_t *copied,
		 vhd_progress_fn progress, void *arg, struct sm_error *err);
/* Growing the parent needs op->unlink (for its undo record); without it that case fails. */
int vhd_coalesce_with(const struct vhd_opener *op, const char *child_path,
		      const char *parent_path, uint64_t *copied, vhd_progress_fn progress,
		      void *arg, struct sm_error *err);

/*
 * The one grow with an undo record, through an opener: grow the VHD at
 * path to size with vhd_grow_journaled, its undo record created
 * exclusively at undo_path (an existing one is a grow cut short: fails
 * SME_VDI_EXISTS; vhd_grow_recover first), the image synced.  On failure
 * the image is put back from the record when it can be; the record is
 * removed unless *pending (it could not be put back: the record must stay
 * for vhd_grow_recover).  Used by vdi_resize, the GC's parent grow (and
 * coalesce's own), and vhdtool grow.
 */
int vhd_grow_with_undo(const struct vhd_opener *op, const char *path, const char *undo_path,
		       uint64_t size, bool *pending, struct sm_error *err);
/*
 * Undo a grow a crash cut short: if undo_path exists, put path back as it
 * was before the grow (safe to repeat), sync it and remove the record
 * (*undone = true).  No record: 0, nothing done.  A record whose image is
 * gone is removed.  A record that cannot be looked at, or an undo that
 * fails, is -1 and the record stays.
 */
int vhd_grow_recover(const struct vhd_opener *op, const char *path, const char *undo_path,
		     bool *undone, struct sm_error *err);

/*
 * Point child_path at a new parent (header prt_uuid, prt_ts, prt_name and
 * the MACX/W2KU/W2RU locators rewritten), like `vhd-util modify -p`.
 * The writes are ordered so that blktap's tapdisk, which reads the first
 * locator and insists on the header's parent uuid, reads the old parent
 * or the new one, never neither, if the call is killed between any two
 * of them (the GC re-points a child only at a parent holding the same
 * data).  The header is the commit point; until the call returns,
 * `check` may find locators naming the other file, which vhd_repair
 * mends.  Test builds have fault points after each step:
 * vhd-set-parent:locators, :header, :first-locator.  The order and why
 * are in lib/vhdchain.c.
 */
int vhd_set_parent(const char *child_path, const char *parent_path, struct sm_error *err);
/* Through an opener other than the local one the parent must be the child's sibling. */
int vhd_set_parent_with(const struct vhd_opener *op, const char *child_path,
			const char *parent_path, struct sm_error *err);

/*
 * Check every structure (footer and copy, header, BAT bounds, overlaps
 * between blocks and with metadata, batmap against bitmaps, locators
 * decode to the header's parent name; with check_parent, the parent is
 * found with the uuid the header asks for, as vhd_chain_open finds it).
 * The first problem found is returned as SME_VDI_LOAD with a detail
 * naming it; 0 when the image is sound.  Read-only: vhd_repair mends
 * what a killed writer leaves.
 */
int vhd_check(const char *path, bool check_parent, struct sm_error *err);
int vhd_check_with(const struct vhd_opener *op, const char *path, bool check_parent,
		   struct sm_error *err);

/*
 * vhd_check over an already open io (e.g. an image in memory).  path may
 * be NULL; it is only used to find the parent when check_parent is set.
 */
int vhd_check_io(struct vhd_io *io, const char *path, bool check_parent,
		 struct sm_error *err);

/*
 * A one-image, read-only "chain" over an io the caller opened: reads see
 * only this image (no parent is looked up).  The chain takes the io over:
 * vhd_chain_close closes it.
 */
int vhd_chain_open_io(struct vhd_chain *ch, struct vhd_io *io, struct sm_error *err);

#endif
