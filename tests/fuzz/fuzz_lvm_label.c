/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libFuzzer target: the input is the start of a device that may hold an
 * LVM2 PV (the rest of a 16 MiB device reads as zeros, so a seed needs
 * only the label and the metadata area's first bytes).  Reading must never
 * crash, read out of bounds or leak; a refusal is 117 LVMRead with a
 * detail; what is read is consistent (VG size = extent size x extents,
 * printable names of the right lengths).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csm/lvm_label.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DEVICE_SIZE (16u << 20)

struct dev {
	const uint8_t *data;
	size_t size;
};

static int read_dev(void *ctx, uint64_t off, void *buf, size_t len)
{
	const struct dev *d = ctx;

	if (off > DEVICE_SIZE || len > DEVICE_SIZE - off)
		return -EIO;
	memset(buf, 0, len);
	if (off < d->size)
		memcpy(buf, d->data + off, len < d->size - off ? len : d->size - off);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dev d = { data, size };
	struct sm_lvm_pv_info pv;
	struct sm_error err;
	int rc;

	sm_error_clear(&err);
	rc = sm_lvm_label_read(read_dev, &d, &pv, &err);
	if (rc < 0) {
		if (err.code != SME_LVM_READ || !err.detail[0])
			abort();
		return 0;
	}
	if (rc == SM_LVM_NO_LABEL)
		return 0;
	if (rc != 0 || strlen(pv.pv_uuid) != 38 || strlen(pv.vg_name) > SM_LVM_VG_NAME_MAX)
		abort();
	if (pv.vg_name[0] && pv.vg_size != pv.extent_size * pv.vg_pe_count)
		abort();
	if (pv.vg_name[0] && (pv.pv_count == 0 || pv.pe_count > pv.vg_pe_count))
		abort();
	return 0;
}
