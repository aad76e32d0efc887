/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * VHD images as blktap writes them: dynamic and differencing disks with
 * footer copy, header, BAT, batmap, 2 MiB blocks, 512-byte sector bitmaps
 * and 4 KiB-aligned data, parent locators MACX/W2KU/W2RU, and the hidden
 * flag in footer byte 85.  All on-disk integers are big-endian.
 *
 * Every open verifies the footer and header checksums and the structure;
 * a corrupt or truncated image is an error (SME_VDI_LOAD with a detail
 * naming the defect), never a crash.
 */
#ifndef CSM_VHD_H
#define CSM_VHD_H

#include <stdbool.h>
#include <stdint.h>

#include "csm/error.h"
#include "csm/vhdio.h"

#define VHD_SECTOR_SIZE   512u
#define VHD_BLOCK_SIZE    (2u * 1024 * 1024)
#define VHD_MIN_SIZE      ((uint64_t)VHD_BLOCK_SIZE)
#define VHD_MAX_SIZE      (2040ull * 1024 * 1024 * 1024)
#define VHD_MAX_CHAIN     30

enum vhd_type {
	VHD_TYPE_FIXED = 2,
	VHD_TYPE_DYNAMIC = 3,
	VHD_TYPE_DIFF = 4,
};

struct vhd_info {
	enum vhd_type type;
	uint64_t virtual_size;      /* footer curr_size, bytes */
	uint64_t phys_size;         /* end of data + footer, as vhd-util query -s */
	uint32_t blocks;            /* ceil(virtual_size / block size) */
	uint32_t max_bat_entries;   /* header max_bat_size */
	uint32_t allocated_blocks;  /* BAT entries in use */
	bool hidden;                /* footer byte 85 */
	bool has_batmap;
	uint8_t uuid[16];           /* footer uuid (not the VDI uuid) */
	char creator[5];            /* footer crtr_app, NUL-terminated */
	uint32_t creator_version;
	/* Differencing disks only: */
	uint8_t parent_uuid[16];
	uint32_t parent_timestamp;  /* VHD epoch */
	char parent_name[512];      /* header prt_name (UTF-16BE) as UTF-8, "" if none */
	char parent_locator[512];   /* first usable locator decoded (e.g. "./base.vhd"), "" if none */
};

/* Round a requested size up to a whole block; SME_VDI_SIZE if < 0 or > VHD_MAX_SIZE. */
int vhd_validate_size(uint64_t requested, uint64_t *rounded, struct sm_error *err);

/*
 * Create an empty dynamic disk of 'size' bytes (already rounded) on an
 * empty io: footer copy at 0, header at 512, BAT at 1536 (0xFFFFFFFF
 * entries), batmap header + map, footer at the end.  Creator "tap", 1.3,
 * so blktap treats the batmap as present.
 */
int vhd_create_dynamic(struct vhd_io *io, uint64_t size, struct sm_error *err);

/*
 * As vhd_create_dynamic, with the BAT and batmap preallocated for
 * 'max_size' bytes (vhd-util create -S), so vhd_grow up to max_size only
 * rewrites the footers.  LVHD uses 2 TiB.
 */
int vhd_create_dynamic_prealloc(struct vhd_io *io, uint64_t size,
				uint64_t max_size, struct sm_error *err);

/*
 * Create an empty differencing disk on an empty io, child of 'parent'
 * (opened, validated).  'parent_relpath' is the child-to-parent relative
 * path blktap writes in the locators ("./<basename>" for siblings);
 * the header's prt_name is the basename.  virtual size = 'size', or the
 * parent's size when 0 (refused if smaller than the parent's).
 */
int vhd_create_diff(struct vhd_io *io, struct vhd_io *parent,
		    const char *parent_relpath, uint64_t size,
		    struct sm_error *err);

/*
 * As vhd_create_diff, with the BAT and batmap preallocated for max_size
 * bytes (vhd-util snapshot -S; LVHD uses 2 TiB), so the child can later
 * grow up to max_size by rewriting its footers only (vhd_grow).
 */
int vhd_create_diff_prealloc(struct vhd_io *io, struct vhd_io *parent,
			     const char *parent_relpath, uint64_t size, uint64_t max_size,
			     struct sm_error *err);

/*
 * Move the primary footer to new_size - 512 (vhd-util modify -s), for
 * LVHD's inflate (after lvresize up) and deflate (before lvresize down);
 * on a file the file is cut at new_size.  new_size must be whole
 * sectors and at least the end of data + 512 (SME_VDI_SIZE: data would
 * be lost), and within a block device (SME_SR_NO_SPACE); a fixed disk is
 * SME_VDI_RESIZE.  The footer copy at 0 is not touched.
 */
int vhd_set_phys_size(struct vhd_io *io, uint64_t new_size, struct sm_error *err);

/* Read and validate the metadata; fill info. */
int vhd_query(struct vhd_io *io, struct vhd_info *info, struct sm_error *err);

/*
 * As vhd_query from one read of the footer copy and header at offset 0
 * (vhd-util scan -f): no BAT is read, so allocated_blocks is 0,
 * phys_size is the file size and parent_locator is empty.  Falls back to
 * vhd_query when the start of the image is not a plain dynamic/diff disk.
 */
int vhd_query_fast(struct vhd_io *io, struct vhd_info *info, struct sm_error *err);

/* Set or clear the hidden flag in both footers (checksums updated). */
int vhd_set_hidden(struct vhd_io *io, bool hidden, struct sm_error *err);

/*
 * Grow the virtual size to new_size (rounded to a block; smaller than the
 * current size is SME_VDI_SIZE) when the BAT has room (max_bat_size, e.g.
 * preallocated with vhd_create_dynamic_prealloc): only the new BAT
 * entries and the footers are written.  A grow beyond the BAT must move
 * metadata and data blocks and needs vhd_grow_journaled: here it fails
 * with SME_VDI_RESIZE and the image is unchanged.
 */
int vhd_grow(struct vhd_io *io, uint64_t new_size, struct sm_error *err);

/*
 * Grow with an undo record.  Beyond the BAT, the metadata is rewritten in
 * blktap's standard layout (BAT at 1536, batmap header + map, the parent
 * locators of a diff disk, then the blocks), as blktap's resize does: the
 * data blocks the larger metadata would overlap are first copied to the
 * end of data (data part 4 KiB aligned), so every block still starts
 * after the end of all metadata (`vhd-util check` demands it).
 *
 * Before anything in 'io' changes, the bytes the grow will overwrite or
 * cut off (the metadata region up to the new end of metadata, including
 * the blocks in the way, the old primary footer and whatever follows the
 * old end of data) and the old size are written to 'undo' and synced.  A
 * crash at any point leaves 'io' restorable by vhd_grow_undo(); an error
 * after that point restores it before returning.  On success the record is
 * emptied (truncated, or its header zeroed), so a later vhd_grow_undo on it
 * is a no-op; the caller may then remove it.
 *
 * undo may be NULL when the grow fits the BAT (then undo is not touched);
 * if the BAT must grow and undo is NULL, the grow fails with
 * SME_VDI_RESIZE and nothing is written.  On a block device the moved
 * blocks must fit before the footer at the device end (else
 * SME_SR_NO_SPACE).  The record format is described in lib/vhd.c.
 */
int vhd_grow_journaled(struct vhd_io *io, uint64_t new_size, struct vhd_io *undo,
		       struct sm_error *err);

/*
 * Put back what the undo record saved and cut the file back to its old
 * size: io is then byte for byte as before the grow, and the record is
 * emptied.  An empty, incomplete or corrupt record (bad magic, shorter than
 * its length, wrong checksum: a crash while it was written, before io was
 * touched) means there is nothing to undo: success without change.
 * Running it again after a crash during the undo is safe.
 */
int vhd_grow_undo(struct vhd_io *io, struct vhd_io *undo, struct sm_error *err);

/*
 * Read guest data of this one image (not through a chain): sectors whose
 * bitmap bit is clear, and unallocated blocks, read as zeros.  For tests
 * and tools.  off and len need not be sector aligned.
 */
int vhd_read(struct vhd_io *io, void *buf, uint64_t len, uint64_t off,
	     struct sm_error *err);

/*
 * Write guest data into this one image (no chain): allocates blocks at the
 * end of data as blktap does (bitmap sector, gap so data is 4 KiB
 * aligned), writes data and bitmap before the BAT entry that makes the
 * block reachable, keeps the batmap bit in step, and rewrites the footer.
 */
int vhd_write(struct vhd_io *io, const void *buf, uint64_t len, uint64_t off,
	      struct sm_error *err);

/* What vhd_repair put right (bits of *fixed). */
#define VHD_FIXED_FOOTER   0x1u   /* footer at the end, or its copy at 0, rewritten */
#define VHD_FIXED_BATMAP   0x2u   /* batmap checksum recomputed, untrue bits cleared */
#define VHD_FIXED_LOCATORS 0x4u   /* parent locators rewritten to the header's parent */

/*
 * Put right, in place, what a writer killed between two of its writes
 * can leave behind (this library's, blktap's or vhd-util's); for the GC's
 * and the drivers' recovery, and `vhdtool check --repair`.  io must be
 * open for writing.  *fixed (may be NULL) gets the VHD_FIXED_* bits of
 * what was wrong and is now right; 0 when the image was sound.
 *
 * - Footer: a primary footer that is missing or invalid (the copy at 0
 *   is what everyone reads then) is rewritten from the copy; a copy that
 *   differs from a valid primary (the primary wins, as when reading) is
 *   rewritten from it.
 * - Batmap: a checksum that does not match the map (blktap writes the
 *   map and its header apart; this library, in its layout, in one
 *   write) is recomputed.
 *   A set bit only claims that the block is allocated and its bitmap
 *   full; every set bit is verified against the BAT and the block's
 *   bitmap first, and cleared unless true (a clear bit is always safe:
 *   it means "consult the block bitmap").
 * - Parent locators (differencing disks): the header's parent uuid and
 *   name are the commit point of a re-parenting (vhd_set_parent, vhd-util
 *   modify -p); a MACX/W2KU/W2RU locator that names another file is
 *   rewritten to name the header's parent, and the locator table goes
 *   back to blktap's data-offset order (vhd_set_parent rotates it for a
 *   moment).  Readers are right before the repair too (see
 *   vhd_chain_open); it is `check` that wants them consistent.
 *
 * The same footer and batmap repairs happen by themselves whenever an
 * image is opened for writing by this library (vhd_write, vhd_grow*,
 * a writable chain, the parent of a coalesce).  An image whose footer,
 * header or BAT cannot be loaded at all is an error (SME_VDI_LOAD), and
 * nothing is written.  A grow cut short is not this function's: roll it
 * back first with vhd_grow_undo if its undo record is left.
 */
int vhd_repair(struct vhd_io *io, unsigned *fixed, struct sm_error *err);
/* "footer, batmap, locators" for messages; "nothing" for 0. */
void vhd_repair_describe(unsigned fixed, char *out, size_t cap);

/* Convenience wrappers over a local path. */
int vhd_query_path(const char *path, struct vhd_info *info, struct sm_error *err);
int vhd_set_hidden_path(const char *path, bool hidden, struct sm_error *err);

/* Format a 16-byte uuid as 36 characters + NUL. */
void vhd_uuid_format(const uint8_t uuid[16], char out[37]);

#endif
