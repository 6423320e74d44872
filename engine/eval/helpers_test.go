// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/engine/state"
)

// world is a hand-built state: processes by pid, users, containers.
type world struct {
	procs      map[uint32]*state.Process
	users      map[uint32]state.User
	groups     map[uint32]state.Group
	containers map[string]*container.Info
	tab        *driver.SyscallTable
	ctx        fields.Ctx
	ev         driver.Event
	buf        []byte
	b          driver.Builder
}

func newWorld(t testing.TB) *world {
	tab, err := driver.NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		procs:      map[uint32]*state.Process{},
		users:      map[uint32]state.User{0: {UID: 0, Name: "root", Home: "/root", Shell: "/bin/bash"}, 1000: {UID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/zsh"}},
		groups:     map[uint32]state.Group{0: {GID: 0, Name: "root"}, 1000: {GID: 1000, Name: "alice"}},
		containers: map[string]*container.Info{},
		tab:        tab,
	}
	// init -> sshd -> bash: a host login session.
	w.proc(&state.Process{PID: 1, Comm: "systemd", Exe: "/sbin/init", ExePath: "/usr/lib/systemd/systemd", VPID: 1})
	w.proc(&state.Process{PID: 100, PPID: 1, Comm: "sshd", Exe: "/usr/sbin/sshd", ExePath: "/usr/sbin/sshd", Args: []string{"-D"}, VPID: 100, LoginUID: 0xffffffff})
	w.proc(&state.Process{PID: 200, PPID: 100, Comm: "bash", Exe: "-bash", ExePath: "/usr/bin/bash", VPID: 200, SID: 200, PGID: 200,
		UID: 1000, EUID: 1000, GID: 1000, EGID: 1000, LoginUID: 1000, TTY: 34816, Cwd: "/home/alice"})
	return w
}

func (w *world) User(uid uint32) (state.User, bool)   { u, ok := w.users[uid]; return u, ok }
func (w *world) Group(gid uint32) (state.Group, bool) { g, ok := w.groups[gid]; return g, ok }

// proc adds p (with an empty fd table unless it has one).
func (w *world) proc(p *state.Process) *state.Process {
	if p.FDs == nil {
		p.FDs = state.NewFDTable()
	}
	if p.LoginUID == 0 && p.UID != 0 {
		p.LoginUID = p.UID
	}
	w.procs[p.PID] = p
	return p
}

// child forks and execs a process under parent, as execve leaves it.
func (w *world) child(parent uint32, pid uint32, comm, exe string, args ...string) *state.Process {
	pp := w.procs[parent]
	p := *pp
	p.PID, p.PPID, p.VPID = pid, parent, int64(pid)
	p.Comm, p.Exe, p.ExePath, p.Args = comm, exe, exe, args
	p.FDs = nil
	if pp.ContainerID != "" {
		p.VPID = int64(pid - 1000)
	}
	return w.proc(&p)
}

// event builds an event with Builder; params: int/int64/uint32/uint64 are
// integers, string a string, []string argv, []byte raw bytes, nil absent.
func (w *world) event(t testing.TB, typ driver.EventType, pid uint32, params ...any) *fields.Ctx {
	t.Helper()
	w.b.Begin(w.buf[:0], typ, 5_000_000_000_000, pid, pid)
	for _, p := range params {
		switch v := p.(type) {
		case int:
			w.b.Int(int64(v))
		case int64:
			w.b.Int(v)
		case uint32:
			w.b.Int(int64(v))
		case uint64:
			w.b.Int(int64(v))
		case string:
			w.b.Str(v)
		case []string:
			w.b.Raw([]byte(strings.Join(v, "\x00") + "\x00"))
		case []byte:
			w.b.Raw(v)
		case nil:
			w.b.Raw(nil)
		default:
			t.Fatalf("event param %T", p)
		}
	}
	w.buf = w.b.End()
	if err := w.ev.Decode(w.buf); err != nil {
		t.Fatalf("decode %s: %v", typ, err)
	}
	w.ev.CPU = 1
	c := &w.ctx
	*c = fields.Ctx{Event: &w.ev, Users: w, Syscalls: w.tab, Clock: driver.ClockWithOffset(1_700_000_000_000_000_000), Hostname: "testhost", Num: 42,
		Parent: func(p *state.Process) *state.Process { return w.procs[p.PPID] }}
	if p := w.procs[pid]; p != nil {
		c.Thread = &state.Thread{TID: pid, PID: pid, PPID: p.PPID, Comm: p.Comm, VTID: p.VPID, Proc: p}
		if p.ContainerID != "" {
			c.Container = w.containers[p.ContainerID]
		}
	}
	return c
}

// execve is the exit event of a successful execve by p, as the state
// table then holds it.
func (w *world) execve(t testing.TB, p *state.Process) *fields.Ctx {
	argv := append([]string{p.Exe}, p.Args...)
	return w.event(t, driver.EvExecve, p.PID, 0, p.ExePath, argv, p.Cwd, p.Comm, int(p.PPID), p.VPID, p.VPID, p.SID, p.PGID,
		p.UID, p.GID, p.EUID, p.EGID, p.LoginUID, p.TTY, p.Cgroup, p.CapInheritable, p.CapPermitted, p.CapEffective, p.ExeFlags, p.ExeIno)
}

// openat is the exit event of openat(AT_FDCWD, path, flags) returning res;
// a successful open is also put in the fd table, as the state update does.
func (w *world) openat(t testing.TB, pid uint32, res int, path string, flags int) *fields.Ctx {
	if res >= 0 {
		w.procs[pid].FDs.Set(&state.FD{Num: int64(res), Type: state.FDFile, Name: path, Flags: uint32(flags)})
	}
	return w.event(t, driver.EvOpenat, pid, res, unix.AT_FDCWD, path, flags, 0, 0, 0)
}

// tuple encodes a PTSockTuple (local end first).
func tuple(src, dst string) []byte {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	b := []byte{unix.AF_INET}
	a := s.Addr().As4()
	b = append(b, a[:]...)
	b = append(b, byte(s.Port()), byte(s.Port()>>8))
	a = d.Addr().As4()
	b = append(b, a[:]...)
	return append(b, byte(d.Port()), byte(d.Port()>>8))
}

// inContainer moves p into a container with Ready metadata.
func (w *world) inContainer(p *state.Process, id string, info *container.Info) {
	p.ContainerID = id
	if info != nil {
		w.containers[id] = info
	}
}

// compileRule compiles a one-rule file with the given condition and
// output.
func compileRule(t testing.TB, cond, out string, opts Options) (*Program, error) {
	t.Helper()
	y := fmt.Sprintf("- rule: test rule\n  desc: d\n  condition: |-\n    %s\n  output: %q\n  priority: WARNING\n  tags: [a, b]\n",
		strings.ReplaceAll(cond, "\n", "\n    "), out)
	set, err := rules.Load("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("load %q: %v", cond, err)
	}
	return Compile(set, opts)
}

func mustCompile(t testing.TB, cond, out string) *Program {
	t.Helper()
	p, err := compileRule(t, cond, out, Options{})
	if err != nil {
		t.Fatalf("compile %q: %v", cond, err)
	}
	return p
}

// alerts runs p on c and returns the alerts.
func alerts(p *Program, c *fields.Ctx) []*output.Alert {
	var out []*output.Alert
	p.Eval(c, func(a *output.Alert) { out = append(out, a) })
	return out
}
