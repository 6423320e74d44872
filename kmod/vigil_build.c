// SPDX-License-Identifier: GPL-2.0-only
//go:build ignore
/*
 * Reading the current task for events: user memory, paths, file
 * descriptors, cgroups and sockets, each as the eBPF probe reads it
 * (bpf/c/task.h and bpf/c/builder.h), so that both drivers write the same
 * bytes.
 *
 * The probes run in tracepoints and never sleep: user memory is read with
 * page faults disabled, kernel objects under rcu_read_lock() without taking
 * references (dput() and mntput() may sleep).
 */
#include <linux/cgroup.h>
#include <linux/dcache.h>
#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/kernfs.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/net.h>
#include <linux/nospec.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/seqlock.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <net/af_unix.h>
#include <net/sock.h>

#include "vigil.h"

#define MAX_PATH_COMPONENTS	48
#define MAX_CGROUP_DEPTH	16
#define NAME_MASK		255
#define UNIX_PATH_READ		108

/* ---- user memory -------------------------------------------------------- */

/*
 * bpf_probe_read_user(): len bytes or an error, and then zeros, which some
 * fillers rely on (a port that cannot be read is 0).
 */
int vigil_read_user(void *dst, const void __user *src, u32 len)
{
	if (copy_from_user_nofault(dst, src, len)) {
		memset(dst, 0, len);
		return -EFAULT;
	}
	return 0;
}

/*
 * An empty string: strncpy_from_user_nofault() returned 0 for it until
 * "maccess: fix strncpy_from_user_nofault empty string handling" (6.16),
 * 1 since; the probe's reads go through it, and so its events carry an
 * absent parameter before, a lone NUL after.
 */
#if KERNEL_VERSION(6, 16, 0) <= LINUX_VERSION_CODE
#define EMPTY_STR_LEN 1
#else
#define EMPTY_STR_LEN 0
#endif

/*
 * bpf_probe_read_user_str(), which is strncpy_from_user_nofault(), not
 * exported to modules: the string with its NUL, cut to max bytes; its
 * length with the NUL, or an error.
 */
long vigil_read_user_str(char *dst, const void __user *src, u32 max)
{
	long n;

	if (!max)
		return 0;
	pagefault_disable();
	n = strncpy_from_user(dst, src, max);
	pagefault_enable();
	if (n < 0)
		return n;
	if (n >= max) {
		dst[max - 1] = 0;
		return max;
	}
	return n ? n + 1 : EMPTY_STR_LEN;
}

/* builder.h push_user_str(): absent when unreadable. */
void vigil_push_user_str(struct vigil_builder *b, const void __user *s, u32 max)
{
	long n = 0;

	if (s && vigil_room(b, b->pos))
		n = vigil_read_user_str(b->buf + b->pos, s, max);
	vigil_set_len(b, n < 0 ? 0 : n);
}

/* builder.h push_kernel_str(), for strings the module may read directly. */
void vigil_push_kernel_str(struct vigil_builder *b, const char *s, u32 max)
{
	u32 n;

	if (!s || !max || !vigil_room(b, b->pos)) {
		vigil_push_empty(b);
		return;
	}
	n = strnlen(s, max - 1);
	memcpy(b->buf + b->pos, s, n);
	b->buf[b->pos + n] = 0;
	vigil_set_len(b, n + 1);
}

/* builder.h push_user_bytes(): argv, NUL-separated already. */
void vigil_push_user_bytes(struct vigil_builder *b, const void __user *p, u64 len)
{
	if (len > VIGIL_PARAM_MAX)
		len = VIGIL_PARAM_MAX;
	if (!p || len == 0 || !vigil_room(b, b->pos) ||
	    vigil_read_user(b->buf + b->pos, p, len)) {
		vigil_push_empty(b);
		return;
	}
	/* Truncation may cut the last string: terminate it. */
	b->buf[b->pos + len - 1] = 0;
	vigil_set_len(b, len);
}

/* ---- paths -------------------------------------------------------------- */

/*
 * The head of struct mount, which fs/mount.h keeps private to fs/. It is
 * the same in every kernel from 5.10 to 7.2 (checked against each matrix
 * kernel's BTF); vigil_check_mount_layout() proves it at load, on the
 * running kernel's own mount tree.
 */
struct vigil_mount {
	struct hlist_node mnt_hash;
	struct vigil_mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

static struct vigil_mount *real_mnt(struct vfsmount *m)
{
	return container_of(m, struct vigil_mount, mnt);
}

/*
 * A namespace's root mount is its own parent and is mounted on its own
 * root; every other mount sits on a dentry of its parent's file system.
 * A wrong layout would read other fields and fail these checks.
 */
int vigil_check_mount_layout(void)
{
	struct vigil_mount *m, *p;
	struct path root;
	int i, err = -ENOEXEC;

	get_fs_root(current->fs, &root);
	rcu_read_lock();
	m = real_mnt(root.mnt);
	for (i = 0; i < 64; i++) {
		struct dentry *mp;

		p = READ_ONCE(m->mnt_parent);
		mp = READ_ONCE(m->mnt_mountpoint);
		if (!virt_addr_valid(p) || !virt_addr_valid(mp))
			break;
		if (p == m) {
			if (mp == m->mnt.mnt_root)
				err = 0;
			break;
		}
		if (mp->d_sb != p->mnt.mnt_sb)
			break;
		m = p;
	}
	rcu_read_unlock();
	path_put(&root);
	return err;
}

/*
 * One name, copied up to its NUL: a rename may pair a new, shorter name
 * with the old length, and the rename_lock retry then redoes the walk.
 */
static void copy_name(char *dst, const unsigned char *name, u32 len)
{
	u32 i;

	for (i = 0; i < len; i++) {
		char c = READ_ONCE(name[i]);

		if (!c)
			break;
		dst[i] = c;
	}
	for (; i < len; i++)
		dst[i] = '?';
}

/*
 * task.h vigil_build_path(): the absolute path of @path written backwards
 * into @area, ending at PATH_END with a NUL; returns where it starts.
 * Crosses mounts up to the global root, not the task's root (d_path() stops
 * at a chroot and appends " (deleted)"); a disconnected dentry (memfd, a
 * file whose directory is gone) yields "/" and its name; past 48 steps or
 * PATH_END bytes the path is cut, still absolute.
 *
 * Renames are caught by rename_lock, as d_path() does: a lockless walk,
 * then one under the lock. mount_lock is not exported: a mount moved during
 * the walk can give a mixed path (as in the probe); the mounts themselves
 * are freed after an RCU grace period, so the walk stays safe.
 *
 * The caller holds rcu_read_lock() and keeps @path's objects alive.
 */
static u32 build_path(char *area, const struct path *path)
{
	unsigned int seq = 0;
	u32 off;
	int i;

restart:
	read_seqbegin_or_lock(&rename_lock, &seq);
	{
		struct dentry *d = READ_ONCE(path->dentry);
		struct vigil_mount *mnt = real_mnt(READ_ONCE(path->mnt));

		area[VIGIL_PATH_END - 1] = 0;
		off = VIGIL_PATH_END - 1;
		for (i = 0; i < MAX_PATH_COMPONENTS && d; i++) {
			struct dentry *root = READ_ONCE(mnt->mnt.mnt_root);
			struct dentry *parent = READ_ONCE(d->d_parent);
			const unsigned char *name;
			u32 len, o;

			if (d == root) {
				struct vigil_mount *mp = READ_ONCE(mnt->mnt_parent);

				if (mnt == mp)
					break;	/* the global root */
				d = READ_ONCE(mnt->mnt_mountpoint);
				mnt = mp;
				continue;
			}
			/* Pairs with the release of a rename: name before len. */
			name = smp_load_acquire(&d->d_name.name);
			len = READ_ONCE(d->d_name.len) & NAME_MASK;
			if (len + 2 > off)
				break;
			o = off;
			if (o != VIGIL_PATH_END - 1)
				area[--o] = '/';
			o -= len;
			copy_name(area + o, name, len);
			off = o;
			/* Its own parent: disconnected, its name is all there is. */
			if (d == parent)
				break;
			d = parent;
		}
	}
	if (need_seqretry(&rename_lock, seq)) {
		seq = 1;
		goto restart;
	}
	done_seqretry(&rename_lock, seq);
	area[--off] = '/';
	return off;
}

/* task.h copy_built(): the assembled path into the event, NUL or not. */
static u32 copy_built(struct vigil_builder *b, u32 start, bool nul)
{
	u32 len = VIGIL_PATH_END - start;

	if (!nul)
		len--;
	if (len == 0 || len > VIGIL_PARAM_MAX || !vigil_room(b, b->pos))
		return 0;
	memcpy(b->buf + b->pos, b->path + start, len);
	return len;
}

/* task.h push_path(). */
void vigil_push_path(struct vigil_builder *b, const struct path *p)
{
	u32 off;

	rcu_read_lock();
	off = build_path(b->path, p);
	rcu_read_unlock();
	vigil_set_len(b, copy_built(b, off, true));
}

/* task.h fd_file(): the open file @fd of the current task. Under RCU. */
static struct file *fd_file_rcu(s64 fd)
{
	struct files_struct *files = current->files;
	struct fdtable *fdt;

	if (fd < 0 || !files)
		return NULL;
	fdt = files_fdtable(files);
	if (fd >= fdt->max_fds)
		return NULL;
	return rcu_dereference_raw(fdt->fd[array_index_nospec(fd, fdt->max_fds)]);
}

/*
 * The current task's working directory, consistent with a chdir. fs->seq
 * became a seqlock_t when fs->lock went (6.15 or so): its type picks the
 * reader, so that no version number has to be guessed.
 */
static void get_pwd_rcu(struct fs_struct *fs, struct path *pwd)
{
	unsigned int seq;

	if (_Generic(fs->seq, seqlock_t : true, default : false)) {
		seqlock_t *sl = (void *)&fs->seq;

		do {
			seq = read_seqbegin(sl);
			*pwd = fs->pwd;
		} while (read_seqretry(sl, seq));
	} else {
		seqcount_spinlock_t *sc = (void *)&fs->seq;

		do {
			seq = read_seqcount_begin(sc);
			*pwd = fs->pwd;
		} while (read_seqcount_retry(sc, seq));
	}
}

/*
 * task.h push_path_at(): a path argument made absolute, as is when it
 * starts with '/', else resolved against @dirfd (AT_FDCWD: the cwd); up to
 * four "./" prefixes are dropped, other "." and ".." are left to user space.
 */
void vigil_push_path_at(struct vigil_builder *b, s64 dirfd, const char __user *upath)
{
	struct path pwd;
	const struct path *dir;
	char c[2];
	u32 n, pos;
	long m;
	int i;

	if (!upath || vigil_read_user(c, upath, 1)) {
		vigil_push_empty(b);
		return;
	}
	if (c[0] == '/') {
		vigil_push_user_str(b, upath, VIGIL_PARAM_MAX);
		return;
	}
	for (i = 0; i < 4; i++) {
		if (vigil_read_user(c, upath, 2) || c[0] != '.' || c[1] != '/')
			break;
		upath += 2;
	}
	rcu_read_lock();
	if ((s32)dirfd == AT_FDCWD) {
		get_pwd_rcu(current->fs, &pwd);
		dir = &pwd;
	} else {
		struct file *f = fd_file_rcu(dirfd);

		if (!f) {
			rcu_read_unlock();
			vigil_push_user_str(b, upath, VIGIL_PARAM_MAX);
			return;
		}
		dir = &f->f_path;
	}
	n = copy_built(b, build_path(b->path, dir), false);
	rcu_read_unlock();
	pos = b->pos + n;
	/* "/" + "name" must not become "//name". */
	if (n != 1) {
		if (pos < VIGIL_EVT_BUF)
			b->buf[pos] = '/';
		pos++;
	}
	if (!vigil_room(b, pos)) {
		vigil_push_empty(b);
		return;
	}
	m = vigil_read_user_str(b->buf + pos, upath, VIGIL_PARAM_MAX);
	if (m <= 0) {
		/* The directory alone, terminated. */
		b->buf[pos] = 0;
		m = 1;
	}
	vigil_set_len(b, pos - b->pos + m);
}

/* task.h push_cwd(). */
void vigil_push_cwd(struct vigil_builder *b)
{
	struct fs_struct *fs = current->fs;
	struct path pwd;
	u32 off;

	if (!fs) {
		vigil_push_empty(b);
		return;
	}
	rcu_read_lock();
	get_pwd_rcu(fs, &pwd);
	off = build_path(b->path, &pwd);
	rcu_read_unlock();
	vigil_set_len(b, copy_built(b, off, true));
}

/* task.h push_dev_ino(): dev and inode number of open file @fd. */
void vigil_push_dev_ino(struct vigil_builder *b, s64 fd)
{
	struct inode *ino = NULL;
	struct file *f;

	rcu_read_lock();
	f = fd_file_rcu(fd);
	if (f)
		ino = READ_ONCE(f->f_inode);
	if (!ino) {
		rcu_read_unlock();
		vigil_push_empty(b);
		vigil_push_empty(b);
		return;
	}
	vigil_push_u32(b, ino->i_sb->s_dev);
	vigil_push_u64(b, ino->i_ino);
	rcu_read_unlock();
}

/* ---- cgroup ------------------------------------------------------------- */

/* kernfs_node's parent and name became RCU pointers in 6.15. */
static struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
#if KERNEL_VERSION(6, 15, 0) <= LINUX_VERSION_CODE
	return rcu_dereference(kn->__parent);
#else
	return READ_ONCE(kn->parent);
#endif
}

static const char *kn_name(struct kernfs_node *kn)
{
#if KERNEL_VERSION(6, 15, 0) <= LINUX_VERSION_CODE
	return rcu_dereference(kn->name);
#else
	return READ_ONCE(kn->name);
#endif
}

/*
 * task.h push_cgroup(): the cgroup v2 path of the current task, e.g.
 * /system.slice/x.scope, at most 16 levels deep (the deepest ones).
 * kernfs_path_from_node() would not cut it the same way.
 */
void vigil_push_cgroup(struct vigil_builder *b)
{
	struct kernfs_node *kn;
	char *area = b->path;
	u32 off = VIGIL_PATH_END - 1;
	int i;

	area[off] = 0;
	rcu_read_lock();
	kn = task_dfl_cgroup(current)->kn;
	for (i = 0; i < MAX_CGROUP_DEPTH && kn; i++) {
		struct kernfs_node *parent = kn_parent(kn);
		const char *name;
		u32 len, o;

		if (!parent)
			break;	/* the root, whose name is "/" or "" */
		name = kn_name(kn);
		len = name ? strnlen(name, NAME_MASK) : 0;
		if (len == 0 || len + 2 > off)
			break;
		o = off;
		if (o != VIGIL_PATH_END - 1)
			area[--o] = '/';
		o -= len;
		memcpy(area + o, name, len);
		off = o;
		kn = parent;
	}
	rcu_read_unlock();
	area[--off] = '/';
	vigil_set_len(b, copy_built(b, off, true));
}

/* ---- sockets ------------------------------------------------------------ */

/* task.h fd_socket(): the socket behind @fd, or NULL. Under RCU. */
static struct socket *fd_socket_rcu(s64 fd)
{
	struct file *f = fd_file_rcu(fd);

	if (!f || !S_ISSOCK(file_inode(f)->i_mode))
		return NULL;
	return READ_ONCE(f->private_data);
}

static void put_unix_path(struct vigil_builder *b, u32 *pos, struct unix_sock *us)
{
	/* Pairs with the release in unix_bind(): the address is complete. */
	struct unix_address *addr = smp_load_acquire(&us->addr);
	u32 n = 0;

	if (addr && vigil_room(b, *pos)) {
		n = strnlen(addr->name[0].sun_path, UNIX_PATH_READ - 1);
		memcpy(b->buf + *pos, addr->name[0].sun_path, n);
		n++;
	}
	if (n == 0)
		n = 1;
	b->buf[*pos + n - 1] = 0;
	*pos += n;
}

static void put_u16(struct vigil_builder *b, u32 pos, u16 v)
{
	memcpy(b->buf + pos, &v, sizeof(v));
}

static void put_u32(struct vigil_builder *b, u32 pos, u32 v)
{
	memcpy(b->buf + pos, &v, sizeof(v));
}

/*
 * task.h push_tuple(): local and peer ends of the socket behind @fd:
 * family, then (inet) saddr sport daddr dport, or (unix) a path.
 */
void vigil_push_tuple(struct vigil_builder *b, s64 fd)
{
	struct socket *sock;
	struct sock *sk = NULL;
	u32 pos = b->pos;
	u16 family;

	rcu_read_lock();
	sock = fd_socket_rcu(fd);
	if (sock)
		sk = READ_ONCE(sock->sk);
	if (!sk || !vigil_room(b, pos)) {
		rcu_read_unlock();
		vigil_push_empty(b);
		return;
	}
	family = READ_ONCE(sk->sk_family);
	b->buf[pos++] = family;
	if (family == AF_INET) {
		put_u32(b, pos, READ_ONCE(sk->sk_rcv_saddr));
		put_u16(b, pos + 4, READ_ONCE(sk->sk_num));
		put_u32(b, pos + 6, READ_ONCE(sk->sk_daddr));
		put_u16(b, pos + 10, ntohs(READ_ONCE(sk->sk_dport)));
		pos += 12;
#if IS_ENABLED(CONFIG_IPV6)
	} else if (family == AF_INET6) {
		memcpy(b->buf + pos, &sk->sk_v6_rcv_saddr, 16);
		put_u16(b, pos + 16, READ_ONCE(sk->sk_num));
		memcpy(b->buf + pos + 18, &sk->sk_v6_daddr, 16);
		put_u16(b, pos + 34, ntohs(READ_ONCE(sk->sk_dport)));
		pos += 36;
#endif
	} else if (family == AF_UNIX) {
		struct unix_sock *us = unix_sk(sk);
		struct sock *peer = READ_ONCE(us->peer);

		/* The bound name says more; accepted sockets have only the peer's. */
		if (READ_ONCE(us->addr) || !peer)
			put_unix_path(b, &pos, us);
		else
			put_unix_path(b, &pos, unix_sk(peer));
	}
	rcu_read_unlock();
	vigil_set_len(b, pos - b->pos);
}

/* task.h push_sockaddr(): a struct sockaddr from user memory. */
void vigil_push_sockaddr(struct vigil_builder *b, const void __user *uaddr, u64 ulen)
{
	u32 pos = b->pos;
	u16 family, port;

	if (!uaddr || ulen < 2 || !vigil_room(b, pos) ||
	    vigil_read_user(&family, uaddr, 2)) {
		vigil_push_empty(b);
		return;
	}
	b->buf[pos++] = family;
	if (family == AF_INET && ulen >= 8) {
		vigil_read_user(&port, uaddr + 2, 2);
		vigil_read_user(b->buf + pos, uaddr + 4, 4);
		put_u16(b, pos + 4, ntohs(port));
		pos += 6;
	} else if (family == AF_INET6 && ulen >= 24) {
		vigil_read_user(&port, uaddr + 2, 2);
		vigil_read_user(b->buf + pos, uaddr + 8, 16);
		put_u16(b, pos + 16, ntohs(port));
		pos += 18;
	} else if (family == AF_UNIX) {
		long n = vigil_read_user_str(b->buf + pos, uaddr + 2, UNIX_PATH_READ);

		if (n <= 0) {
			b->buf[pos] = 0;
			n = 1;
		}
		pos += n;
	}
	vigil_set_len(b, pos - b->pos);
}

/* ---- ids ---------------------------------------------------------------- */

/*
 * task.h pid_vnr(): the number of @pid in its own innermost namespace.
 * The kernel's pid_vnr() answers for the caller's namespace, which gives 0
 * for a session or group led from outside it.
 */
s64 vigil_pid_vnr(struct pid *pid)
{
	if (!pid)
		return 0;
	return pid->numbers[READ_ONCE(pid->level)].nr;
}

u64 vigil_cap_bits(const kernel_cap_t *c)
{
#if KERNEL_VERSION(6, 3, 0) <= LINUX_VERSION_CODE
	return c->val;
#else
	return ((u64)c->cap[1] << 32) | c->cap[0];
#endif
}
