/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The in-kernel filter: exit events of the open family, socket and connect
 * that no loaded rule can match and no state update a rule reads can use,
 * discarded before they reach the ring. User space derives it from the
 * rules (engine/kfilter) and writes it here (driver.KernelFilter, whose
 * Keep method is the reference this code follows). Off (cfg_kf_on == 0),
 * every event passes.
 *
 * Filtered events are counted apart (kf_stats): they are neither events
 * nor drops.
 */
#ifndef VIGIL_FILTER_H
#define VIGIL_FILTER_H

#include "builder.h"

#define KF_TERMS 32	/* driver.KFMaxTerms */
#define KF_WORDS 8	/* a prefix is at most 63 bytes: 8 words */
#define KF_SCAN 256	/* driver.KFScanMax, a power of two */

#define KF_NEED_SUCCESS 1
#define KF_NEED_READ 2
#define KF_NEED_WRITE 4

volatile __u32 cfg_kf_on = 0;
volatile __u8 cfg_kf_open_all = 0;		/* per open-family event bit */
volatile __u8 cfg_kf_open_success = 0;
volatile __u32 cfg_kf_nterms = 0;
volatile __u8 cfg_kf_term_len[KF_TERMS] = {};
volatile __u8 cfg_kf_term_types[KF_TERMS] = {};
volatile __u8 cfg_kf_term_need[KF_TERMS] = {};
volatile __u64 cfg_kf_term_pfx[KF_TERMS][KF_WORDS] = {};	/* zero-padded */
volatile __u64 cfg_kf_term_mask[KF_TERMS][KF_WORDS] = {};	/* 0xff per byte of it */
volatile __u32 cfg_kf_sock_all = 0;
volatile __u32 cfg_kf_conn_all = 0;
volatile __u64 cfg_kf_sock_rule = 0;	/* bit n: family n */
volatile __u64 cfg_kf_sock_state = 0;
volatile __u64 cfg_kf_conn_rule = 0;
volatile __u64 cfg_kf_conn_state = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} kf_stats SEC(".maps");

/*
 * Threads whose open-family entry path held "..": rules on fd.nameraw
 * read the path given at entry, which the exit's path may not show (user
 * memory can change in between), so their exit event is kept. A mark
 * left by an exit kept for another reason only keeps one more event.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} kf_dotted SEC(".maps");

#define kf_at(buf, base, i) ((buf)[bounded_by(base, EVT_MASK) + bounded_by(i, KF_SCAN - 1)])

/* Offset of parameter idx of the event in buf, and its length. */
static __always_inline __u64 kf_param(__u8 *buf, __u32 idx, __u32 *len)
{
	__u16 np = ((struct vigil_event_hdr *)buf)->nparams;
	__u64 off = VIGIL_HEADER_SIZE + 2 * (__u64)np;

	*len = 0;
	for (__u32 i = 0; i < 8; i++) {
		__u16 l = *(__u16 *)&buf[(VIGIL_HEADER_SIZE + 2 * i) & 127];

		if (i == idx) {
			*len = l;
			return off;
		}
		off += l;
	}
	return 0;
}

/*
 * The loops below compute their flags with 0/1 values rather than
 * branches: each branch teaches the verifier a fact per path, and the
 * paths multiply with the iterations past its limit. They branch only to
 * leave. 1 if x == k (both below 2^63); the barriers keep clang from
 * turning the arithmetic back into a compare and branch.
 */
#define kf_eq(x, k) ({ __u64 __m = ((__u64)(x) ^ (k)) - 1; barrier_var(__m); __m >> 63; })
/* 1 if x != 0. */
#define kf_nz(x) ({ __u64 __x = (x), __n = -__x; barrier_var(__n); (__x | __n) >> 63; })

/*
 * A path the rules see as it is: absolute, no "//", no "." or ".."
 * component, no ".." at all, NUL included at most KF_SCAN bytes. The
 * state table cleans paths; a plain one it leaves alone (but for a
 * trailing '/'), so a prefix the cleaned path has, this one has too.
 */
__noinline int vigil_kf_plain(__u32 slot, __u64 off, __u32 len)
{
	struct scratch *s = get_scratch(slot);
	__u64 slash = 1, dot = 0, slash_dot = 0, bad = 0;
	__u8 *buf;

	if (!s)
		return 0;
	buf = s->evt;
	if (len < 2 || len > KF_SCAN || kf_at(buf, off, 0) != '/')
		return 0;
	/*
	 * A global function: the verifier checks it on its own, so that the
	 * exits of this loop (one per length) do not each carry on into the
	 * caller.
	 */
	for (__u32 i = 1; i < KF_SCAN; i++) {
		__u64 c, is_slash, is_dot;

		/* The NUL must end the parameter: else the driver cut it. */
		if (i >= len)
			return 0;
		c = kf_at(buf, off, i);
		if (c == 0)	/* a trailing "/." is a "." component */
			return !(bad | slash_dot) && i == len - 1;
		is_slash = kf_eq(c, '/');
		is_dot = kf_eq(c, '.');
		/* "//", "/./", and ".." anywhere. */
		bad |= (is_slash & (slash | slash_dot)) | (is_dot & dot);
		slash_dot = is_dot & slash;
		slash = is_slash;
		dot = is_dot;
		barrier_var(bad);
		barrier_var(slash_dot);
	}
	return 0;
}

/*
 * Whether the path (len bytes with its NUL) starts with a term's prefix,
 * for an event of that bit with what have says. Global, as vigil_kf_plain.
 */
__noinline int vigil_kf_terms(__u32 slot, __u64 off, __u32 len, __u32 bit,
			      __u32 have)
{
	struct scratch *s = get_scratch(slot);
	__u64 base = bounded_by(off, EVT_MASK);
	__u32 n = cfg_kf_nterms;
	__u64 v[KF_WORDS];
	__u8 *buf;

	if (!s)
		return 0;
	buf = s->evt;
	/* A prefix is compared 8 bytes at a time: the mask hides what lies
	 * past it (user space fills the masks).
	 */
#pragma unroll
	for (__u32 w = 0; w < KF_WORDS; w++)
		v[w] = *(__u64 *)&buf[base + w * 8];
	for (__u32 t = 0; t < KF_TERMS; t++) {
		__u64 diff = 0, ok;

		if (t >= n)
			break;
#pragma unroll
		for (__u32 w = 0; w < KF_WORDS; w++)
			diff |= (v[w] & cfg_kf_term_mask[t][w]) ^ cfg_kf_term_pfx[t][w];
		ok = (kf_nz(diff) ^ 1) &
		     kf_nz(cfg_kf_term_types[t] & bit) &
		     (kf_nz(cfg_kf_term_need[t] & ~have & 7) ^ 1) &
		     (((__u64)cfg_kf_term_len[t] - (__u64)len) >> 63);
		barrier_var(ok);
		if (ok)
			return 1;
	}
	return 0;
}

static __always_inline int kf_families(__u64 fam, int ok, __u32 all,
				       __u64 rule, __u64 state)
{
	if (all || fam >= 64)
		return 1;
	return (rule >> fam) & 1 || (ok && ((state >> fam) & 1));
}

static __always_inline int kf_keep_open(__u32 slot, __u8 *buf, long ret,
					__u8 bit, __u32 name, int flags)
{
	__u32 len, flen, tid;
	__u8 have = 0;
	__u64 off;

	if ((cfg_kf_open_all & bit) || (ret >= 0 && (cfg_kf_open_success & bit)))
		return 1;
	off = kf_param(buf, name, &len);
	if (ret >= 0)
		have |= KF_NEED_SUCCESS;
	if (flags < 0) {
		have |= KF_NEED_WRITE;	/* creat */
	} else {
		__u32 fl;
		__u64 fo = kf_param(buf, flags, &flen);

		if (flen != 4)
			return 1;
		fl = *(__u32 *)&buf[bounded_by(fo, EVT_MASK)];
		switch (fl & 3) {	/* O_ACCMODE */
		case 0:
			have |= KF_NEED_READ;
			break;
		case 1:
			have |= KF_NEED_WRITE;
			break;
		case 2:
			have |= KF_NEED_READ | KF_NEED_WRITE;
			break;
		}
	}
	/* The terms first: they cost less than the walk along the path. */
	if (vigil_kf_terms(slot, off, len, bit, have) ||
	    !vigil_kf_plain(slot, off, len))
		return 1;
	tid = bpf_get_current_pid_tgid();
	if (bpf_map_lookup_elem(&kf_dotted, &tid)) {
		bpf_map_delete_elem(&kf_dotted, &tid);
		return 1;
	}
	return 0;
}

/*
 * Whether to discard the exit event of that type (returning ret) built in
 * scratch slot @slot of this CPU; counts it when so. A global function:
 * the verifier checks it once, on its own, rather than in every state its
 * caller (an open's path walk) reaches it with.
 */
__noinline int vigil_kf_drop(__u32 slot, __u32 type, __s64 ret)
{
	struct scratch *s = get_scratch(slot);
	__u32 zero = 0, len, name = 0;
	__u64 off, *n;
	__u8 *buf, bit = 0;
	int keep, flags = -1;

	if (!s)
		return 0;
	buf = s->evt;
	switch (type) {
	case VIGIL_EVT_OPEN_X:		/* res, name, flags, ... */
		bit = 1, name = 1, flags = 2;
		break;
	case VIGIL_EVT_OPENAT_X:	/* res, dirfd, name, flags, ... */
		bit = 2, name = 2, flags = 3;
		break;
	case VIGIL_EVT_OPENAT2_X:
		bit = 4, name = 2, flags = 3;
		break;
	case VIGIL_EVT_CREAT_X:		/* res, name, mode, ... */
		bit = 8, name = 1;
		break;
	case VIGIL_EVT_SOCKET_X:	/* res, domain, type, proto */
		break;
	case VIGIL_EVT_CONNECT_X:	/* res, fd, tuple (family first) */
		break;
	default:
		return 0;
	}
	if (bit) {
		keep = kf_keep_open(slot, buf, ret, bit, name, flags);
	} else if (type == VIGIL_EVT_SOCKET_X) {
		off = kf_param(buf, 1, &len);
		if (len != 4)
			return 0;
		keep = kf_families(*(__u32 *)&buf[bounded_by(off, EVT_MASK)],
				   ret >= 0, cfg_kf_sock_all,
				   cfg_kf_sock_rule, cfg_kf_sock_state);
	} else {
		off = kf_param(buf, 2, &len);
		if (len == 0)
			return 0;
		keep = kf_families(buf[bounded_by(off, EVT_MASK)],
				   ret == 0 || ret == -115 /* EINPROGRESS */,
				   cfg_kf_conn_all, cfg_kf_conn_rule,
				   cfg_kf_conn_state);
	}
	if (keep)
		return 0;
	n = bpf_map_lookup_elem(&kf_stats, &zero);
	if (n)
		(*n)++;
	return 1;
}

/* Called right before submit(): whether to discard the event instead. */
static __always_inline int kf_drop(struct builder *b, __u16 type, long ret)
{
	if (!cfg_kf_on)
		return 0;
	switch (type) {
	case VIGIL_EVT_OPEN_X:
	case VIGIL_EVT_OPENAT_X:
	case VIGIL_EVT_OPENAT2_X:
	case VIGIL_EVT_CREAT_X:
	case VIGIL_EVT_SOCKET_X:
	case VIGIL_EVT_CONNECT_X:
		return vigil_kf_drop(b->slot, type, ret);
	}
	return 0;
}

/*
 * Notes an open-family entry path holding ".." (see kf_dotted); global,
 * as vigil_kf_drop.
 */
__noinline int vigil_kf_enter(__u32 slot, __u64 nr)
{
	struct scratch *s = get_scratch(slot);
	__u32 len, tid;
	__u8 one = 1, *buf;
	__u64 off;
	int dotted = 0;

	if (!s)
		return 0;
	buf = s->evt;
	if (nr == VIGIL_NR_open || nr == VIGIL_NR_creat)
		off = kf_param(buf, 0, &len);
	else if (nr == VIGIL_NR_openat || nr == VIGIL_NR_openat2)
		off = kf_param(buf, 1, &len);
	else
		return 0;
	if (len > KF_SCAN) {
		dotted = 1;
	} else {
		__u64 dot = 0, hit = 0;

		for (__u32 i = 0; i < KF_SCAN; i++) {
			__u64 c = kf_at(buf, off, i), is_dot;

			if (c == 0)
				break;
			is_dot = kf_eq(c, '.');
			hit |= is_dot & dot;
			dot = is_dot;
			barrier_var(hit);
		}
		dotted = hit;
	}
	if (dotted) {
		tid = bpf_get_current_pid_tgid();
		bpf_map_update_elem(&kf_dotted, &tid, &one, BPF_ANY);
	}
	return 0;
}

static __always_inline void kf_enter(struct builder *b, __u64 nr)
{
	if (cfg_kf_on && nr != VIGIL_NR_connect)
		vigil_kf_enter(b->slot, nr);
}

#endif /* VIGIL_FILTER_H */
