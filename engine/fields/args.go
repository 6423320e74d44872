// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

// evt.arg renders the parameters Falco gives symbolic names with the same
// names, in the same order, so that rules written against Falco's text
// match (evt.arg.mode contains S_ISUID, evt.arg.flags contains O_TRUNC,
// evt.arg.cmd = BPF_PROG_LOAD, evt.arg.uid = nobody). The facts (which
// parameters, which names, their order) are those of Falco's libs flag
// tables and event table; the values are Linux's, which is what vigil's
// drivers carry.

// flagName names a set of bits.
type flagName struct {
	bits uint64
	name string
}

// flagSet is one of Falco's flag tables. A value renders as the names
// whose bits it holds, in table order and joined by '|', each taking its
// bits out of the value (so O_RDWR is not also O_RDONLY and O_WRONLY);
// bits without a name are left out, as Falco's drivers drop them. zero
// names the value 0 where Falco's table does (O_NONE).
type flagSet struct {
	names []flagName
	zero  string
}

// append writes v's names; false when none applies (the caller then
// prints the number, as Falco does).
func (fs *flagSet) append(dst []byte, v uint64) ([]byte, bool) {
	if v == 0 {
		if fs.zero == "" {
			return dst, false
		}
		return append(dst, fs.zero...), true
	}
	n := 0
	for _, f := range fs.names {
		if v&f.bits != f.bits {
			continue
		}
		if n > 0 {
			dst = append(dst, '|')
		}
		dst = append(dst, f.name...)
		v &^= f.bits
		n++
	}
	return dst, n > 0
}

// The access mode of open(2) is a 2-bit number, not flags; Falco's
// drivers turn it into the bits of O_RDONLY and O_WRONLY (O_RDWR being
// both). These stand for them, above every real open flag.
const (
	accRead  = 1 << 40
	accWrite = 1 << 41
	// oLargefile is the x86-64 value the kernel adds to every 64-bit open
	// (golang.org/x/sys defines O_LARGEFILE as 0 there).
	oLargefile = 0x8000
)

// Falco's file_flags table, in its order.
var openFlagSet = flagSet{names: []flagName{
	{oLargefile, "O_LARGEFILE"}, {unix.O_DIRECTORY, "O_DIRECTORY"}, {unix.O_DIRECT, "O_DIRECT"},
	{unix.O_TRUNC, "O_TRUNC"}, {unix.O_SYNC &^ unix.O_DSYNC, "O_SYNC"}, {unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_EXCL, "O_EXCL"}, {unix.O_DSYNC, "O_DSYNC"}, {unix.O_APPEND, "O_APPEND"}, {unix.O_CREAT, "O_CREAT"},
	{accRead | accWrite, "O_RDWR"}, {accWrite, "O_WRONLY"}, {accRead, "O_RDONLY"}, {unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_TMPFILE &^ unix.O_DIRECTORY, "O_TMPFILE"},
}, zero: "O_NONE"}

// openFlagBits turns open(2) flags into openFlagSet's bits.
func openFlagBits(f uint64) uint64 {
	acc := f & unix.O_ACCMODE
	f &^= unix.O_ACCMODE
	switch acc {
	case unix.O_RDONLY:
		return f | accRead
	case unix.O_WRONLY:
		return f | accWrite
	}
	return f | accRead | accWrite
}

// appendOpenFlags writes open(2) flags as Falco does: O_RDONLY|O_CLOEXEC.
func appendOpenFlags(dst []byte, f uint64) []byte {
	dst, _ = openFlagSet.append(dst, openFlagBits(f))
	return dst
}

// Falco's chmod_mode table: the permission bits from the lowest.
var modeSet = flagSet{names: []flagName{
	{unix.S_IXOTH, "S_IXOTH"}, {unix.S_IWOTH, "S_IWOTH"}, {unix.S_IROTH, "S_IROTH"},
	{unix.S_IXGRP, "S_IXGRP"}, {unix.S_IWGRP, "S_IWGRP"}, {unix.S_IRGRP, "S_IRGRP"},
	{unix.S_IXUSR, "S_IXUSR"}, {unix.S_IWUSR, "S_IWUSR"}, {unix.S_IRUSR, "S_IRUSR"},
	{unix.S_ISVTX, "S_ISVTX"}, {unix.S_ISGID, "S_ISGID"}, {unix.S_ISUID, "S_ISUID"},
}}

// Falco's clone_flags table (clone, unshare, setns), without its
// internal entries.
var cloneSet = flagSet{names: []flagName{
	{unix.CLONE_FILES, "CLONE_FILES"}, {unix.CLONE_FS, "CLONE_FS"}, {unix.CLONE_IO, "CLONE_IO"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"}, {unix.CLONE_NEWNET, "CLONE_NEWNET"}, {unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"}, {unix.CLONE_NEWUTS, "CLONE_NEWUTS"}, {unix.CLONE_PARENT, "CLONE_PARENT"},
	{unix.CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"}, {unix.CLONE_PTRACE, "CLONE_PTRACE"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"}, {unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"}, {unix.CLONE_THREAD, "CLONE_THREAD"},
	{unix.CLONE_UNTRACED, "CLONE_UNTRACED"}, {unix.CLONE_VM, "CLONE_VM"}, {unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"}, {unix.CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"},
	{unix.CLONE_SETTLS, "CLONE_SETTLS"}, {unix.CLONE_VFORK, "CLONE_VFORK"}, {unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
}}

// Falco's mount_flags table (MS_ without the prefix).
var mountSet = flagSet{names: []flagName{
	{unix.MS_RDONLY, "RDONLY"}, {unix.MS_NOSUID, "NOSUID"}, {unix.MS_NODEV, "NODEV"}, {unix.MS_NOEXEC, "NOEXEC"},
	{unix.MS_SYNCHRONOUS, "SYNCHRONOUS"}, {unix.MS_REMOUNT, "REMOUNT"}, {unix.MS_MANDLOCK, "MANDLOCK"},
	{unix.MS_DIRSYNC, "DIRSYNC"}, {unix.MS_NOATIME, "NOATIME"}, {unix.MS_NODIRATIME, "NODIRATIME"},
	{unix.MS_BIND, "BIND"}, {unix.MS_MOVE, "MOVE"}, {unix.MS_REC, "REC"}, {unix.MS_SILENT, "SILENT"},
	{unix.MS_POSIXACL, "POSIXACL"}, {unix.MS_UNBINDABLE, "UNBINDABLE"}, {unix.MS_PRIVATE, "PRIVATE"},
	{unix.MS_SLAVE, "SLAVE"}, {unix.MS_SHARED, "SHARED"}, {unix.MS_RELATIME, "RELATIME"},
	{unix.MS_KERNMOUNT, "KERNMOUNT"}, {unix.MS_I_VERSION, "I_VERSION"}, {unix.MS_STRICTATIME, "STRICTATIME"},
	{unix.MS_LAZYTIME, "LAZYTIME"}, {unix.MS_NOSEC, "NOSEC"}, {unix.MS_BORN, "BORN"}, {unix.MS_ACTIVE, "ACTIVE"},
	{unix.MS_NOUSER, "NOUSER"},
}}

// mountFlagBits drops the magic number old programs put in the high half
// (MS_MGC_VAL), as Falco's drivers do.
func mountFlagBits(f uint64) uint64 {
	if f&0xffff0000 == unix.MS_MGC_VAL {
		return f & 0xffff
	}
	return f
}

var (
	umountSet = flagSet{names: []flagName{{unix.MNT_FORCE, "FORCE"}, {unix.MNT_DETACH, "DETACH"},
		{unix.MNT_EXPIRE, "EXPIRE"}, {unix.UMOUNT_NOFOLLOW, "NOFOLLOW"}}}
	unlinkatSet  = flagSet{names: []flagName{{unix.AT_REMOVEDIR, "AT_REMOVEDIR"}}}
	linkatSet    = flagSet{names: []flagName{{unix.AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"}, {unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"}}}
	renameat2Set = flagSet{names: []flagName{{unix.RENAME_NOREPLACE, "RENAME_NOREPLACE"},
		{unix.RENAME_EXCHANGE, "RENAME_EXCHANGE"}, {unix.RENAME_WHITEOUT, "RENAME_WHITEOUT"}}}
	resolveSet = flagSet{names: []flagName{{unix.RESOLVE_BENEATH, "RESOLVE_BENEATH"}, {unix.RESOLVE_IN_ROOT, "RESOLVE_IN_ROOT"},
		{unix.RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS"}, {unix.RESOLVE_NO_SYMLINKS, "RESOLVE_NO_SYMLINKS"},
		{unix.RESOLVE_NO_XDEV, "RESOLVE_NO_XDEV"}, {0x20, "RESOLVE_CACHED"}}}
	memfdSet = flagSet{names: []flagName{{unix.MFD_CLOEXEC, "MFD_CLOEXEC"}, {unix.MFD_ALLOW_SEALING, "MFD_ALLOW_SEALING"},
		{unix.MFD_HUGETLB, "MFD_HUGETLB"}}}
	finitModuleSet = flagSet{names: []flagName{{unix.MODULE_INIT_IGNORE_MODVERSIONS, "MODULE_INIT_IGNORE_MODVERSIONS"},
		{unix.MODULE_INIT_IGNORE_VERMAGIC, "MODULE_INIT_IGNORE_VERMAGIC"}, {4, "MODULE_INIT_COMPRESSED_FILE"}}}
	// dup3 and pipe2 take a few open flags; Falco names them with its
	// file_flags table, 0 included.
	fdFlagSet = flagSet{names: []flagName{{unix.O_DIRECT, "O_DIRECT"}, {unix.O_NONBLOCK, "O_NONBLOCK"},
		{unix.O_CLOEXEC, "O_CLOEXEC"}}, zero: "O_NONE"}
	// Falco's execve_flags table (vigil has no EXE_WRITABLE).
	exeSet = flagSet{names: []flagName{{driver.ExeUpperLayer, "EXE_UPPER_LAYER"}, {driver.ExeMemfd, "EXE_FROM_MEMFD"}}}
)

// bpfCommands are the bpf(2) commands by number (the kernel's enum
// bpf_cmd, as Falco names them).
var bpfCommands = [...]string{
	"BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM", "BPF_MAP_GET_NEXT_KEY",
	"BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH", "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN",
	"BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID", "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID",
	"BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY", "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID",
	"BPF_TASK_FD_QUERY", "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID",
	"BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH",
	"BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS",
	"BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP",
}

// argRenderer writes parameter value v by name; false to print the
// number instead.
type argRenderer func(c *Ctx, dst []byte, v uint64) ([]byte, bool)

// argRenderers holds, per event type and parameter index, the renderer of
// the parameters that have names.
var argRenderers [driver.EvTypeMax][driver.MaxParams]argRenderer

// renderWith renders a flag parameter with fs, after conv when not nil.
// A value no name applies to prints in decimal, as Falco prints flags
// (exe_flags=0, not 0x0).
func renderWith(fs *flagSet, conv func(uint64) uint64) argRenderer {
	return func(_ *Ctx, dst []byte, v uint64) ([]byte, bool) {
		if conv != nil {
			v = conv(v)
		}
		if out, ok := fs.append(dst, v); ok {
			return out, true
		}
		return strconv.AppendUint(dst, v, 10), true
	}
}

func renderEnum(names map[uint64]string) argRenderer {
	return func(_ *Ctx, dst []byte, v uint64) ([]byte, bool) {
		n, ok := names[v]
		return append(dst, n...), ok
	}
}

// renderID names a user or group id as Falco does: the account's name,
// <NA> when the id has none, <NONE> for -1 (the id left unchanged).
func renderID(group bool) argRenderer {
	return func(c *Ctx, dst []byte, v uint64) ([]byte, bool) {
		id := uint32(v)
		if id == ^uint32(0) {
			return append(dst, "<NONE>"...), true
		}
		if c.Users == nil {
			return dst, false
		}
		name := ""
		if group {
			if g, ok := c.Users.Group(id); ok {
				name = g.Name
			}
		} else if u, ok := c.Users.User(id); ok {
			name = u.Name
		}
		if name == "" {
			name = "<NA>"
		}
		return append(dst, name...), true
	}
}

func init() {
	on := func(r argRenderer, param string, types ...driver.EventType) {
		for _, t := range types {
			i := t.ParamIndex(param)
			if i < 0 {
				panic("fields: " + t.String() + " has no parameter " + param)
			}
			argRenderers[t][i] = r
		}
	}
	on(renderWith(&openFlagSet, openFlagBits), "flags", driver.EvOpenE, driver.EvOpen, driver.EvOpenatE,
		driver.EvOpenat, driver.EvOpenat2E, driver.EvOpenat2)
	on(renderWith(&resolveSet, nil), "resolve", driver.EvOpenat2E, driver.EvOpenat2)
	on(renderWith(&modeSet, nil), "mode", driver.EvChmod, driver.EvFchmod, driver.EvFchmodat)
	on(renderWith(&cloneSet, nil), "flags", driver.EvClone, driver.EvFork, driver.EvVfork, driver.EvClone3, driver.EvUnshare)
	on(renderWith(&cloneSet, nil), "nstype", driver.EvSetns)
	on(renderWith(&mountSet, mountFlagBits), "flags", driver.EvMount)
	on(renderWith(&umountSet, nil), "flags", driver.EvUmount2)
	on(renderWith(&unlinkatSet, nil), "flags", driver.EvUnlinkat)
	on(renderWith(&linkatSet, nil), "flags", driver.EvLinkat)
	on(renderWith(&renameat2Set, nil), "flags", driver.EvRenameat2)
	on(renderWith(&memfdSet, nil), "flags", driver.EvMemfdCreate)
	on(renderWith(&finitModuleSet, nil), "flags", driver.EvFinitModule)
	on(renderWith(&fdFlagSet, nil), "flags", driver.EvDup3, driver.EvPipe2)
	on(renderWith(&exeSet, nil), "exe_flags", driver.EvExecve, driver.EvExecveat)
	on(renderEnum(socketFamilies), "domain", driver.EvSocket)
	on(renderEnum(ptraceRequests), "request", driver.EvPtrace)
	on(func(_ *Ctx, dst []byte, v uint64) ([]byte, bool) {
		if v >= uint64(len(bpfCommands)) {
			return dst, false
		}
		return append(dst, bpfCommands[v]...), true
	}, "cmd", driver.EvBpf)
	on(renderID(false), "uid", driver.EvSetuid)
	on(renderID(true), "gid", driver.EvSetgid)
	for _, p := range []string{"ruid", "euid"} {
		on(renderID(false), p, driver.EvSetreuid, driver.EvSetresuid)
	}
	on(renderID(false), "suid", driver.EvSetresuid)
	for _, p := range []string{"rgid", "egid"} {
		on(renderID(true), p, driver.EvSetregid, driver.EvSetresgid)
	}
	on(renderID(true), "sgid", driver.EvSetresgid)
}
