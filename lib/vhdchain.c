/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Guest data through a VHD chain, coalesce, re-parent and a full
 * structural check, over the single-image internals of lib/vhd.c.
 *
 * Unlike the single-image calls, an open chain keeps each image's parsed
 * metadata (BAT, batmap) and the bitmap of the block it touched last, so
 * a sequential read or write costs one pread/pwrite per run of sectors
 * that come from the same image.  The chain assumes no one else changes
 * the images while it is open (the caller holds the VDI lock).
 *
 * Write ordering (leaf only).  A write goes into the block's data, then
 * its bitmap; a new block is placed at the end of data with the BAT entry
 * set in memory only.  vhd_chain_flush syncs the data and bitmaps, then
 * writes the dirty BAT sectors, the batmap and the footers, and syncs
 * again: a BAT entry never reaches the disk before the data it names.
 *
 * The footer is kept correct rather than left to lag: allocation does not
 * change a single footer byte, so each new block of a file is followed
 * by a copy of the footer (in the same write when coalesce places a whole
 * block), and the file always ends in a valid primary footer.  A crash
 * before the flush leaves an image that opens and passes `check`; it
 * merely lacks the unflushed blocks (their space is reused next time).
 * Should a crash fall between cutting the file and appending the footer,
 * the copy at offset 0 (never touched by allocation) is what blktap and
 * vhd_ctx_load fall back to.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csm/fault.h"
#include "csm/log.h"
#include "csm/vhdchain.h"
#include "vhd_internal.h"

#define NO_BLOCK        UINT32_MAX
/* Coalesce syncs and commits the parent's BAT this often (and at the end). */
#define FLUSH_EVERY     (128ull * 1024 * 1024)

struct img {
	struct vhd_ctx c;
	uint64_t secs;          /* virtual size in sectors (reads past: absent) */
	uint32_t bm_blk;        /* block whose bitmap is cached, NO_BLOCK if none */
	uint8_t *bm;            /* bm_secs sectors */
	bool bm_dirty;          /* cached bitmap changed, not yet written */
};

struct chain_priv {
	size_t nimg;
	bool writable;
	/* Leaf write batching: */
	uint8_t *bat_dirty;     /* one flag per BAT sector */
	uint32_t dirty_lo, dirty_hi;   /* BAT sector range holding dirty flags */
	bool any_bat_dirty;
	bool batmap_dirty;
	bool footer_dirty;      /* end of data moved: footers go to the new end */
	bool data_dirty;        /* something written since the last sync */
	uint64_t reserved_to;   /* the leaf file's space is reserved up to here */
	uint8_t *zero_sec;      /* one sector of zeros for edges */
	struct img img[];
};

static struct chain_priv *priv_of(struct vhd_chain *ch)
{
	return ch->priv;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- opening ---------------------------------------------------------- */

static void img_free(struct img *im)
{
	vhd_ctx_free(&im->c);
	free(im->bm);
	im->bm = NULL;
}

static void img_init(struct img *im)
{
	memset(im, 0, sizeof(*im));
	im->bm_blk = NO_BLOCK;
}

/* The rest of an image once its metadata is loaded into im->c. */
static int img_ready(struct img *im, struct sm_error *err)
{
	im->secs = im->c.curr_size / SECTOR;
	if (im->c.type == VHD_TYPE_FIXED)
		return 0;
	im->bm = malloc((size_t)im->c.bm_secs * SECTOR);
	if (!im->bm)
		return sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s: bitmap", im->c.io->name);
	return 0;
}

static int img_load(struct img *im, struct vhd_io *io, struct sm_error *err)
{
	img_init(im);
	if (vhd_ctx_load(&im->c, io, err) < 0)
		return -1;
	return img_ready(im, err);
}

/* dirname of path into out ("." when there is no slash). */
static void dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, cap, ".");
	else if (slash == path)
		snprintf(out, cap, "/");
	else
		snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* name relative to the directory of child (absolute names as they are). */
static int join_child_dir(const char *child, const char *name, char *out, size_t cap)
{
	char dir[PATH_MAX];

	if (name[0] == '/')
		return snprintf(out, cap, "%s", name) < (int)cap ? 0 : -1;
	dir_of(child, dir, sizeof(dir));
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	/* A child without a directory part: its parent has none either ("./x" is "x"). */
	if (strcmp(dir, ".") == 0 && child[0] != '.')
		return snprintf(out, cap, "%s", name) < (int)cap ? 0 : -1;
	return snprintf(out, cap, "%s/%s", dir, name) < (int)cap ? 0 : -1;
}

static int check_parent_uuid(const struct vhd_ctx *child, const struct vhd_ctx *parent,
			     const char *child_path, const char *parent_path,
			     struct sm_error *err)
{
	char want[37], got[37];

	if (memcmp(child->hdr + H_PRT_UUID, parent->ftr + F_UUID, 16) == 0)
		return 0;
	vhd_uuid_format(child->hdr + H_PRT_UUID, want);
	vhd_uuid_format(parent->ftr + F_UUID, got);
	return sm_fail(err, SME_VDI_LOAD,
		       "%s: parent %s has uuid %s, the child expects %s",
		       child_path, parent_path, got, want);
}

/* The names a differencing header gives its parent, as paths. */
struct parent_names {
	int n;
	char path[NUM_LOCATORS + 1][PATH_MAX];
};

/*
 * blktap's order: each MACX/W2KU/W2RU locator in slot order, then the
 * header's prt_name (a basename); relative names are joined to the
 * child's directory; a name given twice is tried once.
 */
static int parent_names(struct vhd_ctx *c, const char *child_path, struct parent_names *pn,
			struct sm_error *err)
{
	char name[1024];

	pn->n = 0;
	for (int i = 0; i <= NUM_LOCATORS; i++) {
		char *cand = pn->path[pn->n];
		bool dup = false;

		if (i < NUM_LOCATORS) {
			if (vhd_ctx_decode_locator(c, c->hdr + H_LOCATORS + i * LOC_SIZE,
						   name, sizeof(name), err) < 0)
				return -1;
		} else {
			vhd_utf16_to_utf8(c->hdr + H_PRT_NAME, H_PRT_NAME_LEN, true,
					  name, sizeof(name));
		}
		if (!name[0] || join_child_dir(child_path, name, cand, PATH_MAX) < 0)
			continue;
		for (int j = 0; j < pn->n && !dup; j++)
			dup = strcmp(pn->path[j], cand) == 0;
		if (!dup)
			pn->n++;
	}
	return 0;
}

/*
 * Open and load the parent of the differencing image c (at child_path)
 * into io and pc; its name goes to ppath.
 *
 * blktap opens the first name whose file exists and refuses the chain
 * unless that file's footer uuid is the header's parent uuid.  A
 * re-parenting cut short can leave the names disagreeing with the
 * header for a moment (vhd-util modify -p writes the locators, then the
 * header; vhd_set_parent keeps blktap's first name in step with the
 * header, but not every locator); the GC re-points a child of N at P
 * only after copying N into P, so both files exist and read the same.
 * The header's parent uuid is what identifies the parent: every name
 * is tried in turn and the first whose file carries that uuid wins.  If
 * none does, the error is the one blktap would meet, that of the first
 * name whose file exists (a uuid mismatch, a file that does not load);
 * if none exists, "missing", naming the first.
 */
static int open_parent(const struct vhd_opener *op, struct vhd_ctx *c, const char *child_path,
		       struct vhd_io *io, struct vhd_ctx *pc, char *ppath, size_t cap,
		       struct sm_error *err)
{
	struct parent_names *pn = malloc(sizeof(*pn));
	struct sm_error first = { 0 };
	int rc = -1;

	if (!pn)
		return sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s: parent", child_path);
	if (parent_names(c, child_path, pn, err) < 0)
		goto out;
	for (int i = 0; i < pn->n; i++) {
		struct sm_error e = { 0 };

		memset(io, 0, sizeof(*io));
		if (op->open(op->arg, pn->path[i], VHD_IO_RDONLY, io, &e) < 0) {
			if (e.code != SME_VDI_MISSING && !first.code)
				first = e;
			continue;
		}
		if (vhd_ctx_load(pc, io, &e) == 0 &&
		    check_parent_uuid(c, pc, child_path, pn->path[i], &e) == 0) {
			if (snprintf(ppath, cap, "%s", pn->path[i]) < (int)cap) {
				rc = 0;
				goto out;
			}
			sm_fail(&e, SME_VDI_LOAD, "path too long: %s", pn->path[i]);
		}
		if (!first.code)
			first = e;
		vhd_ctx_free(pc);
		vhd_io_close(io);
	}
	if (first.code)
		sm_fail(err, first.code, "%s", first.detail);
	else if (!pn->n)
		sm_fail(err, SME_VDI_LOAD, "%s: differencing disk names no parent", child_path);
	else
		sm_fail(err, SME_VDI_MISSING, "%s: parent %s missing", child_path, pn->path[0]);
out:
	free(pn);
	return rc;
}

static struct chain_priv *priv_alloc(size_t n, struct sm_error *err)
{
	struct chain_priv *p = calloc(1, sizeof(*p) + n * sizeof(struct img));

	if (!p) {
		sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "chain");
		return NULL;
	}
	p->zero_sec = calloc(1, SECTOR);
	if (!p->zero_sec) {
		free(p);
		sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "chain");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		p->img[i].bm_blk = NO_BLOCK;
	return p;
}

static int prepare_writer(struct chain_priv *p, struct sm_error *err)
{
	struct vhd_ctx *c = &p->img[0].c;
	size_t secs = (size_t)(c->bat_bytes / SECTOR);

	if (c->type == VHD_TYPE_FIXED)
		return 0;
	/* A killed writer's leftovers first, so what we write keeps a sound image. */
	if (vhd_ctx_heal(c, NULL, SME_EIO, err) < 0)
		return -1;
	p->bat_dirty = calloc(secs ? secs : 1, 1);
	if (!p->bat_dirty)
		return sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s: BAT", c->io->name);
	p->dirty_lo = UINT32_MAX;
	return 0;
}

/* Open one image and load it as link 'i' of the chain. */
static int open_link(const struct vhd_opener *op, struct vhd_chain *ch,
		     struct chain_priv *p, size_t i, const char *path, bool rw,
		     struct sm_error *err)
{
	if (snprintf(ch->path[i], sizeof(ch->path[i]), "%s", path) >=
	    (int)sizeof(ch->path[i]))
		return sm_fail(err, SME_VDI_LOAD, "path too long: %s", path);
	if (op->open(op->arg, path, rw ? VHD_IO_RDWR : VHD_IO_RDONLY, &ch->io[i], err) < 0)
		return -1;
	ch->depth = i + 1;
	p->nimg = i + 1;
	return img_load(&p->img[i], &ch->io[i], err);
}

/*
 * Seen already (same file)?  A locator loop must not recurse forever.
 * Another opener's names are compared as strings (resolution normalised them).
 */
static bool in_chain(const struct vhd_opener *op, const struct vhd_chain *ch, size_t n,
		     const char *path)
{
	struct stat a, b;

	if (op != &vhd_opener_local) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(ch->path[i], path) == 0)
				return true;
		return false;
	}
	if (stat(path, &a) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (stat(ch->path[i], &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return true;
	return false;
}

static int chain_open(const struct vhd_opener *op, struct vhd_chain *ch, const char *path,
		      bool writable, bool follow, struct sm_error *err)
{
	struct chain_priv *p;

	memset(ch, 0, sizeof(*ch));
	p = priv_alloc(follow ? VHD_CHAIN_MAX : 1, err);
	if (!p)
		return -1;
	ch->priv = p;
	p->writable = writable;
	if (open_link(op, ch, p, 0, path, writable, err) < 0)
		goto fail;
	while (follow && p->img[ch->depth - 1].c.type == VHD_TYPE_DIFF) {
		size_t i = ch->depth;

		if (i >= VHD_CHAIN_MAX) {
			sm_fail(err, SME_VDI_LOAD, "%s: chain deeper than %d images",
				path, VHD_CHAIN_MAX);
			goto fail;
		}
		img_init(&p->img[i]);
		if (open_parent(op, &p->img[i - 1].c, ch->path[i - 1], &ch->io[i], &p->img[i].c,
				ch->path[i], sizeof(ch->path[i]), err) < 0)
			goto fail;
		ch->depth = i + 1;
		p->nimg = i + 1;
		if (img_ready(&p->img[i], err) < 0)
			goto fail;
		if (in_chain(op, ch, i, ch->path[i])) {
			sm_fail(err, SME_VDI_LOAD, "%s: parent %s is already in the chain (loop)",
				ch->path[i - 1], ch->path[i]);
			goto fail;
		}
	}
	if (writable && prepare_writer(p, err) < 0)
		goto fail;
	return 0;
fail:
	vhd_chain_close(ch);
	return -1;
}

int vhd_chain_open_with(struct vhd_chain *ch, const struct vhd_opener *op, const char *path,
			bool writable, struct sm_error *err)
{
	return chain_open(op, ch, path, writable, true, err);
}

int vhd_chain_open(struct vhd_chain *ch, const char *path, bool writable,
		   struct sm_error *err)
{
	return vhd_chain_open_with(ch, &vhd_opener_local, path, writable, err);
}

/* ---- bitmaps -------------------------------------------------------- */

static int bitmap_store(struct img *im, struct sm_error *err)
{
	struct vhd_ctx *c = &im->c;

	if (!im->bm_dirty)
		return 0;
	if (vhd_ctx_write(c, im->bm, (uint64_t)c->bm_secs * SECTOR,
			  (uint64_t)bat_get(c, im->bm_blk) * SECTOR, SME_EIO,
			  "block bitmap", err) < 0)
		return -1;
	im->bm_dirty = false;
	return 0;
}

/* The bitmap of an allocated block, through the one-block cache. */
static const uint8_t *bitmap_get(struct img *im, uint32_t blk, struct sm_error *err)
{
	struct vhd_ctx *c = &im->c;

	if (im->bm_blk == blk)
		return im->bm;
	if (bitmap_store(im, err) < 0)
		return NULL;
	im->bm_blk = NO_BLOCK;
	if (vhd_ctx_read(c, im->bm, (uint64_t)c->bm_secs * SECTOR,
			 (uint64_t)bat_get(c, blk) * SECTOR, SME_EIO, "block bitmap", err) < 0)
		return NULL;
	im->bm_blk = blk;
	return im->bm;
}

/* Length of the run of bits equal to bit 'from' in [from, end). */
static uint64_t bit_run(const uint8_t *map, uint64_t from, uint64_t end)
{
	bool v = test_bit(map, from);
	uint8_t whole = v ? 0xFF : 0x00;
	uint64_t n = from + 1;

	while (n < end) {
		if ((n & 7) == 0 && n + 8 <= end && map[n >> 3] == whole) {
			n += 8;
			continue;
		}
		if (test_bit(map, n) != v)
			break;
		n++;
	}
	return n - from;
}

/*
 * Does image im hold sector 'sec'?  *run gets how many sectors from sec
 * (at most max) share that answer, all inside one block.
 */
static int img_has(struct img *im, uint64_t sec, uint64_t max, bool *present,
		   uint64_t *run, struct sm_error *err)
{
	struct vhd_ctx *c = &im->c;
	uint64_t blk, bsec, left;
	const uint8_t *bm;

	if (sec >= im->secs) {
		*present = false;
		*run = max;
		return 0;
	}
	max = min_u64(max, im->secs - sec);
	if (c->type == VHD_TYPE_FIXED) {
		*present = true;
		*run = max;
		return 0;
	}
	blk = sec / c->spb;
	bsec = sec % c->spb;
	left = min_u64(max, c->spb - bsec);
	if (bat_get(c, (uint32_t)blk) == BAT_UNUSED) {
		*present = false;
		*run = left;
		return 0;
	}
	if (c->has_batmap && test_bit(c->batmap, blk)) {
		*present = true;
		*run = left;
		return 0;
	}
	bm = bitmap_get(im, (uint32_t)blk, err);
	if (!bm)
		return -1;
	*present = test_bit(bm, bsec);
	*run = bit_run(bm, bsec, bsec + left);
	return 0;
}

/* Byte offset in image im's file of guest sector sec (which it holds). */
static uint64_t img_data_off(const struct img *im, uint64_t sec)
{
	const struct vhd_ctx *c = &im->c;

	if (c->type == VHD_TYPE_FIXED)
		return sec * SECTOR;
	return ((uint64_t)bat_get(c, (uint32_t)(sec / c->spb)) + c->bm_secs +
		sec % c->spb) * SECTOR;
}

/*
 * Which link (from 'first') supplies sector sec, and for how many
 * sectors: the run ends where any link consulted changes its answer.
 * *src = nimg means zeros.
 */
static int resolve(struct chain_priv *p, size_t first, uint64_t sec, uint64_t max,
		   size_t *src, uint64_t *run, struct sm_error *err)
{
	for (size_t i = first; i < p->nimg; i++) {
		bool present;
		uint64_t n;

		if (img_has(&p->img[i], sec, max, &present, &n, err) < 0)
			return -1;
		max = n;
		if (present) {
			*src = i;
			*run = max;
			return 0;
		}
	}
	*src = p->nimg;
	*run = max;
	return 0;
}

/* Guest bytes [off, off+len) from links first.. (one pread per run). */
static int read_from(struct chain_priv *p, size_t first, uint8_t *dst, uint64_t len,
		     uint64_t off, struct sm_error *err)
{
	while (len > 0) {
		uint64_t sec = off / SECTOR, head = off % SECTOR;
		uint64_t want = (head + len + SECTOR - 1) / SECTOR, run, n;
		size_t src;

		if (resolve(p, first, sec, want, &src, &run, err) < 0)
			return -1;
		n = min_u64(run * SECTOR - head, len);
		if (src == p->nimg)
			memset(dst, 0, n);
		else if (vhd_ctx_read(&p->img[src].c, dst, n,
				      img_data_off(&p->img[src], sec) + head,
				      SME_EIO, "block data", err) < 0)
			return -1;
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int check_guest_range(struct vhd_chain *ch, uint64_t len, uint64_t off,
			     struct sm_error *err)
{
	struct chain_priv *p = priv_of(ch);

	if (!p || !p->nimg)
		return sm_fail(err, SME_INVALID_ARG, "VHD chain not open");
	if (!range_ok(off, len, p->img[0].c.curr_size))
		return sm_fail(err, SME_INVALID_ARG,
			       "%s: range %llu+%llu beyond virtual size %llu",
			       ch->path[0], (unsigned long long)off,
			       (unsigned long long)len,
			       (unsigned long long)p->img[0].c.curr_size);
	return 0;
}

int vhd_chain_read(struct vhd_chain *ch, void *buf, uint64_t len, uint64_t off,
		   struct sm_error *err)
{
	if (check_guest_range(ch, len, off, err) < 0)
		return -1;
	return read_from(priv_of(ch), 0, buf, len, off, err);
}

/* ---- writing into the leaf ------------------------------------------ */

static void mark_bat_dirty(struct chain_priv *p, uint32_t blk)
{
	uint32_t s = (uint32_t)((uint64_t)blk * 4 / SECTOR);

	p->bat_dirty[s] = 1;
	p->dirty_lo = s < p->dirty_lo ? s : p->dirty_lo;
	p->dirty_hi = s > p->dirty_hi ? s : p->dirty_hi;
	p->any_bat_dirty = true;
}

/*
 * A file grows to end + footer with the footer at its new end, and what
 * lay between the old end of data and 'end' (the old footer, leftovers
 * of an allocation a crash cut short) becomes zeros.  Every step leaves
 * a valid footer at EOF-512, so a process killed between any two of
 * them leaves an image blktap, this library and `check` accept: the
 * footer goes first (writing past EOF extends the file with a hole that
 * reads as zeros); a file that was longer is cut after the footer is in
 * place; the old bytes are zeroed last.  (Cutting the file back to the
 * end of data first, the obvious way, leaves it without a primary
 * footer until the footer is written.)
 */
static int extend_file(struct vhd_ctx *c, uint64_t end, struct sm_error *err)
{
	uint64_t old = c->size;
	int rc;

	if (vhd_ctx_write(c, c->ftr, FOOTER_SIZE, end, SME_EIO, "footer", err) < 0)
		return -1;
	if (old > end + FOOTER_SIZE) {
		rc = c->io->ops->truncate(c->io, end + FOOTER_SIZE);
		if (rc < 0)
			return sm_fail_errno(err, SME_EIO, -rc, "%s: truncate", c->io->name);
	}
	c->size = end + FOOTER_SIZE;
	if (old > c->eod)
		return vhd_ctx_zero(c, (old < end ? old : end) - c->eod, c->eod, SME_EIO, err);
	return 0;
}

/*
 * A leaf that grows a block at a time has its space reserved RESERVE_AHEAD
 * at a time: the file system then allocates one large extent, not a
 * block's pages at every write that reaches new pages (bench/nbd.sh,
 * seq-write-new: docs/performance.md).  Beyond the end of the file the
 * reservation changes nothing a reader or a crash sees (it reads as the
 * hole it replaces); a failure (a file system without fallocate, no
 * space: the write that follows says so) is ignored.  Closing the chain
 * gives back what was not used (give_back_reserve); a crash leaves at
 * most RESERVE_AHEAD of space held past the end, which nothing reads.
 */
#ifndef RESERVE_AHEAD
#define RESERVE_AHEAD (32ull * 1024 * 1024)
#endif

static void reserve_ahead(struct chain_priv *p, uint64_t need)
{
	struct vhd_ctx *c = &p->img[0].c;

	if (!RESERVE_AHEAD || !c->io->ops->reserve || need <= p->reserved_to)
		return;
	if (c->io->ops->reserve(c->io, c->size, need - c->size + RESERVE_AHEAD) == 0) {
		p->reserved_to = need + RESERVE_AHEAD;
		return;
	}
	/*
	 * Not supported here, or the SR is nearly full: do not ask again,
	 * and let go of any part that was reserved (ext4 can keep some on
	 * ENOSPC), which other VDIs of the SR may need more.
	 */
	if (c->io->ops->unreserve)
		(void)c->io->ops->unreserve(c->io, c->size, need - c->size + RESERVE_AHEAD);
	p->reserved_to = UINT64_MAX;
}

static void give_back_reserve(struct chain_priv *p)
{
	struct vhd_ctx *c = &p->img[0].c;

	if (p->reserved_to == 0 || p->reserved_to == UINT64_MAX || p->reserved_to <= c->size ||
	    !c->io->ops->unreserve)
		return;
	(void)c->io->ops->unreserve(c->io, c->size, p->reserved_to - c->size);
	p->reserved_to = 0;
}

/*
 * Place a new block at the end of data, as blktap: the data part starts
 * on a 4 KiB boundary.  Every byte of the new block must read as zero
 * where its bitmap is clear: a file is extended past it (the hole reads
 * as zeros, no 2 MiB of zeros written); on a block device the block is
 * zeroed unless 'whole' says the caller writes all of it.  Only the
 * in-memory BAT learns of the block here.
 */
static int alloc_block(struct chain_priv *p, uint32_t blk, bool whole,
		       struct sm_error *err)
{
	struct img *im = &p->img[0];
	struct vhd_ctx *c = &im->c;
	uint64_t sec = (c->eod + SECTOR - 1) / SECTOR, end;

	while ((sec + c->bm_secs) % 8)
		sec++;
	end = (sec + c->bm_secs + c->spb) * SECTOR;
	if (sec >= BAT_UNUSED || (c->io->is_block && end > c->size - FOOTER_SIZE))
		return sm_fail(err, SME_SR_NO_SPACE, "%s: no room for block %u",
			       c->io->name, blk);
	if (!c->io->is_block && c->io->ops->truncate) {
		reserve_ahead(p, end + FOOTER_SIZE);
		if (extend_file(c, end, err) < 0)
			return -1;
	} else if (vhd_ctx_zero(c, (whole ? sec * SECTOR : end) - c->eod, c->eod,
				SME_EIO, err) < 0) {
		return -1;
	}
	if (bitmap_store(im, err) < 0)
		return -1;
	bat_set(c, blk, (uint32_t)sec);
	memset(im->bm, 0, (size_t)c->bm_secs * SECTOR);
	im->bm_blk = blk;
	im->bm_dirty = true;
	c->eod = end;
	mark_bat_dirty(p, blk);
	p->footer_dirty = true;
	return 0;
}

static void note_full(struct chain_priv *p, uint32_t blk)
{
	struct vhd_ctx *c = &p->img[0].c;

	if (c->has_batmap && !test_bit(c->batmap, blk) &&
	    vhd_bitmap_full(c, p->img[0].bm)) {
		set_bit(c->batmap, blk);
		p->batmap_dirty = true;
	}
}

/* The leaf's bitmap of blk in the cache, allocating the block if needed. */
static int leaf_block(struct chain_priv *p, uint32_t blk, bool whole,
		      struct sm_error *err)
{
	struct img *im = &p->img[0];

	if (bat_get(&im->c, blk) == BAT_UNUSED)
		return alloc_block(p, blk, whole, err);
	return bitmap_get(im, blk, err) ? 0 : -1;
}

/*
 * Whole sectors [sec, sec+nsec) inside one block of the leaf: data first,
 * the bitmap bits only in the cache (stored when the cache moves on or
 * the call ends).
 */
static int write_secs(struct chain_priv *p, const uint8_t *src, uint64_t sec,
		      uint64_t nsec, struct sm_error *err)
{
	struct img *im = &p->img[0];
	struct vhd_ctx *c = &im->c;
	uint32_t blk = (uint32_t)(sec / c->spb);
	uint64_t bsec = sec % c->spb;

	if (leaf_block(p, blk, bsec == 0 && nsec == c->spb, err) < 0)
		return -1;
	if (vhd_ctx_write(c, src, nsec * SECTOR, img_data_off(im, sec), SME_EIO,
			  "block data", err) < 0)
		return -1;
	p->data_dirty = true;
	for (uint64_t s = bsec; s < bsec + nsec; s++) {
		if (!test_bit(im->bm, s)) {
			set_bit(im->bm, s);
			im->bm_dirty = true;
		}
	}
	note_full(p, blk);
	return 0;
}

/* One partly covered sector: the rest comes from the chain's current view. */
static int write_partial(struct vhd_chain *ch, const uint8_t *src, uint64_t len,
			 uint64_t off, struct sm_error *err)
{
	uint8_t sec[SECTOR];
	uint64_t base = off / SECTOR * SECTOR;

	if (read_from(priv_of(ch), 0, sec, SECTOR, base, err) < 0)
		return -1;
	memcpy(sec + (off - base), src, len);
	return write_secs(priv_of(ch), sec, base / SECTOR, 1, err);
}

static int write_fixed(struct img *im, const void *buf, uint64_t len, uint64_t off,
		       struct sm_error *err)
{
	return vhd_ctx_write(&im->c, buf, len, off, SME_EIO, "data", err);
}

int vhd_chain_write(struct vhd_chain *ch, const void *buf, uint64_t len, uint64_t off,
		    struct sm_error *err)
{
	struct chain_priv *p = priv_of(ch);
	const uint8_t *src = buf;
	struct img *im;
	uint64_t head, n;

	if (check_guest_range(ch, len, off, err) < 0)
		return -1;
	if (!p->writable)
		return sm_fail(err, SME_EIO, "%s: chain opened read-only", ch->path[0]);
	im = &p->img[0];
	if (im->c.type == VHD_TYPE_FIXED) {
		p->data_dirty = true;
		return write_fixed(im, buf, len, off, err);
	}
	head = off % SECTOR;
	if (head && len) {
		n = min_u64(SECTOR - head, len);
		if (write_partial(ch, src, n, off, err) < 0)
			return -1;
		src += n;
		off += n;
		len -= n;
	}
	while (len >= SECTOR) {
		uint64_t sec = off / SECTOR;
		uint64_t nsec = min_u64(len / SECTOR, im->c.spb - sec % im->c.spb);

		if (write_secs(p, src, sec, nsec, err) < 0)
			return -1;
		src += nsec * SECTOR;
		off += nsec * SECTOR;
		len -= nsec * SECTOR;
	}
	if (len && write_partial(ch, src, len, off, err) < 0)
		return -1;
	return bitmap_store(im, err);
}

/* The dirty BAT sectors, one write per contiguous run. */
static int store_bat(struct chain_priv *p, struct sm_error *err)
{
	struct vhd_ctx *c = &p->img[0].c;
	uint32_t s = p->dirty_lo;

	while (p->any_bat_dirty && s <= p->dirty_hi) {
		uint32_t e = s;

		if (!p->bat_dirty[s]) {
			s++;
			continue;
		}
		while (e + 1 <= p->dirty_hi && p->bat_dirty[e + 1])
			e++;
		if (vhd_ctx_write(c, c->bat + (size_t)s * SECTOR,
				  (uint64_t)(e - s + 1) * SECTOR,
				  c->bat_off + (uint64_t)s * SECTOR, SME_EIO, "BAT", err) < 0)
			return -1;
		memset(p->bat_dirty + s, 0, e - s + 1);
		s = e + 1;
	}
	p->any_bat_dirty = false;
	p->dirty_lo = UINT32_MAX;
	p->dirty_hi = 0;
	return 0;
}

/* Commit: data and bitmaps durable, then BAT, batmap, footers, durable. */
static int chain_flush(struct chain_priv *p, struct sm_error *err)
{
	struct img *im = &p->img[0];
	struct vhd_ctx *c = &im->c;

	if (!p->writable)
		return 0;
	if (c->type != VHD_TYPE_FIXED && bitmap_store(im, err) < 0)
		return -1;
	if (!p->data_dirty && !p->any_bat_dirty && !p->batmap_dirty && !p->footer_dirty)
		return 0;
	if (vhd_ctx_sync(c, SME_EIO, err) < 0)
		return -1;
	p->data_dirty = false;
	if (store_bat(p, err) < 0)
		return -1;
	if (p->batmap_dirty && vhd_ctx_write_batmap(c, SME_EIO, err) < 0)
		return -1;
	p->batmap_dirty = false;
	if (p->footer_dirty) {
		if (vhd_ctx_write_footers(c, SME_EIO, err) < 0)
			return -1;
		/* The file was cut after its footer, which drops a reservation past it. */
		if (p->reserved_to != UINT64_MAX)
			p->reserved_to = 0;
	}
	p->footer_dirty = false;
	return vhd_ctx_sync(c, SME_EIO, err);
}

int vhd_chain_flush(struct vhd_chain *ch, struct sm_error *err)
{
	if (!ch->priv)
		return sm_fail(err, SME_INVALID_ARG, "VHD chain not open");
	return chain_flush(priv_of(ch), err);
}

void vhd_chain_close(struct vhd_chain *ch)
{
	struct chain_priv *p = priv_of(ch);
	struct sm_error err = { 0 };

	if (p) {
		/* Best effort: a caller that cares about errors flushes first. */
		if (p->nimg) {
			(void)chain_flush(p, &err);
			give_back_reserve(p);
		}
		for (size_t i = 0; i < p->nimg; i++)
			img_free(&p->img[i]);
		free(p->bat_dirty);
		free(p->zero_sec);
		free(p);
	}
	for (size_t i = 0; i < ch->depth; i++)
		vhd_io_close(&ch->io[i]);
	ch->depth = 0;
	ch->priv = NULL;
}

/* ---- coalesce -------------------------------------------------------- */

struct coalesce {
	struct vhd_chain child, parent;
	struct chain_priv *cp, *pp;
	uint8_t *buf;           /* gap + bitmap headroom, one block of data, a footer */
	uint64_t head;          /* bytes of headroom before the data */
	uint64_t done, total, since_flush;
};

/*
 * A whole block into the parent with one write when the parent lacks
 * it: [gap zeros][bitmap all set][data] straight at the end of data.
 */
static int put_whole_block(struct coalesce *co, uint32_t blk, struct sm_error *err)
{
	struct chain_priv *p = co->pp;
	struct img *im = &p->img[0];
	struct vhd_ctx *c = &im->c;
	uint64_t bm_bytes = (uint64_t)c->bm_secs * SECTOR, start, sec, tail;
	uint8_t *data = co->buf + co->head;

	if (bat_get(c, blk) != BAT_UNUSED) {
		if (leaf_block(p, blk, true, err) < 0 ||
		    vhd_ctx_write(c, data, c->block_size,
				  img_data_off(im, (uint64_t)blk * c->spb), SME_EIO,
				  "block data", err) < 0)
			return -1;
		memset(im->bm, 0xFF, c->spb / 8);
		im->bm_dirty = true;
		note_full(p, blk);
		p->data_dirty = true;
		return bitmap_store(im, err);
	}
	if (bitmap_store(im, err) < 0)
		return -1;
	sec = (c->eod + SECTOR - 1) / SECTOR;
	while ((sec + c->bm_secs) % 8)
		sec++;
	if (sec >= BAT_UNUSED ||
	    (c->io->is_block && (sec + c->bm_secs + c->spb) * SECTOR > c->size - FOOTER_SIZE))
		return sm_fail(err, SME_SR_NO_SPACE, "%s: no room for block %u",
			       c->io->name, blk);
	start = c->eod;
	if (sec * SECTOR - start + bm_bytes > co->head)
		start = sec * SECTOR;       /* odd end of data: zero the rest apart, below */
	memset(data - (sec * SECTOR - start) - bm_bytes, 0, sec * SECTOR - start);
	memset(data - bm_bytes, 0, bm_bytes);
	memset(data - bm_bytes, 0xFF, c->spb / 8);
	/* A file keeps ending in a valid footer: it rides along in the same write. */
	tail = !c->io->is_block && c->io->ops->truncate ? FOOTER_SIZE : 0;
	memcpy(data + c->block_size, c->ftr, FOOTER_SIZE);
	if (vhd_ctx_write(c, data - bm_bytes - (sec * SECTOR - start),
			  (sec * SECTOR - start) + bm_bytes + c->block_size + tail, start,
			  SME_EIO, "block", err) < 0)
		return -1;
	/* After the new footer is in place: the old one is never the last to go. */
	if (vhd_ctx_zero(c, start - c->eod, c->eod, SME_EIO, err) < 0)
		return -1;
	bat_set(c, blk, (uint32_t)sec);
	c->eod = (sec + c->bm_secs + c->spb) * SECTOR;
	if (c->eod + tail > c->size)
		c->size = c->eod + tail;
	mark_bat_dirty(p, blk);
	p->footer_dirty = true;
	p->data_dirty = true;
	if (c->has_batmap) {
		set_bit(c->batmap, blk);
		p->batmap_dirty = true;
	}
	return 0;
}

/* Each run of set bits of a partly filled child block, one read + write. */
static int copy_runs(struct coalesce *co, uint32_t blk, uint64_t *bytes,
		     struct sm_error *err)
{
	struct img *ci = &co->cp->img[0];
	uint64_t first = (uint64_t)blk * ci->c.spb, end = first + ci->c.spb;
	uint64_t sec = first;

	end = min_u64(end, ci->secs);
	*bytes = 0;
	while (sec < end) {
		bool present;
		uint64_t run;

		if (img_has(ci, sec, end - sec, &present, &run, err) < 0)
			return -1;
		if (present) {
			if (vhd_ctx_read(&ci->c, co->buf + co->head, run * SECTOR,
					 img_data_off(ci, sec), SME_EIO, "child data", err) < 0 ||
			    write_secs(co->pp, co->buf + co->head, sec, run, err) < 0)
				return -1;
			*bytes += run * SECTOR;
		}
		sec += run;
	}
	return bitmap_store(&co->pp->img[0], err);
}

static int copy_block(struct coalesce *co, uint32_t blk, uint64_t *bytes,
		      struct sm_error *err)
{
	struct img *ci = &co->cp->img[0];
	struct vhd_ctx *c = &ci->c;
	const uint8_t *bm;
	bool full = c->has_batmap && test_bit(c->batmap, blk);

	if (!full) {
		bm = bitmap_get(ci, blk, err);
		if (!bm)
			return -1;
		full = vhd_bitmap_full(c, bm);
	}
	if (!full || (uint64_t)(blk + 1) * c->spb > ci->secs)
		return copy_runs(co, blk, bytes, err);
	if (vhd_ctx_read(c, co->buf + co->head, c->block_size,
			 img_data_off(ci, (uint64_t)blk * c->spb), SME_EIO,
			 "child block", err) < 0 ||
	    put_whole_block(co, blk, err) < 0)
		return -1;
	*bytes = c->block_size;
	return 0;
}

static void undo_name(const char *parent, char *out, size_t cap)
{
	snprintf(out, cap, "%s.undo", parent);
}

static int opener_remove(const struct vhd_opener *op, const char *path)
{
	if (op->unlink)
		return op->unlink(op->arg, path);
	return unlink(path) < 0 ? -errno : 0;
}

int vhd_grow_with_undo(const struct vhd_opener *op, const char *path, const char *undo_path,
		       uint64_t size, bool *pending, struct sm_error *err)
{
	struct sm_error err2 = { 0 };
	struct vhd_io io = { 0 }, undo = { 0 };
	int rc;

	*pending = false;
	if (op != &vhd_opener_local && !op->unlink)
		return sm_fail(err, SME_VDI_LOAD, "%s: cannot grow it here: its undo record "
			       "could not be removed", path);
	if (op->open(op->arg, path, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	/* Exclusive: an existing record is a grow cut short, to be undone first. */
	if (op->open(op->arg, undo_path, VHD_IO_CREATE, &undo, err) < 0) {
		vhd_io_close(&io);
		return -1;
	}
	/*
	 * The record's name durable before the image changes: its bytes are
	 * synced by vhd_grow_journaled, but a host crash could otherwise keep
	 * the image's new bytes and lose the name, and with it the undo.
	 */
	rc = op->sync_name ? op->sync_name(op->arg, undo_path) : 0;
	if (rc < 0)
		rc = sm_fail_errno(err, SME_VDI_RESIZE, -rc, "cannot sync the name of %s",
				   undo_path);
	else
		rc = vhd_grow_journaled(&io, size, &undo, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = sm_fail_errno(err, SME_EIO, -rc, "cannot sync %s", io.name);
	/* A no-op on an empty or emptied record; else it restores the image. */
	if (rc < 0 && vhd_grow_undo(&io, &undo, &err2) < 0) {
		*pending = true;
		sm_log(LOG_WARNING, "grow of %s: %s stays for recovery: %s", path, undo_path,
		       err2.detail);
	}
	vhd_io_close(&undo);
	vhd_io_close(&io);
	if (!*pending)
		opener_remove(op, undo_path);
	return rc < 0 ? -1 : 0;
}

int vhd_grow_recover(const struct vhd_opener *op, const char *path, const char *undo_path,
		     bool *undone, struct sm_error *err)
{
	struct sm_error e = { 0 };
	struct vhd_io io = { 0 }, undo = { 0 };
	int rc;

	if (undone)
		*undone = false;
	if (op->open(op->arg, undo_path, VHD_IO_RDWR, &undo, &e) < 0) {
		if (e.code == SME_VDI_MISSING)
			return 0;   /* no grow was cut short */
		/* The record is all that can put the image back: never drop it on a guess. */
		sm_fail(err, e.code == SME_SR_NO_SPACE ? e.code : SME_SR_UNAVAILABLE,
			"grow recovery: cannot look at %s (%s)", undo_path, e.detail);
		return -1;
	}
	if (op->open(op->arg, path, VHD_IO_RDWR, &io, &e) < 0) {
		vhd_io_close(&undo);
		if (e.code != SME_VDI_MISSING) {
			sm_fail(err, SME_SR_UNAVAILABLE, "grow recovery: cannot open %s (%s)", path,
				e.detail);
			return -1;
		}
		opener_remove(op, undo_path);   /* the image is gone: nothing to put back */
		return 0;
	}
	rc = vhd_grow_undo(&io, &undo, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = sm_fail_errno(err, SME_EIO, -rc, "cannot sync %s", io.name);
	vhd_io_close(&undo);
	vhd_io_close(&io);
	if (rc < 0)
		return -1;
	opener_remove(op, undo_path);
	if (undone)
		*undone = true;
	return 0;
}

/*
 * The parent must cover the child's virtual size.  Growing beyond the BAT
 * moves blocks, so it runs with an undo record at "<parent>.undo", removed
 * once the grow succeeded.  A caller recovering from a crash must run
 * vhd_grow_recover on a leftover "<parent>.undo" before anything else opens
 * the parent (vhdtool grow-undo does that).
 */
static int grow_parent(const struct vhd_opener *op, const char *parent_path, uint64_t size,
		       struct sm_error *err)
{
	char upath[PATH_MAX + 8];
	bool pending;

	undo_name(parent_path, upath, sizeof(upath));
	return vhd_grow_with_undo(op, parent_path, upath, size, &pending, err);
}

static int coalesce_setup(const struct vhd_opener *op, struct coalesce *co,
			  const char *child_path, const char *parent_path, struct sm_error *err)
{
	struct vhd_ctx *cc, *pc;
	uint64_t bm_bytes;

	if (chain_open(op, &co->child, child_path, false, false, err) < 0)
		return -1;
	co->cp = priv_of(&co->child);
	cc = &co->cp->img[0].c;
	if (cc->type != VHD_TYPE_DIFF)
		return sm_fail(err, SME_VDI_TYPE, "%s: not a differencing disk", child_path);
	if (chain_open(op, &co->parent, parent_path, true, false, err) < 0)
		return -1;
	co->pp = priv_of(&co->parent);
	pc = &co->pp->img[0].c;
	if (check_parent_uuid(cc, pc, child_path, parent_path, err) < 0)
		return -1;
	if (pc->curr_size < cc->curr_size) {
		vhd_chain_close(&co->parent);
		if (grow_parent(op, parent_path, cc->curr_size, err) < 0 ||
		    chain_open(op, &co->parent, parent_path, true, false, err) < 0)
			return -1;
		co->pp = priv_of(&co->parent);
		pc = &co->pp->img[0].c;
	}
	if (pc->type != VHD_TYPE_FIXED && pc->block_size != cc->block_size)
		return sm_fail(err, SME_VDI_LOAD, "%s: block size %u differs from the child's %u",
			       parent_path, pc->block_size, cc->block_size);
	bm_bytes = (uint64_t)(pc->type == VHD_TYPE_FIXED ? 1 : pc->bm_secs) * SECTOR;
	co->head = (bm_bytes + 8 * SECTOR + 4095) / 4096 * 4096;
	if (posix_memalign((void **)&co->buf, 4096,
			   co->head + cc->block_size + FOOTER_SIZE) != 0) {
		co->buf = NULL;
		return sm_fail_errno(err, SME_EIO, ENOMEM, "coalesce buffer");
	}
	for (uint32_t i = 0; i < cc->blocks; i++)
		if (bat_get(cc, i) != BAT_UNUSED)
			co->total += cc->block_size;
	return 0;
}

/* A fixed parent: the child's sectors go to the same offsets. */
static int copy_block_fixed(struct coalesce *co, uint32_t blk, uint64_t *bytes,
			    struct sm_error *err)
{
	struct img *ci = &co->cp->img[0];
	uint64_t first = (uint64_t)blk * ci->c.spb;
	uint64_t end = min_u64(first + ci->c.spb, ci->secs), sec = first;

	*bytes = 0;
	while (sec < end) {
		bool present;
		uint64_t run;

		if (img_has(ci, sec, end - sec, &present, &run, err) < 0)
			return -1;
		if (present) {
			if (vhd_ctx_read(&ci->c, co->buf + co->head, run * SECTOR,
					 img_data_off(ci, sec), SME_EIO, "child data", err) < 0 ||
			    write_fixed(&co->pp->img[0], co->buf + co->head, run * SECTOR,
					sec * SECTOR, err) < 0)
				return -1;
			co->pp->data_dirty = true;
			*bytes += run * SECTOR;
		}
		sec += run;
	}
	return 0;
}

static int coalesce_blocks(struct coalesce *co, uint64_t *copied,
			   vhd_progress_fn progress, void *arg, struct sm_error *err)
{
	struct vhd_ctx *cc = &co->cp->img[0].c;
	struct vhd_io *pio = co->pp->img[0].c.io;
	bool fixed = co->pp->img[0].c.type == VHD_TYPE_FIXED;

	/*
	 * Overlap the disk's work with ours: read the child ahead, and have
	 * the parent's writeback start block by block instead of all at the
	 * sync that must precede the BAT update.
	 */
	if (cc->io->ops->expect_sequential)
		cc->io->ops->expect_sequential(cc->io);
	for (uint32_t blk = 0; blk < cc->blocks; blk++) {
		uint64_t bytes = 0;

		if (bat_get(cc, blk) == BAT_UNUSED)
			continue;
		if ((fixed ? copy_block_fixed(co, blk, &bytes, err)
			   : copy_block(co, blk, &bytes, err)) < 0)
			return -1;
		*copied += bytes;
		co->done += cc->block_size;
		co->since_flush += bytes;
		if (bytes && pio->ops->start_writeback)
			pio->ops->start_writeback(pio);
		if (co->since_flush >= FLUSH_EVERY) {
			if (chain_flush(co->pp, err) < 0)
				return -1;
			co->since_flush = 0;
		}
		sm_fault_point("vhd-coalesce:block");
		if (progress && progress(arg, co->done, co->total) != 0) {
			/* Leave the parent consistent: commit what was copied. */
			if (chain_flush(co->pp, err) < 0)
				return -1;
			return sm_fail(err, SME_SM_GENERAL, "coalesce of %s aborted after %llu bytes",
				       co->child.path[0], (unsigned long long)*copied);
		}
	}
	return chain_flush(co->pp, err);
}

int vhd_coalesce_with(const struct vhd_opener *op, const char *child_path,
		      const char *parent_path, uint64_t *copied, vhd_progress_fn progress,
		      void *arg, struct sm_error *err)
{
	struct coalesce co;
	uint64_t dummy = 0;
	int rc = -1;

	memset(&co, 0, sizeof(co));
	if (!copied)
		copied = &dummy;
	*copied = 0;
	if (coalesce_setup(op, &co, child_path, parent_path, err) < 0)
		goto out;
	if (progress && progress(arg, 0, co.total) != 0) {
		sm_fail(err, SME_SM_GENERAL, "coalesce of %s aborted", child_path);
		goto out;
	}
	rc = coalesce_blocks(&co, copied, progress, arg, err);
out:
	free(co.buf);
	vhd_chain_close(&co.child);
	vhd_chain_close(&co.parent);
	return rc;
}

int vhd_coalesce(const char *child_path, const char *parent_path, uint64_t *copied,
		 vhd_progress_fn progress, void *arg, struct sm_error *err)
{
	return vhd_coalesce_with(&vhd_opener_local, child_path, parent_path, copied,
				 progress, arg, err);
}

/* ---- set parent ------------------------------------------------------ */

/* "./<basename>" for a sibling, else the parent's absolute path. */
static int locator_path(const char *child, const char *parent, char *out, size_t cap,
			struct sm_error *err)
{
	char cdir[PATH_MAX], pdir[PATH_MAX], creal[PATH_MAX], rp[PATH_MAX];
	const char *slash = strrchr(parent, '/');
	const char *base = slash ? slash + 1 : parent;

	dir_of(child, cdir, sizeof(cdir));
	dir_of(parent, pdir, sizeof(pdir));
	if (!*base)
		return sm_fail(err, SME_INVALID_ARG, "bad parent path '%s'", parent);
	if (realpath(cdir, creal) && realpath(pdir, rp) && strcmp(creal, rp) == 0)
		return snprintf(out, cap, "./%s", base) < (int)cap ? 0 :
		       sm_fail(err, SME_INVALID_ARG, "parent path too long");
	if (!realpath(parent, rp))
		return sm_fail_errno(err, SME_VDI_MISSING, errno, "%s", parent);
	return snprintf(out, cap, "%s", rp) < (int)cap ? 0 :
	       sm_fail(err, SME_INVALID_ARG, "parent path too long");
}

/*
 * Another opener's names have no realpath: a parent must be the child's
 * sibling (the only layout file-based SRs use), "./<basename>".
 */
static int locator_path_with(const struct vhd_opener *op, const char *child,
			     const char *parent, char *out, size_t cap, struct sm_error *err)
{
	char cdir[PATH_MAX], pdir[PATH_MAX];
	const char *slash = strrchr(parent, '/');
	const char *base = slash ? slash + 1 : parent;

	if (op == &vhd_opener_local)
		return locator_path(child, parent, out, cap, err);
	dir_of(child, cdir, sizeof(cdir));
	dir_of(parent, pdir, sizeof(pdir));
	if (!*base || strcmp(cdir, pdir) != 0)
		return sm_fail(err, SME_INVALID_ARG, "parent '%s' is not a sibling of '%s'",
			       parent, child);
	return snprintf(out, cap, "./%s", base) < (int)cap ? 0 :
	       sm_fail(err, SME_INVALID_ARG, "parent path too long");
}

/* Locators this library reads and writes (the others are left alone). */
static bool usable_locator(const uint8_t *loc)
{
	uint32_t code = get_be32(loc);

	return code == PLAT_MACX || code == PLAT_W2KU || code == PLAT_W2RU;
}

static uint8_t *loc_entry(uint8_t *hdr, int slot)
{
	return hdr + H_LOCATORS + slot * LOC_SIZE;
}

static int write_header(struct vhd_ctx *c, uint8_t *hdr, struct sm_error *err)
{
	put_be32(hdr + H_CHECKSUM, checksum(hdr, HEADER_SIZE, H_CHECKSUM));
	if (vhd_ctx_write(c, hdr, HEADER_SIZE, c->hdr_off, SME_EIO, "header", err) < 0 ||
	    vhd_ctx_sync(c, SME_EIO, err) < 0)
		return -1;
	memcpy(c->hdr, hdr, HEADER_SIZE);
	return 0;
}

static int write_locator(struct vhd_ctx *c, const uint8_t *hdr, int slot, const uint8_t *bufs,
			 struct sm_error *err)
{
	const uint8_t *loc = hdr + H_LOCATORS + slot * LOC_SIZE;

	return vhd_ctx_write(c, bufs + (size_t)slot * LOC_BUF, vhd_locator_space(loc),
			     get_be64(loc + 16), SME_EIO, "parent locator", err);
}

/*
 * Re-pointing a child is several writes: the locators' data, and the
 * header (parent uuid, name, the locators' lengths).  blktap's tapdisk
 * opens the first locator whose file exists and refuses the chain
 * unless that file's footer uuid is the header's parent uuid; the GC
 * re-points a child of N at P after copying N into P, so both files
 * exist and read the same, and a reader is right as long as the first
 * locator and the header name the same one.  The header write that
 * switches the uuid must therefore switch the first locator too, and
 * the locator table is part of the header.  So, with k >= 2 locators:
 *
 *   1. the data of locators 2..k, naming P (blktap reads locator 1: N);
 *   2. the header: P's uuid and name, new lengths, the table rotated so
 *      the first slot holds locator 2, already naming P; locator 1 moves
 *      last with its old length (commit point);
 *   3. the data of locator 1, naming P;
 *   4. the header with the table in its own order again.
 *
 * Each step is durable before the next.  Killed anywhere, blktap,
 * vhd_chain_open and the drivers' lookups by header name read the same,
 * right, chain.  What `check` sees until step 4 (or 3) is a locator that
 * names another file than the header; vhd_repair puts that right, and
 * the GC, finding the child still under N after a kill before step 2,
 * re-points it again.  A child with one locator has no spare to commit
 * through: data then header, as vhd-util does; vhd_chain_open still
 * reads it right in between, since it tries the header's name too.
 */
static int set_parent_io(struct vhd_ctx *c, struct vhd_io *pio, const char *rel,
			 struct sm_error *err)
{
	uint8_t next[HEADER_SIZE], rot[HEADER_SIZE], *bufs = NULL;
	const char *base = strrchr(rel, '/');
	int slot[NUM_LOCATORS], k = 0;
	struct vhd_ctx pc;
	int64_t mtime = 0;
	int rc = -1;

	memset(&pc, 0, sizeof(pc));
	if (vhd_ctx_load(&pc, pio, err) < 0)
		goto out;
	memcpy(next, c->hdr, HEADER_SIZE);
	memcpy(next + H_PRT_UUID, pc.ftr + F_UUID, 16);
	if (pio->ops->get_mtime && pio->ops->get_mtime(pio, &mtime) < 0)
		mtime = 0;
	put_be32(next + H_PRT_TS, mtime > VHD_EPOCH ? (uint32_t)(mtime - VHD_EPOCH) : 0);
	memset(next + H_PRT_NAME, 0, H_PRT_NAME_LEN);
	base = base ? base + 1 : rel;
	if (vhd_utf8_to_utf16(base, true, false, next + H_PRT_NAME, H_PRT_NAME_LEN) < 0) {
		sm_fail_errno(err, SME_VDI_LOAD, ENAMETOOLONG, "parent name '%s' too long", base);
		goto out;
	}
	/* Every locator encoded before any is written: one that does not fit changes nothing. */
	bufs = calloc(NUM_LOCATORS, LOC_BUF);
	if (!bufs) {
		sm_fail_errno(err, SME_EIO, ENOMEM, "%s: locators", c->io->name);
		goto out;
	}
	for (int i = 0; i < NUM_LOCATORS; i++) {
		uint8_t *loc = loc_entry(next, i);
		uint32_t len;

		if (!usable_locator(loc))
			continue;
		if (vhd_encode_locator(loc, rel, bufs + (size_t)i * LOC_BUF, &len) < 0) {
			sm_fail_errno(err, SME_VDI_LOAD, ENAMETOOLONG,
				      "%s: parent path '%s' does not fit locator %d (%llu bytes)",
				      c->io->name, rel, i,
				      (unsigned long long)vhd_locator_space(loc));
			goto out;
		}
		put_be32(loc + 8, len);
		slot[k++] = i;
	}
	for (int j = k > 1 ? 1 : 0; j < k; j++)
		if (write_locator(c, next, slot[j], bufs, err) < 0)
			goto out;
	if (vhd_ctx_sync(c, SME_EIO, err) < 0)
		goto out;
	sm_fault_point("vhd-set-parent:locators");
	if (k > 1) {
		memcpy(rot, next, HEADER_SIZE);
		for (int j = 0; j < k; j++) {
			int from = slot[(j + 1) % k];

			memcpy(loc_entry(rot, slot[j]),
			       from == slot[0] ? loc_entry(c->hdr, from) : loc_entry(next, from),
			       LOC_SIZE);
		}
		if (write_header(c, rot, err) < 0)
			goto out;
		sm_fault_point("vhd-set-parent:header");
		if (write_locator(c, next, slot[0], bufs, err) < 0 ||
		    vhd_ctx_sync(c, SME_EIO, err) < 0)
			goto out;
		sm_fault_point("vhd-set-parent:first-locator");
	}
	if (write_header(c, next, err) < 0)
		goto out;
	rc = 0;
out:
	free(bufs);
	vhd_ctx_free(&pc);
	return rc;
}

int vhd_set_parent_with(const struct vhd_opener *op, const char *child_path,
			const char *parent_path, struct sm_error *err)
{
	struct vhd_io cio, pio;
	struct vhd_ctx c;
	char rel[PATH_MAX];
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (locator_path_with(op, child_path, parent_path, rel, sizeof(rel), err) < 0)
		return -1;
	if (op->open(op->arg, parent_path, VHD_IO_RDONLY, &pio, err) < 0)
		return -1;
	if (op->open(op->arg, child_path, VHD_IO_RDWR, &cio, err) < 0) {
		vhd_io_close(&pio);
		return -1;
	}
	if (vhd_ctx_load(&c, &cio, err) < 0)
		goto out;
	if (c.type != VHD_TYPE_DIFF) {
		sm_fail(err, SME_VDI_TYPE, "%s: not a differencing disk", child_path);
		goto out;
	}
	rc = set_parent_io(&c, &pio, rel, err);
out:
	vhd_ctx_free(&c);
	vhd_io_close(&cio);
	vhd_io_close(&pio);
	return rc;
}

int vhd_set_parent(const char *child_path, const char *parent_path, struct sm_error *err)
{
	return vhd_set_parent_with(&vhd_opener_local, child_path, parent_path, err);
}

/* ---- check ----------------------------------------------------------- */

struct extent {
	uint64_t start, end;
	uint32_t blk;           /* BAT index, or UINT32_MAX for metadata */
	const char *what;
};

static int cmp_extent(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int bad(struct sm_error *err, const char *name, const char *what)
{
	return sm_fail(err, SME_VDI_LOAD, "%s: %s", name, what);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The primary footer at EOF-512, field by field (blktap's check rules). */
static int check_footer(struct vhd_io *io, uint8_t *ftr, struct sm_error *err)
{
	uint64_t size;
	uint32_t feat, type;
	int rc = io->ops->get_size(io, &size);

	if (rc < 0)
		return sm_fail_errno(err, SME_VDI_LOAD, -rc, "%s: size", io->name);
	if (size < FOOTER_SIZE)
		return bad(err, io->name, "too small for a VHD footer");
	rc = io->ops->pread(io, ftr, FOOTER_SIZE, size - FOOTER_SIZE);
	if (rc < 0)
		return sm_fail_errno(err, SME_VDI_LOAD, -rc, "%s: reading the footer", io->name);
	if (memcmp(ftr + F_COOKIE, "conectix", 8) != 0)
		return bad(err, io->name, "primary footer: bad cookie");
	if (!vhd_footer_ok(ftr))
		return bad(err, io->name, "primary footer: bad checksum");
	feat = get_be32(ftr + F_FEATURES);
	if (!(feat & 2) || (feat & ~3u))
		return bad(err, io->name, "primary footer: bad features");
	if (get_be32(ftr + F_FF_VERSION) != 0x00010000)
		return bad(err, io->name, "primary footer: bad file format version");
	type = get_be32(ftr + F_TYPE);
	if (type != VHD_TYPE_FIXED && type != VHD_TYPE_DYNAMIC && type != VHD_TYPE_DIFF)
		return bad(err, io->name, "primary footer: bad disk type");
	if (type == VHD_TYPE_FIXED && get_be64(ftr + F_DATA_OFFSET) != UINT64_MAX)
		return bad(err, io->name, "primary footer: fixed disk with a data offset");
	if (ftr[84] > 1 || ftr[F_HIDDEN] > 1)
		return bad(err, io->name, "primary footer: saved/hidden flag not 0 or 1");
	if (!all_zero(ftr + 86, FOOTER_SIZE - 86))
		return bad(err, io->name, "primary footer: reserved bytes not zero");
	if (all_zero(ftr + F_UUID, 16))
		return bad(err, io->name, "primary footer: null uuid");
	if (vhd_geometry(get_be64(ftr + F_CURR_SIZE)) < get_be32(ftr + F_GEOMETRY))
		return bad(err, io->name, "primary footer: geometry too large");
	/* blktap allows half an hour of clock skew (TIMESTAMP_MAX_SLACK). */
	if ((int64_t)get_be32(ftr + F_TIMESTAMP) > (int64_t)time(NULL) - VHD_EPOCH + 1800)
		return bad(err, io->name, "primary footer: time stamp in the future");
	if (memcmp(ftr + F_CRTR_APP, "tap", 3) == 0 &&
	    get_be32(ftr + F_CRTR_VER) > 0x00010003)
		return bad(err, io->name, "primary footer: unsupported tap version");
	return 0;
}

static int check_header_extra(struct vhd_ctx *c, struct sm_error *err)
{
	const char *name = c->io->name;
	uint8_t copy[FOOTER_SIZE];

	if (vhd_ctx_read(c, copy, FOOTER_SIZE, 0, SME_VDI_LOAD, "footer copy", err) < 0)
		return -1;
	if (memcmp(copy, c->ftr, FOOTER_SIZE) != 0)
		return bad(err, name, "footer copy at 0 differs from the primary footer");
	if (c->hdr_off != FOOTER_SIZE && c->hdr_off < FOOTER_SIZE)
		return bad(err, name, "header overlaps the footer copy");
	if (!all_zero(c->hdr + 60, 4) || !all_zero(c->hdr + 768, HEADER_SIZE - 768))
		return bad(err, name, "header: reserved bytes not zero");
	if (c->block_size != VHD_BLOCK_SIZE && c->block_size < 4096)
		return bad(err, name, "header: unusual block size");
	return 0;
}

static void add_meta(struct extent *e, size_t *n, uint64_t start, uint64_t len,
		     const char *what)
{
	if (!len)
		return;
	e[*n].start = start;
	e[*n].end = start + len;
	e[*n].blk = UINT32_MAX;
	e[*n].what = what;
	(*n)++;
}

/* Blocks against blocks and metadata: sort everything, compare neighbours. */
static int check_overlaps(struct vhd_ctx *c, struct sm_error *err)
{
	size_t cap = (size_t)c->blocks + 4 + NUM_LOCATORS, n = 0;
	struct extent *e = malloc(cap * sizeof(*e));
	uint64_t bb = block_bytes(c), reach = 0;
	size_t far = 0;
	int rc = -1;

	if (!e)
		return sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s: check", c->io->name);
	add_meta(e, &n, 0, FOOTER_SIZE, "the footer copy");
	add_meta(e, &n, c->hdr_off, HEADER_SIZE, "the header");
	add_meta(e, &n, c->bat_off, c->bat_bytes, "the BAT");
	if (c->batmap_found) {
		add_meta(e, &n, c->bmh_off, SECTOR, "the batmap header");
		add_meta(e, &n, c->batmap_off, (uint64_t)c->batmap_secs * SECTOR, "the batmap");
	}
	for (int i = 0; i < NUM_LOCATORS; i++) {
		const uint8_t *loc = c->hdr + H_LOCATORS + i * LOC_SIZE;

		if (get_be32(loc))
			add_meta(e, &n, get_be64(loc + 16), vhd_locator_space(loc),
				 "a parent locator");
	}
	for (uint32_t i = 0; i < c->blocks; i++) {
		if (bat_get(c, i) == BAT_UNUSED)
			continue;
		e[n].start = (uint64_t)bat_get(c, i) * SECTOR;
		e[n].end = e[n].start + bb;
		e[n].blk = i;
		e[n].what = "block";
		n++;
	}
	qsort(e, n, sizeof(*e), cmp_extent);
	for (size_t i = 0; i < n; i++) {
		if (i && e[i].start < reach && (e[i].blk != UINT32_MAX ||
						e[far].blk != UINT32_MAX)) {
			const struct extent *a = &e[far], *b = &e[i];

			if (a->blk != UINT32_MAX && b->blk != UINT32_MAX)
				sm_fail(err, SME_VDI_LOAD, "%s: BAT entries %u and %u overlap",
					c->io->name, a->blk, b->blk);
			else
				sm_fail(err, SME_VDI_LOAD, "%s: BAT entry %u overlaps %s",
					c->io->name, a->blk != UINT32_MAX ? a->blk : b->blk,
					a->blk != UINT32_MAX ? b->what : a->what);
			goto out;
		}
		if (e[i].end > reach) {
			reach = e[i].end;
			far = i;
		}
	}
	rc = 0;
out:
	free(e);
	return rc;
}

static int check_batmap(struct vhd_ctx *c, struct sm_error *err)
{
	const char *name = c->io->name;
	uint8_t *bm;
	int rc = -1;

	if (!c->batmap_found)
		return 0;
	if (get_be32(c->bmh + B_VERSION) != BATMAP_VERSION)
		return bad(err, name, "batmap: unsupported version");
	if (!c->has_batmap)
		return bad(err, name, "batmap: bad checksum");
	bm = malloc((size_t)c->bm_secs * SECTOR);
	if (!bm)
		return sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s: bitmap", name);
	for (uint32_t i = 0; i < c->blocks; i++) {
		if (!test_bit(c->batmap, i))
			continue;
		if (bat_get(c, i) == BAT_UNUSED) {
			sm_fail(err, SME_VDI_LOAD, "%s: batmap marks unallocated block %u full",
				name, i);
			goto out;
		}
		if (vhd_ctx_read(c, bm, (uint64_t)c->bm_secs * SECTOR,
				 (uint64_t)bat_get(c, i) * SECTOR, SME_VDI_LOAD,
				 "block bitmap", err) < 0)
			goto out;
		if (!vhd_bitmap_full(c, bm)) {
			sm_fail(err, SME_VDI_LOAD,
				"%s: batmap marks block %u full but its bitmap is not", name, i);
			goto out;
		}
	}
	rc = 0;
out:
	free(bm);
	return rc;
}

static const char *base_name(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

static int check_locators_decode(struct vhd_ctx *c, struct sm_error *err)
{
	char pname[1024], loc[1024];

	vhd_utf16_to_utf8(c->hdr + H_PRT_NAME, H_PRT_NAME_LEN, true, pname, sizeof(pname));
	if (!pname[0])
		return bad(err, c->io->name, "differencing header has no parent name");
	for (int i = 0; i < NUM_LOCATORS; i++) {
		const uint8_t *l = c->hdr + H_LOCATORS + i * LOC_SIZE;
		uint32_t code = get_be32(l);

		if (code != PLAT_MACX && code != PLAT_W2KU && code != PLAT_W2RU)
			continue;
		if (vhd_ctx_decode_locator(c, l, loc, sizeof(loc), err) < 0)
			return -1;
		if (strcmp(base_name(loc), pname) != 0)
			return sm_fail(err, SME_VDI_LOAD,
				       "%s: parent locator %d ('%s') does not name the parent '%s'",
				       c->io->name, i, loc, pname);
	}
	return 0;
}

/* The parent is found and carries the uuid the header asks for, as a chain open finds it. */
static int check_parent_file(const struct vhd_opener *op, struct vhd_ctx *c,
			     const char *path, struct sm_error *err)
{
	char ppath[PATH_MAX];
	struct vhd_io pio;
	struct vhd_ctx pc;

	if (open_parent(op, c, path, &pio, &pc, ppath, sizeof(ppath), err) < 0) {
		if (err)
			err->code = SME_VDI_LOAD;
		return -1;
	}
	vhd_ctx_free(&pc);
	vhd_io_close(&pio);
	return 0;
}

static int check_io(const struct vhd_opener *op, struct vhd_io *io, const char *path,
		    bool check_parent, struct sm_error *err)
{
	uint8_t ftr[FOOTER_SIZE];
	struct vhd_ctx c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (!io || !io->ops || !io->ops->pread || !io->ops->get_size)
		return sm_fail(err, SME_VDI_LOAD, "VHD: no I/O handle");
	if (check_footer(io, ftr, err) < 0 || vhd_ctx_load(&c, io, err) < 0)
		goto out;
	if (c.type == VHD_TYPE_FIXED) {
		rc = 0;
		goto out;
	}
	if (check_header_extra(&c, err) < 0 || check_overlaps(&c, err) < 0 ||
	    check_batmap(&c, err) < 0)
		goto out;
	if (c.type == VHD_TYPE_DIFF) {
		if (check_locators_decode(&c, err) < 0)
			goto out;
		if (check_parent && path && check_parent_file(op, &c, path, err) < 0)
			goto out;
	}
	rc = 0;
out:
	vhd_ctx_free(&c);
	return rc;
}

int vhd_check_io(struct vhd_io *io, const char *path, bool check_parent,
		 struct sm_error *err)
{
	return check_io(&vhd_opener_local, io, path, check_parent, err);
}

int vhd_check_with(const struct vhd_opener *op, const char *path, bool check_parent,
		   struct sm_error *err)
{
	struct vhd_io io;
	int rc;

	if (op->open(op->arg, path, VHD_IO_RDONLY, &io, err) < 0)
		return -1;
	rc = check_io(op, &io, path, check_parent, err);
	vhd_io_close(&io);
	return rc;
}

int vhd_check(const char *path, bool check_parent, struct sm_error *err)
{
	return vhd_check_with(&vhd_opener_local, path, check_parent, err);
}

int vhd_chain_open_io(struct vhd_chain *ch, struct vhd_io *io, struct sm_error *err)
{
	struct chain_priv *p;

	memset(ch, 0, sizeof(*ch));
	p = priv_alloc(1, err);
	if (!p) {
		vhd_io_close(io);
		return -1;
	}
	ch->priv = p;
	ch->io[0] = *io;
	memset(io, 0, sizeof(*io));
	snprintf(ch->path[0], sizeof(ch->path[0]), "%s", ch->io[0].name);
	ch->depth = 1;
	p->nimg = 1;
	if (img_load(&p->img[0], &ch->io[0], err) < 0) {
		vhd_chain_close(ch);
		return -1;
	}
	return 0;
}
