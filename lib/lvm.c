/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lvm2cmd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csm/fault.h"
#include "csm/log.h"
#include "csm/lvm.h"
#include "csm/util.h"
#include "lvm_internal.h"

/*
 * Every command runs in a child process (fork, then lvm2_run on the
 * handle the parent initialised): liblvm2cmd cannot be interrupted, and
 * on a dead path (a LUN queueing I/O forever) it sleeps in the kernel in
 * D state.  The parent waits for the child's report with a deadline; past
 * it the child is killed and, if it does not die at once (D state), left
 * behind and reaped later, and the caller gets a fault in bounded time.
 *
 * The child's log callback sends each report row and error line up a
 * pipe as one record: a type byte ('R' row, 'E' error), the text with
 * newlines turned to blanks, '\n'.  The parent treats what arrives as
 * hostile: lines and the whole output are bounded.
 */
#define LVM_LINE_MAX   (64 * 1024)
#define LVM_OUTPUT_MAX (256u * 1024 * 1024)

struct capture {
	struct lvm_rows *rows;
	char errors[SM_ERROR_DETAIL_MAX];
	size_t elen;
	int oom;
	int too_long;   /* a line or the whole output past the bounds */
};

/* In the child: where the log callback sends its records (-1: nowhere). */
static int child_fd = -1;
/*
 * In the child: records gathered before they go up the pipe.  One write
 * per row cost a write and a wake-up of the parent for each of the 1000
 * rows of a big VG's report; the parent reads until EOF anyway.
 */
#define CHILD_BUF_BYTES (64 * 1024)
static char child_buf[CHILD_BUF_BYTES];
static size_t child_len;

/* The helper executable, when one is named (lvm_use_exec_helper); "" otherwise. */
static char exec_helper[PATH_MAX];

static void rows_add(struct capture *c, const char *line)
{
	struct lvm_rows *r = c->rows;
	char **grown;

	if (!r || !strchr(line, '|'))
		return;   /* warnings and messages share level 4 with rows */
	grown = realloc(r->row, (r->n + 1) * sizeof(*grown));
	if (!grown || !(grown[r->n] = strdup(line))) {
		if (grown)
			r->row = grown;
		c->oom = 1;
		return;
	}
	r->row = grown;
	r->n++;
}

static void errors_add(struct capture *c, const char *msg)
{
	int n;

	if (c->elen >= sizeof(c->errors) - 1)
		return;
	n = snprintf(c->errors + c->elen, sizeof(c->errors) - c->elen, "%s%s",
		     c->elen ? "; " : "", msg);
	if (n > 0)
		c->elen = (size_t)n + c->elen < sizeof(c->errors) ? c->elen + (size_t)n
								  : sizeof(c->errors) - 1;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(126);   /* the parent is gone or gave up on us */
		p += n;
		len -= (size_t)n;
	}
}

static void child_flush(void)
{
	write_all(child_fd, child_buf, child_len);
	child_len = 0;
}

static void child_put(char c)
{
	if (child_len == sizeof(child_buf))
		child_flush();
	child_buf[child_len++] = c;
}

static void send_record(char type, const char *msg)
{
	size_t len = strnlen(msg, LVM_LINE_MAX - 2);

	child_put(type);
	for (size_t i = 0; i < len; i++)
		child_put(msg[i] == '\n' ? ' ' : msg[i]);
	child_put('\n');
}

static void on_log(int level, const char *file, int line, int dm_errno, const char *msg)
{
	level &= 7;   /* flags above the level bits */
	if (!msg)
		return;
	if (level <= LVM2_LOG_ERROR)
		sm_log(LOG_ERR, "lvm: %s", msg);
	if (child_fd < 0)
		return;
	if (level == LVM2_LOG_PRINT)
		send_record('R', msg);
	else if (level <= LVM2_LOG_ERROR && level > 0)
		send_record('E', msg);
}

/* filter and global_filter, plus the rest of the line. */
_Static_assert(sizeof(((struct lvm *)0)->config) > 2 * LVM_FILTER_MAX + 512, "lvm config too small");

/* Every path fits on its own: it is the sum of them that did not. */
static int filter_full(struct sm_error *err, const char *path)
{
	return sm_fail(err, SME_SM_GENERAL,
		       "the device paths do not fit in LVM's device filter (%d bytes) at '%.200s'; "
		       "use shorter names (/dev/disk/by-id/... or /dev/sdX)",
		       LVM_FILTER_MAX, path);
}

static int build_filter(struct lvm_filter *filter, const char *const *devices, size_t ndev,
			struct sm_error *err)
{
	char real[PATH_MAX];

	lvm_filter_init(filter);
	for (size_t i = 0; i < ndev; i++) {
		if (!lvm_path_ok(devices[i]))
			return sm_fail(err, SME_SM_GENERAL, "device path '%.200s' cannot be passed to LVM",
				       devices[i]);
		if (lvm_filter_add(filter, devices[i]) < 0)
			return filter_full(err, devices[i]);
		/* LVM names a device by its node; accept that name as well as the link. */
		if (realpath(devices[i], real) && strcmp(real, devices[i]) && lvm_path_ok(real) &&
		    lvm_filter_add(filter, real) < 0)
			return filter_full(err, real);
	}
	lvm_filter_finish(filter);
	return 0;
}

/* Device-mapper is usable when its control node opens (not on this kernel, say). */
static bool dm_usable(void)
{
	int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int env_timeout_ms(void)
{
	const char *s = getenv("CSM_LVM_TIMEOUT_MS");
	uint64_t v;

	if (s && sm_parse_u64(s, &v) == 0 && v > 0 && v <= 24ull * 3600 * 1000)
		return (int)v;
	return LVM_DEFAULT_TIMEOUT_MS;
}

static int open_common(struct lvm *l, const char *const *devices, size_t ndev, bool activation,
		       bool read_only, bool backups, int timeout_ms, struct sm_error *err)
{
	struct lvm_filter filter;
	int n;

	memset(l, 0, sizeof(*l));
	if (build_filter(&filter, devices, ndev, err) < 0)
		return -1;
	l->activation = activation;
	l->read_only = read_only;
	l->timeout_ms = timeout_ms > 0 ? timeout_ms : env_timeout_ms();
	n = snprintf(l->config, sizeof(l->config),
		     "devices{filter=[%s] global_filter=[%s] use_devicesfile=0 "
		     "obtain_device_list_from_udev=0}%s%s%s%s%s",
		     filter.text, filter.text,
		     !activation || read_only ? " global{" : "",
		     !activation ? "activation=0" : "", !activation && read_only ? " " : "",
		     read_only ? "metadata_read_only=1" : "",
		     !activation || read_only ? "}" : "");
	if (n < 0 || (size_t)n >= sizeof(l->config))
		return sm_fail(err, SME_SM_GENERAL, "the LVM configuration does not fit");
	if (!backups) {
		size_t len = (size_t)n;

		n = snprintf(l->config + len, sizeof(l->config) - len, " backup{backup=0 archive=0}");
		if (n < 0 || (size_t)n >= sizeof(l->config) - len)
			return sm_fail(err, SME_SM_GENERAL, "the LVM configuration does not fit");
	}
	/* With a helper, liblvm2cmd runs only there: none of it in this process. */
	if (!exec_helper[0]) {
		lvm2_log_fn(on_log);
		l->handle = lvm2_init();
		if (!l->handle)
			return sm_fail(err, SME_SM_GENERAL, "liblvm2cmd initialisation failed");
		lvm2_disable_dmeventd_monitoring(l->handle);
	}
	l->is_open = true;
	return 0;
}

int lvm_open(struct lvm *l, const char *const *devices, size_t ndev, struct sm_error *err)
{
	const char *backup = getenv("CSM_LVM_BACKUP");

	return open_common(l, devices, ndev, true, false, !(backup && strcmp(backup, "off") == 0),
			   0, err);
}

int lvm_open_opts(struct lvm *l, const char *const *devices, size_t ndev,
		  const struct lvm_opts *o, struct sm_error *err)
{
	const char *act = getenv("CSM_LVM_ACTIVATION");
	bool activation = !(act && strcmp(act, "off") == 0) && dm_usable();

	/*
	 * XenServer's masters read /etc/lvm/master (SR.py); its slaves' default
	 * configuration has metadata_read_only=1, which the config line gives here.
	 */
	if (o->master && !getenv("LVM_SYSTEM_DIR") && access("/etc/lvm/master", F_OK) == 0)
		setenv("LVM_SYSTEM_DIR", "/etc/lvm/master", 1);
	return open_common(l, devices, ndev, activation, !o->master, o->keep_backups,
			   o->timeout_ms, err);
}

bool lvm_activation(const struct lvm *l)
{
	return l->activation;
}

/* Children given up on at a deadline: reaped whenever we pass by. */
static void reap_abandoned(struct lvm *l, int wait_ms)
{
	int64_t until = sm_monotonic_ms() + wait_ms;

	for (;;) {
		size_t keep = 0;

		for (size_t i = 0; i < l->nabandoned; i++) {
			pid_t r = waitpid(l->abandoned[i], NULL, WNOHANG);

			if (r == 0 || (r < 0 && errno == EINTR))
				l->abandoned[keep++] = l->abandoned[i];
		}
		l->nabandoned = keep;
		if (!keep || sm_monotonic_ms() >= until)
			return;
		usleep(10 * 1000);
	}
}

size_t lvm_abandoned(const struct lvm *l)
{
	return l->nabandoned;
}

void lvm_close(struct lvm *l)
{
	if (l->nabandoned)
		reap_abandoned(l, 0);
	if (l->handle)
		lvm2_exit(l->handle);
	l->handle = NULL;
	l->is_open = false;
}

void lvm_rows_free(struct lvm_rows *rows)
{
	if (!rows)
		return;
	for (size_t i = 0; i < rows->n; i++)
		free(rows->row[i]);
	free(rows->row);
	rows->row = NULL;
	rows->n = 0;
}

/* lvm2_run splits the line itself; every argument goes in single quotes. */
static int build_cmdline(const struct lvm *l, const char *const argv[], char **out)
{
	size_t cap = strlen(l->config) + 16, off = 0;
	char *line;

	for (size_t i = 0; argv[i]; i++) {
		if (strchr(argv[i], '\'') || strchr(argv[i], '\n'))
			return -EINVAL;
		cap += strlen(argv[i]) + 3;
	}
	line = malloc(cap + 16);
	if (!line)
		return -ENOMEM;
	off += sprintf(line, "%s '--config' '%s'", argv[0], l->config);
	for (size_t i = 1; argv[i]; i++)
		off += sprintf(line + off, " '%s'", argv[i]);
	*out = line;
	return 0;
}

/*
 * A process with threads (the nbdkit plugin) must not run liblvm2cmd in a
 * forked child: a lock another thread held at the fork (libc's locale
 * lock, malloc's) stays held in the child for ever, and lvm2_run takes
 * them.  Such a process names a helper executable (csm-lvm-run), and the
 * child execs it instead: a fresh process that initialises liblvm2cmd and
 * runs the one command.  Until the exec the child calls only
 * async-signal-safe functions.
 */

int lvm_use_exec_helper(const char *path)
{
	if (!path) {
		exec_helper[0] = '\0';
		return 0;
	}
	if (path[0] != '/' || strlen(path) >= sizeof(exec_helper))
		return -EINVAL;
	if (access(path, X_OK) < 0)
		return -errno;
	memcpy(exec_helper, path, strlen(path) + 1);
	return 0;
}

/* stdin from /dev/null (no prompt can wait for an answer), stdout to stderr (the response's). */
static void child_stdio(void)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	signal(SIGPIPE, SIG_DFL);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	dup2(STDERR_FILENO, STDOUT_FILENO);
}

/* Run the command on handle, send its output up fd, exit with lvm2_run's code. */
static void __attribute__((noreturn)) child_run_handle(void *handle, const char *cmd,
							const char *line, int fd)
{
	char point[64];
	int rc;

	child_fd = fd;
	atexit(child_flush);   /* should LVM itself call exit() */
	/* Test builds: CSM_FAULT_PAUSE=lvm-lvs makes this child hang like a dead path. */
	snprintf(point, sizeof(point), "lvm-%s", cmd);
	sm_fault_point(point);
	rc = lvm2_run(handle, line);
	child_flush();
	_exit(rc);
}

static const char exec_failed[] = "Ecould not execute the LVM helper (csm-lvm-run)\n";

/* The forked child: the parent's handle, or the helper when one is named. */
static void __attribute__((noreturn)) child_run(struct lvm *l, const char *cmd, char *line,
						int fd, char *const helper_argv[])
{
	child_stdio();
	if (helper_argv) {
		if (fcntl(fd, F_SETFD, 0) < 0)
			_exit(125);
		execv(helper_argv[0], helper_argv);
		write_all(fd, exec_failed, sizeof(exec_failed) - 1);
		_exit(127);
	}
	child_run_handle(l->handle, cmd, line, fd);
}

int lvm_helper_main(int argc, char **argv)
{
	uint64_t fd;
	void *handle;

	if (argc != 4 || sm_parse_u64(argv[1], &fd) < 0 || fd > 1024) {
		fprintf(stderr, "csm-lvm-run: runs one LVM command for lib/lvm.c "
			"(usage: csm-lvm-run FD COMMAND LINE)\n");
		return 2;
	}
	lvm2_log_fn(on_log);
	handle = lvm2_init();
	if (!handle) {
		child_fd = (int)fd;
		send_record('E', "liblvm2cmd initialisation failed");
		child_flush();
		_exit(LVM2_INIT_FAILED);
	}
	lvm2_disable_dmeventd_monitoring(handle);
	child_run_handle(handle, argv[2], argv[3], (int)fd);
}

/* One record line from the child into the capture. */
static void take_record(struct capture *cap, char *rec)
{
	if (rec[0] == 'R')
		rows_add(cap, rec + 1);
	else if (rec[0] == 'E')
		errors_add(cap, rec + 1);
}

/* Split buf[0..*len) at '\n', keep the incomplete tail; a line too long is dropped. */
static void take_lines(struct capture *cap, char *buf, size_t *len)
{
	size_t start = 0;

	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n')
			continue;
		buf[i] = '\0';
		take_record(cap, buf + start);
		start = i + 1;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	if (*len >= LVM_LINE_MAX) {
		cap->too_long = 1;
		*len = 0;
	}
}

/*
 * Read the child's records until it closes the pipe or the deadline;
 * 0 at EOF, -ETIMEDOUT, or -EFBIG when it sent more than we take.
 */
static int collect(int fd, int64_t deadline, struct capture *cap)
{
	char *buf = malloc(LVM_LINE_MAX + 4096);
	size_t len = 0, total = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - sm_monotonic_ms();
		ssize_t n;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, buf + len, LVM_LINE_MAX + 4096 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;   /* EOF: the child exited (or closed the pipe) */
		total += (size_t)n;
		if (total > LVM_OUTPUT_MAX) {
			rc = -EFBIG;
			break;
		}
		len += (size_t)n;
		take_lines(cap, buf, &len);
	}
	free(buf);
	return rc;
}

/* Wait for the child to exit, until the deadline; 0 with *status, or -ETIMEDOUT. */
static int wait_child(pid_t pid, int64_t deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (sm_monotonic_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

/*
 * Kill the child; reap it if it dies at once, else keep it for later (it
 * sleeps in D state).  Whether it was left behind.
 */
static bool give_up_child(struct lvm *l, pid_t pid)
{
	kill(pid, SIGKILL);
	if (wait_child(pid, sm_monotonic_ms() + 200, &(int){ 0 }) == 0)
		return false;
	if (l->nabandoned < sizeof(l->abandoned) / sizeof(l->abandoned[0]))
		l->abandoned[l->nabandoned++] = pid;
	sm_log(LOG_ERR, "lvm: child %d did not die when killed (I/O hung in the kernel); left behind",
	       (int)pid);
	return true;
}

static int child_failed(int status, const char *cmd, const struct capture *cap, int code,
			struct sm_error *err)
{
	if (WIFSIGNALED(status))
		return sm_fail(err, code, "%s: the LVM command was killed by signal %d", cmd,
			       WTERMSIG(status));
	return sm_fail(err, code, "%s failed (%d): %s", cmd, WEXITSTATUS(status),
		       cap->elen ? cap->errors : "no message from LVM");
}

static int run_in_child(struct lvm *l, const char *cmd, char *line, struct capture *cap,
			int code, struct sm_error *err)
{
	int64_t deadline = sm_monotonic_ms() + l->timeout_ms;
	int fds[2], status = 0, rc;
	char fdtext[16], cmdtext[32];
	char *helper_argv[] = { exec_helper, fdtext, cmdtext, line, NULL };
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return sm_fail_errno(err, code, errno, "%s: pipe", cmd);
	/* Everything the helper's command line needs, made before the fork. */
	snprintf(fdtext, sizeof(fdtext), "%d", fds[1]);
	snprintf(cmdtext, sizeof(cmdtext), "%s", cmd);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		rc = errno;
		close(fds[0]);
		close(fds[1]);
		return sm_fail_errno(err, code, rc, "%s: fork", cmd);
	}
	if (pid == 0) {
		close(fds[0]);
		child_run(l, cmd, line, fds[1], exec_helper[0] ? helper_argv : NULL);
	}
	close(fds[1]);
	rc = collect(fds[0], deadline, cap);
	close(fds[0]);
	if (rc == 0)
		rc = wait_child(pid, deadline, &status);
	if (rc < 0) {
		bool stuck = give_up_child(l, pid);

		if (rc == -ETIMEDOUT)
			return sm_fail(err, code,
				       "%s did not finish in %d ms (a device not answering?); %s", cmd,
				       l->timeout_ms,
				       stuck ? "the LVM command is stuck in the kernel and was left behind"
					     : "the LVM command was killed");
		if (rc == -EFBIG)
			return sm_fail(err, code, "%s: more than %u bytes of output", cmd,
				       LVM_OUTPUT_MAX);
		return sm_fail_errno(err, code, -rc, "%s: reading its output", cmd);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != LVM2_COMMAND_SUCCEEDED)
		return child_failed(status, cmd, cap, code, err);
	return 0;
}

/*
 * What a non-master may run: reports, and (de)activation.  LVM 2.03.16
 * ignores global/metadata_read_only from --config and from lvm.conf
 * alike (its file locking reads it as 0), so the rule is kept here.
 */
static bool changes_nothing(const char *const argv[])
{
	static const char *const reports[] = { "lvs", "vgs", "pvs", "fullreport", "version" };

	for (size_t i = 0; i < sizeof(reports) / sizeof(reports[0]); i++)
		if (strcmp(argv[0], reports[i]) == 0)
			return true;
	if (strcmp(argv[0], "lvchange") && strcmp(argv[0], "vgchange"))
		return false;
	for (size_t i = 1; argv[i]; i++)
		if (argv[i][0] == '-' && strcmp(argv[i], "-ay") && strcmp(argv[i], "-an") &&
		    strcmp(argv[i], "--refresh"))
			return false;
	return true;
}

int lvm_run(struct lvm *l, const char *const argv[], struct lvm_rows *rows,
	    int code, struct sm_error *err)
{
	struct capture cap = { .rows = rows };
	char *line = NULL;
	int rc;

	if (rows)
		memset(rows, 0, sizeof(*rows));
	if (l->nabandoned)
		reap_abandoned(l, 0);
	if (!l->is_open)
		return sm_fail(err, code, "%s: LVM is not open", argv[0]);
	if (l->read_only && !changes_nothing(argv))
		return sm_fail(err, SME_LVM_MASTER,
			       "%s would change LVM metadata, which only the SR master does "
			       "(SRmaster is not true)", argv[0]);
	rc = build_cmdline(l, argv, &line);
	if (rc < 0)
		return sm_fail(err, code, "%s: cannot build the LVM command line", argv[0]);
	sm_log(LOG_INFO, "lvm: %s%s", argv[0], line + strlen(argv[0]) + strlen(l->config) + 14);
	rc = run_in_child(l, argv[0], line, &cap, code, err);
	free(line);
	if (rc == 0 && cap.oom)
		rc = sm_fail(err, SME_GENERIC, "out of memory");
	else if (rc == 0 && cap.too_long)
		rc = sm_fail(err, code, "%s: a report line longer than %d bytes", argv[0],
			     LVM_LINE_MAX);
	if (rc < 0)
		lvm_rows_free(rows);
	return rc;
}

/* ---- queries ----------------------------------------------------------- */

static bool same_device(const char *a, const char *b)
{
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return true;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && S_ISBLK(sa.st_mode) &&
	       S_ISBLK(sb.st_mode) && sa.st_rdev == sb.st_rdev;
}

int lvm_pv_vg(struct lvm *l, const char *dev, bool *is_pv, char vg[LVM_NAME_MAX],
	      struct sm_error *err)
{
	/* All PVs the filter lets LVM see: "not a PV" is then no error to parse. */
	const char *argv[] = { "pvs", "--noheadings", "--separator", "|", "-o", "pv_name,vg_name", NULL };
	struct lvm_rows rows;

	*is_pv = false;
	vg[0] = '\0';
	if (lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	for (size_t i = 0; i < rows.n; i++) {
		char *f[2];

		if (lvm_row_parse(rows.row[i], f, 2) < 0 || !same_device(f[0], dev))
			continue;
		if (strlen(f[1]) >= LVM_NAME_MAX) {
			lvm_rows_free(&rows);
			return sm_fail(err, SME_SM_GENERAL, "%s: VG name longer than %d characters",
				       dev, LVM_NAME_MAX - 1);
		}
		*is_pv = true;
		memcpy(vg, f[1], strlen(f[1]) + 1);
		break;
	}
	lvm_rows_free(&rows);
	return 0;
}

int lvm_vg_info(struct lvm *l, const char *vg, bool *exists, uint64_t *size, uint64_t *free_b,
		struct sm_error *err)
{
	const char *argv[] = { "vgs", "--noheadings", "--separator", "|", "--units", "b", "--nosuffix",
			       "-o", "vg_name,vg_size,vg_free", NULL };
	struct lvm_rows rows;

	*exists = false;
	if (lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	for (size_t i = 0; i < rows.n; i++) {
		char *f[3];

		uint64_t sz, fr;

		if (lvm_row_parse(rows.row[i], f, 3) < 0 || strcmp(f[0], vg) != 0)
			continue;
		/* A size we cannot read must not become 0 bytes free. */
		if (lvm_field_u64(f[1], &sz) < 0 || lvm_field_u64(f[2], &fr) < 0) {
			sm_fail(err, SME_SM_GENERAL, "vgs: size '%.40s' or free '%.40s' of %s is not a number",
				f[1], f[2], vg);
			lvm_rows_free(&rows);
			return -1;
		}
		*exists = true;
		if (size)
			*size = sz;
		if (free_b)
			*free_b = fr;
		break;
	}
	lvm_rows_free(&rows);
	return 0;
}

int lvm_lv_exists(struct lvm *l, const char *vg, const char *lv, bool *exists,
		  struct sm_error *err)
{
	const char *argv[] = { "lvs", "--noheadings", "--separator", "|", "-o", "vg_name,lv_name", NULL };
	struct lvm_rows rows;

	*exists = false;
	if (lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	for (size_t i = 0; i < rows.n && !*exists; i++) {
		char *f[2];

		*exists = lvm_row_parse(rows.row[i], f, 2) == 0 && strcmp(f[0], vg) == 0 &&
			  strcmp(f[1], lv) == 0;
	}
	lvm_rows_free(&rows);
	return 0;
}

int lvm_vg_pvs(struct lvm *l, const char *vg, struct lvm_rows *pvs, struct sm_error *err)
{
	const char *argv[] = { "pvs", "--noheadings", "--separator", "|", "-o", "pv_name,vg_name", NULL };
	size_t keep = 0;

	if (lvm_run(l, argv, pvs, SME_SM_GENERAL, err) < 0)
		return -1;
	for (size_t i = 0; i < pvs->n; i++) {
		char *f[2];

		if (lvm_row_parse(pvs->row[i], f, 2) == 0 && strcmp(f[1], vg) == 0) {
			memmove(pvs->row[i], f[0], strlen(f[0]) + 1);
			pvs->row[keep++] = pvs->row[i];
		} else {
			free(pvs->row[i]);
		}
	}
	pvs->n = keep;
	return 0;
}

/* ---- changes ----------------------------------------------------------- */

/* argv = fixed words then the devices; room for LVM_MAX_DEVICES. */
static int run_with_devs(struct lvm *l, const char *const *words, size_t nwords,
			 const char *const *devs, size_t n, int code, struct sm_error *err)
{
	const char *argv[16 + LVM_MAX_DEVICES + 1];

	if (nwords > 16 || n > LVM_MAX_DEVICES)
		return sm_fail(err, code, "too many arguments");
	memcpy(argv, words, nwords * sizeof(*argv));
	memcpy(argv + nwords, devs, n * sizeof(*argv));
	argv[nwords + n] = NULL;
	return lvm_run(l, argv, NULL, code, err);
}

int lvm_pvcreate(struct lvm *l, const char *const *devs, size_t n, struct sm_error *err)
{
	/* 10 MiB of metadata area, as the reference's createVG. */
	const char *w[] = { "pvcreate", "-y", "--metadatasize", "10M" };

	return run_with_devs(l, w, 4, devs, n, SME_LVM_PART_CREATE, err);
}

int lvm_vgcreate(struct lvm *l, const char *vg, const char *const *devs, size_t n,
		 struct sm_error *err)
{
	const char *w[] = { "vgcreate", "--metadatasize", "10M", vg };

	return run_with_devs(l, w, 4, devs, n, SME_LVM_GROUP_CREATE, err);
}

static void lv_path(char out[2 * LVM_NAME_MAX + 2], const char *vg, const char *lv)
{
	snprintf(out, 2 * LVM_NAME_MAX + 2, "%s/%s", vg, lv);
}

int lvm_lvcreate_all(struct lvm *l, const char *vg, const char *lv, struct sm_error *err)
{
	const char *active[] = { "lvcreate", "-n", lv, "-l", "100%FREE", vg, "-W", "y", "--yes", NULL };
	/* Without activation nothing can be wiped: lvm_lvcreate's options then. */
	const char *inactive[] = { "lvcreate", "-n", lv, "-l", "100%FREE", vg, "-an", "-Zn", "-Wn",
				   "--yes", NULL };

	return lvm_run(l, l->activation ? active : inactive, NULL, SME_LVM_CREATE, err);
}

int lvm_lv_activate(struct lvm *l, const char *vg, const char *lv, bool on, struct sm_error *err)
{
	char path[2 * LVM_NAME_MAX + 2];
	const char *argv[] = { "lvchange", on ? "-ay" : "-an", path, NULL };

	lv_path(path, vg, lv);
	return lvm_run(l, argv, NULL, on ? SME_LVM_MOUNT : SME_LVM_UNMOUNT, err);
}

int lvm_vg_activate(struct lvm *l, const char *vg, bool on, struct sm_error *err)
{
	const char *argv[] = { "vgchange", on ? "-ay" : "-an", vg, NULL };

	return lvm_run(l, argv, NULL, on ? SME_LVM_MOUNT : SME_LVM_UNMOUNT, err);
}

int lvm_lvremove(struct lvm *l, const char *vg, const char *lv, struct sm_error *err)
{
	char path[2 * LVM_NAME_MAX + 2];
	const char *argv[] = { "lvremove", "-f", path, NULL };

	lv_path(path, vg, lv);
	return lvm_run(l, argv, NULL, SME_LVM_DELETE, err);
}

int lvm_vgremove(struct lvm *l, const char *vg, struct sm_error *err)
{
	const char *argv[] = { "vgremove", "-f", vg, NULL };

	return lvm_run(l, argv, NULL, SME_LVM_DELETE, err);
}

int lvm_pvremove(struct lvm *l, const char *const *devs, size_t n, struct sm_error *err)
{
	const char *w[] = { "pvremove", "-y" };

	return run_with_devs(l, w, 2, devs, n, SME_LVM_DELETE, err);
}

int lvm_vgextend(struct lvm *l, const char *vg, const char *const *devs, size_t n,
		 struct sm_error *err)
{
	const char *w[] = { "vgextend", "--metadatasize", "10M", vg };

	return run_with_devs(l, w, 4, devs, n, SME_LVM_GROUP_CREATE, err);
}

int lvm_pvresize(struct lvm *l, const char *dev, struct sm_error *err)
{
	const char *argv[] = { "pvresize", dev, NULL };

	return lvm_run(l, argv, NULL, SME_SM_GENERAL, err);
}

/* ---- LVs -------------------------------------------------------------- */

/* "<bytes>b", rounded up to whole sectors (LVM refuses others; it rounds up to extents). */
static int size_arg(uint64_t size, char out[32], int code, struct sm_error *err)
{
	if (size == 0 || size > UINT64_MAX - 511)
		return sm_fail(err, code, "LV size %llu out of range", (unsigned long long)size);
	snprintf(out, 32, "%llub", (unsigned long long)((size + 511) / 512 * 512));
	return 0;
}

static int check_names(const char *vg, const char *lv, int code, struct sm_error *err)
{
	if (!lvm_name_ok(vg))
		return sm_fail(err, code, "'%.200s' is not an LVM VG name", vg);
	if (lv && !lvm_name_ok(lv))
		return sm_fail(err, code, "'%.200s' is not an LVM LV name", lv);
	return 0;
}

int lvm_lvs(struct lvm *l, const char *vg, struct lvm_lv_list *out, struct sm_error *err)
{
	const char *argv[] = { "lvs", "--noheadings", "--separator", "|", "--units", "b", "--nosuffix",
			       "--segments", "-o", LVM_LVS_FIELDS, vg, NULL };
	struct lvm_rows rows;
	char why[256];
	int rc;

	memset(out, 0, sizeof(*out));
	if (check_names(vg, NULL, SME_SM_GENERAL, err) < 0 ||
	    lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	rc = lvm_lvs_parse(rows.row, rows.n, out, why, sizeof(why));
	lvm_rows_free(&rows);
	if (rc < 0)
		return sm_fail(err, SME_SM_GENERAL, "lvs %s: %s", vg, why);
	return 0;
}

int lvm_vg_stats(struct lvm *l, const char *vg, bool *exists, struct lvm_vg_stats *st,
		 struct sm_error *err)
{
	/* All VGs on the allowed devices: a VG that is not there is an answer, not a failure. */
	const char *argv[] = { "vgs", "--noheadings", "--separator", "|", "--units", "b", "--nosuffix",
			       "-o", LVM_VGS_FIELDS, NULL };
	struct lvm_rows rows;
	char why[256];
	int rc;

	*exists = false;
	if (check_names(vg, NULL, SME_SM_GENERAL, err) < 0 ||
	    lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	rc = lvm_vgs_parse(rows.row, rows.n, vg, exists, st, why, sizeof(why));
	lvm_rows_free(&rows);
	if (rc < 0)
		return sm_fail(err, SME_SM_GENERAL, "vgs: %s", why);
	return 0;
}

int lvm_vg_report(struct lvm *l, const char *vg, bool *exists, struct lvm_vg_stats *st,
		  struct lvm_lv_list *out, struct sm_error *err)
{
	/*
	 * Every VG on the allowed devices, as lvm_vg_stats: a VG that is not
	 * there is an answer.  The lv and pvseg sub-reports cannot be left
	 * out; one field each keeps them short (and out of the parser).
	 */
	const char *argv[] = { "fullreport", "--noheadings", "--separator", "|", "--units", "b",
			       "--nosuffix", "--configreport", "vg", "-o", LVM_FULL_VG_FIELDS,
			       "--configreport", "pv", "-o", LVM_FULL_PV_FIELDS,
			       "--configreport", "lv", "-o", "lv_name",
			       "--configreport", "pvseg", "-o", "pvseg_start",
			       "--configreport", "seg", "-o", LVM_FULL_SEG_FIELDS, NULL };
	struct lvm_rows rows;
	char why[256];
	int rc;

	*exists = false;
	memset(out, 0, sizeof(*out));
	if (check_names(vg, NULL, SME_SM_GENERAL, err) < 0 ||
	    lvm_run(l, argv, &rows, SME_SM_GENERAL, err) < 0)
		return -1;
	rc = lvm_full_parse(rows.row, rows.n, vg, exists, st, out, why, sizeof(why));
	lvm_rows_free(&rows);
	if (rc < 0)
		return sm_fail(err, SME_SM_GENERAL, "fullreport %s: %s", vg, why);
	return 0;
}

int lvm_lvcreate(struct lvm *l, const char *vg, const char *lv, uint64_t size,
		 const char *const *tags, size_t ntags, bool read_only, struct sm_error *err)
{
	const char *argv[24 + 2 * LVM_MAX_TAGS];
	char bytes[32];
	size_t n = 0;

	if (check_names(vg, lv, SME_LVM_CREATE, err) < 0)
		return -1;
	if (ntags > LVM_MAX_TAGS)
		return sm_fail(err, SME_LVM_CREATE, "more than %d tags", LVM_MAX_TAGS);
	if (size_arg(size, bytes, SME_LVM_CREATE, err) < 0)
		return -1;
	argv[n++] = "lvcreate";
	argv[n++] = "-n";
	argv[n++] = lv;
	argv[n++] = "-L";
	argv[n++] = bytes;
	for (size_t i = 0; i < ntags; i++) {
		if (!lvm_tag_ok(tags[i]))
			return sm_fail(err, SME_LVM_CREATE, "'%.200s' is not an LVM tag", tags[i]);
		argv[n++] = "--addtag";
		argv[n++] = tags[i];
	}
	if (read_only) {
		argv[n++] = "-p";
		argv[n++] = "r";
	}
	if (!l->activation) {
		/* Nothing can be zeroed or wiped through a device that is never made. */
		argv[n++] = "-an";
		argv[n++] = "-Zn";
		argv[n++] = "-Wn";
	} else {
		if (read_only)
			argv[n++] = "-Zn";
		argv[n++] = "-Wy";
	}
	argv[n++] = "--yes";
	argv[n++] = vg;
	argv[n] = NULL;
	return lvm_run(l, argv, NULL, SME_LVM_CREATE, err);
}

int lvm_lvrename(struct lvm *l, const char *vg, const char *old_name, const char *new_name,
		 struct sm_error *err)
{
	const char *argv[] = { "lvrename", vg, old_name, new_name, NULL };

	if (check_names(vg, old_name, SME_SM_GENERAL, err) < 0 ||
	    check_names(vg, new_name, SME_SM_GENERAL, err) < 0)
		return -1;
	return lvm_run(l, argv, NULL, SME_SM_GENERAL, err);
}

int lvm_lvresize(struct lvm *l, const char *vg, const char *lv, uint64_t size,
		 struct sm_error *err)
{
	char path[2 * LVM_NAME_MAX + 2], bytes[32];
	const char *argv[] = { "lvresize", "-f", "-L", bytes, path, NULL };

	if (check_names(vg, lv, SME_SM_GENERAL, err) < 0 ||
	    size_arg(size, bytes, SME_SM_GENERAL, err) < 0)
		return -1;
	lv_path(path, vg, lv);
	return lvm_run(l, argv, NULL, SME_SM_GENERAL, err);
}

/* What the LV is now, for changes LVM refuses to repeat. */
static int lv_lookup(struct lvm *l, const char *vg, const char *lv, struct lvm_lv *out,
		     struct sm_error *err)
{
	struct lvm_lv_list list;
	const struct lvm_lv *found;

	if (lvm_lvs(l, vg, &list, err) < 0)
		return -1;
	found = lvm_lv_find(&list, lv);
	if (found) {
		*out = *found;
		out->seg = NULL;
		out->nseg = 0;
	}
	lvm_lv_list_free(&list);
	return found ? 0 : sm_fail(err, SME_SM_GENERAL, "%s/%s: no such LV", vg, lv);
}

int lvm_lv_set_permission(struct lvm *l, const char *vg, const char *lv, bool ro,
			  struct sm_error *err)
{
	char path[2 * LVM_NAME_MAX + 2];
	const char *argv[] = { "lvchange", "-p", ro ? "r" : "rw", path, NULL };

	if (check_names(vg, lv, SME_SM_GENERAL, err) < 0)
		return -1;
	lv_path(path, vg, lv);
	return lvm_run(l, argv, NULL, SME_SM_GENERAL, err);
}

int lvm_lv_set_read_only(struct lvm *l, const char *vg, const char *lv, bool ro,
			 struct sm_error *err)
{
	struct lvm_lv now = { 0 };

	if (check_names(vg, lv, SME_SM_GENERAL, err) < 0)
		return -1;
	/* lvchange fails on "already read only": a retried step must not. */
	if (lv_lookup(l, vg, lv, &now, err) < 0)
		return -1;
	if (now.read_only == ro)
		return 0;
	return lvm_lv_set_permission(l, vg, lv, ro, err);
}

static int change_tag(struct lvm *l, const char *vg, const char *lv, const char *opt,
		      const char *tag, struct sm_error *err)
{
	char path[2 * LVM_NAME_MAX + 2];
	const char *argv[] = { "lvchange", opt, tag, path, NULL };

	if (check_names(vg, lv, SME_SM_GENERAL, err) < 0)
		return -1;
	if (!lvm_tag_ok(tag))
		return sm_fail(err, SME_SM_GENERAL, "'%.200s' is not an LVM tag", tag);
	lv_path(path, vg, lv);
	return lvm_run(l, argv, NULL, SME_SM_GENERAL, err);
}

int lvm_lv_add_tag(struct lvm *l, const char *vg, const char *lv, const char *tag,
		   struct sm_error *err)
{
	return change_tag(l, vg, lv, "--addtag", tag, err);
}

int lvm_lv_del_tag(struct lvm *l, const char *vg, const char *lv, const char *tag,
		   struct sm_error *err)
{
	return change_tag(l, vg, lv, "--deltag", tag, err);
}

int lvm_lv_activation(struct lvm *l, const char *vg, const char *lv, enum lvm_act act,
		      bool *noop, struct sm_error *err)
{
	static const char *const opt[] = { [LVM_ACTIVATE] = "-ay", [LVM_DEACTIVATE] = "-an",
					   [LVM_REFRESH] = "--refresh" };
	int code = act == LVM_DEACTIVATE ? SME_LVM_UNMOUNT : SME_LVM_MOUNT;
	char path[2 * LVM_NAME_MAX + 2];
	const char *argv[] = { "lvchange", opt[act], path, NULL };

	if (noop)
		*noop = !l->activation;
	if (check_names(vg, lv, code, err) < 0)
		return -1;
	if (!l->activation)
		return 0;
	lv_path(path, vg, lv);
	return lvm_run(l, argv, NULL, code, err);
}
