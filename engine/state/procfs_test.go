// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseProcStat(t *testing.T) {
	// A comm with spaces and parentheses; tty 136,2 is /dev/pts/2.
	line := "4242 (a) (b c) S 1 4242 4200 34818 4242 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 100 1 18446744073709551615\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.Comm != "a) (b c" || st.PPID != 1 || st.PGRP != 4242 || st.SID != 4200 || st.StartTicks != 123456 || !st.HaveStart {
		t.Errorf("stat = %+v", st)
	}
	if want := uint32(136<<20 | 2); st.TTY != want {
		t.Errorf("tty = %#x, want %#x (major 136 minor 2, kernel layout)", st.TTY, want)
	}
	for _, bad := range []string{"", "1 comm S 1", "1 (x) S", "1 (x) S one 2 3", "1 (x) S 1 2 nope"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) took junk", bad)
		}
	}
}

func TestTTYEncoding(t *testing.T) {
	// Large minors spill into bits 20-31 of the user-space encoding.
	for _, c := range []struct{ major, minor uint32 }{{136, 2}, {4, 1}, {136, 300}, {0, 0}} {
		nr := unix.Mkdev(c.major, c.minor)
		if got, want := ttyFromProc(uint32(nr)), c.major<<20|c.minor; got != want {
			t.Errorf("tty %d:%d: %#x, want %#x", c.major, c.minor, got, want)
		}
		if got, want := devFromStat(nr), c.major<<20|c.minor; got != want {
			t.Errorf("dev %d:%d: %#x, want %#x", c.major, c.minor, got, want)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	text := "Name:\tx\nUid:\t1000\t1001\t1002\t1003\nGid:\t50\t51\t52\t53\nNStgid:\t9000\t7\nNSpid:\t9001\t8\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000000400\n"
	s, err := parseProcStatus([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if s.UID != [4]uint32{1000, 1001, 1002, 1003} || s.GID != [4]uint32{50, 51, 52, 53} ||
		s.VPID != 7 || s.VTID != 8 || s.CapPrm != 0x1ffffffffff || s.CapEff != 0x400 {
		t.Errorf("status = %+v", s)
	}
	for _, bad := range []string{"", "Name:\tx\n", "Uid:\t1\t2\nGid:\t1\t2\t3\t4\n", "Uid:\t1 2 3 4\nGid:\t1 2 3 4\nCapEff:\tzz\n"} {
		if _, err := parseProcStatus([]byte(bad)); err == nil {
			t.Errorf("parseProcStatus(%q) took junk", bad)
		}
	}
	// The real thing, for this process.
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	s, err = parseProcStatus(b)
	if err != nil || s.UID[0] != uint32(os.Getuid()) || s.VPID != int64(os.Getpid()) {
		t.Errorf("own status = %+v, %v", s, err)
	}
}

func TestParseCmdline(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"ls\x00-l\x00/tmp\x00", []string{"ls", "-l", "/tmp"}},
		{"a\x00\x00b\x00", []string{"a", "", "b"}}, // an empty argument survives
		{"nginx: master process /etc/nginx.conf", []string{"nginx: master process /etc/nginx.conf"}},
		{"", nil},
		{"\x00", nil},
	} {
		if got := parseCmdline([]byte(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("parseCmdline(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseCgroup(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct{ in, want string }{
		{"0::/system.slice/docker-" + id + ".scope\n", "/system.slice/docker-" + id + ".scope"},
		{"0::/user.slice/user-1000.slice/session-1.scope\n", "/user.slice/user-1000.slice/session-1.scope"},
		// Hybrid with docker's cgroupfs driver: the v1 path names the container.
		{"12:memory:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n0::/\n", "/docker/" + id},
		// v1 only, no container: the first line's path.
		{"4:memory:/user.slice\n1:name=systemd:/user.slice/x\n", "/user.slice"},
		// A path with a colon.
		{"0::/a:b\n", "/a:b"},
	} {
		got, err := parseCgroup([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("parseCgroup(%q) = %q %v, want %q", c.in, got, err, c.want)
		}
	}
	if _, err := parseCgroup([]byte("junk\n")); err == nil {
		t.Error("junk cgroup file accepted")
	}
}

func TestFDFromLink(t *testing.T) {
	for _, c := range []struct {
		link   string
		typ    FDType
		name   string
		ino    uint64
		isPath bool
	}{
		{"/etc/passwd", FDFile, "/etc/passwd", 0, true},
		{"/tmp/gone (deleted)", FDFile, "/tmp/gone", 0, true},
		{"socket:[12345]", FDUnknown, "", 12345, false},
		{"pipe:[99]", FDPipe, "", 99, false},
		{"anon_inode:[eventpoll]", FDEventPoll, "anon_inode:[eventpoll]", 0, false},
		{"anon_inode:[eventfd]", FDEvent, "anon_inode:[eventfd]", 0, false},
		{"anon_inode:inotify", FDInotify, "anon_inode:inotify", 0, false},
		{"anon_inode:[timerfd]", FDTimerFD, "anon_inode:[timerfd]", 0, false},
		{"anon_inode:[signalfd]", FDSignalFD, "anon_inode:[signalfd]", 0, false},
		{"anon_inode:bpf-map", FDBPF, "anon_inode:bpf-map", 0, false},
		{"/memfd:payload (deleted)", FDMemfd, "memfd:payload", 0, false},
	} {
		fd, isPath := fdFromLink(c.link)
		if fd.Type != c.typ || fd.Name != c.name || fd.Ino != c.ino || isPath != c.isPath {
			t.Errorf("fdFromLink(%q) = %+v %v", c.link, fd, isPath)
		}
	}
}

func TestParseNetTables(t *testing.T) {
	idx := newSockIndex()
	tcp := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n" +
		"   1: 0100007F:1F90 0200007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 112 1 0 100 0 0 10 0\n" +
		"   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 113 1 0 100 0 0 10 0\n" +
		"   3: garbage\n"
	if bad := parseNetInet([]byte(tcp), false, "tcp", idx); bad != 1 {
		t.Errorf("bad lines = %d, want 1", bad)
	}
	tcp6 := "header\n   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 211 1\n"
	if bad := parseNetInet([]byte(tcp6), true, "tcp", idx); bad != 0 {
		t.Errorf("tcp6 bad lines = %d", bad)
	}
	unixText := "Num RefCount Protocol Flags    Type St Inode Path\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 311 /run/x.sock\n" +
		"0000000000000000: 00000003 00000000 00000000 0001 03 312\n"
	if bad := parseNetUnix([]byte(unixText), idx); bad != 0 {
		t.Errorf("unix bad lines = %d", bad)
	}
	nl := "sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode\n0000000000000000 0 0 00000000 0 0 0 2 0 411\n"
	if bad := parseNetlink([]byte(nl), idx); bad != 0 {
		t.Errorf("netlink bad lines = %d", bad)
	}
	for _, c := range []struct {
		ino             uint64
		typ             FDType
		name            string
		listening       bool
		lport, peerPort uint16
	}{
		{111, FDIPv4, "127.0.0.1:8080", true, 8080, 0},
		{112, FDIPv4, "127.0.0.2:54321->127.0.0.1:8080", false, 8080, 54321}, // server end: client first
		{113, FDIPv4, "127.0.0.1:54321->127.0.0.1:8080", false, 54321, 8080},
		{211, FDIPv6, "::1:80", true, 80, 0},
		{311, FDUnix, "/run/x.sock", true, 0, 0},
		{312, FDUnix, "", false, 0, 0},
		{411, FDNetlink, "", false, 0, 0},
	} {
		fd := FD{Ino: c.ino}
		idx.applySock(&fd)
		if fd.Type != c.typ || fd.Name != c.name || fd.Listening != c.listening || fd.LocalPort != c.lport || fd.PeerPort != c.peerPort {
			t.Errorf("socket %d = %+v", c.ino, fd)
		}
	}
}
