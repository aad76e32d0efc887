/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The XenAPI client (include/csm/xapi.h): one Unix-socket connection per
 * call, every step bounded by the call's deadline so a dead or silent
 * xapi is a fault in bounded time, never a hung driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/xapi.h"

/* The Host header Python's http.client sends for "http://_var_lib_xcp_xapi/". */
#define XAPI_HOST "_var_lib_xcp_xapi"
#define XAPI_USER_AGENT "csm-xapi/1"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *dup_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strdup(v) : NULL;
}

int xapi_conn_init(struct xapi_conn *c, const char *socket_path,
		   const char *session, const char *subtask_of,
		   int timeout_ms, struct sm_error *err)
{
	memset(c, 0, sizeof(*c));
	if (!socket_path)
		socket_path = getenv(XAPI_SOCKET_ENV);
	if (!socket_path || !*socket_path)
		socket_path = XAPI_DEFAULT_SOCKET;
	c->socket_path = strdup(socket_path);
	c->session = strdup(session ? session : "");
	c->subtask_of = dup_or_null(subtask_of);
	c->originator = dup_env("ORIGINATOR");
	c->traceparent = dup_env("TRACEPARENT");
	c->baggage = dup_env("BAGGAGE");
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : XAPI_DEFAULT_TIMEOUT_MS;
	if (!c->socket_path || !c->session || (subtask_of && !c->subtask_of)) {
		xapi_conn_free(c);
		return sm_fail(err, SME_SM_GENERAL, "out of memory");
	}
	return 0;
}

void xapi_conn_free(struct xapi_conn *c)
{
	free(c->socket_path);
	free(c->session);
	free(c->subtask_of);
	free(c->originator);
	free(c->traceparent);
	free(c->baggage);
	memset(c, 0, sizeof(*c));
}

int xapi_conn_set_session(struct xapi_conn *c, const char *session)
{
	char *s = strdup(session);

	if (!s)
		return -1;
	free(c->session);
	c->session = s;
	return 0;
}

/* ---- request ---- */

static char *build_body(const struct xapi_conn *c, const char *method,
			const struct xr_value *const params[], size_t n)
{
	struct xr_value *arr = xr_array();
	char *body = NULL;

	/* The array borrows the caller's values; the items are unhooked before xr_free. */
	if (!arr || xr_array_append(arr, xr_string(c->session)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (arr->u.arr.count == arr->u.arr.cap) {
			size_t cap = arr->u.arr.cap ? arr->u.arr.cap * 2 : 8;
			struct xr_value **items = realloc(arr->u.arr.items,
							  cap * sizeof(*items));
			if (!items)
				goto out;
			arr->u.arr.items = items;
			arr->u.arr.cap = cap;
		}
		arr->u.arr.items[arr->u.arr.count++] = (struct xr_value *)params[i];
	}
	body = xr_write_call(method, arr, XR_STYLE_PYTHON);
out:
	if (arr && arr->u.arr.count > 1)
		arr->u.arr.count = 1;   /* only the session string is ours */
	xr_free(arr);
	return body;
}

static void put_header(struct sm_buf *b, const char *name, const char *value)
{
	if (value)
		buf_printf(b, "%s: %s\r\n", name, value);
}

char *xapi_build_request(const struct xapi_conn *c, const char *method,
			 const struct xr_value *const params[], size_t n,
			 size_t *len)
{
	struct sm_buf b = SM_BUF_INIT;
	char *body = build_body(c, method, params, n);
	char *out;

	if (!body)
		return NULL;
	buf_puts(&b, "POST / HTTP/1.1\r\n");
	put_header(&b, "Host", XAPI_HOST);
	put_header(&b, "originator", c->originator);
	put_header(&b, "traceparent", c->traceparent);
	put_header(&b, "baggage", c->baggage);
	put_header(&b, "Subtask-of", c->subtask_of);
	put_header(&b, "Content-Type", "text/xml");
	put_header(&b, "User-Agent", XAPI_USER_AGENT);
	buf_printf(&b, "Content-Length: %zu\r\n\r\n", strlen(body));
	buf_puts(&b, body);
	free(body);
	*len = b.len;
	out = buf_steal(&b);
	return out;
}

/* ---- transport ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline; 0 ready, -1 with err. */
static int wait_fd(int fd, short events, int64_t deadline, const char *what,
		   struct sm_error *err)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (left <= 0)
			return sm_fail(err, SME_API_PROTOCOL,
				       "xapi: timed out %s", what);
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return sm_fail_errno(err, SME_API_PROTOCOL, errno,
					     "xapi: poll while %s", what);
	}
}

static int connect_socket(const char *path, int64_t deadline,
			  struct sm_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (strlen(path) >= sizeof(sa.sun_path))
		return sm_fail(err, SME_API_PROTOCOL,
			       "xapi: socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sm_fail_errno(err, SME_API_PROTOCOL, errno, "xapi: socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EAGAIN)
		goto fail;
	if (wait_fd(fd, POLLOUT, deadline, "connecting", err))
		goto fail_set;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && !soerr)
		return fd;
	errno = soerr ? soerr : errno;
fail:
	sm_fail_errno(err, SME_API_PROTOCOL, errno, "xapi: connect %s", path);
fail_set:
	close(fd);
	return -1;
}

static int write_all(int fd, const char *p, size_t len, int64_t deadline,
		     struct sm_error *err)
{
	while (len) {
		ssize_t w;

		if (wait_fd(fd, POLLOUT, deadline, "writing the request", err))
			return -1;
		w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return sm_fail_errno(err, SME_API_PROTOCOL, errno,
					     "xapi: writing the request");
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Find "\r\n\r\n"; returns the offset of the body or 0 when absent. */
static size_t header_end(const char *p, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(p + i, "\r\n\r\n", 4))
			return i + 4;
	return 0;
}

/*
 * A header's value in the header block [p, p+hlen), NUL-terminated into
 * out; 1 found, 0 absent.
 */
static int find_header(const char *p, size_t hlen, const char *name,
		       char *out, size_t outsz)
{
	size_t nl = strlen(name);
	const char *line = memchr(p, '\n', hlen);

	while (line && (size_t)(line + 1 - p) < hlen) {
		const char *s = line + 1, *e = memchr(s, '\n', hlen - (size_t)(s - p));
		size_t vl;

		if (!e)
			break;
		if ((size_t)(e - s) > nl && !strncasecmp(s, name, nl) && s[nl] == ':') {
			s += nl + 1;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			vl = (size_t)(e - s);
			while (vl && (s[vl - 1] == '\r' || s[vl - 1] == ' '))
				vl--;
			if (vl >= outsz)
				vl = outsz - 1;
			memcpy(out, s, vl);
			out[vl] = 0;
			return 1;
		}
		line = e;
	}
	return 0;
}

/* -1 when there is no Content-Length, -2 when it is malformed. */
static long long content_length(const char *p, size_t hlen)
{
	char v[32];
	char *end;
	long long n;

	if (!find_header(p, hlen, "Content-Length", v, sizeof(v)))
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < 0)
		return -2;
	return n;
}

/*
 * Read until the body is complete by Content-Length, or EOF when the
 * response has none.  *out is malloc'd.
 */
static int read_response(int fd, int64_t deadline, char **out, size_t *outlen,
			 struct sm_error *err)
{
	struct sm_buf b = SM_BUF_INIT;
	size_t hend = 0;
	long long clen = -1;
	char chunk[16384];

	for (;;) {
		ssize_t r;

		if (hend && clen >= 0 && b.len >= hend + (size_t)clen)
			break;
		if (wait_fd(fd, POLLIN, deadline, "waiting for the response", err))
			goto fail;
		r = recv(fd, chunk, sizeof(chunk), 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			sm_fail_errno(err, SME_API_PROTOCOL, errno,
				      "xapi: reading the response");
			goto fail;
		}
		if (r == 0)
			break;
		buf_append(&b, chunk, (size_t)r);
		if (b.oom || b.len > XAPI_MAX_RESPONSE) {
			sm_fail(err, SME_API_PROTOCOL, "xapi: response too large");
			goto fail;
		}
		if (!hend && (hend = header_end(b.data, b.len)))
			clen = content_length(b.data, hend);
	}
	*outlen = b.len;
	*out = buf_steal(&b);
	if (!*out)
		*out = strdup("");
	return *out ? 0 : sm_fail(err, SME_SM_GENERAL, "out of memory");
fail:
	buf_free(&b);
	return -1;
}

/* ---- response ---- */

/* ErrorDescription as Python prints a list of strings: ['A', 'b']. */
static void describe_failure(struct sm_buf *b, const struct xr_value *desc)
{
	buf_puts(b, "[");
	for (size_t i = 0; desc && desc->type == XR_ARRAY && i < desc->u.arr.count; i++) {
		const struct xr_value *v = desc->u.arr.items[i];

		buf_printf(b, "%s'%s'", i ? ", " : "",
			   v->type == XR_STRING ? v->u.str : "?");
	}
	buf_puts(b, "]");
}

static int parse_result(struct xr_value *r, struct xr_value **value,
			struct sm_error *err)
{
	const char *status = xr_struct_get_string(r, "Status");
	const struct xr_value *v;

	if (status && !strcmp(status, "Success")) {
		v = xr_struct_get(r, "Value");
		if (!v)
			return sm_fail(err, SME_API_PROTOCOL,
				       "xapi: Success without a Value");
		/* Detach Value from the result so the caller owns it. */
		for (size_t i = 0; i < r->u.st.count; i++)
			if (r->u.st.members[i].value == v)
				r->u.st.members[i].value = xr_nil();
		*value = (struct xr_value *)v;
		return 0;
	}
	if (status && !strcmp(status, "Failure")) {
		struct sm_buf b = SM_BUF_INIT;
		int rc;

		describe_failure(&b, xr_struct_get(r, "ErrorDescription"));
		rc = sm_fail(err, SME_API_FAILURE, "%s", b.data ? b.data : "[]");
		buf_free(&b);
		return rc;
	}
	return sm_fail(err, SME_API_PROTOCOL,
		       "xapi: result without Status Success or Failure");
}

int xapi_parse_response(const char *resp, size_t len, struct xr_value **value,
			struct sm_error *err)
{
	size_t hend = header_end(resp, len);
	char v[64];
	int major, minor, status;
	long long clen;
	struct xr_value *r = NULL;
	bool is_fault = false;
	struct sm_error perr = { 0 };
	int rc;

	*value = NULL;
	if (!hend || sscanf(resp, "HTTP/%d.%d %d", &major, &minor, &status) != 3
	    || major != 1)
		return sm_fail(err, SME_API_PROTOCOL, "xapi: malformed HTTP response");
	if (status != 200)
		return sm_fail(err, SME_API_PROTOCOL, "xapi: HTTP status %d", status);
	if (find_header(resp, hend, "Transfer-Encoding", v, sizeof(v))
	    && strcasecmp(v, "identity"))
		return sm_fail(err, SME_API_PROTOCOL,
			       "xapi: unsupported Transfer-Encoding %s", v);
	clen = content_length(resp, hend);
	if (clen == -2)
		return sm_fail(err, SME_API_PROTOCOL, "xapi: bad Content-Length");
	if (clen >= 0 && len - hend < (size_t)clen)
		return sm_fail(err, SME_API_PROTOCOL,
			       "xapi: short body (%zu of %lld bytes)", len - hend, clen);
	if (clen < 0)
		clen = (long long)(len - hend);
	if (xr_parse_response(resp + hend, (size_t)clen, &r, &is_fault, &perr))
		return sm_fail(err, SME_API_PROTOCOL, "xapi: bad XML-RPC body: %s",
			       perr.detail);
	if (is_fault) {
		rc = sm_fail(err, SME_API_PROTOCOL, "xapi: XML-RPC fault %s",
			     xr_struct_get_string(r, "faultString") ?
			     xr_struct_get_string(r, "faultString") : "");
	} else {
		rc = parse_result(r, value, err);
	}
	xr_free(r);
	return rc;
}

/* ---- the call ---- */

static int call_once(struct xapi_conn *c, const char *method,
		     const struct xr_value *const params[], size_t n,
		     struct xr_value **value, struct sm_error *err)
{
	int64_t deadline = now_ms() + c->timeout_ms;
	size_t len = 0, rlen = 0;
	char *req = xapi_build_request(c, method, params, n, &len);
	char *resp = NULL;
	int fd = -1, rc = -1;

	if (!req)
		return sm_fail(err, SME_SM_GENERAL, "out of memory");
	fd = connect_socket(c->socket_path, deadline, err);
	if (fd < 0)
		goto out;
	if (write_all(fd, req, len, deadline, err)
	    || read_response(fd, deadline, &resp, &rlen, err))
		goto out;
	rc = xapi_parse_response(resp, rlen, value, err);
out:
	if (fd >= 0)
		close(fd);
	free(req);
	free(resp);
	return rc;
}

static bool is_session_invalid(const struct sm_error *err)
{
	return err->code == SME_API_FAILURE
	       && !strncmp(err->detail, "['SESSION_INVALID'", 18);
}

int xapi_call(struct xapi_conn *c, const char *method,
	      const struct xr_value *const params[], size_t n,
	      struct xr_value **value, struct sm_error *err)
{
	struct sm_error first = { 0 };

	*value = NULL;
	if (!call_once(c, method, params, n, value, &first))
		return 0;
	if (!is_session_invalid(&first) || !c->relogin) {
		sm_fail(err, first.code, "%s", first.detail);
		return -1;
	}
	if (c->relogin(c, c->relogin_ctx, err)) {
		/* A hook that failed without saying why still fails the call. */
		sm_fail(err, first.code, "%s", first.detail);
		return -1;
	}
	return call_once(c, method, params, n, value, err);
}

/* ---- typed helpers ---- */

static int call_void(struct xapi_conn *c, const char *method,
		     const struct xr_value *const params[], size_t n,
		     struct sm_error *err)
{
	struct xr_value *v = NULL;
	int rc = xapi_call(c, method, params, n, &v, err);

	xr_free(v);
	return rc;
}

static int call_ref_size(struct xapi_conn *c, const char *method,
			 const char *ref, uint64_t bytes, struct sm_error *err)
{
	char num[24];
	struct xr_value *p[2];
	int rc = -1;

	snprintf(num, sizeof(num), "%" PRIu64, bytes);
	p[0] = xr_string(ref);
	p[1] = xr_string(num);
	if (p[0] && p[1])
		rc = call_void(c, method, (const struct xr_value *const *)p, 2, err);
	else
		sm_fail(err, SME_SM_GENERAL, "out of memory");
	xr_free(p[0]);
	xr_free(p[1]);
	return rc;
}

int xapi_vdi_get_by_uuid(struct xapi_conn *c, const char *uuid, char **ref,
			 struct sm_error *err)
{
	struct xr_value *p = xr_string(uuid), *v = NULL;
	const struct xr_value *pp[1] = { p };
	int rc;

	*ref = NULL;
	if (!p)
		return sm_fail(err, SME_SM_GENERAL, "out of memory");
	rc = xapi_call(c, "VDI.get_by_uuid", pp, 1, &v, err);
	xr_free(p);
	if (rc)
		return -1;
	if (v->type != XR_STRING)
		rc = sm_fail(err, SME_API_PROTOCOL, "xapi: VDI.get_by_uuid: not a ref");
	else if (!(*ref = strdup(v->u.str)))
		rc = sm_fail(err, SME_SM_GENERAL, "out of memory");
	xr_free(v);
	return rc;
}

int xapi_vdi_db_forget(struct xapi_conn *c, const char *vdi_ref,
		       struct sm_error *err)
{
	struct xr_value *p = xr_string(vdi_ref);
	const struct xr_value *pp[1] = { p };
	int rc;

	if (!p)
		return sm_fail(err, SME_SM_GENERAL, "out of memory");
	rc = call_void(c, "VDI.db_forget", pp, 1, err);
	xr_free(p);
	return rc;
}

int xapi_vdi_set_virtual_size(struct xapi_conn *c, const char *vdi_ref,
			      uint64_t bytes, struct sm_error *err)
{
	return call_ref_size(c, "VDI.set_virtual_size", vdi_ref, bytes, err);
}

int xapi_vdi_set_physical_utilisation(struct xapi_conn *c, const char *vdi_ref,
				      uint64_t bytes, struct sm_error *err)
{
	return call_ref_size(c, "VDI.set_physical_utilisation", vdi_ref, bytes, err);
}

int xapi_sr_set_physical_size(struct xapi_conn *c, const char *sr_ref,
			      uint64_t bytes, struct sm_error *err)
{
	return call_ref_size(c, "SR.set_physical_size", sr_ref, bytes, err);
}

int xapi_sr_set_physical_utilisation(struct xapi_conn *c, const char *sr_ref,
				     uint64_t bytes, struct sm_error *err)
{
	return call_ref_size(c, "SR.set_physical_utilisation", sr_ref, bytes, err);
}

int xapi_sr_set_virtual_allocation(struct xapi_conn *c, const char *sr_ref,
				   uint64_t bytes, struct sm_error *err)
{
	return call_ref_size(c, "SR.set_virtual_allocation", sr_ref, bytes, err);
}
