// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * vigil's exit programs for small selections: each on a selected
 * syscall's own exit tracepoint, syscalls:sys_exit_<name>. The kernel tests
 * that tracepoint's bit before it calls a program, so a syscall nobody
 * selected runs none, where vigil_sys_exit on the raw sys_exit tracepoint
 * runs for every syscall to test the selection itself. A separate object,
 * loaded with probe.bpf.c's maps, each program only once its syscall is
 * selected; cfg_exit_tp says which of the two serves.
 */
#include "exit.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * What a BPF program on a syscall's exit tracepoint is given: the common
 * header, the syscall's number and its return value (the format file's
 * layout, an ABI).
 */
struct syscall_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

/* The registers the syscall's entry saved: its arguments. */
static __always_inline struct pt_regs *saved_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

static __always_inline int exit_event(struct syscall_exit_ctx *ctx, __u64 nr,
				      __u16 type, __u16 np)
{
	if (cfg_exit_tp == EXIT_RAW || !wanted(nr))
		return 0;
	/*
	 * Each of these is a program of its own, and on 7.2 they are seen to
	 * interleave on a CPU (an openat's path length in a clone event's
	 * lengths): they claim a shared slot, as the entry programs do, and
	 * never share SLOT_SYS_EXIT with a preempted run of the dispatcher.
	 */
	return fill_exit(saved_regs(), ctx->ret, nr, type, np, SLOT_SHARED);
}

/*
 * A successful execveat exits through sys_exit_execve (its orig_ax now
 * reads execve, see execveat_tids), a failed one through its own.
 */
static __always_inline int exec_exit(struct syscall_exit_ctx *ctx, __u64 nr)
{
	__u32 tid = bpf_get_current_pid_tgid();

	if (nr == VIGIL_NR_execve && !bpf_map_lookup_elem(&execveat_tids, &tid))
		return exit_event(ctx, VIGIL_NR_execve, VIGIL_EVT_EXECVE_X,
				  VIGIL_NP_EXECVE_X);
	bpf_map_delete_elem(&execveat_tids, &tid);
	return exit_event(ctx, VIGIL_NR_execveat, VIGIL_EVT_EXECVEAT_X,
			  VIGIL_NP_EXECVEAT_X);
}

/* The loader attaches vigil_tx_<name> to syscalls:sys_exit_<name>. */
#define TP_EXIT(name, EVT)						\
SEC("tracepoint/syscalls/sys_exit_" #name)				\
int vigil_tx_##name(struct syscall_exit_ctx *ctx)			\
{									\
	if (VIGIL_NR_##name == VIGIL_NR_execve ||			\
	    VIGIL_NR_##name == VIGIL_NR_execveat)			\
		return exec_exit(ctx, VIGIL_NR_##name);			\
	return exit_event(ctx, VIGIL_NR_##name, VIGIL_EVT_##EVT,	\
			  VIGIL_NP_##EVT);				\
}
VIGIL_EXIT_SYSCALLS(TP_EXIT)

/*
 * Every selected syscall without an exit event of its own: the loader
 * attaches this one program to each of their exit tracepoints.
 */
SEC("tracepoint/syscalls/sys_exit")
int vigil_tx_generic(struct syscall_exit_ctx *ctx)
{
	__u64 nr = (__u32)ctx->nr, pid_tgid;

	if (cfg_exit_tp == EXIT_RAW || nr >= VIGIL_MAX_SYSCALLS ||
	    !wanted_by(nr, &pid_tgid))
		return 0;
	return emit_generic(ctx->ret, nr, pid_tgid);
}
