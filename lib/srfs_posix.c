/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * srfs over a local directory (or a kernel mount of one).  Every op works
 * relative to a descriptor of the root taken at open time, so a root
 * that is renamed or replaced under us keeps meaning the SR we opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "csm/fault.h"
#include "csm/srfs.h"
#include "srfs_internal.h"

struct posix_priv {
	int dirfd;
};

static int root_fd(struct srfs *fs)
{
	return ((struct posix_priv *)fs->priv)->dirfd;
}

/* The *at calls take "." for the root itself. */
static const char *at_name(const char *rel)
{
	return rel[0] ? rel : ".";
}

static int posix_stat(struct srfs *fs, const char *rel, struct srfs_stat *st)
{
	struct stat sb;
	int rc;

	if (srfs_check_rel(rel) < 0)
		return -EINVAL;
	if ((rc = sm_fault_io("stat", rel)) < 0)
		return rc;
	if (fstatat(root_fd(fs), at_name(rel), &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	st->size = (uint64_t)sb.st_size;
	st->ino = (uint64_t)sb.st_ino;
	st->nlink = (uint32_t)sb.st_nlink;
	st->mtime = (int64_t)sb.st_mtime;
	st->is_dir = S_ISDIR(sb.st_mode);
	st->is_reg = S_ISREG(sb.st_mode);
	return 0;
}

/* vhd_io_open_file reports through an sm_error; the code tells the errno when errno is lost. */
static int open_errno(int saved, const struct sm_error *e)
{
	if (saved > 0)
		return -saved;
	if (e->code == SME_VDI_MISSING)
		return -ENOENT;
	if (e->code == SME_VDI_EXISTS)
		return -EEXIST;
	return -EIO;
}

static int posix_open(struct srfs *fs, const char *rel, int flags, struct vhd_io *io,
		      struct sm_error *err)
{
	struct sm_error e = { 0 };
	char path[4096];
	int saved;

	memset(io, 0, sizeof(*io));
	if (srfs_check_rel(rel) < 0) {
		sm_fail(err, SME_VDI_LOAD, "%s: not a name inside the SR", rel);
		return -EINVAL;
	}
	if (snprintf(path, sizeof(path), "%s/%s", fs->root, rel) >= (int)sizeof(path)) {
		sm_fail(err, SME_VDI_LOAD, "%s/%s: path too long", fs->root, rel);
		return -ENAMETOOLONG;
	}
	if ((saved = sm_fault_io("open", rel)) < 0) {
		sm_fail_errno(err, SME_VDI_LOAD, -saved, "%s", path);
		return saved;
	}
	errno = 0;
	if (vhd_io_open_file(io, path, flags, &e) == 0)
		return 0;
	saved = errno;
	sm_fail(err, e.code, "%s", e.detail);
	return open_errno(saved, &e);
}

static int posix_unlink(struct srfs *fs, const char *rel)
{
	if (srfs_check_rel(rel) < 0 || !rel[0])
		return -EINVAL;
	return unlinkat(root_fd(fs), rel, 0) < 0 ? -errno : 0;
}

static int posix_rename(struct srfs *fs, const char *from, const char *to)
{
	if (srfs_check_rel(from) < 0 || srfs_check_rel(to) < 0)
		return -EINVAL;
	return renameat(root_fd(fs), from, root_fd(fs), to) < 0 ? -errno : 0;
}

static int posix_link(struct srfs *fs, const char *from, const char *to)
{
	if (srfs_check_rel(from) < 0 || srfs_check_rel(to) < 0)
		return -EINVAL;
	return linkat(root_fd(fs), from, root_fd(fs), to, 0) < 0 ? -errno : 0;
}

static int posix_mkdir(struct srfs *fs, const char *rel, unsigned mode)
{
	if (srfs_check_rel(rel) < 0 || !rel[0])
		return -EINVAL;
	return mkdirat(root_fd(fs), rel, (mode_t)mode) < 0 ? -errno : 0;
}

static int posix_rmdir(struct srfs *fs, const char *rel)
{
	if (srfs_check_rel(rel) < 0 || !rel[0])
		return -EINVAL;
	return unlinkat(root_fd(fs), rel, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int posix_list(struct srfs *fs, const char *rel, srfs_list_fn fn, void *arg)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (srfs_check_rel(rel) < 0)
		return -EINVAL;
	if ((rc = sm_fault_io("list", rel)) < 0)
		return rc;
	fd = openat(root_fd(fs), at_name(rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			rc = errno ? -errno : 0;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fn(arg, de->d_name))
			break;
	}
	closedir(d);
	return rc;
}

static int posix_sync_dir(struct srfs *fs, const char *rel)
{
	int fd, rc = 0;

	if (srfs_check_rel(rel) < 0)
		return -EINVAL;
	fd = openat(root_fd(fs), at_name(rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int posix_statvfs(struct srfs *fs, uint64_t *size, uint64_t *used)
{
	struct statvfs sv;

	if (fstatvfs(root_fd(fs), &sv) < 0)
		return -errno;
	*size = (uint64_t)sv.f_blocks * sv.f_frsize;
	*used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	return 0;
}

static void posix_close(struct srfs *fs)
{
	struct posix_priv *pp = fs->priv;

	if (!pp)
		return;
	close(pp->dirfd);
	free(pp);
	fs->priv = NULL;
}

static const struct srfs_ops posix_ops = {
	.name = "posix",
	.stat = posix_stat,
	.open = posix_open,
	.unlink = posix_unlink,
	.rename = posix_rename,
	.link = posix_link,
	.mkdir = posix_mkdir,
	.rmdir = posix_rmdir,
	.list = posix_list,
	.sync_dir = posix_sync_dir,
	.statvfs = posix_statvfs,
	.close = posix_close,
};

int srfs_open_posix(struct srfs *fs, const char *root, struct sm_error *err)
{
	struct posix_priv *pp;
	size_t len = strlen(root);
	int fd;

	memset(fs, 0, sizeof(*fs));
	/* "/sr/" and "/sr" are the same root; messages join with one slash. */
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof(fs->root))
		return sm_fail(err, SME_SR_UNAVAILABLE, "%s: bad SR path", root);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, errno, "%s", root);
	pp = malloc(sizeof(*pp));
	if (!pp) {
		close(fd);
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, ENOMEM, "%s", root);
	}
	pp->dirfd = fd;
	memcpy(fs->root, root, len);
	fs->root[len] = '\0';
	fs->priv = pp;
	fs->ops = &posix_ops;
	srfs_init_opener(fs);
	return 0;
}
