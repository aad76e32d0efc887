/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * LVMSR (type "lvm"): VHDs in logical volumes of one volume group over
 * local devices, the Python SM's LVHDSR layout (csm/vstore_lvm.h), dconf
 * "device" (comma-separated), "allocation" (thick | thin), SRmaster.
 *
 * Every VDI operation is drivers/vhdsr.c's over the LVM store: this
 * layer builds on sm_file_base and hands it the store (file_sr.other_store).
 * (the store's thin flag says how vdi_create and vdi_resize provision).
 * What it adds is what only a volume group has:
 *
 *   sr_create/delete/attach/detach/probe   PVs, the VG, MGT (the store's helpers)
 *   vdi_snapshot/clone on a thick SR       the leaves inflated as LVHDSR's
 *   vdi_attach                             inflate (RW), then the chain activated
 *                                          root first with the refcount files
 *   vdi_detach                             the chain released; deflate (thin SR,
 *                                          or a snapshot)
 *   vdi_deactivate                         nothing: the LVs stay active until
 *                                          detach (block-family A.12)
 *
 * The SR is shared in the driver table's sense: on a non-master
 * (SRmaster not true) the dispatcher refuses every metadata change with
 * 58 LVMMaster, and this layer never inflates or deflates there.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/fault.h"
#include "csm/log.h"
#include "csm/refcount.h"
#include "csm/util.h"
#include "csm/vdiforest.h"
#include "csm/vstore_lvm.h"
#include "blockdev.h"
#include "file_base.h"
#include "filebased.h"
#include "lvmsr.h"

/* LVHDSR grows the PVs at attach when the devices are this much larger than the VG. */
#define LVMSR_GROW_MARGIN (100ULL << 20)

struct lvm_state {
	struct blockdev_list devs;   /* dconf device */
	bool thin;                   /* allocation=thin */
	bool have_store;             /* the call names an SR (not sr_probe) */
	struct vstore_lvm store;
	/* Set by a layer above (lvmsr.h): the device instead of dconf's, or no devices yet. */
	const char *upper_device;
	bool probe_deferred;
};

static struct lvm_state *LS(struct sm_ctx *ctx)
{
	return sm_priv(ctx, &sm_lvm_driver);
}

static struct vstore *VS(struct sm_ctx *ctx)
{
	return &LS(ctx)->store.vs;
}

/* ---- dconf ----------------------------------------------------------------- */

/* thick (default) or thin; the SR's sm-config wins over dconf, as LVHDSR's load. */
static int parse_allocation(const struct sm_call *c, bool *thin, struct sm_error *err)
{
	const char *a = xr_struct_get_string(c->sr_sm_config, "allocation");

	if (!a)
		a = call_dconf(c, "allocation");
	if (!a || strcmp(a, "thick") == 0) {
		*thin = false;
		return 0;
	}
	if (strcmp(a, "thin") == 0) {
		*thin = true;
		return 0;
	}
	return sm_fail(err, SME_INVALID_ARG, "allocation '%.40s' is neither thick nor thin", a);
}

void lvmsr_use_device(struct sm_ctx *ctx, const char *device)
{
	LS(ctx)->upper_device = device;
}

void lvmsr_defer_probe(struct sm_ctx *ctx)
{
	LS(ctx)->probe_deferred = true;
}

int lvmsr_probe_device(struct sm_ctx *ctx, const char *device)
{
	struct lvm_state *st = LS(ctx);

	blockdev_list_free(&st->devs);
	return blockdev_list_parse(device, &st->devs, &ctx->err);
}

static int lvm_load(struct sm_ctx *ctx)
{
	struct lvm_state *st = LS(ctx);
	const char *uuid = ctx->call->sr_uuid;
	const char *device = st->upper_device ? st->upper_device : call_dconf(ctx->call, "device");
	struct file_sr *sr;

	if (st->probe_deferred && ctx->call->op == SM_OP_SR_PROBE)
		return 0;
	if (blockdev_list_parse(device, &st->devs, &ctx->err) < 0 ||
	    parse_allocation(ctx->call, &st->thin, &ctx->err) < 0)
		return -1;
	sr = fsr_new(ctx);
	if (!sr)
		return -1;
	sr->storage_type = "lvm";
	sr->o_direct = true;
	sr->o_direct_reason = "";
	sr->repair = ctx->repair;
	/* sr_probe carries no sr_uuid: it needs the devices only. */
	if (!uuid) {
		if (ctx->call->op != SM_OP_SR_PROBE)
			return sm_fail(&ctx->err, SME_BAD_REQUEST, "%s needs an SR uuid", ctx->call->method);
		return 0;
	}
	vstore_lvm_init(&st->store, uuid, st->devs.dev, st->devs.n, ctx->call->sr_master, st->thin);
	st->have_store = true;
	sr->other_store = &st->store.vs;
	/* What csm-gc needs to find this SR: the same devices (fsr_kick_gc). */
	sr->gc_reach[0] = "--lvm";
	sr->gc_reach[1] = device;
	if (st->thin)
		sr->gc_reach[2] = "--thin";
	return 0;
}

static void lvm_unload(struct sm_ctx *ctx)
{
	struct lvm_state *st = LS(ctx);

	if (st->have_store)
		st->store.vs.ops->close(&st->store.vs);
	blockdev_list_free(&st->devs);
}

/*
 * A handle on LVM over the SR's devices, for what the store does not do.
 * liblvm2cmd allows one handle per process: the store's goes first (it
 * reopens on its next use).
 */
static int open_lvm(struct lvm_state *st, struct lvm *l, bool master, struct sm_error *err)
{
	struct lvm_opts o = { .master = master };

	if (st->have_store)
		st->store.vs.ops->close(&st->store.vs);

	return lvm_open_opts(l, st->devs.dev, st->devs.n, &o, err);
}

/* ---- sr_create, sr_delete -------------------------------------------------------- */

/* Nothing on the devices: not in use, no signature, no PV (EXTSR's checks). */
static int devices_unused(struct lvm_state *st, struct sm_error *err)
{
	struct lvm l;
	int rc = 0;

	for (size_t i = 0; i < st->devs.n; i++)
		if (blockdev_free(st->devs.dev[i], err) < 0)
			return -1;
	if (open_lvm(st, &l, true, err) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < st->devs.n; i++)
		rc = blockdev_not_pv(&l, st->store.vg, st->devs.dev[i], err);
	lvm_close(&l);
	for (size_t i = 0; rc == 0 && i < st->devs.n; i++)
		rc = blockdev_blank(st->devs.dev[i], err);
	return rc;
}

static int lvmsr_sr_create(struct sm_ctx *ctx)
{
	struct lvm_state *st = LS(ctx);
	struct sm_error undo = { 0 };
	const char *size_s;
	uint64_t size;

	if (call_arg(ctx->call, 0, &size_s, &ctx->err) < 0)
		return -1;
	if (sm_parse_u64(size_s, &size) < 0)
		return sm_fail(&ctx->err, SME_INVALID_ARG, "physical_size '%.40s' is not a decimal number",
			       size_s);
	if (devices_unused(st, &ctx->err) < 0)
		return -1;
	if (vstore_lvm_sr_create(&st->store, "", "", &ctx->err) == 0)
		return 0;
	/* A group of this name seen on the devices is someone's SR: never undo that. */
	if (ctx->err.code == SME_SR_EXISTS)
		return -1;
	/* The devices were blank: whatever the failed create made there goes. */
	if (vstore_lvm_sr_delete(&st->store, &undo) < 0)
		sm_log(LOG_ERR, "sr_create rollback: %s", undo.detail);
	sm_error_clear(&undo);
	return -1;
}

/*
 * LVHDSR's delete runs the GC to the end first (gc_force): base copies no
 * VDI needs any more go.  Once no visible VDI is left every image is such
 * garbage; a visible one, or one that cannot be read (it may be a VDI),
 * is 39 and nothing is removed.
 */
static int remove_garbage(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	struct vdi_forest f;
	int rc = -1;

	if (vdi_forest_load(&f, vs, false, &ctx->err) < 0)
		return -1;
	for (size_t i = 0; i < f.count; i++) {
		const struct vdi_node *n = &f.nodes[i];

		if (n->live || n->img.error[0]) {
			sm_fail(&ctx->err, SME_SR_NOT_EMPTY, "%s still holds VDI %s%s%s", vs->sr_uuid,
				n->img.uuid, n->img.error[0] ? ": " : "", n->img.error);
			goto out;
		}
	}
	for (size_t i = 0; i < f.count; i++)
		if (vs->ops->remove(vs, f.nodes[i].img.uuid, f.nodes[i].img.kind, true, &ctx->err) < 0)
			goto out;
	rc = 0;
out:
	vdi_forest_free(&f);
	return rc;
}

static int lvmsr_sr_delete(struct sm_ctx *ctx)
{
	struct lvm_state *st = LS(ctx);
	int exists = st->store.vs.ops->exists(&st->store.vs);

	if (exists < 0)
		return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, -exists, "cannot look for %s",
				     st->store.vg);
	if (exists) {
		char gcflag[PATH_MAX];
		int rc;

		/* A GC copying or renaming races the removal: stop it first. */
		fsr_gc_stop_begin(ctx->call->sr_uuid, gcflag);
		rc = remove_garbage(ctx);
		fsr_gc_stop_end(gcflag);
		if (rc < 0)
			return -1;
	}
	return vstore_lvm_sr_delete(&st->store, &ctx->err);
}

/* ---- sr_attach, sr_detach ---------------------------------------------------------- */

static int device_bytes(const char *dev, uint64_t *size)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, BLKGETSIZE64, size) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * LVHDSR's _expand_size: devices that grew by more than the margin since
 * the VG was made (or last grown) get pvresize.  Master only; a failure
 * is logged, the SR stays usable at its old size.
 */
static void grow_pvs(struct lvm_state *st)
{
	struct sm_error e = { 0 };
	uint64_t devs = 0, vg_size = 0;
	bool exists;
	struct lvm l;

	for (size_t i = 0; i < st->devs.n; i++) {
		uint64_t b;

		if (device_bytes(st->devs.dev[i], &b) < 0)
			return;
		devs += b;
	}
	if (open_lvm(st, &l, true, &e) < 0)
		goto out;
	if (lvm_vg_info(&l, st->store.vg, &exists, &vg_size, NULL, &e) == 0 && exists &&
	    devs > vg_size + LVMSR_GROW_MARGIN) {
		for (size_t i = 0; i < st->devs.n; i++)
			if (lvm_pvresize(&l, st->devs.dev[i], &e) < 0)
				break;
		if (!e.code)
			sm_log(LOG_INFO, "sr_attach: %s grown to its devices (%" PRIu64 " bytes)",
			       st->store.vg, devs);
	}
	lvm_close(&l);
out:
	if (e.code)
		sm_log(LOG_WARNING, "sr_attach: cannot grow %s: %s", st->store.vg, e.detail);
	sm_error_clear(&e);
}

static int lvmsr_sr_attach(struct sm_ctx *ctx)
{
	struct lvm_state *st = LS(ctx);

	if (vstore_lvm_sr_attach_check(&st->store, &ctx->err) < 0)
		return -1;
	if (ctx->repair) {
		grow_pvs(st);
		st->store.vs.ops->sweep(&st->store.vs);
	}
	return 0;
}

/*
 * The VG's LVs go inactive (a no-op where LVM cannot activate) and this
 * host's activation counts of the SR are dropped, as LVHDSR's detach
 * (RefCounter.resetAll).  An LV still open fails the detach (16).
 */
static int lvmsr_sr_detach(struct sm_ctx *ctx)
{
	struct lvm_state *st = LS(ctx);
	char gcflag[PATH_MAX];
	struct lvm l;
	bool exists;
	int rc;

	if (open_lvm(st, &l, ctx->call->sr_master, &ctx->err) < 0)
		return -1;
	/* The GC holds LVs active while it copies: stop it before the VG goes down. */
	fsr_gc_stop_begin(ctx->call->sr_uuid, gcflag);
	rc = lvm_vg_info(&l, st->store.vg, &exists, NULL, NULL, &ctx->err);
	if (rc == 0 && exists && lvm_activation(&l))
		rc = lvm_vg_activate(&l, st->store.vg, false, &ctx->err);
	fsr_gc_stop_end(gcflag);
	lvm_close(&l);
	if (rc < 0) {
		sm_error_recode(&ctx->err, SME_SR_IN_USE);
		return -1;
	}
	return refcount_reset_ns(st->store.ns, &ctx->err);
}

/* ---- sr_probe ---------------------------------------------------------------------- */

/* LVHDSR's probe: one <SR> per VG_XenStorage-* group on the devices (srlist_toxml). */
static int lvmsr_sr_probe(struct sm_ctx *ctx)
{
	struct lvm_state *st = LS(ctx);
	struct vstore_lvm_probe *found = calloc(LVM_MAX_DEVICES, sizeof(*found));
	struct sm_buf b = SM_BUF_INIT;
	size_t n = 0;
	char *doc = NULL;
	int rc = -1;

	if (!found)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	if (vstore_lvm_probe(st->devs.dev, st->devs.n, found, LVM_MAX_DEVICES, &n, &ctx->err) < 0)
		goto out;
	if (n == 0) {
		buf_puts(&b, "<?xml version=\"1.0\" ?>\n<SRlist/>\n");
	} else {
		buf_puts(&b, "<?xml version=\"1.0\" ?>\n<SRlist>\n");
		for (size_t i = 0; i < n; i++)
			buf_printf(&b, "\t<SR>\n\t\t<UUID>%s</UUID>\n\t\t<Devlist>%s</Devlist>\n"
				   "\t\t<size>%" PRIu64 "</size>\n\t</SR>\n",
				   found[i].sr_uuid, found[i].devices, found[i].size);
		buf_puts(&b, "</SRlist>\n");
	}
	doc = buf_steal(&b);
	ctx->result = doc ? xr_string(doc) : NULL;
	rc = ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
out:
	free(doc);
	free(found);
	return rc;
}

/* ---- sr_scan -------------------------------------------------------------------------- */

static int lvmsr_sr_scan(struct sm_ctx *ctx)
{
	/* The generic scan starts csm-gc --lvm (fsr_kick_gc, gc_reach set at load). */
	return sm_call_lower(ctx, &sm_lvm_driver);
}

/* ---- provisioning ---------------------------------------------------------------------- */

/* The uuid of the VDI an op answered with (vdi_create, vdi_clone, vdi_snapshot). */
static const char *result_uuid(const struct sm_ctx *ctx)
{
	return ctx->result ? xr_struct_get_string(ctx->result, "uuid") : NULL;
}

/* uuid's LV size and the size it has when fully inflated; kind says whether it is a VHD. */
static int lv_sizes(struct sm_ctx *ctx, const char *uuid, enum vstore_kind *kind, uint64_t *lv,
		    uint64_t *full)
{
	struct vstore *vs = VS(ctx);
	struct vstore_lvm *s = &LS(ctx)->store;
	struct vhd_info info;
	char name[LVM_NAME_MAX];
	const struct lvm_lv *row;

	if (vs->ops->find(vs, uuid, kind, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		return -1;
	if (*kind != VSTORE_VHD)
		return 0;
	/* find() has just read the store's report of the LVs afresh. */
	vs->ops->image_name(vs, uuid, VSTORE_VHD, name, sizeof(name));
	row = s->lvs_valid ? lvm_lv_find(&s->lvs, name) : NULL;
	*lv = row ? row->size : 0;
	if (vstore_vhd_query(vs, uuid, true, &info, &ctx->err) < 0)
		return -1;
	*full = vstore_room_for(vs, info.virtual_size, VSTORE_FIT_FULL, 0);
	return 0;
}

/* Inflate uuid's VHD to its full size (a no-op when it has it). */
static int inflate_full(struct sm_ctx *ctx, const char *uuid)
{
	enum vstore_kind kind;
	uint64_t lv = 0, full = 0;

	if (lv_sizes(ctx, uuid, &kind, &lv, &full) < 0)
		return -1;
	if (kind != VSTORE_VHD || lv >= full)
		return 0;
	return vstore_inflate(VS(ctx), uuid, full, &ctx->err);
}

/* Is uuid attached on this host (its refcount file holds a count)? */
static bool attached_here(struct sm_ctx *ctx, const char *uuid)
{
	struct refcount c = { 0 };
	struct sm_error e = { 0 };
	bool on = refcount_read(LS(ctx)->store.ns, uuid, &c, &e) == 0 && c.count + c.binary > 0;

	sm_error_clear(&e);
	return on;
}

static bool is_a_snapshot(struct sm_ctx *ctx, const char *uuid)
{
	struct vstore *vs = VS(ctx);
	struct vdi_meta m;
	bool snap = vs->ops->meta_read(vs, uuid, &m) == 0 && m.is_a_snapshot;

	vdimeta_free(&m);
	return snap;
}

/*
 * LVHDSR's leaf sizes after a snapshot (block-family A.5): the leaf that
 * keeps the uuid is full on a thick SR unless it is itself a snapshot,
 * and full anywhere when attached; a clone's new leaf is full on a thick
 * SR.  The snapshot is done and answered: an inflate that fails is
 * logged (attach inflates again), not the call's fault.
 */
static void inflate_after_snapshot(struct sm_ctx *ctx, const char *src, bool src_snapshot,
				   const char *made)
{
	bool thick = !LS(ctx)->thin;

	if ((thick && !src_snapshot) || attached_here(ctx, src)) {
		if (inflate_full(ctx, src) < 0)
			sm_log(LOG_WARNING, "%s: cannot inflate %s: %s", ctx->call->method, src,
			       ctx->err.detail);
		sm_error_clear(&ctx->err);
	}
	if (made && thick && ctx->call->op == SM_OP_VDI_CLONE) {
		if (inflate_full(ctx, made) < 0)
			sm_log(LOG_WARNING, "%s: cannot inflate %s: %s", ctx->call->method, made,
			       ctx->err.detail);
		sm_error_clear(&ctx->err);
	}
}

static int lvmsr_vdi_snapshot(struct sm_ctx *ctx)
{
	const char *src = ctx->call->vdi_uuid;
	bool src_snapshot = src && is_a_snapshot(ctx, src);
	char made[37] = "";

	if (sm_call_lower(ctx, &sm_lvm_driver) < 0)
		return -1;
	if (result_uuid(ctx))
		snprintf(made, sizeof(made), "%s", result_uuid(ctx));
	sm_fault_point("lvm-snapshot:inflate");
	inflate_after_snapshot(ctx, src, src_snapshot, made[0] ? made : NULL);
	return 0;
}

/* ---- attach and detach: inflate, activation, deflate ------------------------------------ */

/* The chain of uuid, leaf first: n links in chain[]. */
static int chain_of(struct sm_ctx *ctx, const char *uuid, char (*chain)[37], size_t cap,
		    size_t *n)
{
	struct vstore *vs = VS(ctx);
	enum vstore_kind kind;
	struct vhd_info info;

	*n = 0;
	snprintf(chain[0], 37, "%s", uuid);
	for (;;) {
		if (*n == cap)
			return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "chain of %s longer than %zu",
				       uuid, cap);
		if (vs->ops->find(vs, chain[*n], &kind, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
			return -1;
		if (kind == VSTORE_NONE)
			return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "%s is not in SR %s", chain[*n],
				       vs->sr_uuid);
		(*n)++;
		if (kind != VSTORE_VHD)
			return 0;
		if (vstore_vhd_query(vs, chain[*n - 1], true, &info, &ctx->err) < 0)
			return -1;
		if (info.type != VHD_TYPE_DIFF)
			return 0;
		if (*n == cap)
			continue;
		vs->ops->parent_uuid(vs, &info, chain[*n]);
		if (!chain[*n][0])
			return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "parent of %s is not in SR %s",
				       chain[*n - 1], vs->sr_uuid);
	}
}

#define LVMSR_CHAIN_MAX (VHD_MAX_CHAIN * 4)

/* Release links [0, upto) of chain (leaf is chain[0]); best effort. */
static void release_chain(struct sm_ctx *ctx, char (*chain)[37], size_t upto)
{
	struct vstore *vs = VS(ctx);

	for (size_t i = 0; i < upto; i++) {
		struct sm_error e = { 0 };

		if (vstore_deactivate(vs, chain[i], i == 0, &e) < 0)
			sm_log(LOG_WARNING, "cannot release %s: %s", chain[i], e.detail);
		sm_error_clear(&e);
	}
}

/* Activate the chain from the root down, leaf last (binary count); undone on failure. */
static int activate_chain(struct sm_ctx *ctx, char (*chain)[37], size_t n)
{
	struct vstore *vs = VS(ctx);

	for (size_t i = n; i-- > 0;) {
		if (vstore_activate(vs, chain[i], i == 0, &ctx->err) < 0) {
			/* chain[i+1 .. n) were activated: release them. */
			for (size_t j = i + 1; j < n; j++) {
				struct sm_error e = { 0 };

				vstore_deactivate(vs, chain[j], false, &e);
				sm_error_clear(&e);
			}
			return -1;
		}
	}
	return 0;
}

/*
 * A writable VHD needs its full size before anyone writes: only the
 * master changes LV sizes, so a non-master attaches only a VDI that has it.
 */
static int provision_for_write(struct sm_ctx *ctx, const char *uuid)
{
	enum vstore_kind kind;
	uint64_t lv = 0, full = 0;

	if (lv_sizes(ctx, uuid, &kind, &lv, &full) < 0)
		return -1;
	if (kind != VSTORE_VHD || lv >= full)
		return 0;
	if (!ctx->repair)
		return sm_fail(&ctx->err, SME_LVM_MASTER,
			       "%s must be inflated for a writable attach, which only the SR master "
			       "does (SRmaster=true): attach it on the master first", uuid);
	if (vstore_inflate(VS(ctx), uuid, full, &ctx->err) < 0) {
		if (ctx->err.code != SME_SR_NO_SPACE)
			sm_error_recode(&ctx->err, SME_VDI_UNAVAILABLE);
		return -1;
	}
	return 0;
}

static int attach_common(struct sm_ctx *ctx, bool writable)
{
	const char *uuid = ctx->call->vdi_uuid;
	char (*chain)[37];
	size_t n = 0;
	int rc = -1;

	/* The generic attach checks the VDI (present, usable that way) and builds the answer. */
	if (sm_call_lower(ctx, &sm_lvm_driver) < 0)
		return -1;
	chain = calloc(LVMSR_CHAIN_MAX, sizeof(*chain));
	if (!chain) {
		sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		goto out;
	}
	if ((writable && provision_for_write(ctx, uuid) < 0) ||
	    chain_of(ctx, uuid, chain, LVMSR_CHAIN_MAX, &n) < 0 ||
	    activate_chain(ctx, chain, n) < 0)
		goto out;
	rc = 0;
out:
	free(chain);
	if (rc < 0) {
		xr_free(ctx->result);
		ctx->result = NULL;
	}
	return rc;
}

static int lvmsr_vdi_attach(struct sm_ctx *ctx)
{
	const char *w;
	bool rw;

	if (call_arg(ctx->call, 0, &w, &ctx->err) < 0)
		return -1;
	if (sm_parse_bool(w, &rw) < 0)
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "%s: argument must be true or false",
			       ctx->call->method);
	return attach_common(ctx, rw);
}

static int lvmsr_vdi_attach_from_config(struct sm_ctx *ctx)
{
	return attach_common(ctx, true);
}

/*
 * Deflate after the last release where LVHDSR does: every VHD on a thin
 * SR, snapshots on a thick one.  Master only; a failure is logged (the
 * VDI is whole, only larger than it needs to be).
 */
static void deflate_after_detach(struct sm_ctx *ctx, const char *uuid)
{
	struct sm_error e = { 0 };

	if (!ctx->repair || attached_here(ctx, uuid) || (!LS(ctx)->thin && !is_a_snapshot(ctx, uuid)))
		return;
	if (vstore_deflate(VS(ctx), uuid, &e) < 0)
		sm_log(LOG_WARNING, "vdi_detach: cannot deflate %s: %s", uuid, e.detail);
	sm_error_clear(&e);
}

/* Idempotent: a VDI gone or never attached has nothing to release. */
static int lvmsr_vdi_detach(struct sm_ctx *ctx)
{
	const char *uuid = ctx->call->vdi_uuid;
	char (*chain)[37] = calloc(LVMSR_CHAIN_MAX, sizeof(*chain));
	size_t n = 0;
	int rc;

	if (!chain)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	rc = chain_of(ctx, uuid, chain, LVMSR_CHAIN_MAX, &n);
	if (rc < 0 && ctx->err.code == SME_VDI_UNAVAILABLE && n == 0) {
		/* Not in the SR (any more): only its count can be left. */
		sm_error_clear(&ctx->err);
		snprintf(chain[0], 37, "%s", uuid);
		n = 1;
		rc = 0;
	}
	if (rc == 0) {
		release_chain(ctx, chain, n);
		deflate_after_detach(ctx, uuid);
	}
	free(chain);
	return rc;
}

static int lvmsr_vdi_detach_from_config(struct sm_ctx *ctx)
{
	return lvmsr_vdi_detach(ctx);
}

/*
 * The LVs stay active from attach to detach (A.12): the counts are
 * attach's.  The NBD server vdi_activate started goes (a VM must shut
 * down: one that will not die is logged, not a fault).
 */
static int lvmsr_vdi_deactivate(struct sm_ctx *ctx)
{
	if (fsr_serve_stop(ctx, ctx->call->vdi_uuid) < 0) {
		sm_log(LOG_WARNING, "vdi_deactivate: %s", ctx->err.detail);
		sm_error_clear(&ctx->err);
	}
	return 0;
}

/* ---- the table ---------------------------------------------------------------------------- */

static const struct sm_config_key lvm_config[] = {
	{ "device", "local device path (required) (e.g. /dev/sda3)" },
	{ "allocation", "thick (default) or thin provisioning of VHD LVs" },
	{ NULL, NULL },
};

/*
 * LVHDSR advertises no THIN_PROVISIONING: allocation is a per-SR choice
 * and the capability list is the driver's.
 */
static const char *const lvm_traits[] = { NULL };

const struct sm_driver sm_lvm_driver = {
	.type = "lvm",
	.name = "Local VHD on LVM",
	.description = "SR plugin which represents disks as VHD disks on Logical Volumes within a "
		       "locally-attached Volume Group",
	.vendor = "XenSource Inc",
	.copyright = "(C) 2008 XenSource Inc",
	.driver_version = "1.0",
	.required_api_version = "1.0",
	.configuration = lvm_config,
	.traits = lvm_traits,
	.base = &sm_file_base,
	.priv_size = sizeof(struct lvm_state),
	/* Only the master changes the VG's metadata (LVHDSR's 58 LVMMaster). */
	.shared = true,
	.load = lvm_load,
	.unload = lvm_unload,
	.ops = {
		[SM_OP_SR_CREATE] = lvmsr_sr_create,
		[SM_OP_SR_DELETE] = lvmsr_sr_delete,
		[SM_OP_SR_ATTACH] = lvmsr_sr_attach,
		[SM_OP_SR_DETACH] = lvmsr_sr_detach,
		[SM_OP_SR_PROBE] = lvmsr_sr_probe,
		[SM_OP_SR_SCAN] = lvmsr_sr_scan,
		[SM_OP_VDI_SNAPSHOT] = lvmsr_vdi_snapshot,
		[SM_OP_VDI_CLONE] = lvmsr_vdi_snapshot,
		[SM_OP_VDI_ATTACH] = lvmsr_vdi_attach,
		[SM_OP_VDI_DETACH] = lvmsr_vdi_detach,
		[SM_OP_VDI_ATTACH_FROM_CONFIG] = lvmsr_vdi_attach_from_config,
		[SM_OP_VDI_DETACH_FROM_CONFIG] = lvmsr_vdi_detach_from_config,
		[SM_OP_VDI_DEACTIVATE] = lvmsr_vdi_deactivate,
	},
};
