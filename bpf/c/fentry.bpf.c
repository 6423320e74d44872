// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * vigil's entry programs: the arguments of the syscalls with an entry
 * event, from fentry programs on those syscalls' wrappers. A separate
 * object from probe.bpf.c, loaded with that object's maps, because a kernel
 * may refuse fentry (some hypervisor guests' do): the probe then falls back
 * to probe.bpf.c's vigil_sys_enter, and probe.bpf.c's object stays
 * loadable whole, by libbpf too.
 */
#include "entry.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * The loader attaches vigil_e_<name> to __x64_sys_<name> when <name> is
 * selected (bpf/probe.go, entryPrograms).
 */
#define ENTER_PROG(name)						\
SEC("fentry/__x64_sys_" #name)						\
int BPF_PROG(vigil_e_##name, struct pt_regs *regs)			\
{									\
	if (!wanted(VIGIL_NR_##name))					\
		return 0;						\
	return fill_enter(regs, VIGIL_NR_##name);			\
}
ENTER_PROG(open)
ENTER_PROG(openat)
ENTER_PROG(openat2)
ENTER_PROG(creat)
ENTER_PROG(connect)

SEC("fentry/__x64_sys_execveat")
int BPF_PROG(vigil_e_execveat, struct pt_regs *regs)
{
	return mark_execveat();
}
