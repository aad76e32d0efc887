/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The iSCSI control path, in user space through libiscsi: a bounded TCP
 * check of the portal, sendtargets discovery, a short normal session
 * (login with CHAP and mutual CHAP, REPORT LUNS, INQUIRY, READ
 * CAPACITY(16), READ), and logout.  It needs no iscsid and touches no host
 * state, so probe, scan and the checks before attach work on any host, and
 * every call ends within the configured deadline: a silent portal or a
 * target that dies mid-call is a fault, never a hung driver.
 *
 * The prefix is sm_iscsi_ because libiscsi owns iscsi_.  Research notes:
 * block-family.md §C.5 (the libiscsi calls and their verified behaviour).
 */
#ifndef CSM_ISCSI_H
#define CSM_ISCSI_H

#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

#define SM_ISCSI_DEFAULT_PORT 3260
#define SM_ISCSI_IQN_MAX 224          /* RFC 3720: at most 223 bytes */
#define SM_ISCSI_HOST_MAX 256
#define SM_ISCSI_SCSIID_MAX 128
/* Default deadline of one whole control call (connect + login + commands). */
#define SM_ISCSI_DEFAULT_TIMEOUT_MS 15000

/*
 * Where and how to log in.  The strings are borrowed (from dconf); the
 * secrets in auth are never logged, printed or put in a fault detail.
 */
struct sm_iscsi_auth {
	const char *user;          /* one-way CHAP (chapuser), NULL = none */
	const char *password;      /* chappassword */
	const char *in_user;       /* mutual CHAP (incoming_chapuser), NULL = none */
	const char *in_password;   /* incoming_chappassword */
};

struct sm_iscsi_target {
	char host[SM_ISCSI_HOST_MAX];   /* first element of dconf target; an IPv6
					   address without brackets */
	int port;                       /* 1..65535, default 3260 */
	const char *target_as_given;    /* dconf target as given (probe's wildcard entry) */
	const char *initiator_iqn;      /* localIQN (or the host's initiator name) */
	const char *target_iqn;         /* targetIQN; NULL or "" = not given */
	struct sm_iscsi_auth auth;
	int timeout_ms;                 /* whole-call deadline; 0 = default */
};

/* One (portal, target) pair from sendtargets discovery, ",tpgt" stripped. */
struct sm_iscsi_discovered {
	char address[SM_ISCSI_HOST_MAX];   /* as the portal gave it; IPv6 keeps brackets */
	int port;
	char iqn[SM_ISCSI_IQN_MAX];
};

/* A direct-access LUN (peripheral device type 0) of a logged-in target. */
struct sm_iscsi_lun {
	int lun;
	char vendor[9];                    /* standard INQUIRY vendor, spaces removed */
	char product[17];                  /* product id, trailing spaces removed */
	char serial[256];                  /* VPD 0x80, all whitespace removed */
	char scsi_id[SM_ISCSI_SCSIID_MAX]; /* as udev's scsi_id -g computes it */
	uint64_t size;                     /* bytes: (last LBA + 1) * block length */
	uint32_t block_size;
};

struct sm_iscsi_session;   /* a logged-in normal session; one thread */

/*
 * Our own TCP connect to host:port within timeout_ms (Python's _testHost):
 * a name that does not resolve is 140 DNSError, a refused, unreachable or
 * silent portal is 141 ISCSITarget with the reason ("connection refused",
 * "no answer within 5 s").  0 on success.
 */
int sm_iscsi_tcp_check(const char *host, int port, int timeout_ms, struct sm_error *err);

/*
 * Sendtargets discovery on t's portal (CHAP from t->auth when the target
 * asks).  *out is malloc'd (free with free()), *n may be 0: the caller
 * decides whether an empty list is 83.  Faults: 140, 141, 68, 83.
 */
int sm_iscsi_discover(const struct sm_iscsi_target *t,
		      struct sm_iscsi_discovered **out, size_t *n, struct sm_error *err);

/*
 * Log in to t->target_iqn on t's portal.  Faults: 140/141 (portal), 68
 * with the side that failed ("the target refused our CHAP credentials",
 * "the target's mutual CHAP response was wrong"), 83 for an unknown IQN.
 */
int sm_iscsi_session_open(const struct sm_iscsi_target *t,
			  struct sm_iscsi_session **out, struct sm_error *err);

/* The direct-access LUNs in LUN order; *out malloc'd, free with free(). */
int sm_iscsi_session_luns(struct sm_iscsi_session *s,
			  struct sm_iscsi_lun **out, size_t *n, struct sm_error *err);

/* Read len bytes at byte offset off of LUN lun (any alignment). */
int sm_iscsi_session_read(struct sm_iscsi_session *s, int lun, uint64_t off,
			  void *buf, size_t len, struct sm_error *err);

/* Log out (bounded) and free; NULL is a no-op.  Never fails the caller. */
void sm_iscsi_session_close(struct sm_iscsi_session *s);

/*
 * The SCSIid of a VPD page 0x83 (the whole page, header included), as
 * udev's scsi_id -g computes it: designators of association "logical
 * unit", priority NAA IEEE Registered Extended (6) > Registered (5) >
 * other NAA > EUI-64 > T10 vendor id; the prefix digit is the designator
 * type; whitespace runs become '_'.  0, or -1 when no usable designator.
 */
int sm_iscsi_scsi_id_from_vpd83(const uint8_t *page, size_t len, char *out, size_t outsz);

/* The VDI uuid of a LUN: md5 hex of the SCSIid, cut 8-4-4-4-12. */
void sm_iscsi_vdi_uuid(const char *scsi_id, char out[37]);

#endif
