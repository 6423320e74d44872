/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * What the exit programs (probe.bpf.c) and the entry programs
 * (fentry.bpf.c, a separate object) share: the argument registers, the
 * execveat mark, the selection test and the entry events.
 */
#ifndef VIGIL_ENTRY_H
#define VIGIL_ENTRY_H

#include "task.h"
#include "filter.h"

#define ARG0(r) BPF_CORE_READ(r, di)
#define ARG1(r) BPF_CORE_READ(r, si)
#define ARG2(r) BPF_CORE_READ(r, dx)
#define ARG3(r) BPF_CORE_READ(r, r10)
#define ARG4(r) BPF_CORE_READ(r, r8)

/*
 * A successful exec rewrites orig_ax to __NR_execve on x86
 * (set_personality_64bit), so execveat is remembered at entry.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} execveat_tids SEC(".maps");

/*
 * Cheapest test first: most syscalls end at the bitmap. *pid_tgid is the
 * caller's, for its event, when the syscall is wanted.
 */
static __always_inline int wanted_by(__u64 nr, __u64 *pid_tgid)
{
	if (!cfg_interesting[nr & (VIGIL_MAX_SYSCALLS - 1)] || !cfg_capture)
		return 0;
	*pid_tgid = bpf_get_current_pid_tgid();
	return (*pid_tgid >> 32) != cfg_ignore_tgid;
}

static __always_inline int wanted(__u64 nr)
{
	__u64 pid_tgid;

	return wanted_by(nr, &pid_tgid);
}

/*
 * Entry events: the arguments as the kernel is about to see them, for the
 * syscalls whose arguments may change before the call reads them. Only
 * those syscalls run a program at entry, and only while selected: an
 * fentry program on the syscall's wrapper (fentry.bpf.c) or, where the
 * kernel refuses fentry, one on the syscall's own tracepoint
 * (tpentry.bpf.c). Both run after seccomp and ptrace, where the sys_enter
 * tracepoint runs, so they see the same arguments; a0-a3 are the
 * syscall's first arguments, those it does not have read as 0.
 */
static __always_inline int fill_enter_args(__u64 nr, __u64 a0, __u64 a1,
					   __u64 a2, __u64 a3)
{
	struct builder b;

	switch (nr) {
	case VIGIL_NR_open:	/* name, flags, mode */
		if (begin(&b, SLOT_SHARED, VIGIL_EVT_OPEN_E, VIGIL_NP_OPEN_E))
			return 0;
		push_user_str(&b, (const char *)a0, PARAM_MAX);
		push_u32(&b, a1);
		push_u32(&b, a2);
		break;
	case VIGIL_NR_openat:	/* dirfd, name, flags, mode */
		if (begin(&b, SLOT_SHARED, VIGIL_EVT_OPENAT_E, VIGIL_NP_OPENAT_E))
			return 0;
		push_u64(&b, (__s32)a0);
		push_user_str(&b, (const char *)a1, PARAM_MAX);
		push_u32(&b, a2);
		push_u32(&b, a3);
		break;
	case VIGIL_NR_openat2: { /* dirfd, name, flags, mode, resolve */
		struct open_how how = {};

		if (begin(&b, SLOT_SHARED, VIGIL_EVT_OPENAT2_E, VIGIL_NP_OPENAT2_E))
			return 0;
		bpf_probe_read_user(&how, sizeof(how), (void *)a2);
		push_u64(&b, (__s32)a0);
		push_user_str(&b, (const char *)a1, PARAM_MAX);
		push_u32(&b, how.flags);
		push_u32(&b, how.mode);
		push_u64(&b, how.resolve);
		break;
	}
	case VIGIL_NR_creat:	/* name, mode */
		if (begin(&b, SLOT_SHARED, VIGIL_EVT_CREAT_E, VIGIL_NP_CREAT_E))
			return 0;
		push_user_str(&b, (const char *)a0, PARAM_MAX);
		push_u32(&b, a1);
		break;
	case VIGIL_NR_connect:	/* fd, addr */
		if (begin(&b, SLOT_SHARED, VIGIL_EVT_CONNECT_E, VIGIL_NP_CONNECT_E))
			return 0;
		push_u64(&b, (__s32)a0);
		push_sockaddr(&b, (void *)a1, a2);
		break;
	default:
		return 0;
	}
	kf_enter(&b, nr);
	submit(&b);
	return 0;
}

/*
 * The entry event from the saved registers (fentry on the wrapper, the
 * sys_enter fallback): only the registers the syscall has are read.
 */
static __always_inline int fill_enter(struct pt_regs *regs, __u64 nr)
{
	__u64 a2 = 0, a3 = 0;

	if (nr != VIGIL_NR_creat)
		a2 = ARG2(regs);
	if (nr == VIGIL_NR_openat)
		a3 = ARG3(regs);
	return fill_enter_args(nr, ARG0(regs), ARG1(regs), a2, a3);
}

/* An execveat's entry, while selected: remembered for its exit. */
static __always_inline int mark_execveat(void)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u8 one = 1;

	if (wanted(VIGIL_NR_execveat))
		bpf_map_update_elem(&execveat_tids, &tid, &one, BPF_ANY);
	return 0;
}

#endif /* VIGIL_ENTRY_H */
