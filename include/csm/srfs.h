/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The directory tree a file-based SR lives in, however it is reached: a
 * local (or kernel-mounted) directory, or an NFS export through libnfs
 * with no kernel mount.  Every file-based SR operation, the journals and
 * the GC go through this, so the same code serves File, EXT and NFS SRs.
 *
 * Paths are relative to the SR root, without a leading slash ("" is the
 * root itself, "<uuid>.vhd", ".csm-journal/snapshot-<uuid>").  Calls
 * return 0 or -errno; a backend that can time out (NFS) returns
 * -ETIMEDOUT within its configured bound, never hangs.
 */
#ifndef CSM_SRFS_H
#define CSM_SRFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"
#include "csm/vhdio.h"

struct srfs;

struct srfs_stat {
	uint64_t size;
	uint64_t ino;
	uint32_t nlink;
	int64_t mtime;       /* seconds since 1970 */
	bool is_dir;
	bool is_reg;
};

/* Called for each directory entry but "." and ".."; non-zero stops the listing. */
typedef int (*srfs_list_fn)(void *arg, const char *name);

struct srfs_ops {
	const char *name;    /* "posix", "nfs" */
	int (*stat)(struct srfs *fs, const char *rel, struct srfs_stat *st);
	/*
	 * flags: VHD_IO_RDONLY / VHD_IO_RDWR / VHD_IO_CREATE (exclusive).
	 * Returns -errno (-ENOENT, -EEXIST, ...) and fills err as
	 * vhd_io_open_file does (SME_VDI_MISSING / SME_VDI_EXISTS / SME_VDI_LOAD).
	 * Only a regular file opens, and never through a symbolic link: a
	 * name that is one (or has one on the way) is -ELOOP, a directory
	 * -EISDIR, a FIFO, socket or device -EINVAL, all SME_VDI_LOAD with
	 * "not a regular file" in the detail, at once (a FIFO does not block).
	 */
	int (*open)(struct srfs *fs, const char *rel, int flags, struct vhd_io *io,
		    struct sm_error *err);
	int (*unlink)(struct srfs *fs, const char *rel);
	int (*rename)(struct srfs *fs, const char *from, const char *to);   /* replaces to */
	int (*link)(struct srfs *fs, const char *from, const char *to);     /* -EEXIST if to exists */
	int (*mkdir)(struct srfs *fs, const char *rel, unsigned mode);      /* -EEXIST if it exists */
	int (*rmdir)(struct srfs *fs, const char *rel);
	int (*list)(struct srfs *fs, const char *rel, srfs_list_fn fn, void *arg);
	/* Make creations, renames and unlinks in a directory durable. */
	int (*sync_dir)(struct srfs *fs, const char *rel);
	/* Size and used bytes of the filesystem holding the root. */
	int (*statvfs)(struct srfs *fs, uint64_t *size, uint64_t *used);
	void (*close)(struct srfs *fs);
	/*
	 * How many calls failed because the server was lost or did not
	 * answer (optional; NULL for local filesystems): lets a driver
	 * report "the server went away" rather than the step that noticed.
	 */
	unsigned (*transport_failures)(struct srfs *fs);
};

struct srfs {
	const struct srfs_ops *ops;
	char root[4096];     /* local path of the root, or "nfs://server/path" for messages */
	void *priv;
	struct vhd_opener opener;   /* filled by the open functions; see srfs_opener */
};

/*
 * A local directory (also a kernel mount).  SME_SR_UNAVAILABLE if root is
 * not an openable directory.  fs->opener points into fs: do not copy or
 * move an open srfs.  Names with a leading '/' or a ".." component are
 * refused with -EINVAL by every op.  Every op stays beneath the root's
 * descriptor and follows no symbolic link, at any component (-ELOOP):
 * stat reports a link as neither file nor directory, unlink, rename and
 * link act on the link itself.
 */
int srfs_open_posix(struct srfs *fs, const char *root, struct sm_error *err);
void srfs_close(struct srfs *fs);

/* "<root>/<rel>" for messages (and the local path, for posix). */
void srfs_describe(const struct srfs *fs, const char *rel, char *out, size_t cap);

/*
 * Helpers over the ops, the same for every backend.
 *
 * Is rel there?  1 yes, 0 no (the filesystem said ENOENT), or -errno when
 * we could not look (EIO, a timeout, ...).  "Could not look" is never
 * "absent": a destructive step acts only on positive knowledge.
 */
int srfs_lookup(struct srfs *fs, const char *rel);
/* The whole file, NUL-terminated, malloc'd into *out; -EFBIG if larger than max. */
int srfs_read_file(struct srfs *fs, const char *rel, size_t max, char **out);
/* Write rel.tmp.<pid>, sync it, rename over rel, sync rel's directory. */
int srfs_write_file_atomic(struct srfs *fs, const char *rel, const char *data, size_t len);

/*
 * For the VHD chain code: opens "paths" that are srfs-relative names, so
 * parents found through a child's locator are opened on the same srfs.
 */
const struct vhd_opener *srfs_opener(struct srfs *fs);

#endif
