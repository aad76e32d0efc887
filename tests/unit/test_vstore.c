/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the VDI store layer: the forest built from a listing (pure:
 * children, liveness, blocking by what could not be read, depth), and the
 * directory store over a temporary directory: the files it leaves are the
 * ones file SRs have always had, lookups are tri-state, create is
 * invisible until publish, the snapshot steps and their undo put the
 * original back byte for byte, the leaf take-over and its recovery, the
 * vdi_lock record is exclusive, and the one grow with an undo record.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/vdiforest.h"
#include "csm/vhd.h"
#include "csm/vhdchain.h"
#include "csm/vstore_dir.h"

#define U_A "aaaaaaaa-0000-4000-8000-000000000001"
#define U_B "bbbbbbbb-0000-4000-8000-000000000002"
#define U_C "cccccccc-0000-4000-8000-000000000003"
#define U_D "dddddddd-0000-4000-8000-000000000004"
#define U_E "eeeeeeee-0000-4000-8000-000000000005"
#define SR_U "11111111-0000-4000-8000-000000000000"

/* ---- the forest ------------------------------------------------------------ */

static void add(struct vdi_forest *f, const char *uuid, const char *parent, bool hidden,
		const char *error, bool parent_unknown)
{
	struct vstore_image img = { .kind = VSTORE_VHD, .hidden = hidden,
				    .parent_unknown = parent_unknown };

	snprintf(img.uuid, sizeof(img.uuid), "%s", uuid);
	snprintf(img.parent, sizeof(img.parent), "%s", parent ? parent : "");
	snprintf(img.error, sizeof(img.error), "%s", error ? error : "");
	assert_int_equal(vdi_forest_add(f, &img), 0);
}

static void test_forest_links(void **state)
{
	struct vdi_forest f = { 0 };

	/* C (hidden root) <- B (hidden) <- A (visible leaf); D hidden alone: garbage. */
	add(&f, U_A, U_B, false, NULL, false);
	add(&f, U_D, NULL, true, NULL, false);
	add(&f, U_C, NULL, true, NULL, false);
	add(&f, U_B, U_C, true, NULL, false);
	vdi_forest_link(&f);
	assert_int_equal(f.count, 4);
	assert_string_equal(f.nodes[0].img.uuid, U_A);   /* sorted */
	assert_int_equal(vdi_forest_find(&f, U_C)->nchildren, 1);
	assert_int_equal(vdi_forest_find(&f, U_B)->nchildren, 1);
	assert_int_equal(vdi_forest_find(&f, U_A)->nchildren, 0);
	assert_true(vdi_forest_find(&f, U_C)->live);
	assert_true(vdi_forest_find(&f, U_B)->live);
	assert_false(vdi_forest_find(&f, U_D)->live);
	assert_int_equal(vdi_forest_depth(&f, vdi_forest_find(&f, U_A)), 3);
	assert_null(vdi_forest_find(&f, U_E));
	assert_int_equal(f.unknown_parents, 0);
	vdi_forest_free(&f);
}

static void test_forest_unreadable(void **state)
{
	struct vdi_forest f = { 0 };

	/* B unreadable but its parent known: blocks its chain up to C only. */
	add(&f, U_A, NULL, false, NULL, false);
	add(&f, U_B, U_C, true, "bad footer", false);
	add(&f, U_C, NULL, true, NULL, false);
	vdi_forest_link(&f);
	assert_true(vdi_forest_find(&f, U_B)->blocked);
	assert_true(vdi_forest_find(&f, U_C)->blocked);
	assert_false(vdi_forest_find(&f, U_A)->blocked);
	/* An unreadable image is kept live (the scan still lists it). */
	assert_true(vdi_forest_find(&f, U_B)->live);
	assert_int_equal(f.unknown_parents, 0);
	/* One whose parent is unknown: no image is known to be childless. */
	add(&f, U_E, NULL, false, "cannot open", true);
	vdi_forest_link(&f);
	assert_int_equal(f.unknown_parents, 1);
	assert_string_equal(f.first_unknown->img.uuid, U_E);
	vdi_forest_free(&f);
}

/* ---- the directory store ---------------------------------------------------- */

struct fixture {
	char dir[64];
	struct srfs fs;
	struct vstore_dir d;
	struct vstore *vs;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_vstore.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	vstore_dir_init(&f->d, &f->fs, f->dir, SR_U);   /* opened on first use */
	f->vs = &f->d.vs;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	f->vs->ops->close(f->vs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static bool on_disk(struct fixture *f, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return lstat(path, &st) == 0;
}

static void make_vhd(struct fixture *f, const char *uuid, uint64_t size)
{
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };

	assert_int_equal(f->vs->ops->create(f->vs, uuid, VSTORE_VHD, 0, &io, &err), 0);
	assert_int_equal(vhd_create_dynamic(&io, size, &err), 0);
	assert_int_equal(f->vs->ops->publish(f->vs, uuid, VSTORE_VHD, &io, &err), 0);
}

static void write_byte(struct fixture *f, const char *uuid, unsigned char v)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	char name[64];

	snprintf(name, sizeof(name), "%s.vhd", uuid);
	assert_int_equal(vhd_chain_open_with(&ch, f->vs->ops->opener(f->vs), name, true, &err), 0);
	assert_int_equal(vhd_chain_write(&ch, &v, 1, 4096, &err), 0);
	vhd_chain_close(&ch);
}

static unsigned char read_byte(struct fixture *f, const char *uuid)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	unsigned char v = 0;
	char name[64];

	snprintf(name, sizeof(name), "%s.vhd", uuid);
	assert_int_equal(vhd_chain_open_with(&ch, f->vs->ops->opener(f->vs), name, false, &err), 0);
	assert_int_equal(vhd_chain_read(&ch, &v, 1, 4096, &err), 0);
	vhd_chain_close(&ch);
	return v;
}

static void test_names(void **state)
{
	struct fixture *f = *state;
	char out[256];

	f->vs->ops->image_name(f->vs, U_A, VSTORE_VHD, out, sizeof(out));
	assert_string_equal(out, U_A ".vhd");
	f->vs->ops->image_name(f->vs, U_A, VSTORE_RAW, out, sizeof(out));
	assert_string_equal(out, U_A ".raw");
	f->vs->ops->locator(f->vs, U_B, out, sizeof(out));
	assert_string_equal(out, "./" U_B ".vhd");
	f->vs->ops->undo_name(f->vs, U_A, VSTORE_UNDO_RESIZE, out, sizeof(out));
	assert_string_equal(out, "." U_A ".vhd.undo");
	f->vs->ops->undo_name(f->vs, U_A, VSTORE_UNDO_GC, out, sizeof(out));
	assert_string_equal(out, U_A ".vhd.undo");
}

static void test_create_publish_find(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };
	enum vstore_kind kind;

	assert_int_equal(f->vs->ops->find(f->vs, U_A, &kind, SME_VDI_LOAD, &err), 0);
	assert_int_equal(kind, VSTORE_NONE);
	assert_int_equal(f->vs->ops->create(f->vs, U_A, VSTORE_VHD, 0, &io, &err), 0);
	assert_int_equal(vhd_create_dynamic(&io, 8 << 20, &err), 0);
	/* Invisible until published: under its temporary name only. */
	assert_true(on_disk(f, "." U_A ".vhd.tmp"));
	assert_int_equal(f->vs->ops->find(f->vs, U_A, &kind, SME_VDI_LOAD, &err), 0);
	assert_int_equal(kind, VSTORE_NONE);
	assert_int_equal(f->vs->ops->publish(f->vs, U_A, VSTORE_VHD, &io, &err), 0);
	assert_false(on_disk(f, "." U_A ".vhd.tmp"));
	assert_true(on_disk(f, U_A ".vhd"));
	assert_int_equal(f->vs->ops->find(f->vs, U_A, &kind, SME_VDI_LOAD, &err), 0);
	assert_int_equal(kind, VSTORE_VHD);
	/* A second publish of the same uuid never replaces it. */
	assert_int_equal(f->vs->ops->create(f->vs, U_A, VSTORE_VHD, 0, &io, &err), 0);
	assert_int_equal(vhd_create_dynamic(&io, 8 << 20, &err), 0);
	assert_int_equal(f->vs->ops->publish(f->vs, U_A, VSTORE_VHD, &io, &err), -1);
	assert_int_equal(err.code, SME_VDI_EXISTS);
	assert_false(on_disk(f, "." U_A ".vhd.tmp"));
}

static void test_find_not_an_image(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	enum vstore_kind kind = VSTORE_VHD;
	char path[256];

	/* A directory under an image's name: a fault, never "absent". */
	snprintf(path, sizeof(path), "%s/%s.vhd", f->dir, U_B);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(f->vs->ops->find(f->vs, U_B, &kind, SME_VDI_DELETE, &err), -1);
	assert_int_equal(err.code, SME_VDI_DELETE);
	assert_int_equal(kind, VSTORE_NONE);
	assert_non_null(strstr(err.detail, "not a regular file"));
}

static void test_store_gone(void **state)
{
	struct srfs fs = { 0 };
	struct vstore_dir d;
	struct sm_error err = { 0 };
	enum vstore_kind kind;

	vstore_dir_init(&d, &fs, "/nonexistent/sr", SR_U);
	assert_int_equal(d.vs.ops->exists(&d.vs), 0);
	assert_int_equal(d.vs.ops->check(&d.vs, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	sm_error_clear(&err);
	/* "could not look", never "absent": the SR itself is not there */
	assert_int_equal(d.vs.ops->find(&d.vs, U_A, &kind, SME_VDI_LOAD, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	assert_int_equal(kind, VSTORE_NONE);
	d.vs.ops->close(&d.vs);
}

static int collect(void *arg, const struct vstore_image *img)
{
	struct vdi_forest *f = arg;

	return vdi_forest_add(f, img);
}

static void test_list_records(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct vdi_meta m = { .label = (char *)"disk", .description = (char *)"" };
	struct vstore_lock lk = { .user = "me", .host = "h", .since = 1 };
	struct vdi_forest fo = { 0 };
	struct vdi_meta back;

	make_vhd(f, U_A, 8 << 20);
	make_vhd(f, U_B, 8 << 20);
	assert_int_equal(f->vs->ops->meta_write(f->vs, U_A, &m, SME_VDI_CREATE, &err), 0);
	assert_true(on_disk(f, U_A ".meta"));
	assert_int_equal(f->vs->ops->lock_write(f->vs, U_B, &lk, false, &err), 0);
	assert_true(on_disk(f, U_B ".lock"));
	/* Exclusive: a second taker loses; replace refreshes. */
	assert_int_equal(f->vs->ops->lock_write(f->vs, U_B, &lk, false, &err), -1);
	assert_int_equal(err.code, SME_LOCK_ERR);
	sm_error_clear(&err);
	assert_int_equal(f->vs->ops->lock_write(f->vs, U_B, &lk, true, &err), 0);
	assert_int_equal(f->vs->ops->is_locked(f->vs, U_B), 1);
	assert_int_equal(f->vs->ops->is_locked(f->vs, U_A), 0);
	assert_int_equal(f->vs->ops->list(f->vs, false, collect, &fo, &err), 0);
	vdi_forest_link(&fo);
	assert_int_equal(fo.count, 2);
	assert_int_equal(vdi_forest_find(&fo, U_A)->img.records, VSTORE_HAS_META);
	assert_int_equal(vdi_forest_find(&fo, U_B)->img.records, VSTORE_HAS_LOCK);
	assert_int_equal(vdi_forest_find(&fo, U_A)->img.virtual_size, 8 << 20);
	vdi_forest_free(&fo);
	assert_int_equal(f->vs->ops->meta_read(f->vs, U_A, &back), 0);
	assert_string_equal(back.label, "disk");
	vdimeta_free(&back);
	assert_int_equal(f->vs->ops->meta_read(f->vs, U_B, &back), -ENOENT);
	/* remove takes the records with the image. */
	assert_int_equal(f->vs->ops->remove(f->vs, U_B, VSTORE_VHD, false, &err), 0);
	assert_false(on_disk(f, U_B ".vhd"));
	assert_false(on_disk(f, U_B ".lock"));
	assert_int_equal(f->vs->ops->remove(f->vs, U_B, VSTORE_VHD, false, &err), 0);
}

static void test_records_and_journals_on_disk(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	char name[128], holder[128];

	make_vhd(f, U_A, 8 << 20);
	assert_int_equal(f->vs->ops->journal_begin(f->vs, "create", U_A, "vdi=x\n", &err), 0);
	assert_true(on_disk(f, ".csm-journal/create-" U_A));
	assert_int_equal(f->vs->ops->journal_lookup(f->vs, "create", U_A), 1);
	assert_int_equal(f->vs->ops->journal_end(f->vs, "create", U_A, &err), 0);
	assert_int_equal(f->vs->ops->journal_lookup(f->vs, "create", U_A), 0);
	setenv("SM_HOST_ID", "host-one", 1);
	assert_int_equal(f->vs->ops->active_set(f->vs, U_A, true, SME_VDI_UNAVAILABLE, &err), 0);
	snprintf(name, sizeof(name), ".csm-active/%s@%s", U_A, vstore_dir_host_id());
	assert_true(on_disk(f, name));
	assert_int_equal(vstore_active_lookup(f->vs, U_A, holder), 1);
	assert_string_equal(holder, vstore_dir_host_id());
	assert_int_equal(f->vs->ops->active_clear(f->vs, U_A), 0);
	assert_int_equal(vstore_active_lookup(f->vs, U_A, NULL), 0);
	assert_int_equal(f->vs->ops->clear(f->vs, &err), 0);
	assert_false(on_disk(f, ".csm-active"));
}

static void test_snapshot_steps_and_undo(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct vhd_info info;
	enum vstore_kind kind;

	make_vhd(f, U_A, 8 << 20);
	write_byte(f, U_A, 0x5a);
	assert_int_equal(f->vs->ops->snap_keep(f->vs, U_A, U_B, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(f->vs->ops->snap_child(f->vs, U_A, U_B, 8 << 20, true, SME_VDI_SNAPSHOT,
						&err), 0);
	assert_int_equal(f->vs->ops->snap_child(f->vs, U_C, U_B, 8 << 20, false, SME_VDI_SNAPSHOT,
						&err), 0);
	assert_int_equal(vstore_vhd_set_hidden(f->vs, U_B, true, &err), 0);
	/* Both leaves read the base's data through the store's locators. */
	assert_int_equal(read_byte(f, U_A), 0x5a);
	assert_int_equal(read_byte(f, U_C), 0x5a);
	assert_int_equal(vstore_vhd_query(f->vs, U_A, true, &info, &err), 0);
	assert_int_equal(info.type, VHD_TYPE_DIFF);
	/* Undo (as recovery does after a crash before the commit): the original is back. */
	assert_int_equal(f->vs->ops->snap_undo(f->vs, U_A, U_B, U_C, &err), 0);
	assert_false(on_disk(f, U_B ".vhd"));
	assert_false(on_disk(f, U_C ".vhd"));
	assert_int_equal(vstore_vhd_query(f->vs, U_A, true, &info, &err), 0);
	assert_int_equal(info.type, VHD_TYPE_DYNAMIC);
	assert_false(info.hidden);
	assert_int_equal(read_byte(f, U_A), 0x5a);
	/* Undo right after keep (base still a second name of the leaf): the same. */
	assert_int_equal(f->vs->ops->snap_keep(f->vs, U_A, U_B, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(f->vs->ops->snap_undo(f->vs, U_A, U_B, "", &err), 0);
	/* Repeated (recovery after a crash during the undo): nothing left to do. */
	assert_int_equal(f->vs->ops->snap_undo(f->vs, U_A, U_B, "", &err), 0);
	assert_false(on_disk(f, U_B ".vhd"));
	assert_int_equal(f->vs->ops->find(f->vs, U_A, &kind, SME_VDI_LOAD, &err), 0);
	assert_int_equal(kind, VSTORE_VHD);
	assert_int_equal(read_byte(f, U_A), 0x5a);
}

static void test_take_over(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct vdi_meta m = { .label = (char *)"p", .description = (char *)"" };

	make_vhd(f, U_B, 8 << 20);
	write_byte(f, U_B, 0x11);
	assert_int_equal(f->vs->ops->snap_child(f->vs, U_A, U_B, 8 << 20, false, SME_VDI_SNAPSHOT,
						&err), 0);
	/* Not taken over yet: recovery says so and leaves both. */
	assert_int_equal(f->vs->ops->take_over_recover(f->vs, U_A, U_B, &err), 0);
	assert_true(on_disk(f, U_B ".vhd"));
	assert_int_equal(f->vs->ops->meta_write(f->vs, U_B, &m, SME_VDI_CREATE, &err), 0);
	assert_int_equal(f->vs->ops->take_over(f->vs, U_A, U_B, &err), 0);
	assert_false(on_disk(f, U_B ".vhd"));
	assert_false(on_disk(f, U_B ".meta"));
	assert_int_equal(read_byte(f, U_A), 0x11);
	assert_int_equal(f->vs->ops->take_over_recover(f->vs, U_A, U_B, &err), 1);
}

static void test_grow_with_undo(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct vhd_info info;
	bool pending = true, undone = true;
	char path[256];
	FILE *fp;

	make_vhd(f, U_A, 8 << 20);
	write_byte(f, U_A, 0x77);
	assert_int_equal(vstore_grow_recover(f->vs, U_A, VSTORE_UNDO_RESIZE, &undone, &err), 0);
	assert_false(undone);   /* no record: nothing to do */
	assert_int_equal(vstore_grow(f->vs, U_A, 64ull << 30, VSTORE_UNDO_RESIZE, &pending, &err), 0);
	assert_false(pending);
	assert_false(on_disk(f, "." U_A ".vhd.undo"));
	assert_int_equal(vstore_vhd_query(f->vs, U_A, false, &info, &err), 0);
	assert_int_equal(info.virtual_size, 64ull << 30);
	assert_int_equal(read_byte(f, U_A), 0x77);
	/* A record left by a grow cut short blocks the next grow until recovered. */
	snprintf(path, sizeof(path), "%s/%s.vhd.undo", f->dir, U_A);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(vstore_grow(f->vs, U_A, 128ull << 30, VSTORE_UNDO_GC, &pending, &err), -1);
	assert_int_equal(err.code, SME_VDI_EXISTS);
	assert_true(on_disk(f, U_A ".vhd.undo"));
	sm_error_clear(&err);
	/* An empty record undoes nothing and goes. */
	assert_int_equal(vstore_grow_recover(f->vs, U_A, VSTORE_UNDO_GC, &undone, &err), 0);
	assert_false(on_disk(f, U_A ".vhd.undo"));
	assert_int_equal(vstore_vhd_query(f->vs, U_A, false, &info, &err), 0);
	assert_int_equal(info.virtual_size, 64ull << 30);
}

static void test_sweep(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };
	char path[256];
	FILE *fp;

	assert_int_equal(f->vs->ops->create(f->vs, U_A, VSTORE_VHD, 0, &io, &err), 0);
	vhd_io_close(&io);
	snprintf(path, sizeof(path), "%s/%s.vhd.undo", f->dir, U_B);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	f->vs->ops->sweep(f->vs);
	assert_false(on_disk(f, "." U_A ".vhd.tmp"));
	/* The GC's parent-grow record is its own: the sweep leaves it. */
	assert_true(on_disk(f, U_B ".vhd.undo"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forest_links),
		cmocka_unit_test(test_forest_unreadable),
		cmocka_unit_test(test_store_gone),
		T(test_names),
		T(test_create_publish_find),
		T(test_find_not_an_image),
		T(test_list_records),
		T(test_records_and_journals_on_disk),
		T(test_snapshot_steps_and_undo),
		T(test_take_over),
		T(test_grow_with_undo),
		T(test_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
