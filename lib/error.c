/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The project's table of reference SR error codes.  Names, numbers and
 * descriptions are those of XE_SR_ERRORCODES.xml, byte for byte
 * (including SRScan's trailing space), because xapi and the people
 * reading its errors know them by those strings.  tests/unit checks the
 * table against the reference file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/error.h"

struct sm_errdef {
	int code;
	const char *name;
	const char *description;
};

static const struct sm_errdef errdefs[] = {
	{ SME_INVALID_ARG, "InvalidArg", "Invalid argument" },
	{ SME_SR_IN_USE, "SRInUse", "The SR device is currently in use" },
	{ SME_VDI_IN_USE, "VDIInUse", "The VDI is currently in use" },
	{ SME_LOCK_ERR, "LockErr", "The lock/unlock request failed" },
	{ SME_UNIMPLEMENTED, "Unimplemented", "The requested method is not supported/implemented" },
	{ SME_SR_NOT_EMPTY, "SRNotEmpty", "The SR is not empty" },
	{ SME_SR_SCAN, "SRScan", "The SR scan failed " },
	{ SME_SR_EXISTS, "SRExists", "The SR already exists" },
	{ SME_VDI_EXISTS, "VDIExists", "The VDI already exists" },
	{ SME_SR_NO_SPACE, "SRNoSpace", "There is insufficient space" },
	{ SME_VDI_UNAVAILABLE, "VDIUnavailable", "The VDI is not available" },
	{ SME_SR_UNAVAILABLE, "SRUnavailable", "The SR is not available" },
	{ SME_LVM_CREATE, "LVMCreate", "Logical Volume creation error" },
	{ SME_LVM_DELETE, "LVMDelete", "Logical Volume deletion error" },
	{ SME_LVM_MOUNT, "LVMMount", "Logical Volume mount/activate error" },
	{ SME_LVM_UNMOUNT, "LVMUnMount", "Logical Volume unmount/deactivate error" },
	{ SME_LVM_WRITE, "LVMWrite", "Logical Volume write error" },
	{ SME_LVM_PART_CREATE, "LVMPartCreate", "Logical Volume partition creation error" },
	{ SME_LVM_PART_IN_USE, "LVMPartInUse", "Logical Volume partition in use" },
	{ SME_LVM_FILESYSTEM, "LVMFilesystem", "Logical Volume filesystem creation error" },
	{ SME_LVM_MASTER, "LVMMaster", "Logical Volume request must come from master" },
	{ SME_FILE_SR_CREATE, "FileSRCreate", "File SR creation error" },
	{ SME_FILE_SR_RMDIR, "FileSRRmDir", "File SR failed to remove directory" },
	{ SME_FILE_SR_DELETE, "FileSRDelete", "File SR deletion error" },
	{ SME_VDI_REMOVE, "VDIRemove", "Failed to remove VDI" },
	{ SME_VDI_LOAD, "VDILoad", "Failed to load VDI" },
	{ SME_VDI_TYPE, "VDIType", "Invalid VDI type" },
	{ SME_NFS_VERSION, "NFSVersion", "Required NFS server version unsupported" },
	{ SME_NFS_MOUNT, "NFSMount", "NFS mount error" },
	{ SME_NFS_UNMOUNT, "NFSUnMount", "NFS unmount error" },
	{ SME_NFS_ATTACHED, "NFSAttached", "NFS mount point already attached" },
	{ SME_NFS_DELETE, "NFSDelete", "Failed to remove NFS mount point" },
	{ SME_LVM_GROUP_CREATE, "LVMGroupCreate", "Logical Volume group creation failed" },
	{ SME_VDI_CREATE, "VDICreate", "VDI Creation failed" },
	{ SME_VDI_SIZE, "VDISize", "VDI Invalid size" },
	{ SME_VDI_DELETE, "VDIDelete", "Failed to mark VDI hidden" },
	{ SME_VDI_CLONE, "VDIClone", "Failed to clone VDI" },
	{ SME_VDI_SNAPSHOT, "VDISnapshot", "Failed to snapshot VDI" },
	{ SME_NFS_CREATE, "NFSCreate", "NFS SR creation error" },
	{ SME_CONFIG_DEVICE_MISSING, "ConfigDeviceMissing", "The request is missing the device parameter" },
	{ SME_CONFIG_DEVICE_INVALID, "ConfigDeviceInvalid", "The device is not a valid path" },
	{ SME_CONFIG_LOCATION_MISSING, "ConfigLocationMissing", "The request is missing the location parameter" },
	{ SME_CONFIG_SERVER_PATH_MISSING, "ConfigServerPathMissing", "The request is missing the serverpath parameter" },
	{ SME_CONFIG_SERVER_MISSING, "ConfigServerMissing", "The request is missing the server parameter" },
	{ SME_CONFIG_SERVER_PATH_BAD, "ConfigServerPathBad", "The serverpath argument is not valid" },
	{ SME_NFS_TARGET, "NFSTarget", "Unable to detect an NFS service on this target." },
	{ SME_SNAPSHOT_CHAIN_TOO_LONG, "SnapshotChainTooLong", "The snapshot chain is too long" },
	{ SME_VDI_RESIZE, "VDIResize", "VDI resize failed" },
	{ SME_LVM_NO_VOLUME, "LVMNoVolume", "Cannot find volume" },
	{ SME_CONFIG_PARAMS_MISSING, "ConfigParamsMissing", "Not all required parameters specified." },
	{ SME_LVM_READ, "LVMRead", "Logical Volume read error" },
	{ SME_BAD_REQUEST, "BadRequest", "Failed to parse the request" },
	{ SME_METADATA_ERROR, "MetadataError", "Error in Metadata volume operation for SR." },
	{ SME_VDI_MISSING, "VDIMissing", "VDI could not be found" },
	{ SME_EIO, "EIO", "General IO error" },
	{ SME_SM_GENERAL, "SMGeneral", "General backend error" },
	{ SME_API_FAILURE, "APIFailure", "A Failure occurred accessing an API object" },
	{ SME_API_PROTOCOL, "APIProtocolError", "A protocol error was received when accessing the API" },
	{ SME_XML_PARSE, "XMLParse", "Unable to parse XML" },
	{ SME_ILLEGAL_XML_CHAR, "IllegalXMLChar", "Illegal XML character." },
	{ SME_SHARED_FS_NO_WRITE, "SharedFileSystemNoWrite", "The file system for SR cannot be written to." },
	{ SME_GENERIC, "GenericException", "SM has thrown a generic python exception" },
	{ SME_INVALID_SECRET, "InvalidSecret", "No such secret." },
	{ SME_ISCSI_DEVICE, "ISCSIDevice", "ISCSI device failed to appear" },
	{ SME_ISCSI_LOGIN, "ISCSILogin", "ISCSI login failed - check access settings for the initiator on the storage, if CHAP is used verify CHAP credentials" },
	{ SME_ISCSI_LOGOUT, "ISCSILogout", "ISCSI logout failed" },
	{ SME_ISCSI_DISCOVERY, "ISCSIDiscovery", "ISCSI discovery failed" },
	{ SME_ISCSI_QUERY_DAEMON, "ISCSIQueryDaemon", "Failed to query the iscsi daemon" },
	{ SME_CONFIG_LUNID_MISSING, "ConfigLUNIDMissing", "The request is missing the LUNid parameter" },
	{ SME_CONFIG_TARGET_MISSING, "ConfigTargetMissing", "The request is missing the target parameter" },
	{ SME_CONFIG_TARGET_IQN_MISSING, "ConfigTargetIQNMissing", "The request is missing or has an incorrect target IQN parameter" },
	{ SME_CONFIG_ISCSI_IQN_MISSING, "ConfigISCSIIQNMissing", "Unable to retrieve the host configuration ISCSI IQN parameter" },
	{ SME_LVM_ONE_LUN, "LVMOneLUN", "Only 1 LUN may be used with shared LVM" },
	{ SME_CONFIG_SCSIID, "ConfigSCSIid", "The SCSIid parameter is missing or incorrect" },
	{ SME_PV_MULTI_IDS, "PVMultiIDs", "PVs found with multiple SCSI IDs" },
	{ SME_DNS_ERROR, "DNSError", "Incorrect DNS name, unable to resolve." },
	{ SME_ISCSI_TARGET, "ISCSITarget", "Unable to connect to ISCSI service on target" },
	{ SME_ISCSI_PORT, "ISCSIPort", "Incorrect value for iSCSI port, must be a number between 1 and 65535" },
	{ SME_ISCSI_DELETE, "ISCSIDelete", "ISCSI delete failed" },
};

static const struct sm_errdef *errdef_find(int code)
{
	for (size_t i = 0; i < sizeof(errdefs) / sizeof(errdefs[0]); i++)
		if (errdefs[i].code == code)
			return &errdefs[i];
	return NULL;
}

const char *sm_error_name(int code)
{
	const struct sm_errdef *d = errdef_find(code);

	return d ? d->name : NULL;
}

const char *sm_error_description(int code)
{
	const struct sm_errdef *d = errdef_find(code);

	return d ? d->description : NULL;
}

int sm_vfail(struct sm_error *err, int code, const char *fmt, va_list ap)
{
	if (!err || err->code != SM_OK)
		return -1;
	err->code = code;
	err->detail[0] = '\0';
	if (fmt)
		vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	return -1;
}

int sm_fail(struct sm_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sm_vfail(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A full file system is the one cause the caller can act on whatever step
 * met it (a journal record, a header, a hard link, a lock file): every
 * ENOSPC and EDQUOT is SRNoSpace, as the seed API asks of every operation.
 */
static int errno_code(int code, int errnum)
{
	if (errnum == ENOSPC || errnum == EDQUOT)
		return SME_SR_NO_SPACE;
	return code;
}

int sm_fail_errno(struct sm_error *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (!err || err->code != SM_OK)
		return -1;
	va_start(ap, fmt);
	sm_vfail(err, errno_code(code, errnum), fmt, ap);
	va_end(ap);
	len = strlen(err->detail);
	if (len < sizeof(err->detail))
		snprintf(err->detail + len, sizeof(err->detail) - len, ": %s",
			 strerror(errnum));
	return -1;
}

void sm_error_recode(struct sm_error *err, int code)
{
	if (!err || err->code == SM_OK || err->code == SME_SR_NO_SPACE ||
	    err->code == SME_SR_UNAVAILABLE)
		return;
	err->code = code;
}

void sm_error_clear(struct sm_error *err)
{
	if (!err)
		return;
	err->code = SM_OK;
	err->detail[0] = '\0';
}

char *sm_error_fault_string(const struct sm_error *err)
{
	const char *desc = sm_error_description(err->code);
	char unknown[64];
	char *out = NULL;

	if (!desc) {
		snprintf(unknown, sizeof(unknown), "Error reporting error, unknown key %d",
			 err->code);
		desc = unknown;
	}
	if (err->detail[0] == '\0')
		return strdup(desc);
	if (asprintf(&out, "%s [opterr=%s]", desc, err->detail) < 0)
		return NULL;
	return out;
}
