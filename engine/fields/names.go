// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Symbolic names Falco prints for some parameters, which rules match with
// contains (evt.arg.flags contains O_TRUNC, evt.arg.request contains
// PTRACE_ATTACH, thread.cap_effective contains CAP_SYS_ADMIN).

// capNames are the Linux capabilities by bit number.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// appendCaps writes the names of the capabilities in set, space-separated,
// as Falco prints thread.cap_*.
func appendCaps(dst []byte, set uint64) []byte {
	first := true
	for i := 0; i < 64; i++ {
		if set&(1<<i) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ' ')
		}
		first = false
		if i < len(capNames) {
			dst = append(dst, capNames[i]...)
		} else {
			dst = strconv.AppendInt(append(dst, "CAP_"...), int64(i), 10)
		}
	}
	return dst
}

var socketFamilies = map[uint64]string{
	unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET", unix.AF_BLUETOOTH: "AF_BLUETOOTH",
	unix.AF_ALG: "AF_ALG", unix.AF_VSOCK: "AF_VSOCK", unix.AF_XDP: "AF_XDP", unix.AF_KEY: "AF_KEY",
	unix.AF_UNSPEC: "AF_UNSPEC", unix.AF_CAN: "AF_CAN", unix.AF_TIPC: "AF_TIPC", unix.AF_RDS: "AF_RDS",
	unix.AF_APPLETALK: "AF_APPLETALK", unix.AF_X25: "AF_X25", unix.AF_AX25: "AF_AX25", unix.AF_IPX: "AF_IPX",
}

var ptraceRequests = map[uint64]string{
	unix.PTRACE_TRACEME: "PTRACE_TRACEME", unix.PTRACE_PEEKTEXT: "PTRACE_PEEKTEXT",
	unix.PTRACE_PEEKDATA: "PTRACE_PEEKDATA", unix.PTRACE_PEEKUSR: "PTRACE_PEEKUSR",
	unix.PTRACE_POKETEXT: "PTRACE_POKETEXT", unix.PTRACE_POKEDATA: "PTRACE_POKEDATA",
	unix.PTRACE_POKEUSR: "PTRACE_POKEUSR", unix.PTRACE_CONT: "PTRACE_CONT", unix.PTRACE_KILL: "PTRACE_KILL",
	unix.PTRACE_SINGLESTEP: "PTRACE_SINGLESTEP", unix.PTRACE_GETREGS: "PTRACE_GETREGS",
	unix.PTRACE_SETREGS: "PTRACE_SETREGS", unix.PTRACE_GETFPREGS: "PTRACE_GETFPREGS",
	unix.PTRACE_SETFPREGS: "PTRACE_SETFPREGS", unix.PTRACE_ATTACH: "PTRACE_ATTACH",
	unix.PTRACE_DETACH: "PTRACE_DETACH", unix.PTRACE_SYSCALL: "PTRACE_SYSCALL",
	unix.PTRACE_SETOPTIONS: "PTRACE_SETOPTIONS", unix.PTRACE_GETEVENTMSG: "PTRACE_GETEVENTMSG",
	unix.PTRACE_GETSIGINFO: "PTRACE_GETSIGINFO", unix.PTRACE_SETSIGINFO: "PTRACE_SETSIGINFO",
	unix.PTRACE_GETREGSET: "PTRACE_GETREGSET", unix.PTRACE_SETREGSET: "PTRACE_SETREGSET",
	unix.PTRACE_SEIZE: "PTRACE_SEIZE", unix.PTRACE_INTERRUPT: "PTRACE_INTERRUPT",
	unix.PTRACE_LISTEN: "PTRACE_LISTEN", unix.PTRACE_PEEKSIGINFO: "PTRACE_PEEKSIGINFO",
}

var fdTypeNames = [...]string{
	"", "file", "directory", "ipv4", "ipv6", "unix", "pipe", "event", "signalfd",
	"eventpoll", "inotify", "timerfd", "netlink", "memfd", "bpf", "userfaultfd",
}

var fdTypeChars = [...]string{
	"o", "f", "d", "4", "6", "u", "p", "e", "s", "l", "i", "t", "n", "m", "b", "u",
}

// shells are the names proc.loginshellid looks for.
var shells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true,
	"ksh": true, "csh": true, "tcsh": true, "fish": true, "busybox": true}
