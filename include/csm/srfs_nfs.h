/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * srfs over an NFS export through libnfs: no kernel mount, no root.
 * Every call is bounded by opts.timeout_ms: a server that does not
 * answer, refuses or dies gives -ETIMEDOUT / -ECONNREFUSED /
 * -ECONNRESET within the bound, never a hang.  After such a failure the
 * next call reconnects (and re-opens the files open on the srfs).
 */
#ifndef CSM_SRFS_NFS_H
#define CSM_SRFS_NFS_H

#include <stdbool.h>
#include <stddef.h>

#include "csm/error.h"
#include "csm/srfs.h"

struct srfs_nfs_opts {
	const char *server;
	const char *export_path;
	int version;         /* 3 or 4 */
	int timeout_ms;      /* bound for every call (<= 0: 10 s) */
	/*
	 * hard: a call that loses the server retries (reconnecting) until
	 * its bound runs out; soft: it fails at the first transport error.
	 * Either way it returns within timeout_ms.
	 */
	bool hard;
	/* 0: the usual (2049 for NFS; the portmapper's answer for v3 MOUNT). */
	int nfs_port;
	int mount_port;
	/*
	 * lazy: do not reach the server now; the first call connects, and a
	 * server that is not there fails that call, not the open.
	 * budget_ms > 0: all calls together end within budget_ms of the open
	 * (after that every call fails at once with -ETIMEDOUT), so a dead
	 * server costs one bound, however many calls try.
	 */
	bool lazy;
	int budget_ms;
	/*
	 * one_timeout: once a call has waited out its bound, the server counts
	 * as gone for the rest of this srfs (later calls fail at once), so a
	 * server that freezes costs a caller one bound, not one per step of
	 * its rollback.  For short-lived callers (the drivers), not the GC.
	 */
	bool one_timeout;
};

/*
 * Connect and mount server:export_path.  Errors: SME_NFS_TARGET when the
 * server is not there or is lost (nothing listens on its NFS port, the
 * connection is reset or closed, no answer within the bound, a reply that
 * does not decode), SME_NFS_VERSION when the server does not offer the
 * version, SME_NFS_MOUNT when it refuses the export; the detail says which
 * and why.
 */
int srfs_open_nfs(struct srfs *fs, const struct srfs_nfs_opts *o, struct sm_error *err);

/*
 * An -errno from an srfs call on NFS says the server was lost (see
 * SME_NFS_TARGET above), rather than that it answered with an error.
 */
bool srfs_nfs_lost(int rc);

/*
 * The server's exports (MOUNT protocol EXPORT call), for sr_probe; a
 * server without MOUNT (NFSv4 only) lists its pseudo root instead
 * ("/<name>" for each entry).  *paths is a malloc'd array of malloc'd
 * strings; free with nfs_free_exports.  SME_NFS_TARGET if the server
 * cannot be reached.
 */
int nfs_list_exports(const char *server, int timeout_ms, char ***paths, size_t *count,
		     struct sm_error *err);
void nfs_free_exports(char **paths, size_t count);

#endif
