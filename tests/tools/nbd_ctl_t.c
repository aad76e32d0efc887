/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Send one command to a data-path server's control socket through
 * nbd_ctl_command (lib/nbd_ctl.c), as the driver does; used by
 * tests/integration/test_nbd_plugin.sh.
 *
 *   nbd_ctl_t <socket> <timeout_ms> <command...>
 *
 * The answer line goes to stdout; exit 0 for "ok", 1 with
 * "FAULT <code> <detail>" on stderr otherwise, 2 for bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/error.h"
#include "csm/nbd_ctl.h"

int main(int argc, char **argv)
{
	struct sm_error err = { 0 };
	char cmd[NBD_CTL_LINE_MAX] = "", answer[NBD_CTL_LINE_MAX];
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: nbd_ctl_t <socket> <timeout_ms> <command...>\n");
		return 2;
	}
	for (int i = 3; i < argc; i++)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i > 3 ? " " : "",
			 argv[i]);
	rc = nbd_ctl_command(argv[1], cmd, atoi(argv[2]), answer, sizeof(answer), &err);
	if (answer[0])
		printf("%s\n", answer);
	if (rc < 0) {
		fprintf(stderr, "FAULT %d %s\n", err.code, err.detail);
		return 1;
	}
	return 0;
}
