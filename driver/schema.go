// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package driver is the contract between vigil's kernel drivers and user
// space: the event schema (this file, the single source of truth), the wire
// format, an allocation-free decoder, the Source interface every driver
// reader implements, and the capture file format.
//
// The C header both drivers compile against, include/vigil_schema.h, is
// generated from the tables below by `go generate ./driver/...`; a test fails
// when it is stale.
package driver

//go:generate go run ./internal/genheader -o include/vigil_schema.h
//go:generate go run ./internal/genheader -o ../kmod/vigil_schema.h

// SchemaVersion is the semantic version of the event schema. Both drivers
// compile it in and the loader refuses a driver whose major version differs:
// bump the minor version when adding an event type or appending a parameter,
// the major version when changing or removing one.
const SchemaVersion = "1.0.0"

// ParamType says how a parameter's bytes are laid out on the wire.
type ParamType uint8

// Parameter types. Integers are little-endian and fixed-size; strings carry
// their trailing NUL (a zero length means the value could not be read).
const (
	PTInt64     ParamType = iota + 1 // signed 64-bit: return values, fds, pids
	PTUint64                         // unsigned 64-bit: flags, capability sets
	PTUint32                         // unsigned 32-bit: modes, uids, devices
	PTUint16                         // unsigned 16-bit: syscall ids
	PTString                         // NUL-terminated string, snaplen-bounded
	PTPath                           // NUL-terminated absolute filesystem path
	PTStrArray                       // NUL-separated strings (argv)
	PTSockAddr                       // family byte, then address (see SockAddr)
	PTSockTuple                      // family byte, then both endpoints (see SockTuple)
)

var paramTypeNames = [...]string{
	PTInt64: "int64", PTUint64: "uint64", PTUint32: "uint32", PTUint16: "uint16",
	PTString: "string", PTPath: "path", PTStrArray: "strarray",
	PTSockAddr: "sockaddr", PTSockTuple: "socktuple",
}

func (t ParamType) String() string {
	if int(t) < len(paramTypeNames) && paramTypeNames[t] != "" {
		return paramTypeNames[t]
	}
	return "invalid"
}

// FixedSize is the wire size of a fixed-size type, or 0 for variable ones.
func (t ParamType) FixedSize() int {
	switch t {
	case PTInt64, PTUint64:
		return 8
	case PTUint32:
		return 4
	case PTUint16:
		return 2
	}
	return 0
}

// Format hints how a numeric parameter reads best to a person.
type Format uint8

// Formats for numeric parameters.
const (
	FmtDec   Format = iota // decimal
	FmtHex                 // hexadecimal: flags, capability sets
	FmtOct                 // octal: file modes
	FmtFD                  // file descriptor (AT_FDCWD shows as such)
	FmtErrno               // return value; negative values are -errno
)

// Param describes one parameter of an event.
type Param struct {
	Name   string
	Type   ParamType
	Format Format
}

// Direction says when, relative to the syscall, an event is emitted.
type Direction uint8

// Directions.
const (
	Exit  Direction = iota // at syscall exit: the default, arguments read from saved registers
	Enter                  // at syscall entry: only where arguments can change before exit
	Proc                   // scheduler tracepoint: process lifecycle
)

// Category groups event types the way rules and the filter think of them.
type Category uint8

// Categories.
const (
	CatOther Category = iota
	CatProcess
	CatFile
	CatNet
	CatPriv
	CatFD
)

// EventInfo describes one event type.
type EventInfo struct {
	// Name is what users type (`--type openat`): the syscall's name for
	// syscall events (shared by the enter and exit event), else the
	// lifecycle event's name.
	Name     string
	Dir      Direction
	Category Category
	// Syscalls are the syscalls that produce this event; empty for
	// lifecycle events and for the generic event, which any syscall
	// without an event of its own produces.
	Syscalls []string
	Params   []Param
}

// EventType identifies an event on the wire. The numbering is part of the
// schema: append, never renumber.
type EventType uint16

// Event types.
const (
	EvGeneric EventType = iota
	EvProcFork
	EvProcExec
	EvProcExit
	EvExecve
	EvExecveat
	EvClone
	EvFork
	EvVfork
	EvClone3
	EvOpenE
	EvOpen
	EvOpenatE
	EvOpenat
	EvOpenat2E
	EvOpenat2
	EvCreatE
	EvCreat
	EvUnlink
	EvUnlinkat
	EvRename
	EvRenameat
	EvRenameat2
	EvSymlink
	EvSymlinkat
	EvLink
	EvLinkat
	EvMkdir
	EvMkdirat
	EvChmod
	EvFchmod
	EvFchmodat
	EvMount
	EvUmount2
	EvMemfdCreate
	EvSocket
	EvConnectE
	EvConnect
	EvAccept
	EvAccept4
	EvBind
	EvListen
	EvSetuid
	EvSetgid
	EvSetreuid
	EvSetregid
	EvSetresuid
	EvSetresgid
	EvCapset
	EvPtrace
	EvSetns
	EvUnshare
	EvInitModule
	EvFinitModule
	EvBpf
	EvDup
	EvDup2
	EvDup3
	EvClose
	EvPipe
	EvPipe2
	EvChdir
	EvFchdir
	EvTypeMax // one past the last event type; not an event
)

// MaxParams bounds the parameter count of any event; the decoder keeps its
// offsets in a fixed array of this size so decoding never allocates.
const MaxParams = 24

// HeaderSize is the size of the fixed event header on the wire.
const HeaderSize = 24

// Exe flags: the exe_flags parameter of execve/execveat.
const (
	ExeMemfd      = 1 << 0 // the executable is a memfd (fileless execution)
	ExeUpperLayer = 1 << 1 // the executable lives in an overlayfs upper layer (written in the container)
	ExeFromTmp    = 1 << 2 // reserved
)

// Shorthands keep the table below readable.
var (
	res      = Param{"res", PTInt64, FmtErrno}
	fd       = Param{"fd", PTInt64, FmtFD}
	dirfd    = Param{"dirfd", PTInt64, FmtFD}
	flags32  = Param{"flags", PTUint32, FmtHex}
	flags64  = Param{"flags", PTUint64, FmtHex}
	mode     = Param{"mode", PTUint32, FmtOct}
	dev      = Param{"dev", PTUint32, FmtHex}
	ino      = Param{"ino", PTUint64, FmtDec}
	tuple    = Param{"tuple", PTSockTuple, FmtDec}
	pathP    = func(name string) Param { return Param{name, PTPath, FmtDec} }
	str      = func(name string) Param { return Param{name, PTString, FmtDec} }
	i64      = func(name string) Param { return Param{name, PTInt64, FmtDec} }
	u64      = func(name string, f Format) Param { return Param{name, PTUint64, f} }
	u32      = func(name string, f Format) Param { return Param{name, PTUint32, f} }
	fdP      = func(name string) Param { return Param{name, PTInt64, FmtFD} }
	procInfo = []Param{
		res,
		pathP("exe"),
		{"args", PTStrArray, FmtDec},
		pathP("cwd"),
		str("comm"),
		i64("ppid"),
		i64("vpid"),
		i64("vtid"),
		i64("sid"),
		i64("pgid"),
		u32("uid", FmtDec),
		u32("gid", FmtDec),
		u32("euid", FmtDec),
		u32("egid", FmtDec),
		u32("loginuid", FmtDec),
		u32("tty", FmtHex),
		str("cgroup"),
		u64("cap_inheritable", FmtHex),
		u64("cap_permitted", FmtHex),
		u64("cap_effective", FmtHex),
		u32("exe_flags", FmtHex),
		ino,
	}
	cloneInfo = []Param{res, flags64, i64("vpid"), i64("vtid")}
)

// Events is the schema: one entry per EventType.
var Events = [EvTypeMax]EventInfo{
	EvGeneric: {Name: "syscall", Category: CatOther,
		Params: []Param{res, {"id", PTUint16, FmtDec}}},

	EvProcFork: {Name: "proc_fork", Dir: Proc, Category: CatProcess,
		Params: []Param{i64("child_tid"), i64("child_pid"), i64("parent_pid"), str("comm")}},
	EvProcExec: {Name: "proc_exec", Dir: Proc, Category: CatProcess,
		Params: []Param{pathP("filename"), i64("old_tid")}},
	EvProcExit: {Name: "proc_exit", Dir: Proc, Category: CatProcess,
		Params: []Param{i64("exit_code")}},

	EvExecve:   {Name: "execve", Category: CatProcess, Syscalls: []string{"execve"}, Params: procInfo},
	EvExecveat: {Name: "execveat", Category: CatProcess, Syscalls: []string{"execveat"}, Params: procInfo},
	EvClone:    {Name: "clone", Category: CatProcess, Syscalls: []string{"clone"}, Params: cloneInfo},
	EvFork:     {Name: "fork", Category: CatProcess, Syscalls: []string{"fork"}, Params: cloneInfo},
	EvVfork:    {Name: "vfork", Category: CatProcess, Syscalls: []string{"vfork"}, Params: cloneInfo},
	EvClone3:   {Name: "clone3", Category: CatProcess, Syscalls: []string{"clone3"}, Params: cloneInfo},

	EvOpenE: {Name: "open", Dir: Enter, Category: CatFile, Syscalls: []string{"open"},
		Params: []Param{str("name"), flags32, mode}},
	EvOpen: {Name: "open", Category: CatFile, Syscalls: []string{"open"},
		Params: []Param{res, pathP("name"), flags32, mode, dev, ino}},
	EvOpenatE: {Name: "openat", Dir: Enter, Category: CatFile, Syscalls: []string{"openat"},
		Params: []Param{dirfd, str("name"), flags32, mode}},
	EvOpenat: {Name: "openat", Category: CatFile, Syscalls: []string{"openat"},
		Params: []Param{res, dirfd, pathP("name"), flags32, mode, dev, ino}},
	EvOpenat2E: {Name: "openat2", Dir: Enter, Category: CatFile, Syscalls: []string{"openat2"},
		Params: []Param{dirfd, str("name"), flags32, mode, u64("resolve", FmtHex)}},
	EvOpenat2: {Name: "openat2", Category: CatFile, Syscalls: []string{"openat2"},
		Params: []Param{res, dirfd, pathP("name"), flags32, mode, u64("resolve", FmtHex), dev, ino}},
	EvCreatE: {Name: "creat", Dir: Enter, Category: CatFile, Syscalls: []string{"creat"},
		Params: []Param{str("name"), mode}},
	EvCreat: {Name: "creat", Category: CatFile, Syscalls: []string{"creat"},
		Params: []Param{res, pathP("name"), mode, dev, ino}},

	EvUnlink: {Name: "unlink", Category: CatFile, Syscalls: []string{"unlink"},
		Params: []Param{res, pathP("path")}},
	EvUnlinkat: {Name: "unlinkat", Category: CatFile, Syscalls: []string{"unlinkat"},
		Params: []Param{res, dirfd, pathP("name"), flags32}},
	EvRename: {Name: "rename", Category: CatFile, Syscalls: []string{"rename"},
		Params: []Param{res, pathP("oldpath"), pathP("newpath")}},
	EvRenameat: {Name: "renameat", Category: CatFile, Syscalls: []string{"renameat"},
		Params: []Param{res, fdP("olddirfd"), pathP("oldpath"), fdP("newdirfd"), pathP("newpath")}},
	EvRenameat2: {Name: "renameat2", Category: CatFile, Syscalls: []string{"renameat2"},
		Params: []Param{res, fdP("olddirfd"), pathP("oldpath"), fdP("newdirfd"), pathP("newpath"), flags32}},
	EvSymlink: {Name: "symlink", Category: CatFile, Syscalls: []string{"symlink"},
		Params: []Param{res, str("target"), pathP("linkpath")}},
	EvSymlinkat: {Name: "symlinkat", Category: CatFile, Syscalls: []string{"symlinkat"},
		Params: []Param{res, str("target"), fdP("linkdirfd"), pathP("linkpath")}},
	EvLink: {Name: "link", Category: CatFile, Syscalls: []string{"link"},
		Params: []Param{res, pathP("oldpath"), pathP("newpath")}},
	EvLinkat: {Name: "linkat", Category: CatFile, Syscalls: []string{"linkat"},
		Params: []Param{res, fdP("olddir"), pathP("oldpath"), fdP("newdir"), pathP("newpath"), flags32}},
	EvMkdir: {Name: "mkdir", Category: CatFile, Syscalls: []string{"mkdir"},
		Params: []Param{res, pathP("path"), mode}},
	EvMkdirat: {Name: "mkdirat", Category: CatFile, Syscalls: []string{"mkdirat"},
		Params: []Param{res, dirfd, pathP("path"), mode}},
	EvChmod: {Name: "chmod", Category: CatFile, Syscalls: []string{"chmod"},
		Params: []Param{res, pathP("filename"), mode}},
	EvFchmod: {Name: "fchmod", Category: CatFile, Syscalls: []string{"fchmod"},
		Params: []Param{res, fd, mode}},
	EvFchmodat: {Name: "fchmodat", Category: CatFile, Syscalls: []string{"fchmodat", "fchmodat2"},
		Params: []Param{res, dirfd, pathP("filename"), mode}},
	EvMount: {Name: "mount", Category: CatFile, Syscalls: []string{"mount"},
		Params: []Param{res, str("dev"), pathP("dir"), str("type"), flags64}},
	EvUmount2: {Name: "umount2", Category: CatFile, Syscalls: []string{"umount2"},
		Params: []Param{res, pathP("name"), flags32}},
	EvMemfdCreate: {Name: "memfd_create", Category: CatFile, Syscalls: []string{"memfd_create"},
		Params: []Param{res, str("name"), flags32}},

	EvSocket: {Name: "socket", Category: CatNet, Syscalls: []string{"socket"},
		Params: []Param{res, u32("domain", FmtDec), u32("type", FmtHex), u32("proto", FmtDec)}},
	EvConnectE: {Name: "connect", Dir: Enter, Category: CatNet, Syscalls: []string{"connect"},
		Params: []Param{fd, {"addr", PTSockAddr, FmtDec}}},
	EvConnect: {Name: "connect", Category: CatNet, Syscalls: []string{"connect"},
		Params: []Param{res, fd, tuple}},
	EvAccept: {Name: "accept", Category: CatNet, Syscalls: []string{"accept"},
		Params: []Param{res, fd, tuple}},
	EvAccept4: {Name: "accept4", Category: CatNet, Syscalls: []string{"accept4"},
		Params: []Param{res, fd, tuple, flags32}},
	EvBind: {Name: "bind", Category: CatNet, Syscalls: []string{"bind"},
		Params: []Param{res, fd, {"addr", PTSockAddr, FmtDec}}},
	EvListen: {Name: "listen", Category: CatNet, Syscalls: []string{"listen"},
		Params: []Param{res, fd, i64("backlog")}},

	EvSetuid: {Name: "setuid", Category: CatPriv, Syscalls: []string{"setuid"},
		Params: []Param{res, u32("uid", FmtDec)}},
	EvSetgid: {Name: "setgid", Category: CatPriv, Syscalls: []string{"setgid"},
		Params: []Param{res, u32("gid", FmtDec)}},
	EvSetreuid: {Name: "setreuid", Category: CatPriv, Syscalls: []string{"setreuid"},
		Params: []Param{res, u32("ruid", FmtDec), u32("euid", FmtDec)}},
	EvSetregid: {Name: "setregid", Category: CatPriv, Syscalls: []string{"setregid"},
		Params: []Param{res, u32("rgid", FmtDec), u32("egid", FmtDec)}},
	EvSetresuid: {Name: "setresuid", Category: CatPriv, Syscalls: []string{"setresuid"},
		Params: []Param{res, u32("ruid", FmtDec), u32("euid", FmtDec), u32("suid", FmtDec)}},
	EvSetresgid: {Name: "setresgid", Category: CatPriv, Syscalls: []string{"setresgid"},
		Params: []Param{res, u32("rgid", FmtDec), u32("egid", FmtDec), u32("sgid", FmtDec)}},
	EvCapset: {Name: "capset", Category: CatPriv, Syscalls: []string{"capset"},
		Params: []Param{res, u64("cap_inheritable", FmtHex), u64("cap_permitted", FmtHex), u64("cap_effective", FmtHex)}},
	EvPtrace: {Name: "ptrace", Category: CatPriv, Syscalls: []string{"ptrace"},
		Params: []Param{res, i64("request"), i64("pid")}},
	EvSetns: {Name: "setns", Category: CatPriv, Syscalls: []string{"setns"},
		Params: []Param{res, fd, u32("nstype", FmtHex)}},
	EvUnshare: {Name: "unshare", Category: CatPriv, Syscalls: []string{"unshare"},
		Params: []Param{res, flags64}},
	EvInitModule: {Name: "init_module", Category: CatPriv, Syscalls: []string{"init_module"},
		Params: []Param{res, u64("len", FmtDec), str("uargs")}},
	EvFinitModule: {Name: "finit_module", Category: CatPriv, Syscalls: []string{"finit_module"},
		Params: []Param{res, fd, str("uargs"), flags32}},
	EvBpf: {Name: "bpf", Category: CatPriv, Syscalls: []string{"bpf"},
		Params: []Param{res, i64("cmd")}},

	EvDup: {Name: "dup", Category: CatFD, Syscalls: []string{"dup"},
		Params: []Param{res, fdP("oldfd")}},
	EvDup2: {Name: "dup2", Category: CatFD, Syscalls: []string{"dup2"},
		Params: []Param{res, fdP("oldfd"), fdP("newfd")}},
	EvDup3: {Name: "dup3", Category: CatFD, Syscalls: []string{"dup3"},
		Params: []Param{res, fdP("oldfd"), fdP("newfd"), flags32}},
	EvClose: {Name: "close", Category: CatFD, Syscalls: []string{"close"},
		Params: []Param{res, fd}},
	EvPipe: {Name: "pipe", Category: CatFD, Syscalls: []string{"pipe"},
		Params: []Param{res, fdP("fd1"), fdP("fd2")}},
	EvPipe2: {Name: "pipe2", Category: CatFD, Syscalls: []string{"pipe2"},
		Params: []Param{res, fdP("fd1"), fdP("fd2"), flags32}},
	EvChdir: {Name: "chdir", Category: CatFD, Syscalls: []string{"chdir"},
		Params: []Param{res, pathP("path")}},
	EvFchdir: {Name: "fchdir", Category: CatFD, Syscalls: []string{"fchdir"},
		Params: []Param{res, fd}},
}

// Info returns the schema entry of t, or nil for an unknown type.
func (t EventType) Info() *EventInfo {
	if t >= EvTypeMax {
		return nil
	}
	return &Events[t]
}

// String returns the event's name with its direction: "openat", "openat<"
// for the entry event, "syscall" for the generic event.
func (t EventType) String() string {
	info := t.Info()
	if info == nil {
		return "unknown"
	}
	if info.Dir == Enter {
		return info.Name + "<"
	}
	return info.Name
}

// ParamIndex returns the index of the named parameter of t, or -1.
func (t EventType) ParamIndex(name string) int {
	if info := t.Info(); info != nil {
		for i, p := range info.Params {
			if p.Name == name {
				return i
			}
		}
	}
	return -1
}
