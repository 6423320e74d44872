// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"os"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/driver"
	"golang.org/x/sys/unix"
)

// seeder reads processes from the table's /proc. One seeder lives for one
// Seed or one miss, so that a network namespace's socket tables are read
// once however many of its processes have sockets.
type seeder struct {
	t    *Threads
	nets map[string]*sockIndex // by the ns/net link, "net:[4026531840]"
}

// readProcess reads process pid, or returns nil when /proc has no such
// process. Anything but stat is best effort: a process we may not look
// into (not root) or that exits half way still gets what could be read.
func (s *seeder) readProcess(pid uint32) *Process {
	dir := s.t.pidDir(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil
	}
	st, err := parseProcStat(b)
	if err != nil {
		s.t.stats.ProcMalformed++
		return nil
	}
	p := &Process{
		PID: pid, PPID: uint32(st.PPID), SID: st.SID, PGID: st.PGRP, TTY: st.TTY,
		Comm: st.Comm, VPID: int64(pid), LoginUID: 0xffffffff,
	}
	if st.HaveStart {
		p.StartTS = st.StartTicks * nsPerTick
	}
	if b, err := os.ReadFile(dir + "/status"); err == nil {
		if ss, err := parseProcStatus(b); err == nil {
			p.UID, p.EUID, p.SUID = ss.UID[0], ss.UID[1], ss.UID[2]
			p.GID, p.EGID, p.SGID = ss.GID[0], ss.GID[1], ss.GID[2]
			p.CapInheritable, p.CapPermitted, p.CapEffective = ss.CapInh, ss.CapPrm, ss.CapEff
			if ss.VPID != 0 {
				p.VPID = ss.VPID
			}
		} else {
			s.t.stats.ProcMalformed++
		}
	}
	if b, err := os.ReadFile(dir + "/comm"); err == nil && len(b) > 0 {
		p.Comm = strings.TrimSuffix(string(b), "\n")
	}
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
		if argv := parseCmdline(b); len(argv) > 0 {
			p.Exe, p.Args = argv[0], argv[1:]
		}
	}
	if link, err := os.Readlink(dir + "/exe"); err == nil {
		p.ExePath = strings.TrimSuffix(link, " (deleted)")
		if strings.HasPrefix(p.ExePath, "/memfd:") {
			p.ExeFlags |= driver.ExeMemfd
		}
		var st unix.Stat_t
		if unix.Stat(dir+"/exe", &st) == nil {
			p.ExeIno = st.Ino
		}
	}
	if link, err := os.Readlink(dir + "/cwd"); err == nil {
		p.Cwd = strings.TrimSuffix(link, " (deleted)")
	}
	if b, err := os.ReadFile(dir + "/loginuid"); err == nil {
		if v, err := parseLoginUID(b); err == nil {
			p.LoginUID = v
		}
	}
	if b, err := os.ReadFile(dir + "/cgroup"); err == nil {
		if cg, err := parseCgroup(b); err == nil {
			p.Cgroup = cg
			p.ContainerID = s.t.containerOf(cg)
		}
	}
	p.FDs = s.readFDs(dir)
	return p
}

// readThread reads thread tid of p, or returns nil when it is gone.
func (s *seeder) readThread(tid uint32, p *Process) *Thread {
	dir := s.t.pidDir(p.PID) + "/task/" + strconv.FormatUint(uint64(tid), 10)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil
	}
	st, err := parseProcStat(b)
	if err != nil {
		s.t.stats.ProcMalformed++
		return nil
	}
	th := &Thread{TID: tid, PID: p.PID, PPID: p.PPID, Comm: st.Comm, Proc: p}
	switch {
	case tid == p.PID:
		th.VTID = p.VPID
	case p.VPID == int64(p.PID):
		th.VTID = int64(tid) // not in a pid namespace of its own
	default:
		if b, err := os.ReadFile(dir + "/status"); err == nil {
			if ss, err := parseProcStatus(b); err == nil {
				th.VTID = ss.VTID
			}
		}
	}
	return th
}

// readFDs reads the fd table of the process at dir (/proc/<pid>).
func (s *seeder) readFDs(dir string) *FDTable {
	tab := NewFDTable()
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return tab
	}
	var idx *sockIndex
	for _, d := range ents {
		name := d.Name()
		num, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		link, err := os.Readlink(dir + "/fd/" + name)
		if err != nil {
			continue // closed while we read
		}
		fd, isPath := fdFromLink(link)
		fd.Num = num
		if b, err := os.ReadFile(dir + "/fdinfo/" + name); err == nil {
			fd.Flags, _ = parseFDInfoFlags(b)
		}
		if isPath {
			// stat follows the link to the open file itself.
			var st unix.Stat_t
			if unix.Stat(dir+"/fd/"+name, &st) == nil {
				fd.Dev, fd.Ino = devFromStat(st.Dev), st.Ino
				if st.Mode&unix.S_IFMT == unix.S_IFDIR {
					fd.Type = FDDirectory
				}
			}
		}
		if strings.HasPrefix(link, "socket:[") {
			if idx == nil {
				idx = s.netIndex(dir)
			}
			idx.applySock(&fd)
		}
		tab.Set(&fd)
	}
	return tab
}

// netIndex returns the socket tables of the network namespace of the
// process at dir, read once per namespace per seeder.
func (s *seeder) netIndex(dir string) *sockIndex {
	key, err := os.Readlink(dir + "/ns/net")
	if err == nil && s.nets != nil {
		if idx := s.nets[key]; idx != nil {
			return idx
		}
	}
	idx := newSockIndex()
	read := func(name string, parse func([]byte) int) {
		if b, err := os.ReadFile(dir + "/net/" + name); err == nil {
			s.t.stats.ProcMalformed += uint64(parse(b))
		}
	}
	read("tcp", func(b []byte) int { return parseNetInet(b, false, "tcp", idx) })
	read("tcp6", func(b []byte) int { return parseNetInet(b, true, "tcp", idx) })
	read("udp", func(b []byte) int { return parseNetInet(b, false, "udp", idx) })
	read("udp6", func(b []byte) int { return parseNetInet(b, true, "udp", idx) })
	read("unix", func(b []byte) int { return parseNetUnix(b, idx) })
	read("netlink", func(b []byte) int { return parseNetlink(b, idx) })
	if err == nil && s.nets != nil {
		s.nets[key] = idx
	}
	return idx
}
