/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * csm-nbdkit.so: the data path.  An nbdkit plugin that serves one VDI
 * (or one raw file or device) over NBD through the project's VHD library;
 * nbdkit owns the protocol, this file owns the image.
 *
 *   nbdkit -U SOCK build/csm-nbdkit.so dir=/srv/sr vdi=UUID [ctl=PATH] [readonly=true]
 *   nbdkit ... csm-nbdkit.so nfs=server:/export vdi=UUID [nfs-version=3|4] [nfs-timeout=MS]
 *   nbdkit ... csm-nbdkit.so lvm=/dev/sdb[,/dev/sdc] sr=SR_UUID vdi=UUID
 *   nbdkit ... csm-nbdkit.so file=PATH format=vhd|raw      (device=PATH for a block device)
 *
 * A VHD is served through its chain (reads fall through to the ancestors,
 * writes land in the leaf with data and bitmap durable before the BAT
 * entry, csm/vhdchain.h); a raw image byte for byte.  The reach arguments
 * are csm-gc's (--dir, --nfs, --lvm); the image's format is the store's
 * (format= may be given, and must then agree).
 *
 * Thread model: PARALLEL, with the serialization the image needs done
 * here.  The chain writer is not thread-safe, and neither is its reader
 * (the one-block bitmap cache of each image changes on a read), nor the
 * libnfs context or the LV bounce buffers behind a store's io: every
 * request on a chain or a store's io runs under one mutex.  A raw file or
 * device opened here (file=, device=) has no state of ours: its requests
 * run in parallel (pread/pwrite on one descriptor).  Multi-conn is
 * advertised: every connection shares that one image, and a flush on any
 * of them flushes it all.
 *
 * Pause and reopen (csm/nbd_ctl.h has the protocol): a gate counts the
 * requests in flight; a pause closes it (new requests wait in nbdkit's
 * worker threads, the client sees latency, not errors), waits for the
 * count to reach zero within a deadline, flushes and closes the image.
 * A resume reopens it by name, so a snapshot taken during the pause is
 * served from its new leaf.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "csm/error.h"
#include "csm/fault.h"
#include "csm/lvm.h"
#include "csm/nbd_ctl.h"
#include "csm/srfs.h"
#include "csm/srfs_nfs.h"
#include "csm/util.h"
#include "csm/vhd.h"
#include "csm/vhdchain.h"
#include "csm/vhdio.h"
#include "csm/vstore.h"
#include "csm/vstore_dir.h"
#include "csm/vstore_lvm.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define DEFAULT_PAUSE_TIMEOUT_MS 10000
/* How often a request held by a pause looks whether nbdkit is shutting down. */
#define HOLD_POLL_NS 10000000
/* A control client that sends nothing for this long is dropped. */
#define CTL_IDLE_MS 5000

enum format { FMT_UNSET, FMT_VHD, FMT_RAW };

/* ---- configuration ---------------------------------------------------- */

static struct {
	char *dir, *nfs, *lvm, *file, *device, *ctl;
	char *vdi, *sr;
	enum format format;
	bool readonly;
	int pause_timeout_ms;
	int nfs_version, nfs_timeout_ms;
} cfg = { .pause_timeout_ms = DEFAULT_PAUSE_TIMEOUT_MS, .nfs_version = 3,
	  .nfs_timeout_ms = 10000 };

/* ---- what is served ------------------------------------------------------ */

enum backend { BK_CHAIN, BK_IO, BK_FD };

static struct {
	/* The store the VDI lives in (dir=, nfs=, lvm=); vs NULL for file=/device=. */
	struct srfs fs;
	bool fs_open;
	struct vstore_dir dir;
	struct vstore_lvm lvm;
	const char *lvm_devs[LVM_MAX_DEVICES];
	size_t nlvm_devs;
	struct vstore *vs;

	enum backend kind;
	enum format format;
	bool open;
	bool writable;
	uint64_t size;
	struct vhd_chain ch;       /* BK_CHAIN */
	struct vhd_io io;          /* BK_IO: a raw image of a store */
	int fd;                    /* BK_FD: file= / device= raw */
	bool fd_is_block;
	pthread_mutex_t lock;      /* every use of ch and io (see the thread model) */
} srv = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the gate a pause closes --------------------------------------------- */

enum state { ST_RUNNING, ST_PAUSED, ST_BROKEN };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t drained;    /* inflight reached 0 */
	enum state state;
	bool pausing;              /* a pause is draining: hold new requests */
	unsigned inflight;
	char why[512];             /* ST_BROKEN: why the reopen failed */
} gate = { .lock = PTHREAD_MUTEX_INITIALIZER, .drained = PTHREAD_COND_INITIALIZER };

/* ---- the control socket ------------------------------------------------- */

static struct {
	int listen_fd;
	int stop[2];               /* self-pipe: unload wakes the thread */
	pthread_t thread;
	bool running;
	pid_t owner;               /* the process that serves (after nbdkit's fork) */
} ctl = { .listen_fd = -1, .stop = { -1, -1 } };

/* ---- helpers ------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A library error as nbdkit's error and errno. */
static int fail_req(const char *what, const struct sm_error *err)
{
	int e = EIO;

	if (err->code == SME_SR_NO_SPACE)
		e = ENOSPC;
	else if (err->code == SME_INVALID_ARG)
		e = EINVAL;
	nbdkit_error("%s: %s", what, err->detail[0] ? err->detail : sm_error_name(err->code));
	nbdkit_set_error(e);
	return -1;
}

static int fail_errno(const char *what, int e)
{
	nbdkit_error("%s: %s", what, strerror(e));
	nbdkit_set_error(e);
	return -1;
}

/* ---- configuration callbacks --------------------------------------------- */

static int set_path(char **slot, const char *key, const char *value)
{
	if (*slot) {
		nbdkit_error("%s given twice", key);
		return -1;
	}
	*slot = nbdkit_absolute_path(value);
	return *slot ? 0 : -1;
}

static int set_string(char **slot, const char *key, const char *value)
{
	if (*slot) {
		nbdkit_error("%s given twice", key);
		return -1;
	}
	*slot = strdup(value);
	if (!*slot) {
		nbdkit_error("%s: out of memory", key);
		return -1;
	}
	return 0;
}

static int parse_ms(const char *key, const char *value, int lo, int hi, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (errno || end == value || *end || n < lo || n > hi) {
		nbdkit_error("%s wants milliseconds from %d to %d, not \"%s\"", key, lo, hi, value);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int csm_config(const char *key, const char *value)
{
	int b;

	if (strcmp(key, "dir") == 0)
		return set_path(&cfg.dir, key, value);
	if (strcmp(key, "file") == 0)
		return set_path(&cfg.file, key, value);
	if (strcmp(key, "device") == 0)
		return set_path(&cfg.device, key, value);
	if (strcmp(key, "ctl") == 0)
		return set_path(&cfg.ctl, key, value);
	if (strcmp(key, "nfs") == 0)
		return set_string(&cfg.nfs, key, value);
	if (strcmp(key, "lvm") == 0)
		return set_string(&cfg.lvm, key, value);
	if (strcmp(key, "vdi") == 0)
		return set_string(&cfg.vdi, key, value);
	if (strcmp(key, "sr") == 0)
		return set_string(&cfg.sr, key, value);
	if (strcmp(key, "format") == 0) {
		if (strcmp(value, "vhd") == 0)
			cfg.format = FMT_VHD;
		else if (strcmp(value, "raw") == 0)
			cfg.format = FMT_RAW;
		else {
			nbdkit_error("format is vhd or raw, not \"%s\"", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "readonly") == 0) {
		b = nbdkit_parse_bool(value);
		if (b < 0)
			return -1;
		cfg.readonly = b;
		return 0;
	}
	if (strcmp(key, "pause-timeout") == 0)
		return parse_ms(key, value, 1, 3600000, &cfg.pause_timeout_ms);
	if (strcmp(key, "nfs-timeout") == 0)
		return parse_ms(key, value, 100, 600000, &cfg.nfs_timeout_ms);
	if (strcmp(key, "nfs-version") == 0) {
		if (strcmp(value, "3") && strcmp(value, "4")) {
			nbdkit_error("nfs-version is 3 or 4, not \"%s\"", value);
			return -1;
		}
		cfg.nfs_version = value[0] - '0';
		return 0;
	}
	nbdkit_error("unknown parameter \"%s\" (see nbdkit %s --help)", key, "csm-nbdkit.so");
	return -1;
}

/*
 * nbdkit runs threads (ours too: the control socket's), and a resume
 * reopens the chain from one of them: LVM commands must not run in a
 * forked copy of this process (csm/lvm.h, lvm_use_exec_helper).  The
 * helper, csm-lvm-run, is installed beside the plugin; CSM_LVM_RUN
 * overrides.
 */
static int use_lvm_helper(void)
{
	const char *env = getenv("CSM_LVM_RUN");
	char path[PATH_MAX], *slash;
	Dl_info info;
	int rc;

	if (env && *env) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		if (!dladdr((void *)use_lvm_helper, &info) || !info.dli_fname ||
		    !realpath(info.dli_fname, path) || !(slash = strrchr(path, '/')) ||
		    (size_t)(slash - path) + sizeof("/csm-lvm-run") > sizeof(path)) {
			nbdkit_error("lvm=: cannot tell where the plugin is, to find csm-lvm-run "
				     "beside it (set CSM_LVM_RUN)");
			return -1;
		}
		strcpy(slash, "/csm-lvm-run");
	}
	rc = lvm_use_exec_helper(path);
	if (rc < 0) {
		nbdkit_error("lvm= runs LVM commands through %s: %s (make install puts it beside "
			     "the plugin; CSM_LVM_RUN names another)", path, strerror(-rc));
		return -1;
	}
	return 0;
}

static int csm_config_complete(void)
{
	int stores = !!cfg.dir + !!cfg.nfs + !!cfg.lvm;
	int direct = !!cfg.file + !!cfg.device;

	if (stores + direct != 1) {
		nbdkit_error("give exactly one of dir=, nfs=, lvm= (with vdi=) or file=, device=");
		return -1;
	}
	if (stores && (!cfg.vdi || !sm_uuid_valid(cfg.vdi))) {
		nbdkit_error("an SR needs vdi=UUID (a canonical uuid)%s%s",
			     cfg.vdi ? ", not " : "", cfg.vdi ? cfg.vdi : "");
		return -1;
	}
	if (direct && cfg.vdi) {
		nbdkit_error("vdi= names an image of an SR; file= and device= name one themselves");
		return -1;
	}
	if (direct && cfg.format == FMT_UNSET) {
		nbdkit_error("file= and device= need format=vhd or format=raw (a raw disk can hold "
			     "anything, a VHD too: the plugin does not guess)");
		return -1;
	}
	if (cfg.lvm && (!cfg.sr || !sm_uuid_valid(cfg.sr))) {
		nbdkit_error("lvm= needs sr=UUID: the volume group is VG_XenStorage-<sr>");
		return -1;
	}
	if (cfg.lvm && use_lvm_helper() < 0)
		return -1;
	if (cfg.sr && !sm_uuid_valid(cfg.sr)) {
		nbdkit_error("sr= wants a canonical uuid, not %s", cfg.sr);
		return -1;
	}
	return 0;
}

#define CSM_CONFIG_HELP \
	"dir=PATH | nfs=SERVER:/PATH | lvm=DEV[,DEV] sr=UUID   the SR (as csm-gc reaches it)\n" \
	"vdi=UUID                 the VDI to serve (with an SR)\n" \
	"file=PATH | device=PATH  or a file / block device, with format=\n" \
	"format=vhd|raw           (an SR's image: found from the store)\n" \
	"readonly=true            open read-only, serve read-only\n" \
	"ctl=PATH                 control socket: pause, resume, status, flush\n" \
	"pause-timeout=MS         how long a pause waits for requests in flight (10000)\n" \
	"nfs-version=3|4 nfs-timeout=MS   for nfs="

/* ---- opening and closing the image -------------------------------------- */

static int open_store(struct sm_error *err)
{
	static struct srfs_nfs_opts o;
	static char server[256], path[PATH_MAX];
	const char *colon;
	char *save = NULL;

	if (cfg.lvm) {
		for (char *d = strtok_r(cfg.lvm, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
			if (d[0] != '/' || strlen(d) >= LVM_DEV_MAX || srv.nlvm_devs == LVM_MAX_DEVICES)
				return sm_fail(err, SME_INVALID_ARG, "lvm= wants absolute device "
					       "paths, at most %d, not %s", LVM_MAX_DEVICES, d);
			srv.lvm_devs[srv.nlvm_devs++] = d;
		}
		if (!srv.nlvm_devs)
			return sm_fail(err, SME_INVALID_ARG, "lvm= names no device");
		vstore_lvm_init(&srv.lvm, cfg.sr, srv.lvm_devs, srv.nlvm_devs, false, false);
		srv.vs = &srv.lvm.vs;
		return srv.vs->ops->check(srv.vs, err);
	}
	if (cfg.dir) {
		if (srfs_open_posix(&srv.fs, cfg.dir, err) < 0)
			return -1;
	} else {
		colon = strchr(cfg.nfs, ':');
		if (!colon || colon == cfg.nfs || colon[1] != '/' ||
		    (size_t)(colon - cfg.nfs) >= sizeof(server))
			return sm_fail(err, SME_CONFIG_SERVER_PATH_BAD, "nfs= wants server:/path, "
				       "not %s", cfg.nfs);
		memcpy(server, cfg.nfs, (size_t)(colon - cfg.nfs));
		server[colon - cfg.nfs] = '\0';
		snprintf(path, sizeof(path), "%s", colon + 1);
		o = (struct srfs_nfs_opts){ .server = server, .export_path = path,
					    .version = cfg.nfs_version,
					    .timeout_ms = cfg.nfs_timeout_ms, .hard = true };
		if (srfs_open_nfs(&srv.fs, &o, err) < 0)
			return -1;
	}
	srv.fs_open = true;
	vstore_dir_init(&srv.dir, &srv.fs, "", cfg.sr ? cfg.sr : "");
	srv.vs = &srv.dir.vs;
	return 0;
}

static void close_store(void)
{
	if (cfg.lvm && srv.vs)
		srv.vs->ops->close(srv.vs);
	if (srv.fs_open)
		srfs_close(&srv.fs);
	srv.fs_open = false;
	srv.vs = NULL;
}

static int open_fd(const char *path, struct sm_error *err)
{
	struct stat st;
	uint64_t size;
	int fd = open(path, (srv.writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);

	if (fd < 0)
		return sm_fail_errno(err, errno == ENOENT ? SME_VDI_MISSING : SME_VDI_LOAD, errno,
				     "%s", path);
	if (fstat(fd, &st) < 0) {
		sm_fail_errno(err, SME_VDI_LOAD, errno, "%s", path);
		goto fail;
	}
	srv.fd_is_block = S_ISBLK(st.st_mode);
	if (cfg.device && !srv.fd_is_block) {
		sm_fail(err, SME_VDI_LOAD, "device=%s is not a block device (file= serves files)",
			path);
		goto fail;
	}
	if (cfg.file && !S_ISREG(st.st_mode)) {
		sm_fail(err, SME_VDI_LOAD, "file=%s is not a regular file (device= serves block "
			"devices)", path);
		goto fail;
	}
	size = (uint64_t)st.st_size;
	if (srv.fd_is_block && ioctl(fd, BLKGETSIZE64, &size) < 0) {
		sm_fail_errno(err, SME_VDI_LOAD, errno, "%s: size", path);
		goto fail;
	}
	srv.fd = fd;
	srv.size = size;
	srv.kind = BK_FD;
	return 0;
fail:
	close(fd);
	return -1;
}

static int chain_size(struct sm_error *err)
{
	struct vhd_info info;

	if (vhd_query_fast(&srv.ch.io[0], &info, err) < 0)
		return -1;
	srv.size = info.virtual_size;
	return 0;
}

/* The image from the store: its kind decides the backend. */
static int open_from_store(struct sm_error *err)
{
	enum vstore_kind kind;
	char name[PATH_MAX];

	if (srv.vs->ops->find(srv.vs, cfg.vdi, &kind, SME_VDI_MISSING, err) < 0)
		return -1;
	if (kind == VSTORE_NONE)
		return sm_fail(err, SME_VDI_MISSING, "no VDI %s in the SR", cfg.vdi);
	if (cfg.format != FMT_UNSET && (cfg.format == FMT_VHD) != (kind == VSTORE_VHD))
		return sm_fail(err, SME_VDI_TYPE, "format=%s, but VDI %s is %s",
			       cfg.format == FMT_VHD ? "vhd" : "raw", cfg.vdi, vstore_kind_name(kind));
	srv.format = kind == VSTORE_VHD ? FMT_VHD : FMT_RAW;
	if (kind == VSTORE_RAW) {
		uint64_t size;
		int rc;

		if (srv.vs->ops->open(srv.vs, cfg.vdi, VSTORE_RAW,
				      srv.writable ? VHD_IO_RDWR : VHD_IO_RDONLY, &srv.io, err) < 0)
			return -1;
		rc = srv.io.ops->get_size(&srv.io, &size);
		if (rc < 0) {
			vhd_io_close(&srv.io);
			return sm_fail_errno(err, SME_VDI_LOAD, -rc, "%s: size", srv.io.name);
		}
		srv.size = size;
		srv.kind = BK_IO;
		return 0;
	}
	srv.vs->ops->image_name(srv.vs, cfg.vdi, VSTORE_VHD, name, sizeof(name));
	if (vhd_chain_open_with(&srv.ch, srv.vs->ops->opener(srv.vs), name, srv.writable, err) < 0)
		return -1;
	srv.kind = BK_CHAIN;
	if (chain_size(err) < 0) {
		vhd_chain_close(&srv.ch);
		return -1;
	}
	return 0;
}

/* Open what the configuration names (first start, and every resume). */
static int image_open(struct sm_error *err)
{
	int rc;

	srv.writable = !cfg.readonly;
	if (srv.vs) {
		rc = open_from_store(err);
	} else if (cfg.format == FMT_RAW) {
		srv.format = FMT_RAW;
		rc = open_fd(cfg.file ? cfg.file : cfg.device, err);
	} else {
		srv.format = FMT_VHD;
		rc = vhd_chain_open(&srv.ch, cfg.file ? cfg.file : cfg.device, srv.writable, err);
		if (rc == 0) {
			srv.kind = BK_CHAIN;
			rc = chain_size(err);
			if (rc < 0)
				vhd_chain_close(&srv.ch);
		}
	}
	if (rc == 0)
		srv.open = true;
	return rc;
}

/* Data, bitmaps, then BAT, batmap, footer, all durable (csm/vhdchain.h). Caller holds srv.lock. */
static int image_flush_locked(struct sm_error *err)
{
	int rc;

	if (!srv.open || !srv.writable)
		return 0;
	switch (srv.kind) {
	case BK_CHAIN:
		return vhd_chain_flush(&srv.ch, err);
	case BK_IO:
		rc = srv.io.ops->sync(&srv.io);
		return rc < 0 ? sm_fail_errno(err, SME_EIO, -rc, "%s: sync", srv.io.name) : 0;
	case BK_FD:
		return fdatasync(srv.fd) < 0 ? sm_fail_errno(err, SME_EIO, errno, "fdatasync") : 0;
	}
	return 0;
}

/* Caller holds srv.lock; flushed first by whoever cares. */
static void image_close_locked(void)
{
	if (!srv.open)
		return;
	switch (srv.kind) {
	case BK_CHAIN:
		vhd_chain_close(&srv.ch);
		break;
	case BK_IO:
		vhd_io_close(&srv.io);
		break;
	case BK_FD:
		close(srv.fd);
		srv.fd = -1;
		break;
	}
	srv.open = false;
}

/* ---- the gate ------------------------------------------------------------- */

/*
 * Enter a request: wait while paused (or a pause drains).  Polling with
 * nbdkit_nanosleep, not a condition variable, so a request held by a
 * pause ends when nbdkit shuts down (a worker that never returns would
 * keep nbdkit from exiting).
 */
static int req_enter(void)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.state != ST_RUNNING || gate.pausing) {
		pthread_mutex_unlock(&gate.lock);
		if (nbdkit_nanosleep(0, HOLD_POLL_NS) < 0) {
			nbdkit_error("request held by a pause: the server is shutting down");
			nbdkit_set_error(ESHUTDOWN);
			return -1;
		}
		pthread_mutex_lock(&gate.lock);
	}
	gate.inflight++;
	pthread_mutex_unlock(&gate.lock);
	return 0;
}

static void req_leave(void)
{
	pthread_mutex_lock(&gate.lock);
	if (--gate.inflight == 0)
		pthread_cond_broadcast(&gate.drained);
	pthread_mutex_unlock(&gate.lock);
}

/* ---- the NBD callbacks --------------------------------------------------- */

struct handle {
	bool readonly;
};

static void *csm_open(int readonly)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h) {
		nbdkit_error("out of memory");
		return NULL;
	}
	h->readonly = readonly || cfg.readonly;
	return h;
}

static void csm_close(void *handle)
{
	free(handle);
}

static int64_t csm_get_size(void *handle)
{
	int64_t size;

	if (req_enter() < 0)
		return -1;
	size = (int64_t)srv.size;
	req_leave();
	return size;
}

static int csm_can_write(void *handle)
{
	return !((struct handle *)handle)->readonly;
}

static int csm_can_flush(void *handle)
{
	return 1;
}

static int csm_can_fua(void *handle)
{
	return NBDKIT_FUA_EMULATE;
}

static int csm_can_multi_conn(void *handle)
{
	return 1;
}

/* VHD: no .zero (nbdkit still offers zeroing, by .pwrite of zeros), no trim (docs/data-path.md). */
static int csm_can_zero(void *handle)
{
	return srv.kind == BK_FD;
}

static int csm_can_trim(void *handle)
{
	return srv.kind == BK_FD;
}

static int csm_can_cache(void *handle)
{
	return NBDKIT_CACHE_NONE;
}

static int fd_pread(void *buf, uint32_t count, uint64_t off)
{
	char *p = buf;

	while (count) {
		ssize_t n = pread(srv.fd, p, count, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail_errno("read", errno);
		if (n == 0)
			return fail_errno("read past the end", EIO);
		p += n;
		count -= (uint32_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int fd_pwrite(const void *buf, uint32_t count, uint64_t off)
{
	const char *p = buf;

	while (count) {
		ssize_t n = pwrite(srv.fd, p, count, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail_errno("write", errno);
		p += n;
		count -= (uint32_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int do_pread(void *buf, uint32_t count, uint64_t off)
{
	struct sm_error err = { 0 };
	int rc;

	if (srv.kind == BK_FD)
		return fd_pread(buf, count, off);
	pthread_mutex_lock(&srv.lock);
	if (srv.kind == BK_CHAIN) {
		rc = vhd_chain_read(&srv.ch, buf, count, off, &err);
	} else {
		rc = srv.io.ops->pread(&srv.io, buf, count, off);
		if (rc < 0)
			sm_fail_errno(&err, SME_EIO, -rc, "%s", srv.io.name);
	}
	pthread_mutex_unlock(&srv.lock);
	return rc < 0 ? fail_req("read", &err) : 0;
}

static int csm_pread(void *handle, void *buf, uint32_t count, uint64_t off, uint32_t flags)
{
	int rc;

	if (req_enter() < 0)
		return -1;
	rc = do_pread(buf, count, off);
	req_leave();
	return rc;
}

static int do_pwrite(const void *buf, uint32_t count, uint64_t off)
{
	struct sm_error err = { 0 };
	int rc;

	if (!srv.writable)
		return fail_errno("write", EROFS);
	/* Test builds: a write that stands still (CSM_FAULT_PAUSE), for the pause deadline. */
	sm_fault_point("nbd-plugin:write");
	if (srv.kind == BK_FD)
		return fd_pwrite(buf, count, off);
	pthread_mutex_lock(&srv.lock);
	if (srv.kind == BK_CHAIN) {
		rc = vhd_chain_write(&srv.ch, buf, count, off, &err);
	} else {
		rc = srv.io.ops->pwrite(&srv.io, buf, count, off);
		if (rc < 0)
			sm_fail_errno(&err, SME_EIO, -rc, "%s", srv.io.name);
	}
	pthread_mutex_unlock(&srv.lock);
	return rc < 0 ? fail_req("write", &err) : 0;
}

static int csm_pwrite(void *handle, const void *buf, uint32_t count, uint64_t off,
		      uint32_t flags)
{
	int rc;

	if (req_enter() < 0)
		return -1;
	rc = do_pwrite(buf, count, off);
	req_leave();
	return rc;
}

static int csm_flush(void *handle, uint32_t flags)
{
	struct sm_error err = { 0 };
	int rc;

	if (req_enter() < 0)
		return -1;
	pthread_mutex_lock(&srv.lock);
	rc = image_flush_locked(&err);
	pthread_mutex_unlock(&srv.lock);
	req_leave();
	return rc < 0 ? fail_req("flush", &err) : 0;
}

/*
 * Raw only.  A file: punch a hole when the client allows it (reads back
 * zeros), else zero the range in place; a block device: BLKZEROOUT (the
 * kernel uses the device's own zeroing or writes zeros).  EOPNOTSUPP
 * lets nbdkit fall back to writing zeros itself.
 */
static int fd_zero(uint32_t count, uint64_t off, uint32_t flags)
{
	if (srv.fd_is_block) {
		uint64_t range[2] = { off, count };

		if ((off | count) % 512 == 0 && ioctl(srv.fd, BLKZEROOUT, range) == 0)
			return 0;
		nbdkit_set_error(EOPNOTSUPP);
		return -1;
	}
	if ((flags & NBDKIT_FLAG_MAY_TRIM) &&
	    fallocate(srv.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, count) == 0)
		return 0;
	if (fallocate(srv.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, count) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return fail_errno("zero", errno);
	nbdkit_set_error(EOPNOTSUPP);
	return -1;
}

static int csm_zero(void *handle, uint32_t count, uint64_t off, uint32_t flags)
{
	int rc;

	if (req_enter() < 0)
		return -1;
	rc = srv.writable ? fd_zero(count, off, flags) : fail_errno("zero", EROFS);
	req_leave();
	return rc;
}

/* Trim is advisory: where the file system or device cannot, it is a no-op. */
static int csm_trim(void *handle, uint32_t count, uint64_t off, uint32_t flags)
{
	int rc = 0;

	if (req_enter() < 0)
		return -1;
	if (!srv.writable) {
		rc = fail_errno("trim", EROFS);
	} else if (srv.fd_is_block) {
		uint64_t range[2] = { off, count };

		if ((off | count) % 512 == 0)
			(void)ioctl(srv.fd, BLKDISCARD, range);
	} else if (fallocate(srv.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			     count) < 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
		rc = fail_errno("trim", errno);
	}
	req_leave();
	return rc;
}

/* ---- pause, resume, status, flush -------------------------------------- */

/* s without newlines, for a one-line answer. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static void answer(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void answer(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	one_line(out);
}

static void cmd_pause(int timeout_ms, char *out, size_t cap)
{
	struct sm_error err = { 0 };
	int64_t deadline = now_ms() + timeout_ms;
	struct timespec ts;
	int rc;

	pthread_mutex_lock(&gate.lock);
	if (gate.state != ST_RUNNING) {
		pthread_mutex_unlock(&gate.lock);
		answer(out, cap, "ok");
		return;
	}
	gate.pausing = true;
	while (gate.inflight > 0 && now_ms() < deadline) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&gate.drained, &gate.lock, &ts);
	}
	if (gate.inflight > 0) {
		/* The deadline: serve the old chain again, as if no pause had been asked. */
		unsigned n = gate.inflight;

		gate.pausing = false;
		pthread_mutex_unlock(&gate.lock);
		answer(out, cap, "err pause: %u request(s) still in flight after %d ms; the image "
		       "is served as before", n, timeout_ms);
		return;
	}
	pthread_mutex_lock(&srv.lock);
	rc = image_flush_locked(&err);
	if (rc == 0)
		image_close_locked();
	pthread_mutex_unlock(&srv.lock);
	if (rc < 0) {
		gate.pausing = false;
		pthread_mutex_unlock(&gate.lock);
		answer(out, cap, "err pause: flush failed, the image is served as before: %s",
		       err.detail);
		return;
	}
	gate.state = ST_PAUSED;
	gate.pausing = false;
	pthread_mutex_unlock(&gate.lock);
	nbdkit_debug("csm: paused, image closed");
	answer(out, cap, "ok");
}

/*
 * Reopen; on failure stay paused (ST_BROKEN: requests held, nothing
 * open).  The store is reopened too: an LVM store caches the volume
 * group's listing, and the snapshot renamed and made LVs.
 */
static void cmd_resume(char *out, size_t cap)
{
	struct sm_error err = { 0 };
	uint64_t old_size = srv.size;

	pthread_mutex_lock(&gate.lock);
	if (gate.state == ST_RUNNING) {
		pthread_mutex_unlock(&gate.lock);
		answer(out, cap, "ok");
		return;
	}
	if (cfg.lvm)
		srv.vs->ops->close(srv.vs);
	pthread_mutex_lock(&srv.lock);
	if (image_open(&err) < 0) {
		pthread_mutex_unlock(&srv.lock);
		gate.state = ST_BROKEN;
		answer(gate.why, sizeof(gate.why), "%s", err.detail[0] ? err.detail :
		       sm_error_name(err.code));
		pthread_mutex_unlock(&gate.lock);
		nbdkit_error("csm: resume: reopen failed, requests stay held: %s", gate.why);
		answer(out, cap, "err resume: reopen failed, requests stay held: %s", gate.why);
		return;
	}
	pthread_mutex_unlock(&srv.lock);
	if (srv.size != old_size)
		nbdkit_debug("csm: size %" PRIu64 " -> %" PRIu64 " (new connections see it)",
			     old_size, srv.size);
	gate.state = ST_RUNNING;
	gate.why[0] = '\0';
	pthread_mutex_unlock(&gate.lock);
	nbdkit_debug("csm: resumed");
	answer(out, cap, "ok");
}

static void cmd_status(char *out, size_t cap)
{
	static const char *const names[] = { "running", "paused", "broken" };

	pthread_mutex_lock(&gate.lock);
	answer(out, cap, "ok state=%s inflight=%u format=%s depth=%zu writable=%d size=%" PRIu64
	       "%s%s", gate.pausing ? "pausing" : names[gate.state], gate.inflight,
	       srv.format == FMT_VHD ? "vhd" : "raw",
	       srv.open && srv.kind == BK_CHAIN ? srv.ch.depth : (size_t)(srv.open ? 1 : 0),
	       srv.writable, srv.size, gate.state == ST_BROKEN ? " error=" : "",
	       gate.state == ST_BROKEN ? gate.why : "");
	pthread_mutex_unlock(&gate.lock);
}

/* A flush as a request is: the gate first (paused: nothing open, the pause flushed). */
static void cmd_flush(char *out, size_t cap)
{
	struct sm_error err = { 0 };
	int rc;

	pthread_mutex_lock(&gate.lock);
	if (gate.state != ST_RUNNING) {
		pthread_mutex_unlock(&gate.lock);
		answer(out, cap, "ok");
		return;
	}
	gate.inflight++;
	pthread_mutex_unlock(&gate.lock);
	pthread_mutex_lock(&srv.lock);
	rc = image_flush_locked(&err);
	pthread_mutex_unlock(&srv.lock);
	req_leave();
	if (rc < 0)
		answer(out, cap, "err flush: %s", err.detail);
	else
		answer(out, cap, "ok");
}

static void ctl_dispatch(char *line, char *out, size_t cap)
{
	int ms;

	if (strcmp(line, "pause") == 0) {
		cmd_pause(cfg.pause_timeout_ms, out, cap);
	} else if (strncmp(line, "pause ", 6) == 0) {
		char *end;
		long n = strtol(line + 6, &end, 10);

		if (end == line + 6 || *end || n < 1 || n > 3600000) {
			answer(out, cap, "err pause wants milliseconds from 1 to 3600000");
			return;
		}
		ms = (int)n;
		cmd_pause(ms, out, cap);
	} else if (strcmp(line, "resume") == 0) {
		cmd_resume(out, cap);
	} else if (strcmp(line, "status") == 0) {
		cmd_status(out, cap);
	} else if (strcmp(line, "flush") == 0) {
		cmd_flush(out, cap);
	} else {
		answer(out, cap, "err unknown command (pause [MS], resume, status, flush)");
	}
}

/* Wait for fd (or the stop pipe): 1 readable, 0 idle too long or stopping. */
static int ctl_wait(int fd, int idle_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = ctl.stop[0], .events = POLLIN } };
	int rc;

	do
		rc = poll(p, 2, idle_ms);
	while (rc < 0 && errno == EINTR);
	if (rc <= 0 || p[1].revents)
		return 0;
	return 1;
}

/*
 * One client: lines in, one answer line each.  A pause whose asker has
 * gone by the time it is answered (its deadline passed, it closed) is
 * undone: nobody would resume it.
 */
static void ctl_serve(int fd)
{
	char buf[NBD_CTL_LINE_MAX], out[NBD_CTL_LINE_MAX + 1];
	size_t len = 0;

	for (;;) {
		char *nl;
		ssize_t n;

		if (!ctl_wait(fd, CTL_IDLE_MS))
			return;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			size_t used = (size_t)(nl - buf) + 1;
			bool was_pause;

			*nl = '\0';
			if (nl > buf && nl[-1] == '\r')
				nl[-1] = '\0';
			was_pause = strncmp(buf, "pause", 5) == 0;
			ctl_dispatch(buf, out, sizeof(out) - 1);
			strcat(out, "\n");
			if (send(fd, out, strlen(out), MSG_NOSIGNAL) < 0) {
				if (was_pause && strcmp(out, "ok\n") == 0) {
					nbdkit_error("csm: the pause's asker is gone: resuming");
					cmd_resume(out, sizeof(out));
				}
				return;
			}
			memmove(buf, buf + used, len - used + 1);
			len -= used;
		}
		if (len == sizeof(buf) - 1) {
			send(fd, "err line too long\n", 18, MSG_NOSIGNAL);
			return;
		}
	}
}

static void *ctl_thread(void *arg)
{
	for (;;) {
		int fd;

		if (!ctl_wait(ctl.listen_fd, -1))
			break;
		fd = accept4(ctl.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		ctl_serve(fd);
		close(fd);
	}
	return NULL;
}

/*
 * Bind before nbdkit forks, so a bad path fails the start and the socket
 * is there when nbdkit's parent returns.  An old socket is replaced only
 * when nobody answers on it (a server that was killed left it).
 */
static int ctl_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(cfg.ctl) >= sizeof(sa.sun_path)) {
		nbdkit_error("ctl=%s: path too long for a Unix socket", cfg.ctl);
		return -1;
	}
	memcpy(sa.sun_path, cfg.ctl, strlen(cfg.ctl) + 1);
	if (lstat(cfg.ctl, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			nbdkit_error("ctl=%s exists and is not a socket", cfg.ctl);
			return -1;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			nbdkit_error("ctl=%s: another server listens there", cfg.ctl);
			return -1;
		}
		if (fd >= 0)
			close(fd);
		unlink(cfg.ctl);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail_errno("ctl socket", errno);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		nbdkit_error("ctl=%s: %s", cfg.ctl, strerror(errno));
		close(fd);
		return -1;
	}
	ctl.listen_fd = fd;
	if (pipe2(ctl.stop, O_CLOEXEC) < 0)
		return fail_errno("pipe", errno);
	return 0;
}

/* ---- life cycle ------------------------------------------------------------ */

static int csm_get_ready(void)
{
	struct sm_error err = { 0 };

	if (!cfg.file && !cfg.device && open_store(&err) < 0) {
		nbdkit_error("csm: %s", err.detail);
		return -1;
	}
	if (image_open(&err) < 0) {
		nbdkit_error("csm: %s", err.detail);
		return -1;
	}
	nbdkit_debug("csm: serving %s, %s, %" PRIu64 " bytes, %s, depth %zu",
		     cfg.vdi ? cfg.vdi : cfg.file ? cfg.file : cfg.device,
		     srv.format == FMT_VHD ? "vhd" : "raw", srv.size,
		     srv.writable ? "read-write" : "read-only",
		     srv.kind == BK_CHAIN ? srv.ch.depth : (size_t)1);
	return cfg.ctl ? ctl_listen() : 0;
}

static int csm_after_fork(void)
{
	int rc;

	ctl.owner = getpid();
	if (ctl.listen_fd < 0)
		return 0;
	rc = pthread_create(&ctl.thread, NULL, ctl_thread, NULL);
	if (rc)
		return fail_errno("ctl thread", rc);
	ctl.running = true;
	return 0;
}

/*
 * Flush and close at the end.  nbdkit's parent, when it forks into the
 * background, leaves the serving to the child: it must not close (or
 * flush) what the child serves, nor remove the child's control socket.
 */
static void csm_unload(void)
{
	struct sm_error err = { 0 };

	if (ctl.owner && ctl.owner != getpid())
		return;
	if (ctl.running) {
		if (write(ctl.stop[1], "x", 1) < 0)
			nbdkit_debug("csm: waking the ctl thread: %s", strerror(errno));
		pthread_join(ctl.thread, NULL);
	}
	if (ctl.listen_fd >= 0) {
		close(ctl.listen_fd);
		unlink(cfg.ctl);
	}
	if (ctl.stop[0] >= 0) {
		close(ctl.stop[0]);
		close(ctl.stop[1]);
	}
	pthread_mutex_lock(&srv.lock);
	if (image_flush_locked(&err) < 0)
		nbdkit_error("csm: final flush: %s", err.detail);
	image_close_locked();
	pthread_mutex_unlock(&srv.lock);
	close_store();
	free(cfg.dir);
	free(cfg.nfs);
	free(cfg.lvm);
	free(cfg.file);
	free(cfg.device);
	free(cfg.ctl);
	free(cfg.vdi);
	free(cfg.sr);
}

static int csm_thread_model(void)
{
	return NBDKIT_THREAD_MODEL_PARALLEL;
}

static struct nbdkit_plugin plugin = {
	.name = "csm",
	.longname = "csm: VDIs of File, EXT, NFS and LVM SRs (VHD chains and raw)",
	.version = "1",
	.description = "Serves one VDI through the csm VHD library",
	.config = csm_config,
	.config_complete = csm_config_complete,
	.config_help = CSM_CONFIG_HELP,
	.magic_config_key = NULL,
	.get_ready = csm_get_ready,
	.after_fork = csm_after_fork,
	.unload = csm_unload,
	.thread_model = csm_thread_model,
	.open = csm_open,
	.close = csm_close,
	.get_size = csm_get_size,
	.can_write = csm_can_write,
	.can_flush = csm_can_flush,
	.can_fua = csm_can_fua,
	.can_multi_conn = csm_can_multi_conn,
	.can_zero = csm_can_zero,
	.can_trim = csm_can_trim,
	.can_cache = csm_can_cache,
	.pread = csm_pread,
	.pwrite = csm_pwrite,
	.flush = csm_flush,
	.zero = csm_zero,
	.trim = csm_trim,
	.errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
