/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The VDI operations shared by the file-based SR types (File, EXT, NFS):
 * a directory of <uuid>.vhd / <uuid>.raw files.  The types differ only in
 * how the directory is reached; each fills fsr->path in its load().
 */
#ifndef CSM_FILEBASED_H
#define CSM_FILEBASED_H

#include <limits.h>
#include <stdbool.h>

#include "csm/driver.h"
#include "csm/srfs.h"
#include "csm/vstore_dir.h"

/* Room for "/<uuid>.vhd.new" and friends after the SR path in PATH_MAX. */
#define FSR_PATH_MAX (PATH_MAX - 256)

struct file_sr {
	struct srfs fs;           /* how the SR's directory is reached */
	char path[FSR_PATH_MAX];  /* the local directory, when there is one ("" for NFS) */
	const char *sr_uuid;
	const char *storage_type; /* xenstore storage-type for vdi_attach */
	bool o_direct;            /* what vdi_attach reports */
	const char *o_direct_reason;
	/*
	 * This host may replay journals, sweep leftovers and start the GC.
	 * On a shared SR only the master may: a slave would roll back the
	 * master's operations in flight (the SR lock is per host).
	 */
	bool repair;
	/*
	 * How csm-gc reaches the SR (its arguments), when not through path
	 * ("--dir <path>"): NFSSR without a kernel mount passes --nfs etc.
	 */
	const char *gc_reach[8];
	/*
	 * The call is in API mode (csm/xapi_sync.h): the GC it starts runs in
	 * API mode too, rather than choosing xapi mode by itself because an
	 * endpoint exists (a toolstack of the original API on a xapi host).
	 */
	bool api_mode;
	/* The VDI store over fs (and path): what the VDI operations use. */
	struct vstore_dir store;
	/*
	 * A store that is not a directory (LVMSR's volume group), owned by
	 * the layer that set it: the VDI operations use it instead of store.
	 */
	struct vstore *other_store;
};

/* The SR's VDI store: other_store when set, else the directory store. */
struct vstore *fsr_store(struct file_sr *sr);

/* Allocate ctx->sr as a struct file_sr; the caller fills path. */
struct file_sr *fsr_new(struct sm_ctx *ctx);
/* ctx->sr for an SR in a local directory (FileSR's location, EXT's mount point). */
struct file_sr *fsr_new_local(struct sm_ctx *ctx, const char *dir);
/*
 * Drop the handle on the SR directory (it is reopened on next use): a
 * driver that mounts or unmounts there must, or the handle pins the mount.
 */
void fsr_release_fs(struct file_sr *sr);
void fsr_unload(struct sm_ctx *ctx);

/*
 * Remove temporary files a killed process left (meta and lock records
 * half-written); only safe under the SR lock.  sr_scan and sr_attach do it.
 */
void fsr_remove_leftovers(const struct file_sr *sr);

/*
 * Stop a running garbage collector (abort flag, then wait for it to let
 * go, FSR_GC_STOP_TIMEOUT seconds at most) before unmounting or deleting
 * the SR; fsr_gc_stop_end lifts the flag once that is done.
 */
#define FSR_GC_STOP_TIMEOUT 30
void fsr_gc_stop_begin(const char *sr_uuid, char flag[PATH_MAX]);
/* The same, waiting timeout_s (> 0) at most. */
void fsr_gc_stop_begin_within(const char *sr_uuid, char flag[PATH_MAX], int timeout_s);
void fsr_gc_stop_end(const char *flag);

/*
 * How long vdi_activate waits for a GC leaf-coalesce of the VDI to finish
 * or back off (a leaf-coalesce moves at most --leaf-max bytes: seconds).
 */
#define FSR_ACTIVATE_GC_WAIT 30

/* Start the garbage collector for this SR in the background. */
void fsr_kick_gc(const struct file_sr *sr);

/* Finish or undo what a killed process left (journals, temporary files). */
int fsr_recover(struct sm_ctx *ctx);

/* What the SR holds (the collect slot): the VDIs sr_scan lists, the SR's sizes. */
struct scan_sr;
int fsr_collect(struct sm_ctx *ctx, struct scan_sr *out);

/* SR operations on an existing directory (EXT and NFS wrap these). */
int fsr_sr_scan(struct sm_ctx *ctx);
int fsr_sr_update(struct sm_ctx *ctx);
int fsr_sr_content_type(struct sm_ctx *ctx);
/* Remove every VDI-less file the SR owns; SME_SR_NOT_EMPTY if VDIs remain. */
int fsr_sr_empty(struct sm_ctx *ctx);

/* VDI operations. */
int fsr_vdi_create(struct sm_ctx *ctx);
int fsr_vdi_delete(struct sm_ctx *ctx);
int fsr_vdi_attach(struct sm_ctx *ctx);
int fsr_vdi_detach(struct sm_ctx *ctx);
int fsr_vdi_activate(struct sm_ctx *ctx);
int fsr_vdi_deactivate(struct sm_ctx *ctx);
int fsr_vdi_snapshot(struct sm_ctx *ctx);
int fsr_vdi_clone(struct sm_ctx *ctx);
int fsr_vdi_resize(struct sm_ctx *ctx);
int fsr_vdi_introduce(struct sm_ctx *ctx);
int fsr_vdi_update(struct sm_ctx *ctx);
int fsr_vdi_generate_config(struct sm_ctx *ctx);
int fsr_vdi_attach_from_config(struct sm_ctx *ctx);
int fsr_vdi_detach_from_config(struct sm_ctx *ctx);
int fsr_vdi_lock(struct sm_ctx *ctx);
int fsr_vdi_unlock(struct sm_ctx *ctx);

/*
 * Stop the NBD server of uuid (vdi_deactivate's first step; csm/nbd_serve.h):
 * flushed, then ended; no server is a success.  -1 with ctx->err when
 * the process would not die.
 */
int fsr_serve_stop(struct sm_ctx *ctx, const char *uuid);

/* The SR marker file written by sr_create (holds the SR uuid). */
#define FSR_MARKER VSTORE_DIR_MARKER

#endif
