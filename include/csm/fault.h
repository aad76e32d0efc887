/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Fault injection for crash tests, compiled into test builds only
 * (CSM_TEST_BUILD); the installed drivers carry no switch that kills them.
 *
 *   CSM_FAULT_POINT=<name>     die with SIGKILL on reaching that point
 *   CSM_FAULT_LOG=<file>       append the name of every point reached
 *   CSM_FAULT_PAUSE=<name>     sleep CSM_FAULT_PAUSE_MS (2000) there, so a test
 *                              can take the storage away mid-operation
 *
 * The log lets a test discover every step of an operation and then kill
 * the operation at each one in turn.
 */
#ifndef CSM_FAULT_H
#define CSM_FAULT_H

#ifdef CSM_TEST_BUILD
void sm_fault_point(const char *name);
#else
static inline void sm_fault_point(const char *name)
{
	(void)name;
}
#endif

#endif
