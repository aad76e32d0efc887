/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * VDIs as files in one directory, the Python FileSR's layout:
 *   <uuid>.vhd   a VHD (dynamic, or differencing with a sibling parent)
 *   <uuid>.raw   a raw image (vdi_sm_config type=raw)
 * and, ours:
 *   <uuid>.meta  label, description and snapshot facts (lib/vdimeta.c)
 *   <uuid>.lock  the persistent vdi_lock record
 *   .csm-sr      the SR uuid, written by sr_create
 *   .csm-journal/<op>-<uuid>   intent records of changes in flight
 *   .csm-active/<uuid>@<host>  activation records (fsr_store.h)
 * A snapshot keeps the original uuid as the writable leaf: its data moves
 * to a hidden read-only "base copy" and the call returns the new VDI.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/fault.h"
#include "csm/journal.h"
#include "csm/lock.h"
#include "csm/log.h"
#include "csm/scan.h"
#include "csm/util.h"
#include "csm/vdimeta.h"
#include "csm/vhd.h"
#include "filebased.h"
#include "fsr_store.h"

struct file_sr *fsr_new(struct sm_ctx *ctx)
{
	struct file_sr *sr = calloc(1, sizeof(*sr));

	if (!sr) {
		sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		return NULL;
	}
	sr->sr_uuid = ctx->call->sr_uuid;
	sr->storage_type = "ext";
	sr->repair = true;
	ctx->sr = sr;
	return sr;
}

struct file_sr *fsr_new_local(struct sm_ctx *ctx, const char *dir)
{
	struct file_sr *sr;
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(sr->path)) {
		sm_fail(&ctx->err, SME_INVALID_ARG, "SR directory path is empty or too long");
		return NULL;
	}
	sr = fsr_new(ctx);
	if (!sr)
		return NULL;
	memcpy(sr->path, dir, len + 1);
	while (len > 1 && sr->path[len - 1] == '/')
		sr->path[--len] = '\0';
	return sr;   /* the srfs opens on first use (fsr_fs) */
}

void fsr_release_fs(struct file_sr *sr)
{
	srfs_close(&sr->fs);
}

void fsr_unload(struct sm_ctx *ctx)
{
	struct file_sr *sr = ctx->sr;

	if (sr && sr->fs.ops)
		srfs_close(&sr->fs);
	free(ctx->sr);
	ctx->sr = NULL;
}

static struct file_sr *FSR(struct sm_ctx *ctx)
{
	return ctx->sr;
}

/* An -errno from the SR's filesystem as a fault naming the file. */
static int fail_at(const struct file_sr *sr, struct sm_error *err, int code, int rc,
		   const char *what, const char *rel)
{
	char where[PATH_MAX];

	fsr_describe(sr, rel, where, sizeof(where));
	if (rc == -ETIMEDOUT)
		code = SME_SR_UNAVAILABLE;
	return sm_fail_errno(err, code, -rc, "%s%s%s", what, *what ? " " : "", where);
}

/* ---- garbage collection ------------------------------------------------ */

/*
 * Start csm-gc (installed beside this executable) detached: its own
 * session, stdio on /dev/null so the toolstack's pipe closes when we
 * exit, and no lock of ours (fcntl locks are not inherited).  It takes
 * its own lock, so kicking a running GC costs one failed try.
 * CSM_GC=off disables it (tests that need a still SR).
 */
void fsr_kick_gc(const struct file_sr *sr)
{
	const char *mode = getenv("CSM_GC");
	char exe[PATH_MAX], gc[PATH_MAX + 16], *slash;
	ssize_t n;
	pid_t pid;

	if ((mode && strcmp(mode, "off") == 0) || !sr->repair || (!sr->path[0] && !sr->gc_reach[0]))
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	snprintf(gc, sizeof(gc), "%s/csm-gc", exe);
	if (access(gc, X_OK) != 0) {
		sm_log(LOG_WARNING, "gc: %s not found; garbage stays until it runs", gc);
		return;
	}
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		setsid();
		if (fork() != 0)
			_exit(0);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		{
			const char *argv[16] = { "csm-gc", "--sr", sr->sr_uuid, "--quiet" };
			size_t na = 4;

			if (sr->gc_reach[0]) {
				for (size_t i = 0; i < 8 && sr->gc_reach[i]; i++)
					argv[na++] = sr->gc_reach[i];
			} else {
				argv[na++] = "--dir";
				argv[na++] = sr->path;
			}
			argv[na] = NULL;
			execv(gc, (char *const *)argv);
		}
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/*
 * csm-gc holds the SR directory and the images it copies open: while it
 * runs, an unmount fails "device is busy" (a coalesce copies for minutes)
 * and deleting the SR races it.  Ask it to stop first, as the Python SM's
 * detach does (cleanup.abort): the flag file of csm-gc --abort, then wait
 * until it lets go of gc_active.  The flag stays until fsr_gc_stop_end,
 * so a GC the previous call started that is only now starting stops too.
 */
void fsr_gc_stop_begin(const char *sr_uuid, char flag[PATH_MAX])
{
	fsr_gc_stop_begin_within(sr_uuid, flag, FSR_GC_STOP_TIMEOUT);
}

void fsr_gc_stop_begin_within(const char *sr_uuid, char flag[PATH_MAX], int timeout_s)
{
	struct sm_lock active = SM_LOCK_INIT;
	struct sm_error e = { 0 };
	int fd;

	snprintf(flag, PATH_MAX, "%s/%s", sm_lock_dir(), sr_uuid);
	sm_mkdir_p(flag, 0755);
	snprintf(flag, PATH_MAX, "%s/%s/gc.abort", sm_lock_dir(), sr_uuid);
	fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	if (lock_acquire(&active, sr_uuid, "gc_active", timeout_s, SME_SR_UNAVAILABLE, &e) < 0)
		sm_log(LOG_WARNING, "the GC of %s did not stop: %s", sr_uuid, e.detail);
	lock_release(&active);
}

void fsr_gc_stop_end(const char *flag)
{
	unlink(flag);
}

/* ---- chains ------------------------------------------------------------ */

/*
 * Open every link from uuid to the root and check that each parent is the
 * image its child was made from (footer uuid = child's parent uuid).  A
 * broken chain must fail at attach with a reason, not inside tapdisk.
 */
static int chain_check(const struct file_sr *sr, const char *uuid, int *depth,
		       struct sm_error *err, int code)
{
	char cur[37], path[PATH_MAX];
	struct vhd_info info, child;
	int n = 0;

	snprintf(cur, sizeof(cur), "%s", uuid);
	for (;;) {
		fsr_path(sr, cur, "vhd", path);
		if (fsr_vhd_query_fast(sr, path, &info, err) < 0) {
			sm_error_recode(err, code);
			return -1;
		}
		if (n > 0 && memcmp(info.uuid, child.parent_uuid, 16) != 0)
			return sm_fail(err, code, "%s: parent uuid does not match its child", path);
		if (++n > VHD_MAX_CHAIN * 4)
			return sm_fail(err, code, "%s: chain longer than %d links", path, VHD_MAX_CHAIN * 4);
		if (info.type != VHD_TYPE_DIFF)
			break;
		fsr_parent_uuid(&info, cur);
		if (!cur[0])
			return sm_fail(err, code, "%s: parent '%s' is not a VDI of this SR",
				       path, info.parent_name);
		child = info;
	}
	if (depth)
		*depth = n;
	return 0;
}

/* ---- SR operations ----------------------------------------------------- */

static int sr_sizes(const struct file_sr *sr, struct scan_sr *out, struct sm_error *err)
{
	int rc = fsr_fs(sr)->ops->statvfs(fsr_fs(sr), &out->physical_size,
					   &out->physical_utilisation);

	if (rc < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "statvfs %s", fsr_fs(sr)->root);
	return 0;
}

static int scan_fill_vdi(const struct file_sr *sr, const struct fsr_node *n, struct scan_vdi *v)
{
	struct vdi_meta m;
	int rc;

	memcpy(v->uuid, n->uuid, 37);
	snprintf(v->location, sizeof(v->location), "%s", n->uuid);
	v->size = n->info.virtual_size;
	v->utilisation = n->st.size;
	memcpy(v->parent, n->parent, 37);
	v->hidden = n->info.hidden;
	v->managed = !n->info.hidden;
	v->type = n->kind == VK_RAW ? "raw" : "vhd";
	v->locked = n->sidecars & FSR_HAS_LOCK;
	rc = (n->sidecars & FSR_HAS_META) ? fsr_meta_read(sr, n->uuid, &m) : -ENOENT;
	if (rc == 0) {
		v->label = m.label;
		v->description = m.description;
		v->read_only = m.read_only;
		m.label = m.description = NULL;
	} else if (rc != -ENOENT && !n->error[0]) {
		/* Not "no label": the toolstack must not take an empty one for the truth. */
		char why[256];

		snprintf(why, sizeof(why), "cannot read %s.meta: %s", n->uuid, strerror(-rc));
		sm_log(LOG_ERR, "scan: %s", why);
		v->error = strdup(why);
	}
	/* A parent must never be written again: its children depend on it. */
	if (n->nchildren > 0)
		v->read_only = true;
	if (n->info.hidden && !v->label) {
		v->label = strdup("base copy");
		v->read_only = true;
	}
	if (n->error[0]) {
		/*
		 * Still listed, so the toolstack does not forget a damaged VDI.
		 * Whether it is hidden is in the part we could not read: every
		 * VDI the toolstack knows has a metadata record and a base copy
		 * has none, so that says which it was.
		 */
		sm_log(LOG_ERR, "scan: %s: %s", n->uuid, n->error);
		v->error = strdup(n->error);
		v->hidden = !(n->sidecars & FSR_HAS_META);
		v->managed = !v->hidden;
	}
	return 0;
}

int fsr_sr_scan(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	struct scan_sr out = { .default_vdi_visibility = true };
	struct fsr_forest f;
	char *xml = NULL;
	int rc = -1;

	if (fsr_dir_check(sr, &ctx->err) < 0 || sr_sizes(sr, &out, &ctx->err) < 0)
		return -1;
	if (sr->repair)
		fsr_remove_leftovers(sr);
	if (fsr_forest_load(&f, sr, false, &ctx->err) < 0)
		return -1;
	snprintf(out.uuid, sizeof(out.uuid), "%s", sr->sr_uuid);
	for (size_t i = 0; i < f.count; i++) {
		const struct fsr_node *n = &f.nodes[i];
		struct scan_vdi *v;

		/* Hidden images no visible VDI needs are garbage; the GC removes them. */
		if (!n->live)
			continue;
		v = scan_add_vdi(&out);
		if (!v) {
			sm_fail(&ctx->err, SME_GENERIC, "out of memory");
			goto out;
		}
		scan_fill_vdi(sr, n, v);
		if (!v->hidden)
			out.virtual_allocation += v->size;
	}
	xml = scan_write_xml(&out);
	if (!xml || !(ctx->result = xr_string(xml))) {
		sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		goto out;
	}
	fsr_kick_gc(sr);
	rc = 0;
out:
	free(xml);
	scan_sr_free(&out);
	fsr_forest_free(&f);
	return rc;
}

int fsr_sr_update(struct sm_ctx *ctx)
{
	struct scan_sr out = { 0 };

	if (fsr_dir_check(FSR(ctx), &ctx->err) < 0)
		return -1;
	return sr_sizes(FSR(ctx), &out, &ctx->err);
}

int fsr_sr_content_type(struct sm_ctx *ctx)
{
	ctx->result = xr_string("<?xml version=\"1.0\" ?>\n<sr>\n\t<type>vhd</type>\n</sr>\n");
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

/* journal_fn: every record is dropped (0 = "repaired"). */
static int drop_record(void *arg, const char *op, const char *id, const char *text,
		       struct sm_error *err)
{
	sm_log(LOG_INFO, "sr_delete: dropping journal record %s-%s", op, id);
	return 0;
}

static int drop_active_record(void *arg, const char *name)
{
	const struct file_sr *sr = arg;
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/%s", FSR_ACTIVE_DIR, name);
	sm_log(LOG_INFO, "sr_delete: dropping stale activation record %s", name);
	fsr_unlink(sr, rel);
	return 0;
}

int fsr_sr_empty(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	char path[PATH_MAX];
	struct fsr_forest f;
	size_t visible = 0;

	if (fsr_forest_load(&f, sr, false, &ctx->err) < 0)
		return -1;
	for (size_t i = 0; i < f.count; i++)
		if (f.nodes[i].live)
			visible++;
	if (visible > 0) {
		fsr_forest_free(&f);
		return sm_fail(&ctx->err, SME_SR_NOT_EMPTY, "%zu VDIs remain in %s",
			       visible, fsr_fs(sr)->root);
	}
	for (size_t i = 0; i < f.count; i++) {
		fsr_path(sr, f.nodes[i].uuid, fsr_ext(f.nodes[i].kind), path);
		fsr_unlink(sr, path);
		fsr_unlink_sidecars(sr, f.nodes[i].uuid);
	}
	fsr_forest_free(&f);
	/* Our temporary files (journals were replayed first: none is needed). */
	fsr_remove_leftovers(sr);
	/*
	 * A GC stopped in the middle of a coalesce leaves its record for its
	 * next run; the driver's own were replayed before this call, and the
	 * images are gone: drop what is left, so the SR directory can go.
	 */
	if (journal_replay(fsr_fs(sr), drop_record, NULL, &ctx->err) < 0)
		return -1;
	fsr_fs(sr)->ops->rmdir(fsr_fs(sr), JOURNAL_DIR);
	/* Activation records of VDIs that are gone say nothing any more. */
	fsr_fs(sr)->ops->list(fsr_fs(sr), FSR_ACTIVE_DIR, drop_active_record, sr);
	fsr_fs(sr)->ops->rmdir(fsr_fs(sr), FSR_ACTIVE_DIR);
	return 0;
}

/* ---- vdi_create -------------------------------------------------------- */

struct create_args {
	uint64_t size;
	const char *label;
	const char *description;
	bool is_a_snapshot;
	const char *snapshot_time;
	const char *snapshot_of;
	bool read_only;
};

static int parse_create_args(const struct sm_call *c, struct create_args *a,
			     struct sm_error *err)
{
	const char *size, *snap, *ro, *mop;

	if (call_nargs(c) != 8)
		return sm_fail(err, SME_BAD_REQUEST,
			       "vdi_create takes 8 arguments (size, name_label, name_description, "
			       "metadata_of_pool, is_a_snapshot, snapshot_time, snapshot_of, "
			       "read_only); got %zu", call_nargs(c));
	call_arg(c, 0, &size, err);
	call_arg(c, 1, &a->label, err);
	call_arg(c, 2, &a->description, err);
	call_arg(c, 3, &mop, err);
	call_arg(c, 4, &snap, err);
	call_arg(c, 5, &a->snapshot_time, err);
	call_arg(c, 6, &a->snapshot_of, err);
	call_arg(c, 7, &ro, err);
	if (sm_parse_u64(size, &a->size) < 0)
		return sm_fail(err, SME_VDI_SIZE, "size '%.40s' is not a decimal number of bytes", size);
	if (sm_parse_bool(snap, &a->is_a_snapshot) < 0 || sm_parse_bool(ro, &a->read_only) < 0)
		return sm_fail(err, SME_BAD_REQUEST, "is_a_snapshot and read_only must be true or false");
	if (sm_has_illegal_xml_char(a->label) || sm_has_illegal_xml_char(a->description))
		return sm_fail(err, SME_ILLEGAL_XML_CHAR, "control characters in the label or description");
	if (a->snapshot_of[0] && !sm_uuid_valid(a->snapshot_of))
		return sm_fail(err, SME_BAD_REQUEST, "snapshot_of is not a UUID");
	if (!c->vdi_type)
		return sm_fail(err, SME_BAD_REQUEST, "vdi_create needs vdi_type");
	return 0;
}

/*
 * A raw VDI is one sparse file: no format limit, but the file system's.
 * 16 TiB less one 4 KiB block is the largest file ext4 holds with its
 * usual block size (EXTSR's file system, and the common one under a
 * FileSR), 8 times VHD's 2040 GiB; a file system that holds less answers
 * EFBIG, which is VDISize too.  The bound also keeps the rounding to
 * whole sectors from wrapping.
 */
#define FSR_RAW_MAX_SIZE ((16ull << 40) - 4096)

static int raw_validate_size(uint64_t requested, uint64_t *rounded, struct sm_error *err)
{
	if (requested > FSR_RAW_MAX_SIZE)
		return sm_fail(err, SME_VDI_SIZE, "size %" PRIu64 " exceeds the raw VDI maximum %llu",
			       requested, FSR_RAW_MAX_SIZE);
	*rounded = (requested + 511) / 512 * 512;
	return 0;
}

/* "vhd" (default) or "raw", from vdi_sm_config type. */
static int requested_kind(const struct sm_call *c, enum fsr_kind *kind, struct sm_error *err)
{
	const char *t = xr_struct_get_string(c->vdi_sm_config, "type");

	*kind = VK_VHD;
	if (!t || strcmp(t, "vhd") == 0)
		return 0;
	if (strcmp(t, "raw") == 0) {
		*kind = VK_RAW;
		return 0;
	}
	return sm_fail(err, SME_VDI_TYPE, "vdi_sm_config type '%.32s' is neither vhd nor raw", t);
}

/* Build the image under a temporary name, then link it into place. */
static int create_image(const struct file_sr *sr, const char *uuid, enum fsr_kind kind,
			uint64_t size, struct sm_error *err)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	struct vhd_io io = { 0 };
	int rc = -1;

	snprintf(tmp, sizeof(tmp), ".%s.%s.tmp", uuid, fsr_ext(kind));
	fsr_path(sr, uuid, fsr_ext(kind), path);
	fsr_unlink(sr, tmp);   /* a leftover of a killed create */
	if (fsr_open(sr, tmp, VHD_IO_RDWR | VHD_IO_CREATE, &io, err) < 0) {
		sm_error_recode(err, SME_VDI_CREATE);
		return -1;
	}
	if (kind == VK_RAW) {
		rc = io.ops->truncate ? io.ops->truncate(&io, size) : -ENOTSUP;
		if (rc < 0) {
			fail_at(sr, err, rc == -EFBIG ? SME_VDI_SIZE : SME_VDI_CREATE, rc, "cannot size", tmp);
			rc = -1;
			goto out;
		}
	} else if (vhd_create_dynamic(&io, size, err) < 0) {
		sm_error_recode(err, SME_VDI_CREATE);
		rc = -1;
		goto out;
	}
	rc = io.ops->sync(&io);
	if (rc < 0) {
		fail_at(sr, err, SME_VDI_CREATE, rc, "cannot sync", tmp);
		rc = -1;
		goto out;
	}
	/* link() fails on an existing name, so a racing create cannot be clobbered. */
	rc = fsr_fs(sr)->ops->link(fsr_fs(sr), tmp, path);
	if (rc < 0) {
		fail_at(sr, err, rc == -EEXIST ? SME_VDI_EXISTS : SME_VDI_CREATE, rc, "", path);
		rc = -1;
		goto out;
	}
out:
	vhd_io_close(&io);
	fsr_unlink(sr, tmp);
	return rc;
}

/* An unfinished create leaves nothing: the caller never learnt the VDI. */
static void create_undo(const struct file_sr *sr, const char *uuid)
{
	char path[PATH_MAX];

	fsr_path(sr, uuid, "vhd", path);
	fsr_unlink(sr, path);
	fsr_path(sr, uuid, "raw", path);
	fsr_unlink(sr, path);
	snprintf(path, sizeof(path), ".%s.vhd.tmp", uuid);
	fsr_unlink(sr, path);
	snprintf(path, sizeof(path), ".%s.raw.tmp", uuid);
	fsr_unlink(sr, path);
	fsr_unlink_sidecars(sr, uuid);
	fsr_sync_dir(sr);
}

static struct xr_value *vdi_info_result(const char *uuid)
{
	struct xr_value *r = xr_struct();

	if (r && (xr_struct_set_string(r, "location", uuid) < 0 ||
		  xr_struct_set_string(r, "uuid", uuid) < 0)) {
		xr_free(r);
		return NULL;
	}
	return r;
}

static int set_result_vdi(struct sm_ctx *ctx, const char *uuid)
{
	ctx->result = vdi_info_result(uuid);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

int fsr_vdi_create(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	const struct sm_call *c = ctx->call;
	const char *uuid = call_vdi_uuid(c);
	struct create_args a;
	struct vdi_meta m = { 0 };
	enum fsr_kind kind, found;
	char jtext[128];
	uint64_t size;
	int rc;

	if (parse_create_args(c, &a, &ctx->err) < 0 || requested_kind(c, &kind, &ctx->err) < 0)
		return -1;
	if (kind == VK_VHD) {
		if (vhd_validate_size(a.size, &size, &ctx->err) < 0)
			return -1;
	} else if (raw_validate_size(a.size, &size, &ctx->err) < 0) {
		return -1;
	}
	if (fsr_dir_check(sr, &ctx->err) < 0 ||
	    fsr_find(sr, uuid, &found, SME_VDI_CREATE, &ctx->err) < 0)
		return -1;
	if (found != VK_NONE)
		return sm_fail(&ctx->err, SME_VDI_EXISTS, "%s", uuid);
	snprintf(jtext, sizeof(jtext), "vdi=%s\next=%s\n", uuid, fsr_ext(kind));
	if (journal_begin(fsr_fs(sr), "create", uuid, jtext, &ctx->err) < 0) {
		sm_error_recode(&ctx->err, SME_VDI_CREATE);
		return -1;
	}
	sm_fault_point("create:journal");
	if (create_image(sr, uuid, kind, size, &ctx->err) < 0) {
		journal_end(fsr_fs(sr), "create", uuid, NULL);
		return -1;
	}
	sm_fault_point("create:image");
	m.label = (char *)a.label;
	m.description = (char *)a.description;
	snprintf(m.vdi_type, sizeof(m.vdi_type), "%s", c->vdi_type);
	m.read_only = a.read_only;
	m.is_a_snapshot = a.is_a_snapshot;
	snprintf(m.snapshot_of, sizeof(m.snapshot_of), "%s", a.snapshot_of);
	snprintf(m.snapshot_time, sizeof(m.snapshot_time), "%s", a.snapshot_time);
	rc = fsr_meta_write(sr, uuid, &m, &ctx->err, SME_VDI_CREATE);
	if (rc == 0)
		sm_fault_point("create:meta");
	if (rc < 0 || journal_end(fsr_fs(sr), "create", uuid, &ctx->err) < 0) {
		sm_error_recode(&ctx->err, SME_VDI_CREATE);
		create_undo(sr, uuid);
		journal_end(fsr_fs(sr), "create", uuid, NULL);
		return -1;
	}
	sm_log(LOG_INFO, "vdi_create: %s/%s.%s, %" PRIu64 " bytes", fsr_fs(sr)->root, uuid,
	       fsr_ext(kind), size);
	return set_result_vdi(ctx, uuid);
}

/* ---- delete, attach, activate ------------------------------------------ */

/*
 * How many images hang directly below uuid.  An image whose header
 * cannot be read could be one of them: then the count is not known, and
 * nothing that needs it (delete, resize) may go ahead.
 */
static int vdi_children(const struct file_sr *sr, const char *uuid, int *n, int code,
			struct sm_error *err)
{
	struct fsr_forest f;
	struct fsr_node *me;
	int rc = 0;

	if (fsr_forest_load(&f, sr, false, err) < 0)
		return -1;
	me = fsr_forest_find(&f, uuid);
	*n = me ? me->nchildren : 0;
	if (f.unknown_parents)
		rc = sm_fail(err, code, "cannot tell what depends on %s: %s is unreadable (%s)",
			     uuid, f.first_unknown->uuid, f.first_unknown->error);
	fsr_forest_free(&f);
	return rc;
}

/* Refuse to delete what someone holds: a vdi_lock, or an activation on any host. */
static int vdi_check_unused(const struct file_sr *sr, const char *uuid, struct sm_error *err)
{
	char holder[128];
	int rc = fsr_is_locked(sr, uuid);

	if (rc < 0)
		return sm_fail_errno(err, SME_VDI_DELETE, -rc, "cannot tell whether %s holds a vdi_lock", uuid);
	if (rc)
		return sm_fail(err, SME_VDI_IN_USE, "%s holds a vdi_lock", uuid);
	rc = fsr_active_lookup(sr, uuid, holder);
	if (rc < 0)
		return sm_fail_errno(err, SME_VDI_DELETE, -rc, "cannot tell whether %s is activated", uuid);
	if (rc)
		return sm_fail(err, SME_VDI_IN_USE, "%s is activated on host %s", uuid, holder);
	return 0;
}

int fsr_vdi_delete(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	const char *uuid = ctx->call->vdi_uuid;
	enum fsr_kind kind;
	char path[PATH_MAX];
	int children, rc;

	if (fsr_dir_check(sr, &ctx->err) < 0 ||
	    fsr_find(sr, uuid, &kind, SME_VDI_DELETE, &ctx->err) < 0)
		return -1;
	if (kind == VK_NONE) {
		/* Idempotent: a repeated delete succeeds, and tidies what is left. */
		fsr_unlink_sidecars(sr, uuid);
		return 0;
	}
	if (vdi_check_unused(sr, uuid, &ctx->err) < 0)
		return -1;
	if (kind == VK_VHD && vdi_children(sr, uuid, &children, SME_VDI_DELETE, &ctx->err) < 0)
		return -1;
	if (kind == VK_VHD && children > 0)
		return sm_fail(&ctx->err, SME_VDI_DELETE,
			       "%s is the parent of %d other image%s; it goes when they do",
			       uuid, children, children == 1 ? "" : "s");
	fsr_path(sr, uuid, fsr_ext(kind), path);
	rc = fsr_unlink(sr, path);
	if (rc < 0 && rc != -ENOENT)
		return fail_at(sr, &ctx->err, SME_VDI_DELETE, rc, "", path);
	fsr_unlink_sidecars(sr, uuid);
	fsr_sync_dir(sr);
	lock_cleanup_namespace(uuid);
	sm_log(LOG_INFO, "vdi_delete: removed %s", path);
	fsr_kick_gc(sr);
	return 0;
}

static int parse_writable(const struct sm_call *c, bool *rw, struct sm_error *err)
{
	const char *a;

	if (call_arg(c, 0, &a, err) < 0)
		return -1;
	if (sm_parse_bool(a, rw) < 0)
		return sm_fail(err, SME_BAD_REQUEST, "%s: argument must be true or false", c->method);
	return 0;
}

/* The VDI can be opened the way it is asked for: exists, chain intact. */
static int vdi_usable(const struct file_sr *sr, const char *uuid, bool writable,
		      enum fsr_kind *kind_out, struct sm_error *err)
{
	enum fsr_kind kind;
	struct vhd_info info;
	char path[PATH_MAX];

	if (fsr_find(sr, uuid, &kind, SME_VDI_UNAVAILABLE, err) < 0)
		return -1;
	if (kind == VK_NONE)
		return sm_fail(err, SME_VDI_UNAVAILABLE, "VDI %s is not in SR %s", uuid, sr->sr_uuid);
	if (kind_out)
		*kind_out = kind;
	if (kind == VK_RAW)
		return 0;
	if (chain_check(sr, uuid, NULL, err, SME_VDI_UNAVAILABLE) < 0)
		return -1;
	fsr_path(sr, uuid, "vhd", path);
	if (fsr_vhd_query_fast(sr, path, &info, err) < 0)
		return -1;
	if (writable && info.hidden)
		return sm_fail(err, SME_VDI_UNAVAILABLE,
			       "%s is a hidden base copy and cannot be written", uuid);
	return 0;
}

static int put_scsi_pages(struct xr_value *xs, const char *uuid)
{
	unsigned char p80[4 + 16 + 2], p83[8 + 8 + 36 + 1];
	char *b80, *b83;
	int rc;

	/* The SCSI inquiry pages blktap2 gives the guest (scsiutil.py). */
	memcpy(p80, "\x00\x80\x00\x12", 4);
	memcpy(p80 + 4, uuid, 16);
	memcpy(p80 + 20, "  ", 2);
	memcpy(p83, "\x00\x83\x00\x31\x02\x01\x00\x2d", 8);
	memcpy(p83 + 8, "XENSRC  ", 8);
	memcpy(p83 + 16, uuid, 36);
	p83[52] = ' ';
	b80 = sm_base64(p80, sizeof(p80));
	b83 = sm_base64(p83, sizeof(p83));
	rc = (!b80 || !b83 || xr_struct_set_string(xs, "scsi/0x12/0x80", b80) < 0 ||
	      xr_struct_set_string(xs, "scsi/0x12/0x83", b83) < 0) ? -1 : 0;
	free(b80);
	free(b83);
	return rc;
}

static struct xr_value *attach_result(const struct file_sr *sr, const char *uuid,
				      enum fsr_kind kind)
{
	struct xr_value *r = xr_struct(), *xs = xr_struct();
	char params[PATH_MAX + 64], nbd[512];

	snprintf(params, sizeof(params), "%s/%s/%s.%s", sm_mount_base(), sr->sr_uuid, uuid,
		 fsr_ext(kind));
	snprintf(nbd, sizeof(nbd), "nbd:unix:/run/blktap-control/nbd/%s/%s:exportname=%s",
		 sr->sr_uuid, uuid, uuid);
	if (!r || !xs || xr_struct_set_string(xs, "storage-type", sr->storage_type) < 0 ||
	    xr_struct_set_string(xs, "vdi-type", kind == VK_RAW ? "aio" : "vhd") < 0 ||
	    xr_struct_set_string(xs, "vdi-uuid", uuid) < 0 || put_scsi_pages(xs, uuid) < 0)
		goto fail;
	if (xr_struct_set_string(r, "params", params) < 0 ||
	    xr_struct_set_string(r, "params_nbd", nbd) < 0 ||
	    xr_struct_set(r, "o_direct", xr_bool(sr->o_direct)) < 0 ||
	    xr_struct_set_string(r, "o_direct_reason", sr->o_direct_reason ? sr->o_direct_reason : "") < 0)
		goto fail;
	if (xr_struct_set(r, "xenstore_data", xs) < 0) {
		xs = NULL;
		goto fail;
	}
	return r;
fail:
	xr_free(xs);
	xr_free(r);
	return NULL;
}

static int do_attach(struct sm_ctx *ctx, bool writable)
{
	struct file_sr *sr = FSR(ctx);
	const char *uuid = ctx->call->vdi_uuid;
	enum fsr_kind kind;

	if (vdi_usable(sr, uuid, writable, &kind, &ctx->err) < 0)
		return -1;
	ctx->result = attach_result(sr, uuid, kind);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

int fsr_vdi_attach(struct sm_ctx *ctx)
{
	bool rw;

	if (parse_writable(ctx->call, &rw, &ctx->err) < 0)
		return -1;
	return do_attach(ctx, rw);
}

int fsr_vdi_attach_from_config(struct sm_ctx *ctx)
{
	return do_attach(ctx, true);
}

/* Nothing to undo for a file: idempotent, as the API requires. */
int fsr_vdi_detach(struct sm_ctx *ctx)
{
	return 0;
}

int fsr_vdi_detach_from_config(struct sm_ctx *ctx)
{
	return 0;
}

/*
 * A leaf-coalesce record nobody works on any more (its GC died) is
 * finished or undone here, on the master: the GC holds the SR lock for
 * the whole of a leaf-coalesce, so getting the lock proves it dead.
 * 1: recovered, 0: the lock is busy (a live GC), -1: recovery failed.
 */
static int recover_if_unowned(struct sm_ctx *ctx)
{
	struct sm_lock lk = SM_LOCK_INIT;
	struct sm_error busy = { 0 };
	int rc;

	if (lock_acquire(&lk, ctx->call->sr_uuid, "sr", 0, SME_SR_UNAVAILABLE, &busy) < 0)
		return 0;
	rc = ctx->drv->recover ? ctx->drv->recover(ctx) : fsr_recover(ctx);
	lock_release(&lk);
	return rc < 0 ? -1 : 1;
}

/*
 * Our activation record is durable: a GC that starts merging this leaf
 * from now on sees it and leaves the leaf alone.  One that started
 * before (its record leaf-<vdi> exists) either sees ours before it
 * commits and backs off, or commits first: wait until it is done either
 * way, so the image we hand out is the one that stays.
 */
static int wait_for_leaf_coalesce(struct sm_ctx *ctx, const char *uuid)
{
	struct file_sr *sr = FSR(ctx);
	int64_t until = sm_monotonic_ms() + FSR_ACTIVATE_GC_WAIT * 1000;

	for (;;) {
		int rc = journal_lookup(fsr_fs(sr), "leaf", uuid);

		if (rc == 0)
			return 0;
		if (rc < 0)
			return sm_fail_errno(&ctx->err, rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE :
					     SME_VDI_UNAVAILABLE, -rc,
					     "cannot tell whether the GC is merging %s", uuid);
		if (sr->repair && (rc = recover_if_unowned(ctx)) != 0) {
			if (rc < 0)
				return -1;
			continue;
		}
		if (sm_monotonic_ms() > until)
			return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE,
				       "the GC has been merging %s into its parent for %d s (or died "
				       "doing so: the master's next sr_scan recovers it); try again",
				       uuid, FSR_ACTIVATE_GC_WAIT);
		usleep(100 * 1000);
	}
}

int fsr_vdi_activate(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	const char *uuid = ctx->call->vdi_uuid;
	enum fsr_kind kind;
	bool rw;

	if (parse_writable(ctx->call, &rw, &ctx->err) < 0 ||
	    fsr_find(sr, uuid, &kind, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		return -1;
	if (kind == VK_NONE)
		return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "VDI %s is not in SR %s", uuid, sr->sr_uuid);
	if (fsr_active_set(sr, uuid, rw, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		return -1;
	sm_fault_point("activate:recorded");
	/* Checked once no merge can change the image any more. */
	if (wait_for_leaf_coalesce(ctx, uuid) < 0 || vdi_usable(sr, uuid, rw, NULL, &ctx->err) < 0) {
		fsr_active_clear(sr, uuid);
		return -1;
	}
	return 0;
}

/*
 * A VM must always be able to shut down: a record we cannot remove (a
 * lost server) only keeps the GC off this leaf and vdi_delete refusing
 * it, which is safe; it goes with the next deactivation here.
 */
int fsr_vdi_deactivate(struct sm_ctx *ctx)
{
	int rc = fsr_active_clear(FSR(ctx), ctx->call->vdi_uuid);

	if (rc < 0)
		sm_log(LOG_WARNING, "vdi_deactivate: cannot remove the activation record of %s on "
		       "host %s (%s); the GC leaves this VDI alone until it is gone",
		       ctx->call->vdi_uuid, fsr_host_id(), strerror(-rc));
	return 0;
}

/* ---- snapshot and clone ------------------------------------------------- */

/* Create <dir>/<name> as an empty child of <dir>/<parent_uuid>.vhd. */
static int make_child(const struct file_sr *sr, const char *child_path,
		      const char *parent_uuid, uint64_t size, struct sm_error *err)
{
	char parent_path[PATH_MAX], rel[64];
	struct vhd_io parent = { 0 }, child = { 0 };
	int rc = -1;

	fsr_path(sr, parent_uuid, "vhd", parent_path);
	snprintf(rel, sizeof(rel), "./%s.vhd", parent_uuid);
	if (fsr_open(sr, parent_path, VHD_IO_RDONLY, &parent, err) < 0)
		return -1;
	if (fsr_open(sr, child_path, VHD_IO_RDWR | VHD_IO_CREATE, &child, err) < 0)
		goto out;
	if (vhd_create_diff(&child, &parent, rel, size, err) == 0) {
		rc = child.ops->sync(&child);
		if (rc < 0)
			fail_at(sr, err, SME_VDI_SNAPSHOT, rc, "cannot sync", child_path);
	}
	if (rc < 0) {
		rc = -1;
		vhd_io_close(&child);
		fsr_unlink(sr, child_path);
	}
out:
	vhd_io_close(&child);
	vhd_io_close(&parent);
	return rc;
}

struct snap {
	const char *src;         /* the VDI being snapshotted: stays the writable leaf */
	char base[37];           /* new hidden base copy (the old data) */
	char clone[37];          /* new leaf returned to the caller ("" for single) */
	struct vhd_info info;
	struct vdi_meta meta;    /* of src */
	/*
	 * src is an empty child of its parent (nothing written since the
	 * last snapshot): hang the new leaves off that parent instead of
	 * adding an empty link, as td-util does, so chains stay short.
	 */
	bool reuse_parent;
	char parent[37];         /* the parent of the new leaves */
};

static int snap_check_reuse(const struct file_sr *sr, struct snap *s)
{
	struct vhd_info pinfo;
	char parent[37], path[PATH_MAX];

	fsr_parent_uuid(&s->info, parent);
	fsr_path(sr, parent, "vhd", path);
	if (!parent[0] || fsr_vhd_query_fast(sr, path, &pinfo, NULL) < 0 ||
	    pinfo.virtual_size != s->info.virtual_size)
		return 0;
	s->reuse_parent = true;
	memcpy(s->parent, parent, sizeof(s->parent));
	s->base[0] = '\0';
	return 0;
}

static int snap_prepare(const struct file_sr *sr, struct snap *s, int code, struct sm_error *err)
{
	char path[PATH_MAX];
	enum fsr_kind kind;
	int depth, rc;

	if (fsr_find(sr, s->src, &kind, code, err) < 0)
		return -1;
	if (kind == VK_NONE)
		return sm_fail(err, SME_VDI_MISSING, "VDI %s is not in SR %s", s->src, sr->sr_uuid);
	if (kind == VK_RAW)
		return sm_fail(err, SME_UNIMPLEMENTED, "raw VDIs cannot be snapshotted");
	fsr_path(sr, s->src, "vhd", path);
	/*
	 * The footer and header say all a snapshot needs, except for a
	 * differencing leaf whether anything was written to it (the BAT):
	 * a 2 TiB VDI's BAT is 4 MiB, read only when it can matter.
	 */
	if ((fsr_vhd_query_fast(sr, path, &s->info, err) < 0) ||
	    (s->info.type == VHD_TYPE_DIFF && fsr_vhd_query(sr, path, &s->info, err) < 0)) {
		sm_error_recode(err, code);
		return -1;
	}
	if (s->info.hidden)
		return sm_fail(err, code, "%s is a hidden base copy", s->src);
	if (chain_check(sr, s->src, &depth, err, code) < 0)
		return -1;
	if (depth >= VHD_MAX_CHAIN)
		return sm_fail(err, SME_SNAPSHOT_CHAIN_TOO_LONG,
			       "%s is %d links deep (limit %d)", s->src, depth, VHD_MAX_CHAIN);
	rc = fsr_is_locked(sr, s->src);
	if (rc < 0)
		return sm_fail_errno(err, code, -rc, "cannot tell whether %s holds a vdi_lock", s->src);
	if (rc)
		return sm_fail(err, SME_VDI_IN_USE, "%s holds a vdi_lock", s->src);
	/* The new VDI inherits the label: one we cannot read is not "no label". */
	rc = fsr_meta_read(sr, s->src, &s->meta);
	if (rc < 0 && rc != -ENOENT)
		return sm_fail_errno(err, code, -rc, "cannot read the metadata of %s", s->src);
	sm_uuid_generate(s->base);
	memcpy(s->parent, s->base, sizeof(s->parent));
	if (s->info.type == VHD_TYPE_DIFF && s->info.allocated_blocks == 0)
		return snap_check_reuse(sr, s);
	return 0;
}

/* Undo a failed snapshot so the original is untouched (not for crashes). */
static void snap_rollback(const struct file_sr *sr, const struct snap *s)
{
	char src[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX];
	struct srfs_stat st_src, st_base;

	fsr_path(sr, s->src, "vhd", src);
	fsr_path(sr, s->src, "vhd.new", tmp);
	fsr_unlink(sr, tmp);
	if (s->clone[0]) {
		char clone[PATH_MAX];

		fsr_path(sr, s->clone, "vhd", clone);
		fsr_unlink(sr, clone);
		fsr_unlink_sidecars(sr, s->clone);
	}
	if (!s->base[0])
		return;
	fsr_path(sr, s->base, "vhd", base);
	if (fsr_stat(sr, base, &st_base) < 0)
		return;
	if (fsr_stat(sr, src, &st_src) == 0 && st_src.ino == st_base.ino) {
		fsr_unlink(sr, base);  /* still a second name of the original */
	} else {
		fsr_vhd_set_hidden(sr, base, false, NULL);
		/* the original data back under its name */
		fsr_fs(sr)->ops->rename(fsr_fs(sr), base, src);
	}
	fsr_unlink_sidecars(sr, s->base);
}

/*
 * Only the new leaf gets a metadata record: a base copy's ("base copy",
 * read-only) follows from its being hidden, so making one would be a
 * file creation and a sync more per snapshot for nothing.
 */
static int snap_write_meta(const struct file_sr *sr, const struct sm_call *c, struct snap *s,
			   bool is_snapshot, struct sm_error *err, int code)
{
	struct vdi_meta m = s->meta;

	if (!s->clone[0])
		return 0;
	m.read_only = false;
	m.is_a_snapshot = is_snapshot;
	if (is_snapshot)
		snprintf(m.snapshot_of, sizeof(m.snapshot_of), "%s", c->vdi_uuid);
	return fsr_meta_write(sr, s->clone, &m, err, code);
}

/*
 * The Python FileSR's steps: hard-link the leaf to the base name, make an
 * empty child under a temporary name and rename it over the leaf (the
 * leaf's name never points at a half-made file), make the second child,
 * then hide the base once its children exist.
 */
static int snap_do(const struct file_sr *sr, struct snap *s, int code, struct sm_error *err)
{
	char src[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX], clone[PATH_MAX];
	int rc;

	fsr_path(sr, s->src, "vhd", src);
	fsr_path(sr, s->src, "vhd.new", tmp);
	if (s->base[0]) {
		fsr_path(sr, s->base, "vhd", base);
		rc = fsr_fs(sr)->ops->link(fsr_fs(sr), src, base);
		if (rc < 0)
			return fail_at(sr, err, code, rc, "cannot link to", base);
		sm_fault_point("snapshot:link");
	}
	fsr_unlink(sr, tmp);
	if (make_child(sr, tmp, s->parent, s->info.virtual_size, err) < 0)
		return -1;
	sm_fault_point("snapshot:child");
	rc = fsr_fs(sr)->ops->rename(fsr_fs(sr), tmp, src);
	if (rc < 0)
		return fail_at(sr, err, code, rc, "cannot rename", tmp);
	sm_fault_point("snapshot:rename");
	if (s->clone[0]) {
		fsr_path(sr, s->clone, "vhd", clone);
		if (make_child(sr, clone, s->parent, s->info.virtual_size, err) < 0)
			return -1;
		sm_fault_point("snapshot:clone");
	}
	if (s->base[0] && fsr_vhd_set_hidden(sr, base, true, err) < 0)
		return -1;
	sm_fault_point("snapshot:hide");
	rc = fsr_sync_dir(sr);
	return rc < 0 ? fail_at(sr, err, code, rc, "cannot sync", "") : 0;
}

static void snap_journal_text(const struct snap *s, char *out, size_t cap)
{
	snprintf(out, cap, "src=%s\nbase=%s\nclone=%s\n", s->src, s->base, s->clone);
}

/* driver_params type=single|internal: one leaf, the base is the result. */
static bool snapshot_is_single(const struct sm_call *c)
{
	const char *t = xr_struct_get_string(c->driver_params, "type");

	return t && (strcmp(t, "single") == 0 || strcmp(t, "internal") == 0);
}

static int snapshot_common(struct sm_ctx *ctx, bool is_snapshot, int code)
{
	struct file_sr *sr = FSR(ctx);
	const struct sm_call *c = ctx->call;
	struct snap s = { .src = c->vdi_uuid };
	bool single = is_snapshot && snapshot_is_single(c);
	char jtext[256];
	int rc = -1;

	if (!c->driver_params)
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "%s needs driver_params", c->method);
	if (fsr_dir_check(sr, &ctx->err) < 0 || snap_prepare(sr, &s, code, &ctx->err) < 0)
		goto out;
	if (single && s.reuse_parent) {
		/* A single snapshot must return a base copy: make one after all. */
		s.reuse_parent = false;
		sm_uuid_generate(s.base);
		memcpy(s.parent, s.base, sizeof(s.parent));
	}
	if (!single)
		sm_uuid_generate(s.clone);
	snap_journal_text(&s, jtext, sizeof(jtext));
	if (journal_begin(fsr_fs(sr), "snapshot", s.src, jtext, &ctx->err) < 0) {
		sm_error_recode(&ctx->err, code);
		goto out;
	}
	sm_fault_point("snapshot:journal");
	if (snap_do(sr, &s, code, &ctx->err) < 0 ||
	    snap_write_meta(sr, c, &s, is_snapshot, &ctx->err, code) < 0)
		goto undo;
	sm_fault_point("snapshot:meta");
	if (journal_end(fsr_fs(sr), "snapshot", s.src, &ctx->err) < 0)
		goto undo;
	sm_log(LOG_INFO, "%s: %s now a child of %s; new VDI %s", c->method, s.src, s.parent,
	       single ? s.base : s.clone);
	rc = set_result_vdi(ctx, single ? s.base : s.clone);
	goto out;
undo:
	/* Whichever step failed, the caller asked for a snapshot (or clone). */
	sm_error_recode(&ctx->err, code);
	snap_rollback(sr, &s);
	journal_end(fsr_fs(sr), "snapshot", s.src, NULL);
out:
	vdimeta_free(&s.meta);
	return rc;
}

int fsr_vdi_snapshot(struct sm_ctx *ctx)
{
	return snapshot_common(ctx, true, SME_VDI_SNAPSHOT);
}

int fsr_vdi_clone(struct sm_ctx *ctx)
{
	return snapshot_common(ctx, false, SME_VDI_CLONE);
}

/* Where a grow keeps the bytes it will overwrite, until it is done. */
static void undo_path(const struct file_sr *sr, const char *uuid, char out[PATH_MAX])
{
	(void)sr;
	snprintf(out, PATH_MAX, ".%s.vhd.undo", uuid);
}

/* ---- recovery ------------------------------------------------------------ */

static int recover_snapshot(const struct file_sr *sr, const char *id, const char *text,
			    struct sm_error *err)
{
	struct snap s = { .src = id };

	journal_get(text, "base", s.base, sizeof(s.base));
	journal_get(text, "clone", s.clone, sizeof(s.clone));
	if ((s.base[0] && !sm_uuid_valid(s.base)) || (s.clone[0] && !sm_uuid_valid(s.clone)))
		return sm_fail(err, SME_SR_UNAVAILABLE, "snapshot journal of %s is damaged", id);
	/*
	 * The caller never got an answer, so the whole snapshot is undone:
	 * the original's data is back under its own name and nothing new
	 * is left.  Every step of the undo is safe to repeat.
	 */
	snap_rollback(sr, &s);
	fsr_sync_dir(sr);
	sm_log(LOG_WARNING, "recovery: rolled back the interrupted snapshot of %s", id);
	return 0;
}

/*
 * An interrupted grow is undone from its undo record: the image is then
 * byte for byte as before.  Without a record, either nothing was touched
 * yet or the grow had finished (the record is emptied, then removed).
 */
static int recover_resize(const struct file_sr *sr, const char *id, const char *text,
			  struct sm_error *err)
{
	struct vhd_io io = { 0 }, undo = { 0 };
	char path[PATH_MAX], upath[PATH_MAX];
	int rc = -1;

	int have_undo, have_image;

	fsr_path(sr, id, "vhd", path);
	undo_path(sr, id, upath);
	have_undo = fsr_lookup(sr, upath);
	have_image = have_undo == 1 ? fsr_lookup(sr, path) : 1;
	/* The undo record is all that can put the image back: never drop it on a guess. */
	if (have_undo < 0 || have_image < 0)
		return fail_at(sr, err, SME_SR_UNAVAILABLE, have_undo < 0 ? have_undo : have_image,
			       "resize recovery: cannot look at", have_undo < 0 ? upath : path);
	if (!have_undo || !have_image) {
		fsr_unlink(sr, upath);
		return 0;
	}
	if (fsr_open(sr, path, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	if (fsr_open(sr, upath, VHD_IO_RDWR, &undo, err) < 0)
		goto out;
	rc = vhd_grow_undo(&io, &undo, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = fail_at(sr, err, SME_VDI_RESIZE, rc, "cannot sync", path);
out:
	vhd_io_close(&undo);
	vhd_io_close(&io);
	if (rc == 0) {
		fsr_unlink(sr, upath);
		sm_log(LOG_WARNING, "recovery: rolled back the interrupted resize of %s", id);
	}
	return rc;
}

static int recover_one(void *arg, const char *op, const char *id, const char *text,
		       struct sm_error *err)
{
	const struct file_sr *sr = arg;

	if (!sm_uuid_valid(id))
		return sm_fail(err, SME_SR_UNAVAILABLE, "journal record %s-%s is damaged", op, id);
	if (strcmp(op, "snapshot") == 0)
		return recover_snapshot(sr, id, text, err);
	if (strcmp(op, "resize") == 0)
		return recover_resize(sr, id, text, err);
	/* A non-leaf coalesce copies without the SR lock: the GC may be alive; its record. */
	if (strcmp(op, "coalesce") == 0)
		return 1;
	if (strcmp(op, "leaf") == 0) {
		char parent[37];

		journal_get(text, "parent", parent, sizeof(parent));
		if (!sm_uuid_valid(parent))
			return sm_fail(err, SME_SR_UNAVAILABLE, "leaf journal of %s is damaged", id);
		return fsr_recover_leaf(sr, id, parent, err);
	}
	if (strcmp(op, "create") == 0) {
		create_undo(sr, id);
		sm_log(LOG_WARNING, "recovery: removed the half-made VDI %s", id);
		return 0;
	}
	return sm_fail(err, SME_SR_UNAVAILABLE, "unknown journal record %s-%s", op, id);
}

/* Temporary names are only ever used under the SR lock, which we hold. */
static bool is_leftover(const char *name)
{
	size_t n = strlen(name);

	return (n > 4 && strcmp(name + n - 4, ".tmp") == 0) || strstr(name, ".tmp.") ||
	       (n > 8 && strcmp(name + n - 8, ".vhd.new") == 0) ||
	       /* ours (".<uuid>.vhd.undo"); the GC's parent-grow records are its own */
	       (name[0] == '.' && n > 9 && strcmp(name + n - 9, ".vhd.undo") == 0);
}

static int leftover_entry(void *arg, const char *name)
{
	const struct file_sr *sr = arg;
	char where[PATH_MAX];

	if (!is_leftover(name))
		return 0;
	fsr_describe(sr, name, where, sizeof(where));
	sm_log(LOG_WARNING, "recovery: removing leftover %s", where);
	fsr_unlink(sr, name);
	return 0;
}

void fsr_remove_leftovers(const struct file_sr *sr)
{
	fsr_fs(sr)->ops->list(fsr_fs(sr), "", leftover_entry, (void *)sr);
}

int fsr_recover(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	struct srfs_stat st;
	int rc;

	if (!sr->repair)
		return 0;
	rc = fsr_stat(sr, "", &st);
	if (rc == -ENOENT || rc == -ENOTDIR || (rc == 0 && !st.is_dir))
		return 0;   /* nothing to repair; the operation reports what is missing */
	/* Not knowing whether a change is unfinished is not knowing there is none. */
	if (rc < 0)
		return fail_at(sr, &ctx->err, SME_SR_UNAVAILABLE, rc,
			       "cannot look for unfinished changes in", "");
	if (journal_replay(fsr_fs(sr), recover_one, sr, &ctx->err) < 0) {
		/* Whatever was asked cannot go ahead over an unfinished change. */
		sm_error_recode(&ctx->err, SME_SR_UNAVAILABLE);
		return -1;
	}
	return 0;
}

/* ---- resize, introduce, update, config ---------------------------------- */

static int resize_raw(const struct file_sr *sr, const char *path, uint64_t size,
		      struct sm_error *err)
{
	struct vhd_io io = { 0 };
	uint64_t cur;
	int rc;

	if (raw_validate_size(size, &size, err) < 0)
		return -1;
	if (fsr_open(sr, path, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	rc = io.ops->get_size(&io, &cur);
	if (rc == 0 && size < cur) {
		vhd_io_close(&io);
		return sm_fail(err, SME_VDI_SIZE, "shrinking is not allowed (%" PRIu64 " < %" PRIu64 ")",
			       size, cur);
	}
	if (rc == 0)
		rc = io.ops->truncate ? io.ops->truncate(&io, size) : -ENOTSUP;
	if (rc == 0)
		rc = io.ops->sync(&io);
	vhd_io_close(&io);
	if (rc < 0)
		return fail_at(sr, err, rc == -EFBIG ? SME_VDI_SIZE : SME_VDI_RESIZE, rc, "cannot resize", path);
	return 0;
}

/*
 * Grow with an undo record beside the image (vhd_grow_journaled).  The
 * record file goes whenever the image is known to be whole, grown or as it
 * was, failure or not (a refused grow, a shrink say, never wrote it: an
 * empty file left behind would keep sr_delete from removing the SR
 * directory).  *pending: a failed grow could not be undone here, so the
 * record and the journal that leads recovery to it must stay.
 */
static int grow_vhd(const struct file_sr *sr, const char *uuid, uint64_t size,
		    bool *pending, struct sm_error *err)
{
	struct vhd_io io = { 0 }, undo = { 0 };
	char path[PATH_MAX], upath[PATH_MAX];
	int rc = -1;

	*pending = false;
	fsr_path(sr, uuid, "vhd", path);
	undo_path(sr, uuid, upath);
	fsr_unlink(sr, upath);
	if (fsr_open(sr, path, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	if (fsr_open(sr, upath, VHD_IO_RDWR | VHD_IO_CREATE, &undo, err) < 0)
		goto out;
	rc = vhd_grow_journaled(&io, size, &undo, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = fail_at(sr, err, SME_VDI_RESIZE, rc, "cannot sync", path);
	if (rc < 0) {
		struct sm_error e = { 0 };

		/* A no-op on an empty or emptied record; else it restores the image. */
		*pending = vhd_grow_undo(&io, &undo, &e) < 0;
		if (*pending)
			sm_log(LOG_WARNING, "vdi_resize: %s stays for recovery: %s", upath, e.detail);
	}
out:
	vhd_io_close(&undo);
	vhd_io_close(&io);
	if (!*pending)
		fsr_unlink(sr, upath);
	return rc;
}

/* A size refused stays VDISize; whichever step failed, a resize failed. */
static int resize_failed(struct sm_ctx *ctx)
{
	if (ctx->err.code != SME_VDI_SIZE)
		sm_error_recode(&ctx->err, SME_VDI_RESIZE);
	return -1;
}

int fsr_vdi_resize(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	const char *uuid = ctx->call->vdi_uuid, *arg;
	enum fsr_kind kind;
	char path[PATH_MAX], jtext[128];
	uint64_t size;
	bool pending;
	int children, rc;

	if (call_arg(ctx->call, 0, &arg, &ctx->err) < 0 ||
	    fsr_find(sr, uuid, &kind, SME_VDI_RESIZE, &ctx->err) < 0)
		return -1;
	if (sm_parse_u64(arg, &size) < 0)
		return sm_fail(&ctx->err, SME_VDI_SIZE, "size '%.40s' is not a decimal number of bytes", arg);
	if (kind == VK_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", uuid, sr->sr_uuid);
	fsr_path(sr, uuid, fsr_ext(kind), path);
	if (kind == VK_RAW)
		return resize_raw(sr, path, size, &ctx->err) < 0 ? resize_failed(ctx) : set_result_vdi(ctx, uuid);
	if (vdi_children(sr, uuid, &children, SME_VDI_RESIZE, &ctx->err) < 0)
		return -1;
	if (children > 0)
		return sm_fail(&ctx->err, SME_VDI_RESIZE, "%s is a parent of other images", uuid);
	snprintf(jtext, sizeof(jtext), "vdi=%s\nsize=%" PRIu64 "\n", uuid, size);
	if (journal_begin(fsr_fs(sr), "resize", uuid, jtext, &ctx->err) < 0)
		return resize_failed(ctx);
	sm_fault_point("resize:journal");
	rc = grow_vhd(sr, uuid, size, &pending, &ctx->err);
	if (rc == 0) {
		sm_fault_point("resize:grown");
		rc = journal_end(fsr_fs(sr), "resize", uuid, &ctx->err);
	} else if (!pending) {
		/* grow_vhd put the image back as it was (or never touched it). */
		journal_end(fsr_fs(sr), "resize", uuid, NULL);
	}
	if (rc < 0)
		return resize_failed(ctx);
	return set_result_vdi(ctx, uuid);
}

/* A file already in the SR becomes a VDI; files are named by their uuid. */
int fsr_vdi_introduce(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	const struct sm_call *c = ctx->call;
	struct vdi_meta m = { 0 };
	enum fsr_kind kind;
	char path[PATH_MAX];
	int rc;

	if (!c->vdi_location || strcmp(c->vdi_location, c->new_uuid) != 0)
		return sm_fail(&ctx->err, SME_INVALID_ARG,
			       "vdi_location must equal new_uuid: file SRs name VDIs <uuid>.vhd");
	if (fsr_find(sr, c->new_uuid, &kind, SME_VDI_LOAD, &ctx->err) < 0)
		return -1;
	if (kind == VK_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "no %s.vhd or %s.raw in %s",
			       c->new_uuid, c->new_uuid, fsr_fs(sr)->root);
	if (kind == VK_VHD && chain_check(sr, c->new_uuid, NULL, &ctx->err, SME_VDI_LOAD) < 0)
		return -1;
	fsr_path(sr, c->new_uuid, "meta", path);
	rc = fsr_lookup(sr, path);
	if (rc < 0)
		return fail_at(sr, &ctx->err, SME_VDI_LOAD, rc, "cannot look at", path);
	if (rc == 0) {
		m.label = (char *)"";
		m.description = (char *)"";
		snprintf(m.vdi_type, sizeof(m.vdi_type), "user");
		rc = fsr_meta_write(sr, c->new_uuid, &m, &ctx->err, SME_VDI_LOAD);
		if (rc < 0)
			return -1;
	}
	return set_result_vdi(ctx, c->new_uuid);
}

/* Re-check the VDI and restore a lost metadata record. */
int fsr_vdi_update(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	const char *uuid = ctx->call->vdi_uuid;
	enum fsr_kind kind;
	struct vdi_meta m;
	int rc = 0;

	if (fsr_find(sr, uuid, &kind, SME_VDI_LOAD, &ctx->err) < 0)
		return -1;
	if (kind == VK_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", uuid, sr->sr_uuid);
	if (kind == VK_VHD && chain_check(sr, uuid, NULL, &ctx->err, SME_VDI_LOAD) < 0)
		return -1;
	if (fsr_meta_read(sr, uuid, &m) == -ENOENT) {
		m.label = m.description = NULL;
		snprintf(m.vdi_type, sizeof(m.vdi_type), "user");
		rc = fsr_meta_write(sr, uuid, &m, &ctx->err, SME_VDI_LOAD);
	}
	vdimeta_free(&m);
	return rc;
}

/* What static-vdis stores and replays at boot without a toolstack. */
int fsr_vdi_generate_config(struct sm_ctx *ctx)
{
	const struct sm_call *c = ctx->call;
	struct xr_value *params = xr_array(), *st = xr_struct(), *dconf = xr_struct();
	char *doc = NULL;
	enum fsr_kind kind;
	int rc = -1;

	if (fsr_find(FSR(ctx), c->vdi_uuid, &kind, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		goto out;
	if (kind == VK_NONE) {
		sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", c->vdi_uuid, c->sr_uuid);
		goto out;
	}
	if (!params || !st || !dconf)
		goto oom;
	for (size_t i = 0; i < c->dconf->u.st.count; i++)
		if (xr_struct_set_string(dconf, c->dconf->u.st.members[i].name,
					 c->dconf->u.st.members[i].value->u.str) < 0)
			goto oom;
	if (xr_struct_set(st, "device_config", dconf) < 0) {
		dconf = NULL;
		goto oom;
	}
	dconf = NULL;
	if (xr_struct_set_string(st, "sr_uuid", c->sr_uuid) < 0 ||
	    xr_struct_set_string(st, "vdi_uuid", c->vdi_uuid) < 0 ||
	    xr_struct_set_string(st, "command", "vdi_attach_from_config") < 0)
		goto oom;
	if (xr_array_append(params, st) < 0) {
		st = NULL;
		goto oom;
	}
	st = NULL;
	doc = xr_write_call("vdi_attach_from_config", params, XR_STYLE_PYTHON);
	if (!doc || !(ctx->result = xr_string(doc)))
		goto oom;
	rc = 0;
	goto out;
oom:
	sm_fail(&ctx->err, SME_GENERIC, "out of memory");
out:
	free(doc);
	xr_free(dconf);
	xr_free(st);
	xr_free(params);
	return rc;
}

/* ---- persistent VDI locks (seed API vdi_lock / vdi_unlock) -------------- */

struct lock_record {
	char user[256];
	char host[256];
	long long since;
};

static int lock_read(const struct file_sr *sr, const char *path, struct lock_record *r)
{
	char *text = NULL, *line, *save = NULL;
	int rc = srfs_read_file(fsr_fs(sr), path, 4096, &text);

	memset(r, 0, sizeof(*r));
	if (rc < 0)
		return rc;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "user=", 5) == 0)
			snprintf(r->user, sizeof(r->user), "%s", line + 5);
		else if (strncmp(line, "host=", 5) == 0)
			snprintf(r->host, sizeof(r->host), "%s", line + 5);
		else if (strncmp(line, "since=", 6) == 0)
			r->since = atoll(line + 6);
	}
	free(text);
	return 0;
}

static int lock_user_valid(const char *user)
{
	if (!*user || strlen(user) >= 256)
		return 0;
	for (; *user; user++)
		if ((unsigned char)*user < 0x20)
			return 0;
	return 1;
}

/*
 * Write the record to a temp file, then link it into place (exclusive: a
 * second holder racing us gets EEXIST) or rename it over (refresh, force).
 * Works the same on a local directory and over NFS.
 */
static int lock_write(const struct file_sr *sr, const char *path, const char *user,
		      bool replace, struct sm_error *err)
{
	struct srfs *fs = fsr_fs(sr);
	char tmp[PATH_MAX], host[256] = "", text[1024];
	struct vhd_io io = { 0 };
	int rc, n;

	gethostname(host, sizeof(host) - 1);
	n = snprintf(text, sizeof(text), "user=%s\nhost=%s\nsince=%lld\n", user, host,
		     (long long)time(NULL));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fs->ops->unlink(fs, tmp);
	if (fsr_open(sr, tmp, VHD_IO_RDWR | VHD_IO_CREATE, &io, err) < 0) {
		sm_error_recode(err, SME_LOCK_ERR);
		return -1;
	}
	rc = io.ops->pwrite(&io, text, (size_t)n, 0);
	if (rc == 0)
		rc = io.ops->sync(&io);
	vhd_io_close(&io);
	if (rc == 0)
		rc = replace ? fs->ops->rename(fs, tmp, path) : fs->ops->link(fs, tmp, path);
	fs->ops->unlink(fs, tmp);
	if (rc < 0)
		return fail_at(sr, err, SME_LOCK_ERR, rc, "cannot write the lock", path);
	return 0;
}

int fsr_vdi_lock(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	const struct sm_call *c = ctx->call;
	const char *force_s, *user;
	struct lock_record r;
	char path[PATH_MAX];
	enum fsr_kind kind;
	bool force;

	if (call_arg(c, 0, &force_s, &ctx->err) < 0 || call_arg(c, 1, &user, &ctx->err) < 0)
		return -1;
	if (sm_parse_bool(force_s, &force) < 0)
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "vdi_lock: force must be true or false");
	if (!lock_user_valid(user))
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "vdi_lock: the user string must be 1-255 printable characters");
	if (fsr_find(sr, c->vdi_uuid, &kind, SME_LOCK_ERR, &ctx->err) < 0)
		return -1;
	if (kind == VK_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", c->vdi_uuid, sr->sr_uuid);
	fsr_path(sr, c->vdi_uuid, "lock", path);
	if (lock_read(sr, path, &r) == 0) {
		if (strcmp(r.user, user) == 0)
			return lock_write(sr, path, user, true, &ctx->err);   /* refresh our own */
		if (!force)
			return sm_fail(&ctx->err, SME_LOCK_ERR, "%s is locked by '%s' on host %s since %lld",
				       c->vdi_uuid, r.user, r.host, r.since);
		sm_log(LOG_WARNING, "vdi_lock: %s: force breaks the lock of '%s' on host %s",
		       c->vdi_uuid, r.user, r.host);
		return lock_write(sr, path, user, true, &ctx->err);
	}
	return lock_write(sr, path, user, false, &ctx->err);
}

int fsr_vdi_unlock(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	const struct sm_call *c = ctx->call;
	struct lock_record r;
	char path[PATH_MAX];
	enum fsr_kind kind;
	const char *user;
	int rc;

	if (call_arg(c, 0, &user, &ctx->err) < 0)
		return -1;
	if (fsr_find(sr, c->vdi_uuid, &kind, SME_LOCK_ERR, &ctx->err) < 0)
		return -1;
	if (kind == VK_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", c->vdi_uuid, sr->sr_uuid);
	fsr_path(sr, c->vdi_uuid, "lock", path);
	rc = lock_read(sr, path, &r);
	if (rc == -ENOENT)
		return 0;   /* unlocking an unlocked VDI succeeds */
	if (rc < 0)
		return fail_at(sr, &ctx->err, SME_LOCK_ERR, rc, "cannot read the lock", path);
	if (strcmp(r.user, user) != 0)
		return sm_fail(&ctx->err, SME_LOCK_ERR, "%s is locked by '%s', not '%s'",
			       c->vdi_uuid, r.user, user);
	rc = fsr_unlink(sr, path);
	if (rc < 0 && rc != -ENOENT)
		return fail_at(sr, &ctx->err, SME_LOCK_ERR, rc, "cannot remove", path);
	return 0;
}
