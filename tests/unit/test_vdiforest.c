/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the forest of VHD chains (lib/vdiforest.c): parents, children
 * counts, liveness, blocking by unreadable images, unknown parents,
 * loops and depth; from images given by hand and from a listing of the
 * in-memory store holding real VHDs.
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

/* ---- forests given by hand ------------------------------------------- */

static void add(struct vdi_forest *f, int n, int parent, bool hidden)
{
	struct vstore_image img = { 0 };

	snprintf(img.uuid, sizeof(img.uuid), "%s", U(n));
	img.kind = VSTORE_VHD;
	img.hidden = hidden;
	if (parent)
		snprintf(img.parent, sizeof(img.parent), "%s", U(parent));
	assert_int_equal(vdi_forest_add(f, &img), 0);
}

/* An image that could not be read; parent 0 with unknown: its parent is unknown. */
static void add_broken(struct vdi_forest *f, int n, int parent, bool unknown)
{
	struct vstore_image img = { 0 };

	snprintf(img.uuid, sizeof(img.uuid), "%s", U(n));
	img.kind = VSTORE_VHD;
	img.hidden = true;
	img.parent_unknown = unknown;
	snprintf(img.error, sizeof(img.error), "bad footer");
	if (parent)
		snprintf(img.parent, sizeof(img.parent), "%s", U(parent));
	assert_int_equal(vdi_forest_add(f, &img), 0);
}

static struct vdi_node *node(struct vdi_forest *f, int n)
{
	struct vdi_node *x = vdi_forest_find(f, U(n));

	assert_non_null(x);
	return x;
}

/*
 *        1 (hidden)
 *       / \
 *  (h) 2   3 (hidden, no children: garbage)
 *      |
 *      4 (visible)
 *  5 (visible root), 6 (hidden root: garbage)
 */
static void build_sample(struct vdi_forest *f)
{
	memset(f, 0, sizeof(*f));
	/* added out of order: link sorts */
	add(f, 4, 2, false);
	add(f, 3, 1, true);
	add(f, 6, 0, true);
	add(f, 1, 0, true);
	add(f, 5, 0, false);
	add(f, 2, 1, true);
	vdi_forest_link(f);
}

static void test_children_and_parents(void **state)
{
	struct vdi_forest f;

	build_sample(&f);
	assert_int_equal(f.count, 6);
	assert_int_equal(node(&f, 1)->nchildren, 2);
	assert_int_equal(node(&f, 2)->nchildren, 1);
	assert_int_equal(node(&f, 3)->nchildren, 0);
	assert_int_equal(node(&f, 4)->nchildren, 0);
	assert_int_equal(node(&f, 5)->nchildren, 0);
	assert_string_equal(node(&f, 4)->img.parent, U(2));
	/* sorted by uuid */
	for (size_t i = 1; i < f.count; i++)
		assert_true(strcmp(f.nodes[i - 1].img.uuid, f.nodes[i].img.uuid) < 0);
	assert_int_equal(f.unknown_parents, 0);
	assert_null(f.first_unknown);
	vdi_forest_free(&f);
	assert_null(f.nodes);
	assert_int_equal(f.count, 0);
}

static void test_live_and_garbage(void **state)
{
	struct vdi_forest f;

	build_sample(&f);
	assert_true(node(&f, 4)->live);    /* visible */
	assert_true(node(&f, 2)->live);    /* ancestor of a visible image */
	assert_true(node(&f, 1)->live);
	assert_true(node(&f, 5)->live);
	assert_false(node(&f, 3)->live);   /* hidden, nothing visible below */
	assert_false(node(&f, 6)->live);
	for (size_t i = 0; i < f.count; i++)
		assert_false(f.nodes[i].blocked);
	vdi_forest_free(&f);
}

static void test_link_twice_recounts(void **state)
{
	struct vdi_forest f;

	build_sample(&f);
	vdi_forest_link(&f);
	assert_int_equal(node(&f, 1)->nchildren, 2);
	assert_int_equal(node(&f, 2)->nchildren, 1);
	/* a new visible child of 3 makes it live */
	add(&f, 7, 3, false);
	vdi_forest_link(&f);
	assert_int_equal(node(&f, 3)->nchildren, 1);
	assert_true(node(&f, 3)->live);
	assert_int_equal(node(&f, 1)->nchildren, 2);
	vdi_forest_free(&f);
}

static void test_blocked_known_parent(void **state)
{
	struct vdi_forest f;

	build_sample(&f);
	/* 8 cannot be read but its header named 2: the chain 2 -> 1 above it is blocked */
	add_broken(&f, 8, 2, false);
	vdi_forest_link(&f);
	assert_true(node(&f, 8)->blocked);
	assert_true(node(&f, 2)->blocked);
	assert_true(node(&f, 1)->blocked);
	assert_false(node(&f, 3)->blocked);   /* a sibling branch is not */
	assert_false(node(&f, 4)->blocked);   /* nor what hangs below 2 */
	assert_false(node(&f, 5)->blocked);
	assert_int_equal(node(&f, 2)->nchildren, 2);
	/* an unreadable image is kept as if visible: never garbage */
	assert_true(node(&f, 8)->live);
	assert_int_equal(f.unknown_parents, 0);
	vdi_forest_free(&f);
}

static void test_unknown_parent(void **state)
{
	struct vdi_forest f;

	build_sample(&f);
	add_broken(&f, 9, 0, true);
	vdi_forest_link(&f);
	assert_int_equal(f.unknown_parents, 1);
	assert_non_null(f.first_unknown);
	assert_string_equal(f.first_unknown->img.uuid, U(9));
	assert_true(node(&f, 9)->blocked);
	assert_true(node(&f, 9)->live);
	/* nobody is known to be its parent: the others stay as they were */
	assert_false(node(&f, 3)->blocked);
	assert_int_equal(node(&f, 3)->nchildren, 0);
	vdi_forest_free(&f);
}

static void test_parent_not_in_store(void **state)
{
	struct vdi_forest f = { 0 };

	add(&f, 1, 42, true);   /* names a parent that is not listed */
	add(&f, 2, 1, false);
	vdi_forest_link(&f);
	assert_null(vdi_forest_find(&f, U(42)));
	assert_int_equal(node(&f, 1)->nchildren, 1);
	assert_true(node(&f, 1)->live);
	/* the walk stops where the store ends */
	assert_int_equal(vdi_forest_depth(&f, node(&f, 2)), 2);
	vdi_forest_free(&f);
}

static void test_loops_terminate(void **state)
{
	struct vdi_forest f = { 0 };

	add(&f, 1, 2, true);
	add(&f, 2, 1, true);
	add(&f, 3, 3, true);        /* its own parent */
	add(&f, 4, 1, false);       /* visible, below the loop */
	add_broken(&f, 5, 2, false);   /* unreadable, in the loop's reach */
	vdi_forest_link(&f);
	assert_int_equal(vdi_forest_depth(&f, node(&f, 1)), VHD_CHAIN_MAX + 1);
	assert_int_equal(vdi_forest_depth(&f, node(&f, 3)), VHD_CHAIN_MAX + 1);
	assert_int_equal(vdi_forest_depth(&f, node(&f, 4)), VHD_CHAIN_MAX + 1);
	assert_true(node(&f, 1)->live && node(&f, 2)->live);
	assert_true(node(&f, 1)->blocked && node(&f, 2)->blocked);
	assert_int_equal(node(&f, 3)->nchildren, 1);
	assert_false(node(&f, 3)->live);
	vdi_forest_free(&f);
}

static void test_depth(void **state)
{
	struct vdi_forest f = { 0 };

	add(&f, 1, 0, true);
	for (int i = 2; i <= 5; i++)
		add(&f, i, i - 1, i != 5);
	vdi_forest_link(&f);
	assert_int_equal(vdi_forest_depth(&f, node(&f, 1)), 1);
	assert_int_equal(vdi_forest_depth(&f, node(&f, 3)), 3);
	assert_int_equal(vdi_forest_depth(&f, node(&f, 5)), 5);
	assert_int_equal(vdi_forest_depth(&f, NULL), 0);
	vdi_forest_free(&f);
}

static void test_find_edge_cases(void **state)
{
	struct vdi_forest f = { 0 };

	assert_null(vdi_forest_find(&f, U(1)));
	add(&f, 1, 0, false);
	vdi_forest_link(&f);
	assert_null(vdi_forest_find(&f, ""));
	assert_null(vdi_forest_find(&f, NULL));
	assert_null(vdi_forest_find(&f, U(2)));
	assert_non_null(vdi_forest_find(&f, U(1)));
	vdi_forest_free(&f);
}

static void test_many_nodes(void **state)
{
	struct vdi_forest f = { 0 };

	/* beyond the first allocation: one long hidden chain under a visible leaf */
	for (int i = 1; i <= 300; i++)
		add(&f, i, i > 1 ? i - 1 : 0, i != 300);
	vdi_forest_link(&f);
	assert_int_equal(f.count, 300);
	for (int i = 1; i < 300; i++) {
		assert_int_equal(node(&f, i)->nchildren, 1);
		assert_true(node(&f, i)->live);
	}
	assert_int_equal(vdi_forest_depth(&f, node(&f, 300)), VHD_CHAIN_MAX + 1);
	vdi_forest_free(&f);
}

/* ---- forests listed from the in-memory store -------------------------- */

static struct vstore_mem *chain_store(void)
{
	struct vstore_mem *m = vstore_mem_new(U(999));
	struct vstore *vs;
	struct sm_error err = { 0 };

	assert_non_null(m);
	vs = vstore_mem_vs(m);
	/* 1 <- 2 (leaf) and 1 <- 3 (clone), by the snapshot steps; 4 a raw image */
	assert_int_equal(vs_make_vhd(vs, U(2), 8 * MiB, &err), 0);
	assert_int_equal(vs_fill(vs, U(2), 0, 4 * MiB, 'a', &err), 0);
	assert_int_equal(vs->ops->snap_keep(vs, U(2), U(1), SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs->ops->snap_child(vs, U(2), U(1), 0, true, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs->ops->snap_child(vs, U(3), U(1), 0, false, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vstore_vhd_set_hidden(vs, U(1), true, &err), 0);
	assert_int_equal(vs->ops->snap_commit(vs, SME_VDI_SNAPSHOT, &err), 0);
	assert_int_equal(vs_make_raw(vs, U(4), 1 * MiB, 0, &err), 0);
	return m;
}

static void test_load_from_store(void **state)
{
	struct vstore_mem *m = chain_store();
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	struct vdi_forest f;

	assert_int_equal(vdi_forest_load(&f, vs, true, &err), 0);
	assert_int_equal(f.count, 4);
	assert_int_equal(node(&f, 1)->nchildren, 2);
	assert_true(node(&f, 1)->img.hidden);
	assert_string_equal(node(&f, 2)->img.parent, U(1));
	assert_string_equal(node(&f, 3)->img.parent, U(1));
	assert_true(node(&f, 1)->live);
	assert_int_equal(node(&f, 1)->img.allocated, 4 * MiB);   /* full: the BAT was read */
	assert_int_equal(node(&f, 2)->img.allocated, 0);
	assert_int_equal(node(&f, 4)->img.kind, VSTORE_RAW);
	assert_int_equal(node(&f, 4)->img.virtual_size, 1 * MiB);
	assert_int_equal(vdi_forest_depth(&f, node(&f, 2)), 2);
	vdi_forest_free(&f);
	vstore_mem_free(m);
}

static void test_load_unreadable_image(void **state)
{
	struct vstore_mem *m = chain_store();
	struct vstore *vs = vstore_mem_vs(m);
	struct sm_error err = { 0 };
	struct vdi_forest f;
	char name[64];

	snprintf(name, sizeof(name), "%s.vhd", U(7));
	assert_int_equal(vstore_mem_put(m, name, "not a vhd at all", 16), 0);
	assert_int_equal(vdi_forest_load(&f, vs, false, &err), 0);
	assert_int_equal(f.count, 5);
	assert_true(node(&f, 7)->img.error[0] != '\0');
	assert_true(node(&f, 7)->img.parent_unknown);
	assert_int_equal(f.unknown_parents, 1);
	assert_true(node(&f, 7)->blocked);
	assert_true(node(&f, 7)->live);
	vdi_forest_free(&f);
	vstore_mem_free(m);
}

static void test_load_could_not_list(void **state)
{
	struct vstore_mem *m = chain_store();
	struct sm_error err = { 0 };
	struct vdi_forest f;

	vstore_mem_fail(m, VMEM_LIST, 1, ETIMEDOUT);
	assert_int_equal(vdi_forest_load(&f, vstore_mem_vs(m), false, &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	assert_int_equal(f.count, 0);
	assert_null(f.nodes);
	vstore_mem_free(m);
}

/* Images that cannot be read are error images, never a shorter forest. */
static void test_load_read_fault(void **state)
{
	struct vstore_mem *m = chain_store();
	struct sm_error err = { 0 };
	struct vdi_forest f;
	size_t errors = 0;

	vstore_mem_fail(m, VMEM_IO_READ, 0, EIO);
	assert_int_equal(vdi_forest_load(&f, vstore_mem_vs(m), false, &err), 0);
	assert_int_equal(f.count, 4);
	for (size_t i = 0; i < f.count; i++)
		errors += f.nodes[i].img.error[0] != '\0';
	assert_int_equal(errors, 3);   /* the three VHDs; the raw image needs no read */
	assert_int_equal(f.unknown_parents, 3);
	assert_false(node(&f, 4)->blocked);
	vdi_forest_free(&f);
	vstore_mem_free(m);
}


/* ---- broken chains ----------------------------------------------------- */

/* A differencing image of footer uuid `me` made from the parent of footer uuid `from`. */
static void add_diff(struct vdi_forest *f, int n, int parent, bool hidden, uint8_t me,
		     uint8_t from)
{
	struct vstore_image img = { 0 };

	snprintf(img.uuid, sizeof(img.uuid), "%s", U(n));
	img.kind = VSTORE_VHD;
	img.hidden = hidden;
	img.info.type = parent ? VHD_TYPE_DIFF : VHD_TYPE_DYNAMIC;
	img.info.uuid[0] = me;
	img.info.parent_uuid[0] = from;
	if (parent)
		snprintf(img.parent, sizeof(img.parent), "%s", U(parent));
	assert_int_equal(vdi_forest_add(f, &img), 0);
}

static void expect_break(struct vdi_forest *f, int n, enum vdi_chain_fault fault, int link,
			 const char *text_has)
{
	struct vdi_chain_break b;
	char text[600];

	assert_int_equal(vdi_forest_chain_break(f, node(f, n), &b), 1);
	assert_true(node(f, n)->broken && node(f, n)->blocked);
	if (b.fault != fault)
		fail_msg("%d: %s, expected %s", n, vdi_chain_fault_name(b.fault),
			 vdi_chain_fault_name(fault));
	assert_string_equal(b.link->img.uuid, U(link));
	vdi_chain_break_text(&b, "/sr/x.vhd", text, sizeof(text));
	if (!strstr(text, text_has))
		fail_msg("'%s' lacks '%s'", text, text_has);
}

static void test_chain_intact(void **state)
{
	struct vdi_forest f = { 0 };
	struct vdi_chain_break b;

	add_diff(&f, 1, 0, true, 10, 0);
	add_diff(&f, 2, 1, true, 20, 10);
	add_diff(&f, 3, 2, false, 30, 20);
	vdi_forest_link(&f);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(vdi_forest_chain_break(&f, node(&f, i), &b), 0);
		assert_false(node(&f, i)->broken || node(&f, i)->blocked);
	}
	assert_int_equal(f.broken_links, 0);
	vdi_forest_free(&f);
}

static void test_chain_missing_parent(void **state)
{
	struct vdi_forest f = { 0 };
	struct vdi_chain_break b;

	/* 42 (gone) <- 2 <- 3, 4: the grandparent deleted by hand */
	add_diff(&f, 2, 42, true, 20, 1);
	add_diff(&f, 3, 2, false, 30, 20);
	add_diff(&f, 4, 2, false, 40, 20);
	add_diff(&f, 5, 0, false, 50, 0);
	vdi_forest_link(&f);
	expect_break(&f, 3, VDI_CHAIN_MISSING_PARENT, 2, "is missing (/sr/x.vhd)");
	expect_break(&f, 2, VDI_CHAIN_MISSING_PARENT, 2, U(42));
	assert_int_equal(vdi_forest_chain_break(&f, node(&f, 3), &b), 1);
	assert_string_equal(b.parent, U(42));
	assert_false(node(&f, 5)->broken);
	assert_int_equal(f.broken_links, 1);
	/* who hangs below the missing link: 2 and both its children */
	assert_int_equal(vdi_forest_dependents(&f, U(42), NULL, NULL), 3);
	assert_int_equal(vdi_forest_dependents(&f, U(2), NULL, NULL), 2);
	vdi_forest_free(&f);
}

static void test_chain_self_and_loop(void **state)
{
	struct vdi_forest f = { 0 };
	struct vdi_chain_break b;

	add_diff(&f, 1, 1, false, 10, 10);           /* its own parent */
	add_diff(&f, 3, 4, true, 30, 40);            /* 3 <-> 4, a loop ... */
	add_diff(&f, 4, 3, true, 40, 30);
	add_diff(&f, 5, 4, false, 50, 40);           /* ... with a visible child */
	vdi_forest_link(&f);
	expect_break(&f, 1, VDI_CHAIN_SELF_PARENT, 1, "names itself");
	/* the loop is marked on its lowest uuid, whichever image it is reached from */
	expect_break(&f, 5, VDI_CHAIN_LOOP, 3, "loop");
	expect_break(&f, 4, VDI_CHAIN_LOOP, 3, "loop");
	assert_int_equal(vdi_forest_chain_break(&f, node(&f, 5), &b), 1);
	{
		char loop[200];

		snprintf(loop, sizeof(loop), "%s -> %s -> %s", U(3), U(4), U(3));
		assert_non_null(strstr(b.detail, loop));
	}
	/* nothing in a loop is garbage to the GC: blocked, not deleted */
	assert_true(node(&f, 3)->blocked && node(&f, 4)->blocked);
	vdi_forest_free(&f);
}

static void test_chain_uuid_mismatch(void **state)
{
	struct vdi_forest f = { 0 };

	/* 2 was made from footer uuid 10, but the file named 1 now carries 99 */
	add_diff(&f, 1, 0, true, 99, 0);
	add_diff(&f, 2, 1, false, 20, 10);
	add_diff(&f, 7, 1, false, 70, 99);           /* 1's true child stays whole */
	vdi_forest_link(&f);
	expect_break(&f, 2, VDI_CHAIN_UUID_MISMATCH, 2, "is not the image it was made from");
	assert_false(node(&f, 7)->broken);
	/* the parent of a broken link is held back too: a coalesce would hide the break */
	assert_true(node(&f, 1)->blocked);
	vdi_forest_free(&f);
}

static void test_chain_unreadable_and_foreign(void **state)
{
	struct vdi_forest f = { 0 };
	struct vstore_image img = { 0 };

	add_broken(&f, 1, 0, true);
	add_diff(&f, 2, 1, false, 20, 10);
	snprintf(img.uuid, sizeof(img.uuid), "%s", U(3));
	img.kind = VSTORE_VHD;
	img.info.type = VHD_TYPE_DIFF;               /* names a parent outside the SR */
	snprintf(img.info.parent_name, sizeof(img.info.parent_name), "/elsewhere/p.vhd");
	assert_int_equal(vdi_forest_add(&f, &img), 0);
	vdi_forest_link(&f);
	expect_break(&f, 2, VDI_CHAIN_UNREADABLE, 2, "cannot be read (/sr/x.vhd): bad footer");
	expect_break(&f, 3, VDI_CHAIN_FOREIGN_PARENT, 3, "'/elsewhere/p.vhd' is not an image");
	/* the unreadable image itself has no link to judge: its error says it */
	assert_false(node(&f, 1)->broken);
	vdi_forest_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_children_and_parents),
		cmocka_unit_test(test_live_and_garbage),
		cmocka_unit_test(test_link_twice_recounts),
		cmocka_unit_test(test_blocked_known_parent),
		cmocka_unit_test(test_unknown_parent),
		cmocka_unit_test(test_parent_not_in_store),
		cmocka_unit_test(test_loops_terminate),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_find_edge_cases),
		cmocka_unit_test(test_many_nodes),
		cmocka_unit_test(test_load_from_store),
		cmocka_unit_test(test_load_unreadable_image),
		cmocka_unit_test(test_load_could_not_list),
		cmocka_unit_test(test_load_read_fault),
		cmocka_unit_test(test_chain_intact),
		cmocka_unit_test(test_chain_missing_parent),
		cmocka_unit_test(test_chain_self_and_loop),
		cmocka_unit_test(test_chain_uuid_mismatch),
		cmocka_unit_test(test_chain_unreadable_and_foreign),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
