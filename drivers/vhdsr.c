/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The VDI operations of the VHD-based SR types, written once over the VDI
 * store (csm/vstore.h): scan, create, delete, attach and activation,
 * snapshot and clone, resize, introduce, update, generate_config,
 * vdi_lock, and the recovery of what a killed call left.  Nothing here
 * knows how the store keeps its images (files, LVs): it names images by
 * uuid and lets the store run each step's crash protocol.
 *
 * A snapshot keeps the original uuid as the writable leaf: its data moves
 * to a hidden read-only "base copy" and the call returns the new VDI.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csm/fault.h"
#include "csm/lock.h"
#include "csm/log.h"
#include "csm/nbd_serve.h"
#include "csm/scan.h"
#include "csm/util.h"
#include "csm/vdiforest.h"
#include "csm/vdimeta.h"
#include "csm/vhd.h"
#include "csm/vstore.h"
#include "filebased.h"

static struct file_sr *FSR(struct sm_ctx *ctx)
{
	return ctx->sr;
}

static struct vstore *VS(struct sm_ctx *ctx)
{
	return fsr_store(FSR(ctx));
}

/* An -errno about uuid's image as a fault naming it. */
static int fail_image(struct vstore *vs, struct sm_error *err, int code, int rc,
		      const char *what, const char *uuid, enum vstore_kind kind)
{
	char name[128], where[PATH_MAX];

	vs->ops->image_name(vs, uuid, kind, name, sizeof(name));
	vs->ops->describe(vs, name, where, sizeof(where));
	if (rc == -ETIMEDOUT)
		code = SME_SR_UNAVAILABLE;
	return sm_fail_errno(err, code, -rc, "%s%s%s", what, *what ? " " : "", where);
}

/* ---- chains ------------------------------------------------------------ */

/* Where a broken link's parent is (or would be): its file, else the name the child gives. */
static void chain_break_where(struct vstore *vs, const struct vdi_chain_break *b, char *out,
			      size_t cap)
{
	char name[128];

	if (!b->parent[0]) {
		snprintf(out, cap, "%s", b->parent_name ? b->parent_name : "");
		return;
	}
	vs->ops->image_name(vs, b->parent, VSTORE_VHD, name, sizeof(name));
	vs->ops->describe(vs, name, out, cap);
}

/* The scan document's <chain_error> of a VDI whose chain is broken (docs/scan-xml.md). */
static void scan_mark_chain(struct vstore *vs, const struct vdi_forest *f,
			    const struct vdi_node *n, struct scan_vdi *v)
{
	struct vdi_chain_break b;
	char where[PATH_MAX], text[1024];

	if (!n->broken || !vdi_forest_chain_break(f, n, &b))
		return;
	chain_break_where(vs, &b, where, sizeof(where));
	vdi_chain_break_text(&b, where, text, sizeof(text));
	v->chain_reason = vdi_chain_fault_name(b.fault);
	memcpy(v->chain_link, b.link->img.uuid, sizeof(v->chain_link));
	memcpy(v->chain_parent, b.parent, sizeof(v->chain_parent));
	v->chain_file = strdup(where);
	v->chain_error = strdup(text);
	sm_log(LOG_ERR, "scan: %s: %s", n->img.uuid, text);
}

struct dependents {
	const char *skip;        /* the VDI the fault is about */
	char list[400];
	size_t len, count;
};

static void add_dependent(void *arg, const struct vdi_node *n)
{
	struct dependents *d = arg;

	if (strcmp(n->img.uuid, d->skip) == 0)
		return;
	if (d->count++ < 8 && d->len < sizeof(d->list))
		d->len += (size_t)snprintf(d->list + d->len, sizeof(d->list) - d->len, "%s%s",
					   d->count > 1 ? ", " : "", n->img.uuid);
}

/*
 * The whole story of a broken chain for a fault: which VDI, which link,
 * why, and who else hangs below the broken parent (what an operator must
 * restore, and what else comes back with it).  0 when the forest finds
 * the chain intact (the caller's own error then stands).
 */
static int chain_fault(struct vstore *vs, const char *uuid, int code, struct sm_error *err)
{
	struct dependents d = { .skip = uuid };
	struct vdi_chain_break b;
	struct vdi_forest f;
	struct vdi_node *n;
	char where[PATH_MAX], text[700];
	const char *below;
	int rc = 0;

	if (vdi_forest_load(&f, vs, false, NULL) < 0)
		return 0;
	n = vdi_forest_find(&f, uuid);
	if (!n || !vdi_forest_chain_break(&f, n, &b))
		goto out;
	chain_break_where(vs, &b, where, sizeof(where));
	vdi_chain_break_text(&b, where, text, sizeof(text));
	below = b.parent[0] ? b.parent : b.link->img.uuid;
	vdi_forest_dependents(&f, below, add_dependent, &d);
	if (!b.parent[0] && strcmp(b.link->img.uuid, uuid) != 0)
		add_dependent(&d, b.link);
	sm_error_clear(err);
	if (d.count)
		rc = sm_fail(err, code, "VDI %s: %s; %zu other VDI%s depend%s on %s: %s%s", uuid, text,
			     d.count, d.count == 1 ? "" : "s", d.count == 1 ? "s" : "", below, d.list,
			     d.count > 8 ? ", ..." : "");
	else
		rc = sm_fail(err, code, "VDI %s: %s; no other VDI depends on %s", uuid, text, below);
out:
	vdi_forest_free(&f);
	return rc;
}

/*
 * Open every link from uuid to the root and check that each parent is the
 * image its child was made from (footer uuid = child's parent uuid).  A
 * broken chain must fail at attach with a reason, not inside tapdisk.
 * Intact chains cost one open per link; a broken one is then explained
 * from the whole SR's forest (chain_fault).
 */
static int chain_walk(struct vstore *vs, const char *uuid, int *depth, struct sm_error *err,
		      int code)
{
	char cur[37], name[128];
	struct vhd_info info, child;
	int n = 0;

	snprintf(cur, sizeof(cur), "%s", uuid);
	for (;;) {
		vs->ops->image_name(vs, cur, VSTORE_VHD, name, sizeof(name));
		if (vstore_vhd_query(vs, cur, true, &info, err) < 0) {
			sm_error_recode(err, code);
			return -1;
		}
		if (n > 0 && memcmp(info.uuid, child.parent_uuid, 16) != 0)
			return sm_fail(err, code, "%s: parent uuid does not match its child", name);
		if (++n > VHD_MAX_CHAIN * 4)
			return sm_fail(err, code, "%s: chain longer than %d links", name, VHD_MAX_CHAIN * 4);
		if (info.type != VHD_TYPE_DIFF)
			break;
		vs->ops->parent_uuid(vs, &info, cur);
		if (!cur[0])
			return sm_fail(err, code, "%s: parent '%s' is not a VDI of this SR",
				       name, info.parent_name);
		child = info;
	}
	if (depth)
		*depth = n;
	return 0;
}

static int chain_check(struct vstore *vs, const char *uuid, int *depth, struct sm_error *err,
		       int code)
{
	if (chain_walk(vs, uuid, depth, err, code) == 0)
		return 0;
	/* An SR that did not answer stays that; anything else may be a broken link. */
	if (err && err->code != SME_SR_UNAVAILABLE)
		chain_fault(vs, uuid, err->code, err);
	return -1;
}

/* ---- SR operations ----------------------------------------------------- */

static int sr_sizes(struct vstore *vs, struct scan_sr *out, struct sm_error *err)
{
	return vs->ops->space(vs, &out->physical_size, &out->physical_utilisation, NULL, err);
}

/*
 * Who holds the VDI's vdi_lock, so an operator sees it in the scan; a
 * record gone or unreadable since the listing leaves only <locked>.
 */
static void scan_fill_lock(struct vstore *vs, struct scan_vdi *v)
{
	struct vstore_lock r;

	if (vs->ops->lock_read(vs, v->uuid, &r) < 0)
		return;
	v->lock_user = strdup(r.user);
	v->lock_host = strdup(r.host);
	v->lock_since = r.since;
}

static int scan_fill_vdi(struct vstore *vs, const struct vdi_node *n, struct scan_vdi *v)
{
	const struct vstore_image *img = &n->img;
	struct vdi_meta m;
	int rc;

	memcpy(v->uuid, img->uuid, 37);
	snprintf(v->location, sizeof(v->location), "%s", img->uuid);
	v->size = img->virtual_size;
	v->utilisation = img->phys_size;
	memcpy(v->parent, img->parent, 37);
	v->hidden = img->hidden;
	v->managed = !img->hidden;
	v->type = vstore_kind_name(img->kind);
	v->locked = img->records & VSTORE_HAS_LOCK;
	if (v->locked)
		scan_fill_lock(vs, v);
	rc = (img->records & VSTORE_HAS_META) ? vs->ops->meta_read(vs, img->uuid, &m) : -ENOENT;
	if (rc == 0) {
		v->label = m.label;
		v->description = m.description;
		v->read_only = m.read_only;
		m.label = m.description = NULL;
	} else if (rc != -ENOENT && !img->error[0]) {
		/* Not "no label": the toolstack must not take an empty one for the truth. */
		char why[256];

		if (rc == -EFBIG)
			snprintf(why, sizeof(why), "metadata record %s.meta is larger than the %d bytes "
				 "a reader takes: its label and description are unknown", img->uuid,
				 VDIMETA_MAX);
		else
			snprintf(why, sizeof(why), "cannot read %s.meta: %s", img->uuid, strerror(-rc));
		sm_log(LOG_ERR, "scan: %s", why);
		v->error = strdup(why);
	}
	/* A parent must never be written again: its children depend on it. */
	if (n->nchildren > 0)
		v->read_only = true;
	if (img->hidden && !v->label) {
		v->label = strdup("base copy");
		v->read_only = true;
	}
	if (img->error[0]) {
		/*
		 * Still listed, so the toolstack does not forget a damaged VDI.
		 * Whether it is hidden is in the part we could not read: every
		 * VDI the toolstack knows has a metadata record and a base copy
		 * has none, so that says which it was.
		 */
		sm_log(LOG_ERR, "scan: %s: %s", img->uuid, img->error);
		v->error = strdup(img->error);
		v->hidden = !(img->records & VSTORE_HAS_META);
		v->managed = !v->hidden;
	}
	return 0;
}

/*
 * What the SR holds, the SR's sizes included; the caller has checked the
 * store.  Hidden images no visible VDI needs are garbage the GC removes:
 * not listed.
 */
static int collect_vdis(struct sm_ctx *ctx, struct scan_sr *out)
{
	struct vstore *vs = VS(ctx);
	struct vdi_forest f;
	int rc = -1;

	out->default_vdi_visibility = true;
	snprintf(out->uuid, sizeof(out->uuid), "%s", FSR(ctx)->sr_uuid);
	if (sr_sizes(vs, out, &ctx->err) < 0 || vdi_forest_load(&f, vs, false, &ctx->err) < 0)
		return -1;
	for (size_t i = 0; i < f.count; i++) {
		const struct vdi_node *n = &f.nodes[i];
		struct scan_vdi *v;

		if (!n->live)
			continue;
		v = scan_add_vdi(out);
		if (!v) {
			sm_fail(&ctx->err, SME_GENERIC, "out of memory");
			goto out;
		}
		scan_fill_vdi(vs, n, v);
		scan_mark_chain(vs, &f, n, v);
		if (!v->hidden)
			out->virtual_allocation += v->size;
	}
	rc = 0;
out:
	vdi_forest_free(&f);
	return rc;
}

int fsr_collect(struct sm_ctx *ctx, struct scan_sr *out)
{
	struct vstore *vs = VS(ctx);

	if (vs->ops->check(vs, &ctx->err) < 0)
		return -1;
	return collect_vdis(ctx, out);
}

/* The dispatcher answers ctx->scan (the document, or xapi's records). */
int fsr_sr_scan(struct sm_ctx *ctx)
{
	struct file_sr *sr = FSR(ctx);
	struct vstore *vs = VS(ctx);

	if (vs->ops->check(vs, &ctx->err) < 0)
		return -1;
	if (sr->repair)
		vs->ops->sweep(vs);
	if (collect_vdis(ctx, ctx->scan) < 0)
		return -1;
	fsr_kick_gc(sr);
	return 0;
}

int fsr_sr_update(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	struct scan_sr out = { 0 };

	if (vs->ops->check(vs, &ctx->err) < 0)
		return -1;
	return sr_sizes(vs, &out, &ctx->err);
}

int fsr_sr_content_type(struct sm_ctx *ctx)
{
	ctx->result = xr_string("<?xml version=\"1.0\" ?>\n<sr>\n\t<type>vhd</type>\n</sr>\n");
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

int fsr_sr_empty(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	char where[PATH_MAX];
	struct vdi_forest f;
	size_t visible = 0;

	if (vdi_forest_load(&f, vs, false, &ctx->err) < 0)
		return -1;
	for (size_t i = 0; i < f.count; i++)
		if (f.nodes[i].live)
			visible++;
	if (visible > 0) {
		vdi_forest_free(&f);
		vs->ops->describe(vs, "", where, sizeof(where));
		return sm_fail(&ctx->err, SME_SR_NOT_EMPTY, "%zu VDIs remain in %s", visible, where);
	}
	for (size_t i = 0; i < f.count; i++)
		vs->ops->remove(vs, f.nodes[i].img.uuid, f.nodes[i].img.kind, true, NULL);
	vdi_forest_free(&f);
	/* Our temporary files (journals were replayed first: none is needed). */
	vs->ops->sweep(vs);
	/*
	 * A GC stopped in the middle of a coalesce leaves its record for its
	 * next run; the driver's own were replayed before this call, and the
	 * images are gone: drop what is left (and the activation records of
	 * VDIs that are gone), so the store can go.
	 */
	return vs->ops->clear(vs, &ctx->err);
}

/* ---- vdi_create -------------------------------------------------------- */

struct create_args {
	uint64_t size;
	const char *label;
	const char *description;
	bool is_a_snapshot;
	const char *snapshot_time;
	const char *snapshot_of;
	bool read_only;
};

static int parse_create_args(const struct sm_call *c, struct create_args *a,
			     struct sm_error *err)
{
	const char *size, *snap, *ro, *mop;

	if (call_nargs(c) != 8)
		return sm_fail(err, SME_BAD_REQUEST,
			       "vdi_create takes 8 arguments (size, name_label, name_description, "
			       "metadata_of_pool, is_a_snapshot, snapshot_time, snapshot_of, "
			       "read_only); got %zu", call_nargs(c));
	call_arg(c, 0, &size, err);
	call_arg(c, 1, &a->label, err);
	call_arg(c, 2, &a->description, err);
	call_arg(c, 3, &mop, err);
	call_arg(c, 4, &snap, err);
	call_arg(c, 5, &a->snapshot_time, err);
	call_arg(c, 6, &a->snapshot_of, err);
	call_arg(c, 7, &ro, err);
	if (sm_parse_u64(size, &a->size) < 0)
		return sm_fail(err, SME_VDI_SIZE, "size '%.40s' is not a decimal number of bytes", size);
	if (sm_parse_bool(snap, &a->is_a_snapshot) < 0 || sm_parse_bool(ro, &a->read_only) < 0)
		return sm_fail(err, SME_BAD_REQUEST, "is_a_snapshot and read_only must be true or false");
	if (sm_has_illegal_xml_char(a->label) || sm_has_illegal_xml_char(a->description))
		return sm_fail(err, SME_ILLEGAL_XML_CHAR, "control characters in the label or description");
	if (a->snapshot_of[0] && !sm_uuid_valid(a->snapshot_of))
		return sm_fail(err, SME_BAD_REQUEST, "snapshot_of is not a UUID");
	if (!c->vdi_type)
		return sm_fail(err, SME_BAD_REQUEST, "vdi_create needs vdi_type");
	return 0;
}

/*
 * A raw VDI is one sparse file: no format limit, but the file system's.
 * 16 TiB less one 4 KiB block is the largest file ext4 holds with its
 * usual block size (EXTSR's file system, and the common one under a
 * FileSR), 8 times VHD's 2040 GiB; a file system that holds less answers
 * EFBIG, which is VDISize too.  The bound also keeps the rounding to
 * whole sectors from wrapping.
 */
#define FSR_RAW_MAX_SIZE ((16ull << 40) - 4096)

static int raw_validate_size(uint64_t requested, uint64_t *rounded, struct sm_error *err)
{
	if (requested > FSR_RAW_MAX_SIZE)
		return sm_fail(err, SME_VDI_SIZE, "size %" PRIu64 " exceeds the raw VDI maximum %llu",
			       requested, FSR_RAW_MAX_SIZE);
	*rounded = (requested + 511) / 512 * 512;
	return 0;
}

/* "vhd" (default) or "raw", from vdi_sm_config type. */
static int requested_kind(const struct sm_call *c, enum vstore_kind *kind, struct sm_error *err)
{
	const char *t = xr_struct_get_string(c->vdi_sm_config, "type");

	*kind = VSTORE_VHD;
	if (!t || strcmp(t, "vhd") == 0)
		return 0;
	if (strcmp(t, "raw") == 0) {
		*kind = VSTORE_RAW;
		return 0;
	}
	return sm_fail(err, SME_VDI_TYPE, "vdi_sm_config type '%.32s' is neither vhd nor raw", t);
}

/*
 * Build the image invisibly, then publish it.  A raw image is sized by
 * truncating it (a store whose images cannot be truncated gave it its
 * room at create).
 */
static int create_image(struct vstore *vs, const char *uuid, enum vstore_kind kind,
			uint64_t size, struct sm_error *err)
{
	struct vhd_io io = { 0 };
	uint64_t room = kind == VSTORE_RAW ? size
			: vstore_room_for(vs, size, vs->thin ? VSTORE_FIT_EMPTY : VSTORE_FIT_FULL, 0);
	int rc;

	if (vs->ops->create(vs, uuid, kind, room, &io, err) < 0)
		return -1;
	if (kind == VSTORE_RAW) {
		rc = io.ops->truncate ? io.ops->truncate(&io, size) : 0;
		if (rc < 0) {
			sm_fail_errno(err, rc == -EFBIG ? SME_VDI_SIZE :
				      rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE : SME_VDI_CREATE, -rc,
				      "cannot size %s", io.name);
			goto fail;
		}
	} else if ((vs->ops->vhd_prealloc > size
		    ? vhd_create_dynamic_prealloc(&io, size, vs->ops->vhd_prealloc, err)
		    : vhd_create_dynamic(&io, size, err)) < 0) {
		sm_error_recode(err, SME_VDI_CREATE);
		goto fail;
	}
	return vs->ops->publish(vs, uuid, kind, &io, err);
fail:
	vhd_io_close(&io);
	vs->ops->abandon(vs, uuid, NULL);
	return -1;
}

static struct xr_value *vdi_info_result(const char *uuid)
{
	struct xr_value *r = xr_struct();

	if (r && (xr_struct_set_string(r, "location", uuid) < 0 ||
		  xr_struct_set_string(r, "uuid", uuid) < 0)) {
		xr_free(r);
		return NULL;
	}
	return r;
}

static int set_result_vdi(struct sm_ctx *ctx, const char *uuid)
{
	ctx->result = vdi_info_result(uuid);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

int fsr_vdi_create(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	const struct sm_call *c = ctx->call;
	const char *uuid = call_vdi_uuid(c);
	struct create_args a;
	struct vdi_meta m = { 0 };
	enum vstore_kind kind, found;
	char jtext[128], name[128], where[PATH_MAX];
	uint64_t size;
	int rc;

	if (parse_create_args(c, &a, &ctx->err) < 0 || requested_kind(c, &kind, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_VHD) {
		if (vhd_validate_size(a.size, &size, &ctx->err) < 0)
			return -1;
	} else if (raw_validate_size(a.size, &size, &ctx->err) < 0) {
		return -1;
	}
	if (vs->ops->check(vs, &ctx->err) < 0 ||
	    vs->ops->find(vs, uuid, &found, SME_VDI_CREATE, &ctx->err) < 0)
		return -1;
	if (found != VSTORE_NONE)
		return sm_fail(&ctx->err, SME_VDI_EXISTS, "%s", uuid);
	snprintf(jtext, sizeof(jtext), "vdi=%s\next=%s\n", uuid, vstore_kind_name(kind));
	if (vs->ops->journal_begin(vs, "create", uuid, jtext, &ctx->err) < 0) {
		sm_error_recode(&ctx->err, SME_VDI_CREATE);
		return -1;
	}
	sm_fault_point("create:journal");
	if (create_image(vs, uuid, kind, size, &ctx->err) < 0) {
		vs->ops->journal_end(vs, "create", uuid, NULL);
		return -1;
	}
	sm_fault_point("create:image");
	m.label = (char *)a.label;
	m.description = (char *)a.description;
	snprintf(m.vdi_type, sizeof(m.vdi_type), "%s", c->vdi_type);
	m.read_only = a.read_only;
	m.is_a_snapshot = a.is_a_snapshot;
	snprintf(m.snapshot_of, sizeof(m.snapshot_of), "%s", a.snapshot_of);
	snprintf(m.snapshot_time, sizeof(m.snapshot_time), "%s", a.snapshot_time);
	rc = vs->ops->meta_write(vs, uuid, &m, SME_VDI_CREATE, &ctx->err);
	if (rc == 0)
		sm_fault_point("create:meta");
	if (rc < 0 || vs->ops->journal_end(vs, "create", uuid, &ctx->err) < 0) {
		sm_error_recode(&ctx->err, SME_VDI_CREATE);
		/* A record the undo could not finish stays for recovery. */
		if (vs->ops->abandon(vs, uuid, NULL) == 0)
			vs->ops->journal_end(vs, "create", uuid, NULL);
		return -1;
	}
	vs->ops->image_name(vs, uuid, kind, name, sizeof(name));
	vs->ops->describe(vs, name, where, sizeof(where));
	sm_log(LOG_INFO, "vdi_create: %s, %" PRIu64 " bytes", where, size);
	return set_result_vdi(ctx, uuid);
}

/* ---- delete, attach, activate ------------------------------------------ */

/*
 * How many images hang directly below uuid.  An image whose header
 * cannot be read could be one of them: then the count is not known, and
 * nothing that needs it (delete, resize) may go ahead.
 */
static int vdi_children(struct vstore *vs, const char *uuid, int *n, int code,
			struct sm_error *err)
{
	struct vdi_forest f;
	struct vdi_node *me;
	int rc = 0;

	if (vdi_forest_load(&f, vs, false, err) < 0)
		return -1;
	me = vdi_forest_find(&f, uuid);
	*n = me ? me->nchildren : 0;
	if (f.unknown_parents)
		rc = sm_fail(err, code, "cannot tell what depends on %s: %s is unreadable (%s)",
			     uuid, f.first_unknown->img.uuid, f.first_unknown->img.error);
	vdi_forest_free(&f);
	return rc;
}

/*
 * The vdi_lock holder of uuid for a fault: who, where, since when and how
 * long ago, and how to release or break it (docs/locking.md).
 */
static void describe_vdi_lock(struct vstore *vs, const char *uuid, char *out, size_t cap)
{
	struct vstore_lock r;
	char who[700];

	if (vs->ops->lock_read(vs, uuid, &r) < 0) {
		snprintf(out, cap, "%s holds a vdi_lock (its record cannot be read)", uuid);
		return;
	}
	vstore_lock_describe(&r, (long long)time(NULL), who, sizeof(who));
	snprintf(out, cap, "%s holds a vdi_lock of %s; the holder releases it with vdi_unlock, "
		 "or vdi_lock with force=true breaks it (smcall <driver> <dconf> vdi_lock --vdi %s true <user>)",
		 uuid, who, uuid);
}

static int fail_vdi_locked(struct vstore *vs, const char *uuid, int code, struct sm_error *err)
{
	char why[SM_ERROR_DETAIL_MAX];

	describe_vdi_lock(vs, uuid, why, sizeof(why));
	return sm_fail(err, code, "%s", why);
}

/* Refuse to delete what someone holds: a vdi_lock, or an activation on any host. */
static int vdi_check_unused(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	char holder[128];
	int rc = vs->ops->is_locked(vs, uuid);

	if (rc < 0)
		return sm_fail_errno(err, SME_VDI_DELETE, -rc, "cannot tell whether %s holds a vdi_lock", uuid);
	if (rc)
		return fail_vdi_locked(vs, uuid, SME_VDI_IN_USE, err);
	rc = vstore_active_lookup(vs, uuid, holder);
	if (rc < 0)
		return sm_fail_errno(err, SME_VDI_DELETE, -rc, "cannot tell whether %s is activated", uuid);
	if (rc)
		return sm_fail(err, SME_VDI_IN_USE, "%s is activated on host %s (vdi_deactivate there "
			       "releases it)", uuid, holder);
	return 0;
}

int fsr_vdi_delete(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	const char *uuid = ctx->call->vdi_uuid;
	enum vstore_kind kind;
	char name[128], where[PATH_MAX];
	int children;

	if (vs->ops->check(vs, &ctx->err) < 0 ||
	    vs->ops->find(vs, uuid, &kind, SME_VDI_DELETE, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_NONE) {
		/* Idempotent: a repeated delete succeeds, and tidies what is left. */
		vs->ops->forget(vs, uuid, NULL);
		return 0;
	}
	if (vdi_check_unused(vs, uuid, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_VHD && vdi_children(vs, uuid, &children, SME_VDI_DELETE, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_VHD && children > 0)
		return sm_fail(&ctx->err, SME_VDI_DELETE,
			       "%s is the parent of %d other image%s; it goes when they do",
			       uuid, children, children == 1 ? "" : "s");
	if (vs->ops->remove(vs, uuid, kind, false, &ctx->err) < 0)
		return -1;
	lock_cleanup_namespace(uuid);
	vs->ops->image_name(vs, uuid, kind, name, sizeof(name));
	vs->ops->describe(vs, name, where, sizeof(where));
	sm_log(LOG_INFO, "vdi_delete: removed %s", where);
	fsr_kick_gc(FSR(ctx));
	return 0;
}

static int parse_writable(const struct sm_call *c, bool *rw, struct sm_error *err)
{
	const char *a;

	if (call_arg(c, 0, &a, err) < 0)
		return -1;
	if (sm_parse_bool(a, rw) < 0)
		return sm_fail(err, SME_BAD_REQUEST, "%s: argument must be true or false", c->method);
	return 0;
}

/* The VDI can be opened the way it is asked for: exists, chain intact. */
static int vdi_usable(struct vstore *vs, const char *uuid, bool writable,
		      enum vstore_kind *kind_out, struct sm_error *err)
{
	enum vstore_kind kind;
	struct vhd_info info;

	if (vs->ops->find(vs, uuid, &kind, SME_VDI_UNAVAILABLE, err) < 0)
		return -1;
	if (kind == VSTORE_NONE)
		return sm_fail(err, SME_VDI_UNAVAILABLE, "VDI %s is not in SR %s", uuid, vs->sr_uuid);
	if (kind_out)
		*kind_out = kind;
	if (kind == VSTORE_RAW)
		return 0;
	if (chain_check(vs, uuid, NULL, err, SME_VDI_UNAVAILABLE) < 0)
		return -1;
	if (vstore_vhd_query(vs, uuid, true, &info, err) < 0)
		return -1;
	if (writable && info.hidden)
		return sm_fail(err, SME_VDI_UNAVAILABLE,
			       "%s is a hidden base copy and cannot be written", uuid);
	return 0;
}

static int put_scsi_pages(struct xr_value *xs, const char *uuid)
{
	unsigned char p80[4 + 16 + 2], p83[8 + 8 + 36 + 1];
	char *b80, *b83;
	int rc;

	/* The SCSI inquiry pages blktap2 gives the guest (scsiutil.py). */
	memcpy(p80, "\x00\x80\x00\x12", 4);
	memcpy(p80 + 4, uuid, 16);
	memcpy(p80 + 20, "  ", 2);
	memcpy(p83, "\x00\x83\x00\x31\x02\x01\x00\x2d", 8);
	memcpy(p83 + 8, "XENSRC  ", 8);
	memcpy(p83 + 16, uuid, 36);
	p83[52] = ' ';
	b80 = sm_base64(p80, sizeof(p80));
	b83 = sm_base64(p83, sizeof(p83));
	rc = (!b80 || !b83 || xr_struct_set_string(xs, "scsi/0x12/0x80", b80) < 0 ||
	      xr_struct_set_string(xs, "scsi/0x12/0x83", b83) < 0) ? -1 : 0;
	free(b80);
	free(b83);
	return rc;
}

static struct xr_value *attach_result(struct sm_ctx *ctx, const char *uuid, enum vstore_kind kind)
{
	const struct file_sr *sr = FSR(ctx);
	struct vstore *vs = VS(ctx);
	struct xr_value *xs = xr_struct();
	char params[PATH_MAX + 64];
	struct sm_attach_info a = {
		.sr_uuid = sr->sr_uuid, .vdi_uuid = uuid, .params = params,
		.storage_type = sr->storage_type, .vdi_type = kind == VSTORE_RAW ? "aio" : "vhd",
		.o_direct = sr->o_direct, .o_direct_reason = sr->o_direct_reason,
	};

	vs->ops->data_path(vs, uuid, kind, params, sizeof(params));
	if (!xs || put_scsi_pages(xs, uuid) < 0) {
		xr_free(xs);
		return NULL;
	}
	return sm_attach_result(&a, xs);
}

static int do_attach(struct sm_ctx *ctx, bool writable)
{
	const char *uuid = ctx->call->vdi_uuid;
	enum vstore_kind kind;

	if (vdi_usable(VS(ctx), uuid, writable, &kind, &ctx->err) < 0)
		return -1;
	ctx->result = attach_result(ctx, uuid, kind);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

int fsr_vdi_attach(struct sm_ctx *ctx)
{
	bool rw;

	if (parse_writable(ctx->call, &rw, &ctx->err) < 0)
		return -1;
	return do_attach(ctx, rw);
}

int fsr_vdi_attach_from_config(struct sm_ctx *ctx)
{
	return do_attach(ctx, true);
}

/* Nothing to undo for a file: idempotent, as the API requires. */
int fsr_vdi_detach(struct sm_ctx *ctx)
{
	return 0;
}

int fsr_vdi_detach_from_config(struct sm_ctx *ctx)
{
	return 0;
}

/*
 * A leaf-coalesce record nobody works on any more (its GC died) is
 * finished or undone here, on the master: the GC holds the SR lock for
 * the whole of a leaf-coalesce, so getting the lock proves it dead.
 * 1: recovered, 0: the lock is busy (a live GC), -1: recovery failed.
 */
static int recover_if_unowned(struct sm_ctx *ctx)
{
	struct sm_lock lk = SM_LOCK_INIT;
	struct sm_error busy = { 0 };
	int rc;

	if (lock_acquire(&lk, ctx->call->sr_uuid, "sr", 0, SME_SR_UNAVAILABLE, &busy) < 0)
		return 0;
	rc = sm_recover(ctx);
	lock_release(&lk);
	return rc < 0 ? -1 : 1;
}

/*
 * Our activation record is durable: a GC that starts merging this leaf
 * from now on sees it and leaves the leaf alone.  One that started
 * before (its record leaf-<vdi> exists) either sees ours before it
 * commits and backs off, or commits first: wait until it is done either
 * way, so the image we hand out is the one that stays.
 */
static int wait_for_leaf_coalesce(struct sm_ctx *ctx, const char *uuid)
{
	struct vstore *vs = VS(ctx);
	int64_t until = sm_monotonic_ms() + FSR_ACTIVATE_GC_WAIT * 1000;

	for (;;) {
		int rc = vs->ops->journal_lookup(vs, "leaf", uuid);

		if (rc == 0)
			return 0;
		if (rc < 0)
			return sm_fail_errno(&ctx->err, rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE :
					     SME_VDI_UNAVAILABLE, -rc,
					     "cannot tell whether the GC is merging %s", uuid);
		if (FSR(ctx)->repair && (rc = recover_if_unowned(ctx)) != 0) {
			if (rc < 0)
				return -1;
			continue;
		}
		if (sm_monotonic_ms() > until)
			return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE,
				       "the GC has been merging %s into its parent for %d s (or died "
				       "doing so: the master's next sr_scan recovers it); try again",
				       uuid, FSR_ACTIVATE_GC_WAIT);
		usleep(100 * 1000);
	}
}

/* ---- the data path: the VDI's NBD server (csm/nbd_serve.h) --------------- */

/*
 * The plugin's arguments: how it reaches the SR, the way csm-gc does
 * (fsr_kick_gc's gc_reach, "--lvm DEV" as lvm=DEV and so on, else the SR
 * directory), and which VDI; the plugin asks the store for its format.
 */
#define SERVE_MAX_ARGS 8

struct serve_args {
	char text[SERVE_MAX_ARGS][PATH_MAX + 32];
	const char *argv[SERVE_MAX_ARGS + 1];
	size_t n;
};

static void serve_arg(struct serve_args *a, const char *key, const char *value)
{
	if (a->n >= SERVE_MAX_ARGS)
		return;
	snprintf(a->text[a->n], sizeof(a->text[a->n]), "%s=%s", key, value);
	a->argv[a->n] = a->text[a->n];
	a->argv[++a->n] = NULL;
}

/* The reach options of csm-gc that the plugin takes, with the same meaning. */
static bool serve_reach_key(const char *opt)
{
	static const char *const keys[] = { "--lvm", "--nfs", "--nfs-version", "--nfs-timeout" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(opt, keys[i]) == 0)
			return true;
	return false;
}

static int serve_args_fill(struct sm_ctx *ctx, const char *uuid, struct serve_args *a)
{
	const struct file_sr *sr = FSR(ctx);

	a->n = 0;
	a->argv[0] = NULL;
	if (sr->gc_reach[0]) {
		for (size_t i = 0; i + 1 < 8 && sr->gc_reach[i]; i++) {
			if (serve_reach_key(sr->gc_reach[i]) && sr->gc_reach[i + 1]) {
				serve_arg(a, sr->gc_reach[i] + 2, sr->gc_reach[i + 1]);
				i++;
			}
		}
		if (strcmp(sr->gc_reach[0], "--lvm") == 0)
			serve_arg(a, "sr", ctx->call->sr_uuid);
	} else if (sr->path[0]) {
		serve_arg(a, "dir", sr->path);
	} else {
		return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "no way to reach SR %s for the "
			       "NBD server", ctx->call->sr_uuid);
	}
	serve_arg(a, "vdi", uuid);
	return 0;
}

/*
 * Serve the VDI from now until vdi_deactivate.  CSM_NBD=auto (the
 * default) activates without a server on a host that has no nbdkit or
 * no plugin, as before the data path existed (a host where tapdisk
 * serves the socket); CSM_NBD=on makes that a fault, off never serves.
 */
static int serve_start(struct sm_ctx *ctx, const char *uuid, bool rw)
{
	struct serve_args a;
	struct nbd_server srv;
	struct nbd_serve_spec spec = {
		.sr_uuid = ctx->call->sr_uuid, .vdi_uuid = uuid, .readonly = !rw,
	};

	if (!nbd_serve_wanted(uuid))
		return 0;
	if (serve_args_fill(ctx, uuid, &a) < 0)
		return -1;
	spec.plugin_args = a.argv;
	return nbd_serve_start(&spec, &srv, SME_VDI_UNAVAILABLE, &ctx->err);
}

/* A server already running for uuid serves the way asked, or this activation is refused. */
static int serve_check_mode(struct sm_ctx *ctx, const char *uuid, bool rw)
{
	struct nbd_server srv;

	if (nbd_serve_find(ctx->call->sr_uuid, uuid, &srv) == 1 && srv.readonly == rw)
		return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "%s is already served %s (pid %d): "
			       "deactivate it first", uuid, srv.readonly ? "read-only" :
			       "read-write", (int)srv.pid);
	return 0;
}

int fsr_serve_stop(struct sm_ctx *ctx, const char *uuid)
{
	return nbd_serve_stop(ctx->call->sr_uuid, uuid, SME_VDI_UNAVAILABLE, &ctx->err);
}

/*
 * Hold the VDI's server while its chain changes under it: 1 paused (s
 * filled, serve_resume after), 0 not served, -1 the pause failed (a
 * fault: nothing may change, the old chain is still served).
 */
static int serve_pause(struct sm_ctx *ctx, const char *uuid, struct nbd_server *s, int code)
{
	if (nbd_serve_find(ctx->call->sr_uuid, uuid, s) == 0)
		return 0;
	if (nbd_serve_pause(s, code, &ctx->err) < 0)
		return -1;
	sm_fault_point("serve:paused");
	return 1;
}

/*
 * After the operation, whatever its outcome: the server opens the chain
 * the VDI's name now leads to.  A failed reopen leaves the server paused
 * (serving the old chain would write into the snapshot's base); tried
 * twice, then logged: the operation itself stands, and the next
 * deactivate/activate starts a fresh server.
 */
static void serve_resume(struct sm_ctx *ctx, const char *uuid, const struct nbd_server *s,
			 int code)
{
	struct sm_error e = { 0 };

	if (nbd_serve_resume(s, code, &e) == 0)
		return;
	memset(&e, 0, sizeof(e));
	if (nbd_serve_resume(s, code, &e) == 0)
		return;
	sm_log(LOG_ERR, "%s: the NBD server of %s (pid %d) did not resume: %s; it stays paused "
	       "until deactivated", ctx->call->method, uuid, (int)s->pid, e.detail);
}

int fsr_vdi_activate(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	const char *uuid = ctx->call->vdi_uuid;
	enum vstore_kind kind;
	bool rw;

	if (parse_writable(ctx->call, &rw, &ctx->err) < 0 ||
	    vs->ops->find(vs, uuid, &kind, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_NONE)
		return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "VDI %s is not in SR %s", uuid, vs->sr_uuid);
	/* Before the record: a refused activation must not undo the one in force. */
	if (serve_check_mode(ctx, uuid, rw) < 0)
		return -1;
	if (vs->ops->active_set(vs, uuid, rw, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		return -1;
	sm_fault_point("activate:recorded");
	/* Checked once no merge can change the image any more. */
	if (wait_for_leaf_coalesce(ctx, uuid) < 0 || vdi_usable(vs, uuid, rw, NULL, &ctx->err) < 0 ||
	    serve_start(ctx, uuid, rw) < 0) {
		vs->ops->active_clear(vs, uuid);
		return -1;
	}
	return 0;
}

/*
 * A VM must always be able to shut down: a record we cannot remove (a
 * lost server) only keeps the GC off this leaf and vdi_delete refusing
 * it, which is safe; it goes with the next deactivation here.
 */
int fsr_vdi_deactivate(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	int rc;

	/*
	 * The server first (it flushes): while it runs, the record must stay,
	 * or the GC could merge the leaf it writes.  One that will not die
	 * keeps the record, and the call still succeeds.
	 */
	if (fsr_serve_stop(ctx, ctx->call->vdi_uuid) < 0) {
		sm_log(LOG_WARNING, "vdi_deactivate: %s; its activation record stays",
		       ctx->err.detail);
		sm_error_clear(&ctx->err);
		return 0;
	}
	rc = vs->ops->active_clear(vs, ctx->call->vdi_uuid);
	if (rc < 0)
		sm_log(LOG_WARNING, "vdi_deactivate: cannot remove this host's activation record of "
		       "%s (%s); the GC leaves this VDI alone until it is gone",
		       ctx->call->vdi_uuid, strerror(-rc));
	return 0;
}

/* ---- snapshot and clone ------------------------------------------------- */

struct snap {
	const char *src;         /* the VDI being snapshotted: stays the writable leaf */
	char base[37];           /* new hidden base copy (the old data) */
	char clone[37];          /* new leaf returned to the caller ("" for single) */
	struct vhd_info info;
	struct vdi_meta meta;    /* of src */
	/*
	 * src is an empty child of its parent (nothing written since the
	 * last snapshot): hang the new leaves off that parent instead of
	 * adding an empty link, as td-util does, so chains stay short.
	 */
	bool reuse_parent;
	char parent[37];         /* the parent of the new leaves */
};

static int snap_check_reuse(struct vstore *vs, struct snap *s)
{
	struct vhd_info pinfo;
	char parent[37];

	vs->ops->parent_uuid(vs, &s->info, parent);
	if (!parent[0] || vstore_vhd_query(vs, parent, true, &pinfo, NULL) < 0 ||
	    pinfo.virtual_size != s->info.virtual_size)
		return 0;
	s->reuse_parent = true;
	memcpy(s->parent, parent, sizeof(s->parent));
	s->base[0] = '\0';
	return 0;
}

static int snap_prepare(struct vstore *vs, struct snap *s, int code, struct sm_error *err)
{
	enum vstore_kind kind;
	int depth, rc;

	if (vs->ops->find(vs, s->src, &kind, code, err) < 0)
		return -1;
	if (kind == VSTORE_NONE)
		return sm_fail(err, SME_VDI_MISSING, "VDI %s is not in SR %s", s->src, vs->sr_uuid);
	if (kind == VSTORE_RAW)
		return sm_fail(err, SME_UNIMPLEMENTED, "raw VDIs cannot be snapshotted");
	/*
	 * The footer and header say all a snapshot needs, except for a
	 * differencing leaf whether anything was written to it (the BAT):
	 * a 2 TiB VDI's BAT is 4 MiB, read only when it can matter.
	 */
	if ((vstore_vhd_query(vs, s->src, true, &s->info, err) < 0) ||
	    (s->info.type == VHD_TYPE_DIFF && vstore_vhd_query(vs, s->src, false, &s->info, err) < 0)) {
		sm_error_recode(err, code);
		return -1;
	}
	if (s->info.hidden)
		return sm_fail(err, code, "%s is a hidden base copy", s->src);
	/*
	 * A broken chain is 46, as the Python SM's snapshot, whose depth
	 * query fails on one; a link that merely failed to read (EIO) keeps
	 * the command's own code.
	 */
	if (chain_walk(vs, s->src, &depth, err, code) < 0) {
		if (err->code != SME_SR_UNAVAILABLE)
			chain_fault(vs, s->src, SME_VDI_UNAVAILABLE, err);
		return -1;
	}
	if (depth >= VHD_MAX_CHAIN)
		return sm_fail(err, SME_SNAPSHOT_CHAIN_TOO_LONG,
			       "%s is %d links deep (limit %d)", s->src, depth, VHD_MAX_CHAIN);
	rc = vs->ops->is_locked(vs, s->src);
	if (rc < 0)
		return sm_fail_errno(err, code, -rc, "cannot tell whether %s holds a vdi_lock", s->src);
	if (rc)
		return fail_vdi_locked(vs, s->src, SME_VDI_IN_USE, err);
	/* The new VDI inherits the label: one we cannot read is not "no label". */
	rc = vs->ops->meta_read(vs, s->src, &s->meta);
	if (rc < 0 && rc != -ENOENT)
		return sm_fail_errno(err, code, -rc, "cannot read the metadata of %s", s->src);
	sm_uuid_generate(s->base);
	memcpy(s->parent, s->base, sizeof(s->parent));
	if (s->info.type == VHD_TYPE_DIFF && s->info.allocated_blocks == 0)
		return snap_check_reuse(vs, s);
	return 0;
}

/*
 * Only the new leaf gets a metadata record: a base copy's ("base copy",
 * read-only) follows from its being hidden, so making one would be a
 * record write more per snapshot for nothing.
 */
static int snap_write_meta(struct vstore *vs, const struct sm_call *c, struct snap *s,
			   bool is_snapshot, struct sm_error *err, int code)
{
	struct vdi_meta m = s->meta;

	if (!s->clone[0])
		return 0;
	m.read_only = false;
	m.is_a_snapshot = is_snapshot;
	if (is_snapshot)
		snprintf(m.snapshot_of, sizeof(m.snapshot_of), "%s", c->vdi_uuid);
	return vs->ops->meta_write(vs, s->clone, &m, code, err);
}

/*
 * The LVM store hides the base in snap_commit, before it makes the LV
 * read-only (LVHDSR's order): an active base's node refuses writes after.
 */
static int snap_hide_base(struct vstore *vs, const char *base, struct sm_error *err)
{
	struct vhd_info info;

	if (vstore_vhd_query(vs, base, true, &info, err) < 0)
		return -1;
	return info.hidden ? 0 : vstore_vhd_set_hidden(vs, base, true, err);
}

/*
 * The Python FileSR's steps, each the store's: keep the leaf's data as
 * the base, give the leaf's name an empty child of it, make the second
 * child, commit, then hide the base once its children durably exist.
 * Committing first matters: the hidden flag is a synced write into the
 * original's bytes, and a host crash that kept it but lost the names
 * would leave the original hidden under its own name, a childless hidden
 * leaf the GC deletes (snap_undo unhides it too, should it ever happen).
 */
static int snap_do(struct vstore *vs, struct snap *s, int code, struct sm_error *err)
{
	if (s->base[0]) {
		if (vs->ops->snap_keep(vs, s->src, s->base, code, err) < 0)
			return -1;
		sm_fault_point("snapshot:link");
	}
	if (vs->ops->snap_child(vs, s->src, s->parent, s->info.virtual_size, true, code, err) < 0)
		return -1;
	sm_fault_point("snapshot:rename");
	if (s->clone[0]) {
		if (vs->ops->snap_child(vs, s->clone, s->parent, s->info.virtual_size, false, code,
					err) < 0)
			return -1;
		sm_fault_point("snapshot:clone");
	}
	if (vs->ops->snap_commit(vs, code, err) < 0)
		return -1;
	sm_fault_point("snapshot:commit");
	if (s->base[0] && snap_hide_base(vs, s->base, err) < 0)
		return -1;
	sm_fault_point("snapshot:hide");
	return 0;
}

static void snap_journal_text(const struct snap *s, char *out, size_t cap)
{
	snprintf(out, cap, "src=%s\nbase=%s\nclone=%s\n", s->src, s->base, s->clone);
}

/* driver_params type=single|internal: one leaf, the base is the result. */
static bool snapshot_is_single(const struct sm_call *c)
{
	const char *t = xr_struct_get_string(c->driver_params, "type");

	return t && (strcmp(t, "single") == 0 || strcmp(t, "internal") == 0);
}

/* How long a snapshot waits for an activate or deactivate of its VDI (a stop is 20 s at most). */
#define SNAP_VDI_LOCK_WAIT 60

static int snapshot_common(struct sm_ctx *ctx, bool is_snapshot, int code)
{
	struct vstore *vs = VS(ctx);
	const struct sm_call *c = ctx->call;
	struct snap s = { .src = c->vdi_uuid };
	bool single = is_snapshot && snapshot_is_single(c);
	char jtext[256];
	struct nbd_server srv;
	struct sm_lock vdi_lock = SM_LOCK_INIT;
	int rc = -1, served = 0;

	if (!c->driver_params)
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "%s needs driver_params", c->method);
	if (vs->ops->check(vs, &ctx->err) < 0)
		goto out;
	/*
	 * A served VDI's chain changes only while its server holds still,
	 * and is looked at only then: snap_prepare's "nothing written to the
	 * leaf" must stay true until the snapshot.  activate and deactivate
	 * hold the VDI's lock, not the SR's: holding it too, no server starts
	 * (and opens the chain) or stops mid-way.
	 */
	if (lock_acquire(&vdi_lock, s.src, "vdi", SNAP_VDI_LOCK_WAIT, code, &ctx->err) < 0)
		goto out;
	served = serve_pause(ctx, s.src, &srv, code);
	if (served < 0 || snap_prepare(vs, &s, code, &ctx->err) < 0)
		goto out;
	if (single && s.reuse_parent) {
		/* A single snapshot must return a base copy: make one after all. */
		s.reuse_parent = false;
		sm_uuid_generate(s.base);
		memcpy(s.parent, s.base, sizeof(s.parent));
	}
	if (!single)
		sm_uuid_generate(s.clone);
	snap_journal_text(&s, jtext, sizeof(jtext));
	if (vs->ops->journal_begin(vs, "snapshot", s.src, jtext, &ctx->err) < 0) {
		sm_error_recode(&ctx->err, code);
		goto out;
	}
	sm_fault_point("snapshot:journal");
	if (snap_do(vs, &s, code, &ctx->err) < 0 ||
	    snap_write_meta(vs, c, &s, is_snapshot, &ctx->err, code) < 0)
		goto undo;
	sm_fault_point("snapshot:meta");
	if (vs->ops->journal_end(vs, "snapshot", s.src, &ctx->err) < 0)
		goto undo;
	sm_log(LOG_INFO, "%s: %s now a child of %s; new VDI %s", c->method, s.src, s.parent,
	       single ? s.base : s.clone);
	rc = set_result_vdi(ctx, single ? s.base : s.clone);
	goto out;
undo:
	/* Whichever step failed, the caller asked for a snapshot (or clone). */
	sm_error_recode(&ctx->err, code);
	/* An undo that could not finish leaves the record: recovery finishes it. */
	if (vs->ops->snap_undo(vs, s.src, s.base, s.clone, NULL) == 0)
		vs->ops->journal_end(vs, "snapshot", s.src, NULL);
out:
	if (served > 0)
		serve_resume(ctx, s.src, &srv, code);
	lock_release(&vdi_lock);
	vdimeta_free(&s.meta);
	return rc;
}

int fsr_vdi_snapshot(struct sm_ctx *ctx)
{
	return snapshot_common(ctx, true, SME_VDI_SNAPSHOT);
}

int fsr_vdi_clone(struct sm_ctx *ctx)
{
	return snapshot_common(ctx, false, SME_VDI_CLONE);
}

/* ---- recovery ------------------------------------------------------------ */

/*
 * A snapshot killed mid-way left its VDI's server paused (the journal is
 * written after the pause): once the chain is back, let it serve again.
 * A server that is not paused answers a resume with "ok" and does nothing.
 */
static void recover_resume(struct vstore *vs, const char *uuid)
{
	struct nbd_server srv;
	struct sm_error e = { 0 };

	if (nbd_serve_find(vs->sr_uuid, uuid, &srv) == 1 &&
	    nbd_serve_resume(&srv, SME_SR_UNAVAILABLE, &e) < 0)
		sm_log(LOG_ERR, "recovery: the NBD server of %s (pid %d) did not resume: %s", uuid,
		       (int)srv.pid, e.detail);
}

static int recover_snapshot(struct vstore *vs, const char *id, const char *text,
			    struct sm_error *err)
{
	char base[37], clone[37];

	journal_get(text, "base", base, sizeof(base));
	journal_get(text, "clone", clone, sizeof(clone));
	if ((base[0] && !sm_uuid_valid(base)) || (clone[0] && !sm_uuid_valid(clone)))
		return sm_fail(err, SME_SR_UNAVAILABLE, "snapshot journal of %s is damaged", id);
	/*
	 * The caller never got an answer, so the whole snapshot is undone:
	 * the original's data is back under its own name and nothing new
	 * is left.  Every step of the undo is safe to repeat.
	 */
	if (vs->ops->snap_undo(vs, id, base, clone, err) < 0)
		return -1;   /* the record stays: the next call tries again */
	sm_log(LOG_WARNING, "recovery: rolled back the interrupted snapshot of %s", id);
	recover_resume(vs, id);
	return 0;
}

/*
 * An interrupted grow is undone from its undo record: the image is then
 * byte for byte as before.  Without a record, either nothing was touched
 * yet or the grow had finished (the record is emptied, then removed).
 */
static int recover_resize(struct vstore *vs, const char *id, struct sm_error *err)
{
	bool undone;

	if (vstore_grow_recover(vs, id, VSTORE_UNDO_RESIZE, &undone, err) < 0)
		return -1;   /* the record stays for the next try */
	if (undone)
		sm_log(LOG_WARNING, "recovery: rolled back the interrupted resize of %s", id);
	return 0;
}

static int recover_one(void *arg, const char *op, const char *id, const char *text,
		       struct sm_error *err)
{
	struct vstore *vs = arg;

	if (!sm_uuid_valid(id))
		return sm_fail(err, SME_SR_UNAVAILABLE, "journal record %s-%s is damaged", op, id);
	if (strcmp(op, "snapshot") == 0)
		return recover_snapshot(vs, id, text, err);
	if (strcmp(op, "resize") == 0)
		return recover_resize(vs, id, err);
	/* A non-leaf coalesce copies without the SR lock: the GC may be alive; its record. */
	if (strcmp(op, "coalesce") == 0)
		return 1;
	if (strcmp(op, "leaf") == 0) {
		char parent[37];

		journal_get(text, "parent", parent, sizeof(parent));
		if (!sm_uuid_valid(parent))
			return sm_fail(err, SME_SR_UNAVAILABLE, "leaf journal of %s is damaged", id);
		return vstore_leaf_recover(vs, id, parent, err);
	}
	if (strcmp(op, "create") == 0) {
		if (vs->ops->abandon(vs, id, err) < 0)
			return -1;
		sm_log(LOG_WARNING, "recovery: removed the half-made VDI %s", id);
		return 0;
	}
	return sm_fail(err, SME_SR_UNAVAILABLE, "unknown journal record %s-%s", op, id);
}

int fsr_recover(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	char where[PATH_MAX];
	int rc;

	if (!FSR(ctx)->repair)
		return 0;
	rc = vs->ops->exists(vs);
	if (rc == 0)
		return 0;   /* nothing to repair; the operation reports what is missing */
	/* Not knowing whether a change is unfinished is not knowing there is none. */
	if (rc < 0) {
		vs->ops->describe(vs, "", where, sizeof(where));
		return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, -rc,
				     "cannot look for unfinished changes in %s", where);
	}
	if (vs->ops->journal_replay(vs, recover_one, vs, &ctx->err) < 0) {
		/* Whatever was asked cannot go ahead over an unfinished change. */
		sm_error_recode(&ctx->err, SME_SR_UNAVAILABLE);
		return -1;
	}
	/* The chains are whole: a pause whose maker died (before its journal) ends. */
	nbd_serve_resume_orphans(vs->sr_uuid);
	return 0;
}

/* ---- resize, introduce, update, config ---------------------------------- */

static int resize_raw(struct vstore *vs, const char *uuid, uint64_t size, struct sm_error *err)
{
	struct vhd_io io = { 0 };
	uint64_t cur;
	int rc;

	if (raw_validate_size(size, &size, err) < 0)
		return -1;
	if (vs->ops->open(vs, uuid, VSTORE_RAW, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	rc = io.ops->get_size(&io, &cur);
	if (rc == 0 && size < cur) {
		vhd_io_close(&io);
		return sm_fail(err, SME_VDI_SIZE, "shrinking is not allowed (%" PRIu64 " < %" PRIu64 ")",
			       size, cur);
	}
	if (rc == 0)
		rc = io.ops->truncate ? io.ops->truncate(&io, size) : -ENOTSUP;
	if (rc == 0)
		rc = io.ops->sync(&io);
	vhd_io_close(&io);
	if (rc < 0)
		return fail_image(vs, err, rc == -EFBIG ? SME_VDI_SIZE : SME_VDI_RESIZE, rc,
				  "cannot resize", uuid, VSTORE_RAW);
	return 0;
}

/* A size refused stays VDISize; whichever step failed, a resize failed. */
static int resize_failed(struct sm_ctx *ctx)
{
	if (ctx->err.code != SME_VDI_SIZE)
		sm_error_recode(&ctx->err, SME_VDI_RESIZE);
	return -1;
}

int fsr_vdi_resize(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	const char *uuid = ctx->call->vdi_uuid, *arg;
	enum vstore_kind kind;
	char jtext[128];
	uint64_t size;
	bool pending;
	int children, rc;

	if (call_arg(ctx->call, 0, &arg, &ctx->err) < 0 ||
	    vs->ops->find(vs, uuid, &kind, SME_VDI_RESIZE, &ctx->err) < 0)
		return -1;
	if (sm_parse_u64(arg, &size) < 0)
		return sm_fail(&ctx->err, SME_VDI_SIZE, "size '%.40s' is not a decimal number of bytes", arg);
	if (kind == VSTORE_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", uuid, vs->sr_uuid);
	if (kind == VSTORE_RAW)
		return resize_raw(vs, uuid, size, &ctx->err) < 0 ? resize_failed(ctx) : set_result_vdi(ctx, uuid);
	/* Growing a leaf whose parents are gone or wrong only buries the fault deeper. */
	if (chain_check(vs, uuid, NULL, &ctx->err, SME_VDI_UNAVAILABLE) < 0)
		return -1;
	if (vdi_children(vs, uuid, &children, SME_VDI_RESIZE, &ctx->err) < 0)
		return -1;
	if (children > 0)
		return sm_fail(&ctx->err, SME_VDI_RESIZE, "%s is a parent of other images", uuid);
	/*
	 * An undo record no journal leads to (recovery ran before this call)
	 * is an emptied one a crash left after a finished grow: undoing it is
	 * a no-op that removes it, and a new grow needs the name.
	 */
	if (vstore_grow_recover(vs, uuid, VSTORE_UNDO_RESIZE, NULL, &ctx->err) < 0)
		return resize_failed(ctx);
	snprintf(jtext, sizeof(jtext), "vdi=%s\nsize=%" PRIu64 "\n", uuid, size);
	if (vs->ops->journal_begin(vs, "resize", uuid, jtext, &ctx->err) < 0)
		return resize_failed(ctx);
	sm_fault_point("resize:journal");
	/* A thin SR keeps a VDI's room until a writable attach asks for it (LVHDSR's resize). */
	rc = vs->thin ? 0 : vstore_inflate(vs, uuid, vstore_room_for(vs, size, VSTORE_FIT_FULL, 0),
					   &ctx->err);
	pending = false;
	if (rc == 0)
		rc = vstore_grow(vs, uuid, size, VSTORE_UNDO_RESIZE, &pending, &ctx->err);
	if (rc == 0) {
		sm_fault_point("resize:grown");
		rc = vs->ops->journal_end(vs, "resize", uuid, &ctx->err);
	} else if (!pending) {
		/* The grow put the image back as it was (or never touched it). */
		vs->ops->journal_end(vs, "resize", uuid, NULL);
	}
	if (rc < 0)
		return resize_failed(ctx);
	return set_result_vdi(ctx, uuid);
}

/* An image already in the SR becomes a VDI; images are named by their uuid. */
int fsr_vdi_introduce(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	const struct sm_call *c = ctx->call;
	struct vdi_meta m = { 0 };
	enum vstore_kind kind;
	char where[PATH_MAX];
	int rc;

	if (!c->vdi_location || strcmp(c->vdi_location, c->new_uuid) != 0)
		return sm_fail(&ctx->err, SME_INVALID_ARG,
			       "vdi_location must equal new_uuid: file SRs name VDIs <uuid>.vhd");
	if (vs->ops->find(vs, c->new_uuid, &kind, SME_VDI_LOAD, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_NONE) {
		vs->ops->describe(vs, "", where, sizeof(where));
		return sm_fail(&ctx->err, SME_VDI_MISSING, "no %s.vhd or %s.raw in %s",
			       c->new_uuid, c->new_uuid, where);
	}
	if (kind == VSTORE_VHD && chain_check(vs, c->new_uuid, NULL, &ctx->err, SME_VDI_LOAD) < 0)
		return -1;
	rc = vs->ops->meta_lookup(vs, c->new_uuid);
	if (rc < 0)
		return sm_fail_errno(&ctx->err, rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE : SME_VDI_LOAD,
				     -rc, "cannot look at the metadata record of %s", c->new_uuid);
	if (rc == 0) {
		m.label = (char *)"";
		m.description = (char *)"";
		snprintf(m.vdi_type, sizeof(m.vdi_type), "user");
		if (vs->ops->meta_write(vs, c->new_uuid, &m, SME_VDI_LOAD, &ctx->err) < 0)
			return -1;
	}
	return set_result_vdi(ctx, c->new_uuid);
}

/* Keep the labels xapi's record has (xapi mode), where sr_scan reads them. */
static int keep_xapi_labels(struct vstore *vs, const char *uuid, struct vdi_meta *m,
			    const struct sm_ctx *ctx, struct sm_error *err)
{
	if (m->label && m->description && strcmp(m->label, ctx->vdi_label) == 0 &&
	    strcmp(m->description, ctx->vdi_description) == 0)
		return 0;
	if (vdimeta_set(&m->label, ctx->vdi_label) < 0 ||
	    vdimeta_set(&m->description, ctx->vdi_description) < 0)
		return sm_fail(err, SME_GENERIC, "out of memory");
	return vs->ops->meta_write(vs, uuid, m, SME_VDI_LOAD, err);
}

/*
 * Re-check the VDI and restore a lost metadata record; in xapi mode,
 * keep the labels xapi has (the dispatcher read them: ctx->vdi_label).
 */
int fsr_vdi_update(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	const char *uuid = ctx->call->vdi_uuid;
	enum vstore_kind kind;
	struct vdi_meta m;
	int rc = 0;

	if (vs->ops->find(vs, uuid, &kind, SME_VDI_LOAD, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", uuid, vs->sr_uuid);
	if (kind == VSTORE_VHD && chain_check(vs, uuid, NULL, &ctx->err, SME_VDI_LOAD) < 0)
		return -1;
	rc = vs->ops->meta_read(vs, uuid, &m);
	if (rc == -ENOENT) {
		memset(&m, 0, sizeof(m));
		snprintf(m.vdi_type, sizeof(m.vdi_type), "user");
		rc = ctx->vdi_label ? 0 : vs->ops->meta_write(vs, uuid, &m, SME_VDI_LOAD, &ctx->err);
	} else if (rc < 0 && ctx->vdi_label) {
		/* Rewriting a record we cannot read would lose its snapshot facts. */
		rc = sm_fail_errno(&ctx->err, SME_VDI_LOAD, -rc, "cannot read the metadata of %s", uuid);
	} else {
		rc = 0;
	}
	if (rc == 0 && ctx->vdi_label)
		rc = keep_xapi_labels(vs, uuid, &m, ctx, &ctx->err);
	vdimeta_free(&m);
	return rc;
}

/* What static-vdis stores and replays at boot without a toolstack. */
int fsr_vdi_generate_config(struct sm_ctx *ctx)
{
	const struct sm_call *c = ctx->call;
	struct xr_value *params = xr_array(), *st = xr_struct(), *dconf = xr_struct();
	char *doc = NULL;
	enum vstore_kind kind;
	int rc = -1;

	if (VS(ctx)->ops->find(VS(ctx), c->vdi_uuid, &kind, SME_VDI_UNAVAILABLE, &ctx->err) < 0)
		goto out;
	if (kind == VSTORE_NONE) {
		sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", c->vdi_uuid, c->sr_uuid);
		goto out;
	}
	if (!params || !st || !dconf)
		goto oom;
	for (size_t i = 0; i < c->dconf->u.st.count; i++)
		if (xr_struct_set_string(dconf, c->dconf->u.st.members[i].name,
					 c->dconf->u.st.members[i].value->u.str) < 0)
			goto oom;
	if (xr_struct_set(st, "device_config", dconf) < 0) {
		dconf = NULL;
		goto oom;
	}
	dconf = NULL;
	if (xr_struct_set_string(st, "sr_uuid", c->sr_uuid) < 0 ||
	    xr_struct_set_string(st, "vdi_uuid", c->vdi_uuid) < 0 ||
	    xr_struct_set_string(st, "command", "vdi_attach_from_config") < 0)
		goto oom;
	if (xr_array_append(params, st) < 0) {
		st = NULL;
		goto oom;
	}
	st = NULL;
	doc = xr_write_call("vdi_attach_from_config", params, XR_STYLE_PYTHON);
	if (!doc || !(ctx->result = xr_string(doc)))
		goto oom;
	rc = 0;
	goto out;
oom:
	sm_fail(&ctx->err, SME_GENERIC, "out of memory");
out:
	free(doc);
	xr_free(dconf);
	xr_free(st);
	xr_free(params);
	return rc;
}

/* ---- persistent VDI locks (seed API vdi_lock / vdi_unlock) -------------- */

static int lock_user_valid(const char *user)
{
	if (!*user || strlen(user) >= 256)
		return 0;
	for (; *user; user++)
		if ((unsigned char)*user < 0x20)
			return 0;
	return 1;
}

/* A record naming user, this host and now. */
static int lock_take(struct vstore *vs, const char *uuid, const char *user, bool replace,
		     struct sm_error *err)
{
	struct vstore_lock r = { .since = (long long)time(NULL) };

	snprintf(r.user, sizeof(r.user), "%s", user);
	gethostname(r.host, sizeof(r.host) - 1);
	return vs->ops->lock_write(vs, uuid, &r, replace, err);
}

int fsr_vdi_lock(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	const struct sm_call *c = ctx->call;
	const char *force_s, *user;
	struct vstore_lock r;
	enum vstore_kind kind;
	bool force;

	if (call_arg(c, 0, &force_s, &ctx->err) < 0 || call_arg(c, 1, &user, &ctx->err) < 0)
		return -1;
	if (sm_parse_bool(force_s, &force) < 0)
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "vdi_lock: force must be true or false");
	if (!lock_user_valid(user))
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "vdi_lock: the user string must be 1-255 printable characters");
	if (vs->ops->find(vs, c->vdi_uuid, &kind, SME_LOCK_ERR, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", c->vdi_uuid, vs->sr_uuid);
	if (vs->ops->lock_read(vs, c->vdi_uuid, &r) == 0) {
		if (strcmp(r.user, user) == 0)
			return lock_take(vs, c->vdi_uuid, user, true, &ctx->err);   /* refresh our own */
		if (!force) {
			char who[700];

			vstore_lock_describe(&r, (long long)time(NULL), who, sizeof(who));
			return sm_fail(&ctx->err, SME_LOCK_ERR, "%s is locked by %s; vdi_lock with force=true "
				       "breaks it (smcall <driver> <dconf> vdi_lock --vdi %s true '%s')",
				       c->vdi_uuid, who, c->vdi_uuid, user);
		}
		sm_log(LOG_WARNING, "vdi_lock: %s: force breaks the lock of '%s' on host %s",
		       c->vdi_uuid, r.user, r.host);
		return lock_take(vs, c->vdi_uuid, user, true, &ctx->err);
	}
	return lock_take(vs, c->vdi_uuid, user, false, &ctx->err);
}

int fsr_vdi_unlock(struct sm_ctx *ctx)
{
	struct vstore *vs = VS(ctx);
	const struct sm_call *c = ctx->call;
	struct vstore_lock r;
	enum vstore_kind kind;
	const char *user;
	int rc;

	if (call_arg(c, 0, &user, &ctx->err) < 0)
		return -1;
	if (vs->ops->find(vs, c->vdi_uuid, &kind, SME_LOCK_ERR, &ctx->err) < 0)
		return -1;
	if (kind == VSTORE_NONE)
		return sm_fail(&ctx->err, SME_VDI_MISSING, "VDI %s is not in SR %s", c->vdi_uuid, vs->sr_uuid);
	rc = vs->ops->lock_read(vs, c->vdi_uuid, &r);
	if (rc == -ENOENT)
		return 0;   /* unlocking an unlocked VDI succeeds */
	if (rc < 0)
		return sm_fail_errno(&ctx->err, rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE : SME_LOCK_ERR,
				     -rc, "cannot read the vdi_lock record of %s", c->vdi_uuid);
	if (strcmp(r.user, user) != 0) {
		char who[700];

		vstore_lock_describe(&r, (long long)time(NULL), who, sizeof(who));
		return sm_fail(&ctx->err, SME_LOCK_ERR, "%s is locked by %s, not '%s'; only its holder "
			       "unlocks it, or vdi_lock with force=true takes it over "
			       "(smcall <driver> <dconf> vdi_lock --vdi %s true '%s')",
			       c->vdi_uuid, who, user, c->vdi_uuid, user);
	}
	rc = vs->ops->lock_remove(vs, c->vdi_uuid);
	if (rc < 0)
		return sm_fail_errno(&ctx->err, rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE : SME_LOCK_ERR,
				     -rc, "cannot remove the vdi_lock record of %s", c->vdi_uuid);
	return 0;
}
