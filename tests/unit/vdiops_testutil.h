/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What the tests of the VDI operations (test_vdiops) and of the GC's
 * runner (test_gc_run) share: drivers/vhdsr.c reaches its store through
 * fsr_store(), which this header provides over an in-memory store in place
 * of drivers/filebased.c (and a no-op GC kick), and calls that are parsed
 * as the dispatcher parses them, with recovery before each as under the SR
 * lock.  Header-only: each test program is one translation unit; it
 * includes this after <cmocka.h> and vstore_testutil.h, whose helpers the
 * shared make_vdi and assert_data use.
 */
#ifndef CSM_TEST_VDIOPS_UTIL_H
#define CSM_TEST_VDIOPS_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../drivers/filebased.h"
#include "csm/vdiforest.h"
#include "csm/vstore_mem.h"

#define SR_UUID "11111111-2222-4333-8444-555555555555"

/* ---- what drivers/filebased.c gives vhdsr.c ------------------------------ */

static struct vstore_mem *the_store;

struct vstore *fsr_store(struct file_sr *sr)
{
	return vstore_mem_vs(the_store);
}

void fsr_kick_gc(const struct file_sr *sr)
{
}

/*
 * The kill sweeps' stride: every n-th step, n = CSM_FILE_SWEEP_EVERY as
 * the integration sweeps take it (make check-asan sets 3, where one step
 * costs ten times as much; the build-test pass kills at every step).  Step
 * 0 always runs, and each sweep still ends with a run that is not killed.
 */
static inline unsigned long kill_sweep_every(void)
{
	const char *s = getenv("CSM_FILE_SWEEP_EVERY");
	unsigned long n = s ? strtoul(s, NULL, 10) : 1;

	return n ? n : 1;
}

/* ---- calls ------------------------------------------------------------------ */

struct env {
	struct vstore_mem *m;
	struct vstore *vs;
	struct file_sr sr;
	struct sm_error err;
	char result[37];      /* the uuid the call answered, "" for none */
};

static inline void env_init(struct env *e, bool lvm)
{
	memset(e, 0, sizeof(*e));
	e->m = vstore_mem_new(SR_UUID);
	assert_non_null(e->m);
	vstore_mem_set_lvm(e->m, lvm);
	e->vs = vstore_mem_vs(e->m);
	e->sr.sr_uuid = SR_UUID;
	e->sr.repair = true;
	the_store = e->m;
}

static inline void env_free(struct env *e)
{
	vstore_mem_free(e->m);
	the_store = NULL;
}

#define MEMBER(n, v) "<member><name>" n "</name><value>" v "</value></member>"

/*
 * Run one call as the dispatcher does for an SR-changing command: parse,
 * recover what a killed call left, then the op.  args: the <value>s.
 */
static inline int run(struct env *e, const char *method, const char *vdi, const char *args,
	       sm_op_fn fn)
{
	static char doc[8192];
	struct sm_call call = { 0 };
	struct sm_ctx ctx = { .call = &call, .sr = &e->sr };
	const char *uuid;
	int rc, n;

	n = snprintf(doc, sizeof(doc),
		     "<methodCall><methodName>%s</methodName><params><param><value><struct>"
		     MEMBER("host_ref", "OpaqueRef:11111111-0000-4000-8000-000000000001")
		     MEMBER("session_ref", "OpaqueRef:11111111-0000-4000-8000-000000000002")
		     MEMBER("sr_ref", "OpaqueRef:11111111-0000-4000-8000-000000000003")
		     MEMBER("vdi_ref", "OpaqueRef:11111111-0000-4000-8000-000000000004")
		     "<member><name>command</name><value>%s</value></member>"
		     "<member><name>args</name><value><array><data>%s</data></array></value></member>"
		     "<member><name>device_config</name><value><struct>"
		     MEMBER("SRmaster", "true") "</struct></value></member>"
		     MEMBER("sr_uuid", SR_UUID) MEMBER("vdi_type", "user")
		     "%s%s%s%s%s"
		     "<member><name>vdi_sm_config</name><value><struct/></value></member>"
		     "<member><name>driver_params</name><value><struct/></value></member>"
		     "</struct></value></param></params></methodCall>",
		     method, method, args,
		     *vdi ? "<member><name>vdi_uuid</name><value>" : "", vdi,
		     *vdi ? "</value></member><member><name>vdi_location</name><value>" : "",
		     vdi, *vdi ? "</value></member>" : "");
	assert_true(n > 0 && n < (int)sizeof(doc));
	sm_error_clear(&e->err);
	e->result[0] = '\0';
	if (call_parse(doc, (size_t)n, &call, &ctx.err) < 0)
		print_error("%s: %s\n", method, ctx.err.detail);
	assert_int_equal(ctx.err.code, 0);
	rc = fsr_recover(&ctx);
	if (rc == 0 && fn)
		rc = fn(&ctx);
	e->err = ctx.err;
	uuid = ctx.result ? xr_struct_get_string(ctx.result, "uuid") : NULL;
	snprintf(e->result, sizeof(e->result), "%s", uuid ? uuid : "");
	xr_free(ctx.result);
	call_free(&call);
	return rc;
}

static inline int create_vdi(struct env *e, const char *uuid, uint64_t size)
{
	char args[512];

	snprintf(args, sizeof(args), "<value>%llu</value><value>disk</value><value>about</value>"
		 "<value/><value>false</value><value>19700101T00:00:00Z</value><value/>"
		 "<value>false</value>", (unsigned long long)size);
	return run(e, "vdi_create", uuid, args, fsr_vdi_create);
}

static inline int delete_vdi(struct env *e, const char *uuid)
{
	return run(e, "vdi_delete", uuid, "", fsr_vdi_delete);
}

static inline int snapshot_vdi(struct env *e, const char *uuid)
{
	return run(e, "vdi_snapshot", uuid, "", fsr_vdi_snapshot);
}

static inline int clone_vdi(struct env *e, const char *uuid)
{
	return run(e, "vdi_clone", uuid, "", fsr_vdi_clone);
}

static inline int resize_vdi(struct env *e, const char *uuid, uint64_t size)
{
	char args[64];

	snprintf(args, sizeof(args), "<value>%llu</value>", (unsigned long long)size);
	return run(e, "vdi_resize", uuid, args, fsr_vdi_resize);
}

/* A VDI of 8 MiB with 'a' in its first MiB and 'b' in its third. */
static inline void make_vdi(struct env *e, const char *uuid)
{
	struct sm_error err = { 0 };

	assert_int_equal(create_vdi(e, uuid, 8 * MiB), 0);
	assert_string_equal(e->result, uuid);
	assert_int_equal(vs_fill(e->vs, uuid, 0, MiB, 'a', &err), 0);
	assert_int_equal(vs_fill(e->vs, uuid, 2 * MiB, MiB, 'b', &err), 0);
}

static inline void assert_data(struct env *e, const char *uuid)
{
	struct sm_error err = { 0 };

	assert_int_equal(vs_holds(e->vs, uuid, 0, MiB, 'a', &err), 1);
	assert_int_equal(vs_holds(e->vs, uuid, MiB, MiB, 0, &err), 1);
	assert_int_equal(vs_holds(e->vs, uuid, 2 * MiB, MiB, 'b', &err), 1);
}

/* How many images the store lists; every one must read without an error. */
static inline int image_count(struct env *e)
{
	struct sm_error err = { 0 };
	struct vdi_forest f;
	int n;

	assert_int_equal(vdi_forest_load(&f, e->vs, false, &err), 0);
	n = (int)f.count;
	for (size_t i = 0; i < f.count; i++)
		assert_string_equal(f.nodes[i].img.error, "");
	vdi_forest_free(&f);
	return n;
}

#endif
