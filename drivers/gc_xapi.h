/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * csm-gc in xapi mode (docs/gc.md "Under xapi"): the mode is chosen by
 * the drivers' rules (csm/xapi_sync.h), with a session of its own as the
 * Python GC logs in; then
 *  - before each plan, every VDI of the SR whose sm_config has a
 *    host_<ref> key counts as active on that host (another host of a
 *    shared SR included), so the plan holds back what it would hold back
 *    for such an activation record;
 *  - after each step, the VDI records of what it removed, merged or
 *    re-pointed (and their children) are made what an sr_scan would make
 *    of them (xsync_vdis against the store's collect), and the SR's sizes.
 */
#ifndef CSM_GC_XAPI_H
#define CSM_GC_XAPI_H

#include <stdbool.h>

#include "csm/gc_plan.h"
#include "csm/xapi.h"
#include "filebased.h"

struct gc_xapi {
	bool on;                 /* xapi mode */
	bool logged_in;          /* the session is ours: logged out at the end */
	struct xapi_conn conn;
	char *sr_ref;
	char *host_ref;          /* this host (session.get_this_host) */
	char name[GC_HOST_MAX];  /* the last host name looked up */
	struct sm_ctx ctx;       /* what the store's collect needs: ctx.sr */
};

/*
 * Choose the mode; in xapi mode log in, find the SR (sr_uuid) and this
 * host.  sr is the SR as the VDI operations see it (its store, its uuid),
 * for the collect.  0 (x->on says the mode), or -1 with err: nothing may
 * be done then (an endpoint that is configured but does not answer is
 * never "nobody is attached").
 */
int gcx_open(struct gc_xapi *x, struct file_sr *sr, const char *sr_uuid, struct sm_error *err);
/* The runner's active_more and changed hooks (csm/gc_run.h) in xapi mode. */
int gcx_active_more(struct gc_xapi *x, struct gc_active_set *a, const char *local_host,
		    struct sm_error *err);
int gcx_changed(struct gc_xapi *x, const char *const *uuids, size_t n, struct sm_error *err);
/* Log out (a session of our own) and free. */
void gcx_close(struct gc_xapi *x);

#endif
