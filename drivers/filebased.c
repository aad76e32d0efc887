/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * How the file-based SR types (File, EXT, NFS) reach their directory: the
 * driver state (struct file_sr), its directory store, and starting and
 * stopping the GC for it.  The VDI operations over the store are in
 * drivers/vhdsr.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csm/lock.h"
#include "csm/log.h"
#include "csm/util.h"
#include "filebased.h"

struct file_sr *fsr_new(struct sm_ctx *ctx)
{
	struct file_sr *sr = calloc(1, sizeof(*sr));

	if (!sr) {
		sm_fail(&ctx->err, SME_GENERIC, "out of memory");
		return NULL;
	}
	sr->sr_uuid = ctx->call->sr_uuid;
	sr->storage_type = "ext";
	sr->repair = true;
	sr->api_mode = !ctx->xapi;
	vstore_dir_init(&sr->store, &sr->fs, sr->path, sr->sr_uuid);
	ctx->sr = sr;
	return sr;
}

struct file_sr *fsr_new_local(struct sm_ctx *ctx, const char *dir)
{
	struct file_sr *sr;
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(sr->path)) {
		sm_fail(&ctx->err, SME_INVALID_ARG, "SR directory path is empty or too long");
		return NULL;
	}
	sr = fsr_new(ctx);
	if (!sr)
		return NULL;
	memcpy(sr->path, dir, len + 1);
	while (len > 1 && sr->path[len - 1] == '/')
		sr->path[--len] = '\0';
	return sr;   /* the srfs opens on first use (vstore_dir_fs) */
}

void fsr_release_fs(struct file_sr *sr)
{
	srfs_close(&sr->fs);
}

void fsr_unload(struct sm_ctx *ctx)
{
	struct file_sr *sr = ctx->sr;

	if (sr && sr->fs.ops)
		srfs_close(&sr->fs);
	free(ctx->sr);
	ctx->sr = NULL;
}

/* ---- garbage collection ------------------------------------------------ */

/*
 * Start csm-gc (installed beside this executable) detached: its own
 * session, stdio on /dev/null so the toolstack's pipe closes when we
 * exit, and no lock of ours (fcntl locks are not inherited).  It takes
 * its own lock, so kicking a running GC costs one failed try.
 * CSM_GC=off disables it (tests that need a still SR).  A call in API
 * mode starts it with CSM_XAPI=off; in xapi mode it logs in itself.
 */
void fsr_kick_gc(const struct file_sr *sr)
{
	const char *mode = getenv("CSM_GC");
	char exe[PATH_MAX], gc[PATH_MAX + 16];
	pid_t pid;

	if ((mode && strcmp(mode, "off") == 0) || !sr->repair || (!sr->path[0] && !sr->gc_reach[0]))
		return;
	if (sm_exe_dir(exe) < 0)
		return;
	snprintf(gc, sizeof(gc), "%s/csm-gc", exe);
	if (access(gc, X_OK) != 0) {
		sm_log(LOG_WARNING, "gc: %s not found; garbage stays until it runs", gc);
		return;
	}
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		setsid();
		if (fork() != 0)
			_exit(0);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		{
			const char *argv[16] = { "csm-gc", "--sr", sr->sr_uuid, "--quiet" };
			size_t na = 4;

			if (sr->gc_reach[0]) {
				for (size_t i = 0; i < 8 && sr->gc_reach[i]; i++)
					argv[na++] = sr->gc_reach[i];
			} else {
				argv[na++] = "--dir";
				argv[na++] = sr->path;
			}
			argv[na] = NULL;
			/* One thread here (drivers have none), so setenv after fork is safe. */
			if (sr->api_mode)
				setenv("CSM_XAPI", "off", 1);
			execv(gc, (char *const *)argv);
		}
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/*
 * csm-gc holds the SR directory and the images it copies open: while it
 * runs, an unmount fails "device is busy" (a coalesce copies for minutes)
 * and deleting the SR races it.  Ask it to stop first, as the Python SM's
 * detach does (cleanup.abort): the flag file of csm-gc --abort, then wait
 * until it lets go of gc_active.  The flag stays until fsr_gc_stop_end,
 * so a GC the previous call started that is only now starting stops too.
 */
void fsr_gc_stop_begin(const char *sr_uuid, char flag[PATH_MAX])
{
	fsr_gc_stop_begin_within(sr_uuid, flag, FSR_GC_STOP_TIMEOUT);
}

void fsr_gc_stop_begin_within(const char *sr_uuid, char flag[PATH_MAX], int timeout_s)
{
	struct sm_lock active = SM_LOCK_INIT;
	struct sm_error e = { 0 };
	int fd;

	snprintf(flag, PATH_MAX, "%s/%s", sm_lock_dir(), sr_uuid);
	sm_mkdir_p(flag, 0755);
	snprintf(flag, PATH_MAX, "%s/%s/gc.abort", sm_lock_dir(), sr_uuid);
	fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	if (lock_acquire(&active, sr_uuid, "gc_active", timeout_s, SME_SR_UNAVAILABLE, &e) < 0)
		sm_log(LOG_WARNING, "the GC of %s did not stop: %s", sr_uuid, e.detail);
	lock_release(&active);
}

void fsr_gc_stop_end(const char *flag)
{
	unlink(flag);
}

struct vstore *fsr_store(struct file_sr *sr)
{
	if (sr->other_store)
		return sr->other_store;
	return &sr->store.vs;
}

void fsr_remove_leftovers(const struct file_sr *sr)
{
	struct vstore *vs = fsr_store((struct file_sr *)sr);

	vs->ops->sweep(vs);
}
