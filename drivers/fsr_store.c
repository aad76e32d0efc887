/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csm/log.h"
#include "csm/util.h"
#include "fsr_store.h"

const char *fsr_ext(enum fsr_kind k)
{
	return k == VK_RAW ? "raw" : "vhd";
}

/*
 * A local SR directory that is not there (yet: sr_create makes it; or any
 * more: sr_delete, a missing mount) answers every call with the error it
 * gave, so callers report it like any other failure instead of crashing.
 */
static int gone_errno(struct srfs *fs)
{
	return (int)(intptr_t)fs->priv;
}

static int gone_stat(struct srfs *fs, const char *rel, struct srfs_stat *st)
{
	return gone_errno(fs);
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

/* Opened on first use: sr_create runs before the directory exists. */
struct srfs *fsr_fs(const struct file_sr *sr)
{
	struct file_sr *w = (struct file_sr *)sr;
	struct sm_error e = { 0 };
	struct stat st;

	if (w->fs.ops)
		return &w->fs;
	if (srfs_open_posix(&w->fs, w->path, &e) == 0)
		return &w->fs;
	memset(&w->fs, 0, sizeof(w->fs));
	snprintf(w->fs.root, sizeof(w->fs.root), "%s", w->path);
	w->fs.ops = &gone_ops;
	w->fs.priv = (void *)(intptr_t)(stat(w->path, &st) < 0 ? -errno : -ENOTDIR);
	return &w->fs;
}

/* "<uuid>.<ext>" relative to the SR root; uuids are checked, so it cannot escape. */
void fsr_path(const struct file_sr *sr, const char *uuid, const char *ext,
	      char out[PATH_MAX])
{
	(void)sr;
	snprintf(out, PATH_MAX, "%s.%s", uuid, ext);
}

void fsr_describe(const struct file_sr *sr, const char *rel, char *out, size_t cap)
{
	srfs_describe(fsr_fs(sr), rel, out, cap);
}

int fsr_stat(const struct file_sr *sr, const char *rel, struct srfs_stat *st)
{
	return fsr_fs(sr)->ops->stat(fsr_fs(sr), rel, st);
}

int fsr_lookup(const struct file_sr *sr, const char *rel)
{
	return srfs_lookup(fsr_fs(sr), rel);
}

int fsr_open(const struct file_sr *sr, const char *rel, int flags, struct vhd_io *io,
	     struct sm_error *err)
{
	return fsr_fs(sr)->ops->open(fsr_fs(sr), rel, flags, io, err);
}

int fsr_unlink(const struct file_sr *sr, const char *rel)
{
	return fsr_fs(sr)->ops->unlink(fsr_fs(sr), rel);
}

int fsr_sync_dir(const struct file_sr *sr)
{
	return fsr_fs(sr)->ops->sync_dir(fsr_fs(sr), "");
}

int fsr_vhd_query(const struct file_sr *sr, const char *rel, struct vhd_info *info,
		  struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (fsr_open(sr, rel, VHD_IO_RDONLY, &io, err) < 0)
		return -1;
	rc = vhd_query(&io, info, err);
	vhd_io_close(&io);
	return rc;
}

/* Footer and header only (one read): enough for names, sizes, parents, flags. */
int fsr_vhd_query_fast(const struct file_sr *sr, const char *rel, struct vhd_info *info,
		       struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (fsr_open(sr, rel, VHD_IO_RDONLY, &io, err) < 0)
		return -1;
	rc = vhd_query_fast(&io, info, err);
	vhd_io_close(&io);
	return rc;
}

int fsr_vhd_set_hidden(const struct file_sr *sr, const char *rel, bool hidden,
		       struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (fsr_open(sr, rel, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	rc = vhd_set_hidden(&io, hidden, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = sm_fail_errno(err, SME_EIO, -rc, "cannot sync %s", io.name);
	vhd_io_close(&io);
	return rc;
}

int fsr_vhd_repair(const struct file_sr *sr, const char *rel, struct sm_error *err)
{
	struct vhd_io io = { 0 };
	unsigned fixed = 0;
	char what[64];
	int rc;

	if (fsr_open(sr, rel, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	rc = vhd_repair(&io, &fixed, err);
	if (rc == 0 && fixed && (rc = io.ops->sync(&io)) < 0)
		rc = sm_fail_errno(err, SME_SM_GENERAL, -rc, "cannot sync %s", io.name);
	vhd_io_close(&io);
	if (rc == 0 && fixed) {
		vhd_repair_describe(fixed, what, sizeof(what));
		sm_log(LOG_WARNING, "recovery: %s: repaired %s", rel, what);
	}
	return rc;
}

int fsr_find(const struct file_sr *sr, const char *uuid, enum fsr_kind *kind, int code,
	     struct sm_error *err)
{
	static const enum fsr_kind kinds[] = { VK_VHD, VK_RAW };
	char rel[PATH_MAX], where[PATH_MAX];

	*kind = VK_NONE;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct srfs_stat st;
		int rc;

		fsr_path(sr, uuid, fsr_ext(kinds[i]), rel);
		rc = fsr_stat(sr, rel, &st);
		if (rc == -ENOENT)
			continue;
		fsr_describe(sr, rel, where, sizeof(where));
		if (rc < 0)
			return sm_fail_errno(err, rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE : code, -rc,
					     "cannot tell whether %s exists", where);
		if (!st.is_reg)
			return sm_fail(err, code, "%s is not a regular file; it is left alone", where);
		*kind = kinds[i];
		return 0;
	}
	return 0;
}

int fsr_dir_check(const struct file_sr *sr, struct sm_error *err)
{
	struct srfs_stat st;
	int rc = fsr_stat(sr, "", &st);

	if (rc < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "%s", fsr_fs(sr)->root);
	if (!st.is_dir)
		return sm_fail(err, SME_SR_UNAVAILABLE, "%s is not a directory", fsr_fs(sr)->root);
	return 0;
}

/* ---- metadata beside the image ---------------------------------------- */

int fsr_meta_read(const struct file_sr *sr, const char *uuid, struct vdi_meta *m)
{
	char path[PATH_MAX], *text = NULL;
	int rc;

	memset(m, 0, sizeof(*m));
	fsr_path(sr, uuid, "meta", path);
	rc = srfs_read_file(fsr_fs(sr), path, 64 * 1024, &text);
	if (rc < 0)
		return rc;
	rc = vdimeta_parse(text, m) < 0 ? -ENOMEM : 0;
	free(text);
	return rc;
}

int fsr_meta_write(const struct file_sr *sr, const char *uuid, const struct vdi_meta *m,
		      struct sm_error *err, int code)
{
	char path[PATH_MAX], *text = vdimeta_format(m);
	int rc;

	if (!text)
		return sm_fail(err, SME_GENERIC, "out of memory");
	fsr_path(sr, uuid, "meta", path);
	rc = srfs_write_file_atomic(fsr_fs(sr), path, text, strlen(text));
	free(text);
	if (rc < 0) {
		char where[PATH_MAX];

		fsr_describe(sr, path, where, sizeof(where));
		return sm_fail_errno(err, code, -rc, "cannot write %s", where);
	}
	return 0;
}

/* ---- the directory as a forest of VHD chains -------------------------- */

static int fsr_node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fsr_node *)a)->uuid, ((const struct fsr_node *)b)->uuid);
}

struct fsr_node *fsr_forest_find(const struct fsr_forest *f, const char *uuid)
{
	struct fsr_node key;

	if (!uuid || !*uuid || f->count == 0)
		return NULL;
	snprintf(key.uuid, sizeof(key.uuid), "%s", uuid);
	return bsearch(&key, f->nodes, f->count, sizeof(f->nodes[0]), fsr_node_cmp);
}

/* "<uuid>.vhd" (a sibling, as blktap names parents) → uuid. */
void fsr_parent_uuid(const struct vhd_info *info, char out[37])
{
	const char *name = info->parent_name[0] ? info->parent_name : info->parent_locator;
	const char *base = strrchr(name, '/');
	char tmp[64];

	out[0] = '\0';
	base = base ? base + 1 : name;
	if (strlen(base) != 40 || strcmp(base + 36, ".vhd") != 0)
		return;
	memcpy(tmp, base, 36);
	tmp[36] = '\0';
	if (sm_uuid_valid(tmp))
		memcpy(out, tmp, 37);
}

/* Name → kind, for "<uuid>.vhd" and "<uuid>.raw" only. */
static enum fsr_kind fsr_entry_kind(const char *name, char uuid[37])
{
	if (strlen(name) != 40 || name[36] != '.')
		return VK_NONE;
	memcpy(uuid, name, 36);
	uuid[36] = '\0';
	if (!sm_uuid_valid(uuid))
		return VK_NONE;
	if (strcmp(name + 37, "vhd") == 0)
		return VK_VHD;
	if (strcmp(name + 37, "raw") == 0)
		return VK_RAW;
	return VK_NONE;
}

static int fsr_forest_add(struct fsr_forest *f, const struct file_sr *sr, const char *name,
			  enum fsr_kind kind, const char *uuid, bool full)
{
	struct sm_error e = { 0 };
	struct vhd_io io = { 0 };
	struct fsr_node *n;
	int rc;

	if (f->count == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 128;
		struct fsr_node *p = realloc(f->nodes, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		f->nodes = p;
		f->cap = cap;
	}
	n = &f->nodes[f->count];
	memset(n, 0, sizeof(*n));
	memcpy(n->uuid, uuid, 37);
	n->kind = kind;
	if (kind == VK_RAW) {
		rc = fsr_stat(sr, name, &n->st);
		if (rc == -ENOENT)
			return 0;   /* vanished under us: not part of the SR any more */
		f->count++;
		n->info.virtual_size = n->st.size;
		if (rc < 0)
			snprintf(n->error, sizeof(n->error), "cannot stat %.200s: %s", name, strerror(-rc));
		else if (!n->st.is_reg)
			snprintf(n->error, sizeof(n->error), "%.200s is not a regular file", name);
		return 0;
	}
	/* One open per image: its size comes from the same descriptor. */
	rc = fsr_open(sr, name, VHD_IO_RDONLY, &io, &e);
	if (rc == -ENOENT)
		return 0;   /* vanished under us */
	f->count++;
	if (rc < 0) {
		snprintf(n->error, sizeof(n->error), "%.255s", e.detail);
		n->parent_unknown = true;
		return 0;
	}
	n->st.is_reg = true;
	if (io.ops->get_size(&io, &n->st.size) < 0 ||
	    (full ? vhd_query(&io, &n->info, &e) : vhd_query_fast(&io, &n->info, &e)) < 0) {
		snprintf(n->error, sizeof(n->error), "%.255s",
			 e.detail[0] ? e.detail : "cannot read the image size");
		/* The header alone may still say who the parent is. */
		memset(&n->info, 0, sizeof(n->info));
		if (!full || vhd_query_fast(&io, &n->info, NULL) < 0)
			n->parent_unknown = true;
	}
	if (!n->parent_unknown)
		fsr_parent_uuid(&n->info, n->parent);
	vhd_io_close(&io);
	return 0;
}

/*
 * What could not be read stops the GC's work where it could matter: an
 * image of unknown parent may hang below any image (nothing is known to
 * be childless); one of known parent blocks its own chain upwards.
 */
static void fsr_forest_mark_blocked(struct fsr_forest *f)
{
	for (size_t i = 0; i < f->count; i++) {
		struct fsr_node *n = &f->nodes[i];
		size_t hops = 0;

		if (!n->error[0])
			continue;
		if (n->parent_unknown) {
			f->unknown_parents++;
			if (!f->first_unknown)
				f->first_unknown = n;
		}
		for (; n && !(n->blocked && hops) && hops <= f->count; hops++) {
			n->blocked = true;
			n = fsr_forest_find(f, n->parent);
		}
	}
}

/*
 * An image nobody can reach is garbage: hidden, with no visible image
 * below it.  Mark everything on the way up from each visible image.
 */
static void fsr_forest_mark_live(struct fsr_forest *f)
{
	for (size_t i = 0; i < f->count; i++) {
		struct fsr_node *n = &f->nodes[i];
		size_t hops = 0;

		if (n->info.hidden && !n->error[0])
			continue;
		for (; n && !n->live && hops <= f->count; hops++) {
			n->live = true;
			n = fsr_forest_find(f, n->parent);
		}
	}
}

/* "<uuid>.meta" / "<uuid>.lock": which sidecar, or 0. */
static int sidecar_kind(const char *name, char uuid[37])
{
	if (strlen(name) != 41 || name[36] != '.')
		return 0;
	memcpy(uuid, name, 36);
	uuid[36] = '\0';
	if (!sm_uuid_valid(uuid))
		return 0;
	if (strcmp(name + 37, "meta") == 0)
		return FSR_HAS_META;
	if (strcmp(name + 37, "lock") == 0)
		return FSR_HAS_LOCK;
	return 0;
}

struct sidecars {
	struct { char uuid[37]; int flag; } *v;
	size_t count, cap;
};

static int sidecars_add(struct sidecars *sc, const char *uuid, int flag)
{
	if (sc->count == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 128;
		void *p = realloc(sc->v, cap * sizeof(sc->v[0]));

		if (!p)
			return -ENOMEM;
		sc->v = p;
		sc->cap = cap;
	}
	memcpy(sc->v[sc->count].uuid, uuid, 37);
	sc->v[sc->count++].flag = flag;
	return 0;
}

/*
 * One readdir gives the images and, for free, which of them have a
 * metadata or lock sidecar: a scan then never probes for missing files.
 */
struct listing {
	struct fsr_forest *f;
	const struct file_sr *sr;
	struct sidecars sc;
	bool full;
};

static int listing_entry(void *arg, const char *name)
{
	struct listing *l = arg;
	char uuid[37];
	enum fsr_kind kind = fsr_entry_kind(name, uuid);
	int side;

	if (kind != VK_NONE)
		return fsr_forest_add(l->f, l->sr, name, kind, uuid, l->full);
	if ((side = sidecar_kind(name, uuid)) != 0)
		return sidecars_add(&l->sc, uuid, side);
	return 0;
}

int fsr_forest_load(struct fsr_forest *f, const struct file_sr *sr, bool full,
		    struct sm_error *err)
{
	struct listing l = { .f = f, .sr = sr, .full = full };
	struct sidecars sc;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = fsr_fs(sr)->ops->list(fsr_fs(sr), "", listing_entry, &l);
	sc = l.sc;
	if (rc < 0) {
		free(sc.v);
		fsr_forest_free(f);
		if (rc == -ENOMEM)
			return sm_fail(err, SME_GENERIC, "out of memory");
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "%s", sr->fs.root);
	}
	if (f->count > 1)
		qsort(f->nodes, f->count, sizeof(f->nodes[0]), fsr_node_cmp);
	for (size_t i = 0; i < sc.count; i++) {
		struct fsr_node *n = fsr_forest_find(f, sc.v[i].uuid);

		if (n)
			n->sidecars |= sc.v[i].flag;
	}
	free(sc.v);
	for (size_t i = 0; i < f->count; i++) {
		struct fsr_node *p = fsr_forest_find(f, f->nodes[i].parent);

		if (p)
			p->nchildren++;
	}
	fsr_forest_mark_live(f);
	fsr_forest_mark_blocked(f);
	return 0;
}

void fsr_forest_free(struct fsr_forest *f)
{
	free(f->nodes);
	memset(f, 0, sizeof(*f));
}

int fsr_is_locked(const struct file_sr *sr, const char *uuid)
{
	char path[PATH_MAX];

	fsr_path(sr, uuid, "lock", path);
	return fsr_lookup(sr, path);
}

void fsr_unlink_sidecars(const struct file_sr *sr, const char *uuid)
{
	static const char *const exts[] = { "meta", "lock" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		fsr_path(sr, uuid, exts[i], path);
		fsr_unlink(sr, path);
	}
}

/* ---- activation records on the SR --------------------------------------- */

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

const char *fsr_host_id(void)
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
	snprintf(out, PATH_MAX, "%s/%s@%s", FSR_ACTIVE_DIR, uuid, host);
}

int fsr_active_set(const struct file_sr *sr, const char *uuid, bool rw, int code,
		   struct sm_error *err)
{
	char rel[PATH_MAX], text[128], where[PATH_MAX];
	int rc = fsr_fs(sr)->ops->mkdir(fsr_fs(sr), FSR_ACTIVE_DIR, 0755);

	if (rc == 0)
		rc = fsr_sync_dir(sr);
	if (rc == -EEXIST)
		rc = 0;
	active_rel(uuid, fsr_host_id(), rel);
	snprintf(text, sizeof(text), "mode=%s\nsince=%lld\n", rw ? "RW" : "RO",
		 (long long)time(NULL));
	/* Written, synced and renamed into place, then the directory synced. */
	if (rc == 0)
		rc = srfs_write_file_atomic(fsr_fs(sr), rel, text, strlen(text));
	if (rc == 0)
		return 0;
	fsr_describe(sr, rel, where, sizeof(where));
	return sm_fail_errno(err, rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE : code, -rc,
			     "cannot record the activation in %s", where);
}

int fsr_active_clear(const struct file_sr *sr, const char *uuid)
{
	char rel[PATH_MAX];
	int rc;

	active_rel(uuid, fsr_host_id(), rel);
	rc = fsr_unlink(sr, rel);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0)
		rc = fsr_fs(sr)->ops->sync_dir(fsr_fs(sr), FSR_ACTIVE_DIR);
	return rc;
}

struct active_each {
	fsr_active_fn fn;
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

int fsr_active_each(const struct file_sr *sr, fsr_active_fn fn, void *arg)
{
	struct active_each e = { .fn = fn, .arg = arg };
	int rc = fsr_fs(sr)->ops->list(fsr_fs(sr), FSR_ACTIVE_DIR, active_entry, &e);

	return rc == -ENOENT ? 0 : rc;   /* no directory: nothing was ever activated */
}

struct active_find {
	const char *uuid;
	char *holder;
	int found;
};

static int active_match(void *arg, const char *uuid, const char *host)
{
	struct active_find *a = arg;

	if (strcmp(uuid, a->uuid) != 0)
		return 0;
	a->found = 1;
	if (a->holder)
		snprintf(a->holder, 128, "%s", host);
	return 1;
}

int fsr_active_lookup(const struct file_sr *sr, const char *uuid, char holder[128])
{
	struct active_find a = { .uuid = uuid, .holder = holder };
	int rc = fsr_active_each(sr, active_match, &a);

	return rc < 0 ? rc : a.found;
}

/*
 * A leaf-coalesce of L into P runs wholly under the SR lock, so whoever
 * holds the lock and finds its record knows the GC died: if P still has
 * its own name the leaf is intact (P may have been un-hidden: hide it
 * again); otherwise P already replaced L and only P's metadata is left.
 */
int fsr_recover_leaf(const struct file_sr *sr, const char *l_uuid, const char *p_uuid,
		     struct sm_error *err)
{
	char path[PATH_MAX], where[PATH_MAX];
	int there;

	fsr_path(sr, p_uuid, "vhd", path);
	there = fsr_lookup(sr, path);
	if (there < 0) {
		fsr_describe(sr, path, where, sizeof(where));
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -there, "leaf-coalesce recovery of %s: "
				     "cannot tell whether %s exists", l_uuid, where);
	}
	if (there) {
		/*
		 * P may be visible again: it must not look like a VDI of its own;
		 * and the copy may have stopped between two writes of its
		 * metadata: P is someone's parent, it must pass the check.
		 */
		if (fsr_vhd_set_hidden(sr, path, true, err) < 0 || fsr_vhd_repair(sr, path, err) < 0)
			return -1;
		sm_log(LOG_WARNING, "recovery: undid the interrupted leaf-coalesce of %s", l_uuid);
	} else {
		fsr_unlink_sidecars(sr, p_uuid);
		sm_log(LOG_WARNING, "recovery: finished the interrupted leaf-coalesce of %s", l_uuid);
	}
	return 0;
}
