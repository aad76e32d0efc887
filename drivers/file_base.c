/* SPDX-License-Identifier: LGPL-2.1-only */
/* The file store's VDI operations as the base table of the file SR types. */
#include "file_base.h"
#include "filebased.h"

const struct sm_driver sm_file_base = {
	.type = "file-base",
	.unload = fsr_unload,
	.recover = fsr_recover,
	.collect = fsr_collect,
	.ops = {
		[SM_OP_SR_SCAN] = fsr_sr_scan,
		[SM_OP_SR_UPDATE] = fsr_sr_update,
		[SM_OP_SR_CONTENT_TYPE] = fsr_sr_content_type,
		[SM_OP_VDI_CREATE] = fsr_vdi_create,
		[SM_OP_VDI_DELETE] = fsr_vdi_delete,
		[SM_OP_VDI_ATTACH] = fsr_vdi_attach,
		[SM_OP_VDI_DETACH] = fsr_vdi_detach,
		[SM_OP_VDI_ACTIVATE] = fsr_vdi_activate,
		[SM_OP_VDI_DEACTIVATE] = fsr_vdi_deactivate,
		[SM_OP_VDI_SNAPSHOT] = fsr_vdi_snapshot,
		[SM_OP_VDI_CLONE] = fsr_vdi_clone,
		[SM_OP_VDI_RESIZE] = fsr_vdi_resize,
		[SM_OP_VDI_INTRODUCE] = fsr_vdi_introduce,
		[SM_OP_VDI_UPDATE] = fsr_vdi_update,
		[SM_OP_VDI_GENERATE_CONFIG] = fsr_vdi_generate_config,
		[SM_OP_VDI_ATTACH_FROM_CONFIG] = fsr_vdi_attach_from_config,
		[SM_OP_VDI_DETACH_FROM_CONFIG] = fsr_vdi_detach_from_config,
		[SM_OP_VDI_LOCK] = fsr_vdi_lock,
		[SM_OP_VDI_UNLOCK] = fsr_vdi_unlock,
	},
};
