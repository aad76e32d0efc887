/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The side effects of xapi mode around one op, and the sr_scan answer of
 * both modes (docs/protocol.md "Two modes").  They follow from the
 * command and from what the SR holds after the op (the driver's collect
 * slot, the same facts sr_scan reports), so every SR type gets them from
 * here and none carries its own copy:
 *
 *   sr_scan          API: the scan document.  xapi: every VDI reconciled
 *                    (introduce, forget, update) and the SR's sizes; nil.
 *   sr_update        the SR's sizes
 *   vdi_create, vdi_introduce, vdi_snapshot, vdi_clone, vdi_delete,
 *   vdi_resize, vdi_resize_online
 *                    the VDIs the call touched (its answer's uuid, its
 *                    vdi_uuid, and their parents: a snapshot's new base
 *                    copy) reconciled, then the SR's sizes
 *   vdi_activate     the paused/activating handshake and host_<ref>
 *   vdi_deactivate   host_<ref> removed
 *   vdi_snapshot, vdi_clone
 *                    the VDI paused on every host that has it attached,
 *                    unpaused afterwards (also when the op failed)
 *   vdi_update       labels read from xapi for the op to keep
 *
 * A XenAPI failure (153) gets the command's code, as SRCommand's
 * EXCEPTION_TYPE names it; a protocol failure stays 154.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "csm/log.h"
#include "csm/scan.h"
#include "csm/util.h"
#include "csm/xapi_db.h"
#include "dispatch_xapi.h"

/* SRCommand.EXCEPTION_TYPE (protocol.md §4.1): the code of a failed command. */
static int exception_code(enum sm_op op)
{
	switch (op) {
	case SM_OP_SR_SCAN:
		return SME_SR_SCAN;
	case SM_OP_VDI_CREATE:
		return SME_VDI_CREATE;
	case SM_OP_VDI_DELETE:
		return SME_VDI_DELETE;
	case SM_OP_VDI_ATTACH:
	case SM_OP_VDI_DETACH:
	case SM_OP_VDI_ACTIVATE:
	case SM_OP_VDI_DEACTIVATE:
		return SME_VDI_UNAVAILABLE;
	case SM_OP_VDI_RESIZE:
	case SM_OP_VDI_RESIZE_ONLINE:
		return SME_VDI_RESIZE;
	case SM_OP_VDI_SNAPSHOT:
		return SME_VDI_SNAPSHOT;
	case SM_OP_VDI_CLONE:
		return SME_VDI_CLONE;
	default:
		return SME_SM_GENERAL;
	}
}

/* A XenAPI failure in err is named after the command, keeping the detail. */
static void name_after_command(const struct sm_ctx *ctx, struct sm_error *err)
{
	if (err->code == SME_API_FAILURE)
		sm_error_recode(err, exception_code(ctx->call->op));
}

static int xapi_failed(struct sm_ctx *ctx)
{
	name_after_command(ctx, &ctx->err);
	return -1;
}

/* A ref the request gives, or NULL for none ("" and OpaqueRef:NULL are none). */
static const char *given_ref(const char *ref)
{
	return ref && *ref && strcmp(ref, "OpaqueRef:NULL") != 0 ? ref : NULL;
}

/* The call's VDI in xapi: vdi_ref, else looked up by vdi_uuid; malloc'd in *ref. */
static int vdi_ref_of_call(struct sm_ctx *ctx, char **ref)
{
	const struct sm_call *c = ctx->call;

	if (given_ref(c->vdi_ref)) {
		*ref = strdup(c->vdi_ref);
		return *ref ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	}
	if (!c->vdi_uuid)
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "%s in xapi mode needs vdi_ref or vdi_uuid",
			       c->method);
	return xapi_vdi_get_by_uuid(ctx->xapi, c->vdi_uuid, ref, &ctx->err) < 0 ? xapi_failed(ctx) : 0;
}

/* The call's SR in xapi: sr_ref, else looked up by sr_uuid; malloc'd in *ref. */
static int sr_ref_of_call(struct sm_ctx *ctx, char **ref)
{
	const struct sm_call *c = ctx->call;

	if (given_ref(c->sr_ref)) {
		*ref = strdup(c->sr_ref);
		return *ref ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	}
	if (!c->sr_uuid)
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "%s in xapi mode needs sr_ref or sr_uuid",
			       c->method);
	return xapi_sr_get_by_uuid(ctx->xapi, c->sr_uuid, ref, &ctx->err) < 0 ? xapi_failed(ctx) : 0;
}

/* ---- dconf secrets -------------------------------------------------------- */

/* "<key>_secret": *key_len is the length of <key>. */
static bool is_secret_key(const char *name, size_t *key_len)
{
	static const char suffix[] = "_secret";
	size_t n = strlen(name), s = sizeof(suffix) - 1;

	if (n <= s || strcmp(name + n - s, suffix) != 0)
		return false;
	*key_len = n - s;
	return true;
}

static void member_remove(struct xr_value *st, size_t i)
{
	free(st->u.st.members[i].name);
	xr_free(st->u.st.members[i].value);
	memmove(&st->u.st.members[i], &st->u.st.members[i + 1],
		(st->u.st.count - i - 1) * sizeof(st->u.st.members[0]));
	st->u.st.count--;
}

static ssize_t member_index(const struct xr_value *st, const char *name)
{
	for (size_t i = 0; i < st->u.st.count; i++)
		if (strcmp(st->u.st.members[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Member *i becomes key = value, and an older key member goes (*i follows it). */
static int member_replace(struct xr_value *st, size_t *i, const char *key, const char *value)
{
	ssize_t old = member_index(st, key);
	char *name = strdup(key);
	struct xr_value *v = xr_string(value);

	if (!name || !v) {
		free(name);
		xr_free(v);
		return -1;
	}
	free(st->u.st.members[*i].name);
	xr_free(st->u.st.members[*i].value);
	st->u.st.members[*i].name = name;
	st->u.st.members[*i].value = v;
	if (old >= 0) {
		member_remove(st, (size_t)old);
		if ((size_t)old < *i)
			(*i)--;
	}
	return 0;
}

/* Overwrite a secret before it is freed: it must not linger in the heap. */
static void free_secret(char *s)
{
	if (s) {
		volatile char *p = s;

		while (*p)
			*p++ = '\0';
		free(s);
	}
}

/*
 * util.get_secret: whatever xapi answers (no such secret, a ref gone) is
 * InvalidSecret with its own words; xapi's are logged.  An endpoint that
 * does not answer stays 153/154, as for every call.
 */
static int secret_failed(struct sm_ctx *ctx, const char *uuid)
{
	if (ctx->err.code != SME_API_FAILURE)
		return -1;
	sm_log(LOG_ERR, "secret %s: %s", uuid, ctx->err.detail);
	sm_error_clear(&ctx->err);
	return sm_fail(&ctx->err, SME_INVALID_SECRET, "Unable to look up secret [%s]", uuid);
}

int dx_resolve_secrets(struct sm_ctx *ctx)
{
	/*
	 * The dispatcher owns the parsed request; the layers see the dconf
	 * with the secrets in place, as the Python drivers read them.
	 */
	struct xr_value *dconf = (struct xr_value *)ctx->call->dconf;
	size_t i = 0, key_len;
	char key[256];

	if (!ctx->xapi || !dconf || dconf->type != XR_STRUCT)
		return 0;
	while (i < dconf->u.st.count) {
		const struct xr_member *m = &dconf->u.st.members[i];
		char *value = NULL;
		int rc;

		if (!is_secret_key(m->name, &key_len)) {
			i++;
			continue;
		}
		if (key_len >= sizeof(key))
			return sm_fail(&ctx->err, SME_BAD_REQUEST, "dconf key %.64s... is too long",
				       m->name);
		memcpy(key, m->name, key_len);
		key[key_len] = '\0';
		if (!*m->value->u.str) {
			/* xapi passes absent keys as "": no secret is named. */
			member_remove(dconf, i);
			continue;
		}
		if (xapi_secret_value(ctx->xapi, m->value->u.str, &value, &ctx->err) < 0)
			return secret_failed(ctx, m->value->u.str);
		sm_log(LOG_INFO, "dconf %s: the secret %s names, read from xapi", key, m->name);
		rc = member_replace(dconf, &i, key, value);
		free_secret(value);
		if (rc < 0)
			return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		i++;
	}
	return 0;
}

/* ---- before the op -------------------------------------------------------- */

/*
 * blktap2's _add_tag, under the VDI lock the dispatcher holds.  An
 * argument the op will refuse is left to the op: no handshake then.
 */
static int begin_activation(struct sm_ctx *ctx, struct dx_state *st)
{
	const struct sm_call *c = ctx->call;
	const char *arg;
	bool rw;

	if (call_nargs(c) < 1 || call_arg(c, 0, &arg, NULL) < 0 || sm_parse_bool(arg, &rw) < 0)
		return 0;
	if (!given_ref(c->host_ref))
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "vdi_activate in xapi mode needs host_ref");
	if (vdi_ref_of_call(ctx, &st->vdi_ref) < 0)
		return -1;
	if (xsync_activate_begin(ctx->xapi, st->vdi_ref, c->host_ref, rw, &ctx->err) < 0)
		return xapi_failed(ctx);
	st->activating = true;
	return 0;
}

/* blktap2's _check_tag: a paused VDI's tapdisk stays until the pause ends. */
static int check_deactivation(struct sm_ctx *ctx, struct dx_state *st)
{
	if (!ctx->call->vdi_uuid)
		return 0;   /* the op refuses the call */
	if (vdi_ref_of_call(ctx, &st->vdi_ref) < 0)
		return -1;
	if (xsync_deactivate_check(ctx->xapi, st->vdi_ref, &ctx->err) < 0)
		return xapi_failed(ctx);
	return 0;
}

static int pause_vdi(struct sm_ctx *ctx, struct dx_state *st)
{
	const struct sm_call *c = ctx->call;

	if (!c->vdi_uuid)
		return 0;   /* the op refuses the call */
	if (vdi_ref_of_call(ctx, &st->vdi_ref) < 0)
		return -1;
	/* Set first: a pause that failed on the second host unpauses the first. */
	st->pausing = true;
	if (xsync_pause(ctx->xapi, st->vdi_ref, c->sr_uuid, c->vdi_uuid, &st->paused, &ctx->err) < 0)
		return xapi_failed(ctx);
	return 0;
}

/* xapi owns a VDI's labels: vdi_update keeps what its record says. */
static int read_labels(struct sm_ctx *ctx, struct dx_state *st)
{
	struct xapi_vdi_rec rec;

	memset(&rec, 0, sizeof(rec));
	if (!ctx->call->vdi_uuid)
		return 0;   /* the op refuses the call */
	if (vdi_ref_of_call(ctx, &st->vdi_ref) < 0)
		return -1;
	if (xapi_vdi_get_record(ctx->xapi, st->vdi_ref, &rec, &ctx->err) < 0)
		return xapi_failed(ctx);
	ctx->vdi_label = rec.name_label ? rec.name_label : strdup("");
	ctx->vdi_description = rec.name_description ? rec.name_description : strdup("");
	rec.name_label = rec.name_description = NULL;
	xapi_vdi_rec_free(&rec);
	if (!ctx->vdi_label || !ctx->vdi_description)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	return 0;
}

/*
 * vdi_delete: which parent the VDI hung off, so a base copy the delete
 * turns into garbage (the GC removes it; the scan no longer lists it) is
 * forgotten now, not at the next scan.  Best effort: without it the
 * next scan forgets the base copy.
 */
static void remember_parent(struct sm_ctx *ctx, struct dx_state *st)
{
	const char *ref = given_ref(ctx->call->vdi_ref), *p;
	struct sm_error e = { 0 };
	struct scan_kv *kv = NULL;
	size_t n = 0;

	if (!ref)
		return;
	if (xapi_vdi_get_sm_config(ctx->xapi, ref, &kv, &n, &e) < 0) {
		sm_log(LOG_WARNING, "vdi_delete: cannot read the VDI's sm_config (%s); a base copy "
		       "it leaves goes from xapi at the next sr_scan", e.detail);
		return;
	}
	p = xapi_kv_get(kv, n, "vhd-parent");
	if (p && sm_uuid_valid(p))
		snprintf(st->parent, sizeof(st->parent), "%s", p);
	xapi_kv_free(kv, n);
}

int dx_before(struct sm_ctx *ctx, struct dx_state *st)
{
	if (!ctx->xapi)
		return 0;
	switch (ctx->call->op) {
	case SM_OP_VDI_ACTIVATE:
		return begin_activation(ctx, st);
	case SM_OP_VDI_SNAPSHOT:
	case SM_OP_VDI_CLONE:
		return pause_vdi(ctx, st);
	case SM_OP_VDI_DEACTIVATE:
		return check_deactivation(ctx, st);
	case SM_OP_VDI_UPDATE:
		return read_labels(ctx, st);
	case SM_OP_VDI_DELETE:
		remember_parent(ctx, st);
		return 0;
	default:
		return 0;
	}
}

/* ---- after the op: reconcile ---------------------------------------------- */

/* uuids[] of the VDIs a call touched, without repeats. */
struct touched {
	const char *uuid[8];
	size_t n;
};

static void touch(struct touched *t, const char *uuid)
{
	if (!uuid || !sm_uuid_valid(uuid) || t->n == sizeof(t->uuid) / sizeof(t->uuid[0]))
		return;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->uuid[i], uuid) == 0)
			return;
	t->uuid[t->n++] = uuid;
}

static const struct scan_vdi *truth_find(const struct scan_sr *truth, const char *uuid)
{
	for (size_t i = 0; i < truth->count; i++)
		if (strcmp(truth->vdis[i].uuid, uuid) == 0)
			return &truth->vdis[i];
	return NULL;
}

/*
 * The answer's uuid and the call's VDI, and the parent of each (after a
 * snapshot or clone, the new base copy both hang off).  vdi_delete's VDI
 * is gone from truth, so it is forgotten, and so is the parent it had
 * when nothing else needs it (truth lists no garbage).
 */
static void touched_by_call(const struct sm_ctx *ctx, const struct dx_state *st,
			    const struct scan_sr *truth, struct touched *t)
{
	size_t direct;

	if (ctx->result && ctx->result->type == XR_STRUCT)
		touch(t, xr_struct_get_string(ctx->result, "uuid"));
	touch(t, ctx->call->vdi_uuid);
	if (st->parent[0])
		touch(t, st->parent);
	direct = t->n;
	for (size_t i = 0; i < direct; i++) {
		const struct scan_vdi *v = truth_find(truth, t->uuid[i]);

		if (v && v->parent[0])
			touch(t, v->parent);
	}
}

/* VDI.py's SM_CONFIG_PASS_THROUGH_FIELDS: copied from vdi_sm_config when non-empty. */
static void pass_through_config(const struct sm_call *c, struct xsync_new_vdi *x)
{
	static const char *const keys[] = { "base_mirror", "key_hash" };
	const char *v;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = c->vdi_sm_config ? xr_struct_get_string(c->vdi_sm_config, keys[i]) : NULL;
		if (!v || !*v)
			continue;
		/* Borrowed for the call: xsync copies them. */
		x->sm_config[x->sm_config_count].key = (char *)keys[i];
		x->sm_config[x->sm_config_count].value = (char *)v;
		x->sm_config_count++;
	}
}

/* What xapi cannot learn from the SR about a VDI this call made. */
static size_t new_vdi_facts(const struct sm_ctx *ctx, const struct dx_state *st,
			    struct xsync_new_vdi *x)
{
	const struct sm_call *c = ctx->call;
	const char *uuid = ctx->result ? xr_struct_get_string(ctx->result, "uuid") : NULL;
	const char *snap;

	if (!uuid)
		return 0;
	memset(x, 0, sizeof(*x));
	x->uuid = uuid;
	switch (c->op) {
	case SM_OP_VDI_CREATE:
		/* The op has checked its 8 arguments; SRCommand.py's use of them. */
		call_arg(c, 1, &x->name_label, NULL);
		call_arg(c, 2, &x->name_description, NULL);
		call_arg(c, 3, &x->metadata_of_pool, NULL);
		if (call_arg(c, 4, &snap, NULL) == 0)
			sm_parse_bool(snap, &x->is_a_snapshot);
		if (call_arg(c, 5, &snap, NULL) == 0)
			xapi_datetime_parse(snap, &x->snapshot_time);
		call_arg(c, 6, &x->snapshot_of, NULL);   /* a uuid: snapshot_of_ref */
		x->type = c->vdi_type;
		pass_through_config(c, x);
		return 1;
	case SM_OP_VDI_SNAPSHOT:
		x->is_a_snapshot = true;
		x->snapshot_of = st->vdi_ref;
		return 1;
	case SM_OP_VDI_CLONE:
	case SM_OP_VDI_INTRODUCE:
		return 1;
	default:
		return 0;
	}
}

/* xsync_vdis over uuids (all when NULL and all_vdis), then the SR's sizes. */
static int reconcile(struct sm_ctx *ctx, const struct scan_sr *truth, bool vdis,
		     const struct touched *t, const struct xsync_new_vdi *extra, size_t n_extra)
{
	char *sr_ref = NULL;
	int rc = -1;

	if (sr_ref_of_call(ctx, &sr_ref) < 0)
		return -1;
	if (vdis && xsync_vdis(ctx->xapi, sr_ref, truth, t ? t->uuid : NULL, t ? t->n : 0,
			       extra, n_extra, &ctx->err) < 0)
		goto out;
	if (xsync_sr_sizes(ctx->xapi, sr_ref, truth, &ctx->err) < 0)
		goto out;
	rc = 0;
out:
	free(sr_ref);
	return rc < 0 ? xapi_failed(ctx) : 0;
}

/*
 * vdi_create's snapshot_of is a VDI uuid (sm.ml); db_introduce wants a
 * ref.  VDI.py passes the uuid on as if it were one, leaving a ref that
 * names nothing; here it is looked up, and a uuid xapi does not know
 * becomes OpaqueRef:NULL (the record is made all the same).  *ref: malloc'd.
 */
static void snapshot_of_ref(struct sm_ctx *ctx, struct xsync_new_vdi *x, char **ref)
{
	struct sm_error e = { 0 };

	*ref = NULL;
	if (ctx->call->op != SM_OP_VDI_CREATE || !x->snapshot_of || !*x->snapshot_of)
		return;
	if (xapi_vdi_get_by_uuid(ctx->xapi, x->snapshot_of, ref, &e) < 0) {
		sm_log(LOG_WARNING, "vdi_create: snapshot_of %s not found in xapi (%s): "
		       "introduced without it", x->snapshot_of, e.detail);
		*ref = NULL;
	}
	x->snapshot_of = *ref;
}

static int sync_touched(struct sm_ctx *ctx, const struct dx_state *st)
{
	char *snap_ref = NULL;
	struct scan_sr truth;
	struct touched t = { .n = 0 };
	struct xsync_new_vdi extra;
	size_t n_extra;
	int rc;

	memset(&truth, 0, sizeof(truth));
	if (sm_collect(ctx, &truth) < 0) {
		scan_sr_free(&truth);
		return -1;
	}
	touched_by_call(ctx, st, &truth, &t);
	n_extra = new_vdi_facts(ctx, st, &extra);
	if (n_extra)
		snapshot_of_ref(ctx, &extra, &snap_ref);
	sm_log(LOG_INFO, "%s: xapi mode: reconciling %zu VDI record%s", ctx->call->method, t.n,
	       t.n == 1 ? "" : "s");
	rc = reconcile(ctx, &truth, true, &t, n_extra ? &extra : NULL, n_extra);
	scan_sr_free(&truth);
	free(snap_ref);
	return rc;
}

static int sync_sr_sizes(struct sm_ctx *ctx)
{
	struct scan_sr truth;
	int rc;

	memset(&truth, 0, sizeof(truth));
	rc = sm_collect(ctx, &truth) < 0 ? -1 : reconcile(ctx, &truth, false, NULL, NULL, 0);
	scan_sr_free(&truth);
	return rc;
}

/*
 * API mode: the scan document.  xapi mode: every VDI reconciled, nil.  A
 * driver whose sr_scan answered a document itself (not what the SR
 * holds) cannot be reconciled: better a fault than forgetting every VDI.
 */
static int answer_scan(struct sm_ctx *ctx)
{
	char *xml;

	if (ctx->result) {
		if (!ctx->xapi)
			return 0;
		return sm_fail(&ctx->err, SME_SR_SCAN, "SR type %s answers sr_scan with a document, "
			       "which xapi mode cannot reconcile", ctx->drv->type);
	}
	if (ctx->xapi) {
		sm_log(LOG_INFO, "sr_scan: xapi mode: reconciling %zu VDI%s with xapi",
		       ctx->scan->count, ctx->scan->count == 1 ? "" : "s");
		return reconcile(ctx, ctx->scan, true, NULL, NULL, 0);
	}
	xml = scan_write_xml(ctx->scan);
	ctx->result = xml ? xr_string(xml) : NULL;
	free(xml);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

static int sync_after(struct sm_ctx *ctx, const struct dx_state *st)
{
	const struct sm_call *c = ctx->call;
	char *ref = NULL;
	int rc;

	switch (c->op) {
	case SM_OP_VDI_CREATE:
	case SM_OP_VDI_INTRODUCE:
	case SM_OP_VDI_SNAPSHOT:
	case SM_OP_VDI_CLONE:
	case SM_OP_VDI_DELETE:
	case SM_OP_VDI_RESIZE:
	case SM_OP_VDI_RESIZE_ONLINE:
		return sync_touched(ctx, st);
	case SM_OP_SR_UPDATE:
		return sync_sr_sizes(ctx);
	case SM_OP_VDI_DEACTIVATE:
		if (!given_ref(c->host_ref))
			return sm_fail(&ctx->err, SME_BAD_REQUEST,
				       "vdi_deactivate in xapi mode needs host_ref");
		if (vdi_ref_of_call(ctx, &ref) < 0)
			return -1;
		rc = xsync_deactivate(ctx->xapi, ref, c->host_ref, &ctx->err);
		free(ref);
		return rc < 0 ? xapi_failed(ctx) : 0;
	default:
		return 0;
	}
}

/* ---- after the op: what must be undone whatever happened ------------------ */

/* A cleanup's failure is the call's fault only when the call had none. */
static int cleanup_failed(struct sm_ctx *ctx, struct sm_error *e, int rc, const char *what)
{
	name_after_command(ctx, e);
	if (rc == 0) {
		ctx->err = *e;
		return -1;
	}
	sm_log(LOG_ERR, "%s: %s failed too: fault %d: %s", ctx->call->method, what, e->code,
	       e->detail);
	return rc;
}

static int end_activation(struct sm_ctx *ctx, struct dx_state *st, int rc)
{
	struct sm_error e = { 0 };

	if (xsync_activate_end(ctx->xapi, st->vdi_ref, ctx->call->host_ref, rc == 0, &e) < 0)
		return cleanup_failed(ctx, &e, rc, "removing the activating flag");
	return rc;
}

static int unpause_vdi(struct sm_ctx *ctx, struct dx_state *st, int rc)
{
	const struct sm_call *c = ctx->call;
	struct sm_error e = { 0 };

	if (xsync_unpause(ctx->xapi, c->sr_uuid, c->vdi_uuid, &st->paused, &e) < 0)
		return cleanup_failed(ctx, &e, rc, "unpausing");
	return rc;
}

int dx_after(struct sm_ctx *ctx, struct dx_state *st, int rc)
{
	if (rc == 0 && ctx->call->op == SM_OP_SR_SCAN)
		rc = answer_scan(ctx);
	else if (rc == 0 && ctx->xapi)
		rc = sync_after(ctx, st);
	if (st->activating)
		rc = end_activation(ctx, st, rc);
	if (st->pausing)
		rc = unpause_vdi(ctx, st, rc);
	/* A failed call answers its fault, not half a result. */
	if (rc < 0) {
		xr_free(ctx->result);
		ctx->result = NULL;
	}
	return rc;
}

void dx_state_free(struct sm_ctx *ctx, struct dx_state *st)
{
	free(st->vdi_ref);
	xsync_paused_free(&st->paused);
	memset(st, 0, sizeof(*st));
	free(ctx->vdi_label);
	free(ctx->vdi_description);
	ctx->vdi_label = ctx->vdi_description = NULL;
}
