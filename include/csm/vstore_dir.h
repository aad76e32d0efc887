/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The directory store (lib/vstore_dir.c): the VDI store of the file-based
 * SR types (File, EXT, NFS), over struct srfs.  Its files are the Python
 * FileSR's layout plus ours, unchanged from before the store existed:
 *   <uuid>.vhd, <uuid>.raw       images (parents located as "./<uuid>.vhd")
 *   <uuid>.meta, <uuid>.lock     metadata and vdi_lock records
 *   .csm-sr                      the SR marker (sr_create)
 *   .csm-journal/<op>-<id>       journals (csm/journal.h)
 *   .csm-active/<uuid>@<host>    activation records
 *   .<uuid>.<ext>.tmp            an image being created
 *   <uuid>.vhd.new               a snapshot child before it replaces the leaf
 *   .<uuid>.vhd.undo             the undo record of a vdi_resize grow
 *   <uuid>.vhd.undo              the undo record of a GC parent grow
 *   <name>.tmp.<pid>, <name>.<pid>.tmp   records being written
 *
 * Activation against the GC's leaf-coalesce, without a lock both share
 * (the SR lock is per host): the GC writes its journal record leaf-<vdi>
 * first and then looks for activation records; vdi_activate writes its
 * record first and then looks for leaf-<vdi>.  Whichever comes second sees
 * the other and backs off, so a leaf is never renamed over while someone
 * has it active.
 */
#ifndef CSM_VSTORE_DIR_H
#define CSM_VSTORE_DIR_H

#include "csm/srfs.h"
#include "csm/vstore.h"

#define VSTORE_DIR_MARKER ".csm-sr"
#define VSTORE_DIR_ACTIVE ".csm-active"

struct vstore_dir {
	struct vstore vs;
	/*
	 * The SR's directory tree.  When fs->ops is NULL on first use it is
	 * opened as a local directory at path; a directory that is not there
	 * (yet, or any more) answers every call with the error it gave.
	 */
	struct srfs *fs;
	const char *path;        /* the local directory; "" when fs is opened by the owner */
};

/* fs and path are the owner's and must outlive d (and not move). */
void vstore_dir_init(struct vstore_dir *d, struct srfs *fs, const char *path,
		     const char *sr_uuid);
/* The directory store behind vs (vs->ops must be the directory store's). */
struct vstore_dir *vstore_dir_of(struct vstore *vs);
/* Its srfs, opened on first use. */
struct srfs *vstore_dir_fs(struct vstore_dir *d);

/* This host in activation records: SM_HOST_ID, the inventory's host uuid, or the host name. */
const char *vstore_dir_host_id(void);

#endif
