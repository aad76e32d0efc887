/* SPDX-License-Identifier: LGPL-2.1-only */
/* Helpers over the VDI store's ops, the same for every store (csm/vstore.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csm/log.h"
#include "csm/vhdchain.h"
#include "csm/util.h"
#include "csm/vstore.h"

const char *vstore_kind_name(enum vstore_kind kind)
{
	return kind == VSTORE_RAW ? "raw" : "vhd";
}

struct active_find {
	const char *uuid;
	char *holder;
	int found;
};

int vstore_lock_format(const struct vstore_lock *r, char *out, size_t cap)
{
	return snprintf(out, cap, "user=%s\nhost=%s\nsince=%lld\n", r->user, r->host, r->since);
}

void vstore_lock_parse(char *text, struct vstore_lock *r)
{
	char *line, *save = NULL;

	memset(r, 0, sizeof(*r));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "user=", 5) == 0)
			snprintf(r->user, sizeof(r->user), "%s", line + 5);
		else if (strncmp(line, "host=", 5) == 0)
			snprintf(r->host, sizeof(r->host), "%s", line + 5);
		else if (strncmp(line, "since=", 6) == 0)
			r->since = atoll(line + 6);
	}
}

/* "42 s", "5 min 3 s", "3 h 12 min", "2 d 4 h": two units are enough to judge a lock. */
static void format_age(long long s, char *out, size_t cap)
{
	if (s < 0)
		s = 0;   /* a host clock behind ours: the record is from "now" */
	if (s < 60)
		snprintf(out, cap, "%lld s", s);
	else if (s < 3600)
		snprintf(out, cap, "%lld min %lld s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, cap, "%lld h %lld min", s / 3600, s % 3600 / 60);
	else
		snprintf(out, cap, "%lld d %lld h", s / 86400, s % 86400 / 3600);
}

int vstore_lock_describe(const struct vstore_lock *r, long long now, char *out, size_t cap)
{
	time_t t = (time_t)r->since;
	char when[40] = "an unknown time", age[40];
	struct tm tm;

	if (r->since > 0 && localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm);
	format_age(now - r->since, age, sizeof(age));
	if (r->since <= 0)
		return snprintf(out, cap, "'%s' on host %s since an unknown time", r->user,
				r->host[0] ? r->host : "(unknown)");
	return snprintf(out, cap, "'%s' on host %s since %s (%s ago)", r->user,
			r->host[0] ? r->host : "(unknown)", when, age);
}

void vstore_file_parent_uuid(const struct vhd_info *info, char out[37])
{
	const char *name = info->parent_name[0] ? info->parent_name : info->parent_locator;
	const char *base = strrchr(name, '/');
	char tmp[37];

	out[0] = '\0';
	base = base ? base + 1 : name;
	if (strlen(base) != 40 || strcmp(base + 36, ".vhd") != 0)
		return;
	memcpy(tmp, base, 36);
	tmp[36] = '\0';
	if (sm_uuid_valid(tmp))
		memcpy(out, tmp, 37);
}

static int active_match(void *arg, const char *uuid, const char *host)
{
	struct active_find *a = arg;

	if (strcmp(uuid, a->uuid) != 0)
		return 0;
	a->found = 1;
	if (a->holder)
		snprintf(a->holder, 128, "%s", host);
	return 1;
}

int vstore_active_lookup(struct vstore *vs, const char *uuid, char holder[128])
{
	struct active_find a = { .uuid = uuid, .holder = holder };
	int rc = vs->ops->active_each(vs, active_match, &a);

	return rc < 0 ? rc : a.found;
}

int vstore_vhd_set_hidden(struct vstore *vs, const char *uuid, bool hidden,
			  struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (vs->ops->open(vs, uuid, VSTORE_VHD, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	rc = vhd_set_hidden(&io, hidden, err);
	if (rc == 0 && (rc = io.ops->sync(&io)) < 0)
		rc = sm_fail_errno(err, SME_EIO, -rc, "cannot sync %s", io.name);
	vhd_io_close(&io);
	return rc;
}

int vstore_vhd_repair(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	struct vhd_io io = { 0 };
	unsigned fixed = 0;
	char what[64], name[128];
	int rc;

	if (vs->ops->open(vs, uuid, VSTORE_VHD, VHD_IO_RDWR, &io, err) < 0)
		return -1;
	rc = vhd_repair(&io, &fixed, err);
	if (rc == 0 && fixed && (rc = io.ops->sync(&io)) < 0)
		rc = sm_fail_errno(err, SME_SM_GENERAL, -rc, "cannot sync %s", io.name);
	vhd_io_close(&io);
	if (rc == 0 && fixed) {
		vhd_repair_describe(fixed, what, sizeof(what));
		vs->ops->image_name(vs, uuid, VSTORE_VHD, name, sizeof(name));
		sm_log(LOG_WARNING, "recovery: %s: repaired %s", name, what);
	}
	return rc;
}

int vstore_vhd_query(struct vstore *vs, const char *uuid, bool fast, struct vhd_info *info,
		     struct sm_error *err)
{
	struct vhd_io io = { 0 };
	int rc;

	if (vs->ops->open(vs, uuid, VSTORE_VHD, VHD_IO_RDONLY, &io, err) < 0)
		return -1;
	rc = fast ? vhd_query_fast(&io, info, err) : vhd_query(&io, info, err);
	vhd_io_close(&io);
	return rc;
}

int vstore_grow(struct vstore *vs, const char *uuid, uint64_t size, enum vstore_undo which,
		bool *pending, struct sm_error *err)
{
	char name[PATH_MAX], undo[PATH_MAX];

	vs->ops->image_name(vs, uuid, VSTORE_VHD, name, sizeof(name));
	vs->ops->undo_name(vs, uuid, which, undo, sizeof(undo));
	return vhd_grow_with_undo(vs->ops->opener(vs), name, undo, size, pending, err);
}

int vstore_grow_recover(struct vstore *vs, const char *uuid, enum vstore_undo which,
			bool *undone, struct sm_error *err)
{
	char name[PATH_MAX], undo[PATH_MAX];

	vs->ops->image_name(vs, uuid, VSTORE_VHD, name, sizeof(name));
	vs->ops->undo_name(vs, uuid, which, undo, sizeof(undo));
	return vhd_grow_recover(vs->ops->opener(vs), name, undo, undone, err);
}

/*
 * A leaf-coalesce of L into P runs wholly under the SR lock, so whoever
 * holds the lock and finds its record knows the GC died.
 */
int vstore_leaf_recover(struct vstore *vs, const char *l, const char *p, struct sm_error *err)
{
	int done = vs->ops->take_over_recover(vs, l, p, err);

	if (done < 0)
		return -1;
	if (done) {
		sm_log(LOG_WARNING, "recovery: finished the interrupted leaf-coalesce of %s", l);
		return 0;
	}
	/*
	 * A grow of P the copy needed may have been cut short: P back as it
	 * was first.  P may be visible again: it must not look like a VDI of
	 * its own; and the copy may have stopped between two writes of its
	 * metadata: P is someone's parent, it must pass the check.
	 */
	if (vstore_grow_recover(vs, p, VSTORE_UNDO_GC, NULL, err) < 0 ||
	    vstore_vhd_set_hidden(vs, p, true, err) < 0 || vstore_vhd_repair(vs, p, err) < 0)
		return -1;
	sm_log(LOG_WARNING, "recovery: undid the interrupted leaf-coalesce of %s", l);
	return 0;
}
