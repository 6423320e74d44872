/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the parts of vigil's module share: the event builder and the
 * readers of task state that fill events.
 *
 * Every event must come out byte for byte as the eBPF probe writes it
 * (bpf/c/builder.h, bpf/c/task.h): the limits below are the probe's, and
 * each helper says which of the probe's it reproduces.
 */
#ifndef VIGIL_H
#define VIGIL_H

#include <linux/capability.h>
#include <linux/string.h>
#include <linux/types.h>

#include "vigil_schema.h"

struct path;
struct pid;
struct pt_regs;

/* The probe's EVT_MAX: a longer event is dropped and counted. */
#define VIGIL_EVT_MAX		16384
/* The probe's PARAM_MAX: the longest string, and the room a string needs. */
#define VIGIL_PARAM_MAX		4096
/* Past EVT_MAX: parameters may run over before the event is dropped. */
#define VIGIL_EVT_BUF		(VIGIL_EVT_MAX + 2 * VIGIL_PARAM_MAX)
/* Paths are assembled backwards, ending at PATH_END. */
#define VIGIL_PATH_END		4096
#define VIGIL_PATH_BUF		(VIGIL_PATH_END + 256)

struct vigil_builder {
	char *buf;	/* VIGIL_EVT_BUF bytes */
	char *path;	/* VIGIL_PATH_BUF bytes */
	u32 pos;	/* next free byte */
	u16 idx;	/* next parameter */
	u16 nparams;
};

/* Set by ioctl, read locklessly by the probes. */
extern u32 vigil_snaplen;

/* The probe's snaplen(): strings and argv are cut there, at most PARAM_MAX. */
static inline u32 vigil_snap(void)
{
	u32 n = READ_ONCE(vigil_snaplen);

	return n == 0 || n > VIGIL_PARAM_MAX ? VIGIL_PARAM_MAX : n;
}

void vigil_begin(struct vigil_builder *b, u16 type, u16 nparams);

static inline void vigil_set_len(struct vigil_builder *b, u32 len)
{
	u16 *lens = (u16 *)(b->buf + VIGIL_HEADER_SIZE);

	if (b->idx < b->nparams)
		lens[b->idx++] = len;
	b->pos += len;
}

/* A fixed-size value. Past the buffer the event is dropped at submit anyway. */
static inline void vigil_push(struct vigil_builder *b, const void *v, u32 len)
{
	if (b->pos + len <= VIGIL_EVT_BUF)
		memcpy(b->buf + b->pos, v, len);
	vigil_set_len(b, len);
}

static inline void vigil_push_u64(struct vigil_builder *b, u64 v)
{
	vigil_push(b, &v, sizeof(v));
}

static inline void vigil_push_u32(struct vigil_builder *b, u32 v)
{
	vigil_push(b, &v, sizeof(v));
}

static inline void vigil_push_u16(struct vigil_builder *b, u16 v)
{
	vigil_push(b, &v, sizeof(v));
}

static inline void vigil_push_empty(struct vigil_builder *b)
{
	vigil_set_len(b, 0);
}

/* Whether a variable-size parameter still has its room. */
static inline bool vigil_room(const struct vigil_builder *b, u32 pos)
{
	return pos <= VIGIL_EVT_MAX - VIGIL_PARAM_MAX;
}

/* vigil_build.c: reading user memory without faulting, and task state. */
int vigil_read_user(void *dst, const void __user *src, u32 len);
long vigil_read_user_str(char *dst, const void __user *src, u32 max);
void vigil_push_user_str(struct vigil_builder *b, const void __user *s, u32 max);
void vigil_push_kernel_str(struct vigil_builder *b, const char *s, u32 max);
void vigil_push_user_bytes(struct vigil_builder *b, const void __user *p, u64 len);
void vigil_push_path(struct vigil_builder *b, const struct path *p);
void vigil_push_path_at(struct vigil_builder *b, s64 dirfd, const char __user *upath);
void vigil_push_cwd(struct vigil_builder *b);
void vigil_push_dev_ino(struct vigil_builder *b, s64 fd);
void vigil_push_cgroup(struct vigil_builder *b);
void vigil_push_tuple(struct vigil_builder *b, s64 fd);
void vigil_push_sockaddr(struct vigil_builder *b, const void __user *uaddr, u64 ulen);
s64 vigil_pid_vnr(struct pid *pid);
u64 vigil_cap_bits(const kernel_cap_t *c);
int vigil_check_mount_layout(void);

/* vigil_fill.c: the events of syscalls with events of their own. */
bool vigil_fill_exit(struct vigil_builder *b, struct pt_regs *regs, long ret, long nr);
bool vigil_fill_enter(struct vigil_builder *b, struct pt_regs *regs, long nr);

#endif /* VIGIL_H */
