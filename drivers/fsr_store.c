/* SPDX-License-Identifier: LGPL-2.1-only */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm/log.h"
#include "csm/util.h"
#include "fsr_store.h"

const char *fsr_ext(enum fsr_kind k)
{
	return k == VK_RAW ? "raw" : "vhd";
}

/* <dir>/<uuid>.<ext>; uuids are checked, so this cannot escape the SR. */
void fsr_path(const struct file_sr *sr, const char *uuid, const char *ext,
		     char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s.%s", sr->path, uuid, ext);
}

enum fsr_kind fsr_find(const struct file_sr *sr, const char *uuid)
{
	char path[PATH_MAX];
	struct stat st;

	fsr_path(sr, uuid, "vhd", path);
	if (stat(path, &st) == 0)
		return VK_VHD;
	fsr_path(sr, uuid, "raw", path);
	if (stat(path, &st) == 0)
		return VK_RAW;
	return VK_NONE;
}

int fsr_dir_check(const struct file_sr *sr, struct sm_error *err)
{
	struct stat st;

	if (stat(sr->path, &st) < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, errno, "%s", sr->path);
	if (!S_ISDIR(st.st_mode))
		return sm_fail(err, SME_SR_UNAVAILABLE, "%s is not a directory", sr->path);
	return 0;
}

/* ---- metadata beside the image ---------------------------------------- */

int fsr_meta_read(const struct file_sr *sr, const char *uuid, struct vdi_meta *m)
{
	char path[PATH_MAX], *text = NULL;
	int rc;

	memset(m, 0, sizeof(*m));
	fsr_path(sr, uuid, "meta", path);
	rc = sm_read_file(path, 64 * 1024, &text);
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
	rc = sm_write_file_atomic(path, text, strlen(text));
	free(text);
	if (rc < 0)
		return sm_fail_errno(err, code, -rc, "cannot write %s", path);
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
		      enum fsr_kind kind, const char *uuid)
{
	char path[PATH_MAX];
	struct sm_error e = { 0 };
	struct fsr_node *n;

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
	snprintf(path, sizeof(path), "%s/%s", sr->path, name);
	if (stat(path, &n->st) < 0)
		return 0;   /* vanished under us: not part of the SR any more */
	f->count++;
	if (kind == VK_RAW) {
		n->info.virtual_size = (uint64_t)n->st.st_size;
		return 0;
	}
	if (vhd_query_path(path, &n->info, &e) < 0) {
		snprintf(n->error, sizeof(n->error), "%.255s", e.detail);
		return 0;
	}
	fsr_parent_uuid(&n->info, n->parent);
	return 0;
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
int fsr_forest_load(struct fsr_forest *f, const struct file_sr *sr, struct sm_error *err)
{
	struct sidecars sc = { 0 };
	struct dirent *de;
	DIR *d;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	d = opendir(sr->path);
	if (!d)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, errno, "%s", sr->path);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char uuid[37];
		enum fsr_kind kind = fsr_entry_kind(de->d_name, uuid);
		int side;

		if (kind != VK_NONE)
			rc = fsr_forest_add(f, sr, de->d_name, kind, uuid);
		else if ((side = sidecar_kind(de->d_name, uuid)) != 0)
			rc = sidecars_add(&sc, uuid, side);
	}
	closedir(d);
	if (rc < 0) {
		free(sc.v);
		return sm_fail(err, SME_GENERIC, "out of memory");
	}
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
	return 0;
}

void fsr_forest_free(struct fsr_forest *f)
{
	free(f->nodes);
	memset(f, 0, sizeof(*f));
}

bool fsr_is_locked(const struct file_sr *sr, const char *uuid)
{
	char path[PATH_MAX];

	fsr_path(sr, uuid, "lock", path);
	return access(path, F_OK) == 0;
}

void fsr_unlink_sidecars(const struct file_sr *sr, const char *uuid)
{
	static const char *const exts[] = { "meta", "lock" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		fsr_path(sr, uuid, exts[i], path);
		unlink(path);
	}
}


void fsr_active_path(const char *uuid, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s/active", sm_lock_dir(), uuid);
}

bool fsr_is_active(const char *uuid)
{
	char path[PATH_MAX];

	fsr_active_path(uuid, path);
	return access(path, F_OK) == 0;
}

/*
 * A leaf-coalesce of L into P runs wholly under the SR lock, so whoever
 * holds the lock and finds its record knows the GC died: if P still has
 * its own name the leaf is intact (P may have been un-hidden: hide it
 * again); otherwise P already replaced L and only P's metadata is left.
 */
int fsr_recover_leaf(const struct file_sr *sr, const char *l_uuid, const char *p_uuid)
{
	char path[PATH_MAX];

	fsr_path(sr, p_uuid, "vhd", path);
	if (access(path, F_OK) == 0) {
		vhd_set_hidden_path(path, true, NULL);
		sm_log(LOG_WARNING, "recovery: undid the interrupted leaf-coalesce of %s", l_uuid);
	} else {
		fsr_unlink_sidecars(sr, p_uuid);
		sm_log(LOG_WARNING, "recovery: finished the interrupted leaf-coalesce of %s", l_uuid);
	}
	return 0;
}
