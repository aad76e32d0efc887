/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The typed XenAPI calls of include/csm/xapi_db.h.  Arguments go out with
 * the types xapi's generated dispatcher unmarshals (sizes as decimal
 * strings, bools as <boolean>, snapshot_time as <dateTime.iso8601>), the
 * way VDI.py and blktap2.py send them; answers are read in either layout
 * (xapi's typeless strings, or typed values from a Python peer).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csm/xapi_db.h"

#define NULL_REF "OpaqueRef:NULL"

static int oom(struct sm_error *err)
{
	return sm_fail(err, SME_SM_GENERAL, "out of memory");
}

/* ---- calls with owned params ---- */

/*
 * Call method with params p[0..n-1], which this takes over (NULL entries
 * mean a constructor ran out of memory).  *value as xapi_call, or freed
 * when value is NULL.
 */
static int call_owned(struct xapi_conn *c, const char *method, struct xr_value **p,
		      size_t n, struct xr_value **value, struct sm_error *err)
{
	struct xr_value *v = NULL;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if (!p[i])
			rc = oom(err);
	if (!rc)
		rc = xapi_call(c, method, (const struct xr_value *const *)p, n, &v, err);
	for (size_t i = 0; i < n; i++)
		xr_free(p[i]);
	if (value)
		*value = rc ? NULL : v;
	else
		xr_free(v);
	return rc;
}

/* A call whose answer must be a string; *out malloc'd. */
static int call_string(struct xapi_conn *c, const char *method, struct xr_value **p,
		       size_t n, char **out, struct sm_error *err)
{
	struct xr_value *v;
	int rc;

	*out = NULL;
	if (call_owned(c, method, p, n, &v, err))
		return -1;
	if (v->type != XR_STRING)
		rc = sm_fail(err, SME_API_PROTOCOL, "xapi: %s: the answer is not a string", method);
	else
		rc = (*out = strdup(v->u.str)) ? 0 : oom(err);
	xr_free(v);
	return rc;
}

static struct xr_value *kv_struct(const struct scan_kv *kv, size_t n)
{
	struct xr_value *st = xr_struct();

	for (size_t i = 0; st && i < n; i++)
		if (xr_struct_set_string(st, kv[i].key, kv[i].value)) {
			xr_free(st);
			return NULL;
		}
	return st;
}

static struct xr_value *size_string(uint64_t bytes)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, bytes);
	return xr_string(num);
}

/* ---- maps ---- */

void xapi_kv_free(struct scan_kv *kv, size_t n)
{
	for (size_t i = 0; kv && i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

const char *xapi_kv_get(const struct scan_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].value;
	return NULL;
}

/* A scalar of a map as its string: xapi's maps are string -> string. */
static int scalar_text(const struct xr_value *v, char *buf, size_t size, const char **out)
{
	switch (v->type) {
	case XR_STRING:
	case XR_DATETIME:
		*out = v->u.str;
		return 0;
	case XR_INT:
		snprintf(buf, size, "%" PRId64, v->u.i);
		break;
	case XR_BOOL:
		snprintf(buf, size, "%s", v->u.b ? "true" : "false");
		break;
	default:
		return -1;
	}
	*out = buf;
	return 0;
}

/* An XML-RPC struct of strings into an owned kv array. */
static int parse_map(const struct xr_value *st, const char *what, struct scan_kv **kv,
		     size_t *n, struct sm_error *err)
{
	struct scan_kv *out;
	size_t count;

	*kv = NULL;
	*n = 0;
	if (!st)
		return 0;
	if (st->type != XR_STRUCT)
		return sm_fail(err, SME_API_PROTOCOL, "xapi: %s is not a map", what);
	count = st->u.st.count;
	if (!count)
		return 0;
	out = calloc(count, sizeof(*out));
	if (!out)
		return oom(err);
	for (size_t i = 0; i < count; i++) {
		const struct xr_member *m = &st->u.st.members[i];
		char buf[32];
		const char *text;

		if (scalar_text(m->value, buf, sizeof(buf), &text)) {
			xapi_kv_free(out, i);
			return sm_fail(err, SME_API_PROTOCOL, "xapi: %s: the value of %s is not a string",
				       what, m->name);
		}
		out[i].key = strdup(m->name);
		out[i].value = strdup(text);
		if (!out[i].key || !out[i].value) {
			xapi_kv_free(out, i + 1);
			return oom(err);
		}
	}
	*kv = out;
	*n = count;
	return 0;
}

/* ---- record fields, in xapi's layout or Python's ---- */

static int field_string(const struct xr_value *rec, const char *name, char **out,
			struct sm_error *err)
{
	const struct xr_value *v = xr_struct_get(rec, name);

	if (v && v->type != XR_STRING)
		return sm_fail(err, SME_API_PROTOCOL, "xapi: VDI field %s is not a string", name);
	*out = strdup(v ? v->u.str : "");
	return *out ? 0 : oom(err);
}

/* int64: a decimal string from xapi, an <int> from a typed peer. */
static int field_u64(const struct xr_value *rec, const char *name, uint64_t *out,
		     struct sm_error *err)
{
	const struct xr_value *v = xr_struct_get(rec, name);
	char *end;

	*out = 0;
	if (!v)
		return 0;
	if (v->type == XR_INT && v->u.i >= 0) {
		*out = (uint64_t)v->u.i;
		return 0;
	}
	if (v->type == XR_STRING && v->u.str[0] >= '0' && v->u.str[0] <= '9') {
		errno = 0;
		*out = strtoull(v->u.str, &end, 10);
		if (!errno && !*end)
			return 0;
	}
	return sm_fail(err, SME_API_PROTOCOL, "xapi: VDI field %s is not a size", name);
}

/* <boolean>, or the strings a typeless layout could carry. */
static int field_bool(const struct xr_value *rec, const char *name, bool *out,
		      struct sm_error *err)
{
	const struct xr_value *v = xr_struct_get(rec, name);

	*out = false;
	if (!v)
		return 0;
	if (v->type == XR_BOOL) {
		*out = v->u.b;
		return 0;
	}
	if (v->type == XR_STRING) {
		if (!strcmp(v->u.str, "true") || !strcmp(v->u.str, "1")) {
			*out = true;
			return 0;
		}
		if (!strcmp(v->u.str, "false") || !strcmp(v->u.str, "0"))
			return 0;
	}
	return sm_fail(err, SME_API_PROTOCOL, "xapi: VDI field %s is not a bool", name);
}

void xapi_vdi_rec_free(struct xapi_vdi_rec *r)
{
	if (!r)
		return;
	free(r->ref);
	free(r->name_label);
	free(r->name_description);
	free(r->location);
	free(r->type);
	xapi_kv_free(r->sm_config, r->sm_config_count);
	memset(r, 0, sizeof(*r));
}

void xapi_vdi_list_free(struct xapi_vdi_list *l)
{
	for (size_t i = 0; l && i < l->count; i++)
		xapi_vdi_rec_free(&l->recs[i]);
	if (l) {
		free(l->recs);
		l->recs = NULL;
		l->count = 0;
	}
}

const char *xapi_vdi_rec_config(const struct xapi_vdi_rec *r, const char *key)
{
	return xapi_kv_get(r->sm_config, r->sm_config_count, key);
}

struct xapi_vdi_rec *xapi_vdi_list_find(const struct xapi_vdi_list *l, const char *uuid)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->recs[i].uuid, uuid))
			return &l->recs[i];
	return NULL;
}

/* One VDI record struct into *out (which the caller zeroed). */
static int parse_vdi_record(const char *ref, const struct xr_value *rec,
			    struct xapi_vdi_rec *out, struct sm_error *err)
{
	const char *uuid = xr_struct_get_string(rec, "uuid");

	if (!rec || rec->type != XR_STRUCT)
		return sm_fail(err, SME_API_PROTOCOL, "xapi: VDI record %s is not a struct", ref);
	if (!uuid || strlen(uuid) >= sizeof(out->uuid))
		return sm_fail(err, SME_API_PROTOCOL, "xapi: VDI record %s has no uuid", ref);
	snprintf(out->uuid, sizeof(out->uuid), "%s", uuid);
	if (!(out->ref = strdup(ref)))
		return oom(err);
	if (field_string(rec, "name_label", &out->name_label, err)
	    || field_string(rec, "name_description", &out->name_description, err)
	    || field_string(rec, "location", &out->location, err)
	    || field_string(rec, "type", &out->type, err)
	    || field_u64(rec, "virtual_size", &out->virtual_size, err)
	    || field_u64(rec, "physical_utilisation", &out->physical_utilisation, err)
	    || field_bool(rec, "read_only", &out->read_only, err)
	    || field_bool(rec, "managed", &out->managed, err)
	    || field_bool(rec, "sharable", &out->sharable, err)
	    || field_bool(rec, "missing", &out->missing, err)
	    || field_bool(rec, "is_a_snapshot", &out->is_a_snapshot, err))
		return -1;
	return parse_map(xr_struct_get(rec, "sm_config"), "VDI field sm_config",
			 &out->sm_config, &out->sm_config_count, err);
}

int xapi_vdi_records_of_sr(struct xapi_conn *c, const char *sr_ref,
			   struct xapi_vdi_list *out, struct sm_error *err)
{
	struct xr_value *p[1], *v;
	char *expr = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	/* util.list_VDI_records_in_sr's expression, byte for byte. */
	if (asprintf(&expr, "field \"SR\" = \"%s\"", sr_ref) < 0)
		return oom(err);
	p[0] = xr_string(expr);
	free(expr);
	if (call_owned(c, "VDI.get_all_records_where", p, 1, &v, err))
		return -1;
	if (v->type != XR_STRUCT) {
		sm_fail(err, SME_API_PROTOCOL,
			"xapi: VDI.get_all_records_where: the answer is not a map");
		goto out;
	}
	if (v->u.st.count && !(out->recs = calloc(v->u.st.count, sizeof(*out->recs)))) {
		oom(err);
		goto out;
	}
	for (size_t i = 0; i < v->u.st.count; i++) {
		const struct xr_member *m = &v->u.st.members[i];

		out->count++;
		if (parse_vdi_record(m->name, m->value, &out->recs[i], err))
			goto out;
	}
	rc = 0;
out:
	if (rc)
		xapi_vdi_list_free(out);
	xr_free(v);
	return rc;
}

int xapi_vdi_get_record(struct xapi_conn *c, const char *vdi_ref,
			struct xapi_vdi_rec *out, struct sm_error *err)
{
	struct xr_value *p[1] = { xr_string(vdi_ref) }, *v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (call_owned(c, "VDI.get_record", p, 1, &v, err))
		return -1;
	rc = parse_vdi_record(vdi_ref, v, out, err);
	if (rc)
		xapi_vdi_rec_free(out);
	xr_free(v);
	return rc;
}

int xapi_vdi_get_sm_config(struct xapi_conn *c, const char *vdi_ref, struct scan_kv **kv,
			   size_t *n, struct sm_error *err)
{
	struct xr_value *p[1] = { xr_string(vdi_ref) }, *v;
	int rc;

	*kv = NULL;
	*n = 0;
	if (call_owned(c, "VDI.get_sm_config", p, 1, &v, err))
		return -1;
	rc = parse_map(v, "VDI.get_sm_config's answer", kv, n, err);
	xr_free(v);
	return rc;
}

/* ---- VDI.db_introduce ---- */

int xapi_datetime_parse(const char *text, time_t *t)
{
	struct tm tm = { 0 };
	const char *end = text ? strptime(text, "%Y%m%dT%H:%M:%S", &tm) : NULL;

	if (!end || (*end && strcmp(end, "Z")))
		return -1;
	*t = timegm(&tm);
	return 0;
}

#define INTRODUCE_ARGS 19

int xapi_vdi_db_introduce(struct xapi_conn *c, const struct xapi_introduce *in, char **ref,
			  struct sm_error *err)
{
	/* The order of VDI.py's _db_introduce (and of xapi's datamodel). */
	struct xr_value *p[INTRODUCE_ARGS] = {
		xr_string(in->uuid),
		xr_string(in->name_label ? in->name_label : ""),
		xr_string(in->name_description ? in->name_description : ""),
		xr_string(in->sr_ref),
		xr_string(in->type ? in->type : "user"),
		xr_bool(in->sharable),
		xr_bool(in->read_only),
		xr_struct(),                                  /* other_config */
		xr_string(in->location),
		xr_struct(),                                  /* xenstore_data */
		kv_struct(in->sm_config, in->sm_config_count),
		xr_bool(in->managed),
		size_string(in->virtual_size),
		size_string(in->physical_utilisation),
		xr_string(in->metadata_of_pool && *in->metadata_of_pool ? in->metadata_of_pool :
			  NULL_REF),
		xr_bool(in->is_a_snapshot),
		xr_datetime(in->snapshot_time),
		xr_string(in->snapshot_of && *in->snapshot_of ? in->snapshot_of : NULL_REF),
		xr_bool(in->cbt_enabled),
	};

	return call_string(c, "VDI.db_introduce", p, INTRODUCE_ARGS, ref, err);
}

/* ---- setters ---- */

static int call_ref_bool(struct xapi_conn *c, const char *method, const char *ref, bool on,
			 struct sm_error *err)
{
	struct xr_value *p[2] = { xr_string(ref), xr_bool(on) };

	return call_owned(c, method, p, 2, NULL, err);
}

int xapi_vdi_set_read_only(struct xapi_conn *c, const char *vdi_ref, bool on,
			   struct sm_error *err)
{
	return call_ref_bool(c, "VDI.set_read_only", vdi_ref, on, err);
}

int xapi_vdi_set_managed(struct xapi_conn *c, const char *vdi_ref, bool on,
			 struct sm_error *err)
{
	return call_ref_bool(c, "VDI.set_managed", vdi_ref, on, err);
}

int xapi_vdi_add_to_sm_config(struct xapi_conn *c, const char *vdi_ref, const char *key,
			      const char *value, struct sm_error *err)
{
	struct xr_value *p[3] = { xr_string(vdi_ref), xr_string(key), xr_string(value) };

	return call_owned(c, "VDI.add_to_sm_config", p, 3, NULL, err);
}

int xapi_vdi_remove_from_sm_config(struct xapi_conn *c, const char *vdi_ref, const char *key,
				   struct sm_error *err)
{
	struct xr_value *p[2] = { xr_string(vdi_ref), xr_string(key) };

	return call_owned(c, "VDI.remove_from_sm_config", p, 2, NULL, err);
}

int xapi_vdi_set_sm_config(struct xapi_conn *c, const char *vdi_ref, const struct scan_kv *kv,
			   size_t n, struct sm_error *err)
{
	struct xr_value *p[2] = { xr_string(vdi_ref), kv_struct(kv, n) };

	return call_owned(c, "VDI.set_sm_config", p, 2, NULL, err);
}

/* ---- SR, host, secret ---- */

int xapi_sr_get_by_uuid(struct xapi_conn *c, const char *uuid, char **ref,
			struct sm_error *err)
{
	struct xr_value *p[1] = { xr_string(uuid) };

	return call_string(c, "SR.get_by_uuid", p, 1, ref, err);
}

int xapi_host_call_plugin(struct xapi_conn *c, const char *host_ref, const char *plugin,
			  const char *fn, const struct scan_kv *args, size_t n, char **result,
			  struct sm_error *err)
{
	struct xr_value *p[4] = { xr_string(host_ref), xr_string(plugin), xr_string(fn),
				  kv_struct(args, n) };
	char *ignored = NULL;
	int rc = call_string(c, "host.call_plugin", p, 4, result ? result : &ignored, err);

	free(ignored);
	return rc;
}

int xapi_secret_value(struct xapi_conn *c, const char *secret_uuid, char **value,
		      struct sm_error *err)
{
	struct xr_value *p[1] = { xr_string(secret_uuid) }, *v;
	char *ref = NULL;
	int rc;

	*value = NULL;
	if (call_string(c, "secret.get_by_uuid", p, 1, &ref, err))
		return -1;
	p[0] = xr_string(ref);
	free(ref);
	if (call_owned(c, "secret.get_value", p, 1, &v, err))
		return -1;
	/* Whatever goes wrong, the detail names the secret, never its value. */
	if (v->type != XR_STRING)
		rc = sm_fail(err, SME_API_PROTOCOL,
			     "xapi: secret.get_value of secret %s: the answer is not a string",
			     secret_uuid);
	else
		rc = (*value = strdup(v->u.str)) ? 0 : oom(err);
	if (v->type == XR_STRING)
		explicit_bzero(v->u.str, strlen(v->u.str));
	xr_free(v);
	return rc;
}
