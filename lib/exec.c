/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "csm/exec.h"
#include "csm/log.h"
#include "csm/util.h"

/* Keep the tail of the output: the end of a tool's message says what failed. */
static void keep_tail(struct sm_exec_result *res, size_t *len, const char *buf, size_t n)
{
	size_t cap = sizeof(res->output) - 1;

	if (n >= cap) {
		memcpy(res->output, buf + n - cap, cap);
		*len = cap;
	} else {
		if (*len + n > cap) {
			size_t drop = *len + n - cap;

			memmove(res->output, res->output + drop, *len - drop);
			*len -= drop;
		}
		memcpy(res->output + *len, buf, n);
		*len += n;
	}
	res->output[*len] = '\0';
}

static bool is_secret(const char *arg, const char *const secrets[])
{
	for (size_t i = 0; secrets && secrets[i]; i++)
		if (*secrets[i] && strcmp(arg, secrets[i]) == 0)
			return true;
	return false;
}

void sm_exec_format_argv(const char *const argv[], const char *const secrets[],
			 char *line, size_t sz)
{
	size_t off = 0;

	line[0] = '\0';
	for (size_t i = 0; argv[i] && off < sz - 1; i++)
		off += snprintf(line + off, sz - off, "%s%s", i ? " " : "",
				is_secret(argv[i], secrets) ? SM_EXEC_MASK : argv[i]);
}

/* Every occurrence of a secret in s replaced by the mask, in place (s holds sz bytes). */
void sm_exec_mask_text(char *s, size_t sz, const char *const secrets[])
{
	for (size_t i = 0; secrets && secrets[i]; i++) {
		size_t n = strlen(secrets[i]), m = strlen(SM_EXEC_MASK);
		char *p = s;

		if (!n)
			continue;
		while ((p = strstr(p, secrets[i])) != NULL) {
			size_t tail = strlen(p + n);

			if ((size_t)(p - s) + m >= sz) {
				*p = '\0';   /* no room for the mask: cut the secret off */
				break;
			}
			if ((size_t)(p - s) + m + tail >= sz)
				tail = sz - 1 - (size_t)(p - s) - m;
			memmove(p + m, p + n, tail);
			p[m + tail] = '\0';
			memcpy(p, SM_EXEC_MASK, m);
			p += m;
		}
	}
}

static void log_command(const char *const argv[], const char *const secrets[])
{
	char line[1024];

	sm_exec_format_argv(argv, secrets, line, sizeof(line));
	sm_log(LOG_INFO, "exec: %s", line);
}

static void child(const char *const argv[], int out_fd)
{
	int null_fd = open("/dev/null", O_RDONLY);

	/* Our own process group, so a timeout kills what the tool started too. */
	setpgid(0, 0);
	if (null_fd >= 0)
		dup2(null_fd, 0);
	dup2(out_fd, 1);
	dup2(out_fd, 2);
	if (!getenv("PATH"))
		setenv("PATH", "/sbin:/usr/sbin:/bin:/usr/bin", 1);
	execvp(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int sm_exec(const char *const argv[], int timeout_s, struct sm_exec_result *res)
{
	return sm_exec_masked(argv, NULL, timeout_s, res);
}

int sm_exec_masked(const char *const argv[], const char *const secrets[], int timeout_s,
		   struct sm_exec_result *res)
{
	long long deadline = sm_monotonic_ms() + (long long)timeout_s * 1000;
	int fds[2], wstatus = 0;
	size_t len = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	log_command(argv, secrets);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	if (pid == 0)
		child(argv, fds[1]);
	close(fds[1]);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		long long left = deadline - sm_monotonic_ms();
		char buf[4096];
		ssize_t n;

		if (left <= 0) {
			res->timed_out = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, left > 1000 ? 1000 : (int)left) < 0) {
			if (errno == EINTR)
				continue;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (!p.revents)
			continue;
		n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;   /* EOF: every writer is gone */
		keep_tail(res, &len, buf, (size_t)n);
	}
	close(fds[0]);
	sm_exec_mask_text(res->output, sizeof(res->output), secrets);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	res->status = WIFEXITED(wstatus) && !res->timed_out ? WEXITSTATUS(wstatus) : -1;
	if (res->timed_out)
		sm_log(LOG_ERR, "exec: %s killed after %d s", argv[0], timeout_s);
	else if (res->status != 0)
		sm_log(LOG_WARNING, "exec: %s exited with %d: %s", argv[0], res->status, res->output);
	return 0;
}
