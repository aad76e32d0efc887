/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Named locks shared with the Python SM: fcntl write locks on the whole
 * file <lock dir>/<namespace>/<name> (default /var/lock/sm/<sr_uuid>/sr),
 * so both implementations exclude each other on one host.  Waiting is
 * bounded: a lock still held after the timeout is an error naming the
 * holder's pid, never an endless hang.
 */
#ifndef CSM_LOCK_H
#define CSM_LOCK_H

#include <stdbool.h>

#include "csm/error.h"

struct sm_lock {
	int fd;          /* -1 when not held */
	char path[512];
};

#define SM_LOCK_INIT { -1, "" }

/* Default wait; SM_LOCK_TIMEOUT (seconds) overrides it. */
#define SM_LOCK_DEFAULT_TIMEOUT 300

/*
 * Take the lock.  timeout_s < 0 waits the default, 0 tries once.
 * Failure: SME_SR_UNAVAILABLE (or the given busy_code) with the holder.
 */
int lock_acquire(struct sm_lock *lk, const char *ns, const char *name,
		 int timeout_s, int busy_code, struct sm_error *err);
void lock_release(struct sm_lock *lk);
/* Remove the lock files of a namespace (e.g. a deleted VDI's); best effort. */
void lock_cleanup_namespace(const char *ns);

#endif
