/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The SR as the toolstack should see it: sr_scan returns this document
 * (docs/scan-xml.md).  Every driver fills the same structures, so the
 * format is written in one place.
 */
#ifndef CSM_SCAN_H
#define CSM_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One sm_config entry of a VDI (both strings owned). */
struct scan_kv {
	char *key;
	char *value;
};

struct scan_vdi {
	char uuid[37];
	char location[256];
	uint64_t size;           /* virtual, bytes */
	uint64_t utilisation;    /* physical, bytes */
	char parent[37];         /* "" when none */
	bool hidden;
	bool managed;
	bool read_only;
	const char *type;        /* "vhd" or "raw" */
	char *label;             /* owned, may be NULL */
	char *description;       /* owned, may be NULL */
	bool locked;
	/* The vdi_lock record when locked (owned, or NULL: not written). */
	char *lock_user;
	char *lock_host;
	long long lock_since;    /* epoch seconds */
	char *error;             /* owned; why the image could not be read, or NULL */
	/*
	 * A broken chain (docs/scan-xml.md, <chain_error>): chain_reason is
	 * NULL while the chain holds, else a static name ("missing-parent");
	 * chain_link is the image whose link to its parent breaks,
	 * chain_parent the parent uuid it names ("" when none of this SR).
	 */
	const char *chain_reason;
	char chain_link[37];
	char chain_parent[37];
	char *chain_file;        /* owned, or NULL: the parent's file as the SR names it */
	char *chain_error;       /* owned, or NULL: the same in one line for people */
	/*
	 * What raw-LUN SRs (ISCSISR) report beside the image facts; all
	 * optional, and a VDI without them is written as before.
	 */
	char *vendor;            /* owned, or NULL: not written */
	char *serial;            /* owned, or NULL: not written */
	struct scan_kv *sm_config;   /* owned; written as <sm_config> when non-empty */
	size_t sm_config_count;
};

struct scan_sr {
	char uuid[37];
	uint64_t physical_size;
	uint64_t physical_utilisation;
	uint64_t virtual_allocation;
	bool default_vdi_visibility;
	struct scan_vdi *vdis;
	size_t count;
	size_t cap;
};

/* Append a zeroed entry; NULL when out of memory. */
struct scan_vdi *scan_add_vdi(struct scan_sr *sr);
void scan_sr_free(struct scan_sr *sr);
/* Add (or replace) one sm_config entry of v; 0, or -1 when out of memory. */
int scan_vdi_set_config(struct scan_vdi *v, const char *key, const char *value);
/* Sort VDIs by uuid so the output is stable. */
void scan_sort(struct scan_sr *sr);
/* The document; malloc'd, NULL when out of memory. */
char *scan_write_xml(const struct scan_sr *sr);

#endif
