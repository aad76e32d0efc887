/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The side effects (lib/xapi_sync.c) against the XenAPI test server
 * (tests/xapi/server.py, python3), which checks every call's arity and
 * argument types as xapi's dispatcher does: the VDI reconcile of a scan
 * (introduce, forget, update, a VDI with an error left alone), the SR
 * sizes, the activation handshake, the tapdisk-pause plugin calls, and
 * the choice of mode.  Runs from the repository root (run-unit.sh does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/driver.h"
#include "csm/error.h"
#include "csm/util.h"
#include "csm/xapi_sync.h"
#include "xapi_server_testutil.h"

#define SR_UUID "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"
#define U(c) c c c c c c c c "-" c c c c "-4" c c c "-8" c c c "-" c c c c c c c c c c c c
#define A U("a")     /* unchanged */
#define B U("b")     /* changed: sizes, read_only, vhd-parent */
#define C U("c")     /* in xapi only: forgotten */
#define D U("d")     /* new base copy */
#define E U("e")     /* new raw */
#define F U("f")     /* error: left alone */
#define G U("9")     /* error, new: not introduced */
#define H U("1")     /* vhd-parent gone */
#define M U("2")     /* became hidden: managed false */
#define N U("3")     /* new leaf of D */
#define Q U("4")     /* new, introduced by name */
#define P U("5")     /* B's parent in truth, exists nowhere else */

static char dir[64];
static char sock[128];
static char session[128];

/* The initial database: SR sr1, hosts h1 and h2, the VDIs xapi knows. */
static const char db_json[] =
	"{\"host\": [{\"ref\": \"OpaqueRef:h1\", \"name_label\": \"h1\"},"
	"           {\"ref\": \"OpaqueRef:h2\", \"name_label\": \"h2\"}],"
	" \"SR\": [{\"ref\": \"OpaqueRef:sr1\", \"uuid\": \"" SR_UUID "\", \"type\": \"ext\"}],"
	" \"VDI\": ["
	"  {\"ref\": \"OpaqueRef:a\", \"uuid\": \"" A "\", \"SR\": \"OpaqueRef:sr1\", \"location\": \"" A "\","
	"   \"virtual_size\": \"1048576\", \"physical_utilisation\": \"4608\", \"managed\": true},"
	"  {\"ref\": \"OpaqueRef:b\", \"uuid\": \"" B "\", \"SR\": \"OpaqueRef:sr1\", \"location\": \"" B "\","
	"   \"virtual_size\": \"1048576\", \"physical_utilisation\": \"512\", \"managed\": true,"
	"   \"sm_config\": {\"vhd-parent\": \"old\", \"host_OpaqueRef:h1\": \"RW\", \"custom\": \"keep\"}},"
	"  {\"ref\": \"OpaqueRef:c\", \"uuid\": \"" C "\", \"SR\": \"OpaqueRef:sr1\", \"location\": \"" C "\","
	"   \"managed\": true},"
	"  {\"ref\": \"OpaqueRef:f\", \"uuid\": \"" F "\", \"SR\": \"OpaqueRef:sr1\", \"location\": \"" F "\","
	"   \"virtual_size\": \"5\", \"managed\": true, \"sm_config\": {\"vhd-parent\": \"" A "\"}},"
	"  {\"ref\": \"OpaqueRef:h\", \"uuid\": \"" H "\", \"SR\": \"OpaqueRef:sr1\", \"location\": \"" H "\","
	"   \"virtual_size\": \"1048576\", \"physical_utilisation\": \"4608\", \"managed\": true,"
	"   \"sm_config\": {\"vhd-parent\": \"" A "\"}},"
	"  {\"ref\": \"OpaqueRef:m\", \"uuid\": \"" M "\", \"SR\": \"OpaqueRef:sr1\", \"location\": \"" M "\","
	"   \"virtual_size\": \"1048576\", \"physical_utilisation\": \"4608\", \"managed\": true,"
	"   \"read_only\": true}"
	" ]}";


static int start_server(void **state)
{
	FILE *f;
	char db[128];

	strcpy(dir, "/tmp/csm-xsync-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/db.in.json", dir);
	f = fopen(db, "w");
	assert_non_null(f);
	fputs(db_json, f);
	fclose(f);
	if (xts_shell("tests/xapi/server.sh start %s/srv --db %s >%s/start.out 2>&1", dir, db, dir))
		fail_msg("tests/xapi/server.sh start failed (see %s/start.out)", dir);
	snprintf(sock, sizeof(sock), "%s/srv/xapi", dir);
	xts_login(sock, session, sizeof(session));
	return 0;
}

static int stop_server(void **state)
{
	xts_shell("tests/xapi/server.sh stop %s/srv", dir);
	xts_shell("rm -rf %s", dir);
	return 0;
}

static void conn(struct xapi_conn *c)
{
	struct sm_error err = { 0 };

	assert_int_equal(xapi_conn_init(c, sock, session, NULL, 5000, &err), 0);
}

static struct scan_vdi *add(struct scan_sr *t, const char *uuid, uint64_t size, uint64_t util,
			    const char *parent, bool hidden, bool read_only, const char *type)
{
	struct scan_vdi *v = scan_add_vdi(t);

	assert_non_null(v);
	snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
	snprintf(v->location, sizeof(v->location), "%s", uuid);
	snprintf(v->parent, sizeof(v->parent), "%s", parent ? parent : "");
	v->size = size;
	v->utilisation = util;
	v->hidden = hidden;
	v->managed = !hidden;
	v->read_only = read_only;
	v->type = type;
	return v;
}

static void records(struct xapi_vdi_list *l)
{
	struct xapi_conn c;
	struct sm_error err = { 0 };

	conn(&c);
	if (xapi_vdi_records_of_sr(&c, "OpaqueRef:sr1", l, &err))
		fail_msg("records: %s", err.detail);
	xapi_conn_free(&c);
}

static const struct xapi_vdi_rec *rec(const struct xapi_vdi_list *l, const char *uuid)
{
	const struct xapi_vdi_rec *r = xapi_vdi_list_find(l, uuid);

	if (!r)
		fail_msg("no VDI record %s", uuid);
	return r;
}

/* The scan: every VDI reconciled against what the SR holds. */
static void test_sync_all(void **state)
{
	struct scan_sr t = { .uuid = SR_UUID };
	struct xapi_conn c;
	struct sm_error err = { 0 };
	struct xapi_vdi_list l;
	const struct xapi_vdi_rec *r;
	struct scan_vdi *v;
	struct xsync_new_vdi extra[] = { { .uuid = N, .name_label = "new disk",
					   .name_description = "made by the test" } };

	add(&t, A, 1048576, 4608, NULL, false, false, "vhd");
	add(&t, B, 2097152, 8192, P, false, true, "vhd");
	v = add(&t, D, 1048576, 2048, NULL, true, true, "vhd");
	v->label = strdup("base copy");
	add(&t, E, 4096, 4096, NULL, false, false, "raw");
	v = add(&t, F, 99, 99, NULL, false, false, "vhd");
	v->error = strdup("cannot read the footer");
	v = add(&t, G, 99, 99, NULL, false, false, "vhd");
	v->error = strdup("cannot read the footer");
	add(&t, H, 1048576, 4608, NULL, false, false, "vhd");
	add(&t, M, 1048576, 4608, NULL, true, true, "vhd");
	add(&t, N, 1048576, 512, D, false, false, "vhd");

	conn(&c);
	if (xsync_vdis(&c, "OpaqueRef:sr1", &t, NULL, 0, extra, 1, &err))
		fail_msg("xsync_vdis: %d %s", err.code, err.detail);
	xapi_conn_free(&c);

	records(&l);
	assert_int_equal(l.count, 8);        /* A B D E F H M N; C forgotten, G not introduced */
	assert_null(xapi_vdi_list_find(&l, C));
	assert_null(xapi_vdi_list_find(&l, G));

	r = rec(&l, A);                       /* unchanged */
	assert_string_equal(r->ref, "OpaqueRef:a");
	assert_int_equal(r->sm_config_count, 0);

	r = rec(&l, B);                       /* sizes, read_only, vhd-parent; other keys kept */
	assert_int_equal(r->virtual_size, 2097152);
	assert_int_equal(r->physical_utilisation, 8192);
	assert_true(r->read_only);
	assert_true(r->managed);
	assert_string_equal(xapi_vdi_rec_config(r, "vhd-parent"), P);
	assert_string_equal(xapi_vdi_rec_config(r, "host_OpaqueRef:h1"), "RW");
	assert_string_equal(xapi_vdi_rec_config(r, "custom"), "keep");

	r = rec(&l, D);                       /* base copy: hidden => unmanaged, read-only */
	assert_string_equal(r->name_label, "base copy");
	assert_string_equal(r->location, D);
	assert_false(r->managed);
	assert_true(r->read_only);
	assert_string_equal(r->type, "user");
	assert_int_equal(r->virtual_size, 1048576);
	assert_int_equal(r->physical_utilisation, 2048);
	assert_int_equal(r->sm_config_count, 0);

	r = rec(&l, E);                       /* raw: FileVDI's type=raw */
	assert_int_equal(r->sm_config_count, 1);
	assert_string_equal(xapi_vdi_rec_config(r, "type"), "raw");
	assert_true(r->managed);

	r = rec(&l, F);                       /* error: untouched */
	assert_string_equal(r->ref, "OpaqueRef:f");
	assert_int_equal(r->virtual_size, 5);
	assert_string_equal(xapi_vdi_rec_config(r, "vhd-parent"), A);

	r = rec(&l, H);                       /* no parent any more */
	assert_null(xapi_vdi_rec_config(r, "vhd-parent"));

	r = rec(&l, M);                       /* hidden now */
	assert_false(r->managed);
	assert_true(r->read_only);

	r = rec(&l, N);                       /* new leaf: label from extra, parent */
	assert_string_equal(r->name_label, "new disk");
	assert_string_equal(r->name_description, "made by the test");
	assert_string_equal(xapi_vdi_rec_config(r, "vhd-parent"), D);
	assert_true(r->managed);
	assert_false(r->read_only);
	assert_false(r->is_a_snapshot);
	xapi_vdi_list_free(&l);

	/* A second pass finds nothing to do: the records are unchanged (same refs). */
	conn(&c);
	if (xsync_vdis(&c, "OpaqueRef:sr1", &t, NULL, 0, NULL, 0, &err))
		fail_msg("xsync_vdis again: %s", err.detail);
	xapi_conn_free(&c);
	records(&l);
	assert_int_equal(l.count, 8);
	assert_string_equal(rec(&l, B)->ref, "OpaqueRef:b");
	xapi_vdi_list_free(&l);
	scan_sr_free(&t);
}

/* Named uuids only: Q introduced as a snapshot, A forgotten, the rest untouched. */
static void test_sync_named(void **state)
{
	struct scan_sr t = { .uuid = SR_UUID };
	struct xapi_conn c;
	struct sm_error err = { 0 };
	struct xapi_vdi_list l;
	const struct xapi_vdi_rec *r;
	const char *only_q[] = { Q }, *only_a[] = { A };
	struct xsync_new_vdi extra[] = { { .uuid = Q, .is_a_snapshot = true,
					   .snapshot_of = "OpaqueRef:b",
					   .snapshot_time = 1795816800 } };

	/* Truth lacks A and E, has Q and an unrelated change to B. */
	add(&t, B, 1, 1, NULL, false, false, "vhd");
	add(&t, Q, 1048576, 512, B, false, false, "vhd");
	conn(&c);
	if (xsync_vdis(&c, "OpaqueRef:sr1", &t, only_q, 1, extra, 1, &err))
		fail_msg("xsync_vdis Q: %s", err.detail);
	records(&l);
	r = rec(&l, Q);
	assert_true(r->is_a_snapshot);
	assert_string_equal(xapi_vdi_rec_config(r, "vhd-parent"), B);
	assert_non_null(xapi_vdi_list_find(&l, A));
	assert_non_null(xapi_vdi_list_find(&l, E));
	assert_int_equal(rec(&l, B)->virtual_size, 2097152);
	xapi_vdi_list_free(&l);
	{
		/* snapshot_of and snapshot_time as given, in the server's own record. */
		struct xr_value *ref, *v = NULL;
		char *qref = NULL;

		assert_int_equal(xapi_vdi_get_by_uuid(&c, Q, &qref, &err), 0);
		ref = xr_string(qref);
		{
			const struct xr_value *p[] = { ref };

			assert_int_equal(xapi_call(&c, "VDI.get_record", p, 1, &v, &err), 0);
		}
		assert_string_equal(xr_struct_get_string(v, "snapshot_of"), "OpaqueRef:b");
		assert_int_equal(xr_struct_get(v, "snapshot_time")->type, XR_DATETIME);
		assert_string_equal(xr_struct_get(v, "snapshot_time")->u.str, "20261127T22:00:00Z");
		xr_free(v);
		xr_free(ref);
		free(qref);
	}

	if (xsync_vdis(&c, "OpaqueRef:sr1", &t, only_a, 1, NULL, 0, &err))
		fail_msg("xsync_vdis A: %s", err.detail);
	xapi_conn_free(&c);
	records(&l);
	assert_null(xapi_vdi_list_find(&l, A));
	assert_non_null(xapi_vdi_list_find(&l, E));
	xapi_vdi_list_free(&l);
	scan_sr_free(&t);
}

static void test_sr_sizes(void **state)
{
	struct scan_sr t = { .physical_size = 10737418240ULL, .physical_utilisation = 4096,
			     .virtual_allocation = 3145728 };
	struct xapi_conn c;
	struct sm_error err = { 0 };
	struct xr_value *ref = xr_string("OpaqueRef:sr1"), *v = NULL;
	const struct xr_value *p[] = { ref };

	conn(&c);
	if (xsync_sr_sizes(&c, "OpaqueRef:sr1", &t, &err))
		fail_msg("xsync_sr_sizes: %s", err.detail);
	assert_int_equal(xapi_call(&c, "SR.get_record", p, 1, &v, &err), 0);
	assert_string_equal(xr_struct_get_string(v, "physical_size"), "10737418240");
	assert_string_equal(xr_struct_get_string(v, "physical_utilisation"), "4096");
	assert_string_equal(xr_struct_get_string(v, "virtual_allocation"), "3145728");
	xr_free(v);
	xr_free(ref);
	xapi_conn_free(&c);
}

static char *config_of(struct xapi_conn *c, const char *ref, const char *key)
{
	struct scan_kv *kv;
	size_t n;
	struct sm_error err = { 0 };
	const char *v;
	char *out;

	if (xapi_vdi_get_sm_config(c, ref, &kv, &n, &err))
		fail_msg("get_sm_config: %s", err.detail);
	v = xapi_kv_get(kv, n, key);
	out = v ? strdup(v) : NULL;
	xapi_kv_free(kv, n);
	return out;
}

#define ASSERT_CONFIG(c, ref, key, want) do { \
	char *got_ = config_of(c, ref, key); \
	if ((want) == NULL) \
		assert_null(got_); \
	else \
		assert_string_equal(got_ ? got_ : "(none)", (want) ? (want) : ""); \
	free(got_); \
} while (0)

static void test_activate(void **state)
{
	struct xapi_conn c;
	struct sm_error err = { 0 };
	const char *none = NULL;

	conn(&c);
	/* H (no keys left): begin read-only on h2, end ok, deactivate. */
	assert_int_equal(xsync_activate_begin(&c, "OpaqueRef:h", "OpaqueRef:h2", false, &err), 0);
	ASSERT_CONFIG(&c, "OpaqueRef:h", "activating", "True");
	ASSERT_CONFIG(&c, "OpaqueRef:h", "host_OpaqueRef:h2", "RO");
	assert_int_equal(xsync_activate_end(&c, "OpaqueRef:h", "OpaqueRef:h2", true, &err), 0);
	ASSERT_CONFIG(&c, "OpaqueRef:h", "activating", none);
	ASSERT_CONFIG(&c, "OpaqueRef:h", "host_OpaqueRef:h2", "RO");
	assert_int_equal(xsync_deactivate(&c, "OpaqueRef:h", "OpaqueRef:h2", &err), 0);
	ASSERT_CONFIG(&c, "OpaqueRef:h", "host_OpaqueRef:h2", none);

	/* A failed activation leaves neither key. */
	assert_int_equal(xsync_activate_begin(&c, "OpaqueRef:h", "OpaqueRef:h1", true, &err), 0);
	ASSERT_CONFIG(&c, "OpaqueRef:h", "host_OpaqueRef:h1", "RW");
	assert_int_equal(xsync_activate_end(&c, "OpaqueRef:h", "OpaqueRef:h1", false, &err), 0);
	ASSERT_CONFIG(&c, "OpaqueRef:h", "host_OpaqueRef:h1", none);
	ASSERT_CONFIG(&c, "OpaqueRef:h", "activating", none);

	/* Paused: refused (without the wait), nothing added; deactivate refused too. */
	setenv("CSM_XAPI_PAUSE_WAIT_S", "0", 1);
	assert_int_equal(xapi_vdi_add_to_sm_config(&c, "OpaqueRef:h", "paused", "true", &err), 0);
	assert_int_equal(xsync_deactivate_check(&c, "OpaqueRef:h", &err), -1);
	assert_int_equal(err.code, SME_VDI_UNAVAILABLE);
	assert_non_null(strstr(err.detail, "paused"));
	sm_error_clear(&err);
	assert_int_equal(xsync_activate_begin(&c, "OpaqueRef:h", "OpaqueRef:h1", true, &err), -1);
	assert_int_equal(err.code, SME_VDI_UNAVAILABLE);
	assert_non_null(strstr(err.detail, "paused"));
	ASSERT_CONFIG(&c, "OpaqueRef:h", "activating", none);
	ASSERT_CONFIG(&c, "OpaqueRef:h", "host_OpaqueRef:h1", none);
	assert_int_equal(xapi_vdi_remove_from_sm_config(&c, "OpaqueRef:h", "paused", NULL), 0);
	assert_int_equal(xsync_deactivate_check(&c, "OpaqueRef:h", &err), 0);
	unsetenv("CSM_XAPI_PAUSE_WAIT_S");
	xapi_conn_free(&c);
}

/* The server's plugin_calls, as compact JSON, from its SIGUSR1 dump. */
static char *plugin_calls(void)
{
	char path[160], cmd[400], *out = calloc(1, 8192);
	struct stat st0 = { 0 }, st;
	FILE *f;
	size_t n;

	assert_non_null(out);
	snprintf(path, sizeof(path), "%s/srv/db.json", dir);
	stat(path, &st0);
	assert_int_equal(xts_shell("kill -USR1 $(cat %s/srv/pid)", dir), 0);
	for (int i = 0; i < 100; i++) {
		if (!stat(path, &st) && (st.st_ino != st0.st_ino || st.st_mtim.tv_nsec !=
					 st0.st_mtim.tv_nsec || st.st_mtim.tv_sec != st0.st_mtim.tv_sec))
			break;
		usleep(50000);
	}
	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys; print(json.dumps(json.load("
		 "open(sys.argv[1]))[\"plugin_calls\"], sort_keys=True))' %s", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, 8191, f);
	out[n] = 0;
	pclose(f);
	return out;
}

#define PLUGIN(host, fn, vdi) \
	"[\"" host "\", \"tapdisk-pause\", \"" fn "\", {\"failfast\": \"False\", " \
	"\"sr_uuid\": \"" SR_UUID "\", \"vdi_uuid\": \"" vdi "\"}]"

static void test_pause(void **state)
{
	struct xapi_conn c;
	struct sm_error err = { 0 };
	struct xsync_paused p;
	char *calls;

	conn(&c);
	/* B is attached on h1 (RW) and, now, h2 (RO). */
	assert_int_equal(xapi_vdi_add_to_sm_config(&c, "OpaqueRef:b", "host_OpaqueRef:h2", "RO",
						   &err), 0);
	if (xsync_pause(&c, "OpaqueRef:b", SR_UUID, B, &p, &err))
		fail_msg("xsync_pause: %s", err.detail);
	assert_int_equal(p.count, 2);
	ASSERT_CONFIG(&c, "OpaqueRef:b", "paused", "true");
	if (xsync_unpause(&c, SR_UUID, B, &p, &err))
		fail_msg("xsync_unpause: %s", err.detail);
	xsync_paused_free(&p);
	ASSERT_CONFIG(&c, "OpaqueRef:b", "paused", (const char *)NULL);
	calls = plugin_calls();
	assert_string_equal(calls, "[" PLUGIN("OpaqueRef:h1", "pause", B) ", "
				   PLUGIN("OpaqueRef:h2", "pause", B) ", "
				   PLUGIN("OpaqueRef:h1", "unpause", B) ", "
				   PLUGIN("OpaqueRef:h2", "unpause", B) "]\n");
	free(calls);

	/* A host that cannot be paused: the one paused before is unpaused, the key goes. */
	assert_int_equal(xapi_vdi_remove_from_sm_config(&c, "OpaqueRef:b", "host_OpaqueRef:h2",
							&err), 0);
	assert_int_equal(xapi_vdi_add_to_sm_config(&c, "OpaqueRef:b", "host_OpaqueRef:gone", "RO",
						   &err), 0);
	assert_int_equal(xsync_pause(&c, "OpaqueRef:b", SR_UUID, B, &p, &err), -1);
	assert_int_equal(err.code, SME_API_FAILURE);
	assert_string_equal(err.detail, "['HANDLE_INVALID', 'host', 'OpaqueRef:gone']");
	assert_null(p.hosts);
	ASSERT_CONFIG(&c, "OpaqueRef:b", "paused", (const char *)NULL);
	calls = plugin_calls();
	assert_non_null(strstr(calls, PLUGIN("OpaqueRef:h2", "unpause", B) ", "
				      PLUGIN("OpaqueRef:h1", "pause", B) ", "
				      PLUGIN("OpaqueRef:h1", "unpause", B) "]\n"));
	free(calls);
	/* Unpausing what was never paused does nothing. */
	assert_int_equal(xsync_unpause(&c, SR_UUID, B, &p, &err), 0);
	xapi_conn_free(&c);
}

/*
 * The server checks types as xapi does: what the library sends passes
 * (every test above), the same calls with a wrong type do not.
 */
static void test_wrong_types_refused(void **state)
{
	struct xapi_conn c;
	struct sm_error err = { 0 };
	struct xr_value *ref = xr_string("OpaqueRef:b"), *s = xr_string("true"), *v = NULL;
	struct xr_value *when = xr_string("20261127T22:00:00Z");
	const struct xr_value *ro[] = { ref, s }, *t[] = { ref, when };

	conn(&c);
	assert_int_equal(xapi_call(&c, "VDI.set_read_only", ro, 2, &v, &err), -1);
	assert_string_equal(err.detail, "['FIELD_TYPE_ERROR', 'value']");
	sm_error_clear(&err);
	assert_int_equal(xapi_call(&c, "VDI.set_snapshot_time", t, 2, &v, &err), -1);
	assert_string_equal(err.detail, "['FIELD_TYPE_ERROR', 'value']");
	sm_error_clear(&err);
	/* The arity too: set_read_only without its value. */
	assert_int_equal(xapi_call(&c, "VDI.set_read_only", ro, 1, &v, &err), -1);
	assert_string_equal(err.detail,
			    "['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VDI.set_read_only', '3', '2']");
	xr_free(ref);
	xr_free(s);
	xr_free(when);
	xapi_conn_free(&c);
}

/* ---- the mode ---- */

static struct xr_value *request(const char *session_ref)
{
	struct xr_value *req = xr_struct();

	if (session_ref)
		assert_int_equal(xr_struct_set_string(req, "session_ref", session_ref), 0);
	assert_int_equal(xr_struct_set_string(req, "subtask_of", "OpaqueRef:task"), 0);
	return req;
}

static int mode(const char *session_ref, bool *on, struct sm_error *err, struct xapi_conn *c)
{
	struct xr_value *req = request(session_ref);
	struct sm_call call = { .req = req, .session_ref = session_ref };
	int rc;

	memset(err, 0, sizeof(*err));
	rc = xapi_mode_open(&call, c, on, err);
	xr_free(req);
	return rc;
}

static void test_mode(void **state)
{
	struct xapi_conn c;
	struct sm_error err;
	bool on = true;

	unsetenv(XAPI_TIMEOUT_ENV);
	setenv(XAPI_SOCKET_ENV, sock, 1);
	/* auto: a session and a configured endpoint that answers. */
	unsetenv(XAPI_MODE_ENV);
	assert_int_equal(mode(session, &on, &err, &c), 0);
	assert_true(on);
	assert_string_equal(c.socket_path, sock);
	assert_string_equal(c.session, session);
	assert_string_equal(c.subtask_of, "OpaqueRef:task");
	xapi_conn_free(&c);
	/* No session, or OpaqueRef:NULL: API mode. */
	assert_int_equal(mode(NULL, &on, &err, &c), 0);
	assert_false(on);
	assert_null(c.socket_path);
	assert_int_equal(mode("OpaqueRef:NULL", &on, &err, &c), 0);
	assert_false(on);
	/* off wins over everything. */
	setenv(XAPI_MODE_ENV, "off", 1);
	assert_int_equal(mode(session, &on, &err, &c), 0);
	assert_false(on);
	/* on without a session is a fault. */
	setenv(XAPI_MODE_ENV, "on", 1);
	assert_int_equal(mode(NULL, &on, &err, &c), -1);
	assert_int_equal(err.code, SME_API_PROTOCOL);
	/* A bad setting is a fault naming it. */
	setenv(XAPI_MODE_ENV, "yes", 1);
	assert_int_equal(mode(session, &on, &err, &c), -1);
	assert_int_equal(err.code, SME_API_PROTOCOL);
	assert_non_null(strstr(err.detail, "CSM_XAPI=yes"));
	setenv(XAPI_MODE_ENV, "auto", 1);
	setenv(XAPI_TIMEOUT_ENV, "soon", 1);
	assert_int_equal(mode(session, &on, &err, &c), -1);
	assert_non_null(strstr(err.detail, "CSM_XAPI_TIMEOUT_MS=soon"));
	unsetenv(XAPI_TIMEOUT_ENV);
	/* A session xapi does not know: the endpoint does not accept it, fault. */
	assert_int_equal(mode("OpaqueRef:stale", &on, &err, &c), -1);
	assert_int_equal(err.code, SME_API_PROTOCOL);
	assert_non_null(strstr(err.detail, "SESSION_INVALID"));
	assert_false(on);
	/* A configured endpoint that is not there: a fault, not API mode. */
	setenv(XAPI_SOCKET_ENV, "/nonexistent/csm-xapi", 1);
	assert_int_equal(mode(session, &on, &err, &c), -1);
	assert_int_equal(err.code, SME_API_PROTOCOL);
	assert_non_null(strstr(err.detail, "/nonexistent/csm-xapi"));
	/* Not configured at all (and no /var/lib/xcp/xapi here): API mode. */
	unsetenv(XAPI_SOCKET_ENV);
	if (access(XAPI_DEFAULT_SOCKET, F_OK) != 0) {
		assert_int_equal(mode(session, &on, &err, &c), 0);
		assert_false(on);
	}
	unsetenv(XAPI_MODE_ENV);
}

/* host.get_all over c: 0, or -1 with err. */
static int any_call(struct xapi_conn *c, struct sm_error *err)
{
	struct xr_value *v = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = xapi_call(c, "host.get_all", NULL, 0, &v, err);
	xr_free(v);
	return rc;
}

/*
 * csm-gc's mode (no request, no session handed over): it logs in as
 * cleanup.py does, logs in again when the session goes stale, and logs
 * out at the end; off is API mode; a dead endpoint is a fault.
 */
static void test_mode_process(void **state)
{
	struct xapi_conn c, old;
	struct sm_error err = { 0 };
	struct xr_value *v = NULL;
	char first[128], path[192], *logins = NULL;
	bool on = false, mine = false;

	unsetenv(XAPI_TIMEOUT_ENV);
	unsetenv(XAPI_MODE_ENV);
	setenv(XAPI_SOCKET_ENV, sock, 1);
	assert_int_equal(xapi_mode_open_process(NULL, &c, &on, &mine, &err), 0);
	assert_true(on);
	assert_true(mine);
	assert_non_null(strstr(c.session, "OpaqueRef:"));
	snprintf(first, sizeof(first), "%s", c.session);
	snprintf(path, sizeof(path), "%s/logins", dir);
	assert_int_equal(xts_shell("python3 tests/xapi/xrpc.py %s debug.logins >%s", sock, path), 0);
	assert_int_equal(sm_read_file(path, 4096, &logins), 0);
	assert_non_null(strstr(logins, "[\"root\", \"\", \"\", \"SM\"]"));
	free(logins);
	/* The session goes stale (xapi restarted): one call logs in again and goes on. */
	assert_int_equal(xapi_call(&c, "session.logout", NULL, 0, &v, &err), 0);
	xr_free(v);
	assert_int_equal(any_call(&c, &err), 0);
	assert_string_not_equal(c.session, first);
	/* The end: logged out, the session is no more. */
	assert_int_equal(xapi_conn_init(&old, sock, c.session, NULL, 5000, &err), 0);
	xapi_mode_close(&c, mine);
	assert_int_equal(any_call(&old, &err), -1);
	assert_non_null(strstr(err.detail, "SESSION_INVALID"));
	xapi_conn_free(&old);
	/* A session handed over: the request's rules, no login. */
	assert_int_equal(xapi_mode_open_process(session, &c, &on, &mine, &err), 0);
	assert_true(on);
	assert_false(mine);
	assert_string_equal(c.session, session);
	xapi_mode_close(&c, mine);
	/* Not ours: not logged out. */
	assert_int_equal(xapi_conn_init(&old, sock, session, NULL, 5000, &err), 0);
	assert_int_equal(any_call(&old, &err), 0);
	xapi_conn_free(&old);
	/* off; and a dead endpoint, never API mode. */
	setenv(XAPI_MODE_ENV, "off", 1);
	assert_int_equal(xapi_mode_open_process(NULL, &c, &on, &mine, &err), 0);
	assert_false(on);
	assert_false(mine);
	unsetenv(XAPI_MODE_ENV);
	setenv(XAPI_SOCKET_ENV, "/nonexistent/csm-xapi", 1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(xapi_mode_open_process(NULL, &c, &on, &mine, &err), -1);
	assert_int_equal(err.code, SME_API_PROTOCOL);
	assert_non_null(strstr(err.detail, "cannot log in"));
	assert_false(on);
	unsetenv(XAPI_SOCKET_ENV);
}

/* A silent endpoint: fault 154 within the configured deadline. */
static void test_mode_silent_endpoint(void **state)
{
	char sdir[160], ssock[192];
	struct xapi_conn c;
	struct sm_error err;
	struct timespec t0, t1;
	bool on = true;
	long ms;

	snprintf(sdir, sizeof(sdir), "%s/silent", dir);
	snprintf(ssock, sizeof(ssock), "%s/xapi", sdir);
	if (xts_shell("tests/xapi/server.sh start %s --silent >%s.out 2>&1", sdir, sdir))
		fail_msg("server.sh start --silent failed");
	setenv(XAPI_SOCKET_ENV, ssock, 1);
	setenv(XAPI_TIMEOUT_ENV, "400", 1);
	setenv(XAPI_MODE_ENV, "on", 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mode(session, &on, &err, &c), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	xts_shell("tests/xapi/server.sh stop %s", sdir);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(err.code, SME_API_PROTOCOL);
	assert_non_null(strstr(err.detail, "timed out"));
	assert_false(on);
	assert_true(ms >= 350 && ms < 3000);
	unsetenv(XAPI_SOCKET_ENV);
	unsetenv(XAPI_TIMEOUT_ENV);
	unsetenv(XAPI_MODE_ENV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_all),
		cmocka_unit_test(test_sync_named),
		cmocka_unit_test(test_sr_sizes),
		cmocka_unit_test(test_activate),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_wrong_types_refused),
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_mode_process),
		cmocka_unit_test(test_mode_silent_endpoint),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
