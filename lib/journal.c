/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/journal.h"
#include "csm/log.h"
#include "csm/util.h"

static int journal_rel(const char *op, const char *id, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s-%s", JOURNAL_DIR, op, id);

	return n > 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

static int fail_rc(struct sm_error *err, int rc, const struct srfs *fs, const char *rel,
		   const char *what)
{
	char where[PATH_MAX];

	srfs_describe(fs, rel, where, sizeof(where));
	return sm_fail_errno(err, rc == -ETIMEDOUT ? SME_SR_UNAVAILABLE : SME_SM_GENERAL, -rc,
			     "%s %s", what, where);
}

int journal_begin(struct srfs *fs, const char *op, const char *id, const char *text,
		  struct sm_error *err)
{
	char rel[PATH_MAX];
	bool made = false;
	int rc;

	if (journal_rel(op, id, rel) < 0)
		return sm_fail(err, SME_SM_GENERAL, "journal path too long");
	rc = fs->ops->mkdir(fs, JOURNAL_DIR, 0700);
	if (rc == 0)
		made = true;
	else if (rc != -EEXIST)
		return fail_rc(err, rc, fs, JOURNAL_DIR, "cannot make");
	rc = srfs_write_file_atomic(fs, rel, text, strlen(text));
	if (rc == 0)
		rc = fs->ops->sync_dir(fs, JOURNAL_DIR);
	/* The SR directory only changed if the journal directory is new. */
	if (rc == 0 && made)
		rc = fs->ops->sync_dir(fs, "");
	if (rc < 0)
		return fail_rc(err, rc, fs, rel, "cannot write journal");
	return 0;
}

int journal_lookup(struct srfs *fs, const char *op, const char *id)
{
	char rel[PATH_MAX];

	if (journal_rel(op, id, rel) < 0)
		return -ENAMETOOLONG;
	return srfs_lookup(fs, rel);
}

int journal_end(struct srfs *fs, const char *op, const char *id, struct sm_error *err)
{
	char rel[PATH_MAX];
	int rc;

	if (journal_rel(op, id, rel) < 0)
		return sm_fail(err, SME_SM_GENERAL, "journal path too long");
	rc = fs->ops->unlink(fs, rel);
	if (rc < 0 && rc != -ENOENT)
		return fail_rc(err, rc, fs, rel, "cannot remove journal");
	rc = fs->ops->sync_dir(fs, JOURNAL_DIR);
	if (rc < 0)
		return fail_rc(err, rc, fs, JOURNAL_DIR, "cannot sync");
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

struct names {
	char (*v)[256];
	size_t count, cap;
};

static int collect(void *arg, const char *name)
{
	struct names *n = arg;

	if (name[0] == '.' || strlen(name) >= 256)
		return 0;
	if (n->count == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 8;
		void *p = realloc(n->v, cap * sizeof(n->v[0]));

		if (!p)
			return -ENOMEM;
		n->v = p;
		n->cap = cap;
	}
	snprintf(n->v[n->count++], 256, "%s", name);
	return 0;
}

static int replay_one(struct srfs *fs, const char *name, journal_fn fn, void *arg,
		      struct sm_error *err)
{
	char rel[PATH_MAX], op[32], *text = NULL;
	const char *id;
	int r;

	snprintf(rel, sizeof(rel), "%s/%s", JOURNAL_DIR, name);
	if (strstr(name, ".tmp.")) {
		fs->ops->unlink(fs, rel);   /* a record never completed: no step ran */
		return 0;
	}
	if (split_name(name, op, sizeof(op), &id) < 0) {
		sm_log(LOG_ERR, "journal: ignoring record %s (not <op>-<id>)", rel);
		return 0;
	}
	r = srfs_read_file(fs, rel, 64 * 1024, &text);
	if (r == -ENOENT)
		return 0;   /* its owner finished it meanwhile */
	/*
	 * A record we cannot read is a change we cannot finish or undo: going
	 * on as if there were none would build on a half-made state.
	 */
	if (r < 0)
		return fail_rc(err, r, fs, rel, "cannot read journal record");
	r = fn(arg, op, id, text, err);
	free(text);
	if (r < 0)
		return -1;
	if (r == 0) {
		int rc = fs->ops->unlink(fs, rel);

		if (rc < 0 && rc != -ENOENT)
			return fail_rc(err, rc, fs, rel, "cannot remove");
	}
	return 0;
}

int journal_replay(struct srfs *fs, journal_fn fn, void *arg, struct sm_error *err)
{
	struct names names = { 0 };
	int rc;

	/* The names first: a repair may itself add and remove records. */
	rc = fs->ops->list(fs, JOURNAL_DIR, collect, &names);
	if (rc == -ENOENT) {
		free(names.v);
		return 0;
	}
	if (rc < 0) {
		free(names.v);
		return fail_rc(err, rc, fs, JOURNAL_DIR, "cannot list");
	}
	rc = 0;
	for (size_t i = 0; i < names.count && rc == 0; i++)
		rc = replay_one(fs, names.v[i], fn, arg, err);
	free(names.v);
	if (rc == 0 && names.count)
		fs->ops->sync_dir(fs, JOURNAL_DIR);
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
