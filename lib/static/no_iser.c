/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * No iSER: the InfiniBand verbs and RDMA connection-manager entry points
 * libiscsi's iSER transport calls, each failing with ENOSYS.
 *
 * Linked into executables that link libiscsi statically only (never
 * libcsm.a: lib/static/ is outside the library's sources).  Debian's
 * libiscsi.a carries the iSER transport, which needs libibverbs and
 * librdmacm; Debian ships those as shared objects only, and loading them
 * (with libnl) in every call is the cost static linking avoids.  The
 * transport runs only when a caller asks for it (an iser:// URL or
 * iscsi_init_transport(..., ISER_TRANSPORT)); lib/iscsi.c uses TCP, so
 * none of these is ever reached.  Should one be, it fails as a missing
 * RDMA device would.
 *
 * No verbs headers are installed, so the prototypes are our own: the
 * return types match the real ones (pointer, int or void), and the
 * arguments, which the stubs never read, are left out; on the SysV
 * x86-64 and AArch64 ABIs a call with more arguments than the callee
 * reads is harmless.
 */
#include <errno.h>
#include <stddef.h>

#define NO_ISER_PTR(name)                 \
	void *name(void);                 \
	void *name(void)                  \
	{                                 \
		errno = ENOSYS;           \
		return NULL;              \
	}

#define NO_ISER_INT(name)                 \
	int name(void);                   \
	int name(void)                    \
	{                                 \
		errno = ENOSYS;           \
		return -1;                \
	}

#define NO_ISER_VOID(name)                \
	void name(void);                  \
	void name(void)                   \
	{                                 \
	}

NO_ISER_PTR(ibv_alloc_pd)
NO_ISER_PTR(ibv_create_comp_channel)
NO_ISER_PTR(ibv_create_cq)
NO_ISER_PTR(ibv_reg_mr)
NO_ISER_INT(ibv_dealloc_pd)
NO_ISER_INT(ibv_dereg_mr)
NO_ISER_INT(ibv_destroy_comp_channel)
NO_ISER_INT(ibv_destroy_cq)
NO_ISER_INT(ibv_get_cq_event)
NO_ISER_VOID(ibv_ack_cq_events)

NO_ISER_PTR(rdma_create_event_channel)
NO_ISER_INT(rdma_ack_cm_event)
NO_ISER_INT(rdma_connect)
NO_ISER_INT(rdma_create_id)
NO_ISER_INT(rdma_create_qp)
NO_ISER_INT(rdma_destroy_id)
NO_ISER_INT(rdma_disconnect)
NO_ISER_INT(rdma_get_cm_event)
NO_ISER_INT(rdma_resolve_addr)
NO_ISER_INT(rdma_resolve_route)
NO_ISER_VOID(rdma_destroy_qp)
