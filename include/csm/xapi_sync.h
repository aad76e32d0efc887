/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The two modes of a driver call, and the XenAPI database side effects
 * of xapi mode (issue 11; docs/protocol.md "Two modes").
 *
 * API mode (the original SM API, by hand, tests, static-vdis): no XenAPI
 * call at all; sr_scan answers the scan document.
 *
 * xapi mode: the driver makes the database side effects the Python SM
 * makes over the request's session, and sr_scan answers nil.
 *
 * The choice, per call, logged with its reason:
 *   CSM_XAPI=off   API mode, always.
 *   CSM_XAPI=on    xapi mode; no session_ref in the request, or an
 *                  endpoint that does not answer, is fault 154.
 *   CSM_XAPI=auto or unset:
 *                  xapi mode when the request has a session_ref (not
 *                  empty, not OpaqueRef:NULL) and the endpoint is
 *                  configured: CSM_XAPI_SOCKET set, or the default socket
 *                  (/var/lib/xcp/xapi) exists.  A configured endpoint
 *                  that does not answer is fault 154, never a silent fall
 *                  back to API mode.  Otherwise API mode.
 *   Any other value of CSM_XAPI is fault 154 naming it.
 * CSM_XAPI_TIMEOUT_MS bounds every XenAPI call (default 60000).
 *
 * Everything here is generic: it works on the scan document's structures
 * (struct scan_sr, what the SR holds as the toolstack should see it),
 * which every driver already fills, so the side effects follow from the
 * operations and not from per-driver copies.
 */
#ifndef CSM_XAPI_SYNC_H
#define CSM_XAPI_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "csm/error.h"
#include "csm/scan.h"
#include "csm/xapi.h"
#include "csm/xapi_db.h"

struct sm_call;

#define XAPI_MODE_ENV "CSM_XAPI"
#define XAPI_TIMEOUT_ENV "CSM_XAPI_TIMEOUT_MS"

/*
 * Choose the mode for call as described above.  On xapi mode *on is
 * true and c is initialised (the request's session_ref, subtask_of;
 * free with xapi_conn_free); in API mode *on is false and c is left
 * zeroed.  When the endpoint must answer, one cheap call (e.g.
 * session.get_this_host... or the connect itself) proves it does.
 * Returns 0, or -1 with err (154).  The choice and its reason are logged.
 */
int xapi_mode_open(const struct sm_call *call, struct xapi_conn *c, bool *on,
		   struct sm_error *err);

/* Extra facts for a VDI xsync introduces (NULL fields: from the scan). */
struct xsync_new_vdi {
	const char *uuid;
	const char *name_label;
	const char *name_description;
	bool is_a_snapshot;
	const char *snapshot_of;     /* a VDI ref, or NULL */
	time_t snapshot_time;        /* 0: 19700101T00:00:00Z (vdi_introduce passes xapi's) */
	const char *type;            /* xapi's vdi_type (user, system...); NULL: "user" */
	const char *metadata_of_pool;   /* a pool ref, or NULL */
	/* vdi_sm_config keys VDI.py passes through (base_mirror, key_hash) */
	struct scan_kv sm_config[2];
	size_t sm_config_count;
};

/*
 * Make xapi's VDI records of sr_ref agree with truth (what the SR holds):
 *  - uuids == NULL: every VDI.  A VDI in truth but not in xapi is
 *    introduced (db_introduce with the Python SM's arguments: location,
 *    sizes, read_only, managed = !hidden, sm_config vhd-parent/type as
 *    the Python drivers set them); one in xapi but not in truth is
 *    forgotten (db_forget); one in both whose sizes, read_only, managed
 *    or sm_config vhd-parent differ is updated with the setters.
 *  - uuids != NULL: only those n uuids (a named uuid truth lacks is
 *    forgotten if xapi has it).
 * A VDI truth lists with an error (unreadable image) is neither
 * introduced nor forgotten nor changed: the toolstack must not lose it.
 * extra (may be NULL, n_extra entries) gives labels and snapshot facts
 * for VDIs this call creates.  Returns 0 or -1 with err (153/154).
 */
int xsync_vdis(struct xapi_conn *c, const char *sr_ref, const struct scan_sr *truth,
	       const char *const *uuids, size_t n, const struct xsync_new_vdi *extra,
	       size_t n_extra, struct sm_error *err);

/* SR.set_physical_size / set_physical_utilisation / set_virtual_allocation from truth. */
int xsync_sr_sizes(struct xapi_conn *c, const char *sr_ref, const struct scan_sr *truth,
		   struct sm_error *err);

/*
 * The uuids of the SR's VDIs whose record is managed (*uuids malloc'd, *n
 * of them): the LUN-per-VDI drivers keep their managed bits in xapi, as
 * LUNperVDI.py does.  The SR is sr_ref, else looked up by sr_uuid.
 */
int xsync_managed_vdis(struct xapi_conn *c, const char *sr_ref, const char *sr_uuid,
		       char (**uuids)[37], size_t *n, struct sm_error *err);

/*
 * The activation handshake (blktap2.py _add_tag / _remove_tag):
 * begin waits while the VDI's sm_config has "paused" or "relinking" (a
 * snapshot elsewhere holds it), retrying once a second for
 * xsync_pause_wait_s() seconds as blktap2.py's activate does, then
 * refuses (fault SME_VDI_UNAVAILABLE naming the key); otherwise it adds
 * activating=True and host_<host_ref>=RW|RO.  end removes "activating"
 * (and, when !ok, the host key too).  deactivate_check waits the same way
 * while "paused" is set (blktap2.py _check_tag) and refuses after, before
 * anything is torn down; deactivate removes host_<host_ref>.
 */
unsigned xsync_pause_wait_s(void);
int xsync_deactivate_check(struct xapi_conn *c, const char *vdi_ref, struct sm_error *err);
int xsync_activate_begin(struct xapi_conn *c, const char *vdi_ref, const char *host_ref,
			 bool writable, struct sm_error *err);
int xsync_activate_end(struct xapi_conn *c, const char *vdi_ref, const char *host_ref,
		       bool ok, struct sm_error *err);
int xsync_deactivate(struct xapi_conn *c, const char *vdi_ref, const char *host_ref,
		     struct sm_error *err);

/*
 * Snapshot and clone of an attached VDI: pause it on every host whose
 * host_<ref> key its sm_config has (host.call_plugin(host, "tapdisk-pause",
 * "pause", {sr_uuid, vdi_uuid, failfast}) as blktap2.py tap_pause), and
 * afterwards unpause each host paused (also when the operation failed).
 * struct xsync_paused records who was paused.
 */
struct xsync_paused {
	char **hosts;
	size_t count;
};
int xsync_pause(struct xapi_conn *c, const char *vdi_ref, const char *sr_uuid,
		const char *vdi_uuid, struct xsync_paused *p, struct sm_error *err);
int xsync_unpause(struct xapi_conn *c, const char *sr_uuid, const char *vdi_uuid,
		  struct xsync_paused *p, struct sm_error *err);
void xsync_paused_free(struct xsync_paused *p);

/*
 * The mode of a process that is no driver call (csm-gc), by the rules of
 * xapi_mode_open.  session: one handed over (then exactly
 * xapi_mode_open), or NULL: xapi mode when the endpoint is configured
 * (CSM_XAPI auto) or required (on), with a session of its own:
 * session.login_with_password("root", "", "", "SM"), as the Python GC
 * (cleanup.py) logs in over xapi_local(); *logged_in then, and a stale
 * session is logged in again once per call.  A configured endpoint that
 * does not answer, or refuses the login, is fault 154: never API mode.
 */
#define XAPI_LOGIN_USER "root"
int xapi_mode_open_process(const char *session, struct xapi_conn *c, bool *on,
			   bool *logged_in, struct sm_error *err);
/* session.logout when logged_in (a failure is only logged), then xapi_conn_free. */
void xapi_mode_close(struct xapi_conn *c, bool logged_in);

#endif
