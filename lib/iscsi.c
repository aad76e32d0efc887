/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The iSCSI control path (include/csm/iscsi.h) over libiscsi's async API.
 *
 * libiscsi's sync calls wait as long as the target likes, so every step
 * here is queued async and serviced by a poll loop that gives up at the
 * call's deadline; a target that dies or freezes mid-call is then a
 * fault, never a hung driver.  Automatic reconnect is off: a lost
 * connection fails the call at once instead of being retried behind our
 * back.
 *
 * Callbacks write only into state owned by the session (never into a
 * caller's stack frame): a call given up at its deadline leaves its task
 * queued in libiscsi, whose callback may still run later (from a later
 * service or from the context's destruction).
 *
 * Codes: a portal that cannot be reached or stops answering is 141
 * ISCSITarget, a name that does not resolve 140 DNSError, a refused
 * login 68 ISCSILogin (saying which CHAP side failed), an unknown IQN 83
 * ISCSIDiscovery, a SCSI command the target answers with an error 67
 * ISCSIDevice.  Research notes: block-family.md §C.3, §C.5.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "csm/iscsi.h"
#include "csm/util.h"

/* Python's _testHost waits 5 s for the TCP connect. */
#define TCP_CHECK_MAX_MS 5000
/* Logout is a courtesy: the session ends with the socket anyway. */
#define LOGOUT_MAX_MS 2000
/* One READ(16) at most; libiscsi splits it into data-in PDUs. */
#define READ_CHUNK (1024 * 1024)
#define UA_RETRIES 10

/* One outstanding libiscsi call. */
struct op {
	int done;
	int status;
	struct scsi_task *task;     /* SCSI commands: the finished task */
	int abandoned;              /* given up at the deadline: free late replies */
	/* discovery results, copied in the callback (libiscsi frees its list) */
	struct sm_iscsi_discovered *found;
	size_t nfound;
	int oom;
};

struct sm_iscsi_session {
	struct iscsi_context *ctx;
	int timeout_ms;
	char portal[SM_ISCSI_HOST_MAX + 16];
	char target_iqn[SM_ISCSI_IQN_MAX];
	struct op conn;             /* connect/login: libiscsi may call it again at teardown */
	struct op cmd;              /* the SCSI command or logout in flight */
	int broken;                 /* a call was given up: the context is unusable */
	int ready_lun;              /* UNIT ATTENTION cleared and capacity known for it */
	uint32_t ready_block;
	uint64_t ready_size;
};

/* ---------------------------------------------------------------- */
/* SIGPIPE: libiscsi writes to its socket with plain writev, and a target
 * that has gone away must be a fault, not a dead driver.  The signal is
 * blocked for the call and a pending one is swallowed before it ends. */

struct pipe_guard {
	sigset_t old;
	int was_pending;
};

static void pipe_guard_enter(struct pipe_guard *g)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
}

static void pipe_guard_leave(struct pipe_guard *g)
{
	sigset_t set, pending;
	struct timespec zero = { 0, 0 };

	if (!g->was_pending) {
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE)) {
			sigemptyset(&set);
			sigaddset(&set, SIGPIPE);
			while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
				;
		}
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---------------------------------------------------------------- */
/* The TCP check (Python's _testHost) */

static void fmt_duration(char *out, size_t outsz, int ms)
{
	if (ms % 1000 == 0)
		snprintf(out, outsz, "%d s", ms / 1000);
	else
		snprintf(out, outsz, "%d ms", ms);
}

static const char *connect_reason(int e)
{
	switch (e) {
	case ECONNREFUSED: return "connection refused";
	case EHOSTUNREACH: return "host unreachable";
	case ENETUNREACH: return "network unreachable";
	default: return strerror(e);
	}
}

/* 1 connected, 0 no answer before the deadline, -1 failed (*e = errno). */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *e)
{
	struct pollfd p;
	int fd, r, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		*e = errno;
		return -1;
	}
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (r == 0)
		goto connected;
	if (errno != EINPROGRESS) {
		*e = errno;
		close(fd);
		return -1;
	}
	for (;;) {
		int64_t left = deadline - sm_monotonic_ms();

		if (left <= 0) {
			close(fd);
			return 0;
		}
		p.fd = fd;
		p.events = POLLOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*e = errno;
			close(fd);
			return -1;
		}
		if (r == 0) {
			close(fd);
			return 0;
		}
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		*e = soerr;
		close(fd);
		return -1;
	}
connected:
	close(fd);
	return 1;
}

/* host without the brackets an IPv6 literal may come in */
static void bare_host(const char *host, char *out, size_t outsz)
{
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		snprintf(out, outsz, "%.*s", (int)(n - 2), host + 1);
	else
		snprintf(out, outsz, "%s", host);
}

int sm_iscsi_tcp_check(const char *host, int port, int timeout_ms, struct sm_error *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char h[SM_ISCSI_HOST_MAX], svc[16], dur[32];
	int64_t deadline;
	int r, e = 0, timed_out = 0;

	if (!host || !host[0])
		return sm_fail(err, SME_CONFIG_TARGET_MISSING, "no target address");
	if (port < 1 || port > 65535)
		return sm_fail(err, SME_ISCSI_PORT, "port %d", port);
	if (timeout_ms <= 0)
		timeout_ms = TCP_CHECK_MAX_MS;
	bare_host(host, h, sizeof(h));
	snprintf(svc, sizeof(svc), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	r = getaddrinfo(h, svc, &hints, &res);
	if (r != 0)
		return sm_fail(err, SME_DNS_ERROR, "%s: %s", h,
			       r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	deadline = sm_monotonic_ms() + timeout_ms;
	for (ai = res; ai; ai = ai->ai_next) {
		r = connect_one(ai, deadline, &e);
		if (r == 1) {
			freeaddrinfo(res);
			return 0;
		}
		if (r == 0) {
			timed_out = 1;
			break;
		}
	}
	freeaddrinfo(res);
	fmt_duration(dur, sizeof(dur), timeout_ms);
	if (timed_out || e == ETIMEDOUT)
		return sm_fail(err, SME_ISCSI_TARGET, "%s port %d: no answer within %s", h, port, dur);
	return sm_fail(err, SME_ISCSI_TARGET, "%s port %d: %s", h, port, connect_reason(e));
}

/* ---------------------------------------------------------------- */
/* The event loop */

static void op_reset(struct op *op)
{
	op->done = 0;
	op->status = 0;
	op->task = NULL;
}

static void cb_plain(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct op *op = priv;

	(void)ctx;
	(void)data;
	op->done = 1;
	op->status = status;
}

static void cb_task(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct op *op = priv;

	(void)ctx;
	if (op->abandoned) {
		if (data)
			scsi_free_scsi_task(data);
		return;
	}
	op->done = 1;
	op->status = status;
	op->task = data;
}

/* libiscsi's last error, or what an empty one means: the socket went away. */
static const char *ctx_error(struct iscsi_context *ctx)
{
	const char *e = iscsi_get_error(ctx);

	return e && e[0] ? e : "the connection to the target was lost";
}

/*
 * Service ctx until *done or the deadline.  0 done; -1 with 141: no
 * answer in time, or the connection failed.
 */
static int wait_done(struct iscsi_context *ctx, const int *done, int64_t deadline,
		     int timeout_ms, const char *portal, const char *what, struct sm_error *err)
{
	char dur[32];

	while (!*done) {
		int64_t left = deadline - sm_monotonic_ms();
		struct pollfd p;
		int ev, r;

		if (left <= 0) {
			fmt_duration(dur, sizeof(dur), timeout_ms);
			return sm_fail(err, SME_ISCSI_TARGET, "%s on %s: no answer from the target within %s",
				       what, portal, dur);
		}
		ev = iscsi_which_events(ctx);
		p.fd = iscsi_get_fd(ctx);
		p.events = (short)ev;
		p.revents = 0;
		if (ev == 0 || p.fd < 0) {
			/* libiscsi between sockets: it asks for >= 100 ms of patience */
			poll(NULL, 0, left < 100 ? (int)left : 100);
			r = 0;
		} else {
			r = poll(&p, 1, left < 1000 ? (int)left : 1000);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return sm_fail_errno(err, SME_ISCSI_TARGET, errno, "%s on %s: poll", what, portal);
		}
		if (iscsi_service(ctx, r > 0 ? p.revents : 0) < 0 && !*done)
			return sm_fail(err, SME_ISCSI_TARGET, "%s on %s: connection to the target failed: %s",
				       what, portal, ctx_error(ctx));
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Context, login and the faults of a refused login */

static int check_target(const struct sm_iscsi_target *t, int need_iqn, struct sm_error *err)
{
	if (!t->host[0])
		return sm_fail(err, SME_CONFIG_TARGET_MISSING, "no target address");
	if (t->port < 1 || t->port > 65535)
		return sm_fail(err, SME_ISCSI_PORT, "port %d", t->port);
	if (!t->initiator_iqn || !t->initiator_iqn[0])
		return sm_fail(err, SME_CONFIG_ISCSI_IQN_MISSING, "no initiator IQN");
	if (need_iqn && (!t->target_iqn || !t->target_iqn[0]))
		return sm_fail(err, SME_CONFIG_TARGET_IQN_MISSING, "no target IQN");
	if (need_iqn && strlen(t->target_iqn) >= SM_ISCSI_IQN_MAX)
		return sm_fail(err, SME_CONFIG_TARGET_IQN_MISSING, "target IQN longer than %d bytes",
			       SM_ISCSI_IQN_MAX - 1);
	return 0;
}

static int target_timeout(const struct sm_iscsi_target *t)
{
	return t->timeout_ms > 0 ? t->timeout_ms : SM_ISCSI_DEFAULT_TIMEOUT_MS;
}

static void portal_of(const struct sm_iscsi_target *t, char *out, size_t outsz)
{
	char h[SM_ISCSI_HOST_MAX];

	bare_host(t->host, h, sizeof(h));
	if (strchr(h, ':'))
		snprintf(out, outsz, "[%s]:%d", h, t->port);
	else
		snprintf(out, outsz, "%s:%d", h, t->port);
}

static int has(const char *s)
{
	return s && s[0];
}

/* libiscsi's error text with any secret blotted out (it quotes none that
 * we know of; this keeps it so whatever a later version says). */
static void safe_error(struct iscsi_context *ctx, const struct sm_iscsi_auth *a,
		       char *out, size_t outsz)
{
	const char *secrets[2] = { a->password, a->in_password };
	size_t i;

	snprintf(out, outsz, "%s", iscsi_get_error(ctx));
	for (i = 0; i < 2; i++) {
		char *p;

		if (!has(secrets[i]))
			continue;
		while ((p = strstr(out, secrets[i])) != NULL)
			memset(p, '*', strlen(secrets[i]));
	}
}

static struct iscsi_context *new_context(const struct sm_iscsi_target *t,
					 enum iscsi_session_type type, struct sm_error *err)
{
	struct iscsi_context *ctx = iscsi_create_context(t->initiator_iqn);

	if (!ctx) {
		sm_fail(err, SME_ISCSI_LOGIN, "cannot create an iSCSI context for initiator %s",
			t->initiator_iqn);
		return NULL;
	}
	/* LIBISCSI_DEBUG in the environment turns libiscsi's log to stderr on,
	 * which xapi would receive: the login exchange has no place there. */
	iscsi_set_log_level(ctx, 0);
	iscsi_set_session_type(ctx, type);
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_reconnect_max_retries(ctx, 0);
	if (type == ISCSI_SESSION_NORMAL) {
		iscsi_set_targetname(ctx, t->target_iqn);
		iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	}
	if (has(t->auth.user))
		iscsi_set_initiator_username_pwd(ctx, t->auth.user,
						 t->auth.password ? t->auth.password : "");
	if (has(t->auth.in_user))
		iscsi_set_target_username_pwd(ctx, t->auth.in_user,
					      t->auth.in_password ? t->auth.in_password : "");
	return ctx;
}

/* The login status class libiscsi put in its text ("...Status: X(513)"). */
static int login_status(const char *text)
{
	const char *p = strrchr(text, '(');
	int v;

	if (p && sscanf(p, "(%d)", &v) == 1)
		return v;
	return -1;
}

static int login_fault(struct iscsi_context *ctx, const struct sm_iscsi_target *t,
		       const char *portal, struct sm_error *err)
{
	char text[512];
	int st;

	safe_error(ctx, &t->auth, text, sizeof(text));
	if (strstr(text, "CHAP_R") || (has(t->auth.in_user) && strstr(text, "CHAP") &&
				       strstr(text, "target")))
		return sm_fail(err, SME_ISCSI_LOGIN,
			       "the target's mutual CHAP response was wrong (%s): %s", portal, text);
	st = login_status(text);
	switch (st) {
	case 513:  /* 0x0201 authentication failure */
		return sm_fail(err, SME_ISCSI_LOGIN,
			       has(t->auth.user) ? "the target refused our CHAP credentials (%s): %s"
						 : "the target wants CHAP credentials (%s): %s",
			       portal, text);
	case 514:  /* 0x0202 authorization failure */
		return sm_fail(err, SME_ISCSI_LOGIN,
			       "the target does not allow initiator %s (%s): %s",
			       t->initiator_iqn, portal, text);
	case 515:  /* 0x0203 not found */
	case 516:  /* 0x0204 target removed */
		return sm_fail(err, SME_ISCSI_DISCOVERY, "target %s not found on %s: %s",
			       t->target_iqn ? t->target_iqn : "", portal, text);
	default:
		return sm_fail(err, SME_ISCSI_LOGIN, "login to %s failed: %s", portal, text);
	}
}

/* Connect and log in on ctx (s->conn), all within deadline. */
static int connect_login(struct sm_iscsi_session *s, const struct sm_iscsi_target *t,
			 int64_t deadline, struct sm_error *err)
{
	int64_t left;

	left = deadline - sm_monotonic_ms();
	if (sm_iscsi_tcp_check(t->host, t->port,
			       left < TCP_CHECK_MAX_MS ? (int)(left > 0 ? left : 1) : TCP_CHECK_MAX_MS,
			       err) < 0)
		return -1;
	op_reset(&s->conn);
	if (iscsi_connect_async(s->ctx, s->portal, cb_plain, &s->conn) < 0)
		return sm_fail(err, SME_ISCSI_TARGET, "connect to %s: %s", s->portal,
			       iscsi_get_error(s->ctx));
	if (wait_done(s->ctx, &s->conn.done, deadline, s->timeout_ms, s->portal, "connect", err) < 0) {
		s->broken = 1;
		return -1;
	}
	if (s->conn.status != SCSI_STATUS_GOOD)
		return sm_fail(err, SME_ISCSI_TARGET, "connect to %s: %s", s->portal,
			       iscsi_get_error(s->ctx));
	op_reset(&s->cmd);
	if (iscsi_login_async(s->ctx, cb_plain, &s->cmd) < 0)
		return login_fault(s->ctx, t, s->portal, err);
	if (wait_done(s->ctx, &s->cmd.done, deadline, s->timeout_ms, s->portal, "login", err) < 0) {
		s->broken = 1;
		return -1;
	}
	if (s->cmd.status != SCSI_STATUS_GOOD)
		return login_fault(s->ctx, t, s->portal, err);
	return 0;
}

static struct sm_iscsi_session *session_new(const struct sm_iscsi_target *t,
					    enum iscsi_session_type type, struct sm_error *err)
{
	struct sm_iscsi_session *s = calloc(1, sizeof(*s));

	if (!s) {
		sm_fail(err, SME_SM_GENERAL, "out of memory");
		return NULL;
	}
	s->timeout_ms = target_timeout(t);
	s->ready_lun = -1;
	portal_of(t, s->portal, sizeof(s->portal));
	if (t->target_iqn)
		snprintf(s->target_iqn, sizeof(s->target_iqn), "%s", t->target_iqn);
	s->ctx = new_context(t, type, err);
	if (!s->ctx) {
		free(s);
		return NULL;
	}
	return s;
}

/* Log out (if still usable) within LOGOUT_MAX_MS and free everything. */
static void session_end(struct sm_iscsi_session *s)
{
	struct sm_error ignored = { 0 };
	int64_t deadline;

	if (!s)
		return;
	if (!s->broken && iscsi_is_logged_in(s->ctx)) {
		op_reset(&s->cmd);
		deadline = sm_monotonic_ms() + (s->timeout_ms < LOGOUT_MAX_MS ? s->timeout_ms
									      : LOGOUT_MAX_MS);
		if (iscsi_logout_async(s->ctx, cb_plain, &s->cmd) == 0)
			wait_done(s->ctx, &s->cmd.done, deadline, LOGOUT_MAX_MS, s->portal, "logout",
				  &ignored);
	}
	/* Late callbacks (from the destruction) find their op abandoned. */
	s->cmd.abandoned = 1;
	s->conn.abandoned = 1;
	iscsi_destroy_context(s->ctx);
	free(s);
}

/* ---------------------------------------------------------------- */
/* Discovery */

static void strip_tpgt(const char *portal, char *addr, size_t addrsz, int *port)
{
	char buf[SM_ISCSI_HOST_MAX + 32];
	char *comma, *colon;

	snprintf(buf, sizeof(buf), "%s", portal);
	comma = strrchr(buf, ',');
	if (comma)
		*comma = '\0';
	colon = strrchr(buf, ':');
	/* "[v6]:port" or "v4:port"; a bare v6 address has no port after ']' */
	if (colon && (buf[0] != '[' || (colon > buf && colon[-1] == ']'))) {
		*colon = '\0';
		*port = atoi(colon + 1);
	} else {
		*port = SM_ISCSI_DEFAULT_PORT;
	}
	snprintf(addr, addrsz, "%.*s", (int)(addrsz - 1), buf);
}

static void cb_discovery(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct op *op = priv;
	struct iscsi_discovery_address *da;
	struct iscsi_target_portal *tp;
	size_t n = 0, i = 0;

	(void)ctx;
	op->done = 1;
	op->status = status;
	if (op->abandoned || status != SCSI_STATUS_GOOD)
		return;
	for (da = data; da; da = da->next)
		for (tp = da->portals; tp; tp = tp->next)
			n++;
	if (n == 0)
		return;
	op->found = calloc(n, sizeof(*op->found));
	if (!op->found) {
		op->oom = 1;
		return;
	}
	for (da = data; da; da = da->next)
		for (tp = da->portals; tp; tp = tp->next, i++) {
			struct sm_iscsi_discovered *d = &op->found[i];

			strip_tpgt(tp->portal, d->address, sizeof(d->address), &d->port);
			snprintf(d->iqn, sizeof(d->iqn), "%s", da->target_name);
		}
	op->nfound = n;
}

int sm_iscsi_discover(const struct sm_iscsi_target *t,
		      struct sm_iscsi_discovered **out, size_t *n, struct sm_error *err)
{
	struct sm_iscsi_session *s;
	struct pipe_guard g;
	int64_t deadline;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (check_target(t, 0, err) < 0)
		return -1;
	deadline = sm_monotonic_ms() + target_timeout(t);
	s = session_new(t, ISCSI_SESSION_DISCOVERY, err);
	if (!s)
		return -1;
	pipe_guard_enter(&g);
	if (connect_login(s, t, deadline, err) < 0)
		goto out;
	op_reset(&s->cmd);
	if (iscsi_discovery_async(s->ctx, cb_discovery, &s->cmd) < 0) {
		sm_fail(err, SME_ISCSI_DISCOVERY, "sendtargets on %s: %s", s->portal,
			iscsi_get_error(s->ctx));
		goto out;
	}
	if (wait_done(s->ctx, &s->cmd.done, deadline, s->timeout_ms, s->portal, "discovery", err) < 0) {
		s->broken = 1;
		goto out;
	}
	if (s->cmd.oom) {
		sm_fail(err, SME_SM_GENERAL, "out of memory");
		goto out;
	}
	if (s->cmd.status != SCSI_STATUS_GOOD) {
		sm_fail(err, SME_ISCSI_DISCOVERY, "sendtargets on %s: %s", s->portal,
			iscsi_get_error(s->ctx));
		goto out;
	}
	*out = s->cmd.found;
	*n = s->cmd.nfound;
	s->cmd.found = NULL;
	rc = 0;
out:
	free(s->cmd.found);
	s->cmd.found = NULL;
	session_end(s);
	pipe_guard_leave(&g);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Normal session */

int sm_iscsi_session_open(const struct sm_iscsi_target *t,
			  struct sm_iscsi_session **out, struct sm_error *err)
{
	struct sm_iscsi_session *s;
	struct pipe_guard g;
	int64_t deadline;
	int rc;

	*out = NULL;
	if (check_target(t, 1, err) < 0)
		return -1;
	deadline = sm_monotonic_ms() + target_timeout(t);
	s = session_new(t, ISCSI_SESSION_NORMAL, err);
	if (!s)
		return -1;
	pipe_guard_enter(&g);
	rc = connect_login(s, t, deadline, err);
	if (rc < 0)
		session_end(s);
	else
		*out = s;
	pipe_guard_leave(&g);
	return rc;
}

void sm_iscsi_session_close(struct sm_iscsi_session *s)
{
	struct pipe_guard g;

	if (!s)
		return;
	pipe_guard_enter(&g);
	session_end(s);
	pipe_guard_leave(&g);
}

/* The SCSI commands this file sends. */
enum cmd { CMD_REPORT_LUNS, CMD_INQUIRY, CMD_TUR, CMD_READ_CAPACITY16, CMD_READ16 };

struct cmd_args {
	enum cmd cmd;
	int lun;
	int evpd, page;        /* INQUIRY */
	int alloc;             /* REPORT LUNS, INQUIRY allocation length */
	uint64_t lba;          /* READ(16) */
	uint32_t len;
	uint32_t block;
};

static struct scsi_task *queue_cmd(struct sm_iscsi_session *s, const struct cmd_args *a)
{
	struct iscsi_context *c = s->ctx;
	struct op *op = &s->cmd;

	switch (a->cmd) {
	case CMD_REPORT_LUNS:
		return iscsi_reportluns_task(c, 0, a->alloc, cb_task, op);
	case CMD_INQUIRY:
		return iscsi_inquiry_task(c, a->lun, a->evpd, a->page, a->alloc, cb_task, op);
	case CMD_TUR:
		return iscsi_testunitready_task(c, a->lun, cb_task, op);
	case CMD_READ_CAPACITY16:
		return iscsi_readcapacity16_task(c, a->lun, cb_task, op);
	case CMD_READ16:
		return iscsi_read16_task(c, a->lun, a->lba, a->len, (int)a->block,
					 0, 0, 0, 0, 0, cb_task, op);
	}
	return NULL;
}

static const char *cmd_name(enum cmd c)
{
	switch (c) {
	case CMD_REPORT_LUNS: return "REPORT LUNS";
	case CMD_INQUIRY: return "INQUIRY";
	case CMD_TUR: return "TEST UNIT READY";
	case CMD_READ_CAPACITY16: return "READ CAPACITY(16)";
	case CMD_READ16: return "READ(16)";
	}
	return "?";
}

/*
 * Run one command to its end within deadline.  The finished task
 * (status GOOD or CHECK CONDITION, the caller looks) or NULL with the
 * fault; the caller frees the task.
 */
static struct scsi_task *run_cmd(struct sm_iscsi_session *s, const struct cmd_args *a,
				 int64_t deadline, struct sm_error *err)
{
	struct scsi_task *t;

	if (s->broken) {
		sm_fail(err, SME_ISCSI_TARGET, "%s: the session to %s failed earlier",
			cmd_name(a->cmd), s->portal);
		return NULL;
	}
	op_reset(&s->cmd);
	if (!queue_cmd(s, a)) {
		sm_fail(err, SME_ISCSI_TARGET, "%s on %s: %s", cmd_name(a->cmd), s->portal,
			iscsi_get_error(s->ctx));
		return NULL;
	}
	if (wait_done(s->ctx, &s->cmd.done, deadline, s->timeout_ms, s->portal, cmd_name(a->cmd), err) < 0) {
		s->broken = 1;
		s->cmd.abandoned = 1;
		return NULL;
	}
	t = s->cmd.task;
	s->cmd.task = NULL;
	if (s->cmd.status == SCSI_STATUS_GOOD || s->cmd.status == SCSI_STATUS_CHECK_CONDITION)
		return t;
	sm_fail(err, SME_ISCSI_TARGET, "%s on %s failed: %s", cmd_name(a->cmd), s->portal,
		ctx_error(s->ctx));
	if (t)
		scsi_free_scsi_task(t);
	s->broken = 1;
	return NULL;
}

static int task_failed(struct scsi_task *t, const char *what, int lun, struct sm_error *err)
{
	int rc = sm_fail(err, SME_ISCSI_DEVICE, "%s of LUN %d: %s (%s, ASC/ASCQ 0x%04x)", what, lun,
			 scsi_sense_key_str(t->sense.key), scsi_sense_ascq_str(t->sense.ascq),
			 t->sense.ascq);

	scsi_free_scsi_task(t);
	return rc;
}

/*
 * A data-in command whose answer may be longer than asked: ask again for
 * all of it (REPORT LUNS, VPD pages).  GOOD task or NULL with the fault.
 */
static struct scsi_task *run_full(struct sm_iscsi_session *s, struct cmd_args *a,
				  int max_alloc, int64_t deadline, struct sm_error *err)
{
	struct scsi_task *t = run_cmd(s, a, deadline, err);
	int full;

	if (!t)
		return NULL;
	if (t->status != SCSI_STATUS_GOOD) {
		task_failed(t, cmd_name(a->cmd), a->lun, err);
		return NULL;
	}
	full = scsi_datain_getfullsize(t);
	if (full <= t->datain.size || full <= a->alloc)
		return t;
	scsi_free_scsi_task(t);
	a->alloc = full < max_alloc ? full : max_alloc;
	t = run_cmd(s, a, deadline, err);
	if (t && t->status != SCSI_STATUS_GOOD) {
		task_failed(t, cmd_name(a->cmd), a->lun, err);
		return NULL;
	}
	return t;
}

static int is_unit_attention(const struct scsi_task *t)
{
	return t->status == SCSI_STATUS_CHECK_CONDITION &&
	       t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

/*
 * TEST UNIT READY until the UNIT ATTENTION of the new nexus is gone
 * (tgt reports 0x29/00 to the first command of each LUN), then READ
 * CAPACITY(16).
 */
static int lun_capacity(struct sm_iscsi_session *s, int lun, uint64_t *size, uint32_t *block,
			int64_t deadline, struct sm_error *err)
{
	struct cmd_args a = { .cmd = CMD_TUR, .lun = lun };
	struct scsi_readcapacity16 *rc16;
	struct scsi_task *t;
	int i;

	if (s->ready_lun == lun) {
		*size = s->ready_size;
		*block = s->ready_block;
		return 0;
	}
	for (i = 0; i < UA_RETRIES; i++) {
		t = run_cmd(s, &a, deadline, err);
		if (!t)
			return -1;
		if (!is_unit_attention(t))
			break;
		scsi_free_scsi_task(t);
		t = NULL;
	}
	if (t && t->status != SCSI_STATUS_GOOD &&
	    t->sense.key != SCSI_SENSE_NOT_READY)  /* not ready: READ CAPACITY says more */
		return task_failed(t, "TEST UNIT READY", lun, err);
	if (t)
		scsi_free_scsi_task(t);
	a.cmd = CMD_READ_CAPACITY16;
	for (i = 0; i < 2; i++) {
		t = run_cmd(s, &a, deadline, err);
		if (!t)
			return -1;
		if (!is_unit_attention(t))
			break;
		scsi_free_scsi_task(t);
		t = NULL;
	}
	if (!t)
		return sm_fail(err, SME_ISCSI_DEVICE, "READ CAPACITY(16) of LUN %d: unit attention "
			       "did not clear", lun);
	if (t->status != SCSI_STATUS_GOOD)
		return task_failed(t, "READ CAPACITY(16)", lun, err);
	rc16 = scsi_datain_unmarshall(t);
	if (!rc16 || rc16->block_length == 0) {
		scsi_free_scsi_task(t);
		return sm_fail(err, SME_ISCSI_DEVICE, "READ CAPACITY(16) of LUN %d: bad answer", lun);
	}
	*block = rc16->block_length;
	*size = (rc16->returned_lba + 1) * (uint64_t)rc16->block_length;
	scsi_free_scsi_task(t);
	s->ready_lun = lun;
	s->ready_size = *size;
	s->ready_block = *block;
	return 0;
}

/* Copy without any whitespace (serials, vendor ids). */
static void copy_no_space(char *out, size_t outsz, const char *in, size_t inlen)
{
	size_t i, j = 0;

	for (i = 0; i < inlen && in[i] && j + 1 < outsz; i++)
		if (!isspace((unsigned char)in[i]))
			out[j++] = in[i];
	out[j] = '\0';
}

static void copy_rtrim(char *out, size_t outsz, const char *in)
{
	size_t n;

	snprintf(out, outsz, "%s", in);
	n = strlen(out);
	while (n && isspace((unsigned char)out[n - 1]))
		out[--n] = '\0';
}

/* 1 a direct-access LUN (filled in), 0 another kind, -1 fault. */
static int lun_identity(struct sm_iscsi_session *s, int lun, struct sm_iscsi_lun *l,
			int64_t deadline, struct sm_error *err)
{
	struct cmd_args a = { .cmd = CMD_INQUIRY, .lun = lun, .alloc = 255 };
	struct scsi_inquiry_standard *std;
	struct scsi_task *t;
	const uint8_t *p;
	int len;

	memset(l, 0, sizeof(*l));
	l->lun = lun;
	t = run_full(s, &a, 255, deadline, err);
	if (!t)
		return -1;
	std = scsi_datain_unmarshall(t);
	if (!std || std->qualifier != 0 ||
	    std->device_type != SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS) {
		scsi_free_scsi_task(t);
		return 0;
	}
	copy_no_space(l->vendor, sizeof(l->vendor), std->vendor_identification,
		      sizeof(std->vendor_identification));
	copy_rtrim(l->product, sizeof(l->product), std->product_identification);
	scsi_free_scsi_task(t);

	/* VPD 0x80: a LUN without one has an empty serial */
	a.evpd = 1;
	a.page = SCSI_INQUIRY_PAGECODE_UNIT_SERIAL_NUMBER;
	a.alloc = 255;
	t = run_cmd(s, &a, deadline, err);
	if (!t)
		return -1;
	if (t->status == SCSI_STATUS_GOOD && t->datain.size >= 4) {
		p = t->datain.data;
		len = (p[2] << 8 | p[3]);
		if (len > t->datain.size - 4)
			len = t->datain.size - 4;
		copy_no_space(l->serial, sizeof(l->serial), (const char *)p + 4, (size_t)len);
	}
	scsi_free_scsi_task(t);

	/* VPD 0x83: the SCSIid */
	a.page = SCSI_INQUIRY_PAGECODE_DEVICE_IDENTIFICATION;
	a.alloc = 255;
	t = run_full(s, &a, 65535, deadline, err);
	if (!t)
		return -1;
	if (sm_iscsi_scsi_id_from_vpd83(t->datain.data, (size_t)t->datain.size, l->scsi_id,
					sizeof(l->scsi_id)) < 0) {
		scsi_free_scsi_task(t);
		return sm_fail(err, SME_ISCSI_DEVICE, "LUN %d has no usable device identifier "
			       "(VPD page 0x83)", lun);
	}
	scsi_free_scsi_task(t);
	return lun_capacity(s, lun, &l->size, &l->block_size, deadline, err) < 0 ? -1 : 1;
}

static int lun_number(const struct scsi_reportluns_list *list, uint32_t i)
{
	/* peripheral (0x00xx) and flat (0x40xx) addressing: the low 14 bits */
	return list->luns[i] & 0x3fff;
}

static int cmp_lun(const void *a, const void *b)
{
	const struct sm_iscsi_lun *x = a, *y = b;

	return (x->lun > y->lun) - (x->lun < y->lun);
}

int sm_iscsi_session_luns(struct sm_iscsi_session *s,
			  struct sm_iscsi_lun **out, size_t *n, struct sm_error *err)
{
	struct cmd_args a = { .cmd = CMD_REPORT_LUNS, .alloc = 16 };
	struct scsi_reportluns_list *list;
	struct sm_iscsi_lun *luns = NULL;
	struct scsi_task *t;
	struct pipe_guard g;
	int64_t deadline = sm_monotonic_ms() + s->timeout_ms;
	size_t k = 0;
	uint32_t i;
	int rc = -1, r;

	*out = NULL;
	*n = 0;
	pipe_guard_enter(&g);
	t = run_full(s, &a, 1 << 20, deadline, err);
	if (!t)
		goto out;
	list = scsi_datain_unmarshall(t);
	if (!list) {
		sm_fail(err, SME_ISCSI_DEVICE, "REPORT LUNS on %s: bad answer", s->portal);
		goto out;
	}
	luns = calloc(list->num ? list->num : 1, sizeof(*luns));
	if (!luns) {
		sm_fail(err, SME_SM_GENERAL, "out of memory");
		goto out;
	}
	for (i = 0; i < list->num; i++) {
		r = lun_identity(s, lun_number(list, i), &luns[k], deadline, err);
		if (r < 0)
			goto out;
		k += (size_t)r;
	}
	qsort(luns, k, sizeof(*luns), cmp_lun);
	*out = luns;
	*n = k;
	luns = NULL;
	rc = 0;
out:
	free(luns);
	if (t)
		scsi_free_scsi_task(t);
	pipe_guard_leave(&g);
	return rc;
}

int sm_iscsi_session_read(struct sm_iscsi_session *s, int lun, uint64_t off,
			  void *buf, size_t len, struct sm_error *err)
{
	struct cmd_args a = { .cmd = CMD_READ16, .lun = lun };
	int64_t deadline = sm_monotonic_ms() + s->timeout_ms;
	struct pipe_guard g;
	uint64_t size, pos = off;
	uint32_t block;
	uint8_t *dst = buf;
	int rc = -1;

	if (len == 0)
		return 0;
	pipe_guard_enter(&g);
	if (lun_capacity(s, lun, &size, &block, deadline, err) < 0)
		goto out;
	if (off > size || len > size - off) {
		sm_fail(err, SME_ISCSI_DEVICE, "read of %zu bytes at %llu is past the end of LUN %d "
			"(%llu bytes)", len, (unsigned long long)off, lun, (unsigned long long)size);
		goto out;
	}
	while (pos < off + len) {
		uint64_t lba = pos / block, end = off + len;
		uint64_t last = (end + block - 1) / block;   /* one past the last block */
		uint64_t nblk = last - lba, skip = pos - lba * block, take;
		struct scsi_task *t;

		if (nblk > READ_CHUNK / block)
			nblk = READ_CHUNK / block ? READ_CHUNK / block : 1;
		a.lba = lba;
		a.block = block;
		a.len = (uint32_t)(nblk * block);
		t = run_cmd(s, &a, deadline, err);
		if (!t)
			goto out;
		if (t->status != SCSI_STATUS_GOOD) {
			task_failed(t, "READ(16)", lun, err);
			goto out;
		}
		if ((uint64_t)t->datain.size < nblk * block) {
			scsi_free_scsi_task(t);
			sm_fail(err, SME_ISCSI_DEVICE, "READ(16) of LUN %d at LBA %llu: short answer",
				lun, (unsigned long long)lba);
			goto out;
		}
		take = nblk * block - skip;
		if (take > end - pos)
			take = end - pos;
		memcpy(dst + (pos - off), t->datain.data + skip, take);
		scsi_free_scsi_task(t);
		pos += take;
	}
	rc = 0;
out:
	pipe_guard_leave(&g);
	return rc;
}

/* ---------------------------------------------------------------- */
/* SCSIid from VPD page 0x83, as udev's scsi_id -g --replace-whitespace */

enum { ID_VENDOR = 0, ID_T10 = 1, ID_EUI64 = 2, ID_NAA = 3, ID_TGTGROUP = 5 };
enum { CS_BINARY = 1, CS_ASCII = 2 };
#define NAA_ANY (-1)

struct id_search {
	int type, naa, codeset;
};

/* udev's order; the target port group entry never names the LU and the
 * vendor-specific kind needs the INQUIRY vendor and model: not here. */
static const struct id_search id_order[] = {
	{ ID_NAA, 6, CS_BINARY }, { ID_NAA, 6, CS_ASCII },
	{ ID_NAA, 5, CS_BINARY }, { ID_NAA, 5, CS_ASCII },
	{ ID_NAA, NAA_ANY, CS_BINARY }, { ID_NAA, NAA_ANY, CS_ASCII },
	{ ID_EUI64, NAA_ANY, CS_BINARY }, { ID_EUI64, NAA_ANY, CS_ASCII },
	{ ID_T10, NAA_ANY, CS_BINARY }, { ID_T10, NAA_ANY, CS_ASCII },
};

static const char hexdig[] = "0123456789abcdef";

/* udev_replace_whitespace: trim both ends, each inner run becomes '_' */
static void replace_whitespace(const char *in, char *out, size_t outsz)
{
	size_t len = strlen(in), i = 0, j = 0;
	int space = 0;

	while (len && isspace((unsigned char)in[len - 1]))
		len--;
	while (i < len && isspace((unsigned char)in[i]))
		i++;
	for (; i < len; i++) {
		if (isspace((unsigned char)in[i])) {
			space = 1;
			continue;
		}
		if (space) {
			if (j + 2 >= outsz)
				break;
			out[j++] = '_';
			space = 0;
		}
		if (j + 1 >= outsz)
			break;
		out[j++] = in[i];
	}
	out[j] = '\0';
}

/* 0 filled raw (the designator d, of length dlen + 4), 1 not a match. */
static int fill_id(const uint8_t *d, const struct id_search *want, char *raw, size_t rawsz)
{
	int assoc = (d[1] >> 4) & 3, type = d[1] & 0x0f, cs = d[0] & 0x0f;
	size_t dlen = d[3], i, j = 0;

	if (assoc != 0 || type != want->type || cs != want->codeset)
		return 1;
	if (want->naa != NAA_ANY && (dlen == 0 || (d[4] >> 4) != want->naa))
		return 1;
	if ((cs == CS_ASCII ? dlen : 2 * dlen) + 2 > rawsz)
		return 1;
	raw[j++] = hexdig[want->type];
	for (i = 0; i < dlen; i++) {
		if (cs == CS_ASCII) {
			raw[j++] = (char)d[4 + i];
		} else {
			raw[j++] = hexdig[d[4 + i] >> 4];
			raw[j++] = hexdig[d[4 + i] & 0x0f];
		}
	}
	raw[j] = '\0';   /* ascii: an embedded NUL ends it, as in udev (tgt's T10 id) */
	return 0;
}

int sm_iscsi_scsi_id_from_vpd83(const uint8_t *page, size_t len, char *out, size_t outsz)
{
	char raw[4 + 2 * 255 + 2];
	size_t end, k, j;

	if (!page || len < 4 || page[1] != 0x83 || outsz == 0)
		return -1;
	/* udev walks page[3] bytes of designators (a one-byte length) */
	end = 4 + (size_t)page[3];
	if (end > len)
		end = len;
	if (end >= 7 && page[6] != 0) {
		/* pre-SPC-3 (SCSI-2) page: the payload is the id, in hex */
		j = 0;
		raw[j++] = hexdig[ID_NAA];
		for (k = 4; k < end && j + 3 < sizeof(raw); k++) {
			raw[j++] = hexdig[page[k] >> 4];
			raw[j++] = hexdig[page[k] & 0x0f];
		}
		raw[j] = '\0';
		replace_whitespace(raw, out, outsz);
		return 0;
	}
	for (k = 0; k < sizeof(id_order) / sizeof(id_order[0]); k++) {
		for (j = 4; j + 4 <= end && j + 4 + page[j + 3] <= end; j += 4 + page[j + 3]) {
			if (fill_id(page + j, &id_order[k], raw, sizeof(raw)) == 0) {
				replace_whitespace(raw, out, outsz);
				return out[0] ? 0 : -1;
			}
		}
	}
	return -1;
}

/* ---------------------------------------------------------------- */
/* MD5 (RFC 1321), for the VDI uuid rule only */

struct md5 {
	uint32_t h[4];
	uint64_t bytes;
	uint8_t buf[64];
};

static const uint32_t md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const uint8_t md5_r[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static void md5_block(struct md5 *m, const uint8_t *p)
{
	uint32_t w[16], a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3], f, tmp;
	int i, g;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
		       (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
	for (i = 0; i < 64; i++) {
		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) & 15;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) & 15;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) & 15;
		}
		tmp = d;
		d = c;
		c = b;
		f += a + md5_k[i] + w[g];
		b += (f << md5_r[i]) | (f >> (32 - md5_r[i]));
		a = tmp;
	}
	m->h[0] += a;
	m->h[1] += b;
	m->h[2] += c;
	m->h[3] += d;
}

static void md5_update(struct md5 *m, const uint8_t *p, size_t n)
{
	while (n--) {
		m->buf[m->bytes++ % 64] = *p++;
		if (m->bytes % 64 == 0)
			md5_block(m, m->buf);
	}
}

static void md5_digest(const char *s, uint8_t out[16])
{
	struct md5 m = { { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476 }, 0, { 0 } };
	uint64_t bits;
	uint8_t pad = 0x80, zero = 0, len[8];
	int i;

	md5_update(&m, (const uint8_t *)s, strlen(s));
	bits = m.bytes * 8;
	md5_update(&m, &pad, 1);
	while (m.bytes % 64 != 56)
		md5_update(&m, &zero, 1);
	for (i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (8 * i));
	md5_update(&m, len, 8);
	for (i = 0; i < 16; i++)
		out[i] = (uint8_t)(m.h[i / 4] >> (8 * (i % 4)));
}

void sm_iscsi_vdi_uuid(const char *scsi_id, char out[37])
{
	uint8_t d[16];
	char hex[33];
	int i;

	md5_digest(scsi_id ? scsi_id : "", d);
	for (i = 0; i < 16; i++) {
		hex[2 * i] = hexdig[d[i] >> 4];
		hex[2 * i + 1] = hexdig[d[i] & 0x0f];
	}
	hex[32] = '\0';
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}
