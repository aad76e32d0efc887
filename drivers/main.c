/* SPDX-License-Identifier: LGPL-2.1-only */
/* The whole main() of every driver executable; SM_DRIVER names its op table. */
#include "csm/driver.h"

extern const struct sm_driver SM_DRIVER;

int main(int argc, char **argv)
{
	return sm_main(&SM_DRIVER, argc, argv);
}
