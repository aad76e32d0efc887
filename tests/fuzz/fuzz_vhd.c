/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libFuzzer target: the input is a whole VHD image held in memory.  Query
 * it, run the full structural check, read a few ranges directly and as a
 * one-image chain, and (on a private copy) write and grow it: none of it
 * may crash, read out of bounds or allocate without bound, and every
 * rejection must be SME_VDI_LOAD.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csm/vhd.h"
#include "csm/vhdchain.h"

/* Cap on how far a write may extend the in-memory image. */
#define MEM_MAX (64u * 1024 * 1024)

struct mem {
	uint8_t *buf;
	size_t len;
	size_t cap;     /* grown geometrically: block allocation writes in pieces */
};

static int mem_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	struct mem *m = io->priv;

	if (off > m->len || len > m->len - off)
		return -EIO;
	memcpy(buf, m->buf + off, len);
	return 0;
}

static int mem_resize(struct mem *m, uint64_t size)
{
	uint8_t *nb;

	if (size > MEM_MAX)
		return -ENOSPC;
	if (size > m->cap) {
		size_t cap = m->cap * 2 > size ? m->cap * 2 : size;

		nb = realloc(m->buf, cap);
		if (!nb)
			return -ENOMEM;
		m->buf = nb;
		m->cap = cap;
	}
	if (size > m->len)
		memset(m->buf + m->len, 0, size - m->len);
	m->len = size;
	return 0;
}

static int mem_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	struct mem *m = io->priv;

	if (off > MEM_MAX || len > MEM_MAX - off)
		return -ENOSPC;
	if (off + len > m->len && mem_resize(m, off + len) < 0)
		return -ENOSPC;
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
	return mem_resize(io->priv, size);
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

static int mem_open(struct vhd_io *io, struct mem *m, const uint8_t *data, size_t len)
{
	memset(io, 0, sizeof(*io));
	m->buf = malloc(len ? len : 1);
	if (!m->buf)
		return -1;
	memcpy(m->buf, data, len);
	m->len = len;
	m->cap = len ? len : 1;
	io->ops = &mem_ops;
	io->priv = m;
	strcpy(io->name, "fuzz");
	return 0;
}

static void read_some(struct vhd_io *io, const struct vhd_info *info)
{
	static uint8_t buf[3 * 4096];
	uint64_t vs = info->virtual_size;
	uint64_t offs[] = { 0, 511, 2 * 1024 * 1024 - 1000, vs / 2,
			    vs > sizeof(buf) ? vs - sizeof(buf) : 0 };
	struct sm_error err = { 0 };

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		sm_error_clear(&err);
		(void)vhd_read(io, buf, sizeof(buf), offs[i], &err);
	}
}

/* Writes and grow on a copy, then the result must still be consistent. */
static void mutate(struct vhd_io *io, const struct vhd_info *info)
{
	static const uint8_t data[1000] = { 1, 2, 3 };
	struct sm_error err = { 0 };
	struct vhd_info after;

	if (info->virtual_size > sizeof(data))
		(void)vhd_write(io, data, sizeof(data), info->virtual_size / 3, &err);
	sm_error_clear(&err);
	(void)vhd_set_hidden(io, !info->hidden, &err);
	sm_error_clear(&err);
	(void)vhd_grow(io, info->virtual_size + 4 * 1024 * 1024, &err);
	sm_error_clear(&err);
	if (vhd_query(io, &after, &err) == 0)
		read_some(io, &after);
}

/* The check must either pass or say VDILoad; a chain read must not crash. */
static void check_and_chain(const uint8_t *data, size_t size, const struct vhd_info *info)
{
	static uint8_t buf[3 * 4096];
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	struct vhd_io io;
	struct mem m;
	uint64_t vs = info->virtual_size;
	uint64_t offs[] = { 0, 511, 2 * 1024 * 1024 - 1000, vs / 2,
			    vs > sizeof(buf) ? vs - sizeof(buf) : 0 };

	if (mem_open(&io, &m, data, size) < 0)
		return;
	if (vhd_check_io(&io, NULL, false, &err) < 0 && err.code != SME_VDI_LOAD)
		abort();
	sm_error_clear(&err);
	/* The chain takes the io over (and closes it); the buffer stays ours. */
	if (vhd_chain_open_io(&ch, &io, &err) == 0) {
		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			uint64_t len = vs - offs[i] < sizeof(buf) ? vs - offs[i] : sizeof(buf);

			sm_error_clear(&err);
			if (offs[i] < vs)
				(void)vhd_chain_read(&ch, buf, len, offs[i], &err);
		}
		vhd_chain_close(&ch);
	} else if (err.code != SME_VDI_LOAD) {
		abort();
	}
	free(m.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;
	struct mem m;

	if (mem_open(&io, &m, data, size) < 0)
		return 0;
	if (vhd_query(&io, &info, &err) == 0) {
		check_and_chain(data, size, &info);
		read_some(&io, &info);
		mutate(&io, &info);
	} else if (err.code != SME_VDI_LOAD) {
		abort();    /* a corrupt image must be reported as VDILoad */
	}
	free(m.buf);
	return 0;
}
