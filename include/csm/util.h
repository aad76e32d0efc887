/* SPDX-License-Identifier: LGPL-2.1-only */
/* Strict parsers for the values a request carries, and small helpers. */
#ifndef CSM_UTIL_H
#define CSM_UTIL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define SM_UUID_LEN 36

/*
 * A canonical UUID: 36 characters, lowercase hex, dashes at 8-13-18-23.
 * Anything else (uppercase, braces, path separators, dots) is refused, so
 * a checked UUID is always safe to use as a file or volume name.
 */
bool sm_uuid_valid(const char *s);
/* A fresh random (version 4) UUID in canonical form. */
void sm_uuid_generate(char out[SM_UUID_LEN + 1]);

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow. */
int sm_parse_u64(const char *s, uint64_t *out);
/*
 * A size as people type it: decimal digits, an optional decimal fraction,
 * an optional binary unit K, M, G, T, P or E (any case, optionally followed
 * by "iB" or "B"; all binary, as xe and qemu-img read them): "4096",
 * "512M", "10G", "1.5GiB", "2TB".  A bare "B" means bytes.  Never octal or
 * hex ("010" is ten), no sign, no spaces; the value must be a whole number
 * of bytes and fit in 64 bits.  0, or -1 with *why (if why is not NULL)
 * set to a static sentence saying what is wrong.
 */
int sm_parse_size(const char *s, uint64_t *out, const char **why);
/* "true" or "false", exactly. */
int sm_parse_bool(const char *s, bool *out);

/* Directory overrides for tests: SM_MOUNT_BASE, SM_LOCK_DIR. */
/* Milliseconds on the monotonic clock: for deadlines and rates, never dates. */
int64_t sm_monotonic_ms(void);

const char *sm_mount_base(void);   /* default /run/sr-mount */
const char *sm_lock_dir(void);     /* default /var/lock/sm */

/* mkdir -p with the given mode; 0 or -errno. */
int sm_mkdir_p(const char *path, unsigned mode);

/*
 * The directory of the running executable (/proc/self/exe), where its
 * companions are installed (csm-gc, the nbdkit plugin, the drivers); 0
 * or -1 when it cannot be read.
 */
int sm_exe_dir(char out[PATH_MAX]);

/* Write a whole file atomically (temp file + fsync + rename); 0 or -errno. */
int sm_write_file_atomic(const char *path, const char *data, size_t len);
/* The same with the new file's mode (before umask) instead of 0600. */
int sm_write_file_atomic_mode(const char *path, const char *data, size_t len, unsigned mode);
/* Read a whole small file (at most max bytes) into a malloc'd NUL-terminated string; 0 or -errno. */
int sm_read_file(const char *path, size_t max, char **out);
/* fsync a directory so a rename or unlink in it is durable; 0 or -errno. */
int sm_fsync_dir(const char *dir);

/* Characters XML 1.0 cannot carry (C0 controls but TAB, LF, CR). */
bool sm_has_illegal_xml_char(const char *s);

/* Standard base64 (RFC 4648, with padding) of len bytes; malloc'd. */
char *sm_base64(const unsigned char *data, size_t len);

#endif
