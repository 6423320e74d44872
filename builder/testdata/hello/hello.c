// SPDX-License-Identifier: GPL-2.0-only
/*
 * A module that does nothing but load and unload: the builder's test
 * fixture until vigil's own module exists.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init vigil_hello_init(void)
{
	pr_info("vigil_hello: loaded\n");
	return 0;
}

static void __exit vigil_hello_exit(void)
{
	pr_info("vigil_hello: unloaded\n");
}

module_init(vigil_hello_init);
module_exit(vigil_hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vigil builder test fixture");
