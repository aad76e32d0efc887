/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A XenAPI client: XML-RPC over HTTP/1.1 on xapi's local Unix socket, the
 * channel the Python SM uses to call back into xapi with the session_ref
 * of the request (protocol.md §2.7).  One connection per call, like
 * Python's xmlrpc.client over XenAPI.UDSTransport.
 *
 * Request: "POST / HTTP/1.1", Host: _var_lib_xcp_xapi (what Python's
 * http.client derives from the URL "http://_var_lib_xcp_xapi/"), then
 * originator / traceparent / baggage (from the environment xapi gives the
 * driver: ORIGINATOR=SM, TRACEPARENT, BAGGAGE; left out when unset, as
 * XenAPI.py does), Subtask-of (when the request had subtask_of, as
 * SR.__init__ adds it), Content-Type: text/xml, User-Agent, Content-Length.
 * Not sent: Accept-Encoding: gzip (Python asks for it; this client cannot
 * inflate, and xapi answers plain bodies without it).  The body is the
 * XR_STYLE_PYTHON <methodCall>, the bytes xmlrpc.client.dumps writes.
 *
 * Faults (struct sm_error):
 *  - SME_API_PROTOCOL (154, APIProtocolError): no socket, connect refused,
 *    timeout, HTTP status other than 200, malformed HTTP, a short body,
 *    chunked transfer encoding (refused: xapi sends Content-Length), a
 *    body that is not an XML-RPC response or an XML-RPC <fault>, a result
 *    that is not the {Status, Value|ErrorDescription} struct.
 *  - SME_API_FAILURE (153, APIFailure): XenAPI answered Status "Failure".
 *    The detail is the ErrorDescription as Python prints XenAPI.Failure
 *    ("['UUID_INVALID', 'VDI', 'x']").  SRCommand names such a failure
 *    after the command (VDICreate for vdi_create, ...): callers recode it
 *    with sm_error_recode(err, <command's code>), keeping the detail.
 */
#ifndef CSM_XAPI_H
#define CSM_XAPI_H

#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"
#include "csm/xmlrpc.h"

#define XAPI_DEFAULT_SOCKET "/var/lib/xcp/xapi"
#define XAPI_SOCKET_ENV "CSM_XAPI_SOCKET"
#define XAPI_DEFAULT_TIMEOUT_MS 60000
/* A response larger than this is a protocol fault, not a malloc storm. */
#define XAPI_MAX_RESPONSE (64u << 20)

struct xapi_conn;
/*
 * Called once when a call fails with SESSION_INVALID: log in again and
 * store the new session with xapi_conn_set_session.  Return 0 to retry
 * the call once, -1 (with err set) to give up.
 */
typedef int (*xapi_relogin_fn)(struct xapi_conn *c, void *ctx,
			       struct sm_error *err);

struct xapi_conn {
	char *socket_path;
	char *session;       /* session ref, sent as the first param */
	char *subtask_of;    /* NULL: no Subtask-of header */
	char *originator;    /* NULL: no originator header */
	char *traceparent;
	char *baggage;
	int timeout_ms;      /* for the whole call: connect, write, read */
	xapi_relogin_fn relogin;
	void *relogin_ctx;
};

/*
 * Fill c.  socket_path NULL: $CSM_XAPI_SOCKET, else XAPI_DEFAULT_SOCKET.
 * subtask_of may be NULL.  timeout_ms <= 0: XAPI_DEFAULT_TIMEOUT_MS.
 * originator, traceparent and baggage come from the environment.
 * Returns 0, or -1 (out of memory; err set).  Free with xapi_conn_free.
 */
int xapi_conn_init(struct xapi_conn *c, const char *socket_path,
		   const char *session, const char *subtask_of,
		   int timeout_ms, struct sm_error *err);
void xapi_conn_free(struct xapi_conn *c);
int xapi_conn_set_session(struct xapi_conn *c, const char *session);

/*
 * Call method(session, params[0..n-1]) and put Value in *value (the
 * caller frees it with xr_free; XenAPI's "" for void calls is an
 * XR_STRING "").  The params are not taken over.  Returns 0 or -1 with
 * err set as described at the top.  On SESSION_INVALID the relogin hook
 * (if any) runs and the call is made once more with the new session.
 */
int xapi_call(struct xapi_conn *c, const char *method,
	      const struct xr_value *const params[], size_t n,
	      struct xr_value **value, struct sm_error *err);

/*
 * The exact bytes xapi_call writes for one call with the current
 * session (headers and body); malloc'd, *len set.  NULL when out of
 * memory.  For tests and debug logs.
 */
char *xapi_build_request(const struct xapi_conn *c, const char *method,
			 const struct xr_value *const params[], size_t n,
			 size_t *len);

/*
 * Parse a complete HTTP response (what the socket gave until the body's
 * Content-Length or EOF) into the XenAPI result.  Returns 0 with *value,
 * or -1 with err as described at the top.
 */
int xapi_parse_response(const char *resp, size_t len, struct xr_value **value,
			struct sm_error *err);

/* --- Typed helpers for the calls the drivers make (protocol.md §2.7) --- */

/* VDI.get_by_uuid: *ref is the malloc'd OpaqueRef. */
int xapi_vdi_get_by_uuid(struct xapi_conn *c, const char *uuid, char **ref,
			 struct sm_error *err);
/* VDI.db_forget(vdi_ref). */
int xapi_vdi_db_forget(struct xapi_conn *c, const char *vdi_ref,
		       struct sm_error *err);
/* VDI.set_virtual_size / set_physical_utilisation: sizes as decimal strings. */
int xapi_vdi_set_virtual_size(struct xapi_conn *c, const char *vdi_ref,
			      uint64_t bytes, struct sm_error *err);
int xapi_vdi_set_physical_utilisation(struct xapi_conn *c, const char *vdi_ref,
				      uint64_t bytes, struct sm_error *err);
/* SR.set_physical_size / set_physical_utilisation / set_virtual_allocation. */
int xapi_sr_set_physical_size(struct xapi_conn *c, const char *sr_ref,
			      uint64_t bytes, struct sm_error *err);
int xapi_sr_set_physical_utilisation(struct xapi_conn *c, const char *sr_ref,
				     uint64_t bytes, struct sm_error *err);
int xapi_sr_set_virtual_allocation(struct xapi_conn *c, const char *sr_ref,
				   uint64_t bytes, struct sm_error *err);

#endif
