/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * bench_time: wall time of a command, median of N runs, for the
 * benchmarks that are about bytes and files rather than driver calls
 * (coalesce against cp/dd, vhdtool scan).  bench/run.sh drives it.
 *
 *   bench_time [-n N] [-w W] [-l LABEL] [-p PREP] [-d] [-q] [-b BYTES]
 *              [-e EXPECT] [-c COUNT_STR:K] -- CMD [ARG...]
 *
 * Each of the W + N runs: PREP (a /bin/sh -c string, untimed: e.g. make
 * a fresh parent image, remove the previous copy), then with -d
 * `sync; echo 3 > /proc/sys/vm/drop_caches` (untimed; needs root: without
 * it bench_time refuses rather than report warm figures as cold ones),
 * then CMD is fork+exec'd directly (no shell unless CMD is one) with stdout
 * read through a pipe, timed with CLOCK_MONOTONIC from fork to waitpid.
 * A run fails the benchmark unless CMD exits 0 and, with -e, its stdout
 * contains EXPECT, and with -c, contains COUNT_STR exactly K times.
 * -q sends CMD's stderr to /dev/null (progress output).
 *
 * Prints one line:
 *   LABEL  n  median  min  max  (ms)  [MiB/s at the median, with -b]
 * and with -b the MiB/s of every run on a second line (sorted).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "csm/buf.h"

static int quiet;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_time: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sh(const char *what, const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s failed (status %d): %s", what, st, cmd);
}

static void drop_caches(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0)
		die("-d: /proc/sys/vm/drop_caches: %s (needs root)", strerror(errno));
	if (write(fd, "3\n", 2) != 2)
		die("-d: drop_caches: %s", strerror(errno));
	close(fd);
}

/* Run argv, all of stdout into *out; returns the wall ms. */
static double run(char **argv, struct sm_buf *out)
{
	static char buf[1 << 16];
	int pfd[2], status;
	double t0, ms;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	t0 = now_ms();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pfd[1], 1);
		if (quiet) {
			int nul = open("/dev/null", O_WRONLY);

			if (nul >= 0)
				dup2(nul, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read: %s", strerror(errno));
		buf_append(out, buf, (size_t)n);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	ms = now_ms() - t0;
	close(pfd[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("%s exited with status %d", argv[0], status);
	return ms;
}

static size_t count(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, l = strlen(needle);

	for (const char *p = hay; p && (p = memmem(p, len - (size_t)(p - hay), needle, l)); p += l)
		n++;
	return n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n = 5, w = 1, c, dropc = 0;
	const char *label = NULL, *prep = NULL, *expect = NULL, *cnt = NULL;
	double bytes = 0, *t, med;
	size_t want_cnt = 0;
	char cnt_str[256] = "";

	while ((c = getopt(argc, argv, "+n:w:l:p:dqb:e:c:")) != -1) {
		switch (c) {
		case 'n': n = atoi(optarg); break;
		case 'w': w = atoi(optarg); break;
		case 'l': label = optarg; break;
		case 'p': prep = optarg; break;
		case 'd': dropc = 1; break;
		case 'q': quiet = 1; break;
		case 'b': bytes = strtod(optarg, NULL); break;
		case 'e': expect = optarg; break;
		case 'c': cnt = optarg; break;
		default: goto usage;
		}
	}
	if (optind >= argc || n < 1 || w < 0)
		goto usage;
	if (cnt) {
		const char *colon = strrchr(cnt, ':');

		if (!colon || colon == cnt || (size_t)(colon - cnt) >= sizeof(cnt_str))
			goto usage;
		memcpy(cnt_str, cnt, (size_t)(colon - cnt));
		want_cnt = strtoull(colon + 1, NULL, 10);
	}
	if (!label)
		label = argv[optind];
	t = calloc((size_t)n, sizeof(*t));
	if (!t)
		die("out of memory");
	for (int i = 0; i < w + n; i++) {
		struct sm_buf out = SM_BUF_INIT;
		double ms;

		if (prep)
			sh("prep", prep);
		if (dropc)
			drop_caches();
		ms = run(argv + optind, &out);
		buf_append(&out, "", 1);
		if (!out.data)
			die("out of memory");
		if (expect && !strstr(out.data, expect))
			die("%s: output lacks '%s':\n%.2000s", label, expect, out.data);
		if (cnt) {
			size_t got = count(out.data, out.len, cnt_str);

			if (got != want_cnt)
				die("%s: '%s' %zu times in the output, expected %zu", label,
				    cnt_str, got, want_cnt);
		}
		buf_free(&out);
		if (i >= w)
			t[i - w] = ms;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_d);
	med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	printf("%-44s %3d %10.1f %10.1f %10.1f", label, n, med, t[0], t[n - 1]);
	if (bytes > 0)
		printf(" %9.1f", bytes / 1048576.0 / (med / 1e3));
	printf("\n");
	if (bytes > 0) {
		printf("%-44s     MiB/s per run:", "");
		for (int i = n - 1; i >= 0; i--)
			printf(" %.1f", bytes / 1048576.0 / (t[i] / 1e3));
		printf("\n");
	}
	fflush(stdout);
	free(t);
	return 0;
usage:
	fprintf(stderr, "usage: bench_time [-n N] [-w W] [-l LABEL] [-p PREP] [-d] [-q] [-b BYTES]\n"
			"                  [-e EXPECT] [-c STR:K] -- CMD [ARG...]\n");
	return 2;
}
