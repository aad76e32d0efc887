/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The contract of csm/vstore.h, checked the same way against every
 * store: the in-memory store (directory-like and LVM-like) and the
 * directory store over a temporary directory.  Each group runs every
 * case on a fresh store.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vhd_testutil.h"
#include "vstore_testutil.h"

#include "csm/vdiforest.h"
#include "csm/vstore_dir.h"
#include "csm/vstore_mem.h"

#define SR_UUID "11111111-2222-4333-8444-555555555555"

enum fx_kind { FX_MEM, FX_MEM_LVM, FX_DIR };

struct fx {
	enum fx_kind kind;
	struct vstore *vs;
	struct vstore_mem *m;
	struct srfs fs;
	struct vstore_dir d;
	char path[64];
};

static enum fx_kind group_kind;

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->kind = group_kind;
	if (fx->kind == FX_DIR) {
		snprintf(fx->path, sizeof(fx->path), "/tmp/csm-vstore-XXXXXX");
		if (!mkdtemp(fx->path))
			return -1;
		vstore_dir_init(&fx->d, &fx->fs, fx->path, SR_UUID);
		fx->vs = &fx->d.vs;
	} else {
		fx->m = vstore_mem_new(SR_UUID);
		if (!fx->m)
			return -1;
		vstore_mem_set_lvm(fx->m, fx->kind == FX_MEM_LVM);
		fx->vs = vstore_mem_vs(fx->m);
	}
	*state = fx;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	fx->vs->ops->close(fx->vs);
	if (fx->kind == FX_DIR)
		nftw(fx->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		vstore_mem_free(fx->m);
	free(fx);
	return 0;
}

/* ---- what is in the store, below the interface ------------------------ */

static void fx_plant(struct fx *fx, const char *name, const void *data, size_t len)
{
	if (fx->kind == FX_DIR) {
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", fx->path, name);
		spew(path, data, len);
	} else {
		assert_int_equal(vstore_mem_put(fx->m, name, data, len), 0);
	}
}

static bool fx_has(struct fx *fx, const char *name)
{
	struct stat st;
	char path[256];

	if (fx->kind != FX_DIR)
		return vstore_mem_has(fx->m, name);
	snprintf(path, sizeof(path), "%s/%s", fx->path, name);
	return lstat(path, &st) == 0;
}

struct name_count {
	const char *part;
	int n;
};

static int count_name(void *arg, const char *name)
{
	struct name_count *c = arg;

	c->n += strstr(name, c->part) != NULL;
	return 0;
}

/* Names at the top of the store containing part. */
static int fx_count(struct fx *fx, const char *part)
{
	struct name_count c = { .part = part };

	if (fx->kind == FX_DIR) {
		DIR *d = opendir(fx->path);
		struct dirent *e;

		assert_non_null(d);
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				count_name(&c, e->d_name);
		closedir(d);
	} else {
		vstore_mem_each_name(fx->m, count_name, &c);
	}
	return c.n;
}

static const char *img(const char *uuid)
{
	static char buf[4][64];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, 64, "%s.vhd", uuid);
	return p;
}

/* ---- create, publish, abandon ------------------------------------------- */

struct lister {
	int n;
	struct vstore_image last;
};

static int count_image(void *arg, const struct vstore_image *im)
{
	struct lister *l = arg;

	l->n++;
	l->last = *im;
	return 0;
}

static int list_count(struct vstore *vs)
{
	struct sm_error err = { 0 };
	struct lister l = { 0 };

	assert_int_equal(vs->ops->list(vs, false, count_image, &l, &err), 0);
	return l.n;
}

static void test_create_invisible_until_publish(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 }, other = { 0 };
	struct vhd_info info;

	assert_int_equal(vs->ops->create(vs, U(1), VSTORE_VHD,
					 vstore_room_for(vs, 8 * MiB, VSTORE_FIT_EMPTY, 0), &io, &err), 0);
	assert_int_equal(vhd_create_dynamic(&io, 8 * MiB, &err), 0);
	assert_int_equal(list_count(vs), 0);
	assert_int_equal(vs_kind(vs, U(1)), VSTORE_NONE);
	assert_int_equal(vs->ops->open(vs, U(1), VSTORE_VHD, VHD_IO_RDONLY, &other, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->publish(vs, U(1), VSTORE_VHD, &io, &err), 0);
	assert_null(io.ops);   /* closed */
	assert_int_equal(list_count(vs), 1);
	assert_int_equal(vs_kind(vs, U(1)), VSTORE_VHD);
	assert_int_equal(vs_query(vs, U(1), &info), 0);
	assert_int_equal(info.virtual_size, 8 * MiB);
	assert_int_equal(fx_count(fx, ".tmp"), 0);
}

static void test_publish_never_replaces(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };
	struct vhd_info info;

	assert_int_equal(vs_make_vhd(vs, U(1), 8 * MiB, &err), 0);
	assert_int_equal(vs_fill(vs, U(1), 0, 64 * 1024, 'a', &err), 0);
	/* a second create of the same uuid fails at create or at publish, never replaces */
	if (vs->ops->create(vs, U(1), VSTORE_VHD, vstore_room_for(vs, 16 * MiB, VSTORE_FIT_EMPTY, 0),
			    &io, &err) == 0) {
		assert_int_equal(vhd_create_dynamic(&io, 16 * MiB, &err), 0);
		assert_int_equal(vs->ops->publish(vs, U(1), VSTORE_VHD, &io, &err), -1);
	}
	assert_int_equal(err.code, SME_VDI_EXISTS);
	assert_int_equal(vs_query(vs, U(1), &info), 0);
	assert_int_equal(info.virtual_size, 8 * MiB);
	assert_int_equal(vs_holds(vs, U(1), 0, 64 * 1024, 'a', &err), 1);
	assert_int_equal(fx_count(fx, ".tmp"), 0);   /* the temporary is gone, failure or not */
	assert_int_equal(list_count(vs), 1);
}

static void test_create_after_killed_create(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };

	/* a create whose process died: its io is gone, nothing was published */
	assert_int_equal(vs->ops->create(vs, U(1), VSTORE_VHD,
					 vstore_room_for(vs, 8 * MiB, VSTORE_FIT_EMPTY, 0), &io, &err), 0);
	assert_int_equal(io.ops->pwrite(&io, "junk", 4, 0), 0);
	vhd_io_close(&io);
	assert_int_equal(vs_make_vhd(vs, U(1), 8 * MiB, &err), 0);
	assert_int_equal(vs_kind(vs, U(1)), VSTORE_VHD);
	assert_int_equal(list_count(vs), 1);
}

static void test_abandon(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };
	struct vdi_meta meta = { .vdi_type = "user" };
	struct vstore_lock lk = { .user = "u", .host = "h", .since = 1 };

	/* unpublished */
	assert_int_equal(vs->ops->create(vs, U(1), VSTORE_VHD,
					 vstore_room_for(vs, 8 * MiB, VSTORE_FIT_EMPTY, 0), &io, &err), 0);
	vhd_io_close(&io);
	assert_int_equal(vs->ops->abandon(vs, U(1), &err), 0);
	assert_int_equal(fx_count(fx, U(1)), 0);
	/* published, with records, of either kind */
	assert_int_equal(vs_make_vhd(vs, U(2), 8 * MiB, &err), 0);
	assert_int_equal(vs_make_raw(vs, U(3), 4096, 1, &err), 0);
	assert_int_equal(vs->ops->meta_write(vs, U(2), &meta, SME_VDI_CREATE, &err), 0);
	assert_int_equal(vs->ops->lock_write(vs, U(2), &lk, false, &err), 0);
	assert_int_equal(vs->ops->abandon(vs, U(2), &err), 0);
	assert_int_equal(vs->ops->abandon(vs, U(3), &err), 0);
	assert_int_equal(vs->ops->abandon(vs, U(3), &err), 0);   /* safe to repeat */
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_NONE);
	assert_int_equal(vs_kind(vs, U(3)), VSTORE_NONE);
	assert_int_equal(vs->ops->meta_lookup(vs, U(2)), 0);
	assert_int_equal(vs->ops->is_locked(vs, U(2)), 0);
	assert_int_equal(fx_count(fx, U(2)) + fx_count(fx, U(3)), 0);
}

/* ---- find, open, remove ----------------------------------------------------- */

static void test_find_kinds(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	enum vstore_kind k = VSTORE_VHD;

	assert_int_equal(vs_make_vhd(vs, U(1), 8 * MiB, &err), 0);
	assert_int_equal(vs_make_raw(vs, U(2), 8192, 7, &err), 0);
	assert_int_equal(vs_kind(vs, U(1)), VSTORE_VHD);
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_RAW);
	assert_int_equal(vs->ops->find(vs, U(3), &k, SME_VDI_DELETE, &err), 0);
	assert_int_equal(k, VSTORE_NONE);
	/* a name that is not an image is left alone, and is not "absent" */
	if (fx->kind == FX_DIR) {
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", fx->path, img(U(4)));
		assert_int_equal(mkdir(path, 0755), 0);
	} else {
		assert_int_equal(vstore_mem_put_odd(fx->m, img(U(4))), 0);
	}
	assert_int_equal(vs->ops->find(vs, U(4), &k, SME_VDI_DELETE, &err), -1);
	assert_int_equal(err.code, SME_VDI_DELETE);
	/* and a listing shows it as an error image, not a failed listing */
	assert_int_equal(list_count(vs), 3);
}

static void test_open_and_remove(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };
	struct vdi_meta meta = { .vdi_type = "user" };
	struct vstore_lock lk = { .user = "u", .host = "h", .since = 1 };

	assert_int_equal(vs->ops->open(vs, U(1), VSTORE_VHD, VHD_IO_RDONLY, &io, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->remove(vs, U(1), VSTORE_VHD, false, &err), 0);   /* absent: fine */
	assert_int_equal(vs_make_vhd(vs, U(1), 8 * MiB, &err), 0);
	assert_int_equal(vs_make_vhd(vs, U(2), 8 * MiB, &err), 0);
	assert_int_equal(vs->ops->meta_write(vs, U(1), &meta, SME_VDI_CREATE, &err), 0);
	assert_int_equal(vs->ops->lock_write(vs, U(1), &lk, false, &err), 0);
	assert_int_equal(vs->ops->remove(vs, U(1), VSTORE_VHD, false, &err), 0);
	assert_int_equal(vs->ops->remove(vs, U(2), VSTORE_VHD, true, &err), 0);
	assert_int_equal(vs->ops->sync(vs, NULL), 0);
	assert_int_equal(vs_kind(vs, U(1)), VSTORE_NONE);
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_NONE);
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), 0);
	assert_int_equal(vs->ops->is_locked(vs, U(1)), 0);
	assert_int_equal(list_count(vs), 0);
}

/* ---- snapshot steps ------------------------------------------------------------ */

/* Leaf l (8 MiB, 'a' in its first MiB), then the snapshot steps up to `upto`. */
static void snapshot_upto(struct vstore *vs, int l, int base, int clone, int upto)
{
	struct sm_error err = { 0 };

	assert_int_equal(vs_make_vhd(vs, U(l), 8 * MiB, &err), 0);
	assert_int_equal(vs_fill(vs, U(l), 0, MiB, 'a', &err), 0);
	if (upto >= 1)
		assert_int_equal(vs->ops->snap_keep(vs, U(l), U(base), SME_VDI_SNAPSHOT, &err), 0);
	if (upto >= 2)
		assert_int_equal(vs->ops->snap_child(vs, U(l), U(base), 0, true, SME_VDI_SNAPSHOT,
						     &err), 0);
	if (upto >= 3)
		assert_int_equal(vs->ops->snap_child(vs, U(clone), U(base), 0, false,
						     SME_VDI_SNAPSHOT, &err), 0);
	if (upto >= 4)
		assert_int_equal(vstore_vhd_set_hidden(vs, U(base), true, &err), 0);
	if (upto >= 5)
		assert_int_equal(vs->ops->snap_commit(vs, SME_VDI_SNAPSHOT, &err), 0);
	if (upto >= 6)   /* the guest wrote into the new leaf */
		assert_int_equal(vs_fill(vs, U(l), 0, 4096, 'z', &err), 0);
}

static void test_snapshot(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vdi_forest f;
	char parent[37];
	struct vhd_info info;

	snapshot_upto(vs, 1, 2, 3, 5);
	assert_int_equal(vdi_forest_load(&f, vs, false, &err), 0);
	assert_int_equal(f.count, 3);
	assert_string_equal(vdi_forest_find(&f, U(1))->img.parent, U(2));
	assert_string_equal(vdi_forest_find(&f, U(3))->img.parent, U(2));
	assert_true(vdi_forest_find(&f, U(2))->img.hidden);
	assert_false(vdi_forest_find(&f, U(1))->img.hidden);
	assert_int_equal(vdi_forest_find(&f, U(2))->nchildren, 2);
	vdi_forest_free(&f);
	/* the store's parent rule reads its own locators */
	assert_int_equal(vs_query(vs, U(1), &info), 0);
	vs->ops->parent_uuid(vs, &info, parent);
	assert_string_equal(parent, U(2));
	/* both children read the snapshotted data; writes stay in the leaf */
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'a', &err), 1);
	assert_int_equal(vs_holds(vs, U(3), 0, MiB, 'a', &err), 1);
	assert_int_equal(vs_fill(vs, U(1), 0, MiB, 'x', &err), 0);
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'x', &err), 1);
	assert_int_equal(vs_holds(vs, U(3), 0, MiB, 'a', &err), 1);
	assert_int_equal(vs_holds(vs, U(2), 0, MiB, 'a', &err), 1);
	assert_int_equal(fx_count(fx, ".new"), 0);
}

static void check_undone(struct fx *fx, int l, int base, int clone)
{
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io = { 0 };

	assert_int_equal(vs_kind(vs, U(l)), VSTORE_VHD);
	assert_int_equal(vs_kind(vs, U(base)), VSTORE_NONE);
	assert_int_equal(vs_kind(vs, U(clone)), VSTORE_NONE);
	assert_int_equal(vs_query(vs, U(l), &info), 0);
	assert_false(info.hidden);
	assert_int_equal(info.type, VHD_TYPE_DYNAMIC);   /* the original, not a child */
	assert_int_equal(vs_holds(vs, U(l), 0, MiB, 'a', &err), 1);
	assert_int_equal(vs->ops->open(vs, U(l), VSTORE_VHD, VHD_IO_RDWR, &io, &err), 0);
	vhd_io_close(&io);
	assert_int_equal(fx_count(fx, ".new") + fx_count(fx, ".tmp"), 0);
}

static void test_snap_undo_every_state(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;

	for (int upto = 0; upto <= 6; upto++) {
		int l = 10 * upto + 1, base = l + 1, clone = l + 2;

		snapshot_upto(vs, l, base, clone, upto);
		assert_int_equal(vs->ops->snap_undo(vs, U(l), U(base), U(clone), NULL), 0);
		check_undone(fx, l, base, clone);
		assert_int_equal(vs->ops->snap_undo(vs, U(l), U(base), U(clone), NULL), 0);   /* safe to repeat */
		check_undone(fx, l, base, clone);
	}
}

static void test_snap_undo_half_made_child(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	char name[64];

	/* killed while the replacing child was being written (directory stores' temp name) */
	snapshot_upto(vs, 1, 2, 3, 1);
	snprintf(name, sizeof(name), "%s.vhd.new", U(1));
	fx_plant(fx, name, "half", 4);
	assert_int_equal(vs->ops->snap_undo(vs, U(1), U(2), "", NULL), 0);
	check_undone(fx, 1, 2, 3);
	assert_false(fx_has(fx, name));
}

/*
 * A host crash between the base's hidden flag (written into the original's
 * bytes and synced) and snap_commit (the names) leaves the original under
 * its own name, hidden, and no base: the undo must still leave it visible.
 */
static void test_snap_undo_hidden_original(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };

	snapshot_upto(vs, 1, 2, 3, 0);
	assert_int_equal(vstore_vhd_set_hidden(vs, U(1), true, &err), 0);
	assert_int_equal(vs->ops->snap_undo(vs, U(1), U(2), U(3), NULL), 0);
	check_undone(fx, 1, 2, 3);
}

static void test_snap_refusals(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };

	snapshot_upto(vs, 1, 2, 3, 0);
	assert_int_equal(vs_make_vhd(vs, U(2), 8 * MiB, &err), 0);
	/* base must not exist */
	assert_int_equal(vs->ops->snap_keep(vs, U(1), U(2), SME_VDI_SNAPSHOT, &err), -1);
	assert_int_equal(err.code, SME_VDI_SNAPSHOT);
	sm_error_clear(&err);
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'a', &err), 1);
	/* a new child's name must be free */
	assert_int_equal(vs->ops->snap_child(vs, U(2), U(1), 0, false, SME_VDI_CLONE, &err), -1);
	assert_int_equal(err.code, SME_VDI_CLONE);
	sm_error_clear(&err);
	assert_int_equal(vs_holds(vs, U(2), 0, MiB, 0, &err), 1);   /* untouched */
	/* and its parent must exist */
	assert_int_equal(vs->ops->snap_child(vs, U(5), U(4), 0, false, SME_VDI_CLONE, &err), -1);
	assert_int_equal(err.code, SME_VDI_CLONE);
	assert_int_equal(vs_kind(vs, U(5)), VSTORE_NONE);
}

/* ---- leaf-coalesce take-over -------------------------------------------------------- */

/* p (hidden, 'p' in MiB 0) <- l ('l' in MiB 1), then l's data copied into p. */
static void leaf_chain(struct vstore *vs, int l, int p)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	uint64_t copied = 0;
	struct vdi_meta meta = { .vdi_type = "user" };

	assert_int_equal(vs_make_vhd(vs, U(l), 8 * MiB, &err), 0);
	assert_int_equal(vs_fill(vs, U(l), 0, MiB, 'p', &err), 0);
	assert_int_equal(vs->ops->snap_keep(vs, U(l), U(p), SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs->ops->snap_child(vs, U(l), U(p), 0, true, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vstore_vhd_set_hidden(vs, U(p), true, &err), 0);
	assert_int_equal(vs->ops->snap_commit(vs, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs->ops->meta_write(vs, U(p), &meta, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs_fill(vs, U(l), MiB, MiB, 'l', &err), 0);
	assert_int_equal(vs_query(vs, U(p), &info), 0);
	assert_int_equal(vstore_inflate(vs, U(p), vstore_room_for(vs, info.virtual_size,
								 VSTORE_FIT_FULL, 0), &err), 0);
	assert_int_equal(vhd_coalesce_with(vs->ops->opener(vs), img(U(l)), img(U(p)), &copied,
					   NULL, NULL, &err), 0);
	assert_int_equal(copied, MiB);
}

static void test_take_over(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_info info;

	leaf_chain(vs, 1, 2);
	assert_int_equal(vs->ops->journal_begin(vs, "leaf", U(1), "parent=x\n", &err), 0);
	/* nothing happened yet: p keeps its name, l its data */
	assert_int_equal(vs->ops->take_over_recover(vs, U(1), U(2), &err), 0);
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_VHD);
	assert_int_equal(vs_query(vs, U(1), &info), 0);
	assert_int_equal(info.type, VHD_TYPE_DIFF);
	assert_int_equal(vs->ops->take_over(vs, U(1), U(2), &err), 0);
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_NONE);
	assert_int_equal(vs->ops->meta_lookup(vs, U(2)), 0);
	assert_int_equal(vs_query(vs, U(1), &info), 0);
	assert_int_equal(info.type, VHD_TYPE_DYNAMIC);   /* the merged parent, no parent itself */
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'p', &err), 1);
	assert_int_equal(vs_holds(vs, U(1), MiB, MiB, 'l', &err), 1);
	/* finished: recovery says so and changes nothing */
	assert_int_equal(vs->ops->take_over_recover(vs, U(1), U(2), &err), 1);
	assert_int_equal(vs_holds(vs, U(1), MiB, MiB, 'l', &err), 1);
	assert_int_equal(list_count(vs), 1);
	assert_int_equal(vs->ops->journal_end(vs, "leaf", U(1), &err), 0);
}

static void test_take_over_without_parent(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };

	snapshot_upto(vs, 1, 2, 3, 0);
	assert_int_equal(vs->ops->take_over(vs, U(1), U(2), &err), -1);
	assert_int_not_equal(err.code, 0);
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'a', &err), 1);
	assert_int_equal(list_count(vs), 1);
}

static void test_leaf_recover_not_started(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_info info;

	leaf_chain(vs, 1, 2);
	assert_int_equal(vstore_vhd_set_hidden(vs, U(2), false, &err), 0);
	assert_int_equal(vstore_leaf_recover(vs, U(1), U(2), &err), 0);
	assert_int_equal(vs_query(vs, U(2), &info), 0);
	assert_true(info.hidden);   /* the parent again, not a VDI of its own */
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'p', &err), 1);
	assert_int_equal(vs_holds(vs, U(1), MiB, MiB, 'l', &err), 1);
	assert_int_equal(vhd_check_with(vs->ops->opener(vs), img(U(1)), true, &err), 0);
}

/* ---- records ------------------------------------------------------------------------ */

static void test_meta_records(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vdi_meta in = { .vdi_type = "user", .read_only = true }, out;

	in.label = "a label\nwith a newline";
	in.description = "";
	assert_int_equal(vs->ops->meta_read(vs, U(1), &out), -ENOENT);
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), 0);
	assert_int_equal(vs->ops->meta_write(vs, U(1), &in, SME_VDI_CREATE, &err), 0);
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), 1);
	assert_int_equal(vs->ops->meta_read(vs, U(1), &out), 0);
	assert_string_equal(out.label, in.label);
	assert_string_equal(out.vdi_type, "user");
	assert_true(out.read_only);
	vdimeta_free(&out);
	in.read_only = false;
	assert_int_equal(vs->ops->meta_write(vs, U(1), &in, SME_VDI_CREATE, &err), 0);
	assert_int_equal(vs->ops->meta_read(vs, U(1), &out), 0);
	assert_false(out.read_only);
	vdimeta_free(&out);
	assert_int_equal(vs->ops->forget(vs, U(1), &err), 0);
	assert_int_equal(vs->ops->forget(vs, U(1), &err), 0);   /* absent records are fine */
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), 0);
}

static void test_lock_records(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vstore_lock a = { .user = "alice", .host = "h1", .since = 1234 };
	struct vstore_lock b = { .user = "bob", .host = "h2", .since = 99 }, r;

	assert_int_equal(vs->ops->lock_read(vs, U(1), &r), -ENOENT);
	assert_int_equal(vs->ops->is_locked(vs, U(1)), 0);
	assert_int_equal(vs->ops->lock_write(vs, U(1), &a, false, &err), 0);
	assert_int_equal(vs->ops->is_locked(vs, U(1)), 1);
	/* a second taker loses */
	assert_true(vs->ops->lock_write(vs, U(1), &b, false, &err) < 0);
	assert_int_equal(err.code, SME_LOCK_ERR);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->lock_read(vs, U(1), &r), 0);
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.host, "h1");
	assert_int_equal(r.since, 1234);
	/* replace wins */
	assert_int_equal(vs->ops->lock_write(vs, U(1), &b, true, &err), 0);
	assert_int_equal(vs->ops->lock_read(vs, U(1), &r), 0);
	assert_string_equal(r.user, "bob");
	assert_int_equal(vs->ops->lock_remove(vs, U(1)), 0);
	assert_int_equal(vs->ops->lock_remove(vs, U(1)), 0);
	assert_int_equal(vs->ops->is_locked(vs, U(1)), 0);
	assert_int_equal(fx_count(fx, ".tmp"), 0);
}

static void test_list_record_flags(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vdi_meta meta = { .vdi_type = "user" };
	struct vstore_lock lk = { .user = "u", .host = "h", .since = 1 };
	struct vdi_forest f;

	assert_int_equal(vs_make_vhd(vs, U(1), 8 * MiB, &err), 0);
	assert_int_equal(vs_make_vhd(vs, U(2), 8 * MiB, &err), 0);
	assert_int_equal(vs_fill(vs, U(2), 0, 3 * MiB, 'q', &err), 0);
	assert_int_equal(vs->ops->meta_write(vs, U(1), &meta, SME_VDI_CREATE, &err), 0);
	assert_int_equal(vs->ops->lock_write(vs, U(1), &lk, false, &err), 0);
	assert_int_equal(vs->ops->meta_write(vs, U(3), &meta, SME_VDI_CREATE, &err), 0);   /* no image */
	assert_int_equal(vdi_forest_load(&f, vs, true, &err), 0);
	assert_int_equal(f.count, 2);
	assert_int_equal(vdi_forest_find(&f, U(1))->img.records, VSTORE_HAS_META | VSTORE_HAS_LOCK);
	assert_int_equal(vdi_forest_find(&f, U(2))->img.records, 0);
	assert_int_equal(vdi_forest_find(&f, U(2))->img.allocated, 4 * MiB);   /* two blocks */
	assert_int_equal(vdi_forest_find(&f, U(2))->img.virtual_size, 8 * MiB);
	vdi_forest_free(&f);
}

/* ---- journals ------------------------------------------------------------------------ */

struct replay {
	int seen;
	int answer;     /* what fn answers for op "keep" */
	char texts[4][64];
};

static int replay_fn(void *arg, const char *op, const char *id, const char *text,
		     struct sm_error *err)
{
	struct replay *r = arg;

	if (r->seen < 4)
		snprintf(r->texts[r->seen], sizeof(r->texts[0]), "%s|%s|%s", op, id, text);
	r->seen++;
	if (strcmp(op, "keep") == 0)
		return r->answer;
	if (strcmp(op, "fail") == 0)
		return sm_fail(err, SME_SM_GENERAL, "cannot repair");
	return 0;
}

static void test_journals(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct replay r = { .answer = 1 };
	char value[64];

	assert_int_equal(vs->ops->journal_lookup(vs, "snapshot", U(1)), 0);
	assert_int_equal(vs->ops->journal_replay(vs, replay_fn, &r, &err), 0);   /* none: fine */
	assert_int_equal(r.seen, 0);
	assert_int_equal(vs->ops->journal_begin(vs, "snapshot", U(1), "base=b\nclone=c\n", &err), 0);
	assert_int_equal(vs->ops->journal_begin(vs, "keep", U(2), "x=1\n", &err), 0);
	assert_int_equal(vs->ops->journal_lookup(vs, "snapshot", U(1)), 1);
	assert_int_equal(vs->ops->journal_replay(vs, replay_fn, &r, &err), 0);
	assert_int_equal(r.seen, 2);
	/* repaired records go, the ones their owner keeps stay */
	assert_int_equal(vs->ops->journal_lookup(vs, "snapshot", U(1)), 0);
	assert_int_equal(vs->ops->journal_lookup(vs, "keep", U(2)), 1);
	for (int i = 0; i < 2; i++)
		if (strncmp(r.texts[i], "snapshot|", 9) == 0) {
			snprintf(value, sizeof(value), "snapshot|%s|base=b\nclone=c\n", U(1));
			assert_string_equal(r.texts[i], value);
		}
	/* an error stops the replay and is the caller's; the record stays */
	assert_int_equal(vs->ops->journal_begin(vs, "fail", U(3), "", &err), 0);
	r.seen = 0;
	assert_int_equal(vs->ops->journal_replay(vs, replay_fn, &r, &err), -1);
	assert_int_equal(err.code, SME_SM_GENERAL);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->journal_lookup(vs, "fail", U(3)), 1);
	assert_int_equal(vs->ops->journal_end(vs, "fail", U(3), &err), 0);
	assert_int_equal(vs->ops->journal_lookup(vs, "fail", U(3)), 0);
	/* clear drops every record, the GC's too */
	assert_int_equal(vs->ops->clear(vs, &err), 0);
	assert_int_equal(vs->ops->journal_lookup(vs, "keep", U(2)), 0);
}

/* ---- activation records ------------------------------------------------------------------ */

struct actives {
	int n;
	char uuid[37];
	char host[128];
};

static int active_fn(void *arg, const char *uuid, const char *host)
{
	struct actives *a = arg;

	a->n++;
	snprintf(a->uuid, sizeof(a->uuid), "%s", uuid);
	snprintf(a->host, sizeof(a->host), "%s", host);
	return 0;
}

static void test_activation_records(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct actives a = { 0 };
	char holder[128];

	assert_int_equal(vs->ops->active_each(vs, active_fn, &a), 0);
	assert_int_equal(a.n, 0);
	assert_int_equal(vstore_active_lookup(vs, U(1), holder), 0);
	assert_int_equal(vs->ops->active_set(vs, U(1), true, SME_VDI_UNAVAILABLE, &err), 0);
	assert_int_equal(vs->ops->active_set(vs, U(1), false, SME_VDI_UNAVAILABLE, &err), 0);
	assert_int_equal(vs->ops->active_each(vs, active_fn, &a), 0);
	assert_int_equal(a.n, 1);   /* one per VDI and host */
	assert_string_equal(a.uuid, U(1));
	assert_true(a.host[0] != '\0');
	assert_int_equal(vstore_active_lookup(vs, U(1), holder), 1);
	assert_string_equal(holder, a.host);
	assert_int_equal(vstore_active_lookup(vs, U(2), holder), 0);
	assert_int_equal(vs->ops->active_clear(vs, U(1)), 0);
	assert_int_equal(vs->ops->active_clear(vs, U(1)), 0);   /* absent is fine */
	assert_int_equal(vstore_active_lookup(vs, U(1), NULL), 0);
	/* clear drops them all */
	assert_int_equal(vs->ops->active_set(vs, U(3), true, SME_VDI_UNAVAILABLE, &err), 0);
	assert_int_equal(vs->ops->clear(vs, &err), 0);
	assert_int_equal(vstore_active_lookup(vs, U(3), NULL), 0);
}

/* ---- grow, sweep, the rest ------------------------------------------------------------- */

static void test_grow(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vhd_info info;
	char undo[128];
	bool pending = true, undone = true;

	assert_int_equal(vs_make_vhd(vs, U(1), 8 * MiB, &err), 0);
	assert_int_equal(vs_fill(vs, U(1), 0, MiB, 'g', &err), 0);
	assert_int_equal(vstore_inflate(vs, U(1), vstore_room_for(vs, 64 * MiB, VSTORE_FIT_FULL, 0),
				       &err), 0);
	assert_int_equal(vstore_grow(vs, U(1), 64 * MiB, VSTORE_UNDO_RESIZE, &pending, &err), 0);
	assert_false(pending);
	assert_int_equal(vs_query(vs, U(1), &info), 0);
	assert_int_equal(info.virtual_size, 64 * MiB);
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'g', &err), 1);
	vs->ops->undo_name(vs, U(1), VSTORE_UNDO_RESIZE, undo, sizeof(undo));
	assert_false(fx_has(fx, undo));
	/* nothing to recover */
	assert_int_equal(vstore_grow_recover(vs, U(1), VSTORE_UNDO_RESIZE, &undone, &err), 0);
	assert_false(undone);
	assert_int_equal(vs_query(vs, U(1), &info), 0);
	assert_int_equal(info.virtual_size, 64 * MiB);
}

static void test_sweep(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	char tmp[64], newc[64], undo_resize[128], undo_gc[128];

	assert_int_equal(vs_make_vhd(vs, U(1), 8 * MiB, &err), 0);
	snprintf(tmp, sizeof(tmp), ".%s.vhd.tmp", U(2));
	snprintf(newc, sizeof(newc), "%s.vhd.new", U(1));
	vs->ops->undo_name(vs, U(1), VSTORE_UNDO_RESIZE, undo_resize, sizeof(undo_resize));
	vs->ops->undo_name(vs, U(1), VSTORE_UNDO_GC, undo_gc, sizeof(undo_gc));
	assert_string_not_equal(undo_resize, undo_gc);
	fx_plant(fx, tmp, "x", 1);
	fx_plant(fx, newc, "x", 1);
	fx_plant(fx, undo_resize, "x", 1);
	fx_plant(fx, undo_gc, "x", 1);
	vs->ops->sweep(vs);
	assert_false(fx_has(fx, tmp));
	assert_false(fx_has(fx, newc));
	assert_false(fx_has(fx, undo_resize));
	assert_true(fx_has(fx, undo_gc));   /* the GC's: it grows without the SR lock */
	assert_int_equal(vs_kind(vs, U(1)), VSTORE_VHD);
}

static void test_store_there(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	uint64_t size = 0, used = 0, avail = 0;
	char path[256];

	assert_int_equal(vs->ops->exists(vs), 1);
	assert_int_equal(vs->ops->check(vs, &err), 0);
	assert_int_equal(vs->ops->space(vs, &size, &used, &avail, &err), 0);
	assert_true(size > 0 && used <= size && avail <= size);
	vs->ops->data_path(vs, U(1), VSTORE_VHD, path, sizeof(path));
	assert_non_null(strstr(path, U(1)));
	vs->ops->image_name(vs, U(1), VSTORE_RAW, path, sizeof(path));
	assert_non_null(strstr(path, U(1)));
	assert_string_equal(vs->ops->type, fx->kind == FX_DIR ? "dir" : "mem");
}

/* A store that is not there answers "could not look", never "absent". */
static void test_store_gone(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct lister l = { 0 };
	enum vstore_kind k = VSTORE_VHD;
	bool undone = true;

	if (fx->kind == FX_DIR)
		assert_int_equal(rmdir(fx->path), 0);   /* before its first use */
	else
		vstore_mem_set_gone(fx->m, true);
	assert_int_equal(vs->ops->exists(vs), 0);
	assert_int_equal(vs->ops->check(vs, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->list(vs, false, count_image, &l, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->find(vs, U(1), &k, SME_VDI_DELETE, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	assert_true(vs->ops->meta_lookup(vs, U(1)) < 0);
	assert_true(vs->ops->is_locked(vs, U(1)) < 0);
	assert_true(vs->ops->journal_lookup(vs, "leaf", U(1)) < 0);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->take_over_recover(vs, U(1), U(2), &err), -1);
	sm_error_clear(&err);
	/* the chain code's opener too: a clean failure, not a crash */
	assert_int_equal(vstore_grow_recover(vs, U(1), VSTORE_UNDO_RESIZE, &undone, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
}

/* ---- the directory store when a stat or a listing fails ---------------------- */

#define FAULT_LOG "/tmp/csm-vstore-contract-faults.log"

/* Make the next I/O call of class cls ("stat", "list", "open") fail with errnum. */
static void dir_fail_next(const char *cls, int errnum)
{
	char line[512], spec[64], num[16];
	unsigned n = 0;
	FILE *f = fopen(FAULT_LOG, "r");

	while (f && fgets(line, sizeof(line), f))
		n += strncmp(line, cls, strlen(cls)) == 0 && line[strlen(cls)] == ' ';
	if (f)
		fclose(f);
	snprintf(spec, sizeof(spec), "%s:%u", cls, n + 1);
	snprintf(num, sizeof(num), "%d", errnum);
	setenv("CSM_FAULT_IO", spec, 1);
	setenv("CSM_FAULT_IO_ERRNO", num, 1);
}

static void dir_fail_none(void)
{
	unsetenv("CSM_FAULT_IO");
}

/*
 * "Could not look" is never "absent" (the in-memory store's own faults
 * are tested in test_vstore_helpers.c; this is the directory store's).
 */
static void test_dir_could_not_look(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	enum vstore_kind k = VSTORE_VHD;
	struct lister l = { 0 };

	if (fx->kind != FX_DIR)
		return;
#ifndef CSM_TEST_BUILD
	skip();
#endif
	leaf_chain(vs, 1, 2);
	dir_fail_next("stat", EIO);
	assert_int_equal(vs->ops->find(vs, U(1), &k, SME_VDI_DELETE, &err), -1);
	assert_int_equal(err.code, SME_VDI_DELETE);
	sm_error_clear(&err);
	dir_fail_next("stat", ETIMEDOUT);
	assert_int_equal(vs->ops->find(vs, U(1), &k, SME_VDI_DELETE, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	sm_error_clear(&err);
	dir_fail_next("stat", EIO);
	assert_int_equal(vs->ops->meta_lookup(vs, U(2)), -EIO);
	dir_fail_next("stat", EIO);
	assert_int_equal(vs->ops->is_locked(vs, U(1)), -EIO);
	dir_fail_next("stat", EIO);
	assert_int_equal(vs->ops->journal_lookup(vs, "leaf", U(1)), -EIO);
	dir_fail_next("stat", EIO);
	assert_int_equal(vs->ops->take_over_recover(vs, U(1), U(2), &err), -1);
	sm_error_clear(&err);
	dir_fail_next("stat", EIO);
	assert_int_equal(vstore_leaf_recover(vs, U(1), U(2), &err), -1);
	sm_error_clear(&err);
	dir_fail_next("list", EIO);
	assert_int_equal(vs->ops->list(vs, false, count_image, &l, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	sm_error_clear(&err);
	dir_fail_none();
	/* nothing was touched */
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_VHD);
	assert_int_equal(vs->ops->meta_lookup(vs, U(2)), 1);
	assert_int_equal(vs_holds(vs, U(1), MiB, MiB, 'l', &err), 1);
	/* snap_undo says when it could not look, so its journal record stays */
	assert_int_equal(vs_make_vhd(vs, U(5), 8 * MiB, &err), 0);
	assert_int_equal(vs->ops->snap_keep(vs, U(5), U(6), SME_VDI_SNAPSHOT, &err), 0);
	dir_fail_next("stat", EIO);
	assert_int_equal(vs->ops->snap_undo(vs, U(5), U(6), "", &err), -1);
	assert_int_not_equal(err.code, 0);
	sm_error_clear(&err);
	dir_fail_none();
	assert_int_equal(vs->ops->snap_undo(vs, U(5), U(6), "", &err), 0);
	assert_int_equal(vs_kind(vs, U(6)), VSTORE_NONE);
	assert_int_equal(vs_kind(vs, U(5)), VSTORE_VHD);
}

/*
 * What must be durable syncs the directory, and says when it could not:
 * a lock record's name (lock_write), a grow's undo record's name before
 * the image changes (the opener's sync_name).
 */
static void test_dir_sync_fails(void **state)
{
	struct fx *fx = *state;
	struct vstore *vs = fx->vs;
	struct sm_error err = { 0 };
	struct vstore_lock a = { .user = "alice", .host = "h1", .since = 1 };
	struct vhd_info info;
	char undo[128];
	bool pending = true;

	if (fx->kind != FX_DIR)
		return;
#ifndef CSM_TEST_BUILD
	skip();
#endif
	dir_fail_next("syncdir", EIO);
	assert_int_equal(vs->ops->lock_write(vs, U(1), &a, false, &err), -1);
	assert_int_equal(err.code, SME_LOCK_ERR);
	sm_error_clear(&err);
	dir_fail_none();
	assert_int_equal(vs->ops->is_locked(vs, U(1)), 0);   /* the failed taker holds nothing */
	assert_int_equal(vs->ops->lock_write(vs, U(1), &a, false, &err), 0);
	dir_fail_next("syncdir", EIO);
	assert_int_equal(vs->ops->lock_write(vs, U(1), &a, true, &err), -1);
	assert_int_equal(err.code, SME_LOCK_ERR);
	sm_error_clear(&err);
	dir_fail_none();

	assert_int_equal(vs_make_vhd(vs, U(2), 8 * MiB, &err), 0);
	assert_int_equal(vs_fill(vs, U(2), 0, MiB, 'g', &err), 0);
	vs->ops->undo_name(vs, U(2), VSTORE_UNDO_RESIZE, undo, sizeof(undo));
	dir_fail_next("syncdir", EIO);
	assert_int_equal(vstore_grow(vs, U(2), 64 * MiB, VSTORE_UNDO_RESIZE, &pending, &err), -1);
	assert_false(pending);
	sm_error_clear(&err);
	dir_fail_none();
	/* the image was never touched, and no record is left */
	assert_int_equal(vs_query(vs, U(2), &info), 0);
	assert_int_equal(info.virtual_size, 8 * MiB);
	assert_int_equal(vs_holds(vs, U(2), 0, MiB, 'g', &err), 1);
	assert_false(fx_has(fx, undo));
	assert_int_equal(vstore_grow(vs, U(2), 64 * MiB, VSTORE_UNDO_RESIZE, &pending, &err), 0);
}

#define CASES(X) \
	X(test_create_invisible_until_publish), X(test_publish_never_replaces), \
	X(test_create_after_killed_create), X(test_abandon), X(test_find_kinds), \
	X(test_open_and_remove), X(test_snapshot), X(test_snap_undo_every_state), \
	X(test_snap_undo_half_made_child), X(test_snap_undo_hidden_original), X(test_snap_refusals), X(test_take_over), X(test_take_over_without_parent), \
	X(test_leaf_recover_not_started), X(test_meta_records), X(test_lock_records), \
	X(test_list_record_flags), X(test_journals), X(test_activation_records), \
	X(test_grow), X(test_sweep), X(test_store_there), X(test_store_gone), \
	X(test_dir_could_not_look), X(test_dir_sync_fails)

#define CASE(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { CASES(CASE) };
	static const struct { enum fx_kind kind; const char *name; } groups[] = {
		{ FX_MEM, "mem (directory-like)" },
		{ FX_MEM_LVM, "mem (LVM-like)" },
		{ FX_DIR, "dir" },
	};
	int failed = 0;

	setenv("SM_HOST_ID", "contract-host", 1);
	unlink(FAULT_LOG);
	setenv("CSM_FAULT_IO_LOG", FAULT_LOG, 1);
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		group_kind = groups[i].kind;
		failed += _cmocka_run_group_tests(groups[i].name, tests,
						  sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	}
	unlink(FAULT_LOG);
	return failed;
}
