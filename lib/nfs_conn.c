/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The deadline-bound libnfs connection (see nfs_conn.h).  libnfs's sync
 * API waits for as long as its own reconnect logic likes (it retries a
 * lost server forever by default), so every call here is queued async
 * and serviced by a poll loop that gives up at the call's deadline.
 * Giving up destroys the context: that cancels the call (its callback
 * runs while our stack frame is still alive) and no stale reply can
 * land in a later call.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csm/util.h"
#include "nfs_conn.h"

int64_t nfs_conn_deadline(const struct nfs_conn *c)
{
	int64_t d = sm_monotonic_ms() + c->timeout_ms;

	return c->end_ms && c->end_ms < d ? c->end_ms : d;
}

void nfs_conn_cb(int status, struct nfs_context *nfs, void *data, void *private_data)
{
	struct nfs_call *call = private_data;

	call->status = status;
	/* libnfs: a negative status comes with its error text as data. */
	if (status < 0 && data)
		snprintf(call->error, sizeof(call->error), "%s", (const char *)data);
	if (call->on_done)
		call->on_done(call, status, data);
	call->done = true;
}

static void conn_note(struct nfs_conn *c, const char *what)
{
	const char *e = c->nfs ? nfs_get_error(c->nfs) : NULL;

	snprintf(c->last_error, sizeof(c->last_error), "%s%s%s", what,
		 e && e[0] ? ": " : "", e ? e : "");
}

/* Tear the context down; a transport failure is counted (see srfs transport_failures). */
static void conn_drop(struct nfs_conn *c, const char *why, bool transport)
{
	if (!c->nfs)
		return;
	if (transport)
		c->breaks++;
	conn_note(c, why);
	nfs_destroy_context(c->nfs);
	c->nfs = NULL;
}

static void conn_break(struct nfs_conn *c, const char *why)
{
	conn_drop(c, why, true);
}

/* The server let a call wait out its bound: with one_timeout, it is given up. */
static void conn_timed_out(struct nfs_conn *c, const char *why)
{
	conn_break(c, why);
	if (c->one_timeout)
		c->end_ms = sm_monotonic_ms();
}

/*
 * libnfs gives -EFAULT for every RPC-level failure.  Its text tells a
 * well-formed refusal from the server (rpc_process_reply's "Server
 * responded: ..." and "not accepted by the server") from a transport
 * failure ("Failed to reconnect", a reply that does not decode, ...).
 */
static int rpc_refusal(const char *e)
{
	if (strstr(e, "version mismatch") || strstr(e, "Program not available"))
		return -EPROTONOSUPPORT;
	if (strstr(e, "Server responded") || strstr(e, "not accepted by the server"))
		return -EREMOTEIO;
	return 0;
}

/* A transport failure: a reply that does not decode is -EPROTO, the rest -ECONNRESET. */
static int lost_errno(struct nfs_conn *c, const char *e)
{
	const char *ctx_e = c->nfs ? nfs_get_error(c->nfs) : NULL;

	if (strstr(e, "rejected") || strstr(e, "garbage") || strstr(e, "decode") ||
	    (ctx_e && (strstr(ctx_e, "garbage") || strstr(ctx_e, "decode") ||
		       strstr(ctx_e, "exceeds limit"))))
		return -EPROTO;
	return -ECONNRESET;
}

/* Service c until call is done or the deadline passes. */
static int conn_wait(struct nfs_conn *c, struct nfs_call *call, int64_t deadline)
{
	while (!call->done) {
		int64_t left = deadline - sm_monotonic_ms();
		struct pollfd pfd;
		int n;

		if (left <= 0) {
			conn_timed_out(c, "timed out");
			return -ETIMEDOUT;
		}
		pfd.fd = nfs_get_fd(c->nfs);
		pfd.events = (short)nfs_which_events(c->nfs);
		pfd.revents = 0;
		/* Wake at least every 100 ms: libnfs scans its own timeouts in service. */
		n = poll(&pfd, 1, left < 100 ? (int)left : 100);
		if (n < 0 && errno != EINTR) {
			conn_break(c, "poll failed");
			return -EIO;
		}
		if (nfs_service(c->nfs, n > 0 ? pfd.revents : 0) < 0) {
			int rc = lost_errno(c, call->error);

			conn_break(c, "connection lost");
			return rc;
		}
	}
	/*
	 * libnfs reports transport failures as -EFAULT (RPC error) and
	 * -EINTR (cancelled, or its own timeout): the context is no use after them.
	 */
	if (call->status == -EFAULT) {
		char why[256];
		int rc = rpc_refusal(call->error);

		if (rc == 0)
			rc = lost_errno(c, call->error);
		snprintf(why, sizeof(why), "RPC failed: %s", call->error);
		conn_drop(c, why, rpc_refusal(call->error) == 0);
		return rc;
	}
	if (call->status == -EINTR) {
		conn_timed_out(c, "RPC timed out");
		return -ETIMEDOUT;
	}
	return call->status;
}

static int mount_issue(struct nfs_context *nfs, struct nfs_call *call)
{
	struct nfs_conn *c = call->arg;

	return nfs_mount_async(nfs, c->server, c->export_path, nfs_conn_cb, call);
}

/* libnfs 4 has no setters for the ports; its URL arguments set them. */
static int set_ports(struct nfs_conn *c)
{
	char url[96];
	struct nfs_url *u;

	if (!c->nfs_port && !c->mount_port)
		return 0;
	snprintf(url, sizeof(url), "nfs://?nfsport=%d&mountport=%d", c->nfs_port, c->mount_port);
	u = nfs_parse_url_incomplete(c->nfs, url);
	if (!u)
		return -1;
	nfs_destroy_url(u);
	return 0;
}

int nfs_conn_connect(struct nfs_conn *c, int64_t deadline)
{
	struct nfs_call call = { .arg = c };
	int rc;

	if (c->nfs)
		return 0;
	/* The whole budget is spent: no new connection, no new wait. */
	if (c->end_ms && sm_monotonic_ms() >= c->end_ms) {
		c->breaks++;
		snprintf(c->last_error, sizeof(c->last_error), "no time left for the server");
		return -ETIMEDOUT;
	}
	c->nfs = nfs_init_context();
	if (!c->nfs) {
		snprintf(c->last_error, sizeof(c->last_error), "nfs_init_context failed");
		return -ENOMEM;
	}
	/* We reconnect ourselves, between calls, where the deadline is known. */
	nfs_set_autoreconnect(c->nfs, 0);
	/*
	 * Other hosts change a shared SR under us: no cached directory
	 * attributes (the reference mounts with acdirmin=0,acdirmax=0).
	 */
	nfs_set_dircache(c->nfs, 0);
	if (nfs_set_version(c->nfs, c->version) < 0) {
		conn_drop(c, "version", false);
		return -EPROTONOSUPPORT;
	}
	if (set_ports(c) < 0) {
		conn_drop(c, "ports", false);
		return -EINVAL;
	}
	if (mount_issue(c->nfs, &call) < 0) {
		/* Not even a connection started. */
		conn_break(c, "mount");
		return -ECONNREFUSED;
	}
	rc = conn_wait(c, &call, deadline);
	if (rc < 0) {
		if (c->nfs)
			conn_break(c, "mount");
		return rc;
	}
	c->gen++;
	return 0;
}

int nfs_conn_call_once(struct nfs_conn *c, nfs_issue_fn issue, struct nfs_call *call,
		       int64_t deadline)
{
	int rc = nfs_conn_connect(c, deadline);

	if (rc < 0)
		return rc;
	call->done = false;
	call->status = 0;
	if (issue(c->nfs, call) < 0) {
		conn_note(c, "queue");
		return -ENOMEM;
	}
	rc = conn_wait(c, call, deadline);
	if (rc < 0 && c->nfs)
		conn_note(c, "call");
	return rc;
}

bool nfs_conn_lost(int rc)
{
	return rc == -ETIMEDOUT || rc == -ECONNRESET || rc == -ECONNREFUSED || rc == -EPIPE ||
	       rc == -EPROTO || rc == -ENOTCONN || rc == -ECONNABORTED || rc == -EHOSTUNREACH ||
	       rc == -ENETUNREACH;
}

static bool transport_error(int rc)
{
	return nfs_conn_lost(rc) || rc == -EIO;
}

bool nfs_conn_retry(struct nfs_conn *c, int rc, int64_t deadline)
{
	if (!c->hard || c->nfs || !transport_error(rc))
		return false;
	if (sm_monotonic_ms() + 250 >= deadline)
		return false;
	poll(NULL, 0, 200);
	return true;
}

int nfs_conn_call(struct nfs_conn *c, nfs_issue_fn issue, struct nfs_call *call)
{
	int64_t deadline = nfs_conn_deadline(c);
	int rc;

	do {
		rc = nfs_conn_call_once(c, issue, call, deadline);
	} while (rc < 0 && nfs_conn_retry(c, rc, deadline));
	return rc;
}

void nfs_conn_put(struct nfs_conn *c)
{
	if (!c || --c->refs > 0)
		return;
	/* v3 needs no UMNT (servers keep no state we rely on); v4's umount is a no-op. */
	if (c->nfs)
		nfs_destroy_context(c->nfs);
	free(c);
}

int nfs_conn_path(const char *rel, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "/%s", rel) >= cap)
		return -ENAMETOOLONG;
	return 0;
}
