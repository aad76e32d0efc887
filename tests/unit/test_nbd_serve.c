/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of nbd_serve's bookkeeping, without nbdkit: where the files go
 * ($CSM_NBD_DIR), how a record is told live from dead (pid plus start
 * time: a reused pid is not the server), that a dead record is removed
 * with the files it names, the CSM_NBD switch, and that a start with no
 * nbdkit is a fault that says so.  Starting real servers is
 * tests/integration/test_nbd_serve.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/nbd_serve.h"
#include "csm/util.h"

#define SR "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"
#define VDI "11111111-2222-4333-8444-555555555555"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/csm-test-nbd-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	setenv("CSM_NBD_DIR", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Our own start time, as /proc/self/stat says: a record of ourselves is "live". */
static unsigned long long self_start_time(void)
{
	char buf[1024], *p;
	unsigned long long t = 0;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')') + 2;
	for (int i = 0; i < 19; i++)
		p = strchr(p, ' ') + 1;
	assert_int_equal(sscanf(p, "%llu", &t), 1);
	return t;
}

static void write_record(pid_t pid, unsigned long long start, const char *mode)
{
	char path[PATH_MAX], sub[256], text[1024];

	snprintf(sub, sizeof(sub), "%s/%s", dir, SR);
	assert_int_equal(sm_mkdir_p(sub, 0700), 0);
	assert_int_equal(nbd_serve_path(SR, VDI, ".server", path, sizeof(path)), 0);
	snprintf(text, sizeof(text), "pid=%d\nstart=%llu\nmode=%s\nsocket=%s/%s\nctl=%s/%s.ctl\n",
		 (int)pid, start, mode, sub, VDI, sub, VDI);
	assert_int_equal(sm_write_file_atomic(path, text, strlen(text)), 0);
}

static bool exists(const char *suffix)
{
	char path[PATH_MAX];

	assert_int_equal(nbd_serve_path(SR, VDI, suffix, path, sizeof(path)), 0);
	return access(path, F_OK) == 0;
}

static void touch(const char *suffix)
{
	char path[PATH_MAX];
	int fd;

	assert_int_equal(nbd_serve_path(SR, VDI, suffix, path, sizeof(path)), 0);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void test_paths(void **state)
{
	char path[PATH_MAX], want[PATH_MAX], tiny[16];

	assert_string_equal(nbd_serve_dir(), dir);
	assert_int_equal(nbd_serve_path(SR, VDI, "", path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/%s/%s", dir, SR, VDI);
	assert_string_equal(path, want);
	assert_int_equal(nbd_serve_path(SR, VDI, ".ctl", tiny, sizeof(tiny)), -ENAMETOOLONG);
	unsetenv("CSM_NBD_DIR");
	assert_string_equal(nbd_serve_dir(), NBD_SERVE_DIR_DEFAULT);
	setenv("CSM_NBD_DIR", dir, 1);
}

static void test_mode(void **state)
{
	unsetenv("CSM_NBD");
	assert_int_equal(nbd_serve_mode(), NBD_SERVE_AUTO);
	setenv("CSM_NBD", "off", 1);
	assert_int_equal(nbd_serve_mode(), NBD_SERVE_OFF);
	setenv("CSM_NBD", "on", 1);
	assert_int_equal(nbd_serve_mode(), NBD_SERVE_ON);
	setenv("CSM_NBD", "bogus", 1);
	assert_int_equal(nbd_serve_mode(), NBD_SERVE_AUTO);
	unsetenv("CSM_NBD");
}

static void test_no_record(void **state)
{
	struct nbd_server s;

	assert_int_equal(nbd_serve_find(SR, VDI, &s), 0);
}

/* A record naming a live process with the start time it has: found, fields read back. */
static void test_live_record(void **state)
{
	struct nbd_server s;

	write_record(getpid(), self_start_time(), "RO");
	assert_int_equal(nbd_serve_find(SR, VDI, &s), 1);
	assert_int_equal(s.pid, getpid());
	assert_true(s.readonly);
	assert_non_null(strstr(s.socket, VDI));
	assert_non_null(strstr(s.ctl, ".ctl"));
	assert_true(exists(".server"));
}

/* The pid is alive but started at another time: a reused pid, not our server. */
static void test_reused_pid(void **state)
{
	struct nbd_server s;

	write_record(getpid(), self_start_time() + 1, "RW");
	touch("");
	touch(".ctl");
	touch(".pid");
	assert_int_equal(nbd_serve_find(SR, VDI, &s), 0);
	assert_false(exists(".server"));
	assert_false(exists(""));
	assert_false(exists(".ctl"));
	assert_false(exists(".pid"));
}

static void test_damaged_record(void **state)
{
	char path[PATH_MAX];
	struct nbd_server s;

	write_record(getpid(), self_start_time(), "RW");
	assert_int_equal(nbd_serve_path(SR, VDI, ".server", path, sizeof(path)), 0);
	assert_int_equal(sm_write_file_atomic(path, "garbage\n", 8), 0);
	assert_int_equal(nbd_serve_find(SR, VDI, &s), 0);
	assert_false(exists(".server"));
}

/* Stopping a VDI with a dead record: a success that leaves nothing behind. */
static void test_stop_dead(void **state)
{
	struct sm_error err = { 0 };

	write_record(999999, 1, "RW");
	touch("");
	assert_int_equal(nbd_serve_stop(SR, VDI, 46, &err), 0);
	assert_false(exists(".server"));
	assert_false(exists(""));
}

static void test_start_without_nbdkit(void **state)
{
	const char *args[] = { "dir=/nonexistent", "vdi=" VDI, NULL };
	struct nbd_serve_spec spec = { .sr_uuid = SR, .vdi_uuid = VDI, .plugin_args = args };
	struct sm_error err = { 0 };
	struct nbd_server s;

	setenv("CSM_NBDKIT", "/nonexistent/nbdkit", 1);
	assert_int_equal(nbd_serve_start(&spec, &s, 46, &err), -1);
	assert_int_equal(err.code, 46);
	assert_non_null(strstr(err.detail, "/nonexistent/nbdkit"));
	unsetenv("CSM_NBDKIT");
	assert_false(exists(".server"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
		cmocka_unit_test(test_mode),
		cmocka_unit_test_setup_teardown(test_no_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reused_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_without_nbdkit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
