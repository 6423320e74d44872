// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"bytes"
	"os"
	"testing"
)

// The /proc and passwd parsers meet whatever a kernel, a container image
// or a racing exit leaves in a file: they must return an error or a value,
// never panic. Seeds are real files of this machine plus edge cases.

func addFile(f *testing.F, path string) {
	if b, err := os.ReadFile(path); err == nil {
		f.Add(b)
	}
}

func FuzzParseProcStat(f *testing.F) {
	addFile(f, "/proc/self/stat")
	addFile(f, "/proc/1/stat")
	f.Add([]byte("1 (a) (b) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 100\n"))
	f.Add([]byte(")("))
	f.Add([]byte("1 (x) S -1 -1 -1 -2147483648"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseProcStat(b)
		if err == nil && !bytes.Contains(b, []byte(st.Comm)) {
			t.Errorf("comm %q is not in the input", st.Comm)
		}
	})
}

func FuzzParseProcStatus(f *testing.F) {
	addFile(f, "/proc/self/status")
	f.Add([]byte("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nNSpid:\t\n"))
	f.Add([]byte("Uid:\n:\n::\nCapEff:\tffffffffffffffffff\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := parseProcStatus(b); err == nil && (!s.HaveUID || !s.HaveGID) {
			t.Error("accepted a status without ids")
		}
	})
}

func FuzzParseCmdline(f *testing.F) {
	addFile(f, "/proc/self/cmdline")
	f.Add([]byte("a\x00\x00b"))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		argv := parseCmdline(b)
		// Joining argv back gives the input less its one trailing NUL.
		want := bytes.TrimSuffix(b, []byte{0})
		if got := bytes.Join(byteSlices(argv), []byte{0}); !bytes.Equal(got, want) {
			t.Errorf("argv %q does not join back to %q", argv, want)
		}
	})
}

func byteSlices(s []string) [][]byte {
	out := make([][]byte, len(s))
	for i := range s {
		out[i] = []byte(s[i])
	}
	return out
}

func FuzzParseCgroup(f *testing.F) {
	addFile(f, "/proc/self/cgroup")
	f.Add([]byte("0::/\n12:memory:/docker/" + string(bytes.Repeat([]byte("a"), 64)) + "\n"))
	f.Add([]byte("::\n:\n0:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if cg, err := parseCgroup(b); err == nil && !bytes.Contains(b, []byte(cg)) {
			t.Errorf("cgroup %q is not in the input", cg)
		}
	})
}

func FuzzParseSmallFiles(f *testing.F) {
	for _, path := range []string{"/proc/self/loginuid", "/proc/self/fdinfo/0"} {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b, "/dev/null")
		}
	}
	f.Add([]byte("flags:\t02000002\n"), "socket:[1]")
	f.Add([]byte("flags: 9\n"), "anon_inode:")
	f.Add([]byte("4294967296"), "/memfd:")
	f.Fuzz(func(t *testing.T, b []byte, link string) {
		_, _ = parseLoginUID(b)
		_, _ = parseFDInfoFlags(b)
		fd, isPath := fdFromLink(link)
		if isPath && fd.Type != FDFile {
			t.Errorf("path link %q typed %d", link, fd.Type)
		}
	})
}

func FuzzParseNet(f *testing.F) {
	addFile(f, "/proc/self/net/tcp")
	addFile(f, "/proc/self/net/tcp6")
	addFile(f, "/proc/self/net/unix")
	addFile(f, "/proc/self/net/netlink")
	f.Add([]byte("h\n 0: 0100007F:zz 0:0 0A a b c d e 5\n 1: : : : : : : : : :\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx := newSockIndex()
		parseNetInet(b, false, "tcp", idx)
		parseNetInet(b, true, "udp", idx)
		parseNetUnix(b, idx)
		parseNetlink(b, idx)
		for ino := range idx.m {
			fd := FD{Ino: ino}
			idx.applySock(&fd)
		}
	})
}

func FuzzParsePasswd(f *testing.F) {
	addFile(f, "/etc/passwd")
	f.Add([]byte(passwdText))
	f.Add([]byte("a:b:4294967296:0:::\n::::::\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, bad := parsePasswd(b)
		if bad < 0 || len(m)+bad > bytes.Count(b, []byte{'\n'})+1 {
			t.Errorf("%d users and %d bad lines from %d lines", len(m), bad, bytes.Count(b, []byte{'\n'})+1)
		}
		for uid, u := range m {
			if u.UID != uid || u.Name == "" {
				t.Errorf("user %d = %+v", uid, u)
			}
		}
	})
}

func FuzzParseGroup(f *testing.F) {
	addFile(f, "/etc/group")
	f.Add([]byte(groupText))
	f.Add([]byte("g:x:1\n:::\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := parseGroup(b)
		for gid, g := range m {
			if g.GID != gid || g.Name == "" {
				t.Errorf("group %d = %+v", gid, g)
			}
		}
	})
}
