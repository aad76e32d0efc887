/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Host-local refcount files, byte-compatible with refcounter.py
 * (include/csm/refcount.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "csm/refcount.h"
#include "csm/log.h"
#include "csm/util.h"

/* A count file is one short line; anything longer is not one of ours. */
#define REFCOUNT_FILE_MAX 64
#define REFCOUNT_VALUE_MAX ((unsigned)INT_MAX)

const char *refcount_base_dir(void)
{
	const char *v = getenv("SM_REFCOUNT_DIR");

	return (v && v[0] == '/') ? v : REFCOUNT_DEFAULT_DIR;
}

static bool bad_component(const char *s)
{
	return !s || !*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strchr(s, '/');
}

/*
 * The file name refcounter.py uses for obj ('/', '*', '?' and '\' become
 * '_'), in the namespace's directory.  ns is used as given, so it must be
 * one path component.
 */
static int safe_name(const char *ns, const char *obj, char safe[NAME_MAX + 1],
		     struct sm_error *err)
{
	size_t n = obj ? strlen(obj) : 0;

	if (bad_component(ns) || n == 0 || n > NAME_MAX)
		return sm_fail(err, SME_INVALID_ARG, "bad refcount name %s/%s", ns ? ns : "",
			       obj ? obj : "");
	for (size_t i = 0; i <= n; i++)
		safe[i] = strchr("/*?\\", obj[i]) && obj[i] ? '_' : obj[i];
	if (bad_component(safe))
		return sm_fail(err, SME_INVALID_ARG, "bad refcount name %s/%s", ns, obj);
	return 0;
}

static int count_paths(const char *ns, const char *obj, char *dir, size_t dcap, char *file,
		       size_t fcap, struct sm_error *err)
{
	char safe[NAME_MAX + 1];

	if (safe_name(ns, obj, safe, err) < 0)
		return -1;
	if (snprintf(dir, dcap, "%s/%s", refcount_base_dir(), ns) >= (int)dcap ||
	    snprintf(file, fcap, "%s/%s", dir, safe) >= (int)fcap)
		return sm_fail(err, SME_SM_GENERAL, "refcount path too long for %s/%s", ns, obj);
	return 0;
}

/* "<digits>" into *out, advancing *p; false when there are none or too many. */
static bool parse_count(const char **p, unsigned *out)
{
	unsigned long v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > REFCOUNT_VALUE_MAX)
			return false;
	}
	*out = (unsigned)v;
	*p = s;
	return true;
}

/* "<count> <binary>\n" (refcounter.py reads the first line and splits on whitespace). */
static int parse_file(const char *text, struct refcount *out)
{
	const char *p = text;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!parse_count(&p, &out->count) || (*p != ' ' && *p != '\t'))
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!parse_count(&p, &out->binary))
		return -1;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return *p ? -1 : 0;
}

static int read_counts(const char *file, struct refcount *out, struct sm_error *err)
{
	char *text = NULL;
	int rc;

	out->count = out->binary = 0;
	rc = sm_read_file(file, REFCOUNT_FILE_MAX, &text);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return sm_fail_errno(err, SME_SM_GENERAL, -rc, "cannot read refcount %s", file);
	rc = parse_file(text, out);
	free(text);
	if (rc < 0)
		return sm_fail(err, SME_SM_GENERAL, "refcount %s is not \"<count> <binary>\"", file);
	return 0;
}

int refcount_read(const char *ns, const char *obj, struct refcount *out, struct sm_error *err)
{
	char dir[PATH_MAX], file[PATH_MAX];

	out->count = out->binary = 0;
	if (count_paths(ns, obj, dir, sizeof(dir), file, sizeof(file), err) < 0)
		return -1;
	return read_counts(file, out, err);
}

int refcount_lock(struct sm_lock *lk, const char *ns, const char *obj, struct sm_error *err)
{
	char safe[NAME_MAX + 1];

	/* Our objects are uuids, where this is the name Python locks too. */
	if (safe_name(ns, obj, safe, err) < 0)
		return -1;
	return lock_acquire(lk, ns, safe, -1, SME_LOCK_ERR, err);
}

/*
 * Temp file beside the count, fsync, rename over it, fsync the directory.
 * -ENOENT when the namespace directory vanished (another object's count
 * went to 0 and removed it): the caller re-creates it and tries again, as
 * refcounter.py does.
 */
static int write_once(const char *dir, const char *file, const char *text)
{
	/* 0644: what Python's open(fn, 'w') gives under the usual umask. */
	int rc = sm_write_file_atomic_mode(file, text, strlen(text), 0644);

	if (rc < 0)
		return rc;
	return sm_fsync_dir(dir);
}

static int write_counts(const char *dir, const char *file, unsigned count, unsigned binary,
			struct sm_error *err)
{
	char text[64];
	int rc = -ENOENT;

	snprintf(text, sizeof(text), "%u %u\n", count, binary);
	for (int attempt = 0; attempt < 10 && rc == -ENOENT; attempt++) {
		rc = sm_mkdir_p(dir, 0755);
		if (rc == 0)
			rc = write_once(dir, file, text);
	}
	if (rc < 0)
		return sm_fail_errno(err, SME_SM_GENERAL, -rc, "cannot write refcount %s", file);
	return 0;
}

/* At 0 0: remove the file, then the namespace directory if it is now empty. */
static int remove_counts(const char *dir, const char *file, struct sm_error *err)
{
	if (unlink(file) < 0 && errno != ENOENT)
		return sm_fail_errno(err, SME_SM_GENERAL, errno, "cannot remove refcount %s", file);
	if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
		return sm_fail_errno(err, SME_SM_GENERAL, errno, "cannot remove %s", dir);
	return 0;
}

static int store(const char *dir, const char *file, unsigned count, unsigned binary,
		 struct sm_error *err)
{
	if (count == 0 && binary == 0)
		return remove_counts(dir, file, err);
	return write_counts(dir, file, count, binary, err);
}

int refcount_set(const char *ns, const char *obj, unsigned count, unsigned binary,
		 struct sm_error *err)
{
	char dir[PATH_MAX], file[PATH_MAX];

	if (binary > 1)
		return sm_fail(err, SME_INVALID_ARG, "binary count %u > 1", binary);
	if (count > REFCOUNT_VALUE_MAX)
		return sm_fail(err, SME_INVALID_ARG, "refcount %u is too large", count);
	if (count_paths(ns, obj, dir, sizeof(dir), file, sizeof(file), err) < 0)
		return -1;
	return store(dir, file, count, binary, err);
}

int refcount_adjust(const char *ns, const char *obj, int delta, int binary_delta,
		    unsigned *total, struct sm_error *err)
{
	char dir[PATH_MAX], file[PATH_MAX];
	struct refcount rc;
	long long count, binary;

	if (binary_delta < -1 || binary_delta > 1)
		return sm_fail(err, SME_INVALID_ARG, "binary delta %d outside [-1;1]", binary_delta);
	if (count_paths(ns, obj, dir, sizeof(dir), file, sizeof(file), err) < 0 ||
	    read_counts(file, &rc, err) < 0)
		return -1;
	count = (long long)rc.count + delta;
	binary = (long long)rc.binary + binary_delta;
	/* refcounter.py clamps, with a warning, rather than fail a detach. */
	if (count < 0) {
		sm_log(LOG_WARNING, "refcount %s/%s: decrementing normal refcount of 0", ns, obj);
		count = 0;
	}
	if (binary < 0) {
		sm_log(LOG_WARNING, "refcount %s/%s: decrementing binary refcount of 0", ns, obj);
		binary = 0;
	}
	if (binary > 1)
		binary = 1;
	if (count > REFCOUNT_VALUE_MAX)
		return sm_fail(err, SME_SM_GENERAL, "refcount %s would overflow", file);
	if (store(dir, file, (unsigned)count, (unsigned)binary, err) < 0)
		return -1;
	if (total)
		*total = (unsigned)(count + binary);
	return 0;
}

static int locked_adjust(const char *ns, const char *obj, int delta, int binary_delta,
			 unsigned *total, struct sm_error *err)
{
	struct sm_lock lk = SM_LOCK_INIT;
	int rc;

	if (refcount_lock(&lk, ns, obj, err) < 0)
		return -1;
	rc = refcount_adjust(ns, obj, delta, binary_delta, total, err);
	lock_release(&lk);
	return rc;
}

int refcount_get(const char *ns, const char *obj, bool binary, unsigned *total,
		 struct sm_error *err)
{
	return binary ? locked_adjust(ns, obj, 0, 1, total, err)
		      : locked_adjust(ns, obj, 1, 0, total, err);
}

int refcount_put(const char *ns, const char *obj, bool binary, unsigned *total,
		 struct sm_error *err)
{
	return binary ? locked_adjust(ns, obj, 0, -1, total, err)
		      : locked_adjust(ns, obj, -1, 0, total, err);
}

int refcount_reset_ns(const char *ns, struct sm_error *err)
{
	char dir[PATH_MAX], file[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (bad_component(ns))
		return sm_fail(err, SME_INVALID_ARG, "bad refcount namespace %s", ns ? ns : "");
	if (snprintf(dir, sizeof(dir), "%s/%s", refcount_base_dir(), ns) >= (int)sizeof(dir))
		return sm_fail(err, SME_SM_GENERAL, "refcount path too long for %s", ns);
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return sm_fail_errno(err, SME_SM_GENERAL, errno, "cannot list %s", dir);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(file, sizeof(file), "%s/%s", dir, de->d_name) >= (int)sizeof(file))
			continue;
		if (unlink(file) < 0 && errno != ENOENT)
			rc = sm_fail_errno(err, SME_SM_GENERAL, errno, "cannot remove %s", file);
	}
	closedir(d);
	if (rc == 0 && rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
		rc = sm_fail_errno(err, SME_SM_GENERAL, errno, "cannot remove %s", dir);
	return rc;
}
