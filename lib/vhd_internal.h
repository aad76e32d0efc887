/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Internals of the VHD library shared by lib/vhd.c (single images) and
 * lib/vhdchain.c (chains, coalesce, check).  Not installed: the public
 * interfaces are include/csm/vhd.h and include/csm/vhdchain.h.
 */
#ifndef CSM_VHD_INTERNAL_H
#define CSM_VHD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"
#include "csm/vhdio.h"

#define SECTOR            512u
#define FOOTER_SIZE       512u
#define HEADER_SIZE       1024u
#define BAT_UNUSED        0xFFFFFFFFu
#define VHD_EPOCH         946684800ll     /* 2000-01-01 00:00:00 UTC */
#define TAP_VERSION       0x00010003u
#define BATMAP_VERSION    0x00010002u
#define NUM_LOCATORS      8

/* Footer field offsets. */
#define F_COOKIE          0
#define F_FEATURES        8
#define F_FF_VERSION      12
#define F_DATA_OFFSET     16
#define F_TIMESTAMP       24
#define F_CRTR_APP        28
#define F_CRTR_VER        32
#define F_CRTR_OS         36
#define F_ORIG_SIZE       40
#define F_CURR_SIZE       48
#define F_GEOMETRY        56
#define F_TYPE            60
#define F_CHECKSUM        64
#define F_UUID            68
#define F_HIDDEN          85

/* Dynamic header field offsets. */
#define H_COOKIE          0
#define H_DATA_OFFSET     8
#define H_TABLE_OFFSET    16
#define H_VERSION         24
#define H_MAX_BAT         28
#define H_BLOCK_SIZE      32
#define H_CHECKSUM        36
#define H_PRT_UUID        40
#define H_PRT_TS          56
#define H_PRT_NAME        64
#define H_PRT_NAME_LEN    512
#define H_LOCATORS        576
#define LOC_SIZE          24

/* Batmap header field offsets. */
#define B_COOKIE          0
#define B_OFFSET          8
#define B_SIZE            16
#define B_VERSION         20
#define B_CHECKSUM        24

/* Parent locator platform codes. */
#define PLAT_MACX         0x4D616358u
#define PLAT_W2KU         0x57326B75u
#define PLAT_W2RU         0x57327275u

/* Everything one call needs to know about an image, validated. */
struct vhd_ctx {
	struct vhd_io *io;
	uint64_t size;          /* io size */
	uint64_t limit;         /* metadata and blocks must end before this */
	bool backup_footer;     /* primary footer was bad, copy at 0 used */
	uint8_t ftr[FOOTER_SIZE];
	uint8_t hdr[HEADER_SIZE];
	uint32_t type;
	uint64_t curr_size;
	uint64_t hdr_off;
	uint64_t bat_off;
	uint64_t bat_bytes;     /* on disk, padded to a sector */
	uint8_t *bat;           /* raw big-endian BAT as on disk */
	uint32_t max_bat;
	uint32_t blocks;
	uint32_t block_size;
	uint32_t spb;           /* sectors per block */
	uint32_t bm_secs;       /* sectors of per-block bitmap */
	bool batmap_found;      /* "tdbatmap" header is there (layout) */
	bool has_batmap;        /* ... and its map is trustworthy */
	uint64_t bmh_off;
	uint8_t bmh[SECTOR];
	uint64_t batmap_off;
	uint32_t batmap_secs;
	uint8_t *batmap;
	uint64_t hdrs_end;      /* end of header, BAT, batmap, locators */
	uint64_t eod;           /* end of data: where the next block goes */
};

/* ---- byte helpers ---------------------------------------------------- */

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* One's complement of the byte sum, the checksum field counted as zero. */
static inline uint32_t checksum(const uint8_t *buf, size_t len, size_t csum_off)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++)
		if (i < csum_off || i >= csum_off + 4)
			sum += buf[i];
	return ~sum;
}

/* The batmap checksum has no field inside the summed bytes. */
static inline uint32_t checksum_plain(const uint8_t *buf, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += buf[i];
	return ~sum;
}

static inline uint64_t pad_sector(uint64_t bytes)
{
	return (bytes + SECTOR - 1) / SECTOR * SECTOR;
}

/* blktap's secs_round_up_no_zero in bytes: never less than one sector. */
static inline uint64_t pad_sector_no_zero(uint64_t bytes)
{
	return bytes ? pad_sector(bytes) : SECTOR;
}

static inline bool test_bit(const uint8_t *map, uint64_t n)
{
	return map[n >> 3] & (0x80 >> (n & 7));
}

static inline void set_bit(uint8_t *map, uint64_t n)
{
	map[n >> 3] |= (uint8_t)(0x80 >> (n & 7));
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* [off, off+len) lies inside [0, limit), with no overflow. */
static inline bool range_ok(uint64_t off, uint64_t len, uint64_t limit)
{
	return off <= limit && len <= limit - off;
}


static inline uint32_t bat_get(const struct vhd_ctx *c, uint32_t blk)
{
	return get_be32(c->bat + (size_t)blk * 4);
}

static inline void bat_set(struct vhd_ctx *c, uint32_t blk, uint32_t v)
{
	put_be32(c->bat + (size_t)blk * 4, v);
}

static inline uint64_t block_bytes(const struct vhd_ctx *c)
{
	return (uint64_t)(c->bm_secs + c->spb) * SECTOR;
}

static inline bool is_tap(const uint8_t *ftr)
{
	return memcmp(ftr + F_CRTR_APP, "tap", 3) == 0;
}


/* Load and validate an image's metadata (footer, header, BAT, batmap). */
int vhd_ctx_load(struct vhd_ctx *c, struct vhd_io *io, struct sm_error *err);
void vhd_ctx_free(struct vhd_ctx *c);

int vhd_ctx_read(struct vhd_ctx *c, void *buf, uint64_t len, uint64_t off,
		 int code, const char *what, struct sm_error *err);
int vhd_ctx_write(struct vhd_ctx *c, const void *buf, uint64_t len,
		  uint64_t off, int code, const char *what, struct sm_error *err);
int vhd_ctx_sync(struct vhd_ctx *c, int code, struct sm_error *err);
int vhd_ctx_zero(struct vhd_ctx *c, uint64_t len, uint64_t off, int code,
		 struct sm_error *err);

/* Footer at EOF-512 (file cut there) and its copy at 0. */
int vhd_ctx_write_footers(struct vhd_ctx *c, int code, struct sm_error *err);
/* Whole batmap and its header (checksum updated). */
int vhd_ctx_write_batmap(struct vhd_ctx *c, int code, struct sm_error *err);
/*
 * For a writer, right after vhd_ctx_load: put right what a killed writer
 * can leave in the footers and the batmap (vhd_repair's first two
 * repairs), so the writes that follow keep a sound image.  ORs
 * VHD_FIXED_* into *fixed (may be NULL).
 */
int vhd_ctx_heal(struct vhd_ctx *c, unsigned *fixed, int code, struct sm_error *err);
/* The BAT sectors holding entries first..last. */
int vhd_ctx_write_bat_range(struct vhd_ctx *c, uint32_t first, uint32_t last,
			    int code, struct sm_error *err);
/* Room for one locator's data when encoding (blktap gives each 512 bytes). */
#define LOC_BUF           4096u
/*
 * rel ("./<name>" or an absolute path) in the encoding of locator entry
 * loc (MACX: "file://" URL; W2KU/W2RU: UTF-16LE, backslashes) into buf,
 * LOC_BUF bytes, zero-padded; *len = the data length.  -1 if it does not
 * fit the entry's data space (or LOC_BUF), or the code is none of these.
 */
int vhd_encode_locator(const uint8_t *loc, const char *rel, uint8_t *buf, uint32_t *len);
/* A MACX/W2KU/W2RU locator as a POSIX path ("" for other codes). */
int vhd_ctx_decode_locator(struct vhd_ctx *c, const uint8_t *loc, char *out,
			   size_t cap, struct sm_error *err);

bool vhd_footer_ok(const uint8_t *f);
/* CHS from the VHD specification, as blktap's vhd_chs(). */
uint32_t vhd_geometry(uint64_t size);
bool vhd_bitmap_full(const struct vhd_ctx *c, const uint8_t *bm);
uint64_t vhd_locator_space(const uint8_t *loc);
uint64_t vhd_batmap_sum_bytes(uint64_t curr_size, uint64_t map_bytes);
uint64_t vhd_batmap_sum_len(const struct vhd_ctx *c);
void vhd_utf16_to_utf8(const uint8_t *in, size_t len, bool big_endian,
		       char *out, size_t cap);
int vhd_utf8_to_utf16(const char *s, bool big_endian, bool backslash,
		      uint8_t *out, size_t cap);

#endif
