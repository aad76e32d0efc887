/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The life of one driver process: argv → request → checks → lock → op →
 * one response on stdout → exit 0.  Whatever goes wrong, the toolstack
 * gets a well-formed fault it can map, never a crash or a non-zero exit
 * (which would lose the fault code).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm/driver.h"
#include "csm/lock.h"
#include "csm/log.h"
#include "csm/scan.h"
#include "csm/xapi_sync.h"
#include "csm/xmlrpc.h"
#include "dispatch_xapi.h"

/* Commands that change the SR hold its lock, as the Python SM's ops_exclusive. */
static bool op_takes_sr_lock(enum sm_op op)
{
	switch (op) {
	case SM_OP_SR_PROBE:
	case SM_OP_SR_CONTENT_TYPE:
	case SM_OP_VDI_ACTIVATE:
	case SM_OP_VDI_DEACTIVATE:
	case SM_OP_VDI_GENERATE_CONFIG:
	case SM_OP_VDI_ATTACH_FROM_CONFIG:
	case SM_OP_VDI_DETACH_FROM_CONFIG:
	case SM_OP_VDI_EPOCH_BEGIN:
	case SM_OP_VDI_EPOCH_END:
		return false;
	default:
		return true;
	}
}

/* activate/deactivate serialise per VDI, as blktap2's vdi lock. */
static bool op_takes_vdi_lock(enum sm_op op)
{
	return op == SM_OP_VDI_ACTIVATE || op == SM_OP_VDI_DEACTIVATE;
}

bool sm_op_changes_metadata(enum sm_op op)
{
	switch (op) {
	case SM_OP_SR_CREATE:
	case SM_OP_SR_DELETE:
	case SM_OP_VDI_CREATE:
	case SM_OP_VDI_DELETE:
	case SM_OP_VDI_SNAPSHOT:
	case SM_OP_VDI_CLONE:
	case SM_OP_VDI_RESIZE:
	case SM_OP_VDI_INTRODUCE:
	case SM_OP_VDI_UPDATE:
		return true;
	default:
		return false;
	}
}

/* ---- the layer stack ---------------------------------------------------- */

/*
 * Walks below stop after SM_MAX_LAYERS tables, so a table that names
 * itself (a loop) cannot hang a lookup; layers_alloc refuses such a driver.
 */
#define FOR_EACH_LAYER(d, i, top) \
	for ((d) = (top), (i) = 0; (d) && (i) < SM_MAX_LAYERS; (d) = (d)->base, (i)++)

int sm_op_none(struct sm_ctx *ctx)
{
	return sm_fail(&ctx->err, SME_UNIMPLEMENTED, "%s is not supported by SR type %s",
		       ctx->call->method, ctx->drv->type);
}

/* The slot serving op from table top down: the first filled one. */
static sm_op_fn op_from(const struct sm_driver *top, enum sm_op op)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, top)
		if (d->ops[op])
			return d->ops[op] == sm_op_none ? NULL : d->ops[op];
	return NULL;
}

sm_op_fn sm_driver_op(const struct sm_driver *drv, enum sm_op op)
{
	return op < SM_OP_COUNT ? op_from(drv, op) : NULL;
}

void *sm_priv(struct sm_ctx *ctx, const struct sm_driver *layer)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, ctx->drv)
		if (d == layer)
			return ctx->layer_priv[i];
	return NULL;
}

int sm_call_lower(struct sm_ctx *ctx, const struct sm_driver *self)
{
	sm_op_fn fn = op_from(self->base, ctx->call->op);

	return fn ? fn(ctx) : sm_op_none(ctx);
}

static int recover_from(struct sm_ctx *ctx, const struct sm_driver *top)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, top)
		if (d->recover)
			return d->recover(ctx);
	return 0;
}

int sm_recover_lower(struct sm_ctx *ctx, const struct sm_driver *self)
{
	return recover_from(ctx, self->base);
}

int sm_recover(struct sm_ctx *ctx)
{
	return ctx->repair ? recover_from(ctx, ctx->drv) : 0;
}

int sm_collect(struct sm_ctx *ctx, struct scan_sr *out)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, ctx->drv)
		if (d->collect)
			return d->collect(ctx, out);
	return sm_fail(&ctx->err, SME_UNIMPLEMENTED, "SR type %s cannot say what it holds",
		       ctx->drv->type);
}

/* Every layer's state, zeroed, before any load() (an upper one may fill the lower's). */
static int layers_alloc(struct sm_ctx *ctx)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, ctx->drv)
		if (d->priv_size && !(ctx->layer_priv[i] = calloc(1, d->priv_size)))
			return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	if (d)
		return sm_fail(&ctx->err, SME_GENERIC, "SR type %s stacks more than %d driver tables",
			       ctx->drv->type, SM_MAX_LAYERS);
	return 0;
}

static void layers_free(struct sm_ctx *ctx)
{
	for (int i = 0; i < SM_MAX_LAYERS; i++) {
		free(ctx->layer_priv[i]);
		ctx->layer_priv[i] = NULL;
	}
}

static int layers_load(struct sm_ctx *ctx)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, ctx->drv)
		if (d->load && d->load(ctx) < 0)
			return -1;
	return 0;
}

static void layers_unload(struct sm_ctx *ctx)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, ctx->drv)
		if (d->unload)
			d->unload(ctx);
}

static int layers_guard(struct sm_ctx *ctx)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, ctx->drv)
		if (d->guard && d->guarded[ctx->call->op] && d->guard(ctx) < 0)
			return -1;
	return 0;
}

static bool driver_shared(const struct sm_driver *drv)
{
	const struct sm_driver *d;
	int i;

	FOR_EACH_LAYER(d, i, drv)
		if (d->shared)
			return true;
	return false;
}

/*
 * On a shared SR several hosts act at once but only the master's SR lock
 * orders metadata changes, so a non-master must not make them (xapi sends
 * them to the master anyway; this guards everything else), nor repair
 * (ctx->repair): it would roll back the master's operations in flight.
 */
static int refuse_on_non_master(struct sm_ctx *ctx)
{
	const struct sm_call *c = ctx->call;

	if (!ctx->repair && sm_op_changes_metadata(c->op))
		return sm_fail(&ctx->err, SME_LVM_MASTER,
			       "%s changes a shared SR and runs only on the SR master (SRmaster=true)",
			       c->method);
	return 0;
}

/* ---- driver info and the call ------------------------------------------- */

struct xr_value *sm_driver_info(const struct sm_driver *drv)
{
	struct xr_value *info = xr_struct(), *caps = xr_array(), *conf = xr_array();

	if (!info || !caps || !conf)
		goto fail;
	for (int op = 0; op < SM_OP_COUNT; op++) {
		const char *cap = sm_op_capability((enum sm_op)op);

		/* A slot filled by any layer counts, unless a layer above withdrew it. */
		if (cap && sm_driver_op(drv, (enum sm_op)op) &&
		    xr_array_append(caps, xr_string(cap)) < 0)
			goto fail;
	}
	for (const char *const *t = drv->traits; t && *t; t++)
		if (xr_array_append(caps, xr_string(*t)) < 0)
			goto fail;
	for (const struct sm_config_key *k = drv->configuration; k && k->key; k++) {
		struct xr_value *kv = xr_struct();

		if (!kv || xr_struct_set_string(kv, "key", k->key) < 0 ||
		    xr_struct_set_string(kv, "description", k->description) < 0 ||
		    xr_array_append(conf, kv) < 0) {
			xr_free(kv);
			goto fail;
		}
	}
	if (xr_struct_set_string(info, "name", drv->name) < 0 ||
	    xr_struct_set_string(info, "description", drv->description) < 0 ||
	    xr_struct_set_string(info, "vendor", drv->vendor) < 0 ||
	    xr_struct_set_string(info, "copyright", drv->copyright) < 0 ||
	    xr_struct_set_string(info, "driver_version", drv->driver_version) < 0 ||
	    xr_struct_set_string(info, "required_api_version", drv->required_api_version) < 0)
		goto fail;
	if (xr_struct_set(info, "capabilities", caps) < 0) {
		caps = NULL;
		goto fail;
	}
	caps = NULL;
	if (xr_struct_set(info, "configuration", conf) < 0) {
		conf = NULL;
		goto fail;
	}
	return info;
fail:
	xr_free(caps);
	xr_free(conf);
	xr_free(info);
	return NULL;
}

/* The Python SM prints the document and print() adds one more newline. */
static void emit(char *doc)
{
	if (!doc) {
		/* Out of memory: still give xapi something it can parse. */
		fputs("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n"
		      "<member>\n<name>faultCode</name>\n<value><int>1200</int></value>\n</member>\n"
		      "<member>\n<name>faultString</name>\n<value><string>out of memory</string></value>\n"
		      "</member>\n</struct></value>\n</fault>\n</methodResponse>\n\n", stdout);
	} else {
		fputs(doc, stdout);
		fputs("\n", stdout);
	}
	fflush(stdout);
	free(doc);
}

static void emit_fault(const struct sm_error *err)
{
	char *fs = sm_error_fault_string(err);

	sm_log(LOG_ERR, "fault %d: %s", err->code, fs ? fs : "(out of memory)");
	emit(fs ? xr_write_fault(err->code, fs) : NULL);
	free(fs);
}

/* vdi_epoch_*: nothing to do unless the VDI resets on boot (SRCommand.py). */
static int epoch(struct sm_ctx *ctx)
{
	const struct sm_call *c = ctx->call;
	sm_op_fn fn = sm_driver_op(ctx->drv, c->op);

	if (fn)
		return fn(ctx);
	if (c->op == SM_OP_VDI_EPOCH_BEGIN && c->vdi_on_boot &&
	    strcmp(c->vdi_on_boot, "reset") == 0)
		return sm_fail(&ctx->err, SME_UNIMPLEMENTED,
			       "this SR type cannot reset a VDI on boot");
	return 0;
}

/*
 * The op, with the side effects of the call's mode around it
 * (lib/dispatch_xapi.c); sr_scan fills a scan the dispatcher answers.
 */
static int op_with_effects(struct sm_ctx *ctx, sm_op_fn fn)
{
	struct scan_sr scan;
	struct dx_state st;
	int rc = -1;

	memset(&scan, 0, sizeof(scan));
	memset(&st, 0, sizeof(st));
	if (ctx->call->op == SM_OP_SR_SCAN)
		ctx->scan = &scan;
	if (dx_before(ctx, &st) == 0)
		rc = fn(ctx);
	rc = dx_after(ctx, &st, rc);
	dx_state_free(ctx, &st);
	ctx->scan = NULL;
	scan_sr_free(&scan);
	return rc;
}

static int run_op(struct sm_ctx *ctx)
{
	const struct sm_call *c = ctx->call;
	struct sm_lock sr_lock = SM_LOCK_INIT, vdi_lock = SM_LOCK_INIT;
	sm_op_fn fn = sm_driver_op(ctx->drv, c->op);
	int rc = -1;

	ctx->repair = !driver_shared(ctx->drv) || c->sr_master;
	if (c->op == SM_OP_VDI_EPOCH_BEGIN || c->op == SM_OP_VDI_EPOCH_END)
		return epoch(ctx);
	if (!fn)
		return sm_fail(&ctx->err, SME_UNIMPLEMENTED, "%s is not supported by SR type %s",
			       c->method, ctx->drv->type);
	/* Before anything reaches the storage, a non-master is refused what it may not do. */
	if (refuse_on_non_master(ctx) < 0)
		return -1;
	if (layers_alloc(ctx) < 0)
		goto out_free;
	/* Every layer loads with the dconf xapi mode resolved (its *_secret keys). */
	if (dx_resolve_secrets(ctx) < 0)
		goto out_free;
	/* A failed load may have set up part of its state: unload sees to it. */
	if (layers_load(ctx) < 0)
		goto out;
	if (op_takes_sr_lock(c->op)) {
		if (lock_acquire(&sr_lock, c->sr_uuid, "sr", -1, SME_SR_UNAVAILABLE, &ctx->err) < 0)
			goto out;
		if (sm_recover(ctx) < 0)
			goto out;
	}
	if (op_takes_vdi_lock(c->op) &&
	    lock_acquire(&vdi_lock, call_vdi_uuid(c), "vdi", -1, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		goto out;
	if (layers_guard(ctx) < 0)
		goto out;
	rc = op_with_effects(ctx, fn);
out:
	lock_release(&vdi_lock);
	lock_release(&sr_lock);
	layers_unload(ctx);
out_free:
	layers_free(ctx);
	return rc;
}

/*
 * Which mode (csm/xapi_sync.h), once per call: every command but the two
 * static-vdis replays at boot, whose stored config has no session.
 */
static int choose_mode(struct sm_ctx *ctx, struct xapi_conn *conn)
{
	enum sm_op op = ctx->call->op;
	bool on = false;

	if (op == SM_OP_VDI_ATTACH_FROM_CONFIG || op == SM_OP_VDI_DETACH_FROM_CONFIG) {
		sm_log(LOG_INFO, "xapi: API mode (%s: static-vdis' stored config has no session)",
		       ctx->call->method);
		return 0;
	}
	if (xapi_mode_open(ctx->call, conn, &on, &ctx->err) < 0)
		return -1;
	ctx->xapi = on ? conn : NULL;
	return 0;
}

int sm_main(const struct sm_driver *drv, int argc, char **argv)
{
	struct sm_call call;
	struct sm_ctx ctx = { .call = &call, .drv = drv };
	struct xapi_conn conn;

	memset(&call, 0, sizeof(call));
	memset(&conn, 0, sizeof(conn));
	sm_log_open();
	if (argc != 2) {
		sm_log(LOG_ERR, "expected 1 argument, got %d", argc - 1);
		sm_fail(&ctx.err, SME_BAD_REQUEST,
			"expected exactly one argument, the XML-RPC request; got %d", argc - 1);
		goto fault;
	}
	if (call_parse(argv[1], strlen(argv[1]), &call, &ctx.err) < 0)
		goto fault;
	sm_log_request(call.method, call.req);
	if (call.op == SM_OP_COUNT) {
		struct xr_value *info = sm_driver_info(drv);

		/* The same line every call logs: nothing here reaches xapi. */
		sm_log(LOG_INFO, "xapi: API mode (%s makes no XenAPI call)", call.method);

		emit(info ? xr_write_response(info) : NULL);
		xr_free(info);
		goto out;
	}
	if (choose_mode(&ctx, &conn) < 0 || run_op(&ctx) < 0)
		goto fault;
	if (ctx.result) {
		emit(xr_write_response(ctx.result));
	} else {
		struct xr_value *nil = xr_nil();

		emit(nil ? xr_write_response(nil) : NULL);
		xr_free(nil);
	}
	goto out;
fault:
	if (ctx.err.code == SM_OK)
		sm_fail(&ctx.err, SME_GENERIC, "operation failed without a reason");
	emit_fault(&ctx.err);
out:
	if (ctx.xapi)
		xapi_conn_free(ctx.xapi);
	xr_free(ctx.result);
	call_free(&call);
	return 0;
}
