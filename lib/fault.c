/* SPDX-License-Identifier: LGPL-2.1-only */
#include "csm/fault.h"

#ifdef CSM_TEST_BUILD
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Is name one of the comma-separated names in list? */
static int name_listed(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return 1;
	return 0;
}

/*
 * Stand at a pause point for CSM_FAULT_PAUSE_MS (2000), or, with
 * CSM_FAULT_PAUSE_GO=<file>, until the test creates that file (taken away
 * here, so each one releases one pause) or the time runs out: a test
 * that has done what it raced need not wait the whole time.
 */
static void fault_pause(void)
{
	const char *ms = getenv("CSM_FAULT_PAUSE_MS");
	const char *go = getenv("CSM_FAULT_PAUSE_GO");
	long left_ms = ms ? atol(ms) : 2000;

	if (!go || !*go) {
		usleep((useconds_t)left_ms * 1000);
		return;
	}
	for (; left_ms > 0; left_ms -= 10) {
		if (unlink(go) == 0)
			return;
		usleep(10 * 1000);
	}
}

void sm_fault_point(const char *name)
{
	const char *log = getenv("CSM_FAULT_LOG");
	const char *kill_at = getenv("CSM_FAULT_POINT");
	const char *pause_at = getenv("CSM_FAULT_PAUSE");

	if (log && *log) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dprintf(fd, "%s\n", name);
			close(fd);
		}
	}
	if (kill_at && strcmp(kill_at, name) == 0)
		kill(getpid(), SIGKILL);
	/* A pause at a step lets a test pull the storage away mid-operation. */
	if (pause_at && name_listed(pause_at, name))
		fault_pause();
}

/* Calls counted per class, in this process. */
static const char *const io_classes[] = { "open", "read", "stat", "list", "syncdir" };
static unsigned io_counts[sizeof(io_classes) / sizeof(io_classes[0])];

static int io_class_index(const char *cls)
{
	for (size_t i = 0; i < sizeof(io_classes) / sizeof(io_classes[0]); i++)
		if (strcmp(io_classes[i], cls) == 0)
			return (int)i;
	return -1;
}

/* Does "<cls>:<n>" appear in the comma-separated list spec? */
static int io_spec_matches(const char *spec, const char *cls, unsigned n)
{
	size_t len = strlen(cls);

	while (spec && *spec) {
		if (strncmp(spec, cls, len) == 0 && spec[len] == ':' &&
		    strtoul(spec + len + 1, NULL, 10) == n)
			return 1;
		spec = strchr(spec, ',');
		if (spec)
			spec++;
	}
	return 0;
}

int sm_fault_io(const char *cls, const char *what)
{
	const char *spec = getenv("CSM_FAULT_IO"), *log = getenv("CSM_FAULT_IO_LOG");
	int idx = io_class_index(cls);
	unsigned n;

	if (idx < 0)
		return 0;
	n = ++io_counts[idx];
	if (log && *log) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dprintf(fd, "%s %u %s\n", cls, n, what ? what : "");
			close(fd);
		}
	}
	if (io_spec_matches(spec, cls, n)) {
		const char *e = getenv("CSM_FAULT_IO_ERRNO");

		return -(e && atoi(e) > 0 ? atoi(e) : EIO);
	}
	return 0;
}
#else
/* Keep the translation unit non-empty for -Wpedantic compilers. */
typedef int sm_fault_unused;
#endif
