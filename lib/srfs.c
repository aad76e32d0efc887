/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The helpers every srfs backend shares: they only call the ops, so a
 * whole-file read or an atomic replace behaves the same on a local
 * directory and on an NFS export.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm/srfs.h"
#include "srfs_internal.h"

void srfs_close(struct srfs *fs)
{
	if (!fs || !fs->ops)
		return;
	if (fs->ops->close)
		fs->ops->close(fs);
	fs->ops = NULL;
	fs->priv = NULL;
}

void srfs_describe(const struct srfs *fs, const char *rel, char *out, size_t cap)
{
	if (!rel || !rel[0])
		snprintf(out, cap, "%s", fs->root);
	else
		snprintf(out, cap, "%s/%s", fs->root, rel);
}

int srfs_lookup(struct srfs *fs, const char *rel)
{
	struct srfs_stat st;
	int rc = fs->ops->stat(fs, rel, &st);

	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : 1;
}

/* The directory part of rel ("" for a name in the root). */
static void rel_dir(const char *rel, char *out, size_t cap)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash ? (size_t)(slash - rel) : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(out, rel, n);
	out[n] = '\0';
}

int srfs_read_file(struct srfs *fs, const char *rel, size_t max, char **out)
{
	struct sm_error e = { 0 };
	struct vhd_io io;
	uint64_t size;
	char *buf = NULL;
	int rc;

	*out = NULL;
	rc = fs->ops->open(fs, rel, VHD_IO_RDONLY, &io, &e);
	if (rc < 0)
		return rc;
	rc = io.ops->get_size(&io, &size);
	if (rc < 0)
		goto out;
	if (size > max) {
		rc = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = size ? io.ops->pread(&io, buf, (size_t)size, 0) : 0;
	if (rc < 0)
		goto out;
	buf[size] = '\0';
	*out = buf;
	buf = NULL;
out:
	free(buf);
	vhd_io_close(&io);
	return rc;
}

/* Create rel exclusively; a stale file of the same name (a dead run of this pid) goes first. */
static int create_tmp(struct srfs *fs, const char *tmp, struct vhd_io *io)
{
	struct sm_error e = { 0 };
	int rc;

	rc = fs->ops->open(fs, tmp, VHD_IO_CREATE, io, &e);
	if (rc == -EEXIST) {
		rc = fs->ops->unlink(fs, tmp);
		if (rc < 0)
			return rc;
		sm_error_clear(&e);
		rc = fs->ops->open(fs, tmp, VHD_IO_CREATE, io, &e);
	}
	return rc;
}

static int write_tmp(struct srfs *fs, const char *tmp, const char *data, size_t len)
{
	struct vhd_io io;
	int rc;

	rc = create_tmp(fs, tmp, &io);
	if (rc < 0)
		return rc;
	rc = len ? io.ops->pwrite(&io, data, len, 0) : 0;
	if (rc == 0)
		rc = io.ops->sync(&io);
	vhd_io_close(&io);
	return rc;
}

int srfs_write_file_atomic(struct srfs *fs, const char *rel, const char *data, size_t len)
{
	char tmp[4096], dir[4096];
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", rel, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	rc = write_tmp(fs, tmp, data, len);
	if (rc < 0)
		goto fail;
	/* The data is durable before the name points at it: a crash leaves old or new. */
	rc = fs->ops->rename(fs, tmp, rel);
	if (rc < 0)
		goto fail;
	rel_dir(rel, dir, sizeof(dir));
	return fs->ops->sync_dir(fs, dir);
fail:
	fs->ops->unlink(fs, tmp);
	return rc;
}

/* Chain code joins a child's directory with "./parent.vhd"; srfs names have no "./". */
static const char *strip_dot_slash(const char *path)
{
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	if (strcmp(path, ".") == 0)
		return "";
	return path;
}

static int opener_open(void *arg, const char *path, int flags, struct vhd_io *io,
		       struct sm_error *err)
{
	struct srfs *fs = arg;

	return fs->ops->open(fs, strip_dot_slash(path), flags, io, err);
}

static int opener_unlink(void *arg, const char *path)
{
	struct srfs *fs = arg;

	return fs->ops->unlink(fs, strip_dot_slash(path));
}

/* Sync the directory holding path (rel_dir: "" for the root). */
static int opener_sync_name(void *arg, const char *path)
{
	struct srfs *fs = arg;
	char dir[4096];

	rel_dir(strip_dot_slash(path), dir, sizeof(dir));
	return fs->ops->sync_dir(fs, dir);
}

void srfs_init_opener(struct srfs *fs)
{
	fs->opener.open = opener_open;
	fs->opener.unlink = opener_unlink;
	fs->opener.sync_name = opener_sync_name;
	fs->opener.arg = fs;
}

const struct vhd_opener *srfs_opener(struct srfs *fs)
{
	return &fs->opener;
}

int srfs_check_rel(const char *rel)
{
	const char *p = rel;

	if (!rel || rel[0] == '/')
		return -EINVAL;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}
