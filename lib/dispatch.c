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
#include "csm/xmlrpc.h"

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

struct xr_value *sm_driver_info(const struct sm_driver *drv)
{
	struct xr_value *info = xr_struct(), *caps = xr_array(), *conf = xr_array();

	if (!info || !caps || !conf)
		goto fail;
	for (int op = 0; op < SM_OP_COUNT; op++) {
		const char *cap = sm_op_capability((enum sm_op)op);

		if (cap && drv->ops[op] && xr_array_append(caps, xr_string(cap)) < 0)
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
	sm_op_fn fn = ctx->drv->ops[c->op];

	if (fn)
		return fn(ctx);
	if (c->op == SM_OP_VDI_EPOCH_BEGIN && c->vdi_on_boot &&
	    strcmp(c->vdi_on_boot, "reset") == 0)
		return sm_fail(&ctx->err, SME_UNIMPLEMENTED,
			       "this SR type cannot reset a VDI on boot");
	return 0;
}

static int run_op(struct sm_ctx *ctx)
{
	const struct sm_call *c = ctx->call;
	struct sm_lock sr_lock = SM_LOCK_INIT, vdi_lock = SM_LOCK_INIT;
	sm_op_fn fn = ctx->drv->ops[c->op];
	int rc = -1;

	if (c->op == SM_OP_VDI_EPOCH_BEGIN || c->op == SM_OP_VDI_EPOCH_END)
		return epoch(ctx);
	if (!fn)
		return sm_fail(&ctx->err, SME_UNIMPLEMENTED, "%s is not supported by SR type %s",
			       c->method, ctx->drv->type);
	/* A failed load may have set up part of its state: unload sees to it. */
	if (ctx->drv->load && ctx->drv->load(ctx) < 0)
		goto out;
	if (op_takes_sr_lock(c->op)) {
		if (lock_acquire(&sr_lock, c->sr_uuid, "sr", -1, SME_SR_UNAVAILABLE, &ctx->err) < 0)
			goto out;
		if (ctx->drv->recover && ctx->drv->recover(ctx) < 0)
			goto out;
	}
	if (op_takes_vdi_lock(c->op) &&
	    lock_acquire(&vdi_lock, call_vdi_uuid(c), "vdi", -1, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		goto out;
	rc = fn(ctx);
out:
	lock_release(&vdi_lock);
	lock_release(&sr_lock);
	if (ctx->drv->unload)
		ctx->drv->unload(ctx);
	return rc;
}

int sm_main(const struct sm_driver *drv, int argc, char **argv)
{
	struct sm_call call;
	struct sm_ctx ctx = { .call = &call, .drv = drv };

	memset(&call, 0, sizeof(call));
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

		emit(info ? xr_write_response(info) : NULL);
		xr_free(info);
		goto out;
	}
	if (run_op(&ctx) < 0)
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
	xr_free(ctx.result);
	call_free(&call);
	return 0;
}
