/* SPDX-License-Identifier: LGPL-2.1-only */
/* Local block devices: the dconf device list and the "in use" checks (blockdev.h). */
#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blockdev.h"

/* Characters LVM's filter and command line can carry (see lib/lvm.c). */
static bool dev_chars_ok(const char *p)
{
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("/_.:+-=@", *p)))
			return false;
	return true;
}

static int device_check(const char *dev, struct sm_error *err)
{
	struct stat st;

	if (dev[0] != '/')
		return sm_fail(err, SME_CONFIG_DEVICE_INVALID, "device '%.200s' is not an absolute path", dev);
	if (strlen(dev) > 512 || !dev_chars_ok(dev) || strstr(dev, "/../") || strstr(dev, "/./"))
		return sm_fail(err, SME_CONFIG_DEVICE_INVALID, "device '%.200s' is not a plain device path", dev);
	if (stat(dev, &st) < 0)
		return sm_fail_errno(err, SME_CONFIG_DEVICE_INVALID, errno, "device %s", dev);
	if (!S_ISBLK(st.st_mode))
		return sm_fail(err, SME_CONFIG_DEVICE_INVALID, "%s is not a block device", dev);
	return 0;
}

static bool same_rdev(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_rdev == sb.st_rdev;
}

int blockdev_list_parse(const char *device, struct blockdev_list *list, struct sm_error *err)
{
	char *save = NULL, *tok;

	memset(list, 0, sizeof(*list));
	if (!device || !*device)
		return sm_fail(err, SME_CONFIG_DEVICE_MISSING, NULL);
	list->buf = strdup(device);
	if (!list->buf)
		return sm_fail(err, SME_GENERIC, "out of memory");
	/* strtok would skip empty entries; "a,,b" is a typo to report. */
	for (tok = strtok_r(list->buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (list->n == LVM_MAX_DEVICES)
			return sm_fail(err, SME_CONFIG_DEVICE_INVALID, "more than %d devices",
				       LVM_MAX_DEVICES);
		if (device_check(tok, err) < 0)
			return -1;
		for (size_t i = 0; i < list->n; i++)
			if (same_rdev(list->dev[i], tok))
				return sm_fail(err, SME_CONFIG_DEVICE_INVALID,
					       "%s and %s are the same device", list->dev[i], tok);
		list->dev[list->n++] = tok;
	}
	if (list->n == 0 || strstr(device, ",,") || device[0] == ',' ||
	    device[strlen(device) - 1] == ',')
		return sm_fail(err, SME_CONFIG_DEVICE_INVALID, "empty entry in device list '%.200s'",
			       device);
	return 0;
}

void blockdev_list_free(struct blockdev_list *list)
{
	free(list->buf);
	memset(list, 0, sizeof(*list));
}


/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * Look through our mount table: by mount point (path != NULL: is it a mount
 * point, and of which device) or by device (the first place it is mounted).
 */
bool blockdev_find_mount(const char *path, dev_t dev, dev_t *dev_out, char *where, size_t wcap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		char mp[PATH_MAX];

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mp) != 3)
			continue;
		unescape(mp);
		if (path ? strcmp(mp, path) == 0 : makedev(maj, min) == dev) {
			found = true;
			if (dev_out)
				*dev_out = makedev(maj, min);
			if (where)
				snprintf(where, wcap, "%s", mp);
		}
	}
	free(line);
	fclose(f);
	return found;
}


/* Nothing may hold the device: a mount, swap, device-mapper, another opener with O_EXCL. */
int blockdev_free(const char *dev, struct sm_error *err)
{
	char where[PATH_MAX], holders[128];
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd;

	if (stat(dev, &st) < 0)
		return sm_fail_errno(err, SME_CONFIG_DEVICE_INVALID, errno, "%s", dev);
	if (blockdev_find_mount(NULL, st.st_rdev, NULL, where, sizeof(where)))
		return sm_fail(err, SME_SR_IN_USE, "device %s is mounted at %s", dev, where);
	fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0)
		return sm_fail_errno(err, SME_SR_IN_USE, errno,
				     "device %s cannot be opened exclusively (mounted, swap, "
				     "device-mapper or another SR?)", dev);
	close(fd);
	snprintf(holders, sizeof(holders), "/sys/dev/block/%u:%u/holders", major(st.st_rdev),
		 minor(st.st_rdev));
	d = opendir(holders);
	if (d) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			closedir(d);
			return sm_fail(err, SME_SR_IN_USE, "device %s is held by %s", dev, de->d_name);
		}
		closedir(d);
	}
	return 0;
}

/*
 * Any signature blkid knows (file system, swap, RAID, LVM, partition table)
 * means the device holds someone's data: the Python SM would zero it; we
 * refuse and say what is there.
 */
int blockdev_blank(const char *dev, struct sm_error *err)
{
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	const char *what = NULL, *kind = "file system";
	int rc;

	if (!pr)
		return sm_fail_errno(err, SME_SR_IN_USE, errno, "cannot probe %s", dev);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &what, NULL) < 0 &&
		    blkid_probe_lookup_value(pr, "PTTYPE", &what, NULL) == 0)
			kind = "partition table";
		rc = sm_fail(err, SME_LVM_PART_IN_USE,
			     "device %s holds a%s %s %s signature; erase it (wipefs -a) to make an SR there",
			     dev, what && strchr("aeiou", what[0]) ? "n" : "", what ? what : "unknown", kind);
	} else if (rc == -2) {
		rc = sm_fail(err, SME_LVM_PART_IN_USE, "device %s holds several conflicting signatures", dev);
	} else if (rc < 0) {
		rc = sm_fail(err, SME_SR_IN_USE, "cannot probe %s for signatures", dev);
	} else {
		rc = 0;
	}
	blkid_free_probe(pr);
	return rc;
}

/* Already LVM's?  Our own group is SRExists, anyone else's is in use. */
int blockdev_not_pv(struct lvm *l, const char *vg_want, const char *dev, struct sm_error *err)
{
	char vg[LVM_NAME_MAX];
	bool is_pv;

	if (lvm_pv_vg(l, dev, &is_pv, vg, err) < 0)
		return -1;
	if (!is_pv)
		return 0;
	if (strcmp(vg, vg_want) == 0)
		return sm_fail(err, SME_SR_EXISTS, "device %s already holds this SR's volume group %s",
			       dev, vg);
	if (vg[0])
		return sm_fail(err, SME_LVM_PART_IN_USE, "device %s is a physical volume of volume group %s",
			       dev, vg);
	return sm_fail(err, SME_LVM_PART_IN_USE, "device %s is already an LVM physical volume", dev);
}
