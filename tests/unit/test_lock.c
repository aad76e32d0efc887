/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the named fcntl locks under a temporary SM_LOCK_DIR.  fcntl
 * locks only exclude other processes, so the contenders are forked
 * children reporting back through a pipe.
 */
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/error.h"
#include "csm/lock.h"

#define NS "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10"

static char lock_dir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int group_setup(void **state)
{
	strcpy(lock_dir, "/tmp/csm-test-lock-XXXXXX");
	if (!mkdtemp(lock_dir))
		return -1;
	setenv("SM_LOCK_DIR", lock_dir, 1);
	unsetenv("SM_LOCK_TIMEOUT");
	return 0;
}

static int group_teardown(void **state)
{
	nftw(lock_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a child saw when it tried to take the lock. */
struct attempt {
	int rc;
	int code;
	double seconds;
	char detail[SM_ERROR_DETAIL_MAX];
};

/* In a child: lock_acquire(ns, name, timeout, busy), release, report. */
static void try_in_child(const char *ns, const char *name, int timeout, int busy,
			 struct attempt *a)
{
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sm_lock lk = SM_LOCK_INIT;
		struct sm_error err = { 0 };
		struct attempt r = { 0 };
		double t0 = now();

		close(fds[0]);
		r.rc = lock_acquire(&lk, ns, name, timeout, busy, &err);
		r.seconds = now() - t0;
		r.code = err.code;
		memcpy(r.detail, err.detail, sizeof(r.detail));
		lock_release(&lk);
		if (write(fds[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], a, sizeof(*a));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(n, sizeof(*a));
}

static void test_acquire_release(void **state)
{
	struct sm_lock lk = SM_LOCK_INIT;
	struct sm_error err = { 0 };
	char path[256];
	struct stat st;

	assert_int_equal(lock_acquire(&lk, NS, "sr", 0, 0, &err), 0);
	assert_int_equal(err.code, SM_OK);
	assert_true(lk.fd >= 0);
	snprintf(path, sizeof(path), "%s/%s/sr", lock_dir, NS);
	assert_string_equal(lk.path, path);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	lock_release(&lk);
	assert_int_equal(lk.fd, -1);
	lock_release(&lk);                       /* twice is harmless */
	/* The file stays, as in the Python SM. */
	assert_int_equal(stat(path, &st), 0);
	/* And it can be taken again. */
	assert_int_equal(lock_acquire(&lk, NS, "sr", 0, 0, &err), 0);
	lock_release(&lk);
}

static void test_contended_try_once(void **state)
{
	struct sm_lock lk = SM_LOCK_INIT;
	struct sm_error err = { 0 };
	struct attempt a;
	char want[64];

	assert_int_equal(lock_acquire(&lk, NS, "sr", 0, 0, &err), 0);
	try_in_child(NS, "sr", 0, SME_VDI_IN_USE, &a);
	assert_int_equal(a.rc, -1);
	assert_int_equal(a.code, SME_VDI_IN_USE);
	snprintf(want, sizeof(want), "held by pid %d", (int)getpid());
	if (!strstr(a.detail, want))
		fail_msg("detail \"%s\" does not name the holder (%s)", a.detail, want);
	assert_non_null(strstr(a.detail, NS "/sr"));
	assert_true(a.seconds < 0.5);

	/* busy_code 0 means SRUnavailable. */
	try_in_child(NS, "sr", 0, 0, &a);
	assert_int_equal(a.rc, -1);
	assert_int_equal(a.code, SME_SR_UNAVAILABLE);

	/* Another name in the same namespace is a different lock. */
	try_in_child(NS, "other", 0, 0, &a);
	assert_int_equal(a.rc, 0);

	lock_release(&lk);
	try_in_child(NS, "sr", 0, SME_VDI_IN_USE, &a);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.code, SM_OK);
}

static void test_contended_timeout(void **state)
{
	struct sm_lock lk = SM_LOCK_INIT;
	struct sm_error err = { 0 };
	struct attempt a;

	assert_int_equal(lock_acquire(&lk, NS, "sr", 0, 0, &err), 0);
	try_in_child(NS, "sr", 1, SME_SR_UNAVAILABLE, &a);
	assert_int_equal(a.rc, -1);
	assert_int_equal(a.code, SME_SR_UNAVAILABLE);
	if (a.seconds < 0.9 || a.seconds > 3.0)
		fail_msg("gave up after %.2f s, expected about 1 s", a.seconds);
	assert_non_null(strstr(a.detail, "after 1 s"));

	/* timeout -1 takes SM_LOCK_TIMEOUT. */
	setenv("SM_LOCK_TIMEOUT", "1", 1);
	try_in_child(NS, "sr", -1, SME_SR_UNAVAILABLE, &a);
	unsetenv("SM_LOCK_TIMEOUT");
	assert_int_equal(a.rc, -1);
	if (a.seconds < 0.9 || a.seconds > 3.0)
		fail_msg("SM_LOCK_TIMEOUT=1: gave up after %.2f s", a.seconds);
	lock_release(&lk);
}

/* A waiter gets the lock as soon as the holder lets go. */
static void test_waiter_gets_lock(void **state)
{
	struct sm_lock lk = SM_LOCK_INIT;
	struct sm_error err = { 0 };
	int status;
	double t0;
	pid_t pid;
	int fds[2];
	char c;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sm_lock clk = SM_LOCK_INIT;
		struct sm_error cerr = { 0 };

		close(fds[0]);
		if (lock_acquire(&clk, NS, "vdi", 0, 0, &cerr) < 0)
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(2);
		usleep(300 * 1000);
		lock_release(&clk);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);   /* the child holds it now */
	close(fds[0]);
	t0 = now();
	assert_int_equal(lock_acquire(&lk, NS, "vdi", 10, 0, &err), 0);
	assert_true(now() - t0 < 5.0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	lock_release(&lk);
}

static void test_cleanup_namespace(void **state)
{
	static const char ns[] = "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e";
	struct sm_lock a = SM_LOCK_INIT, b = SM_LOCK_INIT;
	struct sm_error err = { 0 };
	char dir[256];
	struct stat st;

	assert_int_equal(lock_acquire(&a, ns, "vdi", 0, 0, &err), 0);
	assert_int_equal(lock_acquire(&b, ns, "other", 0, 0, &err), 0);
	lock_release(&a);
	lock_release(&b);
	snprintf(dir, sizeof(dir), "%s/%s", lock_dir, ns);
	assert_int_equal(stat(dir, &st), 0);
	lock_cleanup_namespace(ns);
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* A namespace that does not exist is fine. */
	lock_cleanup_namespace(ns);
	lock_cleanup_namespace("never-was");
}

static void test_path_too_long(void **state)
{
	struct sm_lock lk = SM_LOCK_INIT;
	struct sm_error err = { 0 };
	char ns[600];

	memset(ns, 'a', sizeof(ns) - 1);
	ns[sizeof(ns) - 1] = '\0';
	assert_int_equal(lock_acquire(&lk, ns, "sr", 0, 0, &err), -1);
	assert_int_equal(err.code, SME_SM_GENERAL);
	assert_int_equal(lk.fd, -1);
	lock_release(&lk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acquire_release),
		cmocka_unit_test(test_contended_try_once),
		cmocka_unit_test(test_contended_timeout),
		cmocka_unit_test(test_waiter_gets_lock),
		cmocka_unit_test(test_cleanup_namespace),
		cmocka_unit_test(test_path_too_long),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
