/* SPDX-License-Identifier: LGPL-2.1-only */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/lock.h"
#include "csm/log.h"
#include "csm/util.h"

static void on_alarm(int sig)
{
	(void)sig;  /* only here to interrupt F_SETLKW with EINTR */
}

static int lock_timeout(int timeout_s)
{
	const char *e = getenv("SM_LOCK_TIMEOUT");
	uint64_t v;

	if (timeout_s >= 0)
		return timeout_s;
	if (e && sm_parse_u64(e, &v) == 0 && v < 86400)
		return (int)v;
	return SM_LOCK_DEFAULT_TIMEOUT;
}

/* Who holds it, for the error message; 0 if unknown. */
static int lock_holder(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
		return 0;
	return (int)fl.l_pid;
}

/* The holder's process name (/proc/<pid>/comm), "?" when it cannot be told. */
static void process_name(int pid, char *out, size_t cap)
{
	char path[64], *text = NULL;

	snprintf(out, cap, "?");
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (sm_read_file(path, 64, &text) == 0) {
		snprintf(out, cap, "%.*s", (int)strcspn(text, "\n"), text);
		free(text);
	}
}

/*
 * F_SETLKW bounded by SIGALRM: the kernel queues us fairly behind other
 * waiters, which polling would not, and the alarm turns a stuck holder
 * into an error instead of a hang.
 */
static int lock_wait(int fd, int timeout_s)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	int rc;

	if (fcntl(fd, F_SETLK, &fl) == 0)
		return 0;
	if (errno != EACCES && errno != EAGAIN)
		return -errno;
	if (timeout_s == 0)
		return -EAGAIN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	alarm((unsigned)timeout_s);
	rc = fcntl(fd, F_SETLKW, &fl) == 0 ? 0 : -errno;
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	return rc == -EINTR ? -EAGAIN : rc;
}

/*
 * The lock directory is the first thing a driver writes, so a tool run
 * by hand as an ordinary user (or with SM_LOCK_DIR on a read-only or
 * missing path) stops here: say what to change, not only what failed.
 */
static int lock_dir_fault(struct sm_error *err, const char *dir, int errnum)
{
	return sm_fail(err, SME_SM_GENERAL, "cannot create lock directory %s: %s "
		       "(run as root, or set SM_LOCK_DIR to a directory you can write)",
		       dir, strerror(errnum));
}

int lock_acquire(struct sm_lock *lk, const char *ns, const char *name,
		 int timeout_s, int busy_code, struct sm_error *err)
{
	char dir[sizeof(lk->path)];
	int fd, rc, t = lock_timeout(timeout_s);

	lk->fd = -1;
	if (snprintf(dir, sizeof(dir), "%s/%s", sm_lock_dir(), ns) >= (int)sizeof(dir) ||
	    snprintf(lk->path, sizeof(lk->path), "%s/%s", dir, name) >= (int)sizeof(lk->path))
		return sm_fail(err, SME_SM_GENERAL, "lock path too long for %s/%s", ns, name);
	/* The Python SM retries because a namespace dir may vanish under us. */
	for (int attempt = 0;; attempt++) {
		rc = sm_mkdir_p(dir, 0755);
		if (rc < 0)
			return lock_dir_fault(err, dir, -rc);
		fd = open(lk->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			break;
		if (errno != ENOENT || attempt >= 10)
			return sm_fail_errno(err, SME_SM_GENERAL, errno, "cannot open lock %s", lk->path);
	}
	rc = lock_wait(fd, t);
	if (rc == -EAGAIN) {
		int holder = lock_holder(fd);
		char comm[64];

		close(fd);
		process_name(holder, comm, sizeof(comm));
		return sm_fail(err, busy_code ? busy_code : SME_SR_UNAVAILABLE,
			       "lock %s is held by pid %d (%s); gave up after %d s (busy, not lost: "
			       "retry, or stop pid %d if it is stuck)",
			       lk->path, holder, comm, t, holder);
	}
	if (rc < 0) {
		close(fd);
		return sm_fail_errno(err, SME_SM_GENERAL, -rc, "cannot lock %s", lk->path);
	}
	lk->fd = fd;
	return 0;
}

void lock_release(struct sm_lock *lk)
{
	if (lk->fd < 0)
		return;
	/* Closing drops the fcntl lock; the file stays, as in the Python SM. */
	close(lk->fd);
	lk->fd = -1;
}

void lock_cleanup_namespace(const char *ns)
{
	char dir[512], path[1024];
	struct dirent *de;
	DIR *d;

	if (snprintf(dir, sizeof(dir), "%s/%s", sm_lock_dir(), ns) >= (int)sizeof(dir))
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}
