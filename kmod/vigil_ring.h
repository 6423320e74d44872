/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * The user-space interface of vigil's kernel module: the control page of
 * each per-CPU ring buffer and the ioctls. driver/kmod.go mirrors it.
 *
 * /dev/vigilN is CPU N's buffer. mmap offset 0, one page, read-write: the
 * control page. mmap offset PAGE_SIZE, ring_size bytes, read-only: the
 * data. The kernel advances head, user space advances tail; both count
 * bytes since the start and never wrap, positions are taken modulo
 * ring_size. An event never straddles the end of the data: when one does
 * not fit, the kernel writes a padding record (type VIGIL_RING_PAD, len up
 * to the end) and starts again at offset 0.
 *
 * poll/epoll on /dev/vigilN (features has VIGIL_FEATURE_POLL): readable
 * (EPOLLIN | EPOLLRDNORM) while head != tail. A waiting reader is woken
 * when the unread bytes (head - tail) reach wakeup_bytes, and at least
 * every wakeup_ms (module parameter, default 10) while the ring is not
 * empty. A reader drains its ring (tail = head) before it waits again.
 */
#ifndef VIGIL_RING_H
#define VIGIL_RING_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define VIGIL_API_VERSION 1

#define VIGIL_RING_PAD 0xffff

struct vigil_ring_ctl {
	__u64 head;		/* written by the kernel */
	__u64 tail;		/* written by user space */
	__u64 events;		/* events written to this buffer */
	__u64 drops;		/* events lost because it was full */
	__u32 ring_size;	/* bytes of data, a power of two */
	__u32 api_version;	/* VIGIL_API_VERSION */
	__u32 features;		/* VIGIL_FEATURE_*, written by the kernel */
	__u32 wakeup_bytes;	/* written by user space; 0: the default */
};

/* poll and epoll work on the device; older modules have 0 here. */
#define VIGIL_FEATURE_POLL 0x1

/* wakeup_bytes 0: this many, or half the ring when that is smaller. */
#define VIGIL_WAKEUP_DEFAULT 65536

struct vigil_schema_version {
	__u32 major;
	__u32 minor;
	__u32 patch;
};

#define VIGIL_MASK_BYTES (VIGIL_MAX_SYSCALLS / 8)

#define VIGIL_IOC_MAGIC 'v'
#define VIGIL_IOC_API_VERSION		_IOR(VIGIL_IOC_MAGIC, 0, __u32)
#define VIGIL_IOC_SCHEMA_VERSION	_IOR(VIGIL_IOC_MAGIC, 1, struct vigil_schema_version)
#define VIGIL_IOC_START			_IO(VIGIL_IOC_MAGIC, 2)
#define VIGIL_IOC_STOP			_IO(VIGIL_IOC_MAGIC, 3)
#define VIGIL_IOC_SET_SNAPLEN		_IOW(VIGIL_IOC_MAGIC, 4, __u32)
#define VIGIL_IOC_SET_MASK		_IOW(VIGIL_IOC_MAGIC, 5, __u8[VIGIL_MASK_BYTES])
#define VIGIL_IOC_IGNORE_TGID		_IOW(VIGIL_IOC_MAGIC, 6, __u32)

#endif /* VIGIL_RING_H */
