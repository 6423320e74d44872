/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Reading the current task: paths, file descriptors, credentials, pids,
 * cgroups and sockets. Everything goes through CO-RE so that one object
 * works from 5.8 to the newest kernel; fields that moved between versions
 * have ___old twins below.
 */
#ifndef VIGIL_TASK_H
#define VIGIL_TASK_H

#include "builder.h"

#define AT_FDCWD -100
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define MAX_PATH_COMPONENTS 48
#define MAX_CGROUP_DEPTH 16

/* Before 6.3 kernel_cap_t was two 32-bit words. */
struct kernel_cap_struct___old {
	__u32 cap[2];
} __attribute__((preserve_access_index));

/* Before 6.15 kernfs_node had a plain parent pointer. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

static __always_inline __u64 read_cap(const kernel_cap_t *cap)
{
	if (bpf_core_type_matches(struct kernel_cap_struct___old) ||
	    !bpf_core_field_exists(cap->val)) {
		const struct kernel_cap_struct___old *old = (const void *)cap;
		__u32 lo = BPF_CORE_READ(old, cap[0]);
		__u32 hi = BPF_CORE_READ(old, cap[1]);

		return ((__u64)hi << 32) | lo;
	}
	return BPF_CORE_READ(cap, val);
}

/* The pid of @pid as seen from its own (innermost) namespace. */
static __always_inline __s64 pid_vnr(struct pid *pid)
{
	unsigned int level;
	struct upid up;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	if (bpf_core_read(&up, sizeof(up), &pid->numbers[level & 31]))
		return 0;
	return up.nr;
}

/* The pid of @pid in the initial namespace. */
static __always_inline __s64 pid_nr(struct pid *pid)
{
	return pid ? BPF_CORE_READ(pid, numbers[0].nr) : 0;
}

static __always_inline struct file *fd_file(struct task_struct *t, __s64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (fd < 0 || !fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_core_read(&f, sizeof(f), &fds[fd]);
	return f;
}

/*
 * Writes the absolute path of @path backwards into s->path, ending at
 * PATH_END with a NUL, and returns the offset where it starts. Crosses
 * mount points up to the global root; an unreachable path (deleted,
 * detached, too deep) yields what could be read, still absolute.
 */
/*
 * A global function: the verifier checks it once, on its own, instead of
 * once per call site; hence scalar arguments only.
 */
__noinline __u32 vigil_build_path(__u64 path_addr, __u32 slot)
{
	const struct path *path = (const struct path *)path_addr;
	struct scratch *s = get_scratch(slot);
	struct dentry *d = BPF_CORE_READ(path, dentry);
	struct vfsmount *vmnt = BPF_CORE_READ(path, mnt);
	struct mount *mnt = container_of(vmnt, struct mount, mnt);
	__u32 off;

	if (!s)
		return PATH_END - 1;
	s->path[PATH_END - 1] = 0;
	s->off = PATH_END - 1;	/* start of what is written so far */
	for (int i = 0; i < MAX_PATH_COMPONENTS; i++) {
		struct dentry *root = BPF_CORE_READ(mnt, mnt.mnt_root);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		const unsigned char *name;
		__u32 len;

		if (d == root) {
			struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

			if (mnt == mp)
				break;	/* the global root */
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mp;
			continue;
		}
		len = BPF_CORE_READ(d, d_name.len) & NAME_MASK;
		name = BPF_CORE_READ(d, d_name.name);
		off = s->off;
		if (len + 2 > off)
			break;
		if (off != PATH_END - 1) {
			off--;
			s->path[off & PATH_MASK] = '/';
		}
		off -= len;
		if (bpf_probe_read_kernel(&s->path[off & PATH_MASK],
					  bounded_by(len, NAME_MASK), name))
			break;
		s->off = off;
		/*
		 * A dentry that is its own parent is disconnected: a memfd,
		 * or a file whose directory is gone. Its name is all there is.
		 */
		if (d == parent)
			break;
		d = parent;
	}
	off = s->off - 1;
	s->path[off & PATH_MASK] = '/';
	return off & PATH_MASK;
}

/* Copies a path assembled by build_path() into the event; NUL included. */
static __always_inline __u64 copy_built(struct builder *b, __u32 off, int nul)
{
	__u32 start = off;
	__u32 len;

	/* Keep clang from dropping the checks the verifier needs to see. */
	barrier_var(start);
	start &= PATH_MASK;
	len = PATH_END - start;

	if (!nul)
		len--;
	if (len == 0 || len > PARAM_MAX || b->pos > EVT_MAX - PARAM_MAX)
		return 0;
	if (bpf_probe_read_kernel(&b->buf[b->pos & EVT_MASK], bounded(len),
				  &b->s->path[start]))
		return 0;
	return len;
}

static __always_inline void push_path(struct builder *b, const struct path *p)
{
	__u32 off = vigil_build_path((__u64)p, b->slot);

	set_len(b, copy_built(b, off, 1));
}

static __always_inline void push_file_path(struct builder *b, struct file *f)
{
	if (!f) {
		push_empty(b);
		return;
	}
	push_path(b, __builtin_preserve_access_index(&f->f_path));
}

/*
 * A path argument made absolute: as is when it starts with '/', else
 * resolved against @dirfd (AT_FDCWD: the cwd). "./" prefixes are dropped;
 * other "." and ".." components are left for user space to clean.
 */
static __always_inline void push_path_at(struct builder *b, __s64 dirfd,
					 const char *upath)
{
	struct task_struct *t = current_task();
	const struct path *dir;
	char c[2] = {};
	__u64 n, pos;
	long m;

	if (!upath || bpf_probe_read_user(c, 1, upath)) {
		push_empty(b);
		return;
	}
	if (c[0] == '/') {
		push_user_str(b, upath, PARAM_MAX);
		return;
	}
	for (int i = 0; i < 4; i++) {
		if (bpf_probe_read_user(c, 2, upath) || c[0] != '.' || c[1] != '/')
			break;
		upath += 2;
	}
	if ((__s32)dirfd == AT_FDCWD) {
		dir = (const struct path *)((void *)BPF_CORE_READ(t, fs) +
			bpf_core_field_offset(struct fs_struct, pwd));
	} else {
		struct file *f = fd_file(t, dirfd);

		if (!f) {
			push_user_str(b, upath, PARAM_MAX);
			return;
		}
		dir = (const struct path *)((void *)f +
			bpf_core_field_offset(struct file, f_path));
	}
	n = copy_built(b, vigil_build_path((__u64)dir, b->slot), 0);
	pos = b->pos + n;
	/* "/" + "name" must not become "//name". */
	if (n != 1) {
		b->buf[pos & EVT_MASK] = '/';
		pos++;
	}
	if (pos > EVT_MAX - PARAM_MAX) {
		set_len(b, 0);
		return;
	}
	m = bpf_probe_read_user_str(&b->buf[pos & EVT_MASK], PARAM_MAX, upath);
	if (m <= 0) {
		/* The directory alone, terminated. */
		b->buf[pos & EVT_MASK] = 0;
		m = 1;
	}
	set_len(b, pos - b->pos + m);
}

static __always_inline void push_cwd(struct builder *b)
{
	struct fs_struct *fs = BPF_CORE_READ(current_task(), fs);

	if (!fs) {
		push_empty(b);
		return;
	}
	push_path(b, (const struct path *)((void *)fs +
		  bpf_core_field_offset(struct fs_struct, pwd)));
}

/* dev and ino of an open file. */
static __always_inline void push_dev_ino(struct builder *b, __s64 fd)
{
	struct file *f = fd >= 0 ? fd_file(current_task(), fd) : NULL;
	struct inode *ino = f ? BPF_CORE_READ(f, f_inode) : NULL;

	if (!ino) {
		push_empty(b);
		push_empty(b);
		return;
	}
	push_u32(b, BPF_CORE_READ(ino, i_sb, s_dev));
	push_u64(b, BPF_CORE_READ(ino, i_ino));
}

/* The cgroup v2 path of the current task, e.g. /system.slice/x.scope. */
/* Unused by the fentry object, which shares this header. */
static __noinline __attribute__((unused)) void push_cgroup(struct builder *b)
{
	struct task_struct *t = current_task();
	struct kernfs_node *kn = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
	struct scratch *s = b->s;
	__u32 off;

	s->path[PATH_END - 1] = 0;
	s->off = PATH_END - 1;
	for (int i = 0; i < MAX_CGROUP_DEPTH && kn; i++) {
		struct kernfs_node *parent;
		const char *name;
		long len;

		if (bpf_core_field_exists(kn->__parent))
			parent = BPF_CORE_READ(kn, __parent);
		else
			parent = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
		if (!parent)
			break;	/* the root, whose name is "/" or "" */
		name = BPF_CORE_READ(kn, name);
		/* Learn the length past the end of the area, then place it. */
		len = bpf_probe_read_kernel_str(&s->path[PATH_END], 256, name) - 1;
		off = s->off;
		if (len <= 0 || len + 2 > off)
			break;
		if (off != PATH_END - 1) {
			off--;
			s->path[off & PATH_MASK] = '/';
		}
		off -= len;
		if (bpf_probe_read_kernel(&s->path[off & PATH_MASK],
					  bounded_by(len, NAME_MASK), name))
			break;
		s->off = off;
		kn = parent;
	}
	off = s->off - 1;
	s->path[off & PATH_MASK] = '/';
	set_len(b, copy_built(b, off, 1));
}

/* Socket of @fd, or NULL when @fd is not a socket. */
static __always_inline struct socket *fd_socket(__s64 fd)
{
	struct file *f = fd_file(current_task(), fd);
	umode_t mode;

	if (!f)
		return NULL;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(f, private_data);
}

static __always_inline void put_unix_path(struct builder *b, __u64 *pos,
					  struct unix_sock *us)
{
	struct unix_address *addr = BPF_CORE_READ(us, addr);
	long n = 0;

	if (addr && *pos <= EVT_MAX - PARAM_MAX)
		n = bpf_probe_read_kernel_str(&b->buf[*pos & EVT_MASK], 108,
					      &addr->name[0].sun_path);
	if (n <= 0) {
		b->buf[*pos & EVT_MASK] = 0;
		n = 1;
	}
	*pos += n;
}

/*
 * Local and peer ends of the socket behind @fd:
 * family, then (inet) saddr sport daddr dport or (unix) a path.
 */
static __always_inline void push_tuple(struct builder *b, __s64 fd)
{
	struct socket *sock = fd_socket(fd);
	struct sock *sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
	__u64 pos = b->pos;
	__u16 family;

	if (!sk || pos > EVT_MAX - PARAM_MAX) {
		push_empty(b);
		return;
	}
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	b->buf[pos & EVT_MASK] = family;
	pos++;
	if (family == AF_INET) {
		*(__u32 *)&b->buf[pos & EVT_MASK] =
			BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		*(__u16 *)&b->buf[(pos + 4) & EVT_MASK] =
			BPF_CORE_READ(sk, __sk_common.skc_num);
		*(__u32 *)&b->buf[(pos + 6) & EVT_MASK] =
			BPF_CORE_READ(sk, __sk_common.skc_daddr);
		*(__u16 *)&b->buf[(pos + 10) & EVT_MASK] =
			bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		pos += 12;
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&b->buf[pos & EVT_MASK], sk,
				   __sk_common.skc_v6_rcv_saddr);
		*(__u16 *)&b->buf[(pos + 16) & EVT_MASK] =
			BPF_CORE_READ(sk, __sk_common.skc_num);
		BPF_CORE_READ_INTO(&b->buf[(pos + 18) & EVT_MASK], sk,
				   __sk_common.skc_v6_daddr);
		*(__u16 *)&b->buf[(pos + 34) & EVT_MASK] =
			bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		pos += 36;
	} else if (family == AF_UNIX) {
		struct unix_sock *us = (struct unix_sock *)sk;
		struct unix_sock *peer = (struct unix_sock *)BPF_CORE_READ(us, peer);

		/* The bound name says more; accepted sockets have only the peer's. */
		if (BPF_CORE_READ(us, addr) || !peer)
			put_unix_path(b, &pos, us);
		else
			put_unix_path(b, &pos, peer);
	}
	set_len(b, pos - b->pos);
}

/* A struct sockaddr from user memory: family, then address and port. */
static __always_inline void push_sockaddr(struct builder *b, const void *uaddr,
					  __u64 ulen)
{
	__u64 pos = b->pos;
	__u16 family;
	__u16 port;

	if (!uaddr || ulen < 2 || pos > EVT_MAX - PARAM_MAX ||
	    bpf_probe_read_user(&family, 2, uaddr)) {
		push_empty(b);
		return;
	}
	b->buf[pos & EVT_MASK] = family;
	pos++;
	if (family == AF_INET && ulen >= 8) {
		bpf_probe_read_user(&port, 2, uaddr + 2);
		bpf_probe_read_user(&b->buf[pos & EVT_MASK], 4, uaddr + 4);
		*(__u16 *)&b->buf[(pos + 4) & EVT_MASK] = bpf_ntohs(port);
		pos += 6;
	} else if (family == AF_INET6 && ulen >= 24) {
		bpf_probe_read_user(&port, 2, uaddr + 2);
		bpf_probe_read_user(&b->buf[pos & EVT_MASK], 16, uaddr + 8);
		*(__u16 *)&b->buf[(pos + 16) & EVT_MASK] = bpf_ntohs(port);
		pos += 18;
	} else if (family == AF_UNIX) {
		long n = bpf_probe_read_user_str(&b->buf[pos & EVT_MASK], 108,
						 uaddr + 2);

		if (n <= 0) {
			b->buf[pos & EVT_MASK] = 0;
			n = 1;
		}
		pos += n;
	}
	set_len(b, pos - b->pos);
}

#endif /* VIGIL_TASK_H */
