/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * EXTSR (type "ext"): FileSR's VHD files on an ext4 file system in one
 * logical volume over local devices, dconf "device" (comma-separated).
 * The layout is the Python SM's, so either can attach the other's SRs:
 *
 *   volume group   XSLocalEXT-<sr_uuid> over the devices
 *   logical volume <sr_uuid>, all of the group, ext4
 *   mounted at     <SM_MOUNT_BASE or /run/sr-mount>/<sr_uuid>
 *
 * Everything VDI-shaped is filebased.c's on the mounted directory; this
 * file reaches the directory (LVM, fsck, mount) and refuses to format a
 * device that holds anything.
 */
#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "csm/exec.h"
#include "csm/log.h"
#include "csm/lvm.h"
#include "csm/util.h"
#include "blockdev.h"
#include "file_base.h"
#include "filebased.h"

#define EXT_VG_PREFIX "XSLocalEXT-"
/* mkfs.ext4 and fsck of a large disk take minutes; a hung one must not hang xapi. */
#define EXT_TOOL_TIMEOUT 1800

/* What EXT keeps beside the file store's state (ctx->sr): its layer's priv. */
struct ext_state {
	struct blockdev_list devs;             /* dconf device, split at commas */
	const char *const *dev;                /* devs.dev */
	size_t ndev;
	char vg[LVM_NAME_MAX];                 /* XSLocalEXT-<sr_uuid> */
	char lv[SM_UUID_LEN + 1];              /* <sr_uuid> */
	char lv_dev[PATH_MAX];                 /* /dev/<vg>/<sr_uuid> */
	bool lv_mapped;                        /* lv_dev from CSM_EXT_DEVICE_MAP */
	char mnt[PATH_MAX];
	struct lvm lvm;
	bool lvm_open;
};

extern const struct sm_driver sm_ext_driver;

static struct ext_state *EXT(struct sm_ctx *ctx)
{
	return sm_priv(ctx, &sm_ext_driver);
}

static struct file_sr *SR(struct sm_ctx *ctx)
{
	return ctx->sr;
}

/* ---- dconf ------------------------------------------------------------- */

#ifdef CSM_TEST_BUILD
/*
 * CSM_EXT_DEVICE_MAP="<vg>/<lv>=<dev>" (test builds only): a host without
 * device-mapper cannot activate the SR's LV, so the test names a device
 * that shows the LV's extents (a loop device over them) and the driver uses
 * it for mkfs, fsck and mount, leaving LVM's activation out.
 */
static void ext_test_map(struct ext_state *e)
{
	const char *map = getenv("CSM_EXT_DEVICE_MAP");
	char key[2 * LVM_NAME_MAX + 2];
	size_t klen;

	klen = (size_t)snprintf(key, sizeof(key), "%s/%s=", e->vg, e->lv);
	if (!map || strncmp(map, key, klen) != 0 || strlen(map + klen) >= sizeof(e->lv_dev))
		return;
	snprintf(e->lv_dev, sizeof(e->lv_dev), "%s", map + klen);
	e->lv_mapped = true;
}
#else
static void ext_test_map(struct ext_state *e)
{
	(void)e;
}
#endif

static int ext_load(struct sm_ctx *ctx)
{
	const char *uuid = ctx->call->sr_uuid;
	struct ext_state *e = EXT(ctx);
	struct file_sr *sr;

	if (blockdev_list_parse(call_dconf(ctx->call, "device"), &e->devs, &ctx->err) < 0)
		return -1;
	e->dev = e->devs.dev;
	e->ndev = e->devs.n;
	/* sr_probe carries no sr_uuid: it needs the devices only. */
	if (uuid) {
		snprintf(e->vg, sizeof(e->vg), EXT_VG_PREFIX "%s", uuid);
		snprintf(e->lv, sizeof(e->lv), "%s", uuid);
		snprintf(e->lv_dev, sizeof(e->lv_dev), "/dev/%s/%s", e->vg, uuid);
		snprintf(e->mnt, sizeof(e->mnt), "%s/%s", sm_mount_base(), uuid);
		ext_test_map(e);
	} else {
		snprintf(e->mnt, sizeof(e->mnt), "%s", sm_mount_base());
	}
	sr = fsr_new_local(ctx, e->mnt);
	if (!sr)
		return -1;
	sr->storage_type = "ext";
	sr->o_direct = false;
	sr->o_direct_reason = "";
	return 0;
}

static void ext_unload(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);

	if (e->lvm_open)
		lvm_close(&e->lvm);
	blockdev_list_free(&e->devs);
}

/*
 * A mapped LV (test builds) is never activated: LVM runs with activation
 * as lvm_open_opts finds it (off without device-mapper), the SR's master.
 */
static int ext_lvm_open(struct ext_state *e, struct sm_error *err)
{
	const char *backup = getenv("CSM_LVM_BACKUP");
	struct lvm_opts o = { .master = true, .keep_backups = !(backup && strcmp(backup, "off") == 0) };

	if (e->lv_mapped)
		return lvm_open_opts(&e->lvm, e->dev, e->ndev, &o, err);
	return lvm_open(&e->lvm, e->dev, e->ndev, err);
}

/* liblvm2cmd is opened on first use: sr_scan and the VDI ops never need it. */
static struct lvm *LVM(struct ext_state *e, struct sm_error *err)
{
	if (!e->lvm_open) {
		if (ext_lvm_open(e, err) < 0)
			return NULL;
		e->lvm_open = true;
	}
	return &e->lvm;
}

/* ---- mounts ------------------------------------------------------------ */

/* Is the SR's LV mounted at the mount point?  Something else there is an error. */
static int sr_mounted(const struct ext_state *e, bool *mounted, struct sm_error *err)
{
	struct stat st;
	dev_t d;

	*mounted = false;
	if (!blockdev_find_mount(e->mnt, 0, &d, NULL, 0))
		return 0;
	if (stat(e->lv_dev, &st) < 0 || st.st_rdev != d)
		return sm_fail(err, SME_SR_UNAVAILABLE, "%s is mounted from device %u:%u, not %s",
			       e->mnt, major(d), minor(d), e->lv_dev);
	*mounted = true;
	return 0;
}

/*
 * The guard of the file store's ops: unmounted, the mount point is a
 * directory of the root file system, and a VDI made there would be lost
 * at the next mount.
 */
static int require_mounted(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);
	bool m;

	if (sr_mounted(e, &m, &ctx->err) < 0)
		return -1;
	if (!m)
		return sm_fail(&ctx->err, SME_SR_UNAVAILABLE, "the SR is not attached: %s is not mounted",
			       e->mnt);
	return 0;
}

/*
 * filebased.c reaches the directory through an srfs that keeps a
 * descriptor of it: drop it whenever what is mounted there changes, or it
 * would pin the mount (umount: EBUSY) or keep meaning the directory under it.
 */
static void fs_forget(struct sm_ctx *ctx)
{
	fsr_release_fs(SR(ctx));
}

static int do_umount(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);
	bool m;

	if (sr_mounted(e, &m, &ctx->err) < 0)
		return -1;
	fs_forget(ctx);
	if (m) {
		char flag[PATH_MAX];
		int rc = -1;

		/* A GC working on the mount holds it busy: stop it, retry a moment. */
		for (int i = 0; i < 4; i++) {
			if (i > 0)
				sleep(1);
			fsr_gc_stop_begin(ctx->call->sr_uuid, flag);
			rc = umount(e->mnt);
			if (rc == 0 || errno != EBUSY)
				break;
		}
		fsr_gc_stop_end(flag);
		if (rc < 0)
			return sm_fail_errno(&ctx->err, SME_SR_IN_USE, errno, "umount %s", e->mnt);
	}
	/* The Python SM removes the mount point too; a leftover is harmless. */
	rmdir(e->mnt);
	return 0;
}

/* ---- checks before formatting ------------------------------------------ */

static int run_tool(const char *const argv[], int code, bool ok1, struct sm_error *err)
{
	struct sm_exec_result r;
	int rc = sm_exec(argv, EXT_TOOL_TIMEOUT, &r);

	if (rc < 0)
		return sm_fail_errno(err, code, -rc, "cannot run %s", argv[0]);
	if (r.timed_out)
		return sm_fail(err, code, "%s %s killed after %d s", argv[0], argv[1], EXT_TOOL_TIMEOUT);
	if (r.status == 0 || (ok1 && r.status == 1))
		return 0;
	return sm_fail(err, code, "%s failed with status %d: %.600s", argv[0], r.status, r.output);
}

/* ---- sr_create / sr_delete ----------------------------------------------- */

enum create_stage { MADE_NOTHING, MADE_PVS, MADE_VG, MADE_LV };

/* Roll back a failed create; the original error stays the one reported. */
static void create_undo(const struct ext_state *e, struct lvm *l, enum create_stage stage)
{
	struct sm_error undo = { 0 };

	if (stage >= MADE_LV && lvm_lvremove(l, e->vg, e->lv, &undo) < 0)
		sm_log(LOG_ERR, "sr_create rollback: %s", undo.detail);
	sm_error_clear(&undo);
	if (stage >= MADE_VG && lvm_vgremove(l, e->vg, &undo) < 0)
		sm_log(LOG_ERR, "sr_create rollback: %s", undo.detail);
	sm_error_clear(&undo);
	if (stage >= MADE_PVS && lvm_pvremove(l, e->dev, e->ndev, &undo) < 0)
		sm_log(LOG_ERR, "sr_create rollback: %s", undo.detail);
}

static int ext_sr_create(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);
	const char *size_s;
	enum create_stage stage = MADE_NOTHING;
	struct sm_error undo_err = { 0 };
	struct lvm *l;
	uint64_t size;
	bool exists;

	if (call_arg(ctx->call, 0, &size_s, &ctx->err) < 0)
		return -1;
	if (sm_parse_u64(size_s, &size) < 0)
		return sm_fail(&ctx->err, SME_INVALID_ARG, "physical_size '%.40s' is not a decimal number", size_s);
	if (blockdev_find_mount(e->mnt, 0, NULL, NULL, 0))
		return sm_fail(&ctx->err, SME_SR_EXISTS, "%s is already mounted", e->mnt);
	for (size_t i = 0; i < e->ndev; i++)
		if (blockdev_free(e->dev[i], &ctx->err) < 0)
			return -1;
	l = LVM(e, &ctx->err);
	if (!l || lvm_vg_info(l, e->vg, &exists, NULL, NULL, &ctx->err) < 0)
		return -1;
	if (exists)
		return sm_fail(&ctx->err, SME_SR_EXISTS, "volume group %s already exists", e->vg);
	for (size_t i = 0; i < e->ndev; i++)
		if (blockdev_not_pv(l, e->vg, e->dev[i], &ctx->err) < 0 ||
		    blockdev_blank(e->dev[i], &ctx->err) < 0)
			return -1;

	if (lvm_pvcreate(l, e->dev, e->ndev, &ctx->err) < 0) {
		/* Some of several devices may have become PVs. */
		if (lvm_pvremove(l, e->dev, e->ndev, &undo_err) < 0)
			sm_log(LOG_INFO, "sr_create rollback: %s", undo_err.detail);
		return -1;
	}
	stage = MADE_PVS;
	if (lvm_vgcreate(l, e->vg, e->dev, e->ndev, &ctx->err) < 0)
		goto undo;
	stage = MADE_VG;
	if (lvm_lvcreate_all(l, e->vg, e->lv, &ctx->err) < 0)
		goto undo;
	stage = MADE_LV;
	{
		const char *mkfs[] = { "mkfs.ext4", "-F", "-q", e->lv_dev, NULL };

		if (run_tool(mkfs, SME_LVM_FILESYSTEM, false, &ctx->err) < 0)
			goto undo;
	}
	/* Created SRs are left detached; sr_attach activates and mounts. */
	if (!e->lv_mapped && lvm_vg_activate(l, e->vg, false, &undo_err) < 0)
		sm_log(LOG_WARNING, "sr_create: %s", undo_err.detail);
	return 0;
undo:
	create_undo(e, l, stage);
	return -1;
}

/* Activate, check and mount; idempotent when already mounted there. */
static int attach_fs(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);
	const char *fsck[] = { "fsck", "-a", e->lv_dev, NULL };
	struct lvm *l;
	bool exists, mounted;
	int rc;

	if (sr_mounted(e, &mounted, &ctx->err) < 0)
		return -1;
	if (mounted)
		return 0;
	l = LVM(e, &ctx->err);
	if (!l || lvm_vg_info(l, e->vg, &exists, NULL, NULL, &ctx->err) < 0)
		return -1;
	if (!exists)
		return sm_fail(&ctx->err, SME_SR_UNAVAILABLE, "volume group %s not found on %s",
			       e->vg, call_dconf(ctx->call, "device"));
	if (!e->lv_mapped && lvm_lv_activate(l, e->vg, e->lv, true, &ctx->err) < 0)
		return -1;
	/* fsck -a: 1 means "errors corrected", which is what we asked for. */
	if (run_tool(fsck, SME_LVM_MOUNT, true, &ctx->err) < 0)
		return -1;
	rc = sm_mkdir_p(e->mnt, 0755);
	if (rc < 0)
		return sm_fail_errno(&ctx->err, SME_LVM_MOUNT, -rc, "mkdir %s", e->mnt);
	if (mount(e->lv_dev, e->mnt, "ext4", 0, NULL) < 0)
		return sm_fail_errno(&ctx->err, SME_LVM_MOUNT, errno, "mount %s on %s", e->lv_dev,
				     e->mnt);
	fs_forget(ctx);
	return 0;
}

static int ext_sr_attach(struct sm_ctx *ctx)
{
	if (attach_fs(ctx) < 0)
		return -1;
	/* The dispatcher's recovery ran before the file system was there. */
	if (fsr_recover(ctx) < 0)
		return -1;
	fsr_remove_leftovers(SR(ctx));
	return 0;
}

static int ext_sr_detach(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);
	struct lvm *l;
	bool exists;

	if (do_umount(ctx) < 0)
		return -1;
	l = LVM(e, &ctx->err);
	if (!l || lvm_lv_exists(l, e->vg, e->lv, &exists, &ctx->err) < 0)
		return -1;
	if (!exists || e->lv_mapped)
		return 0;   /* nothing to deactivate: idempotent */
	return lvm_lv_activate(l, e->vg, e->lv, false, &ctx->err);
}

static int ext_sr_delete(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);
	struct lvm_rows pvs = { 0 };
	struct lvm *l = LVM(e, &ctx->err);
	bool exists;
	int rc = -1;

	if (!l || lvm_vg_info(l, e->vg, &exists, NULL, NULL, &ctx->err) < 0)
		return -1;
	if (!exists)
		return do_umount(ctx);   /* already gone: idempotent */
	if (lvm_lv_exists(l, e->vg, e->lv, &exists, &ctx->err) < 0)
		return -1;
	if (exists) {
		/* The files go first, and only if no VDI is left, as FileSR's delete. */
		if (attach_fs(ctx) < 0 || fsr_recover(ctx) < 0 || fsr_sr_empty(ctx) < 0)
			return -1;
		if (do_umount(ctx) < 0)
			return -1;
		if (lvm_lvremove(l, e->vg, e->lv, &ctx->err) < 0)
			return -1;
	}
	/* Ask which PVs the group has before it is gone; they are the ones to wipe. */
	if (lvm_vg_pvs(l, e->vg, &pvs, &ctx->err) < 0)
		return -1;
	if (lvm_vgremove(l, e->vg, &ctx->err) < 0)
		goto out;
	if (pvs.n && lvm_pvremove(l, (const char *const *)pvs.row, pvs.n, &ctx->err) < 0)
		goto out;
	rc = 0;
out:
	lvm_rows_free(&pvs);
	return rc;
}

/* ---- sr_probe ------------------------------------------------------------ */

struct probe_sr {
	char uuid[LVM_NAME_MAX];
	char devlist[LVM_MAX_DEVICES * 520];
	uint64_t size;
};

/* One <SR> per XSLocalEXT-* group on the devices, its devices in dconf order. */
static int probe_collect(const struct ext_state *e, struct lvm *l, struct probe_sr *found,
			 size_t *nfound, struct sm_error *err)
{
	for (size_t i = 0; i < e->ndev; i++) {
		char vg[LVM_NAME_MAX];
		struct probe_sr *p = NULL;
		size_t off;
		bool is_pv;

		if (lvm_pv_vg(l, e->dev[i], &is_pv, vg, err) < 0)
			return -1;
		if (!is_pv || strncmp(vg, EXT_VG_PREFIX, strlen(EXT_VG_PREFIX)) != 0)
			continue;
		for (size_t j = 0; j < *nfound && !p; j++)
			if (strcmp(found[j].uuid, vg + strlen(EXT_VG_PREFIX)) == 0)
				p = &found[j];
		if (p) {
			off = strlen(p->devlist);
			snprintf(p->devlist + off, sizeof(p->devlist) - off, ",%s", e->dev[i]);
			continue;
		}
		p = &found[(*nfound)++];
		snprintf(p->uuid, sizeof(p->uuid), "%s", vg + strlen(EXT_VG_PREFIX));
		snprintf(p->devlist, sizeof(p->devlist), "%s", e->dev[i]);
		if (lvm_vg_info(l, vg, &is_pv, &p->size, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* The reference's srlist_toxml. */
static int ext_sr_probe(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);
	struct lvm *l = LVM(e, &ctx->err);
	struct probe_sr *found = NULL;
	size_t nfound = 0, len, off;
	char *doc = NULL;
	int rc = -1;

	if (!l)
		return -1;
	/* At most one SR per device. */
	found = calloc(LVM_MAX_DEVICES, sizeof(*found));
	if (!found)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	if (probe_collect(e, l, found, &nfound, &ctx->err) < 0)
		goto out;
	if (nfound == 0) {
		ctx->result = xr_string("<?xml version=\"1.0\" ?>\n<SRlist/>\n");
		rc = ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		goto out;
	}
	len = 64 + nfound * (sizeof(found[0].devlist) + 256);
	doc = malloc(len);
	if (!doc) {
		sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		goto out;
	}
	off = snprintf(doc, len, "<?xml version=\"1.0\" ?>\n<SRlist>\n");
	for (size_t j = 0; j < nfound; j++)
		off += snprintf(doc + off, len - off,
				"\t<SR>\n\t\t<UUID>%s</UUID>\n\t\t<Devlist>%s</Devlist>\n"
				"\t\t<size>%llu</size>\n\t</SR>\n",
				found[j].uuid, found[j].devlist, (unsigned long long)found[j].size);
	snprintf(doc + off, len - off, "</SRlist>\n");
	ctx->result = xr_string(doc);
	rc = ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
out:
	free(doc);
	free(found);
	return rc;
}

/* ---- everything else: the file store on the mounted directory ------------ */

/* Journals live in the file system: nothing to repair while it is not mounted. */
static int ext_recover(struct sm_ctx *ctx)
{
	struct ext_state *e = EXT(ctx);
	bool m;

	if (!e->lv[0] || sr_mounted(e, &m, &ctx->err) < 0 || !m) {
		sm_error_clear(&ctx->err);
		return 0;
	}
	return sm_recover_lower(ctx, &sm_ext_driver);
}

static const struct sm_config_key ext_config[] = {
	{ "device", "local device path (required) (e.g. /dev/sda3)" },
	{ NULL, NULL },
};

static const char *const ext_traits[] = { "THIN_PROVISIONING", NULL };

const struct sm_driver sm_ext_driver = {
	.type = "ext",
	.name = "Local EXT3 VHD",
	.description = "SR plugin which represents disks as VHD files stored on a local EXT3 "
		       "filesystem, created inside an LVM volume",
	.vendor = "Citrix Systems Inc",
	.copyright = "(C) 2008 Citrix Systems Inc",
	.driver_version = "1.0",
	.required_api_version = "1.0",
	.configuration = ext_config,
	.traits = ext_traits,
	.base = &sm_file_base,
	.priv_size = sizeof(struct ext_state),
	.load = ext_load,
	.unload = ext_unload,
	.recover = ext_recover,
	.guard = require_mounted,
	/*
	 * What the file store does on the SR's files needs the file system.
	 * Not sr_content_type, and not vdi_detach, vdi_deactivate and
	 * vdi_detach_from_config: they touch no file of the SR, so a host
	 * can take VDIs out of use with the SR unmounted.
	 */
	.guarded = {
		[SM_OP_SR_SCAN] = true,
		[SM_OP_SR_UPDATE] = true,
		[SM_OP_VDI_CREATE] = true,
		[SM_OP_VDI_DELETE] = true,
		[SM_OP_VDI_ATTACH] = true,
		[SM_OP_VDI_ACTIVATE] = true,
		[SM_OP_VDI_SNAPSHOT] = true,
		[SM_OP_VDI_CLONE] = true,
		[SM_OP_VDI_RESIZE] = true,
		[SM_OP_VDI_INTRODUCE] = true,
		[SM_OP_VDI_UPDATE] = true,
		[SM_OP_VDI_GENERATE_CONFIG] = true,
		[SM_OP_VDI_ATTACH_FROM_CONFIG] = true,
		[SM_OP_VDI_LOCK] = true,
		[SM_OP_VDI_UNLOCK] = true,
	},
	.ops = {
		[SM_OP_SR_CREATE] = ext_sr_create,
		[SM_OP_SR_DELETE] = ext_sr_delete,
		[SM_OP_SR_ATTACH] = ext_sr_attach,
		[SM_OP_SR_DETACH] = ext_sr_detach,
		[SM_OP_SR_PROBE] = ext_sr_probe,
	},
};
