/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * vhd_io over a local file or block device.  Transfers loop until the
 * whole buffer moved: pread/pwrite may return short counts (signals,
 * NFS, device limits) and EINTR, and the VHD code above relies on
 * all-or-nothing semantics.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "csm/fault.h"
#include "csm/vhdio.h"

struct file_priv {
	int fd;
};

static int file_fd(struct vhd_io *io)
{
	return ((struct file_priv *)io->priv)->fd;
}

static int file_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	int rc = sm_fault_io("read", io->name);

	if (rc < 0)
		return rc;
	while (len > 0) {
		ssize_t n = pread(file_fd(io), p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;	/* EOF inside the requested range */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int file_pwrite(struct vhd_io *io, const void *buf, size_t len,
		       uint64_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(file_fd(io), p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int file_get_size(struct vhd_io *io, uint64_t *size)
{
	struct stat st;

	if (fstat(file_fd(io), &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;

		if (ioctl(file_fd(io), BLKGETSIZE64, &bytes) < 0)
			return -errno;
		*size = bytes;
		return 0;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static int file_truncate(struct vhd_io *io, uint64_t size)
{
	int rc;

	do {
		rc = ftruncate(file_fd(io), (off_t)size);
	} while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static int file_sync(struct vhd_io *io)
{
	int rc;

	do {
		rc = fdatasync(file_fd(io));
	} while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static int file_get_mtime(struct vhd_io *io, int64_t *mtime)
{
	struct stat st;

	if (fstat(file_fd(io), &st) < 0)
		return -errno;
	*mtime = (int64_t)st.st_mtime;
	return 0;
}

static void file_close(struct vhd_io *io)
{
	struct file_priv *fp = io->priv;

	if (!fp)
		return;
	close(fp->fd);
	free(fp);
	io->priv = NULL;
}

static void file_start_writeback(struct vhd_io *io)
{
	/* Queue the dirty pages now; the later fdatasync only waits for them. */
	sync_file_range(file_fd(io), 0, 0, SYNC_FILE_RANGE_WRITE);
}

static void file_expect_sequential(struct vhd_io *io)
{
	posix_fadvise(file_fd(io), 0, 0, POSIX_FADV_SEQUENTIAL);
}

static int file_fallocate(struct vhd_io *io, int mode, uint64_t off, uint64_t len)
{
	int rc;

	do {
		rc = fallocate(file_fd(io), mode, (off_t)off, (off_t)len);
	} while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static int file_reserve(struct vhd_io *io, uint64_t off, uint64_t len)
{
	return file_fallocate(io, FALLOC_FL_KEEP_SIZE, off, len);
}

static int file_unreserve(struct vhd_io *io, uint64_t off, uint64_t len)
{
	return file_fallocate(io, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
}

static const struct vhd_io_ops file_ops = {
	.pread = file_pread,
	.pwrite = file_pwrite,
	.get_size = file_get_size,
	.truncate = file_truncate,
	.sync = file_sync,
	.get_mtime = file_get_mtime,
	.start_writeback = file_start_writeback,
	.expect_sequential = file_expect_sequential,
	.reserve = file_reserve,
	.unreserve = file_unreserve,
	.close = file_close,
};

/* Block devices have a fixed size: the footer lives at the device end. */
static const struct vhd_io_ops blk_ops = {
	.pread = file_pread,
	.pwrite = file_pwrite,
	.get_size = file_get_size,
	.truncate = NULL,
	.sync = file_sync,
	.get_mtime = file_get_mtime,
	.start_writeback = file_start_writeback,
	.expect_sequential = file_expect_sequential,
	.close = file_close,
};

int vhd_io_open_flags(int flags)
{
	if (flags & VHD_IO_CREATE)
		return O_RDWR | O_CREAT | O_EXCL;
	if (flags & VHD_IO_RDWR)
		return O_RDWR;
	return O_RDONLY;
}

static int open_errcode(int errnum, int flags)
{
	if (errnum == ENOENT)
		return SME_VDI_MISSING;
	if (errnum == EEXIST && (flags & VHD_IO_CREATE))
		return SME_VDI_EXISTS;
	return SME_VDI_LOAD;
}

/* For messages: what a file that is not a regular file is. */
const char *vhd_io_file_kind(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "regular file";
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symbolic link";
	case S_IFIFO:
		return "FIFO";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	}
	return "special file";
}

int vhd_io_open_fd(struct vhd_io *io, int fd, const char *name, struct sm_error *err)
{
	struct file_priv *fp;
	struct stat st;
	int errnum, fl;

	memset(io, 0, sizeof(*io));
	if (fstat(fd, &st) < 0) {
		errnum = errno;
		close(fd);
		return sm_fail_errno(err, SME_VDI_LOAD, errnum, "%s", name);
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		close(fd);
		return sm_fail(err, SME_VDI_LOAD, "%s: not a regular file (a %s)", name,
			       vhd_io_file_kind(st.st_mode));
	}
	/* Opened non-blocking so a FIFO could not hang the open; I/O blocks as usual. */
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	fp = malloc(sizeof(*fp));
	if (!fp) {
		close(fd);
		return sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s", name);
	}
	fp->fd = fd;
	io->priv = fp;
	io->is_block = S_ISBLK(st.st_mode);
	io->ops = io->is_block ? &blk_ops : &file_ops;
	snprintf(io->name, sizeof(io->name), "%s", name);
	return 0;
}

int vhd_io_open_file(struct vhd_io *io, const char *path, int flags,
		     struct sm_error *err)
{
	int fd, errnum;

	memset(io, 0, sizeof(*io));
	/* O_NONBLOCK: a FIFO under an image's name must not hang us in open(). */
	fd = open(path, vhd_io_open_flags(flags) | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0) {
		errnum = errno;
		if (errnum == ENXIO)        /* a socket, or a FIFO opened for writing */
			return sm_fail(err, SME_VDI_LOAD, "%s: not a regular file", path);
		return sm_fail_errno(err, open_errcode(errnum, flags), errnum,
				     "%s", path);
	}
	return vhd_io_open_fd(io, fd, path, err);
}

void vhd_io_close(struct vhd_io *io)
{
	if (!io || !io->ops)
		return;
	if (io->ops->close)
		io->ops->close(io);
	io->ops = NULL;
	io->priv = NULL;
}

static int opener_local_open(void *arg, const char *path, int flags, struct vhd_io *io,
			     struct sm_error *err)
{
	(void)arg;
	return vhd_io_open_file(io, path, flags, err);
}

/* fsync(2) of path's directory. */
static int opener_local_sync_name(void *arg, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	(void)arg;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

const struct vhd_opener vhd_opener_local = {
	.open = opener_local_open, .sync_name = opener_local_sync_name, .arg = NULL,
};
