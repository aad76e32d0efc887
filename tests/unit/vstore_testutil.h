/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Helpers the VDI store tests share: deterministic uuids, images made
 * through the store's own create/publish, guest data written and read
 * back through the store's chain opener, and a digest of everything an
 * in-memory store holds (to prove a step changed nothing).
 * Header-only: each test program is one translation unit.
 */
#ifndef CSM_TEST_VSTORE_UTIL_H
#define CSM_TEST_VSTORE_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/vhd.h"
#include "csm/vhdchain.h"
#include "csm/vstore.h"
#include "csm/vstore_mem.h"

#define MiB (1024ull * 1024)

/* "00000000-0000-4000-8000-0000000000<n>": a valid, readable uuid per n. */
static inline const char *U(int n)
{
	static char buf[16][37];
	static int next;
	char *p = buf[next++ % 16];

	snprintf(p, 37, "00000000-0000-4000-8000-%012d", n);
	return p;
}

/* A published, empty dynamic VHD of size bytes. */
static inline int vs_make_vhd(struct vstore *vs, const char *uuid, uint64_t size,
			      struct sm_error *err)
{
	struct vhd_io io = { 0 };

	if (vs->ops->create(vs, uuid, VSTORE_VHD,
			    vstore_room_for(vs, size, VSTORE_FIT_EMPTY, 0), &io, err) < 0)
		return -1;
	if (vhd_create_dynamic(&io, size, err) < 0) {
		vhd_io_close(&io);
		vs->ops->abandon(vs, uuid, NULL);
		return -1;
	}
	return vs->ops->publish(vs, uuid, VSTORE_VHD, &io, err);
}

/* A published raw image of len bytes, each `fill`. */
static inline int vs_make_raw(struct vstore *vs, const char *uuid, size_t len, int fill,
			      struct sm_error *err)
{
	struct vhd_io io = { 0 };
	uint8_t *buf = malloc(len);
	int rc;

	if (!buf)
		return -1;
	memset(buf, fill, len);
	if (vs->ops->create(vs, uuid, VSTORE_RAW, len, &io, err) < 0) {
		free(buf);
		return -1;
	}
	rc = io.ops->pwrite(&io, buf, len, 0);
	free(buf);
	if (rc < 0) {
		vhd_io_close(&io);
		vs->ops->abandon(vs, uuid, NULL);
		return sm_fail_errno(err, SME_VDI_CREATE, -rc, "write");
	}
	return vs->ops->publish(vs, uuid, VSTORE_RAW, &io, err);
}

static inline struct vhd_chain *vs_chain_open(struct vstore *vs, const char *uuid, bool rw,
					      struct sm_error *err)
{
	struct vhd_chain *ch = calloc(1, sizeof(*ch));
	char name[128];

	if (!ch)
		return NULL;
	vs->ops->image_name(vs, uuid, VSTORE_VHD, name, sizeof(name));
	if (vhd_chain_open_with(ch, vs->ops->opener(vs), name, rw, err) < 0) {
		free(ch);
		return NULL;
	}
	return ch;
}

static inline void vs_chain_close(struct vhd_chain *ch)
{
	if (ch)
		vhd_chain_close(ch);
	free(ch);
}

/* Fill [off, off+len) of uuid's guest view with `fill`, flushed and synced. */
static inline int vs_fill(struct vstore *vs, const char *uuid, uint64_t off, size_t len,
			  int fill, struct sm_error *err)
{
	struct vhd_chain *ch = NULL;
	uint8_t *buf = malloc(len);
	int rc = -1;
	struct vhd_info info;

	/* Room first, as vdi_attach RW gives it (a no-op where images grow by themselves). */
	if (vstore_vhd_query(vs, uuid, true, &info, err) == 0 &&
	    vstore_inflate(vs, uuid, vstore_room_for(vs, info.virtual_size, VSTORE_FIT_FULL, 0),
			   err) == 0)
		ch = vs_chain_open(vs, uuid, true, err);
	if (ch && buf) {
		memset(buf, fill, len);
		rc = vhd_chain_write(ch, buf, len, off, err);
		if (rc == 0)
			rc = vhd_chain_flush(ch, err);
		if (rc == 0 && (rc = ch->io[0].ops->sync(&ch->io[0])) < 0)
			rc = sm_fail_errno(err, SME_EIO, -rc, "sync");
	}
	free(buf);
	vs_chain_close(ch);
	return rc;
}

/*
 * Does [off, off+len) of uuid's guest view hold only `fill`?  1 yes, 0 no,
 * -1 when it cannot be read (err says why).
 */
static inline int vs_holds(struct vstore *vs, const char *uuid, uint64_t off, size_t len,
			   int fill, struct sm_error *err)
{
	struct vhd_chain *ch = vs_chain_open(vs, uuid, false, err);
	uint8_t *buf = malloc(len);
	int rc = -1;

	/*
	 * All bytes are fill when the first is and each equals the next: one
	 * memcmp of the buffer against itself shifted by one, not a loop over
	 * megabytes (which under ASan checks every byte it reads).
	 */
	if (ch && buf && vhd_chain_read(ch, buf, len, off, err) == 0)
		rc = len == 0 || (buf[0] == (uint8_t)fill && memcmp(buf, buf + 1, len - 1) == 0);
	free(buf);
	vs_chain_close(ch);
	return rc;
}

static inline int vs_query(struct vstore *vs, const char *uuid, struct vhd_info *info)
{
	struct sm_error err = { 0 };

	return vstore_vhd_query(vs, uuid, false, info, &err);
}

static inline enum vstore_kind vs_kind(struct vstore *vs, const char *uuid)
{
	struct sm_error err = { 0 };
	enum vstore_kind k = VSTORE_NONE;

	if (vs->ops->find(vs, uuid, &k, SME_VDI_MISSING, &err) < 0)
		return (enum vstore_kind)-1;
	return k;
}

/* ---- a digest of an in-memory store: names and bytes ---------------------- */

struct mem_digest {
	const struct vstore_mem *m;
	uint64_t h;
};

static inline uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static inline int mem_digest_name(void *arg, const char *name)
{
	struct mem_digest *d = arg;
	uint8_t *data;
	size_t len;

	d->h = fnv(d->h, name, strlen(name) + 1);
	if (vstore_mem_get(d->m, name, &data, &len) == 0) {
		d->h = fnv(d->h, &len, sizeof(len));
		d->h = fnv(d->h, data, len);
		free(data);
	}
	return 0;
}

/* The same for two stores holding the same names and bytes. */
static inline uint64_t mem_digest(const struct vstore_mem *m)
{
	struct mem_digest d = { .m = m, .h = 1469598103934665603ull };

	vstore_mem_each_name(m, mem_digest_name, &d);
	return d.h;
}

#endif
