/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Fault injection for crash tests, compiled into test builds only
 * (CSM_TEST_BUILD); the installed drivers carry no switch that kills them.
 *
 *   CSM_FAULT_POINT=<name>     die with SIGKILL on reaching that point
 *   CSM_FAULT_LOG=<file>       append the name of every point reached
 *   CSM_FAULT_PAUSE=<name>[,<name>...]
 *                              sleep CSM_FAULT_PAUSE_MS (2000) at each, so a
 *                              test can take the storage away, or race another
 *                              call, mid-operation
 *   CSM_FAULT_PAUSE_GO=<file>  a pause ends early once that file exists (the
 *                              point removes it: one file, one pause), so a
 *                              test that has done its part goes on at once
 *
 *   CSM_FAULT_IO=<class>:<n>[,<class>:<n>...]
 *                              the n-th I/O call (1-based) of that class in
 *                              this process fails with EIO (or
 *                              CSM_FAULT_IO_ERRNO, a number); classes:
 *                              open, read, stat, list, syncdir (the posix
 *                              srfs's directory sync)
 *   CSM_FAULT_IO_LOG=<file>    append "<class> <n> <what>" for every such call
 *
 *   CSM_SRFS_NO_OPENAT2=1      the posix srfs resolves names inside the SR one
 *                              component at a time, as on kernels without
 *                              openat2 (before 5.6), instead of with openat2
 *
 * The log lets a test discover every step of an operation and then kill
 * the operation at each one in turn; the I/O log likewise lists every
 * open, read, stat and listing, so a test can fail each one in turn.
 */
#ifndef CSM_FAULT_H
#define CSM_FAULT_H

#ifdef CSM_TEST_BUILD
void sm_fault_point(const char *name);
/* 0, or the -errno this call must fail with (what: the file, for the log). */
int sm_fault_io(const char *cls, const char *what);
#else
static inline void sm_fault_point(const char *name)
{
	(void)name;
}
static inline int sm_fault_io(const char *cls, const char *what)
{
	(void)cls;
	(void)what;
	return 0;
}
#endif

#endif
