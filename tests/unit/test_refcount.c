/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the refcount files, in a private base directory: the exact
 * file contents refcounter.py writes and reads, removal at 0 0 (and of the
 * namespace directory when empty), clamping, names, hostile files, and
 * exclusion by the same lock file the Python SM takes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

#include "csm/refcount.h"

#define NS "lvm-3f1c0d9e-5d2a-4c8b-9e7f-0a1b2c3d4e5f"
#define U  "aaaaaaaa-0000-4000-8000-000000000001"
#define U2 "bbbbbbbb-0000-4000-8000-000000000002"

static char base[256], locks[256], top[128];

static int setup(void **state)
{
	strcpy(top, "/tmp/csm-refcount.XXXXXX");
	if (!mkdtemp(top))
		return -1;
	snprintf(base, sizeof(base), "%s/refcount", top);
	snprintf(locks, sizeof(locks), "%s/lock", top);
	setenv("SM_REFCOUNT_DIR", base, 1);
	setenv("SM_LOCK_DIR", locks, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

/* The count file's whole content, or NULL when there is none. */
static char *content(const char *ns, const char *obj)
{
	static char buf[128];
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", base, ns, obj);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void write_file(const char *ns, const char *obj, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", base, ns);
	mkdir(base, 0755);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", base, ns, obj);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_get_put_contents(void **state)
{
	struct sm_error err = { 0 };
	struct refcount rc;
	unsigned total = 99;
	char nsdir[512];
	struct stat st;

	assert_string_equal(refcount_base_dir(), base);
	assert_int_equal(refcount_read(NS, U, &rc, &err), 0);
	assert_int_equal(rc.count, 0);
	assert_int_equal(rc.binary, 0);

	assert_int_equal(refcount_get(NS, U, false, &total, &err), 0);
	assert_int_equal(total, 1);
	assert_string_equal(content(NS, U), "1 0\n");
	assert_int_equal(refcount_get(NS, U, false, &total, &err), 0);
	assert_int_equal(total, 2);
	assert_string_equal(content(NS, U), "2 0\n");
	/* The leaf of an attached chain: the binary count. */
	assert_int_equal(refcount_get(NS, U, true, &total, &err), 0);
	assert_int_equal(total, 3);
	assert_string_equal(content(NS, U), "2 1\n");
	/* The binary count stays at 1. */
	assert_int_equal(refcount_get(NS, U, true, &total, &err), 0);
	assert_int_equal(total, 3);
	assert_string_equal(content(NS, U), "2 1\n");
	assert_int_equal(refcount_read(NS, U, &rc, &err), 0);
	assert_int_equal(rc.count, 2);
	assert_int_equal(rc.binary, 1);

	/* Python's mode and no temporary file left behind. */
	snprintf(nsdir, sizeof(nsdir), "%s/%s/%s", base, NS, U);
	assert_int_equal(stat(nsdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	assert_int_equal(refcount_put(NS, U, true, &total, &err), 0);
	assert_int_equal(total, 2);
	assert_string_equal(content(NS, U), "2 0\n");
	assert_int_equal(refcount_put(NS, U, false, &total, &err), 0);
	assert_int_equal(refcount_put(NS, U, false, &total, &err), 0);
	assert_int_equal(total, 0);
	/* 0 0: the file goes, and the namespace directory with it. */
	assert_null(content(NS, U));
	snprintf(nsdir, sizeof(nsdir), "%s/%s", base, NS);
	assert_false(exists(nsdir));

	/* Putting below 0 is clamped (refcounter.py warns and writes 0). */
	assert_int_equal(refcount_put(NS, U, false, &total, &err), 0);
	assert_int_equal(total, 0);
	assert_int_equal(refcount_put(NS, U, true, &total, &err), 0);
	assert_null(content(NS, U));
	assert_int_equal(err.code, 0);
}

static void test_namespace_kept_while_used(void **state)
{
	struct sm_error err = { 0 };
	char nsdir[512];
	DIR *d;
	struct dirent *de;
	int files = 0;

	assert_int_equal(refcount_get(NS, U, false, NULL, &err), 0);
	assert_int_equal(refcount_get(NS, U2, true, NULL, &err), 0);
	assert_int_equal(refcount_put(NS, U, false, NULL, &err), 0);
	snprintf(nsdir, sizeof(nsdir), "%s/%s", base, NS);
	assert_true(exists(nsdir));
	assert_string_equal(content(NS, U2), "0 1\n");
	/* Exactly one file: no leftovers of the temp-and-rename writes. */
	d = opendir(nsdir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			files++;
	closedir(d);
	assert_int_equal(files, 1);

	assert_int_equal(refcount_reset_ns(NS, &err), 0);
	assert_false(exists(nsdir));
	assert_int_equal(refcount_reset_ns(NS, &err), 0);   /* nothing there: fine */
}

static void test_set_and_adjust(void **state)
{
	struct sm_error err = { 0 };
	struct refcount rc;
	unsigned total;

	/* The snapshot's move of the activation to the base: set(base, 1, 0). */
	assert_int_equal(refcount_set(NS, U, 1, 0, &err), 0);
	assert_string_equal(content(NS, U), "1 0\n");
	assert_int_equal(refcount_set(NS, U, 100, 1, &err), 0);
	assert_string_equal(content(NS, U), "100 1\n");
	assert_int_equal(refcount_adjust(NS, U, 1, 0, &total, &err), 0);
	assert_int_equal(total, 102);
	assert_int_equal(refcount_set(NS, U, 0, 0, &err), 0);
	assert_null(content(NS, U));

	assert_int_equal(refcount_set(NS, U, 0, 2, &err), -1);
	assert_int_equal(err.code, SME_INVALID_ARG);
	sm_error_clear(&err);
	assert_int_equal(refcount_adjust(NS, U, 0, 2, &total, &err), -1);
	assert_int_equal(refcount_read(NS, U, &rc, &err), 0);
	assert_int_equal(rc.count, 0);
}

/* Files another writer left: what refcounter.py reads, and what it cannot. */
static void test_read_files(void **state)
{
	static const struct {
		const char *text;
		int rc;
		unsigned count, binary;
	} table[] = {
		{ "3 1\n", 0, 3, 1 },
		{ "3 0", 0, 3, 0 },
		{ "  7\t0  \n", 0, 7, 0 },
		{ "0 1\n", 0, 0, 1 },
		{ "", -1, 0, 0 },
		{ "3\n", -1, 0, 0 },
		{ "abc def\n", -1, 0, 0 },
		{ "-1 0\n", -1, 0, 0 },
		{ "1 0 junk\n", -1, 0, 0 },
		{ "99999999999999999999 0\n", -1, 0, 0 },
		{ "1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n1 0\n", -1, 0, 0 },
	};
	struct sm_error err = { 0 };
	struct refcount rc;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		write_file(NS, U, table[i].text);
		sm_error_clear(&err);
		if (refcount_read(NS, U, &rc, &err) != table[i].rc)
			fail_msg("'%s': not %d (%s)", table[i].text, table[i].rc, err.detail);
		if (table[i].rc == 0) {
			assert_int_equal(rc.count, table[i].count);
			assert_int_equal(rc.binary, table[i].binary);
		} else {
			assert_int_equal(err.code, SME_SM_GENERAL);
			assert_non_null(strstr(err.detail, U));
			/* A count we cannot read is never overwritten by a guess. */
			assert_int_equal(refcount_get(NS, U, false, NULL, &err), -1);
			assert_string_equal(content(NS, U), table[i].text);
		}
	}
	/* A binary count above 1 that someone wrote is brought back to 1 by the next change. */
	write_file(NS, U, "2 5\n");
	assert_int_equal(refcount_get(NS, U, false, NULL, &err), 0);
	assert_string_equal(content(NS, U), "3 1\n");
	assert_int_equal(refcount_reset_ns(NS, &err), 0);
}

static void test_names(void **state)
{
	struct sm_error err = { 0 };
	struct refcount rc;

	/* refcounter._getSafeNames: '/', '*', '?' and '\' become '_'. */
	assert_int_equal(refcount_get(NS, "a/b*c?d\\e", false, NULL, &err), 0);
	assert_string_equal(content(NS, "a_b_c_d_e"), "1 0\n");
	assert_int_equal(refcount_reset_ns(NS, &err), 0);

	assert_int_equal(refcount_read("..", U, &rc, &err), -1);
	assert_int_equal(err.code, SME_INVALID_ARG);
	assert_int_equal(refcount_read("a/b", U, &rc, &err), -1);
	assert_int_equal(refcount_read("", U, &rc, &err), -1);
	assert_int_equal(refcount_read(NULL, U, &rc, &err), -1);
	assert_int_equal(refcount_read(NS, "", &rc, &err), -1);
	assert_int_equal(refcount_read(NS, "..", &rc, &err), -1);
	assert_int_equal(refcount_read(NS, NULL, &rc, &err), -1);
	assert_int_equal(refcount_get(NS, ".", false, NULL, &err), -1);
	assert_int_equal(refcount_reset_ns("..", &err), -1);
}

/*
 * The Python SM holds <lock dir>/<ns>/<uuid> around a count change: while
 * another process holds it, ours waits and then gives up with LockErr.
 */
static void test_lock_excludes(void **state)
{
	struct sm_error err = { 0 };
	char lockpath[512];
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sm_lock lk = SM_LOCK_INIT;

		close(ready[0]);
		if (refcount_lock(&lk, NS, U, NULL) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	snprintf(lockpath, sizeof(lockpath), "%s/%s/%s", locks, NS, U);
	assert_true(exists(lockpath));

	setenv("SM_LOCK_TIMEOUT", "1", 1);
	assert_int_equal(refcount_get(NS, U, false, NULL, &err), -1);
	assert_int_equal(err.code, SME_LOCK_ERR);
	assert_null(content(NS, U));
	/* Another object's lock is free. */
	assert_int_equal(refcount_get(NS, U2, false, NULL, &(struct sm_error){ 0 }), 0);

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	sm_error_clear(&err);
	assert_int_equal(refcount_get(NS, U, false, NULL, &err), 0);
	unsetenv("SM_LOCK_TIMEOUT");
	assert_int_equal(refcount_reset_ns(NS, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put_contents),
		cmocka_unit_test(test_namespace_kept_while_used),
		cmocka_unit_test(test_set_and_adjust),
		cmocka_unit_test(test_read_files),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_lock_excludes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
