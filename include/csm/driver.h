/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A driver is one table of operations (like QEMU's BlockDriver).  The
 * dispatcher parses the request, validates what every command shares,
 * takes the locks, calls the slot and writes the response.  A NULL slot
 * is fault 38, and sr_get_driver_info derives the capability list from
 * the filled slots, so the list cannot lie.
 */
#ifndef CSM_DRIVER_H
#define CSM_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "csm/error.h"
#include "csm/xmlrpc.h"

/* Every SMAPIv1 command the dispatcher knows. */
enum sm_op {
	SM_OP_SR_CREATE,
	SM_OP_SR_DELETE,
	SM_OP_SR_ATTACH,
	SM_OP_SR_DETACH,
	SM_OP_SR_SCAN,
	SM_OP_SR_UPDATE,
	SM_OP_SR_PROBE,
	SM_OP_SR_CONTENT_TYPE,
	SM_OP_VDI_CREATE,
	SM_OP_VDI_DELETE,
	SM_OP_VDI_ATTACH,
	SM_OP_VDI_DETACH,
	SM_OP_VDI_ACTIVATE,
	SM_OP_VDI_DEACTIVATE,
	SM_OP_VDI_SNAPSHOT,
	SM_OP_VDI_CLONE,
	SM_OP_VDI_RESIZE,
	SM_OP_VDI_RESIZE_ONLINE,
	SM_OP_VDI_INTRODUCE,
	SM_OP_VDI_UPDATE,
	SM_OP_VDI_GENERATE_CONFIG,
	SM_OP_VDI_ATTACH_FROM_CONFIG,
	SM_OP_VDI_DETACH_FROM_CONFIG,
	SM_OP_VDI_LOCK,
	SM_OP_VDI_UNLOCK,
	SM_OP_VDI_COMPOSE,
	SM_OP_VDI_EPOCH_BEGIN,
	SM_OP_VDI_EPOCH_END,
	SM_OP_COUNT
};

/* The parsed request, with the members every command may use. */
struct sm_call {
	char *method;                     /* methodName */
	struct xr_value *params;          /* the parser's array of params */
	const struct xr_value *req;       /* params[0], the one struct */
	const struct xr_value *args;      /* XR_ARRAY (empty when absent) */
	const struct xr_value *dconf;     /* XR_STRUCT device_config */
	const char *command;
	const char *host_ref;
	const char *session_ref;
	const char *sr_ref;
	const char *sr_uuid;              /* checked UUID or NULL */
	const char *vdi_ref;
	const char *vdi_uuid;             /* checked UUID or NULL */
	const char *vdi_location;
	const char *vdi_type;
	const char *new_uuid;             /* checked UUID or NULL */
	const char *vdi_on_boot;
	const struct xr_value *vdi_sm_config;
	const struct xr_value *driver_params;
	const struct xr_value *sr_sm_config;
	bool sr_master;
	enum sm_op op;
	char generated_uuid[37];          /* vdi_create without vdi_uuid */
};

/* One call in progress: the request, the driver's state and the result. */
struct sm_ctx {
	struct sm_call *call;
	const struct sm_driver *drv;
	void *sr;                    /* set by the driver's load() */
	struct xr_value *result;     /* set by the op; NULL means nil */
	struct sm_error err;
};

typedef int (*sm_op_fn)(struct sm_ctx *ctx);

struct sm_config_key {
	const char *key;
	const char *description;
};

struct sm_driver {
	const char *type;            /* "file", "ext", ... */
	const char *name;
	const char *description;
	const char *vendor;
	const char *copyright;
	const char *driver_version;
	const char *required_api_version;
	const struct sm_config_key *configuration;   /* {NULL, NULL} ends */
	/* Capabilities that are traits, not operations (e.g. THIN_PROVISIONING). */
	const char *const *traits;                   /* NULL ends */
	/* Validate dconf and set ctx->sr; called for every command but driver info. */
	int (*load)(struct sm_ctx *ctx);
	void (*unload)(struct sm_ctx *ctx);
	/*
	 * Repair what a process killed part-way left behind (journals);
	 * called with the SR lock held, before every command that takes it.
	 */
	int (*recover)(struct sm_ctx *ctx);
	sm_op_fn ops[SM_OP_COUNT];
};

/* The whole life of a driver process: returns the process exit status (0). */
int sm_main(const struct sm_driver *drv, int argc, char **argv);

/* Name of a command, and its capability string (NULL if none). */
const char *sm_op_name(enum sm_op op);
const char *sm_op_capability(enum sm_op op);

/* Build the sr_get_driver_info struct. */
struct xr_value *sm_driver_info(const struct sm_driver *drv);

/* Parse a request document into call; call_free releases it, also after a failure. */
int call_parse(const char *doc, size_t len, struct sm_call *call, struct sm_error *err);
void call_free(struct sm_call *call);

/* Request accessors. */
const char *call_dconf(const struct sm_call *call, const char *key);
size_t call_nargs(const struct sm_call *call);
/* args[i] as a string; SME_BAD_REQUEST naming the command if missing. */
int call_arg(const struct sm_call *call, size_t i, const char **out, struct sm_error *err);
/* The VDI uuid the command acts on (vdi_uuid, or the generated one). */
const char *call_vdi_uuid(const struct sm_call *call);

#endif
