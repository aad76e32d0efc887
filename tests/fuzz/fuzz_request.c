/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libFuzzer target for the request parser.  Whatever xr_parse_call
 * accepts, the response writer must turn into a document our own
 * response parser accepts again: the writer's sanitising (control
 * characters, invalid UTF-8) is what keeps the driver's stdout
 * well-formed whatever strings a request carried.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csm/error.h"
#include "csm/xmlrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_written(const char *doc)
{
	struct xr_value *back = NULL;
	struct sm_error err = { 0 };
	bool is_fault;

	if (!doc)
		return;		/* out of memory */
	if (xr_parse_response(doc, strlen(doc), &back, &is_fault, &err) || is_fault)
		abort();
	xr_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xr_value *params = NULL;
	struct sm_error err = { 0 };
	char *method = NULL, *doc;

	if (xr_parse_call((const char *)data, size, &method, &params, &err)) {
		if (err.code != SME_BAD_REQUEST || params || method)
			abort();
		return 0;
	}
	doc = xr_write_response(params);
	check_written(doc);
	free(doc);
	/* The call writers must also stay well-formed. */
	doc = xr_write_call(method, params, XR_STYLE_XAPI);
	free(doc);
	doc = xr_write_call(method, params, XR_STYLE_PYTHON);
	free(doc);
	free(method);
	xr_free(params);
	return 0;
}
