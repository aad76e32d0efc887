/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The control channel of the data-path server (nbd/csm_nbdkit.c, the
 * nbdkit plugin that serves an active VDI): a Unix stream socket, given to
 * the plugin as ctl=PATH, carrying one-line commands and one-line answers.
 *
 *   pause [MS]  wait until the requests in flight end (at most MS ms, else
 *               the plugin's pause-timeout), hold new ones, flush and close
 *               the chain: "ok".  Requests in flight past the deadline, or
 *               a failed flush: "err <why>", and the old chain is served
 *               again as if no pause had been asked.  Already paused: "ok".
 *   resume      reopen the image (after a snapshot the VDI's name leads to
 *               a new chain) and let the held requests go: "ok".  A reopen
 *               that fails answers "err <why>" and the server stays paused
 *               (requests held, nothing open): serving the old chain after
 *               a snapshot would write into what is now the snapshot's
 *               base.  Another resume retries.  Not paused: "ok".
 *   status      "ok state=running|paused|broken inflight=N format=vhd|raw
 *               depth=N writable=0|1 size=BYTES[ error=<why>]"
 *   flush       flush the chain (data, bitmaps, then BAT; fdatasync): "ok"
 *               (paused: nothing is open, the pause flushed).
 *
 * Anything else: "err unknown command".  One connection may carry several
 * commands; the plugin serves one connection at a time.
 */
#ifndef CSM_NBD_CTL_H
#define CSM_NBD_CTL_H

#include <stddef.h>

#include "csm/error.h"

/* A command or answer line, newline included, is at most this long. */
#define NBD_CTL_LINE_MAX 1024

/*
 * Send cmd (without its newline) on a new connection to ctl_path and read
 * the answer line into answer (newline dropped; may be NULL), all within
 * timeout_ms from the call.  0 when the answer is "ok" or starts "ok ";
 * -1 with err SME_VDI_UNAVAILABLE otherwise: the server's "err <why>"
 * (detail "<cmd>: <why>"), a socket that is not there or refuses, no
 * answer before the deadline, or a connection closed without one.  A
 * command the server may still be carrying out when the deadline passes
 * (a pause) is then in an unknown state: ask "status".
 */
int nbd_ctl_command(const char *ctl_path, const char *cmd, int timeout_ms, char *answer,
		    size_t cap, struct sm_error *err);

#endif
