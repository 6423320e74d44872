// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * vigil's CO-RE eBPF probe.
 *
 * Syscall events are emitted at exit, with arguments read from the
 * registers saved at entry; only syscalls whose arguments can change between
 * entry and exit (open, openat, openat2, creat, connect) also emit an event
 * at entry, from programs on those syscalls alone (fentry.bpf.c,
 * tpentry.bpf.c). Where the selection is small, the exit events come from
 * each selected syscall's own exit tracepoint instead (tpexit.bpf.c).
 * Process lifecycle comes from the sched_process_* tracepoints.
 * Parameter order follows driver/include/vigil_schema.h, generated from
 * driver/schema.go.
 */
#include "exit.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Lets user space check that the object speaks its schema. */
const char vigil_schema_version[] = VIGIL_SCHEMA_VERSION;

/*
 * Each syscall with an exit event of its own (VIGIL_EXIT_SYSCALLS, from
 * the schema) gets its own program, reached by a tail call from
 * vigil_sys_exit: the verifier then checks each event's code alone, where
 * one program holding them all takes older verifiers past their
 * million-instruction limit (6.12 does).
 */
#define EXIT_PROG(name, EVT)						\
SEC("tp_btf/sys_exit")							\
int BPF_PROG(vigil_x_##name, struct pt_regs *regs, long ret)		\
{									\
	return fill_exit(regs, ret, VIGIL_NR_##name, VIGIL_EVT_##EVT,	\
			 VIGIL_NP_##EVT, SLOT_SYS_EXIT);		\
}
VIGIL_EXIT_SYSCALLS(EXIT_PROG)

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, VIGIL_MAX_SYSCALLS);
	__type(key, __u32);
	__array(values, int (void *));
} exit_progs SEC(".maps") = {
	.values = {
#define EXIT_SLOT(name, EVT) [VIGIL_NR_##name] = (void *)&vigil_x_##name,
		VIGIL_EXIT_SYSCALLS(EXIT_SLOT)
	},
};

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 nr = regs->orig_ax, pid_tgid;

	if (nr >= VIGIL_MAX_SYSCALLS || cfg_exit_tp == EXIT_TP)
		return 0;
	/* A successful execveat reads as execve here (see execveat_tids). */
	if (nr == VIGIL_NR_execve) {
		__u32 tid = bpf_get_current_pid_tgid();

		if (bpf_map_lookup_elem(&execveat_tids, &tid)) {
			bpf_map_delete_elem(&execveat_tids, &tid);
			nr = VIGIL_NR_execveat;
		}
	} else if (nr == VIGIL_NR_execveat) {
		__u32 tid = bpf_get_current_pid_tgid();

		/* A failed execveat keeps its number: forget the mark. */
		bpf_map_delete_elem(&execveat_tids, &tid);
	}
	if (!wanted_by(nr, &pid_tgid))
		return 0;
	bpf_tail_call(ctx, &exit_progs, nr);
	/* Reached only when nr has no program of its own. */
	return emit_generic(ret, nr, pid_tgid);
}

/*
 * The fallback where the kernel refuses fentry: one program on every
 * syscall's entry, attached only while a syscall it serves is selected.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(vigil_sys_enter, struct pt_regs *regs, long id)
{
	if (id != VIGIL_NR_open && id != VIGIL_NR_openat &&
	    id != VIGIL_NR_openat2 && id != VIGIL_NR_creat &&
	    id != VIGIL_NR_connect && id != VIGIL_NR_execveat)
		return 0;
	if (id == VIGIL_NR_execveat)
		return mark_execveat();
	if (!wanted(id))
		return 0;
	return fill_enter(regs, id);
}

/*
 * A thread leaving its CPU takes no batch along: its generic events are
 * written before it runs anywhere else (see builder.h). Attached only
 * while batches are on.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(vigil_sched_switch)
{
	flush_this_batch();
	return 0;
}

/* ---- process lifecycle ------------------------------------------------- */

static __always_inline int lifecycle_wanted(void)
{
	return cfg_capture &&
	       (bpf_get_current_pid_tgid() >> 32) != cfg_ignore_tgid;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_proc_fork, struct task_struct *parent,
	     struct task_struct *child)
{
	struct builder b;

	if (!lifecycle_wanted() ||
	    begin(&b, SLOT_FORK, VIGIL_EVT_PROC_FORK, VIGIL_NP_PROC_FORK))
		return 0;
	push_u64(&b, BPF_CORE_READ(child, pid));
	push_u64(&b, BPF_CORE_READ(child, tgid));
	/* The child's parent process, not the forking task's: a new thread's
	 * parent is its process's parent, and CLONE_PARENT skips a level.
	 */
	push_u64(&b, BPF_CORE_READ(child, real_parent, tgid));
	push_kernel_str(&b, __builtin_preserve_access_index(&child->comm), 16);
	submit(&b);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_proc_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u32 old = old_pid;
	struct builder b;

	/*
	 * A thread other than the leader that execs takes the leader's tid:
	 * its execveat mark moves with it, or its exit would read execve.
	 */
	if (old != tid && bpf_map_lookup_elem(&execveat_tids, &old)) {
		__u8 one = 1;

		bpf_map_delete_elem(&execveat_tids, &old);
		bpf_map_update_elem(&execveat_tids, &tid, &one, BPF_ANY);
	}
	if (!lifecycle_wanted() ||
	    begin(&b, SLOT_EXEC, VIGIL_EVT_PROC_EXEC, VIGIL_NP_PROC_EXEC))
		return 0;
	push_file_path(&b, BPF_CORE_READ(bprm, file));
	push_u64(&b, old_pid);
	submit(&b);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_proc_exit, struct task_struct *p)
{
	struct builder b;

	if (!lifecycle_wanted() ||
	    begin(&b, SLOT_EXIT, VIGIL_EVT_PROC_EXIT, VIGIL_NP_PROC_EXIT))
		return 0;
	push_u64(&b, BPF_CORE_READ(p, exit_code));
	submit(&b);
	return 0;
}
