/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The directory of a file-based SR as a store of images: names, the
 * metadata beside each image, and the forest of VHD chains a listing
 * gives.  Shared by the driver operations and the garbage collector.
 */
#ifndef CSM_FSR_STORE_H
#define CSM_FSR_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "csm/error.h"
#include "csm/srfs.h"
#include "csm/vdimeta.h"
#include "csm/vhd.h"
#include "filebased.h"

enum fsr_kind { VK_NONE, VK_VHD, VK_RAW };

const char *fsr_ext(enum fsr_kind k);
/* "<uuid>.<ext>", relative to the SR root (uuids are checked: it cannot escape). */
void fsr_path(const struct file_sr *sr, const char *uuid, const char *ext, char out[PATH_MAX]);
/* The SR's directory tree, and thin wrappers over it for the common calls. */
struct srfs *fsr_fs(const struct file_sr *sr);
void fsr_describe(const struct file_sr *sr, const char *rel, char *out, size_t cap);
int fsr_stat(const struct file_sr *sr, const char *rel, struct srfs_stat *st);
/* 1 there, 0 positively absent, -errno could not look (srfs_lookup). */
int fsr_lookup(const struct file_sr *sr, const char *rel);
int fsr_open(const struct file_sr *sr, const char *rel, int flags, struct vhd_io *io,
	     struct sm_error *err);
int fsr_unlink(const struct file_sr *sr, const char *rel);
int fsr_sync_dir(const struct file_sr *sr);
int fsr_vhd_query(const struct file_sr *sr, const char *rel, struct vhd_info *info,
		  struct sm_error *err);
int fsr_vhd_query_fast(const struct file_sr *sr, const char *rel, struct vhd_info *info,
		       struct sm_error *err);
int fsr_vhd_set_hidden(const struct file_sr *sr, const char *rel, bool hidden,
		       struct sm_error *err);
/* vhd_repair on rel (what a killed writer left: footer, batmap, locators), logged. */
int fsr_vhd_repair(const struct file_sr *sr, const char *rel, struct sm_error *err);
/*
 * Which image holds uuid: 0 with *kind (VK_NONE only when the SR said
 * neither name exists), or -1 with err (code, or SR_UNAVAILABLE for a
 * timeout) when it could not be told, or the name is not a regular file.
 */
int fsr_find(const struct file_sr *sr, const char *uuid, enum fsr_kind *kind, int code,
	     struct sm_error *err);
/* The SR directory exists and is a directory (SME_SR_UNAVAILABLE otherwise). */
int fsr_dir_check(const struct file_sr *sr, struct sm_error *err);

/* <uuid>.meta; read returns 0 or -errno (m zeroed first). */
int fsr_meta_read(const struct file_sr *sr, const char *uuid, struct vdi_meta *m);
int fsr_meta_write(const struct file_sr *sr, const char *uuid, const struct vdi_meta *m,
		   struct sm_error *err, int code);
/* A persistent vdi_lock record exists: 1, 0, or -errno (could not look). */
int fsr_is_locked(const struct file_sr *sr, const char *uuid);

/*
 * Activation records live on the SR itself, the one place every host
 * shares: .csm-active/<vdi>@<host>, made durable by vdi_activate before
 * it answers, removed by vdi_deactivate.  vdi_delete refuses an active
 * VDI and the GC never merges a leaf that is active on any host.
 *
 * Activation against the GC's leaf-coalesce, without a lock both share
 * (the SR lock is per host): the GC writes its journal record
 * leaf-<vdi> first and then looks for activation records; vdi_activate
 * writes its record first and then looks for leaf-<vdi>.  Whichever
 * comes second sees the other and backs off, so a leaf is never renamed
 * over while someone has it active.
 */
#define FSR_ACTIVE_DIR ".csm-active"
/* This host in activation records: SM_HOST_ID, the XenServer inventory's host uuid, or the host name. */
const char *fsr_host_id(void);
int fsr_active_set(const struct file_sr *sr, const char *uuid, bool rw, int code,
		   struct sm_error *err);
/* Remove this host's record (absent is fine): 0 or -errno. */
int fsr_active_clear(const struct file_sr *sr, const char *uuid);
/*
 * Every activation record: fn(arg, vdi, host), non-zero stops.  0, or
 * -errno when the records could not be read.
 */
typedef int (*fsr_active_fn)(void *arg, const char *uuid, const char *host);
int fsr_active_each(const struct file_sr *sr, fsr_active_fn fn, void *arg);
/*
 * Active on any host?  1 (holder gets the host, if not NULL), 0, or
 * -errno when the records could not be read.
 */
int fsr_active_lookup(const struct file_sr *sr, const char *uuid, char holder[128]);
/* Remove <uuid>.meta and <uuid>.lock. */
void fsr_unlink_sidecars(const struct file_sr *sr, const char *uuid);

struct fsr_node {
	char uuid[37];
	enum fsr_kind kind;
	struct srfs_stat st;
	struct vhd_info info;
	char error[256];        /* "" when the image opened cleanly */
	char parent[37];        /* "" when none */
	/*
	 * A VHD whose header could not be read: its parent, so the children
	 * counts of the whole SR, are unknown (fsr_forest.unknown_parents).
	 */
	bool parent_unknown;
	/* Unreadable, or an ancestor of an unreadable image: no GC work may touch it. */
	bool blocked;
	int nchildren;
	bool live;              /* visible, or an ancestor of a visible image */
	int sidecars;           /* FSR_HAS_META | FSR_HAS_LOCK, from the listing */
};

#define FSR_HAS_META 0x1
#define FSR_HAS_LOCK 0x2

struct fsr_forest {
	struct fsr_node *nodes;
	size_t count;
	size_t cap;
	/*
	 * Images whose parent could not be read: any image could be the
	 * parent of one of them, so no image is known to be childless.
	 */
	size_t unknown_parents;
	const struct fsr_node *first_unknown;   /* one of them, for messages */
};

/* The parent uuid a VHD names ("<uuid>.vhd" sibling), or "". */
void fsr_parent_uuid(const struct vhd_info *info, char out[37]);
/*
 * List and query every image; sorted by uuid, children counted, liveness
 * marked.  full: read each BAT too (allocated_blocks, phys_size); without
 * it only footers and headers are read, one read per image.
 */
int fsr_forest_load(struct fsr_forest *f, const struct file_sr *sr, bool full,
		    struct sm_error *err);
struct fsr_node *fsr_forest_find(const struct fsr_forest *f, const char *uuid);
void fsr_forest_free(struct fsr_forest *f);

/* Finish or undo a GC leaf-coalesce of l_uuid into p_uuid that died (SR lock held). */
int fsr_recover_leaf(const struct file_sr *sr, const char *l_uuid, const char *p_uuid,
		     struct sm_error *err);

#endif
