/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * FileSR (type "file"): VDIs as VHD files in a local directory, dconf
 * "location".  The Python SM bind-mounts the directory at
 * /run/sr-mount/<sr_uuid>; we work on the directory itself and make
 * /run/sr-mount/<sr_uuid> a symlink to it at attach, which gives
 * tapdisk the same paths without needing mount privileges.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/log.h"
#include "csm/util.h"
#include "file_base.h"
#include "filebased.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* An absolute, already-normalised path: nothing for ".." tricks to hide in. */
static int location_check(const char *loc, struct sm_error *err)
{
	if (loc[0] != '/')
		return sm_fail(err, SME_INVALID_ARG, "location '%.200s' is not an absolute path", loc);
	if (strlen(loc) >= FSR_PATH_MAX)
		return sm_fail(err, SME_INVALID_ARG, "location is too long");
	if (strstr(loc, "//") || strstr(loc, "/./") || strstr(loc, "/../") ||
	    ends_with(loc, "/.") || ends_with(loc, "/.."))
		return sm_fail(err, SME_INVALID_ARG, "location '%.200s' is not a normalised path", loc);
	if (sm_has_illegal_xml_char(loc))
		return sm_fail(err, SME_INVALID_ARG, "location contains control characters");
	return 0;
}

static int file_load(struct sm_ctx *ctx)
{
	const char *loc = call_dconf(ctx->call, "location");
	struct file_sr *sr;

	if (!loc || !*loc)
		return sm_fail(&ctx->err, SME_CONFIG_LOCATION_MISSING, NULL);
	if (location_check(loc, &ctx->err) < 0)
		return -1;
	sr = fsr_new_local(ctx, loc);
	if (!sr)
		return -1;
	/* blktap2: local files are not on a filesystem it trusts with O_DIRECT off. */
	sr->o_direct = true;
	sr->o_direct_reason = "SR_NOT_SUPPORTED";
	return 0;
}

static struct file_sr *SR(struct sm_ctx *ctx)
{
	return ctx->sr;
}

static int dir_is_empty(const char *path, int *empty)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return -errno;
	*empty = 1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			*empty = 0;
			break;
		}
	}
	closedir(d);
	return 0;
}

static int write_marker(const struct file_sr *sr, struct sm_error *err)
{
	char path[PATH_MAX], text[64];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", sr->path, FSR_MARKER);
	snprintf(text, sizeof(text), "uuid=%s\n", sr->sr_uuid);
	rc = sm_write_file_atomic(path, text, strlen(text));
	if (rc < 0)
		return sm_fail_errno(err, SME_FILE_SR_CREATE, -rc, "%s", path);
	return 0;
}

static int file_sr_create(struct sm_ctx *ctx)
{
	struct file_sr *sr = SR(ctx);
	const char *size_s;
	uint64_t size;
	struct stat st;
	int empty = 0, rc;
	bool made = false;

	if (call_arg(ctx->call, 0, &size_s, &ctx->err) < 0)
		return -1;
	if (sm_parse_u64(size_s, &size) < 0)
		return sm_fail(&ctx->err, SME_INVALID_ARG, "physical_size '%.40s' is not a decimal number", size_s);
	if (stat(sr->path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return sm_fail(&ctx->err, SME_FILE_SR_CREATE, "%s exists and is not a directory", sr->path);
		rc = dir_is_empty(sr->path, &empty);
		if (rc < 0)
			return sm_fail_errno(&ctx->err, SME_FILE_SR_CREATE, -rc, "%s", sr->path);
		if (!empty)
			return sm_fail(&ctx->err, SME_SR_EXISTS, "%s is not empty", sr->path);
	} else {
		rc = sm_mkdir_p(sr->path, 0700);
		if (rc < 0)
			return sm_fail_errno(&ctx->err, SME_FILE_SR_CREATE, -rc, "mkdir %s", sr->path);
		made = true;
	}
	if (write_marker(sr, &ctx->err) < 0) {
		/* A failed create leaves no SR directory behind (an adopted one stays). */
		if (made)
			rmdir(sr->path);
		return -1;
	}
	return 0;
}

static void mount_link(const struct file_sr *sr, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s", sm_mount_base(), sr->sr_uuid);
}

static int file_sr_attach(struct sm_ctx *ctx)
{
	struct file_sr *sr = SR(ctx);
	char link_path[PATH_MAX], target[PATH_MAX];
	struct stat st, st_loc;
	ssize_t n;
	int rc;

	if (stat(sr->path, &st_loc) < 0 || !S_ISDIR(st_loc.st_mode))
		return sm_fail(&ctx->err, SME_SR_UNAVAILABLE, "%s is not a directory", sr->path);
	fsr_remove_leftovers(sr);
	rc = sm_mkdir_p(sm_mount_base(), 0755);
	if (rc < 0)
		return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, -rc, "mkdir %s", sm_mount_base());
	mount_link(sr, link_path);
	n = readlink(link_path, target, sizeof(target) - 1);
	if (n >= 0) {
		target[n] = '\0';
		if (strcmp(target, sr->path) == 0)
			return 0;   /* already attached: idempotent */
		if (unlink(link_path) < 0)
			return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, errno, "%s", link_path);
	} else if (lstat(link_path, &st) == 0) {
		/* A bind mount made by the Python SM serves as well. */
		if (S_ISDIR(st.st_mode) && stat(link_path, &st) == 0 &&
		    st.st_dev == st_loc.st_dev && st.st_ino == st_loc.st_ino)
			return 0;
		return sm_fail(&ctx->err, SME_SR_UNAVAILABLE, "%s exists and is not this SR", link_path);
	}
	if (symlink(sr->path, link_path) < 0)
		return sm_fail_errno(&ctx->err, SME_SR_UNAVAILABLE, errno, "symlink %s", link_path);
	return 0;
}

static int file_sr_detach(struct sm_ctx *ctx)
{
	char link_path[PATH_MAX];
	struct stat st;

	mount_link(SR(ctx), link_path);
	if (lstat(link_path, &st) < 0 || !S_ISLNK(st.st_mode))
		return 0;   /* not attached, or not ours to remove: idempotent */
	if (unlink(link_path) < 0 && errno != ENOENT)
		return sm_fail_errno(&ctx->err, SME_SR_IN_USE, errno, "%s", link_path);
	return 0;
}

static int file_sr_delete(struct sm_ctx *ctx)
{
	struct file_sr *sr = SR(ctx);
	char marker[PATH_MAX], gcflag[PATH_MAX];
	struct stat st;
	int rc;

	if (stat(sr->path, &st) < 0 && errno == ENOENT)
		return file_sr_detach(ctx);   /* already gone: idempotent */
	fsr_gc_stop_begin(ctx->call->sr_uuid, gcflag);
	rc = fsr_sr_empty(ctx);
	fsr_gc_stop_end(gcflag);
	if (rc < 0)
		return -1;
	snprintf(marker, sizeof(marker), "%s/%s", sr->path, FSR_MARKER);
	unlink(marker);
	if (file_sr_detach(ctx) < 0)
		return -1;
	/* sr_create made or adopted the directory; leave it only if others put files there. */
	if (rmdir(sr->path) < 0 && errno != ENOTEMPTY && errno != EEXIST)
		return sm_fail_errno(&ctx->err, SME_FILE_SR_RMDIR, errno, "%s", sr->path);
	return 0;
}

/* The marker's SR uuid, or "" when there is none (not an SR, or not ours). */
static void marker_uuid(const struct file_sr *sr, char uuid[37])
{
	char marker[PATH_MAX], *text = NULL;

	uuid[0] = '\0';
	snprintf(marker, sizeof(marker), "%s/%s", sr->path, FSR_MARKER);
	if (sm_read_file(marker, 256, &text) == 0 && strncmp(text, "uuid=", 5) == 0) {
		snprintf(uuid, 37, "%.36s", text + 5);
		if (!sm_uuid_valid(uuid))
			uuid[0] = '\0';
	}
	free(text);
}

static int file_sr_probe(struct sm_ctx *ctx)
{
	struct file_sr *sr = SR(ctx);
	struct sm_buf b = SM_BUF_INIT;
	char uuid[37], *doc;
	struct stat st;

	marker_uuid(sr, uuid);
	if (stat(sr->path, &st) == 0 && S_ISDIR(st.st_mode) && uuid[0]) {
		buf_printf(&b, "<?xml version=\"1.0\" ?>\n<SRlist>\n\t<SR>\n\t\t<UUID>%s</UUID>\n"
			   "\t\t<Location>", uuid);
		/* A directory name may hold '&' and '<': as minidom writes a text node. */
		buf_put_xml_escaped(&b, sr->path, true);
		buf_puts(&b, "</Location>\n\t</SR>\n</SRlist>\n");
	} else {
		buf_puts(&b, "<?xml version=\"1.0\" ?>\n<SRlist/>\n");
	}
	doc = buf_steal(&b);
	ctx->result = doc ? xr_string(doc) : NULL;
	free(doc);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

static const struct sm_config_key file_config[] = {
	{ "location", "local directory path (required)" },
	{ NULL, NULL },
};

static const char *const file_traits[] = { "THIN_PROVISIONING", NULL };

/* Everything VDI-shaped is the file store's (sm_file_base); here, how the directory is reached. */
const struct sm_driver sm_file_driver = {
	.type = "file",
	.name = "Local Path VHD",
	.description = "SR plugin which represents disks as VHD files stored on a local path",
	.vendor = "Citrix Systems Inc",
	.copyright = "(C) 2008 Citrix Systems Inc",
	.driver_version = "1.0",
	.required_api_version = "1.0",
	.configuration = file_config,
	.traits = file_traits,
	.base = &sm_file_base,
	.load = file_load,
	.ops = {
		[SM_OP_SR_CREATE] = file_sr_create,
		[SM_OP_SR_DELETE] = file_sr_delete,
		[SM_OP_SR_ATTACH] = file_sr_attach,
		[SM_OP_SR_DETACH] = file_sr_detach,
		[SM_OP_SR_PROBE] = file_sr_probe,
	},
};
