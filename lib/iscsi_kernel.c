/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The kernel initiator, driven as the Python SM drives it (core/iscsi.py):
 * iscsiadm node records with the CHAP settings, then login; logout of all
 * portals of an IQN; deletion of its node records.  Every run goes through
 * the bounded exec helper with the CHAP passwords masked in the log and in
 * the fault detail.  Sessions are read from sysfs, which needs no iscsid.
 *
 * Unlike Python we create the node record with "-o new" instead of a
 * sendtargets discovery through iscsiadm: the libiscsi control path has
 * already discovered the target, and "-o new" touches only this target's
 * record (discovery rewrites the records of every target on the portal).
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "csm/exec.h"
#include "csm/iscsi_host.h"
#include "csm/util.h"
#include "iscsi_host_internal.h"

#define ISCSIADM "iscsiadm"
/* iscsiadm's own login timeouts add up to about two minutes per portal; stop sooner. */
#define LOGIN_TIMEOUT_S 60
#define OTHER_TIMEOUT_S 30

/* iscsiadm exit codes (open-iscsi include/iscsi_err.h). */
#define ISCSI_ERR_SESS_EXISTS 15
#define ISCSI_ERR_ISCSID_NOTCONN 20
#define ISCSI_ERR_NO_OBJS_FOUND 21

const char *sm_sysfs_root(void)
{
	const char *e = getenv("CSM_SYSFS_ROOT");

	return e ? e : "";
}

void sm_iscsi_portal(const char *host, int port, char *out, size_t outsz)
{
	snprintf(out, outsz, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* Fill one command from a NULL-terminated list of arguments after "iscsiadm". */
static void cmd_set(struct sm_iscsiadm_cmd *c, int fault, int ok_status, const char *const args[])
{
	size_t i = 0;

	memset(c, 0, sizeof(*c));
	c->argv[i++] = ISCSIADM;
	for (; args[i - 1] && i < SM_ISCSIADM_ARGV_MAX - 1; i++)
		c->argv[i] = args[i - 1];
	c->argv[i] = NULL;
	c->fault = fault;
	c->ok_status = ok_status;
}

/* iscsiadm -m node -T <iqn> -p <portal> --op update -n <name> -v <value> */
static void node_update(struct sm_iscsiadm_cmd *c, const char *iqn, const char *portal,
			const char *name, const char *value)
{
	const char *const a[] = { "-m", "node", "-T", iqn, "-p", portal, "--op", "update",
				  "-n", name, "-v", value, NULL };

	cmd_set(c, SME_ISCSI_LOGIN, 0, a);
}

size_t sm_iscsiadm_login_cmds(const struct sm_iscsi_target *t, const char *portal,
			      struct sm_iscsiadm_cmd *cmds, size_t max)
{
	const char *iqn = t->target_iqn;
	const char *const add[] = { "-m", "node", "-T", iqn, "-p", portal, "--op", "new", NULL };
	const char *const login[] = { "-m", "node", "-p", portal, "-T", iqn, "-l", NULL };
	struct sm_iscsiadm_cmd all[SM_ISCSIADM_CMDS_MAX];
	size_t n = 0;

	cmd_set(&all[n++], SME_ISCSI_LOGIN, 0, add);
	if (t->auth.user && t->auth.password) {
		node_update(&all[n++], iqn, portal, "node.session.auth.authmethod", "CHAP");
		node_update(&all[n++], iqn, portal, "node.session.auth.username", t->auth.user);
		node_update(&all[n++], iqn, portal, "node.session.auth.password", t->auth.password);
		if (t->auth.in_user && t->auth.in_password) {
			node_update(&all[n++], iqn, portal, "node.session.auth.username_in",
				    t->auth.in_user);
			node_update(&all[n++], iqn, portal, "node.session.auth.password_in",
				    t->auth.in_password);
		}
	} else {
		/* A record left by an earlier CHAP login must not keep its credentials. */
		node_update(&all[n++], iqn, portal, "node.session.auth.authmethod", "None");
	}
	cmd_set(&all[n++], SME_ISCSI_LOGIN, ISCSI_ERR_SESS_EXISTS, login);
	if (n > max)
		n = max;
	memcpy(cmds, all, n * sizeof(*cmds));
	return n;
}

size_t sm_iscsiadm_logout_cmds(const char *target_iqn, bool delete_nodes,
			       struct sm_iscsiadm_cmd *cmds, size_t max)
{
	const char *const logout[] = { "-m", "node", "-T", target_iqn, "-u", NULL };
	const char *const del[] = { "-m", "node", "-T", target_iqn, "--op", "delete", NULL };
	size_t n = 0;

	if (n < max)
		cmd_set(&cmds[n++], SME_ISCSI_LOGOUT, ISCSI_ERR_NO_OBJS_FOUND, logout);
	if (delete_nodes && n < max)
		cmd_set(&cmds[n++], SME_ISCSI_DELETE, ISCSI_ERR_NO_OBJS_FOUND, del);
	return n;
}

/*
 * Run one command.  iscsiadm missing or iscsid not answering is 86 (the
 * daemon, not the target, is the problem); any other failure is the
 * command's fault with its masked command line and output.
 */
static int run_iscsiadm(const struct sm_iscsiadm_cmd *c, const char *const secrets[],
			int timeout_s, struct sm_error *err)
{
	struct sm_exec_result res;
	char line[1024];
	int rc = sm_exec_masked(c->argv, secrets, timeout_s, &res);

	if (rc == 0 && (res.status == 0 || (c->ok_status && res.status == c->ok_status)))
		return 0;
	sm_exec_format_argv(c->argv, secrets, line, sizeof(line));
	if (rc < 0)
		return sm_fail_errno(err, SME_ISCSI_QUERY_DAEMON, -rc, "%s", line);
	if (res.timed_out)
		return sm_fail(err, c->fault, "%s: no answer within %d s", line, timeout_s);
	if (res.status == 127 || res.status == ISCSI_ERR_ISCSID_NOTCONN)
		return sm_fail(err, SME_ISCSI_QUERY_DAEMON, "%s: exit %d: %s", line, res.status,
			       res.output);
	return sm_fail(err, c->fault, "%s: exit %d: %s", line, res.status, res.output);
}

static int run_all(const struct sm_iscsiadm_cmd *cmds, size_t n, const char *const secrets[],
		   int timeout_s, struct sm_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (run_iscsiadm(&cmds[i], secrets, timeout_s, err) < 0)
			return -1;
	return 0;
}

/*
 * iscsid logs in with the host's initiator name.  The Python SM rewrites
 * the host's file and restarts iscsid when localIQN differs; we change no
 * host-wide state behind other SRs' backs, so a different localIQN is a
 * clear fault instead of a login under a name the target's ACL may not know.
 */
static int same_initiator(const char *want, struct sm_error *err)
{
	char host[SM_ISCSI_IQN_MAX];
	struct sm_error ignored;

	sm_error_clear(&ignored);
	if (!want || sm_iscsi_host_iqn(host, sizeof(host), &ignored) < 0 || strcmp(host, want) == 0)
		return 0;
	return sm_fail(err, SME_ISCSI_LOGIN,
		       "localIQN %s is not this host's initiator name %s, which the kernel "
		       "initiator logs in with: give localIQN %s, or change the host's name",
		       want, host, host);
}

int sm_iscsi_kernel_login(const struct sm_iscsi_target *t, struct sm_error *err)
{
	const char *const secrets[] = { t->auth.password, t->auth.in_password, NULL };
	struct sm_iscsiadm_cmd cmds[SM_ISCSIADM_CMDS_MAX];
	char portal[SM_ISCSI_HOST_MAX + 16];
	size_t n;

	if (!t->target_iqn || !*t->target_iqn)
		return sm_fail(err, SME_CONFIG_TARGET_IQN_MISSING, "kernel login needs a targetIQN");
	if (same_initiator(t->initiator_iqn, err) < 0)
		return -1;
	sm_iscsi_portal(t->host, t->port, portal, sizeof(portal));
	n = sm_iscsiadm_login_cmds(t, portal, cmds, SM_ISCSIADM_CMDS_MAX);
	/* The login is the slow one; the record updates are local. */
	if (run_all(cmds, n - 1, secrets, OTHER_TIMEOUT_S, err) < 0)
		return -1;
	return run_iscsiadm(&cmds[n - 1], secrets, LOGIN_TIMEOUT_S, err);
}

int sm_iscsi_kernel_logout(const char *target_iqn, bool delete_nodes, struct sm_error *err)
{
	struct sm_iscsiadm_cmd cmds[2];
	size_t n;

	if (!target_iqn || !*target_iqn)
		return sm_fail(err, SME_CONFIG_TARGET_IQN_MISSING, "kernel logout needs a targetIQN");
	n = sm_iscsiadm_logout_cmds(target_iqn, delete_nodes, cmds, 2);
	return run_all(cmds, n, NULL, OTHER_TIMEOUT_S, err);
}

/* /sys/class/iscsi_session/session*\/targetname: present without iscsid or udev. */
bool sm_iscsi_kernel_session_exists(const char *target_iqn)
{
	char dir[4096], path[4096 + 300];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/sys/class/iscsi_session", sm_sysfs_root());
	d = opendir(dir);
	if (!d || !target_iqn)
		goto out;
	while (!found && (de = readdir(d)) != NULL) {
		char *name = NULL;
		size_t n;

		if (strncmp(de->d_name, "session", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/targetname", dir, de->d_name);
		if (sm_read_file(path, 1024, &name) < 0)
			continue;
		n = strcspn(name, "\n");
		found = n == strlen(target_iqn) && strncmp(name, target_iqn, n) == 0;
		free(name);
	}
out:
	if (d)
		closedir(d);
	return found;
}

/* iscsiadm in the exec helper's search path. */
static bool iscsiadm_present(void)
{
	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "/sbin:/usr/sbin:/bin:/usr/bin"), *dir, *save = NULL;
	bool found = false;

	for (dir = copy ? strtok_r(copy, ":", &save) : NULL; dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s", dir, ISCSIADM);
		found = access(p, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* iscsi_tcp loaded, or loadable (iscsid loads it at the first login). */
static bool iscsi_tcp_present(void)
{
	struct utsname u;
	char p[4096], *dep = NULL;
	bool found;

	snprintf(p, sizeof(p), "%s/sys/module/iscsi_tcp", sm_sysfs_root());
	if (access(p, F_OK) == 0)
		return true;
	if (uname(&u) < 0)
		return false;
	snprintf(p, sizeof(p), "/lib/modules/%s/modules.dep", u.release);
	if (sm_read_file(p, 16u << 20, &dep) < 0)
		return false;
	found = strstr(dep, "/iscsi_tcp.ko") != NULL;
	free(dep);
	return found;
}

bool sm_iscsi_kernel_available(void)
{
	return iscsiadm_present() && iscsi_tcp_present();
}
