/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The Python SM's host-local reference counts (refcounter.py), shared
 * with it on one host: the file <base>/<ns>/<obj> holds "<count> <binary>\n",
 * where count is an ordinary counter and binary a 0/1 flag (the leaf of an
 * attached chain).  Both at 0: the file is removed, and the namespace
 * directory too when it is left empty.  Base: /run/sm/refcount, or
 * SM_REFCOUNT_DIR for tests.  For LVHD, ns is "lvm-<sr>" and obj the VDI
 * uuid.
 *
 * Python serialises changes with the lock <lock dir>/<ns>/<obj> (the
 * activation lock of lvmcache.py, include/csm/lock.h), held around the
 * count change and the lvchange that goes with it.  refcount_adjust and
 * refcount_set expect the caller to hold it (refcount_lock), so the LV
 * activation can sit inside the same lock; refcount_get and refcount_put
 * take it themselves for callers that need nothing more.
 *
 * Writes go to a temporary file renamed over the count (fsync'd, so a
 * crash leaves the old count or the new one, never a torn file).
 */
#ifndef CSM_REFCOUNT_H
#define CSM_REFCOUNT_H

#include <stdbool.h>

#include "csm/error.h"
#include "csm/lock.h"

#define REFCOUNT_DEFAULT_DIR "/run/sm/refcount"

struct refcount {
	unsigned count;    /* normal references */
	unsigned binary;   /* 0 or 1 */
};

/* The base directory: SM_REFCOUNT_DIR, else /run/sm/refcount. */
const char *refcount_base_dir(void);

/* Take the activation lock <lock dir>/<ns>/<obj> (waits the default timeout). */
int refcount_lock(struct sm_lock *lk, const char *ns, const char *obj, struct sm_error *err);

/*
 * Read the counts; a missing file is 0 0.  A file that is not "<n> <n>"
 * is an error (SME_SM_GENERAL naming the file), never a guess.
 */
int refcount_read(const char *ns, const char *obj, struct refcount *out, struct sm_error *err);

/*
 * Add delta to count and binary_delta (-1, 0 or 1) to binary, clamped as
 * refcounter.py clamps (neither below 0, binary at most 1), and write the
 * result (removing the file at 0 0).  *total (may be NULL) gets
 * count + binary after the change.  The caller holds refcount_lock.
 */
int refcount_adjust(const char *ns, const char *obj, int delta, int binary_delta,
		    unsigned *total, struct sm_error *err);
/* Set both counts (binary 0 or 1); 0 0 removes the file.  Caller holds the lock. */
int refcount_set(const char *ns, const char *obj, unsigned count, unsigned binary,
		 struct sm_error *err);

/* RefCounter.get / put: one more (or one fewer) reference, under the lock. */
int refcount_get(const char *ns, const char *obj, bool binary, unsigned *total,
		 struct sm_error *err);
int refcount_put(const char *ns, const char *obj, bool binary, unsigned *total,
		 struct sm_error *err);

/* Remove every count of a namespace (sr_detach: RefCounter.resetAll(ns)). */
int refcount_reset_ns(const char *ns, struct sm_error *err);

#endif
