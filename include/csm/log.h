/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Logging as the Python SM does it: syslog, ident "SM", facility LOCAL2,
 * every line "[pid] message".  SM_LOG_STDERR=1 copies each line to stderr
 * for people debugging by hand.  /etc/xensource/no_sm_log turns logging off.
 */
#ifndef CSM_LOG_H
#define CSM_LOG_H

#include <syslog.h>

struct xr_value;

void sm_log_open(void);
void sm_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True for the dconf keys whose values are secrets and never logged. */
int sm_log_is_secret_key(const char *key);

/*
 * Log a request as "<command> <params>" with secrets (passwords,
 * session_ref) replaced by "******".
 */
void sm_log_request(const char *method, const struct xr_value *req);
/*
 * That line, without the "[pid] " prefix: "<command> {...}" with strings
 * as Python's repr writes them (quotes, backslashes and control
 * characters escaped, so the line is one line).  malloc'd; NULL when out
 * of memory.
 */
char *sm_log_format_request(const char *method, const struct xr_value *req);

struct sm_error;
/*
 * Read such a line back (whatever syslog or stderr put before
 * "<command> {" is skipped): *method and *req (the request struct) as
 * the driver got them, except the masked secrets, which stay "******";
 * *masked names those keys, comma-separated ("" for none).  All three
 * malloc'd.  A line that is not one is SME_BAD_REQUEST saying where.
 */
int sm_log_parse_request(const char *line, char **method, struct xr_value **req,
			 char **masked, struct sm_error *err);

#endif
