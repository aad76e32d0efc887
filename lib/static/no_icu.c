/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * No ICU: the ICU converter entry points libxml2's encoding code calls,
 * answering "no such converter" to every name.
 *
 * Linked into the statically linked executables only (never libcsm.a:
 * lib/static/ is outside the library's sources).  Debian's libxml2 is
 * built with ICU as its last fallback for encoding names that neither
 * libxml2 itself (UTF-8, UTF-16, ISO-8859-1, ASCII) nor the C library's
 * iconv knows.  Linking the real thing statically costs 31 MB of
 * converter tables (libicudata) plus libicuuc and libstdc++ in every
 * driver, for requests xapi never sends (they are ASCII/UTF-8).  With
 * these definitions in their place, such a request fails the way an
 * unknown name always has: libxml2 reports "Unsupported encoding <name>"
 * and the driver answers with a parse fault.
 *
 * The names come from ICU's own header, which renames them with the
 * version suffix (ucnv_open -> ucnv_open_72) exactly as in the
 * libxml2.a built against it.  Without ICU headers there is nothing to
 * replace: such a libxml2 was built without ICU.
 */
#if defined(__has_include)
#if __has_include(<unicode/ucnv.h>)
#define CSM_NO_ICU 1
#endif
#endif

#ifdef CSM_NO_ICU
#include <stddef.h>
#include <unicode/ucnv.h>

/*
 * ICU's convention: a call made with a failure already in *err does
 * nothing.  U_FILE_ACCESS_ERROR is what ICU itself answers for a name it
 * has no table for, and what libxml2 maps to "unsupported encoding".
 */
UConverter *ucnv_open(const char *converterName, UErrorCode *err)
{
	(void)converterName;
	if (err && U_SUCCESS(*err))
		*err = U_FILE_ACCESS_ERROR;
	return NULL;
}

void ucnv_close(UConverter *converter)
{
	(void)converter;
}

/* Never reached (no converter can be opened); fail if it ever is. */
void ucnv_setToUCallBack(UConverter *converter, UConverterToUCallback newAction,
			 const void *newContext, UConverterToUCallback *oldAction,
			 const void **oldContext, UErrorCode *err)
{
	if (err && U_SUCCESS(*err))
		*err = U_UNSUPPORTED_ERROR;
}

void ucnv_setFromUCallBack(UConverter *converter, UConverterFromUCallback newAction,
			   const void *newContext, UConverterFromUCallback *oldAction,
			   const void **oldContext, UErrorCode *err)
{
	if (err && U_SUCCESS(*err))
		*err = U_UNSUPPORTED_ERROR;
}

void ucnv_convertEx(UConverter *targetCnv, UConverter *sourceCnv,
		    char **target, const char *targetLimit,
		    const char **source, const char *sourceLimit,
		    UChar *pivotStart, UChar **pivotSource,
		    UChar **pivotTarget, const UChar *pivotLimit,
		    UBool reset, UBool flush, UErrorCode *pErrorCode)
{
	if (pErrorCode && U_SUCCESS(*pErrorCode))
		*pErrorCode = U_UNSUPPORTED_ERROR;
}

/* libxml2 passes these as values; ICU's STOP callbacks do nothing either. */
void UCNV_TO_U_CALLBACK_STOP(const void *context, UConverterToUnicodeArgs *toUArgs,
			     const char *codeUnits, int32_t length,
			     UConverterCallbackReason reason, UErrorCode *err)
{
}

void UCNV_FROM_U_CALLBACK_STOP(const void *context, UConverterFromUnicodeArgs *fromUArgs,
			       const UChar *codeUnits, int32_t length, UChar32 codePoint,
			       UConverterCallbackReason reason, UErrorCode *err)
{
}
#else
/* ISO C wants a declaration in every translation unit. */
typedef int csm_no_icu_unused;
#endif
