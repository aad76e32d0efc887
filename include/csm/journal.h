/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Intent journals for multi-step changes of a file-based SR.  Before the
 * first step, a small "key=value" record <sr>/.csm-journal/<op>-<id> is
 * written and made durable; after the last step it is removed.  The next
 * call that takes the SR lock finds any record left by a process that
 * died part-way and repairs or rolls the change back (drivers decide
 * which, per operation).
 */
#ifndef CSM_JOURNAL_H
#define CSM_JOURNAL_H

#include "csm/error.h"
#include "csm/srfs.h"

#define JOURNAL_DIR ".csm-journal"

/* Write and sync .csm-journal/<op>-<id> holding text. */
int journal_begin(struct srfs *fs, const char *op, const char *id, const char *text,
		  struct sm_error *err);
/* Is there a record <op>-<id>?  1, 0, or -errno (srfs_lookup). */
int journal_lookup(struct srfs *fs, const char *op, const char *id);
/* Remove it durably. */
int journal_end(struct srfs *fs, const char *op, const char *id, struct sm_error *err);

/*
 * Called for every record found: return 0 when repaired (the record is
 * then removed), 1 to leave it for its owner (e.g. the GC), -1 on error.
 */
typedef int (*journal_fn)(void *arg, const char *op, const char *id, const char *text,
			  struct sm_error *err);
/* Replay every record (none: nothing happens, cheaply). */
int journal_replay(struct srfs *fs, journal_fn fn, void *arg, struct sm_error *err);

/* The value of key in a record's text, copied into out (cap bytes); "" if absent. */
void journal_get(const char *text, const char *key, char *out, size_t cap);

#endif
