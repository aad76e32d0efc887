/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Starting, finding, pausing and stopping the nbdkit server of an active
 * VDI (csm/nbd_serve.h).  The server is not our child for long: it runs
 * in a session of its own (nbdkit daemonizes after setsid), so the
 * toolstack's pipe to the driver closes when the driver exits and a kill
 * of the driver's process group spares it.  We know it afterwards only by
 * its record: pid plus start time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "csm/log.h"
#include "csm/nbd_ctl.h"
#include "csm/nbd_serve.h"
#include "csm/util.h"

#define MAX_PLUGIN_ARGS 12

static int env_ms(const char *name, int dflt)
{
	const char *v = getenv(name);
	uint64_t n;

	if (!v || !*v || sm_parse_u64(v, &n) < 0 || n == 0 || n > 3600 * 1000)
		return dflt;
	return (int)n;
}

enum nbd_serve_mode nbd_serve_mode(void)
{
	const char *v = getenv("CSM_NBD");

	if (!v || !*v || strcmp(v, "auto") == 0)
		return NBD_SERVE_AUTO;
	if (strcmp(v, "off") == 0)
		return NBD_SERVE_OFF;
	if (strcmp(v, "on") == 0)
		return NBD_SERVE_ON;
	sm_log(LOG_WARNING, "CSM_NBD=%s is not off, on or auto: auto", v);
	return NBD_SERVE_AUTO;
}

bool nbd_serve_wanted(const char *vdi_uuid)
{
	enum nbd_serve_mode mode = nbd_serve_mode();
	char nbdkit[PATH_MAX], plugin[PATH_MAX], why[PATH_MAX + 64];

	if (mode == NBD_SERVE_OFF)
		return false;
	if (mode == NBD_SERVE_AUTO && nbd_serve_locate(nbdkit, plugin, why, sizeof(why)) < 0) {
		sm_log(LOG_WARNING, "vdi_activate: %s is not served over NBD: %s (CSM_NBD=on "
		       "makes this a fault)", vdi_uuid, why);
		return false;
	}
	return true;
}

const char *nbd_serve_dir(void)
{
	const char *v = getenv("CSM_NBD_DIR");

	return v && *v ? v : NBD_SERVE_DIR_DEFAULT;
}

int nbd_serve_path(const char *sr_uuid, const char *vdi_uuid, const char *suffix, char *out,
		   size_t cap)
{
	int n = snprintf(out, cap, "%s/%s/%s%s", nbd_serve_dir(), sr_uuid, vdi_uuid, suffix);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- where nbdkit and the plugin are ----------------------------------- */

static bool find_in_path(const char *name, char out[PATH_MAX])
{
	const char *path = getenv("PATH");
	char dirs[4096], *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s", path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (snprintf(out, PATH_MAX, "%s/%s", d, name) < PATH_MAX && access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* Beside the running executable, as csm-gc is (fsr_kick_gc). */
static bool beside_exe(const char *name, char out[PATH_MAX])
{
	char exe[PATH_MAX];

	if (sm_exe_dir(exe) < 0)
		return false;
	return snprintf(out, PATH_MAX, "%s/%s", exe, name) < PATH_MAX && access(out, R_OK) == 0;
}

int nbd_serve_locate(char nbdkit[PATH_MAX], char plugin[PATH_MAX], char *why, size_t cap)
{
	const char *v = getenv("CSM_NBDKIT");

	if (v && *v)
		snprintf(nbdkit, PATH_MAX, "%s", v);
	else if (!find_in_path("nbdkit", nbdkit)) {
		snprintf(why, cap, "nbdkit is not installed (Debian package nbdkit)");
		return -ENOENT;
	}
	if (access(nbdkit, X_OK) != 0) {
		snprintf(why, cap, "%s is not an executable", nbdkit);
		return -ENOENT;
	}
	v = getenv("CSM_NBD_PLUGIN");
	if (v && *v)
		snprintf(plugin, PATH_MAX, "%s", v);
	else if (!beside_exe(NBD_SERVE_PLUGIN, plugin)) {
		snprintf(why, cap, "the plugin %s is not installed beside the driver", NBD_SERVE_PLUGIN);
		return -ENOENT;
	}
	if (plugin[0] == '/' && access(plugin, R_OK) != 0) {
		snprintf(why, cap, "the plugin %s cannot be read", plugin);
		return -ENOENT;
	}
	return 0;
}

/* ---- the record --------------------------------------------------------- */

/*
 * Field 22 of /proc/<pid>/stat, the start time in clock ticks since boot:
 * with the pid it names one process for the host's uptime.  0 when the
 * process is gone or a zombie (init reaps our grandchildren).
 */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');   /* the command name may hold spaces and parentheses */
	if (!p || strlen(p) < 3 || p[2] == 'Z' || p[2] == 'X')
		return 0;
	/* After ')': state is field 3, start time field 22: skip 19 fields. */
	p += 2;
	for (int i = 0; i < 19 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu", &start) != 1)
		return 0;
	return start;
}

/* The process pid started at start_time still runs (a reused pid is another one). */
static bool proc_alive(pid_t pid, unsigned long long start_time)
{
	return pid > 0 && start_time != 0 && proc_start_time(pid) == start_time;
}

static bool server_alive(const struct nbd_server *s)
{
	return proc_alive(s->pid, s->start_time);
}

static void get_line(const char *text, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);

	out[0] = '\0';
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t n = strcspn(v, "\n");

			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
	}
}

static int record_read(const char *path, struct nbd_server *s)
{
	char *text = NULL, v[64];
	int rc = sm_read_file(path, 4 * PATH_MAX, &text);

	if (rc < 0)
		return rc;
	memset(s, 0, sizeof(*s));
	get_line(text, "pid", v, sizeof(v));
	s->pid = (pid_t)strtol(v, NULL, 10);
	get_line(text, "start", v, sizeof(v));
	s->start_time = strtoull(v, NULL, 10);
	get_line(text, "mode", v, sizeof(v));
	s->readonly = strcmp(v, "RO") == 0;
	get_line(text, "socket", s->socket, sizeof(s->socket));
	get_line(text, "ctl", s->ctl, sizeof(s->ctl));
	free(text);
	return s->pid > 0 && s->socket[0] ? 0 : -EINVAL;
}

static int record_write(const char *path, const struct nbd_server *s)
{
	char text[3 * PATH_MAX];

	snprintf(text, sizeof(text), "pid=%d\nstart=%llu\nmode=%s\nsocket=%s\nctl=%s\n",
		 (int)s->pid, s->start_time, s->readonly ? "RO" : "RW", s->socket, s->ctl);
	return sm_write_file_atomic(path, text, strlen(text));
}

/* Every file of the VDI's server; the record last, so it names the rest till then. */
static void remove_files(const char *sr_uuid, const char *vdi_uuid)
{
	static const char *const suffixes[] = { "", ".ctl", ".pid", ".paused", ".stderr", ".server" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (nbd_serve_path(sr_uuid, vdi_uuid, suffixes[i], path, sizeof(path)) == 0)
			unlink(path);
}

/*
 * An nbdkit still listening on our socket with no record: a driver killed
 * between the start and the record.  Only a process whose command line
 * names this very socket is ours to kill.
 */
static void kill_unrecorded(const char *sr_uuid, const char *vdi_uuid, const char *sock)
{
	char path[PATH_MAX], *text = NULL, cmdline[8192];
	struct nbd_server s = { 0 };
	ssize_t n;
	int fd;

	if (nbd_serve_path(sr_uuid, vdi_uuid, ".pid", path, sizeof(path)) < 0 ||
	    sm_read_file(path, 64, &text) < 0)
		return;
	s.pid = (pid_t)strtol(text, NULL, 10);
	free(text);
	if (s.pid <= 1)
		return;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)s.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, cmdline, sizeof(cmdline) - 1);
	close(fd);
	if (n <= 0)
		return;
	for (ssize_t i = 0; i < n; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = '\n';
	cmdline[n] = '\0';
	if (!strstr(cmdline, sock))
		return;
	sm_log(LOG_WARNING, "nbd: killing nbdkit %d on %s, which has no record", (int)s.pid, sock);
	kill(s.pid, SIGKILL);
}

int nbd_serve_find(const char *sr_uuid, const char *vdi_uuid, struct nbd_server *s)
{
	char path[PATH_MAX];
	int rc;

	if (nbd_serve_path(sr_uuid, vdi_uuid, ".server", path, sizeof(path)) < 0)
		return 0;
	rc = record_read(path, s);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && server_alive(s))
		return 1;
	sm_log(LOG_WARNING, "nbd: the server of %s (pid %d) is gone; removing its record",
	       vdi_uuid, rc == 0 ? (int)s->pid : -1);
	remove_files(sr_uuid, vdi_uuid);
	return 0;
}

/* ---- start ----------------------------------------------------------------- */

/* The socket accepts a connection (nbdkit's listener is up). */
static bool socket_answers(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(a.sun_path))
		return false;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return rc == 0;
}

/*
 * Child side: a session of its own, no descriptor of ours (an SR
 * directory handle would pin a mount), stdio on /dev/null (nbdkit logs to
 * syslog), then nbdkit, which forks into the background itself once it
 * listens and writes the pidfile.
 */
static void __attribute__((noreturn)) exec_server(const char *const argv[], const char *errlog)
{
	int fd;

	setsid();
	if (chdir("/") < 0)
		_exit(126);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	/*
	 * What nbdkit's syslog does not get: the dynamic loader's errors, a
	 * sanitizer's report, a plugin's crash before logging is set up.
	 */
	fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0)
		dup2(fd, 2);
	if (close_range(3, ~0U, 0) < 0)
		for (int i = 3; i < 1024; i++)
			close(i);
	signal(SIGPIPE, SIG_DFL);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* nbdkit's argv: the options, the plugin, its key=value arguments. */
static size_t build_argv(const char *argv[], size_t cap, const char *nbdkit, const char *plugin,
			 const char *sock, const char *pidfile, const char *ctl_arg,
			 const struct nbd_serve_spec *spec)
{
	size_t n = 0;

	argv[n++] = nbdkit;
	argv[n++] = "--unix";
	argv[n++] = sock;
	argv[n++] = "--pidfile";
	argv[n++] = pidfile;
	argv[n++] = "--log=syslog";
	if (spec->readonly)
		argv[n++] = "--readonly";
	argv[n++] = plugin;
	for (size_t i = 0; spec->plugin_args && spec->plugin_args[i] && i < MAX_PLUGIN_ARGS; i++)
		argv[n++] = spec->plugin_args[i];
	if (ctl_arg)
		argv[n++] = ctl_arg;
	if (spec->readonly)
		argv[n++] = "readonly=true";
	argv[n] = NULL;
	return n < cap ? n : cap;
}

/* The pidfile nbdkit writes once it listens, then the socket itself. */
static int wait_ready(const char *pidfile, const char *sock, struct nbd_server *s, int ms)
{
	int64_t until = sm_monotonic_ms() + ms;

	for (;;) {
		char *text = NULL;

		if (s->pid <= 0 && sm_read_file(pidfile, 64, &text) == 0) {
			s->pid = (pid_t)strtol(text, NULL, 10);
			free(text);
			s->start_time = s->pid > 0 ? proc_start_time(s->pid) : 0;
		}
		if (s->pid > 0 && s->start_time == 0)
			return -ESRCH;   /* it started and died: the plugin refused its arguments */
		if (s->pid > 0 && socket_answers(sock))
			return 0;
		if (sm_monotonic_ms() > until)
			return -ETIMEDOUT;
		usleep(20 * 1000);
	}
}

/* The last lines of what nbdkit wrote on stderr, on one line: false when nothing. */
static bool stderr_tail(const char *path, char *out, size_t cap)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	size_t j = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd < 0)
		return false;
	size = lseek(fd, 0, SEEK_END);
	n = size > 0 ? pread(fd, buf, sizeof(buf) - 1, size > (off_t)sizeof(buf) - 1 ?
			     size - (off_t)sizeof(buf) + 1 : 0) : 0;
	close(fd);
	for (ssize_t i = 0; i < n && j + 1 < cap; i++)
		out[j++] = buf[i] == '\n' ? ' ' : (buf[i] < 32 || buf[i] == 127 ? '?' : buf[i]);
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
	return j > 0;
}

static int spawn(const struct nbd_serve_spec *spec, const char *nbdkit, const char *plugin,
		 struct nbd_server *s, int code, struct sm_error *err)
{
	char pidfile[PATH_MAX], errlog[PATH_MAX], ctl_arg[PATH_MAX + 8], tail[512];
	const char *argv[8 + MAX_PLUGIN_ARGS + 4];
	int status = 0, rc;
	pid_t pid;

	nbd_serve_path(spec->sr_uuid, spec->vdi_uuid, ".pid", pidfile, sizeof(pidfile));
	nbd_serve_path(spec->sr_uuid, spec->vdi_uuid, ".stderr", errlog, sizeof(errlog));
	snprintf(ctl_arg, sizeof(ctl_arg), "ctl=%s", s->ctl);
	/* nbdkit's own plugins (a bare name) have no control socket. */
	build_argv(argv, sizeof(argv) / sizeof(argv[0]), nbdkit, plugin, s->socket, pidfile,
		   plugin[0] == '/' ? ctl_arg : NULL, spec);
	if (plugin[0] != '/')
		s->ctl[0] = '\0';
	pid = fork();
	if (pid < 0)
		return sm_fail_errno(err, code, errno, "cannot start nbdkit for %s", spec->vdi_uuid);
	if (pid == 0)
		exec_server(argv, errlog);
	/* nbdkit's first process exits once it has forked into the background. */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return sm_fail(err, code, "nbdkit for %s exited with status %d before serving "
			       "(see the system log for its reason)%s%s", spec->vdi_uuid,
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
			       stderr_tail(errlog, tail, sizeof(tail)) ? "; its stderr: " : "", tail);
	rc = wait_ready(pidfile, s->socket, s, env_ms("CSM_NBD_START_MS", NBD_SERVE_START_MS));
	if (rc == 0)
		return 0;
	if (s->pid > 0)
		kill(s->pid, SIGKILL);
	return sm_fail(err, code, "nbdkit for %s %s (see the system log)", spec->vdi_uuid,
		       rc == -ESRCH ? "exited right after starting" :
		       "did not listen on its socket in time");
}

int nbd_serve_start(const struct nbd_serve_spec *spec, struct nbd_server *s, int code,
		    struct sm_error *err)
{
	char nbdkit[PATH_MAX], plugin[PATH_MAX], why[PATH_MAX + 64], dir[PATH_MAX], rec[PATH_MAX];
	int rc;

	if (nbd_serve_find(spec->sr_uuid, spec->vdi_uuid, s) == 1) {
		if (s->readonly != spec->readonly)
			return sm_fail(err, code, "%s is already served %s (pid %d): deactivate it "
				       "first", spec->vdi_uuid, s->readonly ? "read-only" :
				       "read-write", (int)s->pid);
		sm_log(LOG_INFO, "nbd: %s already served by pid %d on %s", spec->vdi_uuid,
		       (int)s->pid, s->socket);
		return 0;
	}
	if (nbd_serve_locate(nbdkit, plugin, why, sizeof(why)) < 0)
		return sm_fail(err, code, "cannot serve %s: %s", spec->vdi_uuid, why);
	memset(s, 0, sizeof(*s));
	s->readonly = spec->readonly;
	if (nbd_serve_path(spec->sr_uuid, spec->vdi_uuid, "", s->socket, sizeof(s->socket)) < 0 ||
	    nbd_serve_path(spec->sr_uuid, spec->vdi_uuid, ".ctl", s->ctl, sizeof(s->ctl)) < 0 ||
	    nbd_serve_path(spec->sr_uuid, spec->vdi_uuid, ".server", rec, sizeof(rec)) < 0 ||
	    strlen(s->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path) - 4)
		return sm_fail(err, code, "the NBD socket path under %s is too long for a Unix "
			       "socket", nbd_serve_dir());
	snprintf(dir, sizeof(dir), "%s/%s", nbd_serve_dir(), spec->sr_uuid);
	rc = sm_mkdir_p(dir, 0700);
	if (rc < 0)
		return sm_fail_errno(err, code, -rc, "cannot create %s", dir);
	kill_unrecorded(spec->sr_uuid, spec->vdi_uuid, s->socket);
	remove_files(spec->sr_uuid, spec->vdi_uuid);
	if (spawn(spec, nbdkit, plugin, s, code, err) < 0) {
		remove_files(spec->sr_uuid, spec->vdi_uuid);
		return -1;
	}
	rc = record_write(rec, s);
	if (rc < 0) {
		kill(s->pid, SIGKILL);
		remove_files(spec->sr_uuid, spec->vdi_uuid);
		return sm_fail_errno(err, code, -rc, "cannot write %s", rec);
	}
	sm_log(LOG_INFO, "nbd: serving %s %s on %s (nbdkit pid %d)", spec->vdi_uuid,
	       s->readonly ? "read-only" : "read-write", s->socket, (int)s->pid);
	return 0;
}

/* ---- control and stop ------------------------------------------------------ */

static int ctl(const struct nbd_server *s, const char *cmd, int timeout_ms, int code,
	       struct sm_error *err)
{
	char answer[256];

	if (!s->ctl[0])
		return 0;   /* a server without a control socket (nbdkit's own plugin) */
	return nbd_ctl_command(s->ctl, cmd, timeout_ms, answer, sizeof(answer), err) < 0 ? -1 : 0;
}

/*
 * The pause marker, <socket>.paused: who paused the server ("pid=", and
 * "start=" as in the record).  Written before the pause, removed after
 * the resume: one left behind by a process that is gone names a pause
 * nobody will end (nbd_serve_resume_orphans).
 */
static void marker_path(const struct nbd_server *s, char out[PATH_MAX])
{
	if (snprintf(out, PATH_MAX, "%s.paused", s->socket) >= PATH_MAX)
		out[0] = '\0';
}

static int marker_write(const struct nbd_server *s)
{
	char path[PATH_MAX], text[96];

	marker_path(s, path);
	if (!path[0])
		return -ENAMETOOLONG;
	snprintf(text, sizeof(text), "pid=%d\nstart=%llu\n", (int)getpid(),
		 proc_start_time(getpid()));
	return sm_write_file_atomic(path, text, strlen(text));
}

static void marker_remove(const struct nbd_server *s)
{
	char path[PATH_MAX];

	marker_path(s, path);
	if (path[0])
		unlink(path);
}

int nbd_serve_pause(const struct nbd_server *s, int code, struct sm_error *err)
{
	int ms = env_ms("CSM_NBD_CTL_MS", NBD_SERVE_CTL_MS);
	struct sm_error late = { 0 };
	char cmd[32];
	int rc;

	/*
	 * The plugin's own bound is shorter than ours, so requests that do
	 * not drain get its answer ("err", old chain served), not our timeout.
	 */
	snprintf(cmd, sizeof(cmd), "pause %d", ms * 3 / 4);
	rc = s->ctl[0] ? marker_write(s) : 0;
	if (rc < 0)
		return sm_fail_errno(err, code, -rc, "cannot record the pause of the NBD server "
				     "(pid %d) beside %s", (int)s->pid, s->socket);
	if (ctl(s, cmd, ms, code, err) == 0)
		return 0;
	sm_error_recode(err, code);
	/*
	 * The plugin may still act on the pause once it wakes (a stopped or
	 * overloaded server): a resume queued behind it on the control
	 * socket undoes it then.  Not waited for long: if the pause got no
	 * answer, neither will this, and nothing was closed meanwhile.
	 */
	if (ctl(s, "resume", 200, code, &late) < 0)
		sm_log(LOG_WARNING, "nbd: resume after the failed pause of pid %d: %s", (int)s->pid,
		       late.detail);
	marker_remove(s);
	return -1;
}

int nbd_serve_resume(const struct nbd_server *s, int code, struct sm_error *err)
{
	if (ctl(s, "resume", env_ms("CSM_NBD_CTL_MS", NBD_SERVE_CTL_MS), code, err) < 0) {
		sm_error_recode(err, code);
		return -1;
	}
	marker_remove(s);
	return 0;
}

/* A marker whose writer still runs: its pause is still wanted. */
static bool marker_owner_alive(const char *path)
{
	char *text = NULL, v[64];
	pid_t pid;
	unsigned long long start;

	if (sm_read_file(path, 256, &text) < 0)
		return false;
	get_line(text, "pid", v, sizeof(v));
	pid = (pid_t)strtol(v, NULL, 10);
	get_line(text, "start", v, sizeof(v));
	start = strtoull(v, NULL, 10);
	free(text);
	return proc_alive(pid, start);
}

static bool marker_vdi(const char *name, char vdi[37])
{
	size_t n = strlen(name);

	if (n != 36 + strlen(".paused") || strcmp(name + 36, ".paused") != 0)
		return false;
	memcpy(vdi, name, 36);
	vdi[36] = '\0';
	return sm_uuid_valid(vdi);
}

int nbd_serve_resume_orphans(const char *sr_uuid)
{
	char dirpath[PATH_MAX], path[PATH_MAX], vdi[37];
	struct sm_error e = { 0 };
	struct nbd_server srv;
	struct dirent *d;
	int resumed = 0;
	DIR *dir;

	if (snprintf(dirpath, sizeof(dirpath), "%s/%s", nbd_serve_dir(), sr_uuid) >=
	    (int)sizeof(dirpath))
		return 0;
	dir = opendir(dirpath);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		if (!marker_vdi(d->d_name, vdi) ||
		    snprintf(path, sizeof(path), "%s/%s", dirpath, d->d_name) >= (int)sizeof(path) ||
		    marker_owner_alive(path))
			continue;
		if (nbd_serve_find(sr_uuid, vdi, &srv) == 0) {
			unlink(path);
			continue;
		}
		memset(&e, 0, sizeof(e));
		if (nbd_serve_resume(&srv, SME_SR_UNAVAILABLE, &e) < 0) {
			sm_log(LOG_ERR, "nbd: the server of %s (pid %d), paused by a process that is "
			       "gone, did not resume: %s", vdi, (int)srv.pid, e.detail);
			continue;
		}
		sm_log(LOG_WARNING, "nbd: resumed the server of %s (pid %d): the process that paused "
		       "it is gone", vdi, (int)srv.pid);
		resumed++;
	}
	closedir(dir);
	return resumed;
}

static bool wait_gone(const struct nbd_server *s, int ms)
{
	int64_t until = sm_monotonic_ms() + ms;

	while (server_alive(s)) {
		if (sm_monotonic_ms() > until)
			return false;
		usleep(20 * 1000);
	}
	return true;
}

int nbd_serve_stop(const char *sr_uuid, const char *vdi_uuid, int code, struct sm_error *err)
{
	int ms = env_ms("CSM_NBD_STOP_MS", NBD_SERVE_STOP_MS);
	struct sm_error flush = { 0 };
	struct nbd_server s;

	if (nbd_serve_find(sr_uuid, vdi_uuid, &s) == 0) {
		remove_files(sr_uuid, vdi_uuid);
		return 0;
	}
	/* What the plugin acknowledged reaches the disk even if the exit below is a kill. */
	if (ctl(&s, "flush", env_ms("CSM_NBD_CTL_MS", NBD_SERVE_CTL_MS), code, &flush) < 0)
		sm_log(LOG_WARNING, "nbd: flush of %s before stopping failed: %s", vdi_uuid,
		       flush.detail);
	kill(s.pid, SIGTERM);
	if (!wait_gone(&s, ms)) {
		sm_log(LOG_WARNING, "nbd: nbdkit %d for %s ignored SIGTERM for %d ms: SIGKILL",
		       (int)s.pid, vdi_uuid, ms);
		kill(s.pid, SIGKILL);
		if (!wait_gone(&s, ms))
			return sm_fail(err, code, "nbdkit %d serving %s does not die", (int)s.pid,
				       vdi_uuid);
	}
	remove_files(sr_uuid, vdi_uuid);
	sm_log(LOG_INFO, "nbd: stopped the server of %s (pid %d)", vdi_uuid, (int)s.pid);
	return 0;
}
