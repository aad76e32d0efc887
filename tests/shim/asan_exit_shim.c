/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Preloaded (after the ASan runtime) into the Debian nbdkit that the
 * sanitizer pass runs our ASan-built plugin in; never into anything
 * installed.  In that process libc's locale lock is sometimes found with
 * its reader count run below zero (an unlock without a lock, outside our
 * code), and the next writer waits for ever: p11-kit's destructor,
 * freelocale() at exit, hangs the process (docs/testing.md, "A hang costs
 * minutes").  A freelocale that does nothing at that point leaks one
 * locale object at exit, and nbdkit ends as it should.
 */
#include <locale.h>

void freelocale(locale_t locale)
{
	(void)locale;
}
