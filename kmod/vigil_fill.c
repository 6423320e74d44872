// SPDX-License-Identifier: GPL-2.0-only
//go:build ignore
/*
 * The events of the syscalls that have events of their own, parameter by
 * parameter in the order of vigil_schema.h, as bpf/c/probe.bpf.c fills
 * them: exit events with the arguments saved at entry, and entry events
 * for the calls whose arguments may change before the exit (open, openat,
 * openat2, creat, connect).
 */
#include <linux/audit.h>
#include <linux/cred.h>
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/openat2.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/tty.h>
#include <linux/tty_driver.h>
#include <asm/syscall.h>

#include "vigil.h"

/* The numbers of the probe, which hard-codes them too. */
#define CLONE_FLAGS_VFORK	(CLONE_VM | CLONE_VFORK | SIGCHLD)

#define BEGIN(EVT) vigil_begin(b, VIGIL_EVT_##EVT, VIGIL_NP_##EVT)

/*
 * probe.bpf.c exe_flags(): the exe file is on a memfd, or was written in
 * an overlayfs upper (container) layer.
 */
static u32 exe_flags(struct file *exe)
{
	struct inode *ino = file_inode(exe);
	const unsigned char *name;
	u32 flags = 0;

	/* Pairs with the release of a rename: the name is complete. */
	name = smp_load_acquire(&exe->f_path.dentry->d_name.name);
	if (!strncmp(name, "memfd:", 6))
		flags |= VIGIL_EXE_MEMFD;
	/*
	 * struct ovl_inode is private to overlayfs, but its vfs_inode member
	 * is directly followed by __upperdentry in every kernel since 4.19:
	 * non-NULL means the file was written in the upper layer.
	 */
	if (ino->i_sb->s_magic == OVERLAYFS_SUPER_MAGIC &&
	    READ_ONCE(*(struct dentry **)((char *)ino + sizeof(struct inode))))
		flags |= VIGIL_EXE_UPPER_LAYER;
	return flags;
}

/* probe.bpf.c's failed exec: the arguments from the old image's argv. */
static void push_argv(struct vigil_builder *b, const char __user *const __user *argv)
{
	u32 pos = b->pos, end = b->pos + vigil_snap();
	int i;

	for (i = 0; i < 16 && pos < end && vigil_room(b, pos); i++) {
		const char __user *arg;
		long n;

		if (vigil_read_user(&arg, &argv[i], sizeof(arg)) || !arg)
			break;
		n = vigil_read_user_str(b->buf + pos, arg, 256);
		if (n <= 0)
			break;
		pos += n;
	}
	vigil_set_len(b, pos - b->pos);
}

/* The tty as a device number, as the probe computes it. */
static u32 tty_nr(void)
{
	struct tty_struct *tty = get_current_tty();
	u32 nr = 0;

	if (tty) {
		nr = (tty->driver->major << 20) | (tty->driver->minor_start + tty->index);
		tty_kref_put(tty);
	}
	return nr;
}

/*
 * execve/execveat: res, exe, args, cwd, comm, ppid, vpid, vtid, sid, pgid,
 * uid, gid, euid, egid, loginuid, tty, cgroup, caps, exe_flags, ino.
 */
static void fill_exec(struct vigil_builder *b, const unsigned long *a, long ret, bool at)
{
	struct task_struct *t = current;
	struct mm_struct *mm = t->mm;
	const struct cred *cred;
	struct file *exe = NULL;
	char comm[TASK_COMM_LEN];

	vigil_push_u64(b, ret);
	rcu_read_lock();
	if (mm)
		exe = rcu_dereference(mm->exe_file);
	if (ret == 0) {
		unsigned long as = mm ? mm->arg_start : 0, ae = mm ? mm->arg_end : 0;
		u32 snap = vigil_snap();

		if (exe)
			vigil_push_path(b, &exe->f_path);
		else
			vigil_push_empty(b);
		/* The new image's arguments: its registers are cleared. */
		vigil_push_user_bytes(b, (const void __user *)as, ae - as > snap ? snap : ae - as);
	} else if (at) {
		/* The old image is still there: read the arguments. */
		vigil_push_path_at(b, a[0], (const char __user *)a[1]);
		push_argv(b, (const char __user *const __user *)a[2]);
	} else {
		vigil_push_path_at(b, AT_FDCWD, (const char __user *)a[0]);
		push_argv(b, (const char __user *const __user *)a[1]);
	}
	vigil_push_cwd(b);
	memcpy(comm, t->comm, sizeof(comm));
	comm[sizeof(comm) - 1] = 0;
	vigil_push_kernel_str(b, comm, sizeof(comm));
	vigil_push_u64(b, rcu_dereference(t->real_parent)->tgid);
	vigil_push_u64(b, vigil_pid_vnr(READ_ONCE(t->group_leader)->thread_pid));
	vigil_push_u64(b, vigil_pid_vnr(t->thread_pid));
	vigil_push_u64(b, vigil_pid_vnr(READ_ONCE(t->signal->pids[PIDTYPE_SID])));
	vigil_push_u64(b, vigil_pid_vnr(READ_ONCE(t->signal->pids[PIDTYPE_PGID])));
	cred = rcu_dereference(t->real_cred);
	vigil_push_u32(b, __kuid_val(cred->uid));
	vigil_push_u32(b, __kgid_val(cred->gid));
	vigil_push_u32(b, __kuid_val(cred->euid));
	vigil_push_u32(b, __kgid_val(cred->egid));
	vigil_push_u32(b, __kuid_val(audit_get_loginuid(t)));
	rcu_read_unlock();
	/* get_current_tty() takes the siglock: outside RCU is simpler. */
	vigil_push_u32(b, tty_nr());
	vigil_push_cgroup(b);
	rcu_read_lock();
	cred = rcu_dereference(t->real_cred);
	vigil_push_u64(b, vigil_cap_bits(&cred->cap_inheritable));
	vigil_push_u64(b, vigil_cap_bits(&cred->cap_permitted));
	vigil_push_u64(b, vigil_cap_bits(&cred->cap_effective));
	if (mm)
		exe = rcu_dereference(mm->exe_file);
	if (exe) {
		vigil_push_u32(b, exe_flags(exe));
		vigil_push_u64(b, file_inode(exe)->i_ino);
	} else {
		vigil_push_empty(b);
		vigil_push_empty(b);
	}
	rcu_read_unlock();
}

/*
 * clone, fork, vfork, clone3: res, flags, vpid, vtid; parent and child.
 * clone3's flags are in a struct in user memory: the parent reads it
 * while it is still blocked in the call, but in the child that memory may
 * be the parent's live stack (CLONE_VM) and already reused, so the child
 * reports no flags rather than what happens to be there.
 */
static void fill_clone(struct vigil_builder *b, const unsigned long *a, long ret, long nr)
{
	u64 flags = SIGCHLD;

	vigil_push_u64(b, ret);
	if (nr == VIGIL_NR_clone3) {
		if (ret == 0 || vigil_read_user(&flags, (const void __user *)a[0], sizeof(flags)))
			vigil_push_empty(b);
		else
			vigil_push_u64(b, flags);
	} else {
		if (nr == VIGIL_NR_clone)
			flags = a[0];
		else if (nr == VIGIL_NR_vfork)
			flags = CLONE_FLAGS_VFORK;
		vigil_push_u64(b, flags);
	}
	rcu_read_lock();
	vigil_push_u64(b, vigil_pid_vnr(READ_ONCE(current->group_leader)->thread_pid));
	vigil_push_u64(b, vigil_pid_vnr(current->thread_pid));
	rcu_read_unlock();
}

static void push_pipe_fds(struct vigil_builder *b, const int __user *ufds)
{
	int fds[2];

	if (!ufds || vigil_read_user(fds, ufds, sizeof(fds))) {
		vigil_push_empty(b);
		vigil_push_empty(b);
		return;
	}
	vigil_push_u64(b, (s64)fds[0]);
	vigil_push_u64(b, (s64)fds[1]);
}

static void push_caps(struct vigil_builder *b)
{
	const struct cred *cred;

	rcu_read_lock();
	cred = rcu_dereference(current->real_cred);
	vigil_push_u64(b, vigil_cap_bits(&cred->cap_inheritable));
	vigil_push_u64(b, vigil_cap_bits(&cred->cap_permitted));
	vigil_push_u64(b, vigil_cap_bits(&cred->cap_effective));
	rcu_read_unlock();
}

#define U(x) ((const void __user *)(x))
#define S(x) ((const char __user *)(x))

/* Files: the exit events of the open, link, rename, mkdir... families. */
static bool fill_files(struct vigil_builder *b, const unsigned long *a, long ret, long nr)
{
	struct open_how how;

	switch (nr) {
	case VIGIL_NR_open:	/* res, name, flags, mode, dev, ino */
		BEGIN(OPEN_X);
		vigil_push_u64(b, ret);
		vigil_push_path_at(b, AT_FDCWD, S(a[0]));
		vigil_push_u32(b, a[1]);
		vigil_push_u32(b, a[2]);
		vigil_push_dev_ino(b, ret);
		return true;
	case VIGIL_NR_openat:	/* res, dirfd, name, flags, mode, dev, ino */
		BEGIN(OPENAT_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_path_at(b, (s32)a[0], S(a[1]));
		vigil_push_u32(b, a[2]);
		vigil_push_u32(b, a[3]);
		vigil_push_dev_ino(b, ret);
		return true;
	case VIGIL_NR_openat2:	/* res, dirfd, name, flags, mode, resolve, dev, ino */
		BEGIN(OPENAT2_X);
		vigil_read_user(&how, U(a[2]), sizeof(how));
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_path_at(b, (s32)a[0], S(a[1]));
		vigil_push_u32(b, how.flags);
		vigil_push_u32(b, how.mode);
		vigil_push_u64(b, how.resolve);
		vigil_push_dev_ino(b, ret);
		return true;
	case VIGIL_NR_creat:	/* res, name, mode, dev, ino */
		BEGIN(CREAT_X);
		vigil_push_u64(b, ret);
		vigil_push_path_at(b, AT_FDCWD, S(a[0]));
		vigil_push_u32(b, a[1]);
		vigil_push_dev_ino(b, ret);
		return true;
	case VIGIL_NR_unlink:	/* res, path */
	case VIGIL_NR_chdir:
		if (nr == VIGIL_NR_unlink)
			BEGIN(UNLINK_X);
		else
			BEGIN(CHDIR_X);
		vigil_push_u64(b, ret);
		vigil_push_path_at(b, AT_FDCWD, S(a[0]));
		return true;
	case VIGIL_NR_unlinkat:	/* res, dirfd, name, flags */
		BEGIN(UNLINKAT_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_path_at(b, (s32)a[0], S(a[1]));
		vigil_push_u32(b, a[2]);
		return true;
	case VIGIL_NR_rename:	/* res, oldpath, newpath */
	case VIGIL_NR_link:
		if (nr == VIGIL_NR_rename)
			BEGIN(RENAME_X);
		else
			BEGIN(LINK_X);
		vigil_push_u64(b, ret);
		vigil_push_path_at(b, AT_FDCWD, S(a[0]));
		vigil_push_path_at(b, AT_FDCWD, S(a[1]));
		return true;
	case VIGIL_NR_renameat:	/* res, olddirfd, oldpath, newdirfd, newpath [, flags] */
	case VIGIL_NR_renameat2:
	case VIGIL_NR_linkat:
		if (nr == VIGIL_NR_renameat)
			BEGIN(RENAMEAT_X);
		else if (nr == VIGIL_NR_renameat2)
			BEGIN(RENAMEAT2_X);
		else
			BEGIN(LINKAT_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_path_at(b, (s32)a[0], S(a[1]));
		vigil_push_u64(b, (s32)a[2]);
		vigil_push_path_at(b, (s32)a[2], S(a[3]));
		if (nr != VIGIL_NR_renameat)
			vigil_push_u32(b, a[4]);
		return true;
	case VIGIL_NR_symlink:	/* res, target, linkpath */
		BEGIN(SYMLINK_X);
		vigil_push_u64(b, ret);
		vigil_push_user_str(b, U(a[0]), VIGIL_PARAM_MAX);
		vigil_push_path_at(b, AT_FDCWD, S(a[1]));
		return true;
	case VIGIL_NR_symlinkat:	/* res, target, linkdirfd, linkpath */
		BEGIN(SYMLINKAT_X);
		vigil_push_u64(b, ret);
		vigil_push_user_str(b, U(a[0]), VIGIL_PARAM_MAX);
		vigil_push_u64(b, (s32)a[1]);
		vigil_push_path_at(b, (s32)a[1], S(a[2]));
		return true;
	case VIGIL_NR_mkdir:	/* res, path, mode */
	case VIGIL_NR_chmod:
		if (nr == VIGIL_NR_mkdir)
			BEGIN(MKDIR_X);
		else
			BEGIN(CHMOD_X);
		vigil_push_u64(b, ret);
		vigil_push_path_at(b, AT_FDCWD, S(a[0]));
		vigil_push_u32(b, a[1]);
		return true;
	case VIGIL_NR_mkdirat:	/* res, dirfd, path, mode */
	case VIGIL_NR_fchmodat:
	case VIGIL_NR_fchmodat2:
		if (nr == VIGIL_NR_mkdirat)
			BEGIN(MKDIRAT_X);
		else
			BEGIN(FCHMODAT_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_path_at(b, (s32)a[0], S(a[1]));
		vigil_push_u32(b, a[2]);
		return true;
	case VIGIL_NR_mount:	/* res, dev, dir, type, flags */
		BEGIN(MOUNT_X);
		vigil_push_u64(b, ret);
		vigil_push_user_str(b, U(a[0]), vigil_snap());
		vigil_push_path_at(b, AT_FDCWD, S(a[1]));
		vigil_push_user_str(b, U(a[2]), 64);
		vigil_push_u64(b, a[3]);
		return true;
	case VIGIL_NR_umount2:	/* res, name, flags */
		BEGIN(UMOUNT2_X);
		vigil_push_u64(b, ret);
		vigil_push_path_at(b, AT_FDCWD, S(a[0]));
		vigil_push_u32(b, a[1]);
		return true;
	case VIGIL_NR_memfd_create:	/* res, name, flags */
		BEGIN(MEMFD_CREATE_X);
		vigil_push_u64(b, ret);
		vigil_push_user_str(b, U(a[0]), 256);
		vigil_push_u32(b, a[1]);
		return true;
	}
	return false;
}

/* Network: connect, accept, accept4, bind. */
static bool fill_net(struct vigil_builder *b, const unsigned long *a, long ret, long nr)
{
	switch (nr) {
	case VIGIL_NR_connect:	/* res, fd, tuple */
		BEGIN(CONNECT_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_tuple(b, (s32)a[0]);
		return true;
	case VIGIL_NR_accept:	/* res, fd, tuple [, flags] */
	case VIGIL_NR_accept4:
		if (nr == VIGIL_NR_accept)
			BEGIN(ACCEPT_X);
		else
			BEGIN(ACCEPT4_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_tuple(b, ret);
		if (nr == VIGIL_NR_accept4)
			vigil_push_u32(b, a[3]);
		return true;
	case VIGIL_NR_bind:	/* res, fd, addr */
		BEGIN(BIND_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_sockaddr(b, U(a[1]), a[2]);
		return true;
	}
	return false;
}

/* The calls whose events are registers and credentials only. */
static bool fill_simple(struct vigil_builder *b, const unsigned long *a, long ret, long nr)
{
	switch (nr) {
	case VIGIL_NR_socket:	/* res, domain, type, proto */
		BEGIN(SOCKET_X);
		vigil_push_u64(b, ret);
		vigil_push_u32(b, a[0]);
		vigil_push_u32(b, a[1]);
		vigil_push_u32(b, a[2]);
		return true;
	case VIGIL_NR_listen:	/* res, fd, backlog */
		BEGIN(LISTEN_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_u64(b, (s32)a[1]);
		return true;
	case VIGIL_NR_setuid:	/* res, id */
	case VIGIL_NR_setgid:
		if (nr == VIGIL_NR_setuid)
			BEGIN(SETUID_X);
		else
			BEGIN(SETGID_X);
		vigil_push_u64(b, ret);
		vigil_push_u32(b, a[0]);
		return true;
	case VIGIL_NR_setreuid:	/* res, rid, eid */
	case VIGIL_NR_setregid:
		if (nr == VIGIL_NR_setreuid)
			BEGIN(SETREUID_X);
		else
			BEGIN(SETREGID_X);
		vigil_push_u64(b, ret);
		vigil_push_u32(b, a[0]);
		vigil_push_u32(b, a[1]);
		return true;
	case VIGIL_NR_setresuid:	/* res, rid, eid, sid */
	case VIGIL_NR_setresgid:
		if (nr == VIGIL_NR_setresuid)
			BEGIN(SETRESUID_X);
		else
			BEGIN(SETRESGID_X);
		vigil_push_u64(b, ret);
		vigil_push_u32(b, a[0]);
		vigil_push_u32(b, a[1]);
		vigil_push_u32(b, a[2]);
		return true;
	case VIGIL_NR_capset:	/* res, caps after the call */
		BEGIN(CAPSET_X);
		vigil_push_u64(b, ret);
		push_caps(b);
		return true;
	case VIGIL_NR_ptrace:	/* res, request, pid */
		BEGIN(PTRACE_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, a[0]);
		vigil_push_u64(b, (s32)a[1]);
		return true;
	case VIGIL_NR_setns:	/* res, fd, nstype */
		BEGIN(SETNS_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_u32(b, a[1]);
		return true;
	case VIGIL_NR_unshare:	/* res, flags */
		BEGIN(UNSHARE_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, a[0]);
		return true;
	case VIGIL_NR_init_module:	/* res, len, uargs */
		BEGIN(INIT_MODULE_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, a[1]);
		vigil_push_user_str(b, U(a[2]), vigil_snap());
		return true;
	case VIGIL_NR_finit_module:	/* res, fd, uargs, flags */
		BEGIN(FINIT_MODULE_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_user_str(b, U(a[1]), vigil_snap());
		vigil_push_u32(b, a[2]);
		return true;
	case VIGIL_NR_bpf:	/* res, cmd */
		BEGIN(BPF_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		return true;
	case VIGIL_NR_dup:	/* res, oldfd [, newfd [, flags]] */
	case VIGIL_NR_dup2:
	case VIGIL_NR_dup3:
		if (nr == VIGIL_NR_dup)
			BEGIN(DUP_X);
		else if (nr == VIGIL_NR_dup2)
			BEGIN(DUP2_X);
		else
			BEGIN(DUP3_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		if (nr == VIGIL_NR_dup)
			return true;
		vigil_push_u64(b, (s32)a[1]);
		if (nr == VIGIL_NR_dup3)
			vigil_push_u32(b, a[2]);
		return true;
	case VIGIL_NR_close:	/* res, fd */
	case VIGIL_NR_fchdir:
		if (nr == VIGIL_NR_close)
			BEGIN(CLOSE_X);
		else
			BEGIN(FCHDIR_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		return true;
	case VIGIL_NR_fchmod:	/* res, fd, mode */
		BEGIN(FCHMOD_X);
		vigil_push_u64(b, ret);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_u32(b, a[1]);
		return true;
	case VIGIL_NR_pipe:	/* res, fd1, fd2 [, flags] */
	case VIGIL_NR_pipe2:
		if (nr == VIGIL_NR_pipe)
			BEGIN(PIPE_X);
		else
			BEGIN(PIPE2_X);
		vigil_push_u64(b, ret);
		push_pipe_fds(b, (const int __user *)a[0]);
		if (nr == VIGIL_NR_pipe2)
			vigil_push_u32(b, a[1]);
		return true;
	}
	return false;
}

/*
 * The exit event of syscall @nr, whose number the caller has checked to
 * have an event of its own (VIGIL_EXIT_SYSCALLS). Every one starts with res.
 */
bool vigil_fill_exit(struct vigil_builder *b, struct pt_regs *regs, long ret, long nr)
{
	unsigned long a[6];

	syscall_get_arguments(current, regs, a);
	switch (nr) {
	case VIGIL_NR_execve:
		BEGIN(EXECVE_X);
		fill_exec(b, a, ret, false);
		return true;
	case VIGIL_NR_execveat:
		BEGIN(EXECVEAT_X);
		fill_exec(b, a, ret, true);
		return true;
	case VIGIL_NR_clone:
		BEGIN(CLONE_X);
		fill_clone(b, a, ret, nr);
		return true;
	case VIGIL_NR_fork:
		BEGIN(FORK_X);
		fill_clone(b, a, ret, nr);
		return true;
	case VIGIL_NR_vfork:
		BEGIN(VFORK_X);
		fill_clone(b, a, ret, nr);
		return true;
	case VIGIL_NR_clone3:
		BEGIN(CLONE3_X);
		fill_clone(b, a, ret, nr);
		return true;
	}
	return fill_files(b, a, ret, nr) || fill_net(b, a, ret, nr) ||
	       fill_simple(b, a, ret, nr);
}

/* Entry events: the arguments as the kernel is about to see them. */
bool vigil_fill_enter(struct vigil_builder *b, struct pt_regs *regs, long nr)
{
	unsigned long a[6];
	struct open_how how;

	syscall_get_arguments(current, regs, a);
	switch (nr) {
	case VIGIL_NR_open:	/* name, flags, mode */
		BEGIN(OPEN_E);
		vigil_push_user_str(b, U(a[0]), VIGIL_PARAM_MAX);
		vigil_push_u32(b, a[1]);
		vigil_push_u32(b, a[2]);
		return true;
	case VIGIL_NR_openat:	/* dirfd, name, flags, mode */
		BEGIN(OPENAT_E);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_user_str(b, U(a[1]), VIGIL_PARAM_MAX);
		vigil_push_u32(b, a[2]);
		vigil_push_u32(b, a[3]);
		return true;
	case VIGIL_NR_openat2:	/* dirfd, name, flags, mode, resolve */
		BEGIN(OPENAT2_E);
		vigil_read_user(&how, U(a[2]), sizeof(how));
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_user_str(b, U(a[1]), VIGIL_PARAM_MAX);
		vigil_push_u32(b, how.flags);
		vigil_push_u32(b, how.mode);
		vigil_push_u64(b, how.resolve);
		return true;
	case VIGIL_NR_creat:	/* name, mode */
		BEGIN(CREAT_E);
		vigil_push_user_str(b, U(a[0]), VIGIL_PARAM_MAX);
		vigil_push_u32(b, a[1]);
		return true;
	case VIGIL_NR_connect:	/* fd, addr */
		BEGIN(CONNECT_E);
		vigil_push_u64(b, (s32)a[0]);
		vigil_push_sockaddr(b, U(a[1]), a[2]);
		return true;
	}
	return false;
}
