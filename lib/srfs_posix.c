/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * srfs over a local directory (or a kernel mount of one).  Every op works
 * relative to a descriptor of the root taken at open time, so a root
 * that is renamed or replaced under us keeps meaning the SR we opened.
 *
 * Confinement.  Whatever sits in the SR directory is untrusted: a
 * symbolic link named <uuid>.vhd pointing outside the SR must not make a
 * resize grow, or a snapshot write into, the file it points at, and a
 * FIFO under that name must not hang a scan (or the GC) in open() while
 * it holds the SR lock.  So no name is ever resolved through a symbolic
 * link, at any component: names are resolved beneath the root's
 * descriptor with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or, on
 * kernels without it (before 5.6), one component at a time with
 * O_NOFOLLOW; ops on a name (stat, unlink, rename, link, mkdir, rmdir)
 * act on its last component relative to its directory opened that way,
 * with calls that do not follow a final link.  Opens are non-blocking
 * (a FIFO opens at once) and what they open must be a regular file:
 *
 *   a symbolic link  -ELOOP   (at the name, or at a directory on the way)
 *   a directory      -EISDIR
 *   anything else    -EINVAL  (FIFO, socket, device)
 *
 * each with SME_VDI_LOAD and "not a regular file (a FIFO)" or the like
 * in the detail, never SME_VDI_MISSING: the name is there, it is not an
 * image, and upper layers report it as such.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

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

/* ---- resolving names beneath the root -------------------------------- */

/* -1 not known yet, 0 the kernel has no openat2, 1 it has. */
static int have_openat2 = -1;

static bool try_openat2(void)
{
#ifdef CSM_TEST_BUILD
	/* Tests run the component-wise walk of older kernels too. */
	const char *no = getenv("CSM_SRFS_NO_OPENAT2");

	if (no && *no && strcmp(no, "0") != 0)
		return false;
#endif
	return have_openat2 != 0;
}

static int openat2_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)flags;
	how.mode = flags & O_CREAT ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
}

/*
 * openat with O_NOFOLLOW.  Asked for a directory, a symbolic link fails
 * with ENOTDIR rather than ELOOP: say ELOOP, as for any other link.
 */
static int openat_nofollow(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW, mode);
	struct stat st;

	if (fd < 0 && errno == ENOTDIR && (flags & O_DIRECTORY) &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		errno = ELOOP;
	return fd;
}

/* The same by hand: every directory on the way opened with O_NOFOLLOW. */
static int walk_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	char buf[PATH_MAX], *p = buf;
	int cur = dirfd, fd, e;

	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (;;) {
		char *slash = strchr(p, '/');
		int next;

		if (!slash)
			break;
		*slash = '\0';
		if (*p && strcmp(p, ".") != 0) {
			next = openat_nofollow(cur, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
			e = errno;
			if (cur != dirfd)
				close(cur);
			if (next < 0) {
				errno = e;
				return -1;
			}
			cur = next;
		}
		p = slash + 1;
	}
	fd = openat_nofollow(cur, *p ? p : ".", flags, mode);
	e = errno;
	if (cur != dirfd)
		close(cur);
	errno = e;
	return fd;
}

/*
 * openat(dirfd, rel, flags) with no symbolic link followed on the way or
 * at the end, and nothing outside dirfd reached.  A name without a
 * slash has no way to walk: one openat with O_NOFOLLOW is the same.
 */
static int open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	int fd;

	flags |= O_NOFOLLOW | O_CLOEXEC;
	if (!rel[0])
		rel = ".";
	if (!strchr(rel, '/'))
		return openat_nofollow(dirfd, rel, flags, mode);
	if (try_openat2()) {
		fd = openat2_beneath(dirfd, rel, flags, mode);
		if (fd >= 0)
			return fd;
		if (errno == ENOSYS)
			have_openat2 = 0;
		/* ENOTDIR for a directory asked for may be a link: the walk tells. */
		if (errno != ENOSYS && errno != EPERM && errno != E2BIG &&
		    !(errno == ENOTDIR && (flags & O_DIRECTORY)))
			return fd;
	}
	return walk_beneath(dirfd, rel, flags, mode);
}

/*
 * Where an op on rel acts: the directory holding its last component
 * (opened beneath the root when it is not the root) and that component.
 * rel "" is the root itself, "." in it.
 */
struct at {
	int fd;
	bool owned;
	const char *name;
	char buf[PATH_MAX];
};

static int at_resolve(struct srfs *fs, const char *rel, struct at *a)
{
	size_t len = strlen(rel);
	char *slash;

	a->fd = root_fd(fs);
	a->owned = false;
	if (len >= sizeof(a->buf))
		return -ENAMETOOLONG;
	memcpy(a->buf, rel, len + 1);
	while (len > 1 && a->buf[len - 1] == '/')
		a->buf[--len] = '\0';
	slash = strrchr(a->buf, '/');
	if (!slash) {
		a->name = a->buf[0] ? a->buf : ".";
		return 0;
	}
	*slash = '\0';
	a->name = slash[1] ? slash + 1 : ".";
	a->fd = open_beneath(root_fd(fs), a->buf, O_RDONLY | O_DIRECTORY, 0);
	if (a->fd < 0)
		return -errno;
	a->owned = true;
	return 0;
}

static void at_release(struct at *a)
{
	if (a->owned)
		close(a->fd);
	a->owned = false;
}

/* ---- ops --------------------------------------------------------------- */

static int posix_stat(struct srfs *fs, const char *rel, struct srfs_stat *st)
{
	struct stat sb;
	struct at a;
	int rc;

	if (srfs_check_rel(rel) < 0)
		return -EINVAL;
	if ((rc = sm_fault_io("stat", rel)) < 0)
		return rc;
	rc = at_resolve(fs, rel, &a);
	if (rc < 0)
		return rc;
	rc = fstatat(a.fd, a.name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	at_release(&a);
	if (rc < 0)
		return rc;
	st->size = (uint64_t)sb.st_size;
	st->ino = (uint64_t)sb.st_ino;
	st->nlink = (uint32_t)sb.st_nlink;
	st->mtime = (int64_t)sb.st_mtime;
	st->is_dir = S_ISDIR(sb.st_mode);
	st->is_reg = S_ISREG(sb.st_mode);
	return 0;
}

static int open_fail(struct sm_error *err, int code, int errnum, const char *path)
{
	sm_fail_errno(err, code, errnum, "%s", path);
	return -errnum;
}

/* The name is there but is no image: say what it is. */
static int not_regular(struct sm_error *err, const char *path, int errnum, const char *kind)
{
	if (kind)
		sm_fail(err, SME_VDI_LOAD, "%s: not a regular file (a %s)", path, kind);
	else
		sm_fail(err, SME_VDI_LOAD, "%s: not a regular file", path);
	return -errnum;
}

static int posix_open(struct srfs *fs, const char *rel, int flags, struct vhd_io *io,
		      struct sm_error *err)
{
	struct stat sb;
	char path[4096];
	int fd, rc;

	memset(io, 0, sizeof(*io));
	if (srfs_check_rel(rel) < 0) {
		sm_fail(err, SME_VDI_LOAD, "%s: not a name inside the SR", rel);
		return -EINVAL;
	}
	if (snprintf(path, sizeof(path), "%s/%s", fs->root, rel) >= (int)sizeof(path)) {
		sm_fail(err, SME_VDI_LOAD, "%s/%s: path too long", fs->root, rel);
		return -ENAMETOOLONG;
	}
	if ((rc = sm_fault_io("open", rel)) < 0)
		return open_fail(err, SME_VDI_LOAD, -rc, path);
	fd = open_beneath(root_fd(fs), rel, vhd_io_open_flags(flags) | O_NONBLOCK, 0644);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT)
			return open_fail(err, SME_VDI_MISSING, e, path);
		if (e == EEXIST && (flags & VHD_IO_CREATE))
			return open_fail(err, SME_VDI_EXISTS, e, path);
		if (e == ELOOP)
			return not_regular(err, path, ELOOP,
					   "symbolic link, here or on the way; not followed");
		if (e == EISDIR)
			return not_regular(err, path, EISDIR, "directory");
		if (e == ENXIO)         /* a socket */
			return not_regular(err, path, EINVAL, NULL);
		return open_fail(err, SME_VDI_LOAD, e, path);
	}
	if (fstat(fd, &sb) < 0) {
		int e = errno;

		close(fd);
		return open_fail(err, SME_VDI_LOAD, e, path);
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return not_regular(err, path, S_ISDIR(sb.st_mode) ? EISDIR : EINVAL,
				   vhd_io_file_kind(sb.st_mode));
	}
	if (vhd_io_open_fd(io, fd, path, err) < 0)
		return -EIO;
	return 0;
}

static int posix_unlink(struct srfs *fs, const char *rel)
{
	struct at a;
	int rc;

	if (srfs_check_rel(rel) < 0 || !rel[0])
		return -EINVAL;
	rc = at_resolve(fs, rel, &a);
	if (rc < 0)
		return rc;
	rc = unlinkat(a.fd, a.name, 0) < 0 ? -errno : 0;
	at_release(&a);
	return rc;
}

/* renameat/linkat between two names, each in its own directory resolved beneath the root. */
static int posix_two(struct srfs *fs, const char *from, const char *to, bool link)
{
	struct at a, b;
	int rc;

	if (srfs_check_rel(from) < 0 || srfs_check_rel(to) < 0)
		return -EINVAL;
	rc = at_resolve(fs, from, &a);
	if (rc < 0)
		return rc;
	rc = at_resolve(fs, to, &b);
	if (rc < 0) {
		at_release(&a);
		return rc;
	}
	/* linkat without AT_SYMLINK_FOLLOW links a symbolic link itself, never its target. */
	if (link)
		rc = linkat(a.fd, a.name, b.fd, b.name, 0) < 0 ? -errno : 0;
	else
		rc = renameat(a.fd, a.name, b.fd, b.name) < 0 ? -errno : 0;
	at_release(&b);
	at_release(&a);
	return rc;
}

static int posix_rename(struct srfs *fs, const char *from, const char *to)
{
	return posix_two(fs, from, to, false);
}

static int posix_link(struct srfs *fs, const char *from, const char *to)
{
	return posix_two(fs, from, to, true);
}

static int posix_mkdir(struct srfs *fs, const char *rel, unsigned mode)
{
	struct at a;
	int rc;

	if (srfs_check_rel(rel) < 0 || !rel[0])
		return -EINVAL;
	rc = at_resolve(fs, rel, &a);
	if (rc < 0)
		return rc;
	rc = mkdirat(a.fd, a.name, (mode_t)mode) < 0 ? -errno : 0;
	at_release(&a);
	return rc;
}

static int posix_rmdir(struct srfs *fs, const char *rel)
{
	struct at a;
	int rc;

	if (srfs_check_rel(rel) < 0 || !rel[0])
		return -EINVAL;
	rc = at_resolve(fs, rel, &a);
	if (rc < 0)
		return rc;
	rc = unlinkat(a.fd, a.name, AT_REMOVEDIR) < 0 ? -errno : 0;
	at_release(&a);
	return rc;
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
	fd = open_beneath(root_fd(fs), rel, O_RDONLY | O_DIRECTORY, 0);
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
	if ((rc = sm_fault_io("syncdir", rel)) < 0)
		return rc;
	fd = open_beneath(root_fd(fs), rel, O_RDONLY | O_DIRECTORY, 0);
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
