/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The byte-level I/O the VHD library runs over.  One interface serves a
 * local file, a file reached through libnfs and a logical volume; the VHD
 * code never calls POSIX directly.
 */
#ifndef CSM_VHDIO_H
#define CSM_VHDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

struct vhd_io;

struct vhd_io_ops {
	/* Whole-buffer transfers: return 0, or -errno.  A short read at EOF is -EIO. */
	int (*pread)(struct vhd_io *io, void *buf, size_t len, uint64_t off);
	int (*pwrite)(struct vhd_io *io, const void *buf, size_t len, uint64_t off);
	int (*get_size)(struct vhd_io *io, uint64_t *size);
	/* Set the file length; a block device may leave this NULL. */
	int (*truncate)(struct vhd_io *io, uint64_t size);
	int (*sync)(struct vhd_io *io);
	/* Modification time (seconds since 1970), used for parent time stamps. */
	int (*get_mtime)(struct vhd_io *io, int64_t *mtime);
	/*
	 * Hints for long copies (optional, NULL when the backend has none):
	 * start writing back what was written so far, without waiting, so the
	 * final sync has little left; and expect sequential reads.
	 */
	void (*start_writeback)(struct vhd_io *io);
	void (*expect_sequential)(struct vhd_io *io);
	/*
	 * Reserve space for [off, off+len) without changing the file's
	 * length (fallocate KEEP_SIZE), so the writes that grow the file
	 * there find it allocated: 0 or -errno (optional, NULL when none).
	 */
	int (*reserve)(struct vhd_io *io, uint64_t off, uint64_t len);
	/* Give back a reservation past the end of the file (with reserve). */
	int (*unreserve)(struct vhd_io *io, uint64_t off, uint64_t len);
	void (*close)(struct vhd_io *io);
};

struct vhd_io {
	const struct vhd_io_ops *ops;
	void *priv;
	bool is_block;      /* footer lives at device end, never truncated */
	char name[256];     /* for error messages: path or URL */
};

/* Flags for vhd_io_open_file. */
#define VHD_IO_RDONLY  0x0
#define VHD_IO_RDWR    0x1
#define VHD_IO_CREATE  0x2   /* O_CREAT|O_EXCL: never clobber an existing file */

/*
 * Open a local file (or block device).  Errors: SME_VDI_MISSING for ENOENT,
 * SME_VDI_EXISTS for EEXIST with VHD_IO_CREATE, SME_VDI_LOAD otherwise;
 * the detail names the path and strerror.  Anything but a regular file or
 * a block device (a FIFO, socket, directory, character device) is
 * SME_VDI_LOAD "not a regular file"; the open never blocks on a FIFO.
 * The path is followed as given, symbolic links included: for names
 * inside an SR, srfs opens them confined and hands over the descriptor.
 */
int vhd_io_open_file(struct vhd_io *io, const char *path, int flags,
		     struct sm_error *err);

/*
 * The same over a descriptor the caller opened (e.g. relative to an SR
 * directory's descriptor, see srfs_open_posix); the io takes it over and
 * closes it, on failure too.  name is for messages.  A regular file or a
 * block device (the footer at the device end); anything else is refused
 * as above.  O_NONBLOCK, if the caller opened with it, is cleared.
 */
int vhd_io_open_fd(struct vhd_io *io, int fd, const char *name, struct sm_error *err);

/* The open(2) access flags (O_RDONLY, O_RDWR, O_CREAT|O_EXCL) for VHD_IO_* flags. */
int vhd_io_open_flags(int flags);

/* "directory", "FIFO", "symbolic link"... for a stat st_mode, for messages. */
const char *vhd_io_file_kind(unsigned mode);
/* Close (calls ops->close); safe on a zeroed or already-closed io. */
void vhd_io_close(struct vhd_io *io);

/*
 * A logical volume's bytes, through its extent map on the PVs (no
 * device-mapper needed, as `vhd-util scan -l` reads LVs): the LV is the
 * concatenation of the extents, LV offset 0 at ext[0].  The devices are
 * opened O_DIRECT; I/O goes through sector-aligned bounce buffers, an
 * unaligned write reads, patches and writes back whole sectors.
 * is_block is true, the size is the sum of the extents, there is no
 * truncate.  Opening with flags VHD_IO_CREATE is refused.
 *
 * Writes are safe only while the map cannot change under them: the
 * caller holds the SR lock (no lvresize, lvrename, lvremove, pvmove by
 * anyone) and re-reads the map after any change it makes itself.  On a
 * host with device-mapper, write through the device node
 * (vhd_io_open_direct) an LV that may be active elsewhere.
 */
struct vhd_io_extent {
	const char *dev;    /* PV path (kept by the caller while the io is open) */
	uint64_t dev_off;   /* byte offset on dev; a multiple of 512 */
	uint64_t len;       /* bytes; a multiple of 512 */
};
#define VHD_IO_MAX_EXTENTS 4096

int vhd_io_open_extents(struct vhd_io *io, const char *name, const struct vhd_io_extent *ext,
			size_t n, int flags, struct sm_error *err);

/*
 * Devices kept open across many extent-map opens: a listing reads one
 * header from each of a thousand LVs on the same few PVs, and opening
 * the PV for each cost more than the read.  An io opened through the
 * keep takes a duplicate of the kept descriptor (and closes only that);
 * a device not kept yet is opened as usual and kept (up to
 * VHD_IO_KEEP_MAX).  The io does not depend on the keep after the open.
 */
#define VHD_IO_KEEP_MAX 16
struct vhd_io_keep;
struct vhd_io_keep *vhd_io_keep_new(void);
void vhd_io_keep_free(struct vhd_io_keep *keep);
/* vhd_io_open_extents through keep (NULL: the same as vhd_io_open_extents). */
int vhd_io_open_extents_kept(struct vhd_io *io, struct vhd_io_keep *keep, const char *name,
			     const struct vhd_io_extent *ext, size_t n, int flags,
			     struct sm_error *err);

/*
 * An active LV's device node (/dev/<vg>/<lv>), or any block device,
 * opened O_DIRECT with the same bounce buffers; size from BLKGETSIZE64,
 * is_block, no truncate.  Anything but a block device is SME_VDI_LOAD.
 */
int vhd_io_open_direct(struct vhd_io *io, const char *path, int flags, struct sm_error *err);

/*
 * How code that finds images by name (a chain's parents) opens them: the
 * local filesystem, or an SR reached another way (srfs_opener).  Paths
 * are whatever the opener understands; a parent's path is the child's
 * directory joined with the parent's relative locator.
 */
struct vhd_opener {
	int (*open)(void *arg, const char *path, int flags, struct vhd_io *io,
		    struct sm_error *err);
	/* Remove a file (0 or -errno); NULL: the local unlink(2) for vhd_opener_local. */
	int (*unlink)(void *arg, const char *path);
	/*
	 * Make the name at path durable: sync the directory that holds it, so
	 * a host crash cannot lose a file just created (0 or -errno).  NULL:
	 * names need no sync there (a store whose names are its own durable
	 * metadata), and callers skip the step.
	 */
	int (*sync_name)(void *arg, const char *path);
	void *arg;
};

/* Local files through vhd_io_open_file. */
extern const struct vhd_opener vhd_opener_local;

#endif
