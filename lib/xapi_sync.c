/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The mode of a call and xapi mode's database side effects
 * (include/csm/xapi_sync.h).  The side effects are those of the Python
 * SM's generic code: SR.ScanRecord and VDI._db_introduce/_db_update for
 * the VDI records, SR._db_update for the sizes, blktap2's _add_tag /
 * _remove_tag and tap_pause / tap_unpause for the sm_config handshake.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm/driver.h"
#include "csm/log.h"
#include "csm/util.h"
#include "csm/xapi_sync.h"

#define NULL_REF "OpaqueRef:NULL"
#define PLUGIN_TAP_PAUSE "tapdisk-pause"

static int oom(struct sm_error *err)
{
	return sm_fail(err, SME_SM_GENERAL, "out of memory");
}

/* ---- the mode ---- */

enum mode_setting { MODE_AUTO, MODE_ON, MODE_OFF };

static int read_mode(enum mode_setting *m, struct sm_error *err)
{
	const char *v = getenv(XAPI_MODE_ENV);

	if (!v || !*v || !strcmp(v, "auto"))
		*m = MODE_AUTO;
	else if (!strcmp(v, "on"))
		*m = MODE_ON;
	else if (!strcmp(v, "off"))
		*m = MODE_OFF;
	else
		return sm_fail(err, SME_API_PROTOCOL, "%s=%s: expected on, off or auto",
			       XAPI_MODE_ENV, v);
	return 0;
}

static int read_timeout(int *ms, struct sm_error *err)
{
	const char *v = getenv(XAPI_TIMEOUT_ENV);
	char *end;
	long n;

	*ms = XAPI_DEFAULT_TIMEOUT_MS;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n <= 0 || n > INT_MAX)
		return sm_fail(err, SME_API_PROTOCOL, "%s=%s: expected milliseconds > 0",
			       XAPI_TIMEOUT_ENV, v);
	*ms = (int)n;
	return 0;
}

static bool has_session(const char *s)
{
	return s && *s && strcmp(s, NULL_REF);
}

/* The endpoint is configured: CSM_XAPI_SOCKET names one, or xapi's own socket exists. */
static const char *configured_endpoint(void)
{
	const char *env = getenv(XAPI_SOCKET_ENV);

	if (env && *env)
		return env;
	return access(XAPI_DEFAULT_SOCKET, F_OK) == 0 ? XAPI_DEFAULT_SOCKET : NULL;
}

static void api_mode(const char *why)
{
	sm_log(LOG_INFO, "xapi: API mode (%s)", why);
}

/*
 * One read-only call every xapi answers with this session: proves the
 * endpoint answers and the session is good before any side effect.
 */
static int probe(struct xapi_conn *c, struct sm_error *err)
{
	struct sm_error perr = { 0 };
	struct xr_value *v = NULL;
	int rc = xapi_call(c, "host.get_all", NULL, 0, &v, &perr);

	xr_free(v);
	if (rc)
		return sm_fail(err, SME_API_PROTOCOL, "xapi endpoint %s does not answer: %s",
			       c->socket_path, perr.detail);
	return 0;
}

/*
 * The rules every opener shares: CSM_XAPI first, then the session (a
 * request's, or, with will_login, one to be made), then the endpoint.
 * 0 with *conn_up false is API mode (said in the log); 0 with *conn_up
 * true is a connection made for xapi mode, not yet proved.  *m tells how.
 */
static int mode_connect(bool have_session, bool will_login, const char *session,
			const char *subtask, struct xapi_conn *c, enum mode_setting *m,
			bool *conn_up, struct sm_error *err)
{
	const char *endpoint;
	int timeout_ms;

	memset(c, 0, sizeof(*c));
	*conn_up = false;
	if (read_mode(m, err))
		return -1;
	if (*m == MODE_OFF) {
		api_mode(XAPI_MODE_ENV "=off");
		return 0;
	}
	if (!have_session && !will_login) {
		if (*m == MODE_ON)
			return sm_fail(err, SME_API_PROTOCOL,
				       "%s=on but the request has no session_ref", XAPI_MODE_ENV);
		api_mode("the request has no session_ref");
		return 0;
	}
	endpoint = configured_endpoint();
	if (!endpoint && *m == MODE_AUTO) {
		api_mode(XAPI_SOCKET_ENV " unset and no " XAPI_DEFAULT_SOCKET);
		return 0;
	}
	if (read_timeout(&timeout_ms, err)
	    || xapi_conn_init(c, endpoint, session, subtask, timeout_ms, err))
		return -1;
	*conn_up = true;
	return 0;
}

static const char *mode_setting_name(enum mode_setting m)
{
	return m == MODE_ON ? XAPI_MODE_ENV "=on" : XAPI_MODE_ENV " auto";
}

int xapi_mode_open(const struct sm_call *call, struct xapi_conn *c, bool *on,
		   struct sm_error *err)
{
	const char *session = call ? call->session_ref : NULL;
	const char *subtask = call ? xr_struct_get_string(call->req, "subtask_of") : NULL;
	enum mode_setting m;
	bool up;

	*on = false;
	if (mode_connect(has_session(session), false, session, subtask, c, &m, &up, err) < 0)
		return -1;
	if (!up)
		return 0;
	if (probe(c, err)) {
		xapi_conn_free(c);
		return -1;
	}
	sm_log(LOG_INFO, "xapi: xapi mode (%s, session_ref given, endpoint %s answers)",
	       mode_setting_name(m), c->socket_path);
	*on = true;
	return 0;
}

/* ---- what the record of a VDI should say ---- */

static const struct scan_vdi *truth_find(const struct scan_sr *t, const char *uuid)
{
	for (size_t i = 0; i < t->count; i++)
		if (!strcmp(t->vdis[i].uuid, uuid))
			return &t->vdis[i];
	return NULL;
}

static const struct xsync_new_vdi *extra_find(const struct xsync_new_vdi *x, size_t n,
					      const char *uuid)
{
	for (size_t i = 0; x && i < n; i++)
		if (x[i].uuid && !strcmp(x[i].uuid, uuid))
			return &x[i];
	return NULL;
}

/* An image VDI (a VHD or raw file or LV), not a LUN of a raw-LUN SR. */
static bool is_image(const struct scan_vdi *v)
{
	return !v->vendor && v->type;
}

/*
 * The sm_config keys the SM owns for v, as the Python drivers set them:
 * the driver's own entries (vdi_type on LVM, LUNid/SCSIid on iSCSI), then
 * FileVDI/LVHDVDI's "vhd-parent" for a VHD with a parent and "type" =
 * "raw" for a raw image.  *no_parent: a VHD without parent, whose
 * "vhd-parent" must go (FileVDI's sm_config_override {'vhd-parent': None}).
 */
static int wanted_config(const struct scan_vdi *v, const struct xsync_new_vdi *x,
			 struct scan_kv **kv, size_t *n, bool *no_parent)
{
	size_t extra = x ? x->sm_config_count : 0;
	size_t cap = v->sm_config_count + extra + 2, k = 0;
	struct scan_kv *out = calloc(cap, sizeof(*out));
	bool vhd = is_image(v) && !strcmp(v->type, "vhd");
	bool raw = is_image(v) && !strcmp(v->type, "raw");

	*kv = NULL;
	*n = 0;
	*no_parent = vhd && !v->parent[0];
	if (!out)
		return -1;
	for (size_t i = 0; i < v->sm_config_count; i++, k++)
		if (!(out[k].key = strdup(v->sm_config[i].key))
		    || !(out[k].value = strdup(v->sm_config[i].value)))
			goto fail;
	if (vhd && v->parent[0] && !xapi_kv_get(out, k, "vhd-parent")) {
		if (!(out[k].key = strdup("vhd-parent")) || !(out[k].value = strdup(v->parent)))
			goto fail;
		k++;
	}
	if (raw && !xapi_kv_get(out, k, "type")) {
		if (!(out[k].key = strdup("type")) || !(out[k].value = strdup("raw")))
			goto fail;
		k++;
	}
	/* VDI.py _db_introduce: the request's vdi_sm_config keys it passes through. */
	for (size_t i = 0; i < extra; i++) {
		if (xapi_kv_get(out, k, x->sm_config[i].key))
			continue;
		if (!(out[k].key = strdup(x->sm_config[i].key))
		    || !(out[k].value = strdup(x->sm_config[i].value)))
			goto fail;
		k++;
	}
	*kv = out;
	*n = k;
	return 0;
fail:
	xapi_kv_free(out, k + 1);
	return -1;
}

static int introduce(struct xapi_conn *c, const char *sr_ref, const struct scan_vdi *v,
		     const struct xsync_new_vdi *x, struct sm_error *err)
{
	struct xapi_introduce in = {
		.uuid = v->uuid,
		.name_label = x && x->name_label ? x->name_label : v->label,
		.name_description = x && x->name_description ? x->name_description :
				    v->description,
		.sr_ref = sr_ref,
		.type = x && x->type && *x->type ? x->type : "user",
		.read_only = v->read_only,
		.location = v->location,
		.managed = v->managed,
		.virtual_size = v->size,
		.physical_utilisation = v->utilisation,
		.is_a_snapshot = x && x->is_a_snapshot,
		.snapshot_time = x ? x->snapshot_time : 0,
		.snapshot_of = x ? x->snapshot_of : NULL,
		.metadata_of_pool = x ? x->metadata_of_pool : NULL,
	};
	struct scan_kv *kv;
	size_t n;
	bool no_parent;
	char *ref = NULL;
	int rc;

	if (wanted_config(v, x, &kv, &n, &no_parent))
		return oom(err);
	in.sm_config = kv;
	in.sm_config_count = n;
	sm_log(LOG_INFO, "xapi: introducing VDI %s (location %s)", v->uuid, v->location);
	rc = xapi_vdi_db_introduce(c, &in, &ref, err);
	free(ref);
	xapi_kv_free(kv, n);
	return rc;
}

/* A failure that says the record is already gone (SR.py ignores those on forget). */
static bool is_gone(const struct sm_error *e)
{
	return e->code == SME_API_FAILURE
	       && (!strncmp(e->detail, "['HANDLE_INVALID'", 17)
		   || !strncmp(e->detail, "['UUID_INVALID'", 15));
}

static int forget(struct xapi_conn *c, const struct xapi_vdi_rec *r, struct sm_error *err)
{
	struct sm_error ferr = { 0 };

	sm_log(LOG_INFO, "xapi: forgetting VDI %s (location %s)", r->uuid, r->location);
	if (!xapi_vdi_db_forget(c, r->ref, &ferr))
		return 0;
	if (is_gone(&ferr)) {
		sm_log(LOG_INFO, "xapi: VDI %s already forgotten: %s", r->uuid, ferr.detail);
		return 0;
	}
	return sm_fail(err, ferr.code, "%s", ferr.detail);
}

/* Set key to value in r's sm_config as VDI.py does: remove, then add. */
static int config_set(struct xapi_conn *c, const struct xapi_vdi_rec *r, const char *key,
		      const char *value, struct sm_error *err)
{
	const char *now = xapi_vdi_rec_config(r, key);

	if (now && !strcmp(now, value))
		return 0;
	sm_log(LOG_INFO, "xapi: VDI %s sm-config %s: %s -> %s", r->uuid, key,
	       now ? now : "(none)", value);
	if (now && xapi_vdi_remove_from_sm_config(c, r->ref, key, err))
		return -1;
	return xapi_vdi_add_to_sm_config(c, r->ref, key, value, err);
}

static int update_config(struct xapi_conn *c, const struct xapi_vdi_rec *r,
			 const struct scan_vdi *v, struct sm_error *err)
{
	struct scan_kv *kv;
	size_t n;
	bool no_parent;
	int rc = 0;

	if (wanted_config(v, NULL, &kv, &n, &no_parent))
		return oom(err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = config_set(c, r, kv[i].key, kv[i].value, err);
	if (!rc && no_parent && xapi_vdi_rec_config(r, "vhd-parent")) {
		sm_log(LOG_INFO, "xapi: VDI %s del sm-config vhd-parent", r->uuid);
		rc = xapi_vdi_remove_from_sm_config(c, r->ref, "vhd-parent", err);
	}
	xapi_kv_free(kv, n);
	return rc;
}

/* Only what differs is set: the result is VDI._db_update's, with fewer calls. */
static int update(struct xapi_conn *c, const struct xapi_vdi_rec *r, const struct scan_vdi *v,
		  struct sm_error *err)
{
	if (r->virtual_size != v->size
	    && xapi_vdi_set_virtual_size(c, r->ref, v->size, err))
		return -1;
	if (r->physical_utilisation != v->utilisation
	    && xapi_vdi_set_physical_utilisation(c, r->ref, v->utilisation, err))
		return -1;
	if (r->read_only != v->read_only
	    && xapi_vdi_set_read_only(c, r->ref, v->read_only, err))
		return -1;
	if (r->managed != v->managed && xapi_vdi_set_managed(c, r->ref, v->managed, err))
		return -1;
	return update_config(c, r, v, err);
}

/* Make xapi's record of uuid agree with truth's VDI t (either may be absent). */
static int sync_one(struct xapi_conn *c, const char *sr_ref, const struct scan_vdi *t,
		    const struct xapi_vdi_rec *r, const struct xsync_new_vdi *x,
		    struct sm_error *err)
{
	if (t && t->error) {
		sm_log(LOG_WARNING, "xapi: VDI %s left as it is: %s", t->uuid, t->error);
		return 0;
	}
	if (t && !r)
		return introduce(c, sr_ref, t, x, err);
	if (t)
		return update(c, r, t, err);
	return r ? forget(c, r, err) : 0;
}

int xsync_vdis(struct xapi_conn *c, const char *sr_ref, const struct scan_sr *truth,
	       const char *const *uuids, size_t n, const struct xsync_new_vdi *extra,
	       size_t n_extra, struct sm_error *err)
{
	struct xapi_vdi_list have;
	int rc = 0;

	if (xapi_vdi_records_of_sr(c, sr_ref, &have, err))
		return -1;
	if (uuids) {
		for (size_t i = 0; !rc && i < n; i++)
			rc = sync_one(c, sr_ref, truth_find(truth, uuids[i]),
				      xapi_vdi_list_find(&have, uuids[i]),
				      extra_find(extra, n_extra, uuids[i]), err);
	} else {
		for (size_t i = 0; !rc && i < truth->count; i++) {
			const struct scan_vdi *t = &truth->vdis[i];

			rc = sync_one(c, sr_ref, t, xapi_vdi_list_find(&have, t->uuid),
				      extra_find(extra, n_extra, t->uuid), err);
		}
		for (size_t i = 0; !rc && i < have.count; i++)
			if (!truth_find(truth, have.recs[i].uuid))
				rc = forget(c, &have.recs[i], err);
	}
	xapi_vdi_list_free(&have);
	return rc;
}

int xsync_sr_sizes(struct xapi_conn *c, const char *sr_ref, const struct scan_sr *truth,
		   struct sm_error *err)
{
	/* SR._db_update's order. */
	if (xapi_sr_set_virtual_allocation(c, sr_ref, truth->virtual_allocation, err)
	    || xapi_sr_set_physical_size(c, sr_ref, truth->physical_size, err)
	    || xapi_sr_set_physical_utilisation(c, sr_ref, truth->physical_utilisation, err))
		return -1;
	return 0;
}

int xsync_managed_vdis(struct xapi_conn *c, const char *sr_ref, const char *sr_uuid,
		       char (**uuids)[37], size_t *n, struct sm_error *err)
{
	struct xapi_vdi_list have = { 0 };
	char *looked_up = NULL;
	int rc = -1;

	*uuids = NULL;
	*n = 0;
	if (!sr_ref || !*sr_ref || strcmp(sr_ref, "OpaqueRef:NULL") == 0) {
		if (!sr_uuid)
			return sm_fail(err, SME_BAD_REQUEST, "the SR's managed VDIs: no sr_ref, no sr_uuid");
		if (xapi_sr_get_by_uuid(c, sr_uuid, &looked_up, err) < 0)
			return -1;
		sr_ref = looked_up;
	}
	if (xapi_vdi_records_of_sr(c, sr_ref, &have, err) < 0)
		goto out;
	*uuids = calloc(have.count + 1, sizeof(**uuids));
	if (!*uuids) {
		oom(err);
		goto out;
	}
	for (size_t i = 0; i < have.count; i++)
		if (have.recs[i].managed)
			snprintf((*uuids)[(*n)++], sizeof(**uuids), "%s", have.recs[i].uuid);
	rc = 0;
out:
	xapi_vdi_list_free(&have);
	free(looked_up);
	return rc;
}

/* ---- the activation handshake ---- */

static int host_key(char *buf, size_t size, const char *host_ref, struct sm_error *err)
{
	if ((size_t)snprintf(buf, size, "host_%s", host_ref) >= size)
		return sm_fail(err, SME_API_PROTOCOL, "xapi: host ref too long: %.64s", host_ref);
	return 0;
}

/* The first of "paused", "relinking" in vdi_ref's sm_config, or NULL; -1 on failure. */
static int blocking_key(struct xapi_conn *c, const char *vdi_ref, const char **key,
			bool *has_host, const char *hkey, struct sm_error *err)
{
	struct scan_kv *kv;
	size_t n;

	*key = NULL;
	if (xapi_vdi_get_sm_config(c, vdi_ref, &kv, &n, err))
		return -1;
	if (xapi_kv_get(kv, n, "paused"))
		*key = "paused";
	else if (xapi_kv_get(kv, n, "relinking"))
		*key = "relinking";
	if (has_host)
		*has_host = hkey && xapi_kv_get(kv, n, hkey);
	xapi_kv_free(kv, n);
	return 0;
}

/* blktap2.py's ATTACH_DETACH_RETRY_SECS; CSM_XAPI_PAUSE_WAIT_S (0-3600) for tests. */
unsigned xsync_pause_wait_s(void)
{
	const char *s = getenv("CSM_XAPI_PAUSE_WAIT_S");
	uint64_t v;

	if (s && sm_parse_u64(s, &v) == 0 && v <= 3600)
		return (unsigned)v;
	return 120;
}

/*
 * Another try in a second, while the wait lasts; the refusal stays in err
 * when it is over.  Logged once, so a hung pause can be told from a slow
 * activate.
 */
static bool wait_more(unsigned *waited, const char *what, const char *vdi_ref,
		      const char *key, struct sm_error *err)
{
	unsigned limit = xsync_pause_wait_s();

	if (*waited >= limit)
		return false;
	if (*waited == 0)
		sm_log(LOG_INFO, "xapi: %s of VDI %s waits for sm-config key %s to go (up to %u s)",
		       what, vdi_ref, key, limit);
	sm_error_clear(err);
	sleep(1);
	(*waited)++;
	return true;
}

/* One try of the handshake; *block names the key that refused it. */
static int activate_once(struct xapi_conn *c, const char *vdi_ref, const char *host_ref,
			 const char *hkey, bool writable, const char **block, struct sm_error *err)
{
	bool stale_host;

	if (blocking_key(c, vdi_ref, block, &stale_host, hkey, err))
		return -1;
	if (*block)
		return sm_fail(err, SME_VDI_UNAVAILABLE, "VDI %s has sm-config key %s",
			       vdi_ref, *block);
	if (xapi_vdi_add_to_sm_config(c, vdi_ref, "activating", "True", err))
		return -1;
	/* Left by an activation that died here: ours replaces it. */
	if (stale_host && xapi_vdi_remove_from_sm_config(c, vdi_ref, hkey, err))
		goto undo_activating;
	if (xapi_vdi_add_to_sm_config(c, vdi_ref, hkey, writable ? "RW" : "RO", err))
		goto undo_activating;
	/* A pause that came in between wins (blktap2.py _add_tag). */
	if (blocking_key(c, vdi_ref, block, NULL, NULL, err))
		goto undo_host;
	if (*block) {
		sm_fail(err, SME_VDI_UNAVAILABLE, "VDI %s has sm-config key %s", vdi_ref, *block);
		goto undo_host;
	}
	sm_log(LOG_INFO, "xapi: VDI %s activating on %s (%s)", vdi_ref, host_ref,
	       writable ? "RW" : "RO");
	return 0;
undo_host:
	xapi_vdi_remove_from_sm_config(c, vdi_ref, hkey, NULL);
undo_activating:
	xapi_vdi_remove_from_sm_config(c, vdi_ref, "activating", NULL);
	return -1;
}

int xsync_activate_begin(struct xapi_conn *c, const char *vdi_ref, const char *host_ref,
			 bool writable, struct sm_error *err)
{
	char hkey[256];
	const char *block = NULL;
	unsigned waited = 0;

	if (host_key(hkey, sizeof(hkey), host_ref, err))
		return -1;
	while (activate_once(c, vdi_ref, host_ref, hkey, writable, &block, err) < 0)
		if (!block || !wait_more(&waited, "activation", vdi_ref, block, err))
			return -1;
	return 0;
}

int xsync_deactivate_check(struct xapi_conn *c, const char *vdi_ref, struct sm_error *err)
{
	unsigned waited = 0;
	struct scan_kv *kv;
	size_t n;
	bool paused;

	for (;;) {
		if (xapi_vdi_get_sm_config(c, vdi_ref, &kv, &n, err))
			return -1;
		paused = xapi_kv_get(kv, n, "paused") != NULL;
		xapi_kv_free(kv, n);
		if (!paused)
			return 0;
		sm_fail(err, SME_VDI_UNAVAILABLE, "VDI %s has sm-config key paused", vdi_ref);
		if (!wait_more(&waited, "deactivation", vdi_ref, "paused", err))
			return -1;
	}
}

int xsync_activate_end(struct xapi_conn *c, const char *vdi_ref, const char *host_ref,
		       bool ok, struct sm_error *err)
{
	char hkey[256];

	if (host_key(hkey, sizeof(hkey), host_ref, err))
		return -1;
	if (!ok && xapi_vdi_remove_from_sm_config(c, vdi_ref, hkey, err))
		return -1;
	return xapi_vdi_remove_from_sm_config(c, vdi_ref, "activating", err);
}

int xsync_deactivate(struct xapi_conn *c, const char *vdi_ref, const char *host_ref,
		     struct sm_error *err)
{
	char hkey[256];

	if (host_key(hkey, sizeof(hkey), host_ref, err))
		return -1;
	return xapi_vdi_remove_from_sm_config(c, vdi_ref, hkey, err);
}

/* ---- pause and unpause ---- */

/* host.call_plugin(host, "tapdisk-pause", fn, args) as blktap2.call_pluginhandler. */
static int tap_plugin(struct xapi_conn *c, const char *host_ref, const char *fn,
		      const char *sr_uuid, const char *vdi_uuid, struct sm_error *err)
{
	struct scan_kv args[] = {
		{ .key = "sr_uuid", .value = (char *)sr_uuid },
		{ .key = "vdi_uuid", .value = (char *)vdi_uuid },
		{ .key = "failfast", .value = "False" },
	};
	char *result = NULL;
	int rc;

	sm_log(LOG_INFO, "xapi: tap-%s of VDI %s on host %s", fn, vdi_uuid, host_ref);
	rc = xapi_host_call_plugin(c, host_ref, PLUGIN_TAP_PAUSE, fn, args, 3, &result, err);
	if (!rc && strcmp(result, "True"))
		rc = sm_fail(err, SME_SM_GENERAL, "failed to %s VDI %s on host %s (%s)",
			     fn, vdi_uuid, host_ref, result);
	free(result);
	return rc;
}

/* The hosts of the host_<ref> keys of kv, into p->hosts (allocated even when none). */
static int attached_hosts(const struct scan_kv *kv, size_t n, struct xsync_paused *p)
{
	p->hosts = calloc(n + 1, sizeof(*p->hosts));
	if (!p->hosts)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!strncmp(kv[i].key, "host_", 5) && kv[i].key[5]) {
			if (!(p->hosts[p->count] = strdup(kv[i].key + 5)))
				return -1;
			p->count++;
		}
	return 0;
}

/* Unpause the hosts of p; 0 when every one answered True. */
static int unpause_hosts(struct xapi_conn *c, const char *sr_uuid, const char *vdi_uuid,
			 const struct xsync_paused *p, struct sm_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < p->count; i++)
		if (tap_plugin(c, p->hosts[i], "unpause", sr_uuid, vdi_uuid, err))
			rc = -1;
	return rc;
}

int xsync_pause(struct xapi_conn *c, const char *vdi_ref, const char *sr_uuid,
		const char *vdi_uuid, struct xsync_paused *p, struct sm_error *err)
{
	struct xsync_paused done = { 0 };
	struct scan_kv *kv = NULL;
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	/* Set first: no activation may start while the chain changes. */
	if (xapi_vdi_add_to_sm_config(c, vdi_ref, "paused", "true", err))
		return -1;
	if (xapi_vdi_get_sm_config(c, vdi_ref, &kv, &n, err))
		goto undo;
	if (attached_hosts(kv, n, p)) {
		oom(err);
		goto undo;
	}
	done.hosts = p->hosts;
	for (size_t i = 0; i < p->count; i++, done.count++)
		if (tap_plugin(c, p->hosts[i], "pause", sr_uuid, vdi_uuid, err))
			goto undo;
	xapi_kv_free(kv, n);
	return 0;
undo:
	/* Unlike blktap2.py, the hosts already paused are unpaused again. */
	unpause_hosts(c, sr_uuid, vdi_uuid, &done, NULL);
	xapi_vdi_remove_from_sm_config(c, vdi_ref, "paused", NULL);
	xapi_kv_free(kv, n);
	xsync_paused_free(p);
	return -1;
}

int xsync_unpause(struct xapi_conn *c, const char *sr_uuid, const char *vdi_uuid,
		  struct xsync_paused *p, struct sm_error *err)
{
	char *vdi_ref = NULL;
	int rc;

	/* Nothing was paused (xsync_pause failed, or was never called). */
	if (!p->hosts)
		return 0;
	rc = unpause_hosts(c, sr_uuid, vdi_uuid, p, err);
	/*
	 * A host that did not unpause keeps "paused" set, as blktap2.py
	 * tap_unpause does: its tapdisk may still be paused on the old chain.
	 */
	if (rc)
		return -1;
	if (xapi_vdi_get_by_uuid(c, vdi_uuid, &vdi_ref, err))
		return -1;
	rc = xapi_vdi_remove_from_sm_config(c, vdi_ref, "paused", err);
	free(vdi_ref);
	return rc;
}

void xsync_paused_free(struct xsync_paused *p)
{
	for (size_t i = 0; p->hosts && i < p->count; i++)
		free(p->hosts[i]);
	free(p->hosts);
	p->hosts = NULL;
	p->count = 0;
}

/* ---- the mode of a process that is no call (csm-gc) ---- */

/*
 * session.login_with_password("root", "", "", "SM"), as cleanup.py's
 * XAPI.getSession logs in over xapi_local().  The first param of every
 * call is the conn's session string: for the login it is the user name.
 */
static int login(struct xapi_conn *c, struct sm_error *err)
{
	struct xr_value *pw = xr_string(""), *version = xr_string(""), *orig = xr_string("SM");
	const struct xr_value *p[] = { pw, version, orig };
	xapi_relogin_fn relogin = c->relogin;
	struct xr_value *v = NULL;
	int rc = -1;

	if (!pw || !version || !orig || xapi_conn_set_session(c, XAPI_LOGIN_USER)) {
		oom(err);
		goto out;
	}
	c->relogin = NULL;   /* a refused login is no stale session */
	rc = xapi_call(c, "session.login_with_password", p, 3, &v, err);
	c->relogin = relogin;
	if (rc)
		goto out;
	if (v->type != XR_STRING || !*v->u.str)
		rc = sm_fail(err, SME_API_PROTOCOL, "session.login_with_password answered no session");
	else if (xapi_conn_set_session(c, v->u.str))
		rc = oom(err);
out:
	xr_free(v);
	xr_free(pw);
	xr_free(version);
	xr_free(orig);
	return rc;
}

/* A session of our own that went stale (a xapi restart): log in again. */
static int relogin_hook(struct xapi_conn *c, void *ctx, struct sm_error *err)
{
	sm_log(LOG_INFO, "xapi: the session went stale; logging in again");
	return login(c, err);
}

int xapi_mode_open_process(const char *session, struct xapi_conn *c, bool *on,
			   bool *logged_in, struct sm_error *err)
{
	struct sm_call call = { .session_ref = session };
	struct sm_error lerr = { 0 };
	enum mode_setting m;
	bool up;

	*logged_in = false;
	if (has_session(session))
		return xapi_mode_open(&call, c, on, err);
	/* The rules of xapi_mode_open, with a login where the request's session would be. */
	*on = false;
	if (mode_connect(false, true, NULL, NULL, c, &m, &up, err) < 0)
		return -1;
	if (!up)
		return 0;
	if (login(c, &lerr)) {
		sm_fail(err, SME_API_PROTOCOL, "xapi endpoint %s: cannot log in: %s",
			c->socket_path, lerr.detail);
		xapi_conn_free(c);
		return -1;
	}
	c->relogin = relogin_hook;
	*logged_in = true;
	sm_log(LOG_INFO, "xapi: xapi mode (%s, logged in as %s, endpoint %s answers)",
	       mode_setting_name(m), XAPI_LOGIN_USER, c->socket_path);
	*on = true;
	return 0;
}

void xapi_mode_close(struct xapi_conn *c, bool logged_in)
{
	struct sm_error err = { 0 };
	struct xr_value *v = NULL;

	if (logged_in) {
		c->relogin = NULL;   /* never log in only to log out */
		if (xapi_call(c, "session.logout", NULL, 0, &v, &err))
			sm_log(LOG_WARNING, "xapi: session.logout failed: %s", err.detail);
		xr_free(v);
	}
	xapi_conn_free(c);
}
