/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * SCSIid -> block device without udev (the VM test host has none):
 * /dev/disk/by-id/scsi-<SCSIid> when udev made it (what the Python SM
 * returns), else the sd device whose identity in sysfs gives that SCSIid.
 *
 * The kernel's /sys/block/sdX/device/wwid is "naa.<hex>", "eui.<hex>" or
 * "t10.<text>"; udev's scsi_id prints the same designator as the type
 * digit (3, 2, 1) and the identifier.  Both take the same designator for
 * the LUNs that matter (NAA first); vpd_pg83 is decoded as well when the
 * VPD decoder (lib/iscsi.c, linked with libiscsi) is in the executable,
 * so a device whose kernel and udev choices differ is still found.
 *
 * CSM_SYSFS_ROOT and CSM_DEV_ROOT put /sys and /dev under a planted tree
 * for tests; CSM_ISCSI_DEVICE_MAP (test builds only) maps SCSIids to
 * devices outright, for tests on a host without an initiator.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csm/iscsi_host.h"
#include "csm/util.h"
#include "iscsi_host_internal.h"

/*
 * Weak: this file must not drag libiscsi into every executable that
 * resolves a device.  When lib/iscsi.o is linked (the iSCSI drivers use
 * it), the decoder is there and vpd_pg83 is read too.
 */
#pragma weak sm_iscsi_scsi_id_from_vpd83

#define POLL_MS 100

static const char *dev_root(void)
{
	const char *e = getenv("CSM_DEV_ROOT");

	return e ? e : "";
}

/* Runs of whitespace become one '_', as udev's --replace-whitespace and scsiutil.py. */
static void append_replacing_whitespace(char *out, size_t outsz, const char *s, size_t n)
{
	size_t o = strlen(out);
	bool in_space = false;

	for (size_t i = 0; i < n && o + 1 < outsz; i++) {
		if (isspace((unsigned char)s[i])) {
			in_space = true;
			continue;
		}
		if (in_space && o + 2 < outsz)
			out[o++] = '_';
		in_space = false;
		out[o++] = s[i];
	}
	out[o] = '\0';
}

int sm_iscsi_scsi_id_from_wwid(const char *wwid, char *out, size_t outsz)
{
	size_t n = strcspn(wwid, "\n");
	const char *v = wwid + 4;

	if (outsz < 2 || n <= 4)
		return -1;
	if (strncmp(wwid, "naa.", 4) == 0 || strncmp(wwid, "eui.", 4) == 0) {
		if (n - 4 + 2 > outsz)
			return -1;
		for (size_t i = 4; i < n; i++)
			if (!isxdigit((unsigned char)wwid[i]))
				return -1;
		out[0] = wwid[0] == 'n' ? '3' : '2';
		for (size_t i = 4; i < n; i++)
			out[i - 3] = (char)tolower((unsigned char)wwid[i]);
		out[n - 3] = '\0';
		return 0;
	}
	if (strncmp(wwid, "t10.", 4) == 0) {
		/* The kernel escapes the designator's padding NULs as "\000"; udev stops at them. */
		const char *nul = strstr(v, "\\000");
		size_t len = (nul && (size_t)(nul - wwid) < n ? (size_t)(nul - wwid) : n) - 4;

		while (len && isspace((unsigned char)v[len - 1]))
			len--;
		while (len && isspace((unsigned char)*v)) {
			v++;
			len--;
		}
		if (!len)
			return -1;
		strcpy(out, "1");
		append_replacing_whitespace(out, outsz, v, len);
		return strlen(out) + 1 < outsz ? 0 : -1;
	}
	return -1;
}

/* The SCSIid of /sys/block/<name> from vpd_pg83 (when the decoder is linked), else wwid. */
static bool sd_has_scsi_id(const char *sys, const char *name, const char *scsi_id)
{
	char path[4096], id[SM_ISCSI_SCSIID_MAX];
	char *text = NULL;
	bool match = false;

	if (sm_iscsi_scsi_id_from_vpd83) {
		FILE *f;
		uint8_t page[1024];
		size_t n = 0;

		snprintf(path, sizeof(path), "%s/sys/block/%s/device/vpd_pg83", sys, name);
		f = fopen(path, "rb");
		if (f) {
			n = fread(page, 1, sizeof(page), f);
			fclose(f);
		}
		if (n && sm_iscsi_scsi_id_from_vpd83(page, n, id, sizeof(id)) == 0 &&
		    strcmp(id, scsi_id) == 0)
			return true;
	}
	snprintf(path, sizeof(path), "%s/sys/block/%s/device/wwid", sys, name);
	if (sm_read_file(path, 1024, &text) == 0)
		match = sm_iscsi_scsi_id_from_wwid(text, id, sizeof(id)) == 0 &&
			strcmp(id, scsi_id) == 0;
	free(text);
	return match;
}

static int find_in_sysfs(const char *scsi_id, char *path, size_t pathsz)
{
	char dir[4096];
	struct dirent *de;
	int rc = -1;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/sys/block", sm_sysfs_root());
	d = opendir(dir);
	if (!d)
		return -1;
	while (rc < 0 && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "sd", 2) != 0 ||
		    !sd_has_scsi_id(sm_sysfs_root(), de->d_name, scsi_id))
			continue;
		if ((size_t)snprintf(path, pathsz, "%s/dev/%s", dev_root(), de->d_name) < pathsz)
			rc = 0;
	}
	closedir(d);
	return rc;
}

static int find_by_id(const char *scsi_id, char *path, size_t pathsz)
{
	struct stat st;

	if ((size_t)snprintf(path, pathsz, "%s/dev/disk/by-id/scsi-%s", dev_root(), scsi_id) >= pathsz)
		return -1;
	return stat(path, &st) == 0 ? 0 : -1;
}

#ifdef CSM_TEST_BUILD
/* CSM_ISCSI_DEVICE_MAP="<SCSIid>=<dev>[,<SCSIid>=<dev>...]" */
static int find_in_test_map(const char *scsi_id, char *path, size_t pathsz)
{
	const char *map = getenv("CSM_ISCSI_DEVICE_MAP");
	size_t idlen = strlen(scsi_id);

	while (map && *map) {
		size_t n = strcspn(map, ",");

		if (n > idlen + 1 && strncmp(map, scsi_id, idlen) == 0 && map[idlen] == '=') {
			if (n - idlen - 1 >= pathsz)
				return -1;
			memcpy(path, map + idlen + 1, n - idlen - 1);
			path[n - idlen - 1] = '\0';
			return 0;
		}
		map += n;
		if (*map == ',')
			map++;
	}
	return -1;
}
#else
static int find_in_test_map(const char *scsi_id, char *path, size_t pathsz)
{
	return -1;
}
#endif

static int find_once(const char *scsi_id, char *path, size_t pathsz)
{
	if (find_in_test_map(scsi_id, path, pathsz) == 0 || find_by_id(scsi_id, path, pathsz) == 0)
		return 0;
	return find_in_sysfs(scsi_id, path, pathsz);
}

static bool scsi_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= SM_ISCSI_SCSIID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ',' || s[i] == '=' || !isgraph((unsigned char)s[i]))
			return false;
	return true;
}

int sm_iscsi_device_for_scsi_id(const char *scsi_id, int wait_ms,
				char *path, size_t pathsz, struct sm_error *err)
{
	int64_t deadline = sm_monotonic_ms() + (wait_ms > 0 ? wait_ms : 0);

	if (!scsi_id_valid(scsi_id))
		return sm_fail(err, SME_CONFIG_SCSIID, "'%s' is not a SCSIid", scsi_id ? scsi_id : "");
	for (;;) {
		int64_t left;

		if (find_once(scsi_id, path, pathsz) == 0)
			return 0;
		left = deadline - sm_monotonic_ms();
		if (left <= 0)
			break;
		usleep((useconds_t)(left < POLL_MS ? left : POLL_MS) * 1000);
	}
	path[0] = '\0';
	return sm_fail(err, SME_ISCSI_DEVICE, "no block device with SCSIid %s%s", scsi_id,
		       wait_ms > 0 ? " appeared in time" : "");
}
