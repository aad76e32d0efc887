/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * csm-lvm-run FD COMMAND LINE: runs one LVM command through liblvm2cmd and
 * sends its report rows and errors up FD, for lib/lvm.c in a process with
 * threads (the nbdkit plugin), which must not run liblvm2cmd in a forked
 * copy of itself (csm/lvm.h, lvm_use_exec_helper).  Not for people: the
 * protocol on FD is lib/lvm.c's.
 */
#include "csm/lvm.h"

int main(int argc, char **argv)
{
	return lvm_helper_main(argc, argv);
}
