// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * vigil's entry programs for kernels that refuse fentry (some hypervisor
 * guests', and where the wrapper's BTF will not do): each on its
 * syscall's own tracepoint, syscalls:sys_enter_<name>. The kernel tests
 * that tracepoint's bit before it calls a program, so a syscall nobody
 * selected runs none, where a program on the raw sys_enter tracepoint
 * runs for every syscall. A third object, loaded with probe.bpf.c's maps
 * like fentry.bpf.c.
 */
#include "entry.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * What a BPF program on a syscall's tracepoint is given (perf's record of
 * the call). The layout is the tracepoint's format file's, an ABI: the
 * common header, the syscall's number, then each argument in 8 bytes.
 */
struct syscall_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

/*
 * The kernel refuses to attach a program that reads past the syscall's
 * last argument: each reads only the @n its syscall has.
 */
#define TP_ENTER(name, n)						\
SEC("tracepoint/syscalls/sys_enter_" #name)				\
int vigil_t_##name(struct syscall_enter_ctx *ctx)			\
{									\
	if (!wanted(VIGIL_NR_##name))					\
		return 0;						\
	return fill_enter_args(VIGIL_NR_##name, ctx->args[0],		\
			       ctx->args[1], n > 2 ? ctx->args[2] : 0,	\
			       n > 3 ? ctx->args[3] : 0);		\
}
TP_ENTER(open, 3)
TP_ENTER(openat, 4)
TP_ENTER(openat2, 4)
TP_ENTER(creat, 2)
TP_ENTER(connect, 3)

SEC("tracepoint/syscalls/sys_enter_execveat")
int vigil_t_execveat(struct syscall_enter_ctx *ctx)
{
	return mark_execveat();
}
