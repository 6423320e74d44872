// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/state"
)

// eventMix is a realistic mix of events none of the upstream rules fires
// on: execs on the host and in a container, file opens (reads, writes,
// failures), connects, sockets, dup2, ptrace peeks, generic syscalls.
func eventMix(t testing.TB) []*fields.Ctx {
	w, runc := containerWorld(t)
	keep := func(c *fields.Ctx) *fields.Ctx {
		cp := *c
		cp.Event = c.Event.Copy()
		th := *c.Thread
		cp.Thread = &th
		return &cp
	}
	var out []*fields.Ctx
	ls := w.child(200, 300, "ls", "/usr/bin/ls", "-la", "/home/alice")
	out = append(out, keep(w.execve(t, ls)))
	py := w.child(runc.PID, 1001, "python3", "/usr/bin/python3", "app.py")
	out = append(out, keep(w.execve(t, py)))
	sh := w.child(runc.PID, 1002, "sh", "/bin/sh", "-c", "echo hi")
	sh.TTY = 0
	out = append(out, keep(w.execve(t, sh)))
	out = append(out, keep(w.openat(t, 300, 3, "/etc/ld.so.cache", unix.O_RDONLY|unix.O_CLOEXEC)))
	out = append(out, keep(w.openat(t, 300, 4, "/usr/lib/x86_64-linux-gnu/libc.so.6", unix.O_RDONLY|unix.O_CLOEXEC)))
	out = append(out, keep(w.openat(t, 1001, 5, "/app/data/out.log", unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND)))
	out = append(out, keep(w.openat(t, 300, -int(unix.ENOENT), "/home/alice/.config/missing", unix.O_RDONLY)))
	out = append(out, keep(w.openat(t, 1001, 6, "/etc/passwd", unix.O_RDONLY)))
	w.procs[1001].FDs.Set(&state.FD{Num: 7, Type: state.FDIPv4, Proto: "tcp", Name: "172.17.0.2:50000->10.96.0.1:443",
		LocalIP: []byte{172, 17, 0, 2}, LocalPort: 50000, PeerIP: []byte{10, 96, 0, 1}, PeerPort: 443})
	out = append(out, keep(w.event(t, driver.EvConnect, 1001, 0, 7, tuple("172.17.0.2:50000", "10.96.0.1:443"))))
	out = append(out, keep(w.event(t, driver.EvSocket, 1001, 8, unix.AF_INET, unix.SOCK_STREAM, 0)))
	out = append(out, keep(w.event(t, driver.EvDup2, 1001, 1, 5, 1)))
	out = append(out, keep(w.event(t, driver.EvPtrace, 300, 0, unix.PTRACE_PEEKDATA, 200)))
	nr, _ := w.tab.Nr("getppid")
	out = append(out, keep(w.event(t, driver.EvGeneric, 300, 200, int(nr))))
	nr, _ = w.tab.Nr("sendto")
	out = append(out, keep(w.event(t, driver.EvGeneric, 1001, 100, int(nr))))
	out = append(out, keep(w.event(t, driver.EvClose, 300, 0, 3)))
	return out
}

// TestEvalAllocatesNothing: no rule matches, nothing is allocated.
func TestEvalAllocatesNothing(t *testing.T) {
	p := compileUpstream(t)
	mix := eventMix(t)
	emit := func(a *output.Alert) { t.Errorf("unexpected alert %s: %s", a.Rule, a.Output) }
	for _, c := range mix {
		p.Eval(c, emit)
	}
	allocs := testing.AllocsPerRun(200, func() {
		for _, c := range mix {
			p.Eval(c, emit)
		}
	})
	if allocs != 0 {
		t.Errorf("Eval allocated %.1f times per %d events", allocs, len(mix))
	}
}

func BenchmarkEval(b *testing.B) {
	p := compileUpstream(b)
	mix := eventMix(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		p.Eval(mix[i%len(mix)], nil)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
