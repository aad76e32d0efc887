/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * From a parsed methodCall to a typed struct sm_call.  Everything a
 * command may use is checked here, once: the one struct parameter, the
 * required device_config, string types, and UUIDs (which later become
 * file and volume names, so a bad one must never get further).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/driver.h"
#include "csm/nbd_serve.h"
#include "csm/util.h"

struct opname {
	const char *name;
	const char *capability;
};

static const struct opname opnames[SM_OP_COUNT] = {
	[SM_OP_SR_CREATE] = { "sr_create", "SR_CREATE" },
	[SM_OP_SR_DELETE] = { "sr_delete", "SR_DELETE" },
	[SM_OP_SR_ATTACH] = { "sr_attach", "SR_ATTACH" },
	[SM_OP_SR_DETACH] = { "sr_detach", "SR_DETACH" },
	[SM_OP_SR_SCAN] = { "sr_scan", "SR_SCAN" },
	[SM_OP_SR_UPDATE] = { "sr_update", "SR_UPDATE" },
	[SM_OP_SR_PROBE] = { "sr_probe", "SR_PROBE" },
	[SM_OP_SR_CONTENT_TYPE] = { "sr_content_type", NULL },
	[SM_OP_VDI_CREATE] = { "vdi_create", "VDI_CREATE" },
	[SM_OP_VDI_DELETE] = { "vdi_delete", "VDI_DELETE" },
	[SM_OP_VDI_ATTACH] = { "vdi_attach", "VDI_ATTACH" },
	[SM_OP_VDI_DETACH] = { "vdi_detach", "VDI_DETACH" },
	[SM_OP_VDI_ACTIVATE] = { "vdi_activate", "VDI_ACTIVATE" },
	[SM_OP_VDI_DEACTIVATE] = { "vdi_deactivate", "VDI_DEACTIVATE" },
	[SM_OP_VDI_SNAPSHOT] = { "vdi_snapshot", "VDI_SNAPSHOT" },
	[SM_OP_VDI_CLONE] = { "vdi_clone", "VDI_CLONE" },
	[SM_OP_VDI_RESIZE] = { "vdi_resize", "VDI_RESIZE" },
	[SM_OP_VDI_RESIZE_ONLINE] = { "vdi_resize_online", "VDI_RESIZE_ONLINE" },
	[SM_OP_VDI_INTRODUCE] = { "vdi_introduce", "VDI_INTRODUCE" },
	[SM_OP_VDI_UPDATE] = { "vdi_update", "VDI_UPDATE" },
	[SM_OP_VDI_GENERATE_CONFIG] = { "vdi_generate_config", "VDI_GENERATE_CONFIG" },
	[SM_OP_VDI_ATTACH_FROM_CONFIG] = { "vdi_attach_from_config", NULL },
	[SM_OP_VDI_DETACH_FROM_CONFIG] = { "vdi_detach_from_config", NULL },
	[SM_OP_VDI_LOCK] = { "vdi_lock", NULL },
	[SM_OP_VDI_UNLOCK] = { "vdi_unlock", NULL },
	[SM_OP_VDI_COMPOSE] = { "vdi_compose", "VDI_COMPOSE" },
	[SM_OP_VDI_EPOCH_BEGIN] = { "vdi_epoch_begin", NULL },
	[SM_OP_VDI_EPOCH_END] = { "vdi_epoch_end", NULL },
};

const char *sm_op_name(enum sm_op op)
{
	return op < SM_OP_COUNT ? opnames[op].name : NULL;
}

const char *sm_op_capability(enum sm_op op)
{
	return op < SM_OP_COUNT ? opnames[op].capability : NULL;
}

static int op_lookup(const char *name)
{
	for (int i = 0; i < SM_OP_COUNT; i++)
		if (strcmp(opnames[i].name, name) == 0)
			return i;
	return -1;
}

static bool op_is_vdi(enum sm_op op)
{
	return op >= SM_OP_VDI_CREATE;
}

/* A member that must be a string when present. */
static int get_string(const struct xr_value *req, const char *key, const char **out,
		      struct sm_error *err)
{
	const struct xr_value *v = xr_struct_get(req, key);

	*out = NULL;
	if (!v)
		return 0;
	if (v->type != XR_STRING)
		return sm_fail(err, SME_BAD_REQUEST, "'%s' must be a string", key);
	*out = v->u.str;
	return 0;
}

static int get_struct(const struct xr_value *req, const char *key,
		      const struct xr_value **out, struct sm_error *err)
{
	const struct xr_value *v = xr_struct_get(req, key);

	*out = NULL;
	if (!v)
		return 0;
	if (v->type != XR_STRUCT)
		return sm_fail(err, SME_BAD_REQUEST, "'%s' must be a struct", key);
	for (size_t i = 0; i < v->u.st.count; i++)
		if (v->u.st.members[i].value->type != XR_STRING)
			return sm_fail(err, SME_BAD_REQUEST, "'%s' member '%s' must be a string",
				       key, v->u.st.members[i].name);
	*out = v;
	return 0;
}

static int get_uuid(const struct xr_value *req, const char *key, const char **out,
		    struct sm_error *err)
{
	if (get_string(req, key, out, err) < 0)
		return -1;
	if (*out && !sm_uuid_valid(*out))
		return sm_fail(err, SME_BAD_REQUEST,
			       "'%s' is not a canonical lowercase UUID", key);
	return 0;
}

static int parse_members(struct sm_call *c, struct sm_error *err)
{
	const struct xr_value *req = c->req;
	const struct xr_value *args = xr_struct_get(req, "args");
	const char *master;

	if (get_string(req, "command", &c->command, err) < 0 ||
	    get_string(req, "host_ref", &c->host_ref, err) < 0 ||
	    get_string(req, "session_ref", &c->session_ref, err) < 0 ||
	    get_string(req, "sr_ref", &c->sr_ref, err) < 0 ||
	    get_string(req, "vdi_ref", &c->vdi_ref, err) < 0 ||
	    get_string(req, "vdi_location", &c->vdi_location, err) < 0 ||
	    get_string(req, "vdi_type", &c->vdi_type, err) < 0 ||
	    get_string(req, "vdi_on_boot", &c->vdi_on_boot, err) < 0 ||
	    get_uuid(req, "sr_uuid", &c->sr_uuid, err) < 0 ||
	    get_uuid(req, "vdi_uuid", &c->vdi_uuid, err) < 0 ||
	    get_uuid(req, "new_uuid", &c->new_uuid, err) < 0 ||
	    get_struct(req, "device_config", &c->dconf, err) < 0 ||
	    get_struct(req, "vdi_sm_config", &c->vdi_sm_config, err) < 0 ||
	    get_struct(req, "driver_params", &c->driver_params, err) < 0 ||
	    get_struct(req, "sr_sm_config", &c->sr_sm_config, err) < 0)
		return -1;
	if (!c->dconf)
		return sm_fail(err, SME_BAD_REQUEST, "the request has no device_config");
	if (args) {
		if (args->type != XR_ARRAY)
			return sm_fail(err, SME_BAD_REQUEST, "'args' must be an array");
		for (size_t i = 0; i < args->u.arr.count; i++)
			if (args->u.arr.items[i]->type != XR_STRING)
				return sm_fail(err, SME_BAD_REQUEST, "args[%zu] must be a string", i);
	}
	c->args = args;
	master = xr_struct_get_string(c->dconf, "SRmaster");
	c->sr_master = master && strcmp(master, "true") == 0;
	return 0;
}

static int check_command(struct sm_call *c, struct sm_error *err)
{
	int op;

	if (c->command && strcmp(c->command, c->method) != 0)
		return sm_fail(err, SME_BAD_REQUEST, "methodName '%s' and command '%s' differ",
			       c->method, c->command);
	if (strcmp(c->method, "sr_get_driver_info") == 0) {
		c->op = SM_OP_COUNT;
		return 0;
	}
	op = op_lookup(c->method);
	if (op < 0)
		return sm_fail(err, SME_BAD_REQUEST, "unknown command '%.64s'", c->method);
	c->op = (enum sm_op)op;
	if (c->op != SM_OP_SR_PROBE && !c->sr_uuid)
		return sm_fail(err, SME_BAD_REQUEST, "%s needs sr_uuid", c->method);
	if (op_is_vdi(c->op) && c->op != SM_OP_VDI_CREATE && c->op != SM_OP_VDI_INTRODUCE &&
	    !c->vdi_uuid)
		return sm_fail(err, SME_BAD_REQUEST, "%s needs vdi_uuid", c->method);
	if (c->op == SM_OP_VDI_INTRODUCE && !c->new_uuid)
		return sm_fail(err, SME_BAD_REQUEST, "vdi_introduce needs new_uuid");
	if (c->op == SM_OP_VDI_CREATE && !c->vdi_uuid)
		sm_uuid_generate(c->generated_uuid);
	return 0;
}

int call_parse(const char *doc, size_t len, struct sm_call *c, struct sm_error *err)
{
	static const struct xr_value empty_args = { .type = XR_ARRAY };

	memset(c, 0, sizeof(*c));
	if (xr_parse_call(doc, len, &c->method, &c->params, err) < 0)
		return -1;
	if (c->params->u.arr.count != 1 || c->params->u.arr.items[0]->type != XR_STRUCT)
		return sm_fail(err, SME_BAD_REQUEST, "expected exactly one struct parameter");
	c->req = c->params->u.arr.items[0];
	if (parse_members(c, err) < 0 || check_command(c, err) < 0)
		return -1;
	if (!c->args)
		c->args = &empty_args;
	return 0;
}

void call_free(struct sm_call *c)
{
	free(c->method);
	xr_free(c->params);
	memset(c, 0, sizeof(*c));
}

const char *call_dconf(const struct sm_call *c, const char *key)
{
	return xr_struct_get_string(c->dconf, key);
}

size_t call_nargs(const struct sm_call *c)
{
	return c->args ? c->args->u.arr.count : 0;
}

int call_arg(const struct sm_call *c, size_t i, const char **out, struct sm_error *err)
{
	if (i >= call_nargs(c))
		return sm_fail(err, SME_BAD_REQUEST, "%s needs at least %zu argument%s",
			       c->method, i + 1, i ? "s" : "");
	*out = c->args->u.arr.items[i]->u.str;
	return 0;
}

const char *call_vdi_uuid(const struct sm_call *c)
{
	if (c->vdi_uuid)
		return c->vdi_uuid;
	if (c->op == SM_OP_VDI_INTRODUCE)
		return c->new_uuid;
	return c->generated_uuid[0] ? c->generated_uuid : NULL;
}

struct xr_value *sm_attach_result(const struct sm_attach_info *a, struct xr_value *xs)
{
	struct xr_value *r = xr_struct();
	char nbd[512];

	if (!xs)
		xs = xr_struct();
	/* The socket vdi_activate's server listens on (csm/nbd_serve.h). */
	snprintf(nbd, sizeof(nbd), "nbd:unix:%s/%s/%s:exportname=%s", nbd_serve_dir(),
		 a->sr_uuid, a->vdi_uuid, a->vdi_uuid);
	if (!r || !xs || xr_struct_set_string(xs, "storage-type", a->storage_type) < 0 ||
	    xr_struct_set_string(xs, "vdi-type", a->vdi_type) < 0 ||
	    xr_struct_set_string(xs, "vdi-uuid", a->vdi_uuid) < 0 ||
	    xr_struct_set_string(r, "params", a->params) < 0 ||
	    xr_struct_set_string(r, "params_nbd", nbd) < 0 ||
	    xr_struct_set(r, "o_direct", xr_bool(a->o_direct)) < 0 ||
	    xr_struct_set_string(r, "o_direct_reason",
				 a->o_direct_reason ? a->o_direct_reason : "") < 0)
		goto fail;
	if (xr_struct_set(r, "xenstore_data", xs) < 0) {
		xs = NULL;
		goto fail;
	}
	return r;
fail:
	xr_free(xs);
	xr_free(r);
	return NULL;
}
