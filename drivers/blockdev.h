/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Local block devices for the SR types that format them (EXTSR, LVMSR):
 * the dconf "device" list, and the checks that refuse a device holding
 * anything before it is made a physical volume.
 */
#ifndef CSM_BLOCKDEV_H
#define CSM_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "csm/error.h"
#include "csm/lvm.h"

/* dconf "device", split at commas (buf owns the strings; free it). */
struct blockdev_list {
	char *buf;
	const char *dev[LVM_MAX_DEVICES];
	size_t n;
};

/*
 * Parse device: absolute paths of block devices, no empty entry, no
 * device twice (SME_CONFIG_DEVICE_MISSING when absent or empty,
 * SME_CONFIG_DEVICE_INVALID otherwise).  list is filled even on failure
 * as far as it got; blockdev_list_free releases it either way.
 */
int blockdev_list_parse(const char *device, struct blockdev_list *list, struct sm_error *err);
void blockdev_list_free(struct blockdev_list *list);

/*
 * Look through our mount table: by mount point (path != NULL: is it a mount
 * point, and of which device) or by device (the first place it is mounted).
 */
bool blockdev_find_mount(const char *path, dev_t dev, dev_t *dev_out, char *where, size_t wcap);

/*
 * Nothing holds the device: not mounted, not swap, no device-mapper
 * holder, no other O_EXCL opener (SME_SR_IN_USE).
 */
int blockdev_free(const char *dev, struct sm_error *err);

/*
 * No signature blkid knows (file system, swap, RAID, LVM, partition
 * table): SME_LVM_PART_IN_USE saying what is there.
 */
int blockdev_blank(const char *dev, struct sm_error *err);

/*
 * dev is no LVM physical volume: SME_SR_EXISTS when it is one of vg_want
 * (the SR's own group), SME_LVM_PART_IN_USE when it is anyone else's.
 */
int blockdev_not_pv(struct lvm *l, const char *vg_want, const char *dev, struct sm_error *err);

#endif
