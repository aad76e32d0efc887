/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the host side of iSCSI that runs anywhere: the dconf rules and
 * their faults, the initiator name file, the /run/sr-ref/<IQN> refcount
 * (Python's format, idempotent, two processes racing), the probe
 * documents against the texts the Python SM prints, the iscsiadm command
 * lines (with a stand-in iscsiadm that records its argv, since this host
 * has no initiator), and the SCSIid -> device resolution over a planted
 * sysfs tree.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "csm/buf.h"
#include "csm/iscsi_host.h"
#include "csm/log.h"
#include "csm/util.h"
#include "csm/xmlrpc.h"
#include "../../lib/iscsi_host_internal.h"

#define SR1 "aaaaaaaa-0000-4000-8000-000000000001"
#define SR2 "bbbbbbbb-0000-4000-8000-000000000002"
#define SR3 "cccccccc-0000-4000-8000-000000000003"
#define IQN "iqn.2024-01.test.local:plain"

static char top[128], saved_path[4096];

static int setup(void **state)
{
	char p[256];
	const char *path = getenv("PATH");

	/* Tests put a stand-in iscsiadm first in PATH; teardown puts PATH back. */
	snprintf(saved_path, sizeof(saved_path), "%s", path ? path : "/usr/bin:/bin");

	strcpy(top, "/tmp/csm-iscsi-host.XXXXXX");
	if (!mkdtemp(top))
		return -1;
	snprintf(p, sizeof(p), "%s/sr-ref", top);
	setenv("CSM_SR_REF_DIR", p, 1);
	snprintf(p, sizeof(p), "%s/initiatorname.iscsi", top);
	setenv("CSM_ISCSI_INITIATORNAME_FILE", p, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	setenv("PATH", saved_path, 1);
	unsetenv("CSM_SYSFS_ROOT");
	unsetenv("CSM_DEV_ROOT");
	unsetenv("CSM_ISCSI_DEVICE_MAP");
	unsetenv("FAKE_FAIL_MATCH");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void set_initiatorname(const char *text)
{
	write_text(getenv("CSM_ISCSI_INITIATORNAME_FILE"), text);
}

/* A dconf struct from "key", "value", ... NULL. */
static struct xr_value *dconf_of(const char *k, ...)
{
	struct xr_value *d = xr_struct();
	va_list ap;

	va_start(ap, k);
	for (; k; k = va_arg(ap, const char *))
		assert_int_equal(xr_struct_set_string(d, k, va_arg(ap, const char *)), 0);
	va_end(ap);
	return d;
}

/* Run the dconf rules; the fault code (0 on success); t and err filled. */
static int from_dconf(struct xr_value *d, struct sm_iscsi_target *t, char *iqn,
		      struct sm_error *err)
{
	int rc;

	sm_error_clear(err);
	rc = sm_iscsi_target_from_dconf(d, t, iqn, SM_ISCSI_IQN_MAX, err);
	assert_int_equal(rc == 0, err->code == 0);
	return err->code;
}

/* ---- dconf ---------------------------------------------------------- */

static void test_dconf_full(void **state)
{
	struct xr_value *d = dconf_of("target", "10.0.0.1,10.0.0.2", "port", "3261",
				      "targetIQN", IQN, "localIQN", "iqn.2024-01.host:me",
				      "chapuser", "u", "chappassword", "p",
				      "incoming_chapuser", "iu", "incoming_chappassword", "ip", NULL);
	struct sm_iscsi_target t;
	struct sm_error err;
	char iqn[SM_ISCSI_IQN_MAX] = "";

	assert_int_equal(from_dconf(d, &t, iqn, &err), 0);
	assert_string_equal(t.host, "10.0.0.1");
	assert_int_equal(t.port, 3261);
	assert_string_equal(t.target_as_given, "10.0.0.1,10.0.0.2");
	assert_string_equal(t.target_iqn, IQN);
	assert_string_equal(t.initiator_iqn, "iqn.2024-01.host:me");
	assert_string_equal(t.auth.user, "u");
	assert_string_equal(t.auth.password, "p");
	assert_string_equal(t.auth.in_user, "iu");
	assert_string_equal(t.auth.in_password, "ip");
	assert_int_equal(t.timeout_ms, 0);
	assert_string_equal(iqn, "");   /* dconf's localIQN: the buffer is not used */
	xr_free(d);
}

static void test_dconf_defaults_and_ipv6(void **state)
{
	struct xr_value *d = dconf_of("target", "[fd00::5],10.0.0.2", "localIQN", "iqn.x:y",
				      "targetIQN", "", "chapuser", "", "chappassword", "", NULL);
	struct sm_iscsi_target t;
	struct sm_error err;
	char iqn[SM_ISCSI_IQN_MAX];

	assert_int_equal(from_dconf(d, &t, iqn, &err), 0);
	assert_string_equal(t.host, "fd00::5");
	assert_int_equal(t.port, 3260);
	assert_null(t.target_iqn);
	assert_null(t.auth.user);
	assert_null(t.auth.password);
	assert_null(t.auth.in_user);
	xr_free(d);
	d = dconf_of("target", "fd00::6", "localIQN", "iqn.x:y", NULL);
	assert_int_equal(from_dconf(d, &t, iqn, &err), 0);
	assert_string_equal(t.host, "fd00::6");
	xr_free(d);
}

static void test_dconf_target_missing(void **state)
{
	static const char *const bad[] = { NULL, "", ",10.0.0.1", "[]" };
	struct sm_iscsi_target t;
	struct sm_error err;
	char iqn[SM_ISCSI_IQN_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct xr_value *d = bad[i] ? dconf_of("target", bad[i], "localIQN", "iqn.x:y", NULL)
					    : dconf_of("localIQN", "iqn.x:y", NULL);

		assert_int_equal(from_dconf(d, &t, iqn, &err), 95);
		xr_free(d);
	}
	assert_int_equal(from_dconf(NULL, &t, iqn, &err), 95);
}

static void test_dconf_port(void **state)
{
	static const char *const bad[] = { "0", "65536", "", "-1", "+5", " 3260", "3260 ",
					   "32a", "0x10", "99999999999999999999" };
	static const char *const good[] = { "1", "65535", "03260" };
	static const int good_v[] = { 1, 65535, 3260 };
	struct sm_iscsi_target t;
	struct sm_error err;
	char iqn[SM_ISCSI_IQN_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct xr_value *d = dconf_of("target", "h", "port", bad[i], "localIQN", "i", NULL);

		assert_int_equal(from_dconf(d, &t, iqn, &err), 142);
		xr_free(d);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct xr_value *d = dconf_of("target", "h", "port", good[i], "localIQN", "i", NULL);

		assert_int_equal(from_dconf(d, &t, iqn, &err), 0);
		assert_int_equal(t.port, good_v[i]);
		xr_free(d);
	}
}

static void test_dconf_secret_keys(void **state)
{
	static const char *const keys[] = { "chappassword_secret", "incoming_chappassword_secret" };
	struct sm_iscsi_target t;
	struct sm_error err;
	char iqn[SM_ISCSI_IQN_MAX];

	for (size_t i = 0; i < 2; i++) {
		struct xr_value *d = dconf_of("target", "h", "localIQN", "i", "chapuser", "u",
					      keys[i], "0d7c2b8e-secret-uuid", NULL);

		assert_int_equal(from_dconf(d, &t, iqn, &err), 20);
		assert_non_null(strstr(err.detail, keys[i]));
		assert_non_null(strstr(err.detail, "XenAPI"));
		assert_null(strstr(err.detail, "0d7c2b8e"));
		xr_free(d);
	}
}

static void test_dconf_half_chap(void **state)
{
	static const char *const cases[][3] = {
		{ "chapuser", "u", "chappassword" },
		{ "chappassword", "p", "chapuser" },
		{ "incoming_chapuser", "u", "incoming_chappassword" },
		{ "incoming_chappassword", "p", "incoming_chapuser" },
	};
	struct sm_iscsi_target t;
	struct sm_error err;
	char iqn[SM_ISCSI_IQN_MAX];

	for (size_t i = 0; i < 4; i++) {
		struct xr_value *d = dconf_of("target", "h", "localIQN", "i",
					      cases[i][0], cases[i][1], NULL);
		char missing[64];

		assert_int_equal(from_dconf(d, &t, iqn, &err), 1);
		snprintf(missing, sizeof(missing), "%s is missing", cases[i][2]);
		assert_non_null(strstr(err.detail, missing));
		/* The password itself is never in the detail. */
		assert_null(strstr(err.detail, "but p "));
		xr_free(d);
	}
}

static void test_dconf_iqn_from_host_file(void **state)
{
	struct xr_value *d = dconf_of("target", "h", NULL);
	struct sm_iscsi_target t;
	struct sm_error err;
	char iqn[SM_ISCSI_IQN_MAX];

	assert_int_equal(from_dconf(d, &t, iqn, &err), 97);   /* no file */
	set_initiatorname("# only a comment\n");
	assert_int_equal(from_dconf(d, &t, iqn, &err), 97);
	set_initiatorname("InitiatorName=iqn.2024-01.host:file\n");
	assert_int_equal(from_dconf(d, &t, iqn, &err), 0);
	assert_string_equal(t.initiator_iqn, "iqn.2024-01.host:file");
	assert_ptr_equal(t.initiator_iqn, iqn);
	xr_free(d);
	d = dconf_of("target", "h", "localIQN", "", NULL);   /* empty = absent */
	assert_int_equal(from_dconf(d, &t, iqn, &err), 0);
	assert_string_equal(t.initiator_iqn, "iqn.2024-01.host:file");
	xr_free(d);
}

/* ---- initiator name ------------------------------------------------- */

static void test_host_iqn_parsing(void **state)
{
	static const char *const ok[][2] = {
		{ "InitiatorName=iqn.a:b\n", "iqn.a:b" },
		{ "## comment InitiatorName=iqn.no:no\n\n  InitiatorName = iqn.c:d  \r\n", "iqn.c:d" },
		{ "#InitiatorName=iqn.no:no\nInitiatorName=iqn.e:f", "iqn.e:f" },
		{ "\tInitiatorName=\tiqn.g:h\t\nInitiatorName=iqn.second:one\n", "iqn.g:h" },
		{ "InitiatorAlias=host\nInitiatorName=iqn.i:j\n", "iqn.i:j" },
	};
	static const char *const bad[] = {
		"", "\n\n", "#InitiatorName=iqn.a:b\n", "InitiatorName=\n", "InitiatorName   \n",
		"InitiatorAlias=iqn.a:b\n", "   # InitiatorName=iqn.a:b\n",
	};
	struct sm_error err;
	char out[SM_ISCSI_IQN_MAX];
	char big[600];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		set_initiatorname(ok[i][0]);
		sm_error_clear(&err);
		assert_int_equal(sm_iscsi_host_iqn(out, sizeof(out), &err), 0);
		assert_string_equal(out, ok[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_initiatorname(bad[i]);
		sm_error_clear(&err);
		assert_int_equal(sm_iscsi_host_iqn(out, sizeof(out), &err), -1);
		assert_int_equal(err.code, 97);
	}
	/* Longer than an IQN may be, or than the caller's buffer. */
	snprintf(big, sizeof(big), "InitiatorName=iqn.%0300d\n", 1);
	set_initiatorname(big);
	sm_error_clear(&err);
	assert_int_equal(sm_iscsi_host_iqn(out, sizeof(out), &err), -1);
	assert_int_equal(err.code, 97);
	set_initiatorname("InitiatorName=iqn.abcdef:g\n");
	sm_error_clear(&err);
	assert_int_equal(sm_iscsi_host_iqn(out, 8, &err), -1);
	assert_int_equal(err.code, 97);
}

/* ---- /run/sr-ref ---------------------------------------------------- */

static char *ref_file(const char *iqn)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", getenv("CSM_SR_REF_DIR"), iqn);
	return read_text(p);
}

static void test_ref_format_and_idempotency(void **state)
{
	struct sm_error err;

	sm_error_clear(&err);
	assert_int_equal(sm_iscsi_ref_add(IQN, SR1, &err), 0);
	assert_string_equal(ref_file(IQN), SR1 "\n");
	assert_int_equal(sm_iscsi_ref_add(IQN, SR1, &err), 0);
	assert_string_equal(ref_file(IQN), SR1 "\n");
	assert_int_equal(sm_iscsi_ref_add(IQN, SR2, &err), 0);
	assert_string_equal(ref_file(IQN), SR1 "\n" SR2 "\n");
	assert_int_equal(sm_iscsi_ref_remove(IQN, SR3, &err), 2);   /* not listed */
	assert_string_equal(ref_file(IQN), SR1 "\n" SR2 "\n");
	assert_int_equal(sm_iscsi_ref_remove(IQN, SR1, &err), 1);
	assert_string_equal(ref_file(IQN), SR2 "\n");
	assert_int_equal(sm_iscsi_ref_remove(IQN, SR1, &err), 1);
	assert_int_equal(sm_iscsi_ref_remove(IQN, SR2, &err), 0);
	assert_null(ref_file(IQN));   /* removed at 0, as util.py does */
	assert_int_equal(sm_iscsi_ref_remove(IQN, SR2, &err), 0);
	assert_int_equal(err.code, 0);
}

/* A file the Python SM wrote (or a person edited): junk lines do not count. */
static void test_ref_foreign_file(void **state)
{
	char p[512];
	struct sm_error err;

	sm_error_clear(&err);
	snprintf(p, sizeof(p), "%s", getenv("CSM_SR_REF_DIR"));
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/%s", getenv("CSM_SR_REF_DIR"), IQN);
	write_text(p, "junk\n" SR1 "\n\n" SR2);   /* no final newline */
	assert_int_equal(sm_iscsi_ref_add(IQN, SR3, &err), 0);
	assert_string_equal(ref_file(IQN), "junk\n" SR1 "\n\n" SR2 "\n" SR3 "\n");
	assert_int_equal(sm_iscsi_ref_remove(IQN, SR2, &err), 2);
	assert_string_equal(ref_file(IQN), SR1 "\n" SR3 "\n");   /* util.py drops junk too */
	write_text(p, "junk only\n");
	assert_int_equal(sm_iscsi_ref_remove(IQN, SR1, &err), 0);
	assert_null(ref_file(IQN));
	assert_int_equal(err.code, 0);
}

static void test_ref_bad_names(void **state)
{
	static const char *const iqns[] = { "", "../x", "a/b", ".", ".." };
	struct sm_error err;

	for (size_t i = 0; i < sizeof(iqns) / sizeof(iqns[0]); i++) {
		sm_error_clear(&err);
		assert_int_equal(sm_iscsi_ref_add(iqns[i], SR1, &err), -1);
		assert_int_equal(err.code, 1);
		sm_error_clear(&err);
		assert_int_equal(sm_iscsi_ref_remove(iqns[i], SR1, &err), -1);
		assert_int_equal(err.code, 1);
	}
	sm_error_clear(&err);
	assert_int_equal(sm_iscsi_ref_add(IQN, "not-a-uuid", &err), -1);
	assert_int_equal(err.code, 1);
	sm_error_clear(&err);
	assert_int_equal(sm_iscsi_ref_add(IQN, SR1 "\n" SR2, &err), -1);
	assert_int_equal(err.code, 1);
}

/* Two processes add and remove their own SR 300 times; a third SR stays listed. */
static void test_ref_two_processes(void **state)
{
	static const char *const mine[2] = { SR1, SR2 };
	struct sm_error err;
	pid_t pids[2];

	sm_error_clear(&err);
	assert_int_equal(sm_iscsi_ref_add(IQN, SR3, &err), 0);
	for (int c = 0; c < 2; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0) {
			struct sm_error e;

			sm_error_clear(&e);
			for (int i = 0; i < 300; i++) {
				if (sm_iscsi_ref_add(IQN, mine[c], &e) != 0)
					_exit(2);
				if (sm_iscsi_ref_remove(IQN, mine[c], &e) < 1)
					_exit(3);   /* SR3 at least must still be there */
			}
			_exit(0);
		}
	}
	for (int c = 0; c < 2; c++) {
		int st;

		assert_int_equal(waitpid(pids[c], &st, 0), pids[c]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_string_equal(ref_file(IQN), SR3 "\n");
}

/* ---- probe documents ------------------------------------------------ */

static void test_iqn_list_exact(void **state)
{
	static const char want[] =
		"<?xml version=\"1.0\" ?>\n"
		"<iscsi-target-iqns>\n"
		"\t<TGT>\n"
		"\t\t<Index>0</Index>\n"
		"\t\t<IPAddress>127.0.0.1</IPAddress>\n"
		"\t\t<TargetIQN>iqn.2024-01.test.local:plain</TargetIQN>\n"
		"\t</TGT>\n"
		"\t<TGT>\n"
		"\t\t<Index>1</Index>\n"
		"\t\t<IPAddress>127.0.0.1</IPAddress>\n"
		"\t\t<TargetIQN>iqn.2024-01.test.local:chap</TargetIQN>\n"
		"\t</TGT>\n"
		"\t<TGT>\n"
		"\t\t<Index>2</Index>\n"
		"\t\t<IPAddress>127.0.0.1</IPAddress>\n"
		"\t\t<TargetIQN>*</TargetIQN>\n"
		"\t</TGT>\n"
		"</iscsi-target-iqns>\n";
	struct sm_iscsi_discovered d[2] = {
		{ "127.0.0.1", 3260, "iqn.2024-01.test.local:plain" },
		{ "127.0.0.1", 3260, "iqn.2024-01.test.local:chap" },
	};
	struct sm_buf b = SM_BUF_INIT;

	sm_iscsi_write_iqn_list_at(&b, d, 2, "127.0.0.1", SM_ISCSI_DEFAULT_PORT);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

/* <Port> between IPAddress and TargetIQN when not 3260, the wildcard at dconf's port. */
static void test_iqn_list_ports_and_escaping(void **state)
{
	static const char want[] =
		"<?xml version=\"1.0\" ?>\n"
		"<iscsi-target-iqns>\n"
		"\t<TGT>\n"
		"\t\t<Index>0</Index>\n"
		"\t\t<IPAddress>[fd00::5]</IPAddress>\n"
		"\t\t<Port>3261</Port>\n"
		"\t\t<TargetIQN>iqn.a&amp;b&lt;c&gt;&quot;d'e</TargetIQN>\n"
		"\t</TGT>\n"
		"\t<TGT>\n"
		"\t\t<Index>1</Index>\n"
		"\t\t<IPAddress>[fd00::5],10.0.0.1</IPAddress>\n"
		"\t\t<Port>3261</Port>\n"
		"\t\t<TargetIQN>*</TargetIQN>\n"
		"\t</TGT>\n"
		"</iscsi-target-iqns>\n";
	struct sm_iscsi_discovered d[1] = { { "[fd00::5]", 3261, "iqn.a&b<c>\"d'e" } };
	struct sm_buf b = SM_BUF_INIT;

	sm_iscsi_write_iqn_list_at(&b, d, 1, "[fd00::5],10.0.0.1", 3261);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void test_lun_list_exact(void **state)
{
	static const char want[] =
		"<?xml version=\"1.0\" ?>\n"
		"<iscsi-target>\n"
		"\t<LUN>\n"
		"\t\t<vendor>IET</vendor>\n"
		"\t\t<serial>beaf11</serial>\n"
		"\t\t<LUNid>1</LUNid>\n"
		"\t\t<size>67108864</size>\n"
		"\t\t<SCSIid>360000000000000000e00000000010001</SCSIid>\n"
		"\t</LUN>\n"
		"\t<LUN>\n"
		"\t\t<vendor>IET</vendor>\n"
		"\t\t<serial>SN0002</serial>\n"
		"\t\t<LUNid>2</LUNid>\n"
		"\t\t<size>33554432</size>\n"
		"\t\t<SCSIid>3600000000000000000000e0012345678</SCSIid>\n"
		"\t</LUN>\n"
		"\t<LUN>\n"
		"\t\t<LUNid>0</LUNid>\n"
		"\t</LUN>\n"
		"</iscsi-target>\n";
	struct sm_iscsi_lun l[3];
	struct sm_buf b = SM_BUF_INIT;

	memset(l, 0, sizeof(l));
	l[0].lun = 1;
	strcpy(l[0].vendor, "IET");
	strcpy(l[0].serial, "beaf11");
	l[0].size = 67108864;
	strcpy(l[0].scsi_id, "360000000000000000e00000000010001");
	l[1].lun = 2;
	strcpy(l[1].vendor, "IET");
	strcpy(l[1].serial, "SN0002");
	l[1].size = 33554432;
	strcpy(l[1].scsi_id, "3600000000000000000000e0012345678");
	/* Nothing known but the number: only LUNid is printed. */
	sm_iscsi_write_lun_list(&b, l, 3);
	assert_string_equal(b.data, want);
	buf_free(&b);
	sm_iscsi_write_lun_list(&b, l, 0);
	assert_string_equal(b.data, "<?xml version=\"1.0\" ?>\n<iscsi-target/>\n");
	buf_free(&b);
	sm_iscsi_write_srlist_empty(&b);
	assert_string_equal(b.data, "<?xml version=\"1.0\" ?>\n<SRlist/>\n");
	buf_free(&b);
}

/* ---- kernel initiator ----------------------------------------------- */

/* argv joined by single spaces. */
static const char *joined(const struct sm_iscsiadm_cmd *c)
{
	static char line[1024];
	size_t off = 0;

	line[0] = '\0';
	for (size_t i = 0; c->argv[i]; i++)
		off += snprintf(line + off, sizeof(line) - off, "%s%s", i ? " " : "", c->argv[i]);
	return line;
}

static struct sm_iscsi_target chap_target(void)
{
	struct sm_iscsi_target t;

	memset(&t, 0, sizeof(t));
	strcpy(t.host, "127.0.0.1");
	t.port = 3260;
	t.target_iqn = IQN;
	t.initiator_iqn = "iqn.2024-01.host:me";
	t.auth.user = "cuser";
	t.auth.password = "s3cret-out";
	t.auth.in_user = "tuser";
	t.auth.in_password = "s3cret-in";
	return t;
}

static void test_portal(void **state)
{
	char p[300];

	sm_iscsi_portal("127.0.0.1", 3260, p, sizeof(p));
	assert_string_equal(p, "127.0.0.1:3260");
	sm_iscsi_portal("fd00::5", 3261, p, sizeof(p));
	assert_string_equal(p, "[fd00::5]:3261");
	sm_iscsi_portal("san.example", 860, p, sizeof(p));
	assert_string_equal(p, "san.example:860");
}

static void test_login_argv(void **state)
{
	static const char *const want_chap[] = {
		"iscsiadm -m node -T " IQN " -p 127.0.0.1:3260 --op new",
		"iscsiadm -m node -T " IQN " -p 127.0.0.1:3260 --op update -n node.session.auth.authmethod -v CHAP",
		"iscsiadm -m node -T " IQN " -p 127.0.0.1:3260 --op update -n node.session.auth.username -v cuser",
		"iscsiadm -m node -T " IQN " -p 127.0.0.1:3260 --op update -n node.session.auth.password -v s3cret-out",
		"iscsiadm -m node -T " IQN " -p 127.0.0.1:3260 --op update -n node.session.auth.username_in -v tuser",
		"iscsiadm -m node -T " IQN " -p 127.0.0.1:3260 --op update -n node.session.auth.password_in -v s3cret-in",
		"iscsiadm -m node -p 127.0.0.1:3260 -T " IQN " -l",
	};
	static const char *const want_plain[] = {
		"iscsiadm -m node -T " IQN " -p 127.0.0.1:3260 --op new",
		"iscsiadm -m node -T " IQN " -p 127.0.0.1:3260 --op update -n node.session.auth.authmethod -v None",
		"iscsiadm -m node -p 127.0.0.1:3260 -T " IQN " -l",
	};
	struct sm_iscsi_target t = chap_target();
	struct sm_iscsiadm_cmd cmds[SM_ISCSIADM_CMDS_MAX];
	size_t n = sm_iscsiadm_login_cmds(&t, "127.0.0.1:3260", cmds, SM_ISCSIADM_CMDS_MAX);

	assert_int_equal(n, 7);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(joined(&cmds[i]), want_chap[i]);
		assert_int_equal(cmds[i].fault, 68);
		assert_int_equal(cmds[i].ok_status, i == n - 1 ? 15 : 0);
	}
	/* One-way CHAP: no _in settings. */
	t.auth.in_user = t.auth.in_password = NULL;
	n = sm_iscsiadm_login_cmds(&t, "127.0.0.1:3260", cmds, SM_ISCSIADM_CMDS_MAX);
	assert_int_equal(n, 5);
	assert_string_equal(joined(&cmds[3]), want_chap[3]);
	assert_string_equal(joined(&cmds[4]), want_chap[6]);
	t.auth.user = t.auth.password = NULL;
	n = sm_iscsiadm_login_cmds(&t, "127.0.0.1:3260", cmds, SM_ISCSIADM_CMDS_MAX);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(joined(&cmds[i]), want_plain[i]);
}

static void test_logout_argv(void **state)
{
	struct sm_iscsiadm_cmd cmds[2];

	assert_int_equal(sm_iscsiadm_logout_cmds(IQN, false, cmds, 2), 1);
	assert_string_equal(joined(&cmds[0]), "iscsiadm -m node -T " IQN " -u");
	assert_int_equal(cmds[0].fault, 69);
	assert_int_equal(cmds[0].ok_status, 21);
	assert_int_equal(sm_iscsiadm_logout_cmds(IQN, true, cmds, 2), 2);
	assert_string_equal(joined(&cmds[1]), "iscsiadm -m node -T " IQN " --op delete");
	assert_int_equal(cmds[1].fault, 182);
}

/*
 * A stand-in iscsiadm (this host has no initiator): records its argv,
 * and fails with FAKE_FAIL_RC, printing its arguments, when they contain
 * FAKE_FAIL_MATCH.  The real iscsiadm is exercised in the VM tests.
 */
static char calls[256];

static void install_fake_iscsiadm(void)
{
	char dir[200], path[256];

	snprintf(dir, sizeof(dir), "%s/bin", top);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/iscsiadm", dir);
	write_text(path, "#!/bin/sh\n"
		   "echo \"$*\" >>\"$FAKE_CALLS\"\n"
		   "case \"$*\" in *\"${FAKE_FAIL_MATCH:-no such thing}\"*)\n"
		   "  echo \"iscsiadm: cannot do $*\"; exit \"$FAKE_FAIL_RC\";;\n"
		   "esac\n");
	chmod(path, 0755);
	setenv("PATH", dir, 1);
	snprintf(calls, sizeof(calls), "%s/calls", top);
	setenv("FAKE_CALLS", calls, 1);
	unsetenv("FAKE_FAIL_MATCH");
}

/* Run login with stderr (where SM_LOG_STDERR=1 puts the log) captured in a file. */
static int login_logged(const struct sm_iscsi_target *t, struct sm_error *err, char *log, size_t sz)
{
	char path[256];
	int saved = dup(2), fd, rc;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/log", top);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	setenv("SM_LOG_STDERR", "1", 1);
	sm_log_open();
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	sm_error_clear(err);
	rc = sm_iscsi_kernel_login(t, err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(log, 1, sz - 1, f);
	log[n] = '\0';
	fclose(f);
	return rc;
}

static void test_login_runs_masked(void **state)
{
	struct sm_iscsi_target t = chap_target();
	struct sm_error err;
	char log[16384];

	install_fake_iscsiadm();
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), 0);
	assert_int_equal(err.code, 0);
	/* Every command ran, in order, with the real values. */
	assert_non_null(strstr(read_text(calls), "-n node.session.auth.password -v s3cret-out\n"
			       "-m node -T " IQN " -p 127.0.0.1:3260 --op update "
			       "-n node.session.auth.username_in -v tuser\n"));
	assert_non_null(strstr(read_text(calls), "-m node -p 127.0.0.1:3260 -T " IQN " -l\n"));
	/* The log has the commands, never the passwords. */
	assert_non_null(strstr(log, "node.session.auth.password -v ******"));
	assert_non_null(strstr(log, "node.session.auth.password_in -v ******"));
	assert_null(strstr(log, "s3cret"));

	/* A failing password update: fault 68, masked command line and output. */
	setenv("FAKE_FAIL_MATCH", "auth.password_in", 1);
	setenv("FAKE_FAIL_RC", "7", 1);
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), -1);
	assert_int_equal(err.code, 68);
	assert_non_null(strstr(err.detail, "password_in -v ******: exit 7: iscsiadm: cannot do"));
	assert_null(strstr(err.detail, "s3cret"));
	assert_null(strstr(log, "s3cret"));
	assert_non_null(strstr(log, "exited with 7"));

	/* A session that already exists is a successful login (exit 15). */
	setenv("FAKE_FAIL_MATCH", " -l", 1);
	setenv("FAKE_FAIL_RC", "15", 1);
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), 0);
	/* iscsid not answering (exit 20) is 86, a refused login 68. */
	setenv("FAKE_FAIL_RC", "20", 1);
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), -1);
	assert_int_equal(err.code, 86);
	setenv("FAKE_FAIL_RC", "24", 1);
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), -1);
	assert_int_equal(err.code, 68);
	assert_non_null(strstr(err.detail, "-T " IQN " -l: exit 24"));
	/* No iscsiadm at all: 86. */
	setenv("PATH", top, 1);
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), -1);
	assert_int_equal(err.code, 86);
	/* A localIQN that is not the host's name the kernel logs in with: 68 before any command. */
	setenv("PATH", saved_path, 1);
	install_fake_iscsiadm();
	set_initiatorname("InitiatorName=iqn.2024-01.host:other\n");
	unlink(calls);
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), -1);
	assert_int_equal(err.code, 68);
	assert_non_null(strstr(err.detail, "localIQN iqn.2024-01.host:me is not this host's "
			       "initiator name iqn.2024-01.host:other"));
	assert_null(read_text(calls));
	set_initiatorname("InitiatorName=iqn.2024-01.host:me\n");
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), 0);
	/* No targetIQN: 96. */
	t.target_iqn = NULL;
	assert_int_equal(login_logged(&t, &err, log, sizeof(log)), -1);
	assert_int_equal(err.code, 96);
	unsetenv("SM_LOG_STDERR");
	sm_log_open();
}

static void test_logout_runs(void **state)
{
	struct sm_error err;

	install_fake_iscsiadm();
	sm_error_clear(&err);
	assert_int_equal(sm_iscsi_kernel_logout(IQN, true, &err), 0);
	assert_string_equal(read_text(calls), "-m node -T " IQN " -u\n-m node -T " IQN " --op delete\n");
	/* Nothing to log out or delete (21) is done; another failure is 69 or 182. */
	setenv("FAKE_FAIL_MATCH", "-m node", 1);
	setenv("FAKE_FAIL_RC", "21", 1);
	assert_int_equal(sm_iscsi_kernel_logout(IQN, true, &err), 0);
	setenv("FAKE_FAIL_MATCH", " -u", 1);
	setenv("FAKE_FAIL_RC", "8", 1);
	assert_int_equal(sm_iscsi_kernel_logout(IQN, true, &err), -1);
	assert_int_equal(err.code, 69);
	sm_error_clear(&err);
	setenv("FAKE_FAIL_MATCH", "delete", 1);
	assert_int_equal(sm_iscsi_kernel_logout(IQN, true, &err), -1);
	assert_int_equal(err.code, 182);
	sm_error_clear(&err);
	assert_int_equal(sm_iscsi_kernel_logout(IQN, false, &err), 0);
}

static void mkdirs(const char *fmt, ...)
{
	char p[512], cmd[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", p);
	assert_int_equal(system(cmd), 0);
}

static void test_session_exists_and_available(void **state)
{
	char sys[200], p[300];

	snprintf(sys, sizeof(sys), "%s/root", top);
	setenv("CSM_SYSFS_ROOT", sys, 1);
	assert_false(sm_iscsi_kernel_session_exists(IQN));
	mkdirs("%s/sys/class/iscsi_session/session3", sys);
	snprintf(p, sizeof(p), "%s/sys/class/iscsi_session/session3/targetname", sys);
	write_text(p, IQN "-other\n");
	assert_false(sm_iscsi_kernel_session_exists(IQN));
	mkdirs("%s/sys/class/iscsi_session/session4", sys);
	snprintf(p, sizeof(p), "%s/sys/class/iscsi_session/session4/targetname", sys);
	write_text(p, IQN "\n");
	assert_true(sm_iscsi_kernel_session_exists(IQN));
	assert_false(sm_iscsi_kernel_session_exists("iqn.2024-01.test.local:plai"));

	/* iscsiadm and iscsi_tcp both needed. */
	mkdirs("%s/sys/module/iscsi_tcp", sys);
	setenv("PATH", top, 1);
	assert_false(sm_iscsi_kernel_available());
	install_fake_iscsiadm();
	assert_true(sm_iscsi_kernel_available());
	unsetenv("CSM_SYSFS_ROOT");
}

/* ---- SCSIid -> device ----------------------------------------------- */

static void test_scsi_id_from_wwid(void **state)
{
	static const char *const ok[][2] = {
		{ "naa.60000000000000000e00000000010001\n", "360000000000000000e00000000010001" },
		{ "naa.600A0B80001234560000ABCD\n", "3600a0b80001234560000abcd" },
		{ "eui.0123456789ABCDEF", "20123456789abcdef" },
		{ "t10.IET     00010002\\000\\000\\000\\000\n", "1IET_00010002" },
		{ "t10.ATA  QEMU HARDDISK  QM00001 \n", "1ATA_QEMU_HARDDISK_QM00001" },
	};
	static const char *const bad[] = { "", "naa.", "naa.12g4", "iqn.2024-01.x:y", "t10.\\000",
					   "0x5000" };
	char out[SM_ISCSI_SCSIID_MAX];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(sm_iscsi_scsi_id_from_wwid(ok[i][0], out, sizeof(out)), 0);
		assert_string_equal(out, ok[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sm_iscsi_scsi_id_from_wwid(bad[i], out, sizeof(out)), -1);
	assert_int_equal(sm_iscsi_scsi_id_from_wwid("naa.6000", out, 5), -1);
	assert_int_equal(sm_iscsi_scsi_id_from_wwid("naa.6000", out, 6), 0);
	assert_string_equal(out, "36000");
}

static char root[200];

static void plant_sd(const char *name, const char *wwid)
{
	char p[400];

	mkdirs("%s/sys/block/%s/device", root, name);
	snprintf(p, sizeof(p), "%s/sys/block/%s/device/wwid", root, name);
	write_text(p, wwid);
	mkdirs("%s/dev", root);
	snprintf(p, sizeof(p), "%s/dev/%s", root, name);
	write_text(p, "");
}

static int resolve(const char *id, int wait_ms, char *path, struct sm_error *err)
{
	sm_error_clear(err);
	return sm_iscsi_device_for_scsi_id(id, wait_ms, path, 512, err);
}

static void test_device_from_sysfs(void **state)
{
	char path[512], want[512], link[400];
	struct sm_error err;

	snprintf(root, sizeof(root), "%s/root", top);
	setenv("CSM_SYSFS_ROOT", root, 1);
	setenv("CSM_DEV_ROOT", root, 1);
	plant_sd("sda", "naa.60000000000000000e00000000010001\n");
	plant_sd("sdb", "t10.IET     00010002\\000\\000\n");
	plant_sd("sdc", "eui.0123456789abcdef\n");
	mkdirs("%s/sys/block/loop0/device", root);   /* not an sd device: never returned */
	snprintf(link, sizeof(link), "%s/sys/block/loop0/device/wwid", root);
	write_text(link, "naa.6000000000000000000000000000dead\n");

	assert_int_equal(resolve("360000000000000000e00000000010001", 0, path, &err), 0);
	snprintf(want, sizeof(want), "%s/dev/sda", root);
	assert_string_equal(path, want);
	assert_int_equal(resolve("1IET_00010002", 0, path, &err), 0);
	snprintf(want, sizeof(want), "%s/dev/sdb", root);
	assert_string_equal(path, want);
	assert_int_equal(resolve("20123456789abcdef", 0, path, &err), 0);
	assert_int_equal(resolve("36000000000000000000000000000dead", 0, path, &err), -1);
	assert_int_equal(err.code, 67);
	assert_non_null(strstr(err.detail, "36000000000000000000000000000dead"));

	/* The by-id link comes first, and is what is returned (Python's path). */
	mkdirs("%s/dev/disk/by-id", root);
	snprintf(link, sizeof(link), "%s/dev/disk/by-id/scsi-360000000000000000e00000000010001", root);
	assert_int_equal(symlink("../../sdc", link), 0);
	assert_int_equal(resolve("360000000000000000e00000000010001", 0, path, &err), 0);
	assert_string_equal(path, link);

	/* A SCSIid that cannot be one: 107. */
	assert_int_equal(resolve("", 0, path, &err), -1);
	assert_int_equal(err.code, 107);
	assert_int_equal(resolve("../../etc", 0, path, &err), -1);
	assert_int_equal(err.code, 107);
}

static void test_device_wait(void **state)
{
	char path[512], want[512];
	struct sm_error err;
	int64_t t0;
	pid_t pid;
	int st;

	snprintf(root, sizeof(root), "%s/root", top);
	setenv("CSM_SYSFS_ROOT", root, 1);
	setenv("CSM_DEV_ROOT", root, 1);
	mkdirs("%s/sys/block", root);
	t0 = sm_monotonic_ms();
	assert_int_equal(resolve("3600000000000000000000e0012345678", 300, path, &err), -1);
	assert_int_equal(err.code, 67);
	assert_true(sm_monotonic_ms() - t0 >= 300);
	assert_true(sm_monotonic_ms() - t0 < 2000);

	/* The device appears while we wait. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		usleep(200 * 1000);
		plant_sd("sdd", "naa.600000000000000000000e0012345678\n");
		_exit(0);
	}
	t0 = sm_monotonic_ms();
	assert_int_equal(resolve("3600000000000000000000e0012345678", 5000, path, &err), 0);
	assert_true(sm_monotonic_ms() - t0 < 4000);
	snprintf(want, sizeof(want), "%s/dev/sdd", root);
	assert_string_equal(path, want);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

static void test_device_map(void **state)
{
	char path[512];
	struct sm_error err;

	snprintf(root, sizeof(root), "%s/root", top);
	setenv("CSM_SYSFS_ROOT", root, 1);
	setenv("CSM_DEV_ROOT", root, 1);
	setenv("CSM_ISCSI_DEVICE_MAP", "3abc=/dev/loop7,3abcd=/dev/loop8", 1);
#ifdef CSM_TEST_BUILD
	assert_int_equal(resolve("3abcd", 0, path, &err), 0);
	assert_string_equal(path, "/dev/loop8");
	assert_int_equal(resolve("3abc", 0, path, &err), 0);
	assert_string_equal(path, "/dev/loop7");
	assert_int_equal(resolve("3ab", 0, path, &err), -1);
	assert_int_equal(err.code, 67);
#else
	/* An installed driver ignores the map. */
	assert_int_equal(resolve("3abc", 0, path, &err), -1);
	assert_int_equal(err.code, 67);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dconf_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dconf_defaults_and_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dconf_target_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dconf_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dconf_secret_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dconf_half_chap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dconf_iqn_from_host_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_iqn_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_format_and_idempotency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_foreign_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_two_processes, setup, teardown),
		cmocka_unit_test(test_iqn_list_exact),
		cmocka_unit_test(test_iqn_list_ports_and_escaping),
		cmocka_unit_test(test_lun_list_exact),
		cmocka_unit_test(test_portal),
		cmocka_unit_test(test_login_argv),
		cmocka_unit_test(test_logout_argv),
		cmocka_unit_test_setup_teardown(test_login_runs_masked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logout_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_exists_and_available, setup, teardown),
		cmocka_unit_test(test_scsi_id_from_wwid),
		cmocka_unit_test_setup_teardown(test_device_from_sysfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_map, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
