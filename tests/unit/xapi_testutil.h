/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A canned XenAPI peer for the client's unit tests: a forked child
 * serving a Unix socket in a temporary directory, recording the request
 * bytes it read and answering each connection with the next canned
 * response (NULL: never answer).  Include after cmocka.h.
 */
#ifndef CSM_XAPI_TESTUTIL_H
#define CSM_XAPI_TESTUTIL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* A 200 with the given body and its exact Content-Length. */
static inline char *http_ok(const char *body)
{
	char *r;

	assert_true(asprintf(&r, "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\n"
			     "content-type: text/xml\r\nconnection: keep-alive\r\n"
			     "cache-control: no-cache, no-store\r\n\r\n%s",
			     strlen(body), body) > 0);
	return r;
}

struct server {
	char dir[64];
	char sock[128];
	char log[128];
	pid_t pid;
};

/* Read one request: headers, then Content-Length bytes of body. */
static inline size_t read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	char *hend;

	while (len < cap - 1) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = 0;
		hend = strstr(buf, "\r\n\r\n");
		if (hend) {
			char *cl = strstr(buf, "Content-Length: ");
			size_t want = (size_t)(hend + 4 - buf) +
				      (cl ? strtoul(cl + 16, NULL, 10) : 0);
			if (len >= want)
				break;
		}
	}
	return len;
}

/*
 * Serve n connections: read the request, append it to the log, write
 * responses[i] (NULL: answer nothing, wait to be killed) and close.
 */
static inline void serve(struct server *s, const char *const responses[], size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd;

	strcpy(s->dir, "/tmp/csm-xapi-test.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/xapi", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/requests", s->dir);
	strcpy(sa.sun_path, s->sock);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid) {
		close(lfd);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		static char buf[65536];
		int fd = accept(lfd, NULL, NULL);
		size_t len;
		FILE *f;

		if (fd < 0)
			_exit(2);
		len = read_request(fd, buf, sizeof(buf));
		f = fopen(s->log, "a");
		if (!f)
			_exit(3);
		fwrite(buf, 1, len, f);
		fclose(f);
		if (!responses[i])
			for (;;)
				pause();
		if (write(fd, responses[i], strlen(responses[i])) < 0)
			_exit(4);
		close(fd);
	}
	_exit(0);
}

static inline char *stop(struct server *s)
{
	char *log = NULL;
	size_t cap = 0;
	FILE *f;
	char cmd[200];

	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	f = fopen(s->log, "r");
	if (f) {
		log = calloc(1, 1 << 17);
		assert_non_null(log);
		cap = fread(log, 1, (1 << 17) - 1, f);
		log[cap] = 0;
		fclose(f);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
	assert_int_equal(system(cmd), 0);
	return log;
}

#endif
