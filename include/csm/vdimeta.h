/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What the toolstack told us about a VDI that the image itself cannot
 * hold (label, description, snapshot facts), kept beside the image so
 * sr_scan can return it.  A small "key=value" text format, one per line,
 * with \\ and \n escaped, so people can read it with cat.
 */
#ifndef CSM_VDIMETA_H
#define CSM_VDIMETA_H

#include <stdbool.h>
#include <stddef.h>

struct vdi_meta {
	char *label;
	char *description;
	char vdi_type[32];        /* xapi vdi_type: user, system, ... */
	bool read_only;
	bool is_a_snapshot;
	char snapshot_of[37];
	char snapshot_time[32];
};

/*
 * The largest record a reader takes (a bound on what one small read may
 * allocate).  A writer refuses a bigger one (vdimeta_size): written, it
 * could never be read back, and the label would be lost for good.
 */
#define VDIMETA_MAX (64 * 1024)

/* The bytes vdimeta_format would give m (0 when out of memory). */
size_t vdimeta_size(const struct vdi_meta *m);

/* Parse text into m (unknown keys are ignored); 0 or -1. */
int vdimeta_parse(const char *text, struct vdi_meta *m);
/* malloc'd text, NULL when out of memory. */
char *vdimeta_format(const struct vdi_meta *m);
void vdimeta_free(struct vdi_meta *m);
/* Replace a string field (strdup); 0 or -1. */
int vdimeta_set(char **field, const char *value);

#endif
