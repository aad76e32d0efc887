/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the VHD library against images made by blktap's vhd-util and
 * by qemu (tests/data/vectors, run from the repository root), plus
 * round trips and corrupt input.
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

#define VEC "tests/data/vectors/"
#define MiB (1024ull * 1024)

static char scratch[64];

/* ---- helpers --------------------------------------------------------- */

static char *tmp_path(const char *name)
{
	static char path[4][256];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", scratch, name);
	return p;
}

static void copy_vector(const char *name, const char *dst)
{
	char src[256];
	size_t len;
	uint8_t *buf;

	snprintf(src, sizeof(src), VEC "%s", name);
	buf = slurp(src, &len);
	spew(dst, buf, len);
	free(buf);
}

static void open_io(struct vhd_io *io, const char *path, int flags)
{
	struct sm_error err = { 0 };

	assert_int_equal(vhd_io_open_file(io, path, flags, &err), 0);
}

static void create_file(const char *path, uint64_t size)
{
	struct sm_error err = { 0 };
	struct vhd_io io;

	unlink(path);
	open_io(&io, path, VHD_IO_CREATE);
	assert_int_equal(vhd_create_dynamic(&io, size, &err), 0);
	vhd_io_close(&io);
}

/* Byte i of a block in the vectors' pattern. */
static uint8_t pattern_byte(const char *text, uint64_t i)
{
	return (uint8_t)text[(i % 512) % strlen(text)];
}

static void check_pattern(const uint8_t *buf, uint64_t len, const char *text)
{
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != pattern_byte(text, i))
			fail_msg("byte %llu: %02x, want pattern %s",
				 (unsigned long long)i, buf[i], text);
}

static void check_fill(const uint8_t *buf, uint64_t len, uint8_t v)
{
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != v)
			fail_msg("byte %llu: %02x, want %02x",
				 (unsigned long long)i, buf[i], v);
}

static void read_path(const char *path, void *buf, uint64_t len, uint64_t off)
{
	struct sm_error err = { 0 };
	struct vhd_io io;

	open_io(&io, path, VHD_IO_RDONLY);
	if (vhd_read(&io, buf, len, off, &err) != 0)
		fail_msg("read %s: %s", path, err.detail);
	vhd_io_close(&io);
}

static void write_path(const char *path, const void *buf, uint64_t len, uint64_t off)
{
	struct sm_error err = { 0 };
	struct vhd_io io;

	open_io(&io, path, VHD_IO_RDWR);
	if (vhd_write(&io, buf, len, off, &err) != 0)
		fail_msg("write %s: %s", path, err.detail);
	vhd_io_close(&io);
}

static void query_ok(const char *path, struct vhd_info *info)
{
	struct sm_error err = { 0 };

	if (vhd_query_path(path, info, &err) != 0)
		fail_msg("query %s: %s", path, err.detail);
}

/* ---- an in-memory vhd_io for corrupt-input tests ---------------------- */

struct mem {
	uint8_t *buf;
	size_t len;
	int fail_write;         /* the Nth write from now fails (EIO); 0 = none */
	int writes;
};

static int mem_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	struct mem *m = io->priv;

	if (off > m->len || len > m->len - off)
		return -EIO;
	memcpy(buf, m->buf + off, len);
	return 0;
}

static int mem_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	struct mem *m = io->priv;

	if (m->fail_write && ++m->writes == m->fail_write)
		return -EIO;
	if (off + len > m->len) {
		uint8_t *nb = realloc(m->buf, off + len);

		if (!nb)
			return -ENOMEM;
		memset(nb + m->len, 0, off + len - m->len);
		m->buf = nb;
		m->len = off + len;
	}
	memcpy(m->buf + off, buf, len);
	return 0;
}

static int mem_size(struct vhd_io *io, uint64_t *size)
{
	*size = ((struct mem *)io->priv)->len;
	return 0;
}

static int mem_truncate(struct vhd_io *io, uint64_t size)
{
	struct mem *m = io->priv;
	uint8_t *nb = realloc(m->buf, size ? size : 1);

	if (!nb)
		return -ENOMEM;
	if (size > m->len)
		memset(nb + m->len, 0, size - m->len);
	m->buf = nb;
	m->len = size;
	return 0;
}

static int mem_sync(struct vhd_io *io)
{
	return 0;
}

static const struct vhd_io_ops mem_ops = {
	.pread = mem_pread,
	.pwrite = mem_pwrite,
	.get_size = mem_size,
	.truncate = mem_truncate,
	.sync = mem_sync,
};

static void mem_io(struct vhd_io *io, struct mem *m, const uint8_t *data, size_t len)
{
	memset(io, 0, sizeof(*io));
	m->buf = malloc(len ? len : 1);
	assert_non_null(m->buf);
	if (len)
		memcpy(m->buf, data, len);
	m->len = len;
	m->fail_write = 0;
	m->writes = 0;
	io->ops = &mem_ops;
	io->priv = m;
	snprintf(io->name, sizeof(io->name), "mem");
}

/* Query (and on success read all) must never crash; failures are VDILoad. */
static int probe(const uint8_t *data, size_t len)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;
	struct mem m;
	int rc;

	mem_io(&io, &m, data, len);
	rc = vhd_query(&io, &info, &err);
	if (rc != 0) {
		assert_int_equal(err.code, SME_VDI_LOAD);
		assert_true(err.detail[0] != '\0');
	} else {
		/* Ranges touching the first, an inner and the last block. */
		uint64_t offs[] = { 0, 10 * MiB - 100,
				   info.virtual_size > 8192 ? info.virtual_size - 8192 : 0 };
		uint8_t buf[8192];

		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			sm_error_clear(&err);
			(void)vhd_read(&io, buf, sizeof(buf), offs[i], &err);
		}
	}
	free(m.buf);
	return rc;
}

/* ---- tests ------------------------------------------------------------ */

static void test_validate_size(void **state)
{
	struct sm_error err = { 0 };
	uint64_t r;

	assert_int_equal(vhd_validate_size(0, &r, &err), 0);
	assert_int_equal(r, 2 * MiB);
	assert_int_equal(vhd_validate_size(1, &r, &err), 0);
	assert_int_equal(r, 2 * MiB);
	assert_int_equal(vhd_validate_size(2 * MiB + 1, &r, &err), 0);
	assert_int_equal(r, 4 * MiB);
	assert_int_equal(vhd_validate_size(VHD_MAX_SIZE, &r, &err), 0);
	assert_int_equal(r, VHD_MAX_SIZE);
	assert_int_equal(vhd_validate_size(VHD_MAX_SIZE + 1, &r, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	assert_int_equal(vhd_validate_size(UINT64_MAX, &r, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
}

static void test_create_query(void **state)
{
	const char *p = tmp_path("rt.vhd");
	struct vhd_info info;
	struct stat st;

	create_file(p, 100 * MiB);
	query_ok(p, &info);
	assert_int_equal(info.type, VHD_TYPE_DYNAMIC);
	assert_int_equal(info.virtual_size, 100 * MiB);
	assert_int_equal(info.phys_size, 3584);
	assert_int_equal(info.blocks, 50);
	assert_int_equal(info.max_bat_entries, 50);
	assert_int_equal(info.allocated_blocks, 0);
	assert_false(info.hidden);
	assert_true(info.has_batmap);
	assert_string_equal(info.creator, "tap");
	assert_int_equal(info.creator_version, 0x00010003);
	assert_string_equal(info.parent_name, "");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 3584);
	unlink(p);
}

static void test_create_exists(void **state)
{
	const char *p = tmp_path("ex.vhd");
	struct sm_error err = { 0 };
	struct vhd_io io;

	create_file(p, 2 * MiB);
	assert_int_equal(vhd_io_open_file(&io, p, VHD_IO_CREATE, &err), -1);
	assert_int_equal(err.code, SME_VDI_EXISTS);
	sm_error_clear(&err);
	assert_int_equal(vhd_io_open_file(&io, tmp_path("nope.vhd"), VHD_IO_RDONLY, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	vhd_io_close(&io);  /* safe on a failed open */
	unlink(p);
}

/* uuid, timestamp and checksum are the only fields allowed to differ. */
static bool footer_variable(size_t off)
{
	return (off >= 24 && off < 28) || (off >= 64 && off < 84);
}

static void test_create_matches_blktap(void **state)
{
	const char *p = tmp_path("cmp.vhd");
	size_t ml, vl;
	uint8_t *mine, *ref;

	create_file(p, 64 * MiB);
	mine = slurp(p, &ml);
	ref = slurp(VEC "dyn-empty-64M.vhd", &vl);
	assert_int_equal(ml, vl);
	for (size_t i = 0; i < ml; i++) {
		bool in_footer = i < 512 || i >= ml - 512;
		size_t fo = i < 512 ? i : i - (ml - 512);

		if (in_footer && footer_variable(fo))
			continue;
		if (mine[i] != ref[i])
			fail_msg("byte %zu differs: %02x vs blktap %02x", i, mine[i], ref[i]);
	}
	/* The two footers of our image are identical. */
	assert_memory_equal(mine, mine + ml - 512, 512);
	free(mine);
	free(ref);

	/* 100 GiB: same layout as blktap (BAT 51200 entries, batmap 13 sectors). */
	create_file(p, 102400 * MiB);
	mine = slurp(p, &ml);
	ref = slurp(VEC "dyn-empty-100G.vhd", &vl);
	assert_int_equal(ml, vl);
	assert_memory_equal(mine + 512, ref + 512, ml - 1024);
	free(mine);
	free(ref);
	unlink(p);
}

static void test_vectors_open(void **state)
{
	static const char *names[] = {
		"dyn-empty-64M.vhd", "dyn-empty-100G.vhd", "dyn-data-64M.vhd",
		"base.vhd", "leaf.vhd", "qemu-dyn-64M.vhd",
	};
	struct vhd_info info;
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct stat st;

		snprintf(path, sizeof(path), VEC "%s", names[i]);
		query_ok(path, &info);
		assert_int_equal(stat(path, &st), 0);
		/* blktap and qemu files end right after their data. */
		assert_int_equal(info.phys_size, st.st_size);
	}
	query_ok(VEC "dyn-empty-100G.vhd", &info);
	assert_int_equal(info.virtual_size, 102400 * MiB);
	assert_int_equal(info.max_bat_entries, 51200);
	query_ok(VEC "dyn-data-64M.vhd", &info);
	assert_int_equal(info.allocated_blocks, 2);
	assert_true(info.has_batmap);
	query_ok(VEC "qemu-dyn-64M.vhd", &info);
	assert_string_equal(info.creator, "qemu");
	assert_false(info.has_batmap);
	assert_int_equal(info.virtual_size, 67125248);
	assert_int_equal(info.blocks, 33);
}

static void test_read_dyn_data(void **state)
{
	uint8_t *buf = malloc(2 * MiB);

	assert_non_null(buf);
	read_path(VEC "dyn-data-64M.vhd", buf, 2 * MiB, 0);
	check_pattern(buf, 2 * MiB, "alpha");
	read_path(VEC "dyn-data-64M.vhd", buf, 2 * MiB, 5 * 2 * MiB);
	check_pattern(buf, 2 * MiB, "beta");
	read_path(VEC "dyn-data-64M.vhd", buf, 2 * MiB, 1 * 2 * MiB);
	check_fill(buf, 2 * MiB, 0);
	/* Unaligned, across the end of block 0 into unallocated block 1. */
	read_path(VEC "dyn-data-64M.vhd", buf, 1000, 2 * MiB - 333);
	for (int i = 0; i < 333; i++)
		assert_int_equal(buf[i], pattern_byte("alpha", 2 * MiB - 333 + (uint64_t)i));
	check_fill(buf + 333, 1000 - 333, 0);
	free(buf);
}

static void test_read_qemu(void **state)
{
	const char *p = VEC "qemu-dyn-64M.vhd";
	uint8_t *buf = malloc(2 * MiB);

	assert_non_null(buf);
	read_path(p, buf, 2 * MiB, 0);
	check_fill(buf, 2 * MiB, 0x5a);
	read_path(p, buf, 2 * MiB, 2 * MiB);
	check_fill(buf, 2 * MiB, 0);
	read_path(p, buf, 2 * MiB, 10 * MiB);
	check_fill(buf, MiB, 0xa5);
	check_fill(buf + MiB, MiB, 0);
	/* The tail past the last whole 2 MiB block reads as zeros. */
	read_path(p, buf, 67125248 - 64 * MiB, 64 * MiB);
	check_fill(buf, 67125248 - 64 * MiB, 0);
	free(buf);
}

static void test_leaf_and_base(void **state)
{
	struct vhd_info leaf, base;
	uint8_t *buf = malloc(2 * MiB);

	assert_non_null(buf);
	query_ok(VEC "leaf.vhd", &leaf);
	query_ok(VEC "base.vhd", &base);
	assert_int_equal(leaf.type, VHD_TYPE_DIFF);
	assert_string_equal(leaf.parent_name, "base.vhd");
	assert_string_equal(leaf.parent_locator, "./base.vhd");
	assert_memory_equal(leaf.parent_uuid, base.uuid, 16);
	assert_false(leaf.hidden);
	assert_true(base.hidden);
	assert_int_equal(base.type, VHD_TYPE_DYNAMIC);
	read_path(VEC "leaf.vhd", buf, 2 * MiB, 3 * 2 * MiB);
	check_pattern(buf, 2 * MiB, "leaf3");
	read_path(VEC "leaf.vhd", buf, 2 * MiB, 7 * 2 * MiB);
	check_pattern(buf, 2 * MiB, "leaf7");
	/* One image only: block 0 lives in the parent. */
	read_path(VEC "leaf.vhd", buf, 2 * MiB, 0);
	check_fill(buf, 2 * MiB, 0);
	read_path(VEC "base.vhd", buf, 2 * MiB, 0);
	check_pattern(buf, 2 * MiB, "base0");
	free(buf);
}

static void test_diff_layout(void **state)
{
	const char *bp = tmp_path("base.vhd"), *cp = tmp_path("child.vhd");
	struct sm_error err = { 0 };
	struct vhd_io pio, cio;
	struct vhd_info ci, bi;
	size_t ml, rl;
	uint8_t *mine, *ref;
	struct stat st;

	copy_vector("base.vhd", bp);
	unlink(cp);
	open_io(&pio, bp, VHD_IO_RDONLY);
	open_io(&cio, cp, VHD_IO_CREATE);
	assert_int_equal(vhd_create_diff(&cio, &pio, "./base.vhd", 0, &err), 0);
	vhd_io_close(&cio);
	vhd_io_close(&pio);

	query_ok(cp, &ci);
	query_ok(bp, &bi);
	assert_int_equal(ci.type, VHD_TYPE_DIFF);
	assert_int_equal(ci.virtual_size, bi.virtual_size);
	assert_string_equal(ci.parent_name, "base.vhd");
	assert_string_equal(ci.parent_locator, "./base.vhd");
	assert_memory_equal(ci.parent_uuid, bi.uuid, 16);
	assert_int_equal(stat(bp, &st), 0);
	assert_int_equal(ci.parent_timestamp, (uint32_t)(st.st_mtime - 946684800));
	assert_int_equal(ci.phys_size, 5120);

	mine = slurp(cp, &ml);
	ref = slurp(VEC "leaf.vhd", &rl);
	assert_int_equal(ml, 5120);
	/* Header: all but checksum (36..39) and parent time stamp (56..59). */
	for (size_t i = 512; i < 1536; i++)
		if (!(i >= 548 && i < 552) && !(i >= 568 && i < 572) && mine[i] != ref[i])
			fail_msg("header byte %zu: %02x vs blktap %02x", i, mine[i], ref[i]);
	/* Batmap header and locator data are byte-identical. */
	assert_memory_equal(mine + 2048, ref + 2048, 512);
	assert_memory_equal(mine + 3072, ref + 3072, 1536);
	/* MACX len 17 at 3072, W2KU len 20 at 3584, W2RU len 20 at 4096. */
	assert_int_equal(be32(mine + 512 + 576 + 8), 17);
	assert_int_equal(be64(mine + 512 + 576 + 16), 3072);
	assert_int_equal(be32(mine + 512 + 600 + 8), 20);
	assert_int_equal(be64(mine + 512 + 600 + 16), 3584);
	assert_int_equal(be64(mine + 512 + 624 + 16), 4096);
	free(mine);
	free(ref);

	/* A child smaller than its parent is refused. */
	unlink(cp);
	open_io(&pio, bp, VHD_IO_RDONLY);
	open_io(&cio, cp, VHD_IO_CREATE);
	assert_int_equal(vhd_create_diff(&cio, &pio, "./base.vhd", 2 * MiB, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	vhd_io_close(&cio);
	vhd_io_close(&pio);
	unlink(cp);
	unlink(bp);
}

static void test_diff_bad_parent(void **state)
{
	const char *bp = tmp_path("junk.vhd"), *cp = tmp_path("c2.vhd");
	struct sm_error err = { 0 };
	struct vhd_io pio, cio;
	uint8_t junk[4096];

	memset(junk, 0x11, sizeof(junk));
	spew(bp, junk, sizeof(junk));
	unlink(cp);
	open_io(&pio, bp, VHD_IO_RDONLY);
	open_io(&cio, cp, VHD_IO_CREATE);
	assert_int_equal(vhd_create_diff(&cio, &pio, "./junk.vhd", 0, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	vhd_io_close(&cio);
	vhd_io_close(&pio);
	unlink(cp);
	unlink(bp);
}

static void test_set_hidden(void **state)
{
	const char *p = tmp_path("h.vhd");
	struct sm_error err = { 0 };
	struct vhd_info info;
	uint8_t *buf;
	size_t len;

	create_file(p, 8 * MiB);
	assert_int_equal(vhd_set_hidden_path(p, true, &err), 0);
	query_ok(p, &info);
	assert_true(info.hidden);
	buf = slurp(p, &len);
	assert_int_equal(buf[85], 1);
	assert_int_equal(buf[len - 512 + 85], 1);
	assert_memory_equal(buf, buf + len - 512, 512);
	free(buf);
	assert_int_equal(vhd_set_hidden_path(p, false, &err), 0);
	query_ok(p, &info);
	assert_false(info.hidden);
	unlink(p);
}

/* Simulate vhd-util create -S: a BAT preallocated beyond the size. */
static void shrink_footers(const char *path, uint64_t size)
{
	size_t len;
	uint8_t *buf = slurp(path, &len);

	put64(buf + 48, size);
	fix_checksum(buf, 512, 64);
	memcpy(buf + len - 512, buf, 512);
	spew(path, buf, len);
	free(buf);
}

static void test_grow_within_bat(void **state)
{
	const char *p = tmp_path("g1.vhd");
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;
	uint8_t data[4096], back[4096];

	unlink(p);
	open_io(&io, p, VHD_IO_CREATE);
	assert_int_equal(vhd_create_dynamic_prealloc(&io, 64 * MiB, 128 * MiB, &err), 0);
	vhd_io_close(&io);
	query_ok(p, &info);
	assert_int_equal(info.virtual_size, 64 * MiB);
	assert_int_equal(info.max_bat_entries, 64);
	memset(data, 0x42, sizeof(data));
	write_path(p, data, sizeof(data), 63 * MiB);

	open_io(&io, p, VHD_IO_RDWR);
	assert_int_equal(vhd_grow(&io, 32 * MiB, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	assert_int_equal(vhd_grow(&io, 100 * MiB + 1, &err), 0);
	vhd_io_close(&io);
	query_ok(p, &info);
	assert_int_equal(info.virtual_size, 102 * MiB);
	assert_int_equal(info.max_bat_entries, 64);
	read_path(p, back, sizeof(back), 63 * MiB);
	assert_memory_equal(back, data, sizeof(back));
	write_path(p, data, sizeof(data), 100 * MiB);
	read_path(p, back, sizeof(back), 100 * MiB);
	assert_memory_equal(back, data, sizeof(back));
	unlink(p);
}

/* The same shape made by patching a bigger image's footers. */
static void test_grow_patched_prealloc(void **state)
{
	const char *p = tmp_path("g3.vhd");
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;

	create_file(p, 128 * MiB);
	shrink_footers(p, 64 * MiB);
	query_ok(p, &info);
	assert_int_equal(info.max_bat_entries, 64);
	assert_true(info.has_batmap);
	open_io(&io, p, VHD_IO_RDWR);
	assert_int_equal(vhd_grow(&io, 128 * MiB, &err), 0);
	vhd_io_close(&io);
	query_ok(p, &info);
	assert_int_equal(info.virtual_size, 128 * MiB);
	assert_int_equal(info.phys_size, 3584);
	unlink(p);
}

/* ---- grow beyond the BAT (journaled) ----------------------------------- */

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/*
 * blktap's layout rule (vhd-util check: "block N clobbers headers"): BAT
 * at 1536, and every allocated block's bitmap at or after the end of all
 * metadata (header, BAT, batmap header + map, parent locators), its data
 * 4 KiB aligned, inside the file; the two footers agree.
 */
static void check_blocks_after_metadata(const char *path)
{
	size_t len;
	uint8_t *b = slurp(path, &len);
	const uint8_t *h = b + 512, *ftr = b + len - 512;
	uint64_t bat = be64(h + 16), end, curr = be64(ftr + 48);
	uint32_t max = be32(h + 28), blocks = (uint32_t)((curr + 2 * MiB - 1) / (2 * MiB));

	assert_memory_equal(b, ftr, 512);
	assert_int_equal(bat, 1536);
	assert_true(blocks <= max);
	end = bat + (max * 4ull + 511) / 512 * 512;
	if (memcmp(b + end, "tdbatmap", 8) == 0) {
		uint64_t map_end = be64(b + end + 8) + be32(b + end + 16) * 512ull;

		end = map_end > end + 512 ? map_end : end + 512;
	}
	for (int i = 0; i < 8; i++) {
		const uint8_t *loc = h + 576 + 24 * i;
		uint64_t space = be32(loc + 4), off = be64(loc + 16);

		if (be32(loc) == 0)
			continue;
		space = space < 512 ? space * 512 : space;
		if (off + space > end)
			end = off + space;
	}
	for (uint32_t i = 0; i < blocks; i++) {
		uint32_t e = be32(b + bat + 4 * i);

		if (e == 0xFFFFFFFFu)
			continue;
		if ((uint64_t)e * 512 < end)
			fail_msg("%s: block %u at %llu, before the end of metadata %llu",
				 path, i, (unsigned long long)e * 512, (unsigned long long)end);
		assert_int_equal((e + 1) % 8, 0);
		assert_true((uint64_t)e * 512 + 512 + 2 * MiB <= len - 512);
	}
	free(b);
}

/* Grow with an undo record next to the image; the record ends up empty. */
static void grow_journaled(const char *path, uint64_t size)
{
	struct sm_error err = { 0 };
	struct vhd_io io, undo;
	char up[300];

	snprintf(up, sizeof(up), "%s.undo", path);
	unlink(up);
	open_io(&io, path, VHD_IO_RDWR);
	open_io(&undo, up, VHD_IO_CREATE);
	if (vhd_grow_journaled(&io, size, &undo, &err) != 0)
		fail_msg("grow %s: %s", path, err.detail);
	vhd_io_close(&undo);
	vhd_io_close(&io);
	assert_int_equal(file_size(up), 0);
	unlink(up);
}

/* Blocks 0..n-1 each hold their own byte, plus a tail in the last block. */
static void fill_blocks(const char *path, uint32_t n, uint64_t size)
{
	uint8_t *blk = malloc(2 * MiB);

	assert_non_null(blk);
	for (uint32_t i = 0; i < n; i++) {
		memset(blk, 0x10 + i, 2 * MiB);
		/* Blocks 0 and 2 whole (batmap bit set), the others in part. */
		write_path(path, blk, i % 2 ? MiB + 4096 : 2 * MiB, i * 2 * MiB + (i % 2) * 512);
	}
	memset(blk, 0xEE, 5000);
	write_path(path, blk, 5000, size - 5000);
	free(blk);
}

static void check_blocks(const char *path, uint32_t n, uint64_t size)
{
	uint8_t *blk = malloc(2 * MiB);

	assert_non_null(blk);
	for (uint32_t i = 0; i < n; i++) {
		read_path(path, blk, 2 * MiB, i * 2 * MiB);
		if (i % 2) {
			check_fill(blk, 512, 0);
			check_fill(blk + 512, MiB + 4096, (uint8_t)(0x10 + i));
			check_fill(blk + 512 + MiB + 4096, MiB - 4096 - 512, 0);
		} else {
			check_fill(blk, 2 * MiB, (uint8_t)(0x10 + i));
		}
	}
	read_path(path, blk, 5000, size - 5000);
	check_fill(blk, 5000, 0xEE);
	free(blk);
}

static void test_grow_beyond_bat(void **state)
{
	const char *p = tmp_path("g2.vhd");
	struct vhd_info info;
	uint8_t a[5000], back[5000];
	size_t len;
	uint8_t *buf;

	memset(a, 0xA1, sizeof(a));
	create_file(p, 64 * MiB);
	fill_blocks(p, 6, 64 * MiB);
	query_ok(p, &info);
	assert_int_equal(info.allocated_blocks, 7);

	grow_journaled(p, 1024 * MiB);
	query_ok(p, &info);
	assert_int_equal(info.virtual_size, 1024 * MiB);
	assert_int_equal(info.max_bat_entries, 512);
	assert_int_equal(info.allocated_blocks, 7);
	assert_true(info.has_batmap);
	assert_int_equal(file_size(p), info.phys_size);
	check_blocks_after_metadata(p);
	check_blocks(p, 6, 64 * MiB);
	/* Block 0 was in the way of the larger BAT: it moved. */
	buf = slurp(p, &len);
	assert_true(be32(buf + 1536) * 512ull > 4096);
	/* Batmap: blocks 0, 2, 4 full; checksum over curr_size >> 24 bytes. */
	assert_int_equal(buf[1536 + 2048 + 512], 0xA8);
	free(buf);

	write_path(p, a, sizeof(a), 1000 * MiB + 7);
	read_path(p, back, sizeof(back), 1000 * MiB + 7);
	assert_memory_equal(back, a, sizeof(a));
	read_path(p, back, sizeof(back), 500 * MiB);
	check_fill(back, sizeof(back), 0);

	/* Grow again: more blocks move. */
	grow_journaled(p, 2040 * 1024 * MiB);
	query_ok(p, &info);
	assert_int_equal(info.virtual_size, 2040 * 1024 * MiB);
	assert_int_equal(file_size(p), info.phys_size);
	check_blocks_after_metadata(p);
	check_blocks(p, 6, 64 * MiB);
	read_path(p, back, sizeof(back), 1000 * MiB + 7);
	assert_memory_equal(back, a, sizeof(a));
	unlink(p);
}

/* An empty image: nothing moves, the metadata just gets longer. */
static void test_grow_empty_beyond_bat(void **state)
{
	const char *p = tmp_path("g4.vhd");
	struct vhd_info info;

	create_file(p, 2 * MiB);
	grow_journaled(p, 8 * 1024 * MiB);
	query_ok(p, &info);
	assert_int_equal(info.virtual_size, 8 * 1024 * MiB);
	assert_int_equal(info.allocated_blocks, 0);
	assert_int_equal(info.phys_size, 1536 + 16384 + 512 + 512 + 512);
	assert_int_equal(file_size(p), info.phys_size);
	check_blocks_after_metadata(p);
	unlink(p);
}

static void make_diff(const char *bp, const char *cp)
{
	struct sm_error err = { 0 };
	struct vhd_io pio, cio;

	copy_vector("base.vhd", bp);
	unlink(cp);
	open_io(&pio, bp, VHD_IO_RDONLY);
	open_io(&cio, cp, VHD_IO_CREATE);
	assert_int_equal(vhd_create_diff(&cio, &pio, "./base.vhd", 0, &err), 0);
	vhd_io_close(&cio);
	vhd_io_close(&pio);
}

static void test_grow_diff_keeps_locators(void **state)
{
	const char *bp = tmp_path("base.vhd"), *cp = tmp_path("gd.vhd");
	struct vhd_info before, after;
	uint8_t *buf;
	size_t len;

	make_diff(bp, cp);
	fill_blocks(cp, 4, 64 * MiB);
	query_ok(cp, &before);
	grow_journaled(cp, 4096 * MiB);
	query_ok(cp, &after);
	assert_int_equal(after.type, VHD_TYPE_DIFF);
	assert_int_equal(after.virtual_size, 4096 * MiB);
	assert_string_equal(after.parent_name, before.parent_name);
	assert_string_equal(after.parent_locator, "./base.vhd");
	assert_memory_equal(after.parent_uuid, before.parent_uuid, 16);
	assert_int_equal(after.parent_timestamp, before.parent_timestamp);
	assert_int_equal(after.allocated_blocks, before.allocated_blocks);
	check_blocks_after_metadata(cp);
	check_blocks(cp, 4, 64 * MiB);
	/* Locators follow the batmap: 2048 entries = 8 KiB BAT, 512 map. */
	buf = slurp(cp, &len);
	assert_int_equal(be64(buf + 512 + 576 + 16), 1536 + 8192 + 512 + 512);
	assert_int_equal(be64(buf + 512 + 600 + 16), 1536 + 8192 + 512 + 512 + 512);
	assert_int_equal(be64(buf + 512 + 624 + 16), 1536 + 8192 + 512 + 512 + 1024);
	assert_memory_equal(buf + 1536 + 8192 + 1024, "file://./base.vhd", 17);
	free(buf);
	unlink(cp);
	unlink(bp);
}

/* vhd_grow alone refuses a grow that must move blocks, touching nothing. */
static void test_grow_needs_journal(void **state)
{
	const char *p = tmp_path("g5.vhd");
	struct sm_error err = { 0 };
	struct vhd_io io;
	uint8_t *before, *after;
	size_t bl, al;

	create_file(p, 64 * MiB);
	fill_blocks(p, 3, 64 * MiB);
	before = slurp(p, &bl);
	open_io(&io, p, VHD_IO_RDWR);
	assert_int_equal(vhd_grow(&io, 1024 * MiB, &err), -1);
	assert_int_equal(err.code, SME_VDI_RESIZE);
	assert_non_null(strstr(err.detail, "journaled"));
	sm_error_clear(&err);
	assert_int_equal(vhd_grow_journaled(&io, 1024 * MiB, NULL, &err), -1);
	assert_int_equal(err.code, SME_VDI_RESIZE);
	vhd_io_close(&io);
	after = slurp(p, &al);
	assert_int_equal(al, bl);
	assert_memory_equal(after, before, bl);
	free(before);
	free(after);
	unlink(p);
}

/* An in-memory image with data in blocks 0..n-1 (and the last block). */
static void mem_image(struct vhd_io *io, struct mem *m, size_t dev_len,
		      uint64_t size, uint32_t n)
{
	struct sm_error err = { 0 };
	uint8_t *blk = malloc(2 * MiB);

	assert_non_null(blk);
	mem_io(io, m, NULL, 0);
	if (dev_len) {
		io->is_block = true;
		assert_int_equal(mem_truncate(io, dev_len), 0);
	}
	assert_int_equal(vhd_create_dynamic(io, size, &err), 0);
	for (uint32_t i = 0; i < n; i++) {
		memset(blk, 0x30 + i, 2 * MiB);
		assert_int_equal(vhd_write(io, blk, 2 * MiB - 512 * i, i * 2 * MiB, &err), 0);
	}
	assert_int_equal(vhd_write(io, "end", 3, size - 3, &err), 0);
	free(blk);
}

static void mem_check_data(struct vhd_io *io, uint64_t size, uint32_t n)
{
	struct sm_error err = { 0 };
	uint8_t *blk = malloc(2 * MiB);

	assert_non_null(blk);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(vhd_read(io, blk, 2 * MiB, i * 2 * MiB, &err), 0);
		check_fill(blk, 2 * MiB - 512 * i, (uint8_t)(0x30 + i));
		check_fill(blk + 2 * MiB - 512 * i, 512 * i, 0);
	}
	assert_int_equal(vhd_read(io, blk, 3, size - 3, &err), 0);
	assert_memory_equal(blk, "end", 3);
	free(blk);
}

/* An I/O error part way through: the grow puts the image back itself. */
static void grow_errors_roll_back(size_t dev_len)
{
	struct sm_error err = { 0 };
	struct vhd_io io, undo;
	struct mem m, mu;
	uint8_t *before;
	size_t bl;
	int n;

	mem_image(&io, &m, dev_len, 16 * MiB, 3);
	bl = m.len;
	before = malloc(bl);
	assert_non_null(before);
	memcpy(before, m.buf, bl);
	for (n = 1; n < 100; n++) {
		memcpy(m.buf, before, bl);
		assert_int_equal(mem_truncate(&io, bl), 0);
		memcpy(m.buf, before, bl);
		mem_io(&undo, &mu, NULL, 0);
		m.fail_write = n;
		m.writes = 0;
		sm_error_clear(&err);
		if (vhd_grow_journaled(&io, 1024 * MiB, &undo, &err) == 0) {
			free(mu.buf);
			break;
		}
		assert_int_equal(err.code, SME_VDI_RESIZE);
		assert_int_equal(m.len, bl);
		assert_memory_equal(m.buf, before, bl);
		assert_int_equal(mu.len, 0);        /* record spent */
		free(mu.buf);
	}
	assert_true(n > 3);
	m.fail_write = 0;
	mem_check_data(&io, 16 * MiB, 3);
	free(before);
	free(m.buf);
}

static void test_grow_io_error_rolls_back(void **state)
{
	grow_errors_roll_back(0);
	grow_errors_roll_back(40 * MiB);
}

/*
 * A file system with no room left, as ext4 is once full: bytes already
 * stored can be rewritten, but a sector never written (a hole, read back
 * as zeros) or past the end cannot be.  struct mem comes first, so the
 * mem_* calls work on it.
 */
struct full_fs {
	struct mem m;
	uint8_t *stored;        /* one flag per 512-byte sector: holds data */
	size_t nsect;
	int full_from;          /* from this write on (1-based), nothing new fits */
};

static void full_map_resize(struct full_fs *f, size_t len)
{
	size_t n = (len + 511) / 512;
	uint8_t *map = realloc(f->stored, n ? n : 1);

	assert_non_null(map);
	if (n > f->nsect)
		memset(map + f->nsect, 0, n - f->nsect);
	f->stored = map;
	f->nsect = n;
}

static int full_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	struct full_fs *f = io->priv;
	size_t first = (size_t)(off / 512), end = (size_t)((off + len + 511) / 512);
	int rc;

	if (f->full_from && ++f->m.writes >= f->full_from)
		for (size_t s = first; s < end; s++)
			if (s >= f->nsect || !f->stored[s])
				return -ENOSPC;
	rc = mem_pwrite(io, buf, len, off);
	if (rc == 0) {
		if (end > f->nsect)
			full_map_resize(f, (size_t)(off + len));
		memset(f->stored + first, 1, end - first);
	}
	return rc;
}

static int full_truncate(struct vhd_io *io, uint64_t size)
{
	struct full_fs *f = io->priv;
	int rc = mem_truncate(io, size);

	if (rc == 0) {
		if ((size + 511) / 512 < f->nsect)
			f->nsect = (size_t)((size + 511) / 512);
		full_map_resize(f, (size_t)size);
	}
	return rc;
}

static const struct vhd_io_ops full_ops = {
	.pread = mem_pread,
	.pwrite = full_pwrite,
	.get_size = mem_size,
	.truncate = full_truncate,
	.sync = mem_sync,
};

/* The image of mem_image, its never-written sectors (all zeros) as holes. */
static void full_fs_image(struct vhd_io *io, struct full_fs *f)
{
	f->stored = NULL;
	f->nsect = 0;
	f->full_from = 0;
	mem_image(io, &f->m, 0, 16 * MiB, 3);
	full_map_resize(f, f->m.len);
	for (size_t s = 0; s < f->nsect; s++)
		for (size_t i = s * 512; i < (s + 1) * 512 && i < f->m.len && !f->stored[s]; i++)
			f->stored[s] = f->m.buf[i] != 0;
	io->ops = &full_ops;
	io->priv = f;
}

/*
 * The file system fills up at each write of a grow in turn: the grow is
 * SRNoSpace and puts the image back, byte for byte, without needing a
 * byte of new space (it writes back only what it changed: the zeros it
 * saved from holes stay holes), and the record is spent.
 */
static void test_grow_full_fs_rolls_back(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_io io, undo;
	struct full_fs f;
	struct mem mu;
	uint8_t *before;
	size_t bl;
	int n;

	for (n = 1; n < 200; n++) {
		full_fs_image(&io, &f);
		bl = f.m.len;
		before = malloc(bl);
		assert_non_null(before);
		memcpy(before, f.m.buf, bl);
		mem_io(&undo, &mu, NULL, 0);
		f.full_from = n;
		f.m.writes = 0;
		sm_error_clear(&err);
		if (vhd_grow_journaled(&io, 1024 * MiB, &undo, &err) == 0) {
			free(before);
			free(mu.buf);
			free(f.m.buf);
			free(f.stored);
			break;
		}
		assert_int_equal(err.code, SME_SR_NO_SPACE);
		assert_int_equal(f.m.len, bl);
		assert_memory_equal(f.m.buf, before, bl);
		assert_int_equal(mu.len, 0);        /* record spent */
		f.full_from = 0;
		mem_check_data(&io, 16 * MiB, 3);
		free(before);
		free(mu.buf);
		free(f.m.buf);
		free(f.stored);
	}
	assert_true(n > 3 && n < 200);
}

/* A block device keeps its size and its footer at the end. */
static void test_grow_block_device(void **state)
{
	const char *p = tmp_path("dev.vhd");
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io, undo;
	struct mem m, mu;
	uint8_t *before;

	mem_image(&io, &m, 40 * MiB, 16 * MiB, 3);
	mem_io(&undo, &mu, NULL, 0);
	undo.is_block = true;
	assert_int_equal(mem_truncate(&undo, 64 * MiB), 0);
	assert_int_equal(vhd_grow_journaled(&io, 4096 * MiB, &undo, &err), 0);
	assert_int_equal(m.len, 40 * MiB);
	check_fill(mu.buf, 512, 0);         /* record header zeroed */
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	assert_int_equal(info.virtual_size, 4096 * MiB);
	mem_check_data(&io, 16 * MiB, 3);
	spew(p, m.buf, m.len);
	check_blocks_after_metadata(p);
	unlink(p);
	free(mu.buf);
	free(m.buf);

	/* Too small for the moved blocks: SR_NO_SPACE, nothing written. */
	mem_image(&io, &m, 8 * MiB, 4 * MiB, 2);
	before = malloc(m.len);
	assert_non_null(before);
	memcpy(before, m.buf, m.len);
	mem_io(&undo, &mu, NULL, 0);
	sm_error_clear(&err);
	assert_int_equal(vhd_grow_journaled(&io, 2040 * 1024 * MiB, &undo, &err), -1);
	assert_int_equal(err.code, SME_SR_NO_SPACE);
	assert_memory_equal(m.buf, before, 8 * MiB);
	assert_int_equal(mu.len, 0);
	free(before);
	free(mu.buf);
	free(m.buf);
}

/* ---- crash safety ------------------------------------------------------ */

/* Run the grow in a child that SIGKILLs itself at fault point 'point'. */
static void grow_killed_at(const char *path, const char *undo_path, uint64_t size,
			   const char *point)
{
	int status;
	pid_t pid;

	unlink(undo_path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sm_error err = { 0 };
		struct vhd_io io, undo;

		setenv("CSM_FAULT_POINT", point, 1);
		if (vhd_io_open_file(&io, path, VHD_IO_RDWR, &err) < 0 ||
		    vhd_io_open_file(&undo, undo_path, VHD_IO_CREATE, &err) < 0)
			_exit(2);
		vhd_grow_journaled(&io, size, &undo, &err);
		_exit(3);       /* the fault point was not reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("grow child at %s: status %#x", point, status);
}

static void undo_path_ok(const char *path, const char *undo_path)
{
	struct sm_error err = { 0 };
	struct vhd_io io, undo;

	open_io(&io, path, VHD_IO_RDWR);
	open_io(&undo, undo_path, VHD_IO_RDWR);
	if (vhd_grow_undo(&io, &undo, &err) != 0)
		fail_msg("undo %s: %s", path, err.detail);
	vhd_io_close(&undo);
	vhd_io_close(&io);
}

static void assert_same_file(const char *path, const uint8_t *want, size_t want_len)
{
	size_t len;
	uint8_t *got = slurp(path, &len);

	assert_int_equal(len, want_len);
	assert_memory_equal(got, want, len);
	free(got);
}

static void crash_and_undo(const char *p, const char *point, uint64_t size,
			   uint32_t nblocks)
{
	char up[300];
	size_t bl;
	uint8_t *before = slurp(p, &bl);

	snprintf(up, sizeof(up), "%s.undo", p);
	grow_killed_at(p, up, size, point);
	undo_path_ok(p, up);
	assert_same_file(p, before, bl);
	/* The record is spent: a second undo changes nothing. */
	assert_int_equal(file_size(up), 0);
	undo_path_ok(p, up);
	assert_same_file(p, before, bl);
	free(before);
	/* And the grow can then be done. */
	grow_journaled(p, size);
	check_blocks_after_metadata(p);
	check_blocks(p, nblocks, 64 * MiB);
}

static void test_grow_crash_undo(void **state)
{
#ifdef CSM_TEST_BUILD
	static const char *const points[] = {
		"vhd-grow:undo", "vhd-grow:moved", "vhd-grow:meta",
	};
	const char *bp = tmp_path("base.vhd"), *p = tmp_path("crash.vhd");

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		create_file(p, 64 * MiB);
		fill_blocks(p, 5, 64 * MiB);
		crash_and_undo(p, points[i], 1024 * MiB, 5);
		make_diff(bp, p);
		fill_blocks(p, 3, 64 * MiB);
		crash_and_undo(p, points[i], 2048 * MiB, 3);
	}
	unlink(p);
	unlink(bp);
#else
	skip();
#endif
}

/*
 * A record cut short (a crash while it was written) or damaged is
 * incomplete: undo succeeds without touching the image.
 */
static void test_grow_undo_incomplete(void **state)
{
#ifdef CSM_TEST_BUILD
	const char *p = tmp_path("inc.vhd");
	char up[300], cut[300];
	uint8_t *before, *rec;
	size_t bl, rl;

	snprintf(up, sizeof(up), "%s.undo", p);
	snprintf(cut, sizeof(cut), "%s.cut", p);
	create_file(p, 64 * MiB);
	fill_blocks(p, 3, 64 * MiB);
	before = slurp(p, &bl);
	/* Killed right after the record is synced: the image is untouched. */
	grow_killed_at(p, up, 1024 * MiB, "vhd-grow:undo");
	assert_same_file(p, before, bl);
	rec = slurp(up, &rl);
	assert_true(rl > 512 + 4096);
	assert_memory_equal(rec, "CSMVHDUN", 8);
	{
		const size_t lens[] = { 0, 1, 8, 100, 511, 512, 513, 4096, rl / 2,
					rl - 512, rl - 1 };

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			spew(cut, rec, lens[i]);
			undo_path_ok(p, cut);
			assert_same_file(p, before, bl);
		}
	}
	/* A flipped byte in the saved data or in the header. */
	rec[rl - 700] ^= 0x40;
	spew(cut, rec, rl);
	undo_path_ok(p, cut);
	assert_same_file(p, before, bl);
	rec[rl - 700] ^= 0x40;
	rec[30] ^= 1;
	spew(cut, rec, rl);
	undo_path_ok(p, cut);
	assert_same_file(p, before, bl);
	rec[30] ^= 1;
	/* The whole record puts back the same bytes. */
	spew(cut, rec, rl);
	undo_path_ok(p, cut);
	assert_same_file(p, before, bl);
	free(rec);
	free(before);
	unlink(cut);
	unlink(up);
	unlink(p);
#else
	skip();
#endif
}

static void test_write_layout(void **state)
{
	const char *p = tmp_path("w.vhd");
	struct vhd_info info;
	uint8_t sector[512], *buf;
	size_t len;

	memset(sector, 0x77, sizeof(sector));
	create_file(p, 64 * MiB);
	write_path(p, sector, sizeof(sector), 0);
	write_path(p, sector, sizeof(sector), 2 * MiB);
	buf = slurp(p, &len);
	/* As blktap: block 0 at byte 3584 (data at 4096), block 1 at sector 4111. */
	assert_int_equal(be32(buf + 1536), 7);
	assert_int_equal(be32(buf + 1540), 4111);
	assert_int_equal(len, (4111 + 1 + 4096) * 512ull + 512);
	assert_memory_equal(buf + 4096, sector, 512);
	assert_int_equal(buf[3584], 0x80);         /* bitmap: sector 0 only */
	assert_int_equal(buf[3585], 0);
	assert_memory_equal(buf, buf + len - 512, 512);
	free(buf);
	query_ok(p, &info);
	assert_int_equal(info.allocated_blocks, 2);
	assert_int_equal(info.phys_size, (4111 + 1 + 4096) * 512ull + 512);
	unlink(p);
}

static void test_batmap_full_block(void **state)
{
	const char *p = tmp_path("bm.vhd");
	uint8_t *blk = malloc(2 * MiB), *buf;
	size_t len;
	uint32_t sum = 0;

	assert_non_null(blk);
	memset(blk, 0x3c, 2 * MiB);
	create_file(p, 64 * MiB);
	/* Two halves: the batmap bit is set when the second completes it. */
	write_path(p, blk, MiB, 4 * MiB);
	buf = slurp(p, &len);
	assert_int_equal(buf[2560], 0);
	free(buf);
	write_path(p, blk, MiB, 5 * MiB);
	buf = slurp(p, &len);
	assert_int_equal(buf[2560], 0x20);        /* block 2, MSB first */
	for (int i = 0; i < 512; i++)
		sum += buf[2560 + i];
	assert_int_equal(be32(buf + 2048 + 24), ~sum);
	free(buf);
	read_path(p, blk, 2 * MiB, 4 * MiB);
	check_fill(blk, 2 * MiB, 0x3c);
	free(blk);
	unlink(p);
}

/* Random unaligned writes against a shadow copy. */
static void roundtrip(const char *p, uint64_t size)
{
	uint8_t *shadow = calloc(1, size), *back = malloc(size), *data = malloc(300000);
	unsigned seed = 12345;

	assert_non_null(shadow);
	assert_non_null(back);
	assert_non_null(data);
	for (int round = 0; round < 40; round++) {
		uint64_t off, len;

		seed = seed * 1103515245 + 12345;
		off = (seed >> 3) % size;
		seed = seed * 1103515245 + 12345;
		len = 1 + (seed >> 5) % 300000;
		if (off + len > size)
			len = size - off;
		for (uint64_t i = 0; i < len; i++)
			data[i] = (uint8_t)(round * 31 + i * 7 + 1);
		write_path(p, data, len, off);
		memcpy(shadow + off, data, len);
	}
	/* Edges: the last byte and a write straddling a block boundary. */
	write_path(p, "Z", 1, size - 1);
	shadow[size - 1] = 'Z';
	write_path(p, "cross", 5, 2 * MiB - 2);
	memcpy(shadow + 2 * MiB - 2, "cross", 5);
	read_path(p, back, size, 0);
	assert_memory_equal(back, shadow, size);
	free(shadow);
	free(back);
	free(data);
}

static void test_write_read_unaligned(void **state)
{
	const char *p = tmp_path("u.vhd");
	struct sm_error err = { 0 };
	struct vhd_io io;
	uint8_t x[10];

	create_file(p, 10 * MiB);
	roundtrip(p, 10 * MiB);
	/* Out of range is refused. */
	open_io(&io, p, VHD_IO_RDWR);
	assert_int_equal(vhd_write(&io, x, sizeof(x), 10 * MiB - 5, &err), -1);
	sm_error_clear(&err);
	assert_int_equal(vhd_read(&io, x, sizeof(x), UINT64_MAX - 2, &err), -1);
	vhd_io_close(&io);
	unlink(p);
}

static void test_write_diff(void **state)
{
	const char *bp = tmp_path("base.vhd"), *cp = tmp_path("leafw.vhd");
	struct sm_error err = { 0 };
	struct vhd_io pio, cio;

	copy_vector("base.vhd", bp);
	unlink(cp);
	open_io(&pio, bp, VHD_IO_RDONLY);
	open_io(&cio, cp, VHD_IO_CREATE);
	assert_int_equal(vhd_create_diff(&cio, &pio, "./base.vhd", 0, &err), 0);
	vhd_io_close(&cio);
	vhd_io_close(&pio);
	roundtrip(cp, 64 * MiB);
	unlink(cp);
	unlink(bp);
}

static void expect_load_error(const uint8_t *data, size_t len)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;
	struct mem m;

	mem_io(&io, &m, data, len);
	assert_int_equal(vhd_query(&io, &info, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	free(m.buf);
}

static void test_corrupt_footer(void **state)
{
	size_t len;
	uint8_t *ref = slurp(VEC "dyn-empty-64M.vhd", &len);
	uint8_t *buf = malloc(len);
	struct vhd_info info;
	const char *p = tmp_path("cf.vhd");

	assert_non_null(buf);
	/* Primary broken: the copy at 0 still opens the image, like blktap. */
	memcpy(buf, ref, len);
	buf[len - 512 + 40] ^= 0x01;
	spew(p, buf, len);
	query_ok(p, &info);
	assert_int_equal(info.virtual_size, 64 * MiB);
	/* Both broken: a clean VDILoad. */
	buf[40] ^= 0x01;
	expect_load_error(buf, len);
	/* Every single-byte flip in both footers is caught. */
	for (size_t i = 0; i < 512; i++) {
		memcpy(buf, ref, len);
		buf[i] ^= 0x5a;
		buf[len - 512 + i] ^= 0x5a;
		expect_load_error(buf, len);
	}
	free(buf);
	free(ref);
	unlink(p);
}

static void test_truncated(void **state)
{
	static const char *names[] = {
		"dyn-data-64M.vhd", "leaf.vhd", "qemu-dyn-64M.vhd", "dyn-empty-100G.vhd",
	};

	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		char path[256];
		size_t len;
		uint8_t *buf;

		snprintf(path, sizeof(path), VEC "%s", names[n]);
		buf = slurp(path, &len);
		for (size_t l = 0; l < 8192 && l < len; l += 97)
			probe(buf, l);
		for (size_t l = 0; l < len; l += len / 50 + 1)
			probe(buf, l);
		for (size_t d = 1; d <= 1024 && d < len; d += (d < 16 ? 1 : 13))
			probe(buf, len - d);
		free(buf);
	}
}

static void test_bat_past_eof(void **state)
{
	size_t len;
	uint8_t *buf = slurp(VEC "dyn-data-64M.vhd", &len);

	put32(buf + 1536 + 4 * 3, 0x00100000);             /* far past EOF */
	expect_load_error(buf, len);
	put32(buf + 1536 + 4 * 3, (uint32_t)(len / 512) - 2);  /* block overlaps footer */
	expect_load_error(buf, len);
	put32(buf + 1536 + 4 * 3, 1);                       /* inside the header */
	expect_load_error(buf, len);
	put32(buf + 1536 + 4 * 3, 0xFFFFFFFE);
	expect_load_error(buf, len);
	free(buf);
}

static void test_garbage_header(void **state)
{
	size_t len;
	uint8_t *ref = slurp(VEC "dyn-empty-64M.vhd", &len);
	uint8_t *buf = malloc(len);
	unsigned seed = 7;

	assert_non_null(buf);
	/* Random garbage over the header. */
	memcpy(buf, ref, len);
	for (size_t i = 512; i < 1536; i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (uint8_t)(seed >> 16);
	}
	expect_load_error(buf, len);

	/* Valid checksums but absurd fields. */
	struct { size_t off; int width; uint64_t v; } bad[] = {
		{ 512 + 32, 4, 3 },                 /* block size not a power of 2 */
		{ 512 + 32, 4, 4 * MiB },           /* block size > 2 MiB */
		{ 512 + 28, 4, 16 },                /* max_bat < blocks */
		{ 512 + 28, 4, 0xFFFFFFFF },        /* huge BAT past EOF */
		{ 512 + 16, 8, UINT64_MAX - 100 },  /* BAT offset overflow */
		{ 512 + 24, 4, 0x00020000 },        /* header version */
		{ 512 + 8, 8, 0 },                  /* header data_offset */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(buf, ref, len);
		if (bad[i].width == 4)
			put32(buf + bad[i].off, (uint32_t)bad[i].v);
		else
			put64(buf + bad[i].off, bad[i].v);
		fix_checksum(buf + 512, 1024, 36);
		expect_load_error(buf, len);
	}
	/* Footer fields: type, header offset, huge size. */
	struct { size_t off; int width; uint64_t v; } fbad[] = {
		{ 60, 4, 5 }, { 60, 4, 0 }, { 16, 8, 1ull << 40 }, { 16, 8, 0 },
		{ 48, 8, UINT64_MAX - 5 }, { 48, 8, 1ull << 50 },
	};
	for (size_t i = 0; i < sizeof(fbad) / sizeof(fbad[0]); i++) {
		memcpy(buf, ref, len);
		if (fbad[i].width == 4)
			put32(buf + fbad[i].off, (uint32_t)fbad[i].v);
		else
			put64(buf + fbad[i].off, fbad[i].v);
		fix_checksum(buf, 512, 64);
		memcpy(buf + len - 512, buf, 512);
		expect_load_error(buf, len);
	}
	/* A locator pointing past EOF. */
	{
		size_t ll;
		uint8_t *leaf = slurp(VEC "leaf.vhd", &ll);

		put64(leaf + 512 + 576 + 24 + 16, ll + 4096);
		fix_checksum(leaf + 512, 1024, 36);
		expect_load_error(leaf, ll);
		free(leaf);
	}
	free(buf);
	free(ref);
}

static void test_fixed_disk(void **state)
{
	size_t len = 4 * MiB + 512;
	uint8_t *buf = calloc(1, len), back[16];
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;
	struct mem m;

	assert_non_null(buf);
	memset(buf + 100, 0xEE, 16);
	memcpy(buf + len - 512, "conectix", 8);
	put32(buf + len - 512 + 8, 2);
	put32(buf + len - 512 + 12, 0x00010000);
	put64(buf + len - 512 + 16, UINT64_MAX);
	put64(buf + len - 512 + 40, 4 * MiB);
	put64(buf + len - 512 + 48, 4 * MiB);
	put32(buf + len - 512 + 60, 2);
	fix_checksum(buf + len - 512, 512, 64);
	mem_io(&io, &m, buf, len);
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	assert_int_equal(info.type, VHD_TYPE_FIXED);
	assert_int_equal(info.virtual_size, 4 * MiB);
	assert_int_equal(info.phys_size, len);
	assert_int_equal(vhd_read(&io, back, 16, 100, &err), 0);
	check_fill(back, 16, 0xEE);
	assert_int_equal(vhd_set_hidden(&io, true, &err), 0);
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	assert_true(info.hidden);
	free(m.buf);
	free(buf);
}

static void test_uuid_format(void **state)
{
	const uint8_t u[16] = { 0x1e, 0xf4, 0xfa, 0x6f, 0x29, 0x65, 0x4e, 0x8b,
				0x9d, 0x9b, 0x6d, 0x43, 0x6a, 0x58, 0xdc, 0x1d };
	char out[37];

	vhd_uuid_format(u, out);
	assert_string_equal(out, "1ef4fa6f-2965-4e8b-9d9b-6d436a58dc1d");
}

static int setup(void **state)
{
	snprintf(scratch, sizeof(scratch), "/tmp/test_vhd.XXXXXX");
	return mkdtemp(scratch) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	/* Only our own mkdtemp directory. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_size),
		cmocka_unit_test(test_create_query),
		cmocka_unit_test(test_create_exists),
		cmocka_unit_test(test_create_matches_blktap),
		cmocka_unit_test(test_vectors_open),
		cmocka_unit_test(test_read_dyn_data),
		cmocka_unit_test(test_read_qemu),
		cmocka_unit_test(test_leaf_and_base),
		cmocka_unit_test(test_diff_layout),
		cmocka_unit_test(test_diff_bad_parent),
		cmocka_unit_test(test_set_hidden),
		cmocka_unit_test(test_grow_within_bat),
		cmocka_unit_test(test_grow_patched_prealloc),
		cmocka_unit_test(test_grow_beyond_bat),
		cmocka_unit_test(test_grow_empty_beyond_bat),
		cmocka_unit_test(test_grow_diff_keeps_locators),
		cmocka_unit_test(test_grow_needs_journal),
		cmocka_unit_test(test_grow_crash_undo),
		cmocka_unit_test(test_grow_undo_incomplete),
		cmocka_unit_test(test_grow_io_error_rolls_back),
		cmocka_unit_test(test_grow_full_fs_rolls_back),
		cmocka_unit_test(test_grow_block_device),
		cmocka_unit_test(test_write_layout),
		cmocka_unit_test(test_batmap_full_block),
		cmocka_unit_test(test_write_read_unaligned),
		cmocka_unit_test(test_write_diff),
		cmocka_unit_test(test_corrupt_footer),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bat_past_eof),
		cmocka_unit_test(test_garbage_header),
		cmocka_unit_test(test_fixed_disk),
		cmocka_unit_test(test_uuid_format),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
