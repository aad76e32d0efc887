/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The host side of iSCSI that needs no initiator: the dconf rules, the
 * host's initiator name, and the /run/sr-ref/<IQN> session refcount.  The
 * kernel initiator is in iscsi_kernel.c, the SCSIid -> device resolution
 * in iscsi_device.c, the probe documents in iscsi_probe.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/iscsi_host.h"
#include "csm/util.h"

#define INITIATORNAME_FILE "/etc/iscsi/initiatorname.iscsi"
#define SR_REF_DIR "/run/sr-ref"

/* ---- dconf ---------------------------------------------------------- */

/* A dconf string, with "" treated as absent (xapi passes empty keys). */
static const char *dconf_str(const struct xr_value *dconf, const char *key)
{
	const char *v = dconf ? xr_struct_get_string(dconf, key) : NULL;

	return v && *v ? v : NULL;
}

/*
 * A *_secret key names a xapi secret; resolving it needs XenAPI, which the
 * driver does not have.  Refuse it rather than log in without CHAP.
 */
static int refuse_secret_keys(const struct xr_value *dconf, struct sm_error *err)
{
	static const char suffix[] = "_secret";

	if (!dconf || dconf->type != XR_STRUCT)
		return 0;
	for (size_t i = 0; i < dconf->u.st.count; i++) {
		const char *k = dconf->u.st.members[i].name;
		size_t n = strlen(k);

		if (n >= sizeof(suffix) - 1 && strcmp(k + n - (sizeof(suffix) - 1), suffix) == 0)
			return sm_fail(err, SME_INVALID_SECRET,
				       "%s: xapi secrets need the toolstack's XenAPI channel, which "
				       "this driver does not have yet; give the password in the "
				       "plain key instead", k);
	}
	return 0;
}

/* First element of a comma list, brackets of an IPv6 literal removed. */
static int parse_target(const char *target, char *host, size_t hostsz, struct sm_error *err)
{
	size_t n = strcspn(target, ",");

	if (n > 1 && target[0] == '[' && target[n - 1] == ']') {
		target++;
		n -= 2;
	}
	if (n == 0)
		return sm_fail(err, SME_CONFIG_TARGET_MISSING, "target has an empty first element");
	if (n >= hostsz)
		return sm_fail(err, SME_CONFIG_TARGET_MISSING, "target address longer than %zu bytes",
			       hostsz - 1);
	memcpy(host, target, n);
	host[n] = '\0';
	return 0;
}

/* Decimal digits only (no sign, no spaces), 1..65535, as Python's int() and range check. */
static int parse_port(const char *s, int *port, struct sm_error *err)
{
	long v = 0;

	if (!s) {
		*port = SM_ISCSI_DEFAULT_PORT;
		return 0;
	}
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p) || p - s >= 6)
			return sm_fail(err, SME_ISCSI_PORT, "port '%.16s' is not a number", s);
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > 65535)
		return sm_fail(err, SME_ISCSI_PORT, "port %ld is outside 1..65535", v);
	*port = (int)v;
	return 0;
}

/* A user without its password, or the reverse, is a configuration error. */
static int chap_pair(const struct xr_value *dconf, const char *ukey, const char *pkey,
		     const char **user, const char **password, struct sm_error *err)
{
	*user = dconf_str(dconf, ukey);
	*password = dconf_str(dconf, pkey);
	if (*user && !*password)
		return sm_fail(err, SME_INVALID_ARG, "%s is given but %s is missing", ukey, pkey);
	if (!*user && *password)
		return sm_fail(err, SME_INVALID_ARG, "%s is given but %s is missing", pkey, ukey);
	return 0;
}

int sm_iscsi_target_from_dconf(const struct xr_value *dconf, struct sm_iscsi_target *t,
			       char *iqn_buf, size_t iqn_bufsz, struct sm_error *err)
{
	const char *target = dconf_str(dconf, "target");

	memset(t, 0, sizeof(*t));
	if (refuse_secret_keys(dconf, err) < 0)
		return -1;
	if (!target)
		return sm_fail(err, SME_CONFIG_TARGET_MISSING, "dconf has no target");
	if (parse_target(target, t->host, sizeof(t->host), err) < 0 ||
	    parse_port(dconf ? xr_struct_get_string(dconf, "port") : NULL, &t->port, err) < 0 ||
	    chap_pair(dconf, "chapuser", "chappassword", &t->auth.user, &t->auth.password, err) < 0 ||
	    chap_pair(dconf, "incoming_chapuser", "incoming_chappassword",
		      &t->auth.in_user, &t->auth.in_password, err) < 0)
		return -1;
	t->target_as_given = target;
	t->target_iqn = dconf_str(dconf, "targetIQN");
	t->initiator_iqn = dconf_str(dconf, "localIQN");
	if (!t->initiator_iqn) {
		if (sm_iscsi_host_iqn(iqn_buf, iqn_bufsz, err) < 0)
			return -1;
		t->initiator_iqn = iqn_buf;
	}
	return 0;
}

/* ---- the host's initiator name -------------------------------------- */

static const char *initiatorname_file(void)
{
	const char *e = getenv("CSM_ISCSI_INITIATORNAME_FILE");

	return e && *e ? e : INITIATORNAME_FILE;
}

/* The value of an "InitiatorName = <iqn>" line, trimmed; NULL for other lines. */
static char *initiatorname_value(char *line)
{
	static const char key[] = "InitiatorName";
	char *end;

	while (isspace((unsigned char)*line))
		line++;
	if (*line == '#' || strncmp(line, key, sizeof(key) - 1) != 0)
		return NULL;
	line += sizeof(key) - 1;
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line++ != '=')
		return NULL;
	while (isspace((unsigned char)*line))
		line++;
	end = line + strlen(line);
	while (end > line && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return line;
}

int sm_iscsi_host_iqn(char *out, size_t outsz, struct sm_error *err)
{
	const char *path = initiatorname_file();
	char *text = NULL, *line, *save = NULL, *iqn = NULL;
	int rc = sm_read_file(path, 64 * 1024, &text);

	if (rc < 0)
		return sm_fail(err, SME_CONFIG_ISCSI_IQN_MISSING,
			       "no localIQN in dconf and %s cannot be read: %s", path, strerror(-rc));
	for (line = strtok_r(text, "\n", &save); line && !iqn; line = strtok_r(NULL, "\n", &save))
		iqn = initiatorname_value(line);
	if (!iqn || !*iqn)
		rc = sm_fail(err, SME_CONFIG_ISCSI_IQN_MISSING,
			     "no localIQN in dconf and no InitiatorName in %s", path);
	else if (strlen(iqn) >= outsz || strlen(iqn) >= SM_ISCSI_IQN_MAX)
		rc = sm_fail(err, SME_CONFIG_ISCSI_IQN_MISSING,
			     "the InitiatorName in %s is longer than an IQN may be", path);
	else
		strcpy(out, iqn);
	free(text);
	return rc < 0 ? -1 : 0;
}

/* ---- /run/sr-ref/<IQN> ---------------------------------------------- */

static const char *sr_ref_dir(void)
{
	const char *e = getenv("CSM_SR_REF_DIR");

	return e && *e ? e : SR_REF_DIR;
}

/* The IQN is a file name here: nothing that leaves the directory. */
static int ref_path(const char *target_iqn, const char *sr_uuid, char *path, size_t sz,
		    struct sm_error *err)
{
	if (!target_iqn || !*target_iqn || strchr(target_iqn, '/') ||
	    strcmp(target_iqn, ".") == 0 || strcmp(target_iqn, "..") == 0 ||
	    strlen(target_iqn) >= SM_ISCSI_IQN_MAX)
		return sm_fail(err, SME_INVALID_ARG, "'%s' cannot name a session refcount file",
			       target_iqn ? target_iqn : "");
	if (!sm_uuid_valid(sr_uuid))
		return sm_fail(err, SME_INVALID_ARG, "'%s' is not an SR uuid", sr_uuid ? sr_uuid : "");
	snprintf(path, sz, "%s/%s", sr_ref_dir(), target_iqn);
	return 0;
}

/*
 * Open and lock the refcount file.  A remover may unlink or replace the
 * file while we wait for its lock: retry until the locked file is the
 * one the name points to.  -errno (ENOENT without create when absent).
 */
static int ref_open_locked(const char *path, bool create)
{
	for (;;) {
		struct stat a, b;
		int fd = open(path, (create ? O_CREAT : 0) | O_RDWR | O_CLOEXEC, 0644);

		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &a) < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (stat(path, &b) == 0) {
			if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
				return fd;
		} else if (errno == ENOENT && !create) {
			close(fd);
			return -ENOENT;
		}
		close(fd);
	}
}

/* The file's text, at most 1 MiB; *text malloc'd. */
static int ref_read(int fd, char **text, size_t *len)
{
	struct sm_buf b = SM_BUF_INIT;
	char chunk[4096];
	ssize_t n;

	while ((n = pread(fd, chunk, sizeof(chunk), (off_t)b.len)) > 0 && b.len < (1u << 20))
		buf_append(&b, chunk, (size_t)n);
	if (n < 0 || b.oom) {
		int e = n < 0 ? errno : ENOMEM;

		buf_free(&b);
		return -e;
	}
	buf_puts(&b, "");   /* a NUL-terminated string even when empty */
	if (b.oom) {
		buf_free(&b);
		return -ENOMEM;
	}
	*len = b.len;
	*text = buf_steal(&b);
	return 0;
}

/* Python's match_uuid: a line counts when it begins with a uuid. */
static bool line_is_ref(const char *line, size_t n)
{
	char u[SM_UUID_LEN + 1];

	if (n < SM_UUID_LEN)
		return false;
	memcpy(u, line, SM_UUID_LEN);
	u[SM_UUID_LEN] = '\0';
	return sm_uuid_valid(u);
}

/*
 * Walk the lines that count: *count of them, *found when one is sr_uuid;
 * keep (may be NULL) receives the others, one per line.
 */
static void ref_scan(const char *text, const char *sr_uuid, size_t *count, bool *found,
		     struct sm_buf *keep)
{
	*count = 0;
	*found = false;
	while (*text) {
		size_t n = strcspn(text, "\n");

		if (line_is_ref(text, n)) {
			bool mine = n == SM_UUID_LEN && memcmp(text, sr_uuid, SM_UUID_LEN) == 0;

			if (mine) {
				*found = true;
			} else if (keep) {
				buf_append(keep, text, n);
				buf_puts(keep, "\n");
			}
			(*count)++;
		}
		text += n;
		if (*text == '\n')
			text++;
	}
}

static int write_all_at_end(int fd, const char *s, size_t n)
{
	off_t off = lseek(fd, 0, SEEK_END);

	if (off < 0)
		return -errno;
	while (n) {
		ssize_t w = pwrite(fd, s, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		s += w;
		n -= (size_t)w;
		off += w;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

int sm_iscsi_ref_add(const char *target_iqn, const char *sr_uuid, struct sm_error *err)
{
	char path[4096 + SM_ISCSI_IQN_MAX], line[SM_UUID_LEN + 3];
	char *text = NULL;
	size_t len = 0, count;
	bool found;
	int fd, rc;

	if (ref_path(target_iqn, sr_uuid, path, sizeof(path), err) < 0)
		return -1;
	rc = sm_mkdir_p(sr_ref_dir(), 0755);
	if (rc < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "session refcount directory %s",
				     sr_ref_dir());
	fd = ref_open_locked(path, true);
	if (fd < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -fd, "session refcount %s", path);
	rc = ref_read(fd, &text, &len);
	if (rc == 0) {
		ref_scan(text, sr_uuid, &count, &found, NULL);
		if (!found) {
			/* A hand-edited last line without its newline must not swallow ours. */
			snprintf(line, sizeof(line), "%s%s\n",
				 len && text[len - 1] != '\n' ? "\n" : "", sr_uuid);
			rc = write_all_at_end(fd, line, strlen(line));
		}
	}
	free(text);
	close(fd);
	if (rc < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "session refcount %s", path);
	return 0;
}

int sm_iscsi_ref_remove(const char *target_iqn, const char *sr_uuid, struct sm_error *err)
{
	char path[4096 + SM_ISCSI_IQN_MAX];
	struct sm_buf keep = SM_BUF_INIT;
	char *text = NULL;
	size_t len = 0, count = 0;
	bool found = false;
	int fd, rc;

	if (ref_path(target_iqn, sr_uuid, path, sizeof(path), err) < 0)
		return -1;
	fd = ref_open_locked(path, false);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -fd, "session refcount %s", path);
	rc = ref_read(fd, &text, &len);
	if (rc == 0) {
		ref_scan(text, sr_uuid, &count, &found, &keep);
		if (found)
			count--;
		if (keep.oom)
			rc = -ENOMEM;
		else if (count == 0)
			rc = unlink(path) < 0 ? -errno : 0;   /* as util.py: no SR left, no file */
		else if (found)
			/* Replaced whole (rename): a crash leaves the old list, never half of it. */
			rc = sm_write_file_atomic_mode(path, keep.data, keep.len, 0644);
	}
	free(text);
	buf_free(&keep);
	close(fd);
	if (rc < 0)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "session refcount %s", path);
	return (int)count;
}
