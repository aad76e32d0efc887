/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * csm-gc in xapi mode (drivers/gc_xapi.h).  cleanup.py's counterparts:
 * XAPI.getSession (the login), VDI.isAttachedRW / util.is_attached_rw
 * (host_<ref> keys say where a VDI is attached), SR.forgetVDI after a
 * delete, VDI._setParent's vhd-parent after a relink.  Here the records
 * follow from what the store holds after the step (the collect sr_scan
 * reports), through the drivers' own reconcile (xsync_vdis), so they end
 * as a scan would leave them, sizes included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/log.h"
#include "csm/scan.h"
#include "csm/xapi_db.h"
#include "csm/xapi_sync.h"
#include "gc_xapi.h"

static int oom(struct sm_error *err)
{
	return sm_fail(err, SME_SM_GENERAL, "out of memory");
}

/* One call of one ref argument whose answer is a string, into *out (malloc'd). */
static int call_string(struct xapi_conn *c, const char *method, const char *ref, char **out,
		       struct sm_error *err)
{
	struct xr_value *arg = xr_string(ref), *v = NULL;
	const struct xr_value *p[] = { arg };
	int rc = -1;

	*out = NULL;
	if (!arg) {
		oom(err);
	} else if (xapi_call(c, method, p, 1, &v, err) == 0) {
		if (v->type != XR_STRING)
			sm_fail(err, SME_API_PROTOCOL, "%s answered no string", method);
		else if (!(*out = strdup(v->u.str)))
			oom(err);
		else
			rc = 0;
	}
	xr_free(arg);
	xr_free(v);
	return rc;
}

int gcx_open(struct gc_xapi *x, struct file_sr *sr, const char *sr_uuid, struct sm_error *err)
{
	struct sm_error e = { 0 };

	memset(x, 0, sizeof(*x));
	if (xapi_mode_open_process(NULL, &x->conn, &x->on, &x->logged_in, err) < 0)
		return -1;
	if (!x->on)
		return 0;
	x->ctx.sr = sr;
	if (xapi_sr_get_by_uuid(&x->conn, sr_uuid, &x->sr_ref, &e) < 0) {
		sm_fail(err, e.code, "xapi mode: SR %s not found in xapi: %s", sr_uuid, e.detail);
		goto fail;
	}
	/* The host the session was made on: this one (cleanup.py: util.get_this_host). */
	if (call_string(&x->conn, "session.get_this_host", x->conn.session, &x->host_ref, &e) < 0) {
		sm_fail(err, e.code, "xapi mode: which host is this: %s", e.detail);
		goto fail;
	}
	sm_log(LOG_INFO, "gc %s: xapi mode: SR %s, this host %s", sr_uuid, x->sr_ref, x->host_ref);
	return 0;
fail:
	gcx_close(x);
	return -1;
}

/* A host's name_label for the held-back reason; NULL when it has none or cannot be read. */
static const char *host_name(void *arg, const char *host_ref)
{
	struct gc_xapi *x = arg;
	struct sm_error e = { 0 };
	char *name = NULL;

	if (call_string(&x->conn, "host.get_name_label", host_ref, &name, &e) < 0) {
		sm_log(LOG_WARNING, "gc: host %s: no name (%s)", host_ref, e.detail);
		return NULL;
	}
	snprintf(x->name, sizeof(x->name), "%s", name);
	free(name);
	return x->name;
}

int gcx_active_more(struct gc_xapi *x, struct gc_active_set *a, const char *local_host,
		    struct sm_error *err)
{
	struct xapi_vdi_list l = { 0 };
	struct sm_error e = { 0 };
	int rc = 0;

	if (xapi_vdi_records_of_sr(&x->conn, x->sr_ref, &l, &e) < 0)
		return sm_fail(err, e.code, "xapi mode: cannot read the SR's VDI records, so "
			       "where its VDIs are attached is unknown: %s", e.detail);
	for (size_t i = 0; rc == 0 && i < l.count; i++) {
		const struct xapi_vdi_rec *r = &l.recs[i];

		if (gc_active_set_add_attached(a, r->uuid, r->sm_config, r->sm_config_count,
					       x->host_ref, local_host, host_name, x) < 0)
			rc = oom(err);
	}
	xapi_vdi_list_free(&l);
	return rc;
}

static bool listed(const char *const *list, size_t n, const char *uuid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], uuid) == 0)
			return true;
	return false;
}

int gcx_changed(struct gc_xapi *x, const char *const *uuids, size_t n, struct sm_error *err)
{
	struct scan_sr truth;
	const char **all = NULL;
	size_t k = 0;
	int rc = -1;

	memset(&truth, 0, sizeof(truth));
	memset(&x->ctx.err, 0, sizeof(x->ctx.err));
	if (fsr_collect(&x->ctx, &truth) < 0) {
		*err = x->ctx.err;
		goto out;
	}
	all = calloc(n + truth.count, sizeof(*all));
	if (!all) {
		oom(err);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!listed(all, k, uuids[i]))
			all[k++] = uuids[i];
	/* A removed or merged image's children were re-pointed: their vhd-parent changed. */
	for (size_t i = 0; i < truth.count; i++)
		if (truth.vdis[i].parent[0] && listed(uuids, n, truth.vdis[i].parent) &&
		    !listed(all, k, truth.vdis[i].uuid))
			all[k++] = truth.vdis[i].uuid;
	sm_log(LOG_INFO, "gc %s: xapi mode: %zu VDI record%s follow the GC's work", truth.uuid, k,
	       k == 1 ? "" : "s");
	if (xsync_vdis(&x->conn, x->sr_ref, &truth, all, k, NULL, 0, err) < 0 ||
	    xsync_sr_sizes(&x->conn, x->sr_ref, &truth, err) < 0) {
		char detail[sizeof(err->detail)];

		snprintf(detail, sizeof(detail), "%s", err->detail);
		sm_fail(err, err->code, "xapi mode: the VDI records do not follow the GC's work "
			"(the next sr_scan brings them in line): %s", detail);
		goto out;
	}
	rc = 0;
out:
	free(all);
	scan_sr_free(&truth);
	return rc;
}

void gcx_close(struct gc_xapi *x)
{
	if (x->on)
		xapi_mode_close(&x->conn, x->logged_in);
	free(x->sr_ref);
	free(x->host_ref);
	x->sr_ref = x->host_ref = NULL;
	x->on = x->logged_in = false;
}
