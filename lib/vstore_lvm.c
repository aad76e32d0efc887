/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The LVM store (csm/vstore_lvm.h): the VDI store over a volume group in
 * the Python SM's LVHD layout.  Every step of a multi-step change is an
 * LVM command that commits by itself (lvcreate, lvrename, lvresize,
 * lvchange, lvremove) or a synced write through the LV; the crash
 * protocols are LV names and LV journals, as LVHDSR's.
 *
 * I/O goes through the LV's extent map on the PVs (no device-mapper
 * needed: the listing and this machine's tests), or through the device
 * node when LVM can activate and the LV is active.  The map is read from
 * one cached "lvs --segments" report that every change drops; writes
 * through it are safe while the SR lock keeps everyone else's changes out.
 *
 * Journal mapping (journal_begin/journal_replay op <-> LV journal):
 *   snapshot  src=S base=B clone=C   clone_S_1, data "<B>_<C>" (Python's)
 *   leaf      parent=P               leaf_L_1,  data "<P>"       (Python's)
 *   coalesce  parent=P               coalesce_N_1, data our text (Python reads
 *                                    the name only); a Python-made one:
 *                                    parent from N's VHD header
 *   relink    (text)                 relink_N_1, data our text
 *   zero      offset=V               zero_N_V (Python's; only handed over)
 *   any other op                     csm_<op>_<id>, tag csm-journal, data the text
 *   inflate                          inflate_<u>_<old LV bytes>: the store's own,
 *                                    recovered inside journal_replay first
 *   jvhd_<u> (libvhd resize journal) never written; found: replay fails 47
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csm/fault.h"
#include "csm/log.h"
#include "csm/lvjournal.h"
#include "csm/refcount.h"
#include "csm/util.h"
#include "csm/vstore_dir.h"
#include "csm/vstore_lvm.h"

#define TWO_TIB LVHD_VHD_PREALLOC
#define MAX_EXT 256
#define UNDO_RESIZE_SUFFIX ".undo-resize"
#define UNDO_GC_SUFFIX ".undo-gc"
#define NEW_SUFFIX ".new"

static const struct vstore_ops lvm_ops;

struct vstore_lvm *vstore_lvm_of(struct vstore *vs)
{
	return (struct vstore_lvm *)vs;
}

static struct vstore_lvm *S(const struct vstore *vs)
{
	return (struct vstore_lvm *)vs;
}

static int opener_open(void *arg, const char *path, int flags, struct vhd_io *io,
		       struct sm_error *err);
static int opener_unlink(void *arg, const char *path);

void vstore_lvm_init(struct vstore_lvm *s, const char *sr_uuid, const char *const *devices,
		     size_t ndev, bool master, bool thin)
{
	memset(s, 0, sizeof(*s));
	s->vs.ops = &lvm_ops;
	snprintf(s->sr, sizeof(s->sr), "%s", sr_uuid);
	s->vs.sr_uuid = s->sr;
	snprintf(s->vg, sizeof(s->vg), LVHD_VG_PREFIX "%s", sr_uuid);
	snprintf(s->ns, sizeof(s->ns), LVHD_NS_PREFIX "%s", sr_uuid);
	for (size_t i = 0; i < ndev && i < LVM_MAX_DEVICES; i++)
		s->devices[s->ndev++] = devices[i];
	s->master = master;
	s->thin = thin;
	s->vs.thin = thin;
	s->opener = (struct vhd_opener){ .open = opener_open, .unlink = opener_unlink, .arg = s };
}

/* The op's code, but a non-master's refusal stays LVMMaster (58): it says why. */
static void recode(struct sm_error *err, int code)
{
	if (err && err->code != SME_LVM_MASTER)
		sm_error_recode(err, code);
}

/* ---- LVM and its cached reports ------------------------------------------ */

static struct lvm *L(struct vstore_lvm *s, struct sm_error *err)
{
	struct lvm_opts o = { .master = s->master };

	if (s->lvm_open)
		return &s->lvm;
	if (lvm_open_opts(&s->lvm, s->devices, s->ndev, &o, err) < 0) {
		sm_error_recode(err, SME_SR_UNAVAILABLE);
		return NULL;
	}
	s->lvm_open = true;
	return &s->lvm;
}

/*
 * After any change: the next look asks LVM again for the LVs.  The VG's
 * PVs and extent size stay (only vgextend changes them, not this store);
 * its free space is re-read where it matters (need_space, space).
 */
static void drop_lvs(struct vstore_lvm *s)
{
	if (s->lvs_valid)
		lvm_lv_list_free(&s->lvs);
	s->lvs_valid = false;
}

static void invalidate(struct vstore_lvm *s)
{
	drop_lvs(s);
	s->lvs_fresh = s->st_fresh = false;
}

/* What one report says: the VG's stats and LVs, both read just now. */
static void take_report(struct vstore_lvm *s, const struct lvm_vg_stats *st,
			struct lvm_lv_list *lvs)
{
	drop_lvs(s);
	s->st = *st;
	s->st_valid = s->st_fresh = true;
	s->lvs = *lvs;
	s->lvs_valid = s->lvs_fresh = true;
}

/* name in the cached list, when that list is what LVM says now (see reload()). */
static struct lvm_lv *lv_known(struct vstore_lvm *s, const char *name)
{
	if (!s->master || !s->lvs_valid || !s->lvs_fresh)
		return NULL;
	for (size_t i = 0; i < s->lvs.n; i++)
		if (strcmp(s->lvs.lv[i].name, name) == 0)
			return &s->lvs.lv[i];
	return NULL;
}

/*
 * After this store's own lvchange --deltag of tag on name succeeded: the
 * cached list made to say what LVM now says, instead of asking again
 * (nothing else changed: the SR lock keeps other changes out, as for
 * reload()).  Any doubt (no such LV cached) drops the list.
 */
static void tag_removed(struct vstore_lvm *s, const char *name, const char *tag)
{
	struct lvm_lv *lv = lv_known(s, name);
	char kept[sizeof(lv->tags)];
	size_t len = strlen(tag), n = 0;

	if (!lv) {
		invalidate(s);
		return;
	}
	kept[0] = '\0';
	for (const char *p = lv->tags; *p;) {
		const char *end = strchr(p, ',');
		size_t plen = end ? (size_t)(end - p) : strlen(p);

		if (!(plen == len && strncmp(p, tag, len) == 0))
			n += (size_t)snprintf(kept + n, sizeof(kept) - n, "%s%.*s", n ? "," : "",
					      (int)plen, p);
		p = end ? end + 1 : p + plen;
	}
	memcpy(lv->tags, kept, n + 1);
}

/*
 * The VG's LVs and stats, from LVM unless cached; SME_SR_UNAVAILABLE when
 * it could not tell.  One command answers both (lvm_vg_report): each LVM
 * command costs 40-75 ms, as much as the rest of an sr_scan of 1000 VDIs.
 */
static int load(struct vstore_lvm *s, struct sm_error *err)
{
	struct lvm *l = L(s, err);
	struct lvm_vg_stats st;
	struct lvm_lv_list lvs;
	bool exists;

	if (!l)
		return -1;
	if (s->st_valid && s->lvs_valid)
		return 0;
	if (lvm_vg_report(l, s->vg, &exists, &st, &lvs, err) < 0) {
		sm_error_recode(err, SME_SR_UNAVAILABLE);
		return -1;
	}
	if (!exists)
		return sm_fail(err, SME_SR_UNAVAILABLE, "volume group %s not found on %s%s",
			       s->vg, s->ndev ? s->devices[0] : "(no device)",
			       s->ndev > 1 ? "..." : "");
	if (s->lvs_valid) {
		/* Only the stats were asked for: the list stays (callers hold LVs of it). */
		lvm_lv_list_free(&lvs);
		s->st = st;
		s->st_valid = s->st_fresh = true;
		return 0;
	}
	take_report(s, &st, &lvs);
	return 0;
}

/*
 * The LVs as LVM has them now.  On the master, a list a reload read, with
 * no change by this store since, is that answer: only the master changes
 * the VG, and within one driver call under the SR lock asking again (~40 ms
 * an LVM command) would only repeat it.  A non-master always asks: the
 * master may have changed the VG since.
 */
static int reload(struct vstore_lvm *s, struct sm_error *err)
{
	if (s->master && s->lvs_valid && s->lvs_fresh)
		return 0;
	drop_lvs(s);
	if (load(s, err) < 0)
		return -1;
	s->lvs_fresh = true;
	return 0;
}

static const struct lvm_lv *lv_get(struct vstore_lvm *s, const char *name)
{
	return s->lvs_valid ? lvm_lv_find(&s->lvs, name) : NULL;
}

static void lv_name(enum vstore_kind kind, bool old, const char *uuid, char out[LVM_NAME_MAX])
{
	snprintf(out, LVM_NAME_MAX, "%s%s%.36s", kind == VSTORE_RAW ? LVHD_RAW_PREFIX : LVHD_VHD_PREFIX,
		 old ? LVHD_OLD_PREFIX : "", uuid);
}

static bool unfinished(const struct lvm_lv *lv)
{
	return lvm_lv_has_tag(lv, VSTORE_LVM_UNFINISHED);
}

/* The published image LV of uuid of either kind (NULL: none); *kind set when found. */
static const struct lvm_lv *image_lv(struct vstore_lvm *s, const char *uuid,
				     enum vstore_kind *kind)
{
	static const enum vstore_kind kinds[] = { VSTORE_VHD, VSTORE_RAW };
	char name[LVM_NAME_MAX];

	for (size_t i = 0; i < 2; i++) {
		const struct lvm_lv *lv;

		lv_name(kinds[i], false, uuid, name);
		lv = lv_get(s, name);
		if (lv && !unfinished(lv)) {
			if (kind)
				*kind = kinds[i];
			return lv;
		}
	}
	return NULL;
}

/* ---- I/O on an LV ---------------------------------------------------------- */

/*
 * The device node when LVM activates and the LV is active, else the
 * extent map, its PVs taken from keep when given (vhd_io_keep).
 */
static int open_lv_io_kept(struct vstore_lvm *s, const struct lvm_lv *lv, int flags,
			   struct vhd_io_keep *keep, struct vhd_io *io, struct sm_error *err)
{
	struct vhd_io_extent ext[MAX_EXT];
	char path[2 * LVM_NAME_MAX + 8];
	size_t n;

	if (s->lvm_open && lvm_activation(&s->lvm) && lv->active) {
		snprintf(path, sizeof(path), "/dev/%s/%s", s->vg, lv->name);
		return vhd_io_open_direct(io, path, flags, err);
	}
	if (lvm_lv_extents(lv, &s->st, ext, MAX_EXT, &n, err) < 0)
		return -1;
	if (vhd_io_open_extents_kept(io, keep, lv->name, ext, n, flags, err) < 0)
		return -1;
	snprintf(io->name, sizeof(io->name), "%s/%s", s->vg, lv->name);
	return 0;
}

static int open_lv_io(struct vstore_lvm *s, const struct lvm_lv *lv, int flags, struct vhd_io *io,
		      struct sm_error *err)
{
	return open_lv_io_kept(s, lv, flags, NULL, io, err);
}

/* any: an unfinished LV too (its creator's own io). */
static int open_lv_name(struct vstore_lvm *s, const char *name, int flags, bool any,
			struct vhd_io *io, struct sm_error *err)
{
	const struct lvm_lv *lv;

	if (flags & VHD_IO_CREATE)
		return sm_fail(err, SME_VDI_LOAD, "%s: LVs are created by the store, not opened so",
			       name);
	if (load(s, err) < 0)
		return -1;
	lv = lv_get(s, name);
	if (!lv || (unfinished(lv) && !any))
		return sm_fail(err, SME_VDI_MISSING, "no LV %s in %s", name, s->vg);
	return open_lv_io(s, lv, flags, io, err);
}

/* Write 512 zero bytes at off of lv (an inflate's new end: no stale footer there). */
static int zero_sector(struct vstore_lvm *s, const struct lvm_lv *lv, uint64_t off,
		       struct sm_error *err)
{
	static const uint8_t zeros[512];
	struct vhd_io io = { 0 };
	int rc;

	if (open_lv_io(s, lv, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	rc = io.ops->pwrite(&io, zeros, sizeof(zeros), off);
	if (rc == 0)
		rc = io.ops->sync(&io);
	vhd_io_close(&io);
	return rc < 0 ? sm_fail_errno(err, SME_LVM_WRITE, -rc, "zeroing %s/%s at %llu", s->vg,
				      lv->name, (unsigned long long)off) : 0;
}

/* ---- the MGT volume ---------------------------------------------------------- */

static int mgt_io(struct vstore_lvm *s, struct vhd_io *io, struct sm_error *err)
{
	return open_lv_name(s, LVHD_MGT_LV, VHD_IO_RDWR, false, io, err);
}

static int mgt_loaded(struct vstore_lvm *s, struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (s->mgt_valid)
		return 0;
	if (mgt_io(s, &io, err) < 0)
		return -1;
	rc = mgt_load(&io, &s->mgt, err);
	vhd_io_close(&io);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return sm_fail(err, SME_METADATA_ERROR, "%s/MGT was never written", s->vg);
	s->mgt_valid = true;
	return 0;
}

static void mgt_index_drop(struct vstore_lvm *s)
{
	free(s->mgt_index);
	s->mgt_index = NULL;
	s->mgt_nindex = 0;
	s->mgt_index_valid = false;
}

static void mgt_drop(struct vstore_lvm *s)
{
	if (s->mgt_valid)
		mgt_free(&s->mgt);
	s->mgt_valid = false;
	mgt_index_drop(s);
}

/* By uuid, then slot: the last of a run of equal uuids is the one mgt_find returns. */
static int mgt_entry_cmp(const void *a, const void *b)
{
	const struct vstore_lvm_mgt_entry *x = a, *y = b;
	int c = strcmp(x->uuid, y->uuid);

	return c ? c : (x->slot > y->slot) - (x->slot < y->slot);
}

static int mgt_index_build(struct vstore_lvm *s)
{
	const struct mgt *m = &s->mgt;

	mgt_index_drop(s);
	s->mgt_index = malloc((m->nslots ? m->nslots : 1) * sizeof(*s->mgt_index));
	if (!s->mgt_index)
		return -1;
	for (size_t i = 0; i < m->nslots; i++) {
		const char *u = mgt_slot_get(&m->slots[i], MGT_UUID);

		if (u && mgt_slot_live(&m->slots[i]))
			s->mgt_index[s->mgt_nindex++] = (struct vstore_lvm_mgt_entry){ u, i };
	}
	qsort(s->mgt_index, s->mgt_nindex, sizeof(*s->mgt_index), mgt_entry_cmp);
	s->mgt_index_valid = true;
	return 0;
}

/* mgt_find(&s->mgt, uuid) in O(log n); the MGT must be loaded. */
static struct mgt_slot *mgt_slot_of(struct vstore_lvm *s, const char *uuid)
{
	size_t lo = 0, hi;

	if (!uuid)
		return NULL;
	if (!s->mgt_index_valid && mgt_index_build(s) < 0)
		return mgt_find(&s->mgt, uuid);   /* out of memory: the slow way still answers */
	/* The first entry above uuid; the one before it is the last equal one, if any. */
	hi = s->mgt_nindex;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(s->mgt_index[mid].uuid, uuid) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || strcmp(s->mgt_index[lo - 1].uuid, uuid) != 0)
		return NULL;
	return &s->mgt.slots[s->mgt_index[lo - 1].slot];
}

/* Apply one of mgt.c's writers; on failure the cached copy is dropped (re-read next time). */
static int mgt_change(struct vstore_lvm *s, const char *uuid, const struct mgt_kv *kv, size_t n,
		      const struct mgt_slot *add, bool del, struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (mgt_loaded(s, err) < 0 || mgt_io(s, &io, err) < 0)
		return -1;
	mgt_index_drop(s);
	if (add)
		rc = mgt_add(&io, &s->mgt, add, err);
	else if (del)
		rc = mgt_delete(&io, &s->mgt, uuid, err);
	else
		rc = mgt_update(&io, &s->mgt, uuid, kv, n, err);
	vhd_io_close(&io);
	if (rc < 0)
		mgt_drop(s);
	return rc;
}

/* ---- names ------------------------------------------------------------------- */

static void lvm_image_name(const struct vstore *vs, const char *uuid, enum vstore_kind kind,
			   char *out, size_t cap)
{
	snprintf(out, cap, "%s%s", kind == VSTORE_RAW ? LVHD_RAW_PREFIX : LVHD_VHD_PREFIX, uuid);
}

static void lvm_describe(const struct vstore *vs, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "/dev/%s/%s", S(vs)->vg, name);
}

static void lvm_locator(const struct vstore *vs, const char *parent_uuid, char *out, size_t cap)
{
	char lv[LVM_NAME_MAX];

	lv_name(VSTORE_VHD, false, parent_uuid, lv);
	if (lvhd_parent_locator(S(vs)->sr, lv, out, cap, NULL) < 0 && cap)
		out[0] = '\0';
}

static void lvm_parent_uuid(const struct vstore *vs, const struct vhd_info *info, char out[37])
{
	const char *name = info->parent_name[0] ? info->parent_name : info->parent_locator;
	struct lvhd_lv p;

	out[0] = '\0';
	if (name[0] && lvhd_locator_uuid(name, &p) && p.kind != LVHD_NONE && !p.old)
		memcpy(out, p.uuid, 37);
}

/* ---- listing and lookup -------------------------------------------------------- */

static unsigned records_of(struct vstore_lvm *s, const char *uuid)
{
	struct mgt_slot *slot;
	const char *lock;
	unsigned r = 0;

	if (!s->mgt_valid || !(slot = mgt_slot_of(s, uuid)))
		return 0;
	r |= VSTORE_HAS_META;
	lock = mgt_slot_get(slot, VSTORE_LVM_LOCK_KEY);
	if (lock && lock[0])
		r |= VSTORE_HAS_LOCK;
	return r;
}

static void list_vhd(struct vstore_lvm *s, const struct lvm_lv *lv, bool full,
		     struct vhd_io_keep *keep, struct vstore_image *img)
{
	struct sm_error e = { 0 };
	struct vhd_io io = { 0 };
	int rc;

	img->kind = VSTORE_VHD;
	if (open_lv_io_kept(s, lv, VHD_IO_RDONLY, keep, &io, &e) < 0) {
		img->parent_unknown = true;
		snprintf(img->error, sizeof(img->error), "%.255s", e.detail);
		return;
	}
	rc = full ? vhd_query(&io, &img->info, &e) : vhd_query_fast(&io, &img->info, &e);
	vhd_io_close(&io);
	if (rc < 0) {
		img->parent_unknown = true;
		snprintf(img->error, sizeof(img->error), "%.255s", e.detail);
		return;
	}
	img->virtual_size = img->info.virtual_size;
	img->hidden = img->info.hidden;
	if (full)
		img->allocated = (uint64_t)img->info.allocated_blocks * LVHD_VHD_BLOCK;
	lvm_parent_uuid(&s->vs, &img->info, img->parent);
	if (img->info.type == VHD_TYPE_DIFF && !img->parent[0])
		snprintf(img->error, sizeof(img->error), "parent '%.200s' is not an image of this SR",
			 img->info.parent_name);
}

static int lvm_list(struct vstore *vs, bool full, vstore_list_fn fn, void *arg,
		    struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	struct sm_error me = { 0 };
	struct vhd_io_keep *keep;
	struct vstore_image *img;
	struct lvm_lv_list lvs;
	int rc = 0;

	if (reload(s, err) < 0)
		return -1;
	/* A damaged MGT costs the records flags, never the listing. */
	if (mgt_loaded(s, &me) < 0)
		sm_log(LOG_WARNING, "%s: metadata not read: %s", s->vg, me.detail);
	img = malloc(sizeof(*img));
	if (!img)
		return sm_fail(err, SME_SR_UNAVAILABLE, "out of memory");
	/* The report is ours while fn runs: a store op fn calls may drop the cache. */
	lvs = s->lvs;
	s->lvs_valid = false;
	/* The PVs opened once for all the headers (NULL: each opened as it comes). */
	keep = vhd_io_keep_new();
	for (size_t i = 0; i < lvs.n && rc == 0; i++) {
		const struct lvm_lv *lv = &lvs.lv[i];
		struct lvhd_lv p;

		if (!lvhd_lv_parse(lv->name, &p) || p.old || unfinished(lv))
			continue;
		memset(img, 0, sizeof(*img));
		memcpy(img->uuid, p.uuid, 37);
		img->phys_size = lv->size;
		if (p.kind == LVHD_VHD) {
			list_vhd(s, lv, full, keep, img);
		} else {
			img->kind = VSTORE_RAW;
			img->virtual_size = lv->size;
			img->hidden = lvm_lv_has_tag(lv, VSTORE_LVM_HIDDEN);
		}
		img->records = records_of(s, p.uuid);
		rc = fn(arg, img);
	}
	vhd_io_keep_free(keep);
	free(img);
	lvm_lv_list_free(&lvs);
	return rc;
}

static int lvm_find(struct vstore *vs, const char *uuid, enum vstore_kind *kind, int code,
		    struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);

	*kind = VSTORE_NONE;
	/* A lookup that decides is never answered from a cache. */
	if (reload(s, err) < 0)
		return -1;
	image_lv(s, uuid, kind);
	return 0;
}

static int lvm_check(struct vstore *vs, struct sm_error *err)
{
	return load(S(vs), err);
}

static int lvm_exists(struct vstore *vs)
{
	struct vstore_lvm *s = S(vs);
	struct sm_error e = { 0 };
	struct lvm *l = L(s, &e);
	struct lvm_vg_stats st;
	struct lvm_lv_list lvs;
	bool exists;

	/* The report answers this as well, and then load() and reload() need not ask again. */
	s->st_valid = false;
	drop_lvs(s);
	if (!l || lvm_vg_report(l, s->vg, &exists, &st, &lvs, &e) < 0)
		return -EIO;
	if (!exists)
		return 0;
	take_report(s, &st, &lvs);
	s->lvs_fresh = true;
	return 1;
}

/* ---- journal LVs (used by clear and the journal ops) ---------------------------- */

static bool journal_lv(const struct lvm_lv *lv)
{
	return lvm_lv_has_tag(lv, LVJ_TAG) || lvm_lv_has_tag(lv, LVJ_CSM_TAG);
}

/*
 * The cached list and VG stats follow the store's own lvremove (as
 * tag_removed): the LV leaves the list and its extents become free, when
 * all its segments are linear (then its size is whole extents of the VG).
 */
static void lv_removed(struct vstore_lvm *s, const char *name)
{
	struct lvm_lv *lv = lv_known(s, name);
	size_t i;

	if (!lv || !s->st_valid || !s->st_fresh || lv->size > s->st.size - s->st.free) {
		invalidate(s);
		return;
	}
	for (size_t k = 0; k < lv->nseg; k++) {
		if (!lv->seg[k].linear) {
			invalidate(s);
			return;
		}
	}
	s->st.free += lv->size;
	i = (size_t)(lv - s->lvs.lv);
	free(lv->seg);
	memmove(lv, lv + 1, (s->lvs.n - i - 1) * sizeof(*lv));
	s->lvs.n--;
}

static int remove_lv(struct vstore_lvm *s, const char *name, struct sm_error *err)
{
	int rc = lvm_lvremove(&s->lvm, s->vg, name, err);

	if (rc == 0)
		lv_removed(s, name);
	else
		invalidate(s);
	return rc;
}

/*
 * lvcreate leaves a new LV active where LVM can activate; once written it
 * is deactivated unless uuid (NULL for a journal) holds references here
 * (the new leaf of an attached VDI keeps the activation), as LVHDSR's
 * LVActivator undoes the activations of an op.  Best effort: an LV left
 * active is harmless, only a device-mapper node more.
 */
static void deactivate_new(struct vstore_lvm *s, const char *name, const char *uuid)
{
	struct sm_error e = { 0 };
	struct refcount c = { 0 };

	if (!s->lvm_open || !lvm_activation(&s->lvm))
		return;
	if (uuid && (refcount_read(s->ns, uuid, &c, &e) < 0 || c.count + c.binary))
		return;
	if (lvm_lv_activation(&s->lvm, s->vg, name, LVM_DEACTIVATE, NULL, &e) < 0)
		sm_log(LOG_WARNING, "%s/%s left active: %s", s->vg, name, e.detail);
	invalidate(s);
}

/*
 * The GC's markers live beside the counts, in <refcount dir>/<ns>.gc/: in
 * /run like them, so a reboot clears both together.
 */
static int borrow_marker(struct vstore_lvm *s, const char *uuid, char *out, size_t cap)
{
	return snprintf(out, cap, "%s/%s.gc%s%s", refcount_base_dir(), s->ns, uuid ? "/" : "",
			uuid ? uuid : "") >= (int)cap ? -ENAMETOOLONG : 0;
}

static int lvm_clear(struct vstore *vs, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char names[64][LVM_NAME_MAX], gcns[PATH_MAX];
	size_t n;

	do {
		n = 0;
		if (reload(s, err) < 0)
			return -1;
		for (size_t i = 0; i < s->lvs.n && n < 64; i++)
			if (journal_lv(&s->lvs.lv[i]) || strncmp(s->lvs.lv[i].name, "jvhd_", 5) == 0)
				snprintf(names[n++], LVM_NAME_MAX, "%s", s->lvs.lv[i].name);
		for (size_t i = 0; i < n; i++)
			if (remove_lv(s, names[i], err) < 0)
				return -1;
	} while (n == 64);
	if (borrow_marker(s, NULL, gcns, sizeof(gcns)) < 0)
		return sm_fail(err, SME_SM_GENERAL, "%s: GC marker path too long", s->vg);
	/* The GC's markers go with the counts they mark. */
	return refcount_reset_ns(s->ns, err) < 0 ? -1 :
	       refcount_reset_ns(strrchr(gcns, '/') + 1, err);
}

/* ---- create, publish, abandon ----------------------------------------------------- */

static int lv_size_for(enum vstore_kind kind, uint64_t room, uint64_t *size, struct sm_error *err)
{
	if (kind == VSTORE_RAW)
		return lvhd_raw_lv_size(room, size, err);
	return lvhd_round_lv(room ? room : LVHD_THIN_LV_SIZE, size, err);
}

/* Refuse when the VG has not room free (44, as _ensureSpaceAvailable). */
static int need_space(struct vstore_lvm *s, uint64_t bytes, const char *what,
		      struct sm_error *err)
{
	/* As lvm_space: re-read unless read since this store's last change. */
	if (!s->master || !s->st_fresh)
		s->st_valid = false;
	if (load(s, err) < 0)
		return -1;
	if (s->st.free < bytes)
		return sm_fail(err, SME_SR_NO_SPACE, "%s needs %llu bytes, %s has %llu free", what,
			       (unsigned long long)bytes, s->vg, (unsigned long long)s->st.free);
	return 0;
}

/* lvcreate name, tagged unfinished when asked; the map re-read. */
static int make_lv(struct vstore_lvm *s, const char *name, uint64_t size, bool mark, int code,
		   struct sm_error *err)
{
	const char *tags[] = { VSTORE_LVM_UNFINISHED };
	int rc;

	if (need_space(s, size, name, err) < 0)
		return -1;
	rc = lvm_lvcreate(&s->lvm, s->vg, name, size, tags, mark ? 1 : 0, false, err);
	invalidate(s);
	if (rc < 0) {
		recode(err, code);
		return -1;
	}
	return load(s, err);
}

static int lvm_create(struct vstore *vs, const char *uuid, enum vstore_kind kind, uint64_t room,
		      struct vhd_io *io, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char name[LVM_NAME_MAX];
	enum vstore_kind other;
	uint64_t size;

	if (load(s, err) < 0 || lv_size_for(kind, room, &size, err) < 0)
		return -1;
	if (image_lv(s, uuid, &other))
		return sm_fail(err, SME_VDI_EXISTS, "VDI %s exists in %s", uuid, s->vg);
	lv_name(kind, false, uuid, name);
	/* A leftover of a killed create (still marked) goes first. */
	if (lv_get(s, name) && remove_lv(s, name, err) < 0)
		return -1;
	if (make_lv(s, name, size, true, SME_VDI_CREATE, err) < 0)
		return -1;
	sm_fault_point("lvm-create:lvcreate");
	if (open_lv_name(s, name, VHD_IO_RDWR, true, io, err) < 0) {
		remove_lv(s, name, NULL);
		return -1;
	}
	return 0;
}

static int lvm_publish(struct vstore *vs, const char *uuid, enum vstore_kind kind,
		       struct vhd_io *io, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char name[LVM_NAME_MAX];
	enum vstore_kind other;
	int rc = io->ops ? io->ops->sync(io) : 0;

	vhd_io_close(io);
	lv_name(kind, false, uuid, name);
	if (rc < 0) {
		sm_fail_errno(err, SME_VDI_CREATE, -rc, "cannot sync %s/%s", s->vg, name);
		goto drop;
	}
	if (reload(s, err) < 0)
		goto drop;
	if (image_lv(s, uuid, &other)) {
		sm_fail(err, SME_VDI_EXISTS, "VDI %s exists in %s", uuid, s->vg);
		goto drop;
	}
	rc = lvm_lv_del_tag(&s->lvm, s->vg, name, VSTORE_LVM_UNFINISHED, err);
	if (rc == 0)
		tag_removed(s, name, VSTORE_LVM_UNFINISHED);
	else
		invalidate(s);
	if (rc == 0) {
		deactivate_new(s, name, uuid);
		return 0;
	}
	recode(err, SME_VDI_CREATE);
drop:
	remove_lv(s, name, NULL);
	return -1;
}

static void lvm_forget(struct vstore *vs, const char *uuid)
{
	struct sm_error e = { 0 };

	if (mgt_change(S(vs), uuid, NULL, 0, NULL, true, &e) < 0)
		sm_log(LOG_WARNING, "%s: metadata of %s not removed: %s", S(vs)->vg, uuid, e.detail);
}

/* vstore_ops.forget: the MGT slot goes (err may be NULL). */
static int lvm_forget_op(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	return mgt_change(S(vs), uuid, NULL, 0, NULL, true, err) < 0 ? -1 : 0;
}

static int lvm_abandon(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	static const enum vstore_kind kinds[] = { VSTORE_VHD, VSTORE_RAW };
	struct vstore_lvm *s = S(vs);
	char name[LVM_NAME_MAX];

	if (reload(s, err) < 0)
		return -1;
	for (size_t i = 0; i < 2; i++) {
		lv_name(kinds[i], false, uuid, name);
		if (lv_get(s, name) && remove_lv(s, name, err) < 0)
			return -1;
		if (reload(s, err) < 0)
			return -1;
	}
	return lvm_forget_op(vs, uuid, err);
}

/* ---- open and remove ------------------------------------------------------------- */

static int lvm_open_image(struct vstore *vs, const char *uuid, enum vstore_kind kind, int flags,
			  struct vhd_io *io, struct sm_error *err)
{
	char name[LVM_NAME_MAX];

	lv_name(kind, false, uuid, name);
	return open_lv_name(S(vs), name, flags, false, io, err);
}

static int refcount_total(struct vstore_lvm *s, const char *uuid, unsigned *total,
			  struct sm_error *err)
{
	struct refcount rc;

	if (refcount_read(s->ns, uuid, &rc, err) < 0)
		return -1;
	*total = rc.count + rc.binary;
	return 0;
}

/*
 * Refused while this host holds the LV active (its refcount): lvremove of
 * an active LV fails on a host with device-mapper, and with activation off
 * a count still says someone attached it.
 */
static int lvm_remove(struct vstore *vs, const char *uuid, enum vstore_kind kind, bool nosync,
		      struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char name[LVM_NAME_MAX];
	unsigned total;

	lv_name(kind, false, uuid, name);
	if (reload(s, err) < 0)
		return -1;
	if (lv_get(s, name)) {
		if (refcount_total(s, uuid, &total, err) < 0)
			return -1;
		if (total)
			return sm_fail(err, SME_VDI_IN_USE, "%s/%s is active on this host "
				       "(refcount %u)", s->vg, name, total);
		if (remove_lv(s, name, err) < 0)
			return -1;
	}
	lvm_forget(vs, uuid);
	return 0;
}

/* Every LVM change is committed when the command returns. */
static int lvm_sync(struct vstore *vs, struct sm_error *err)
{
	return 0;
}

/* ---- room: inflate and deflate ------------------------------------------------------ */

static uint64_t lvm_room_for(const struct vstore *vs, uint64_t virt, enum vstore_fit fit,
			     uint64_t data)
{
	uint64_t size = 0;

	if (fit == VSTORE_FIT_EMPTY)
		return LVHD_THIN_LV_SIZE;
	if (lvhd_vhd_lv_size(fit == VSTORE_FIT_DATA ? data : virt, &size, NULL) < 0)
		return UINT64_MAX;   /* cannot be given: inflate reports it */
	return size;
}

/* The inflate journal inflate_<u>_<old bytes> (journaler.py's, value in the name). */
static int inflate_journal_name(struct vstore_lvm *s, const char *uuid, uint64_t old,
				char out[LVJ_NAME_MAX], struct sm_error *err)
{
	char value[32];
	bool in_lv;

	snprintf(value, sizeof(value), "%llu", (unsigned long long)old);
	if (lvjournal_lv_name(s->vg, LVJ_INFLATE, uuid, value, out, LVJ_NAME_MAX, &in_lv, err) < 0)
		return -1;
	if (in_lv)
		return sm_fail(err, SME_SM_GENERAL, "inflate journal of %s does not fit a name", uuid);
	return 0;
}

/* Footer to new_size - 512 through the current map (the LV already that large). */
static int move_footer(struct vstore_lvm *s, const char *name, uint64_t new_size,
		       struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (reload(s, err) < 0 || open_lv_name(s, name, VHD_IO_RDWR, true, &io, err) < 0)
		return -1;
	rc = vhd_set_phys_size(&io, new_size, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = sm_fail_errno(err, SME_LVM_WRITE, -rc, "cannot sync %s", io.name);
	vhd_io_close(&io);
	return rc;
}

static int resize_lv(struct vstore_lvm *s, const char *name, uint64_t size, struct sm_error *err)
{
	int rc = lvm_lvresize(&s->lvm, s->vg, name, size, err);

	invalidate(s);
	return rc;
}

static int lvm_inflate(struct vstore *vs, const char *uuid, uint64_t room, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	const struct lvm_lv *lv;
	const char *jtags[] = { LVJ_TAG };
	char name[LVM_NAME_MAX], jname[LVJ_NAME_MAX];
	uint64_t want, old;

	if (reload(s, err) < 0)
		return -1;
	lv_name(VSTORE_VHD, false, uuid, name);
	if (!(lv = lv_get(s, name))) {
		lv_name(VSTORE_RAW, false, uuid, name);
		if (lv_get(s, name))
			return 0;   /* a raw LV has its size */
		return sm_fail(err, SME_VDI_MISSING, "no VHD LV for %s in %s", uuid, s->vg);
	}
	if (room == UINT64_MAX || lvhd_round_lv(room, &want, err) < 0)
		return sm_fail(err, SME_VDI_SIZE, "cannot inflate %s: size out of range", uuid);
	old = lv->size;
	if (want <= old)
		return 0;
	if (need_space(s, want - old + LVJ_LV_SIZE, name, err) < 0 ||
	    inflate_journal_name(s, uuid, old, jname, err) < 0)
		return -1;
	if (lvm_lvcreate(&s->lvm, s->vg, jname, LVJ_LV_SIZE, jtags, 1, false, err) < 0) {
		invalidate(s);
		return -1;
	}
	invalidate(s);
	deactivate_new(s, jname, NULL);
	sm_fault_point("lvm-inflate:journal");
	if (resize_lv(s, name, want, err) < 0)
		goto undo;
	sm_fault_point("lvm-inflate:lvresize");
	if (reload(s, err) < 0 || !(lv = lv_get(s, name)) ||
	    zero_sector(s, lv, want - 512, err) < 0)
		goto undo;
	sm_fault_point("lvm-inflate:zero");
	if (move_footer(s, name, want, err) < 0)
		goto undo;
	sm_fault_point("lvm-inflate:footer");
	if (remove_lv(s, jname, err) < 0)
		return -1;
	return 0;
undo:
	/* Back to the old size while the journal still says it (else recovery does). */
	{
		struct sm_error e = { 0 };

		if (reload(s, &e) == 0 && (lv = lv_get(s, name)) && lv->size > old &&
		    zero_sector(s, lv, lv->size - 512, &e) == 0 && move_footer(s, name, old, &e) == 0 &&
		    resize_lv(s, name, old, &e) == 0)
			remove_lv(s, jname, &e);
	}
	return -1;
}

/* Shrink name's LV to roundup4M(its VHD's phys size): footer first, then the LV. */
static int deflate_lv(struct vstore_lvm *s, const char *name, struct sm_error *err)
{
	const struct lvm_lv *lv;
	struct vhd_info info;
	struct vhd_io io = { 0 };
	uint64_t want;
	int rc;

	if (reload(s, err) < 0)
		return -1;
	if (!(lv = lv_get(s, name)))
		return sm_fail(err, SME_VDI_MISSING, "no LV %s in %s", name, s->vg);
	if (open_lv_io(s, lv, VHD_IO_RDONLY, &io, err) < 0)
		return -1;
	rc = vhd_query(&io, &info, err);
	vhd_io_close(&io);
	if (rc < 0 || lvhd_round_lv(info.phys_size, &want, err) < 0)
		return -1;
	if (want >= lv->size)
		return 0;
	if (move_footer(s, name, want, err) < 0)
		return -1;
	sm_fault_point("lvm-deflate:footer");
	return resize_lv(s, name, want, err);
}

static int lvm_deflate(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char name[LVM_NAME_MAX];

	if (reload(s, err) < 0)
		return -1;
	lv_name(VSTORE_VHD, false, uuid, name);
	if (!lv_get(s, name)) {
		lv_name(VSTORE_RAW, false, uuid, name);
		if (lv_get(s, name))
			return 0;
		return sm_fail(err, SME_VDI_MISSING, "no VHD LV for %s in %s", uuid, s->vg);
	}
	return deflate_lv(s, name, err);
}

/*
 * An inflate cut short (lvhdutil's inflate journal, ours or Python's):
 * back to the recorded size when the VHD's data fits it (the footer moved
 * back down, the LV shrunk), else forward (the footer at the LV's end).
 */
static int recover_inflate(struct vstore_lvm *s, const char *uuid, const char *value,
			   struct sm_error *err)
{
	const struct lvm_lv *lv;
	char name[LVM_NAME_MAX];
	uint64_t old;
	struct sm_error e = { 0 };

	if (sm_parse_u64(value, &old) < 0 || !old || old % 512)
		return sm_fail(err, SME_SR_UNAVAILABLE, "inflate journal of %s: bad size '%s'", uuid,
			       value);
	if (reload(s, err) < 0)
		return -1;
	lv_name(VSTORE_VHD, false, uuid, name);
	if (!(lv = lv_get(s, name)))
		return 0;   /* the VDI is gone: nothing to put back */
	if (lv->size <= old)
		return 0;   /* the lvresize never happened: the footer is where it was */
	if (zero_sector(s, lv, lv->size - 512, err) < 0)
		return -1;
	if (move_footer(s, name, old, &e) == 0) {
		if (resize_lv(s, name, old, err) < 0)
			return -1;
		sm_log(LOG_WARNING, "recovery: %s back to %llu bytes (interrupted inflate)", name,
		       (unsigned long long)old);
		return 0;
	}
	if (reload(s, err) < 0 || !(lv = lv_get(s, name)) || move_footer(s, name, lv->size, err) < 0)
		return -1;
	sm_log(LOG_WARNING, "recovery: finished the interrupted inflate of %s (%s)", name,
	       e.detail);
	return 0;
}

/* ---- flags and space ---------------------------------------------------------------- */

static int image_name_of(struct vstore_lvm *s, const char *uuid, char name[LVM_NAME_MAX],
			 struct sm_error *err)
{
	enum vstore_kind kind;

	if (reload(s, err) < 0)
		return -1;
	if (!image_lv(s, uuid, &kind))
		return sm_fail(err, SME_VDI_MISSING, "no LV for %s in %s", uuid, s->vg);
	lv_name(kind, false, uuid, name);
	return 0;
}

static int lvm_set_read_only(struct vstore *vs, const char *uuid, bool ro, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char name[LVM_NAME_MAX];
	int rc;

	if (image_name_of(s, uuid, name, err) < 0)
		return -1;
	rc = lvm_lv_set_read_only(&s->lvm, s->vg, name, ro, err);
	invalidate(s);
	return rc;
}

static int lvm_raw_set_hidden(struct vstore *vs, const char *uuid, bool hidden,
			      struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	const struct lvm_lv *lv;
	char name[LVM_NAME_MAX];
	int rc;

	lv_name(VSTORE_RAW, false, uuid, name);
	if (reload(s, err) < 0)
		return -1;
	if (!(lv = lv_get(s, name)))
		return sm_fail(err, SME_VDI_MISSING, "no LV %s in %s", name, s->vg);
	if (lvm_lv_has_tag(lv, VSTORE_LVM_HIDDEN) == hidden)
		return 0;
	rc = hidden ? lvm_lv_add_tag(&s->lvm, s->vg, name, VSTORE_LVM_HIDDEN, err)
		    : lvm_lv_del_tag(&s->lvm, s->vg, name, VSTORE_LVM_HIDDEN, err);
	invalidate(s);
	return rc;
}

static int lvm_space(struct vstore *vs, uint64_t *size, uint64_t *used, uint64_t *free,
		     struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);

	/* Free space moves with every change: re-read unless read since the last one. */
	if (!s->master || !s->st_fresh)
		s->st_valid = false;
	if (load(s, err) < 0)
		return -1;
	/* Any of the three may be NULL (sr_scan asks for size and used only). */
	if (size)
		*size = s->st.size;
	if (free)
		*free = s->st.free;
	if (used)
		*used = s->st.size - s->st.free;
	return 0;
}

/* ---- activation ------------------------------------------------------------------- */

/*
 * refcounter.py's counts under the activation lock, and lvchange with them
 * (0 -> 1 activates, 1 -> 0 deactivates; a no-op when LVM cannot activate).
 */
static int activation(struct vstore_lvm *s, const char *uuid, bool leaf, bool on,
		      struct sm_error *err)
{
	struct sm_lock lk;
	struct refcount before;
	char name[LVM_NAME_MAX];
	unsigned total;
	int delta = on ? 1 : -1, rc = -1;

	if (image_name_of(s, uuid, name, err) < 0 || refcount_lock(&lk, s->ns, uuid, err) < 0)
		return -1;
	if (refcount_read(s->ns, uuid, &before, err) < 0 ||
	    refcount_adjust(s->ns, uuid, leaf ? 0 : delta, leaf ? delta : 0, &total, err) < 0)
		goto out;
	rc = 0;
	if (on && before.count + before.binary == 0 && total)
		rc = lvm_lv_activation(&s->lvm, s->vg, name, LVM_ACTIVATE, NULL, err);
	else if (!on && before.count + before.binary && !total)
		rc = lvm_lv_activation(&s->lvm, s->vg, name, LVM_DEACTIVATE, NULL, err);
	invalidate(s);
	if (rc < 0)   /* the count says what the LV is */
		refcount_set(s->ns, uuid, before.count, before.binary, NULL);
out:
	lock_release(&lk);
	return rc;
}

static int lvm_activate(struct vstore *vs, const char *uuid, bool leaf, struct sm_error *err)
{
	return activation(S(vs), uuid, leaf, true, err);
}

static int lvm_deactivate(struct vstore *vs, const char *uuid, bool leaf, struct sm_error *err)
{
	return activation(S(vs), uuid, leaf, false, err);
}

static int lvm_borrow(struct vstore *vs, const char *uuid, bool on, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char dir[PATH_MAX], marker[PATH_MAX];
	int fd;

	if (borrow_marker(s, NULL, dir, sizeof(dir)) < 0 ||
	    borrow_marker(s, uuid, marker, sizeof(marker)) < 0)
		return sm_fail(err, SME_SM_GENERAL, "%s: GC marker path too long", s->vg);
	if (!on) {
		if (unlink(marker) < 0 && errno != ENOENT)
			sm_log(LOG_WARNING, "%s: GC marker %s not removed: %m", s->vg, marker);
		return activation(s, uuid, false, false, err);
	}
	if (activation(s, uuid, false, true, err) < 0)
		return -1;
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		sm_fail_errno(err, SME_SM_GENERAL, errno, "%s: cannot mark the GC's activation of %s",
			      s->vg, uuid);
		activation(s, uuid, false, false, NULL);
		return -1;
	}
	close(fd);
	return 0;
}

/* One borrowed count back: deactivated at 0, or only counted when the LV is gone. */
static int give_back(struct vstore_lvm *s, const char *uuid, struct sm_error *err)
{
	enum vstore_kind kind;
	struct sm_lock lk;
	int rc;

	if (reload(s, err) < 0)
		return -1;
	if (image_lv(s, uuid, &kind))
		return activation(s, uuid, false, false, err);
	if (refcount_lock(&lk, s->ns, uuid, err) < 0)
		return -1;
	rc = refcount_adjust(s->ns, uuid, -1, 0, NULL, err);
	lock_release(&lk);
	return rc;
}

static int lvm_reclaim_borrowed(struct vstore *vs, unsigned *reclaimed, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char dir[PATH_MAX], marker[PATH_MAX];
	struct dirent *d;
	DIR *dp;
	int rc = 0;

	*reclaimed = 0;
	if (borrow_marker(s, NULL, dir, sizeof(dir)) < 0)
		return sm_fail(err, SME_SM_GENERAL, "%s: GC marker path too long", s->vg);
	if (!(dp = opendir(dir)))
		return errno == ENOENT ? 0 :
		       sm_fail_errno(err, SME_SM_GENERAL, errno, "%s: cannot list %s", s->vg, dir);
	while ((d = readdir(dp))) {
		if (!sm_uuid_valid(d->d_name) ||
		    borrow_marker(s, d->d_name, marker, sizeof(marker)) < 0)
			continue;
		/* Marker first: a kill now leaks the count rather than taking it twice. */
		if (unlink(marker) < 0) {
			rc = sm_fail_errno(err, SME_SM_GENERAL, errno, "%s: cannot remove %s",
					   s->vg, marker);
			break;
		}
		if (give_back(s, d->d_name, err) < 0) {
			rc = -1;
			break;
		}
		sm_log(LOG_INFO, "%s: gave back the activation of %s a killed GC held", s->vg,
		       d->d_name);
		(*reclaimed)++;
	}
	closedir(dp);
	return rc;
}

static void lvm_data_path(const struct vstore *vs, const char *uuid, enum vstore_kind kind,
			  char *out, size_t cap)
{
	snprintf(out, cap, "/dev/%s/%s%s", S(vs)->vg,
		 kind == VSTORE_RAW ? LVHD_RAW_PREFIX : LVHD_VHD_PREFIX, uuid);
}

/* Activation records: this host's refcount files (single host; see vstore_lvm.h). */
static int lvm_active_set(struct vstore *vs, const char *uuid, bool rw, int code,
			  struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	struct sm_lock lk;
	int rc;

	if (refcount_lock(&lk, s->ns, uuid, err) < 0) {
		recode(err, code);
		return -1;
	}
	rc = refcount_adjust(s->ns, uuid, 0, 1, NULL, err);
	lock_release(&lk);
	if (rc < 0)
		recode(err, code);
	return rc;
}

static int lvm_active_clear(struct vstore *vs, const char *uuid)
{
	struct vstore_lvm *s = S(vs);
	struct sm_error e = { 0 };
	struct sm_lock lk;
	int rc;

	if (refcount_lock(&lk, s->ns, uuid, &e) < 0)
		return -EIO;
	rc = refcount_adjust(s->ns, uuid, 0, -1, NULL, &e);
	lock_release(&lk);
	return rc < 0 ? -EIO : 0;
}

static int lvm_active_each(struct vstore *vs, vstore_active_fn fn, void *arg)
{
	struct vstore_lvm *s = S(vs);
	char dir[PATH_MAX];
	struct dirent *d;
	DIR *dp;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/%s", refcount_base_dir(), s->ns);
	if (!(dp = opendir(dir)))
		return errno == ENOENT ? 0 : -errno;
	while (rc == 0 && (d = readdir(dp))) {
		struct sm_error e = { 0 };
		struct refcount c;

		if (!sm_uuid_valid(d->d_name))
			continue;
		if (refcount_read(s->ns, d->d_name, &c, &e) < 0) {
			rc = -EIO;
			break;
		}
		if (c.count + c.binary)
			rc = fn(arg, d->d_name, vstore_dir_host_id());
	}
	closedir(dp);
	return rc;
}

/* ---- snapshot steps ------------------------------------------------------------------ */

/* The cached list follows the store's own rename (as tag_removed). */
static int rename_lv(struct vstore_lvm *s, const char *from, const char *to, struct sm_error *err)
{
	int rc = lvm_lvrename(&s->lvm, s->vg, from, to, err);
	struct lvm_lv *lv = rc == 0 ? lv_known(s, from) : NULL;

	if (!lv || lv_known(s, to) || strlen(to) >= sizeof(lv->name)) {
		invalidate(s);
		return rc;
	}
	memcpy(lv->name, to, strlen(to) + 1);
	return 0;
}

/*
 * lvchange -p, asked of LVM only when the cached list (what LVM says now)
 * does not already say so; the list then follows the change.  Without
 * such a list: lvm_lv_set_read_only, which asks LVM first.
 */
static int set_lv_read_only(struct vstore_lvm *s, const char *name, bool ro, struct sm_error *err)
{
	struct lvm_lv *lv = lv_known(s, name);
	int rc;

	if (!lv) {
		rc = lvm_lv_set_read_only(&s->lvm, s->vg, name, ro, err);
		invalidate(s);
		return rc;
	}
	if (lv->read_only == ro)
		return 0;
	rc = lvm_lv_set_permission(&s->lvm, s->vg, name, ro, err);
	if (rc < 0) {
		invalidate(s);
		return rc;
	}
	lv->read_only = ro;
	lv->attr[1] = ro ? 'r' : 'w';
	return 0;
}

/* The refcount of from goes to to (an LV renamed under an activation). */
static void refcount_move(struct vstore_lvm *s, const char *from, const char *to)
{
	struct sm_error e = { 0 };
	struct refcount c;

	if (refcount_read(s->ns, from, &c, &e) < 0 || c.count + c.binary == 0)
		return;
	if (refcount_set(s->ns, to, c.count, c.binary, &e) < 0 ||
	    refcount_set(s->ns, from, 0, 0, &e) < 0)
		sm_log(LOG_WARNING, "%s: refcount of %s not moved to %s: %s", s->vg, from, to,
		       e.detail);
}

/* A count for a name that no longer exists means nothing: dropped. */
static void refcount_drop(struct vstore_lvm *s, const char *uuid)
{
	struct sm_error e = { 0 };

	if (refcount_set(s->ns, uuid, 0, 0, &e) < 0)
		sm_log(LOG_WARNING, "%s: refcount of %s not dropped: %s", s->vg, uuid, e.detail);
}

/*
 * LVHDSR's step 2 and 3: the leaf's LV becomes the base (lvrename: its
 * data and extents stay where they are) and is deflated; the leaf's name
 * is then free for its new child.  The base takes one reference of the
 * leaf's activation (RefCounter.set(base, 1, 0)).
 */
static int lvm_snap_keep(struct vstore *vs, const char *src, const char *base, int code,
			 struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char sname[LVM_NAME_MAX], bname[LVM_NAME_MAX];
	struct sm_error e = { 0 };
	struct refcount c;

	lv_name(VSTORE_VHD, false, src, sname);
	lv_name(VSTORE_VHD, false, base, bname);
	if (reload(s, err) < 0)
		return -1;
	if (!lv_get(s, sname))
		return sm_fail(err, image_lv(s, src, NULL) ? SME_UNIMPLEMENTED : code,
			       "no VHD LV %s in %s (a raw VDI cannot be snapshotted)", sname, s->vg);
	if (lv_get(s, bname))
		return sm_fail(err, code, "%s exists in %s", bname, s->vg);
	if (rename_lv(s, sname, bname, err) < 0)
		goto fail;
	snprintf(s->last_base, sizeof(s->last_base), "%s", base);
	if (refcount_read(s->ns, src, &c, &e) == 0 && c.count + c.binary)
		refcount_set(s->ns, base, 1, 0, NULL);
	sm_fault_point("lvm-snapshot:keep");
	if (deflate_lv(s, bname, err) < 0)
		goto fail;
	sm_fault_point("lvm-snapshot:deflate");
	return 0;
fail:
	recode(err, code);
	return -1;
}

/* The empty child in target (an unfinished LV): vhd-util snapshot -S 2 TiB with the dm locator. */
static int make_child(struct vstore_lvm *s, const char *target, const char *parent, uint64_t size,
		      int code, struct sm_error *err)
{
	struct vhd_io io = { 0 }, pio = { 0 };
	char pname[LVM_NAME_MAX], loc[LVHD_DM_NAME_MAX + 4];
	int rc = -1;

	lv_name(VSTORE_VHD, false, parent, pname);
	if (lvhd_parent_locator(s->sr, pname, loc, sizeof(loc), err) < 0)
		return -1;
	if (make_lv(s, target, LVHD_THIN_LV_SIZE, true, code, err) < 0)
		return -1;
	sm_fault_point("lvm-snapshot:lvcreate");
	if (open_lv_name(s, pname, VHD_IO_RDONLY, false, &pio, err) < 0 ||
	    open_lv_name(s, target, VHD_IO_RDWR, true, &io, err) < 0)
		goto out;
	rc = vhd_create_diff_prealloc(&io, &pio, loc, size, TWO_TIB, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = sm_fail_errno(err, code, -rc, "cannot sync %s", io.name);
out:
	vhd_io_close(&io);
	vhd_io_close(&pio);
	if (rc == 0) {
		sm_fault_point("lvm-snapshot:child-vhd");
		rc = lvm_lv_del_tag(&s->lvm, s->vg, target, VSTORE_LVM_UNFINISHED, err);
		if (rc == 0)
			tag_removed(s, target, VSTORE_LVM_UNFINISHED);
		else
			invalidate(s);
	}
	return rc;
}

/*
 * After snap_keep the leaf's name is free and the child is made under it
 * directly.  A leaf whose name still holds data (replace without keep:
 * the empty leaf re-parented on its parent) gets the child as VHD-<u>.new,
 * then the leaf is removed and .new renamed over: a crash between leaves
 * .new alone, an equal child, which snap_undo and the sweep rename back.
 */
static int lvm_snap_child(struct vstore *vs, const char *uuid, const char *parent, uint64_t size,
			  bool replace, int code, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char name[LVM_NAME_MAX], tmp[LVM_NAME_MAX + 8];
	bool exists;

	lv_name(VSTORE_VHD, false, uuid, name);
	snprintf(tmp, sizeof(tmp), "%s" NEW_SUFFIX, name);
	if (reload(s, err) < 0)
		goto fail;
	exists = lv_get(s, name) != NULL;
	if (exists && !replace) {
		sm_fail(err, SME_VDI_EXISTS, "%s exists in %s", name, s->vg);
		goto fail;
	}
	if (lv_get(s, tmp) && remove_lv(s, tmp, err) < 0)
		goto fail;
	if (make_child(s, exists ? tmp : name, parent, size, code, err) < 0)
		goto fail;
	if (exists) {
		if (remove_lv(s, name, err) < 0)
			goto fail;
		sm_fault_point("lvm-snapshot:replace");
		if (rename_lv(s, tmp, name, err) < 0)
			goto fail;
	}
	deactivate_new(s, name, uuid);
	return 0;
fail:
	recode(err, code);
	return -1;
}

/* The base's MGT slot as LVHDSR writes it: "base copy", read-only, not managed. */
static int base_slot(struct vstore_lvm *s, const char *base, struct sm_error *err)
{
	struct vdi_meta m = { .label = "base copy", .description = "", .read_only = true };
	struct mgt_slot rec = { 0 };
	int rc;

	if (mgt_loaded(s, err) < 0)
		return -1;
	if (mgt_find(&s->mgt, base))
		return 0;
	snprintf(m.vdi_type, sizeof(m.vdi_type), "user");
	rc = mgt_slot_from_meta(&rec, base, &m, "vhd", false, err);
	if (rc == 0)
		rc = mgt_change(s, base, NULL, 0, &rec, false, err);
	mgt_slot_free(&rec);
	return rc;
}

/*
 * LVHDSR's last steps, once the base's children exist: the base hidden,
 * read-only, and its MGT slot.
 */
static int lvm_snap_commit(struct vstore *vs, int code, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char bname[LVM_NAME_MAX];
	int rc = 0;

	if (s->last_base[0]) {
		lv_name(VSTORE_VHD, false, s->last_base, bname);
		/*
		 * Hidden before read-only: the node of an active base (the
		 * snapshot of an attached leaf) refuses writes once it is;
		 * snap_do then finds it hidden.
		 */
		rc = vstore_vhd_set_hidden(vs, s->last_base, true, err);
		if (rc == 0) {
			sm_fault_point("lvm-snapshot:hidden");
			rc = set_lv_read_only(s, bname, true, err);
		}
		if (rc == 0) {
			sm_fault_point("lvm-snapshot:read-only");
			rc = base_slot(s, s->last_base, err);
		}
		if (rc < 0)
			recode(err, code);
	}
	s->last_base[0] = '\0';
	return rc;
}

static void try_remove(struct vstore_lvm *s, const char *name)
{
	struct sm_error e = { 0 };

	if (reload(s, &e) == 0 && lv_get(s, name) && remove_lv(s, name, &e) < 0)
		sm_log(LOG_WARNING, "snapshot undo: %s", e.detail);
}

/* _undoCloneOp with base present: base RW, shown, the leaves gone, inflated, renamed back. */
static void undo_with_base(struct vstore_lvm *s, const char *src, const char *base,
			   const char *clone)
{
	char sname[LVM_NAME_MAX], bname[LVM_NAME_MAX], cname[LVM_NAME_MAX], tmp[LVM_NAME_MAX + 8];
	struct sm_error e = { 0 };
	struct vhd_info info;

	lv_name(VSTORE_VHD, false, src, sname);
	lv_name(VSTORE_VHD, false, base, bname);
	snprintf(tmp, sizeof(tmp), "%s" NEW_SUFFIX, sname);
	if (lvm_lv_set_read_only(&s->lvm, s->vg, bname, false, &e) < 0)
		sm_log(LOG_WARNING, "snapshot undo: %s", e.detail);
	invalidate(s);
	if (vstore_vhd_set_hidden(&s->vs, base, false, &e) < 0)
		sm_log(LOG_WARNING, "snapshot undo: %s", e.detail);
	if (clone[0]) {
		lv_name(VSTORE_VHD, false, clone, cname);
		try_remove(s, cname);
	}
	try_remove(s, sname);
	try_remove(s, tmp);
	memset(&e, 0, sizeof(e));
	if (vstore_vhd_query(&s->vs, base, true, &info, &e) < 0 ||
	    lvm_inflate(&s->vs, base, lvm_room_for(&s->vs, info.virtual_size, VSTORE_FIT_FULL, 0),
			&e) < 0)
		sm_log(LOG_WARNING, "snapshot undo: %s not inflated: %s", bname, e.detail);
	memset(&e, 0, sizeof(e));
	if (rename_lv(s, bname, sname, &e) < 0) {
		sm_log(LOG_ERR, "snapshot undo: %s", e.detail);
		return;
	}
	refcount_move(s, base, src);
}

static int lvm_snap_undo(struct vstore *vs, const char *src, const char *base, const char *clone,
			 struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char sname[LVM_NAME_MAX], bname[LVM_NAME_MAX], cname[LVM_NAME_MAX], tmp[LVM_NAME_MAX + 8];
	struct sm_error e = { 0 };

	s->last_base[0] = '\0';
	lv_name(VSTORE_VHD, false, src, sname);
	snprintf(tmp, sizeof(tmp), "%s" NEW_SUFFIX, sname);
	if (reload(s, err) < 0)
		return -1;
	if (base[0]) {
		lv_name(VSTORE_VHD, false, base, bname);
		if (lv_get(s, bname)) {
			undo_with_base(s, src, base, clone);
			goto records;
		}
	}
	/* No base: the keep never happened (or was undone); src holds the data. */
	if (!lv_get(s, sname) && lv_get(s, tmp) && !unfinished(lv_get(s, tmp))) {
		if (rename_lv(s, tmp, sname, &e) < 0)
			sm_log(LOG_ERR, "snapshot undo: %s", e.detail);
	} else {
		try_remove(s, tmp);
	}
	if (clone[0]) {
		lv_name(VSTORE_VHD, false, clone, cname);
		try_remove(s, cname);
	}
records:
	/* Done only when src names the data again and no base is left. */
	if (reload(s, err) < 0)
		return -1;
	if (!lv_get(s, sname) || (base[0] && lv_get(s, bname)))
		return sm_fail(err, SME_SR_UNAVAILABLE, "snapshot undo of %s in %s not finished: %s",
			       sname, s->vg, e.detail[0] ? e.detail : "the base is still there");
	if ((base[0] && lvm_forget_op(vs, base, err) < 0) ||
	    (clone[0] && lvm_forget_op(vs, clone, err) < 0))
		return -1;
	return 0;
}

/* ---- leaf-coalesce take-over ------------------------------------------------------- */

static int lvm_take_over(struct vstore *vs, const char *l, const char *p, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	enum vstore_kind lk, pk;
	char lname[LVM_NAME_MAX], old[LVM_NAME_MAX], pname[LVM_NAME_MAX], to[LVM_NAME_MAX];

	if (reload(s, err) < 0)
		return -1;
	if (!image_lv(s, l, &lk) || !image_lv(s, p, &pk))
		return sm_fail(err, SME_VDI_MISSING, "take-over of %s by %s: an LV is missing in %s",
			       l, p, s->vg);
	lv_name(lk, false, l, lname);
	lv_name(lk, true, l, old);
	lv_name(pk, false, p, pname);
	lv_name(pk, false, l, to);
	if (rename_lv(s, lname, old, err) < 0)
		return -1;
	sm_fault_point("lvm-take-over:old");
	if (rename_lv(s, pname, to, err) < 0) {
		struct sm_error e = { 0 };

		if (rename_lv(s, old, lname, &e) < 0)
			sm_log(LOG_ERR, "take-over: %s stays (%s)", old, e.detail);
		return -1;
	}
	sm_fault_point("lvm-take-over:rename");
	/* l's counts stay l's (the GC takes over only leaves nobody has active). */
	refcount_drop(s, p);
	if (remove_lv(s, old, err) < 0)
		return -1;
	sm_fault_point("lvm-take-over:remove");
	lvm_forget(vs, p);
	return 0;
}

/* Which of VHD-<u>/LV-<u> (old: the OLD_ forms) exists, into name; false for neither. */
static bool any_lv(struct vstore_lvm *s, const char *uuid, bool old, char name[LVM_NAME_MAX])
{
	lv_name(VSTORE_VHD, old, uuid, name);
	if (lv_get(s, name))
		return true;
	lv_name(VSTORE_RAW, old, uuid, name);
	return lv_get(s, name) != NULL;
}

static int lvm_take_over_recover(struct vstore *vs, const char *l, const char *p,
				 struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char lname[LVM_NAME_MAX], old[LVM_NAME_MAX], pname[LVM_NAME_MAX];
	bool has_l, has_old, has_p;

	if (reload(s, err) < 0)
		return -1;
	has_l = any_lv(s, l, false, lname);
	has_old = any_lv(s, l, true, old);
	has_p = any_lv(s, p, false, pname);
	if (has_p) {
		if (has_old && has_l)
			return sm_fail(err, SME_SR_UNAVAILABLE, "leaf-coalesce of %s: %s, %s and %s "
				       "all exist; left for the administrator", l, lname, old, pname);
		if (has_old) {
			/* VHD-OLD_<l> -> VHD-<l>: the prefix stays the kind's. */
			snprintf(lname, sizeof(lname), "%.*s%s", (int)(strlen(old) - 36 -
				 strlen(LVHD_OLD_PREFIX)), old, l);
			if (rename_lv(s, old, lname, err) < 0)
				return -1;
		}
		return 0;
	}
	if (!has_l)
		return sm_fail(err, SME_SR_UNAVAILABLE, "leaf-coalesce of %s into %s: neither LV "
			       "is in %s", l, p, s->vg);
	if (has_old && remove_lv(s, old, err) < 0)
		return -1;
	refcount_drop(s, p);
	lvm_forget(vs, p);
	return 1;
}

/* ---- records: metadata and vdi_lock in MGT ----------------------------------------- */

static int lvm_meta_read(struct vstore *vs, const char *uuid, struct vdi_meta *m)
{
	struct vstore_lvm *s = S(vs);
	struct sm_error e = { 0 };
	struct mgt_slot *slot;

	memset(m, 0, sizeof(*m));
	if (mgt_loaded(s, &e) < 0)
		return -EIO;
	if (!(slot = mgt_slot_of(s, uuid)))
		return -ENOENT;
	return mgt_slot_to_meta(slot, m, &e) < 0 ? -EIO : 0;
}

static int lvm_meta_write(struct vstore *vs, const char *uuid, const struct vdi_meta *m, int code,
			  struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	struct mgt_slot rec = { 0 };
	enum vstore_kind kind = VSTORE_VHD;
	int rc;

	if (mgt_loaded(s, err) < 0)
		goto fail;
	if (mgt_find(&s->mgt, uuid)) {
		struct mgt_kv kv[] = {
			{ MGT_NAME_LABEL, m->label ? m->label : "" },
			{ MGT_NAME_DESCRIPTION, m->description ? m->description : "" },
			{ MGT_TYPE, (char *)m->vdi_type },
			{ MGT_READ_ONLY, m->read_only ? "1" : "0" },
			{ MGT_IS_A_SNAPSHOT, m->is_a_snapshot ? "1" : "0" },
			{ MGT_SNAPSHOT_OF, (char *)m->snapshot_of },
			{ MGT_SNAPSHOT_TIME, (char *)m->snapshot_time },
		};

		if (mgt_change(s, uuid, kv, sizeof(kv) / sizeof(kv[0]), NULL, false, err) < 0)
			goto fail;
		return 0;
	}
	if (s->lvs_valid || load(s, err) == 0)
		image_lv(s, uuid, &kind);
	rc = mgt_slot_from_meta(&rec, uuid, m, kind == VSTORE_RAW ? "aio" : "vhd", true, err);
	if (rc == 0)
		rc = mgt_change(s, uuid, NULL, 0, &rec, false, err);
	mgt_slot_free(&rec);
	if (rc == 0)
		return 0;
fail:
	recode(err, code);
	return -1;
}

static int lvm_meta_lookup(struct vstore *vs, const char *uuid)
{
	struct sm_error e = { 0 };

	if (mgt_loaded(S(vs), &e) < 0)
		return -EIO;
	return mgt_find(&S(vs)->mgt, uuid) ? 1 : 0;
}

/* The csm_lock value of uuid's slot: 0 (lock "" when none), -ENOENT (no slot), -EIO. */
static int lock_value(struct vstore_lvm *s, const char *uuid, const char **lock)
{
	struct sm_error e = { 0 };
	struct mgt_slot *slot;

	*lock = "";
	if (mgt_loaded(s, &e) < 0)
		return -EIO;
	if (!(slot = mgt_slot_of(s, uuid)))
		return -ENOENT;
	if (mgt_slot_get(slot, VSTORE_LVM_LOCK_KEY))
		*lock = mgt_slot_get(slot, VSTORE_LVM_LOCK_KEY);
	return 0;
}

static int lvm_lock_read(struct vstore *vs, const char *uuid, struct vstore_lock *r)
{
	const char *v, *h, *u;
	int rc = lock_value(S(vs), uuid, &v);
	long long since;
	char *end;

	memset(r, 0, sizeof(*r));
	if (rc < 0)
		return rc;
	if (!v[0])
		return -ENOENT;
	since = strtoll(v, &end, 10);
	if (*end != ':' || !(h = end + 1) || !(u = strchr(h, ':')))
		return -EIO;
	r->since = since;
	snprintf(r->host, sizeof(r->host), "%.*s", (int)(u - h), h);
	snprintf(r->user, sizeof(r->user), "%s", u + 1);
	return 0;
}

static int lvm_lock_write(struct vstore *vs, const char *uuid, const struct vstore_lock *r,
			  bool replace, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char value[VSTORE_LVM_LOCK_MAX + 2];
	struct mgt_kv kv = { VSTORE_LVM_LOCK_KEY, value };
	const char *cur;
	int rc = lock_value(s, uuid, &cur), n;

	if (rc == -ENOENT)
		return sm_fail(err, SME_LOCK_ERR, "%s has no metadata slot in %s/MGT to hold its "
			       "lock", uuid, s->vg);
	if (rc < 0)
		return sm_fail_errno(err, SME_LOCK_ERR, -rc, "%s/MGT", s->vg);
	if (cur[0] && !replace) {
		sm_fail(err, SME_LOCK_ERR, "%s is locked (%s)", uuid, cur);
		return -EEXIST;
	}
	if (strchr(r->host, ':'))
		return sm_fail(err, SME_LOCK_ERR, "host '%s' has a ':'", r->host);
	n = snprintf(value, sizeof(value), "%lld:%s:%s", r->since, r->host, r->user);
	if (n < 0 || n > VSTORE_LVM_LOCK_MAX)
		return sm_fail(err, SME_LOCK_ERR, "a lock record of %d bytes does not fit the MGT "
			       "slot (at most %d)", n, VSTORE_LVM_LOCK_MAX);
	if (mgt_change(s, uuid, &kv, 1, NULL, false, err) < 0) {
		recode(err, SME_LOCK_ERR);
		return -1;
	}
	return 0;
}

static int lvm_lock_remove(struct vstore *vs, const char *uuid)
{
	struct vstore_lvm *s = S(vs);
	struct mgt_kv kv = { VSTORE_LVM_LOCK_KEY, "" };
	struct sm_error e = { 0 };
	const char *cur;
	int rc = lock_value(s, uuid, &cur);

	if (rc == -ENOENT || (rc == 0 && !cur[0]))
		return 0;
	if (rc < 0)
		return rc;
	return mgt_change(s, uuid, &kv, 1, NULL, false, &e) < 0 ? -EIO : 0;
}

static int lvm_is_locked(struct vstore *vs, const char *uuid)
{
	const char *cur;
	int rc = lock_value(S(vs), uuid, &cur);

	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : cur[0] != '\0';
}

/* ---- journals -------------------------------------------------------------------------- */

/* The Python journal type our op maps to (NULL: a csm_ record). */
static const char *python_type(const char *op)
{
	if (strcmp(op, "snapshot") == 0)
		return LVJ_CLONE;
	if (strcmp(op, "leaf") == 0 || strcmp(op, "coalesce") == 0 || strcmp(op, "relink") == 0)
		return op;
	return NULL;
}

/* The journal LV of (op, id) in the cached report, into name; false for none. */
static bool journal_find(struct vstore_lvm *s, const char *op, const char *id,
			 char name[LVM_NAME_MAX])
{
	const char *type = python_type(op);

	for (size_t i = 0; i < s->lvs.n; i++) {
		const struct lvm_lv *lv = &s->lvs.lv[i];
		char o[LVJ_NAME_MAX], d[LVJ_NAME_MAX];
		struct lvj_name jn;

		if (type && lvm_lv_has_tag(lv, LVJ_TAG) && lvjournal_parse_name(lv->name, &jn, NULL) == 0 &&
		    strcmp(jn.type, type) == 0 && strcmp(jn.id, id) == 0) {
			snprintf(name, LVM_NAME_MAX, "%s", lv->name);
			return true;
		}
		if (!type && lvm_lv_has_tag(lv, LVJ_CSM_TAG) &&
		    lvjournal_csm_parse(lv->name, o, sizeof(o), d, sizeof(d)) && strcmp(o, op) == 0 &&
		    strcmp(d, id) == 0) {
			snprintf(name, LVM_NAME_MAX, "%s", lv->name);
			return true;
		}
	}
	return false;
}

/* Write the data sector of a journal LV (created unfinished by no one: journals are never listed). */
static int journal_write_data(struct vstore_lvm *s, const char *name, const char *value,
			      struct sm_error *err)
{
	uint8_t data[LVJ_DATA_SIZE];
	struct vhd_io io = { 0 };
	int rc;

	if (lvjournal_data_encode(value, data, err) < 0 ||
	    open_lv_name(s, name, VHD_IO_RDWR, true, &io, err) < 0)
		return -1;
	rc = io.ops->pwrite(&io, data, sizeof(data), 0);
	if (rc == 0)
		rc = io.ops->sync(&io);
	vhd_io_close(&io);
	return rc < 0 ? sm_fail_errno(err, SME_LVM_WRITE, -rc, "journal %s/%s", s->vg, name) : 0;
}

static int journal_read_data(struct vstore_lvm *s, const char *name, char *value, size_t cap,
			     struct sm_error *err)
{
	uint8_t data[LVJ_DATA_SIZE];
	struct vhd_io io = { 0 };
	int rc;

	if (open_lv_name(s, name, VHD_IO_RDONLY, true, &io, err) < 0)
		return -1;
	rc = io.ops->pread(&io, data, sizeof(data), 0);
	vhd_io_close(&io);
	if (rc < 0)
		return sm_fail_errno(err, SME_LVM_READ, -rc, "journal %s/%s", s->vg, name);
	return lvjournal_data_decode(data, sizeof(data), value, cap, err);
}

/* The name, tag and data of the journal LV for (op, id, text). */
static int journal_shape(struct vstore_lvm *s, const char *op, const char *id, const char *text,
			 char name[LVJ_NAME_MAX], const char **tag, char *data, size_t cap,
			 struct sm_error *err)
{
	const char *type = python_type(op);
	char value[LVJ_VALUE_MAX + 1], a[40], b[40];
	bool in_lv;

	snprintf(data, cap, "%s", text);
	*tag = LVJ_TAG;
	if (!type) {
		*tag = LVJ_CSM_TAG;
		return lvjournal_csm_name(s->vg, op, id, name, LVJ_NAME_MAX, err);
	}
	if (strcmp(type, LVJ_CLONE) == 0) {
		journal_get(text, "base", a, sizeof(a));
		journal_get(text, "clone", b, sizeof(b));
		snprintf(value, sizeof(value), "%s_%s", a, b);
		snprintf(data, cap, "%s", value);
	} else if (strcmp(type, LVJ_LEAF) == 0) {
		journal_get(text, "parent", a, sizeof(a));
		snprintf(value, sizeof(value), "%s", a);
		snprintf(data, cap, "%s", value);
	} else {
		snprintf(value, sizeof(value), "1");   /* Python's coalesce/relink value; our text in the LV */
	}
	return lvjournal_lv_name(s->vg, type, id, value, name, LVJ_NAME_MAX, &in_lv, err);
}

static int lvm_journal_begin(struct vstore *vs, const char *op, const char *id, const char *text,
			     struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char name[LVJ_NAME_MAX], data[LVJ_VALUE_MAX + 1], have[LVM_NAME_MAX];
	const char *tag, *tags[2] = { NULL, VSTORE_LVM_UNFINISHED };

	if (journal_shape(s, op, id, text, name, &tag, data, sizeof(data), err) < 0 ||
	    reload(s, err) < 0)
		return -1;
	if (journal_find(s, op, id, have))
		return sm_fail(err, SME_LVM_CREATE, "journal %s exists for %s-%s", have, op, id);
	if (need_space(s, LVJ_LV_SIZE, name, err) < 0)
		return -1;
	/*
	 * Without activation lvcreate cannot zero the LV (-Zn): its data sector
	 * holds whatever the extents held, maybe a removed journal's record.
	 * The LV is a record only once its own data is written: until then it
	 * is tagged unfinished, and recovery removes it without reading it.
	 */
	tags[0] = tag;
	if (lvm_lvcreate(&s->lvm, s->vg, name, LVJ_LV_SIZE, tags, 2, false, err) < 0) {
		invalidate(s);
		return -1;
	}
	invalidate(s);
	sm_fault_point("lvm-journal:lvcreate");
	if (reload(s, err) < 0 || journal_write_data(s, name, data, err) < 0)
		goto fail;
	sm_fault_point("lvm-journal:data");
	if (lvm_lv_del_tag(&s->lvm, s->vg, name, VSTORE_LVM_UNFINISHED, err) < 0) {
		invalidate(s);
		goto fail;
	}
	tag_removed(s, name, VSTORE_LVM_UNFINISHED);
	deactivate_new(s, name, NULL);
	return 0;
fail:
	remove_lv(s, name, NULL);
	return -1;
}

static int lvm_journal_end(struct vstore *vs, const char *op, const char *id,
			   struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	char name[LVM_NAME_MAX];

	if (reload(s, err) < 0)
		return -1;
	if (!journal_find(s, op, id, name))
		return 0;
	return remove_lv(s, name, err);
}

static int lvm_journal_lookup(struct vstore *vs, const char *op, const char *id)
{
	struct vstore_lvm *s = S(vs);
	struct sm_error e = { 0 };
	char name[LVM_NAME_MAX];

	if (reload(s, &e) < 0)
		return -EIO;
	return journal_find(s, op, id, name) ? 1 : 0;
}

/* One journal LV as found by replay. */
struct jrec {
	char name[LVM_NAME_MAX];
	bool csm;
	bool unfinished;     /* its writer died before the record was written */
	int pass;            /* 0 inflate, 1 clone, 2 leaf, 3 the rest */
};

static int jrec_pass(const char *name, bool csm)
{
	if (csm)
		return 3;
	if (strncmp(name, LVJ_INFLATE "_", 8) == 0)
		return 0;
	if (strncmp(name, LVJ_CLONE "_", 6) == 0)
		return 1;
	if (strncmp(name, LVJ_LEAF "_", 5) == 0)
		return 2;
	return 3;
}

/* The journal LVs, or 47 for a libvhd resize journal the Python SM left. */
static int journals_collect(struct vstore_lvm *s, struct jrec **out, size_t *n,
			    struct sm_error *err)
{
	struct jrec *r;

	*n = 0;
	*out = NULL;
	if (reload(s, err) < 0)
		return -1;
	if (!(r = calloc(s->lvs.n + 1, sizeof(*r))))
		return sm_fail(err, SME_SR_UNAVAILABLE, "out of memory");
	for (size_t i = 0; i < s->lvs.n; i++) {
		const struct lvm_lv *lv = &s->lvs.lv[i];

		if (strncmp(lv->name, "jvhd_", 5) == 0 || lvm_lv_has_tag(lv, "jvhd")) {
			free(r);
			return sm_fail(err, SME_SR_UNAVAILABLE, "%s/%s: an interrupted VHD resize of "
				       "the Python SM (libvhd journal); let the Python SM recover it",
				       s->vg, lv->name);
		}
		if (!journal_lv(lv))
			continue;
		snprintf(r[*n].name, sizeof(r[*n].name), "%s", lv->name);
		r[*n].csm = lvm_lv_has_tag(lv, LVJ_CSM_TAG) && !lvm_lv_has_tag(lv, LVJ_TAG);
		r[*n].unfinished = unfinished(lv);
		r[*n].pass = jrec_pass(lv->name, r[*n].csm);
		(*n)++;
	}
	*out = r;
	return 0;
}

/* A Python-made coalesce record names no parent: N's header does. */
static void coalesce_text(struct vstore_lvm *s, const char *id, const char *data, char *text,
			  size_t cap)
{
	struct sm_error e = { 0 };
	struct vhd_info info;
	char parent[37] = "";

	if (strstr(data, "parent=")) {
		snprintf(text, cap, "%s", data);
		return;
	}
	if (vstore_vhd_query(&s->vs, id, true, &info, &e) == 0)
		lvm_parent_uuid(&s->vs, &info, parent);
	snprintf(text, cap, "parent=%s\n", parent);
}

/*
 * A record as the generic code reads it: *op, id, text.  1: not a record
 * (bad name or data: its begin never returned); -1 error.
 */
static int jrec_decode(struct vstore_lvm *s, const struct jrec *r, char *op, size_t opcap,
		       char *id, size_t idcap, char *text, size_t cap, struct sm_error *err)
{
	char data[LVJ_VALUE_MAX + 1] = "";
	struct sm_error e = { 0 };
	struct lvj_name jn;

	if (r->csm) {
		if (!lvjournal_csm_parse(r->name, op, opcap, id, idcap))
			return 1;
		return journal_read_data(s, r->name, text, cap, &e) < 0 ? 1 : 0;
	}
	if (lvjournal_parse_name(r->name, &jn, &e) < 0)
		return 1;
	snprintf(id, idcap, "%s", jn.id);
	snprintf(op, opcap, "%s", jn.type);
	if (lvjournal_type_reads_data(jn.type) || strcmp(jn.value, "1") == 0) {
		if (journal_read_data(s, r->name, data, sizeof(data), &e) < 0) {
			if (lvjournal_type_reads_data(jn.type))
				return 1;
			data[0] = '\0';
		}
	}
	if (strcmp(jn.type, LVJ_CLONE) == 0) {
		char *us = strchr(data, '_');

		if (!us)
			return 1;
		*us = '\0';
		snprintf(op, opcap, "snapshot");
		snprintf(text, cap, "src=%.64s\nbase=%.64s\nclone=%.64s\n", jn.id, data, us + 1);
	} else if (strcmp(jn.type, LVJ_LEAF) == 0) {
		snprintf(text, cap, "parent=%s\n", data);
	} else if (strcmp(jn.type, LVJ_COALESCE) == 0) {
		coalesce_text(s, jn.id, data, text, cap);
	} else if (strcmp(jn.type, LVJ_RELINK) == 0) {
		snprintf(text, cap, "%s", strchr(data, '=') ? data : "");
	} else if (strcmp(jn.type, LVJ_ZERO) == 0) {
		snprintf(text, cap, "offset=%s\n", jn.value);
	} else {
		snprintf(text, cap, "value=%s\n", jn.value);
	}
	return 0;
}

static int replay_one(struct vstore_lvm *s, const struct jrec *r, journal_fn fn, void *arg,
		      struct sm_error *err)
{
	char op[LVJ_NAME_MAX], id[LVJ_NAME_MAX], text[LVJ_VALUE_MAX + 64];
	struct lvj_name jn;
	int rc;

	if (r->unfinished) {
		sm_log(LOG_WARNING, "recovery: %s/%s was never written (its writer died first); "
		       "removed", s->vg, r->name);
		return remove_lv(s, r->name, err);
	}
	if (r->pass == 0) {
		if (lvjournal_parse_name(r->name, &jn, err) < 0 ||
		    recover_inflate(s, jn.id, jn.value, err) < 0)
			return -1;
		return remove_lv(s, r->name, err);
	}
	rc = jrec_decode(s, r, op, sizeof(op), id, sizeof(id), text, sizeof(text), err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		sm_log(LOG_WARNING, "recovery: %s/%s holds no record (its writer died first); "
		       "removed", s->vg, r->name);
		return remove_lv(s, r->name, err);
	}
	rc = fn(arg, op, id, text, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return remove_lv(s, r->name, err);
	return 0;
}

/*
 * Python's order: inflate journals first (undoing the others may inflate),
 * then clone, then leaf, then the rest.
 */
static int lvm_journal_replay(struct vstore *vs, journal_fn fn, void *arg, struct sm_error *err)
{
	struct vstore_lvm *s = S(vs);
	struct jrec *r;
	size_t n;
	int rc = 0;

	if (journals_collect(s, &r, &n, err) < 0)
		return -1;
	for (int pass = 0; pass < 4 && rc == 0; pass++)
		for (size_t i = 0; i < n && rc == 0; i++)
			if (r[i].pass == pass)
				rc = replay_one(s, &r[i], fn, arg, err);
	free(r);
	return rc;
}

/* ---- grow undo records: none on LVM -------------------------------------------------- */

/*
 * LVHD VHDs carry a BAT for 2 TiB, so every grow fits it and needs no undo
 * record.  A grow beyond the BAT (a foreign VHD) would need one; the opener
 * hands vhd_grow_with_undo a record that refuses to be written, so such a
 * grow fails before it changes anything, and recovery finds no record.
 */
static void lvm_undo_name(const struct vstore *vs, const char *uuid, enum vstore_undo which,
			  char *out, size_t cap)
{
	snprintf(out, cap, LVHD_VHD_PREFIX "%s%s", uuid,
		 which == VSTORE_UNDO_GC ? UNDO_GC_SUFFIX : UNDO_RESIZE_SUFFIX);
}

static bool is_undo_name(const char *name)
{
	size_t n = strlen(name);

	return (n > strlen(UNDO_GC_SUFFIX) && strcmp(name + n - strlen(UNDO_GC_SUFFIX),
						     UNDO_GC_SUFFIX) == 0) ||
	       (n > strlen(UNDO_RESIZE_SUFFIX) &&
		strcmp(name + n - strlen(UNDO_RESIZE_SUFFIX), UNDO_RESIZE_SUFFIX) == 0);
}

static int undo_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	return -EIO;
}

static int undo_size(struct vhd_io *io, uint64_t *size)
{
	*size = 0;
	return 0;
}

static int undo_truncate(struct vhd_io *io, uint64_t size)
{
	return size ? -EOPNOTSUPP : 0;
}

static int undo_sync(struct vhd_io *io)
{
	return 0;
}

static void undo_close(struct vhd_io *io)
{
	io->ops = NULL;
}

/*
 * No pwrite: vhd_grow_journaled refuses a grow beyond the BAT with 110
 * before it writes anything; a grow within the BAT never touches it.
 */
static const struct vhd_io_ops undo_ops = {
	.pread = undo_pread, .get_size = undo_size,
	.truncate = undo_truncate, .sync = undo_sync, .close = undo_close,
};

/* ---- the chain opener ---------------------------------------------------------------- */

/* "VHD-<u>", "/dev/<vg>/VHD-<u>", or a locator "./VG_XenStorage--<sr>-VHD--<u>" -> LV name. */
static void opener_lv(struct vstore_lvm *s, const char *path, char out[LVM_NAME_MAX])
{
	const char *base = strrchr(path, '/');

	if (lvm_lv_from_dm_name(s->vg, path, out, LVM_NAME_MAX) == 0)
		return;
	snprintf(out, LVM_NAME_MAX, "%s", base ? base + 1 : path);
}

static int opener_open(void *arg, const char *path, int flags, struct vhd_io *io,
		       struct sm_error *err)
{
	struct vstore_lvm *s = arg;
	char name[LVM_NAME_MAX];

	opener_lv(s, path, name);
	if (is_undo_name(name)) {
		if (!(flags & VHD_IO_CREATE))
			return sm_fail(err, SME_VDI_MISSING, "%s: no undo records on LVM", name);
		memset(io, 0, sizeof(*io));
		io->ops = &undo_ops;
		snprintf(io->name, sizeof(io->name), "%.60s: an LVM SR keeps no grow undo record "
			 "(a grow beyond the VHD's BAT is refused)", name);
		return 0;
	}
	return open_lv_name(s, name, flags, false, io, err);
}

static int opener_unlink(void *arg, const char *path)
{
	struct vstore_lvm *s = arg;
	char name[LVM_NAME_MAX];

	opener_lv(s, path, name);
	return is_undo_name(name) ? 0 : -EPERM;
}

static const struct vhd_opener *lvm_opener(struct vstore *vs)
{
	return &S(vs)->opener;
}

/* ---- leftovers and close ------------------------------------------------------------- */

static void sweep_one(struct vstore_lvm *s, const char *name, bool is_unfinished)
{
	struct sm_error e = { 0 };
	char target[LVM_NAME_MAX], uuid[37];
	struct lvhd_lv p;
	size_t n = strlen(name);

	if (is_unfinished) {
		sm_log(LOG_WARNING, "sweep: removing the unfinished %s/%s", s->vg, name);
		remove_lv(s, name, &e);
		return;
	}
	if (n > strlen(NEW_SUFFIX) && strcmp(name + n - strlen(NEW_SUFFIX), NEW_SUFFIX) == 0) {
		snprintf(target, sizeof(target), "%.*s", (int)(n - strlen(NEW_SUFFIX)), name);
		if (!lvhd_lv_parse(target, &p) || p.old)
			return;
		if (lv_get(s, target)) {
			remove_lv(s, name, &e);
		} else {
			sm_log(LOG_WARNING, "sweep: %s/%s takes its leaf's name", s->vg, name);
			rename_lv(s, name, target, &e);
		}
		return;
	}
	if (lvhd_lv_parse(name, &p) && p.old) {
		memcpy(uuid, p.uuid, 37);
		if (any_lv(s, uuid, false, target)) {
			remove_lv(s, name, &e);
		} else {
			lv_name(p.kind == LVHD_RAW ? VSTORE_RAW : VSTORE_VHD, false, uuid, target);
			rename_lv(s, name, target, &e);
		}
	}
}

static void lvm_sweep(struct vstore *vs)
{
	struct vstore_lvm *s = S(vs);
	struct sm_error e = { 0 };
	struct jrec *names;
	size_t n = 0;

	if (reload(s, &e) < 0)
		return;
	if (!(names = calloc(s->lvs.n + 1, sizeof(*names))))
		return;
	for (size_t i = 0; i < s->lvs.n; i++) {
		snprintf(names[n].name, sizeof(names[n].name), "%s", s->lvs.lv[i].name);
		names[n++].csm = unfinished(&s->lvs.lv[i]) && !journal_lv(&s->lvs.lv[i]);
	}
	/*
	 * Ask LVM again only after a sweep_one that changed the VG (remove and
	 * rename drop the cache): one lvs per LV made sr_scan quadratic.
	 */
	for (size_t i = 0; i < n; i++) {
		if (load(s, &e) < 0)
			break;
		sweep_one(s, names[i].name, names[i].csm);
	}
	free(names);
}

static void vs_lvm_close(struct vstore *vs)
{
	struct vstore_lvm *s = S(vs);

	invalidate(s);
	s->st_valid = false;
	mgt_drop(s);
	if (s->lvm_open)
		lvm_close(&s->lvm);
	s->lvm_open = false;
}

static const struct vstore_ops lvm_ops = {
	.type = "lvm",
	.image_name = lvm_image_name,
	.describe = lvm_describe,
	.locator = lvm_locator,
	.parent_uuid = lvm_parent_uuid,
	.list = lvm_list,
	.find = lvm_find,
	.check = lvm_check,
	.exists = lvm_exists,
	.clear = lvm_clear,
	.create = lvm_create,
	.publish = lvm_publish,
	.abandon = lvm_abandon,
	.open = lvm_open_image,
	.remove = lvm_remove,
	.forget = lvm_forget_op,
	.sync = lvm_sync,
	.snap_keep = lvm_snap_keep,
	.snap_child = lvm_snap_child,
	.snap_commit = lvm_snap_commit,
	.snap_undo = lvm_snap_undo,
	.take_over = lvm_take_over,
	.take_over_recover = lvm_take_over_recover,
	.room_for = lvm_room_for,
	.vhd_prealloc = TWO_TIB,
	.inflate = lvm_inflate,
	.deflate = lvm_deflate,
	.set_read_only = lvm_set_read_only,
	.raw_set_hidden = lvm_raw_set_hidden,
	.space = lvm_space,
	.activate = lvm_activate,
	.deactivate = lvm_deactivate,
	.borrow = lvm_borrow,
	.reclaim_borrowed = lvm_reclaim_borrowed,
	.data_path = lvm_data_path,
	.meta_read = lvm_meta_read,
	.meta_write = lvm_meta_write,
	.meta_lookup = lvm_meta_lookup,
	.lock_read = lvm_lock_read,
	.lock_write = lvm_lock_write,
	.lock_remove = lvm_lock_remove,
	.is_locked = lvm_is_locked,
	.active_set = lvm_active_set,
	.active_clear = lvm_active_clear,
	.active_each = lvm_active_each,
	.journal_begin = lvm_journal_begin,
	.journal_end = lvm_journal_end,
	.journal_lookup = lvm_journal_lookup,
	.journal_replay = lvm_journal_replay,
	.undo_name = lvm_undo_name,
	.opener = lvm_opener,
	.sweep = lvm_sweep,
	.close = vs_lvm_close,
};

/* ---- SR-level helpers ------------------------------------------------------------------ */

int vstore_lvm_sr_create(struct vstore_lvm *s, const char *label, const char *description,
			 struct sm_error *err)
{
	struct lvm *l = L(s, err);
	struct vhd_io io = { 0 };
	bool exists;
	int rc;

	if (!l || lvm_vg_info(l, s->vg, &exists, NULL, NULL, err) < 0)
		return -1;
	if (exists)
		return sm_fail(err, SME_SR_EXISTS, "volume group %s exists", s->vg);
	if (lvm_pvcreate(l, s->devices, s->ndev, err) < 0 ||
	    lvm_vgcreate(l, s->vg, s->devices, s->ndev, err) < 0)
		return -1;
	invalidate(s);
	s->st_valid = false;
	if (lvm_lvcreate(l, s->vg, LVHD_MGT_LV, LVHD_MGT_SIZE, NULL, 0, false, err) < 0)
		return -1;
	if (reload(s, err) < 0 || mgt_io(s, &io, err) < 0)
		return -1;
	mgt_drop(s);
	rc = mgt_format(&io, &s->mgt, s->sr, s->thin ? "thin" : "thick", label ? label : "",
			description ? description : "", err);
	vhd_io_close(&io);
	if (rc < 0) {
		mgt_drop(s);
		return sm_error_recode(err, SME_LVM_CREATE), -1;
	}
	s->mgt_valid = true;
	/* As LVHDSR's createVG (vgchange -an): a new SR has nothing active. */
	deactivate_new(s, LVHD_MGT_LV, NULL);
	return 0;
}

int vstore_lvm_sr_delete(struct vstore_lvm *s, struct sm_error *err)
{
	struct lvm *l = L(s, err);
	bool exists;

	if (!l || lvm_vg_info(l, s->vg, &exists, NULL, NULL, err) < 0)
		return -1;
	if (exists) {
		if (reload(s, err) < 0)
			return -1;
		for (size_t i = 0; i < s->lvs.n; i++) {
			struct lvhd_lv p;

			if (lvhd_lv_parse(s->lvs.lv[i].name, &p))
				return sm_fail(err, SME_SR_NOT_EMPTY, "%s still holds %s", s->vg,
					       s->lvs.lv[i].name);
		}
		if (lvm_clear(&s->vs, err) < 0 || lvm_vgremove(l, s->vg, err) < 0)
			return -1;
		invalidate(s);
		s->st_valid = false;
		mgt_drop(s);
	}
	if (lvm_pvremove(l, s->devices, s->ndev, err) < 0)
		return -1;
	return refcount_reset_ns(s->ns, err);
}

int vstore_lvm_sr_attach_check(struct vstore_lvm *s, struct sm_error *err)
{
	return reload(s, err);
}

int vstore_lvm_probe(const char *const *devices, size_t ndev, struct vstore_lvm_probe *out,
		     size_t cap, size_t *n, struct sm_error *err)
{
	struct lvm_opts o = { .master = false };
	struct lvm l;
	int rc = -1;

	*n = 0;
	if (lvm_open_opts(&l, devices, ndev, &o, err) < 0)
		return -1;
	for (size_t i = 0; i < ndev; i++) {
		char vg[LVM_NAME_MAX];
		const char *uuid = vg + strlen(LVHD_VG_PREFIX);
		bool is_pv, exists;
		size_t k;

		if (lvm_pv_vg(&l, devices[i], &is_pv, vg, err) < 0)
			goto out;
		if (!is_pv || strncmp(vg, LVHD_VG_PREFIX, strlen(LVHD_VG_PREFIX)) != 0 ||
		    !sm_uuid_valid(uuid))
			continue;
		for (k = 0; k < *n && strcmp(out[k].sr_uuid, uuid) != 0; k++)
			;
		if (k == *n) {
			if (*n == cap)
				continue;
			memset(&out[k], 0, sizeof(out[k]));
			snprintf(out[k].sr_uuid, sizeof(out[k].sr_uuid), "%.36s", uuid);
			if (lvm_vg_info(&l, vg, &exists, &out[k].size, NULL, err) < 0)
				goto out;
			(*n)++;
		}
		snprintf(out[k].devices + strlen(out[k].devices),
			 sizeof(out[k].devices) - strlen(out[k].devices), "%s%s",
			 out[k].devices[0] ? "," : "", devices[i]);
	}
	rc = 0;
out:
	lvm_close(&l);
	return rc;
}
