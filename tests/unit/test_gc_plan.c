/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the GC planner (lib/gc_plan.c) over forests built by hand: what
 * it deletes, which coalesce it picks, when a leaf may be merged, and that
 * whatever could not be read, or may be in use, holds work back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "csm/gc_plan.h"

#define U(n) "0000000" #n "-0000-4000-8000-000000000000"

static void add(struct vdi_forest *f, const char *uuid, const char *parent, bool hidden,
		uint64_t allocated)
{
	struct vstore_image img = { .kind = VSTORE_VHD, .hidden = hidden, .allocated = allocated };

	snprintf(img.uuid, sizeof(img.uuid), "%s", uuid);
	snprintf(img.parent, sizeof(img.parent), "%s", parent ? parent : "");
	assert_int_equal(vdi_forest_add(f, &img), 0);
}

static struct vdi_node *node(struct vdi_forest *f, const char *uuid)
{
	struct vdi_node *n = vdi_forest_find(f, uuid);

	assert_non_null(n);
	return n;
}

static void plan(struct vdi_forest *f, const struct gc_active_set *active, struct gc_plan *pl)
{
	struct gc_plan_input in = { .forest = f, .active = active, .leaf_max = 20 << 20,
				    .backed_off = "" };

	gc_plan_make(&in, pl);
}

static void test_garbage(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set none = { 0 };
	struct gc_plan pl;

	/* 1 visible root; 2 hidden and alone; 3 hidden parent of hidden 4: both garbage. */
	add(&f, U(1), NULL, false, 0);
	add(&f, U(2), NULL, true, 0);
	add(&f, U(3), NULL, true, 0);
	add(&f, U(4), U(3), true, 0);
	vdi_forest_link(&f);
	plan(&f, &none, &pl);
	assert_int_equal(pl.ngarbage, 3);
	assert_int_equal(pl.q_garbage, 3);
	assert_null(pl.coalesce);
	assert_null(pl.leaf);
	assert_string_equal(pl.held_back, "");
	vdi_forest_free(&f);
}

static void test_coalesce_deepest(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set none = { 0 };
	struct gc_plan pl;

	/* 1 <- 2 <- 3 <- 4 (leaf), all but 4 hidden: 2 and 3 can go into their parents. */
	add(&f, U(1), NULL, true, 0);
	add(&f, U(2), U(1), true, 0);
	add(&f, U(3), U(2), true, 0);
	add(&f, U(4), U(3), false, 0);
	vdi_forest_link(&f);
	plan(&f, &none, &pl);
	assert_int_equal(pl.q_coalesce, 2);
	assert_ptr_equal(pl.coalesce, node(&f, U(3)));
	/* The leaf qualifies too (its parent is hidden with one child). */
	assert_ptr_equal(pl.leaf, node(&f, U(4)));
	vdi_forest_free(&f);
}

static void test_coalesce_needs_only_child(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set none = { 0 };
	struct gc_plan pl;

	/* 1 <- 2 <- {3, 4}; 1 <- 5: 1 has two children, so 2 cannot go into it. */
	add(&f, U(1), NULL, true, 0);
	add(&f, U(2), U(1), true, 0);
	add(&f, U(3), U(2), false, 0);
	add(&f, U(4), U(2), false, 0);
	add(&f, U(5), U(1), false, 0);
	vdi_forest_link(&f);
	plan(&f, &none, &pl);
	assert_null(pl.coalesce);
	assert_null(pl.leaf);     /* 2 has two children */
	assert_int_equal(pl.ngarbage, 0);
	vdi_forest_free(&f);
}

/* 1 <- 2 <- {3, 4}: 2 holds an activation count (3 attached): no coalesce of 2 into 1. */
static void test_coalesce_not_through_attached_chain(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set active = { 0 };
	struct gc_plan pl;

	add(&f, U(1), NULL, true, 0);
	add(&f, U(2), U(1), true, 0);
	add(&f, U(3), U(2), false, 0);
	add(&f, U(4), U(2), false, 0);
	vdi_forest_link(&f);
	plan(&f, &active, &pl);
	assert_ptr_equal(pl.coalesce, node(&f, U(2)));
	assert_int_equal(gc_active_set_add(&active, U(3), "h"), 0);
	assert_int_equal(gc_active_set_add(&active, U(2), "h"), 0);
	plan(&f, &active, &pl);
	assert_null(pl.coalesce);
	assert_int_equal(pl.q_coalesce, 0);
	assert_non_null(strstr(pl.held_back, "an attached chain runs through it"));
	gc_active_set_free(&active);
	active.rc = -5;
	plan(&f, &active, &pl);
	assert_null(pl.coalesce);
	assert_non_null(strstr(pl.held_back, "cannot read the activation records"));
	vdi_forest_free(&f);
}

/*
 * 1 <- 2 <- 3, 3 active on another host: coalescing 2 relinks 3 under a
 * server this GC cannot pause, so it waits; 3 active here (our server is
 * paused for the relink), or no local host known: it goes ahead.
 */
static void test_coalesce_not_under_a_remote_server(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set active = { 0 };
	struct gc_plan_input in = { .forest = &f, .active = &active, .leaf_max = 0,
				    .backed_off = "", .local_host = "host-a" };
	struct gc_plan pl;

	add(&f, U(1), NULL, true, 0);
	add(&f, U(2), U(1), true, 0);
	add(&f, U(3), U(2), false, 0);
	vdi_forest_link(&f);
	assert_int_equal(gc_active_set_add(&active, U(3), "host-b"), 0);
	gc_plan_make(&in, &pl);
	assert_null(pl.coalesce);
	assert_non_null(strstr(pl.held_back, "is active on host host-b"));
	gc_active_set_free(&active);
	assert_int_equal(gc_active_set_add(&active, U(3), "host-a"), 0);
	gc_plan_make(&in, &pl);
	assert_ptr_equal(pl.coalesce, node(&f, U(2)));
	gc_active_set_free(&active);
	assert_int_equal(gc_active_set_add(&active, U(3), "host-b"), 0);
	in.local_host = NULL;
	gc_plan_make(&in, &pl);
	assert_ptr_equal(pl.coalesce, node(&f, U(2)));
	gc_active_set_free(&active);
	vdi_forest_free(&f);
}

static const char *name_of_host(void *arg, const char *host_ref)
{
	return strcmp(host_ref, "OpaqueRef:b") == 0 ? "host-b" : NULL;
}

/*
 * xapi mode: 1 <- 2 <- {3, 4}, leaves attached as xapi records them
 * (sm_config host_<ref> keys, blktap2's).  3 attached on another host:
 * the coalesce of 2 is held back naming that host (by name and ref, or
 * by ref alone when it has no name); attached on this host, it is this
 * host's own activation and the coalesce goes on; a leaf attached
 * anywhere is never merged.  Other keys are no activation.
 */
static void test_xapi_attached_hosts(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set active = { 0 };
	struct gc_plan_input in = { .forest = &f, .active = &active, .leaf_max = 20 << 20,
				    .backed_off = "", .local_host = "host-a-id" };
	struct scan_kv elsewhere[] = { { "vhd-parent", U(2) }, { "host_OpaqueRef:b", "RW" } };
	struct scan_kv unnamed[] = { { "host_OpaqueRef:c", "RO" } };
	struct scan_kv here[] = { { "host_OpaqueRef:a", "RW" }, { "paused", "true" } };
	struct scan_kv none[] = { { "activating", "True" }, { "host_", "RW" } };
	struct gc_plan pl;

	add(&f, U(1), NULL, true, 0);
	add(&f, U(2), U(1), true, 0);
	add(&f, U(3), U(2), false, 0);
	add(&f, U(4), U(2), false, 0);
	vdi_forest_link(&f);
	assert_int_equal(gc_active_set_add_attached(&active, U(3), elsewhere, 2, "OpaqueRef:a",
						    in.local_host, name_of_host, NULL), 0);
	assert_int_equal(active.count, 1);
	gc_plan_make(&in, &pl);
	assert_null(pl.coalesce);
	assert_non_null(strstr(pl.held_back, "its child " U(3) " is active on host host-b "
				"(OpaqueRef:b)"));
	gc_active_set_free(&active);

	assert_int_equal(gc_active_set_add_attached(&active, U(4), unnamed, 1, "OpaqueRef:a",
						    in.local_host, name_of_host, NULL), 0);
	gc_plan_make(&in, &pl);
	assert_null(pl.coalesce);
	assert_non_null(strstr(pl.held_back, "is active on host OpaqueRef:c,"));
	gc_active_set_free(&active);

	/* This host's key; no keys that name a host: 2 is coalesced. */
	assert_int_equal(gc_active_set_add_attached(&active, U(3), here, 2, "OpaqueRef:a",
						    in.local_host, name_of_host, NULL), 0);
	assert_int_equal(gc_active_set_add_attached(&active, U(4), none, 2, "OpaqueRef:a",
						    in.local_host, name_of_host, NULL), 0);
	assert_int_equal(active.count, 1);
	assert_string_equal(active.host[0], "host-a-id");
	gc_plan_make(&in, &pl);
	assert_ptr_equal(pl.coalesce, node(&f, U(2)));
	gc_active_set_free(&active);

	/* This host unknown: every key is another host's. */
	assert_int_equal(gc_active_set_add_attached(&active, U(3), here, 2, NULL, in.local_host,
						    name_of_host, NULL), 0);
	gc_plan_make(&in, &pl);
	assert_null(pl.coalesce);
	assert_non_null(strstr(pl.held_back, "OpaqueRef:a"));
	gc_active_set_free(&active);
	vdi_forest_free(&f);

	/* 1 <- 2, leaf 2 attached on another host: not merged. */
	memset(&f, 0, sizeof(f));
	add(&f, U(1), NULL, true, 0);
	add(&f, U(2), U(1), false, 4 << 20);
	vdi_forest_link(&f);
	gc_plan_make(&in, &pl);
	assert_ptr_equal(pl.leaf, node(&f, U(2)));
	assert_int_equal(gc_active_set_add_attached(&active, U(2), elsewhere, 2, "OpaqueRef:a",
						    in.local_host, name_of_host, NULL), 0);
	gc_plan_make(&in, &pl);
	assert_null(pl.leaf);
	gc_active_set_free(&active);
	vdi_forest_free(&f);
}

static void test_leaf_rules(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set active = { 0 };
	struct gc_plan_input in = { .forest = &f, .active = &active, .leaf_max = 20 << 20,
				    .backed_off = "" };
	struct gc_plan pl;

	add(&f, U(1), NULL, true, 0);
	add(&f, U(2), U(1), false, 4 << 20);
	vdi_forest_link(&f);
	gc_plan_make(&in, &pl);
	assert_ptr_equal(pl.leaf, node(&f, U(2)));
	/* Too much data. */
	in.leaf_max = 2 << 20;
	gc_plan_make(&in, &pl);
	assert_null(pl.leaf);
	in.leaf_max = 20 << 20;
	/* Active on some host. */
	assert_int_equal(gc_active_set_add(&active, U(2), "h"), 0);
	gc_plan_make(&in, &pl);
	assert_null(pl.leaf);
	gc_active_set_free(&active);
	/* The activation records could not be read: held back, with the reason. */
	active.rc = -5;
	gc_plan_make(&in, &pl);
	assert_null(pl.leaf);
	assert_non_null(strstr(pl.held_back, "activation records"));
	active.rc = 0;
	/* Given up this run. */
	in.backed_off = U(2);
	gc_plan_make(&in, &pl);
	assert_null(pl.leaf);
	in.backed_off = "";
	/* vdi_locked. */
	node(&f, U(2))->img.records |= VSTORE_HAS_LOCK;
	gc_plan_make(&in, &pl);
	assert_null(pl.leaf);
	vdi_forest_free(&f);
}

static void test_unreadable_holds_back(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set none = { 0 };
	struct vstore_image bad = { .kind = VSTORE_VHD, .parent_unknown = true };
	struct gc_plan pl;

	add(&f, U(1), NULL, true, 0);       /* garbage, were it not for 3 */
	add(&f, U(2), NULL, false, 0);
	snprintf(bad.uuid, sizeof(bad.uuid), "%s", U(3));
	snprintf(bad.error, sizeof(bad.error), "cannot open");
	assert_int_equal(vdi_forest_add(&f, &bad), 0);
	vdi_forest_link(&f);
	assert_false(gc_plan_needs_active(&f));
	plan(&f, &none, &pl);
	assert_int_equal(pl.ngarbage, 0);
	assert_null(pl.coalesce);
	assert_non_null(strstr(pl.held_back, U(3)));
	vdi_forest_free(&f);
}

/* A grandparent deleted by hand: nothing on the chain moves, and the reason names the link. */
static void test_broken_chain_holds_back(void **state)
{
	struct vdi_forest f = { 0 };
	struct gc_active_set none = { 0 };
	struct gc_plan pl;

	add(&f, U(2), U(9), true, 0);       /* its parent 9 is gone */
	add(&f, U(3), U(2), false, 0);      /* a leaf that would be leaf-coalesced */
	add(&f, U(4), U(2), true, 0);       /* a hidden leaf: garbage, were the chain whole */
	add(&f, U(5), NULL, true, 0);       /* real garbage, on no chain: still goes */
	vdi_forest_link(&f);
	plan(&f, &none, &pl);
	assert_int_equal(pl.ngarbage, 1);
	assert_string_equal(pl.garbage[0]->img.uuid, U(5));
	assert_null(pl.coalesce);
	assert_null(pl.leaf);
	assert_non_null(strstr(pl.held_back, "chain broken at " U(2)));
	assert_non_null(strstr(pl.held_back, U(9) " is missing"));
	vdi_forest_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_coalesce_deepest),
		cmocka_unit_test(test_coalesce_needs_only_child),
		cmocka_unit_test(test_coalesce_not_through_attached_chain),
		cmocka_unit_test(test_coalesce_not_under_a_remote_server),
		cmocka_unit_test(test_xapi_attached_hosts),
		cmocka_unit_test(test_leaf_rules),
		cmocka_unit_test(test_unreadable_holds_back),
		cmocka_unit_test(test_broken_chain_holds_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
