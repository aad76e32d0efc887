/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The directory store (csm/vstore_dir.h): the VDI store over a directory
 * reached through struct srfs.  The crash protocols of the file-based SR
 * types live here: temporary names linked into place, snapshot children
 * renamed over the leaf, the leaf-coalesce rename-over, records written
 * beside the images and renamed into place.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csm/fault.h"
#include "csm/log.h"
#include "csm/util.h"
#include "csm/vstore_dir.h"
#include "srfs_internal.h"

static const struct vstore_ops dir_ops;

struct vstore_dir *vstore_dir_of(struct vstore *vs)
{
	return (struct vstore_dir *)vs;
}

static struct vstore_dir *DIR_OF(const struct vstore *vs)
{
	return (struct vstore_dir *)vs;
}

static const char *ext_of(enum vstore_kind k)
{
	return k == VSTORE_RAW ? "raw" : "vhd";
}

/* "<uuid>.<ext>" relative to the root; uuids are checked, so it cannot escape. */
static void rel_of(const char *uuid, const char *ext, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s.%s", uuid, ext);
}

/* ---- the directory, opened on first use ------------------------------ */

/*
 * A local SR directory that is not there (yet: sr_create makes it; or any
 * more: sr_delete, a missing mount) answers every call with the error it
 * gave, so callers report it like any other failure instead of crashing.
 */
static int root_errno(struct srfs *fs)
{
	return (int)(intptr_t)fs->priv;
}

/*
 * What a name inside the missing root answers: never -ENOENT, which every
 * caller reads as "absent" (no such image, record, journal), a fact about
 * the SR's contents nobody could look at.  ENODEV: the SR is not there.
 */
static int gone_errno(struct srfs *fs)
{
	int rc = root_errno(fs);

	return rc == -ENOENT ? -ENODEV : rc;
}

/* The root itself says what it is (exists/check tell "missing" from "broken"). */
static int gone_stat(struct srfs *fs, const char *rel, struct srfs_stat *st)
{
	return rel[0] ? gone_errno(fs) : root_errno(fs);
}

static int gone_open(struct srfs *fs, const char *rel, int flags, struct vhd_io *io,
		     struct sm_error *err)
{
	char where[PATH_MAX];

	srfs_describe(fs, rel, where, sizeof(where));
	return sm_fail_errno(err, SME_SR_UNAVAILABLE, -gone_errno(fs), "%s", where);
}

static int gone_path(struct srfs *fs, const char *rel)
{
	return gone_errno(fs);
}

static int gone_path2(struct srfs *fs, const char *a, const char *b)
{
	return gone_errno(fs);
}

static int gone_mkdir(struct srfs *fs, const char *rel, unsigned mode)
{
	return gone_errno(fs);
}

static int gone_list(struct srfs *fs, const char *rel, srfs_list_fn fn, void *arg)
{
	return gone_errno(fs);
}

static int gone_statvfs(struct srfs *fs, uint64_t *size, uint64_t *used)
{
	return gone_errno(fs);
}

static void gone_close(struct srfs *fs)
{
	fs->ops = NULL;
}

static const struct srfs_ops gone_ops = {
	.name = "unavailable",
	.stat = gone_stat, .open = gone_open, .unlink = gone_path, .rename = gone_path2,
	.link = gone_path2, .mkdir = gone_mkdir, .rmdir = gone_path, .list = gone_list,
	.sync_dir = gone_path, .statvfs = gone_statvfs, .close = gone_close,
};

struct srfs *vstore_dir_fs(struct vstore_dir *d)
{
	struct sm_error e = { 0 };
	struct stat st;

	if (d->fs->ops)
		return d->fs;
	if (srfs_open_posix(d->fs, d->path, &e) == 0)
		return d->fs;
	memset(d->fs, 0, sizeof(*d->fs));
	snprintf(d->fs->root, sizeof(d->fs->root), "%s", d->path);
	d->fs->ops = &gone_ops;
	d->fs->priv = (void *)(intptr_t)(stat(d->path, &st) < 0 ? -errno : -ENOTDIR);
	srfs_init_opener(d->fs);   /* the chain code opens through it: it fails, cleanly */
	return d->fs;
}

static struct srfs *FS(const struct vstore *vs)
{
	return vstore_dir_fs(DIR_OF(vs));
}

void vstore_dir_init(struct vstore_dir *d, struct srfs *fs, const char *path,
		     const char *sr_uuid)
{
	d->vs.ops = &dir_ops;
	d->vs.sr_uuid = sr_uuid;
	d->fs = fs;
	d->path = path;
}

/* The SR itself could not be reached: a timeout, or its directory is not there. */
static bool sr_unreachable(int rc)
{
	return rc == -ETIMEDOUT || rc == -ENODEV;
}

/* An -errno from the directory as a fault naming the file. */
static int fail_at(const struct vstore *vs, struct sm_error *err, int code, int rc,
		   const char *what, const char *rel)
{
	char where[PATH_MAX];

	srfs_describe(FS(vs), rel, where, sizeof(where));
	if (sr_unreachable(rc))
		code = SME_SR_UNAVAILABLE;
	return sm_fail_errno(err, code, -rc, "%s%s%s", what, *what ? " " : "", where);
}

static int dir_unlink(const struct vstore *vs, const char *rel)
{
	return FS(vs)->ops->unlink(FS(vs), rel);
}

static int dir_sync_dir(const struct vstore *vs)
{
	return FS(vs)->ops->sync_dir(FS(vs), "");
}

static int dir_sync(struct vstore *vs, struct sm_error *err)
{
	int rc = dir_sync_dir(vs);

	return rc < 0 ? fail_at(vs, err, SME_SM_GENERAL, rc, "cannot sync", "") : 0;
}

/* Remove rel; absent is fine.  0, or -1 with err naming it. */
static int remove_rel(const struct vstore *vs, const char *rel, struct sm_error *err)
{
	int rc = dir_unlink(vs, rel);

	if (rc < 0 && rc != -ENOENT)
		return fail_at(vs, err, SME_SM_GENERAL, rc, "cannot remove", rel);
	return 0;
}

/* ---- names -------------------------------------------------------------- */

static void dir_image_name(const struct vstore *vs, const char *uuid, enum vstore_kind kind,
			   char *out, size_t cap)
{
	snprintf(out, cap, "%s.%s", uuid, ext_of(kind));
}

static void dir_describe(const struct vstore *vs, const char *name, char *out, size_t cap)
{
	srfs_describe(FS(vs), name, out, cap);
}

static void dir_locator(const struct vstore *vs, const char *parent_uuid, char *out, size_t cap)
{
	snprintf(out, cap, "./%s.vhd", parent_uuid);
}

/* "<uuid>.vhd" (a sibling, as blktap names parents) → uuid. */
static void dir_parent_uuid(const struct vstore *vs, const struct vhd_info *info, char out[37])
{
	vstore_file_parent_uuid(info, out);
}

/* ---- listing -------------------------------------------------------------- */

/* Name → kind, for "<uuid>.vhd" and "<uuid>.raw" only. */
static enum vstore_kind entry_kind(const char *name, char uuid[37])
{
	if (strlen(name) != 40 || name[36] != '.')
		return VSTORE_NONE;
	memcpy(uuid, name, 36);
	uuid[36] = '\0';
	if (!sm_uuid_valid(uuid))
		return VSTORE_NONE;
	if (strcmp(name + 37, "vhd") == 0)
		return VSTORE_VHD;
	if (strcmp(name + 37, "raw") == 0)
		return VSTORE_RAW;
	return VSTORE_NONE;
}

/* "<uuid>.meta" / "<uuid>.lock": which record, or 0. */
static unsigned record_kind(const char *name, char uuid[37])
{
	if (strlen(name) != 41 || name[36] != '.')
		return 0;
	memcpy(uuid, name, 36);
	uuid[36] = '\0';
	if (!sm_uuid_valid(uuid))
		return 0;
	if (strcmp(name + 37, "meta") == 0)
		return VSTORE_HAS_META;
	if (strcmp(name + 37, "lock") == 0)
		return VSTORE_HAS_LOCK;
	return 0;
}

/* Read one image into n; 1 when it vanished under us (not part of the store any more). */
static int image_read(const struct vstore *vs, const char *name, enum vstore_kind kind,
		      bool full, struct vstore_image *n)
{
	struct sm_error e = { 0 };
	struct vhd_io io = { 0 };
	struct srfs_stat st;
	int rc;

	if (kind == VSTORE_RAW) {
		rc = FS(vs)->ops->stat(FS(vs), name, &st);
		if (rc == -ENOENT)
			return 1;
		if (rc < 0)
			snprintf(n->error, sizeof(n->error), "cannot stat %.200s: %s", name, strerror(-rc));
		else if (!st.is_reg)
			snprintf(n->error, sizeof(n->error), "%.200s is not a regular file", name);
		else
			n->phys_size = n->virtual_size = st.size;
		return 0;
	}
	/* One open per image: its size comes from the same descriptor. */
	rc = FS(vs)->ops->open(FS(vs), name, VHD_IO_RDONLY, &io, &e);
	if (rc == -ENOENT)
		return 1;
	if (rc < 0) {
		snprintf(n->error, sizeof(n->error), "%.255s", e.detail);
		n->parent_unknown = true;
		return 0;
	}
	if (io.ops->get_size(&io, &n->phys_size) < 0 ||
	    (full ? vhd_query(&io, &n->info, &e) : vhd_query_fast(&io, &n->info, &e)) < 0) {
		snprintf(n->error, sizeof(n->error), "%.255s",
			 e.detail[0] ? e.detail : "cannot read the image size");
		/* The header alone may still say who the parent is. */
		memset(&n->info, 0, sizeof(n->info));
		if (!full || vhd_query_fast(&io, &n->info, NULL) < 0)
			n->parent_unknown = true;
	}
	if (!n->parent_unknown)
		dir_parent_uuid(vs, &n->info, n->parent);
	n->virtual_size = n->info.virtual_size;
	n->hidden = n->info.hidden;
	n->allocated = (uint64_t)n->info.allocated_blocks * VHD_BLOCK_SIZE;
	vhd_io_close(&io);
	return 0;
}

/*
 * One readdir gives the images and, for free, which of them have a
 * metadata or lock record: a scan then never probes for missing files.
 */
struct listing {
	const struct vstore *vs;
	bool full;
	struct vstore_image *img;
	size_t count, cap;
	struct { char uuid[37]; unsigned flag; } *rec;
	size_t nrec, caprec;
};

static int grow_array(void **v, size_t *cap, size_t count, size_t size)
{
	size_t n;
	void *p;

	if (count < *cap)
		return 0;
	n = *cap ? *cap * 2 : 128;
	p = realloc(*v, n * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

static int listing_entry(void *arg, const char *name)
{
	struct listing *l = arg;
	char uuid[37];
	enum vstore_kind kind = entry_kind(name, uuid);
	unsigned rec;

	if (kind != VSTORE_NONE) {
		struct vstore_image *n;

		if (grow_array((void **)&l->img, &l->cap, l->count, sizeof(*l->img)) < 0)
			return -ENOMEM;
		n = &l->img[l->count];
		memset(n, 0, sizeof(*n));
		memcpy(n->uuid, uuid, 37);
		n->kind = kind;
		if (image_read(l->vs, name, kind, l->full, n) == 0)
			l->count++;
		return 0;
	}
	if ((rec = record_kind(name, uuid)) != 0) {
		if (grow_array((void **)&l->rec, &l->caprec, l->nrec, sizeof(*l->rec)) < 0)
			return -ENOMEM;
		memcpy(l->rec[l->nrec].uuid, uuid, 37);
		l->rec[l->nrec++].flag = rec;
	}
	return 0;
}

static int image_cmp(const void *a, const void *b)
{
	return strcmp(((const struct vstore_image *)a)->uuid, ((const struct vstore_image *)b)->uuid);
}

static int dir_list(struct vstore *vs, bool full, vstore_list_fn fn, void *arg,
		    struct sm_error *err)
{
	struct listing l = { .vs = vs, .full = full };
	int rc = FS(vs)->ops->list(FS(vs), "", listing_entry, &l);

	if (rc < 0) {
		free(l.img);
		free(l.rec);
		if (rc == -ENOMEM)
			return sm_fail(err, SME_GENERIC, "out of memory");
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "%s", FS(vs)->root);
	}
	if (l.count > 1)
		qsort(l.img, l.count, sizeof(l.img[0]), image_cmp);
	for (size_t i = 0; i < l.nrec; i++) {
		struct vstore_image key, *n;

		memcpy(key.uuid, l.rec[i].uuid, 37);
		n = l.count ? bsearch(&key, l.img, l.count, sizeof(l.img[0]), image_cmp) : NULL;
		if (n)
			n->records |= l.rec[i].flag;
	}
	rc = 0;
	for (size_t i = 0; i < l.count && rc == 0; i++)
		rc = fn(arg, &l.img[i]);
	free(l.img);
	free(l.rec);
	return rc;
}

static int dir_find(struct vstore *vs, const char *uuid, enum vstore_kind *kind, int code,
		    struct sm_error *err)
{
	static const enum vstore_kind kinds[] = { VSTORE_VHD, VSTORE_RAW };
	char rel[PATH_MAX], where[PATH_MAX];

	*kind = VSTORE_NONE;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct srfs_stat st;
		int rc;

		rel_of(uuid, ext_of(kinds[i]), rel);
		rc = FS(vs)->ops->stat(FS(vs), rel, &st);
		if (rc == -ENOENT)
			continue;
		srfs_describe(FS(vs), rel, where, sizeof(where));
		if (rc < 0)
			return sm_fail_errno(err, sr_unreachable(rc) ? SME_SR_UNAVAILABLE : code, -rc,
					     "cannot tell whether %s exists", where);
		if (!st.is_reg)
			return sm_fail(err, code, "%s is not a regular file; it is left alone", where);
		*kind = kinds[i];
		return 0;
	}
	return 0;
}

static int dir_check(struct vstore *vs, struct sm_error *err)
{
	struct srfs_stat st;
	int rc = FS(vs)->ops->stat(FS(vs), "", &st);

	if (rc < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "%s", FS(vs)->root);
	if (!st.is_dir)
		return sm_fail(err, SME_SR_UNAVAILABLE, "%s is not a directory", FS(vs)->root);
	return 0;
}

static int dir_exists(struct vstore *vs)
{
	struct srfs_stat st;
	int rc = FS(vs)->ops->stat(FS(vs), "", &st);

	if (rc == -ENOENT || rc == -ENOTDIR || (rc == 0 && !st.is_dir))
		return 0;
	return rc < 0 ? rc : 1;
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
	struct vstore *vs = arg;
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/%s", VSTORE_DIR_ACTIVE, name);
	sm_log(LOG_INFO, "sr_delete: dropping stale activation record %s", name);
	FS(vs)->ops->unlink(FS(vs), rel);
	return 0;
}

static int dir_clear(struct vstore *vs, struct sm_error *err)
{
	struct srfs *fs = FS(vs);

	if (journal_replay(fs, drop_record, NULL, err) < 0)
		return -1;
	fs->ops->rmdir(fs, JOURNAL_DIR);
	fs->ops->list(fs, VSTORE_DIR_ACTIVE, drop_active_record, vs);
	fs->ops->rmdir(fs, VSTORE_DIR_ACTIVE);
	return 0;
}

/* ---- create, publish, abandon ------------------------------------------- */

static void tmp_of(const char *uuid, enum vstore_kind kind, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, ".%s.%s.tmp", uuid, ext_of(kind));
}

static int dir_create(struct vstore *vs, const char *uuid, enum vstore_kind kind, uint64_t room,
		      struct vhd_io *io, struct sm_error *err)
{
	char tmp[PATH_MAX];

	tmp_of(uuid, kind, tmp);
	dir_unlink(vs, tmp);   /* a leftover of a killed create */
	if (FS(vs)->ops->open(FS(vs), tmp, VHD_IO_RDWR | VHD_IO_CREATE, io, err) < 0) {
		sm_error_recode(err, SME_VDI_CREATE);
		return -1;
	}
	return 0;
}

/* link() fails on an existing name, so a racing create cannot be clobbered. */
static int dir_publish(struct vstore *vs, const char *uuid, enum vstore_kind kind,
		       struct vhd_io *io, struct sm_error *err)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int rc;

	tmp_of(uuid, kind, tmp);
	rel_of(uuid, ext_of(kind), path);
	rc = io->ops->sync(io);
	vhd_io_close(io);
	if (rc < 0) {
		fail_at(vs, err, SME_VDI_CREATE, rc, "cannot sync", tmp);
		goto fail;
	}
	rc = FS(vs)->ops->link(FS(vs), tmp, path);
	if (rc < 0) {
		fail_at(vs, err, rc == -EEXIST ? SME_VDI_EXISTS : SME_VDI_CREATE, rc, "", path);
		goto fail;
	}
	dir_unlink(vs, tmp);
	rc = dir_sync_dir(vs);
	if (rc < 0)
		return fail_at(vs, err, SME_VDI_CREATE, rc, "cannot sync", "");
	return 0;
fail:
	dir_unlink(vs, tmp);
	return -1;
}

/* Every step is tried; the first failure is what err says. */
static int dir_forget(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	static const char *const exts[] = { "meta", "lock" };
	char path[PATH_MAX];
	int rc = 0;

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		rel_of(uuid, exts[i], path);
		rc |= remove_rel(vs, path, err);
	}
	return rc;
}

static int dir_abandon(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	static const enum vstore_kind kinds[] = { VSTORE_VHD, VSTORE_RAW };
	char path[PATH_MAX];
	int rc = 0;

	for (size_t i = 0; i < 2; i++) {
		rel_of(uuid, ext_of(kinds[i]), path);
		rc |= remove_rel(vs, path, err);
		tmp_of(uuid, kinds[i], path);
		rc |= remove_rel(vs, path, err);
	}
	rc |= dir_forget(vs, uuid, err);
	rc |= dir_sync(vs, err);
	return rc ? -1 : 0;
}

/* ---- open, remove ------------------------------------------------------------ */

static int dir_open(struct vstore *vs, const char *uuid, enum vstore_kind kind, int flags,
		    struct vhd_io *io, struct sm_error *err)
{
	char rel[PATH_MAX];

	rel_of(uuid, ext_of(kind), rel);
	return FS(vs)->ops->open(FS(vs), rel, flags, io, err) < 0 ? -1 : 0;
}

static int dir_remove(struct vstore *vs, const char *uuid, enum vstore_kind kind, bool nosync,
		      struct sm_error *err)
{
	char rel[PATH_MAX];
	int rc;

	rel_of(uuid, ext_of(kind), rel);
	rc = dir_unlink(vs, rel);
	if (rc < 0 && rc != -ENOENT)
		return fail_at(vs, err, SME_VDI_DELETE, rc, "", rel);
	dir_forget(vs, uuid, NULL);
	if (!nosync)
		dir_sync_dir(vs);
	return 0;
}

/* ---- snapshot steps --------------------------------------------------------------- */

static int dir_snap_keep(struct vstore *vs, const char *src, const char *base, int code,
			 struct sm_error *err)
{
	char s[PATH_MAX], b[PATH_MAX];
	int rc;

	rel_of(src, "vhd", s);
	rel_of(base, "vhd", b);
	rc = FS(vs)->ops->link(FS(vs), s, b);
	return rc < 0 ? fail_at(vs, err, code, rc, "cannot link to", b) : 0;
}

/* Create child_rel as an empty child of <parent_uuid>.vhd. */
static int make_child(struct vstore *vs, const char *child_rel, const char *parent_uuid,
		      uint64_t size, int code, struct sm_error *err)
{
	char parent_rel[PATH_MAX], loc[64];
	struct vhd_io parent = { 0 }, child = { 0 };
	int rc = -1;

	rel_of(parent_uuid, "vhd", parent_rel);
	dir_locator(vs, parent_uuid, loc, sizeof(loc));
	/* The caller's code whatever failed; the detail says what (missing, exists). */
	if (FS(vs)->ops->open(FS(vs), parent_rel, VHD_IO_RDONLY, &parent, err) < 0) {
		sm_error_recode(err, code);
		return -1;
	}
	if (FS(vs)->ops->open(FS(vs), child_rel, VHD_IO_RDWR | VHD_IO_CREATE, &child, err) < 0) {
		sm_error_recode(err, code);
		goto out;
	}
	if (vhd_create_diff(&child, &parent, loc, size, err) == 0) {
		rc = child.ops->sync(&child);
		if (rc < 0)
			fail_at(vs, err, code, rc, "cannot sync", child_rel);
	}
	if (rc < 0) {
		rc = -1;
		vhd_io_close(&child);
		dir_unlink(vs, child_rel);
	}
out:
	vhd_io_close(&child);
	vhd_io_close(&parent);
	return rc;
}

/*
 * The Python FileSR's way: a child that replaces the leaf is made under a
 * temporary name and renamed over it, so the leaf's name never points at
 * a half-made file.
 */
static int dir_snap_child(struct vstore *vs, const char *uuid, const char *parent,
			  uint64_t size, bool replace, int code, struct sm_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int rc;

	rel_of(uuid, "vhd", path);
	if (!replace)
		return make_child(vs, path, parent, size, code, err);
	rel_of(uuid, "vhd.new", tmp);
	dir_unlink(vs, tmp);
	if (make_child(vs, tmp, parent, size, code, err) < 0)
		return -1;
	sm_fault_point("snapshot:child");
	rc = FS(vs)->ops->rename(FS(vs), tmp, path);
	return rc < 0 ? fail_at(vs, err, code, rc, "cannot rename", tmp) : 0;
}

static int dir_snap_commit(struct vstore *vs, int code, struct sm_error *err)
{
	int rc = dir_sync_dir(vs);

	return rc < 0 ? fail_at(vs, err, code, rc, "cannot sync", "") : 0;
}

static int set_hidden_rel(struct vstore *vs, const char *rel, bool hidden, struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (FS(vs)->ops->open(FS(vs), rel, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	rc = vhd_set_hidden(&io, hidden, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = fail_at(vs, err, SME_SM_GENERAL, rc, "cannot sync", rel);
	vhd_io_close(&io);
	return rc < 0 ? -1 : 0;
}

/*
 * src visible, if it is there: a host crash can keep the base's hidden
 * flag (a synced write into the original's bytes, which src may still
 * name) and lose the names, and a hidden childless leaf is garbage to the
 * GC.  Only written when set, so a repeated undo changes nothing.
 */
static int unhide_src(struct vstore *vs, const char *src, struct sm_error *err)
{
	struct sm_error e = { 0 };
	struct vhd_io io = { 0 };
	struct vhd_info info;
	int rc;

	rc = FS(vs)->ops->open(FS(vs), src, VHD_IO_RDONLY, &io, &e);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return fail_at(vs, err, SME_SR_UNAVAILABLE, rc, "cannot look at", src);
	rc = vhd_query_fast(&io, &info, &e);
	vhd_io_close(&io);
	if (rc < 0)
		return sm_fail(err, SME_SR_UNAVAILABLE, "cannot tell whether %s is hidden: %s", src,
			       e.detail);
	return info.hidden ? set_hidden_rel(vs, src, false, err) : 0;
}

/* Put the original back under src's name from base (the leaf's data). */
static int undo_keep(struct vstore *vs, const char *src, const char *base, struct sm_error *err)
{
	struct srfs_stat st_src, st_base;
	int rc = FS(vs)->ops->stat(FS(vs), base, &st_base);

	if (rc == -ENOENT)
		return 0;   /* never made, or already back under src's name */
	if (rc < 0)
		return fail_at(vs, err, SME_SR_UNAVAILABLE, rc, "cannot look at", base);
	/* Whether base is still a second name of src is told by the files' identities. */
	rc = FS(vs)->ops->stat(FS(vs), src, &st_src);
	if (rc < 0 && rc != -ENOENT)
		return fail_at(vs, err, SME_SR_UNAVAILABLE, rc, "cannot look at", src);
	if (rc == 0 && st_src.ino == st_base.ino)
		return remove_rel(vs, base, err);
	if (set_hidden_rel(vs, base, false, err) < 0)
		return -1;
	/* the original data back under its name */
	rc = FS(vs)->ops->rename(FS(vs), base, src);
	return rc < 0 ? fail_at(vs, err, SME_SM_GENERAL, rc, "cannot rename", base) : 0;
}

static int dir_snap_undo(struct vstore *vs, const char *src_uuid, const char *base_uuid,
			 const char *clone_uuid, struct sm_error *err)
{
	char src[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX];
	int rc = 0;

	rel_of(src_uuid, "vhd", src);
	rel_of(src_uuid, "vhd.new", tmp);
	rc |= remove_rel(vs, tmp, err);
	if (clone_uuid && clone_uuid[0]) {
		char clone[PATH_MAX];

		rel_of(clone_uuid, "vhd", clone);
		rc |= remove_rel(vs, clone, err);
		rc |= dir_forget(vs, clone_uuid, err);
	}
	if (base_uuid && base_uuid[0]) {
		rel_of(base_uuid, "vhd", base);
		rc |= undo_keep(vs, src, base, err);
		rc |= dir_forget(vs, base_uuid, err);
	}
	rc |= unhide_src(vs, src, err);
	rc |= dir_sync(vs, err);
	return rc ? -1 : 0;
}

/* ---- leaf-coalesce take-over ------------------------------------------------------- */

/* One atomic step: the merged image replaces the leaf under its name. */
static int dir_take_over(struct vstore *vs, const char *l, const char *p, struct sm_error *err)
{
	char lpath[PATH_MAX], ppath[PATH_MAX];
	int rc;

	rel_of(l, "vhd", lpath);
	rel_of(p, "vhd", ppath);
	rc = FS(vs)->ops->rename(FS(vs), ppath, lpath);
	if (rc < 0)
		return sm_fail_errno(err, SME_SM_GENERAL, -rc, "rename %s", ppath);
	sm_fault_point("gc:leaf-renamed");
	dir_forget(vs, p, NULL);
	dir_sync_dir(vs);
	return 0;
}

/*
 * p still under its own name: the rename did not happen (the leaf is
 * intact).  Otherwise p already replaced l and only p's records are left.
 */
static int dir_take_over_recover(struct vstore *vs, const char *l, const char *p,
				 struct sm_error *err)
{
	char path[PATH_MAX], where[PATH_MAX];
	int there;

	rel_of(p, "vhd", path);
	there = srfs_lookup(FS(vs), path);
	if (there < 0) {
		srfs_describe(FS(vs), path, where, sizeof(where));
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -there, "leaf-coalesce recovery of %s: "
				     "cannot tell whether %s exists", l, where);
	}
	if (there)
		return 0;
	return dir_forget(vs, p, err) < 0 ? -1 : 1;
}

/* ---- space, data path --------------------------------------------------------------- */

static int dir_space(struct vstore *vs, uint64_t *size, uint64_t *used, uint64_t *avail,
		     struct sm_error *err)
{
	uint64_t s = 0, u = 0;
	int rc = FS(vs)->ops->statvfs(FS(vs), &s, &u);

	if (rc < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "statvfs %s", FS(vs)->root);
	if (size)
		*size = s;
	if (used)
		*used = u;
	if (avail)
		*avail = s > u ? s - u : 0;
	return 0;
}

/* Where tapdisk finds it: the SR's mount under the mount base, as the Python FileSR's. */
static void dir_data_path(const struct vstore *vs, const char *uuid, enum vstore_kind kind,
			  char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s/%s.%s", sm_mount_base(), vs->sr_uuid, uuid, ext_of(kind));
}

/* ---- records --------------------------------------------------------------------------- */

static int dir_meta_read(struct vstore *vs, const char *uuid, struct vdi_meta *m)
{
	char path[PATH_MAX], *text = NULL;
	int rc;

	memset(m, 0, sizeof(*m));
	rel_of(uuid, "meta", path);
	rc = srfs_read_file(FS(vs), path, VDIMETA_MAX, &text);
	if (rc < 0)
		return rc;
	rc = vdimeta_parse(text, m) < 0 ? -ENOMEM : 0;
	free(text);
	return rc;
}

static int dir_meta_write(struct vstore *vs, const char *uuid, const struct vdi_meta *m, int code,
			  struct sm_error *err)
{
	char path[PATH_MAX], *text = vdimeta_format(m);
	int rc;

	if (!text)
		return sm_fail(err, SME_GENERIC, "out of memory");
	if (strlen(text) > VDIMETA_MAX) {
		/* dir_meta_read would refuse it: the label would be lost, not kept. */
		rc = sm_fail(err, code, "the metadata record of %s would be %zu bytes, more than the "
			     "%d an SR's reader takes: shorten the label or description", uuid,
			     strlen(text), VDIMETA_MAX);
		free(text);
		return rc;
	}
	rel_of(uuid, "meta", path);
	rc = srfs_write_file_atomic(FS(vs), path, text, strlen(text));
	free(text);
	return rc < 0 ? fail_at(vs, err, code, rc, "cannot write", path) : 0;
}

static int dir_meta_lookup(struct vstore *vs, const char *uuid)
{
	char path[PATH_MAX];

	rel_of(uuid, "meta", path);
	return srfs_lookup(FS(vs), path);
}

static int dir_lock_read(struct vstore *vs, const char *uuid, struct vstore_lock *r)
{
	char path[PATH_MAX], *text = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	rel_of(uuid, "lock", path);
	rc = srfs_read_file(FS(vs), path, 4096, &text);
	if (rc < 0)
		return rc;
	vstore_lock_parse(text, r);
	free(text);
	return 0;
}

/*
 * Write the record to a temp file, then link it into place (exclusive: a
 * second holder racing us gets EEXIST) or rename it over (refresh, force).
 * Works the same on a local directory and over NFS.
 */
static int dir_lock_write(struct vstore *vs, const char *uuid, const struct vstore_lock *r,
			  bool replace, struct sm_error *err)
{
	struct srfs *fs = FS(vs);
	char path[PATH_MAX], tmp[PATH_MAX + 32], text[1024];
	struct vhd_io io = { 0 };
	int rc, n;

	rel_of(uuid, "lock", path);
	n = vstore_lock_format(r, text, sizeof(text));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fs->ops->unlink(fs, tmp);
	if (fs->ops->open(fs, tmp, VHD_IO_RDWR | VHD_IO_CREATE, &io, err) < 0) {
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
		return fail_at(vs, err, SME_LOCK_ERR, rc, "cannot write the lock", path);
	/* Durable on return, as the contract says: the record's name too. */
	rc = dir_sync_dir(vs);
	if (rc == 0)
		return 0;
	/* A taker that failed holds nothing: its record goes (a replaced one cannot come back). */
	if (!replace)
		fs->ops->unlink(fs, path);
	return fail_at(vs, err, SME_LOCK_ERR, rc, "cannot sync the lock", path);
}

static int dir_lock_remove(struct vstore *vs, const char *uuid)
{
	char path[PATH_MAX];
	int rc;

	rel_of(uuid, "lock", path);
	rc = dir_unlink(vs, path);
	return rc == -ENOENT ? 0 : rc;
}

static int dir_is_locked(struct vstore *vs, const char *uuid)
{
	char path[PATH_MAX];

	rel_of(uuid, "lock", path);
	return srfs_lookup(FS(vs), path);
}

/* ---- activation records ------------------------------------------------------------------- */

/* Keep what is safe in a file name: letters, digits, '-', '_' and '.'. */
static void host_id_clean(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (; *in && n + 1 < cap; in++) {
		char c = *in;

		out[n++] = (char)((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ? c : '_');
	}
	out[n] = '\0';
	if (n == 0 || out[0] == '.')
		snprintf(out, cap, "host-%.60s", in);
}

/* INSTALLATION_UUID='<uuid>' in /etc/xensource-inventory: xapi's name for this host. */
static int inventory_host_uuid(char out[37])
{
	char *text = NULL, *p;
	int rc = -1;

	if (sm_read_file("/etc/xensource-inventory", 64 * 1024, &text) < 0)
		return -1;
	p = strstr(text, "INSTALLATION_UUID=");
	if (p) {
		p += strlen("INSTALLATION_UUID=");
		if (*p == '\'' || *p == '"')
			p++;
		snprintf(out, 37, "%.36s", p);
		rc = sm_uuid_valid(out) ? 0 : -1;
	}
	free(text);
	return rc;
}

const char *vstore_dir_host_id(void)
{
	static char id[72];
	char raw[256] = "";
	const char *env = getenv("SM_HOST_ID");

	if (id[0])
		return id;
	if (env && *env)
		snprintf(raw, sizeof(raw), "%s", env);
	else if (inventory_host_uuid(raw) < 0 && gethostname(raw, sizeof(raw) - 1) < 0)
		snprintf(raw, sizeof(raw), "localhost");
	host_id_clean(raw, id, sizeof(id));
	return id;
}

static void active_rel(const char *uuid, const char *host, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s@%s", VSTORE_DIR_ACTIVE, uuid, host);
}

static int dir_active_set(struct vstore *vs, const char *uuid, bool rw, int code,
			  struct sm_error *err)
{
	char rel[PATH_MAX], text[128], where[PATH_MAX];
	int rc = FS(vs)->ops->mkdir(FS(vs), VSTORE_DIR_ACTIVE, 0755);

	if (rc == 0)
		rc = dir_sync_dir(vs);
	if (rc == -EEXIST)
		rc = 0;
	active_rel(uuid, vstore_dir_host_id(), rel);
	snprintf(text, sizeof(text), "mode=%s\nsince=%lld\n", rw ? "RW" : "RO",
		 (long long)time(NULL));
	/* Written, synced and renamed into place, then the directory synced. */
	if (rc == 0)
		rc = srfs_write_file_atomic(FS(vs), rel, text, strlen(text));
	if (rc == 0)
		return 0;
	srfs_describe(FS(vs), rel, where, sizeof(where));
	return sm_fail_errno(err, sr_unreachable(rc) ? SME_SR_UNAVAILABLE : code, -rc,
			     "cannot record the activation in %s", where);
}

static int dir_active_clear(struct vstore *vs, const char *uuid)
{
	char rel[PATH_MAX];
	int rc;

	active_rel(uuid, vstore_dir_host_id(), rel);
	rc = dir_unlink(vs, rel);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0)
		rc = FS(vs)->ops->sync_dir(FS(vs), VSTORE_DIR_ACTIVE);
	return rc;
}

struct active_each {
	vstore_active_fn fn;
	void *arg;
};

/* "<uuid>@<host>"; a record still being written (".tmp.") is not one yet. */
static int active_entry(void *arg, const char *name)
{
	struct active_each *e = arg;
	char uuid[37];

	if (strlen(name) < 38 || name[36] != '@' || strstr(name, ".tmp."))
		return 0;
	memcpy(uuid, name, 36);
	uuid[36] = '\0';
	return sm_uuid_valid(uuid) ? e->fn(e->arg, uuid, name + 37) : 0;
}

static int dir_active_each(struct vstore *vs, vstore_active_fn fn, void *arg)
{
	struct active_each e = { .fn = fn, .arg = arg };
	int rc = FS(vs)->ops->list(FS(vs), VSTORE_DIR_ACTIVE, active_entry, &e);

	return rc == -ENOENT ? 0 : rc;   /* no directory: nothing was ever activated */
}

/* ---- journals ------------------------------------------------------------------------------ */

static int dir_journal_begin(struct vstore *vs, const char *op, const char *id, const char *text,
			     struct sm_error *err)
{
	return journal_begin(FS(vs), op, id, text, err);
}

static int dir_journal_end(struct vstore *vs, const char *op, const char *id, struct sm_error *err)
{
	return journal_end(FS(vs), op, id, err);
}

static int dir_journal_lookup(struct vstore *vs, const char *op, const char *id)
{
	return journal_lookup(FS(vs), op, id);
}

static int dir_journal_replay(struct vstore *vs, journal_fn fn, void *arg, struct sm_error *err)
{
	return journal_replay(FS(vs), fn, arg, err);
}

/* ---- undo records, opener, leftovers ------------------------------------------------------- */

static void dir_undo_name(const struct vstore *vs, const char *uuid, enum vstore_undo which,
			  char *out, size_t cap)
{
	if (which == VSTORE_UNDO_GC)
		snprintf(out, cap, "%s.vhd.undo", uuid);
	else
		snprintf(out, cap, ".%s.vhd.undo", uuid);
}

static const struct vhd_opener *dir_opener(struct vstore *vs)
{
	return srfs_opener(FS(vs));
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
	struct vstore *vs = arg;
	char where[PATH_MAX];

	if (!is_leftover(name))
		return 0;
	srfs_describe(FS(vs), name, where, sizeof(where));
	sm_log(LOG_WARNING, "recovery: removing leftover %s", where);
	dir_unlink(vs, name);
	return 0;
}

static void dir_sweep(struct vstore *vs)
{
	FS(vs)->ops->list(FS(vs), "", leftover_entry, vs);
}

static void dir_close(struct vstore *vs)
{
	srfs_close(DIR_OF(vs)->fs);
}

static const struct vstore_ops dir_ops = {
	.type = "dir",
	.image_name = dir_image_name,
	.describe = dir_describe,
	.locator = dir_locator,
	.parent_uuid = dir_parent_uuid,
	.list = dir_list,
	.find = dir_find,
	.check = dir_check,
	.exists = dir_exists,
	.clear = dir_clear,
	.create = dir_create,
	.publish = dir_publish,
	.abandon = dir_abandon,
	.open = dir_open,
	.remove = dir_remove,
	.forget = dir_forget,
	.sync = dir_sync,
	.snap_keep = dir_snap_keep,
	.snap_child = dir_snap_child,
	.snap_commit = dir_snap_commit,
	.snap_undo = dir_snap_undo,
	.take_over = dir_take_over,
	.take_over_recover = dir_take_over_recover,
	.space = dir_space,
	.data_path = dir_data_path,
	.meta_read = dir_meta_read,
	.meta_write = dir_meta_write,
	.meta_lookup = dir_meta_lookup,
	.lock_read = dir_lock_read,
	.lock_write = dir_lock_write,
	.lock_remove = dir_lock_remove,
	.is_locked = dir_is_locked,
	.active_set = dir_active_set,
	.active_clear = dir_active_clear,
	.active_each = dir_active_each,
	.journal_begin = dir_journal_begin,
	.journal_end = dir_journal_end,
	.journal_lookup = dir_journal_lookup,
	.journal_replay = dir_journal_replay,
	.undo_name = dir_undo_name,
	.opener = dir_opener,
	.sweep = dir_sweep,
	.close = dir_close,
};
