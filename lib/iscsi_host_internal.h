/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The iscsiadm command lines of the kernel initiator, built apart from
 * running them so the unit tests can check each argv on a host without
 * an initiator.  Internal to lib/iscsi_*.c and their tests.
 */
#ifndef CSM_ISCSI_HOST_INTERNAL_H
#define CSM_ISCSI_HOST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "csm/iscsi.h"

#define SM_ISCSIADM_ARGV_MAX 16
#define SM_ISCSIADM_CMDS_MAX 8

/* One iscsiadm run: its argv (NULL-terminated; strings borrowed) and the fault it maps to. */
struct sm_iscsiadm_cmd {
	const char *argv[SM_ISCSIADM_ARGV_MAX];
	int fault;            /* 68 login, 69 logout, 182 delete */
	int ok_status;        /* a non-zero exit that still means done (15 session exists,
				 21 nothing to log out or delete), 0 = none */
};

/* The root of /sys: CSM_SYSFS_ROOT (a planted tree in tests), else "". */
const char *sm_sysfs_root(void);

/* "host:port", an IPv6 host in brackets, as iscsiadm -p takes it. */
void sm_iscsi_portal(const char *host, int port, char *out, size_t outsz);

/*
 * The commands of a kernel login to t, in order: the node record (-o new),
 * its CHAP settings (authmethod CHAP with username/password and, for mutual
 * CHAP, username_in/password_in; authmethod None without CHAP), then -l.
 * portal is the caller's buffer the argv points into.  Returns the count.
 */
size_t sm_iscsiadm_login_cmds(const struct sm_iscsi_target *t, const char *portal,
			      struct sm_iscsiadm_cmd *cmds, size_t max);

/* Logout of every portal of the IQN, then, with delete_nodes, -o delete of its records. */
size_t sm_iscsiadm_logout_cmds(const char *target_iqn, bool delete_nodes,
			       struct sm_iscsiadm_cmd *cmds, size_t max);

#endif
