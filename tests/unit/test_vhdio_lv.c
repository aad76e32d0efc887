/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * vhd_io over an extent map (lib/vhdio_lv.c), with regular files standing
 * in for PVs: O_DIRECT works on them, and a file counts as 4 KiB-aligned,
 * so every transfer the VHD code makes (512-byte sectors, odd offsets)
 * goes through the bounce buffer and the read-modify-write of partly
 * covered blocks.  Random transfers are compared with a model of the LV;
 * the bytes of the "PVs" outside the LV's extents must never change.
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
#include <unistd.h>

#include <cmocka.h>

#include "csm/vhd.h"
#include "csm/vhdchain.h"
#include "csm/vhdio.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define PV_LEN (8 * MiB)

static char scratch[] = "/var/tmp/csm-vhdio-lv.XXXXXX";
static char pv_a[64], pv_b[64];

static uint8_t pattern(const char *which, uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 12) + which[strlen(which) - 1]);
}

static void make_pv(const char *path)
{
	uint8_t *buf = malloc(PV_LEN);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_non_null(buf);
	assert_true(fd >= 0);
	for (uint64_t i = 0; i < PV_LEN; i++)
		buf[i] = pattern(path, i);
	assert_int_equal(write(fd, buf, PV_LEN), (ssize_t)PV_LEN);
	close(fd);
	free(buf);
}

static uint8_t *slurp_pv(const char *path)
{
	uint8_t *buf = malloc(PV_LEN);
	int fd = open(path, O_RDONLY);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, PV_LEN, 0), (ssize_t)PV_LEN);
	close(fd);
	return buf;
}

static int setup(void **state)
{
	if (!mkdtemp(scratch))
		return -1;
	snprintf(pv_a, sizeof(pv_a), "%s/pva", scratch);
	snprintf(pv_b, sizeof(pv_b), "%s/pvb", scratch);
	return 0;
}

static int teardown(void **state)
{
	unlink(pv_a);
	unlink(pv_b);
	return rmdir(scratch);
}

/* Three extents, out of order and on two "PVs", 2.25 MiB in all. */
static struct vhd_io_extent map[3];

static void fresh_pvs(void)
{
	make_pv(pv_a);
	make_pv(pv_b);
	map[0] = (struct vhd_io_extent){ .dev = pv_b, .dev_off = 4 * MiB, .len = MiB };
	map[1] = (struct vhd_io_extent){ .dev = pv_a, .dev_off = 1 * MiB, .len = MiB + 256 * KiB };
	map[2] = (struct vhd_io_extent){ .dev = pv_b, .dev_off = 512 * KiB, .len = 0 };
}

static uint64_t map_len(size_t n)
{
	uint64_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += map[i].len;
	return len;
}

/* The model's bytes back on the PVs, and the PVs untouched elsewhere. */
static void check_pvs(const uint8_t *model, size_t n)
{
	uint8_t *a = slurp_pv(pv_a), *b = slurp_pv(pv_b);
	uint64_t lv = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t *pv = map[i].dev == pv_a ? a : b;

		assert_memory_equal(pv + map[i].dev_off, model + lv, map[i].len);
		/* Mark what the LV owns, so the rest can be compared with the pattern. */
		for (uint64_t j = 0; j < map[i].len; j++)
			pv[map[i].dev_off + j] = pattern(map[i].dev, map[i].dev_off + j);
		lv += map[i].len;
	}
	for (uint64_t j = 0; j < PV_LEN; j++) {
		if (a[j] != pattern(pv_a, j) || b[j] != pattern(pv_b, j))
			fail_msg("a PV byte outside the LV changed at %llu", (unsigned long long)j);
	}
	free(a);
	free(b);
}

static void test_random_transfers(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	uint64_t size, len;
	uint8_t *model, *buf;

	fresh_pvs();
	map[2].len = 192 * KiB;
	len = map_len(3);
	assert_int_equal(vhd_io_open_extents(&io, "VHD-x", map, 3, VHD_IO_RDWR, &err), 0);
	assert_true(io.is_block);
	assert_null(io.ops->truncate);
	assert_int_equal(io.ops->get_size(&io, &size), 0);
	assert_int_equal(size, len);
	model = malloc(len);
	buf = malloc(len);
	assert_non_null(model);
	assert_non_null(buf);
	/* The model starts as what the PVs hold. */
	assert_int_equal(io.ops->pread(&io, model, len, 0), 0);
	for (uint64_t i = 0, lv = 0; i < 3; lv += map[i].len, i++)
		for (uint64_t j = 0; j < map[i].len; j++)
			assert_int_equal(model[lv + j], pattern(map[i].dev, map[i].dev_off + j));
	srand(42);
	for (int round = 0; round < 400; round++) {
		uint64_t off = (uint64_t)rand() % len;
		uint64_t n = 1 + (uint64_t)rand() % (round % 10 == 0 ? 1536 * KiB : 9000);

		if (n > len - off)
			n = len - off;
		if (rand() % 2) {
			for (uint64_t j = 0; j < n; j++)
				buf[j] = (uint8_t)rand();
			assert_int_equal(io.ops->pwrite(&io, buf, n, off), 0);
			memcpy(model + off, buf, n);
		} else {
			assert_int_equal(io.ops->pread(&io, buf, n, off), 0);
			if (memcmp(buf, model + off, n) != 0)
				fail_msg("round %d: read of %llu at %llu differs", round,
					 (unsigned long long)n, (unsigned long long)off);
		}
	}
	assert_int_equal(io.ops->sync(&io), 0);
	vhd_io_close(&io);
	check_pvs(model, 3);
	free(model);
	free(buf);
}

static void test_bounds(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	uint8_t buf[1024] = { 0 };

	fresh_pvs();
	assert_int_equal(vhd_io_open_extents(&io, "VHD-x", map, 2, VHD_IO_RDWR, &err), 0);
	assert_int_equal(io.ops->pread(&io, buf, 1024, map_len(2) - 1000), -EIO);
	assert_int_equal(io.ops->pwrite(&io, buf, 1024, map_len(2) - 1000), -ENOSPC);
	assert_int_equal(io.ops->pwrite(&io, buf, 1, UINT64_MAX), -ENOSPC);
	assert_int_equal(io.ops->pread(&io, buf, 1000, map_len(2) - 1000), 0);
	vhd_io_close(&io);
	check_pvs(NULL, 0);

	/* Read-only: a write fails and changes nothing. */
	assert_int_equal(vhd_io_open_extents(&io, "VHD-x", map, 2, VHD_IO_RDONLY, &err), 0);
	assert_true(io.ops->pwrite(&io, buf, 512, 0) < 0);
	vhd_io_close(&io);
	check_pvs(NULL, 0);
}

static void test_refusals(void **state)
{
	struct vhd_io_extent bad[2] = { { .dev = pv_a, .dev_off = 0, .len = MiB } };
	struct sm_error err = { 0 };
	struct vhd_io io;

	fresh_pvs();
	assert_int_equal(vhd_io_open_extents(&io, "x", bad, 1, VHD_IO_CREATE, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	sm_error_clear(&err);
	assert_int_equal(vhd_io_open_extents(&io, "x", bad, 0, VHD_IO_RDONLY, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	/* A block shared with a neighbour: a read-modify-write would touch it. */
	sm_error_clear(&err);
	bad[0].dev_off = 1000;
	assert_int_equal(vhd_io_open_extents(&io, "x", bad, 1, VHD_IO_RDWR, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	sm_error_clear(&err);
	bad[0].dev_off = 0;
	bad[0].len = 4096 + 512;
	assert_int_equal(vhd_io_open_extents(&io, "x", bad, 1, VHD_IO_RDWR, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	sm_error_clear(&err);
	bad[0].len = MiB;
	bad[1] = (struct vhd_io_extent){ .dev = "/nonexistent/pv", .dev_off = 0, .len = MiB };
	assert_int_equal(vhd_io_open_extents(&io, "x", bad, 2, VHD_IO_RDWR, &err), -1);
	assert_int_equal(err.code, SME_VDI_MISSING);
	sm_error_clear(&err);
	bad[1] = (struct vhd_io_extent){ .dev = pv_b, .dev_off = 0, .len = 0 };
	assert_int_equal(vhd_io_open_extents(&io, "x", bad, 2, VHD_IO_RDWR, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	/* The device-node backend takes block devices only. */
	sm_error_clear(&err);
	assert_int_equal(vhd_io_open_direct(&io, pv_a, VHD_IO_RDONLY, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
	assert_non_null(strstr(err.detail, "not a block device"));
	sm_error_clear(&err);
	assert_int_equal(vhd_io_open_direct(&io, "/dev/null", VHD_IO_RDONLY, &err), -1);
	assert_int_equal(err.code, SME_VDI_LOAD);
}

/* The VHD library on top: an LVHD image whose metadata straddles extents. */
static void test_vhd_on_extents(void **state)
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	struct vhd_info info;
	uint8_t *data = malloc(300 * KiB), *back = malloc(300 * KiB);

	assert_non_null(data);
	assert_non_null(back);
	fresh_pvs();
	/* 4329472 bytes of 2 TiB BAT and batmap, then a 2 MiB block: 7 MiB over three extents. */
	map[0].len = 3 * MiB;
	map[0].dev_off = 4 * MiB;
	map[1].len = 3 * MiB;
	map[2].len = MiB;
	map[2].dev_off = 0;
	assert_int_equal(vhd_io_open_extents(&io, "VHD-y", map, 3, VHD_IO_RDWR, &err), 0);
	assert_int_equal(vhd_create_dynamic_prealloc(&io, 100 * MiB, 2ull << 40, &err), 0);
	for (size_t i = 0; i < 300 * KiB; i++)
		data[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(vhd_write(&io, data, 300 * KiB, 777, &err), 0);
	assert_int_equal(vhd_read(&io, back, 300 * KiB, 777, &err), 0);
	assert_memory_equal(back, data, 300 * KiB);
	assert_int_equal(vhd_set_hidden(&io, true, &err), 0);
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	assert_true(info.hidden);
	assert_int_equal(info.max_bat_entries, 1048576);
	if (vhd_check_io(&io, NULL, false, &err) != 0)
		fail_msg("check: %s", err.detail);
	vhd_io_close(&io);
	free(data);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_transfers),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_vhd_on_extents),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
