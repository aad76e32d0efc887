/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The VDI operations of drivers/vhdsr.c (create, delete, snapshot, clone,
 * resize, recovery) run over the in-memory store, directory-like and
 * LVM-like: requests are parsed as the dispatcher parses them, recovery
 * runs before each call as under the SR lock, and every operation is
 * killed at every step of the store and crashed (process, host, and the
 * host's two corners), then recovered: no VDI data may be lost, and the
 * store must be left with the VDI whole or not there at all.
 *
 * vhdsr.c reaches its store through fsr_store(); this program provides
 * it (and the GC kick, a no-op) in place of drivers/filebased.c, so the
 * operations run unchanged over the in-memory store.
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
#include "csm/gc_plan.h"
#include "csm/util.h"
#include "csm/vstore_mem.h"

#include "vdiops_testutil.h"

/* The next call's recovery, on its own (sr_scan-like: nothing else runs). */
static int recover(struct env *e)
{
	return run(e, "sr_scan", "", "", NULL);
}

static bool visible(struct env *e, const char *uuid)
{
	struct vhd_info info;

	return vs_kind(e->vs, uuid) == VSTORE_VHD && vs_query(e->vs, uuid, &info) == 0 &&
	       !info.hidden;
}

/* ---- the operations, uninterrupted ----------------------------------------- */

static void test_create_delete(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		struct env e;
		struct vdi_meta m;

		env_init(&e, lvm);
		make_vdi(&e, U(1));
		assert_data(&e, U(1));
		assert_int_equal(e.vs->ops->meta_read(e.vs, U(1), &m), 0);
		assert_string_equal(m.label, "disk");
		vdimeta_free(&m);
		assert_int_equal(create_vdi(&e, U(1), 8 * MiB), -1);
		assert_int_equal(e.err.code, SME_VDI_EXISTS);
		assert_data(&e, U(1));
		assert_int_equal(delete_vdi(&e, U(1)), 0);
		assert_int_equal(vs_kind(e.vs, U(1)), VSTORE_NONE);
		assert_int_equal(e.vs->ops->meta_lookup(e.vs, U(1)), 0);
		assert_int_equal(delete_vdi(&e, U(1)), 0);   /* idempotent */
		env_free(&e);
	}
}

static void test_snapshot_clone_resize(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		struct env e;
		struct sm_error err = { 0 };
		struct vhd_info info;
		char snap[37], clone[37], base[37];

		env_init(&e, lvm);
		make_vdi(&e, U(1));
		if (snapshot_vdi(&e, U(1)) < 0)
			print_error("snapshot: %s\n", e.err.detail);
		assert_int_equal(e.err.code, 0);
		snprintf(snap, sizeof(snap), "%s", e.result);
		assert_true(sm_uuid_valid(snap) && strcmp(snap, U(1)) != 0);
		if (clone_vdi(&e, U(1)) < 0)
			print_error("clone: %s\n", e.err.detail);
		assert_int_equal(e.err.code, 0);
		snprintf(clone, sizeof(clone), "%s", e.result);
		assert_true(sm_uuid_valid(clone) && strcmp(clone, snap) != 0);
		assert_data(&e, U(1));
		assert_data(&e, snap);
		assert_data(&e, clone);
		/* the leaf is written after the snapshot: the snapshot keeps the old data */
		assert_int_equal(vs_fill(e.vs, U(1), 0, MiB, 'z', &err), 0);
		assert_data(&e, snap);
		/* resize the leaf; its data stays */
		assert_int_equal(resize_vdi(&e, U(1), 64 * MiB), 0);
		assert_int_equal(vs_query(e.vs, U(1), &info), 0);
		assert_int_equal(info.virtual_size, 64 * MiB);
		assert_int_equal(vs_holds(e.vs, U(1), 0, MiB, 'z', &err), 1);
		assert_int_equal(vs_holds(e.vs, U(1), 2 * MiB, MiB, 'b', &err), 1);
		assert_int_equal(resize_vdi(&e, U(1), 8 * MiB), -1);   /* never shrinks */
		assert_int_equal(e.err.code, SME_VDI_SIZE);
		/* visible VDIs: the leaf, the snapshot, the clone; the rest are hidden bases */
		assert_true(visible(&e, U(1)) && visible(&e, snap) && visible(&e, clone));
		/* a base copy others hang below is not deleted */
		assert_int_equal(vs_query(e.vs, U(1), &info), 0);
		e.vs->ops->parent_uuid(e.vs, &info, base);
		assert_true(sm_uuid_valid(base));
		assert_int_equal(delete_vdi(&e, base), -1);
		assert_int_equal(e.err.code, SME_VDI_DELETE);
		assert_data(&e, snap);
		/* deleting everything leaves only garbage for the GC, no VDI */
		assert_int_equal(delete_vdi(&e, snap), 0);
		assert_int_equal(delete_vdi(&e, clone), 0);
		assert_int_equal(delete_vdi(&e, U(1)), 0);
		env_free(&e);
	}
}

/* "Could not look" never turns into a destructive step, nor into "missing". */
static void test_delete_could_not_look(void **state)
{
	struct env e;
	uint64_t before;

	env_init(&e, false);
	make_vdi(&e, U(1));
	assert_int_equal(snapshot_vdi(&e, U(1)), 0);
	before = mem_digest(e.m);
	vstore_mem_fail(e.m, VMEM_FIND, 0, ETIMEDOUT);
	assert_int_equal(delete_vdi(&e, U(1)), -1);
	assert_int_equal(e.err.code, SME_SR_UNAVAILABLE);
	vstore_mem_fail_clear(e.m);
	/* the children count cannot be known: no delete */
	vstore_mem_fail(e.m, VMEM_LIST, 0, EIO);
	assert_int_equal(delete_vdi(&e, U(1)), -1);
	vstore_mem_fail_clear(e.m);
	/* nor can the lock and activation records be read */
	vstore_mem_fail(e.m, VMEM_IS_LOCKED, 0, EIO);
	assert_int_equal(delete_vdi(&e, U(1)), -1);
	vstore_mem_fail_clear(e.m);
	vstore_mem_fail(e.m, VMEM_ACTIVE_EACH, 0, EIO);
	assert_int_equal(delete_vdi(&e, U(1)), -1);
	vstore_mem_fail_clear(e.m);
	/* nor whether a killed call left something to finish */
	vstore_mem_fail(e.m, VMEM_EXISTS, 0, EIO);
	assert_int_equal(delete_vdi(&e, U(1)), -1);
	assert_int_equal(e.err.code, SME_SR_UNAVAILABLE);
	vstore_mem_fail_clear(e.m);
	vstore_mem_fail(e.m, VMEM_JOURNAL_REPLAY, 0, EIO);
	assert_int_equal(delete_vdi(&e, U(1)), -1);
	vstore_mem_fail_clear(e.m);
	assert_int_equal(mem_digest(e.m), before);
	assert_data(&e, U(1));
	assert_int_equal(delete_vdi(&e, U(1)), 0);
	env_free(&e);
}

/*
 * The undo of an interrupted snapshot fails (the store could not do a
 * step): recovery fails too and keeps the journal record, so the next call
 * finishes the undo; dropping the record would leave the original's data
 * under the hidden base's name, for the GC to delete.
 */
static void test_snapshot_undo_could_not_run(void **state)
{
	struct env e;

	env_init(&e, false);
	make_vdi(&e, U(1));
	/* killed right after the journal record and the first step */
	for (unsigned long k = 1; ; k++) {
		unsigned long start = vstore_mem_steps(e.m);

		vstore_mem_kill_after(e.m, k);
		assert_int_equal(snapshot_vdi(&e, U(1)), -1);
		vstore_mem_crash(e.m, VSTORE_MEM_CRASH_PROCESS);
		if (vstore_mem_steps(e.m) - start >= 4 && image_count(&e) > 1)
			break;
		assert_int_equal(recover(&e), 0);
		assert_true(k < 50);
	}
	vstore_mem_fail(e.m, VMEM_SNAP_UNDO, 1, EIO);
	assert_int_equal(recover(&e), -1);
	assert_int_equal(e.err.code, SME_SR_UNAVAILABLE);
	assert_int_equal(e.vs->ops->journal_lookup(e.vs, "snapshot", U(1)), 1);
	assert_int_equal(recover(&e), 0);
	assert_int_equal(e.vs->ops->journal_lookup(e.vs, "snapshot", U(1)), 0);
	assert_int_equal(image_count(&e), 1);
	assert_true(visible(&e, U(1)));
	assert_data(&e, U(1));
	env_free(&e);
}

/* The same for a create whose abandon fails. */
static void test_create_abandon_could_not_run(void **state)
{
	struct env e;
	bool left = false;

	env_init(&e, false);
	/* killed once the image is published, before the journal record went */
	for (unsigned long k = 1; !left; k++) {
		env_free(&e);
		env_init(&e, false);
		vstore_mem_kill_after(e.m, k);
		assert_int_equal(create_vdi(&e, U(1), 8 * MiB), -1);
		vstore_mem_crash(e.m, VSTORE_MEM_CRASH_PROCESS);
		left = vs_kind(e.vs, U(1)) == VSTORE_VHD &&
		       e.vs->ops->journal_lookup(e.vs, "create", U(1)) == 1;
		assert_true(k < 100);
	}
	vstore_mem_fail(e.m, VMEM_ABANDON, 1, EIO);
	assert_int_equal(recover(&e), -1);
	assert_int_equal(e.vs->ops->journal_lookup(e.vs, "create", U(1)), 1);
	assert_int_equal(recover(&e), 0);
	assert_int_equal(vs_kind(e.vs, U(1)), VSTORE_NONE);
	assert_int_equal(e.vs->ops->journal_lookup(e.vs, "create", U(1)), 0);
	env_free(&e);
}

/* ---- killed at every step ---------------------------------------------------- */

static const enum vstore_mem_crash crashes[] = {
	VSTORE_MEM_CRASH_PROCESS, VSTORE_MEM_CRASH_HOST,
	VSTORE_MEM_CRASH_HOST_BYTES, VSTORE_MEM_CRASH_HOST_NAMES,
};
#define NCRASHES (sizeof(crashes) / sizeof(crashes[0]))

typedef int (*op_fn)(struct env *e);
typedef void (*check_fn)(struct env *e, bool finished);

/*
 * For every k: a fresh store set up by setup, the op killed after k steps,
 * the crash, the next call's recovery, then check (finished: the op had
 * answered success before the crash).  Until the op runs to the end.
 */
static void kill_everywhere(void (*setup)(struct env *e), op_fn op, check_fn check,
			    const char *what)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		for (size_t c = 0; c < NCRASHES; c++) {
			bool finished = false;
			unsigned long k;

			for (k = 0; !finished; k += kill_sweep_every()) {
				struct env e;

				env_init(&e, lvm);
				setup(&e);
				vstore_mem_kill_after(e.m, k);
				finished = op(&e) == 0;
				assert_true(finished || vstore_mem_dead(e.m));
				vstore_mem_crash(e.m, crashes[c]);
				if (recover(&e) != 0)
					print_error("%s, %s, crash %zu, killed after %lu steps: recovery: %s\n",
						    what, lvm ? "lvm" : "dir", c, k, e.err.detail);
				assert_int_equal(e.err.code, 0);
				check(&e, finished);
				/* and the store takes the next call */
				assert_int_equal(recover(&e), 0);
				env_free(&e);
				assert_true(k < 2000);
			}
			assert_true(k > 3);
		}
	}
}

static void setup_empty(struct env *e)
{
}

static void setup_one(struct env *e)
{
	make_vdi(e, U(1));
	assert_int_equal(e->vs->ops->sync(e->vs, NULL), 0);
}

static int op_create(struct env *e)
{
	return create_vdi(e, U(1), 8 * MiB);
}

static void check_create(struct env *e, bool finished)
{
	if (finished || vs_kind(e->vs, U(1)) != VSTORE_NONE) {
		struct vhd_info info;

		assert_int_equal(vs_query(e->vs, U(1), &info), 0);
		assert_int_equal(info.virtual_size, 8 * MiB);
		assert_int_equal(e->vs->ops->meta_lookup(e->vs, U(1)), 1);
		assert_int_equal(image_count(e), 1);
	} else {
		assert_int_equal(e->vs->ops->meta_lookup(e->vs, U(1)), 0);
		assert_int_equal(image_count(e), 0);
	}
	assert_int_equal(e->vs->ops->journal_lookup(e->vs, "create", U(1)), 0);
}

static void test_create_killed(void **state)
{
	kill_everywhere(setup_empty, op_create, check_create, "create");
}

static int op_delete(struct env *e)
{
	return delete_vdi(e, U(1));
}

static void check_delete(struct env *e, bool finished)
{
	if (finished || vs_kind(e->vs, U(1)) == VSTORE_NONE) {
		assert_int_equal(vs_kind(e->vs, U(1)), VSTORE_NONE);
		assert_int_equal(image_count(e), 0);
		/* a repeated delete tidies records a crash left */
		assert_int_equal(delete_vdi(e, U(1)), 0);
		assert_int_equal(e->vs->ops->meta_lookup(e->vs, U(1)), 0);
	} else {
		assert_data(e, U(1));
	}
}

static void test_delete_killed(void **state)
{
	kill_everywhere(setup_one, op_delete, check_delete, "delete");
}

static char last_new[37];

static int op_snapshot(struct env *e)
{
	int rc = snapshot_vdi(e, U(1));

	snprintf(last_new, sizeof(last_new), "%s", e->result);
	return rc;
}

static int op_clone(struct env *e)
{
	int rc = clone_vdi(e, U(1));

	snprintf(last_new, sizeof(last_new), "%s", e->result);
	return rc;
}

/* The one visible image other than uuid, into out ("" for none). */
static void other_visible(struct env *e, const char *uuid, char out[37])
{
	struct sm_error err = { 0 };
	struct vdi_forest f;
	int n = 0;

	out[0] = '\0';
	assert_int_equal(vdi_forest_load(&f, e->vs, false, &err), 0);
	for (size_t i = 0; i < f.count; i++)
		if (!f.nodes[i].img.hidden && strcmp(f.nodes[i].img.uuid, uuid) != 0) {
			snprintf(out, 37, "%s", f.nodes[i].img.uuid);
			n++;
		}
	vdi_forest_free(&f);
	assert_true(n <= 1);
}

/*
 * Rolled back (only the leaf) or complete (leaf, base, new VDI).  A call
 * killed after its journal record went had committed: the snapshot is
 * complete though the caller never heard (the next scan shows the VDI).
 */
static void check_snapshot(struct env *e, bool finished)
{
	struct sm_error err = { 0 };
	char other[37];
	int n = image_count(e);

	assert_true(visible(e, U(1)));
	assert_data(e, U(1));
	assert_int_equal(e->vs->ops->journal_lookup(e->vs, "snapshot", U(1)), 0);
	other_visible(e, U(1), other);
	if (finished)
		assert_string_equal(other, last_new);
	if (finished || n > 1) {
		assert_int_equal(n, 3);
		assert_true(other[0]);
		assert_data(e, other);
	} else {
		assert_int_equal(n, 1);   /* rolled back: nothing new */
	}
	/* the leaf is writable, and the next snapshot works */
	assert_int_equal(vs_fill(e->vs, U(1), 0, 4096, 'a', &err), 0);
	assert_int_equal(snapshot_vdi(e, U(1)), 0);
	assert_data(e, e->result);
}

static void test_snapshot_killed(void **state)
{
	kill_everywhere(setup_one, op_snapshot, check_snapshot, "snapshot");
}

static void test_clone_killed(void **state)
{
	kill_everywhere(setup_one, op_clone, check_snapshot, "clone");
}

static int op_resize(struct env *e)
{
	return resize_vdi(e, U(1), 64 * MiB);
}

static void check_resize(struct env *e, bool finished)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	char name[64];

	snprintf(name, sizeof(name), "%s.vhd", U(1));
	assert_int_equal(vhd_check_with(e->vs->ops->opener(e->vs), name, true, &err), 0);
	assert_data(e, U(1));
	assert_int_equal(vs_query(e->vs, U(1), &info), 0);
	if (finished)
		assert_int_equal(info.virtual_size, 64 * MiB);
	else
		assert_true(info.virtual_size == 8 * MiB || info.virtual_size == 64 * MiB);
	assert_int_equal(e->vs->ops->journal_lookup(e->vs, "resize", U(1)), 0);
	/* and a resize now goes through */
	assert_int_equal(resize_vdi(e, U(1), 128 * MiB), 0);
	assert_data(e, U(1));
}

static void test_resize_killed(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++)
		for (size_t c = 0; c < NCRASHES; c++) {
			bool finished = false;
			unsigned long k;

			for (k = 0; !finished; k += kill_sweep_every()) {
				struct env e;

				env_init(&e, lvm);
				setup_one(&e);
				vstore_mem_kill_after(e.m, k);
				finished = op_resize(&e) == 0;
				vstore_mem_crash(e.m, crashes[c]);
				assert_int_equal(recover(&e), 0);
				check_resize(&e, finished);
				env_free(&e);
				assert_true(k < 2000);
			}
			assert_true(k > 3);
		}
}

/* ---- the GC's planning over what the VDI operations leave ---------------------- */

/* Load the forest and the activation records as csm-gc does, and plan. */
static void plan(struct env *e, struct vdi_forest *f, struct gc_plan *pl)
{
	struct sm_error err = { 0 };
	struct gc_active_set active = { 0 };
	struct gc_plan_input in = { .forest = f, .leaf_max = 64 * MiB, .backed_off = "" };

	assert_int_equal(vdi_forest_load(f, e->vs, true, &err), 0);
	if (gc_plan_needs_active(f)) {
		active.rc = e->vs->ops->active_each(e->vs, gc_active_set_add, &active);
		in.active = &active;
	}
	memset(pl, 0, sizeof(*pl));
	gc_plan_make(&in, pl);
	gc_active_set_free(&active);
}

static bool planned_garbage(const struct gc_plan *pl, const char *uuid)
{
	for (unsigned i = 0; i < pl->ngarbage; i++)
		if (strcmp(pl->garbage[i]->img.uuid, uuid) == 0)
			return true;
	return false;
}

/* The hidden base the snapshot of uuid made (uuid's parent). */
static void parent_of(struct env *e, const char *uuid, char out[37])
{
	struct vhd_info info;

	assert_int_equal(vs_query(e->vs, uuid, &info), 0);
	e->vs->ops->parent_uuid(e->vs, &info, out);
	assert_true(sm_uuid_valid(out));
}

static void test_plan_after_snapshots(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		struct env e;
		struct vdi_forest f;
		struct gc_plan pl;
		char snap1[37], snap2[37], base1[37], base2[37];

		env_init(&e, lvm);
		make_vdi(&e, U(1));
		/* nothing to do on a lone VDI */
		plan(&e, &f, &pl);
		assert_int_equal(pl.ngarbage + pl.q_coalesce + pl.q_leaf, 0);
		assert_string_equal(pl.held_back, "");
		vdi_forest_free(&f);
		/* two snapshots: base1 <- base2 <- leaf, with a snapshot VDI below each base */
		assert_int_equal(snapshot_vdi(&e, U(1)), 0);
		snprintf(snap1, sizeof(snap1), "%s", e.result);
		parent_of(&e, U(1), base1);
		assert_int_equal(vs_fill(e.vs, U(1), 4 * MiB, MiB, 'c', &(struct sm_error){ 0 }), 0);
		assert_int_equal(snapshot_vdi(&e, U(1)), 0);
		snprintf(snap2, sizeof(snap2), "%s", e.result);
		parent_of(&e, U(1), base2);
		plan(&e, &f, &pl);
		assert_int_equal(pl.ngarbage, 0);
		assert_null(pl.coalesce);   /* every base has two children */
		vdi_forest_free(&f);
		/* the first snapshot goes: base1 has base2 as its only child, base2 two children */
		assert_int_equal(delete_vdi(&e, snap1), 0);
		plan(&e, &f, &pl);
		assert_int_equal(pl.ngarbage, 0);
		assert_non_null(pl.coalesce);
		assert_string_equal(pl.coalesce->img.uuid, base2);
		assert_string_equal(pl.coalesce->img.parent, base1);
		vdi_forest_free(&f);
		/* the second goes: base2 only has the leaf; the leaf may merge into it */
		assert_int_equal(delete_vdi(&e, snap2), 0);
		plan(&e, &f, &pl);
		assert_non_null(pl.coalesce);   /* base2 into base1 first: deepest coalesce */
		assert_string_equal(pl.coalesce->img.uuid, base2);
		/* the leaf could merge into base2 too; the runner does the coalesce first */
		assert_non_null(pl.leaf);
		assert_string_equal(pl.leaf->img.uuid, U(1));
		vdi_forest_free(&f);
		assert_false(planned_garbage(&pl, U(1)));
		assert_data(&e, U(1));
		env_free(&e);
	}
}

static void test_plan_garbage_and_refusals(void **state)
{
	struct env e;
	struct vdi_forest f;
	struct gc_plan pl;
	struct sm_error err = { 0 };
	struct vstore_lock lk = { .user = "u", .host = "h", .since = 1 };
	char snap[37], base[37], name[64];

	env_init(&e, false);
	make_vdi(&e, U(1));
	assert_int_equal(snapshot_vdi(&e, U(1)), 0);
	snprintf(snap, sizeof(snap), "%s", e.result);
	parent_of(&e, U(1), base);
	/* the leaf and the base go: the base is garbage once nothing visible needs it */
	assert_int_equal(delete_vdi(&e, snap), 0);
	plan(&e, &f, &pl);
	assert_int_equal(pl.ngarbage, 0);
	assert_non_null(pl.leaf);   /* the leaf is the base's only child */
	assert_string_equal(pl.leaf->img.uuid, U(1));
	vdi_forest_free(&f);
	/* refused while the leaf is active on any host */
	vstore_mem_set_host(e.m, "other-host");
	assert_int_equal(e.vs->ops->active_set(e.vs, U(1), true, SME_VDI_UNAVAILABLE, &err), 0);
	plan(&e, &f, &pl);
	assert_null(pl.leaf);
	assert_int_equal(pl.q_leaf, 0);
	vdi_forest_free(&f);
	assert_int_equal(e.vs->ops->active_clear(e.vs, U(1)), 0);
	/* refused when the activation records cannot be read */
	vstore_mem_fail(e.m, VMEM_ACTIVE_EACH, 0, EIO);
	plan(&e, &f, &pl);
	assert_null(pl.leaf);
	assert_non_null(strstr(pl.held_back, "activation records"));
	vdi_forest_free(&f);
	vstore_mem_fail_clear(e.m);
	/* refused while it holds a vdi_lock */
	assert_int_equal(e.vs->ops->lock_write(e.vs, U(1), &lk, false, &err), 0);
	plan(&e, &f, &pl);
	assert_null(pl.leaf);
	vdi_forest_free(&f);
	assert_int_equal(e.vs->ops->lock_remove(e.vs, U(1)), 0);
	/* an unreadable image of unknown parent holds every piece of work back */
	snprintf(name, sizeof(name), "%s.vhd", U(9));
	assert_int_equal(vstore_mem_put(e.m, name, "torn", 4), 0);
	plan(&e, &f, &pl);
	assert_null(pl.leaf);
	assert_null(pl.coalesce);
	assert_int_equal(pl.ngarbage, 0);
	assert_non_null(strstr(pl.held_back, U(9)));
	vdi_forest_free(&f);
	assert_int_equal(e.vs->ops->remove(e.vs, U(9), VSTORE_VHD, false, &err), 0);
	plan(&e, &f, &pl);
	assert_non_null(pl.leaf);   /* and once it is gone, the leaf may merge again */
	vdi_forest_free(&f);
	/* the leaf deleted: the base is garbage */
	assert_int_equal(delete_vdi(&e, U(1)), 0);
	plan(&e, &f, &pl);
	assert_int_equal(pl.ngarbage, 1);
	assert_true(planned_garbage(&pl, base));
	vdi_forest_free(&f);
	env_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_delete),
		cmocka_unit_test(test_snapshot_clone_resize),
		cmocka_unit_test(test_delete_could_not_look),
		cmocka_unit_test(test_snapshot_undo_could_not_run),
		cmocka_unit_test(test_create_abandon_could_not_run),
		cmocka_unit_test(test_create_killed),
		cmocka_unit_test(test_delete_killed),
		cmocka_unit_test(test_snapshot_killed),
		cmocka_unit_test(test_clone_killed),
		cmocka_unit_test(test_resize_killed),
		cmocka_unit_test(test_plan_after_snapshots),
		cmocka_unit_test(test_plan_garbage_and_refusals),
	};

	setenv("SM_LOCK_DIR", "/tmp/csm-test-vdiops-locks", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
