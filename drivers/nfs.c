/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * NFSSR (type "nfs"): FileSR's VHD files in <serverpath>/<sr_uuid> on an
 * NFS export, dconf server, serverpath, nfsversion, options, useUDP.
 *
 * Every control operation (create, delete, scan, snapshot, locks, ...)
 * goes through libnfs (lib/srfs_nfs.c): no kernel mount, no root, and
 * every call bounded in time, so a dead server is a fault in seconds,
 * never a hang, and a hung SR never blocks another SR's calls.  The data
 * path is the kernel's: sr_attach mounts <server>:<serverpath>/<sr_uuid>
 * at /run/sr-mount/<sr_uuid> with the Python SM's options when this host
 * has an NFS client, and vdi_attach returns the file under it; without
 * one, vdi_attach returns an nfs:// URL and says so in xenstore_data.
 *
 * Extra dconf keys of ours: hardmount=true (hard mounts: users lose VMs
 * to soft-mount timeouts), nfs-timeout (deciseconds, as the Python SM's
 * other_config key: the bound of every call and the mount's timeo),
 * nfs-retrans.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/exec.h"
#include "csm/journal.h"
#include "csm/lock.h"
#include "csm/log.h"
#include "csm/srfs_nfs.h"
#include "csm/util.h"
#include "file_base.h"
#include "filebased.h"

#define NFS_DEFAULT_TIMEO 100   /* deciseconds: every call fails within ~10 s */
#define NFS_DEFAULT_RETRANS 4
#define NFS_MOUNT_TIMEOUT 60    /* seconds for mount.nfs / umount to finish */
#define NFS_UMOUNT_TRIES 4      /* umount attempts while a GC is letting go of the mount */

/* NFSSR's layer state (sm_priv), beside the file store's (ctx->sr). */
struct nfs_state {
	const char *server;
	char serverpath[PATH_MAX - 64];  /* normalised, no trailing slash */
	char srpath[PATH_MAX];      /* serverpath/<sr_uuid> */
	char version_s[8];          /* "3", "4", "4.1" as given */
	int version;                /* 3 or 4 */
	bool hard;
	bool udp;
	int timeo;                  /* deciseconds */
	int retrans;
	const char *options;
	int nfs_port;               /* options port=, mountport= (0: the usual) */
	int mount_port;
	char mnt[FSR_PATH_MAX - 64];
	bool gone;                  /* sr_delete: the SR directory is not there */
	char gc_target[PATH_MAX + 300];   /* csm-gc --nfs server:/serverpath/<sr> */
	char gc_version[8];
	char gc_timeout[16];
	char gc_ports[16];
};

extern const struct sm_driver sm_nfs_driver;

static struct nfs_state *NFS(struct sm_ctx *ctx)
{
	return sm_priv(ctx, &sm_nfs_driver);
}

static struct file_sr *SR(struct sm_ctx *ctx)
{
	return ctx->sr;
}

static bool is_mountpoint(const char *path);
static int open_sr_fs(struct sm_ctx *ctx);

/*
 * Taking a VDI or the SR out of use must work with the server gone (a host
 * must be able to shut its VMs down and unplug the SR): these calls need
 * nothing from the server, and what they would do there is best effort,
 * bounded by one nfs-timeout in all.
 */
static bool is_teardown(enum sm_op op)
{
	return op == SM_OP_SR_DETACH || op == SM_OP_VDI_DETACH || op == SM_OP_VDI_DEACTIVATE ||
	       op == SM_OP_VDI_DETACH_FROM_CONFIG;
}

/* ---- dconf ---------------------------------------------------------------- */

/* A hostname or address: letters, digits, '.', '-', ':' (IPv6), '[' ']'. */
static bool server_ok(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(".-:[]_", *s)))
			return false;
	return true;
}

static int serverpath_check(struct nfs_state *nfs, const char *p, struct sm_error *err)
{
	size_t len = strlen(p);

	if (p[0] != '/' || len >= sizeof(nfs->serverpath) - 64 || strstr(p, "/../") ||
	    strstr(p, "/./") || (len >= 3 && strcmp(p + len - 3, "/..") == 0) ||
	    sm_has_illegal_xml_char(p) || strchr(p, ','))
		return sm_fail(err, SME_CONFIG_SERVER_PATH_BAD,
			       "serverpath '%.200s' must be an absolute, normalised path", p);
	memcpy(nfs->serverpath, p, len + 1);
	while (len > 1 && nfs->serverpath[len - 1] == '/')
		nfs->serverpath[--len] = '\0';
	return 0;
}

static int version_check(struct nfs_state *nfs, const char *v, struct sm_error *err)
{
	snprintf(nfs->version_s, sizeof(nfs->version_s), "%s", v ? v : "3");
	if (!v || strcmp(v, "3") == 0) {
		nfs->version = 3;
		return 0;
	}
	/* libnfs speaks 4.0; 4.1 sessions are the kernel's business at mount time. */
	if (strcmp(v, "4") == 0 || strcmp(v, "4.0") == 0 || strcmp(v, "4.1") == 0) {
		nfs->version = 4;
		return 0;
	}
	return sm_fail(err, SME_NFS_VERSION, "nfsversion '%.16s' is not one of 3, 4, 4.0, 4.1", v);
}

static int number_key(const struct sm_call *c, const char *key, int dflt, int min, int max,
		      int *out, struct sm_error *err)
{
	const char *v = call_dconf(c, key);
	uint64_t n;

	*out = dflt;
	if (!v)
		return 0;
	if (sm_parse_u64(v, &n) < 0 || n < (uint64_t)min || n > (uint64_t)max)
		return sm_fail(err, SME_INVALID_ARG, "%s '%.32s' must be a number from %d to %d",
			       key, v, min, max);
	*out = (int)n;
	return 0;
}

static int bool_key(const struct sm_call *c, const char *key, bool *out, struct sm_error *err)
{
	const char *v = call_dconf(c, key);

	*out = false;
	if (!v)
		return 0;
	if (sm_parse_bool(v, out) < 0)
		return sm_fail(err, SME_INVALID_ARG, "%s must be true or false", key);
	return 0;
}

/*
 * port= and mountport= in the mount options say where the server's NFS
 * and MOUNT services listen; the libnfs control calls go there too.
 */
static int option_ports(struct nfs_state *nfs, const char *opt, struct sm_error *err)
{
	char buf[512], *save = NULL, *tok;

	if (!opt)
		return 0;
	snprintf(buf, sizeof(buf), "%s", opt);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int *port = strncmp(tok, "port=", 5) == 0 ? &nfs->nfs_port :
			    strncmp(tok, "mountport=", 10) == 0 ? &nfs->mount_port : NULL;
		const char *v = strchr(tok, '=') + 1;
		uint64_t n;

		if (!port)
			continue;
		if (sm_parse_u64(v, &n) < 0 || n > 65535)
			return sm_fail(err, SME_INVALID_ARG, "options: '%.40s' is not a port number", tok);
		*port = (int)n;
	}
	return 0;
}

static int srfs_opts(const struct nfs_state *nfs, struct srfs_nfs_opts *o, const char *export_path)
{
	memset(o, 0, sizeof(*o));
	o->server = nfs->server;
	o->export_path = export_path;
	o->version = nfs->version;
	o->timeout_ms = nfs->timeo * 100;
	o->hard = nfs->hard;
	o->nfs_port = nfs->nfs_port;
	o->mount_port = nfs->mount_port;
	/*
	 * A server that freezes in the middle of a call costs the call one
	 * bound: the steps after it (a rollback, say) do not wait again, the
	 * journal puts the SR right on the next call, and the SR lock is not
	 * held for a bound per step (teardown may be waiting for it).
	 */
	o->one_timeout = true;
	return 0;
}

/* The fault for a failed call on the export: the server lost, or what it said. */
static int lost_or(int rc, int code)
{
	return srfs_nfs_lost(rc) ? SME_NFS_TARGET : code;
}

static int nfs_load(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	const struct sm_call *c = ctx->call;
	const char *sp = call_dconf(c, "serverpath"), *opt;
	struct file_sr *sr;
	struct sm_error *err = &ctx->err;

	nfs->server = call_dconf(c, "server");
	if (!nfs->server || !*nfs->server)
		return sm_fail(err, SME_CONFIG_SERVER_MISSING, NULL);
	if (!server_ok(nfs->server))
		return sm_fail(err, SME_INVALID_ARG, "server '%.100s' is not a host name or address",
			       nfs->server);
	if (version_check(nfs, call_dconf(c, "nfsversion"), err) < 0 ||
	    number_key(c, "nfs-timeout", NFS_DEFAULT_TIMEO, 1, 6000, &nfs->timeo, err) < 0 ||
	    number_key(c, "nfs-retrans", NFS_DEFAULT_RETRANS, 0, 100, &nfs->retrans, err) < 0 ||
	    bool_key(c, "hardmount", &nfs->hard, err) < 0 ||
	    bool_key(c, "useUDP", &nfs->udp, err) < 0)
		return -1;
	opt = call_dconf(c, "options");
	if (opt && (strpbrk(opt, " \t\n\"'\\") || sm_has_illegal_xml_char(opt)))
		return sm_fail(err, SME_INVALID_ARG, "options must be a comma-separated mount option list");
	nfs->options = opt && *opt ? opt : NULL;
	if (option_ports(nfs, nfs->options, err) < 0)
		return -1;
	/* sr_probe may come without serverpath: it then lists the exports. */
	if (!sp || !*sp) {
		if (c->op == SM_OP_SR_PROBE)
			return 0;
		return sm_fail(err, SME_CONFIG_SERVER_PATH_MISSING, NULL);
	}
	if (serverpath_check(nfs, sp, err) < 0)
		return -1;
	if (c->op == SM_OP_SR_PROBE)
		return 0;
	snprintf(nfs->srpath, sizeof(nfs->srpath), "%s/%s", nfs->serverpath, c->sr_uuid);
	snprintf(nfs->mnt, sizeof(nfs->mnt), "%s/%s", sm_mount_base(), c->sr_uuid);
	sr = fsr_new(ctx);
	if (!sr)
		return -1;
	sr->storage_type = "nfs";
	sr->o_direct = false;
	sr->o_direct_reason = "";
	/* Only the master repairs journals and collects garbage (the shared trait). */
	sr->repair = ctx->repair;
	/* The GC works on the kernel mount when there is one, else over libnfs. */
	if (is_mountpoint(nfs->mnt)) {
		snprintf(sr->path, sizeof(sr->path), "%s", nfs->mnt);
	} else {
		snprintf(nfs->gc_target, sizeof(nfs->gc_target), "%s:%s", nfs->server, nfs->srpath);
		snprintf(nfs->gc_version, sizeof(nfs->gc_version), "%d", nfs->version);
		snprintf(nfs->gc_timeout, sizeof(nfs->gc_timeout), "%d", nfs->timeo * 100);
		sr->gc_reach[0] = "--nfs";
		sr->gc_reach[1] = nfs->gc_target;
		sr->gc_reach[2] = "--nfs-version";
		sr->gc_reach[3] = nfs->gc_version;
		sr->gc_reach[4] = "--nfs-timeout";
		sr->gc_reach[5] = nfs->gc_timeout;
		if (nfs->nfs_port || nfs->mount_port) {
			snprintf(nfs->gc_ports, sizeof(nfs->gc_ports), "%d,%d", nfs->nfs_port,
				 nfs->mount_port);
			sr->gc_reach[6] = "--nfs-ports";
			sr->gc_reach[7] = nfs->gc_ports;
		}
	}
	if (c->op == SM_OP_SR_CREATE)
		return 0;
	return open_sr_fs(ctx);
}

static int count_entry(void *arg, const char *name)
{
	(*(size_t *)arg)++;
	return 1;   /* one is enough */
}

static bool dir_empty(struct srfs *fs)
{
	size_t n = 0;

	return fs->ops->list(fs, "", count_entry, &n) >= 0 && n == 0;
}

/* The export answers and has no <sr_uuid> directory. */
static bool sr_dir_gone(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	struct srfs base = { 0 };
	struct srfs_nfs_opts o;
	struct srfs_stat st;
	struct sm_error e = { 0 };
	int rc;

	srfs_opts(nfs, &o, nfs->serverpath);
	if (srfs_open_nfs(&base, &o, &e) < 0)
		return false;
	rc = base.ops->stat(&base, ctx->call->sr_uuid, &st);
	srfs_close(&base);
	return rc == -ENOENT;
}

/*
 * The SR's directory over libnfs, opened on demand: sr_create must reach
 * the export before <serverpath>/<sr_uuid> exists.
 */
static int open_sr_fs(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	struct file_sr *sr = SR(ctx);
	struct srfs_nfs_opts o;

	if (sr->fs.ops)
		return 0;
	srfs_opts(nfs, &o, nfs->srpath);
	if (is_teardown(ctx->call->op)) {
		/* Nothing is asked of the server now; whatever is, costs one bound at most. */
		o.lazy = true;
		o.hard = false;
		o.budget_ms = o.timeout_ms;
	}
	if (srfs_open_nfs(&sr->fs, &o, &ctx->err) < 0) {
		memset(&sr->fs, 0, sizeof(sr->fs));
		/* sr_delete of an SR whose directory is gone already succeeds. */
		if (ctx->call->op == SM_OP_SR_DELETE && sr_dir_gone(ctx)) {
			sm_error_clear(&ctx->err);
			nfs->gone = true;
			return 0;
		}
		return -1;
	}
	return 0;
}

/*
 * Whatever step noticed it, a call that failed because the server went
 * away or stopped answering is reported as the NFS fault for that
 * (NFSTarget, 108), with the step's detail kept as opterr.  Runs before
 * the file store's unload, so its srfs is still there to ask.
 */
static void nfs_unload(struct sm_ctx *ctx)
{
	struct file_sr *sr = SR(ctx);

	if (sr && ctx->err.code != SM_OK && sr->fs.ops && sr->fs.ops->transport_failures &&
	    sr->fs.ops->transport_failures(&sr->fs) > 0)
		ctx->err.code = SME_NFS_TARGET;
}

/*
 * Before sr_create there is nothing to recover; after sr_delete, nothing
 * left; teardown leaves it to the next call (it must not need the server).
 */
static int nfs_recover(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);

	if (ctx->call->op == SM_OP_SR_CREATE || nfs->gone || is_teardown(ctx->call->op))
		return 0;
	return sm_recover_lower(ctx, &sm_nfs_driver);
}

/* ---- kernel mounts ------------------------------------------------------------ */

/* Does this kernel have an NFS client (loaded or loadable)? */
static bool kernel_has_nfs(void)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/filesystems", "re");

	if (f) {
		while (!found && fgets(line, sizeof(line), f))
			found = strstr(line, "\tnfs\n") || strstr(line, "\tnfs4\n");
		fclose(f);
	}
	if (!found) {
		const char *argv[] = { "modprobe", "-q", "nfs", NULL };
		struct sm_exec_result r;

		found = sm_exec(argv, 30, &r) == 0 && r.status == 0;
	}
	return found;
}

/* The mount point field of a /proc/self/mountinfo line, its \ooo escapes undone. */
static int mountinfo_point(const char *line, char *out, size_t cap)
{
	const char *p = line;
	size_t n = 0;

	for (int field = 0; field < 4; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	for (; *p && *p != ' ' && *p != '\n' && n + 1 < cap; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			out[n++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return 0;
}

/*
 * Is path a mount point?  Asked of /proc/self/mountinfo, never by a stat
 * of the path: that waits for the server (for ever on a hard mount), and
 * sr_detach must work when the server is gone.  Only the parent, a local
 * directory, is resolved.
 */
static bool is_mountpoint(const char *path)
{
	char parent[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 64], line[4096], mp[PATH_MAX];
	const char *base = strrchr(path, '/');
	bool found = false;
	FILE *f;

	if (!base || base == path || (size_t)(base - path) >= sizeof(parent))
		return false;
	memcpy(parent, path, (size_t)(base - path));
	parent[base - path] = '\0';
	if (!realpath(parent, real))
		return false;
	snprintf(want, sizeof(want), "%s%s", strcmp(real, "/") ? real : "", base);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = mountinfo_point(line, mp, sizeof(mp)) == 0 && strcmp(mp, want) == 0;
	fclose(f);
	return found;
}

/* The Python SM's options: soft,proto,vers,acdirmin=0,acdirmax=0,timeo,retrans[,options]. */
static void mount_options(const struct nfs_state *nfs, char *out, size_t cap)
{
	bool v6 = strchr(nfs->server, ':') != NULL;

	snprintf(out, cap, "%s,proto=%s%s,vers=%s,acdirmin=0,acdirmax=0,timeo=%d,retrans=%d%s%s",
		 nfs->hard ? "hard" : "soft", nfs->udp ? "udp" : "tcp", v6 ? "6" : "",
		 nfs->version_s, nfs->timeo, nfs->retrans, nfs->options ? "," : "",
		 nfs->options ? nfs->options : "");
}

static int kernel_mount(const struct nfs_state *nfs, struct sm_error *err)
{
	char src[PATH_MAX + 300], opts[512];
	struct sm_exec_result r;
	const char *argv[] = { "mount.nfs", src, nfs->mnt, "-o", opts, NULL };
	bool v6 = strchr(nfs->server, ':') != NULL && nfs->server[0] != '[';
	int rc;

	snprintf(src, sizeof(src), "%s%s%s:%s", v6 ? "[" : "", nfs->server, v6 ? "]" : "",
		 nfs->srpath);
	mount_options(nfs, opts, sizeof(opts));
	rc = sm_mkdir_p(nfs->mnt, 0755);
	if (rc < 0)
		return sm_fail_errno(err, SME_NFS_MOUNT, -rc, "mkdir %s", nfs->mnt);
	rc = sm_exec(argv, NFS_MOUNT_TIMEOUT, &r);
	if (rc < 0 || r.status != 0) {
		rmdir(nfs->mnt);
		return sm_fail(err, SME_NFS_MOUNT, "mount.nfs %s %s -o %s: %s", src, nfs->mnt, opts,
			       rc < 0 ? strerror(-rc) : r.timed_out ? "timed out" : r.output);
	}
	return 0;
}

/* ---- SR operations ---------------------------------------------------------------- */

static int nfs_sr_create(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	const struct sm_call *c = ctx->call;
	struct srfs base = { 0 };
	struct srfs_nfs_opts o;
	struct srfs_stat st;
	const char *size_s;
	uint64_t size;
	int rc, empty = 1;

	if (call_arg(c, 0, &size_s, &ctx->err) < 0)
		return -1;
	if (sm_parse_u64(size_s, &size) < 0)
		return sm_fail(&ctx->err, SME_INVALID_ARG, "physical_size '%.40s' is not a decimal number",
			       size_s);
	srfs_opts(nfs, &o, nfs->serverpath);
	if (srfs_open_nfs(&base, &o, &ctx->err) < 0)
		return -1;
	rc = base.ops->mkdir(&base, c->sr_uuid, 0755);
	if (rc == -EEXIST && base.ops->stat(&base, c->sr_uuid, &st) == 0 && st.is_dir) {
		/* Adopt an empty directory, refuse one with anything in it. */
		struct srfs sub = { 0 };

		srfs_opts(nfs, &o, nfs->srpath);
		if (srfs_open_nfs(&sub, &o, &ctx->err) == 0) {
			empty = dir_empty(&sub);
			srfs_close(&sub);
		}
		rc = empty ? 0 : -EEXIST;
		if (!empty) {
			srfs_close(&base);
			return sm_fail(&ctx->err, SME_SR_EXISTS, "%s:%s is not empty", nfs->server,
				       nfs->srpath);
		}
	}
	srfs_close(&base);
	if (rc == -EROFS)
		return sm_fail(&ctx->err, SME_SHARED_FS_NO_WRITE, "%s:%s is read-only", nfs->server,
			       nfs->serverpath);
	if (rc < 0)
		return sm_fail(&ctx->err, lost_or(rc, SME_NFS_CREATE),
			       "remote directory creation error is %d (%s)", -rc, strerror(-rc));
	return 0;
}

static int nfs_sr_delete(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	const struct sm_call *c = ctx->call;
	struct srfs base = { 0 };
	struct srfs_nfs_opts o;
	char gcflag[PATH_MAX];
	int rc;

	if (nfs->gone)
		return 0;   /* idempotent: already deleted */
	/* A GC still at work would race the removal (as FileSR's sr_delete). */
	fsr_gc_stop_begin(c->sr_uuid, gcflag);
	rc = fsr_sr_empty(ctx);
	fsr_gc_stop_end(gcflag);
	if (rc < 0)
		return -1;
	SR(ctx)->fs.ops->unlink(&SR(ctx)->fs, FSR_MARKER);
	fsr_release_fs(SR(ctx));
	if (is_mountpoint(nfs->mnt))
		return sm_fail(&ctx->err, SME_SR_IN_USE, "%s is still mounted: sr_detach first",
			       nfs->mnt);
	srfs_opts(nfs, &o, nfs->serverpath);
	if (srfs_open_nfs(&base, &o, &ctx->err) < 0)
		return -1;
	rc = base.ops->rmdir(&base, c->sr_uuid);
	srfs_close(&base);
	if (rc < 0 && rc != -ENOENT)
		return sm_fail(&ctx->err, lost_or(rc, SME_NFS_DELETE), "rmdir %s:%s: %s",
			       nfs->server, nfs->srpath, strerror(-rc));
	return 0;
}

/* A write test, as the Python SM's _check_writable. */
static int check_writable(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	struct srfs *fs = &SR(ctx)->fs;
	char name[64], uuid[SM_UUID_LEN + 1];
	int rc;

	sm_uuid_generate(uuid);
	snprintf(name, sizeof(name), ".write-test-%s", uuid);
	rc = srfs_write_file_atomic(fs, name, "x", 1);
	fs->ops->unlink(fs, name);
	if (rc < 0)
		return sm_fail(&ctx->err, lost_or(rc, SME_SHARED_FS_NO_WRITE),
			       "%s:%s: %s", nfs->server, nfs->srpath, strerror(-rc));
	return 0;
}

static int nfs_sr_attach(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	if (check_writable(ctx) < 0)
		return -1;
	fsr_remove_leftovers(SR(ctx));
	if (is_mountpoint(nfs->mnt))
		return 0;   /* already attached: idempotent */
	if (!kernel_has_nfs()) {
		sm_log(LOG_INFO, "sr_attach: no kernel NFS client; VDIs are reached as nfs:// URLs");
		return 0;
	}
	return kernel_mount(nfs, &ctx->err);
}

/* Whole seconds left until deadline (ms), 0 when it has passed. */
static int seconds_left(int64_t deadline)
{
	int64_t left = deadline - sm_monotonic_ms();

	return left > 0 ? (int)((left + 999) / 1000) : 0;
}

/*
 * As the Python NFSSR: stop the GC, unmount, and nothing asked of the
 * server, so a host can unplug an SR whose server is gone.  One
 * nfs-timeout bounds it all: a GC stuck on a frozen server is not waited
 * for longer, and an unmount that cannot finish (it hangs on the server)
 * detaches the mount lazily instead.
 */
static int nfs_sr_detach(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	const char *argv[] = { "umount", nfs->mnt, NULL };
	int64_t deadline = sm_monotonic_ms() + (int64_t)nfs->timeo * 100;
	struct sm_exec_result r = { 0 };
	char flag[PATH_MAX];
	int rc = 0, i;

	/* A GC over libnfs holds nothing here but should stop too; one on the mount keeps it busy. */
	fsr_gc_stop_begin_within(ctx->call->sr_uuid, flag, seconds_left(deadline));
	if (!is_mountpoint(nfs->mnt)) {
		fsr_gc_stop_end(flag);
		rmdir(nfs->mnt);
		return 0;
	}
	/* Busy: a GC that is still exiting, or was only starting, may hold it a moment longer. */
	for (i = 0; i < NFS_UMOUNT_TRIES; i++) {
		if (i > 0) {
			if (seconds_left(deadline) < 2)
				break;
			sleep(1);
			fsr_gc_stop_begin_within(ctx->call->sr_uuid, flag, 0);
		}
		rc = sm_exec(argv, seconds_left(deadline) ? seconds_left(deadline) : 1, &r);
		if (rc < 0 || r.status == 0 || r.timed_out || !strstr(r.output, "busy"))
			break;
	}
	if (rc == 0 && r.timed_out && umount2(nfs->mnt, MNT_DETACH) == 0) {
		sm_log(LOG_WARNING, "sr_detach: umount %s did not finish within nfs-timeout (the "
		       "server does not answer): detached lazily", nfs->mnt);
		r.status = 0;
		r.timed_out = false;
	}
	fsr_gc_stop_end(flag);
	if (rc < 0 || r.status != 0)
		return sm_fail(&ctx->err, SME_NFS_UNMOUNT, "umount %s: %s", nfs->mnt,
			       rc < 0 ? strerror(-rc) : r.timed_out ? "timed out" : r.output);
	rmdir(nfs->mnt);
	return 0;
}

/* ---- probe ------------------------------------------------------------------------- */

/* No serverpath: the export list on stderr (the Python SM's convention), fault 101. */
static int probe_exports(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	char **paths = NULL;
	size_t n = 0;

	if (nfs_list_exports(nfs->server, nfs->timeo * 100, &paths, &n, &ctx->err) < 0)
		return -1;
	fprintf(stderr, "<?xml version=\"1.0\" ?>\n<nfs-exports>\n");
	for (size_t i = 0; i < n; i++) {
		struct sm_buf b = SM_BUF_INIT;

		buf_put_xml_escaped(&b, paths[i], false);
		fprintf(stderr, "\t<Export>\n\t\t<Target>%s</Target>\n\t\t<Path>%s</Path>\n"
			"\t\t<Accesslist>*</Accesslist>\n\t</Export>\n", nfs->server,
			b.data ? b.data : "");
		buf_free(&b);
	}
	fprintf(stderr, "</nfs-exports>\n");
	fflush(stderr);
	nfs_free_exports(paths, n);
	return sm_fail(&ctx->err, SME_CONFIG_SERVER_PATH_MISSING, NULL);
}

struct probe_list {
	struct srfs *fs;
	struct sm_buf *b;
};

static int probe_entry(void *arg, const char *name)
{
	struct probe_list *pl = arg;
	struct srfs_stat st;

	if (sm_uuid_valid(name) && pl->fs->ops->stat(pl->fs, name, &st) == 0 && st.is_dir)
		buf_printf(pl->b, "\t<SR>\n\t\t<UUID>%s</UUID>\n\t</SR>\n", name);
	return 0;
}

static int nfs_sr_probe(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	struct sm_buf b = SM_BUF_INIT;
	struct srfs fs = { 0 };
	struct srfs_nfs_opts o;
	struct probe_list pl = { &fs, &b };
	char *doc;
	int rc;

	if (!nfs->serverpath[0])
		return probe_exports(ctx);
	srfs_opts(nfs, &o, nfs->serverpath);
	if (srfs_open_nfs(&fs, &o, &ctx->err) < 0)
		return -1;
	buf_puts(&b, "<?xml version=\"1.0\" ?>\n<SRlist>\n");
	rc = fs.ops->list(&fs, "", probe_entry, &pl);
	srfs_close(&fs);
	buf_puts(&b, "</SRlist>\n");
	doc = buf_steal(&b);
	if (rc < 0) {
		free(doc);
		return sm_fail(&ctx->err, lost_or(rc, SME_NFS_MOUNT),
			       "cannot list %s:%s: %s", nfs->server, nfs->serverpath, strerror(-rc));
	}
	ctx->result = doc ? xr_string(doc) : NULL;
	free(doc);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

/* ---- VDIs ---------------------------------------------------------------------------- */

/*
 * With a kernel mount the VDI is the file under it, as the Python SM
 * gives tapdisk; without one, an nfs:// URL a libnfs-aware data path can
 * open, and xenstore_data says which it is.
 */
static int nfs_vdi_attach(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	struct xr_value *xs;
	char url[PATH_MAX + 400], ports[64] = "";
	bool mounted = is_mountpoint(nfs->mnt);

	if (sm_call_lower(ctx, &sm_nfs_driver) < 0)
		return -1;
	xs = (struct xr_value *)xr_struct_get(ctx->result, "xenstore_data");
	if (mounted)
		return xr_struct_set_string(xs, "nfs-access", "kernel-mount") < 0 ?
			sm_fail(&ctx->err, SME_GENERIC, "out of memory") : 0;
	/* libnfs's URL arguments for the ports a port= or mountport= option gave. */
	if (nfs->nfs_port)
		snprintf(ports, sizeof(ports), "&nfsport=%d", nfs->nfs_port);
	if (nfs->mount_port)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), "&mountport=%d",
			 nfs->mount_port);
	snprintf(url, sizeof(url), "nfs://%s%s/%s.vhd?version=%d%s", nfs->server, nfs->srpath,
		 ctx->call->vdi_uuid, nfs->version, ports);
	if (xr_struct_set_string(ctx->result, "params", url) < 0 ||
	    xr_struct_set_string(xs, "nfs-access",
				 "libnfs: no kernel NFS client on this host, params is an nfs:// URL") < 0)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	return 0;
}

/*
 * vdi_deactivate, vdi_detach, vdi_detach_from_config: the file store's,
 * but a failure here is the server's (the file-based code does nothing
 * else on these paths that can fail): logged and left, never a fault; an
 * activation record left on the export is overwritten by the next
 * vdi_activate.  load() opened the SR lazily with a one-bound budget.
 */
static int nfs_best_effort(struct sm_ctx *ctx)
{
	struct nfs_state *nfs = NFS(ctx);
	char *why;

	if (sm_call_lower(ctx, &sm_nfs_driver) == 0)
		return 0;
	why = sm_error_fault_string(&ctx->err);
	sm_log(LOG_WARNING, "%s of VDI %s: left undone on %s: %s", ctx->call->method,
	       ctx->call->vdi_uuid ? ctx->call->vdi_uuid : "?", nfs->server, why ? why : "");
	free(why);
	sm_error_clear(&ctx->err);
	return 0;
}

static const struct sm_config_key nfs_config[] = {
	{ "server", "hostname or IP address of NFS server (required)" },
	{ "serverpath", "path on remote server (required)" },
	{ "nfsversion", "NFS protocol version - 3, 4, 4.0, 4.1" },
	{ "options", "extra mount options, comma separated" },
	{ "useUDP", "mount over UDP (true/false)" },
	{ "hardmount", "hard mounts instead of soft (true/false)" },
	{ "nfs-timeout", "time bound of each NFS call and mount timeo, deciseconds (default 100)" },
	{ NULL, NULL },
};

static const char *const nfs_traits[] = { "THIN_PROVISIONING", NULL };

const struct sm_driver sm_nfs_driver = {
	.type = "nfs",
	.name = "NFS VHD",
	.description = "SR plugin which stores disks as VHD files on a remote NFS filesystem",
	.vendor = "Citrix Systems Inc",
	.copyright = "(C) 2008 Citrix Systems Inc",
	.driver_version = "1.0",
	.required_api_version = "1.0",
	.configuration = nfs_config,
	.traits = nfs_traits,
	.base = &sm_file_base,
	.priv_size = sizeof(struct nfs_state),
	/* Several hosts use one export: only the master changes metadata or repairs. */
	.shared = true,
	.load = nfs_load,
	.unload = nfs_unload,
	.recover = nfs_recover,
	.ops = {
		[SM_OP_SR_CREATE] = nfs_sr_create,
		[SM_OP_SR_DELETE] = nfs_sr_delete,
		[SM_OP_SR_ATTACH] = nfs_sr_attach,
		[SM_OP_SR_DETACH] = nfs_sr_detach,
		[SM_OP_SR_PROBE] = nfs_sr_probe,
		[SM_OP_VDI_ATTACH] = nfs_vdi_attach,
		[SM_OP_VDI_DETACH] = nfs_best_effort,
		[SM_OP_VDI_DEACTIVATE] = nfs_best_effort,
		[SM_OP_VDI_DETACH_FROM_CONFIG] = nfs_best_effort,
		/* As the Python NFSSR: no VDI_INTRODUCE. */
		[SM_OP_VDI_INTRODUCE] = sm_op_none,
	},
};
