/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The NBD server of an activated VDI: an nbdkit process running our
 * plugin (csm-nbdkit.so, installed beside the drivers), detached from the
 * driver that started it, listening on the Unix socket vdi_attach names
 * in params_nbd, <dir>/<sr>/<vdi>.
 *
 * A driver process lives for one call, the server from vdi_activate to
 * vdi_deactivate: the next call finds it again by a record beside the
 * socket, <dir>/<sr>/<vdi>.server ("key=value" lines: pid, the process's
 * start time from /proc/<pid>/stat, socket, ctl, mode).  The start time
 * tells a live server from a dead one whose pid was reused.  The record
 * is host-local on purpose (the directory is on /run): a pid means
 * nothing on another host, and a reboot, which ends every server, empties
 * it.  The shared activation record on the SR stays what the GC and
 * vdi_delete look at.
 *
 * Files of one server, all in <dir>/<sr>/:
 *   <vdi>          the NBD socket (params_nbd)
 *   <vdi>.ctl      the plugin's control socket (pause, resume, flush, status)
 *   <vdi>.pid      nbdkit's --pidfile
 *   <vdi>.paused   who paused it, while paused (nbd_serve_resume_orphans)
 *   <vdi>.stderr   nbdkit's stderr (its own messages go to syslog): the
 *                  loader's errors, a sanitizer's reports; quoted in the
 *                  fault when nbdkit exits before serving
 *   <vdi>.server   our record (written last: its presence means "started")
 *
 * CSM_NBD (environment) chooses whether vdi_activate serves:
 *   off   never (tests that only look at metadata, hosts where tapdisk serves)
 *   on    always: a missing nbdkit or plugin is a fault
 *   auto  (default) serve when nbdkit and the plugin are installed; else log
 *         a warning and activate without a server, as before this existed
 */
#ifndef CSM_NBD_SERVE_H
#define CSM_NBD_SERVE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "csm/error.h"

/* The socket directory: $CSM_NBD_DIR, else this (xapi's path for tapdisk's sockets). */
#define NBD_SERVE_DIR_DEFAULT "/run/blktap-control/nbd"
/* The plugin's file name, looked for beside the driver executable. */
#define NBD_SERVE_PLUGIN "csm-nbdkit.so"

/* Bounds, in milliseconds (each overridable for tests, see nbd_serve.c). */
#define NBD_SERVE_START_MS 10000   /* until the socket answers */
#define NBD_SERVE_CTL_MS 10000     /* one control command (pause waits for in-flight I/O) */
#define NBD_SERVE_STOP_MS 10000    /* SIGTERM to exit; then SIGKILL */

enum nbd_serve_mode { NBD_SERVE_OFF, NBD_SERVE_AUTO, NBD_SERVE_ON };

/* CSM_NBD: off, on, or auto (unset or anything else: auto, logged when unknown). */
enum nbd_serve_mode nbd_serve_mode(void);

/*
 * Whether vdi_activate should start a server for the VDI: false with
 * CSM_NBD=off, and with auto when nbdkit or the plugin is missing (logged:
 * the activation goes on without a server); true otherwise (with on, a
 * missing piece is then nbd_serve_start's fault).
 */
bool nbd_serve_wanted(const char *vdi_uuid);

/* $CSM_NBD_DIR or NBD_SERVE_DIR_DEFAULT. */
const char *nbd_serve_dir(void);

/* <dir>/<sr>/<vdi><suffix> ("" for the socket); -ENAMETOOLONG if it does not fit. */
int nbd_serve_path(const char *sr_uuid, const char *vdi_uuid, const char *suffix, char *out,
		   size_t cap);

/* What vdi_activate asks for. */
struct nbd_serve_spec {
	const char *sr_uuid;
	const char *vdi_uuid;
	bool readonly;
	/*
	 * How the plugin reaches the image: "key=value" strings (dir=PATH,
	 * vdi=UUID, ...), NULL-terminated, at most 12.  readonly and ctl= are
	 * added here.
	 */
	const char *const *plugin_args;
};

/* A running server, as its record says. */
struct nbd_server {
	pid_t pid;
	unsigned long long start_time;   /* field 22 of /proc/<pid>/stat */
	bool readonly;
	char socket[PATH_MAX];
	char ctl[PATH_MAX];
};

/*
 * Where nbdkit and the plugin are: 0, or -ENOENT with why filled ("nbdkit
 * is not installed", ...).  CSM_NBDKIT and CSM_NBD_PLUGIN override the
 * paths (a plugin under test).
 */
int nbd_serve_locate(char nbdkit[PATH_MAX], char plugin[PATH_MAX], char *why, size_t cap);

/*
 * The live server of the VDI: 1 (s filled), 0 none.  A record whose
 * process is gone (killed, host rebooted without /run being cleared) is
 * removed with the files it names, so a start after it begins clean.
 */
int nbd_serve_find(const char *sr_uuid, const char *vdi_uuid, struct nbd_server *s);

/*
 * Start the server, or find the one already running (the same handle,
 * the SPDK rule: a second activate is a success).  A live server with the
 * other mode (read-only vs read-write) is a fault: deactivate first.
 * Returns 0 once the socket accepts connections, -1 with err (code).
 */
int nbd_serve_start(const struct nbd_serve_spec *spec, struct nbd_server *s, int code,
		    struct sm_error *err);

/*
 * Stop the VDI's server: a flush through the control socket (so every
 * acknowledged write is on disk even if the exit is not clean), SIGTERM,
 * SIGKILL after NBD_SERVE_STOP_MS, then its files are removed.  No server
 * is a success.  -1 with err only when the process would not die.
 */
int nbd_serve_stop(const char *sr_uuid, const char *vdi_uuid, int code, struct sm_error *err);

/*
 * Pause: the plugin lets in-flight requests finish, flushes, holds new
 * ones and lets go of the chain's images, so the chain can change under
 * it.  Resume: it opens the chain again (the new one) and lets the held
 * requests go.  Each within NBD_SERVE_CTL_MS: a pause that does not
 * answer in time is a fault and the caller changes nothing; the plugin
 * drops a pause whose asker has gone (see docs/data-path.md), so the old
 * chain stays served.
 */
int nbd_serve_pause(const struct nbd_server *s, int code, struct sm_error *err);
int nbd_serve_resume(const struct nbd_server *s, int code, struct sm_error *err);

/*
 * A pause is recorded beside the socket (<vdi>.paused: the pausing
 * process's pid and start time) until its resume.  A process killed in
 * between (a snapshot before its journal, the GC mid-relink) leaves the
 * server paused with nobody to end it: this resumes every server of the
 * SR whose marker names a process that is gone.  Call it where the chain
 * is known whole again: recovery, after the journals are replayed.
 * Returns how many were resumed; failures are logged.
 */
int nbd_serve_resume_orphans(const char *sr_uuid);

#endif
