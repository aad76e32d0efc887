/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * csm-gc: garbage collection and coalesce for a file-based or LVM SR.
 * This file is the command: arguments, the store, daemonizing, the status
 * file; the work is lib/gc_run.c's (csm/gc_run.h), the choice of work
 * lib/gc_plan.c's.
 *
 *   csm-gc --sr UUID --dir PATH            run in the foreground, with progress
 *   csm-gc --sr UUID --dir PATH --background   (what the driver starts)
 *   csm-gc --sr UUID --nfs SERVER:PATH [--nfs-version 3|4] [--nfs-timeout MS]
 *          [--nfs-ports NFS,MOUNT]         an NFS SR through libnfs, no mount
 *   csm-gc --sr UUID --lvm DEV[,DEV...]    an LVM SR: VG_XenStorage-UUID on those PVs
 *   csm-gc --sr UUID --status              what it is doing, or why it waits
 *   csm-gc --sr UUID --abort               ask a running GC to stop; waits for it
 *   csm-gc --help | --version
 *
 * --status --output=json prints the status as one JSON object: numbers as
 * numbers (bytes, epoch seconds), the rest as strings.  --leaf-max takes
 * a size as people write it (20M, 1.5GiB: sm_parse_size).  The foreground
 * progress line is drawn only when stderr is a terminal.
 *
 * Work, repeated until there is none:
 *   - delete hidden images no visible VDI depends on (garbage);
 *   - non-leaf coalesce: a hidden image N whose hidden parent P has only N
 *     as child is copied into P, N's children are re-pointed at P, N goes;
 *   - leaf coalesce: a visible leaf L with little data whose hidden parent
 *     P has only L as child is copied into P, and P takes L's name.
 * The long copy of a non-leaf coalesce runs without the SR lock (nothing
 * writes a hidden image with one child); every change of names or
 * parents happens under it.  Each step is journaled and safe to resume.
 *
 * Only positive knowledge moves it: an image that cannot be read holds
 * back all work on its chain, and one whose parent cannot be read (it
 * could hang below any image) all deletion and coalescing in the SR;
 * --status and the exit status (3) say what was held back and why.  A
 * leaf active on any host (its record in .csm-active) is never merged.
 * An abort request (flag file, or csm-gc --abort, which sr_detach and
 * sr_delete use) stops the copy within a block (exit 4); the next run
 * resumes.  --status only looks (F_GETLK on gc_active, never taking it):
 * asking must not make a GC starting at that instant think one runs.
 *
 * xapi mode (drivers/gc_xapi.c, the drivers' CSM_XAPI rules; it logs in
 * itself): VDIs attached on any host by xapi's host_<ref> keys count as
 * active, and the VDI records follow each step as sr_scan would make them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csm/gc_run.h"
#include "csm/json.h"
#include "csm/lock.h"
#include "csm/log.h"
#include "csm/srfs_nfs.h"
#include "csm/util.h"
#include "csm/vstore_dir.h"
#include "csm/vstore_lvm.h"
#include "filebased.h"
#include "gc_xapi.h"
#include "csm_version.h"

#define MIB (1024.0 * 1024.0)
/* The code lock_acquire gives when gc_active is held: anything else is an error. */
#define GC_BUSY SME_SR_UNAVAILABLE

/* Where the SR is and how it was reached; the runner (lib/gc_run.c) does the work. */
struct gc {
	struct gc_run run;
	struct file_sr sr;             /* a directory SR (--dir, --nfs) */
	struct vstore_lvm lvm;         /* an LVM SR (--lvm) */
	const char *lvm_devs[LVM_MAX_DEVICES];
	size_t nlvm_devs;
	bool is_lvm;
	bool lvm_thin;                 /* --thin: a merged leaf stays deflated */
	bool verbose;
	bool tty;                      /* stderr is a terminal: draw the progress line */
	bool line_drawn;               /* a progress line is on the terminal, not ended */
	double wait_started;           /* when the current wait for the SR lock began (0: none) */
	double wait_said;              /* when the wait was last told (not on a terminal) */
	struct sm_lock active;
	double started, last_status;
	time_t started_at;             /* wall clock, for the status file */
	char error[200];               /* why the run failed ("" while it has not) */
	struct gc_xapi xapi;           /* xapi mode (docs/gc.md "Under xapi") */
};

static void status_path(const char *sr_uuid, const char *name, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s/%s", sm_lock_dir(), sr_uuid, name);
}

/* The status file: what a person (or --status) reads to see what we do. */
static void status_write(struct gc *gc, bool force)
{
	const struct gc_run *g = &gc->run;
	char path[PATH_MAX], text[2048];
	double t = gc_run_now(), rate = 0, percent = 0, eta = 0;
	uint64_t left = g->total > g->done ? g->total - g->done : 0;
	int n;

	if (!force && t - gc->last_status < 0.5)
		return;
	gc->last_status = t;
	if (g->done && t > g->copy_started)
		rate = (double)g->done / MIB / (t - g->copy_started);
	if (g->total)
		percent = 100.0 * (double)g->done / (double)g->total;
	/* ETA from the rate of this copy; 0 while there is no rate to go by. */
	if (rate > 0)
		eta = (double)left / MIB / rate;
	n = snprintf(text, sizeof(text),
		     "pid=%d\nstate=%s\ncurrent=%s\nwaiting_for=%s\nqueued_garbage=%u\n"
		     "queued_coalesce=%u\nqueued_leaf_coalesce=%u\nbytes_total=%" PRIu64 "\n"
		     "bytes_done=%" PRIu64 "\nbytes_left=%" PRIu64 "\nrate_mib_s=%.1f\n"
		     "percent=%.1f\neta_s=%.0f\n"
		     "deleted=%u\ncoalesced=%u\nleaf_coalesced=%u\nheld_back=%s\nstarted=%lld\n"
		     "updated=%lld\nerror=%s\nwaited_s=%.0f\nwait_limit_s=%u\n",
		     (int)getpid(), g->state, g->current, g->waiting, g->q_garbage,
		     g->q_coalesce, g->q_leaf, g->total, g->done, left, rate, percent, eta,
		     g->deleted, g->coalesced, g->leaf_coalesced, g->held_back,
		     (long long)gc->started_at, (long long)time(NULL), gc->error,
		     gc->wait_started ? t - gc->wait_started : 0.0,
		     g->lock_wait_s ? g->lock_wait_s : 600);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;   /* never past the buffer: a cut line beats none */
	status_path(g->sr_uuid, "gc.status", path);
	sm_write_file_atomic(path, text, (size_t)n);
}

static bool abort_requested(void *arg)
{
	struct gc *gc = arg;
	char path[PATH_MAX];

	status_path(gc->run.sr_uuid, "gc.abort", path);
	return access(path, F_OK) == 0;
}

/* End the progress line on the terminal, so a message starts on a line of its own. */
static void end_line(struct gc *gc)
{
	if (gc->line_drawn)
		fputc('\n', stderr);
	gc->line_drawn = false;
}

/*
 * While the GC waits for the SR lock, the foreground run keeps saying so:
 * on a terminal a line counting the seconds against the bound, elsewhere
 * a line every 10 s, so a wait never looks like a hang.
 */
static void show_wait(struct gc *gc, const struct gc_run *g)
{
	unsigned bound = g->lock_wait_s ? g->lock_wait_s : 600;
	double t = gc_run_now();

	if (!gc->wait_started)
		return;
	if (gc->tty) {
		fprintf(stderr, "\r  waiting %3.0f s of at most %u s for %s\033[K", t - gc->wait_started,
			bound, g->waiting);
		gc->line_drawn = true;
	} else if (t - gc->wait_said >= 10) {
		fprintf(stderr, "csm-gc: still waiting (%.0f s of at most %u s) for %s\n",
			t - gc->wait_started, bound, g->waiting);
		gc->wait_said = t;
	}
}

/* The runner's status hook: the status file, and progress on the terminal. */
static void on_status(void *arg, const struct gc_run *g, bool force)
{
	struct gc *gc = arg;
	double t = gc_run_now(), rate = 0;

	/* When the current wait for the SR lock began: for the status file and the terminal. */
	if (strcmp(g->state, "waiting") != 0)
		gc->wait_started = 0;
	else if (!gc->wait_started)
		gc->wait_started = gc->wait_said = t;
	status_write(gc, force);
	if (!gc->verbose || force)
		return;
	show_wait(gc, g);
	if (!gc->tty || !g->total || strcmp(g->state, "copying") != 0)
		return;
	if (g->done && t > g->copy_started)
		rate = (double)g->done / MIB / (t - g->copy_started);
	fprintf(stderr, "\r  %6.1f%%  %8.1f MiB left", 100.0 * (double)g->done / (double)g->total,
		(double)(g->total - g->done) / MIB);
	if (rate > 0)
		fprintf(stderr, "  %6.1f MiB/s  ETA %3.0f s", rate,
			(double)(g->total - g->done) / MIB / rate);
	fprintf(stderr, "\033[K");
	gc->line_drawn = true;
}

static void on_say(void *arg, const char *msg)
{
	struct gc *gc = arg;

	if (!gc->verbose)
		return;
	end_line(gc);
	fprintf(stderr, "csm-gc: %s\n", msg);
}

/* xapi mode: where the pool has VDIs attached (host_<ref> keys), beside the store's records. */
static int on_active_more(void *arg, struct gc_active_set *a, const char *local_host,
			  struct sm_error *err)
{
	struct gc *gc = arg;

	return gc->xapi.on ? gcx_active_more(&gc->xapi, a, local_host, err) : 0;
}

/* xapi mode: the VDI records of what a step changed, as sr_scan would make them. */
static int on_changed(void *arg, const char *const *uuids, size_t n, struct sm_error *err)
{
	struct gc *gc = arg;

	return gc->xapi.on ? gcx_changed(&gc->xapi, uuids, n, err) : 0;
}

/*
 * The mode, before any work: an endpoint that is configured but does not
 * answer fails the run (exit 1), never "nobody is attached".
 */
static int open_xapi(struct gc *g, struct sm_error *err)
{
	struct gc_run *r = &g->run;

	g->sr.sr_uuid = r->sr_uuid;
	if (g->is_lvm)
		g->sr.other_store = r->vs;
	if (gcx_open(&g->xapi, &g->sr, r->sr_uuid, err) < 0) {
		r->state = "failed";
		snprintf(g->error, sizeof(g->error), "%.190s", err->detail);
		status_write(g, true);
		fprintf(stderr, "csm-gc: %s\n", err->detail);
		sm_log(LOG_ERR, "gc %s: %s", r->sr_uuid, err->detail);
		return -1;
	}
	if (g->xapi.on && g->verbose)
		fprintf(stderr, "csm-gc: xapi mode: endpoint %s, SR %s, this host %s\n",
			g->xapi.conn.socket_path, g->xapi.sr_ref, g->xapi.host_ref);
	return 0;
}

static void daemonize(void)
{
	int fd;

	if (fork() != 0)
		_exit(0);
	setsid();
	if (fork() != 0)
		_exit(0);
	if (chdir("/") < 0)
		_exit(1);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* key=value lines as one JSON object: numbers as numbers, the rest as strings. */
/* running=yes|no|unknown for machines: true, false, or null (cannot tell). */
static void json_running(struct json_writer *w, const char *v)
{
	if (!strcmp(v, "yes") || !strcmp(v, "no"))
		json_bool(w, v[0] == 'y');
	else
		json_null(w);
}

static int print_status_json(const char *text)
{
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer w;
	char *copy = strdup(text), *save = NULL;
	int rc;

	if (!copy)
		return -1;
	json_init(&w, &b, true);
	json_begin_object(&w);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = '\0';
		json_key(&w, line);
		if (!strcmp(line, "running"))
			json_running(&w, eq + 1);
		else
			json_number_or_string(&w, eq + 1);
	}
	json_end_object(&w);
	rc = json_finish(&w);
	if (rc == 0)
		fputs(b.data, stdout);
	buf_free(&b);
	free(copy);
	return rc;
}

/* ISO 8601: local time with its offset for people, UTC for machines. */
static void iso_time(uint64_t epoch, bool utc, char out[40])
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (utc)
		strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	else
		strftime(out, 40, "%Y-%m-%dT%H:%M:%S%z", localtime_r(&t, &tm));
}

/*
 * The status for people: times (started=, updated=: epoch seconds in the
 * file) as local ISO 8601, byte counts in GiB; --output=json keeps bytes
 * and epochs and adds the times in UTC.
 */
static void print_status_human(const char *text)
{
	const char *line = text;

	while (*line) {
		size_t len = strcspn(line, "\n");
		const char *eq = memchr(line, '=', len);
		uint64_t v;
		char num[32], when[40];
		size_t klen = eq ? (size_t)(eq - line) : 0;
		size_t vlen = eq ? len - klen - 1 : 0;
		bool is_time = (klen == 7 && (!strncmp(line, "updated", 7) || !strncmp(line, "started", 7)));

		if (eq && vlen < sizeof(num)) {
			memcpy(num, eq + 1, vlen);
			num[vlen] = '\0';
		} else {
			num[0] = '\0';
		}
		if (num[0] && sm_parse_u64(num, &v) == 0 && is_time && v) {
			iso_time(v, false, when);
			printf("%.*s=%s\n", (int)klen, line, when);
		} else if (num[0] && sm_parse_u64(num, &v) == 0 && klen > 6 && !strncmp(line, "bytes_", 6)) {
			printf("%.*s=%.2f GiB\n", (int)klen, line, (double)v / (1024.0 * 1024 * 1024));
		} else {
			printf("%.*s\n", (int)len, line);
		}
		line += len + (line[len] == '\n');
	}
}

/* The status file as key=value pairs, to judge and amend before printing. */
#define STATUS_MAX_KEYS 48
struct status_kv {
	size_t n;
	char key[STATUS_MAX_KEYS][32];
	char val[STATUS_MAX_KEYS][400];
};

static const char *kv_get(const struct status_kv *kv, const char *key)
{
	for (size_t i = 0; i < kv->n; i++)
		if (strcmp(kv->key[i], key) == 0)
			return kv->val[i];
	return "";
}

static void kv_set(struct status_kv *kv, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void kv_set(struct status_kv *kv, const char *key, const char *fmt, ...)
{
	size_t i;
	va_list ap;

	for (i = 0; i < kv->n && strcmp(kv->key[i], key) != 0; i++)
		;
	if (i == kv->n) {
		if (kv->n == STATUS_MAX_KEYS)
			return;
		snprintf(kv->key[kv->n++], sizeof(kv->key[0]), "%s", key);
	}
	va_start(ap, fmt);
	vsnprintf(kv->val[i], sizeof(kv->val[0]), fmt, ap);
	va_end(ap);
}

static void kv_parse(struct status_kv *kv, const char *text)
{
	while (*text) {
		size_t len = strcspn(text, "\n");
		const char *eq = memchr(text, '=', len);

		if (eq && (size_t)(eq - text) < sizeof(kv->key[0])) {
			char key[32];

			snprintf(key, sizeof(key), "%.*s", (int)(eq - text), text);
			kv_set(kv, key, "%.*s", (int)(len - (size_t)(eq - text) - 1), eq + 1);
		}
		text += len + (text[len] == '\n');
	}
}

/* A state a run writes as it ends: anything else, with no GC holding the lock, is a dead run. */
static bool state_is_final(const char *state)
{
	return !strcmp(state, "idle") || !strcmp(state, "failed") || !strcmp(state, "aborted") ||
	       !strcmp(state, "never-run") || !strcmp(state, "dead");
}

/*
 * One look at the GC: is gc_active held (never taking it: a GC starting
 * now must not find it busy), and the status file.  Looked at twice
 * around the read, so a run that starts or ends meanwhile is not taken
 * for a dead one.
 */
static int status_look(const char *sr_uuid, struct status_kv *kv)
{
	char path[PATH_MAX], comm[32], *text = NULL, *again = NULL;
	int pid = 0, held = 0, held2 = 0;

	status_path(sr_uuid, "gc.status", path);
	for (int attempt = 0; attempt < 5; attempt++) {
		free(text);
		text = again = NULL;
		held = gc_lock_holder(sr_uuid, "gc_active", &pid, comm, sizeof(comm));
		if (sm_read_file(path, 4096, &text) < 0)
			text = NULL;
		held2 = gc_lock_holder(sr_uuid, "gc_active", &pid, comm, sizeof(comm));
		if (sm_read_file(path, 4096, &again) < 0)
			again = NULL;
		bool same = (!text && !again) || (text && again && !strcmp(text, again));

		free(again);
		if (held == held2 && same)
			break;
	}
	memset(kv, 0, sizeof(*kv));
	kv_set(kv, "running", "%s", held2 == 1 ? "yes" : held2 == 0 ? "no" : "unknown");
	if (held2 == 1) {
		kv_set(kv, "holder_pid", "%d", pid);
		kv_set(kv, "holder_name", "%s", comm);
	} else if (held2 < 0) {
		kv_set(kv, "lock_error", "cannot probe %s/%s/gc_active: %s", sm_lock_dir(), sr_uuid,
		       held2 == -EINVAL ? "not a regular file" : strerror(-held2));
	}
	if (text)
		kv_parse(kv, text);
	else
		kv_set(kv, "state", "never-run");
	free(text);
	return held2;
}

/* Derived fields: elapsed time, ISO times, and a dead run named as dead. */
static void status_judge(struct status_kv *kv, int held, bool json)
{
	uint64_t started = 0, updated = 0;
	char when[40];
	bool running = held == 1;

	sm_parse_u64(kv_get(kv, "started"), &started);
	sm_parse_u64(kv_get(kv, "updated"), &updated);
	if (started)
		kv_set(kv, "elapsed_s", "%lld", (long long)((running ? (uint64_t)time(NULL) : updated) -
							   started));
	if (held == 0 && !state_is_final(kv_get(kv, "state"))) {
		iso_time(updated, json, when);
		kv_set(kv, "last_state", "%s", kv_get(kv, "state"));
		kv_set(kv, "state", "dead");
		kv_set(kv, "error", "died at %s (pid %s, while %s); resumes on the next run", when,
		       kv_get(kv, "pid"), kv_get(kv, "last_state"));
	}
	if (json) {
		if (started) {
			iso_time(started, true, when);
			kv_set(kv, "started_iso", "%s", when);
		}
		if (updated) {
			iso_time(updated, true, when);
			kv_set(kv, "updated_iso", "%s", when);
		}
	}
}

/*
 * The exit status of --status: 0 a GC runs or the last one finished
 * (or none ran), 3 the last run held work back, 4 the last run failed,
 * was aborted or died (the next run resumes), 1 the status cannot be told.
 */
static int status_exit(const struct status_kv *kv, int held)
{
	const char *state = kv_get(kv, "state");

	if (held < 0)
		return 1;
	if (held == 1)
		return 0;
	if (!strcmp(state, "failed") || !strcmp(state, "aborted") || !strcmp(state, "dead"))
		return 4;
	if (kv_get(kv, "held_back")[0])
		return 3;
	return 0;
}

/* What the GC does or did, as key=value lines or (json) one object. */
static int show_status(const char *sr_uuid, bool json)
{
	static struct status_kv kv;
	struct sm_buf out = SM_BUF_INIT;
	int held = status_look(sr_uuid, &kv), rc = 0;

	status_judge(&kv, held, json);
	for (size_t i = 0; i < kv.n; i++)
		buf_printf(&out, "%s=%s\n", kv.key[i], kv.val[i]);
	if (out.oom)
		rc = -1;
	else if (json)
		rc = print_status_json(out.data);
	else
		print_status_human(out.data);
	buf_free(&out);
	if (rc < 0) {
		fprintf(stderr, "csm-gc: cannot write the status\n");
		return 1;
	}
	return status_exit(&kv, held);
}

static int request_abort(const char *sr_uuid, int timeout_s)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct sm_lock wait_lock = SM_LOCK_INIT;
	struct sm_error e = { 0 };
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s/%s", sm_lock_dir(), sr_uuid);
	sm_mkdir_p(dir, 0755);
	status_path(sr_uuid, "gc.abort", path);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	/* The GC holds gc_active until it has stopped. */
	rc = lock_acquire(&wait_lock, sr_uuid, "gc_active", timeout_s, SME_SR_UNAVAILABLE, &e);
	lock_release(&wait_lock);
	unlink(path);
	if (rc < 0) {
		fprintf(stderr, "csm-gc: GC did not stop: %s\n", e.detail);
		return 1;
	}
	return 0;
}

/*
 * The lock we take is named by --sr: working on another SR's directory
 * under it would be working unprotected.  The directory must say it is
 * this SR: its marker (sr_create writes it), or else its own name (NFS
 * and EXT SRs live in a directory named by the SR's uuid).
 */
static int check_dir_identity(struct gc *g, struct sm_error *err)
{
	const char *sr = g->run.sr_uuid;
	char *text = NULL, found[37] = "";
	const char *base = strrchr(g->sr.fs.root, '/');
	int rc = srfs_read_file(&g->sr.fs, FSR_MARKER, 256, &text);

	if (rc == 0) {
		if (strncmp(text, "uuid=", 5) == 0)
			snprintf(found, sizeof(found), "%.36s", text + 5);
		free(text);
		if (strcmp(found, sr) == 0)
			return 0;
		return sm_fail(err, SME_SR_UNAVAILABLE, "%s belongs to SR %s, not %s: refusing to touch it",
			       g->sr.fs.root, found[0] ? found : "(unreadable marker)", sr);
	}
	if (rc != -ENOENT)
		return sm_fail_errno(err, SME_SR_UNAVAILABLE, -rc, "cannot read %s/%s to check the SR",
				     g->sr.fs.root, FSR_MARKER);
	if (base && strcmp(base + 1, sr) == 0)
		return 0;
	return sm_fail(err, SME_SR_UNAVAILABLE, "%s has no %s and is not named %s: not SR %s, "
		       "refusing to touch it", g->sr.fs.root, FSR_MARKER, sr, sr);
}

/* Is dev one of the comma-joined list? */
static bool in_list(const char *list, const char *dev)
{
	size_t len = strlen(dev);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, dev, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	return false;
}

/*
 * The same for LVM: the devices must carry the VG VG_XenStorage-<sr>, and
 * every device given must be one of its PVs (a device of another VG would
 * be a sign the caller mixed up two SRs).
 */
static int check_lvm_identity(struct gc *g, struct sm_error *err)
{
	struct vstore_lvm_probe found[LVM_MAX_DEVICES];
	size_t n = 0;
	size_t ours = SIZE_MAX;

	if (vstore_lvm_probe(g->lvm_devs, g->nlvm_devs, found, LVM_MAX_DEVICES, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(found[i].sr_uuid, g->run.sr_uuid) == 0)
			ours = i;
		else
			return sm_fail(err, SME_SR_UNAVAILABLE, "%s belongs to SR %s, not %s: refusing "
				       "to touch it", found[i].devices, found[i].sr_uuid,
				       g->run.sr_uuid);
	}
	if (ours == SIZE_MAX)
		return sm_fail(err, SME_SR_UNAVAILABLE, "no volume group %s%s on the devices given: "
			       "not SR %s, refusing to touch it", LVHD_VG_PREFIX, g->run.sr_uuid,
			       g->run.sr_uuid);
	for (size_t d = 0; d < g->nlvm_devs; d++) {
		if (!in_list(found[ours].devices, g->lvm_devs[d]))
			return sm_fail(err, SME_SR_UNAVAILABLE, "%s is not a PV of %s%s: refusing to "
				       "touch SR %s", g->lvm_devs[d], LVHD_VG_PREFIX, g->run.sr_uuid,
				       g->run.sr_uuid);
	}
	return 0;
}

/* --lvm DEV[,DEV...]: split in place (the strings are kept while the store is used). */
static int parse_devices(struct gc *g, char *list)
{
	char *save = NULL;

	for (char *d = strtok_r(list, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
		if (d[0] != '/' || strlen(d) >= LVM_DEV_MAX || g->nlvm_devs == LVM_MAX_DEVICES)
			return -1;
		g->lvm_devs[g->nlvm_devs++] = d;
	}
	return g->nlvm_devs ? 0 : -1;
}

/* The SR's directory: a local path, or "server:/path" over libnfs. */
static int open_dir_sr(struct gc *g, const char *dir, const char *nfs,
		       struct srfs_nfs_opts *o, struct sm_error *err)
{
	static char server[256], path[PATH_MAX];
	const char *colon;

	if (dir) {
		snprintf(g->sr.path, sizeof(g->sr.path), "%s", dir);
		return srfs_open_posix(&g->sr.fs, g->sr.path, err);
	}
	colon = strchr(nfs, ':');
	if (!colon || colon == nfs || colon[1] != '/' || (size_t)(colon - nfs) >= sizeof(server))
		return sm_fail(err, SME_CONFIG_SERVER_PATH_BAD, "--nfs wants server:/path, not %s", nfs);
	memcpy(server, nfs, (size_t)(colon - nfs));
	server[colon - nfs] = '\0';
	snprintf(path, sizeof(path), "%s", colon + 1);
	o->server = server;
	o->export_path = path;
	return srfs_open_nfs(&g->sr.fs, o, err);
}

/*
 * Open the store the arguments name and check it is this SR: 0, -1 (could
 * not open: exit 1), -2 (not this SR: exit 2).
 */
static int open_store(struct gc *g, const char *dir, const char *nfs,
		      struct srfs_nfs_opts *o, struct sm_error *err)
{
	struct vstore *vs;

	if (g->is_lvm) {
		vstore_lvm_init(&g->lvm, g->run.sr_uuid, g->lvm_devs, g->nlvm_devs, true, g->lvm_thin);
		g->run.vs = &g->lvm.vs;
		if (check_lvm_identity(g, err) < 0)
			return -2;
		vs = g->run.vs;
		return vs->ops->check(vs, err) < 0 ? -1 : 0;
	}
	g->sr.sr_uuid = g->run.sr_uuid;
	vstore_dir_init(&g->sr.store, &g->sr.fs, g->sr.path, g->run.sr_uuid);
	g->run.vs = &g->sr.store.vs;
	if (open_dir_sr(g, dir, nfs, o, err) < 0)
		return -1;
	if (check_dir_identity(g, err) < 0) {
		srfs_close(&g->sr.fs);
		return -2;
	}
	return 0;
}

static void close_store(struct gc *g)
{
	if (g->is_lvm)
		g->run.vs->ops->close(g->run.vs);
	else
		srfs_close(&g->sr.fs);
}

static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: csm-gc --sr UUID --dir PATH [--background] [--quiet] [--leaf-max SIZE]\n"
		"       csm-gc --sr UUID --nfs SERVER:/PATH [--nfs-version 3|4] [--nfs-timeout MS]\n"
		"              [--nfs-ports NFS,MOUNT] [...]\n"
		"       csm-gc --sr UUID --lvm DEVICE[,DEVICE...] [--thin] [...]\n"
		"              an LVM SR: the VG VG_XenStorage-UUID on those PVs (master only);\n"
		"              --thin for an SR with allocation=thin (merged leaves stay deflated)\n"
		"       csm-gc --sr UUID --status [--output=json]\n"
		"       csm-gc --sr UUID --abort\n"
		"       csm-gc --help | --version\n"
		"exit status: 0 done, 1 failed, 2 refused, 3 work held back (see --status),\n"
		"             4 aborted (the next run resumes)\n"
		"--status:    0 running or last run done, 1 cannot tell, 3 work held back,\n"
		"             4 last run failed, aborted or died\n");
}

static void usage(void)
{
	print_usage(stderr);
	exit(2);
}

static int help(void)
{
	print_usage(stdout);
	printf("\n"
	       "  --dir PATH       the SR's directory (FileSR, EXTSR)\n"
	       "  --nfs S:/PATH    an NFS SR's directory, through libnfs (no mount)\n"
	       "  --lvm DEVS       an LVM SR's physical volumes\n"
	       "  --background     detach, log to syslog (what the drivers start)\n"
	       "  --quiet          no messages on stderr\n"
	       "  --leaf-max SIZE  leaf-coalesce leaves holding at most SIZE of data\n"
	       "                   (default 20M; 4096, 512M, 1.5GiB: binary units)\n"
	       "  --nfs-timeout MS milliseconds per NFS call (100-600000)\n"
	       "  --status         what the GC does or did; --output=json for machines\n"
	       "  --abort          ask a running GC to stop, and wait for it\n"
	       "See also csm-gc(8).\n");
	return 0;
}

/* Run with gc_active held; the exit status. */
static int run(struct gc *g)
{
	struct gc_run *r = &g->run;
	struct sm_error err = { 0 };
	int rc = gc_run_loop(r, &err);

	end_line(g);
	r->state = rc < 0 ? (abort_requested(g) ? "aborted" : "failed") : "idle";
	snprintf(r->current, sizeof(r->current), "%.150s", rc < 0 ? err.detail : "");
	snprintf(g->error, sizeof(g->error), "%.190s", rc < 0 ? err.detail : "");
	r->done = r->total = 0;
	status_write(g, true);
	sm_log(LOG_INFO, "gc %s: %s: deleted %u, coalesced %u, leaf-coalesced %u%s%s", r->sr_uuid,
	       r->state, r->deleted, r->coalesced, r->leaf_coalesced, rc < 0 ? ": " : "",
	       rc < 0 ? err.detail : "");
	if (g->verbose)
		fprintf(stderr, "csm-gc: %s: deleted %u, coalesced %u, leaf-coalesced %u%s%s\n",
			r->state, r->deleted, r->coalesced, r->leaf_coalesced, rc < 0 ? ": " : "",
			rc < 0 ? err.detail : "");
	if (rc < 0)
		return abort_requested(g) ? 4 : 1;
	if (r->held_back[0]) {
		if (g->verbose)
			fprintf(stderr, "csm-gc: work held back: %s\n", r->held_back);
		return 3;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sr", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "background", no_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "status", no_argument, NULL, 'S' },
		{ "abort", no_argument, NULL, 'A' },
		{ "leaf-max", required_argument, NULL, 'l' },
		{ "nfs", required_argument, NULL, 'n' },
		{ "nfs-version", required_argument, NULL, 'V' },
		{ "nfs-timeout", required_argument, NULL, 'T' },
		{ "nfs-ports", required_argument, NULL, 'P' },
		{ "lvm", required_argument, NULL, 'L' },
		{ "thin", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	static struct gc g;
	struct sm_error err = { 0 };
	const char *sr_uuid = NULL, *dir = NULL, *nfs = NULL;
	struct srfs_nfs_opts nfs_opts = { .version = 3, .timeout_ms = 10000 };
	bool background = false, status = false, abort_gc = false, json = false;
	const char *why = NULL;
	uint64_t n, leaf_max = 20ull << 20;
	int c, rc, nstores;

	g.verbose = true;
	g.tty = isatty(STDERR_FILENO) == 1;
	g.active = (struct sm_lock)SM_LOCK_INIT;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sr_uuid = optarg; break;
		case 'd': dir = optarg; break;
		case 'b': background = true; g.verbose = false; break;
		case 'q': g.verbose = false; break;
		case 'S': status = true; break;
		case 'A': abort_gc = true; break;
		case 'l':
			if (sm_parse_size(optarg, &leaf_max, &why) < 0) {
				fprintf(stderr, "csm-gc: --leaf-max: bad size '%s': %s\n", optarg, why);
				return 2;
			}
			break;
		case 'h': return help();
		case 'v':
			printf("csm-gc %s\n", CSM_VERSION);
			return 0;
		case 'o':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "human") != 0) {
				fprintf(stderr, "csm-gc: --output wants json or human, not '%s'\n", optarg);
				return 2;
			}
			json = optarg[0] == 'j';
			break;
		case 'n': nfs = optarg; break;
		case 'V':
			if (sm_parse_u64(optarg, &n) < 0 || (n != 3 && n != 4))
				usage();
			nfs_opts.version = (int)n;
			break;
		case 'T':
			if (sm_parse_u64(optarg, &n) < 0 || n < 100 || n > 600000)
				usage();
			nfs_opts.timeout_ms = (int)n;
			break;
		case 'P':	/* the driver's port= and mountport= options; 0: the usual */
			if (sscanf(optarg, "%d,%d", &nfs_opts.nfs_port, &nfs_opts.mount_port) != 2)
				usage();
			break;
		case 'L':
			if (g.is_lvm || parse_devices(&g, optarg) < 0)
				usage();
			g.is_lvm = true;
			break;
		case 't': g.lvm_thin = true; break;
		default: usage();
		}
	}
	if (!sr_uuid || !sm_uuid_valid(sr_uuid)) {
		fprintf(stderr, "csm-gc: --sr needs a canonical SR uuid\n");
		return 2;
	}
	if (status)
		return show_status(sr_uuid, json);
	if (abort_gc)
		return request_abort(sr_uuid, 60);
	nstores = !!dir + !!nfs + g.is_lvm;
	if (nstores != 1 || (g.lvm_thin && !g.is_lvm) || (dir && (dir[0] != '/' || strlen(dir) >= sizeof(g.sr.path))))
		usage();
	sm_log_open();
	if (background)
		daemonize();
	gc_run_init(&g.run, NULL, sr_uuid);
	g.run.leaf_max = leaf_max;
	g.run.hooks = (struct gc_run_hooks){ .arg = &g, .aborted = abort_requested,
					     .status = on_status, .say = on_say,
					     .active_more = on_active_more, .changed = on_changed };
	g.started = gc_run_now();
	g.started_at = time(NULL);
	rc = open_store(&g, dir, nfs, &nfs_opts, &err);
	if (rc < 0) {
		fprintf(stderr, "csm-gc: %s\n", err.detail);
		sm_log(LOG_ERR, "gc %s: %s", sr_uuid, err.detail);
		return rc == -2 ? 2 : 1;
	}
	/* One GC per SR; a second one has nothing to add. */
	if (lock_acquire(&g.active, sr_uuid, "gc_active", 0, GC_BUSY, &err) < 0) {
		bool busy = err.code == GC_BUSY;

		char comm[32];
		int pid = 0;

		if (busy && gc_lock_holder(sr_uuid, "gc_active", &pid, comm, sizeof(comm)) == 1)
			snprintf(err.detail, sizeof(err.detail), "pid %d (%s)", pid, comm);
		if (g.verbose || !busy)
			fprintf(stderr, "csm-gc: %s (%s)\n",
				busy ? "already running" : "cannot take the GC lock", err.detail);
		if (!busy)
			sm_log(LOG_ERR, "gc %s: cannot take the GC lock: %s", sr_uuid, err.detail);
		close_store(&g);
		return busy ? 0 : 1;
	}
	rc = open_xapi(&g, &err) < 0 ? 1 : run(&g);
	gcx_close(&g.xapi);
	lock_release(&g.active);
	close_store(&g);
	return rc;
}
