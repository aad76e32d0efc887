/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * One libnfs connection shared by an srfs and the files opened on it,
 * driven through libnfs's async API by our own poll loop so that every
 * call has a deadline.  A call that misses its deadline or loses the
 * transport tears the context down; the next call builds a new one
 * (new generation: file handles of older generations are re-opened).
 */
#ifndef CSM_NFS_CONN_H
#define CSM_NFS_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <nfsc/libnfs.h>

struct nfs_conn {
	struct nfs_context *nfs;   /* NULL: not connected */
	char server[256];
	char export_path[1024];
	int version;
	int nfs_port;              /* 0: 2049 (v4) or the portmapper's answer (v3) */
	int mount_port;            /* 0: the portmapper's answer (v3 MOUNT) */
	int timeout_ms;
	bool hard;
	int64_t end_ms;            /* every call ends by then (monotonic ms); 0: no such bound */
	bool one_timeout;          /* a call that waits out its bound spends the budget too */
	unsigned gen;              /* bumped at every connect */
	unsigned breaks;           /* transport failures: server lost, timed out */
	int refs;                  /* the srfs + every open file */
	char last_error[512];      /* libnfs's text for the last failure */
};

struct nfs_call;
/* Queue one async libnfs call on nfs with nfs_conn_cb and call as private data. */
typedef int (*nfs_issue_fn)(struct nfs_context *nfs, struct nfs_call *call);

struct nfs_call {
	bool done;
	int status;
	void *arg;                 /* the issuer's arguments */
	/* Copy results out of the callback's data (valid only inside it); may be NULL. */
	void (*on_done)(struct nfs_call *call, int status, void *data);
	char error[200];           /* libnfs's text for a failed call */
};

void nfs_conn_cb(int status, struct nfs_context *nfs, void *data, void *private_data);

int64_t nfs_conn_deadline(const struct nfs_conn *c);
/* Connect if needed, issue, wait: 0/+count or -errno; transport errors break c. */
int nfs_conn_call_once(struct nfs_conn *c, nfs_issue_fn issue, struct nfs_call *call,
		       int64_t deadline);
/* Whether a hard connection should try rc's call again (sleeps a little if so). */
bool nfs_conn_retry(struct nfs_conn *c, int rc, int64_t deadline);
/* call_once + retry, the usual way to run a call. */
int nfs_conn_call(struct nfs_conn *c, nfs_issue_fn issue, struct nfs_call *call);
/* Connect now (srfs_open_nfs uses it to classify failures). */
int nfs_conn_connect(struct nfs_conn *c, int64_t deadline);
void nfs_conn_put(struct nfs_conn *c);

/*
 * rc says the server was lost or said nothing we could use: refused,
 * reset, closed, timed out, or a reply that does not decode.  A server
 * that answers "no" (an NFS or MOUNT error, an RPC-level refusal such as
 * PROG_MISMATCH) is not lost.
 */
bool nfs_conn_lost(int rc);

/* "/<rel>": libnfs paths are absolute from the export root. */
int nfs_conn_path(const char *rel, char *out, size_t cap);

/* vhd_io over a file of c; takes a reference on c. */
struct vhd_io;
struct sm_error;
int vhd_io_open_nfs(struct vhd_io *io, struct nfs_conn *c, const char *rel, int flags,
		    const char *name, struct sm_error *err);

#endif
