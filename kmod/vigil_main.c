// SPDX-License-Identifier: GPL-2.0-only
//go:build ignore
/*
 * vigil's kernel module: syscall and process lifecycle events, in the wire
 * format of vigil_schema.h, into one ring buffer per possible CPU that user
 * space maps through /dev/vigilN (see vigil_ring.h).
 *
 * The events are the eBPF probe's (bpf/c/probe.bpf.c), byte for byte:
 * vigil_fill.c fills them, vigil_build.c reads what they carry.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/binfmts.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/irq_work.h>
#include <linux/kprobes.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/timer.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <asm/syscall.h>

#include "vigil.h"
#include "vigil_ring.h"

static unsigned int ring_pages = 2048;
module_param(ring_pages, uint, 0444);
MODULE_PARM_DESC(ring_pages,
		 "Pages of each per-CPU ring buffer, a power of two (default 2048: 8 MiB with 4 KiB pages)");

static unsigned int wakeup_ms = 10;
module_param(wakeup_ms, uint, 0444);
MODULE_PARM_DESC(wakeup_ms,
		 "Longest wait, in ms, before poll reports events below the watermark (0-1000, default 10; 0: only the watermark wakes)");

struct vigil_cpu {
	struct vigil_ring_ctl *ctl;	/* one page, shared read-write */
	char *data;			/* ring_size bytes, mapped read-only */
	char *scratch;			/* an event is built here, then copied */
	char *path;			/* paths are assembled here */
	u64 head;			/* the kernel's own: ctl->head is writable */
	u32 size;
	atomic_t open;
	wait_queue_head_t wait;		/* poll and epoll on /dev/vigilN */
	struct irq_work wake;		/* wakes them from a probe */
};

static struct vigil_cpu *cpus;
static dev_t devt;
static struct cdev cdev;
static struct class *vigil_class;

/* What user space asked for; read locklessly by the probes. */
static bool capturing;
u32 vigil_snaplen = 256;
static u32 ignore_tgid;
static DECLARE_BITMAP(interesting, VIGIL_MAX_SYSCALLS);
static DEFINE_MUTEX(config_lock);

/* The syscalls with exit events of their own, from the schema. */
#define NR_OF(name, EVT) (VIGIL_NR_##name),
static const u16 own_event_nrs[] = { VIGIL_EXIT_SYSCALLS(NR_OF) };
#undef NR_OF
static DECLARE_BITMAP(own_event, VIGIL_MAX_SYSCALLS);
static int open_devices;	/* under config_lock */

/* Wakes readers of rings with unread events while any device is open. */
static struct timer_list wake_timer;
static bool wake_timer_on;

/* ---- the ring ----------------------------------------------------------- */

void vigil_begin(struct vigil_builder *b, u16 type, u16 nparams)
{
	struct vigil_event_hdr *h = (struct vigil_event_hdr *)b->buf;

	h->ts = ktime_get_boot_fast_ns();
	h->tid = current->pid;
	h->pid = current->tgid;
	h->type = type;
	h->nparams = nparams;
	b->nparams = nparams;
	b->idx = 0;
	b->pos = VIGIL_HEADER_SIZE + 2 * nparams;
}

/* A builder on this CPU's scratch buffers; preemption is disabled. */
static struct vigil_cpu *this_cpu_builder(struct vigil_builder *b)
{
	struct vigil_cpu *c = &cpus[smp_processor_id()];

	b->buf = c->scratch;
	b->path = c->path;
	return c;
}

static u64 wakeup_bytes(struct vigil_cpu *c)
{
	u32 wm = READ_ONCE(c->ctl->wakeup_bytes);

	if (wm)
		return wm;
	return min_t(u32, VIGIL_WAKEUP_DEFAULT, c->size / 2);
}

/*
 * Copy a finished event into this CPU's ring. Called with preemption
 * disabled: nothing else writes this CPU's ring meanwhile.
 */
static void submit(struct vigil_cpu *c, struct vigil_builder *b)
{
	struct vigil_ring_ctl *ctl = c->ctl;
	struct vigil_event_hdr *h = (struct vigil_event_hdr *)b->buf;
	u64 head = c->head, start = c->head;
	/* Pairs with the reader's release of tail: it is done with that space. */
	u64 tail = smp_load_acquire(&ctl->tail);
	u32 len = b->pos, off = head & (c->size - 1), pad = 0;
	u64 wm;

	/* The probe's limit: a longer event is lost, as there. */
	if (len > VIGIL_EVT_MAX) {
		ctl->drops++;
		return;
	}
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
	c->head = head + len;
	/* The event's bytes before the head that publishes them. */
	smp_store_release(&ctl->head, c->head);
	/*
	 * Wake a reader when the unread bytes cross the watermark, not at
	 * every event past it: a reader that was woken drains the ring before
	 * it waits again, and poll reports a non-empty ring at once. A probe
	 * may run where waking is unsafe (scheduler locks): irq_work defers it.
	 */
	wm = wakeup_bytes(c);
	if (start - tail < wm && c->head - tail >= wm)
		irq_work_queue(&c->wake);
}

static bool wanted(void)
{
	return READ_ONCE(capturing) && current->tgid != READ_ONCE(ignore_tgid);
}

/* ---- execveat ----------------------------------------------------------- */

/*
 * A successful exec rewrites orig_ax to __NR_execve on x86
 * (set_personality_64bit): the threads in execveat are remembered at entry,
 * by tid, as the probe does in an LRU map. A direct-mapped table: two
 * threads in execveat at once whose tids share a slot make one of them an
 * execve event, as an LRU eviction would.
 */
#define EXECVEAT_BITS 10
static u32 execveat_tids[1 << EXECVEAT_BITS];

static void execveat_mark(u32 tid)
{
	WRITE_ONCE(execveat_tids[hash_32(tid, EXECVEAT_BITS)], tid);
}

static bool execveat_take(u32 tid)
{
	u32 *slot = &execveat_tids[hash_32(tid, EXECVEAT_BITS)];

	return READ_ONCE(*slot) == tid && cmpxchg(slot, tid, 0) == tid;
}

/* ---- probes ------------------------------------------------------------- */

static bool syscall_wanted(long nr)
{
	return nr >= 0 && nr < VIGIL_MAX_SYSCALLS && test_bit(nr, interesting) && wanted();
}

/*
 * Entry events and the execveat mark, for the few syscalls that have them
 * (entry_nrs): @regs are the syscall's user registers.
 */
static void enter_event(struct pt_regs *regs, long id)
{
	struct vigil_builder b;
	struct vigil_cpu *c;

	if (!syscall_wanted(id))
		return;
	if (id == VIGIL_NR_execveat) {
		execveat_mark(current->pid);
		return;
	}
	preempt_disable();
	c = this_cpu_builder(&b);
	if (vigil_fill_enter(&b, regs, id))
		submit(c, &b);
	preempt_enable();
}

/* The fallback where kprobes are missing: runs at every syscall's entry. */
static void probe_sys_enter(void *data, struct pt_regs *regs, long id)
{
	if (id != VIGIL_NR_open && id != VIGIL_NR_openat &&
	    id != VIGIL_NR_openat2 && id != VIGIL_NR_creat &&
	    id != VIGIL_NR_connect && id != VIGIL_NR_execveat)
		return;
	enter_event(regs, id);
}

static void probe_sys_exit(void *data, struct pt_regs *regs, long ret)
{
	long nr = syscall_get_nr(current, regs);
	struct vigil_builder b;
	struct vigil_cpu *c;

	/* A failed execveat keeps its number; forget it either way. */
	if ((nr == VIGIL_NR_execve || nr == VIGIL_NR_execveat) && execveat_take(current->pid))
		nr = VIGIL_NR_execveat;
	if (!syscall_wanted(nr))
		return;
	preempt_disable();
	c = this_cpu_builder(&b);
	if (!test_bit(nr, own_event)) {
		vigil_begin(&b, VIGIL_EVT_GENERIC, VIGIL_NP_GENERIC);
		vigil_push_u64(&b, ret);
		vigil_push_u16(&b, nr);
		submit(c, &b);
	} else if (vigil_fill_exit(&b, regs, ret, nr)) {
		submit(c, &b);
	}
	preempt_enable();
}

static void probe_fork(void *data, struct task_struct *parent,
		       struct task_struct *child)
{
	struct vigil_builder b;
	struct vigil_cpu *c;
	char comm[TASK_COMM_LEN];
	pid_t ppid;

	if (!wanted())
		return;
	/*
	 * The child's parent process, not the forking task's: a new thread's
	 * parent is its process's parent, and CLONE_PARENT skips a level.
	 */
	rcu_read_lock();
	ppid = rcu_dereference(child->real_parent)->tgid;
	rcu_read_unlock();
	memcpy(comm, child->comm, sizeof(comm));
	comm[sizeof(comm) - 1] = 0;
	preempt_disable();
	c = this_cpu_builder(&b);
	vigil_begin(&b, VIGIL_EVT_PROC_FORK, VIGIL_NP_PROC_FORK);
	vigil_push_u64(&b, child->pid);
	vigil_push_u64(&b, child->tgid);
	vigil_push_u64(&b, ppid);
	vigil_push_kernel_str(&b, comm, sizeof(comm));
	submit(c, &b);
	preempt_enable();
}

static void probe_exec(void *data, struct task_struct *p, pid_t old_pid,
		       struct linux_binprm *bprm)
{
	struct vigil_builder b;
	struct vigil_cpu *c;

	/*
	 * A thread other than the leader that execs takes the leader's tid:
	 * its execveat mark moves with it, or its exit would read execve.
	 */
	if (old_pid != current->pid && execveat_take(old_pid))
		execveat_mark(current->pid);
	if (!wanted())
		return;
	preempt_disable();
	c = this_cpu_builder(&b);
	vigil_begin(&b, VIGIL_EVT_PROC_EXEC, VIGIL_NP_PROC_EXEC);
	if (bprm->file)
		vigil_push_path(&b, &bprm->file->f_path);
	else
		vigil_push_empty(&b);
	vigil_push_u64(&b, old_pid);
	submit(c, &b);
	preempt_enable();
}

/*
 * The tracepoint gained group_dead in 6.16. The prototype must match: with
 * control-flow integrity a probe of another type is a fault.
 */
#if KERNEL_VERSION(6, 16, 0) <= LINUX_VERSION_CODE
static void probe_exit(void *data, struct task_struct *p, bool group_dead)
#else
static void probe_exit(void *data, struct task_struct *p)
#endif
{
	struct vigil_builder b;
	struct vigil_cpu *c;

	if (!wanted())
		return;
	preempt_disable();
	c = this_cpu_builder(&b);
	vigil_begin(&b, VIGIL_EVT_PROC_EXIT, VIGIL_NP_PROC_EXIT);
	vigil_push_u64(&b, p->exit_code);
	submit(c, &b);
	preempt_enable();
}

struct vigil_tp {
	const char *name;
	void *probe;
	struct tracepoint *tp;
	bool registered;
};

/*
 * sys_enter is last, and not registered with the others: see
 * sync_entry_hooks().
 */
static struct vigil_tp tps[] = {
	{ .name = "sys_exit", .probe = probe_sys_exit },
	{ .name = "sched_process_fork", .probe = probe_fork },
	{ .name = "sched_process_exec", .probe = probe_exec },
	{ .name = "sched_process_exit", .probe = probe_exit },
	{ .name = "sys_enter", .probe = probe_sys_enter },
};
#define SYS_ENTER_TP (&tps[ARRAY_SIZE(tps) - 1])

static void find_tp(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(tps); i++)
		if (!strcmp(tp->name, tps[i].name))
			tps[i].tp = tp;
}

/*
 * The syscalls with entry events, and execveat for its mark. A kprobe on a
 * syscall's wrapper runs for that syscall alone, where a sys_enter probe
 * runs at the entry of every syscall of every task: each syscall's kprobe
 * is registered while the syscall is selected. Kernels without kprobes
 * (or refusing one) get the sys_enter probe instead, registered while any
 * of them is selected. The wrapper runs after seccomp and ptrace, where the
 * sys_enter tracepoint runs, so both see the same arguments.
 */
struct vigil_kp {
	struct kprobe kp;
	const char *sym;
	long nr;
	bool registered;
};

#define ENTRY_KP(name) { .sym = "__x64_sys_" #name, .nr = VIGIL_NR_##name }
static struct vigil_kp entry_kps[] = {
	ENTRY_KP(open), ENTRY_KP(openat), ENTRY_KP(openat2),
	ENTRY_KP(creat), ENTRY_KP(connect), ENTRY_KP(execveat),
};
#undef ENTRY_KP

/* Kprobes were refused once: sys_enter from then on. Under config_lock. */
static bool entry_use_tp = !IS_ENABLED(CONFIG_KPROBES);

#ifdef CONFIG_KPROBES
static int kp_enter(struct kprobe *p, struct pt_regs *kregs)
{
	struct vigil_kp *k = container_of(p, struct vigil_kp, kp);

	/* The wrapper's one argument: the syscall's user registers. */
	enter_event((struct pt_regs *)regs_get_kernel_argument(kregs, 0), k->nr);
	return 0;
}
#endif

static void unregister_entry_kps(void)
{
#ifdef CONFIG_KPROBES
	int i;

	for (i = 0; i < ARRAY_SIZE(entry_kps); i++) {
		if (entry_kps[i].registered)
			unregister_kprobe(&entry_kps[i].kp);
		entry_kps[i].registered = false;
	}
#endif
}

static void set_sys_enter(bool want)
{
	struct vigil_tp *t = SYS_ENTER_TP;
	int err;

	if (want == t->registered || !t->tp)
		return;
	if (!want) {
		tracepoint_probe_unregister(t->tp, t->probe, NULL);
		t->registered = false;
		return;
	}
	err = tracepoint_probe_register(t->tp, t->probe, NULL);
	if (err)
		pr_err("register tracepoint sys_enter: %d: no entry events\n", err);
	else
		t->registered = true;
}

/*
 * Hook the entry of the selected syscalls that have entry events, unhook
 * the others. Under config_lock, after the mask changed: a hook that goes
 * in finds the new mask, one that goes out may run once more, and its
 * syscall_wanted() test says no.
 */
static void sync_entry_hooks(void)
{
	bool any = false;
	int i;

	for (i = 0; i < ARRAY_SIZE(entry_kps); i++)
		any |= test_bit(entry_kps[i].nr, interesting);
#ifdef CONFIG_KPROBES
	for (i = 0; i < ARRAY_SIZE(entry_kps) && !entry_use_tp; i++) {
		struct vigil_kp *k = &entry_kps[i];
		bool want = test_bit(k->nr, interesting);
		int err;

		if (want == k->registered)
			continue;
		if (!want) {
			unregister_kprobe(&k->kp);
			k->registered = false;
			continue;
		}
		/* A kprobe is single-use: clear what the last registration left. */
		memset(&k->kp, 0, sizeof(k->kp));
		k->kp.symbol_name = k->sym;
		k->kp.pre_handler = kp_enter;
		err = register_kprobe(&k->kp);
		if (err) {
			pr_warn("kprobe on %s: %d: entry events from sys_enter instead\n",
				k->sym, err);
			unregister_entry_kps();
			entry_use_tp = true;
		} else {
			k->registered = true;
		}
	}
#endif
	set_sys_enter(entry_use_tp && any);
}

static void unregister_tps(void)
{
	int i;

	unregister_entry_kps();
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
		if (&tps[i] == SYS_ENTER_TP)
			continue;
		err = tracepoint_probe_register(tps[i].tp, tps[i].probe, NULL);
		if (err) {
			pr_err("register tracepoint %s: %d\n", tps[i].name, err);
			goto fail;
		}
		tps[i].registered = true;
	}
	mutex_lock(&config_lock);
	sync_entry_hooks();
	mutex_unlock(&config_lock);
	return 0;
fail:
	unregister_tps();
	return err;
}

/* ---- waking readers ----------------------------------------------------- */

static void wake_readers(struct irq_work *w)
{
	struct vigil_cpu *c = container_of(w, struct vigil_cpu, wake);

	wake_up_interruptible(&c->wait);
}

/*
 * Events below the watermark wake nobody: this timer does, so that a
 * reader waits at most wakeup_ms for them.
 */
static void wake_tick(struct timer_list *t)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct vigil_cpu *c = &cpus[cpu];

		if (READ_ONCE(c->ctl->head) != READ_ONCE(c->ctl->tail) &&
		    wq_has_sleeper(&c->wait))
			wake_up_interruptible(&c->wait);
	}
	if (READ_ONCE(wake_timer_on))
		mod_timer(&wake_timer, jiffies + msecs_to_jiffies(wakeup_ms));
}

/* Under config_lock: the timer runs while a device is open. */
static void wake_timer_start(void)
{
	if (!wakeup_ms)
		return;
	WRITE_ONCE(wake_timer_on, true);
	mod_timer(&wake_timer, jiffies + msecs_to_jiffies(wakeup_ms));
}

static void wake_timer_stop(void)
{
	WRITE_ONCE(wake_timer_on, false);
	/* Waits for a running tick, which then no longer rearms. */
	timer_delete_sync(&wake_timer);
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
	mutex_lock(&config_lock);
	if (open_devices++ == 0)
		wake_timer_start();
	mutex_unlock(&config_lock);
	f->private_data = &cpus[cpu];
	return 0;
}

static int vigil_release(struct inode *inode, struct file *f)
{
	struct vigil_cpu *c = f->private_data;

	mutex_lock(&config_lock);
	/* The last reader gone, nobody drains: stop rather than count drops. */
	if (--open_devices == 0) {
		WRITE_ONCE(capturing, false);
		wake_timer_stop();
	}
	mutex_unlock(&config_lock);
	atomic_set(&c->open, 0);
	return 0;
}

/*
 * Readable when the ring holds unread events. Waiters are woken when the
 * unread bytes reach ctl->wakeup_bytes, and every wakeup_ms while events
 * wait below it.
 */
static __poll_t vigil_poll(struct file *f, poll_table *wait)
{
	struct vigil_cpu *c = f->private_data;

	poll_wait(f, &c->wait, wait);
	/* Queued before looking: an event published after this look wakes us. */
	smp_mb();
	if (READ_ONCE(c->ctl->head) != READ_ONCE(c->ctl->tail))
		return EPOLLIN | EPOLLRDNORM;
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
#if KERNEL_VERSION(6, 3, 0) <= LINUX_VERSION_CODE
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
		WRITE_ONCE(vigil_snaplen, v);
		break;
	case VIGIL_IOC_SET_MASK:
		if (copy_from_user(mask, uarg, sizeof(mask))) {
			err = -EFAULT;
			break;
		}
		for (i = 0; i < VIGIL_MAX_SYSCALLS; i++)
			assign_bit(i, interesting, mask[i / 8] & (1 << (i % 8)));
		sync_entry_hooks();
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
	.poll = vigil_poll,
	.unlocked_ioctl = vigil_ioctl,
};

/* ---- init and exit ------------------------------------------------------ */

static void free_buffers(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		irq_work_sync(&cpus[cpu].wake);
		vfree(cpus[cpu].ctl);
		vfree(cpus[cpu].data);
		kvfree(cpus[cpu].scratch);
		kvfree(cpus[cpu].path);
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
		init_waitqueue_head(&c->wait);
		init_irq_work(&c->wake, wake_readers);
		c->ctl = vmalloc_user(PAGE_SIZE);
		c->data = vmalloc_user(size);
		c->scratch = kvmalloc(VIGIL_EVT_BUF, GFP_KERNEL);
		c->path = kvmalloc(VIGIL_PATH_BUF, GFP_KERNEL);
		if (!c->ctl || !c->data || !c->scratch || !c->path) {
			free_buffers();
			return -ENOMEM;
		}
		c->ctl->ring_size = size;
		c->ctl->api_version = VIGIL_API_VERSION;
		c->ctl->features = VIGIL_FEATURE_POLL;
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
	if (wakeup_ms > 1000) {
		pr_err("wakeup_ms=%u: want 0 to 1000\n", wakeup_ms);
		return -EINVAL;
	}
	/* Paths cross mounts through a copy of a private kernel struct. */
	if (vigil_check_mount_layout()) {
		pr_err("struct mount of this kernel is not the one vigil knows: paths would be wrong\n");
		return -ENOEXEC;
	}
	bitmap_fill(interesting, VIGIL_MAX_SYSCALLS);
	for (i = 0; i < ARRAY_SIZE(own_event_nrs); i++)
		__set_bit(own_event_nrs[i], own_event);
	timer_setup(&wake_timer, wake_tick, 0);
	err = alloc_buffers();
	if (err)
		return err;
	err = alloc_chrdev_region(&devt, 0, nr_cpu_ids, "vigil");
	if (err)
		goto err_buffers;
#if KERNEL_VERSION(6, 4, 0) <= LINUX_VERSION_CODE
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
	/* No device is open (the module is pinned while one is): no tick. */
	timer_delete_sync(&wake_timer);
	free_buffers();
	pr_info("unloaded\n");
}

module_init(vigil_init);
module_exit(vigil_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vigil: syscall and process events for user space");
MODULE_VERSION("0.1.0");
