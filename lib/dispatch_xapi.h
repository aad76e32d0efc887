/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The dispatcher's part of the two modes (docs/protocol.md "Two modes"):
 * what happens around the op of one call.  Internal to lib/dispatch.c.
 *
 * Every side effect follows from the command and what the SR holds
 * after it (the driver's collect slot), never from the op itself, so each
 * SR type gets the same ones.  In API mode (ctx->xapi NULL) only the
 * sr_scan answer is written here.
 */
#ifndef CSM_DISPATCH_XAPI_H
#define CSM_DISPATCH_XAPI_H

#include <stdbool.h>

#include "csm/driver.h"
#include "csm/xapi_sync.h"

/* What the side effects before the op left for those after it. */
struct dx_state {
	char *vdi_ref;        /* the call's VDI in xapi (looked up if the request lacks it) */
	bool activating;      /* vdi_activate: the handshake began */
	bool pausing;         /* vdi_snapshot/vdi_clone: xsync_pause ran (maybe in part) */
	struct xsync_paused paused;
	char parent[37];      /* vdi_delete: the VDI's vhd-parent as xapi had it, or "" */
};

/*
 * xapi mode: replace each dconf "<key>_secret" (a xapi secret's uuid)
 * with "<key>" holding the secret's value, before any layer loads.  The
 * value is never logged.  API mode: nothing (the drivers refuse such keys).
 */
int dx_resolve_secrets(struct sm_ctx *ctx);

/* Before the op (the locks are held): the activation handshake, the pause. */
int dx_before(struct sm_ctx *ctx, struct dx_state *st);

/*
 * After the op, whatever rc it returned (-1 also when dx_before failed):
 * on success the sr_scan answer and the database side effects, and in
 * any case the end of the handshake and the unpause.  Returns the call's
 * rc; a XenAPI failure becomes the command's fault code with its detail.
 */
int dx_after(struct sm_ctx *ctx, struct dx_state *st, int rc);

/* st's state, and the labels dx_before gave ctx. */
void dx_state_free(struct sm_ctx *ctx, struct dx_state *st);

#endif
