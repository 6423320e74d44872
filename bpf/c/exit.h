/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The syscall exit events, shared by the programs on the raw sys_exit
 * tracepoint (probe.bpf.c) and those on each syscall's own exit
 * tracepoint (tpexit.bpf.c, a separate object): fill_exit() writes a
 * syscall's exit event from its return value and the registers saved at
 * its entry, emit_generic() the event of a syscall without one of its own.
 */
#ifndef VIGIL_EXIT_H
#define VIGIL_EXIT_H

#include "entry.h"

#define CLONE_VM 0x00000100
#define CLONE_VFORK 0x00004000
#define SIGCHLD 17

/* ---- process ---------------------------------------------------------- */

static __always_inline int exe_flags(struct file *exe)
{
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	char name[6] = {};
	int flags = 0;

	bpf_probe_read_kernel(name, sizeof(name), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' &&
	    name[3] == 'f' && name[4] == 'd' && name[5] == ':')
		flags |= VIGIL_EXE_MEMFD;
	/*
	 * struct ovl_inode is private to overlayfs, but its vfs_inode member
	 * is directly followed by __upperdentry in every kernel since 4.19:
	 * non-NULL means the file was written in the upper (container) layer.
	 */
	if (BPF_CORE_READ(ino, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		struct dentry *upper = NULL;

		bpf_probe_read_kernel(&upper, sizeof(upper),
				      (void *)ino + bpf_core_type_size(struct inode));
		if (upper)
			flags |= VIGIL_EXE_UPPER_LAYER;
	}
	return flags;
}

/* execve/execveat: res, exe, args, cwd, comm, ppid, vpid, vtid, sid, pgid,
 * uid, gid, euid, egid, loginuid, tty, cgroup, caps, exe_flags, ino. */
static __always_inline void fill_exec(struct builder *b, struct pt_regs *regs,
				      long ret, int at)
{
	struct task_struct *t = current_task();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	struct file *exe = BPF_CORE_READ(mm, exe_file);
	const struct cred *cred = BPF_CORE_READ(t, real_cred);
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	char comm[16];

	push_u64(b, ret);
	if (ret == 0) {
		unsigned long as = BPF_CORE_READ(mm, arg_start);
		unsigned long ae = BPF_CORE_READ(mm, arg_end);
		__u32 snap = snaplen();

		push_file_path(b, exe);
		push_user_bytes(b, (void *)as, ae - as > snap ? snap : ae - as);
	} else {
		/* The old image is still there: read the arguments. */
		const char *const *argv;
		const char *file;
		__u64 pos, end;

		if (at) {
			push_path_at(b, ARG0(regs), (const char *)ARG1(regs));
			argv = (const char *const *)ARG2(regs);
		} else {
			push_path_at(b, AT_FDCWD, (const char *)ARG0(regs));
			argv = (const char *const *)ARG1(regs);
		}
		pos = b->pos;
		end = pos + snaplen();
		for (int i = 0; i < 16 && pos < end && pos <= EVT_MAX - PARAM_MAX; i++) {
			long n;

			file = NULL;
			if (bpf_probe_read_user(&file, sizeof(file), &argv[i]) || !file)
				break;
			n = bpf_probe_read_user_str(&b->buf[pos & EVT_MASK], 256, file);
			if (n <= 0)
				break;
			pos += n;
		}
		set_len(b, pos - b->pos);
	}
	push_cwd(b);
	bpf_get_current_comm(comm, sizeof(comm));
	push_kernel_str(b, comm, sizeof(comm));
	push_u64(b, BPF_CORE_READ(t, real_parent, tgid));
	push_u64(b, pid_vnr(BPF_CORE_READ(t, group_leader, thread_pid)));
	push_u64(b, pid_vnr(BPF_CORE_READ(t, thread_pid)));
	push_u64(b, pid_vnr(BPF_CORE_READ(t, signal, pids[PIDTYPE_SID])));
	push_u64(b, pid_vnr(BPF_CORE_READ(t, signal, pids[PIDTYPE_PGID])));
	push_u32(b, BPF_CORE_READ(cred, uid.val));
	push_u32(b, BPF_CORE_READ(cred, gid.val));
	push_u32(b, BPF_CORE_READ(cred, euid.val));
	push_u32(b, BPF_CORE_READ(cred, egid.val));
	push_u32(b, BPF_CORE_READ(t, loginuid.val));
	if (tty) {
		__u32 major = BPF_CORE_READ(tty, driver, major);
		__u32 minor = BPF_CORE_READ(tty, driver, minor_start) +
			      BPF_CORE_READ(tty, index);

		push_u32(b, (major << 20) | minor);
	} else {
		push_u32(b, 0);
	}
	push_cgroup(b);
	push_u64(b, read_cap(__builtin_preserve_access_index(&cred->cap_inheritable)));
	push_u64(b, read_cap(__builtin_preserve_access_index(&cred->cap_permitted)));
	push_u64(b, read_cap(__builtin_preserve_access_index(&cred->cap_effective)));
	if (exe) {
		push_u32(b, exe_flags(exe));
		push_u64(b, BPF_CORE_READ(exe, f_inode, i_ino));
	} else {
		push_empty(b);
		push_empty(b);
	}
}

/*
 * clone3's flags are in a struct in user memory: the parent reads it while
 * it is still blocked in the call, but in the child that memory may be the
 * parent's live stack (CLONE_VM) and already reused, so the child reports
 * no flags rather than what happens to be there.
 */
static __always_inline void fill_clone(struct builder *b, struct pt_regs *regs,
				       long ret, __u64 nr)
{
	struct task_struct *t = current_task();
	__u64 flags = SIGCHLD;

	push_u64(b, ret);
	if (nr == VIGIL_NR_clone3) {
		if (ret == 0 || bpf_probe_read_user(&flags, sizeof(flags), (void *)ARG0(regs)))
			push_empty(b);
		else
			push_u64(b, flags);
	} else {
		if (nr == VIGIL_NR_clone)
			flags = ARG0(regs);
		else if (nr == VIGIL_NR_vfork)
			flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
		push_u64(b, flags);
	}
	push_u64(b, pid_vnr(BPF_CORE_READ(t, group_leader, thread_pid)));
	push_u64(b, pid_vnr(BPF_CORE_READ(t, thread_pid)));
}

/* ---- dispatch ---------------------------------------------------------- */


static __always_inline void push_pipe_fds(struct builder *b, const int *ufds)
{
	int fds[2] = { -1, -1 };

	if (!ufds || bpf_probe_read_user(fds, sizeof(fds), ufds)) {
		push_empty(b);
		push_empty(b);
		return;
	}
	push_u64(b, (__s64)fds[0]);
	push_u64(b, (__s64)fds[1]);
}

static __always_inline void push_caps(struct builder *b)
{
	const struct cred *cred = BPF_CORE_READ(current_task(), real_cred);

	push_u64(b, read_cap(__builtin_preserve_access_index(&cred->cap_inheritable)));
	push_u64(b, read_cap(__builtin_preserve_access_index(&cred->cap_permitted)));
	push_u64(b, read_cap(__builtin_preserve_access_index(&cred->cap_effective)));
}

static __always_inline int fill_exit(struct pt_regs *regs, long ret, __u64 nr,
				     __u16 type, __u16 np, __u32 slot)
{
	struct builder b;

	if (begin(&b, slot, type, np))
		return 0;
	/* Every syscall exit event but the generic one starts with res. */
	switch (type) {
	case VIGIL_EVT_EXECVE_X:
		fill_exec(&b, regs, ret, 0);
		break;
	case VIGIL_EVT_EXECVEAT_X:
		fill_exec(&b, regs, ret, 1);
		break;
	case VIGIL_EVT_CLONE_X:
	case VIGIL_EVT_FORK_X:
	case VIGIL_EVT_VFORK_X:
	case VIGIL_EVT_CLONE3_X:
		fill_clone(&b, regs, ret, nr);
		break;
	case VIGIL_EVT_OPEN_X:	/* res, name, flags, mode, dev, ino */
		push_u64(&b, ret);
		push_path_at(&b, AT_FDCWD, (const char *)ARG0(regs));
		push_u32(&b, ARG1(regs));
		push_u32(&b, ARG2(regs));
		push_dev_ino(&b, ret);
		break;
	case VIGIL_EVT_OPENAT_X: /* res, dirfd, name, flags, mode, dev, ino */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_path_at(&b, (__s32)ARG0(regs), (const char *)ARG1(regs));
		push_u32(&b, ARG2(regs));
		push_u32(&b, ARG3(regs));
		push_dev_ino(&b, ret);
		break;
	case VIGIL_EVT_OPENAT2_X: { /* res, dirfd, name, flags, mode, resolve, dev, ino */
		struct open_how how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)ARG2(regs));
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_path_at(&b, (__s32)ARG0(regs), (const char *)ARG1(regs));
		push_u32(&b, how.flags);
		push_u32(&b, how.mode);
		push_u64(&b, how.resolve);
		push_dev_ino(&b, ret);
		break;
	}
	case VIGIL_EVT_CREAT_X:	/* res, name, mode, dev, ino */
		push_u64(&b, ret);
		push_path_at(&b, AT_FDCWD, (const char *)ARG0(regs));
		push_u32(&b, ARG1(regs));
		push_dev_ino(&b, ret);
		break;
	case VIGIL_EVT_UNLINK_X:	/* res, path */
	case VIGIL_EVT_CHDIR_X:
		push_u64(&b, ret);
		push_path_at(&b, AT_FDCWD, (const char *)ARG0(regs));
		break;
	case VIGIL_EVT_UNLINKAT_X:	/* res, dirfd, name, flags */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_path_at(&b, (__s32)ARG0(regs), (const char *)ARG1(regs));
		push_u32(&b, ARG2(regs));
		break;
	case VIGIL_EVT_RENAME_X:	/* res, oldpath, newpath */
	case VIGIL_EVT_LINK_X:
		push_u64(&b, ret);
		push_path_at(&b, AT_FDCWD, (const char *)ARG0(regs));
		push_path_at(&b, AT_FDCWD, (const char *)ARG1(regs));
		break;
	case VIGIL_EVT_RENAMEAT_X:	/* res, olddirfd, oldpath, newdirfd, newpath [, flags] */
	case VIGIL_EVT_RENAMEAT2_X:
	case VIGIL_EVT_LINKAT_X:
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_path_at(&b, (__s32)ARG0(regs), (const char *)ARG1(regs));
		push_u64(&b, (__s32)ARG2(regs));
		push_path_at(&b, (__s32)ARG2(regs), (const char *)ARG3(regs));
		if (type != VIGIL_EVT_RENAMEAT_X)
			push_u32(&b, ARG4(regs));
		break;
	case VIGIL_EVT_SYMLINK_X:	/* res, target, linkpath */
		push_u64(&b, ret);
		push_user_str(&b, (const char *)ARG0(regs), PARAM_MAX);
		push_path_at(&b, AT_FDCWD, (const char *)ARG1(regs));
		break;
	case VIGIL_EVT_SYMLINKAT_X:	/* res, target, linkdirfd, linkpath */
		push_u64(&b, ret);
		push_user_str(&b, (const char *)ARG0(regs), PARAM_MAX);
		push_u64(&b, (__s32)ARG1(regs));
		push_path_at(&b, (__s32)ARG1(regs), (const char *)ARG2(regs));
		break;
	case VIGIL_EVT_MKDIR_X:	/* res, path, mode */
	case VIGIL_EVT_CHMOD_X:
		push_u64(&b, ret);
		push_path_at(&b, AT_FDCWD, (const char *)ARG0(regs));
		push_u32(&b, ARG1(regs));
		break;
	case VIGIL_EVT_MKDIRAT_X:	/* res, dirfd, path, mode */
	case VIGIL_EVT_FCHMODAT_X:
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_path_at(&b, (__s32)ARG0(regs), (const char *)ARG1(regs));
		push_u32(&b, ARG2(regs));
		break;
	case VIGIL_EVT_FCHMOD_X:	/* res, fd, mode */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_u32(&b, ARG1(regs));
		break;
	case VIGIL_EVT_MOUNT_X:	/* res, dev, dir, type, flags */
		push_u64(&b, ret);
		push_user_str(&b, (const char *)ARG0(regs), snaplen());
		push_path_at(&b, AT_FDCWD, (const char *)ARG1(regs));
		push_user_str(&b, (const char *)ARG2(regs), 64);
		push_u64(&b, ARG3(regs));
		break;
	case VIGIL_EVT_UMOUNT2_X:	/* res, name, flags */
		push_u64(&b, ret);
		push_path_at(&b, AT_FDCWD, (const char *)ARG0(regs));
		push_u32(&b, ARG1(regs));
		break;
	case VIGIL_EVT_MEMFD_CREATE_X:	/* res, name, flags */
		push_u64(&b, ret);
		push_user_str(&b, (const char *)ARG0(regs), 256);
		push_u32(&b, ARG1(regs));
		break;
	case VIGIL_EVT_SOCKET_X:	/* res, domain, type, proto */
		push_u64(&b, ret);
		push_u32(&b, ARG0(regs));
		push_u32(&b, ARG1(regs));
		push_u32(&b, ARG2(regs));
		break;
	case VIGIL_EVT_CONNECT_X:	/* res, fd, tuple */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_tuple(&b, (__s32)ARG0(regs));
		break;
	case VIGIL_EVT_ACCEPT_X:	/* res, fd, tuple [, flags] */
	case VIGIL_EVT_ACCEPT4_X:
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_tuple(&b, ret);
		if (type == VIGIL_EVT_ACCEPT4_X)
			push_u32(&b, ARG3(regs));
		break;
	case VIGIL_EVT_BIND_X:	/* res, fd, addr */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_sockaddr(&b, (void *)ARG1(regs), ARG2(regs));
		break;
	case VIGIL_EVT_LISTEN_X:	/* res, fd, backlog */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_u64(&b, (__s32)ARG1(regs));
		break;
	case VIGIL_EVT_SETUID_X:	/* res, id */
	case VIGIL_EVT_SETGID_X:
		push_u64(&b, ret);
		push_u32(&b, ARG0(regs));
		break;
	case VIGIL_EVT_SETREUID_X:	/* res, rid, eid */
	case VIGIL_EVT_SETREGID_X:
		push_u64(&b, ret);
		push_u32(&b, ARG0(regs));
		push_u32(&b, ARG1(regs));
		break;
	case VIGIL_EVT_SETRESUID_X:	/* res, rid, eid, sid */
	case VIGIL_EVT_SETRESGID_X:
		push_u64(&b, ret);
		push_u32(&b, ARG0(regs));
		push_u32(&b, ARG1(regs));
		push_u32(&b, ARG2(regs));
		break;
	case VIGIL_EVT_CAPSET_X:	/* res, caps after the call */
		push_u64(&b, ret);
		push_caps(&b);
		break;
	case VIGIL_EVT_PTRACE_X:	/* res, request, pid */
		push_u64(&b, ret);
		push_u64(&b, ARG0(regs));
		push_u64(&b, (__s32)ARG1(regs));
		break;
	case VIGIL_EVT_SETNS_X:	/* res, fd, nstype */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_u32(&b, ARG1(regs));
		break;
	case VIGIL_EVT_UNSHARE_X:	/* res, flags */
		push_u64(&b, ret);
		push_u64(&b, ARG0(regs));
		break;
	case VIGIL_EVT_INIT_MODULE_X:	/* res, len, uargs */
		push_u64(&b, ret);
		push_u64(&b, ARG1(regs));
		push_user_str(&b, (const char *)ARG2(regs), snaplen());
		break;
	case VIGIL_EVT_FINIT_MODULE_X:	/* res, fd, uargs, flags */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		push_user_str(&b, (const char *)ARG1(regs), snaplen());
		push_u32(&b, ARG2(regs));
		break;
	case VIGIL_EVT_BPF_X:	/* res, cmd */
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		break;
	case VIGIL_EVT_DUP_X:	/* res, oldfd [, newfd [, flags]] */
	case VIGIL_EVT_DUP2_X:
	case VIGIL_EVT_DUP3_X:
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		if (type == VIGIL_EVT_DUP_X)
			break;
		push_u64(&b, (__s32)ARG1(regs));
		if (type == VIGIL_EVT_DUP3_X)
			push_u32(&b, ARG2(regs));
		break;
	case VIGIL_EVT_CLOSE_X:	/* res, fd */
	case VIGIL_EVT_FCHDIR_X:
		push_u64(&b, ret);
		push_u64(&b, (__s32)ARG0(regs));
		break;
	case VIGIL_EVT_PIPE_X:	/* res, fd1, fd2 [, flags] */
	case VIGIL_EVT_PIPE2_X:
		push_u64(&b, ret);
		push_pipe_fds(&b, (const int *)ARG0(regs));
		if (type == VIGIL_EVT_PIPE2_X)
			push_u32(&b, ARG1(regs));
		break;
	default:
		release(&b);
		return 0;
	}
	if (kf_drop(&b, type, ret)) {
		release(&b);
		return 0;
	}
	submit(&b);
	return 0;
}

/*
 * Every syscall without an event of its own: res, id. Fixed-size, so it
 * is reserved in the ring and written there: no scratch entry, no copy.
 *
 * Not a packed struct, although the wire format puts res at offset 28:
 * clang writes every field of a packed struct a byte at a time (90 of
 * the program's 195 instructions, with the shifts). Here the header is
 * naturally aligned, and res is two 4-byte halves that memcpy fills.
 */
struct generic_event {
	struct vigil_event_hdr h;
	__u16 len[VIGIL_NP_GENERIC];
	__u32 res[2];
	__u16 id;
};

/* The wire size: the struct's own has 2 bytes of tail padding. */
#define GENERIC_SIZE (offsetof(struct generic_event, id) + sizeof(__u16))
_Static_assert(offsetof(struct generic_event, res) == VIGIL_HEADER_SIZE + 4,
	       "generic event layout");

static __always_inline void fill_generic(struct generic_event *e,
					 __u64 pid_tgid, long ret, __u64 nr)
{
	e->h.ts = bpf_ktime_get_boot_ns();
	e->h.tid = (__u32)pid_tgid;
	e->h.pid = pid_tgid >> 32;
	e->h.len = GENERIC_SIZE;
	e->h.type = VIGIL_EVT_GENERIC;
	e->h.nparams = VIGIL_NP_GENERIC;
	e->len[0] = sizeof(__s64);
	e->len[1] = sizeof(e->id);
	__builtin_memcpy(e->res, &ret, sizeof(ret));
	e->id = nr;
}

_Static_assert(GENERIC_SIZE <= BATCH_STRIDE && BATCH_STRIDE % 8 == 0,
	       "a generic event fits a batch slot");

/* Adds a generic event to a batch that is the caller's (see builder.h). */
static __always_inline void add_generic(struct batch *bt, __u64 pid_tgid,
					long ret, __u64 nr)
{
	__u32 n = bt->n;

	/* Another thread's events, if a switch went unseen (a detach). */
	if (n >= BATCH_EVENTS ||
	    (n && ((struct vigil_event_hdr *)bt->buf)->tid != (__u32)pid_tgid)) {
		write_batch(bt);
		n = 0;
	}
	fill_generic((void *)&bt->buf[n * BATCH_STRIDE], pid_tgid, ret, nr);
	bt->len = n * BATCH_STRIDE + GENERIC_SIZE;
	bt->n = ++n;
	if (n == BATCH_EVENTS)
		write_batch(bt);
}

/*
 * Adds a generic event to this CPU's batch; 0 when the batch is claimed
 * by a preempted run: the caller writes the event.
 */
static __always_inline int batch_generic(long ret, __u64 nr, __u64 pid_tgid)
{
	struct batch *bt;
	__u32 zero = 0;

	if (HAVE_PREEMPT_KFUNCS) {
		bpf_preempt_disable();
		bt = bpf_map_lookup_elem(&batches, &zero);
		if (bt)
			add_generic(bt, pid_tgid, ret, nr);
		bpf_preempt_enable();
		return bt != NULL;
	}
	bt = claim_batch();
	if (!bt)
		return 0;
	add_generic(bt, pid_tgid, ret, nr);
	release_batch(bt);
	return 1;
}

/* The generic event of a syscall that @pid_tgid's thread made. */
static __noinline int emit_generic(long ret, __u64 nr, __u64 pid_tgid)
{
	struct generic_event *e;
	__u32 cpu;
	void *rb;

	if (cfg_batch && batch_generic(ret, nr, pid_tgid))
		return 0;
	rb = this_ring(&cpu);
	if (!rb) {
		count(1);
		return 0;
	}
	e = bpf_ringbuf_reserve(rb, GENERIC_SIZE, 0);
	if (!e) {
		count(1);
		return 0;
	}
	fill_generic(e, pid_tgid, ret, nr);
	bpf_ringbuf_submit(e, wakeup_flags(bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA), cpu));
	count(0);
	return 0;
}

#endif /* VIGIL_EXIT_H */
