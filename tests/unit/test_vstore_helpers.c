/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the store-neutral helpers (lib/vstore.c: vstore_grow and its
 * recovery, vstore_leaf_recover, hidden flag, repair, activation lookup)
 * over the in-memory store, killed at every step and crashed (process
 * and host); every "could not look" path, which must never lead to a
 * destructive step; and the in-memory store's own crash model, fault
 * injection and LVM-like room, so the tests built on it can be trusted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vstore_testutil.h"

#include "csm/vdiforest.h"
#include "csm/vstore_mem.h"

#define SR_UUID "11111111-2222-4333-8444-555555555555"

static const char *img(const char *uuid)
{
	static char buf[4][64];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, 64, "%s.vhd", uuid);
	return p;
}

static struct vstore_mem *new_store(bool lvm)
{
	struct vstore_mem *m = vstore_mem_new(SR_UUID);

	assert_non_null(m);
	vstore_mem_set_lvm(m, lvm);
	return m;
}

/* An 8 MiB VHD u with 'a' in its first MiB, durable. */
static void make_leaf(struct vstore *vs, int u)
{
	struct sm_error err = { 0 };

	assert_int_equal(vs_make_vhd(vs, U(u), 8 * MiB, &err), 0);
	assert_int_equal(vs_fill(vs, U(u), 0, MiB, 'a', &err), 0);
}

static const enum vstore_mem_crash crashes[] = {
	VSTORE_MEM_CRASH_PROCESS, VSTORE_MEM_CRASH_HOST,
	VSTORE_MEM_CRASH_HOST_BYTES, VSTORE_MEM_CRASH_HOST_NAMES,
};
#define NCRASHES (sizeof(crashes) / sizeof(crashes[0]))

static int image_count(struct vstore *vs)
{
	struct sm_error err = { 0 };
	struct vdi_forest f;
	int n;

	assert_int_equal(vdi_forest_load(&f, vs, false, &err), 0);
	n = (int)f.count;
	vdi_forest_free(&f);
	return n;
}

/* ---- the crash model and fault injection of the in-memory store ------- */

static void test_mem_fault_nth(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);

	vstore_mem_fail(m, VMEM_META_LOOKUP, 2, EIO);
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), 0);
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), -EIO);
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), 0);
	assert_int_equal(vstore_mem_calls(m, VMEM_META_LOOKUP), 3);
	vstore_mem_fail(m, VMEM_JOURNAL_LOOKUP, 0, ETIMEDOUT);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vs->ops->journal_lookup(vs, "x", U(1)), -ETIMEDOUT);
	vstore_mem_fail_clear(m);
	assert_int_equal(vs->ops->journal_lookup(vs, "x", U(1)), 0);
	assert_string_equal(vstore_mem_op_name(VMEM_TAKE_OVER_RECOVER), "take_over_recover");
	assert_string_equal(vstore_mem_op_name(VMEM_IO_SYNC), "io_sync");
	for (int op = 0; op < VMEM_OP_COUNT; op++) {   /* every op named, once */
		assert_non_null(vstore_mem_op_name(op));
		for (int o = 0; o < op; o++)
			assert_string_not_equal(vstore_mem_op_name(o), vstore_mem_op_name(op));
	}
	vstore_mem_free(m);
}

static void test_mem_find_could_not_look(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	enum vstore_kind k = VSTORE_VHD;

	make_leaf(vs, 1);
	vstore_mem_fail(m, VMEM_FIND, 1, EIO);
	assert_int_equal(vs->ops->find(vs, U(1), &k, SME_VDI_DELETE, &err), -1);
	assert_int_equal(err.code, SME_VDI_DELETE);
	sm_error_clear(&err);
	vstore_mem_fail(m, VMEM_FIND, 1, ETIMEDOUT);
	assert_int_equal(vs->ops->find(vs, U(1), &k, SME_VDI_DELETE, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->find(vs, U(1), &k, SME_VDI_DELETE, &err), 0);
	assert_int_equal(k, VSTORE_VHD);
	vstore_mem_free(m);
}

static void test_mem_kill_stops_everything(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	struct vdi_meta meta = { .vdi_type = "user" };
	uint64_t before;

	make_leaf(vs, 1);
	before = mem_digest(m);
	vstore_mem_kill_after(m, 0);
	assert_int_equal(vs->ops->meta_write(vs, U(1), &meta, SME_VDI_CREATE, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	assert_true(vstore_mem_dead(m));
	assert_int_equal(vs->ops->remove(vs, U(1), VSTORE_VHD, false, &err), -1);
	assert_true(vs->ops->meta_lookup(vs, U(1)) < 0);
	assert_int_equal(mem_digest(m), before);   /* a dead process changes nothing */
	vstore_mem_crash(m, VSTORE_MEM_CRASH_PROCESS);
	assert_false(vstore_mem_dead(m));
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), 0);
	vstore_mem_free(m);
}

static void test_mem_host_crash_drops_unsynced(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	struct vdi_meta meta = { .vdi_type = "user" };
	struct vhd_io io = { 0 };
	uint8_t byte = 'q';

	make_leaf(vs, 1);
	make_leaf(vs, 2);
	make_leaf(vs, 3);
	assert_int_equal(vs->ops->meta_write(vs, U(1), &meta, SME_VDI_CREATE, &err), 0);
	/* not durable: a removal without sync, snapshot steps without commit, unsynced bytes */
	assert_int_equal(vs->ops->remove(vs, U(2), VSTORE_VHD, true, &err), 0);
	assert_int_equal(vs->ops->snap_keep(vs, U(3), U(4), SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs->ops->snap_child(vs, U(3), U(4), 0, true, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs->ops->open(vs, U(1), VSTORE_VHD, VHD_IO_RDWR, &io, &err), 0);
	assert_int_equal(io.ops->pwrite(&io, &byte, 1, 0), 0);
	vstore_mem_crash(m, VSTORE_MEM_CRASH_HOST);
	assert_int_equal(io.ops->pwrite(&io, &byte, 1, 0), -ESTALE);   /* opened before the crash */
	vhd_io_close(&io);
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_VHD);
	assert_int_equal(vs_kind(vs, U(4)), VSTORE_NONE);
	assert_int_equal(vs_holds(vs, U(3), 0, MiB, 'a', &err), 1);
	assert_int_equal(vhd_check_with(vs->ops->opener(vs), img(U(1)), true, &err), 0);
	assert_int_equal(vs->ops->meta_lookup(vs, U(1)), 1);   /* durable on return */
	/* after a process crash everything done stays */
	assert_int_equal(vs->ops->remove(vs, U(2), VSTORE_VHD, true, &err), 0);
	vstore_mem_crash(m, VSTORE_MEM_CRASH_PROCESS);
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_NONE);
	vstore_mem_free(m);
}

/* A create killed anywhere is invisible, or complete; abandon leaves nothing. */
static void test_mem_publish_killed_every_step(void **state)
{
	for (unsigned how = 0; how < 2 * NCRASHES; how++) {
		bool finished = false;

		for (unsigned long k = 0; !finished; k++) {
			struct vstore_mem *m = new_store(how >= NCRASHES);
			struct vstore *vs = vstore_mem_vs(m);
			struct sm_error err = { 0 };
			struct vhd_info info;

			vstore_mem_kill_after(m, k);
			finished = vs_make_vhd(vs, U(1), 8 * MiB, &err) == 0;
			assert_true(finished != vstore_mem_dead(m));
			assert_true(!finished || k > 3);
			vstore_mem_crash(m, crashes[how % NCRASHES]);
			if (vs_kind(vs, U(1)) == VSTORE_VHD) {
				assert_int_equal(vs_query(vs, U(1), &info), 0);
				assert_int_equal(info.virtual_size, 8 * MiB);
			} else {
				assert_false(finished);
				assert_int_equal(image_count(vs), 0);
			}
			vs->ops->abandon(vs, U(1), NULL);
			vs->ops->sweep(vs);
			assert_int_equal(vstore_mem_count(m), 0);
			vstore_mem_free(m);
			assert_true(k < 1000);
		}
	}
}

/* ---- vstore_grow and its recovery ---------------------------------------- */

/* Whatever happened, the image is sound, old or new size, its data intact. */
static void check_grown_or_not(struct vstore *vs, int u, bool must_be_new)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	char undo[128];

	if (vhd_check_with(vs->ops->opener(vs), img(U(u)), true, &err) < 0)
		print_error("%s\n", err.detail);
	assert_int_equal(err.code, 0);
	assert_int_equal(vs_query(vs, U(u), &info), 0);
	if (must_be_new)
		assert_int_equal(info.virtual_size, 64 * MiB);
	else
		assert_true(info.virtual_size == 8 * MiB || info.virtual_size == 64 * MiB);
	assert_int_equal(vs_holds(vs, U(u), 0, MiB, 'a', &err), 1);
	vs->ops->undo_name(vs, U(u), VSTORE_UNDO_RESIZE, undo, sizeof(undo));
	assert_false(vstore_mem_has(vstore_mem_of(vs), undo));
}

static void test_grow_io_fault_every_write(void **state)
{
	bool finished = false;

	for (unsigned n = 1; !finished; n++) {
		struct vstore_mem *m = new_store(false);
		struct vstore *vs = vstore_mem_vs(m);
		struct sm_error err = { 0 };
		struct vhd_info info;
		bool pending = false;
		int rc;

		make_leaf(vs, 1);
		vstore_mem_fail(m, VMEM_IO_WRITE, n, EIO);
		rc = vstore_grow(vs, U(1), 64 * MiB, VSTORE_UNDO_RESIZE, &pending, &err);
		finished = vstore_mem_calls(m, VMEM_IO_WRITE) < n;
		vstore_mem_fail_clear(m);
		if (rc == 0) {
			assert_false(pending);
		} else if (pending) {
			bool undone = false;

			sm_error_clear(&err);
			assert_int_equal(vstore_grow_recover(vs, U(1), VSTORE_UNDO_RESIZE, &undone, &err), 0);
			assert_true(undone);
		}
		check_grown_or_not(vs, 1, rc == 0);
		if (rc < 0) {   /* a failed grow is undone: the old size */
			assert_int_equal(vs_query(vs, U(1), &info), 0);
			assert_int_equal(info.virtual_size, 8 * MiB);
		}
		vstore_mem_free(m);
		assert_true(n < 1000);
	}
}

static void grow_killed_every_step(enum vstore_mem_crash how)
{
	bool finished = false;
	unsigned long k;

	for (k = 0; !finished; k++) {
		struct vstore_mem *m = new_store(false);
		struct vstore *vs = vstore_mem_vs(m);
		struct sm_error err = { 0 };
		bool pending = false, undone = false;

		make_leaf(vs, 1);
		vstore_mem_kill_after(m, k);
		finished = vstore_grow(vs, U(1), 64 * MiB, VSTORE_UNDO_RESIZE, &pending, &err) == 0;
		vstore_mem_crash(m, how);
		sm_error_clear(&err);
		assert_int_equal(vstore_grow_recover(vs, U(1), VSTORE_UNDO_RESIZE, &undone, &err), 0);
		/* durable on return: a finished grow is never undone by recovery */
		check_grown_or_not(vs, 1, finished);
		vstore_mem_free(m);
		assert_true(k < 5000);
	}
	assert_true(k > 5);   /* the grow took steps to kill */
}

/*
 * Every crash, at every step: a host crash that writes the image's bytes
 * back but not the names needs the undo record's name synced before the
 * image changes (vhd_opener.sync_name).
 */
static void test_grow_killed_every_step(void **state)
{
	for (size_t i = 0; i < NCRASHES; i++)
		grow_killed_every_step(crashes[i]);
}

/* A record that cannot be looked at, or an image that cannot be opened: nothing changes. */
static void test_grow_recover_could_not_look(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	bool pending = false, undone = false;
	char undo[128];
	uint64_t before;
	unsigned long k;

	make_leaf(vs, 1);
	/* kill the grow half-way (a process crash keeps its record) */
	vs->ops->undo_name(vs, U(1), VSTORE_UNDO_RESIZE, undo, sizeof(undo));
	for (k = 1; ; k++) {
		unsigned long start = vstore_mem_steps(m);

		vstore_mem_kill_after(m, k);
		assert_int_equal(vstore_grow(vs, U(1), 64 * MiB, VSTORE_UNDO_RESIZE, &pending, &err), -1);
		vstore_mem_crash(m, VSTORE_MEM_CRASH_PROCESS);
		sm_error_clear(&err);
		if (vstore_mem_has(m, undo) && vstore_mem_steps(m) - start > 3)
			break;
		assert_int_equal(vstore_grow_recover(vs, U(1), VSTORE_UNDO_RESIZE, NULL, &err), 0);
		assert_true(k < 100);
	}
	before = mem_digest(m);
	for (unsigned nth = 0; nth <= 2; nth++) {
		vstore_mem_fail(m, VMEM_OPENER_OPEN, nth, EIO);
		assert_int_equal(vstore_grow_recover(vs, U(1), VSTORE_UNDO_RESIZE, &undone, &err), -1);
		assert_int_equal(err.code, SME_SR_UNAVAILABLE);
		assert_false(undone);
		sm_error_clear(&err);
		vstore_mem_fail_clear(m);
		assert_int_equal(mem_digest(m), before);
		assert_true(vstore_mem_has(m, undo));
	}
	assert_int_equal(vstore_grow_recover(vs, U(1), VSTORE_UNDO_RESIZE, &undone, &err), 0);
	assert_true(undone);
	check_grown_or_not(vs, 1, false);
	vstore_mem_free(m);
}

/* ---- vstore_leaf_recover ------------------------------------------------------- */

/*
 * p ('p' in MiB 0) <- l ('l' in MiB 1), l copied into p, the "leaf" record
 * written and p made visible, as the GC does before p takes l's name.
 */
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
	assert_int_equal(vs->ops->sync(vs, NULL), 0);
	assert_int_equal(vs->ops->journal_begin(vs, "leaf", U(l), "", &err), 0);
	assert_int_equal(vstore_vhd_set_hidden(vs, U(p), false, &err), 0);
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

static int names_with(struct vstore_mem *m, const char *part)
{
	struct name_count c = { .part = part };

	vstore_mem_each_name(m, count_name, &c);
	return c.n;
}

static void leaf_killed_every_step(bool lvm, enum vstore_mem_crash how)
{
	bool finished = false;
	int undone = 0, done = 0;

	for (unsigned long k = 0; !finished; k++) {
		struct vstore_mem *m = new_store(lvm);
		struct vstore *vs = vstore_mem_vs(m);
		struct sm_error err = { 0 };
		struct vhd_info info;

		leaf_chain(vs, 1, 2);
		vstore_mem_kill_after(m, k);
		finished = vs->ops->take_over(vs, U(1), U(2), &err) == 0;
		vstore_mem_crash(m, how);
		sm_error_clear(&err);
		assert_int_equal(vs->ops->journal_lookup(vs, "leaf", U(1)), 1);
		assert_int_equal(vstore_leaf_recover(vs, U(1), U(2), &err), 0);
		/* no data lost either way */
		assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'p', &err), 1);
		assert_int_equal(vs_holds(vs, U(1), MiB, MiB, 'l', &err), 1);
		assert_int_equal(vhd_check_with(vs->ops->opener(vs), img(U(1)), true, &err), 0);
		assert_int_equal(names_with(m, "OLD_"), 0);
		if (vs_kind(vs, U(2)) == VSTORE_VHD) {
			assert_false(finished);
			assert_int_equal(vs_query(vs, U(2), &info), 0);
			assert_true(info.hidden);
			assert_int_equal(image_count(vs), 2);
			undone++;
		} else {
			assert_int_equal(vs->ops->meta_lookup(vs, U(2)), 0);
			assert_int_equal(image_count(vs), 1);
			done++;
		}
		vstore_mem_free(m);
		assert_true(k < 1000);
	}
	assert_true(undone > 0 && done > 0);
}

static void test_leaf_recover_killed_dir_like(void **state)
{
	for (size_t i = 0; i < NCRASHES; i++)
		leaf_killed_every_step(false, crashes[i]);
}

static void test_leaf_recover_killed_lvm_like(void **state)
{
	for (size_t i = 0; i < NCRASHES; i++)
		leaf_killed_every_step(true, crashes[i]);
}

/* take_over_recover cannot look: vstore_leaf_recover hides and repairs nothing. */
static void test_leaf_recover_could_not_look(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		struct vstore_mem *m = new_store(lvm);
		struct vstore *vs = vstore_mem_vs(m);
		struct sm_error err = { 0 };
		uint64_t before;

		leaf_chain(vs, 1, 2);
		/* LVM-like: killed between the renames, so recovery has something to do */
		vstore_mem_kill_after(m, lvm ? 1 : 0);
		assert_int_equal(vs->ops->take_over(vs, U(1), U(2), &err), -1);
		vstore_mem_crash(m, VSTORE_MEM_CRASH_PROCESS);
		sm_error_clear(&err);
		before = mem_digest(m);
		vstore_mem_fail(m, VMEM_TAKE_OVER_RECOVER, 0, ETIMEDOUT);
		assert_int_equal(vstore_leaf_recover(vs, U(1), U(2), &err), -1);
		assert_int_equal(err.code, SME_SR_UNAVAILABLE);
		assert_int_equal(mem_digest(m), before);
		sm_error_clear(&err);
		vstore_mem_fail_clear(m);
		assert_int_equal(vstore_leaf_recover(vs, U(1), U(2), &err), 0);
		assert_int_equal(vs_holds(vs, U(1), MiB, MiB, 'l', &err), 1);
		vstore_mem_free(m);
	}
}

/* ---- snapshot steps killed anywhere, then undone or kept ---------------------- */

/* The steps of a snapshot of leaf 1 to base 2 with clone 3; 0 when all ran. */
static int snapshot_steps(struct vstore *vs, struct sm_error *err)
{
	if (vs->ops->snap_keep(vs, U(1), U(2), SME_VDI_SNAPSHOT, err) < 0 ||
	    vs->ops->snap_child(vs, U(1), U(2), 0, true, SME_VDI_SNAPSHOT, err) < 0 ||
	    vs->ops->snap_child(vs, U(3), U(2), 0, false, SME_VDI_SNAPSHOT, err) < 0 ||
	    vstore_vhd_set_hidden(vs, U(2), true, err) < 0 ||
	    vstore_set_read_only(vs, U(2), true, err) < 0)
		return -1;
	return vs->ops->snap_commit(vs, SME_VDI_SNAPSHOT, err);
}

static void snapshot_killed(bool lvm, enum vstore_mem_crash how)
{
	bool finished = false;
	unsigned long k;

	for (k = 0; !finished; k++) {
		struct vstore_mem *m = new_store(lvm);
		struct vstore *vs = vstore_mem_vs(m);
		struct sm_error err = { 0 };
		struct vhd_info info;
		struct vhd_io io = { 0 };

		make_leaf(vs, 1);
		assert_int_equal(vs->ops->journal_begin(vs, "snapshot", U(1), "", &err), 0);
		vstore_mem_kill_after(m, k);
		finished = snapshot_steps(vs, &err) == 0;
		vstore_mem_crash(m, how);
		sm_error_clear(&err);
		if (finished) {
			/* committed: every step survives the crash */
			assert_int_equal(vs_query(vs, U(1), &info), 0);
			assert_int_equal(info.type, VHD_TYPE_DIFF);
			assert_int_equal(vs_kind(vs, U(3)), VSTORE_VHD);
			assert_int_equal(vs_query(vs, U(2), &info), 0);
			assert_true(info.hidden);
			assert_int_equal(vs_holds(vs, U(3), 0, MiB, 'a', &err), 1);
		}
		/* recovery of an unfinished snapshot undoes it (a finished one too, if asked) */
		assert_int_equal(vs->ops->journal_lookup(vs, "snapshot", U(1)), 1);
		assert_int_equal(vs->ops->snap_undo(vs, U(1), U(2), U(3), NULL), 0);
		vs->ops->sweep(vs);
		assert_int_equal(vs_kind(vs, U(1)), VSTORE_VHD);
		assert_int_equal(vs_kind(vs, U(2)), VSTORE_NONE);
		assert_int_equal(vs_kind(vs, U(3)), VSTORE_NONE);
		assert_int_equal(vs_query(vs, U(1), &info), 0);
		assert_int_equal(info.type, VHD_TYPE_DYNAMIC);
		assert_false(info.hidden);
		assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'a', &err), 1);
		assert_int_equal(vs->ops->open(vs, U(1), VSTORE_VHD, VHD_IO_RDWR, &io, &err), 0);
		vhd_io_close(&io);
		assert_int_equal(vhd_check_with(vs->ops->opener(vs), img(U(1)), true, &err), 0);
		assert_int_equal(image_count(vs), 1);
		assert_int_equal(names_with(m, ".new") + names_with(m, ".tmp"), 0);
		/* and the undo was durable */
		vstore_mem_crash(m, VSTORE_MEM_CRASH_HOST);
		assert_int_equal(vs_kind(vs, U(2)), VSTORE_NONE);
		assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'a', &err), 1);
		vstore_mem_free(m);
		assert_true(k < 1000);
	}
	assert_true(k > 5);
}

static void test_snapshot_killed_dir_like(void **state)
{
	for (size_t i = 0; i < NCRASHES; i++)
		snapshot_killed(false, crashes[i]);
}

static void test_snapshot_killed_lvm_like(void **state)
{
	for (size_t i = 0; i < NCRASHES; i++)
		snapshot_killed(true, crashes[i]);
}

/* ---- hidden, repair, query, activation ---------------------------------------- */

static void test_hidden_and_repair(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	struct vhd_info info;
	uint8_t *data;
	size_t len;

	make_leaf(vs, 1);
	assert_int_equal(vstore_vhd_set_hidden(vs, U(1), true, &err), 0);
	assert_int_equal(vstore_vhd_query(vs, U(1), true, &info, &err), 0);
	assert_true(info.hidden);
	assert_int_equal(vstore_vhd_set_hidden(vs, U(1), false, &err), 0);
	assert_int_equal(vstore_vhd_query(vs, U(1), false, &info, &err), 0);
	assert_false(info.hidden);
	/* a killed writer's damage: the footer at the end torn */
	assert_int_equal(vstore_mem_get(m, img(U(1)), &data, &len), 0);
	memset(data + len - 512, 0, 512);
	assert_int_equal(vstore_mem_put(m, img(U(1)), data, len), 0);
	free(data);
	assert_int_equal(vhd_check_with(vs->ops->opener(vs), img(U(1)), true, &err), -1);
	sm_error_clear(&err);
	assert_int_equal(vstore_vhd_repair(vs, U(1), &err), 0);
	assert_int_equal(vhd_check_with(vs->ops->opener(vs), img(U(1)), true, &err), 0);
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'a', &err), 1);
	/* a VHD that is not there */
	assert_int_equal(vstore_vhd_set_hidden(vs, U(9), true, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	vstore_mem_free(m);
}

static void test_active_lookup_could_not_look(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	char holder[128];

	vstore_mem_set_host(m, "host-b");
	assert_int_equal(vs->ops->active_set(vs, U(1), true, SME_VDI_UNAVAILABLE, &err), 0);
	vstore_mem_set_host(m, "host-a");
	assert_int_equal(vstore_active_lookup(vs, U(1), holder), 1);
	assert_string_equal(holder, "host-b");
	assert_int_equal(vs->ops->active_clear(vs, U(1)), 0);   /* only this host's */
	assert_int_equal(vstore_active_lookup(vs, U(1), NULL), 1);
	vstore_mem_fail(m, VMEM_ACTIVE_EACH, 0, EIO);
	assert_int_equal(vstore_active_lookup(vs, U(1), holder), -EIO);   /* never "not active" */
	vstore_mem_free(m);
}

static void test_optional_ops_absent(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };

	make_leaf(vs, 1);
	assert_null(vs->ops->room_for);
	assert_null(vs->ops->activate);
	assert_int_equal(vstore_room_for(vs, 8 * MiB, VSTORE_FIT_FULL, 0), 0);
	assert_int_equal(vstore_inflate(vs, U(1), 1ull << 40, &err), 0);
	assert_int_equal(vstore_deflate(vs, U(1), &err), 0);
	assert_int_equal(vstore_set_read_only(vs, U(1), true, &err), 0);
	assert_int_equal(vstore_activate(vs, U(1), true, &err), 0);
	assert_int_equal(vstore_deactivate(vs, U(1), true, &err), 0);
	vstore_mem_free(m);
}

/* ---- space: capacity, rooms (LVM-like) -------------------------------------------------- */

static void test_dir_like_full_store(void **state)
{
	struct vstore_mem *m = new_store(false);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	uint64_t size, used, avail;

	vstore_mem_set_capacity(m, 6 * MiB);
	make_leaf(vs, 1);
	assert_int_equal(vs_fill(vs, U(1), 2 * MiB, 6 * MiB, 'b', &err), -1);
	assert_int_equal(err.code, SME_SR_NO_SPACE);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->space(vs, &size, &used, &avail, &err), 0);
	assert_int_equal(size, 6 * MiB);
	assert_true(used <= size);
	assert_int_equal(avail, size - used);
	assert_int_equal(vhd_check_with(vs->ops->opener(vs), img(U(1)), true, &err), 0);
	vstore_mem_free(m);
}

static void test_lvm_rooms(void **state)
{
	struct vstore_mem *m = new_store(true);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	struct vhd_chain *ch;
	uint64_t empty = vstore_room_for(vs, 8 * MiB, VSTORE_FIT_EMPTY, 0);
	uint64_t full = vstore_room_for(vs, 8 * MiB, VSTORE_FIT_FULL, 0);
	uint8_t *buf = calloc(1, 4 * MiB);

	assert_non_null(buf);
	assert_true(empty > 0 && full > 8 * MiB);
	assert_true(vstore_room_for(vs, 8 * MiB, VSTORE_FIT_DATA, 2 * MiB) < full);
	vstore_mem_set_capacity(m, full + empty - 1);
	assert_int_equal(vs_make_vhd(vs, U(1), 8 * MiB, &err), 0);
	assert_int_equal(vstore_mem_room(m, U(1)), empty);
	/* no room for data until inflated */
	ch = vs_chain_open(vs, U(1), true, &err);
	assert_non_null(ch);
	assert_int_equal(vhd_chain_write(ch, buf, 4 * MiB, 0, &err), -1);
	assert_int_equal(err.code, SME_SR_NO_SPACE);
	vs_chain_close(ch);
	sm_error_clear(&err);
	assert_int_equal(vstore_inflate(vs, U(1), full, &err), 0);
	assert_int_equal(vs_fill(vs, U(1), 0, 4 * MiB, 'c', &err), 0);
	/* the store is full: another image, or more room, does not fit */
	assert_int_equal(vs_make_vhd(vs, U(2), 8 * MiB, &err), -1);
	assert_int_equal(err.code, SME_SR_NO_SPACE);
	sm_error_clear(&err);
	assert_int_equal(vs_kind(vs, U(2)), VSTORE_NONE);
	assert_int_equal(vstore_inflate(vs, U(1), full + 2 * empty, &err), -1);
	assert_int_equal(err.code, SME_SR_NO_SPACE);
	sm_error_clear(&err);
	/* deflate gives back what the VHD does not use */
	assert_int_equal(vstore_deflate(vs, U(1), &err), 0);
	assert_true(vstore_mem_room(m, U(1)) < full);
	assert_int_equal(vs_make_vhd(vs, U(2), 8 * MiB, &err), 0);
	assert_int_equal(vs_holds(vs, U(1), 0, 4 * MiB, 'c', &err), 1);
	free(buf);
	vstore_mem_free(m);
}

static void test_lvm_names_not_replaceable(void **state)
{
	struct vstore_mem *m = new_store(true);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	bool finished = false;
	unsigned long k;

	make_leaf(vs, 1);
	/* snap_keep renames the leaf away, so the replacing child takes a free name */
	assert_int_equal(vs->ops->snap_keep(vs, U(1), U(2), SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs_kind(vs, U(1)), VSTORE_NONE);
	assert_true(vstore_mem_room(m, U(2)) <= vstore_room_for(vs, 8 * MiB, VSTORE_FIT_DATA, MiB));
	assert_int_equal(vs->ops->snap_child(vs, U(1), U(2), 0, true, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'a', &err), 1);
	assert_int_equal(vs->ops->snap_commit(vs, SME_VDI_SNAPSHOT, &err), 0);
	/* a clone of that empty leaf reuses its parent: the leaf is replaced while named */
	for (k = 0; !finished; k++) {
		struct vhd_info info;
		char parent[37];

		vstore_mem_kill_after(m, k);
		finished = vs->ops->snap_child(vs, U(1), U(2), 0, true, SME_VDI_CLONE, &err) == 0;
		vstore_mem_crash(m, VSTORE_MEM_CRASH_HOST);
		sm_error_clear(&err);
		if (!finished)
			assert_int_equal(vs->ops->snap_undo(vs, U(1), "", "", NULL), 0);
		/* never without the leaf's name, always a child of 2 */
		assert_int_equal(vs_query(vs, U(1), &info), 0);
		vs->ops->parent_uuid(vs, &info, parent);
		assert_string_equal(parent, U(2));
		assert_int_equal(vs_holds(vs, U(1), 0, MiB, 'a', &err), 1);
		assert_int_equal(names_with(m, "OLD_") + names_with(m, ".new"), 0);
		assert_int_equal(image_count(vs), 2);
		assert_true(k < 100);
	}
	assert_true(k > 3);
	vstore_mem_free(m);
}

static void test_lvm_flags_and_activation(void **state)
{
	struct vstore_mem *m = new_store(true);
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };
	struct vdi_forest f;

	make_leaf(vs, 1);
	assert_int_equal(vstore_set_read_only(vs, U(1), true, &err), 0);
	assert_true(vstore_mem_read_only(m, U(1)));
	assert_int_equal(vs->ops->open(vs, U(1), VSTORE_VHD, VHD_IO_RDWR, &io, &err), -1);
	sm_error_clear(&err);
	assert_int_equal(vs->ops->open(vs, U(1), VSTORE_VHD, VHD_IO_RDONLY, &io, &err), 0);
	vhd_io_close(&io);
	assert_int_equal(vstore_set_read_only(vs, U(1), false, &err), 0);
	assert_int_equal(vs->ops->open(vs, U(1), VSTORE_VHD, VHD_IO_RDWR, &io, &err), 0);
	vhd_io_close(&io);
	/* raw images are hidden by the store's own flag */
	assert_int_equal(vs_make_raw(vs, U(2), 4096, 0, &err), 0);
	assert_int_equal(vs->ops->raw_set_hidden(vs, U(2), true, &err), 0);
	assert_int_equal(vdi_forest_load(&f, vs, false, &err), 0);
	assert_true(vdi_forest_find(&f, U(2))->img.hidden);
	vdi_forest_free(&f);
	/* activation is counted */
	assert_int_equal(vstore_activate(vs, U(1), true, &err), 0);
	assert_int_equal(vstore_activate(vs, U(1), true, &err), 0);
	assert_int_equal(vstore_mem_active_count(m, U(1)), 2);
	assert_int_equal(vstore_deactivate(vs, U(1), true, &err), 0);
	assert_int_equal(vstore_mem_active_count(m, U(1)), 1);
	assert_int_equal(vstore_activate(vs, U(9), true, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	vstore_mem_crash(m, VSTORE_MEM_CRASH_HOST);
	assert_int_equal(vstore_mem_active_count(m, U(1)), 0);
	vstore_mem_free(m);
}

/* How a "locked" fault names a vdi_lock's holder: local ISO time and a two-unit age. */
static void test_lock_describe(void **state)
{
	static const struct { long long age; const char *want; } ages[] = {
		{ 0, "(0 s ago)" }, { 42, "(42 s ago)" }, { 303, "(5 min 3 s ago)" },
		{ 3 * 3600 + 12 * 60 + 59, "(3 h 12 min ago)" }, { 2 * 86400 + 4 * 3600 + 7, "(2 d 4 h ago)" },
		{ -30, "(0 s ago)" },   /* the taker's clock ahead of ours */
	};
	struct vstore_lock r = { .user = "OpaqueRef:vm", .host = "xcp-host-07", .since = 1795778361 };
	char out[700];

	(void)state;
	for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		vstore_lock_describe(&r, r.since + ages[i].age, out, sizeof(out));
		assert_non_null(strstr(out, "'OpaqueRef:vm' on host xcp-host-07 since 20"));
		if (!strstr(out, ages[i].want))
			fail_msg("age %lld: '%s', want '%s'", ages[i].age, out, ages[i].want);
	}
	r.since = 0;
	r.host[0] = '\0';
	vstore_lock_describe(&r, 1795778361, out, sizeof(out));
	assert_string_equal(out, "'OpaqueRef:vm' on host (unknown) since an unknown time");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_fault_nth),
		cmocka_unit_test(test_lock_describe),
		cmocka_unit_test(test_mem_find_could_not_look),
		cmocka_unit_test(test_mem_kill_stops_everything),
		cmocka_unit_test(test_mem_host_crash_drops_unsynced),
		cmocka_unit_test(test_mem_publish_killed_every_step),
		cmocka_unit_test(test_grow_io_fault_every_write),
		cmocka_unit_test(test_grow_killed_every_step),
		cmocka_unit_test(test_grow_recover_could_not_look),
		cmocka_unit_test(test_leaf_recover_killed_dir_like),
		cmocka_unit_test(test_leaf_recover_killed_lvm_like),
		cmocka_unit_test(test_leaf_recover_could_not_look),
		cmocka_unit_test(test_snapshot_killed_dir_like),
		cmocka_unit_test(test_snapshot_killed_lvm_like),
		cmocka_unit_test(test_hidden_and_repair),
		cmocka_unit_test(test_active_lookup_could_not_look),
		cmocka_unit_test(test_optional_ops_absent),
		cmocka_unit_test(test_dir_like_full_store),
		cmocka_unit_test(test_lvm_rooms),
		cmocka_unit_test(test_lvm_names_not_replaceable),
		cmocka_unit_test(test_lvm_flags_and_activation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
