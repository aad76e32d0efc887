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
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
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


/* ---- an independent reader with blktap's rules --------------------------- */

/*
 * Written from the format and tapdisk's behaviour, sharing no code with
 * the library: an image is read whole into memory; a sector is in an
 * image when its BAT entry is in use and its bitmap bit set (the batmap
 * is not consulted); the parent is the first MACX/W2KU/W2RU locator, in
 * slot order, whose file exists (vhd_parent_locator_get), and tapdisk
 * refuses the chain unless that file's footer uuid is the child's parent
 * uuid (vhd_validate_parent).  No fallback to prt_name, none to another
 * locator once one exists.
 */
struct bt_img {
	uint8_t *b;
	size_t len;
	const uint8_t *ftr, *hdr;
	uint64_t secs;
	uint32_t spb, bm_secs;
};

static void bt_load(const char *path, struct bt_img *im)
{
	im->b = slurp(path, &im->len);
	assert_true(im->len >= 1536);
	im->ftr = im->b + im->len - 512;
	if (memcmp(im->ftr, "conectix", 8) != 0)
		im->ftr = im->b;                /* the copy, as blktap falls back */
	im->secs = be64(im->ftr + 48) / 512;
	im->hdr = im->b + be64(im->ftr + 16);
	im->spb = be32(im->hdr + 32) / 512;
	im->bm_secs = (im->spb / 8 + 511) / 512;
}

static const uint8_t *bt_sector(const struct bt_img *im, uint64_t s)
{
	uint32_t e;
	uint64_t i = s % im->spb;

	if (s >= im->secs)
		return NULL;
	e = be32(im->b + be64(im->hdr + 16) + s / im->spb * 4);
	if (e == 0xFFFFFFFFu || !(im->b[(uint64_t)e * 512 + i / 8] & (0x80 >> (i % 8))))
		return NULL;
	return im->b + ((uint64_t)e + im->bm_secs + i) * 512;
}

static bool bt_parent(const char *child, const struct bt_img *im, char *out, size_t cap)
{
	const char *slash = strrchr(child, '/');
	int dlen = slash ? (int)(slash - child) : 1;
	const char *dir = slash ? child : ".";

	for (int i = 0; i < 8; i++) {
		const uint8_t *loc = im->hdr + 576 + i * 24;
		uint32_t code = be32(loc), len = be32(loc + 8);
		const uint8_t *d = im->b + be64(loc + 16);
		char name[600] = "";
		size_t n = 0;

		if (len > 512)
			continue;
		if (code == 0x4D616358) {                      /* MACX: file:// URL */
			n = len > 7 && !memcmp(d, "file://", 7) ? len - 7 : len;
			memcpy(name, d + (len - n), n);
			name[n] = '\0';
		} else if (code == 0x57326B75 || code == 0x57327275) {  /* W2KU, W2RU */
			for (uint32_t j = 0; j + 1 < len && d[j]; j += 2)
				name[n++] = d[j] == '\\' ? '/' : (char)d[j];
			name[n] = '\0';
		} else {
			continue;
		}
		if (name[0] == '/')
			n = (size_t)snprintf(out, cap, "%s", name);
		else
			n = (size_t)snprintf(out, cap, "%.*s/%s", dlen, dir,
					     strncmp(name, "./", 2) == 0 ? name + 2 : name);
		if (n < cap && access(out, R_OK) == 0)
			return true;
	}
	return false;
}

/* 0 and the guest view in buf, or -1 where tapdisk would refuse the chain. */
static int blktap_read(const char *path, uint8_t *buf, uint64_t size)
{
	struct bt_img im[8];
	char cur[600], next[600];
	int n = 0, rc = -1;

	snprintf(cur, sizeof(cur), "%s", path);
	for (;;) {
		bt_load(cur, &im[n]);
		n++;
		if (n > 1 && memcmp(im[n - 2].hdr + 40, im[n - 1].ftr + 68, 16) != 0)
			goto out;               /* parent uuid has changed: refused */
		if (be32(im[n - 1].ftr + 60) != 4)
			break;
		if (n == 8 || !bt_parent(cur, &im[n - 1], next, sizeof(next)))
			goto out;
		memcpy(cur, next, sizeof(cur));
	}
	for (uint64_t s = 0; s < size / 512; s++) {
		const uint8_t *d = NULL;

		for (int i = 0; i < n && !d; i++)
			d = bt_sector(&im[i], s);
		if (d)
			memcpy(buf + s * 512, d, 512);
		else
			memset(buf + s * 512, 0, 512);
	}
	rc = 0;
out:
	for (int i = 0; i < n; i++)
		free(im[i].b);
	return rc;
}

static void blktap_expect(const char *path, const uint8_t *model, uint64_t size,
			  const char *when)
{
	uint8_t *buf = malloc(size);

	assert_non_null(buf);
	if (blktap_read(path, buf, size) != 0)
		fail_msg("%s: blktap's rules refuse the chain of %s", when, path);
	if (memcmp(buf, model, size) != 0)
		fail_msg("%s: blktap's rules read other data through %s", when, path);
	free(buf);
}

/* The drivers find a parent by the header's name: that file has the uuid asked for. */
static void header_name_expect(const char *child, const char *when)
{
	struct sm_error err = { 0 };
	struct vhd_info info, pinfo;
	char ppath[600];

	assert_int_equal(vhd_query_path(child, &info, &err), 0);
	snprintf(ppath, sizeof(ppath), "%s/%s", scratch, info.parent_name);
	if (vhd_query_path(ppath, &pinfo, &err) != 0 ||
	    memcmp(pinfo.uuid, info.parent_uuid, 16) != 0)
		fail_msg("%s: the header names %s, which is not the parent it asks for", when,
			 info.parent_name);
}

/*
 * pp <- nn <- cc with data at every level, nn coalesced into pp: the
 * GC's state before it re-points cc from nn to pp.  The names are of
 * equal length, as the SR's uuid names are, so a locator rewritten for
 * one decodes whole to the other.
 */
static uint8_t *build_relink(void)
{
	struct sm_error err = { 0 };
	uint8_t *model = calloc(1, DISK);

	assert_non_null(model);
	create_base(tmp_path("pp.vhd"), DISK);
	chain_write(tmp_path("pp.vhd"), model, 0, 3 * MiB, 80);
	snapshot(tmp_path("nn.vhd"), tmp_path("pp.vhd"), 0);
	chain_write(tmp_path("nn.vhd"), model, 2 * MiB + 512, 2 * MiB, 81);
	snapshot(tmp_path("cc.vhd"), tmp_path("nn.vhd"), 0);
	chain_write(tmp_path("cc.vhd"), model, 5 * MiB + 3, 4000, 82);
	assert_int_equal(vhd_coalesce(tmp_path("nn.vhd"), tmp_path("pp.vhd"), NULL, NULL, NULL,
				      &err), 0);
	blktap_expect(tmp_path("cc.vhd"), model, DISK, "before");
	return model;
}

/*
 * vhd_set_parent killed after each of its writes.  Readers must be right
 * at every moment: blktap's rules and vhd_chain_open read the model
 * through cc, and the file cc's header names is the one it asks for.
 * Then the GC's recovery (vhd_repair; a second re-pointing if cc still
 * hangs under nn) leaves cc passing the check.
 */
static void test_set_parent_killed_at_every_write(void **state)
{
	struct sm_error err = { 0 };
	uint8_t *model = build_relink();
	const char *cc = tmp_path("cc.vhd"), *pp = tmp_path("pp.vhd");
	char golden[600], when[64];
	unsigned repaired = 0;
	struct vhd_info info;
	long n;

	snprintf(golden, sizeof(golden), "%s", tmp_path("cc.golden"));
	copy_file(cc, golden);
	for (n = 0;; n++) {
		int rc;

		copy_file(golden, cc);
		kill_after(n);
		rc = vhd_set_parent_with(&sim_opener, cc, pp, &err);
		if (!kill_sim.dead) {
			assert_int_equal(rc, 0);
			break;
		}
		snprintf(when, sizeof(when), "killed after write %ld", n);
		blktap_expect(cc, model, DISK, when);
		compare_chain(cc, model, DISK);
		header_name_expect(cc, when);
		repaired |= repair_path(cc);
		check_ok(cc, true);
		blktap_expect(cc, model, DISK, when);
		assert_int_equal(vhd_query_path(cc, &info, &err), 0);
		if (strcmp(info.parent_name, "nn.vhd") == 0)
			assert_int_equal(vhd_set_parent(cc, pp, &err), 0);
		check_ok(cc, true);
		blktap_expect(cc, model, DISK, when);
	}
	assert_true(n >= 5);            /* three locators, two headers */
	assert_true(repaired & VHD_FIXED_LOCATORS);
	check_ok(cc, true);
	blktap_expect(cc, model, DISK, "after");
	assert_int_equal(vhd_query_path(cc, &info, &err), 0);
	assert_string_equal(info.parent_name, "pp.vhd");
	assert_string_equal(info.parent_locator, "./pp.vhd");
	/* Done, it is blktap's layout again: nothing for the repair. */
	assert_int_equal(repair_path(cc), 0);
	unlink(golden);
	free(model);
}

/* The same kills through the library's fault points, in a child process killed by SIGKILL. */
static void test_set_parent_fault_points(void **state)
{
#ifdef CSM_TEST_BUILD
	static const char *const points[] = { "vhd-set-parent:locators", "vhd-set-parent:header",
					      "vhd-set-parent:first-locator" };
	uint8_t *model = build_relink();
	const char *cc = tmp_path("cc.vhd"), *pp = tmp_path("pp.vhd");
	char golden[600];

	snprintf(golden, sizeof(golden), "%s", tmp_path("cc.golden"));
	copy_file(cc, golden);
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		int status;
		pid_t pid;

		copy_file(golden, cc);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct sm_error err = { 0 };

			setenv("CSM_FAULT_POINT", points[i], 1);
			vhd_set_parent(cc, pp, &err);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("not killed at %s", points[i]);
		blktap_expect(cc, model, DISK, points[i]);
		compare_chain(cc, model, DISK);
		header_name_expect(cc, points[i]);
	}
	unlink(golden);
	free(model);
#else
	skip();
#endif
}

/*
 * What the old order (all locators, then the header) left when killed
 * in between: every locator names pp, the header still nn.  blktap's
 * rules refuse it; vhd_chain_open and the check of the parent find nn by
 * the header's uuid; the repair rolls the locators back to the header.
 */
static void test_chain_open_names_disagree(void **state)
{
	struct sm_error err = { 0 };
	uint8_t *model = build_relink(), *old, *cur, *buf = malloc(DISK);
	const char *cc = tmp_path("cc.vhd");
	struct vhd_chain ch;
	size_t len, len2;

	assert_non_null(buf);
	old = slurp(cc, &len);
	assert_int_equal(vhd_set_parent(cc, tmp_path("pp.vhd"), &err), 0);
	cur = slurp(cc, &len2);
	assert_int_equal(len, len2);
	memcpy(cur + 512, old + 512, 1024);     /* the old header back */
	spew(cc, cur, len);
	assert_int_equal(blktap_read(cc, buf, DISK), -1);
	assert_int_equal(vhd_chain_open(&ch, cc, false, &err), 0);
	assert_int_equal(ch.depth, 3);
	assert_non_null(strstr(ch.path[1], "nn.vhd"));
	vhd_chain_close(&ch);
	compare_chain(cc, model, DISK);
	check_bad(cc, true, "locator");
	assert_int_equal(repair_path(cc), VHD_FIXED_LOCATORS);
	check_ok(cc, true);
	blktap_expect(cc, model, DISK, "after the repair");
	/* The other way: the header names pp, the locators nn; nn still exists. */
	assert_int_equal(vhd_set_parent(cc, tmp_path("pp.vhd"), &err), 0);
	free(cur);
	cur = slurp(cc, &len2);
	memcpy(old + 512, cur + 512, 1024);
	spew(cc, old, len);
	compare_chain(cc, model, DISK);
	assert_int_equal(repair_path(cc), VHD_FIXED_LOCATORS);
	check_ok(cc, true);
	blktap_expect(cc, model, DISK, "after the second repair");
	/* No name with the right uuid: the error is blktap's, naming the uuids. */
	unlink(tmp_path("pp.vhd"));
	copy_file(tmp_path("nn.vhd"), tmp_path("pp.vhd"));
	assert_int_equal(vhd_chain_open(&ch, cc, false, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	assert_non_null(strstr(err.detail, "uuid"));
	free(old);
	free(cur);
	free(buf);
	free(model);
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
		cmocka_unit_test(test_set_parent_killed_at_every_write),
		cmocka_unit_test(test_set_parent_fault_points),
		cmocka_unit_test(test_chain_open_names_disagree),
		cmocka_unit_test(test_set_parent_errors),
		cmocka_unit_test(test_open_io_single),
		cmocka_unit_test(test_chain_through_srfs_opener),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
