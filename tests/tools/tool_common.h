/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What the one-command test tools (lvm_lv, vstore_lvm_t) share: the way
 * they report a failure to the integration scripts and read a number.
 */
#ifndef CSM_TEST_TOOL_COMMON_H
#define CSM_TEST_TOOL_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "csm/error.h"
#include "csm/util.h"

/* "FAULT <code> <detail>" on stdout, exit 1: what the scripts match. */
static inline void __attribute__((noreturn)) tool_fault(const struct sm_error *err)
{
	printf("FAULT %d %s\n", err->code, err->detail);
	exit(1);
}

/* A decimal argument; anything else is a usage error (exit 2). */
static inline uint64_t tool_num(const char *s)
{
	uint64_t v;

	if (sm_parse_u64(s, &v) < 0) {
		fprintf(stderr, "not a number: %s\n", s);
		exit(2);
	}
	return v;
}

#endif
