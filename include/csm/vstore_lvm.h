/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The LVM store (lib/vstore_lvm.c): the VDI store of LVMSR over the VG
 * VG_XenStorage-<sr>, in the Python SM's LVHD layout (csm/lvhd.h), so an
 * SR either side made is one the other attaches, scans and recovers.
 *
 *   VHD-<u>, LV-<u>            images; parents located by their dm name
 *                              ("./VG_XenStorage--<sr>-VHD--<p>")
 *   MGT                        metadata records (csm/mgt.h), one slot per VDI
 *   <type>_<id>_<value>        Python LV journals (csm/lvjournal.h), tag journaler
 *   csm_<op>_<id>              this project's own journals, tag csm-journal
 *   VHD-<u> tagged csm-unfinished   an image being created (invisible)
 *   VHD-<u>.new                a snapshot child made beside an existing leaf
 *   VHD-OLD_<u>                the leaf-coalesce rename pair (Python's GC's too)
 *   tag hidden                 a hidden raw image (a VHD's is in its footer)
 *   permission r               base copies (lvchange -p r)
 *   <refcount dir>/lvm-<sr>/<u>   host-local activation counts (refcounter.py)
 *
 * Records:
 *  - metadata: the VDI's MGT slot.  vdi_meta <-> MGT: label <-> name_label,
 *    description <-> name_description, vdi_type <-> type, read_only,
 *    is_a_snapshot, snapshot_of, snapshot_time as the same keys ("0"/"1"
 *    for booleans); a new slot also gets vdi_type vhd|aio and managed 1,
 *    as LVHDSR's addVdi.  Keys of a slot this store does not know (the
 *    Python SM's metadata_of_pool, offset) are kept on update.
 *  - vdi_lock: the extra key csm_lock="<since>:<host>:<user>" in the VDI's
 *    slot (Python merges every key of a slot, so a rewrite by the Python
 *    SM keeps it).  No slot, or a record longer than VSTORE_LVM_LOCK_MAX:
 *    SME_LOCK_ERR with the reason.  An empty csm_lock is no lock.
 *  - activation: the host-local refcount files, single host: active_set is
 *    the binary count (the attached leaf's, as Python's), active_each lists
 *    every count file of the namespace as this host's.  Another host's
 *    activations are not seen (multi-host LVM needs the toolstack channel).
 *
 * Journals: see vstore_lvm.c (journal mapping) and docs in the report.
 */
#ifndef CSM_VSTORE_LVM_H
#define CSM_VSTORE_LVM_H

#include <stdbool.h>
#include <stddef.h>

#include "csm/lvhd.h"
#include "csm/lvm.h"
#include "csm/mgt.h"
#include "csm/vstore.h"

#define VSTORE_LVM_UNFINISHED "csm-unfinished"
#define VSTORE_LVM_HIDDEN     "hidden"
#define VSTORE_LVM_LOCK_KEY   "csm_lock"
#define VSTORE_LVM_LOCK_MAX   150

struct vstore_lvm {
	struct vstore vs;
	char sr[37];
	char vg[LVHD_VG_NAME_MAX];
	char ns[64];                             /* lvm-<sr> */
	const char *devices[LVM_MAX_DEVICES];    /* the caller's, kept while in use */
	size_t ndev;
	bool master;
	bool thin;                               /* allocation=thin */
	struct lvm lvm;
	bool lvm_open;
	/* What LVM said last; dropped after every change this store makes. */
	struct lvm_lv_list lvs;
	bool lvs_valid;
	struct lvm_vg_stats st;
	bool st_valid;
	/* Read from LVM with no change by this store since (reload, space skip asking again). */
	bool lvs_fresh, st_fresh;
	/* The MGT volume as decoded (kept equal to the disk by mgt.c's writers). */
	struct mgt mgt;
	bool mgt_valid;
	/*
	 * mgt's live slots by uuid (sorted; slot indices, not pointers: the
	 * writers move slots), built at the first lookup after a load or a
	 * change: a scan looks up every VDI twice, and mgt_find walks them all.
	 */
	struct vstore_lvm_mgt_entry {
		const char *uuid;
		size_t slot;
	} *mgt_index;
	size_t mgt_nindex;
	bool mgt_index_valid;
	char last_base[37];                      /* snap_keep's base, for snap_commit */
	struct vhd_opener opener;
};

/*
 * devices: the SR's PVs (the caller's strings, kept while s is used).
 * Nothing is opened yet; LVM is opened on first use (errors then).
 */
void vstore_lvm_init(struct vstore_lvm *s, const char *sr_uuid, const char *const *devices,
		     size_t ndev, bool master, bool thin);
struct vstore_lvm *vstore_lvm_of(struct vstore *vs);

/* ---- SR-level helpers for the LVMSR driver -------------------------------- */

/*
 * sr_create: pvcreate + vgcreate --metadatasize 10M on the devices, then the
 * MGT LV (4 MiB) formatted with the SR record.  An existing VG of that name
 * is SME_SR_EXISTS.
 */
int vstore_lvm_sr_create(struct vstore_lvm *s, const char *label, const char *description,
			 struct sm_error *err);
/*
 * sr_delete: any VDI LV left is SME_SR_NOT_EMPTY; else the journals, the
 * MGT LV and the VG go (vgremove), then the PV labels (pvremove), and the
 * refcount namespace.  A VG already gone: the PV labels only.
 */
int vstore_lvm_sr_delete(struct vstore_lvm *s, struct sm_error *err);
/* sr_attach: the VG is visible on the devices, else SME_SR_UNAVAILABLE. */
int vstore_lvm_sr_attach_check(struct vstore_lvm *s, struct sm_error *err);

/* One VG found by vstore_lvm_probe. */
struct vstore_lvm_probe {
	char sr_uuid[37];
	uint64_t size;
	char devices[LVM_MAX_DEVICES * LVM_DEV_MAX / 4];   /* the given devices in it, comma-joined */
};
/*
 * The VGs named VG_XenStorage-<uuid> on the given devices (pvs per device),
 * at most cap, *n found.
 */
int vstore_lvm_probe(const char *const *devices, size_t ndev, struct vstore_lvm_probe *out,
		     size_t cap, size_t *n, struct sm_error *err);

#endif
