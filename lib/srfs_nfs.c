/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * srfs over an NFS export through libnfs (no kernel mount, no root).
 * Each op is one async libnfs call on the shared deadline-bound
 * connection (nfs_conn.c).  The root is "nfs://server/export" for
 * messages; names inside it go to libnfs as "/<rel>", which libnfs
 * resolves from the mounted export.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-mount.h>

#include "csm/fault.h"
#include "csm/srfs_nfs.h"
#include "csm/util.h"
#include "nfs_conn.h"
#include "srfs_internal.h"

#define NFS_PORT 2049
#define NFS_TIMEOUT_DEFAULT_MS 10000

static struct nfs_conn *conn_of(struct srfs *fs)
{
	return fs->priv;
}

/* ---- path calls ---------------------------------------------------------- */

struct path_args {
	char path[4096];
	char path2[4096];
	int mode;
	struct nfs_stat_64 st;
	struct nfs_statvfs_64 svfs;
	struct nfsdir *dir;
};

static int path_args_init(struct path_args *a, const char *rel, const char *rel2)
{
	if (srfs_check_rel(rel) < 0 || (rel2 && srfs_check_rel(rel2) < 0))
		return -EINVAL;
	if (nfs_conn_path(rel, a->path, sizeof(a->path)) < 0)
		return -ENAMETOOLONG;
	if (rel2 && nfs_conn_path(rel2, a->path2, sizeof(a->path2)) < 0)
		return -ENAMETOOLONG;
	return 0;
}

static int run_path(struct srfs *fs, nfs_issue_fn issue, struct path_args *a,
		    void (*on_done)(struct nfs_call *, int, void *))
{
	struct nfs_call call = { .arg = a, .on_done = on_done };

	return nfs_conn_call(conn_of(fs), issue, &call);
}

static void stat_done(struct nfs_call *call, int status, void *data)
{
	struct path_args *a = call->arg;

	if (status == 0)
		a->st = *(struct nfs_stat_64 *)data;
}

static int stat_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct path_args *a = call->arg;

	return nfs_lstat64_async(nfs, a->path, nfs_conn_cb, call);
}

static int nfsfs_stat(struct srfs *fs, const char *rel, struct srfs_stat *st)
{
	struct path_args a;
	int rc = path_args_init(&a, rel, NULL);

	if (rc == 0)
		rc = sm_fault_io("stat", rel);
	if (rc == 0)
		rc = run_path(fs, stat_issue, &a, stat_done);
	if (rc < 0)
		return rc;
	st->size = a.st.nfs_size;
	st->ino = a.st.nfs_ino;
	st->nlink = (uint32_t)a.st.nfs_nlink;
	st->mtime = (int64_t)a.st.nfs_mtime;
	st->is_dir = S_ISDIR(a.st.nfs_mode);
	st->is_reg = S_ISREG(a.st.nfs_mode);
	return 0;
}

static int nfsfs_open(struct srfs *fs, const char *rel, int flags, struct vhd_io *io,
		      struct sm_error *err)
{
	char name[4096];
	int rc;

	memset(io, 0, sizeof(*io));
	srfs_describe(fs, rel, name, sizeof(name));
	if (srfs_check_rel(rel) < 0) {
		sm_fail(err, SME_VDI_LOAD, "%s: not a name inside the SR", rel);
		return -EINVAL;
	}
	if ((rc = sm_fault_io("open", rel)) < 0) {
		sm_fail_errno(err, SME_VDI_LOAD, -rc, "%s", name);
		return rc;
	}
	return vhd_io_open_nfs(io, conn_of(fs), rel, flags, name, err);
}

static int unlink_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct path_args *a = call->arg;

	return nfs_unlink_async(nfs, a->path, nfs_conn_cb, call);
}

static int rename_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct path_args *a = call->arg;

	return nfs_rename_async(nfs, a->path, a->path2, nfs_conn_cb, call);
}

static int link_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct path_args *a = call->arg;

	return nfs_link_async(nfs, a->path, a->path2, nfs_conn_cb, call);
}

static int mkdir_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct path_args *a = call->arg;

	return nfs_mkdir2_async(nfs, a->path, a->mode, nfs_conn_cb, call);
}

static int rmdir_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct path_args *a = call->arg;

	return nfs_rmdir_async(nfs, a->path, nfs_conn_cb, call);
}

static int path_op(struct srfs *fs, nfs_issue_fn issue, const char *rel, const char *rel2,
		   int mode)
{
	struct path_args a;
	int rc = path_args_init(&a, rel, rel2);

	if (rc < 0)
		return rc;
	a.mode = mode;
	return run_path(fs, issue, &a, NULL);
}

static int nfsfs_unlink(struct srfs *fs, const char *rel)
{
	return rel[0] ? path_op(fs, unlink_issue, rel, NULL, 0) : -EINVAL;
}

static int nfsfs_rename(struct srfs *fs, const char *from, const char *to)
{
	return path_op(fs, rename_issue, from, to, 0);
}

static int nfsfs_link(struct srfs *fs, const char *from, const char *to)
{
	return path_op(fs, link_issue, from, to, 0);
}

static int nfsfs_mkdir(struct srfs *fs, const char *rel, unsigned mode)
{
	return rel[0] ? path_op(fs, mkdir_issue, rel, NULL, (int)mode) : -EINVAL;
}

static int nfsfs_rmdir(struct srfs *fs, const char *rel)
{
	return rel[0] ? path_op(fs, rmdir_issue, rel, NULL, 0) : -EINVAL;
}

static void opendir_done(struct nfs_call *call, int status, void *data)
{
	struct path_args *a = call->arg;

	if (status == 0)
		a->dir = data;
}

static int opendir_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct path_args *a = call->arg;

	return nfs_opendir_async(nfs, a->path, nfs_conn_cb, call);
}

/*
 * opendir reads the whole directory (READDIRPLUS) into memory, so the
 * walk below makes no calls; the dir belongs to the context it came from.
 */
static int nfsfs_list(struct srfs *fs, const char *rel, srfs_list_fn fn, void *arg)
{
	struct nfs_conn *c = conn_of(fs);
	struct nfsdirent *de;
	struct path_args a;
	int rc = path_args_init(&a, rel, NULL);

	if (rc == 0)
		rc = sm_fault_io("list", rel);
	if (rc == 0)
		rc = run_path(fs, opendir_issue, &a, opendir_done);
	if (rc < 0)
		return rc;
	while ((de = nfs_readdir(c->nfs, a.dir))) {
		if (!strcmp(de->name, ".") || !strcmp(de->name, ".."))
			continue;
		if (fn(arg, de->name))
			break;
	}
	nfs_closedir(c->nfs, a.dir);
	return 0;
}

/*
 * NFS servers make directory operations (CREATE, LINK, RENAME, REMOVE,
 * MKDIR, RMDIR) stable before they reply (RFC 1813 §3.3, RFC 7530
 * §16): once our call returned, the change is durable.  Nothing to do.
 */
static int nfsfs_sync_dir(struct srfs *fs, const char *rel)
{
	return srfs_check_rel(rel);
}

static void statvfs_done(struct nfs_call *call, int status, void *data)
{
	struct path_args *a = call->arg;

	if (status == 0)
		a->svfs = *(struct nfs_statvfs_64 *)data;
}

static int statvfs_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct path_args *a = call->arg;

	return nfs_statvfs64_async(nfs, a->path, nfs_conn_cb, call);
}

static int nfsfs_statvfs(struct srfs *fs, uint64_t *size, uint64_t *used)
{
	struct path_args a;
	int rc = path_args_init(&a, "", NULL);

	if (rc == 0)
		rc = run_path(fs, statvfs_issue, &a, statvfs_done);
	if (rc < 0)
		return rc;
	*size = a.svfs.f_blocks * a.svfs.f_frsize;
	*used = (a.svfs.f_blocks - a.svfs.f_bfree) * a.svfs.f_frsize;
	return 0;
}

static void nfsfs_close(struct srfs *fs)
{
	nfs_conn_put(conn_of(fs));
	fs->priv = NULL;
}

static unsigned nfsfs_transport_failures(struct srfs *fs)
{
	return conn_of(fs) ? conn_of(fs)->breaks : 0;
}

static const struct srfs_ops nfs_ops = {
	.name = "nfs",
	.stat = nfsfs_stat,
	.open = nfsfs_open,
	.unlink = nfsfs_unlink,
	.rename = nfsfs_rename,
	.link = nfsfs_link,
	.mkdir = nfsfs_mkdir,
	.rmdir = nfsfs_rmdir,
	.list = nfsfs_list,
	.sync_dir = nfsfs_sync_dir,
	.statvfs = nfsfs_statvfs,
	.close = nfsfs_close,
	.transport_failures = nfsfs_transport_failures,
};

/* ---- reaching the server ------------------------------------------------ */

/* One non-blocking connect to ai, bounded: 0 or -errno. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, rc, soerr = 0;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc < 0 && errno != EINPROGRESS) {
		rc = -errno;
		goto out;
	}
	if (rc < 0) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		rc = poll(&pfd, 1, timeout_ms);
		if (rc == 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		if (rc < 0) {
			rc = -errno;
			goto out;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		rc = soerr ? -soerr : 0;
	}
out:
	close(fd);
	return rc;
}

/*
 * Is anything listening on server:2049?  The reference driver asks the
 * same (util._testHost) before mounting, to tell "no NFS service there"
 * (NFSTarget) from "the server refused" (NFSMount).
 */
static int probe_tcp(const char *server, int port, int timeout_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char service[16];
	int rc;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(server, service, &hints, &res);
	if (rc != 0)
		return -EHOSTUNREACH;
	rc = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		rc = connect_one(ai, timeout_ms);
		if (rc == 0)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

/*
 * Tell "the server does not speak this version" from other mount
 * failures.  A v4 COMPOUND to a v3-only server gets PROG_MISMATCH; a
 * v3 mount needs the portmapper and MOUNT service a v4-only server does
 * not run (the reference's rpcinfo check fails the same way).
 */
static bool version_failure(const struct nfs_conn *c, int rc)
{
	const char *e = c->last_error;

	if (rc == -EPROTONOSUPPORT)
		return true;
	/* Lost on the way: whatever the text says, the server never answered. */
	if (nfs_conn_lost(rc) && rc != -ECONNREFUSED)
		return false;
	if (strstr(e, "MISMATCH") || strstr(e, "mismatch") || strstr(e, "PROG_UNAVAIL") ||
	    strstr(e, "version"))
		return true;
	return c->version == 3 && (strstr(e, "portmap") || strstr(e, "PORTMAP") ||
				   strstr(e, "mount port") || rc == -ECONNREFUSED);
}

static int open_fail(struct srfs *fs, struct nfs_conn *c, int rc, struct sm_error *err)
{
	int code = SME_NFS_MOUNT;

	if (version_failure(c, rc))
		code = SME_NFS_VERSION;
	else if (nfs_conn_lost(rc))
		code = SME_NFS_TARGET;
	sm_fail(err, code, "%s (NFSv%d): %s (%s)", fs->root, c->version, strerror(-rc),
		c->last_error);
	nfs_conn_put(c);
	memset(fs, 0, sizeof(*fs));
	return -1;
}

bool srfs_nfs_lost(int rc)
{
	return nfs_conn_lost(rc);
}

static int check_opts(const struct srfs_nfs_opts *o, struct sm_error *err)
{
	if (!o->server || !o->server[0])
		return sm_fail(err, SME_CONFIG_SERVER_MISSING, NULL);
	if (!o->export_path || !o->export_path[0])
		return sm_fail(err, SME_CONFIG_SERVER_PATH_MISSING, NULL);
	if (o->export_path[0] != '/')
		return sm_fail(err, SME_CONFIG_SERVER_PATH_BAD, "%s: not absolute", o->export_path);
	if (o->version != 3 && o->version != 4)
		return sm_fail(err, SME_NFS_VERSION, "NFSv%d: only 3 and 4 are supported",
			       o->version);
	if (o->nfs_port < 0 || o->nfs_port > 65535 || o->mount_port < 0 || o->mount_port > 65535)
		return sm_fail(err, SME_INVALID_ARG, "NFS port %d / MOUNT port %d out of range",
			       o->nfs_port, o->mount_port);
	return 0;
}

int srfs_open_nfs(struct srfs *fs, const struct srfs_nfs_opts *o, struct sm_error *err)
{
	struct nfs_conn *c;
	int64_t start;
	int rc, port;

	memset(fs, 0, sizeof(*fs));
	if (check_opts(o, err) < 0)
		return -1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return sm_fail_errno(err, SME_NFS_MOUNT, ENOMEM, "%s", o->server);
	if (snprintf(c->server, sizeof(c->server), "%s", o->server) >= (int)sizeof(c->server) ||
	    snprintf(c->export_path, sizeof(c->export_path), "%s", o->export_path) >=
		    (int)sizeof(c->export_path)) {
		free(c);
		return sm_fail(err, SME_CONFIG_SERVER_PATH_BAD, "%s:%s: too long", o->server,
			       o->export_path);
	}
	c->version = o->version;
	c->nfs_port = o->nfs_port;
	c->mount_port = o->mount_port;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : NFS_TIMEOUT_DEFAULT_MS;
	c->hard = o->hard;
	c->refs = 1;
	snprintf(fs->root, sizeof(fs->root), "nfs://%s%s", c->server, c->export_path);

	start = sm_monotonic_ms();
	if (o->budget_ms > 0)
		c->end_ms = start + o->budget_ms;
	c->one_timeout = o->one_timeout;
	if (o->lazy)
		goto ready;
	port = c->nfs_port ? c->nfs_port : NFS_PORT;
	rc = probe_tcp(c->server, port, c->timeout_ms);
	if (rc < 0) {
		sm_fail(err, SME_NFS_TARGET, "%s:%d: %s", c->server, port, strerror(-rc));
		nfs_conn_put(c);
		memset(fs, 0, sizeof(*fs));
		return -1;
	}
	/* The probe and the mount share one bound. */
	rc = nfs_conn_connect(c, start + c->timeout_ms);
	if (rc < 0)
		return open_fail(fs, c, rc, err);
ready:
	fs->priv = c;
	fs->ops = &nfs_ops;
	srfs_init_opener(fs);
	return 0;
}

/* ---- exports ------------------------------------------------------------ */

struct exports_call {
	bool done;
	int status;
	char **paths;
	size_t count;
	int nomem;
};

static int add_path(struct exports_call *x, const char *path)
{
	char **p = realloc(x->paths, (x->count + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	x->paths = p;
	p[x->count] = strdup(path);
	if (!p[x->count])
		return -ENOMEM;
	x->count++;
	return 0;
}

static void exports_cb(struct rpc_context *rpc, int status, void *data, void *private_data)
{
	struct exports_call *x = private_data;
	struct exportnode node;
	exports e;

	x->done = true;
	x->status = status;
	if (status != RPC_STATUS_SUCCESS)
		return;
	/* libnfs 4.0 decodes the list into a packed buffer: copy each node out aligned. */
	memcpy(&e, data, sizeof(e));
	for (; e; e = node.ex_next) {
		memcpy(&node, e, sizeof(node));
		if (add_path(x, node.ex_dir) < 0)
			x->nomem = 1;
	}
}

/* MOUNT EXPORT over a private rpc context, serviced until the deadline. */
static int exports_v3(const char *server, int64_t deadline, struct exports_call *x)
{
	struct rpc_context *rpc = rpc_init_context();
	int rc = 0;

	if (!rpc)
		return -ENOMEM;
	if (mount_getexports_async(rpc, server, exports_cb, x) != 0) {
		rc = -ECONNREFUSED;
		goto out;
	}
	while (!x->done) {
		int64_t left = deadline - sm_monotonic_ms();
		struct pollfd pfd;
		int n;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		pfd = (struct pollfd){ .fd = rpc_get_fd(rpc), .events = (short)rpc_which_events(rpc) };
		n = poll(&pfd, 1, left < 100 ? (int)left : 100);
		if (rpc_service(rpc, n > 0 ? pfd.revents : 0) < 0 && !x->done) {
			rc = -ECONNREFUSED;
			goto out;
		}
	}
	if (x->status != RPC_STATUS_SUCCESS)
		rc = -ECONNREFUSED;
	else if (x->nomem)
		rc = -ENOMEM;
out:
	rpc_destroy_context(rpc);	/* cancels the call while x is alive */
	return rc;
}

struct v4_list {
	struct exports_call *x;
	int rc;
};

static int add_v4_entry(void *arg, const char *name)
{
	struct v4_list *l = arg;
	char path[1024];

	snprintf(path, sizeof(path), "/%s", name);
	l->rc = add_path(l->x, path);
	return l->rc;
}

/* NFSv4 servers need no MOUNT service: their pseudo root lists the exports. */
static int exports_v4(const char *server, int timeout_ms, struct exports_call *x)
{
	struct srfs_nfs_opts o = { .server = server, .export_path = "/", .version = 4,
				   .timeout_ms = timeout_ms };
	struct sm_error e = { 0 };
	struct v4_list l = { .x = x };
	struct srfs fs;
	int rc;

	if (srfs_open_nfs(&fs, &o, &e) < 0)
		return -ECONNREFUSED;
	rc = fs.ops->list(&fs, "", add_v4_entry, &l);
	srfs_close(&fs);
	return rc < 0 ? rc : l.rc;
}

void nfs_free_exports(char **paths, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(paths[i]);
	free(paths);
}

int nfs_list_exports(const char *server, int timeout_ms, char ***paths, size_t *count,
		     struct sm_error *err)
{
	struct exports_call x = { 0 };
	int64_t start = sm_monotonic_ms();
	int rc;

	*paths = NULL;
	*count = 0;
	if (timeout_ms <= 0)
		timeout_ms = NFS_TIMEOUT_DEFAULT_MS;
	if (!server || !server[0])
		return sm_fail(err, SME_CONFIG_SERVER_MISSING, NULL);
	rc = probe_tcp(server, NFS_PORT, timeout_ms);
	if (rc < 0)
		return sm_fail(err, SME_NFS_TARGET, "%s:%d: %s", server, NFS_PORT, strerror(-rc));
	rc = exports_v3(server, start + timeout_ms, &x);
	if (rc < 0 && rc != -ENOMEM) {
		nfs_free_exports(x.paths, x.count);
		x = (struct exports_call){ 0 };
		rc = exports_v4(server, (int)(start + timeout_ms - sm_monotonic_ms()), &x);
	}
	if (rc < 0) {
		nfs_free_exports(x.paths, x.count);
		return sm_fail(err, SME_NFS_TARGET, "%s: cannot list exports: %s", server,
			       strerror(-rc));
	}
	*paths = x.paths;
	*count = x.count;
	return 0;
}
