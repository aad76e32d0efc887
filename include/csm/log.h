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

#endif
