/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Read an LVM2 physical volume's label and its volume group metadata
 * straight off the device bytes, with no LVM command, no device-mapper and
 * no block device: LVMoISCSISR's probe stage 3 reads a LUN through
 * libiscsi with it, so the probe works without a kernel login and leaves
 * no host state.  Only reads; every length and offset from the device is
 * checked (the bytes may be anything), the three LVM checksums (label,
 * metadata area header, metadata text) are verified.
 *
 * On-disk format (LVM2 format_text; block-family.md §D.2):
 *   label in one of sectors 0-3 (normally 1): "LABELONE", sector u64,
 *     crc u32 of bytes 20..511, contents offset u32, type "LVM2 001";
 *   pv_header at the label + offset: PV uuid[32], device size u64, data
 *     areas {offset u64, size u64}... {0, 0}, metadata areas ... {0, 0};
 *   mda_header at a metadata area: crc u32 of bytes 4..511, magic
 *     " LVM2 x[5A%r0N*>", version u32 = 1, start u64, size u64, then
 *     raw_locn {offset u64, size u64, checksum u32, flags u32};
 *   the metadata text at start + offset, wrapping to start + 512 when it
 *     runs past the end of the area (a circular buffer).
 * Little-endian throughout.  CRC: LVM's calc_crc (CRC-32, reflected
 * 0xEDB88320, initial 0xf597a6cf, no final xor).
 */
#ifndef CSM_LVM_LABEL_H
#define CSM_LVM_LABEL_H

#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

/*
 * Read len bytes at byte offset off of the device into buf: 0, or -errno
 * (a short read is an error: -EIO).  ctx is the caller's (a libiscsi
 * session and LUN, a file descriptor).
 */
typedef int (*sm_lvm_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

#define SM_LVM_UUID_TEXT 39       /* 32 characters, 6 dashes, NUL */
#define SM_LVM_VG_NAME_MAX 128

struct sm_lvm_pv_info {
	char pv_uuid[SM_LVM_UUID_TEXT];   /* as LVM prints it: 6-4-4-4-4-4-6 */
	uint64_t device_size;             /* bytes, as pvcreate recorded it */
	uint64_t pe_start;                /* bytes: the first data area's offset */
	uint64_t mda_offset;              /* bytes: the metadata area used */
	uint64_t mda_size;
	uint64_t text_offset;             /* raw_locn of the metadata text read: offset in */
	uint64_t text_size;               /* the area (wrapped when offset + size > mda_size) */

	/* From the metadata text; vg_name "" when the PV belongs to no VG. */
	char vg_name[SM_LVM_VG_NAME_MAX + 1];
	char vg_uuid[SM_LVM_UUID_TEXT];
	uint64_t seqno;
	uint64_t extent_size;             /* bytes */
	uint64_t pe_count;                /* extents of this PV */
	uint64_t vg_pe_count;             /* extents of all the VG's PVs */
	uint64_t vg_size;                 /* extent_size * vg_pe_count, as vgs' vg_size */
	unsigned pv_count;                /* PVs the metadata lists */
};

/* No LVM label in sectors 0-3: not a PV (not an error). */
#define SM_LVM_NO_LABEL 1

/*
 * Read the label, pv_header, metadata area header and metadata text.
 * 0 with *out filled; SM_LVM_NO_LABEL; or -1 with 117 LVMRead and what
 * was wrong (a read error, a bad checksum, a length out of range, text
 * that does not parse) in err.
 */
int sm_lvm_label_read(sm_lvm_read_fn read, void *ctx, struct sm_lvm_pv_info *out,
		      struct sm_error *err);

/* LVM's calc_crc, exposed for tests. */
uint32_t sm_lvm_crc(uint32_t initial, const void *buf, size_t len);
#define SM_LVM_INITIAL_CRC 0xf597a6cfu

#endif
