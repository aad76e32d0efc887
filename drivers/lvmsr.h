/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What a layer above LVMSR (LVMoISCSISR) tells it: which device the SR
 * lives on, when that is not dconf "device" but something the upper
 * layer found (the block device of an iSCSI LUN), and when the call is
 * the upper layer's alone.  The upper layer's load runs before LVMSR's
 * (docs/drivers.md), so these are called from it.
 */
#ifndef CSM_DRIVERS_LVMSR_H
#define CSM_DRIVERS_LVMSR_H

#include "csm/driver.h"

extern const struct sm_driver sm_lvm_driver;

/* The devices (comma-separated, as dconf device) instead of dconf device; device must outlive the call. */
void lvmsr_use_device(struct sm_ctx *ctx, const char *device);

/*
 * sr_probe: the upper layer answers (or fails) without LVMSR's devices,
 * so LVMSR's load parses none.  lvmsr_probe_device() gives them later,
 * from the upper layer's sr_probe, before it hands on with sm_call_lower().
 */
void lvmsr_defer_probe(struct sm_ctx *ctx);
int lvmsr_probe_device(struct sm_ctx *ctx, const char *device);

#endif
