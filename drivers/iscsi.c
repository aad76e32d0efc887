/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * ISCSISR (type "iscsi"): one LUN per VDI on one iSCSI target, drop-in
 * for the Python SM's RawISCSISR (BaseISCSI + LUNperVDI).  dconf target,
 * port, targetIQN, localIQN, chapuser/chappassword,
 * incoming_chapuser/incoming_chappassword (docs/iscsisr.md).
 *
 * Two paths, as NFSSR has (docs/nfssr.md):
 *
 *   control   probe, create, scan, the LUN list, sizes, SCSIids and every
 *             CHAP check go through libiscsi (csm/iscsi.h): short sessions
 *             of our own, bounded in time, no iscsid, no host state;
 *   data      a VDI is a block device only through the kernel initiator:
 *             sr_attach logs the host in with iscsiadm and counts the SR in
 *             /run/sr-ref/<targetIQN> (the Python SM's file, so both share
 *             the session); vdi_attach finds the LUN's device by SCSIid.
 *
 * The target holds LUNs, nothing else: this driver never writes to it.
 * Which LUNs are "managed" (handed out by vdi_create or vdi_introduce)
 * xapi's database remembers, for the Python SM and for this driver in
 * xapi mode (the VDI records' managed field: every host of the pool reads
 * the same bits).  In API mode, without XenAPI, this host remembers it in
 * /var/lib/csm/iscsi/<sr_uuid> (CSM_ISCSI_STATE_DIR).
 *
 * Secrets (chappassword, incoming_chappassword) stay in the target
 * structure: nothing here logs, prints or puts in a fault detail any
 * dconf value but the target, port and IQNs.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/driver.h"
#include "csm/iscsi.h"
#include "csm/iscsi_host.h"
#include "csm/log.h"
#include "csm/nbd_serve.h"
#include "csm/scan.h"
#include "csm/util.h"
#include "csm/xapi_sync.h"

#define ISCSI_STATE_DIR "/var/lib/csm/iscsi"
/* How long vdi_attach waits for the LUN's block device after a login (Python: 15 s). */
#define ISCSI_DEVICE_WAIT_MS 15000
#define ISCSI_STATE_MAX (1u << 20)

/* The managed VDIs of this SR. */
struct managed_set {
	char (*uuid)[SM_UUID_LEN + 1];
	size_t n;
};

/* The layer's state (sm_priv): the target from dconf. */
struct iscsi_state {
	struct sm_iscsi_target t;
	char host_iqn[SM_ISCSI_IQN_MAX];   /* when localIQN came from the host file */
	char state_file[PATH_MAX];         /* the managed bits in API mode; "" for sr_probe */
	/*
	 * xapi mode: the managed bits as xapi's records had them when first
	 * read in this call, with this call's changes; the dispatcher writes
	 * them to the records after the op (its collect reads them here).
	 */
	struct managed_set db;
	bool db_loaded;
};

/* The LUNs of the target, as one call sees them. */
struct lun_list {
	struct sm_iscsi_lun *l;
	size_t n;
};

extern const struct sm_driver sm_iscsi_driver;

static struct iscsi_state *IS(struct sm_ctx *ctx)
{
	return sm_priv(ctx, &sm_iscsi_driver);
}

/* "host:port" for details and logs; an IPv6 address in brackets. */
static void portal_name(const struct sm_iscsi_target *t, char *out, size_t outsz)
{
	bool v6 = strchr(t->host, ':') != NULL;

	snprintf(out, outsz, "%s%s%s:%d", v6 ? "[" : "", t->host, v6 ? "]" : "", t->port);
}

/* ---- which LUN VDIs are managed: xapi's records, or host-local state ----------- */

static const char *state_dir(void)
{
	const char *d = getenv("CSM_ISCSI_STATE_DIR");

	return d && *d ? d : ISCSI_STATE_DIR;
}

static bool managed_has(const struct managed_set *m, const char *uuid)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->uuid[i], uuid) == 0)
			return true;
	return false;
}

static int managed_add(struct managed_set *m, const char *uuid)
{
	char (*u)[SM_UUID_LEN + 1];

	if (managed_has(m, uuid))
		return 0;
	u = realloc(m->uuid, (m->n + 1) * sizeof(*u));
	if (!u)
		return -1;
	m->uuid = u;
	snprintf(m->uuid[m->n++], SM_UUID_LEN + 1, "%s", uuid);
	return 0;
}

static void managed_remove(struct managed_set *m, const char *uuid)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->uuid[i], uuid) == 0) {
			memmove(m->uuid[i], m->uuid[i + 1], (m->n - i - 1) * sizeof(m->uuid[0]));
			m->n--;
			return;
		}
	}
}

static void managed_free(struct managed_set *m)
{
	free(m->uuid);
	m->uuid = NULL;
	m->n = 0;
}

static int managed_copy(const struct managed_set *from, struct managed_set *to)
{
	memset(to, 0, sizeof(*to));
	for (size_t i = 0; i < from->n; i++) {
		if (managed_add(to, from->uuid[i]) < 0) {
			managed_free(to);
			return -1;
		}
	}
	return 0;
}

/*
 * xapi mode: the records of the SR whose managed field is true, read once
 * a call.  Another host's vdi_create is seen here, and a scan on this host
 * cannot unmanage (and so hand out again) a LUN a VM elsewhere uses.
 */
static int managed_load_db(struct sm_ctx *ctx, struct managed_set *m)
{
	struct iscsi_state *s = IS(ctx);
	char (*uuids)[SM_UUID_LEN + 1] = NULL;
	size_t n = 0;

	if (!s->db_loaded) {
		if (xsync_managed_vdis(ctx->xapi, ctx->call->sr_ref, ctx->call->sr_uuid, &uuids, &n,
				       &ctx->err) < 0)
			return -1;
		s->db = (struct managed_set){ .uuid = uuids, .n = n };
		s->db_loaded = true;
	}
	if (managed_copy(&s->db, m) < 0)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	return 0;
}

/*
 * API mode: one "<vdi_uuid> managed|unmanaged" a line.  A missing file is
 * an SR nothing was handed out of yet; lines that are neither are refused
 * (a damaged file must not silently hand a LUN in use out again).
 */
static int managed_load(struct sm_ctx *ctx, struct managed_set *m)
{
	const char *path = IS(ctx)->state_file;
	char *text = NULL, *line, *save = NULL;
	int rc;

	if (ctx->xapi)
		return managed_load_db(ctx, m);
	memset(m, 0, sizeof(*m));
	rc = sm_read_file(path, ISCSI_STATE_MAX, &text);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, -rc, "cannot read %s", path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char uuid[SM_UUID_LEN + 1], what[16];

		if (sscanf(line, "%36s %15s", uuid, what) != 2 || !sm_uuid_valid(uuid) ||
		    (strcmp(what, "managed") != 0 && strcmp(what, "unmanaged") != 0)) {
			rc = sm_fail(&ctx->err, SME_SR_UNAVAILABLE,
				     "%s: line '%.80s' is not '<vdi uuid> managed|unmanaged'", path, line);
			break;
		}
		if (strcmp(what, "managed") == 0 && managed_add(m, uuid) < 0) {
			rc = sm_fail(&ctx->err, SME_GENERIC, "out of memory");
			break;
		}
	}
	free(text);
	if (rc < 0)
		managed_free(m);
	return rc < 0 ? -1 : 0;
}

static int managed_save(struct sm_ctx *ctx, const struct managed_set *m)
{
	const char *path = IS(ctx)->state_file;
	struct sm_buf b = SM_BUF_INIT;
	struct managed_set copy;
	char *text;
	int rc;

	if (ctx->xapi) {
		/* The dispatcher's collect after the op carries it to xapi's records. */
		if (managed_copy(m, &copy) < 0)
			return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		managed_free(&IS(ctx)->db);
		IS(ctx)->db = copy;
		IS(ctx)->db_loaded = true;
		return 0;
	}
	rc = sm_mkdir_p(state_dir(), 0700);
	if (rc < 0)
		return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, -rc, "cannot create %s", state_dir());
	for (size_t i = 0; i < m->n; i++)
		buf_printf(&b, "%s managed\n", m->uuid[i]);
	text = buf_steal(&b);
	if (!text && m->n)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	rc = sm_write_file_atomic(path, text ? text : "", text ? strlen(text) : 0);
	free(text);
	if (rc < 0)
		return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, -rc, "cannot write %s", path);
	return 0;
}

/* Mark one VDI managed or not, under the SR lock the dispatcher holds. */
static int managed_set_one(struct sm_ctx *ctx, const char *uuid, bool managed)
{
	struct managed_set m;
	int rc;

	if (managed_load(ctx, &m) < 0)
		return -1;
	if (managed && managed_add(&m, uuid) < 0) {
		managed_free(&m);
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	}
	if (!managed)
		managed_remove(&m, uuid);
	rc = managed_save(ctx, &m);
	managed_free(&m);
	return rc;
}

/* ---- the target: discovery, login check, LUNs ----------------------------------- */

/*
 * The Python SM's answer to a missing or unknown targetIQN: the
 * sendtargets list on stderr (xapi hands it to the client as the third
 * error parameter), printed as print() does, with one more newline.
 */
static void print_iqn_list(struct sm_ctx *ctx, const struct sm_iscsi_discovered *d, size_t n)
{
	struct sm_buf b = SM_BUF_INIT;

	sm_iscsi_write_iqn_list_at(&b, d, n, IS(ctx)->t.target_as_given, IS(ctx)->t.port);
	if (b.data) {
		fputs(b.data, stderr);
		fputs("\n", stderr);
		fflush(stderr);
	}
	buf_free(&b);
}

/*
 * Our own bounded TCP connect, then sendtargets: 140, 141, 68, 83.  As
 * the Python SM's discovery, with the one-way CHAP credentials only:
 * portals seldom protect discovery, and one that does not answers a
 * mutual-CHAP request with no CHAP at all, which libiscsi takes for a
 * target that failed to authenticate itself.  The login checks the
 * target's side.
 */
static int discover(struct sm_ctx *ctx, struct sm_iscsi_discovered **d, size_t *n)
{
	struct sm_iscsi_target t = IS(ctx)->t;

	*d = NULL;
	*n = 0;
	t.auth.in_user = NULL;
	t.auth.in_password = NULL;
	if (sm_iscsi_tcp_check(t.host, t.port, t.timeout_ms ? t.timeout_ms :
			       SM_ISCSI_DEFAULT_TIMEOUT_MS, &ctx->err) < 0)
		return -1;
	return sm_iscsi_discover(&t, d, n, &ctx->err);
}

/* No targetIQN: what the portal offers, on stderr, then 96 (BaseISCSI.load). */
static int list_iqns(struct sm_ctx *ctx)
{
	struct sm_iscsi_discovered *d;
	size_t n;

	if (discover(ctx, &d, &n) < 0)
		return -1;
	print_iqn_list(ctx, d, n);
	free(d);
	return sm_fail(&ctx->err, SME_CONFIG_TARGET_IQN_MISSING, NULL);
}

/*
 * The portal answers and offers targetIQN: as the Python SM's attach,
 * discovery filtered by the IQN; an IQN the portal does not offer prints
 * the list and is 83.
 */
static int target_offered(struct sm_ctx *ctx)
{
	const struct sm_iscsi_target *t = &IS(ctx)->t;
	struct sm_iscsi_discovered *d;
	char portal[SM_ISCSI_HOST_MAX + 16];
	bool found = false;
	size_t n;

	if (discover(ctx, &d, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && !found; i++)
		found = strcmp(d[i].iqn, t->target_iqn) == 0;
	if (!found) {
		print_iqn_list(ctx, d, n);
		portal_name(t, portal, sizeof(portal));
		sm_fail(&ctx->err, SME_ISCSI_DISCOVERY, "%s does not offer target %.223s (%zu target%s "
			"offered, listed on stderr)", portal, t->target_iqn, n, n == 1 ? "" : "s");
	}
	free(d);
	return found ? 0 : -1;
}

/* Log in (a short libiscsi session) and list the direct-access LUNs. */
static int list_luns(struct sm_ctx *ctx, struct lun_list *ll)
{
	struct sm_iscsi_session *s = NULL;
	int rc;

	memset(ll, 0, sizeof(*ll));
	if (sm_iscsi_session_open(&IS(ctx)->t, &s, &ctx->err) < 0)
		return -1;
	rc = sm_iscsi_session_luns(s, &ll->l, &ll->n, &ctx->err);
	sm_iscsi_session_close(s);
	return rc;
}

/* The login check without the LUNs. */
static int login_check(struct sm_ctx *ctx)
{
	struct sm_iscsi_session *s = NULL;

	if (sm_iscsi_session_open(&IS(ctx)->t, &s, &ctx->err) < 0)
		return -1;
	sm_iscsi_session_close(s);
	return 0;
}

static const struct sm_iscsi_lun *lun_by_uuid(const struct lun_list *ll, const char *uuid)
{
	char u[37];

	for (size_t i = 0; i < ll->n; i++) {
		sm_iscsi_vdi_uuid(ll->l[i].scsi_id, u);
		if (strcmp(u, uuid) == 0)
			return &ll->l[i];
	}
	return NULL;
}

static const struct sm_iscsi_lun *lun_by_id(const struct lun_list *ll, int lun)
{
	for (size_t i = 0; i < ll->n; i++)
		if (ll->l[i].lun == lun)
			return &ll->l[i];
	return NULL;
}

/* ---- load ------------------------------------------------------------------------ */

static void iscsi_unload(struct sm_ctx *ctx)
{
	managed_free(&IS(ctx)->db);
}

static int iscsi_load(struct sm_ctx *ctx)
{
	struct iscsi_state *st = IS(ctx);
	const struct sm_call *c = ctx->call;

	if (sm_iscsi_target_from_dconf(c->dconf, &st->t, st->host_iqn, sizeof(st->host_iqn),
				       &ctx->err) < 0)
		return -1;
	if (c->sr_uuid)
		snprintf(st->state_file, sizeof(st->state_file), "%s/%s", state_dir(), c->sr_uuid);
	/* As BaseISCSI.load, for every command: the choice of targets, then 96. */
	if (!st->t.target_iqn || !*st->t.target_iqn)
		return list_iqns(ctx);
	return 0;
}

/* ---- SR operations ---------------------------------------------------------------- */

/*
 * With targetIQN: the portal offers it and we can log in (CHAP either
 * way), then the SRs that use it.  The Python SM lists them from xapi's
 * database; without XenAPI there is nothing to list.
 */
static int iscsi_sr_probe(struct sm_ctx *ctx)
{
	struct sm_buf b = SM_BUF_INIT;

	if (target_offered(ctx) < 0 || login_check(ctx) < 0)
		return -1;
	sm_iscsi_write_srlist_empty(&b);
	ctx->result = b.data ? xr_string(b.data) : NULL;
	buf_free(&b);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

/* Nothing is written to the target: create checks that the SR can work. */
static int iscsi_sr_create(struct sm_ctx *ctx)
{
	struct lun_list ll;
	char portal[SM_ISCSI_HOST_MAX + 16];

	if (target_offered(ctx) < 0 || list_luns(ctx, &ll) < 0)
		return -1;
	portal_name(&IS(ctx)->t, portal, sizeof(portal));
	sm_log(LOG_INFO, "sr_create: %s on %s has %zu LUN%s", IS(ctx)->t.target_iqn, portal, ll.n,
	       ll.n == 1 ? "" : "s");
	free(ll.l);
	return 0;
}

/* dconf SCSIid at attach names a LUN that must be there (BaseISCSI.attach: 107). */
static int lun_present(struct sm_ctx *ctx, const char *scsi_id)
{
	struct lun_list ll;
	bool found = false;

	if (list_luns(ctx, &ll) < 0)
		return -1;
	for (size_t i = 0; i < ll.n && !found; i++)
		found = strcmp(ll.l[i].scsi_id, scsi_id) == 0;
	free(ll.l);
	if (!found)
		return sm_fail(&ctx->err, SME_CONFIG_SCSIID, "no LUN of %s has SCSIid %.128s",
			       IS(ctx)->t.target_iqn, scsi_id);
	return 0;
}

/*
 * The Python SM's checks in its order (reachable 141, offered 83, login
 * 68, dconf SCSIid present 107), the login as our own short session so a
 * CHAP fault names the side that failed; then the kernel session the VDIs' block devices need, and
 * this SR counted in the IQN's sr-ref file.  A host without a kernel
 * initiator gets the checks only: control operations work, vdi_attach
 * says why it cannot give a device.
 */
static int iscsi_sr_attach(struct sm_ctx *ctx)
{
	const struct sm_iscsi_target *t = &IS(ctx)->t;
	const char *scsi_id = call_dconf(ctx->call, "SCSIid");

	if (target_offered(ctx) < 0)
		return -1;
	if (scsi_id && *scsi_id) {
		if (lun_present(ctx, scsi_id) < 0)
			return -1;
	} else if (login_check(ctx) < 0) {
		return -1;
	}
	if (!sm_iscsi_kernel_available()) {
		sm_log(LOG_INFO, "sr_attach: no kernel iSCSI initiator on this host: target checked, "
		       "no session (VDIs cannot be attached here)");
		return 0;
	}
	if (!sm_iscsi_kernel_session_exists(t->target_iqn) && sm_iscsi_kernel_login(t, &ctx->err) < 0)
		return -1;
	return sm_iscsi_ref_add(t->target_iqn, ctx->call->sr_uuid, &ctx->err);
}

/*
 * Asks nothing of the target (a host must be able to unplug an SR whose
 * target is gone): the SR leaves the sr-ref file, and the last SR out
 * logs the host out of the target and deletes its node records, as
 * RawISCSISR's detach does.
 */
static int iscsi_sr_detach(struct sm_ctx *ctx)
{
	const char *iqn = IS(ctx)->t.target_iqn;
	int left = sm_iscsi_ref_remove(iqn, ctx->call->sr_uuid, &ctx->err);

	if (left < 0)
		return -1;
	if (left > 0) {
		sm_log(LOG_INFO, "sr_detach: %d other SR%s still use %s: session kept", left,
		       left == 1 ? "" : "s", iqn);
		return 0;
	}
	if (!sm_iscsi_kernel_available() || !sm_iscsi_kernel_session_exists(iqn))
		return 0;
	return sm_iscsi_kernel_logout(iqn, true, &ctx->err);
}

/* As the Python SM: delete is detach (the LUNs stay), and this host forgets the managed bits. */
static int iscsi_sr_delete(struct sm_ctx *ctx)
{
	const char *path = IS(ctx)->state_file;

	if (iscsi_sr_detach(ctx) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, errno, "cannot remove %s", path);
	return 0;
}

static char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* One LUN as a VDI (LUNperVDI._query): uuid from the SCSIid, the sm_config xapi keeps. */
static int fill_vdi(struct scan_vdi *v, const struct sm_iscsi_lun *l, const struct managed_set *m)
{
	char lunid[16];

	sm_iscsi_vdi_uuid(l->scsi_id, v->uuid);
	snprintf(v->location, sizeof(v->location), "%s", v->uuid);
	v->size = l->size;
	/* A LUN is allocated whole. */
	v->utilisation = l->size;
	v->managed = managed_has(m, v->uuid);
	v->type = "raw";
	v->vendor = strdup_or_null(l->vendor);
	v->serial = strdup_or_null(l->serial);
	snprintf(lunid, sizeof(lunid), "%d", l->lun);
	if (!v->vendor || !v->serial || scan_vdi_set_config(v, "LUNid", lunid) < 0 ||
	    scan_vdi_set_config(v, "SCSIid", l->scsi_id) < 0 ||
	    scan_vdi_set_config(v, "backend-kind", "vbd") < 0)
		return -1;
	return 0;
}

/*
 * The LUNs as VDIs (the collect slot).  Sizes as BaseISCSI.scan computes
 * them: the SR's size is the sum of the LUNs', its utilisation (and
 * virtual allocation) that sum plus the managed LUNs' sizes again.
 */
static int iscsi_collect(struct sm_ctx *ctx, struct scan_sr *sr)
{
	struct managed_set m;
	struct lun_list ll = { 0 };
	uint64_t managed_bytes = 0;
	int rc = -1;

	if (managed_load(ctx, &m) < 0)
		return -1;
	if (list_luns(ctx, &ll) < 0)
		goto out;
	snprintf(sr->uuid, sizeof(sr->uuid), "%s", ctx->call->sr_uuid);
	sr->default_vdi_visibility = false;
	for (size_t i = 0; i < ll.n; i++) {
		struct scan_vdi *v = scan_add_vdi(sr);

		if (!v || fill_vdi(v, &ll.l[i], &m) < 0) {
			sm_fail(&ctx->err, SME_GENERIC, "out of memory");
			goto out;
		}
		sr->physical_size += v->size;
		if (v->managed)
			managed_bytes += v->size;
	}
	sr->physical_utilisation = sr->virtual_allocation = sr->physical_size + managed_bytes;
	scan_sort(sr);
	rc = 0;
out:
	free(ll.l);
	managed_free(&m);
	return rc;
}

/* The dispatcher answers ctx->scan (the document, or xapi's records). */
static int iscsi_sr_scan(struct sm_ctx *ctx)
{
	return iscsi_collect(ctx, ctx->scan);
}

/* ---- VDIs -------------------------------------------------------------------------- */

static int set_result_vdi(struct sm_ctx *ctx, const char *uuid)
{
	struct xr_value *r = xr_struct();

	if (!r || xr_struct_set_string(r, "location", uuid) < 0 ||
	    xr_struct_set_string(r, "uuid", uuid) < 0) {
		xr_free(r);
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	}
	ctx->result = r;
	return 0;
}

/*
 * No LUN is ever made: the smallest LUN not handed out yet that holds
 * size becomes the VDI (LUNperVDI.create), 44 when there is none.  The
 * VDI's uuid is the LUN's, whatever uuid the toolstack proposed.
 */
static int iscsi_vdi_create(struct sm_ctx *ctx)
{
	const struct sm_iscsi_lun *best = NULL;
	struct managed_set m;
	struct lun_list ll = { 0 };
	const char *size_s;
	char uuid[37];
	uint64_t size;
	int rc = -1;

	if (call_arg(ctx->call, 0, &size_s, &ctx->err) < 0)
		return -1;
	if (sm_parse_u64(size_s, &size) < 0)
		return sm_fail(&ctx->err, SME_VDI_SIZE, "size '%.40s' is not a decimal number of bytes",
			       size_s);
	if (managed_load(ctx, &m) < 0)
		return -1;
	if (list_luns(ctx, &ll) < 0)
		goto out;
	for (size_t i = 0; i < ll.n; i++) {
		sm_iscsi_vdi_uuid(ll.l[i].scsi_id, uuid);
		if (managed_has(&m, uuid) || ll.l[i].size < size)
			continue;
		if (!best || ll.l[i].size < best->size)
			best = &ll.l[i];
	}
	if (!best) {
		sm_fail(&ctx->err, SME_SR_NO_SPACE, "no LUN of %s that is not in use holds %" PRIu64
			" bytes (%zu LUN%s, %zu in use)", IS(ctx)->t.target_iqn, size, ll.n,
			ll.n == 1 ? "" : "s", m.n);
		goto out;
	}
	sm_iscsi_vdi_uuid(best->scsi_id, uuid);
	if (managed_add(&m, uuid) < 0) {
		sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		goto out;
	}
	if (managed_save(ctx, &m) < 0)
		goto out;
	sm_log(LOG_INFO, "vdi_create: LUN %d (%" PRIu64 " bytes, SCSIid %s) is VDI %s", best->lun,
	       best->size, best->scsi_id, uuid);
	rc = set_result_vdi(ctx, uuid);
out:
	free(ll.l);
	managed_free(&m);
	return rc;
}

/* The LUN stays as it is; it only becomes free for the next vdi_create (LUNperVDI.delete). */
static int iscsi_vdi_delete(struct sm_ctx *ctx)
{
	return managed_set_one(ctx, ctx->call->vdi_uuid, false);
}

/*
 * The LUN that sm_config LUNid names becomes a managed VDI with the uuid
 * of its SCSIid (LUNperVDI.introduce: new_uuid is not used).
 */
static int iscsi_vdi_introduce(struct sm_ctx *ctx)
{
	const struct xr_value *smc = ctx->call->vdi_sm_config;
	const char *id = smc ? xr_struct_get_string(smc, "LUNid") : NULL;
	const struct sm_iscsi_lun *l;
	struct lun_list ll;
	char uuid[37];
	uint64_t n;
	int rc;

	if (!id || !*id)
		return sm_fail(&ctx->err, SME_CONFIG_LUNID_MISSING, "vdi_introduce needs sm_config LUNid");
	if (sm_parse_u64(id, &n) < 0 || n > 65535)
		return sm_fail(&ctx->err, SME_CONFIG_LUNID_MISSING,
			       "sm_config LUNid '%.40s' is not a LUN number", id);
	if (list_luns(ctx, &ll) < 0)
		return -1;
	l = lun_by_id(&ll, (int)n);
	if (!l) {
		free(ll.l);
		return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "%s has no disk LUN %" PRIu64,
			       IS(ctx)->t.target_iqn, n);
	}
	sm_iscsi_vdi_uuid(l->scsi_id, uuid);
	free(ll.l);
	rc = managed_set_one(ctx, uuid, true);
	return rc < 0 ? -1 : set_result_vdi(ctx, uuid);
}

static struct xr_value *attach_result(struct sm_ctx *ctx, const char *dev)
{
	struct sm_attach_info a = {
		.sr_uuid = ctx->call->sr_uuid, .vdi_uuid = ctx->call->vdi_uuid, .params = dev,
		.storage_type = "iscsi", .vdi_type = "phy", .o_direct = true,
	};

	return sm_attach_result(&a, NULL);
}

/*
 * The VDI's LUN is found on the target (46 when it is not there), and its
 * block device through its SCSIid: /dev/disk/by-id/scsi-<SCSIid> or the
 * /dev/sdX of the kernel session.  Without a kernel initiator there is
 * none, and the fault says so.
 */
static int lun_device(struct sm_ctx *ctx, const char *uuid, char dev[PATH_MAX])
{
	bool kernel = sm_iscsi_kernel_available();
	const struct sm_iscsi_lun *l;
	struct lun_list ll;
	char scsi_id[SM_ISCSI_SCSIID_MAX];
	int rc;

	if (list_luns(ctx, &ll) < 0)
		return -1;
	l = lun_by_uuid(&ll, uuid);
	if (l)
		snprintf(scsi_id, sizeof(scsi_id), "%s", l->scsi_id);
	free(ll.l);
	if (!l)
		return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "no LUN of %s has the SCSIid of VDI %s",
			       IS(ctx)->t.target_iqn, uuid);
	rc = sm_iscsi_device_for_scsi_id(scsi_id, kernel ? ISCSI_DEVICE_WAIT_MS : 0, dev,
					 PATH_MAX, &ctx->err);
	if (rc < 0 && !kernel) {
		sm_error_clear(&ctx->err);
		return sm_fail(&ctx->err, SME_ISCSI_DEVICE, "LUN %s of VDI %s: this host has no kernel "
			       "iSCSI initiator (iscsiadm and the iscsi_tcp module), so no block device",
			       scsi_id, uuid);
	}
	return rc < 0 ? -1 : 0;
}

static int writable_arg(struct sm_ctx *ctx, bool *rw)
{
	const char *w;

	if (call_arg(ctx->call, 0, &w, &ctx->err) < 0)
		return -1;
	if (sm_parse_bool(w, rw) < 0)
		return sm_fail(&ctx->err, SME_BAD_REQUEST, "%s: argument must be true or false",
			       ctx->call->method);
	return 0;
}

static int iscsi_vdi_attach(struct sm_ctx *ctx)
{
	char dev[PATH_MAX];
	bool rw;

	if (writable_arg(ctx, &rw) < 0 || lun_device(ctx, ctx->call->vdi_uuid, dev) < 0)
		return -1;
	ctx->result = attach_result(ctx, dev);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

/* Nothing to undo (no multipath map): asks nothing of the target, idempotent. */
static int iscsi_vdi_detach(struct sm_ctx *ctx)
{
	return 0;
}

/*
 * The data path (docs/data-path.md): the LUN's block device served raw on
 * params_nbd's socket by nbdkit and our plugin (device= format=raw), as
 * the VHD SRs serve their chains; idempotent, read-only when asked.  No
 * activation record: a LUN has no chain for a GC to merge.  CSM_NBD as
 * for the other SR types (auto: serve when nbdkit and the plugin are here).
 */
static int iscsi_vdi_activate(struct sm_ctx *ctx)
{
	const char *uuid = ctx->call->vdi_uuid;
	char dev[PATH_MAX], dev_arg[PATH_MAX + 8];
	const char *args[] = { dev_arg, "format=raw", NULL };
	struct nbd_serve_spec spec = { .sr_uuid = ctx->call->sr_uuid, .vdi_uuid = uuid,
				       .plugin_args = args };
	struct nbd_server srv;
	bool rw;

	if (writable_arg(ctx, &rw) < 0)
		return -1;
	spec.readonly = !rw;
	if (!nbd_serve_wanted(uuid))
		return 0;
	if (lun_device(ctx, uuid, dev) < 0) {
		sm_error_recode(&ctx->err, SME_VDI_UNAVAILABLE);
		return -1;
	}
	snprintf(dev_arg, sizeof(dev_arg), "device=%s", dev);
	return nbd_serve_start(&spec, &srv, SME_VDI_UNAVAILABLE, &ctx->err);
}

/* Flush and stop the server; a VM must always shut down, so never a fault. */
static int iscsi_vdi_deactivate(struct sm_ctx *ctx)
{
	if (nbd_serve_stop(ctx->call->sr_uuid, ctx->call->vdi_uuid, SME_VDI_UNAVAILABLE,
			   &ctx->err) < 0) {
		sm_log(LOG_WARNING, "vdi_deactivate: %s", ctx->err.detail);
		sm_error_clear(&ctx->err);
	}
	return 0;
}

static const struct sm_config_key iscsi_config[] = {
	{ "target", "IP address or hostname of the iSCSI target (required)" },
	{ "targetIQN", "The IQN of the target LUN group to be attached (required)" },
	{ "chapuser", "The username to be used during CHAP authentication (optional)" },
	{ "chappassword", "The password to be used during CHAP authentication (optional)" },
	{ "incoming_chapuser",
	  "The incoming username to be used during bi-directional CHAP authentication (optional)" },
	{ "incoming_chappassword",
	  "The incoming password to be used during bi-directional CHAP authentication (optional)" },
	{ "port", "The network port number on which to query the target (optional)" },
	{ "multihomed", "Enable multi-homing to this target, true or false (optional, defaults to "
	  "same value as host.other_config:multipathing)" },
	{ "force_tapdisk", "Force use of tapdisk, true or false (optional, defaults to false)" },
	{ "iscsi-timeout", "bound of each control call (connect, discovery, login, commands), "
	  "seconds (optional, default 15)" },
	{ NULL, NULL },
};

const struct sm_driver sm_iscsi_driver = {
	.type = "iscsi",
	.name = "iSCSI",
	.description = "Base ISCSI SR driver, provides a LUN-per-VDI. Does not support creation of "
		       "VDIs but accesses existing LUNs on a target.",
	.vendor = "Citrix Systems Inc",
	.copyright = "(C) 2008 Citrix Systems Inc",
	.driver_version = "1.0",
	.required_api_version = "1.0",
	.configuration = iscsi_config,
	.priv_size = sizeof(struct iscsi_state),
	/* Several hosts see one target: only the master hands out LUNs. */
	.shared = true,
	.load = iscsi_load,
	.unload = iscsi_unload,
	.collect = iscsi_collect,
	.ops = {
		[SM_OP_SR_CREATE] = iscsi_sr_create,
		[SM_OP_SR_DELETE] = iscsi_sr_delete,
		[SM_OP_SR_ATTACH] = iscsi_sr_attach,
		[SM_OP_SR_DETACH] = iscsi_sr_detach,
		[SM_OP_SR_SCAN] = iscsi_sr_scan,
		[SM_OP_SR_PROBE] = iscsi_sr_probe,
		[SM_OP_VDI_CREATE] = iscsi_vdi_create,
		[SM_OP_VDI_DELETE] = iscsi_vdi_delete,
		[SM_OP_VDI_ATTACH] = iscsi_vdi_attach,
		[SM_OP_VDI_DETACH] = iscsi_vdi_detach,
		[SM_OP_VDI_ACTIVATE] = iscsi_vdi_activate,
		[SM_OP_VDI_DEACTIVATE] = iscsi_vdi_deactivate,
		[SM_OP_VDI_INTRODUCE] = iscsi_vdi_introduce,
	},
};
