/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * vhd_io over a file reached through libnfs.  Transfers are cut into
 * chunks the server accepts (its rtmax/wtmax; NFSv4 reports 0 through
 * libnfs 4.0, then 1 MiB) and each chunk is one call bounded by the
 * connection's timeout.  The handle remembers its path: after the
 * connection was torn down (server gone, then back) it is re-opened by
 * name on the new connection, so a long-lived image survives a server
 * restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/fault.h"
#include "csm/vhdio.h"
#include "nfs_conn.h"

#define NFS_CHUNK_DEFAULT (1u << 20)
/*
 * libnfs < 6 encodes an NFSv4 COMPOUND into a fixed 4 KiB buffer
 * (rpc_allocate_pdu with no size hint), so a v4 WRITE carrying more
 * than that fails to queue.  Stay well inside it.
 */
#define NFS4_WRITE_CHUNK_OLD 3072u

struct nfs_io {
	struct nfs_conn *c;
	struct nfsfh *fh;
	unsigned gen;              /* c->gen fh was opened in */
	int oflags;                /* O_RDONLY / O_RDWR for re-opening */
	char path[4096];
};

static struct nfs_io *priv_of(struct vhd_io *io)
{
	return io->priv;
}

/* ---- open ------------------------------------------------------------ */

struct open_args {
	const char *path;
	int oflags;
	bool create;
	struct nfsfh *fh;
};

static void open_done(struct nfs_call *call, int status, void *data)
{
	struct open_args *a = call->arg;

	if (status >= 0)
		a->fh = data;
}

static int open_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct open_args *a = call->arg;

	if (a->create)
		return nfs_create_async(nfs, a->path, O_RDWR | O_EXCL, 0644, nfs_conn_cb, call);
	/* A symbolic link under an image's name is not followed (it may lead out of the SR). */
	return nfs_open_async(nfs, a->path, a->oflags | O_NOFOLLOW, nfs_conn_cb, call);
}

static int close_issue(struct nfs_context *nfs, struct nfs_call *call);

/*
 * The fh of an older connection died with it, but its memory is
 * libnfs's to free: closing it on the new connection does that (v3:
 * locally; v4: the server refuses the stale CLOSE, libnfs frees anyway).
 */
static void drop_stale(struct nfs_io *p, int64_t deadline)
{
	struct nfs_call call = { .arg = p };

	nfs_conn_call_once(p->c, close_issue, &call, deadline);
	p->fh = NULL;
}

static int io_ready(struct nfs_io *p, int64_t deadline)
{
	struct open_args a = { .path = p->path, .oflags = p->oflags };
	struct nfs_call call = { .arg = &a, .on_done = open_done };
	int rc;

	rc = nfs_conn_connect(p->c, deadline);
	if (rc < 0)
		return rc;
	if (p->fh && p->gen == p->c->gen)
		return 0;
	if (p->fh)
		drop_stale(p, deadline);
	rc = nfs_conn_connect(p->c, deadline);
	if (rc < 0)
		return rc;
	rc = nfs_conn_call_once(p->c, open_issue, &call, deadline);
	if (rc < 0)
		return rc;
	p->fh = a.fh;
	p->gen = p->c->gen;
	return 0;
}

/* Run one call on the file, re-opening it first if the connection changed. */
static int io_call(struct nfs_io *p, nfs_issue_fn issue, struct nfs_call *call)
{
	int64_t deadline = nfs_conn_deadline(p->c);
	int rc;

	do {
		rc = io_ready(p, deadline);
		if (rc == 0)
			rc = nfs_conn_call_once(p->c, issue, call, deadline);
	} while (rc < 0 && nfs_conn_retry(p->c, rc, deadline));
	return rc;
}

/* ---- transfers --------------------------------------------------------- */

struct xfer_args {
	struct nfs_io *p;
	void *buf;
	uint64_t len;
	uint64_t off;
};

static void read_done(struct nfs_call *call, int status, void *data)
{
#ifndef LIBNFS_API_V2
	struct xfer_args *a = call->arg;

	/* libnfs < 6 hands back its own buffer; 6 reads into ours. */
	if (status > 0 && (uint64_t)status <= a->len)
		memcpy(a->buf, data, (size_t)status);
#endif
}

static int read_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct xfer_args *a = call->arg;

#ifdef LIBNFS_API_V2
	return nfs_pread_async(nfs, a->p->fh, a->buf, a->len, a->off, nfs_conn_cb, call);
#else
	return nfs_pread_async(nfs, a->p->fh, a->off, a->len, nfs_conn_cb, call);
#endif
}

static int write_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct xfer_args *a = call->arg;

#ifdef LIBNFS_API_V2
	return nfs_pwrite_async(nfs, a->p->fh, a->buf, a->len, a->off, nfs_conn_cb, call);
#else
	return nfs_pwrite_async(nfs, a->p->fh, a->off, a->len, a->buf, nfs_conn_cb, call);
#endif
}

static uint64_t chunk_max(struct nfs_io *p, bool write)
{
	uint64_t m = 0;

#ifndef LIBNFS_API_V2
	if (write && p->c->version == 4)
		return NFS4_WRITE_CHUNK_OLD;
#endif
	if (p->c->nfs)
		m = write ? nfs_get_writemax(p->c->nfs) : nfs_get_readmax(p->c->nfs);
	return m ? m : NFS_CHUNK_DEFAULT;
}

static int nfs_io_xfer(struct vhd_io *io, void *buf, size_t len, uint64_t off, bool write)
{
	struct nfs_io *p = priv_of(io);
	char *cur = buf;

	while (len > 0) {
		uint64_t n = chunk_max(p, write);
		struct xfer_args a;
		struct nfs_call call = { .arg = &a, .on_done = write ? NULL : read_done };
		int rc;

		if (n > len)
			n = len;
		a = (struct xfer_args){ .p = p, .buf = cur, .len = n, .off = off };
		rc = io_call(p, write ? write_issue : read_issue, &call);
		if (rc < 0)
			return rc;
		if (rc == 0 || (uint64_t)rc > n)
			return -EIO;	/* EOF inside the range, or a confused server */
		cur += rc;
		len -= (size_t)rc;
		off += (uint64_t)rc;
	}
	return 0;
}

static int nfs_io_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	int rc = sm_fault_io("read", io->name);

	if (rc < 0)
		return rc;
	return nfs_io_xfer(io, buf, len, off, false);
}

static int nfs_io_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	return nfs_io_xfer(io, (void *)buf, len, off, true);
}

/* ---- attributes, length, sync ---------------------------------------- */

struct fh_args {
	struct nfs_io *p;
	uint64_t length;
	struct nfs_stat_64 st;
};

static void fstat_done(struct nfs_call *call, int status, void *data)
{
	struct fh_args *a = call->arg;

	if (status == 0)
		a->st = *(struct nfs_stat_64 *)data;
}

static int fstat_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct fh_args *a = call->arg;

	return nfs_fstat64_async(nfs, a->p->fh, nfs_conn_cb, call);
}

static int truncate_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct fh_args *a = call->arg;

	return nfs_ftruncate_async(nfs, a->p->fh, a->length, nfs_conn_cb, call);
}

static int fsync_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct fh_args *a = call->arg;

	return nfs_fsync_async(nfs, a->p->fh, nfs_conn_cb, call);
}

static int nfs_io_fstat(struct vhd_io *io, struct nfs_stat_64 *st)
{
	struct fh_args a = { .p = priv_of(io) };
	struct nfs_call call = { .arg = &a, .on_done = fstat_done };
	int rc = io_call(a.p, fstat_issue, &call);

	if (rc < 0)
		return rc;
	*st = a.st;
	return 0;
}

static int nfs_io_get_size(struct vhd_io *io, uint64_t *size)
{
	struct nfs_stat_64 st;
	int rc = nfs_io_fstat(io, &st);

	if (rc == 0)
		*size = st.nfs_size;
	return rc;
}

static int nfs_io_get_mtime(struct vhd_io *io, int64_t *mtime)
{
	struct nfs_stat_64 st;
	int rc = nfs_io_fstat(io, &st);

	if (rc == 0)
		*mtime = (int64_t)st.nfs_mtime;
	return rc;
}

static int nfs_io_truncate(struct vhd_io *io, uint64_t size)
{
	struct fh_args a = { .p = priv_of(io), .length = size };
	struct nfs_call call = { .arg = &a };

	return io_call(a.p, truncate_issue, &call);
}

static int nfs_io_sync(struct vhd_io *io)
{
	struct fh_args a = { .p = priv_of(io) };
	struct nfs_call call = { .arg = &a };

	return io_call(a.p, fsync_issue, &call);
}

static int close_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct nfs_io *p = call->arg;

	return nfs_close_async(nfs, p->fh, nfs_conn_cb, call);
}

static void nfs_io_close(struct vhd_io *io)
{
	struct nfs_io *p = priv_of(io);
	struct nfs_call call = { .arg = p };

	if (!p)
		return;
	/* A handle of a dead connection has nothing left to close on the server. */
	if (p->fh && p->c->nfs && p->gen == p->c->gen)
		nfs_conn_call_once(p->c, close_issue, &call, nfs_conn_deadline(p->c));
	nfs_conn_put(p->c);
	free(p);
	io->priv = NULL;
}

static const struct vhd_io_ops nfs_io_ops = {
	.pread = nfs_io_pread,
	.pwrite = nfs_io_pwrite,
	.get_size = nfs_io_get_size,
	.truncate = nfs_io_truncate,
	.sync = nfs_io_sync,
	.get_mtime = nfs_io_get_mtime,
	.close = nfs_io_close,
};

static int open_errcode(int rc, int flags)
{
	if (rc == -ENOENT)
		return SME_VDI_MISSING;
	if (rc == -EEXIST && (flags & VHD_IO_CREATE))
		return SME_VDI_EXISTS;
	return SME_VDI_LOAD;
}

int vhd_io_open_nfs(struct vhd_io *io, struct nfs_conn *c, const char *rel, int flags,
		    const char *name, struct sm_error *err)
{
	struct open_args a = { .create = (flags & VHD_IO_CREATE) != 0 };
	struct nfs_call call = { .arg = &a, .on_done = open_done };
	struct nfs_io *p;
	int rc;

	memset(io, 0, sizeof(*io));
	p = calloc(1, sizeof(*p));
	if (!p) {
		sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s", name);
		return -ENOMEM;
	}
	rc = nfs_conn_path(rel, p->path, sizeof(p->path));
	if (rc < 0)
		goto fail;
	p->c = c;
	p->oflags = (flags & (VHD_IO_RDWR | VHD_IO_CREATE)) ? O_RDWR : O_RDONLY;
	a.path = p->path;
	a.oflags = p->oflags;
	rc = nfs_conn_call(c, open_issue, &call);
	if (rc < 0)
		goto fail;
	p->fh = a.fh;
	p->gen = c->gen;
	c->refs++;
	io->priv = p;
	io->ops = &nfs_io_ops;
	snprintf(io->name, sizeof(io->name), "%s", name);
	return 0;
fail:
	sm_fail_errno(err, open_errcode(rc, flags), -rc, "%s", name);
	free(p);
	return rc;
}
