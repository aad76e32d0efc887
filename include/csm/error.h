/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * One error value travels from the layer that detects a failure up to the
 * response writer: a reference SR error code (XE_SR_ERRORCODES.xml) and an
 * optional detail that becomes "[opterr=...]" in the faultString.
 */
#ifndef CSM_ERROR_H
#define CSM_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* The reference codes this project uses; the table in lib/error.c names them. */
enum sm_errcode {
	SM_OK = 0,
	SME_INVALID_ARG = 1,
	SME_SR_IN_USE = 16,
	SME_VDI_IN_USE = 24,
	SME_LOCK_ERR = 37,
	SME_UNIMPLEMENTED = 38,
	SME_SR_NOT_EMPTY = 39,
	SME_SR_SCAN = 40,
	SME_SR_EXISTS = 42,
	SME_VDI_EXISTS = 43,
	SME_SR_NO_SPACE = 44,
	SME_VDI_UNAVAILABLE = 46,
	SME_SR_UNAVAILABLE = 47,
	SME_LVM_CREATE = 50,
	SME_LVM_DELETE = 51,
	SME_LVM_MOUNT = 52,
	SME_LVM_UNMOUNT = 53,
	SME_LVM_WRITE = 54,
	SME_LVM_PART_CREATE = 55,
	SME_LVM_PART_IN_USE = 56,
	SME_LVM_FILESYSTEM = 57,
	SME_LVM_MASTER = 58,
	SME_FILE_SR_CREATE = 61,
	SME_FILE_SR_RMDIR = 62,
	SME_FILE_SR_DELETE = 63,
	SME_VDI_REMOVE = 64,
	SME_VDI_LOAD = 65,
	SME_VDI_TYPE = 66,
	SME_NFS_VERSION = 72,
	SME_NFS_MOUNT = 73,
	SME_NFS_UNMOUNT = 74,
	SME_NFS_ATTACHED = 75,
	SME_NFS_DELETE = 76,
	SME_LVM_GROUP_CREATE = 77,
	SME_VDI_CREATE = 78,
	SME_VDI_SIZE = 79,
	SME_VDI_DELETE = 80,
	SME_VDI_CLONE = 81,
	SME_VDI_SNAPSHOT = 82,
	SME_NFS_CREATE = 88,
	SME_CONFIG_DEVICE_MISSING = 90,
	SME_CONFIG_DEVICE_INVALID = 91,
	SME_CONFIG_LOCATION_MISSING = 94,
	SME_CONFIG_SERVER_PATH_MISSING = 101,
	SME_CONFIG_SERVER_MISSING = 102,
	SME_CONFIG_SERVER_PATH_BAD = 103,
	SME_NFS_TARGET = 108,
	SME_SNAPSHOT_CHAIN_TOO_LONG = 109,
	SME_VDI_RESIZE = 110,
	SME_LVM_NO_VOLUME = 100,
	SME_CONFIG_PARAMS_MISSING = 115,
	SME_LVM_READ = 117,
	SME_BAD_REQUEST = 143,
	SME_API_FAILURE = 153,
	SME_API_PROTOCOL = 154,
	SME_METADATA_ERROR = 181,
	SME_VDI_MISSING = 144,
	SME_EIO = 200,
	SME_SM_GENERAL = 202,
	SME_XML_PARSE = 413,
	SME_ILLEGAL_XML_CHAR = 447,
	SME_SHARED_FS_NO_WRITE = 461,
	/* iSCSI and its configuration (ISCSISR, LVMoISCSISR) */
	SME_INVALID_SECRET = 20,
	SME_ISCSI_DEVICE = 67,
	SME_ISCSI_LOGIN = 68,
	SME_ISCSI_LOGOUT = 69,
	SME_ISCSI_DISCOVERY = 83,
	SME_ISCSI_QUERY_DAEMON = 86,
	SME_CONFIG_LUNID_MISSING = 89,
	SME_CONFIG_TARGET_MISSING = 95,
	SME_CONFIG_TARGET_IQN_MISSING = 96,
	SME_CONFIG_ISCSI_IQN_MISSING = 97,
	SME_LVM_ONE_LUN = 99,
	SME_CONFIG_SCSIID = 107,
	SME_PV_MULTI_IDS = 119,
	SME_DNS_ERROR = 140,
	SME_ISCSI_TARGET = 141,
	SME_ISCSI_PORT = 142,
	SME_ISCSI_DELETE = 182,
	SME_GENERIC = 1200,
};

#define SM_ERROR_DETAIL_MAX 1024

struct sm_error {
	int code;                          /* enum sm_errcode, 0 = no error */
	char detail[SM_ERROR_DETAIL_MAX];  /* "" = no opterr */
};

/*
 * Record an error and return -1, so callers can write
 * "return sm_fail(err, SME_VDI_CREATE, "...", ...);".  err may be NULL.
 * The first error recorded wins: a later sm_fail on an already-set error
 * keeps the original code and detail (the root cause reaches the wire).
 */
int sm_fail(struct sm_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int sm_vfail(struct sm_error *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * As sm_fail, with ": <strerror(errnum)>" appended to the detail.  ENOSPC
 * and EDQUOT record SME_SR_NO_SPACE whatever code is given: a full SR is
 * what the caller must hear, not the step that found it.
 */
int sm_fail_errno(struct sm_error *err, int code, int errnum,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Give a recorded failure the code of the operation that failed
 * (VDISnapshot for a snapshot whose child could not be written), as the
 * Python SM names a failed command after the command: the step's own
 * code (VDILoad, EIO, SMGeneral) tells the caller less.  SME_SR_NO_SPACE
 * and SME_SR_UNAVAILABLE stay, and so does the detail.  No-op without an
 * error.
 */
void sm_error_recode(struct sm_error *err, int code);

void sm_error_clear(struct sm_error *err);

/* Table lookups; NULL for a code the project does not know. */
const char *sm_error_name(int code);
const char *sm_error_description(int code);

/*
 * The faultString as the Python SM prints it:
 * "<description>" or "<description> [opterr=<detail>]".  Returns a
 * malloc'd string (never NULL unless out of memory).
 */
char *sm_error_fault_string(const struct sm_error *err);

#endif
