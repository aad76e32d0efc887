/* SPDX-License-Identifier: LGPL-2.1-only */
#include "csm/fault.h"

#ifdef CSM_TEST_BUILD
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	if (pause_at && strcmp(pause_at, name) == 0) {
		const char *ms = getenv("CSM_FAULT_PAUSE_MS");

		usleep((useconds_t)(ms ? atoi(ms) : 2000) * 1000);
	}
}
#else
/* Keep the translation unit non-empty for -Wpedantic compilers. */
typedef int sm_fault_unused;
#endif
