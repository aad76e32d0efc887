/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The host side of iSCSI, beside the user-space control path of
 * csm/iscsi.h: the dconf rules, the host's initiator name, the kernel
 * initiator (open-iscsi's iscsiadm, run as the Python SM runs it, through
 * the bounded exec helper), the /run/sr-ref/<IQN> session refcount in the
 * Python SM's format (so C and Python SRs can share a session), the
 * SCSIid -> block device resolution through sysfs (no udev needed), and
 * the probe documents, byte for byte as the Python SM prints them.
 * Research notes: block-family.md §C.1-§C.6, §D.1.
 */
#ifndef CSM_ISCSI_HOST_H
#define CSM_ISCSI_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "csm/buf.h"
#include "csm/error.h"
#include "csm/iscsi.h"
#include "csm/xmlrpc.h"

/*
 * Fill t from dconf (an XR_STRUCT): target (required, first comma element;
 * 95), port (1..65535 as decimal digits; 142), localIQN (else the host's
 * initiator name; 97), targetIQN (may be absent: t->target_iqn NULL),
 * chapuser/chappassword and incoming_chapuser/incoming_chappassword (a user
 * without its password, or the reverse, is 1 with which key is missing),
 * *_secret keys (20: secrets need the toolstack channel), and ours,
 * iscsi-timeout (seconds, 1..600: the bound of each control call; 1).  iqn_buf holds
 * the initiator name when it came from the host file.
 */
int sm_iscsi_target_from_dconf(const struct xr_value *dconf, struct sm_iscsi_target *t,
			       char *iqn_buf, size_t iqn_bufsz, struct sm_error *err);

/*
 * The host's initiator name: InitiatorName= of /etc/iscsi/initiatorname.iscsi
 * (CSM_ISCSI_INITIATORNAME_FILE overrides the path).  97 when absent or empty.
 */
int sm_iscsi_host_iqn(char *out, size_t outsz, struct sm_error *err);

/*
 * The session refcount /run/sr-ref/<target IQN> (CSM_SR_REF_DIR overrides
 * /run/sr-ref): one SR uuid per line, as the Python SM's util.py keeps it.
 * add is idempotent for an SR already listed; remove returns the number of
 * SRs still listed (>= 0) or -1 on error.  Both under the file's lock.
 */
int sm_iscsi_ref_add(const char *target_iqn, const char *sr_uuid, struct sm_error *err);
int sm_iscsi_ref_remove(const char *target_iqn, const char *sr_uuid, struct sm_error *err);

/* True when this host has a kernel initiator we can drive (iscsiadm and iscsi_tcp). */
bool sm_iscsi_kernel_available(void);

/*
 * Kernel sessions through iscsiadm (argv, no shell, bounded): node records
 * with the CHAP settings, then login; logout of all portals of the IQN
 * (and "-o delete" of the node records when delete_nodes).  Faults 68
 * (login), 69 (logout), 182 (delete), 86 (iscsiadm missing or iscsid not
 * answering); iscsiadm's output, secrets masked, in the detail.  Login:
 * 96 without targetIQN; 68 when t->initiator_iqn is not the host's
 * initiator name (iscsid logs in with that one; we do not rewrite it);
 * an existing session is success.  Logout/delete of nothing is success.
 * session_exists reads /sys/class/iscsi_session (no iscsid needed).
 */
int sm_iscsi_kernel_login(const struct sm_iscsi_target *t, struct sm_error *err);
int sm_iscsi_kernel_logout(const char *target_iqn, bool delete_nodes, struct sm_error *err);
bool sm_iscsi_kernel_session_exists(const char *target_iqn);

/*
 * The block device of a LUN by its SCSIid: /dev/disk/by-id/scsi-<SCSIid>
 * when that link exists (Python-compatible), else /dev/sdX found through
 * /sys/block/sd*\/device/{wwid,vpd_pg83}.  In test builds,
 * CSM_ISCSI_DEVICE_MAP="<SCSIid>=<dev>[,<SCSIid>=<dev>...]" maps first
 * (tests on a host without an initiator).  wait_ms > 0 polls that long
 * for the device to appear.  67 ISCSIDevice when it does not; 107 for a
 * scsi_id that cannot be one (empty, '/', blanks).  CSM_SYSFS_ROOT and
 * CSM_DEV_ROOT put /sys and /dev under a planted tree (tests).
 */
int sm_iscsi_device_for_scsi_id(const char *scsi_id, int wait_ms,
				char *path, size_t pathsz, struct sm_error *err);

/*
 * The SCSIid udev's scsi_id would give for a kernel wwid
 * (/sys/block/sdX/device/wwid): "naa.<hex>" -> "3<hex>", "eui.<hex>" ->
 * "2<hex>", "t10.<text>" -> "1<text>" (padding NULs dropped, whitespace
 * runs as '_').  0, or -1 for another form or a too small out.
 */
int sm_iscsi_scsi_id_from_wwid(const char *wwid, char *out, size_t outsz);

/*
 * The probe documents, as Python's minidom toprettyxml() writes them
 * (header <?xml version="1.0" ?>, tab indentation, trailing newline):
 *   iqn list   <iscsi-target-iqns>: one <TGT> per entry, <Port> only when
 *              not 3260, then the wildcard entry (address = target as
 *              given, iqn "*");
 *   lun list   <iscsi-target>: <LUN> with vendor, serial, LUNid, size,
 *              SCSIid, each only when non-empty;
 *   srlist     <SRlist/> with nothing to list.
 */
void sm_iscsi_write_lun_list(struct sm_buf *b, const struct sm_iscsi_lun *l, size_t n);

/*
 * The iqn list with the wildcard entry at dconf's port: Python appends
 * "<target>:<port>" and splits it again, so the wildcard <TGT> has a
 * <Port> when dconf port is not 3260.
 */
void sm_iscsi_write_iqn_list_at(struct sm_buf *b, const struct sm_iscsi_discovered *d,
				size_t n, const char *target_as_given, int port);

/* '<?xml version="1.0" ?>\n<SRlist/>\n' */
void sm_iscsi_write_srlist_empty(struct sm_buf *b);

#endif
