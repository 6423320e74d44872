// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Parsers of /proc files. Each takes the file's bytes, so that it can be
// fuzzed without a /proc, and returns an error naming the file and what is
// wrong with it rather than panicking: /proc of another kernel, or of a
// process that exits while we read, can hold anything.

// procStat is what the table takes from /proc/<pid>/stat.
type procStat struct {
	Comm             string
	PPID, PGRP, SID  int64
	TTY              uint32 // kernel dev_t layout (major<<20 | minor), as the driver sends it
	StartTicks       uint64 // clock ticks since boot
	HaveStart, HaveT bool   // starttime and tty were present
}

// parseProcStat reads "pid (comm) S ppid pgrp session tty_nr … starttime …".
// The comm may itself hold spaces and parentheses, hence the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	var s procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return s, errors.New("stat: no \"(comm)\"")
	}
	s.Comm = string(b[open+1 : end])
	f := bytes.Fields(b[end+1:]) // state, ppid, pgrp, session, tty_nr, …
	if len(f) < 4 {
		return s, fmt.Errorf("stat: %d fields after the comm, want at least 4 (state ppid pgrp session)", len(f))
	}
	var err error
	if s.PPID, err = strconv.ParseInt(string(f[1]), 10, 64); err != nil {
		return s, fmt.Errorf("stat: ppid: %w", err)
	}
	if s.PGRP, err = strconv.ParseInt(string(f[2]), 10, 64); err != nil {
		return s, fmt.Errorf("stat: pgrp: %w", err)
	}
	if s.SID, err = strconv.ParseInt(string(f[3]), 10, 64); err != nil {
		return s, fmt.Errorf("stat: session: %w", err)
	}
	// tty_nr and starttime are best effort: a truncated line still has
	// the ids above.
	if len(f) > 4 {
		if nr, err := strconv.ParseInt(string(f[4]), 10, 64); err == nil {
			s.TTY, s.HaveT = ttyFromProc(uint32(nr)), true
		}
	}
	if len(f) > 19 {
		if st, err := strconv.ParseUint(string(f[19]), 10, 64); err == nil {
			s.StartTicks, s.HaveStart = st, true
		}
	}
	return s, nil
}

// ttyFromProc converts stat's tty_nr (the user-space dev_t encoding: minor
// bits 0-7 and 20-31, major bits 8-19) to the kernel's internal layout the
// driver sends (major<<20 | minor), so seeded and exec'd processes compare.
func ttyFromProc(nr uint32) uint32 {
	major := (nr >> 8) & 0xfff
	minor := (nr & 0xff) | ((nr >> 12) & 0xfff00)
	return major<<20 | minor
}

// devFromStat converts a stat(2) st_dev to the kernel's internal layout,
// which the driver's dev parameters use.
func devFromStat(dev uint64) uint32 {
	return unix.Major(dev)<<20 | unix.Minor(dev)&0xfffff
}

// procStatus is what the table takes from /proc/<pid>/status.
type procStatus struct {
	UID, GID               [4]uint32 // real, effective, saved, filesystem
	HaveUID, HaveGID       bool
	CapInh, CapPrm, CapEff uint64
	VPID, VTID             int64 // last NStgid / NSpid value; 0 when absent
}

func parseProcStatus(b []byte) (procStatus, error) {
	var s procStatus
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		key, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		var err error
		switch string(key) {
		case "Uid":
			s.UID, err = parseIDs(val)
			s.HaveUID = err == nil
		case "Gid":
			s.GID, err = parseIDs(val)
			s.HaveGID = err == nil
		case "CapInh":
			s.CapInh, err = strconv.ParseUint(string(val), 16, 64)
		case "CapPrm":
			s.CapPrm, err = strconv.ParseUint(string(val), 16, 64)
		case "CapEff":
			s.CapEff, err = strconv.ParseUint(string(val), 16, 64)
		case "NStgid":
			s.VPID, err = lastInt(val)
		case "NSpid":
			s.VTID, err = lastInt(val)
		}
		if err != nil {
			return s, fmt.Errorf("status: %s: %w", key, err)
		}
	}
	if !s.HaveUID || !s.HaveGID {
		return s, errors.New("status: no Uid or Gid line")
	}
	return s, nil
}

// parseIDs reads the four ids of a Uid or Gid line.
func parseIDs(val []byte) (ids [4]uint32, err error) {
	f := bytes.Fields(val)
	if len(f) != 4 {
		return ids, fmt.Errorf("%d ids, want 4 (real effective saved fs)", len(f))
	}
	for i := range ids {
		v, err := strconv.ParseUint(string(f[i]), 10, 32)
		if err != nil {
			return ids, err
		}
		ids[i] = uint32(v)
	}
	return ids, nil
}

// lastInt reads the last of a list of pids: the innermost namespace's.
func lastInt(val []byte) (int64, error) {
	f := bytes.Fields(val)
	if len(f) == 0 {
		return 0, errors.New("empty")
	}
	return strconv.ParseInt(string(f[len(f)-1]), 10, 64)
}

// parseCmdline splits /proc/<pid>/cmdline, NUL-separated with a trailing
// NUL, into argv. A process that rewrote its title may have no NULs.
func parseCmdline(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil
	}
	n := bytes.Count(b, []byte{0}) + 1
	argv := make([]string, 0, n)
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return append(argv, string(b))
		}
		argv = append(argv, string(b[:i]))
		b = b[i+1:]
	}
}

// parseCgroup picks the cgroup path of /proc/<pid>/cgroup the way the
// driver's cgroup parameter does: the unified hierarchy ("0::/path"). On a
// v1 or hybrid host whose unified path names no container but a v1 line
// does (docker with the cgroupfs driver), the v1 path is the one that
// identifies the container.
func parseCgroup(b []byte) (string, error) {
	var unified, v1, first []byte
	haveUnified := false
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		// hierarchy-id:controllers:path; the path may hold ':'.
		c1 := bytes.IndexByte(line, ':')
		if c1 < 0 {
			continue
		}
		c2 := bytes.IndexByte(line[c1+1:], ':')
		if c2 < 0 {
			continue
		}
		id, path := line[:c1], line[c1+1+c2+1:]
		if string(id) == "0" && c2 == 0 {
			unified, haveUnified = path, true
			continue
		}
		if first == nil {
			first = path
		}
		if v1 == nil && namesContainer(path) {
			v1 = path
		}
	}
	switch {
	case haveUnified && (namesContainer(unified) || v1 == nil):
		return string(unified), nil
	case v1 != nil:
		return string(v1), nil
	case first != nil:
		return string(first), nil
	}
	return "", errors.New("cgroup: no hierarchy line")
}

// namesContainer reports whether a cgroup path looks like a container's:
// a runtime's name or a 64-hex-digit id in it.
func namesContainer(path []byte) bool {
	for _, w := range [...]string{"docker", "containerd", "crio", "libpod", "kubepods", "lxc"} {
		if bytes.Contains(path, []byte(w)) {
			return true
		}
	}
	run := 0
	for _, c := range path {
		if ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') {
			if run++; run == 64 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// parseLoginUID reads /proc/<pid>/loginuid; unset is 0xffffffff.
func parseLoginUID(b []byte) (uint32, error) {
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("loginuid: %w", err)
	}
	return uint32(v), nil
}

// parseFDInfoFlags reads the octal "flags:" line of /proc/<pid>/fdinfo/<fd>.
func parseFDInfoFlags(b []byte) (uint32, error) {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		if v, ok := bytes.CutPrefix(line, []byte("flags:")); ok {
			f, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 32)
			if err != nil {
				return 0, fmt.Errorf("fdinfo: flags: %w", err)
			}
			return uint32(f), nil
		}
	}
	return 0, errors.New("fdinfo: no flags line")
}

// anonTypes maps the names of anon_inode fds to their types.
var anonTypes = map[string]FDType{
	"[eventpoll]":     FDEventPoll,
	"[eventfd]":       FDEvent,
	"[signalfd]":      FDSignalFD,
	"[timerfd]":       FDTimerFD,
	"inotify":         FDInotify,
	"[userfaultfd]":   FDUserfaultfd,
	"bpf-map":         FDBPF,
	"bpf-prog":        FDBPF,
	"bpf_link":        FDBPF,
	"bpf-link":        FDBPF,
	"[perf_event]":    FDUnknown,
	"[pidfd]":         FDUnknown,
	"[io_uring]":      FDUnknown,
	"bpf_iter":        FDBPF,
	"[fanotify]":      FDInotify,
	"[eventfd-count]": FDEvent,
}

// fdFromLink classifies the target of a /proc/<pid>/fd/<n> link. path is
// true when the target is a filesystem path the caller should stat to tell
// a directory from a file; the type is then FDFile.
func fdFromLink(link string) (fd FD, path bool) {
	link = strings.TrimSuffix(link, " (deleted)")
	if rest, ok := strings.CutPrefix(link, "/memfd:"); ok {
		fd.Type, fd.Name = FDMemfd, "memfd:"+rest
		return fd, false
	}
	if strings.HasPrefix(link, "/") {
		fd.Type, fd.Name = FDFile, link
		return fd, true
	}
	if rest, ok := strings.CutPrefix(link, "socket:["); ok {
		fd.Type = FDUnknown // until the socket tables say what it is
		fd.Ino, _ = strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
		return fd, false
	}
	if rest, ok := strings.CutPrefix(link, "pipe:["); ok {
		fd.Type = FDPipe
		fd.Ino, _ = strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
		return fd, false
	}
	if rest, ok := strings.CutPrefix(link, "anon_inode:"); ok {
		fd.Type, fd.Name = anonTypes[rest], link
		return fd, false
	}
	fd.Name = link
	return fd, false
}

// sockInfo is one socket of a network namespace's /proc/net tables.
type sockInfo struct {
	typ         FDType
	proto       string
	domain      uint32
	sockType    uint32
	local, peer netip.AddrPort
	path        string
	listening   bool
}

// sockIndex holds the sockets of one network namespace by inode, and the
// ports listened on, which tell the server end of a connection.
type sockIndex struct {
	m      map[uint64]sockInfo
	listen map[listenKey]bool
}

type listenKey struct {
	proto string
	port  uint16
}

func newSockIndex() *sockIndex {
	return &sockIndex{m: make(map[uint64]sockInfo), listen: make(map[listenKey]bool)}
}

// Address families and socket types, as numbered on every Linux
// architecture vigil runs on.
const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16

	sockStream = 1
	sockDgram  = 2
	sockRaw    = 3
)

// tcpListen is TCP_LISTEN in the st column of /proc/net/tcp.
const tcpListen = 0x0A

// parseNetInet adds the sockets of a /proc/net/{tcp,tcp6,udp,udp6} file
// to idx and returns how many lines it could not read.
func parseNetInet(b []byte, v6 bool, proto string, idx *sockIndex) (bad int) {
	return netRows(b, 10, func(f [][]byte) bool {
		local, ok1 := parseHexAddrPort(f[1], v6)
		peer, ok2 := parseHexAddrPort(f[2], v6)
		st, err1 := strconv.ParseUint(string(f[3]), 16, 8)
		ino, err2 := strconv.ParseUint(string(f[9]), 10, 64)
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			return false
		}
		si := sockInfo{typ: FDIPv4, domain: afInet, proto: proto, local: local, peer: peer}
		if v6 {
			si.typ, si.domain = FDIPv6, afInet6
		}
		si.sockType = sockStream
		if proto == "udp" {
			si.sockType = sockDgram
		}
		if proto == "tcp" && st == tcpListen {
			si.listening = true
			idx.listen[listenKey{proto, local.Port()}] = true
		}
		if ino != 0 { // time-wait and such have no inode
			idx.m[ino] = si
		}
		return true
	})
}

// netRows calls row with the fields of each line of a /proc/net table
// after its header; lines with fewer than min fields, and lines row turns
// down, count as bad.
func netRows(b []byte, min int, row func(f [][]byte) bool) (bad int) {
	first := true
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		if first { // the header
			first = false
			continue
		}
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < min || !row(f) {
			bad++
		}
	}
	return bad
}

// parseHexAddrPort reads "0100007F:0050": the address as the kernel
// prints it (each 32-bit word in host byte order, little-endian on every
// architecture vigil runs on), then the port.
func parseHexAddrPort(b []byte, v6 bool) (netip.AddrPort, bool) {
	colon := bytes.IndexByte(b, ':')
	if colon < 0 {
		return netip.AddrPort{}, false
	}
	hexAddr, hexPort := b[:colon], b[colon+1:]
	port, err := strconv.ParseUint(string(hexPort), 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	words := 1
	if v6 {
		words = 4
	}
	if len(hexAddr) != 8*words {
		return netip.AddrPort{}, false
	}
	var a [16]byte
	for w := 0; w < words; w++ {
		v, err := strconv.ParseUint(string(hexAddr[8*w:8*w+8]), 16, 32)
		if err != nil {
			return netip.AddrPort{}, false
		}
		binary.LittleEndian.PutUint32(a[4*w:], uint32(v))
	}
	if !v6 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[:4])), uint16(port)), true
	}
	return netip.AddrPortFrom(netip.AddrFrom16(a), uint16(port)), true
}

// unixListening is __SO_ACCEPTCON in the Flags column of /proc/net/unix.
const unixListening = 0x10000

// parseNetUnix adds the sockets of /proc/net/unix to idx:
// "Num RefCount Protocol Flags Type St Inode [Path]".
func parseNetUnix(b []byte, idx *sockIndex) (bad int) {
	return netRows(b, 7, func(f [][]byte) bool {
		flags, err1 := strconv.ParseUint(string(f[3]), 16, 32)
		typ, err2 := strconv.ParseUint(string(f[4]), 16, 32)
		ino, err3 := strconv.ParseUint(string(f[6]), 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return false
		}
		si := sockInfo{typ: FDUnix, domain: afUnix, sockType: uint32(typ), listening: flags&unixListening != 0}
		if len(f) > 7 {
			si.path = string(f[7])
		}
		idx.m[ino] = si
		return true
	})
}

// parseNetlink adds the sockets of /proc/net/netlink to idx:
// "sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode".
func parseNetlink(b []byte, idx *sockIndex) (bad int) {
	return netRows(b, 10, func(f [][]byte) bool {
		ino, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil {
			return false
		}
		idx.m[ino] = sockInfo{typ: FDNetlink, domain: afNetlink, sockType: sockRaw}
		return true
	})
}

// applySock fills a seeded socket fd from what its namespace's tables say.
func (idx *sockIndex) applySock(fd *FD) {
	si, ok := idx.m[fd.Ino]
	if !ok {
		return
	}
	fd.Type, fd.Proto, fd.Domain, fd.SockType, fd.Listening = si.typ, si.proto, si.domain, si.sockType, si.listening
	switch si.typ {
	case FDUnix:
		fd.Name = si.path
	case FDIPv4, FDIPv6:
		fd.LocalIP, fd.LocalPort = si.local.Addr().AsSlice(), si.local.Port()
		fd.PeerIP, fd.PeerPort = si.peer.Addr().AsSlice(), si.peer.Port()
		switch {
		case si.listening || si.peer.Port() == 0:
			fd.Name = addrPortName(si.local.Addr(), si.local.Port())
		case idx.listen[listenKey{si.proto, si.local.Port()}]:
			// Our port is one this namespace listens on: we are the
			// server end, and Falco names connections client first.
			fd.Name = tupleName(si.peer.Addr(), si.peer.Port(), si.local.Addr(), si.local.Port())
		default:
			fd.Name = tupleName(si.local.Addr(), si.local.Port(), si.peer.Addr(), si.peer.Port())
		}
	}
}

// tupleName renders a connection as Falco's fd.name does:
// "client:port->server:port", IPv6 addresses without brackets.
func tupleName(cip netip.Addr, cport uint16, sip netip.Addr, sport uint16) string {
	var buf [112]byte
	b := appendAddrPort(buf[:0], cip, cport)
	b = append(b, "->"...)
	b = appendAddrPort(b, sip, sport)
	return string(b)
}

func addrPortName(ip netip.Addr, port uint16) string {
	var buf [56]byte
	return string(appendAddrPort(buf[:0], ip, port))
}

func appendAddrPort(b []byte, ip netip.Addr, port uint16) []byte {
	if ip.IsValid() {
		b = ip.AppendTo(b)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}
