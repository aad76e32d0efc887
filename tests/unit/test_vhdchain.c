/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of chain reads and writes, coalesce, re-parenting and the full
 * check: against blktap's base.vhd/leaf.vhd chain (tests/data/vectors,
 * run from the repository root) and against an in-memory model of the
 * guest view of chains this library builds.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "vhd_testutil.h"

#include "csm/vhd.h"
#include "csm/srfs.h"
#include "csm/vhdchain.h"

#define VEC "tests/data/vectors/"
#define MiB (1024ull * 1024)
#define DISK (16 * MiB)

static char scratch[64];

/* ---- helpers --------------------------------------------------------- */

static char *tmp_path(const char *name)
{
	static char path[8][512];
	static int next;
	char *p = path[next++ % 8];

	snprintf(p, sizeof(path[0]), "%s/%s", scratch, name);
	return p;
}

static void copy_file(const char *src, const char *dst)
{
	size_t len;
	uint8_t *buf = slurp(src, &len);

	spew(dst, buf, len);
	free(buf);
}

static void create_base(const char *path, uint64_t size)
{
	struct sm_error err = { 0 };
	struct vhd_io io;

	unlink(path);
	assert_int_equal(vhd_io_open_file(&io, path, VHD_IO_CREATE, &err), 0);
	assert_int_equal(vhd_create_dynamic(&io, size, &err), 0);
	vhd_io_close(&io);
}

/* child of parent (siblings in scratch), as `vhd-util snapshot`. */
static void snapshot(const char *child, const char *parent, uint64_t size)
{
	struct sm_error err = { 0 };
	struct vhd_io cio, pio;
	char rel[300];
	const char *base = strrchr(parent, '/');

	snprintf(rel, sizeof(rel), "./%s", base ? base + 1 : parent);
	unlink(child);
	assert_int_equal(vhd_io_open_file(&pio, parent, VHD_IO_RDONLY, &err), 0);
	assert_int_equal(vhd_io_open_file(&cio, child, VHD_IO_CREATE, &err), 0);
	assert_int_equal(vhd_create_diff(&cio, &pio, rel, size, &err), 0);
	vhd_io_close(&cio);
	vhd_io_close(&pio);
}

static uint8_t pattern_byte(const char *text, uint64_t i)
{
	return (uint8_t)text[(i % 512) % strlen(text)];
}

static void check_ok(const char *path, bool parent)
{
	struct sm_error err = { 0 };

	if (vhd_check(path, parent, &err) != 0)
		fail_msg("vhd_check %s: %s", path, err.detail);
}

static void check_bad(const char *path, bool parent, const char *needle)
{
	struct sm_error err = { 0 };

	assert_int_equal(vhd_check(path, parent, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	if (needle && !strstr(err.detail, needle))
		fail_msg("check detail '%s' lacks '%s'", err.detail, needle);
}

/* The chain's whole guest view equals the model. */
static void compare_chain(const char *leaf, const uint8_t *model, uint64_t size)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	uint8_t *buf = malloc(size);

	assert_non_null(buf);
	if (vhd_chain_open(&ch, leaf, false, &err) != 0)
		fail_msg("open %s: %s", leaf, err.detail);
	assert_int_equal(vhd_chain_read(&ch, buf, size, 0, &err), 0);
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != model[i])
			fail_msg("%s: byte %llu is %u, model %u", leaf,
				 (unsigned long long)i, buf[i], model[i]);
	/* Odd pieces too: sector edges, block edges. */
	for (uint64_t off = 1; off + 5000 < size; off += 2 * MiB - 777) {
		assert_int_equal(vhd_chain_read(&ch, buf, 5000, off, &err), 0);
		assert_memory_equal(buf, model + off, 5000);
	}
	vhd_chain_close(&ch);
	free(buf);
}

/* Write through a writable chain and into the model. */
static void chain_write(const char *leaf, uint8_t *model, uint64_t off, uint64_t len,
			uint8_t seed)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	for (uint64_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
	assert_int_equal(vhd_chain_open(&ch, leaf, true, &err), 0);
	if (vhd_chain_write(&ch, buf, len, off, &err) != 0)
		fail_msg("write %s: %s", leaf, err.detail);
	assert_int_equal(vhd_chain_flush(&ch, &err), 0);
	vhd_chain_close(&ch);
	memcpy(model + off, buf, len);
	free(buf);
}

/*
 * base <- mid <- leaf with writes at every level: whole blocks, sector
 * runs, unaligned pieces spanning sector and block edges.
 */
static uint8_t *build_chain(void)
{
	uint8_t *model = calloc(1, DISK);

	assert_non_null(model);
	create_base(tmp_path("base.vhd"), DISK);
	chain_write(tmp_path("base.vhd"), model, 0, 2 * MiB, 1);
	chain_write(tmp_path("base.vhd"), model, 4 * MiB + 512, 3 * MiB, 2);
	chain_write(tmp_path("base.vhd"), model, 12 * MiB + 100, 1000, 3);
	snapshot(tmp_path("mid.vhd"), tmp_path("base.vhd"), 0);
	chain_write(tmp_path("mid.vhd"), model, 1 * MiB + 3, 2 * MiB, 4);
	chain_write(tmp_path("mid.vhd"), model, 8 * MiB, 2 * MiB, 5);
	chain_write(tmp_path("mid.vhd"), model, 5 * MiB + 511, 2, 6);
	snapshot(tmp_path("leaf.vhd"), tmp_path("mid.vhd"), 0);
	chain_write(tmp_path("leaf.vhd"), model, 2 * MiB - 1, 3, 7);
	chain_write(tmp_path("leaf.vhd"), model, 7 * MiB + 17, 3 * MiB, 8);
	chain_write(tmp_path("leaf.vhd"), model, DISK - 513, 513, 9);
	chain_write(tmp_path("leaf.vhd"), model, 12 * MiB + 600, 10, 10);
	return model;
}


/* ---- a process killed after its n-th write ----------------------------- */

/*
 * An opener whose images stop changing after a budget of mutating calls
 * (pwrite, truncate, file creation, unlink): what is on disk is then
 * exactly what a process killed right after that call leaves (the page
 * cache survives a kill, so syncs need no modelling).  Every later
 * mutation fails with EIO and touches nothing, as if the process were
 * gone; reads still work, so the library's error paths run but cannot
 * change the outcome.  Stepping the budget from 0 up until the operation
 * completes kills it after every write it makes, in turn.
 */
static struct {
	long budget;            /* mutations allowed; < 0: unlimited */
	long used;
	bool dead;
} kill_sim;

static void kill_after(long n)
{
	kill_sim.budget = n;
	kill_sim.used = 0;
	kill_sim.dead = false;
}

static bool sim_may_mutate(void)
{
	if (kill_sim.dead)
		return false;
	if (kill_sim.budget >= 0 && kill_sim.used >= kill_sim.budget) {
		kill_sim.dead = true;
		return false;
	}
	kill_sim.used++;
	return true;
}

static struct vhd_io *sim_inner(struct vhd_io *io)
{
	return io->priv;
}

static int sim_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	return sim_inner(io)->ops->pread(sim_inner(io), buf, len, off);
}

static int sim_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	if (!sim_may_mutate())
		return -EIO;
	return sim_inner(io)->ops->pwrite(sim_inner(io), buf, len, off);
}

static int sim_get_size(struct vhd_io *io, uint64_t *size)
{
	return sim_inner(io)->ops->get_size(sim_inner(io), size);
}

static int sim_truncate(struct vhd_io *io, uint64_t size)
{
	if (!sim_may_mutate())
		return -EIO;
	return sim_inner(io)->ops->truncate(sim_inner(io), size);
}

static int sim_sync(struct vhd_io *io)
{
	return kill_sim.dead ? -EIO : sim_inner(io)->ops->sync(sim_inner(io));
}

static int sim_get_mtime(struct vhd_io *io, int64_t *mtime)
{
	return sim_inner(io)->ops->get_mtime(sim_inner(io), mtime);
}

static void sim_close(struct vhd_io *io)
{
	vhd_io_close(sim_inner(io));
	free(io->priv);
	io->priv = NULL;
}

static const struct vhd_io_ops sim_ops = {
	.pread = sim_pread,
	.pwrite = sim_pwrite,
	.get_size = sim_get_size,
	.truncate = sim_truncate,
	.sync = sim_sync,
	.get_mtime = sim_get_mtime,
	.close = sim_close,
};

static int sim_open(void *arg, const char *path, int flags, struct vhd_io *io,
		    struct sm_error *err)
{
	struct vhd_io *inner = calloc(1, sizeof(*inner));

	assert_non_null(inner);
	memset(io, 0, sizeof(*io));
	if ((flags & VHD_IO_CREATE) && !sim_may_mutate()) {
		free(inner);
		return sm_fail_errno(err, SME_EIO, EIO, "%s: killed", path);
	}
	if (vhd_io_open_file(inner, path, flags, err) < 0) {
		free(inner);
		return -1;
	}
	io->ops = &sim_ops;
	io->priv = inner;
	io->is_block = inner->is_block;
	snprintf(io->name, sizeof(io->name), "%s", inner->name);
	return 0;
}

static int sim_unlink(void *arg, const char *path)
{
	if (!sim_may_mutate())
		return -EIO;
	return unlink(path) < 0 ? -errno : 0;
}

static const struct vhd_opener sim_opener = { .open = sim_open, .unlink = sim_unlink };

/* What the GC does first after a crash: roll back a grow cut short. */
static void undo_leftover_grow(const char *parent)
{
	struct sm_error err = { 0 };
	struct vhd_io io, undo;
	char upath[600];

	snprintf(upath, sizeof(upath), "%s.undo", parent);
	if (access(upath, F_OK) != 0)
		return;
	assert_int_equal(vhd_io_open_file(&undo, upath, VHD_IO_RDWR, &err), 0);
	assert_int_equal(vhd_io_open_file(&io, parent, VHD_IO_RDWR, &err), 0);
	if (vhd_grow_undo(&io, &undo, &err) != 0)
		fail_msg("grow undo %s: %s", parent, err.detail);
	vhd_io_close(&undo);
	vhd_io_close(&io);
	unlink(upath);
}

/* ---- tests ----------------------------------------------------------- */

static void test_blktap_chain(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	struct vhd_info info;
	uint8_t *buf;
	uint64_t size;

	copy_file(VEC "base.vhd", tmp_path("base.vhd"));
	copy_file(VEC "leaf.vhd", tmp_path("leaf.vhd"));
	assert_int_equal(vhd_query_path(tmp_path("leaf.vhd"), &info, &err), 0);
	size = info.virtual_size;
	buf = malloc(size);
	assert_non_null(buf);
	assert_int_equal(vhd_chain_open(&ch, tmp_path("leaf.vhd"), false, &err), 0);
	assert_int_equal(ch.depth, 2);
	assert_int_equal(vhd_chain_read(&ch, buf, size, 0, &err), 0);
	for (uint64_t i = 0; i < size; i++) {
		uint64_t blk = i / (2 * MiB);
		uint8_t want = blk == 0 ? pattern_byte("base0", i) :
			       blk == 3 ? pattern_byte("leaf3", i) :
			       blk == 7 ? pattern_byte("leaf7", i) : 0;

		if (buf[i] != want)
			fail_msg("byte %llu: %u, want %u", (unsigned long long)i, buf[i], want);
	}
	/* Beyond the virtual size is refused, not read. */
	assert_int_equal(vhd_chain_read(&ch, buf, 1, size, &err), -1);
	assert_int_equal(err.code, SME_INVALID_ARG);
	vhd_chain_close(&ch);
	check_ok(tmp_path("base.vhd"), true);
	check_ok(tmp_path("leaf.vhd"), true);
	free(buf);
}

static void test_vectors_check(void **state)
{
	static const char *const ok[] = { "dyn-empty-64M.vhd", "dyn-empty-100G.vhd",
					  "dyn-data-64M.vhd", "base.vhd" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char p[256];

		snprintf(p, sizeof(p), VEC "%s", ok[i]);
		check_ok(p, true);
	}
	check_ok(VEC "leaf.vhd", true);
}

static void test_missing_and_mismatch(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;

	copy_file(VEC "leaf.vhd", tmp_path("leaf.vhd"));
	unlink(tmp_path("base.vhd"));
	assert_int_equal(vhd_chain_open(&ch, tmp_path("leaf.vhd"), false, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	assert_non_null(strstr(err.detail, "base.vhd"));
	check_bad(tmp_path("leaf.vhd"), true, "base.vhd");
	check_ok(tmp_path("leaf.vhd"), false);
	/* A different file under the parent's name: uuid mismatch. */
	create_base(tmp_path("base.vhd"), 64 * MiB);
	sm_error_clear(&err);
	assert_int_equal(vhd_chain_open(&ch, tmp_path("leaf.vhd"), false, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	assert_non_null(strstr(err.detail, "base.vhd"));
	check_bad(tmp_path("leaf.vhd"), true, "uuid");
}

static void test_model_chain(void **state)
{
	uint8_t *model = build_chain();

	compare_chain(tmp_path("leaf.vhd"), model, DISK);
	check_ok(tmp_path("base.vhd"), true);
	check_ok(tmp_path("mid.vhd"), true);
	check_ok(tmp_path("leaf.vhd"), true);
	free(model);
}

/* Many writes in one open chain, flushed once at close. */
static void test_batched_writes(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	uint8_t *model = build_chain();
	uint8_t buf[3000];

	assert_int_equal(vhd_chain_open(&ch, tmp_path("leaf.vhd"), true, &err), 0);
	for (int i = 0; i < 40; i++) {
		uint64_t off = ((uint64_t)i * 397 * 1024 + (uint64_t)i * 13) % (DISK - sizeof(buf));

		memset(buf, 0x40 + i, sizeof(buf));
		assert_int_equal(vhd_chain_write(&ch, buf, sizeof(buf), off, &err), 0);
		memcpy(model + off, buf, sizeof(buf));
		assert_int_equal(vhd_chain_read(&ch, buf, sizeof(buf), off, &err), 0);
		assert_memory_equal(buf, model + off, sizeof(buf));
	}
	vhd_chain_close(&ch);
	compare_chain(tmp_path("leaf.vhd"), model, DISK);
	check_ok(tmp_path("leaf.vhd"), true);
	free(model);
}

static void test_coalesce_and_reparent(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	uint8_t *model = build_chain();
	uint64_t copied = 0;

	/* mid into base, then leaf re-pointed at base. */
	assert_int_equal(vhd_coalesce(tmp_path("mid.vhd"), tmp_path("base.vhd"), &copied,
				      NULL, NULL, &err), 0);
	assert_true(copied > 0);
	check_ok(tmp_path("base.vhd"), true);
	check_ok(tmp_path("mid.vhd"), true);
	compare_chain(tmp_path("leaf.vhd"), model, DISK);
	assert_int_equal(vhd_set_parent(tmp_path("leaf.vhd"), tmp_path("base.vhd"), &err), 0);
	unlink(tmp_path("mid.vhd"));
	check_ok(tmp_path("leaf.vhd"), true);
	assert_int_equal(vhd_query_path(tmp_path("leaf.vhd"), &info, &err), 0);
	assert_string_equal(info.parent_name, "base.vhd");
	assert_string_equal(info.parent_locator, "./base.vhd");
	compare_chain(tmp_path("leaf.vhd"), model, DISK);
	/* Now leaf into base: base alone is the whole guest view. */
	assert_int_equal(vhd_coalesce(tmp_path("leaf.vhd"), tmp_path("base.vhd"), &copied,
				      NULL, NULL, &err), 0);
	check_ok(tmp_path("base.vhd"), true);
	compare_chain(tmp_path("base.vhd"), model, DISK);
	free(model);
}

/* A child bigger than its parent: the parent grows first. */
static void test_coalesce_grows_parent(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	uint64_t big = DISK + 6 * MiB, copied;
	uint8_t *model = calloc(1, big);
	struct stat st;

	assert_non_null(model);
	create_base(tmp_path("p.vhd"), DISK);
	chain_write(tmp_path("p.vhd"), model, 0, 4 * MiB + 5, 11);
	chain_write(tmp_path("p.vhd"), model, DISK - 2 * MiB, 2 * MiB, 12);
	snapshot(tmp_path("c.vhd"), tmp_path("p.vhd"), big);
	chain_write(tmp_path("c.vhd"), model, DISK - 100, 4 * MiB, 13);
	chain_write(tmp_path("c.vhd"), model, big - 2 * MiB, 2 * MiB, 14);
	compare_chain(tmp_path("c.vhd"), model, big);
	assert_int_equal(vhd_coalesce(tmp_path("c.vhd"), tmp_path("p.vhd"), &copied,
				      NULL, NULL, &err), 0);
	assert_int_equal(vhd_query_path(tmp_path("p.vhd"), &info, &err), 0);
	assert_int_equal(info.virtual_size, big);
	assert_int_equal(stat(tmp_path("p.vhd.undo"), &st), -1);
	check_ok(tmp_path("p.vhd"), true);
	compare_chain(tmp_path("p.vhd"), model, big);
	compare_chain(tmp_path("c.vhd"), model, big);
	free(model);
}

static int abort_after_two(void *arg, uint64_t done, uint64_t total)
{
	int *calls = arg;

	assert_true(done <= total);
	return ++*calls > 2;
}

static void test_coalesce_abort(void **state)
{
	struct sm_error err = { 0 };
	uint8_t *model = build_chain();
	uint64_t copied = 0;
	int calls = 0;

	assert_int_equal(vhd_coalesce(tmp_path("leaf.vhd"), tmp_path("mid.vhd"), &copied,
				      abort_after_two, &calls, &err), -1);
	assert_non_null(strstr(err.detail, "aborted"));
	check_ok(tmp_path("mid.vhd"), true);
	check_ok(tmp_path("leaf.vhd"), true);
	compare_chain(tmp_path("leaf.vhd"), model, DISK);
	/* Running it again completes the job. */
	sm_error_clear(&err);
	assert_int_equal(vhd_coalesce(tmp_path("leaf.vhd"), tmp_path("mid.vhd"), &copied,
				      NULL, NULL, &err), 0);
	compare_chain(tmp_path("mid.vhd"), model, DISK);
	free(model);
}


/* vhd_repair on a file: what it fixed. */
static unsigned repair_path(const char *path)
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	unsigned fixed = ~0u;

	assert_int_equal(vhd_io_open_file(&io, path, VHD_IO_RDWR, &err), 0);
	if (vhd_repair(&io, &fixed, &err) != 0)
		fail_msg("vhd_repair %s: %s", path, err.detail);
	vhd_io_close(&io);
	return fixed;
}

/*
 * Coalesce child into parent, killed after each of its writes in turn.
 * Whatever a kill leaves, the parent passes the full check as it is (no
 * repair: the batmap's map and checksum reach the disk in one write, so
 * a kill can never leave them disagreeing), the child's chain reads the
 * model, and running the coalesce again completes the job.
 */
static void coalesce_killed_everywhere(const char *child, const char *parent,
				       const char *leaf, const uint8_t *model, uint64_t size,
				       long *kills, unsigned *repaired)
{
	struct sm_error err = { 0 };
	uint8_t *view = malloc(size);
	struct vhd_chain ch;
	char golden[600];
	long n;

	/* What the parent alone must read once the child is in it. */
	assert_non_null(view);
	assert_int_equal(vhd_chain_open(&ch, child, false, &err), 0);
	assert_int_equal(vhd_chain_read(&ch, view, size, 0, &err), 0);
	vhd_chain_close(&ch);
	snprintf(golden, sizeof(golden), "%s.golden", parent);
	copy_file(parent, golden);
	for (n = 0;; n++) {
		int rc;

		copy_file(golden, parent);
		kill_after(n);
		sm_error_clear(&err);
		rc = vhd_coalesce_with(&sim_opener, child, parent, NULL, NULL, NULL, &err);
		if (!kill_sim.dead) {
			if (rc != 0)
				fail_msg("coalesce without a kill: %s", err.detail);
			break;
		}
		undo_leftover_grow(parent);
		if (repaired)
			*repaired |= repair_path(parent);
		check_ok(parent, true);
		check_ok(child, true);
		compare_chain(leaf, model, size);
		compare_chain(child, view, size);
		sm_error_clear(&err);
		if (vhd_coalesce(child, parent, NULL, NULL, NULL, &err) != 0)
			fail_msg("coalesce after a kill after write %ld: %s", n, err.detail);
		check_ok(parent, true);
		compare_chain(leaf, model, size);
		compare_chain(parent, view, size);
	}
	check_ok(parent, true);
	compare_chain(parent, view, size);
	unlink(golden);
	free(view);
	*kills = n;
}

static void test_coalesce_killed_at_every_write(void **state)
{
	uint8_t *model = build_chain();
	long kills = 0;

	/* mid into base (non-leaf coalesce), leaf untouched */
	coalesce_killed_everywhere(tmp_path("mid.vhd"), tmp_path("base.vhd"),
				   tmp_path("leaf.vhd"), model, DISK, &kills, NULL);
	assert_true(kills > 5);
	/* leaf into mid (the leaf coalesce of the GC) */
	coalesce_killed_everywhere(tmp_path("leaf.vhd"), tmp_path("mid.vhd"),
				   tmp_path("leaf.vhd"), model, DISK, &kills, NULL);
	assert_true(kills > 5);
	free(model);
}


/*
 * vhd_write (one image) killed after each of its writes: the image
 * passes the check, and every sector reads its old or its new content.
 */
static void test_write_killed_at_every_write(void **state)
{
	struct sm_error err = { 0 };
	uint64_t off = 3 * MiB + 700, len = 5 * MiB + 1000;
	uint8_t *old = calloc(1, DISK), *new_data = malloc(len), *got = malloc(DISK);
	const char *img = tmp_path("w.vhd"), *golden = tmp_path("w.golden");
	long n;

	assert_non_null(old);
	assert_non_null(new_data);
	assert_non_null(got);
	create_base(img, DISK);
	chain_write(img, old, 2 * MiB, 2 * MiB, 40);      /* a full block in the way */
	chain_write(img, old, 9 * MiB + 5, 1000, 41);     /* a partial one */
	for (uint64_t i = 0; i < len; i++)
		new_data[i] = (uint8_t)(i * 13 + 5);
	copy_file(img, golden);
	for (n = 0;; n++) {
		struct vhd_io io;
		int rc;

		copy_file(golden, img);
		kill_after(n);
		assert_int_equal(sim_open(NULL, img, VHD_IO_RDWR, &io, &err), 0);
		rc = vhd_write(&io, new_data, len, off, &err);
		vhd_io_close(&io);
		if (!kill_sim.dead) {
			assert_int_equal(rc, 0);
			break;
		}
		check_ok(img, false);
		assert_int_equal(vhd_io_open_file(&io, img, VHD_IO_RDONLY, &err), 0);
		assert_int_equal(vhd_read(&io, got, DISK, 0, &err), 0);
		vhd_io_close(&io);
		for (uint64_t s = 0; s < DISK / 512; s++) {
			const uint8_t *g = got + s * 512;
			uint8_t want_new[512];

			memcpy(want_new, old + s * 512, 512);
			for (uint64_t i = s * 512; i < s * 512 + 512; i++)
				if (i >= off && i < off + len)
					want_new[i - s * 512] = new_data[i - off];
			if (memcmp(g, old + s * 512, 512) != 0 && memcmp(g, want_new, 512) != 0)
				fail_msg("killed after write %ld: sector %llu is neither old nor new",
					 n, (unsigned long long)s);
		}
	}
	assert_true(n > 5);
	check_ok(img, false);
	unlink(golden);
	free(old);
	free(new_data);
	free(got);
}


/*
 * A parent smaller than its child grows during the coalesce: in place
 * (BAT preallocated) or by moving blocks (undo record).  Killed after
 * each write, then recovered as the GC does (roll back a grow cut short,
 * vhd_repair): the parent passes the check, the chain reads right.  A
 * kill between the grown footer and its copy at 0 is what the repair
 * is there for.
 */
static void test_coalesce_grow_killed_at_every_write(void **state)
{
	struct sm_error err = { 0 };
	uint64_t big = 2 * DISK;
	uint8_t *model = calloc(1, big);
	const char *p = tmp_path("gp.vhd"), *c = tmp_path("gc.vhd");
	unsigned repaired = 0;
	struct vhd_io io;
	long kills = 0;

	assert_non_null(model);
	/* in place: the parent's BAT has room for 4 * DISK */
	unlink(p);
	assert_int_equal(vhd_io_open_file(&io, p, VHD_IO_CREATE, &err), 0);
	assert_int_equal(vhd_create_dynamic_prealloc(&io, DISK, 4 * DISK, &err), 0);
	vhd_io_close(&io);
	chain_write(p, model, 1 * MiB, 3 * MiB, 50);
	snapshot(c, p, big);
	chain_write(c, model, DISK - 1000, 2 * MiB, 51);
	chain_write(c, model, big - 2 * MiB, 2 * MiB, 52);
	coalesce_killed_everywhere(c, p, c, model, big, &kills, &repaired);
	assert_true(kills > 5);
	assert_true(repaired & VHD_FIXED_FOOTER);

	/* beyond the BAT: blocks move, an undo record covers it */
	memset(model, 0, big);
	create_base(p, DISK);
	chain_write(p, model, 0, 5 * MiB, 53);
	snapshot(c, p, big);
	chain_write(c, model, 3 * MiB, 2 * MiB + 7, 54);
	chain_write(c, model, big - 3 * MiB, 2 * MiB, 55);
	coalesce_killed_everywhere(c, p, c, model, big, &kills, &repaired);
	assert_true(kills > 5);
	free(model);
}

static void test_coalesce_refused(void **state)
{
	struct sm_error err = { 0 };
	uint64_t copied;
	uint8_t *model = build_chain();

	/* Not the direct parent. */
	assert_int_equal(vhd_coalesce(tmp_path("leaf.vhd"), tmp_path("base.vhd"), &copied,
				      NULL, NULL, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	/* Not a differencing disk. */
	sm_error_clear(&err);
	assert_int_equal(vhd_coalesce(tmp_path("base.vhd"), tmp_path("mid.vhd"), &copied,
				      NULL, NULL, &err), -1);
	sm_error_clear(&err);
	assert_int_equal(vhd_coalesce(tmp_path("nothere.vhd"), tmp_path("mid.vhd"), &copied,
				      NULL, NULL, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	free(model);
}

/* Corrupt a copy of 'src' by a callback, then the check must fail. */
typedef void (*corrupt_fn)(uint8_t *buf, size_t len);

static void corrupt_check(const char *src, corrupt_fn fn, const char *needle)
{
	size_t len;
	uint8_t *buf = slurp(src, &len);

	fn(buf, len);
	spew(tmp_path("bad.vhd"), buf, len);
	free(buf);
	check_bad(tmp_path("bad.vhd"), false, needle);
}

static void c_footer_reserved(uint8_t *b, size_t len)
{
	b[len - 512 + 200] = 1;
	fix_checksum(b + len - 512, 512, 64);
}

static void c_footer_sum(uint8_t *b, size_t len)
{
	b[len - 512 + 50] ^= 0x10;
}

static void c_footer_copy(uint8_t *b, size_t len)
{
	b[24] ^= 1;
	fix_checksum(b, 512, 64);
}

static void c_header_sum(uint8_t *b, size_t len)
{
	b[512 + 100] ^= 1;
}

static void c_header_reserved(uint8_t *b, size_t len)
{
	b[512 + 900] = 7;
	fix_checksum(b + 512, 1024, 36);
}

static void c_bat_into_meta(uint8_t *b, size_t len)
{
	put32(b + 1536 + 4, 3);         /* block 1 at the header */
}

static void c_bat_overlap(uint8_t *b, size_t len)
{
	put32(b + 1536 + 4, be32(b + 1536) + 8);   /* block 1 inside block 0 */
}

static void c_bat_past_eof(uint8_t *b, size_t len)
{
	put32(b + 1536 + 4, (uint32_t)(len / 512) + 100);
}

/* The batmap of the test images sits at 1536 + 512 (8 entries): header, map. */
static void c_batmap_sum(uint8_t *b, size_t len)
{
	b[2048 + 512] ^= 0x01;          /* map bit 7 without checksum update */
}

static void c_batmap_not_full(uint8_t *b, size_t len)
{
	uint32_t sum = 0;

	b[2048 + 512] |= 0x40;          /* block 1: allocated, not full */
	for (int i = 0; i < 512; i++)
		sum += b[2048 + 512 + i];
	put32(b + 2048 + 24, ~sum);
}

static void c_locator(uint8_t *b, size_t len)
{
	uint64_t off = be64(b + 512 + 576 + 16);

	memcpy(b + off, "file://./other.vhd", 18);
	put32(b + 512 + 576 + 8, 18);
	fix_checksum(b + 512, 1024, 36);
}

static void test_check_corruptions(void **state)
{
	uint8_t *model = build_chain();
	char base[512], leaf[512];

	snprintf(base, sizeof(base), "%s", tmp_path("base.vhd"));
	snprintf(leaf, sizeof(leaf), "%s", tmp_path("leaf.vhd"));

	check_ok(base, false);
	corrupt_check(base, c_footer_reserved, "reserved");
	corrupt_check(base, c_footer_sum, "footer");
	corrupt_check(base, c_footer_copy, "copy");
	corrupt_check(base, c_header_sum, "header");
	corrupt_check(base, c_header_reserved, "reserved");
	corrupt_check(base, c_bat_into_meta, "BAT entry 1");
	corrupt_check(base, c_bat_overlap, "overlap");
	corrupt_check(base, c_bat_past_eof, "BAT entry 1");
	corrupt_check(base, c_batmap_sum, "batmap");
	corrupt_check(base, c_batmap_not_full, "batmap");
	corrupt_check(leaf, c_locator, "locator");
	free(model);
}


/* ---- repair of what a killed writer leaves ---------------------------- */

/* The 16 MiB test images: 8-entry BAT at 1536, batmap header, then its map. */
#define BMH_OFF 2048u
#define MAP_OFF (BMH_OFF + 512u)

static bool map_bit(const char *path, unsigned blk)
{
	size_t len;
	uint8_t *b = slurp(path, &len);
	bool on = b[MAP_OFF + blk / 8] & (0x80 >> (blk % 8));

	free(b);
	return on;
}

/*
 * The batmap as a kill between the map's write and its header's leaves
 * it (blktap writes them apart): the bits in 'set' on and in 'clear' off,
 * the checksum still that of the map before, which lacked the 'set' bits.
 */
static void batmap_torn(const char *path, const unsigned *set, size_t nset,
			const unsigned *clear, size_t nclear)
{
	size_t len;
	uint8_t *b = slurp(path, &len);
	uint8_t before[512];
	uint32_t sum = 0;

	memcpy(before, b + MAP_OFF, 512);
	for (size_t i = 0; i < nset; i++)
		before[set[i] / 8] &= (uint8_t)~(0x80 >> (set[i] % 8));
	for (int i = 0; i < 512; i++)
		sum += before[i];
	put32(b + BMH_OFF + 24, ~sum);
	for (size_t i = 0; i < nset; i++)
		b[MAP_OFF + set[i] / 8] |= (uint8_t)(0x80 >> (set[i] % 8));
	for (size_t i = 0; i < nclear; i++)
		b[MAP_OFF + clear[i] / 8] &= (uint8_t)~(0x80 >> (clear[i] % 8));
	spew(path, b, len);
	free(b);
}

static void expect_image(const char *path, const uint8_t *model, uint64_t size)
{
	struct sm_error err = { 0 };
	uint8_t *buf = malloc(size);
	struct vhd_io io;

	assert_non_null(buf);
	assert_int_equal(vhd_io_open_file(&io, path, VHD_IO_RDONLY, &err), 0);
	assert_int_equal(vhd_read(&io, buf, size, 0, &err), 0);
	vhd_io_close(&io);
	assert_memory_equal(buf, model, size);
	free(buf);
}

static void test_repair_batmap(void **state)
{
	static const unsigned blk0[] = { 0 }, lies[] = { 2, 5 };
	struct sm_error err = { 0 };
	const char *img = tmp_path("bm.vhd");
	uint8_t *model = calloc(1, DISK), *chain_model;
	struct vhd_info info;
	struct vhd_chain ch;
	struct vhd_io io;
	uint8_t buf[4096];

	assert_non_null(model);
	create_base(img, DISK);
	chain_write(img, model, 0, 2 * MiB, 60);              /* block 0 full */
	chain_write(img, model, 4 * MiB + 512, 1000, 61);     /* block 2 partly */
	assert_true(map_bit(img, 0));
	assert_false(map_bit(img, 2));

	/* A true bit the header's checksum does not know of yet. */
	batmap_torn(img, blk0, 1, NULL, 0);
	check_bad(img, false, "batmap");
	assert_int_equal(vhd_query_path(img, &info, &err), 0);
	assert_false(info.has_batmap);
	expect_image(img, model, DISK);          /* readers were never wrong */
	assert_int_equal(repair_path(img), VHD_FIXED_BATMAP);
	check_ok(img, false);
	assert_true(map_bit(img, 0));            /* verified full: kept */
	assert_int_equal(vhd_query_path(img, &info, &err), 0);
	assert_true(info.has_batmap);
	assert_int_equal(repair_path(img), 0);   /* sound now: nothing to do */
	expect_image(img, model, DISK);

	/* Bits that lie (a partly written block, an unallocated one): cleared. */
	batmap_torn(img, lies, 2, NULL, 0);
	check_bad(img, false, "batmap");
	assert_int_equal(repair_path(img), VHD_FIXED_BATMAP);
	check_ok(img, false);
	assert_true(map_bit(img, 0));
	assert_false(map_bit(img, 2));
	assert_false(map_bit(img, 5));
	expect_image(img, model, DISK);

	/* Writers heal it on open: a writable chain, vhd_write. */
	batmap_torn(img, blk0, 1, NULL, 0);
	chain_write(img, model, 6 * MiB + 100, 3000, 62);
	check_ok(img, false);
	expect_image(img, model, DISK);
	batmap_torn(img, blk0, 1, NULL, 0);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(vhd_io_open_file(&io, img, VHD_IO_RDWR, &err), 0);
	assert_int_equal(vhd_write(&io, buf, sizeof(buf), 10 * MiB, &err), 0);
	vhd_io_close(&io);
	memcpy(model + 10 * MiB, buf, sizeof(buf));
	check_ok(img, false);
	expect_image(img, model, DISK);
	/* Even a chain opened for writing but not written to. */
	batmap_torn(img, blk0, 1, NULL, 0);
	assert_int_equal(vhd_chain_open(&ch, img, true, &err), 0);
	vhd_chain_close(&ch);
	check_ok(img, false);

	/*
	 * The trial's case: a coalesce into a parent whose batmap a kill
	 * left torn; that parent is what a leaf coalesce later hands to the
	 * user's VDI.  The coalesce heals it first.
	 */
	chain_model = build_chain();
	batmap_torn(tmp_path("mid.vhd"), (const unsigned[]){ 4 }, 1, NULL, 0);
	check_bad(tmp_path("mid.vhd"), false, "batmap");
	assert_int_equal(vhd_coalesce(tmp_path("leaf.vhd"), tmp_path("mid.vhd"), NULL, NULL,
				      NULL, &err), 0);
	check_ok(tmp_path("mid.vhd"), true);
	compare_chain(tmp_path("mid.vhd"), chain_model, DISK);
	free(chain_model);
	free(model);
}

static void test_repair_footer(void **state)
{
	struct sm_error err = { 0 };
	const char *img = tmp_path("ft.vhd");
	uint8_t *model = calloc(1, DISK), *b, *again;
	size_t len, len2;
	struct vhd_info info;
	struct vhd_io io;
	unsigned fixed;

	assert_non_null(model);
	create_base(img, DISK);
	chain_write(img, model, 3 * MiB, 2 * MiB + 3, 70);

	/* Sound: nothing fixed, not a byte written, even through a read-only handle. */
	b = slurp(img, &len);
	assert_int_equal(repair_path(img), 0);
	assert_int_equal(vhd_io_open_file(&io, img, VHD_IO_RDONLY, &err), 0);
	assert_int_equal(vhd_repair(&io, &fixed, &err), 0);
	assert_int_equal(fixed, 0);
	vhd_io_close(&io);
	again = slurp(img, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(b, again, len);
	free(again);

	/* set_hidden killed between the primary footer and its copy: the primary wins. */
	b[len - 512 + 85] = 1;
	fix_checksum(b + len - 512, 512, 64);
	spew(img, b, len);
	check_bad(img, false, "copy");
	assert_int_equal(repair_path(img), VHD_FIXED_FOOTER);
	check_ok(img, false);
	assert_int_equal(vhd_query_path(img, &info, &err), 0);
	assert_true(info.hidden);
	expect_image(img, model, DISK);
	free(b);

	/* A file extended, its footer not yet written: the copy at 0 rebuilds it. */
	b = slurp(img, &len);
	again = calloc(1, len + 4096);
	assert_non_null(again);
	memcpy(again, b, len);
	spew(img, again, len + 4096);
	check_bad(img, false, "primary footer");
	assert_int_equal(repair_path(img), VHD_FIXED_FOOTER);
	check_ok(img, false);
	free(again);
	again = slurp(img, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, b, len);
	free(again);
	free(b);

	/* Not a VHD: an error, nothing written. */
	spew(img, (const uint8_t *)"not a vhd at all", 16);
	assert_int_equal(vhd_io_open_file(&io, img, VHD_IO_RDWR, &err), 0);
	assert_int_equal(vhd_repair(&io, &fixed, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	assert_int_equal(fixed, 0);
	vhd_io_close(&io);
	free(model);
}

/* blktap's own images are sound: the repair leaves them byte for byte. */
static void test_repair_vectors_untouched(void **state)
{
	static const char *const names[] = { "dyn-empty-64M.vhd", "dyn-data-64M.vhd",
					     "base.vhd", "leaf.vhd", "qemu-dyn-64M.vhd" };
	char src[256];
	char what[64];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t a, b;
		uint8_t *x, *y;

		snprintf(src, sizeof(src), VEC "%s", names[i]);
		copy_file(src, tmp_path("v.vhd"));
		assert_int_equal(repair_path(tmp_path("v.vhd")), 0);
		x = slurp(src, &a);
		y = slurp(tmp_path("v.vhd"), &b);
		assert_int_equal(a, b);
		assert_memory_equal(x, y, a);
		free(x);
		free(y);
	}
	vhd_repair_describe(0, what, sizeof(what));
	assert_string_equal(what, "nothing");
	vhd_repair_describe(VHD_FIXED_FOOTER | VHD_FIXED_BATMAP, what, sizeof(what));
	assert_string_equal(what, "footer, batmap");
}

static void test_set_parent_errors(void **state)
{
	struct sm_error err = { 0 };
	uint8_t *model = build_chain();
	char longname[256];

	/* A dynamic disk has no parent to change. */
	assert_int_equal(vhd_set_parent(tmp_path("base.vhd"), tmp_path("mid.vhd"), &err), -1);
	sm_error_clear(&err);
	assert_int_equal(vhd_set_parent(tmp_path("leaf.vhd"), tmp_path("gone.vhd"), &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	/* A name too long for the 512-byte locator: refused, leaf unchanged. */
	memset(longname, 'x', sizeof(longname) - 5);
	strcpy(longname + sizeof(longname) - 5, ".vhd");
	copy_file(tmp_path("base.vhd"), tmp_path(longname));
	sm_error_clear(&err);
	assert_int_equal(vhd_set_parent(tmp_path("leaf.vhd"), tmp_path(longname), &err), -1);
	check_ok(tmp_path("leaf.vhd"), true);
	compare_chain(tmp_path("leaf.vhd"), model, DISK);
	unlink(tmp_path(longname));
	free(model);
}

static void test_open_io_single(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	struct vhd_io io;
	uint8_t buf[1024];

	assert_int_equal(vhd_io_open_file(&io, VEC "leaf.vhd", VHD_IO_RDONLY, &err), 0);
	assert_int_equal(vhd_check_io(&io, NULL, false, &err), 0);
	assert_int_equal(vhd_chain_open_io(&ch, &io, &err), 0);
	assert_int_equal(vhd_chain_read(&ch, buf, sizeof(buf), 0, &err), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);        /* block 0 is the parent's */
	assert_int_equal(vhd_chain_read(&ch, buf, sizeof(buf), 3 * 2 * MiB, &err), 0);
	assert_int_equal(buf[0], 'l');
	vhd_chain_close(&ch);
}

static int setup(void **state)
{
	snprintf(scratch, sizeof(scratch), "/tmp/csm-vhdchain.XXXXXX");
	return mkdtemp(scratch) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	return system(cmd) == 0 ? 0 : -1;
}

/* A chain opened by srfs-relative names: parents found through the srfs opener. */
static void test_chain_through_srfs_opener(void **state)
{
	char dir[] = "/tmp/test_vhdchain_srfs.XXXXXX", path[256];
	struct sm_error err = { 0 };
	struct vhd_io base, leaf;
	struct vhd_chain ch;
	struct srfs fs;
	uint8_t data[8192], back[8192];
	const struct vhd_opener *op;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(srfs_open_posix(&fs, dir, &err), 0);
	op = srfs_opener(&fs);
	memset(data, 0x5a, sizeof(data));

	assert_int_equal(op->open(op->arg, "sub/base.vhd", VHD_IO_CREATE, &base, &err), 0);
	assert_int_equal(vhd_create_dynamic(&base, DISK, &err), 0);
	assert_int_equal(vhd_write(&base, data, sizeof(data), 2 * MiB, &err), 0);
	assert_int_equal(op->open(op->arg, "sub/leaf.vhd", VHD_IO_CREATE, &leaf, &err), 0);
	assert_int_equal(vhd_create_diff(&leaf, &base, "./base.vhd", 0, &err), 0);
	vhd_io_close(&leaf);
	vhd_io_close(&base);

	assert_int_equal(vhd_chain_open_with(&ch, op, "sub/leaf.vhd", false, &err), 0);
	assert_int_equal(ch.depth, 2);
	assert_string_equal(ch.path[1], "sub/base.vhd");
	assert_int_equal(vhd_chain_read(&ch, back, sizeof(back), 2 * MiB, &err), 0);
	assert_memory_equal(back, data, sizeof(data));
	vhd_chain_close(&ch);
	assert_int_equal(vhd_check_with(op, "sub/leaf.vhd", true, &err), 0);

	/* coalesce and re-parent by the opener's names too */
	assert_int_equal(vhd_coalesce_with(op, "sub/leaf.vhd", "sub/base.vhd", NULL, NULL,
					   NULL, &err), 0);
	assert_int_equal(vhd_set_parent_with(op, "sub/leaf.vhd", "sub/base.vhd", &err), 0);
	assert_int_equal(vhd_set_parent_with(op, "sub/leaf.vhd", "other/base.vhd", &err), -1);
	assert_int_equal(err.code, SME_INVALID_ARG);
	sm_error_clear(&err);

	/* a missing parent is named by its srfs name */
	assert_int_equal(fs.ops->unlink(&fs, "sub/base.vhd"), 0);
	assert_int_equal(vhd_chain_open_with(&ch, op, "sub/leaf.vhd", false, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	assert_non_null(strstr(err.detail, "sub/base.vhd"));
	srfs_close(&fs);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blktap_chain),
		cmocka_unit_test(test_vectors_check),
		cmocka_unit_test(test_missing_and_mismatch),
		cmocka_unit_test(test_model_chain),
		cmocka_unit_test(test_batched_writes),
		cmocka_unit_test(test_coalesce_and_reparent),
		cmocka_unit_test(test_coalesce_grows_parent),
		cmocka_unit_test(test_coalesce_abort),
		cmocka_unit_test(test_coalesce_killed_at_every_write),
		cmocka_unit_test(test_write_killed_at_every_write),
		cmocka_unit_test(test_coalesce_grow_killed_at_every_write),
		cmocka_unit_test(test_coalesce_refused),
		cmocka_unit_test(test_check_corruptions),
		cmocka_unit_test(test_repair_batmap),
		cmocka_unit_test(test_repair_footer),
		cmocka_unit_test(test_repair_vectors_untouched),
		cmocka_unit_test(test_set_parent_errors),
		cmocka_unit_test(test_open_io_single),
		cmocka_unit_test(test_chain_through_srfs_opener),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
