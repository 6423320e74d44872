// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/kfilter"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// The filter derived from the stable rules, applied as the probe does
// (driver.KernelFilter.Keep, with its entry marks) to a stream built here,
// changes no alert and drops events; a filter missing one of its terms
// loses alerts, so the comparison can fail. The probe is held to Keep by
// TestKernelFilterSameAlerts.
func TestKernelFilterModelSameAlerts(t *testing.T) {
	stable := "../../shared/fixtures/falco-rules/falco_rules.yaml"
	if _, err := os.Stat(stable); err != nil {
		testenv.Unavailable(t, "upstream Falco rules fixture missing (expected beside the repository in ../shared/fixtures/falco-rules): "+err.Error())
	}
	set, err := rules.LoadFiles(stable)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := kfilter.Derive(prog).Filter
	if f == nil {
		t.Fatal("no filter")
	}
	evs := modelStream(t)
	all := modelAlerts(t, prog, evs)
	kept := modelKeep(f, evs)
	if got := modelAlerts(t, prog, kept); !bytes.Equal(all, got) {
		t.Errorf("alerts differ:\nwithout the filter:\n%s\nwith it:\n%s", all, got)
	}
	t.Logf("%d events, %d kept; alerts:\n%s", len(evs), len(kept), all)
	if len(kept) >= len(evs) {
		t.Errorf("kept %d of %d events", len(kept), len(evs))
	}
	for _, r := range []string{"Read sensitive file untrusted", "Directory traversal monitored file read", "Clear Log Activities"} {
		if !bytes.Contains(all, []byte(`"`+r+`"`)) {
			t.Errorf("no %q alert in the stream: it proves less than it should", r)
		}
	}
	// The same comparison catches a filter that drops what a rule reads,
	// and one without the entry marks.
	var unmarked []*driver.Event
	for _, e := range evs {
		if f.Keep(e, false) {
			unmarked = append(unmarked, e)
		}
	}
	if got := modelAlerts(t, prog, unmarked); bytes.Equal(all, got) {
		t.Error("a filter without entry marks changes no alert: the stream lacks the traversal whose path changed")
	}
	broken := *f
	broken.OpenTerms = slices.DeleteFunc(slices.Clone(f.OpenTerms), func(t driver.OpenTerm) bool { return t.Prefix == "/etc/shadow" })
	if got := modelAlerts(t, prog, modelKeep(&broken, evs)); bytes.Equal(all, got) {
		t.Error("a filter without the /etc/shadow term changes no alert: the comparison proves nothing")
	}
}

// modelStream is a host's activity: cat reading /etc/shadow and, from
// /usr/share, ../../etc/passwd (and a file that is not there) through
// relative paths, a shell truncating a log, and what surrounds them:
// libraries and /proc read, files written, unix and netlink sockets, a
// connect to a unix socket and one to a public address.
func modelStream(t *testing.T) []*driver.Event {
	var out []*driver.Event
	var b driver.Builder
	ts := uint64(1_000_000)
	emit := func(typ driver.EventType, tid uint32, build func(*driver.Builder)) {
		t.Helper()
		ts += 1000
		b.Begin(nil, typ, ts, tid, tid)
		build(&b)
		var e driver.Event
		if err := e.Decode(b.End()); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		out = append(out, e.Copy())
	}
	exec := func(pid, ppid uint32, exe, args, cwd, comm string) {
		emit(driver.EvProcFork, ppid, func(b *driver.Builder) { b.Int(int64(pid)).Int(int64(pid)).Int(int64(ppid)).Str("parent") })
		emit(driver.EvExecve, pid, func(b *driver.Builder) {
			b.Int(0).Str(exe).Raw([]byte(args)).Str(cwd).Str(comm)
			b.Int(int64(ppid)).Int(int64(pid)).Int(int64(pid)).Int(0).Int(0)
			b.Int(0).Int(0).Int(0).Int(0).Int(-1).Int(0).Str("/").Int(0).Int(0)
			b.Int(0).Int(0).Int(0)
		})
	}
	openat := func(tid uint32, raw, exit string, flags, res int64) {
		emit(driver.EvOpenatE, tid, func(b *driver.Builder) { b.Int(unix.AT_FDCWD).Str(raw).Int(flags).Int(0) })
		emit(driver.EvOpenat, tid, func(b *driver.Builder) {
			b.Int(res).Int(unix.AT_FDCWD).Str(exit).Int(flags).Int(0).Int(0).Int(0)
		})
	}
	closeFD := func(tid uint32, fd int64) {
		emit(driver.EvClose, tid, func(b *driver.Builder) { b.Int(0).Int(fd) })
	}
	noise := func(tid uint32) {
		for _, p := range []string{"/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/locale/locale-archive", "/proc/self/status", "/etc/passwd"} {
			openat(tid, p, p, unix.O_RDONLY|unix.O_CLOEXEC, 3)
			closeFD(tid, 3)
		}
		openat(tid, "/etc/nope.conf", "/etc/nope.conf", unix.O_RDONLY, -int64(unix.ENOENT))
		openat(tid, "out.txt", "/srv/work/out.txt", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 3)
		closeFD(tid, 3)
		for _, dom := range []int64{unix.AF_UNIX, unix.AF_NETLINK} {
			emit(driver.EvSocket, tid, func(b *driver.Builder) { b.Int(4).Int(dom).Int(unix.SOCK_STREAM).Int(0) })
			closeFD(tid, 4)
		}
	}
	unixTuple := append([]byte{unix.AF_UNIX}, "/run/dbus/system_bus_socket\x00"...)
	inetTuple := func(dst [4]byte, dport uint16) []byte {
		p := []byte{unix.AF_INET, 10, 0, 0, 5, 0, 0}
		binary.LittleEndian.PutUint16(p[5:], 40000)
		p = append(p, dst[:]...)
		return binary.LittleEndian.AppendUint16(p, dport)
	}

	exec(100, 1, "/usr/bin/cat", "cat\x00/etc/shadow\x00", "/root", "cat")
	noise(100)
	openat(100, "/etc/shadow", "/etc/shadow", unix.O_RDONLY, 3)
	closeFD(100, 3)
	exec(101, 1, "/usr/bin/cat", "cat\x00../../etc/passwd\x00", "/usr/share", "cat")
	noise(101)
	openat(101, "../../etc/passwd", "/usr/share/../../etc/passwd", unix.O_RDONLY, 3)
	closeFD(101, 3)
	openat(101, "../../etc/absent", "/usr/share/../../etc/absent", unix.O_RDONLY, -int64(unix.ENOENT))
	// The path changed in user memory between entry and exit: the rule
	// reads the entry's, the exit's is plain and matches no term. The
	// entry mark keeps it.
	exec(103, 1, "/usr/bin/cat", "cat\x00../../etc/passwd\x00", "/usr/share", "cat")
	openat(103, "../../etc/passwd", "/etc/passwd", unix.O_RDONLY, 3)
	closeFD(103, 3)
	exec(102, 1, "/usr/bin/dash", "sh\x00-c\x00echo x > /var/log/app.log\x00", "/", "sh")
	noise(102)
	openat(102, "/var/log/app.log", "/var/log/app.log", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 3)
	closeFD(102, 3)
	emit(driver.EvSocket, 102, func(b *driver.Builder) { b.Int(5).Int(unix.AF_UNIX).Int(unix.SOCK_STREAM).Int(0) })
	emit(driver.EvConnect, 102, func(b *driver.Builder) { b.Int(0).Int(5).Raw(unixTuple) })
	emit(driver.EvSocket, 102, func(b *driver.Builder) { b.Int(6).Int(unix.AF_INET).Int(unix.SOCK_STREAM).Int(0) })
	emit(driver.EvConnect, 102, func(b *driver.Builder) { b.Int(0).Int(6).Raw(inetTuple([4]byte{93, 184, 216, 34}, 443)) })
	return out
}

func modelAlerts(t *testing.T, prog *eval.Program, evs []*driver.Event) []byte {
	var out bytes.Buffer
	eng, err := New(Config{Program: prog, Hostname: "model", Emit: func(a *output.Alert) {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(b, '\n'))
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		eng.Process(e)
	}
	return out.Bytes()
}
