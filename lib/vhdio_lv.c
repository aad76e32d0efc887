/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * vhd_io over a logical volume, two ways (see vhdio.h):
 *
 *   - through its extent map on the PVs (vhd_io_open_extents): what
 *     `vhd-util scan -l` does, and the only way where device-mapper is
 *     missing.  Safe for writes only while the SR lock keeps the map
 *     still: an lvresize, lvrename, lvremove or pvmove by anyone else
 *     would leave us writing over another LV's extents;
 *   - through the device node of an active LV (vhd_io_open_direct).
 *
 * Both use O_DIRECT, as blktap does: another host's tapdisk writes a
 * shared LV with O_DIRECT, and our page cache would serve stale blocks.
 * O_DIRECT wants the buffer, offset and length aligned to the device's
 * logical block; the VHD code asks for any bytes, so transfers go
 * through an aligned bounce buffer, and a write that covers a block only
 * in part reads the block, patches it and writes it back (under the SR
 * lock nobody else writes the metadata we patch).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "csm/fault.h"
#include "csm/vhdio.h"

#define BOUNCE_BYTES (1024u * 1024)
#define BOUNCE_ALIGN 4096u

struct map_dev {
	int fd;
	unsigned align;            /* logical block size: 512 or 4096 */
	char path[4096];
};

struct map_ext {
	uint64_t lv_off, len, dev_off;
	size_t dev;                /* index into devs */
};

struct map_priv {
	size_t n, ndev;
	struct map_ext *ext;
	struct map_dev *devs;
	uint64_t size;
	uint8_t *bounce;           /* BOUNCE_BYTES, BOUNCE_ALIGN-aligned */
};

struct vhd_io_keep {
	size_t n;
	struct map_dev dev[VHD_IO_KEEP_MAX];
	int acc[VHD_IO_KEEP_MAX];    /* O_RDONLY or O_RDWR */
};

/*
 * One bounce buffer set aside when an io closes, for the next open: a
 * fresh megabyte each time was a mapping and page faults per LV listed.
 */
static uint8_t *spare_bounce;

static struct map_priv *priv_of(struct vhd_io *io)
{
	return io->priv;
}

/* ---- one device ------------------------------------------------------- */

static int whole_io(int fd, bool wr, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = wr ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return wr ? -ENOSPC : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static uint64_t align_down(uint64_t v, unsigned a)
{
	return v / a * a;
}

/*
 * Bytes [off, off+len) of one device through the bounce buffer, at most
 * BOUNCE_BYTES of aligned span per step.  A write reads first the
 * aligned blocks it covers only in part.
 */
static int dev_xfer(struct map_priv *mp, struct map_dev *d, bool wr, uint8_t *p, uint64_t len,
		    uint64_t off)
{
	unsigned a = d->align;

	while (len > 0) {
		uint64_t a0 = align_down(off, a);
		uint64_t head = off - a0;
		uint64_t take = len < BOUNCE_BYTES - head ? len : BOUNCE_BYTES - head;
		uint64_t span = align_down(head + take + a - 1, a);
		int rc;

		if (!wr) {
			rc = whole_io(d->fd, false, mp->bounce, span, a0);
			if (rc < 0)
				return rc;
			memcpy(p, mp->bounce + head, take);
		} else {
			/* The partly covered first and last blocks: read, then patch. */
			if (head && (rc = whole_io(d->fd, false, mp->bounce, a, a0)) < 0)
				return rc;
			if ((head + take) % a && (span > a || !head) &&
			    (rc = whole_io(d->fd, false, mp->bounce + span - a, a, a0 + span - a)) < 0)
				return rc;
			memcpy(mp->bounce + head, p, take);
			rc = whole_io(d->fd, true, mp->bounce, span, a0);
			if (rc < 0)
				return rc;
		}
		p += take;
		len -= take;
		off += take;
	}
	return 0;
}

/* ---- the LV ----------------------------------------------------------- */

static int map_xfer(struct vhd_io *io, bool wr, void *buf, size_t len, uint64_t off)
{
	struct map_priv *mp = priv_of(io);
	uint8_t *p = buf;
	size_t i = 0;

	if (off > mp->size || len > mp->size - off)
		return wr ? -ENOSPC : -EIO;
	while (len > 0) {
		const struct map_ext *e;
		uint64_t in, take;
		int rc;

		while (i < mp->n && mp->ext[i].lv_off + mp->ext[i].len <= off)
			i++;
		if (i == mp->n)
			return -EIO;
		e = &mp->ext[i];
		in = off - e->lv_off;
		take = len < e->len - in ? len : e->len - in;
		rc = dev_xfer(mp, &mp->devs[e->dev], wr, p, take, e->dev_off + in);
		if (rc < 0)
			return rc;
		p += take;
		len -= take;
		off += take;
	}
	return 0;
}

static int map_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	int rc = sm_fault_io("read", io->name);

	return rc < 0 ? rc : map_xfer(io, false, buf, len, off);
}

static int map_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	return map_xfer(io, true, (void *)buf, len, off);
}

static int map_get_size(struct vhd_io *io, uint64_t *size)
{
	*size = priv_of(io)->size;
	return 0;
}

static int map_sync(struct vhd_io *io)
{
	struct map_priv *mp = priv_of(io);

	/* O_DIRECT bypasses our cache, not the device's: fdatasync flushes it. */
	for (size_t i = 0; i < mp->ndev; i++) {
		int rc;

		do {
			rc = fdatasync(mp->devs[i].fd);
		} while (rc < 0 && errno == EINTR);
		if (rc < 0)
			return -errno;
	}
	return 0;
}

static void priv_free(struct map_priv *mp)
{
	if (!mp)
		return;
	for (size_t i = 0; i < mp->ndev; i++)
		if (mp->devs[i].fd >= 0)
			close(mp->devs[i].fd);
	free(mp->devs);
	free(mp->ext);
	free(__atomic_exchange_n(&spare_bounce, mp->bounce, __ATOMIC_ACQ_REL));
	free(mp);
}

static void map_close(struct vhd_io *io)
{
	priv_free(io->priv);
	io->priv = NULL;
}

static const struct vhd_io_ops map_ops = {
	.pread = map_pread,
	.pwrite = map_pwrite,
	.get_size = map_get_size,
	.truncate = NULL,
	.sync = map_sync,
	.get_mtime = NULL,
	.close = map_close,
};

/* Open path O_DIRECT; a regular file (tests) counts as 4 KiB-aligned. */
static int dev_open(struct map_dev *d, const char *path, int flags, bool need_block,
		    struct sm_error *err)
{
	int acc = (flags & VHD_IO_RDWR) ? O_RDWR : O_RDONLY, errnum, bs = 0;
	struct stat st;

	snprintf(d->path, sizeof(d->path), "%s", path);
	d->fd = open(path, acc | O_DIRECT | O_CLOEXEC);
	if (d->fd < 0) {
		errnum = errno;
		return sm_fail_errno(err, errnum == ENOENT ? SME_VDI_MISSING : SME_VDI_LOAD, errnum,
				     "%s (O_DIRECT)", path);
	}
	if (fstat(d->fd, &st) < 0)
		return sm_fail_errno(err, SME_VDI_LOAD, errno, "%s", path);
	if (!S_ISBLK(st.st_mode) && (need_block || !S_ISREG(st.st_mode)))
		return sm_fail(err, SME_VDI_LOAD, "%s: not a block device (a %s)", path,
			       vhd_io_file_kind(st.st_mode));
	d->align = BOUNCE_ALIGN;
	if (S_ISBLK(st.st_mode) && ioctl(d->fd, BLKSSZGET, &bs) == 0 && bs >= 512 &&
	    bs <= (int)BOUNCE_ALIGN && !(bs & (bs - 1)))
		d->align = (unsigned)bs;
	return 0;
}

static int access_of(int flags)
{
	return (flags & VHD_IO_RDWR) ? O_RDWR : O_RDONLY;
}

/* d as a duplicate of the kept device, if path is kept with the same access; 1 if so. */
static int dev_from_keep(struct map_dev *d, const struct vhd_io_keep *keep, const char *path,
			 int flags, struct sm_error *err)
{
	for (size_t i = 0; keep && i < keep->n; i++) {
		if (keep->acc[i] != access_of(flags) || strcmp(keep->dev[i].path, path) != 0)
			continue;
		*d = keep->dev[i];
		d->fd = fcntl(keep->dev[i].fd, F_DUPFD_CLOEXEC, 0);
		if (d->fd < 0)
			return sm_fail_errno(err, SME_VDI_LOAD, errno, "%s: dup", path);
		return 1;
	}
	return 0;
}

/* Keep a duplicate of d for the next opens (none if the keep is full). */
static void dev_keep(struct vhd_io_keep *keep, const struct map_dev *d, int flags)
{
	int fd;

	if (!keep || keep->n == VHD_IO_KEEP_MAX)
		return;
	fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return;   /* only a saving lost */
	keep->dev[keep->n] = *d;
	keep->dev[keep->n].fd = fd;
	keep->acc[keep->n++] = access_of(flags);
}

/* The device of path, opened once however many extents lie on it. */
static int dev_index(struct map_priv *mp, struct vhd_io_keep *keep, const char *path, int flags,
		     size_t *idx, struct sm_error *err)
{
	struct map_dev *d;
	int rc;

	for (size_t i = 0; i < mp->ndev; i++) {
		if (strcmp(mp->devs[i].path, path) == 0) {
			*idx = i;
			return 0;
		}
	}
	d = &mp->devs[mp->ndev];
	d->fd = -1;
	*idx = mp->ndev++;
	rc = dev_from_keep(d, keep, path, flags, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (dev_open(d, path, flags, false, err) < 0)
		return -1;
	dev_keep(keep, d, flags);
	return 0;
}

struct vhd_io_keep *vhd_io_keep_new(void)
{
	return calloc(1, sizeof(struct vhd_io_keep));
}

void vhd_io_keep_free(struct vhd_io_keep *keep)
{
	if (!keep)
		return;
	for (size_t i = 0; i < keep->n; i++)
		close(keep->dev[i].fd);
	free(keep);
}

static struct map_priv *priv_new(size_t n)
{
	struct map_priv *mp = calloc(1, sizeof(*mp));

	if (!mp)
		return NULL;
	mp->ext = calloc(n, sizeof(*mp->ext));
	mp->devs = calloc(n, sizeof(*mp->devs));
	mp->bounce = __atomic_exchange_n(&spare_bounce, NULL, __ATOMIC_ACQ_REL);
	if (!mp->ext || !mp->devs ||
	    (!mp->bounce && posix_memalign((void **)&mp->bounce, BOUNCE_ALIGN, BOUNCE_BYTES))) {
		mp->bounce = NULL;
		priv_free(mp);
		return NULL;
	}
	return mp;
}

static int add_extent(struct map_priv *mp, struct vhd_io_keep *keep, const struct vhd_io_extent *x,
		      int flags, const char *name, struct sm_error *err)
{
	struct map_ext *e = &mp->ext[mp->n];

	if (!x->dev || !x->len || x->len > UINT64_MAX - mp->size ||
	    x->dev_off > UINT64_MAX - x->len)
		return sm_fail(err, SME_VDI_LOAD, "%s: extent %zu is empty or too large", name, mp->n);
	if (dev_index(mp, keep, x->dev, flags, &e->dev, err) < 0)
		return -1;
	/* Blocks of a device never straddle two extents: a write patches only its own. */
	if (x->dev_off % mp->devs[e->dev].align || x->len % mp->devs[e->dev].align)
		return sm_fail(err, SME_VDI_LOAD, "%s: extent %zu not aligned to %u bytes of %s", name,
			       mp->n, mp->devs[e->dev].align, x->dev);
	e->lv_off = mp->size;
	e->len = x->len;
	e->dev_off = x->dev_off;
	mp->size += x->len;
	mp->n++;
	return 0;
}

int vhd_io_open_extents_kept(struct vhd_io *io, struct vhd_io_keep *keep, const char *name,
			     const struct vhd_io_extent *ext, size_t n, int flags,
			     struct sm_error *err)
{
	struct map_priv *mp;

	memset(io, 0, sizeof(*io));
	if (flags & VHD_IO_CREATE)
		return sm_fail(err, SME_VDI_LOAD, "%s: an LV is made by LVM, not by opening it", name);
	if (n == 0 || n > VHD_IO_MAX_EXTENTS)
		return sm_fail(err, SME_VDI_LOAD, "%s: %zu extents", name, n);
	mp = priv_new(n);
	if (!mp)
		return sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s", name);
	for (size_t i = 0; i < n; i++) {
		if (add_extent(mp, keep, &ext[i], flags, name, err) < 0) {
			priv_free(mp);
			return -1;
		}
	}
	io->ops = &map_ops;
	io->priv = mp;
	io->is_block = true;
	snprintf(io->name, sizeof(io->name), "%s", name);
	return 0;
}

int vhd_io_open_extents(struct vhd_io *io, const char *name, const struct vhd_io_extent *ext,
			size_t n, int flags, struct sm_error *err)
{
	return vhd_io_open_extents_kept(io, NULL, name, ext, n, flags, err);
}

int vhd_io_open_direct(struct vhd_io *io, const char *path, int flags, struct sm_error *err)
{
	struct map_priv *mp;
	uint64_t bytes;

	memset(io, 0, sizeof(*io));
	if (flags & VHD_IO_CREATE)
		return sm_fail(err, SME_VDI_LOAD, "%s: a device is not created by opening it", path);
	mp = priv_new(1);
	if (!mp)
		return sm_fail_errno(err, SME_VDI_LOAD, ENOMEM, "%s", path);
	mp->devs[0].fd = -1;
	mp->ndev = 1;
	if (dev_open(&mp->devs[0], path, flags, true, err) < 0)
		goto fail;
	if (ioctl(mp->devs[0].fd, BLKGETSIZE64, &bytes) < 0) {
		sm_fail_errno(err, SME_VDI_LOAD, errno, "%s: size", path);
		goto fail;
	}
	mp->ext[0] = (struct map_ext){ .lv_off = 0, .len = bytes, .dev_off = 0, .dev = 0 };
	mp->n = 1;
	mp->size = bytes;
	io->ops = &map_ops;
	io->priv = mp;
	io->is_block = true;
	snprintf(io->name, sizeof(io->name), "%s", path);
	return 0;
fail:
	priv_free(mp);
	return -1;
}
