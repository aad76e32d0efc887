/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the dispatcher: sr_get_driver_info built from a fake driver's
 * op table, and sm_main run end to end in a child process whose stdout
 * is a pipe (the child exits through exit(), so the ASan build also
 * checks sm_main for leaks on every path).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/driver.h"
#include "csm/error.h"
#include "csm/lock.h"
#include "csm/scan.h"
#include "csm/xapi.h"
#include "csm/xmlrpc.h"
#include "xapi_server_testutil.h"

#define SR_UUID   "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"
#define VDI_UUID  "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e"

#define M(n, v)  "<member><name>" n "</name><value>" v "</value></member>"
#define DCONF    M("device_config", "<struct>" M("SRmaster", "true") "</struct>")
#define CALL(method, members) \
	"<methodCall><methodName>" method "</methodName><params><param><value><struct>" \
	M("command", method) members "</struct></value></param></params></methodCall>"

static char lock_dir[64];

/* ------------------------------------------------------------ fake driver */

static int loads, unloads;

static int fake_load(struct sm_ctx *ctx)
{
	if (call_dconf(ctx->call, "fail_load"))
		return sm_fail(&ctx->err, SME_CONFIG_DEVICE_MISSING, NULL);
	loads++;
	ctx->sr = &loads;
	return 0;
}

static void fake_unload(struct sm_ctx *ctx)
{
	unloads++;
}

/* sr_scan: a result, after checking the SR lock file is there. */
static int fake_sr_scan(struct sm_ctx *ctx)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s/sr", lock_dir, ctx->call->sr_uuid);
	if (access(path, F_OK) != 0)
		return sm_fail(&ctx->err, SME_LOCK_ERR, "no lock file %s", path);
	if (ctx->sr != &loads)
		return sm_fail(&ctx->err, SME_SR_SCAN, "load() was not called");
	ctx->result = xr_string("scanned");
	return ctx->result ? 0 : -1;
}

static int fake_sr_attach(struct sm_ctx *ctx)
{
	return 0;  /* nil */
}

static int fake_vdi_create(struct sm_ctx *ctx)
{
	return sm_fail(&ctx->err, SME_CONFIG_LOCATION_MISSING, NULL);
}

static int fake_vdi_attach(struct sm_ctx *ctx)
{
	return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "tapdisk %s said no", call_vdi_uuid(ctx->call));
}

/* A failure whose detail needs escaping in the response. */
static int fake_vdi_detach(struct sm_ctx *ctx)
{
	return sm_fail(&ctx->err, SME_VDI_UNAVAILABLE, "<tap> & \"disk\" 'x' ]]>");
}

/* Fails without saying why. */
static int fake_sr_detach(struct sm_ctx *ctx)
{
	return -1;
}

static int fake_sr_content_type(struct sm_ctx *ctx)
{
	ctx->result = xr_string("disk");
	return 0;
}

static int fake_vdi_epoch_end(struct sm_ctx *ctx)
{
	return 0;
}

static const struct sm_config_key fake_config[] = {
	{ "location", "local directory path (required)" },
	{ "nosubdir", "do not create a subdirectory" },
	{ NULL, NULL },
};

static const char *const fake_traits[] = { "THIN_PROVISIONING", "VDI_RESET_ON_BOOT/2", NULL };

static const struct sm_driver fake_driver = {
	.type = "fake",
	.name = "Fake",
	.description = "A driver for tests",
	.vendor = "Nobody",
	.copyright = "(C) nobody",
	.driver_version = "1.2",
	.required_api_version = "1.0",
	.configuration = fake_config,
	.traits = fake_traits,
	.load = fake_load,
	.unload = fake_unload,
	.ops = {
		[SM_OP_SR_SCAN] = fake_sr_scan,
		[SM_OP_SR_ATTACH] = fake_sr_attach,
		[SM_OP_SR_DETACH] = fake_sr_detach,
		[SM_OP_SR_CONTENT_TYPE] = fake_sr_content_type,
		[SM_OP_VDI_CREATE] = fake_vdi_create,
		[SM_OP_VDI_ATTACH] = fake_vdi_attach,
		[SM_OP_VDI_DETACH] = fake_vdi_detach,
		[SM_OP_VDI_EPOCH_END] = fake_vdi_epoch_end,
	},
};

static const struct sm_driver bare_driver = {
	.type = "bare",
	.name = "Bare",
	.description = "",
	.vendor = "",
	.copyright = "",
	.driver_version = "0",
	.required_api_version = "1.0",
};

/* ---------------------------------------------------------------- helpers */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int group_setup(void **state)
{
	strcpy(lock_dir, "/tmp/csm-test-dispatch-XXXXXX");
	if (!mkdtemp(lock_dir))
		return -1;
	setenv("SM_LOCK_DIR", lock_dir, 1);
	setenv("SM_LOCK_TIMEOUT", "0", 1);
	unsetenv("SM_LOG_STDERR");
	return 0;
}

static int group_teardown(void **state)
{
	nftw(lock_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void strings_equal(const struct xr_value *arr, const char *const *want, size_t n)
{
	assert_non_null(arr);
	assert_int_equal(arr->type, XR_ARRAY);
	assert_int_equal(arr->u.arr.count, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(arr->u.arr.items[i]->type, XR_STRING);
		assert_string_equal(arr->u.arr.items[i]->u.str, want[i]);
	}
}

struct run {
	char *out;            /* the child's stdout */
	int status;           /* its wait status */
	struct xr_value *val; /* parsed response */
	bool fault;
};

/* Run sm_main(drv, argc, argv) in a child, collect and parse its stdout. */
static void run_main(const struct sm_driver *drv, int argc, char **argv, struct run *r)
{
	struct sm_error err = { 0 };
	size_t len = 0, cap = 4096;
	int fds[2];
	pid_t pid;

	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		close(fds[0]);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[1]);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		exit(sm_main(drv, argc, argv));
	}
	close(fds[1]);
	r->out = malloc(cap);
	assert_non_null(r->out);
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			cap *= 2;
			r->out = realloc(r->out, cap);
			assert_non_null(r->out);
		}
		n = read(fds[0], r->out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	r->out[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		fail_msg("driver exit status 0x%x, output:\n%s", r->status, r->out);
	if (xr_parse_response(r->out, len, &r->val, &r->fault, &err) < 0)
		fail_msg("unparseable response (%s):\n%s", err.detail, r->out);
	/* The Python SM's print() adds a newline after the document. */
	assert_true(len >= 2 && r->out[len - 1] == '\n');
}

static void run_free(struct run *r)
{
	free(r->out);
	xr_free(r->val);
}

static void run_doc(const struct sm_driver *drv, const char *doc, struct run *r)
{
	char *argv[] = { (char *)"FakeSR", (char *)doc, NULL };

	run_main(drv, 2, argv, r);
}

static void expect_fault(const struct run *r, int code, const char *fault_string)
{
	const struct xr_value *fc;
	const char *fs;

	if (!r->fault)
		fail_msg("expected fault %d, got:\n%s", code, r->out);
	fc = xr_struct_get(r->val, "faultCode");
	fs = xr_struct_get_string(r->val, "faultString");
	assert_non_null(fc);
	assert_non_null(fs);
	if (fc->u.i != code)
		fail_msg("fault %lld (%s), expected %d", (long long)fc->u.i, fs, code);
	if (fault_string)
		assert_string_equal(fs, fault_string);
}

/* ------------------------------------------------------------ driver info */

static void test_driver_info(void **state)
{
	static const char *const caps[] = {
		"SR_ATTACH", "SR_DETACH", "SR_SCAN", "VDI_CREATE", "VDI_ATTACH", "VDI_DETACH",
		"THIN_PROVISIONING", "VDI_RESET_ON_BOOT/2",
	};
	static const char *const keys[] = { "name", "description", "vendor", "copyright",
		"driver_version", "required_api_version", "capabilities", "configuration" };
	struct xr_value *info = sm_driver_info(&fake_driver);
	const struct xr_value *conf;

	assert_non_null(info);
	assert_int_equal(info->type, XR_STRUCT);
	assert_int_equal(info->u.st.count, sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(xr_struct_get(info, keys[i]));
	assert_string_equal(xr_struct_get_string(info, "name"), "Fake");
	assert_string_equal(xr_struct_get_string(info, "description"), "A driver for tests");
	assert_string_equal(xr_struct_get_string(info, "vendor"), "Nobody");
	assert_string_equal(xr_struct_get_string(info, "copyright"), "(C) nobody");
	assert_string_equal(xr_struct_get_string(info, "driver_version"), "1.2");
	assert_string_equal(xr_struct_get_string(info, "required_api_version"), "1.0");
	/* Filled ops with a capability, in enum order, then the traits. */
	strings_equal(xr_struct_get(info, "capabilities"), caps, sizeof(caps) / sizeof(caps[0]));

	conf = xr_struct_get(info, "configuration");
	assert_non_null(conf);
	assert_int_equal(conf->type, XR_ARRAY);
	assert_int_equal(conf->u.arr.count, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct xr_value *kv = conf->u.arr.items[i];

		assert_int_equal(kv->type, XR_STRUCT);
		assert_int_equal(kv->u.st.count, 2);
		assert_string_equal(xr_struct_get_string(kv, "key"), fake_config[i].key);
		assert_string_equal(xr_struct_get_string(kv, "description"),
				    fake_config[i].description);
	}
	xr_free(info);
}

static void test_driver_info_bare(void **state)
{
	struct xr_value *info = sm_driver_info(&bare_driver);

	assert_non_null(info);
	strings_equal(xr_struct_get(info, "capabilities"), NULL, 0);
	strings_equal(xr_struct_get(info, "configuration"), NULL, 0);
	xr_free(info);
}

/* ----------------------------------------------------------------- sm_main */

static void test_main_no_argument(void **state)
{
	char *argv[] = { (char *)"FakeSR", NULL };
	char *argv3[] = { (char *)"FakeSR", (char *)"a", (char *)"b", NULL };
	struct run r;

	run_main(&fake_driver, 1, argv, &r);
	expect_fault(&r, SME_BAD_REQUEST, NULL);
	assert_non_null(strstr(xr_struct_get_string(r.val, "faultString"),
			       "Failed to parse the request"));
	run_free(&r);
	run_main(&fake_driver, 3, argv3, &r);
	expect_fault(&r, SME_BAD_REQUEST, NULL);
	run_free(&r);
}

static void test_main_bad_request(void **state)
{
	struct run r;

	run_doc(&fake_driver, "<methodCall>", &r);
	expect_fault(&r, SME_BAD_REQUEST, NULL);
	run_free(&r);
	run_doc(&fake_driver, CALL("sr_scan", DCONF M("sr_uuid", "../../etc")), &r);
	expect_fault(&r, SME_BAD_REQUEST, NULL);
	run_free(&r);
}

static void test_main_driver_info(void **state)
{
	static const char *const caps[] = {
		"SR_ATTACH", "SR_DETACH", "SR_SCAN", "VDI_CREATE", "VDI_ATTACH", "VDI_DETACH",
		"THIN_PROVISIONING", "VDI_RESET_ON_BOOT/2",
	};
	struct run r;

	run_doc(&fake_driver, CALL("sr_get_driver_info", M("device_config", "<struct/>")), &r);
	assert_false(r.fault);
	assert_string_equal(xr_struct_get_string(r.val, "name"), "Fake");
	strings_equal(xr_struct_get(r.val, "capabilities"), caps, sizeof(caps) / sizeof(caps[0]));
	run_free(&r);
}

static void test_main_missing_op(void **state)
{
	struct run r;

	run_doc(&fake_driver, CALL("sr_create", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_UNIMPLEMENTED, NULL);
	assert_non_null(strstr(xr_struct_get_string(r.val, "faultString"),
			       "The requested method is not supported/implemented"));
	run_free(&r);
	run_doc(&bare_driver, CALL("vdi_delete", DCONF M("sr_uuid", SR_UUID)
				   M("vdi_uuid", VDI_UUID)), &r);
	expect_fault(&r, SME_UNIMPLEMENTED, NULL);
	run_free(&r);
}

static void test_main_op_fails(void **state)
{
	struct run r;

	run_doc(&fake_driver, CALL("vdi_create", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, 94, "The request is missing the location parameter");
	run_free(&r);

	run_doc(&fake_driver, CALL("vdi_attach", DCONF M("sr_uuid", SR_UUID)
				   M("vdi_uuid", VDI_UUID)), &r);
	expect_fault(&r, SME_VDI_UNAVAILABLE,
		     "The VDI is not available [opterr=tapdisk " VDI_UUID " said no]");
	run_free(&r);

	run_doc(&fake_driver, CALL("vdi_detach", DCONF M("sr_uuid", SR_UUID)
				   M("vdi_uuid", VDI_UUID)), &r);
	expect_fault(&r, SME_VDI_UNAVAILABLE,
		     "The VDI is not available [opterr=<tap> & \"disk\" 'x' ]]>]");
	run_free(&r);

	/* An op that fails without recording why is still a fault. */
	run_doc(&fake_driver, CALL("sr_detach", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_GENERIC, NULL);
	run_free(&r);
}

static void test_main_load_fails(void **state)
{
	struct run r;

	run_doc(&fake_driver, CALL("sr_scan", M("device_config", "<struct>"
				   M("fail_load", "1") "</struct>") M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_CONFIG_DEVICE_MISSING,
		     "The request is missing the device parameter");
	run_free(&r);
}

static void test_main_result(void **state)
{
	struct run r;

	run_doc(&fake_driver, CALL("sr_scan", DCONF M("sr_uuid", SR_UUID)), &r);
	assert_false(r.fault);
	assert_int_equal(r.val->type, XR_STRING);
	assert_string_equal(r.val->u.str, "scanned");
	run_free(&r);

	run_doc(&fake_driver, CALL("sr_content_type", DCONF M("sr_uuid", SR_UUID)), &r);
	assert_false(r.fault);
	assert_string_equal(r.val->u.str, "disk");
	run_free(&r);
}

static void test_main_nil(void **state)
{
	struct run r;

	run_doc(&fake_driver, CALL("sr_attach", DCONF M("sr_uuid", SR_UUID)), &r);
	assert_false(r.fault);
	assert_int_equal(r.val->type, XR_NIL);
	run_free(&r);
}

static void test_main_epoch(void **state)
{
	struct run r;

	/* No op: nil, unless the VDI resets on boot. */
	run_doc(&bare_driver, CALL("vdi_epoch_begin", DCONF M("sr_uuid", SR_UUID)
				   M("vdi_uuid", VDI_UUID) M("vdi_on_boot", "persist")), &r);
	assert_false(r.fault);
	assert_int_equal(r.val->type, XR_NIL);
	run_free(&r);
	run_doc(&bare_driver, CALL("vdi_epoch_begin", DCONF M("sr_uuid", SR_UUID)
				   M("vdi_uuid", VDI_UUID) M("vdi_on_boot", "reset")), &r);
	expect_fault(&r, SME_UNIMPLEMENTED, NULL);
	run_free(&r);
	run_doc(&bare_driver, CALL("vdi_epoch_end", DCONF M("sr_uuid", SR_UUID)
				   M("vdi_uuid", VDI_UUID)), &r);
	assert_false(r.fault);
	run_free(&r);
}

/* With the SR lock held elsewhere, the op is refused, naming the holder. */
static void test_main_sr_lock_busy(void **state)
{
	struct sm_lock lk = SM_LOCK_INIT;
	struct sm_error err = { 0 };
	char want[64];
	struct run r;

	assert_int_equal(lock_acquire(&lk, SR_UUID, "sr", 0, 0, &err), 0);
	run_doc(&fake_driver, CALL("sr_scan", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_SR_UNAVAILABLE, NULL);
	snprintf(want, sizeof(want), "pid %d", (int)getpid());
	assert_non_null(strstr(xr_struct_get_string(r.val, "faultString"), want));
	run_free(&r);
	/* sr_content_type takes no SR lock, so it still runs. */
	run_doc(&fake_driver, CALL("sr_content_type", DCONF M("sr_uuid", SR_UUID)), &r);
	assert_false(r.fault);
	run_free(&r);
	lock_release(&lk);

	run_doc(&fake_driver, CALL("sr_scan", DCONF M("sr_uuid", SR_UUID)), &r);
	assert_false(r.fault);
	run_free(&r);
}

/* ------------------------------------------------------- a two-layer driver */

/*
 * upper_table builds on lower_table.  Each layer's state records what the
 * dispatcher did to it; the ops report it in their result, since they run
 * in a child process.  Unloads append their layer's letter to a file.
 */
struct lower_state {
	int configured;    /* set by the upper layer's load, before the lower's */
	bool was_zero;     /* the state was all zero bytes when the lower's load began */
	char order[8];     /* loads in the order they ran */
	bool recovered;
	char pad[300];     /* large enough that a stale allocation would show */
};

struct upper_state {
	bool was_zero;
	int recovers;
	int guards;
	char pad[300];
};

static const struct sm_driver lower_table;
static const struct sm_driver upper_table;

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void note_unload(const char *letter)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/unloads", lock_dir);
	f = fopen(path, "a");
	if (f) {
		fputs(letter, f);
		fclose(f);
	}
}

static int upper_load(struct sm_ctx *ctx)
{
	struct upper_state *u = sm_priv(ctx, &upper_table);
	struct lower_state *l = sm_priv(ctx, &lower_table);

	if (!u || !l)
		return sm_fail(&ctx->err, SME_GENERIC, "no layer state");
	u->was_zero = all_zero(u, sizeof(*u));
	/* An upper layer may configure the one below before its load runs. */
	l->was_zero = all_zero(l, sizeof(*l));
	l->configured = 42;
	strcat(l->order, "u");
	if (call_dconf(ctx->call, "fail_upper_load"))
		return sm_fail(&ctx->err, SME_CONFIG_DEVICE_MISSING, NULL);
	return 0;
}

static void upper_unload(struct sm_ctx *ctx)
{
	note_unload("U");
}

static int upper_recover(struct sm_ctx *ctx)
{
	struct upper_state *u = sm_priv(ctx, &upper_table);

	u->recovers++;
	return sm_recover_lower(ctx, &upper_table);
}

/* The upper layer's precondition: refused when dconf says "offline". */
static int upper_guard(struct sm_ctx *ctx)
{
	struct upper_state *u = sm_priv(ctx, &upper_table);

	u->guards++;
	if (call_dconf(ctx->call, "offline"))
		return sm_fail(&ctx->err, SME_SR_UNAVAILABLE, "offline");
	return 0;
}

static int upper_sr_attach(struct sm_ctx *ctx)
{
	ctx->result = xr_string("upper:sr_attach");
	return 0;
}

/* Wraps the lower layer's result. */
static int upper_vdi_create(struct sm_ctx *ctx)
{
	char text[128];

	if (sm_call_lower(ctx, &upper_table) < 0)
		return -1;
	snprintf(text, sizeof(text), "upper(%s)", ctx->result->u.str);
	xr_free(ctx->result);
	ctx->result = xr_string(text);
	return 0;
}

/* Hands on to a layer below that has no such op. */
static int upper_vdi_delete(struct sm_ctx *ctx)
{
	return sm_call_lower(ctx, &upper_table);
}

static int lower_load(struct sm_ctx *ctx)
{
	struct lower_state *l = sm_priv(ctx, &lower_table);

	strcat(l->order, "l");
	return 0;
}

static void lower_unload(struct sm_ctx *ctx)
{
	note_unload("L");
}

static int lower_recover(struct sm_ctx *ctx)
{
	struct lower_state *l = sm_priv(ctx, &lower_table);

	l->recovered = true;
	return 0;
}

/* Says what the dispatcher did to the layers' state. */
static int lower_sr_scan(struct sm_ctx *ctx)
{
	struct lower_state *l = sm_priv(ctx, &lower_table);
	struct upper_state *u = sm_priv(ctx, &upper_table);
	char text[256];

	snprintf(text, sizeof(text), "lower:sr_scan zero=%d/%d configured=%d order=%s "
		 "recovers=%d recovered=%d guards=%d", u->was_zero, l->was_zero, l->configured,
		 l->order, u->recovers, l->recovered, u->guards);
	ctx->result = xr_string(text);
	return 0;
}

static int lower_sr_attach(struct sm_ctx *ctx)
{
	ctx->result = xr_string("lower:sr_attach");
	return 0;
}

static int lower_vdi_create(struct sm_ctx *ctx)
{
	ctx->result = xr_string("lower:vdi_create");
	return 0;
}

static int lower_vdi_introduce(struct sm_ctx *ctx)
{
	ctx->result = xr_string("lower:vdi_introduce");
	return 0;
}

static const char *const lower_traits[] = { "LOWER_TRAIT", NULL };

static const struct sm_driver lower_table = {
	.type = "lower",
	.traits = lower_traits,
	.priv_size = sizeof(struct lower_state),
	.load = lower_load,
	.unload = lower_unload,
	.recover = lower_recover,
	.ops = {
		[SM_OP_SR_SCAN] = lower_sr_scan,
		[SM_OP_SR_ATTACH] = lower_sr_attach,
		[SM_OP_VDI_CREATE] = lower_vdi_create,
		[SM_OP_VDI_INTRODUCE] = lower_vdi_introduce,
	},
};

static const char *const upper_traits[] = { "UPPER_TRAIT", NULL };

static const struct sm_driver upper_table = {
	.type = "upper",
	.name = "Upper",
	.description = "An upper layer for tests",
	.vendor = "Nobody",
	.copyright = "(C) nobody",
	.driver_version = "1.0",
	.required_api_version = "1.0",
	.traits = upper_traits,
	.base = &lower_table,
	.priv_size = sizeof(struct upper_state),
	.load = upper_load,
	.unload = upper_unload,
	.recover = upper_recover,
	.guard = upper_guard,
	.guarded = { [SM_OP_SR_SCAN] = true, [SM_OP_VDI_CREATE] = true },
	.ops = {
		[SM_OP_SR_ATTACH] = upper_sr_attach,
		[SM_OP_VDI_CREATE] = upper_vdi_create,
		[SM_OP_VDI_DELETE] = upper_vdi_delete,
		[SM_OP_VDI_INTRODUCE] = sm_op_none,
	},
};

/* A table that names itself as its base. */
static const struct sm_driver loop_table = {
	.type = "loop",
	.name = "Loop",
	.description = "",
	.vendor = "",
	.copyright = "",
	.driver_version = "0",
	.required_api_version = "1.0",
	.base = &loop_table,
	.ops = { [SM_OP_SR_SCAN] = lower_sr_scan },
};

static char *read_unloads(void)
{
	char path[256], *text = malloc(64);
	FILE *f;
	size_t n = 0;

	assert_non_null(text);
	snprintf(path, sizeof(path), "%s/unloads", lock_dir);
	f = fopen(path, "r");
	if (f) {
		n = fread(text, 1, 63, f);
		fclose(f);
	}
	text[n] = '\0';
	unlink(path);
	return text;
}

static void expect_result(const struct run *r, const char *want)
{
	if (r->fault || r->val->type != XR_STRING)
		fail_msg("expected \"%s\", got:\n%s", want, r->out);
	assert_string_equal(r->val->u.str, want);
}

/* Capabilities: slots filled by either layer, but not one withdrawn above; top traits only. */
static void test_layers_capabilities(void **state)
{
	static const char *const caps[] = {
		"SR_ATTACH", "SR_SCAN", "VDI_CREATE", "VDI_DELETE", "UPPER_TRAIT",
	};
	struct xr_value *info = sm_driver_info(&upper_table);

	assert_non_null(info);
	assert_string_equal(xr_struct_get_string(info, "name"), "Upper");
	strings_equal(xr_struct_get(info, "capabilities"), caps, sizeof(caps) / sizeof(caps[0]));
	xr_free(info);
	assert_ptr_equal(sm_driver_op(&upper_table, SM_OP_SR_SCAN), lower_sr_scan);
	assert_ptr_equal(sm_driver_op(&upper_table, SM_OP_SR_ATTACH), upper_sr_attach);
	assert_null(sm_driver_op(&upper_table, SM_OP_VDI_INTRODUCE));
	assert_null(sm_driver_op(&upper_table, SM_OP_SR_PROBE));
	assert_ptr_equal(sm_driver_op(&lower_table, SM_OP_VDI_INTRODUCE), lower_vdi_introduce);
}

/*
 * An op only the lower layer fills is served by it, with both states
 * allocated zeroed, loads top first, recover through both layers, the
 * guard run once, and unloads top first.
 */
static void test_layers_fall_through(void **state)
{
	struct run r;
	char *order;

	free(read_unloads());
	run_doc(&upper_table, CALL("sr_scan", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_result(&r, "lower:sr_scan zero=1/1 configured=42 order=ul recovers=1 recovered=1 "
		      "guards=1");
	run_free(&r);
	order = read_unloads();
	assert_string_equal(order, "UL");
	free(order);
}

static void test_layers_override_and_call_lower(void **state)
{
	struct run r;

	/* Both fill sr_attach: the upper one serves it. */
	run_doc(&upper_table, CALL("sr_attach", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_result(&r, "upper:sr_attach");
	run_free(&r);
	/* The upper vdi_create calls the lower one and wraps its result. */
	run_doc(&upper_table, CALL("vdi_create", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_result(&r, "upper(lower:vdi_create)");
	run_free(&r);
	/* Handing on to a layer that has no such op is fault 38. */
	run_doc(&upper_table, CALL("vdi_delete", DCONF M("sr_uuid", SR_UUID)
				   M("vdi_uuid", VDI_UUID)), &r);
	expect_fault(&r, SME_UNIMPLEMENTED, NULL);
	assert_non_null(strstr(xr_struct_get_string(r.val, "faultString"),
			       "vdi_delete is not supported by SR type upper"));
	run_free(&r);
	/* Withdrawn by the upper layer although the lower fills it. */
	run_doc(&upper_table, CALL("vdi_introduce", DCONF M("sr_uuid", SR_UUID)
				   M("new_uuid", VDI_UUID)), &r);
	expect_fault(&r, SME_UNIMPLEMENTED, NULL);
	run_free(&r);
	free(read_unloads());
}

static void test_layers_guard(void **state)
{
	struct run r;

	/* Guarded ops are refused, whichever layer serves them... */
	run_doc(&upper_table, CALL("sr_scan", M("device_config", "<struct>" M("SRmaster", "true")
				   M("offline", "1") "</struct>") M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_SR_UNAVAILABLE, "The SR is not available [opterr=offline]");
	run_free(&r);
	run_doc(&upper_table, CALL("vdi_create", M("device_config", "<struct>"
				   M("SRmaster", "true") M("offline", "1") "</struct>")
				   M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_SR_UNAVAILABLE, "The SR is not available [opterr=offline]");
	run_free(&r);
	/* ...the others are not. */
	run_doc(&upper_table, CALL("sr_attach", M("device_config", "<struct>"
				   M("SRmaster", "true") M("offline", "1") "</struct>")
				   M("sr_uuid", SR_UUID)), &r);
	expect_result(&r, "upper:sr_attach");
	run_free(&r);
	free(read_unloads());
}

/* A failed load stops the loads below it; every layer's unload still runs. */
static void test_layers_load_fails(void **state)
{
	struct run r;
	char *order;

	free(read_unloads());
	run_doc(&upper_table, CALL("sr_scan", M("device_config", "<struct>"
				   M("fail_upper_load", "1") "</struct>") M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_CONFIG_DEVICE_MISSING, NULL);
	run_free(&r);
	order = read_unloads();
	assert_string_equal(order, "UL");
	free(order);
}

static void test_layers_loop(void **state)
{
	struct xr_value *info = sm_driver_info(&loop_table);
	struct run r;

	/* Lookups end; the call is refused. */
	assert_non_null(info);
	xr_free(info);
	run_doc(&loop_table, CALL("sr_scan", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_GENERIC, NULL);
	assert_non_null(strstr(xr_struct_get_string(r.val, "faultString"), "stacks more than"));
	run_free(&r);
}

/* ------------------------------------------------------------ shared SRs */

static int shared_recovered;

static int shared_recover(struct sm_ctx *ctx)
{
	shared_recovered = 1;
	return 0;
}

static int shared_report(struct sm_ctx *ctx)
{
	char text[64];

	snprintf(text, sizeof(text), "repair=%d recovered=%d", ctx->repair, shared_recovered);
	ctx->result = xr_string(text);
	return 0;
}

static int shared_load(struct sm_ctx *ctx)
{
	if (call_dconf(ctx->call, "fail_load"))
		return sm_fail(&ctx->err, SME_CONFIG_DEVICE_MISSING, NULL);
	return 0;
}

/* The trait on the base counts for the composed driver. */
static const struct sm_driver shared_base = {
	.type = "shared-base",
	.shared = true,
	.recover = shared_recover,
	.ops = {
		[SM_OP_SR_CREATE] = shared_report,
		[SM_OP_SR_DELETE] = shared_report,
		[SM_OP_SR_SCAN] = shared_report,
		[SM_OP_VDI_CREATE] = shared_report,
		[SM_OP_VDI_DELETE] = shared_report,
		[SM_OP_VDI_ACTIVATE] = shared_report,
		[SM_OP_VDI_SNAPSHOT] = shared_report,
		[SM_OP_VDI_CLONE] = shared_report,
		[SM_OP_VDI_RESIZE] = shared_report,
		[SM_OP_VDI_INTRODUCE] = shared_report,
		[SM_OP_VDI_UPDATE] = shared_report,
	},
};

static const struct sm_driver shared_driver = {
	.type = "shared",
	.name = "Shared",
	.description = "",
	.vendor = "",
	.copyright = "",
	.driver_version = "0",
	.required_api_version = "1.0",
	.base = &shared_base,
	.load = shared_load,
};

#define SLAVE M("device_config", "<struct>" M("SRmaster", "false") "</struct>")

static void test_shared_refused_on_slave(void **state)
{
	static const char *const refused[] = {
		"sr_create", "sr_delete", "vdi_create", "vdi_delete", "vdi_snapshot", "vdi_clone",
		"vdi_resize", "vdi_introduce", "vdi_update",
	};
	struct run r;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char doc[1024], want[256];

		snprintf(doc, sizeof(doc), "<methodCall><methodName>%s</methodName><params><param>"
			 "<value><struct>" M("command", "%s") SLAVE M("sr_uuid", SR_UUID)
			 M("vdi_uuid", VDI_UUID) M("new_uuid", VDI_UUID)
			 "</struct></value></param></params></methodCall>",
			 refused[i], refused[i]);
		run_doc(&shared_driver, doc, &r);
		snprintf(want, sizeof(want), "Logical Volume request must come from master "
			 "[opterr=%s changes a shared SR and runs only on the SR master "
			 "(SRmaster=true)]", refused[i]);
		expect_fault(&r, SME_LVM_MASTER, want);
		run_free(&r);
	}
	/* Refused before load: a slave reaches no storage, whatever its dconf. */
	run_doc(&shared_driver, CALL("vdi_create", M("device_config", "<struct>"
				     M("SRmaster", "false") M("fail_load", "1") "</struct>")
				     M("sr_uuid", SR_UUID)), &r);
	expect_fault(&r, SME_LVM_MASTER, NULL);
	run_free(&r);
}

static void test_shared_slave_reads_without_repair(void **state)
{
	struct run r;

	assert_true(sm_op_changes_metadata(SM_OP_VDI_SNAPSHOT));
	assert_false(sm_op_changes_metadata(SM_OP_SR_SCAN));
	assert_false(sm_op_changes_metadata(SM_OP_VDI_ACTIVATE));
	assert_false(sm_op_changes_metadata(SM_OP_VDI_ATTACH));
	assert_false(sm_op_changes_metadata(SM_OP_VDI_LOCK));

	run_doc(&shared_driver, CALL("sr_scan", SLAVE M("sr_uuid", SR_UUID)), &r);
	expect_result(&r, "repair=0 recovered=0");
	run_free(&r);
	run_doc(&shared_driver, CALL("vdi_activate", SLAVE M("sr_uuid", SR_UUID)
				     M("vdi_uuid", VDI_UUID)), &r);
	expect_result(&r, "repair=0 recovered=0");
	run_free(&r);
}

static void test_shared_master(void **state)
{
	struct run r;

	run_doc(&shared_driver, CALL("vdi_create", DCONF M("sr_uuid", SR_UUID)), &r);
	expect_result(&r, "repair=1 recovered=1");
	run_free(&r);
	/* Not shared: a non-master may do anything, and repairs. */
	run_doc(&upper_table, CALL("vdi_create", SLAVE M("sr_uuid", SR_UUID)), &r);
	expect_result(&r, "upper(lower:vdi_create)");
	run_free(&r);
	free(read_unloads());
}


/* ------------------------------------------- what the SR holds (collect) */

/* Two VDIs, one a hidden parent of the other, with a label to escape. */
static int holds(struct sm_ctx *ctx, struct scan_sr *out)
{
	struct scan_vdi *base, *leaf;

	snprintf(out->uuid, sizeof(out->uuid), "%s", SR_UUID);
	out->physical_size = 1000;
	out->physical_utilisation = 10;
	out->default_vdi_visibility = true;
	base = scan_add_vdi(out);
	leaf = base ? scan_add_vdi(out) : NULL;
	if (!leaf)
		return sm_fail(&ctx->err, SME_GENERIC, "out of memory");
	base = &out->vdis[0];
	snprintf(base->uuid, sizeof(base->uuid), "%s", SR_UUID);
	base->hidden = base->read_only = true;
	base->type = "vhd";
	snprintf(leaf->uuid, sizeof(leaf->uuid), "%s", VDI_UUID);
	snprintf(leaf->parent, sizeof(leaf->parent), "%s", SR_UUID);
	leaf->managed = true;
	leaf->type = "vhd";
	leaf->size = 4096;
	leaf->label = strdup("a & <b>");
	return leaf->label ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

static int holds_scan(struct sm_ctx *ctx)
{
	assert_non_null(ctx->scan);
	assert_int_equal(ctx->scan->count, 0);
	return holds(ctx, ctx->scan);
}

/* vdi_update here answers how many VDIs the composed driver's collect gives. */
static int count_collected(struct sm_ctx *ctx)
{
	struct scan_sr sr;
	char text[32];
	int rc;

	assert_null(ctx->scan);
	memset(&sr, 0, sizeof(sr));
	rc = sm_collect(ctx, &sr);
	snprintf(text, sizeof(text), "%zu", sr.count);
	scan_sr_free(&sr);
	if (rc < 0)
		return -1;
	ctx->result = xr_string(text);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

static const struct sm_driver holds_base = {
	.type = "holds-base",
	.collect = holds,
	.ops = { [SM_OP_SR_SCAN] = holds_scan },
};

static const struct sm_driver holds_driver = {
	.type = "holds",
	.name = "Holds",
	.description = "",
	.vendor = "",
	.copyright = "",
	.driver_version = "0",
	.required_api_version = "1.0",
	.base = &holds_base,
	.ops = { [SM_OP_VDI_UPDATE] = count_collected },
};

static const struct sm_driver no_collect_driver = {
	.type = "nocollect",
	.name = "NoCollect",
	.description = "",
	.vendor = "",
	.copyright = "",
	.driver_version = "0",
	.required_api_version = "1.0",
	.ops = { [SM_OP_VDI_UPDATE] = count_collected },
};

/* API mode: the dispatcher answers what sr_scan filled as the scan document. */
static void test_scan_answered_by_dispatcher(void **state)
{
	struct sm_ctx ctx = { 0 };
	struct scan_sr want;
	char *xml;
	struct run r;

	memset(&want, 0, sizeof(want));
	assert_int_equal(holds(&ctx, &want), 0);
	xml = scan_write_xml(&want);
	assert_non_null(xml);
	setenv("CSM_XAPI", "off", 1);
	run_doc(&holds_driver, CALL("sr_scan", DCONF M("sr_uuid", SR_UUID)
				    M("session_ref", "OpaqueRef:s")), &r);
	unsetenv("CSM_XAPI");
	expect_result(&r, xml);
	run_free(&r);
	free(xml);
	scan_sr_free(&want);
}

/* collect is served through .base like an op; none at all is 38. */
static void test_collect_from_base(void **state)
{
	struct run r;

	run_doc(&holds_driver, CALL("vdi_update", DCONF M("sr_uuid", SR_UUID)
				    M("vdi_uuid", VDI_UUID)), &r);
	expect_result(&r, "2");
	run_free(&r);
	run_doc(&no_collect_driver, CALL("vdi_update", DCONF M("sr_uuid", SR_UUID)
					 M("vdi_uuid", VDI_UUID)), &r);
	expect_fault(&r, SME_UNIMPLEMENTED, NULL);
	run_free(&r);
}

/* --------------------------------------- xapi mode, against the test server */

#define SECRET_UUID "5e9c2a41-7d3b-4f0e-8a6c-1b2d3e4f5a6b"

static char xapi_dir[64];
static char xapi_session[128];

/* sr_attach here answers the dconf the layers saw: "k=v;" in order. */
static int show_dconf(struct sm_ctx *ctx)
{
	const struct xr_value *d = ctx->call->dconf;
	char text[512] = "";
	size_t n = 0;

	for (size_t i = 0; i < d->u.st.count && n < sizeof(text); i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s=%s;", d->u.st.members[i].name,
				      d->u.st.members[i].value->u.str);
	ctx->result = xr_string(text);
	return ctx->result ? 0 : sm_fail(&ctx->err, SME_GENERIC, "out of memory");
}

static const struct sm_driver xapi_fake = {
	.type = "xfake",
	.name = "XFake",
	.description = "",
	.vendor = "",
	.copyright = "",
	.driver_version = "0",
	.required_api_version = "1.0",
	.base = &holds_base,
	.ops = { [SM_OP_SR_ATTACH] = show_dconf },
};

static void xapi_login(const char *socket_path)
{
	xts_login(socket_path, xapi_session, sizeof(xapi_session));
}

/* The test server with one SR and one secret; a session in xapi_session. */
static bool xapi_start(void)
{
	FILE *f;
	char path[128];

	if (xts_shell("command -v python3 >/dev/null 2>&1") != 0)
		return false;
	strcpy(xapi_dir, "/tmp/csm-test-dispatch-xapi-XXXXXX");
	assert_non_null(mkdtemp(xapi_dir));
	snprintf(path, sizeof(path), "%s/db.json", xapi_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"SR\": [{\"ref\": \"OpaqueRef:sr1\", \"uuid\": \"" SR_UUID "\"}],"
	      " \"secret\": [{\"uuid\": \"" SECRET_UUID "\", \"value\": \"s3cret\"}]}", f);
	fclose(f);
	if (xts_shell("tests/xapi/server.sh start %s/srv --db %s >/dev/null 2>&1", xapi_dir, path))
		fail_msg("tests/xapi/server.sh start failed");
	snprintf(path, sizeof(path), "%s/srv/xapi", xapi_dir);
	xapi_login(path);
	setenv("CSM_XAPI_SOCKET", path, 1);
	return true;
}

static void xapi_stop(void)
{
	unsetenv("CSM_XAPI_SOCKET");
	xts_shell("tests/xapi/server.sh stop %s/srv >/dev/null 2>&1; rm -rf %s", xapi_dir, xapi_dir);
}

static void run_xapi(const char *method, const char *dconf, const char *sr_ref, struct run *r)
{
	char *doc;

	assert_true(asprintf(&doc, "<methodCall><methodName>%s</methodName><params><param><value>"
			     "<struct>" M("command", "%s") M("device_config", "<struct>%s</struct>")
			     M("sr_uuid", SR_UUID) M("sr_ref", "%s") M("session_ref", "%s")
			     "</struct></value></param></params></methodCall>", method, method,
			     dconf, sr_ref, xapi_session) > 0);
	run_doc(&xapi_fake, doc, r);
	free(doc);
}

/*
 * xapi mode: a *_secret key becomes its key with the secret's value (it
 * wins over a plain one), an empty one names nothing and goes; API mode
 * leaves the dconf as it came.  A XenAPI failure is the command's fault
 * (sr_scan: 40 SRScan) with XenAPI's words; an unknown secret is one too.
 */
static void test_xapi_mode_effects(void **state)
{
	static const char dconf[] = M("SRmaster", "true") M("chappassword", "plain")
		M("chappassword_secret", SECRET_UUID) M("empty_secret", "") M("other", "x");
	struct run r;

	if (!xapi_start())
		skip();
	run_xapi("sr_attach", dconf, "OpaqueRef:sr1", &r);
	expect_result(&r, "SRmaster=true;chappassword=s3cret;other=x;");
	run_free(&r);

	setenv("CSM_XAPI", "off", 1);
	run_xapi("sr_attach", dconf, "OpaqueRef:sr1", &r);
	unsetenv("CSM_XAPI");
	expect_result(&r, "SRmaster=true;chappassword=plain;chappassword_secret=" SECRET_UUID
		      ";empty_secret=;other=x;");
	run_free(&r);

	run_xapi("sr_attach", M("SRmaster", "true") M("a_secret", "11111111-2222-4333-8444-555555555555"),
		 "OpaqueRef:sr1", &r);
	/* util.get_secret's InvalidSecret, in its words. */
	expect_fault(&r, SME_INVALID_SECRET, NULL);
	assert_non_null(strstr(xr_struct_get_string(r.val, "faultString"),
			       "Unable to look up secret [11111111-2222-4333-8444-555555555555]"));
	run_free(&r);

	/* sr_scan answers nil once xapi has the SR's VDIs; an SR xapi lacks is 40. */
	run_xapi("sr_scan", M("SRmaster", "true"), "OpaqueRef:sr1", &r);
	if (r.fault || r.val->type != XR_NIL)
		fail_msg("xapi-mode sr_scan: expected nil, got:\n%s", r.out);
	run_free(&r);
	run_xapi("sr_scan", M("SRmaster", "true"), "OpaqueRef:no-such-sr", &r);
	expect_fault(&r, SME_SR_SCAN, NULL);
	assert_non_null(strstr(xr_struct_get_string(r.val, "faultString"), "HANDLE_INVALID"));
	run_free(&r);
	xapi_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_driver_info),
		cmocka_unit_test(test_driver_info_bare),
		cmocka_unit_test(test_main_no_argument),
		cmocka_unit_test(test_main_bad_request),
		cmocka_unit_test(test_main_driver_info),
		cmocka_unit_test(test_main_missing_op),
		cmocka_unit_test(test_main_op_fails),
		cmocka_unit_test(test_main_load_fails),
		cmocka_unit_test(test_main_result),
		cmocka_unit_test(test_main_nil),
		cmocka_unit_test(test_main_epoch),
		cmocka_unit_test(test_main_sr_lock_busy),
		cmocka_unit_test(test_layers_capabilities),
		cmocka_unit_test(test_layers_fall_through),
		cmocka_unit_test(test_layers_override_and_call_lower),
		cmocka_unit_test(test_layers_guard),
		cmocka_unit_test(test_layers_load_fails),
		cmocka_unit_test(test_layers_loop),
		cmocka_unit_test(test_shared_refused_on_slave),
		cmocka_unit_test(test_shared_slave_reads_without_repair),
		cmocka_unit_test(test_shared_master),
		cmocka_unit_test(test_scan_answered_by_dispatcher),
		cmocka_unit_test(test_collect_from_base),
		cmocka_unit_test(test_xapi_mode_effects),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
