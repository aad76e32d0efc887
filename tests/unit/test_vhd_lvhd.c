/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The two VHD primitives LVHD needs beyond plain VHD files, over an
 * in-memory "logical volume" (fixed size, footer at its end, resized only
 * from outside as lvresize does): vhd_set_phys_size (vhd-util modify -s,
 * inflate and deflate) and vhd_create_diff_prealloc (vhd-util snapshot -S).
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

#include "csm/vhd.h"
#include "csm/vhdchain.h"

#define MiB (1024ull * 1024)
#define TWO_TIB (2ull << 40)
/* blktap's calcOverheadEmpty(2 TiB): header, BAT and batmap for 2 TiB. */
#define OVERHEAD_2TIB 4329472ull

/* ---- an LV in memory --------------------------------------------------- */

struct lv {
	uint8_t *buf;
	size_t len;
	bool file;   /* a file: writes extend it, truncate exists */
};

static int lv_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	struct lv *m = io->priv;

	if (off > m->len || len > m->len - off)
		return -EIO;
	memcpy(buf, m->buf + off, len);
	return 0;
}

static int lv_truncate(struct vhd_io *io, uint64_t size)
{
	struct lv *m = io->priv;
	uint8_t *nb = realloc(m->buf, size ? size : 1);

	if (!nb)
		return -ENOMEM;
	if (size > m->len)
		memset(nb + m->len, 0, size - m->len);
	m->buf = nb;
	m->len = size;
	return 0;
}

static int lv_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	struct lv *m = io->priv;

	if (off > m->len || len > m->len - off) {
		if (!m->file)
			return -ENOSPC;   /* a device ends where it ends */
		if (lv_truncate(io, off + len) < 0)
			return -ENOMEM;
	}
	memcpy(m->buf + off, buf, len);
	return 0;
}

static int lv_size(struct vhd_io *io, uint64_t *size)
{
	*size = ((struct lv *)io->priv)->len;
	return 0;
}

static int lv_sync(struct vhd_io *io)
{
	return 0;
}

static const struct vhd_io_ops lv_ops = {
	.pread = lv_pread, .pwrite = lv_pwrite, .get_size = lv_size, .sync = lv_sync,
};
static const struct vhd_io_ops file_ops = {
	.pread = lv_pread, .pwrite = lv_pwrite, .get_size = lv_size, .truncate = lv_truncate,
	.sync = lv_sync,
};

static void lv_open(struct vhd_io *io, struct lv *m, size_t len, bool file)
{
	memset(io, 0, sizeof(*io));
	m->buf = calloc(1, len ? len : 1);
	assert_non_null(m->buf);
	m->len = len;
	m->file = file;
	io->ops = file ? &file_ops : &lv_ops;
	io->is_block = !file;
	io->priv = m;
	snprintf(io->name, sizeof(io->name), "lv");
}

/* lvresize: the new extents hold whatever was on the PV (not zeros). */
static void lvresize(struct lv *m, size_t len)
{
	uint8_t *nb = realloc(m->buf, len);

	assert_non_null(nb);
	if (len > m->len)
		memset(nb + m->len, 0x5a, len - m->len);
	m->buf = nb;
	m->len = len;
}

static uint64_t round4m(uint64_t v)
{
	return (v + 4 * MiB - 1) / (4 * MiB) * (4 * MiB);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

/* A 100 MiB VHD preallocated for 2 TiB in an LV of lv_len, 3 MiB of data at 1000. */
static void make_image(struct vhd_io *io, struct lv *m, size_t lv_len, uint8_t *data)
{
	struct sm_error err = { 0 };

	lv_open(io, m, lv_len, false);
	assert_int_equal(vhd_create_dynamic_prealloc(io, 100 * MiB, TWO_TIB, &err), 0);
	fill(data, 3 * MiB, 7);
	assert_int_equal(vhd_write(io, data, 3 * MiB, 1000, &err), 0);
}

static void assert_sound(struct vhd_io *io, const uint8_t *data)
{
	struct sm_error err = { 0 };
	uint8_t *back = malloc(3 * MiB);

	assert_non_null(back);
	if (vhd_check_io(io, NULL, false, &err) != 0)
		fail_msg("check: %s", err.detail);
	assert_int_equal(vhd_read(io, back, 3 * MiB, 1000, &err), 0);
	assert_memory_equal(back, data, 3 * MiB);
	free(back);
}

/* ---- vhd_set_phys_size -------------------------------------------------- */

/* lvhdutil.inflate then deflate: the footer follows the LV end both ways. */
static void test_inflate_deflate(void **state)
{
	struct sm_error err = { 0 };
	uint8_t *data = malloc(3 * MiB);
	struct vhd_info info;
	struct vhd_io io;
	struct lv m;
	uint64_t phys, small;

	assert_non_null(data);
	make_image(&io, &m, 12 * MiB, data);
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	phys = info.phys_size;
	assert_true(phys > OVERHEAD_2TIB && phys < 12 * MiB);

	/* Inflate: lvresize up (garbage at the new end), then the footer. */
	lvresize(&m, 108 * MiB);
	assert_int_equal(vhd_set_phys_size(&io, 108 * MiB, &err), 0);
	assert_memory_equal(m.buf + 108 * MiB - 512, m.buf, 512);   /* footer = its copy */
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	assert_int_equal(info.phys_size, phys);   /* end of data + 512: unchanged */
	assert_sound(&io, data);

	/* Deflate: the footer first, while the LV is still large, then lvresize down. */
	small = round4m(phys);
	assert_int_equal(vhd_set_phys_size(&io, small, &err), 0);
	assert_memory_equal(m.buf + small - 512, m.buf, 512);
	assert_sound(&io, data);   /* old footer at the old end still valid */
	lvresize(&m, small);
	assert_sound(&io, data);
	free(m.buf);
	free(data);
}

static void test_phys_size_refusals(void **state)
{
	struct sm_error err = { 0 };
	uint8_t *data = malloc(3 * MiB), *before;
	struct vhd_info info;
	struct vhd_io io;
	struct lv m;
	uint64_t phys;

	assert_non_null(data);
	make_image(&io, &m, 16 * MiB, data);
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	phys = info.phys_size;
	before = malloc(m.len);
	assert_non_null(before);
	memcpy(before, m.buf, m.len);

	/* Below the end of data + 512: data would be cut off. */
	assert_int_equal(vhd_set_phys_size(&io, phys - 512, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	assert_int_equal(vhd_set_phys_size(&io, 4 * MiB, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	assert_int_equal(vhd_set_phys_size(&io, 0, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	/* Not whole sectors. */
	assert_int_equal(vhd_set_phys_size(&io, 14 * MiB + 100, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	/* Beyond the device: lvresize first. */
	assert_int_equal(vhd_set_phys_size(&io, 20 * MiB, &err), -1);
	assert_int_equal(err.code, SME_SR_NO_SPACE);
	assert_memory_equal(m.buf, before, m.len);

	/* Exactly end of data + 512 is allowed (vhd-util query -s). */
	sm_error_clear(&err);
	assert_int_equal(vhd_set_phys_size(&io, phys, &err), 0);
	lvresize(&m, phys);
	assert_sound(&io, data);
	free(before);
	free(m.buf);
	free(data);
}

/* A fixed disk has its footer at the end of its data: nothing to move. */
static void test_phys_size_fixed(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_io io, img;
	struct lv m, mi;
	uint8_t footer[512];

	/* Borrow a footer from a dynamic image, make it a fixed disk of 1 MiB. */
	lv_open(&img, &mi, 8 * MiB, false);
	assert_int_equal(vhd_create_dynamic(&img, 2 * MiB, &err), 0);
	memcpy(footer, mi.buf, 512);
	footer[63] = 2;                               /* type fixed */
	memset(footer + 16, 0xff, 8);                 /* data offset none */
	memset(footer + 40, 0, 16);
	footer[45] = 0x10;                            /* orig = 1 MiB */
	footer[53] = 0x10;                            /* curr = 1 MiB */
	{
		uint32_t sum = 0;

		memset(footer + 64, 0, 4);
		for (int i = 0; i < 512; i++)
			sum += footer[i];
		sum = ~sum;
		footer[64] = (uint8_t)(sum >> 24);
		footer[65] = (uint8_t)(sum >> 16);
		footer[66] = (uint8_t)(sum >> 8);
		footer[67] = (uint8_t)sum;
	}
	lv_open(&io, &m, MiB + 512, false);
	memcpy(m.buf + MiB, footer, 512);
	assert_int_equal(vhd_set_phys_size(&io, MiB + 512, &err), -1);
	assert_int_equal(err.code, SME_VDI_RESIZE);
	free(m.buf);
	free(mi.buf);
}

/* On a file the file is cut (or extended) at the new size. */
static void test_phys_size_file(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;
	struct lv m;
	uint64_t phys;

	lv_open(&io, &m, 0, true);
	assert_int_equal(vhd_create_dynamic(&io, 10 * MiB, &err), 0);
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	phys = info.phys_size;
	assert_int_equal(m.len, phys);
	assert_int_equal(vhd_set_phys_size(&io, phys + MiB, &err), 0);
	assert_int_equal(m.len, phys + MiB);
	assert_int_equal(vhd_check_io(&io, NULL, false, &err), 0);
	assert_int_equal(vhd_set_phys_size(&io, phys, &err), 0);
	assert_int_equal(m.len, phys);
	assert_int_equal(vhd_check_io(&io, NULL, false, &err), 0);
	free(m.buf);
}

/* ---- vhd_create_diff_prealloc ------------------------------------------- */

static void test_diff_prealloc(void **state)
{
	static const char loc[] = "./VG_XenStorage--3f1c0d9e--5d2a-VHD--cccccccc--0000";
	struct sm_error err = { 0 };
	uint8_t *data = malloc(3 * MiB), *back = malloc(3 * MiB);
	struct vhd_io parent, child;
	struct vhd_info info;
	struct lv mp, mc;

	assert_non_null(data);
	assert_non_null(back);
	make_image(&parent, &mp, 12 * MiB, data);
	lv_open(&child, &mc, 8 * MiB, false);
	assert_int_equal(vhd_create_diff_prealloc(&child, &parent, loc, 0, TWO_TIB, &err), 0);
	assert_int_equal(vhd_query(&child, &info, &err), 0);
	assert_int_equal(info.type, VHD_TYPE_DIFF);
	assert_int_equal(info.virtual_size, 100 * MiB);
	assert_int_equal(info.max_bat_entries, TWO_TIB / (2 * MiB));
	/* calcOverheadEmpty(2 TiB) plus the three locators: what LVHD's 8 MiB thin LV holds. */
	assert_int_equal(info.phys_size, OVERHEAD_2TIB);
	assert_string_equal(info.parent_locator, loc);
	assert_string_equal(info.parent_name, loc + 2);
	assert_int_equal(vhd_check_io(&child, NULL, false, &err), 0);

	/* The BAT has room: a resize to 1 TiB rewrites the footers only. */
	assert_int_equal(vhd_grow(&child, 1024ull * 1024 * MiB, &err), 0);
	assert_int_equal(vhd_query(&child, &info, &err), 0);
	assert_int_equal(info.virtual_size, 1024ull * 1024 * MiB);
	assert_int_equal(vhd_check_io(&child, NULL, false, &err), 0);
	free(mc.buf);

	/* max_size below the size, or above 2 TiB, is refused. */
	lv_open(&child, &mc, 8 * MiB, false);
	assert_int_equal(vhd_create_diff_prealloc(&child, &parent, loc, 0, 10 * MiB, &err), -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	assert_int_equal(vhd_create_diff_prealloc(&child, &parent, loc, 0, TWO_TIB + 2 * MiB, &err),
			 -1);
	assert_int_equal(err.code, SME_VDI_SIZE);
	sm_error_clear(&err);
	assert_int_equal(vhd_create_diff_prealloc(&child, &parent, "", 0, TWO_TIB, &err), -1);
	assert_int_equal(err.code, SME_VDI_CREATE);
	/* A device too small for 2 TiB of BAT. */
	free(mc.buf);
	sm_error_clear(&err);
	lv_open(&child, &mc, 4 * MiB, false);
	assert_int_equal(vhd_create_diff_prealloc(&child, &parent, loc, 0, TWO_TIB, &err), -1);
	assert_int_equal(err.code, SME_VDI_CREATE);
	free(mc.buf);
	free(mp.buf);
	free(data);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_deflate),
		cmocka_unit_test(test_phys_size_refusals),
		cmocka_unit_test(test_phys_size_fixed),
		cmocka_unit_test(test_phys_size_file),
		cmocka_unit_test(test_diff_prealloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
