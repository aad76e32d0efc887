/* SPDX-License-Identifier: LGPL-2.1-only */
/* What the srfs backends share and callers never see. */
#ifndef CSM_SRFS_INTERNAL_H
#define CSM_SRFS_INTERNAL_H

#include "csm/srfs.h"

/* Point fs->opener at fs's own open (fs must not move afterwards). */
void srfs_init_opener(struct srfs *fs);

/*
 * 0 if rel is a name inside the SR: not absolute, no ".." component.
 * Backends refuse anything else with -EINVAL so no caller can reach
 * outside the SR root.
 */
int srfs_check_rel(const char *rel);

#endif
