/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * nbd_ctl_command against real Unix-socket peers in a thread: one that
 * answers, one that says "err", one that closes, and the silent ones a
 * stuck or dead server leaves (a listener that never accepts, one that
 * accepts and never answers), which must cost the caller its deadline
 * and no more.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/error.h"
#include "csm/nbd_ctl.h"

enum peer_kind { PEER_ANSWER, PEER_CLOSE, PEER_SILENT_ACCEPT, PEER_NO_ACCEPT };

struct peer {
	enum peer_kind kind;
	const char *reply;        /* PEER_ANSWER: what to send back */
	char got[NBD_CTL_LINE_MAX];   /* the line the client sent */
	int listen_fd;
	int release[2];           /* the silent peers wait on this to end */
	pthread_t thread;
	char path[108];
	char dir[64];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void read_line(int fd, char *out, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		ssize_t n = read(fd, out + len, 1);

		if (n <= 0 || out[len] == '\n')
			break;
		len++;
	}
	out[len] = '\0';
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	char c;
	int fd;

	if (p->kind == PEER_NO_ACCEPT) {
		if (read(p->release[0], &c, 1) < 0)
			return NULL;
		return NULL;
	}
	fd = accept(p->listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	read_line(fd, p->got, sizeof(p->got));
	if (p->kind == PEER_ANSWER) {
		if (write(fd, p->reply, strlen(p->reply)) < 0)
			p->got[0] = '\0';
	} else if (p->kind == PEER_SILENT_ACCEPT) {
		if (read(p->release[0], &c, 1) < 0)
			c = 0;
	}
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p, enum peer_kind kind, const char *reply)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->reply = reply;
	strcpy(p->dir, "/tmp/csm-test-nbdctl-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->path, sizeof(p->path), "%s/ctl", p->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	p->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(p->listen_fd >= 0);
	assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->listen_fd, 4), 0);
	assert_int_equal(pipe(p->release), 0);
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static void peer_stop(struct peer *p)
{
	if (write(p->release[1], "x", 1) < 0)
		fail_msg("release the peer");
	pthread_join(p->thread, NULL);
	close(p->release[0]);
	close(p->release[1]);
	close(p->listen_fd);
	unlink(p->path);
	rmdir(p->dir);
}

static void test_ok_answer(void **state)
{
	struct peer p;
	struct sm_error err = { 0 };
	char ans[NBD_CTL_LINE_MAX];

	peer_start(&p, PEER_ANSWER, "ok state=running inflight=0\n");
	assert_int_equal(nbd_ctl_command(p.path, "status", 2000, ans, sizeof(ans), &err), 0);
	assert_string_equal(ans, "ok state=running inflight=0");
	peer_stop(&p);
	assert_string_equal(p.got, "status");
	assert_int_equal(err.code, 0);
}

static void test_err_answer(void **state)
{
	struct peer p;
	struct sm_error err = { 0 };
	char ans[NBD_CTL_LINE_MAX];

	peer_start(&p, PEER_ANSWER, "err pause: 2 request(s) still in flight\n");
	assert_int_equal(nbd_ctl_command(p.path, "pause 100", 2000, ans, sizeof(ans), &err), -1);
	assert_int_equal(err.code, SME_VDI_UNAVAILABLE);
	assert_string_equal(err.detail, "pause 100: pause: 2 request(s) still in flight");
	assert_string_equal(ans, "err pause: 2 request(s) still in flight");
	peer_stop(&p);
	assert_string_equal(p.got, "pause 100");
}

/* "okay" is not "ok": only "ok" or "ok <more>" is a success. */
static void test_unexpected_answer(void **state)
{
	struct peer p;
	struct sm_error err = { 0 };

	peer_start(&p, PEER_ANSWER, "okay\n");
	assert_int_equal(nbd_ctl_command(p.path, "flush", 2000, NULL, 0, &err), -1);
	assert_non_null(strstr(err.detail, "unexpected answer"));
	peer_stop(&p);
}

static void test_closed_without_answer(void **state)
{
	struct peer p;
	struct sm_error err = { 0 };

	peer_start(&p, PEER_CLOSE, NULL);
	assert_int_equal(nbd_ctl_command(p.path, "resume", 2000, NULL, 0, &err), -1);
	assert_non_null(strstr(err.detail, "closed the connection"));
	peer_stop(&p);
}

/* A peer that takes the line and never answers: the deadline, not more. */
static void test_silent_peer_times_out(void **state)
{
	struct peer p;
	struct sm_error err = { 0 };
	double t0;

	peer_start(&p, PEER_SILENT_ACCEPT, NULL);
	t0 = now();
	assert_int_equal(nbd_ctl_command(p.path, "pause", 300, NULL, 0, &err), -1);
	assert_true(now() - t0 >= 0.25);
	assert_true(now() - t0 < 1.5);
	assert_int_equal(err.code, SME_VDI_UNAVAILABLE);
	assert_non_null(strstr(err.detail, "no answer"));
	peer_stop(&p);
}

/* A listener nobody accepts on (a server whose control thread is stuck). */
static void test_never_accepting_peer_times_out(void **state)
{
	struct peer p;
	struct sm_error err = { 0 };
	double t0;

	peer_start(&p, PEER_NO_ACCEPT, NULL);
	t0 = now();
	assert_int_equal(nbd_ctl_command(p.path, "status", 300, NULL, 0, &err), -1);
	assert_true(now() - t0 < 1.5);
	assert_int_equal(err.code, SME_VDI_UNAVAILABLE);
	peer_stop(&p);
}

static void test_no_socket(void **state)
{
	struct sm_error err = { 0 };
	double t0 = now();

	assert_int_equal(nbd_ctl_command("/tmp/csm-test-nbdctl-none/ctl", "status", 2000, NULL, 0,
					 &err), -1);
	assert_true(now() - t0 < 1.0);
	assert_non_null(strstr(err.detail, "cannot reach"));
}

static void test_bad_command(void **state)
{
	struct sm_error err = { 0 };

	assert_int_equal(nbd_ctl_command("/tmp/x", "pause\nresume", 2000, NULL, 0, &err), -1);
	assert_non_null(strstr(err.detail, "bad control command"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_answer),
		cmocka_unit_test(test_err_answer),
		cmocka_unit_test(test_unexpected_answer),
		cmocka_unit_test(test_closed_without_answer),
		cmocka_unit_test(test_silent_peer_times_out),
		cmocka_unit_test(test_never_accepting_peer_times_out),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_bad_command),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
