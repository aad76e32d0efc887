/* SPDX-License-Identifier: LGPL-2.1-only */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/journal.h"
#include "csm/log.h"
#include "csm/util.h"

static int journal_path(const char *dir, const char *op, const char *id, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s/%s-%s", dir, JOURNAL_DIR, op, id);

	return n > 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

int journal_begin(const char *dir, const char *op, const char *id, const char *text,
		  struct sm_error *err)
{
	char jdir[PATH_MAX], path[PATH_MAX];
	bool made = false;
	int rc;

	snprintf(jdir, sizeof(jdir), "%s/%s", dir, JOURNAL_DIR);
	if (journal_path(dir, op, id, path) < 0)
		return sm_fail(err, SME_SM_GENERAL, "journal path too long");
	if (mkdir(jdir, 0700) == 0)
		made = true;
	else if (errno != EEXIST)
		return sm_fail_errno(err, SME_SM_GENERAL, errno, "mkdir %s", jdir);
	rc = sm_write_file_atomic(path, text, strlen(text));
	if (rc == 0)
		rc = sm_fsync_dir(jdir);
	/* The SR directory only changed if the journal directory is new. */
	if (rc == 0 && made)
		rc = sm_fsync_dir(dir);
	if (rc < 0)
		return sm_fail_errno(err, SME_SM_GENERAL, -rc, "cannot write journal %s", path);
	return 0;
}

int journal_end(const char *dir, const char *op, const char *id, struct sm_error *err)
{
	char jdir[PATH_MAX], path[PATH_MAX];

	snprintf(jdir, sizeof(jdir), "%s/%s", dir, JOURNAL_DIR);
	if (journal_path(dir, op, id, path) < 0)
		return sm_fail(err, SME_SM_GENERAL, "journal path too long");
	if (unlink(path) < 0 && errno != ENOENT)
		return sm_fail_errno(err, SME_SM_GENERAL, errno, "cannot remove journal %s", path);
	if (sm_fsync_dir(jdir) < 0)
		return sm_fail(err, SME_SM_GENERAL, "cannot sync %s", jdir);
	return 0;
}

/* "<op>-<id>": op is everything before the first '-'. */
static int split_name(const char *name, char *op, size_t cap, const char **id)
{
	const char *dash = strchr(name, '-');

	if (!dash || (size_t)(dash - name) >= cap || dash == name || !dash[1])
		return -1;
	memcpy(op, name, (size_t)(dash - name));
	op[dash - name] = '\0';
	*id = dash + 1;
	return 0;
}

int journal_replay(const char *dir, journal_fn fn, void *arg, struct sm_error *err)
{
	char jdir[PATH_MAX], path[PATH_MAX + 256], op[32];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	snprintf(jdir, sizeof(jdir), "%s/%s", dir, JOURNAL_DIR);
	d = opendir(jdir);
	if (!d)
		return errno == ENOENT ? 0 : sm_fail_errno(err, SME_SM_GENERAL, errno, "%s", jdir);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *id;
		char *text = NULL;
		int r;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", jdir, de->d_name);
		if (strstr(de->d_name, ".tmp.")) {
			unlink(path);   /* a record that was never complete: no step ran */
			continue;
		}
		if (split_name(de->d_name, op, sizeof(op), &id) < 0 ||
		    sm_read_file(path, 64 * 1024, &text) < 0) {
			sm_log(LOG_ERR, "journal: ignoring unreadable record %s", path);
			continue;
		}
		r = fn(arg, op, id, text, err);
		free(text);
		if (r < 0)
			rc = -1;
		else if (r == 0 && unlink(path) < 0 && errno != ENOENT)
			rc = sm_fail_errno(err, SME_SM_GENERAL, errno, "cannot remove %s", path);
	}
	closedir(d);
	if (rc == 0)
		sm_fsync_dir(jdir);
	return rc;
}

void journal_get(const char *text, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);

	out[0] = '\0';
	while (*text) {
		size_t n = strcspn(text, "\n");

		if (n > klen && strncmp(text, key, klen) == 0 && text[klen] == '=') {
			size_t vlen = n - klen - 1;

			if (vlen >= cap)
				vlen = cap - 1;
			memcpy(out, text + klen + 1, vlen);
			out[vlen] = '\0';
			return;
		}
		text += n;
		if (*text == '\n')
			text++;
	}
}
