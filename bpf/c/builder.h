/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Event builder: maps, configuration and the functions that lay events out
 * in the wire format of driver/include/vigil_schema.h.
 *
 * Events with variable-size parameters (paths, argv) are assembled in a
 * scratch buffer and copied into this CPU's ring buffer with
 * bpf_ringbuf_output(): reserving needs the size up front. The generic
 * event, the most frequent by far, has a fixed size: it is written in a
 * per-CPU batch of them (below), or in the ring directly (exit.h,
 * emit_generic).
 */
#ifndef VIGIL_BUILDER_H
#define VIGIL_BUILDER_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "../../driver/include/vigil_schema.h"

/* Largest event; positions are masked with EVT_MASK for the verifier. */
#define EVT_MAX 16384
#define EVT_MASK (EVT_MAX - 1)
/* Largest single variable-size parameter (paths are at most PATH_MAX). */
#define PARAM_MAX 4096
/* Room past EVT_MAX so that a masked offset plus a bounded size fits. */
#define EVT_BUF (EVT_MAX + 2 * PARAM_MAX)

/* Path assembly area: components are written backwards from PATH_END. */
#define PATH_END 4096
#define PATH_MASK (PATH_END - 1)
#define NAME_MASK 255
#define PATH_BUF (PATH_END + 256)

struct scratch {
	__u8 evt[EVT_BUF];
	__u8 path[PATH_BUF];
	/*
	 * Cursor of the path walks. Kept in map memory, not a register, on
	 * purpose: the verifier then sees an unknown value at each loop
	 * iteration and prunes, where a tracked value would make every
	 * mount crossing a new state (2^components).
	 */
	__u32 off;
	/* Claim count of a shared slot; see claim_scratch(). */
	__u32 busy;
};

struct cpu_stats {
	__u64 events;
	__u64 drops;
};

/* One ring buffer per CPU: a shared one collapses under contention. */
struct ringbuf_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);	/* the loader sets the real size */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);		/* the loader sets the possible CPUs */
	__type(key, __u32);
	__array(values, struct ringbuf_map);
} ringbufs SEC(".maps");

/*
 * Scratch space: a plain array (per-CPU array values are limited to
 * 32 KiB) with one entry per CPU and attached program. Since 6.x kernels
 * run tracepoint probes preemptible (7.2 does: srcu, not preempt_disable),
 * two programs can interleave on one CPU; the kernel never lets one
 * program interleave with itself there (its per-CPU "active" count makes
 * the second run a miss). So a program's entry on a CPU has one user at a
 * time, and a tail call runs within its caller's.
 *
 * The entry programs (one per syscall whose entry is captured) and the
 * programs on the syscalls' own exit tracepoints are many, and may
 * interleave with one another: rather than an entry each, they share
 * SLOT_SHARED_COUNT entries per CPU, claimed at begin().
 */
#define SLOT_SHARED_COUNT 3
enum scratch_slot {
	SLOT_SYS_EXIT,	/* the dispatcher and its tail calls */
	SLOT_FORK,
	SLOT_EXEC,
	SLOT_EXIT,
	SLOT_SHARED,	/* first of SLOT_SHARED_COUNT */
	SLOT_COUNT = SLOT_SHARED + SLOT_SHARED_COUNT,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);		/* the loader sets the possible CPUs */
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_stats);
} stats SEC(".maps");

/*
 * Configuration, written by user space through the mmapped .bss/.data
 * maps: plain loads here, no helper calls on the hot path. Every global
 * here and in filter.h has an initialiser, even 0: clang places a global
 * without one where the code first uses it, and the objects that share
 * these maps (see bpf/load.go) must lay them out alike.
 */
volatile __u32 cfg_capture = 0;			/* 0: stopped */
volatile __u32 cfg_ignore_tgid = 0;		/* the agent itself */
volatile __u32 cfg_snaplen = 256;		/* strings and argv */
volatile __u64 cfg_wakeup_bytes = 1 << 16;	/* wake the reader past this */
volatile __u64 cfg_wakeup_busy_bytes = 1 << 19;	/* and a busy one past this */
volatile __u8 cfg_interesting[VIGIL_MAX_SYSCALLS] = {};
/*
 * Which programs tell the syscall exits: EXIT_RAW, vigil_sys_exit on the
 * raw sys_exit tracepoint; EXIT_TP, those on the selected syscalls' own
 * exit tracepoints (tpexit.bpf.c); EXIT_BOTH, both, for the instant the
 * loader switches with both attached. An exit that runs one program
 * before the instant and the other after is told twice; one preempted
 * between its programs across the whole switch is lost.
 */
#define EXIT_RAW 0
#define EXIT_TP 1
#define EXIT_BOTH 2
volatile __u32 cfg_exit_tp = 0;
/*
 * 1 while vigil's reader is reading, not asleep: a wakeup then only costs
 * the producer (an irq_work self-IPI), so none is sent. The reader clears
 * it before it looks for events one last time and sleeps. Other readers
 * (libbpf's) leave it 0 and are woken as the watermark says.
 */
volatile __u32 reader_busy = 0;
/*
 * 1: generic events are gathered per CPU and written to the ring
 * BATCH_EVENTS at a time (see below). The loader sets it once
 * vigil_sched_switch is attached.
 */
volatile __u32 cfg_batch = 0;

_Static_assert(sizeof(struct vigil_event_hdr) == VIGIL_HEADER_SIZE,
	       "wire header layout");

struct builder {
	__u8 *buf;
	struct scratch *s;
	__u32 slot;	/* enum scratch_slot of the running program */
	__u32 claimed;	/* slot is a shared one, to release */
	__u64 pos;	/* next free byte */
	__u64 idx;	/* next parameter */
};

static __always_inline struct scratch *get_scratch(__u32 slot)
{
	__u32 key = bpf_get_smp_processor_id() * SLOT_COUNT + slot;

	return bpf_map_lookup_elem(&scratch_map, &key);
}

static __always_inline void count(int dropped);

/*
 * Takes a shared slot of this CPU. The programs that share them can only
 * interleave on this CPU by preemption, never run at once, and the add is
 * one instruction (BPF_XADD, which 5.10 has; fetching atomics came later):
 * whoever reads 1 after adding holds the slot. Two that interleave between
 * add and read may both back off: the event is then counted as dropped.
 */
static __always_inline int claim_scratch(struct builder *b)
{
	for (__u32 i = 0; i < SLOT_SHARED_COUNT; i++) {
		struct scratch *s = get_scratch(SLOT_SHARED + i);

		if (!s)
			return -1;
		__sync_fetch_and_add(&s->busy, 1);
		if (*(volatile __u32 *)&s->busy == 1) {
			b->s = s;
			b->slot = SLOT_SHARED + i;
			b->claimed = 1;
			return 0;
		}
		__sync_fetch_and_add(&s->busy, -1);
	}
	count(1);
	return -1;
}

/* Gives back a shared slot; every path past a successful begin() ends here. */
static __always_inline void release(struct builder *b)
{
	if (b->claimed)
		__sync_fetch_and_add(&b->s->busy, -1);
}

static __always_inline int begin(struct builder *b, __u32 slot, __u16 type,
				 __u16 np)
{
	struct vigil_event_hdr *h;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	b->claimed = 0;
	if (slot == SLOT_SHARED) {
		if (claim_scratch(b))
			return -1;
	} else {
		b->slot = slot;
		b->s = get_scratch(slot);
		if (!b->s)
			return -1;
	}
	b->buf = b->s->evt;
	h = (struct vigil_event_hdr *)b->buf;
	h->ts = bpf_ktime_get_boot_ns();
	h->tid = (__u32)pid_tgid;
	h->pid = pid_tgid >> 32;
	h->type = type;
	h->nparams = np;
	b->pos = VIGIL_HEADER_SIZE + 2 * (__u64)np;
	b->idx = 0;
	return 0;
}

static __always_inline void set_len(struct builder *b, __u64 len)
{
	__u64 off = VIGIL_HEADER_SIZE + 2 * b->idx;

	*(__u16 *)&b->buf[off & 127] = len;
	b->idx++;
	b->pos += len;
}

static __always_inline void push_u64(struct builder *b, __u64 v)
{
	*(__u64 *)&b->buf[b->pos & EVT_MASK] = v;
	set_len(b, 8);
}

static __always_inline void push_u32(struct builder *b, __u32 v)
{
	*(__u32 *)&b->buf[b->pos & EVT_MASK] = v;
	set_len(b, 4);
}

static __always_inline void push_u16(struct builder *b, __u16 v)
{
	*(__u16 *)&b->buf[b->pos & EVT_MASK] = v;
	set_len(b, 2);
}

static __always_inline void push_empty(struct builder *b)
{
	set_len(b, 0);
}

/*
 * Verifiers before 6.8 learn no bounds from comparing two unknown
 * registers, and clang drops a mask it can prove redundant: apply the mask
 * behind a barrier so that the verifier sees it.
 */
#define bounded_by(v, mask) ({ __u64 __v = (v); barrier_var(__v); __v & (mask); })
#define bounded(v) bounded_by(v, PARAM_MAX * 2 - 1)

static __always_inline __u32 snaplen(void)
{
	__u32 n = cfg_snaplen;

	if (n == 0 || n > PARAM_MAX)
		n = PARAM_MAX;
	return n;
}

/* A string from user memory, NUL included; absent when unreadable. */
static __always_inline void push_user_str(struct builder *b, const void *p,
					  __u32 max)
{
	long n = 0;

	if (p && b->pos <= EVT_MAX - PARAM_MAX)
		n = bpf_probe_read_user_str(&b->buf[b->pos & EVT_MASK],
					    bounded(max), p);
	if (n < 0)
		n = 0;
	set_len(b, n);
}

static __always_inline void push_kernel_str(struct builder *b, const void *p,
					    __u32 max)
{
	long n = 0;

	if (p && b->pos <= EVT_MAX - PARAM_MAX)
		n = bpf_probe_read_kernel_str(&b->buf[b->pos & EVT_MASK],
					      bounded(max), p);
	if (n < 0)
		n = 0;
	set_len(b, n);
}

/* Raw bytes from user memory, e.g. argv, which is NUL-separated already. */
static __always_inline void push_user_bytes(struct builder *b, const void *p,
					    __u64 len)
{
	__u64 pos = b->pos;

	if (len > PARAM_MAX)
		len = PARAM_MAX;
	if (!p || len == 0 || pos > EVT_MAX - PARAM_MAX ||
	    bpf_probe_read_user(&b->buf[pos & EVT_MASK], bounded(len), p)) {
		set_len(b, 0);
		return;
	}
	/* Truncation may cut the last string: terminate it. */
	b->buf[(pos + len - 1) & (EVT_BUF - 1)] = 0;
	set_len(b, len);
}

static __always_inline void count_n(int dropped, __u64 n)
{
	__u32 zero = 0;
	struct cpu_stats *st = bpf_map_lookup_elem(&stats, &zero);

	if (!st)
		return;
	if (dropped)
		st->drops += n;
	else
		st->events += n;
}

static __always_inline void count(int dropped)
{
	count_n(dropped, 1);
}

/*
 * Waking the reader for every event costs more than the event: wake it
 * only when the buffer is filling up (@avail past the watermark), and let
 * it poll otherwise. Past the watermark every event wakes a sleeping
 * reader, although each wake is an irq_work self-IPI (a trapped APIC write
 * in a VM: 16% of a capture-all getppid loop in perf while the reader
 * lags): those repeated wakeups are what gets the reader scheduled beside
 * producers that keep every CPU busy. Waking once per crossing, or once
 * per 4 KiB, cost 0.3-22% drops in BenchmarkSustainedRate on 2 CPUs where
 * this drops none. A reader that is reading (reader_busy) needs no wake,
 * and gets none until the buffer is half full (cfg_wakeup_busy_bytes):
 * then the wakeups' cost to the producers is what lets a reader that
 * shares its CPUs with them keep up (without it, `vigil capture` to tmpfs
 * beside two flooders on 2 CPUs dropped 14%). One that clears the flag to
 * sleep while this record is being written may miss it; the next record
 * past the watermark wakes it.
 */
static __always_inline __u64 wakeup_flags(__u64 avail, __u32 cpu)
{
	if (avail > cfg_wakeup_bytes &&
	    (!reader_busy || avail > cfg_wakeup_busy_bytes))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* This CPU's ring buffer. */
static __always_inline void *this_ring(__u32 *cpu)
{
	*cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&ringbufs, cpu);
}

/*
 * ---- batches of generic events ----
 *
 * A ring buffer record costs its producer a reserve (a lock, with
 * interrupts off) and a commit (an atomic exchange): on 6.18, a getppid
 * captured costs +85 to +91 ns with a record per event, +69 to +77 with
 * a record per eight. So generic events are gathered in a per-CPU
 * batch and written as one record of up to BATCH_EVENTS events, each at
 * an 8-byte aligned offset (BATCH_STRIDE); the reader splits records by
 * the events' lengths.
 *
 * A batch holds the events of one thread, the one running on its CPU,
 * so that every thread's events reach the rings in order:
 *  - before any other event is written to the ring, this CPU's batch is
 *    (output() -> flush_this_batch());
 *  - vigil_sched_switch writes it when its thread leaves the CPU, so that
 *    the thread's later events, on any CPU, come after it;
 *  - it is written when full, and before another thread's event goes in.
 *
 * Programs on raw tracepoints and fentry may be preempted (syscall
 * tracepoints since 6.14), and a thread preempted halfway through a
 * change to a batch must not leave it to another. Where the kernel has
 * bpf_preempt_disable (6.10) each change is made with preemption off:
 * two calls, no atomic instruction. Elsewhere it is made under a claim,
 * taken as claim_scratch() takes a shared slot (two locked adds, which
 * cost most of what batches save): a thread that finds the batch claimed
 * (its holder was preempted halfway) writes its event straight to the
 * ring, as it would without batches; the batch then holds the holder's
 * events, not its own.
 *
 * The events of a batch are counted in stats when it is written: Stats
 * then counts what the rings received. A thread's last few generic
 * events wait in the batch until it makes another event, fills the
 * batch, or leaves the CPU (the loader makes every CPU switch when
 * capture stops).
 */
#define BATCH_EVENTS 8
#define BATCH_STRIDE 40

struct batch {
	__u32 n;	/* events held */
	__u32 len;	/* bytes up to the end of the last one */
	__u32 claim;	/* see claim_batch() */
	__u32 pad;
	__u8 buf[BATCH_EVENTS * BATCH_STRIDE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct batch);
} batches SEC(".maps");

extern void bpf_preempt_disable(void) __ksym __weak;
extern void bpf_preempt_enable(void) __ksym __weak;

/* libbpf's bpf_ksym_exists(), which Debian bookworm's headers lack. */
#define ksym_exists(sym) ({						\
	_Static_assert(!__builtin_constant_p(!!sym),			\
		       #sym " must be declared __weak");		\
	!!sym;								\
})

/* The loader resolves a kfunc the kernel lacks to 0. */
#define HAVE_PREEMPT_KFUNCS \
	(ksym_exists(bpf_preempt_disable) && ksym_exists(bpf_preempt_enable))

/* This CPU's batch, claimed; NULL if another run holds it. */
static __always_inline struct batch *claim_batch(void)
{
	__u32 zero = 0;
	struct batch *bt = bpf_map_lookup_elem(&batches, &zero);

	if (!bt)
		return NULL;
	__sync_fetch_and_add(&bt->claim, 1);
	if (*(volatile __u32 *)&bt->claim == 1)
		return bt;
	__sync_fetch_and_add(&bt->claim, -1);
	return NULL;
}

static __always_inline void release_batch(struct batch *bt)
{
	__sync_fetch_and_add(&bt->claim, -1);
}

/* Writes out a batch that is the caller's (see above). */
static __always_inline void write_batch(struct batch *bt)
{
	__u32 n = bt->n, len = bt->len, cpu;
	void *rb;

	if (!n)
		return;
	bt->n = 0;
	rb = this_ring(&cpu);
	barrier_var(len);	/* the verifier needs the bound on len itself */
	if (!rb || len > sizeof(bt->buf)) {
		count_n(1, n);
		return;
	}
	count_n(bpf_ringbuf_output(rb, bt->buf, len,
				   wakeup_flags(bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA), cpu)) != 0,
		n);
}

/*
 * Writes out this CPU's batch, if it holds events. Under a claim held by
 * a preempted run it is left: its events are that run's thread's.
 */
static __always_inline void flush_this_batch(void)
{
	__u32 zero = 0;
	struct batch *bt = bpf_map_lookup_elem(&batches, &zero);

	if (!bt || !bt->n)
		return;
	if (HAVE_PREEMPT_KFUNCS) {
		bpf_preempt_disable();
		write_batch(bt);
		bpf_preempt_enable();
		return;
	}
	bt = claim_batch();
	if (!bt)
		return;
	write_batch(bt);
	release_batch(bt);
}

static __always_inline void output(struct builder *b);

/* Finish the event, hand it to this CPU's ring buffer, free the slot. */
static __always_inline void submit(struct builder *b)
{
	output(b);
	release(b);
}

static __always_inline void output(struct builder *b)
{
	__u64 size = b->pos;
	__u32 cpu;
	void *rb;

	if (size > EVT_MAX) {
		count(1);
		return;
	}
	((struct vigil_event_hdr *)b->buf)->len = size;
	flush_this_batch();
	rb = this_ring(&cpu);
	if (!rb) {
		count(1);
		return;
	}
	count(bpf_ringbuf_output(rb, b->buf, size,
				 wakeup_flags(bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA), cpu)) != 0);
}

#endif /* VIGIL_BUILDER_H */
