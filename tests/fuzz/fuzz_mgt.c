/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libFuzzer target: the input is an MGT volume.  Decoding must never
 * crash, read out of bounds or leak; a refusal is SME_METADATA_ERROR and
 * leaves nothing allocated.  Whatever decodes must re-encode to a fixed
 * point (encode, decode, encode gives the same bytes), and the writers
 * (add, update, delete, SR update) run on a private copy of the volume
 * must leave one that decodes to what they say they wrote.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csm/mgt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough room after the input for a few appended slots. */
#define ROOM (4 * MGT_SLOT_SIZE)

struct vol {
	uint8_t *buf;
	size_t len;
};

static int v_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	struct vol *v = io->priv;

	if (off > v->len || len > v->len - off)
		return -EIO;
	memcpy(buf, v->buf + off, len);
	return 0;
}

static int v_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	struct vol *v = io->priv;

	if (off > v->len || len > v->len - off)
		return -ENOSPC;
	memcpy(v->buf + off, buf, len);
	return 0;
}

static int v_size(struct vhd_io *io, uint64_t *size)
{
	*size = ((struct vol *)io->priv)->len;
	return 0;
}

static const struct vhd_io_ops v_ops = { .pread = v_pread, .pwrite = v_pwrite, .get_size = v_size };

/* A parsed slot re-encodes to a fixed point, or is refused cleanly. */
static void check_slot(const struct mgt_slot *s)
{
	uint8_t a[MGT_SLOT_SIZE], b[MGT_SLOT_SIZE], vol[MGT_SR_INFO_SIZE + MGT_SLOT_SIZE];
	struct sm_error err = { 0 };
	struct mgt m;

	if (mgt_encode_slot(s, a, &err) < 0) {
		if (err.code != SME_METADATA_ERROR && err.code != SME_ILLEGAL_XML_CHAR)
			abort();
		return;
	}
	memset(vol, ' ', sizeof(vol));
	mgt_encode_header(sizeof(vol), 1, 2, vol);
	memcpy(vol + MGT_SECTOR, "<?xml version=\"1.0\" ?>", 22);
	memcpy(vol + MGT_SR_INFO_SIZE, a, sizeof(a));
	if (mgt_decode(vol, sizeof(vol), &m, &err) != 0 || m.nslots != 1 || m.slots[0].damaged)
		abort();
	if (mgt_encode_slot(&m.slots[0], b, &err) < 0 || memcmp(a, b, sizeof(a)) != 0)
		abort();
	mgt_free(&m);
}

/* Run the writers on a copy and check the result reads back as m says. */
static void exercise_writers(const uint8_t *data, size_t size, struct mgt *m)
{
	struct vol v = { .len = size + ROOM };
	struct vhd_io io = { .ops = &v_ops, .priv = &v, .is_block = true, .name = "fuzz" };
	struct sm_error err = { 0 };
	struct mgt_slot rec;
	struct vdi_meta meta = { .label = (char *)"new & <label>", .description = (char *)"" };
	struct mgt_kv change = { (char *)"name_label", (char *)"renamed" };
	struct mgt back;
	const char *first = NULL;

	v.buf = calloc(1, v.len);
	if (!v.buf)
		return;
	memcpy(v.buf, data, size);
	for (size_t i = 0; i < m->nslots && !first; i++)
		if (mgt_slot_live(&m->slots[i]))
			first = mgt_slot_get(&m->slots[i], MGT_UUID);
	if (first) {
		char uuid[64];

		strncpy(uuid, first, sizeof(uuid) - 1);
		uuid[sizeof(uuid) - 1] = '\0';
		mgt_update(&io, m, uuid, &change, 1, &err);
		mgt_delete(&io, m, uuid, &err);
	}
	if (mgt_slot_from_meta(&rec, "12345678-1234-4234-8234-123456789abc", &meta, "vhd", true,
			       &err) == 0) {
		mgt_add(&io, m, &rec, &err);
		mgt_slot_free(&rec);
	}
	mgt_update_sr(&io, m, "sr label", "sr description", &err);

	if (mgt_load(&io, &back, &err) != 0 || back.length != m->length ||
	    back.nslots != m->nslots || strcmp(back.sr_label, m->sr_label) != 0)
		abort();
	for (size_t i = 0; i < m->nslots; i++) {
		if (back.slots[i].damaged != m->slots[i].damaged ||
		    back.slots[i].nkv != m->slots[i].nkv)
			abort();
		if (!m->slots[i].damaged && strcmp(back.slots[i].label, m->slots[i].label) != 0)
			abort();
	}
	mgt_free(&back);
	free(v.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_error err = { 0 };
	uint8_t info[MGT_SR_INFO_SIZE];
	struct mgt m;
	int rc;

	rc = mgt_decode(data, size, &m, &err);
	if (rc != 0) {
		if ((rc == -1 && err.code != SME_METADATA_ERROR) || (rc == 1 && err.code != 0) ||
		    m.slots || m.sr_uuid || m.sr_label)
			abort();
		return 0;
	}
	for (size_t i = 0; i < m.nslots; i++) {
		struct vdi_meta meta;

		if (m.slots[i].damaged)
			continue;
		check_slot(&m.slots[i]);
		if (mgt_slot_to_meta(&m.slots[i], &meta, &err) == 0)
			vdimeta_free(&meta);
	}
	sm_error_clear(&err);
	if (mgt_encode_sr_info(&m, info, &err) < 0 &&
	    err.code != SME_METADATA_ERROR && err.code != SME_ILLEGAL_XML_CHAR)
		abort();
	exercise_writers(data, size, &m);
	mgt_free(&m);
	return 0;
}
