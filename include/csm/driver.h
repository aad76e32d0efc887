/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A driver is one table of operations (like QEMU's BlockDriver).  The
 * dispatcher parses the request, validates what every command shares,
 * takes the locks, calls the slot and writes the response.  A NULL slot
 * is fault 38, and sr_get_driver_info derives the capability list from
 * the filled slots, so the list cannot lie.
 *
 * One SR type may build on another (EXT on the file store, LVMoISCSI on
 * LVM), as nbdkit filters or QEMU's child nodes do: a table names the
 * table below it in .base, and the executable's table with its bases is
 * one composed driver.  Per op, the topmost layer that fills the slot
 * serves it; sm_call_lower() lets it hand on to the layer below.  Each
 * layer has its own state (priv_size, sm_priv()), and may name a guard
 * the dispatcher runs before the ops that need it.
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

/* How many tables one driver may stack (its own and the bases below it). */
#define SM_MAX_LAYERS 4

struct xapi_conn;
struct scan_sr;

/* One call in progress: the request, the driver's state and the result. */
struct sm_ctx {
	struct sm_call *call;
	const struct sm_driver *drv; /* the executable's table, the top layer */
	/*
	 * The file store's state (drivers/filebased.c: fsr_new), set in a
	 * load().  Other layers keep theirs in priv_size state (sm_priv).
	 */
	void *sr;
	/*
	 * This host may repair the SR: replay journals, sweep leftovers,
	 * start the GC.  False only on a non-master of a shared SR (it
	 * would roll back the master's changes in flight: SR locks are per
	 * host); the dispatcher then skips recover() too.  Set before load().
	 */
	bool repair;
	struct xr_value *result;     /* set by the op; NULL means nil */
	struct sm_error err;
	/*
	 * The XenAPI session of xapi mode (csm/xapi_sync.h), NULL in API
	 * mode.  The dispatcher makes the database side effects around the
	 * op (docs/protocol.md "Two modes"): ops never call XenAPI for them.
	 */
	struct xapi_conn *xapi;
	/*
	 * sr_scan: what the SR holds, for the op to fill (zeroed by the
	 * dispatcher; NULL for other commands).  The dispatcher answers it
	 * as the scan document in API mode and reconciles xapi's records
	 * with it in xapi mode, so no sr_scan writes XML itself.
	 */
	struct scan_sr *scan;
	/*
	 * vdi_update in xapi mode: the VDI's name_label and name_description
	 * as xapi's record has them (xapi owns the labels; the op keeps them
	 * where sr_scan reads labels).  NULL otherwise.
	 */
	char *vdi_label;
	char *vdi_description;
	/* The dispatcher's: each layer's state, [0] for drv, [1] its base, ... */
	void *layer_priv[SM_MAX_LAYERS];
};

typedef int (*sm_op_fn)(struct sm_ctx *ctx);

struct sm_config_key {
	const char *key;
	const char *description;
};

/*
 * One table.  The identity (type ... required_api_version), configuration
 * and traits of a composed driver are its top table's; a base table
 * needs none of them.
 */
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
	/*
	 * The table this one builds on, or NULL.  An op slot this table
	 * leaves NULL is served by the nearest base that fills it (and so
	 * is recover); sm_op_none in a slot withdraws the base's op.
	 */
	const struct sm_driver *base;
	/*
	 * Bytes of state for this layer: the dispatcher allocates them
	 * zeroed before the first load() and frees them after the last
	 * unload(); sm_priv(ctx, &this_table) finds them, non-NULL in every
	 * hook and op (not in a vdi_epoch_* slot: those run without load).
	 */
	size_t priv_size;
	/*
	 * The SR may be used by several hosts at once (NFS, LVMoISCSI), and
	 * only the master's SR lock orders metadata changes: on a non-master
	 * (SRmaster not true) the dispatcher refuses the ops that change
	 * metadata (sm_op_changes_metadata) with SME_LVM_MASTER before any
	 * load(), and sets ctx->repair false.  True in any layer counts.
	 */
	bool shared;
	/*
	 * Validate dconf and set up this layer's state; called for every
	 * command but driver info and vdi_epoch_*.  Every layer's load runs,
	 * top layer first (so an upper layer can configure the one below
	 * through sm_priv), until one fails.
	 */
	int (*load)(struct sm_ctx *ctx);
	/*
	 * Every layer's unload runs, top layer first (an upper layer may
	 * still look at the lower's state), also after a failed load: it
	 * must cope with state that load() set up only in part, or not at all.
	 */
	void (*unload)(struct sm_ctx *ctx);
	/*
	 * Repair what a process killed part-way left behind (journals);
	 * called with the SR lock held, before every command that takes it,
	 * where ctx->repair.  Served like an op: the topmost layer that
	 * fills it, which may hand on with sm_recover_lower().
	 */
	int (*recover)(struct sm_ctx *ctx);
	/*
	 * What the SR holds, as sr_scan reports it (VDIs with sizes, parent,
	 * flags, labels; the SR's sizes), into a zeroed *out; 0, or -1 with
	 * ctx->err.  Served like an op (the topmost layer that fills it).
	 * In xapi mode the dispatcher collects after every op that changes
	 * VDIs and makes xapi's records of the VDIs the op touched agree.
	 * Runs after the op, with its locks and state.
	 */
	int (*collect)(struct sm_ctx *ctx, struct scan_sr *out);
	/*
	 * The precondition of some ops (EXT: the file system is mounted).
	 * For each layer, top first, whose guarded[op] is set, the
	 * dispatcher calls guard after the locks and recover and before the
	 * op, whichever layer serves it; a guard that fails is the call's
	 * fault.  A direct sm_call_lower() does not run guards again.
	 */
	int (*guard)(struct sm_ctx *ctx);
	bool guarded[SM_OP_COUNT];
	sm_op_fn ops[SM_OP_COUNT];
};

/* The whole life of a driver process: returns the process exit status (0). */
int sm_main(const struct sm_driver *drv, int argc, char **argv);

/*
 * Put in a slot to withdraw the op a base serves (NFSSR has no
 * vdi_introduce although the file store does): no capability, fault 38.
 */
int sm_op_none(struct sm_ctx *ctx);

/* The slot that serves op in the composed driver drv, or NULL (also for sm_op_none). */
sm_op_fn sm_driver_op(const struct sm_driver *drv, enum sm_op op);

/* Does op change a shared SR's metadata (master only)? */
bool sm_op_changes_metadata(enum sm_op op);

/*
 * The state of layer (a table in ctx->drv's stack) as priv_size asked
 * for; NULL when the layer is not in the stack or asked for none.
 * Works from any code of the call, also from another layer's.
 */
void *sm_priv(struct sm_ctx *ctx, const struct sm_driver *layer);

/*
 * From an op of layer self: run the same op (ctx->call->op) as the
 * layers below self serve it, i.e. the nearest base of self that fills
 * the slot.  Fault 38 when none does.  No guard runs again.
 */
int sm_call_lower(struct sm_ctx *ctx, const struct sm_driver *self);

/*
 * The composed driver's collect (see struct sm_driver) into a zeroed
 * *out; fault 38 when no layer has one.
 */
int sm_collect(struct sm_ctx *ctx, struct scan_sr *out);

/* From layer self's recover: that of the nearest base below self that has one (0 if none). */
int sm_recover_lower(struct sm_ctx *ctx, const struct sm_driver *self);

/*
 * The composed driver's recover, as the dispatcher calls it: 0 without
 * running anything when no layer has one or !ctx->repair.
 */
int sm_recover(struct sm_ctx *ctx);

/* Name of a command, and its capability string (NULL if none). */
const char *sm_op_name(enum sm_op op);
const char *sm_op_capability(enum sm_op op);

/* Build the sr_get_driver_info struct. */
struct xr_value *sm_driver_info(const struct sm_driver *drv);

/* Parse a request document into call; call_free releases it, also after a failure. */
int call_parse(const char *doc, size_t len, struct sm_call *call, struct sm_error *err);
void call_free(struct sm_call *call);

/*
 * What vdi_attach answers (protocol.md: the attach dict): params (the path
 * tapdisk opens), params_nbd (the NBD socket xapi connects to for the
 * VDI), o_direct and its reason, and xenstore_data with storage-type,
 * vdi-type and vdi-uuid added to xs (the caller's extra keys; NULL for
 * none; taken over, freed on failure).  NULL when out of memory.
 */
struct sm_attach_info {
	const char *sr_uuid, *vdi_uuid;
	const char *params;
	const char *storage_type;      /* xenstore storage-type: "ext", "nfs", "iscsi", ... */
	const char *vdi_type;          /* xenstore vdi-type: "vhd", "aio", "phy" */
	bool o_direct;
	const char *o_direct_reason;   /* NULL = "" */
};
struct xr_value *sm_attach_result(const struct sm_attach_info *a, struct xr_value *xs);

/* Request accessors. */
const char *call_dconf(const struct sm_call *call, const char *key);
size_t call_nargs(const struct sm_call *call);
/* args[i] as a string; SME_BAD_REQUEST naming the command if missing. */
int call_arg(const struct sm_call *call, size_t i, const char **out, struct sm_error *err);
/* The VDI uuid the command acts on (vdi_uuid, or the generated one). */
const char *call_vdi_uuid(const struct sm_call *call);

#endif
