/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The XenAPI records and calls the side effects use (protocol.md §2.6,
 * §2.7), typed, over the client of csm/xapi.h.  Every call is one
 * xapi_call; a XenAPI failure is SME_API_FAILURE (153) and a transport or
 * format problem SME_API_PROTOCOL (154), as xapi_call gives them: callers
 * recode with sm_error_recode(err, <command's code>).
 *
 * Types on the wire are those xapi's generated dispatcher checks (and the
 * test server, tests/xapi/server.py, checks the same way): refs and
 * uuids are strings, int64 fields (sizes) are sent as decimal strings as
 * the Python SM sends them, bools as <boolean>, maps as structs of
 * strings, snapshot_time as <dateTime.iso8601> (XR_DATETIME).
 */
#ifndef CSM_XAPI_DB_H
#define CSM_XAPI_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "csm/error.h"
#include "csm/scan.h"
#include "csm/xapi.h"

/* One VDI record as the side effects need it (all strings owned). */
struct xapi_vdi_rec {
	char *ref;                   /* OpaqueRef:... */
	char uuid[37];
	char *name_label;
	char *name_description;
	char *location;
	char *type;                  /* "user", "system", ... */
	uint64_t virtual_size;
	uint64_t physical_utilisation;
	bool read_only;
	bool managed;
	bool sharable;
	bool missing;
	bool is_a_snapshot;
	struct scan_kv *sm_config;   /* owned */
	size_t sm_config_count;
};

struct xapi_vdi_list {
	struct xapi_vdi_rec *recs;
	size_t count;
};

void xapi_vdi_rec_free(struct xapi_vdi_rec *r);
void xapi_vdi_list_free(struct xapi_vdi_list *l);
/* The value of key in r's sm_config, or NULL. */
const char *xapi_vdi_rec_config(const struct xapi_vdi_rec *r, const char *key);
/* r in l by uuid, or NULL. */
struct xapi_vdi_rec *xapi_vdi_list_find(const struct xapi_vdi_list *l, const char *uuid);

/* VDI.get_all_records_where('field "SR" = "<sr_ref>"'). */
int xapi_vdi_records_of_sr(struct xapi_conn *c, const char *sr_ref,
			   struct xapi_vdi_list *out, struct sm_error *err);
/* VDI.get_record(vdi_ref). */
int xapi_vdi_get_record(struct xapi_conn *c, const char *vdi_ref,
			struct xapi_vdi_rec *out, struct sm_error *err);

/* The 19 arguments of VDI.db_introduce, in order (VDI.py:474-489). */
struct xapi_introduce {
	const char *uuid;
	const char *name_label;          /* NULL: "" */
	const char *name_description;    /* NULL: "" */
	const char *sr_ref;
	const char *type;                /* NULL: "user" */
	bool sharable;
	bool read_only;
	/* other_config: always {} as the Python SM sends it */
	const char *location;
	/* xenstore_data: always {} */
	const struct scan_kv *sm_config;
	size_t sm_config_count;
	bool managed;
	uint64_t virtual_size;           /* sent as a decimal string */
	uint64_t physical_utilisation;   /* sent as a decimal string */
	const char *metadata_of_pool;    /* NULL or "": "OpaqueRef:NULL", VDI.py's default */
	bool is_a_snapshot;
	time_t snapshot_time;            /* sent as DateTime; 0: 19700101T00:00:00Z */
	const char *snapshot_of;         /* NULL or "": "OpaqueRef:NULL", VDI.py's default */
	bool cbt_enabled;
};
/*
 * A DateTime text as xapi passes it (vdi_introduce's snapshot_time,
 * "20261127T10:11:12Z"; the trailing Z optional, UTC either way) into
 * *t.  Returns 0, or -1 when text is not one.
 */
int xapi_datetime_parse(const char *text, time_t *t);

/* VDI.db_introduce; *ref gets the new record's ref (malloc'd). */
int xapi_vdi_db_introduce(struct xapi_conn *c, const struct xapi_introduce *in, char **ref,
			  struct sm_error *err);

/* VDI.get_sm_config: *kv (*n entries) owned, free with xapi_kv_free. */
int xapi_vdi_get_sm_config(struct xapi_conn *c, const char *vdi_ref, struct scan_kv **kv,
			   size_t *n, struct sm_error *err);
void xapi_kv_free(struct scan_kv *kv, size_t n);
/* The value of key in kv[0..n-1], or NULL. */
const char *xapi_kv_get(const struct scan_kv *kv, size_t n, const char *key);

/* VDI.set_read_only / set_managed. */
int xapi_vdi_set_read_only(struct xapi_conn *c, const char *vdi_ref, bool on,
			   struct sm_error *err);
int xapi_vdi_set_managed(struct xapi_conn *c, const char *vdi_ref, bool on,
			 struct sm_error *err);
/* VDI.add_to_sm_config / remove_from_sm_config / set_sm_config. */
int xapi_vdi_add_to_sm_config(struct xapi_conn *c, const char *vdi_ref, const char *key,
			      const char *value, struct sm_error *err);
int xapi_vdi_remove_from_sm_config(struct xapi_conn *c, const char *vdi_ref, const char *key,
				   struct sm_error *err);
int xapi_vdi_set_sm_config(struct xapi_conn *c, const char *vdi_ref, const struct scan_kv *kv,
			   size_t n, struct sm_error *err);

/* SR.get_by_uuid: *ref malloc'd. */
int xapi_sr_get_by_uuid(struct xapi_conn *c, const char *uuid, char **ref,
			struct sm_error *err);

/*
 * host.call_plugin(host_ref, plugin, fn, args): *result the plugin's
 * answer string (malloc'd; may be NULL when the caller passes NULL).
 */
int xapi_host_call_plugin(struct xapi_conn *c, const char *host_ref, const char *plugin,
			  const char *fn, const struct scan_kv *args, size_t n, char **result,
			  struct sm_error *err);

/*
 * The value of the secret whose uuid is secret_uuid (secret.get_by_uuid,
 * then secret.get_value), malloc'd.  The value is never logged: not by
 * this call, not in a fault's detail.
 */
int xapi_secret_value(struct xapi_conn *c, const char *secret_uuid, char **value,
		      struct sm_error *err);

#endif
