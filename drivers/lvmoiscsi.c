/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * LVMoISCSISR (type "lvmoiscsi"): LVMSR on one iSCSI LUN.  This layer
 * sits on the LVMSR table (.base = &sm_lvm_driver) and does only what the
 * LUN needs; every SR and VDI operation on the volume group is LVMSR's:
 *
 *   load        dconf (target, port, targetIQN, localIQN, CHAP, SCSIid or
 *               the legacy LUNid); the LUN's block device found from its
 *               SCSIid and handed to LVMSR as its device (lvmsr.h).
 *               sr_create, sr_attach and vdi_attach_from_config first
 *               check the target through libiscsi (bounded: 141, 68, 83,
 *               107) and log in with the kernel initiator (the session
 *               refcount /run/sr-ref/<IQN> as the Python SM keeps it)
 *   sr_probe    three stages: the IQN list (96), the LUN list (107), the
 *               SRs on the LUN, read through libiscsi without a login of
 *               the host (lvm_label.h), else LVMSR's probe on the device
 *   sr_create   LVMSR's, then logout; any failure is 47 with the inner fault
 *   sr_attach   a VG with a PV off this LUN is refused (119), then LVMSR's;
 *               the session is given back when anything fails
 *   sr_detach,  LVMSR's, then the session given back (logout when this
 *   sr_delete   was its last SR)
 *   vdi_generate_config  LVMSR's, with the initiator name in the config
 *
 * The Python SM's LVHDoISCSISR is the reference (block-family.md §D).
 * Test builds: CSM_ISCSI_DEVICE_MAP="<SCSIid>=<dev>" stands for the kernel
 * initiator (csm/iscsi_host.h); no iscsiadm runs then.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/buf.h"
#include "csm/iscsi.h"
#include "csm/iscsi_host.h"
#include "csm/log.h"
#include "csm/lvm.h"
#include "csm/lvm_label.h"
#include "csm/util.h"
#include "lvmsr.h"

/* How long sr_attach waits for the LUN's device after the kernel login (Python: 15 s). */
#define LUN_WAIT_MS 15000
#define VG_PREFIX "VG_XenStorage-"
/* The LUN's device as the Python SM names it (its dconf device). */
#define BY_ID_PREFIX "/dev/disk/by-id/scsi-"

struct lvmoiscsi_state {
	struct sm_iscsi_target t;
	char host_iqn[SM_ISCSI_IQN_MAX];     /* the initiator name when not in dconf */
	bool have_target;                     /* t is filled from dconf */
	char scsi_id[SM_ISCSI_SCSIID_MAX];
	char device[PATH_MAX];                /* the LUN's block device, LVMSR's device */
	/* This call took a reference on the session: unload gives it back unless the op keeps it. */
	bool session_held;
	char ref_uuid[SM_UUID_LEN + 1];       /* whose reference session_held is */
	char any_iqn[SM_ISCSI_IQN_MAX];       /* targetIQN "*" in sr_probe: the target found */
};

extern const struct sm_driver sm_lvmoiscsi_driver;

static struct lvmoiscsi_state *IS(struct sm_ctx *ctx)
{
	return sm_priv(ctx, &sm_lvmoiscsi_driver);
}

/*
 * The kernel initiator carries the data, except in a test build given
 * CSM_ISCSI_DEVICE_MAP: the map then stands for it (a loop device on the
 * LUN's backing file), and no iscsiadm runs.
 */
static bool use_kernel(void)
{
#ifdef CSM_TEST_BUILD
	if (getenv("CSM_ISCSI_DEVICE_MAP"))
		return false;
#endif
	return sm_iscsi_kernel_available();
}

/* ---- dconf ---------------------------------------------------------------------- */

/* A SCSIid as scsi_id prints it: letters, digits and "_.:-", nothing a path could misuse. */
static int check_scsi_id(const char *id, struct sm_error *err)
{
	size_t n = strlen(id);

	if (n == 0 || n >= SM_ISCSI_SCSIID_MAX)
		return sm_fail(err, SME_CONFIG_SCSIID, "SCSIid must have 1 to %d characters",
			       SM_ISCSI_SCSIID_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("_.:-", id[i]))
			return sm_fail(err, SME_CONFIG_SCSIID,
				       "SCSIid '%.64s' has a character other than letters, digits and _.:-",
				       id);
	return 0;
}

static bool has_target_iqn(const struct lvmoiscsi_state *s)
{
	return s->t.target_iqn && s->t.target_iqn[0];
}

static int load_target(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);

	if (sm_iscsi_target_from_dconf(ctx->call->dconf, &s->t, s->host_iqn, sizeof(s->host_iqn),
				       &ctx->err) < 0)
		return -1;
	s->have_target = true;
	return 0;
}

/* ---- LUNs through libiscsi (no host state, bounded) -------------------------------- */

/* The direct-access LUNs of the target; *luns malloc'd. */
static int list_luns(struct lvmoiscsi_state *s, struct sm_iscsi_lun **luns, size_t *n,
		     struct sm_error *err)
{
	struct sm_iscsi_session *sess = NULL;
	int rc;

	*luns = NULL;
	*n = 0;
	if (sm_iscsi_session_open(&s->t, &sess, err) < 0)
		return -1;
	rc = sm_iscsi_session_luns(sess, luns, n, err);
	sm_iscsi_session_close(sess);
	return rc;
}

/* The LUN list on stderr, as the Python SM prints it (print() adds the last newline). */
static void print_luns(const struct sm_iscsi_lun *l, size_t n)
{
	struct sm_buf b = SM_BUF_INIT;
	char *doc;

	sm_iscsi_write_lun_list(&b, l, n);
	doc = buf_steal(&b);
	if (doc) {
		fprintf(stderr, "%s\n", doc);
		fflush(stderr);
	}
	free(doc);
}

/* No SCSIid: the LUN list on stderr, then 107 (the second probe stage, and any other call). */
static int fail_with_lun_list(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	struct sm_iscsi_lun *luns;
	size_t n;

	if (list_luns(s, &luns, &n, &ctx->err) < 0)
		return -1;
	print_luns(luns, n);
	free(luns);
	return sm_fail(&ctx->err, SME_CONFIG_SCSIID, "SCSIid is not given: the LUNs of %s are "
		       "listed on stderr", s->t.target_iqn);
}

/*
 * Legacy dconf LUNid instead of SCSIid: one LUN number (a list of more is
 * 99, an SR is one LUN), whose SCSIid the target tells.
 */
static int scsi_id_from_lun_id(struct sm_ctx *ctx, const char *lun_id)
{
	struct lvmoiscsi_state *s = IS(ctx);
	struct sm_iscsi_lun *luns;
	uint64_t want;
	size_t n, i;
	int rc;

	if (strchr(lun_id, ','))
		return sm_fail(&ctx->err, SME_LVM_ONE_LUN, "LUNid '%.64s' names more than one LUN",
			       lun_id);
	if (sm_parse_u64(lun_id, &want) < 0)
		return sm_fail(&ctx->err, SME_CONFIG_SCSIID, "LUNid '%.64s' is not a LUN number",
			       lun_id);
	if (list_luns(s, &luns, &n, &ctx->err) < 0)
		return -1;
	for (i = 0; i < n && (uint64_t)luns[i].lun != want; i++)
		;
	if (i == n) {
		rc = sm_fail(&ctx->err, SME_CONFIG_SCSIID, "%s has no disk at LUN %.16s",
			     s->t.target_iqn, lun_id);
	} else {
		snprintf(s->scsi_id, sizeof(s->scsi_id), "%s", luns[i].scsi_id);
		rc = 0;
	}
	free(luns);
	return rc;
}

/* The SR's LUN: dconf SCSIid, else the legacy LUNid, else the LUN list and 107. */
static int load_scsi_id(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	const char *id = call_dconf(ctx->call, "SCSIid");
	const char *lun_id = call_dconf(ctx->call, "LUNid");

	if (id && *id) {
		if (check_scsi_id(id, &ctx->err) < 0)
			return -1;
		snprintf(s->scsi_id, sizeof(s->scsi_id), "%s", id);
		return 0;
	}
	if (!s->have_target && load_target(ctx) < 0)
		return -1;
	if (!has_target_iqn(s))
		return sm_fail(&ctx->err, SME_CONFIG_TARGET_IQN_MISSING, NULL);
	if (lun_id && *lun_id)
		return scsi_id_from_lun_id(ctx, lun_id);
	return fail_with_lun_list(ctx);
}

/* ---- the session ------------------------------------------------------------------------ */

/* The target answers our login and has the SR's LUN (bounded; the precise faults). */
static int check_target(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	struct sm_iscsi_lun *luns;
	size_t n;
	bool found = false;

	if (list_luns(s, &luns, &n, &ctx->err) < 0)
		return -1;
	for (size_t i = 0; i < n && !found; i++)
		found = strcmp(luns[i].scsi_id, s->scsi_id) == 0;
	free(luns);
	if (!found)
		return sm_fail(&ctx->err, SME_CONFIG_SCSIID, "%s has no LUN with SCSIid %s",
			       s->t.target_iqn, s->scsi_id);
	return 0;
}

/*
 * Is the SR listed in the IQN's sr-ref file already, i.e. attached before
 * this call?  Then this call takes no reference and unload gives none
 * back: a refused sr_create of an attached SR used to remove its line and
 * log the host out under the SR's active LVs (found by
 * tests/vm/guest/tests/test_lvmoiscsisr.sh).  The SR lock keeps the line
 * from changing between this look and sm_iscsi_ref_add.
 */
static bool ref_listed(const char *target_iqn, const char *sr_uuid)
{
	const char *dir = getenv("CSM_SR_REF_DIR");
	size_t n = strlen(sr_uuid);
	char path[PATH_MAX], *text = NULL;
	bool found = false;

	if (strchr(target_iqn, '/'))
		return false;
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/run/sr-ref", target_iqn);
	if (sm_read_file(path, 1u << 20, &text) < 0)
		return false;
	for (const char *l = text; l && *l && !found; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		found = strncmp(l, sr_uuid, n) == 0 && (l[n] == '\n' || l[n] == '\0');
	free(text);
	return found;
}

/*
 * Log this SR in: the target checked, the kernel session (when there is
 * a kernel initiator), the SR's reference on it (sr_probe: a temporary
 * uuid's, as the Python SM's probe), the LUN's device.
 */
static int session_take(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	bool kernel = use_kernel(), held_before;

	if (strcmp(s->t.target_iqn, "*") == 0)
		return sm_fail(&ctx->err, SME_CONFIG_TARGET_IQN_MISSING,
			       "targetIQN '*' (every target of the portal) is for sr_probe only: "
			       "name the target");
	if (ctx->call->sr_uuid)
		snprintf(s->ref_uuid, sizeof(s->ref_uuid), "%s", ctx->call->sr_uuid);
	else
		sm_uuid_generate(s->ref_uuid);
	if (check_target(ctx) < 0)
		return -1;
	if (kernel && sm_iscsi_kernel_login(&s->t, &ctx->err) < 0)
		return -1;
	held_before = ref_listed(s->t.target_iqn, s->ref_uuid);
	if (sm_iscsi_ref_add(s->t.target_iqn, s->ref_uuid, &ctx->err) < 0)
		return -1;
	s->session_held = !held_before;
	if (sm_iscsi_device_for_scsi_id(s->scsi_id, kernel ? LUN_WAIT_MS : 0, s->device,
					sizeof(s->device), &ctx->err) == 0)
		return 0;
	/* Say why there is no device, rather than that it did not appear. */
	if (!kernel && !sm_iscsi_kernel_available()) {
		sm_error_clear(&ctx->err);
		sm_fail(&ctx->err, SME_ISCSI_DEVICE, "LUN %s has no block device here: this host "
			"has no kernel iSCSI initiator (iscsiadm and the iscsi_tcp module)", s->scsi_id);
	}
	return -1;
}

/* The SR's reference given back; the last SR on the target logs the host out. */
static int session_release(struct lvmoiscsi_state *s, const char *sr_uuid, struct sm_error *err)
{
	int left;

	s->session_held = false;
	left = sm_iscsi_ref_remove(s->t.target_iqn, sr_uuid, err);
	if (left < 0)
		return -1;
	if (left > 0 || !use_kernel() || !sm_iscsi_kernel_session_exists(s->t.target_iqn))
		return 0;
	return sm_iscsi_kernel_logout(s->t.target_iqn, false, err);
}

/*
 * The Python SM's checkPVScsiIds: every PV of the SR's VG must be on this
 * LUN.  LVM sees only the LUN's device (its filter), so a PV elsewhere, on
 * another LUN, shows as one the VG has but LVM cannot find.
 */
static int check_pvs_on_lun(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	const char *argv[] = { "vgs", "--noheadings", "--separator", "|", "-o",
			       "vg_name,pv_count,vg_missing_pv_count", NULL };
	const char *dev = s->device;
	struct lvm_opts o = { .master = ctx->call->sr_master };
	char vg[LVM_NAME_MAX];
	struct lvm_rows rows = { 0 };
	struct lvm l;
	int rc = 0;

	snprintf(vg, sizeof(vg), VG_PREFIX "%s", ctx->call->sr_uuid);
	if (lvm_open_opts(&l, &dev, 1, &o, &ctx->err) < 0)
		return -1;
	if (lvm_run(&l, argv, &rows, SME_SM_GENERAL, &ctx->err) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < rows.n; i++) {
		char name[LVM_NAME_MAX];
		unsigned pvs, missing;

		if (sscanf(rows.row[i], " %127[^|]|%u|%u", name, &pvs, &missing) != 3 ||
		    strcmp(name, vg) != 0)
			continue;
		if (pvs > 1)
			rc = sm_fail(&ctx->err, SME_PV_MULTI_IDS,
				     "%s has %u PVs, %u of them not on LUN %s (%s): an SR is one LUN",
				     vg, pvs, missing ? missing : pvs - 1, s->scsi_id, s->device);
	}
	lvm_rows_free(&rows);
	lvm_close(&l);
	return rc;
}

/* ---- load / unload -------------------------------------------------------------------- */

/* sr_probe: stages 1 and 2 need no device; stage 3 finds its own (lvmoiscsi_sr_probe). */
static int load_probe(struct sm_ctx *ctx)
{
	lvmsr_defer_probe(ctx);
	return load_target(ctx);
}

static bool takes_session(enum sm_op op)
{
	return op == SM_OP_SR_CREATE || op == SM_OP_SR_ATTACH || op == SM_OP_VDI_ATTACH_FROM_CONFIG;
}

/*
 * The SR commands, and the two that carry a session in a config, read the
 * whole iSCSI dconf; the VDI commands only need the LUN (the SR's session
 * exists), as the Python SM's load.
 */
static bool needs_target(enum sm_op op)
{
	switch (op) {
	case SM_OP_SR_CREATE:
	case SM_OP_SR_DELETE:
	case SM_OP_SR_ATTACH:
	case SM_OP_SR_DETACH:
	case SM_OP_SR_SCAN:
	case SM_OP_SR_UPDATE:
	case SM_OP_SR_CONTENT_TYPE:
	case SM_OP_VDI_GENERATE_CONFIG:
	case SM_OP_VDI_ATTACH_FROM_CONFIG:
		return true;
	default:
		return false;
	}
}

/* Is the failure the target's or the session's (not the configuration's)? */
static bool session_fault(int code)
{
	return code != SME_CONFIG_TARGET_MISSING && code != SME_CONFIG_TARGET_IQN_MISSING &&
	       code != SME_CONFIG_ISCSI_IQN_MISSING && code != SME_ISCSI_PORT &&
	       code != SME_INVALID_SECRET && code != SME_INVALID_ARG && code != SME_CONFIG_SCSIID &&
	       code != SME_LVM_ONE_LUN && code != SME_BAD_REQUEST;
}

/* Python's create turns every failure past the configuration into 47 with the inner fault. */
static void create_fault(struct sm_ctx *ctx)
{
	char *inner;

	if (!ctx->err.code || !session_fault(ctx->err.code))
		return;
	inner = sm_error_fault_string(&ctx->err);
	sm_error_clear(&ctx->err);
	sm_fail(&ctx->err, SME_SR_UNAVAILABLE, "%s", inner ? inner : "out of memory");
	free(inner);
}

static int lvmoiscsi_load(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	enum sm_op op = ctx->call->op;
	int rc;

	if (op == SM_OP_SR_PROBE)
		return load_probe(ctx);
	if (needs_target(op) && load_target(ctx) < 0)
		return -1;
	if (load_scsi_id(ctx) < 0)
		return -1;
	if (takes_session(op))
		rc = session_take(ctx);
	else
		rc = sm_iscsi_device_for_scsi_id(s->scsi_id, 0, s->device, sizeof(s->device),
						 &ctx->err);
	if (rc == 0 && op == SM_OP_SR_ATTACH)
		rc = check_pvs_on_lun(ctx);
	if (rc < 0 && op == SM_OP_SR_CREATE)
		create_fault(ctx);
	if (rc == 0)
		lvmsr_use_device(ctx, s->device);
	return rc;
}

/* A session this call took and no op kept: given back, also after a failed load. */
static void lvmoiscsi_unload(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	struct sm_error e = { 0 };

	if (s->session_held && session_release(s, s->ref_uuid, &e) < 0)
		sm_log(LOG_WARNING, "%s: cannot log out of %s: %s", ctx->call->method,
		       s->t.target_iqn, e.detail);
	sm_error_clear(&e);
}

/* ---- sr_probe ---------------------------------------------------------------------------- */

/* Stage 1, no targetIQN: the portal's targets on stderr, then 96. */
static int probe_iqns(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	struct sm_iscsi_discovered *d;
	struct sm_buf b = SM_BUF_INIT;
	size_t n;
	char *doc;

	if (sm_iscsi_discover(&s->t, &d, &n, &ctx->err) < 0)
		return -1;
	sm_iscsi_write_iqn_list_at(&b, d, n, s->t.target_as_given, s->t.port);
	free(d);
	doc = buf_steal(&b);
	if (!doc)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	fprintf(stderr, "%s\n", doc);
	fflush(stderr);
	free(doc);
	return sm_fail(&ctx->err, SME_CONFIG_TARGET_IQN_MISSING, NULL);
}

/* targetIQN "*" in sr_probe: the portal's first target, as the Python SM's first session. */
static int resolve_any_target(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	struct sm_iscsi_discovered *d;
	size_t n;

	if (strcmp(s->t.target_iqn, "*") != 0)
		return 0;
	if (sm_iscsi_discover(&s->t, &d, &n, &ctx->err) < 0)
		return -1;
	if (n == 0) {
		free(d);
		return sm_fail(&ctx->err, SME_ISCSI_DISCOVERY, "%s:%d lists no target", s->t.host,
			       s->t.port);
	}
	snprintf(s->any_iqn, sizeof(s->any_iqn), "%s", d[0].iqn);
	free(d);
	s->t.target_iqn = s->any_iqn;
	return 0;
}

/* The LVM label reader's reads, through the libiscsi session; the iSCSI fault kept apart. */
struct lun_reader {
	struct sm_iscsi_session *sess;
	int lun;
	struct sm_error err;
};

static int read_lun(void *arg, uint64_t off, void *buf, size_t len)
{
	struct lun_reader *r = arg;

	return sm_iscsi_session_read(r->sess, r->lun, off, buf, len, &r->err) < 0 ? -EIO : 0;
}

/* LVHDSR's <SRlist>: the SR whose VG is on the LUN, or none. */
static int answer_srlist(struct sm_ctx *ctx, const struct sm_lvm_pv_info *pv)
{
	const char *uuid = pv->vg_name + strlen(VG_PREFIX);
	struct sm_buf b = SM_BUF_INIT;
	char *doc;

	if (strncmp(pv->vg_name, VG_PREFIX, strlen(VG_PREFIX)) != 0 || !sm_uuid_valid(uuid)) {
		sm_iscsi_write_srlist_empty(&b);
	} else {
		buf_puts(&b, "<?xml version=\"1.0\" ?>\n<SRlist>\n");
		buf_printf(&b, "\t<SR>\n\t\t<UUID>%s</UUID>\n\t\t<Devlist>%s%s</Devlist>\n"
			   "\t\t<size>%" PRIu64 "</size>\n\t</SR>\n",
			   uuid, BY_ID_PREFIX, IS(ctx)->scsi_id, pv->vg_size);
		buf_puts(&b, "</SRlist>\n");
	}
	doc = buf_steal(&b);
	ctx->result = doc ? xr_string(doc) : NULL;
	free(doc);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

/*
 * Stage 3 without touching the host: the LVM label and the VG metadata of
 * the LUN read through libiscsi.  0 with the answer, 1 when they cannot be
 * read that way (the caller falls back to a login), -1 on a fault (the
 * target's: a target that dies here is 141, not a fallback).
 */
static int probe_by_label(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	struct lun_reader r = { 0 };
	struct sm_iscsi_lun *luns = NULL;
	struct sm_lvm_pv_info pv;
	struct sm_error lerr = { 0 };
	size_t n, i;
	int rc = -1, got;

	if (sm_iscsi_session_open(&s->t, &r.sess, &ctx->err) < 0)
		return -1;
	if (sm_iscsi_session_luns(r.sess, &luns, &n, &ctx->err) < 0)
		goto out;
	for (i = 0; i < n && strcmp(luns[i].scsi_id, s->scsi_id) != 0; i++)
		;
	if (i == n) {
		sm_fail(&ctx->err, SME_CONFIG_SCSIID, "%s has no LUN with SCSIid %s", s->t.target_iqn,
			s->scsi_id);
		goto out;
	}
	r.lun = luns[i].lun;
	got = sm_lvm_label_read(read_lun, &r, &pv, &lerr);
	if (got == SM_LVM_NO_LABEL) {
		memset(&pv, 0, sizeof(pv));
		got = 0;
	}
	if (got == 0) {
		rc = answer_srlist(ctx, &pv);
	} else if (r.err.code) {
		ctx->err = r.err;
	} else {
		sm_log(LOG_INFO, "sr_probe: cannot read LUN %d's LVM metadata through libiscsi (%s); "
		       "logging in instead", r.lun, lerr.detail);
		rc = 1;
	}
out:
	free(luns);
	sm_iscsi_session_close(r.sess);
	return rc;
}

/*
 * Test builds: CSM_LVMOISCSI_PROBE_BY_LOGIN makes stage 3 take the
 * fallback (login, LVMSR's probe) on a LUN the label reader could read,
 * so the tests run that path too.
 */
static bool probe_by_login_forced(void)
{
#ifdef CSM_TEST_BUILD
	return getenv("CSM_LVMOISCSI_PROBE_BY_LOGIN") != NULL;
#else
	return false;
#endif
}

static int lvmoiscsi_sr_probe(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	const char *id = call_dconf(ctx->call, "SCSIid");
	int rc;

	if (!has_target_iqn(s))
		return probe_iqns(ctx);
	if (resolve_any_target(ctx) < 0)
		return -1;
	if (!id || !*id)
		return fail_with_lun_list(ctx);
	if (check_scsi_id(id, &ctx->err) < 0)
		return -1;
	snprintf(s->scsi_id, sizeof(s->scsi_id), "%s", id);
	rc = probe_by_login_forced() ? 1 : probe_by_label(ctx);
	if (rc <= 0)
		return rc;
	/* The label could not be read through libiscsi: log in and ask LVM, as Python does. */
	if (session_take(ctx) < 0 || lvmsr_probe_device(ctx, s->device) < 0)
		return -1;
	return sm_call_lower(ctx, &sm_lvmoiscsi_driver);
}

/* ---- sr_create, sr_attach, sr_detach, sr_delete ------------------------------------------- */

/* The session goes in unload: sr_create leaves the host as it found it. */
static int lvmoiscsi_sr_create(struct sm_ctx *ctx)
{
	/* LVMSR's sr_create leaves the new VG inactive (LVHDSR's createVG ends with
	 * vgchange -an), so the logout strands no device-mapper node. */
	if (sm_call_lower(ctx, &sm_lvmoiscsi_driver) == 0)
		return 0;
	create_fault(ctx);
	return -1;
}

/* On success the session stays until sr_detach; on failure unload gives it back. */
static int lvmoiscsi_sr_attach(struct sm_ctx *ctx)
{
	if (sm_call_lower(ctx, &sm_lvmoiscsi_driver) < 0)
		return -1;
	IS(ctx)->session_held = false;
	return 0;
}

/* LVMSR first (the VG goes down), then the SR's reference and, the last one, the session. */
static int lvmoiscsi_sr_release(struct sm_ctx *ctx)
{
	if (sm_call_lower(ctx, &sm_lvmoiscsi_driver) < 0)
		return -1;
	return session_release(IS(ctx), ctx->call->sr_uuid, &ctx->err);
}

/* ---- the HA statefile path: vdi_generate_config, vdi_attach_from_config ------------------- */

/*
 * The config replays vdi_attach_from_config at boot, with no toolstack:
 * it carries dconf as given (CHAP passwords included, as the Python SM's;
 * a *_secret key was refused at load) plus the initiator name when it
 * came from this host's file.
 */
static int lvmoiscsi_vdi_generate_config(struct sm_ctx *ctx)
{
	struct lvmoiscsi_state *s = IS(ctx);
	const struct xr_value *given = ctx->call->dconf;
	const char *given_iqn = call_dconf(ctx->call, "localIQN");
	struct xr_value *dconf;
	int rc;

	if (given_iqn && *given_iqn)
		return sm_call_lower(ctx, &sm_lvmoiscsi_driver);
	dconf = xr_struct();
	if (!dconf)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	for (size_t i = 0; i < given->u.st.count; i++)
		if (strcmp(given->u.st.members[i].name, "localIQN") != 0 &&
		    xr_struct_set_string(dconf, given->u.st.members[i].name,
					 given->u.st.members[i].value->u.str) < 0)
			goto oom;
	if (xr_struct_set_string(dconf, "localIQN", s->t.initiator_iqn) < 0)
		goto oom;
	ctx->call->dconf = dconf;
	rc = sm_call_lower(ctx, &sm_lvmoiscsi_driver);
	ctx->call->dconf = given;
	xr_free(dconf);
	return rc;
oom:
	xr_free(dconf);
	return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

/* Logged in at load; the session stays with the attached VDI (Python: 47 on any failure). */
static int lvmoiscsi_vdi_attach_from_config(struct sm_ctx *ctx)
{
	if (sm_call_lower(ctx, &sm_lvmoiscsi_driver) < 0) {
		sm_error_recode(&ctx->err, SME_SR_UNAVAILABLE);
		return -1;
	}
	IS(ctx)->session_held = false;
	return 0;
}

/* ---- the table ------------------------------------------------------------------------------ */

static const struct sm_config_key lvmoiscsi_config[] = {
	{ "target", "IP address or hostname of the iSCSI target (required)" },
	{ "targetIQN", "the IQN of the target (required; sr_probe without it lists the portal's)" },
	{ "SCSIid", "the SCSI id of the SR's LUN (sr_probe without it lists the target's LUNs)" },
	{ "port", "the portal's TCP port (default 3260)" },
	{ "localIQN", "this host's initiator IQN (default: /etc/iscsi/initiatorname.iscsi)" },
	{ "chapuser", "the username for one-way CHAP" },
	{ "chappassword", "the password for one-way CHAP" },
	{ "incoming_chapuser", "the username the target answers mutual CHAP with" },
	{ "incoming_chappassword", "the password the target answers mutual CHAP with" },
	{ "LUNid", "legacy: the LUN number, for a target with one LUN" },
	{ "allocation", "thick (default) or thin provisioning of VHD LVs" },
	{ "iscsi-timeout", "bound of each control call (connect, discovery, login, commands), "
	  "seconds (optional, default 15)" },
	{ NULL, NULL },
};

/*
 * LVHDoISCSISR adds SR_METADATA and SR_CACHING to LVHDSR's list: neither
 * is done here (no metadata=true probe, no IntelliCache), so neither is
 * claimed.  VDI_GENERATE_CONFIG comes from the op.
 */
static const char *const lvmoiscsi_traits[] = { NULL };

const struct sm_driver sm_lvmoiscsi_driver = {
	.type = "lvmoiscsi",
	.name = "LVHD over iSCSI",
	.description = "SR plugin which represents disks as Logical Volumes within a Volume Group "
		       "created on an iSCSI LUN",
	.vendor = "Citrix Systems Inc",
	.copyright = "(C) 2008 Citrix Systems Inc",
	.driver_version = "1.0",
	.required_api_version = "1.0",
	.configuration = lvmoiscsi_config,
	.traits = lvmoiscsi_traits,
	.base = &sm_lvm_driver,
	.priv_size = sizeof(struct lvmoiscsi_state),
	.shared = true,
	.load = lvmoiscsi_load,
	.unload = lvmoiscsi_unload,
	.ops = {
		[SM_OP_SR_PROBE] = lvmoiscsi_sr_probe,
		[SM_OP_SR_CREATE] = lvmoiscsi_sr_create,
		[SM_OP_SR_ATTACH] = lvmoiscsi_sr_attach,
		[SM_OP_SR_DETACH] = lvmoiscsi_sr_release,
		[SM_OP_SR_DELETE] = lvmoiscsi_sr_release,
		[SM_OP_VDI_GENERATE_CONFIG] = lvmoiscsi_vdi_generate_config,
		[SM_OP_VDI_ATTACH_FROM_CONFIG] = lvmoiscsi_vdi_attach_from_config,
	},
};
