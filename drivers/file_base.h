/* SPDX-License-Identifier: LGPL-2.1-only */
#ifndef CSM_FILE_BASE_H
#define CSM_FILE_BASE_H

#include "csm/driver.h"

/*
 * The VDI operations of a directory of VHD files (filebased.c) as a base
 * table: FileSR, EXTSR and NFSSR set .base = &sm_file_base and fill only
 * how the directory is reached (load: fsr_new or fsr_new_local; the SR
 * ops).  It has no load: ctx->sr is the upper layer's to create, since
 * only it knows where the directory is.
 */
extern const struct sm_driver sm_file_base;

#endif
