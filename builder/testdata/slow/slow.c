// SPDX-License-Identifier: GPL-2.0-only
/*
 * The builder's timeout fixture: its Kbuild stalls the build, so the
 * timeout test never races the machine's speed.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init vigil_slow_init(void)
{
	return 0;
}

static void __exit vigil_slow_exit(void)
{
}

module_init(vigil_slow_init);
module_exit(vigil_slow_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vigil builder timeout fixture");
