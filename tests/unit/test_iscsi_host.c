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
#include "csm/xmlrpc.h"

#define SR1 "aaaaaaaa-0000-4000-8000-000000000001"
#define SR2 "bbbbbbbb-0000-4000-8000-000000000002"
#define SR3 "cccccccc-0000-4000-8000-000000000003"
#define IQN "iqn.2024-01.test.local:plain"

static char top[128];

static int setup(void **state)
{
	char p[256];

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

	sm_iscsi_write_iqn_list(&b, d, 2, "127.0.0.1");
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
