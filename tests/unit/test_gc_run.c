/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The GC's runner (lib/gc_run.c) over the in-memory store, directory-like
 * and LVM-like.  Chains are made by the real VDI operations
 * (drivers/vhdsr.c, as in test_vdiops), then the runner deletes garbage,
 * coalesces and leaf-coalesces; it is killed at every step of the store
 * and crashed (process, host, the host's two corners), and the next run
 * must resume: no VDI loses a byte, no journal is left, and on the
 * LVM-like store the base copy is read-only again, the merged leaf has
 * its full room.
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

#include "csm/gc_run.h"
#include "csm/util.h"
#include "csm/vdiforest.h"
#include "csm/vstore_mem.h"

#include "vdiops_testutil.h"

/* ---- the GC ------------------------------------------------------------------ */

static const enum vstore_mem_crash crashes[] = {
	VSTORE_MEM_CRASH_PROCESS, VSTORE_MEM_CRASH_HOST,
	VSTORE_MEM_CRASH_HOST_BYTES, VSTORE_MEM_CRASH_HOST_NAMES,
};
#define NCRASHES (sizeof(crashes) / sizeof(crashes[0]))

static int gc(struct env *e, struct gc_run *g)
{
	gc_run_init(g, e->vs, SR_UUID);
	g->lock_wait_s = 5;
	sm_error_clear(&e->err);
	return gc_run_loop(g, &e->err);
}

/* The uuid of uuid's parent, "" for none. */
static void parent_of(struct env *e, const char *uuid, char out[37])
{
	struct vhd_info info;

	assert_int_equal(vs_query(e->vs, uuid, &info), 0);
	e->vs->ops->parent_uuid(e->vs, &info, out);
}

/*
 * V with data in three places and two snapshots: V -> B2 -> B1, S1 and S2
 * the snapshots (S1 a child of B1, S2 of B2).
 *   V:  a@0 b@2M c@4M d@6M      S2: a@0 b@2M c@4M      S1: a@0 b@2M
 */
static char S1[37], S2[37];

static void setup_two_snapshots(struct env *e)
{
	struct sm_error err = { 0 };

	make_vdi(e, U(1));
	assert_int_equal(snapshot_vdi(e, U(1)), 0);
	snprintf(S1, sizeof(S1), "%s", e->result);
	assert_int_equal(vs_fill(e->vs, U(1), 4 * MiB, MiB, 'c', &err), 0);
	assert_int_equal(snapshot_vdi(e, U(1)), 0);
	snprintf(S2, sizeof(S2), "%s", e->result);
	assert_int_equal(vs_fill(e->vs, U(1), 6 * MiB, MiB, 'd', &err), 0);
	assert_int_equal(e->vs->ops->sync(e->vs, NULL), 0);
}

static void assert_v(struct env *e)
{
	struct sm_error err = { 0 };

	assert_data(e, U(1));
	assert_int_equal(vs_holds(e->vs, U(1), 4 * MiB, MiB, 'c', &err), 1);
	assert_int_equal(vs_holds(e->vs, U(1), 6 * MiB, MiB, 'd', &err), 1);
}

static void assert_s2(struct env *e)
{
	struct sm_error err = { 0 };

	assert_data(e, S2);
	assert_int_equal(vs_holds(e->vs, S2, 4 * MiB, MiB, 'c', &err), 1);
	assert_int_equal(vs_holds(e->vs, S2, 6 * MiB, MiB, 0, &err), 1);
}

/* No GC journal left, and a base copy is at rest (LVM-like: read-only). */
static void assert_tidy(struct env *e, bool lvm, const char *base)
{
	if (base[0])
		assert_int_equal(e->vs->ops->journal_lookup(e->vs, "coalesce", base), 0);
	assert_int_equal(e->vs->ops->journal_lookup(e->vs, "leaf", U(1)), 0);
	if (lvm && base[0])
		assert_true(vstore_mem_read_only(e->m, base));
}

/* S1 deleted: B2 is B1's only child: coalesced into B1, V and S2 relinked. */
static void setup_coalesce(struct env *e)
{
	setup_two_snapshots(e);
	assert_int_equal(delete_vdi(e, S1), 0);
}

static void check_coalesce(struct env *e, bool lvm)
{
	char pv[37], ps2[37], pb1[37];

	parent_of(e, U(1), pv);
	parent_of(e, S2, ps2);
	assert_string_equal(pv, ps2);
	parent_of(e, pv, pb1);
	assert_string_equal(pb1, "");     /* B2 gone, B1 the root */
	assert_int_equal(image_count(e), 3);
	assert_v(e);
	assert_s2(e);
	assert_tidy(e, lvm, pv);
}

/* Then S2 deleted: V is B1's only child, and small: leaf-coalesced. */
static void setup_leaf(struct env *e)
{
	struct gc_run g;

	setup_coalesce(e);
	assert_int_equal(gc(e, &g), 0);
	assert_int_equal(delete_vdi(e, S2), 0);
}

static void check_leaf(struct env *e, bool lvm)
{
	char pv[37];

	parent_of(e, U(1), pv);
	assert_string_equal(pv, "");
	assert_int_equal(image_count(e), 1);
	assert_v(e);
	assert_tidy(e, lvm, "");
	if (lvm) {
		assert_false(vstore_mem_read_only(e->m, U(1)));
		assert_true(vstore_mem_room(e->m, U(1)) >=
			    vstore_room_for(e->vs, 8 * MiB, VSTORE_FIT_FULL, 0));
		assert_false(vstore_mem_has(e->m, "OLD_" "00000000-0000-4000-8000-000000000001.vhd"));
	}
}

static void test_coalesce(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		struct env e;
		struct gc_run g;

		env_init(&e, lvm);
		setup_coalesce(&e);
		assert_int_equal(image_count(&e), 4);
		assert_int_equal(gc(&e, &g), 0);
		assert_int_equal(g.coalesced, 1);
		assert_int_equal(g.leaf_coalesced, 0);
		check_coalesce(&e, lvm);
		if (lvm)   /* the parent was inflated for the copy, and deflated after */
			assert_int_equal(vstore_mem_calls(e.m, VMEM_DEFLATE) > 0, 1);
		env_free(&e);
	}
}

static void test_leaf_coalesce(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		struct env e;
		struct gc_run g;

		env_init(&e, lvm);
		setup_leaf(&e);
		assert_int_equal(image_count(&e), 2);
		assert_int_equal(gc(&e, &g), 0);
		assert_int_equal(g.leaf_coalesced, 1);
		check_leaf(&e, lvm);
		env_free(&e);
	}
}

/* V and its snapshot deleted: the base left is garbage. */
static void test_garbage(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		struct env e;
		struct gc_run g;

		env_init(&e, lvm);
		make_vdi(&e, U(1));
		assert_int_equal(snapshot_vdi(&e, U(1)), 0);
		snprintf(S1, sizeof(S1), "%s", e.result);
		assert_int_equal(delete_vdi(&e, U(1)), 0);
		assert_int_equal(delete_vdi(&e, S1), 0);
		assert_int_equal(image_count(&e), 1);
		assert_int_equal(gc(&e, &g), 0);
		assert_int_equal(g.deleted, 1);
		assert_int_equal(image_count(&e), 0);
		env_free(&e);
	}
}

/*
 * For every k: the state setup makes, the GC killed after k steps, the
 * crash, then a whole GC run (it resumes) and check.  Until the GC runs
 * to its end unkilled.
 */
static void kill_everywhere(void (*setup)(struct env *e), void (*check)(struct env *e, bool lvm),
			    const char *what)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		for (size_t c = 0; c < NCRASHES; c++) {
			bool finished = false;
			unsigned long k;

			for (k = 0; !finished; k += kill_sweep_every()) {
				struct env e;
				struct gc_run g;

				env_init(&e, lvm);
				setup(&e);
				vstore_mem_kill_after(e.m, k);
				finished = gc(&e, &g) == 0;
				assert_true(finished || vstore_mem_dead(e.m));
				vstore_mem_crash(e.m, crashes[c]);
				if (gc(&e, &g) != 0)
					print_error("%s, %s, crash %zu, killed after %lu steps: resume: %s\n",
						    what, lvm ? "lvm" : "dir", c, k, e.err.detail);
				assert_int_equal(e.err.code, 0);
				check(&e, lvm);
				env_free(&e);
				assert_true(k < 5000);
			}
			assert_true(k > 10);
		}
	}
}

static void test_coalesce_killed(void **state)
{
	kill_everywhere(setup_coalesce, check_coalesce, "coalesce");
}

static void test_leaf_coalesce_killed(void **state)
{
	kill_everywhere(setup_leaf, check_leaf, "leaf-coalesce");
}

/*
 * A third snapshot: B2's children are then B3 (a hidden base copy,
 * read-only on LVM) and S2.  With S1 deleted B2 is coalesced into B1 and
 * B3 is relinked: made writable for it and read-only again.
 */
static char S3[37];

static void setup_hidden_child(struct env *e)
{
	struct sm_error err = { 0 };

	setup_two_snapshots(e);
	assert_int_equal(snapshot_vdi(e, U(1)), 0);
	snprintf(S3, sizeof(S3), "%s", e->result);
	assert_int_equal(vs_fill(e->vs, U(1), 5 * MiB, MiB, 'e', &err), 0);
	assert_int_equal(delete_vdi(e, S1), 0);
	assert_int_equal(e->vs->ops->sync(e->vs, NULL), 0);
}

static void check_hidden_child(struct env *e, bool lvm)
{
	struct sm_error err = { 0 };
	char p3[37], b3[37], b1[37], root[37];

	parent_of(e, S3, b3);
	parent_of(e, b3, b1);
	parent_of(e, S2, p3);
	assert_string_equal(b1, p3);         /* B3 and S2 both under B1 now */
	parent_of(e, b1, root);
	assert_string_equal(root, "");
	assert_int_equal(image_count(e), 5);      /* B1, B3, V, S2, S3 */
	assert_s2(e);
	assert_data(e, U(1));
	assert_int_equal(vs_holds(e->vs, U(1), 5 * MiB, MiB, 'e', &err), 1);
	assert_int_equal(vs_holds(e->vs, S3, 5 * MiB, MiB, 0, &err), 1);
	assert_int_equal(vs_holds(e->vs, S3, 6 * MiB, MiB, 'd', &err), 1);
	assert_tidy(e, lvm, b1);
	if (lvm)
		assert_true(vstore_mem_read_only(e->m, b3));
}

static void test_hidden_child_relinked(void **state)
{
	for (int lvm = 0; lvm < 2; lvm++) {
		struct env e;
		struct gc_run g;

		env_init(&e, lvm);
		setup_hidden_child(&e);
		assert_int_equal(gc(&e, &g), 0);
		assert_int_equal(g.coalesced, 1);
		check_hidden_child(&e, lvm);
		env_free(&e);
	}
}

static void test_hidden_child_killed(void **state)
{
	kill_everywhere(setup_hidden_child, check_hidden_child, "relink of a base copy");
}

/* A parent with no room in the store: the coalesce fails, the next run (with room) finishes it. */
static void test_coalesce_no_space(void **state)
{
	struct env e;
	struct gc_run g;

	env_init(&e, true);
	setup_coalesce(&e);
	vstore_mem_fail(e.m, VMEM_INFLATE, 1, ENOSPC);
	assert_int_equal(gc(&e, &g), -1);
	assert_int_equal(e.err.code, SME_SR_NO_SPACE);
	vstore_mem_fail_clear(e.m);
	assert_int_equal(gc(&e, &g), 0);
	check_coalesce(&e, true);
	env_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_coalesce),
		cmocka_unit_test(test_leaf_coalesce),
		cmocka_unit_test(test_coalesce_no_space),
		cmocka_unit_test(test_hidden_child_relinked),
		cmocka_unit_test(test_hidden_child_killed),
		cmocka_unit_test(test_coalesce_killed),
		cmocka_unit_test(test_leaf_coalesce_killed),
	};

	setenv("SM_LOCK_DIR", "/tmp/csm-test-gc-run-locks", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
