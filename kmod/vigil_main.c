// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil's kernel module: syscall and process lifecycle events, in the wire
 * format of vigil_schema.h, into one ring buffer per possible CPU that user
 * space maps through /dev/vigilN (see vigil_ring.h).
 *
 * Still missing: the exit events of the syscalls that take paths, socket
 * addresses or exec state (execve, clone, the open, file and network
 * families), and the entry events. Those syscalls are not emitted yet.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/binfmts.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vmalloc.h>
#include <asm/syscall.h>

#include "vigil_schema.h"
#include "vigil_ring.h"

static unsigned int ring_pages = 2048;
module_param(ring_pages, uint, 0444);
MODULE_PARM_DESC(ring_pages,
		 "Pages of each per-CPU ring buffer, a power of two (default 2048: 8 MiB with 4 KiB pages)");

/* The largest event the module writes: a header, lengths and a path. */
#define VIGIL_EVT_MAX (VIGIL_HEADER_SIZE + 2 * VIGIL_MAX_PARAMS + PATH_MAX + 256)

struct vigil_cpu {
	struct vigil_ring_ctl *ctl;	/* one page, shared read-write */
	char *data;			/* ring_size bytes, mapped read-only */
	char *scratch;			/* an event is built here, then copied */
	u32 size;
	atomic_t open;
};

static struct vigil_cpu *cpus;
static dev_t devt;
static struct cdev cdev;
static struct class *vigil_class;

/* What user space asked for; read locklessly by the probes. */
static bool capturing;
static u32 snaplen = 256;
static u32 ignore_tgid;
static DECLARE_BITMAP(interesting, VIGIL_MAX_SYSCALLS);
static DEFINE_MUTEX(config_lock);

/* The syscalls with exit events of their own, from the schema. */
#define NR_OF(name, EVT) (VIGIL_NR_##name),
static const u16 own_event_nrs[] = { VIGIL_EXIT_SYSCALLS(NR_OF) };
#undef NR_OF
static DECLARE_BITMAP(own_event, VIGIL_MAX_SYSCALLS);
static atomic_t open_devices = ATOMIC_INIT(0);

/* ---- building events ---------------------------------------------------- */

struct builder {
	char *buf;
	u32 pos;	/* where the next parameter goes */
	u16 nparams;
	u16 idx;	/* parameters pushed so far */
};

static void begin(struct builder *b, char *buf, u16 type, u16 nparams)
{
	struct vigil_event_hdr *h = (struct vigil_event_hdr *)buf;
	u64 id = ((u64)current->tgid << 32) | current->pid;

	h->ts = ktime_get_boot_fast_ns();
	h->tid = (u32)id;
	h->pid = id >> 32;
	h->type = type;
	h->nparams = nparams;
	b->buf = buf;
	b->nparams = nparams;
	b->idx = 0;
	b->pos = VIGIL_HEADER_SIZE + 2 * nparams;
}

static void push(struct builder *b, const void *p, u32 len)
{
	u16 *lens = (u16 *)(b->buf + VIGIL_HEADER_SIZE);

	if (b->idx >= b->nparams)
		return;
	if (b->pos + len > VIGIL_EVT_MAX)
		len = 0;	/* unreadable rather than overrun */
	/* p may lie in the scratch buffer itself (d_path): memmove. */
	memmove(b->buf + b->pos, p, len);
	lens[b->idx++] = len;
	b->pos += len;
}

static void push_u64(struct builder *b, u64 v)
{
	push(b, &v, sizeof(v));
}

static void push_u16(struct builder *b, u16 v)
{
	push(b, &v, sizeof(v));
}

static void push_u32(struct builder *b, u32 v)
{
	push(b, &v, sizeof(v));
}

static void push_str(struct builder *b, const char *s, u32 max)
{
	push(b, s, strnlen(s, max - 1) + 1);
}

/*
 * A string from user memory, NUL included, cut to max bytes; absent when
 * unreadable. The probes may not sleep: no page fault is served.
 */
static void push_user_str(struct builder *b, const char __user *s, u32 max)
{
	char *dst = b->buf + b->pos;
	long n;

	if (!s || b->pos + max > VIGIL_EVT_MAX) {
		push(b, NULL, 0);
		return;
	}
	/* strncpy_from_user_nofault is not exported to modules; this is it. */
	pagefault_disable();
	n = strncpy_from_user(dst, s, max);
	pagefault_enable();
	if (n < 0) {
		push(b, NULL, 0);
		return;
	}
	if (n >= max) {
		n = max - 1;
		dst[n] = 0;
	}
	push(b, dst, n + 1);
}

static u64 cap_bits(const kernel_cap_t *c)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	return c->val;
#else
	return ((u64)c->cap[1] << 32) | c->cap[0];
#endif
}

/* ---- the ring ----------------------------------------------------------- */

/*
 * Copy a finished event into this CPU's ring. Called with preemption
 * disabled: nothing else writes this CPU's ring meanwhile.
 */
static void submit(struct vigil_cpu *c, struct builder *b)
{
	struct vigil_ring_ctl *ctl = c->ctl;
	struct vigil_event_hdr *h = (struct vigil_event_hdr *)b->buf;
	u64 head = ctl->head;
	/* Pairs with the reader's release of tail: it is done with that space. */
	u64 tail = smp_load_acquire(&ctl->tail);
	u32 len = b->pos, off = head & (c->size - 1), pad = 0;

	h->len = len;
	if (off + len > c->size)
		pad = c->size - off;
	/* A tail past the head is user space's bug: drop rather than trust it. */
	if (tail > head || head + pad + len - tail > c->size) {
		ctl->drops++;
		return;
	}
	if (pad) {
		/* Too little room for a header: the reader skips it unasked. */
		if (pad >= VIGIL_HEADER_SIZE) {
			struct vigil_event_hdr *p = (struct vigil_event_hdr *)(c->data + off);

			memset(p, 0, sizeof(*p));
			p->type = VIGIL_RING_PAD;
			p->len = pad;
		}
		head += pad;
		off = 0;
	}
	memcpy(c->data + off, b->buf, len);
	ctl->events++;
	/* The event's bytes before the head that publishes them. */
	smp_store_release(&ctl->head, head + len);
}

static bool wanted(void)
{
	return READ_ONCE(capturing) && current->tgid != READ_ONCE(ignore_tgid);
}

/* ---- syscall exit events ------------------------------------------------ */

#define BEGIN(EVT) begin(b, buf, VIGIL_EVT_##EVT, VIGIL_NP_##EVT)

/*
 * Fill the exit event of a syscall with an event of its own, in the order
 * vigil_schema.h lists its parameters. Returns false for the syscalls whose
 * fillers are not written yet (see the top of this file).
 */
static bool fill_exit(struct builder *b, char *buf, struct pt_regs *regs,
		      long ret, long nr)
{
	unsigned long a[6];
	const struct cred *cred;
	int fds[2];

	syscall_get_arguments(current, regs, a);
	switch (nr) {
	case VIGIL_NR_socket:
		BEGIN(SOCKET_X);
		push_u64(b, ret);
		push_u32(b, a[0]);
		push_u32(b, a[1]);
		push_u32(b, a[2]);
		return true;
	case VIGIL_NR_listen:
		BEGIN(LISTEN_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		push_u64(b, (s32)a[1]);
		return true;
	case VIGIL_NR_setuid:
	case VIGIL_NR_setgid:
		if (nr == VIGIL_NR_setuid)
			BEGIN(SETUID_X);
		else
			BEGIN(SETGID_X);
		push_u64(b, ret);
		push_u32(b, a[0]);
		return true;
	case VIGIL_NR_setreuid:
	case VIGIL_NR_setregid:
		if (nr == VIGIL_NR_setreuid)
			BEGIN(SETREUID_X);
		else
			BEGIN(SETREGID_X);
		push_u64(b, ret);
		push_u32(b, a[0]);
		push_u32(b, a[1]);
		return true;
	case VIGIL_NR_setresuid:
	case VIGIL_NR_setresgid:
		if (nr == VIGIL_NR_setresuid)
			BEGIN(SETRESUID_X);
		else
			BEGIN(SETRESGID_X);
		push_u64(b, ret);
		push_u32(b, a[0]);
		push_u32(b, a[1]);
		push_u32(b, a[2]);
		return true;
	case VIGIL_NR_capset:
		BEGIN(CAPSET_X);
		push_u64(b, ret);
		cred = current_cred();
		push_u64(b, cap_bits(&cred->cap_inheritable));
		push_u64(b, cap_bits(&cred->cap_permitted));
		push_u64(b, cap_bits(&cred->cap_effective));
		return true;
	case VIGIL_NR_ptrace:
		BEGIN(PTRACE_X);
		push_u64(b, ret);
		push_u64(b, a[0]);
		push_u64(b, (s32)a[1]);
		return true;
	case VIGIL_NR_setns:
		BEGIN(SETNS_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		push_u32(b, a[1]);
		return true;
	case VIGIL_NR_unshare:
		BEGIN(UNSHARE_X);
		push_u64(b, ret);
		push_u64(b, a[0]);
		return true;
	case VIGIL_NR_init_module:
		BEGIN(INIT_MODULE_X);
		push_u64(b, ret);
		push_u64(b, a[1]);
		push_user_str(b, (const char __user *)a[2], READ_ONCE(snaplen));
		return true;
	case VIGIL_NR_finit_module:
		BEGIN(FINIT_MODULE_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		push_user_str(b, (const char __user *)a[1], READ_ONCE(snaplen));
		push_u32(b, a[2]);
		return true;
	case VIGIL_NR_bpf:
		BEGIN(BPF_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		return true;
	case VIGIL_NR_dup:
		BEGIN(DUP_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		return true;
	case VIGIL_NR_dup2:
		BEGIN(DUP2_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		push_u64(b, (s32)a[1]);
		return true;
	case VIGIL_NR_dup3:
		BEGIN(DUP3_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		push_u64(b, (s32)a[1]);
		push_u32(b, a[2]);
		return true;
	case VIGIL_NR_close:
	case VIGIL_NR_fchdir:
		if (nr == VIGIL_NR_close)
			BEGIN(CLOSE_X);
		else
			BEGIN(FCHDIR_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		return true;
	case VIGIL_NR_fchmod:
		BEGIN(FCHMOD_X);
		push_u64(b, ret);
		push_u64(b, (s32)a[0]);
		push_u32(b, a[1]);
		return true;
	case VIGIL_NR_pipe:
	case VIGIL_NR_pipe2:
		if (nr == VIGIL_NR_pipe)
			BEGIN(PIPE_X);
		else
			BEGIN(PIPE2_X);
		push_u64(b, ret);
		if (copy_from_user_nofault(fds, (const void __user *)a[0], sizeof(fds))) {
			push(b, NULL, 0);
			push(b, NULL, 0);
		} else {
			push_u64(b, (s64)fds[0]);
			push_u64(b, (s64)fds[1]);
		}
		if (nr == VIGIL_NR_pipe2)
			push_u32(b, a[1]);
		return true;
	}
	return false;
}

#undef BEGIN

/* ---- probes ------------------------------------------------------------- */

static void probe_sys_exit(void *data, struct pt_regs *regs, long ret)
{
	long nr = syscall_get_nr(current, regs);
	struct vigil_cpu *c;
	struct builder b;

	if (nr < 0 || nr >= VIGIL_MAX_SYSCALLS || !test_bit(nr, interesting) || !wanted())
		return;
	preempt_disable();
	c = &cpus[smp_processor_id()];
	if (!test_bit(nr, own_event)) {
		begin(&b, c->scratch, VIGIL_EVT_GENERIC, VIGIL_NP_GENERIC);
		push_u64(&b, ret);
		push_u16(&b, nr);
		submit(c, &b);
	} else if (fill_exit(&b, c->scratch, regs, ret, nr)) {
		submit(c, &b);
	}
	preempt_enable();
}

static void probe_fork(void *data, struct task_struct *parent,
		       struct task_struct *child)
{
	struct vigil_cpu *c;
	struct builder b;
	pid_t ppid;

	if (!wanted())
		return;
	rcu_read_lock();
	ppid = rcu_dereference(child->real_parent)->tgid;
	rcu_read_unlock();
	preempt_disable();
	c = &cpus[smp_processor_id()];
	begin(&b, c->scratch, VIGIL_EVT_PROC_FORK, VIGIL_NP_PROC_FORK);
	push_u64(&b, child->pid);
	push_u64(&b, child->tgid);
	push_u64(&b, ppid);
	push_str(&b, child->comm, sizeof(child->comm));
	submit(c, &b);
	preempt_enable();
}

static void probe_exec(void *data, struct task_struct *p, pid_t old_pid,
		       struct linux_binprm *bprm)
{
	struct vigil_cpu *c;
	struct builder b;
	char *path;

	if (!wanted())
		return;
	preempt_disable();
	c = &cpus[smp_processor_id()];
	begin(&b, c->scratch, VIGIL_EVT_PROC_EXEC, VIGIL_NP_PROC_EXEC);
	/* d_path writes at the end of the buffer it is given. */
	path = d_path(&bprm->file->f_path, c->scratch + b.pos, PATH_MAX);
	if (IS_ERR(path))
		push(&b, NULL, 0);
	else
		push(&b, path, strlen(path) + 1);
	push_u64(&b, old_pid);
	submit(c, &b);
	preempt_enable();
}

/*
 * The tracepoint gained group_dead in 6.16. The prototype must match: with
 * control-flow integrity a probe of another type is a fault.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
static void probe_exit(void *data, struct task_struct *p, bool group_dead)
#else
static void probe_exit(void *data, struct task_struct *p)
#endif
{
	struct vigil_cpu *c;
	struct builder b;

	if (!wanted())
		return;
	preempt_disable();
	c = &cpus[smp_processor_id()];
	begin(&b, c->scratch, VIGIL_EVT_PROC_EXIT, VIGIL_NP_PROC_EXIT);
	push_u64(&b, p->exit_code);
	submit(c, &b);
	preempt_enable();
}

struct vigil_tp {
	const char *name;
	void *probe;
	struct tracepoint *tp;
	bool registered;
};

static struct vigil_tp tps[] = {
	{ .name = "sys_exit", .probe = probe_sys_exit },
	{ .name = "sched_process_fork", .probe = probe_fork },
	{ .name = "sched_process_exec", .probe = probe_exec },
	{ .name = "sched_process_exit", .probe = probe_exit },
};

static void find_tp(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(tps); i++)
		if (!strcmp(tp->name, tps[i].name))
			tps[i].tp = tp;
}

static void unregister_tps(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(tps); i++) {
		if (tps[i].registered)
			tracepoint_probe_unregister(tps[i].tp, tps[i].probe, NULL);
		tps[i].registered = false;
	}
	/* No probe runs past this point: the buffers may go. */
	tracepoint_synchronize_unregister();
}

static int register_tps(void)
{
	int i, err;

	for_each_kernel_tracepoint(find_tp, NULL);
	for (i = 0; i < ARRAY_SIZE(tps); i++) {
		if (!tps[i].tp) {
			pr_err("tracepoint %s not found\n", tps[i].name);
			err = -ENOENT;
			goto fail;
		}
		err = tracepoint_probe_register(tps[i].tp, tps[i].probe, NULL);
		if (err) {
			pr_err("register tracepoint %s: %d\n", tps[i].name, err);
			goto fail;
		}
		tps[i].registered = true;
	}
	return 0;
fail:
	unregister_tps();
	return err;
}

/* ---- the devices -------------------------------------------------------- */

static int vigil_open(struct inode *inode, struct file *f)
{
	unsigned int cpu = iminor(inode);

	if (cpu >= nr_cpu_ids || !cpu_possible(cpu))
		return -ENODEV;
	/* One reader per buffer: two would steal each other's events. */
	if (atomic_cmpxchg(&cpus[cpu].open, 0, 1))
		return -EBUSY;
	atomic_inc(&open_devices);
	f->private_data = &cpus[cpu];
	return 0;
}

static int vigil_release(struct inode *inode, struct file *f)
{
	struct vigil_cpu *c = f->private_data;

	/* The last reader gone, nobody drains: stop rather than count drops. */
	if (atomic_dec_and_test(&open_devices))
		WRITE_ONCE(capturing, false);
	atomic_set(&c->open, 0);
	return 0;
}

static int vigil_mmap(struct file *f, struct vm_area_struct *vma)
{
	struct vigil_cpu *c = f->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;

	if (vma->vm_pgoff == 0) {
		if (len != PAGE_SIZE)
			return -EINVAL;
		return remap_vmalloc_range(vma, c->ctl, 0);
	}
	if (vma->vm_pgoff != 1 || len != c->size)
		return -EINVAL;
	/* The data is the kernel's to write: read-only, for good. */
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_clear(vma, VM_MAYWRITE);
#else
	vma->vm_flags &= ~VM_MAYWRITE;
#endif
	vma->vm_pgoff = 0;
	return remap_vmalloc_range(vma, c->data, 0);
}

static long vigil_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct vigil_schema_version sv = {
		VIGIL_SCHEMA_VERSION_MAJOR, VIGIL_SCHEMA_VERSION_MINOR, VIGIL_SCHEMA_VERSION_PATCH,
	};
	u8 mask[VIGIL_MASK_BYTES];
	u32 v = VIGIL_API_VERSION;
	long err = 0;
	int i;

	mutex_lock(&config_lock);
	switch (cmd) {
	case VIGIL_IOC_API_VERSION:
		err = copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
		break;
	case VIGIL_IOC_SCHEMA_VERSION:
		err = copy_to_user(uarg, &sv, sizeof(sv)) ? -EFAULT : 0;
		break;
	case VIGIL_IOC_START:
		WRITE_ONCE(capturing, true);
		break;
	case VIGIL_IOC_STOP:
		WRITE_ONCE(capturing, false);
		break;
	case VIGIL_IOC_SET_SNAPLEN:
		if (copy_from_user(&v, uarg, sizeof(v))) {
			err = -EFAULT;
			break;
		}
		if (v == 0 || v > 65535) {
			err = -EINVAL;
			break;
		}
		WRITE_ONCE(snaplen, v);
		break;
	case VIGIL_IOC_SET_MASK:
		if (copy_from_user(mask, uarg, sizeof(mask))) {
			err = -EFAULT;
			break;
		}
		for (i = 0; i < VIGIL_MAX_SYSCALLS; i++)
			assign_bit(i, interesting, mask[i / 8] & (1 << (i % 8)));
		break;
	case VIGIL_IOC_IGNORE_TGID:
		if (copy_from_user(&v, uarg, sizeof(v))) {
			err = -EFAULT;
			break;
		}
		WRITE_ONCE(ignore_tgid, v);
		break;
	default:
		err = -ENOTTY;
	}
	mutex_unlock(&config_lock);
	return err;
}

static const struct file_operations vigil_fops = {
	.owner = THIS_MODULE,
	.open = vigil_open,
	.release = vigil_release,
	.mmap = vigil_mmap,
	.unlocked_ioctl = vigil_ioctl,
};

/* ---- init and exit ------------------------------------------------------ */

static void free_buffers(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		vfree(cpus[cpu].ctl);
		vfree(cpus[cpu].data);
		kvfree(cpus[cpu].scratch);
	}
	kfree(cpus);
}

static int alloc_buffers(void)
{
	u32 size = ring_pages * PAGE_SIZE;
	int cpu;

	cpus = kcalloc(nr_cpu_ids, sizeof(*cpus), GFP_KERNEL);
	if (!cpus)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct vigil_cpu *c = &cpus[cpu];

		c->size = size;
		c->ctl = vmalloc_user(PAGE_SIZE);
		c->data = vmalloc_user(size);
		c->scratch = kvmalloc(VIGIL_EVT_MAX, GFP_KERNEL);
		if (!c->ctl || !c->data || !c->scratch) {
			free_buffers();
			return -ENOMEM;
		}
		c->ctl->ring_size = size;
		c->ctl->api_version = VIGIL_API_VERSION;
	}
	return 0;
}

static void destroy_devices(int upto)
{
	int cpu;

	for_each_possible_cpu(cpu)
		if (cpu < upto)
			device_destroy(vigil_class, MKDEV(MAJOR(devt), cpu));
}

static int __init vigil_init(void)
{
	struct device *dev;
	int err, cpu, i;

	if (!ring_pages || !is_power_of_2(ring_pages) || ring_pages > (1U << 18)) {
		pr_err("ring_pages=%u: want a power of two up to 262144\n", ring_pages);
		return -EINVAL;
	}
	bitmap_fill(interesting, VIGIL_MAX_SYSCALLS);
	for (i = 0; i < ARRAY_SIZE(own_event_nrs); i++)
		__set_bit(own_event_nrs[i], own_event);
	err = alloc_buffers();
	if (err)
		return err;
	err = alloc_chrdev_region(&devt, 0, nr_cpu_ids, "vigil");
	if (err)
		goto err_buffers;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	vigil_class = class_create("vigil");
#else
	vigil_class = class_create(THIS_MODULE, "vigil");
#endif
	if (IS_ERR(vigil_class)) {
		err = PTR_ERR(vigil_class);
		goto err_region;
	}
	cdev_init(&cdev, &vigil_fops);
	err = cdev_add(&cdev, devt, nr_cpu_ids);
	if (err)
		goto err_class;
	for_each_possible_cpu(cpu) {
		dev = device_create(vigil_class, NULL, MKDEV(MAJOR(devt), cpu), NULL, "vigil%d", cpu);
		if (IS_ERR(dev)) {
			err = PTR_ERR(dev);
			destroy_devices(cpu);
			goto err_cdev;
		}
	}
	err = register_tps();
	if (err)
		goto err_devices;
	pr_info("loaded: api %d, schema %s, %u pages per CPU\n",
		VIGIL_API_VERSION, VIGIL_SCHEMA_VERSION, ring_pages);
	return 0;

err_devices:
	destroy_devices(nr_cpu_ids);
err_cdev:
	cdev_del(&cdev);
err_class:
	class_destroy(vigil_class);
err_region:
	unregister_chrdev_region(devt, nr_cpu_ids);
err_buffers:
	free_buffers();
	return err;
}

static void __exit vigil_exit(void)
{
	unregister_tps();
	destroy_devices(nr_cpu_ids);
	cdev_del(&cdev);
	class_destroy(vigil_class);
	unregister_chrdev_region(devt, nr_cpu_ids);
	free_buffers();
	pr_info("unloaded\n");
}

module_init(vigil_init);
module_exit(vigil_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vigil: syscall and process events for user space");
MODULE_VERSION("0.1.0");
