/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The client of the data-path server's control socket (csm/nbd_ctl.h).
 * Every step (connect, send, receive) waits in poll() against one
 * deadline, so a server that is stuck, or a socket whose owner died and
 * left a listener nobody accepts on, costs the caller timeout_ms at most.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "csm/nbd_ctl.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (rc > 0)
			return 1;
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static int ctl_connect(const char *path, int64_t deadline, int *out, struct sm_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc, soerr = 0;
	socklen_t len = sizeof(soerr);

	if (strlen(path) >= sizeof(sa.sun_path))
		return sm_fail(err, SME_VDI_UNAVAILABLE, "control socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sm_fail_errno(err, SME_VDI_UNAVAILABLE, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		goto connected;
	/* A full backlog (a server that stopped accepting) says EAGAIN: wait, then try again. */
	while (errno == EAGAIN || errno == EINPROGRESS) {
		if (errno == EINPROGRESS) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc <= 0)
				goto timed_out;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr) {
				errno = soerr ? soerr : errno;
				break;
			}
			goto connected;
		}
		if (now_ms() >= deadline)
			goto timed_out;
		usleep(5000);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			goto connected;
	}
	rc = errno;
	close(fd);
	return sm_fail_errno(err, SME_VDI_UNAVAILABLE, rc, "cannot reach the data-path server "
			     "at %s", path);
timed_out:
	close(fd);
	return sm_fail(err, SME_VDI_UNAVAILABLE, "the data-path server at %s did not accept "
		       "the connection in time", path);
connected:
	*out = fd;
	return 0;
}

static int send_line(int fd, const char *line, size_t len, int64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, line + done, len - done, MSG_NOSIGNAL);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		n = wait_fd(fd, POLLOUT, deadline);
		if (n <= 0)
			return n ? (int)n : -ETIMEDOUT;
	}
	return 0;
}

/* One line (newline dropped) into buf: 0, -ETIMEDOUT, -ECONNRESET (closed), -E2BIG, -errno. */
static int recv_line(int fd, char *buf, size_t cap, int64_t deadline)
{
	size_t len = 0;

	for (;;) {
		ssize_t n;
		char *nl;

		if (len + 1 >= cap)
			return -E2BIG;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0) {
			n = wait_fd(fd, POLLIN, deadline);
			if (n <= 0)
				return n ? (int)n : -ETIMEDOUT;
			continue;
		}
		len += (size_t)n;
		buf[len] = '\0';
		nl = strchr(buf, '\n');
		if (nl) {
			*nl = '\0';
			return 0;
		}
	}
}

int nbd_ctl_command(const char *ctl_path, const char *cmd, int timeout_ms, char *answer,
		    size_t cap, struct sm_error *err)
{
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char line[NBD_CTL_LINE_MAX], reply[NBD_CTL_LINE_MAX];
	int fd = -1, rc, ret = -1;
	size_t len = strlen(cmd);

	if (answer && cap)
		answer[0] = '\0';
	if (len + 2 > sizeof(line) || strchr(cmd, '\n'))
		return sm_fail(err, SME_VDI_UNAVAILABLE, "bad control command \"%.64s\"", cmd);
	memcpy(line, cmd, len);
	line[len++] = '\n';
	if (ctl_connect(ctl_path, deadline, &fd, err) < 0)
		return -1;
	rc = send_line(fd, line, len, deadline);
	if (rc == 0)
		rc = recv_line(fd, reply, sizeof(reply), deadline);
	if (rc == -ETIMEDOUT) {
		sm_fail(err, SME_VDI_UNAVAILABLE, "%s: no answer from the data-path server at %s "
			"within %d ms", cmd, ctl_path, timeout_ms);
		goto out;
	}
	if (rc == -ECONNRESET) {
		sm_fail(err, SME_VDI_UNAVAILABLE, "%s: the data-path server at %s closed the "
			"connection without an answer", cmd, ctl_path);
		goto out;
	}
	if (rc < 0) {
		sm_fail_errno(err, SME_VDI_UNAVAILABLE, -rc, "%s: talking to the data-path server "
			      "at %s", cmd, ctl_path);
		goto out;
	}
	if (answer && cap)
		snprintf(answer, cap, "%s", reply);
	if (strcmp(reply, "ok") == 0 || strncmp(reply, "ok ", 3) == 0) {
		ret = 0;
		goto out;
	}
	if (strncmp(reply, "err ", 4) == 0)
		sm_fail(err, SME_VDI_UNAVAILABLE, "%s: %s", cmd, reply + 4);
	else
		sm_fail(err, SME_VDI_UNAVAILABLE, "%s: unexpected answer from the data-path server "
			"at %s: \"%.200s\"", cmd, ctl_path, reply);
out:
	close(fd);
	return ret;
}
