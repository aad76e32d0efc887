/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Run a helper program (mkfs.ext4, fsck) the way a driver may: fork and
 * exec an argv array, never a shell; stdin from /dev/null; stdout and
 * stderr captured together; a deadline after which the child's process
 * group is killed, because xapi itself waits for us forever.
 */
#ifndef CSM_EXEC_H
#define CSM_EXEC_H

#include <stddef.h>

/* What a run produced.  status: exit code, or -1 if killed (signal or timeout). */
struct sm_exec_result {
	int status;
	int timed_out;
	char output[4096];   /* the last bytes of stdout+stderr, NUL-terminated */
};

/*
 * Run argv[0] (searched in PATH, or /sbin:/usr/sbin:/bin:/usr/bin if PATH
 * is unset) with argv, for at most timeout_s seconds.  Returns 0 when the
 * program ran (whatever its status, see res) or -errno when it could not
 * be started.  The command line and its output are logged.
 */
int sm_exec(const char *const argv[], int timeout_s, struct sm_exec_result *res);

/*
 * sm_exec for a command line that carries secrets (a CHAP password given
 * to iscsiadm): an argument equal to one of secrets (NULL-terminated) is
 * logged as SM_EXEC_MASK, and every occurrence of a secret in the
 * captured output is replaced by it, before the output is logged or
 * returned.  (The argument is still visible in /proc/<pid>/cmdline to
 * root while the child runs, as with the Python SM.)
 */
#define SM_EXEC_MASK "******"
int sm_exec_masked(const char *const argv[], const char *const secrets[], int timeout_s,
		   struct sm_exec_result *res);

/* The command line as logged: arguments joined by spaces, secrets masked. */
void sm_exec_format_argv(const char *const argv[], const char *const secrets[],
			 char *line, size_t sz);

/* Replace every occurrence of a secret in the string s (buffer of sz bytes). */
void sm_exec_mask_text(char *s, size_t sz, const char *const secrets[]);

#endif
