// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/state"
)

// replay runs events through a real state table, as the engine does, so
// that what fields read comes from the state code and not from a
// hand-built Process.
type replay struct {
	tab *state.Threads
	b   driver.Builder
	ev  driver.Event
	ctx fields.Ctx
	ts  uint64
}

func newReplay() *replay {
	r := &replay{tab: state.NewThreads(""), ts: 1_000}
	r.ctx.Parent = r.tab.Parent
	return r
}

// event applies one event of thread tid (a process leader) and returns
// the Ctx the rules would see for it. Integers are sized by the schema;
// string is a string, []string argv, []byte raw bytes (sockaddrs,
// tuples), nil an absent parameter.
func (r *replay) event(t testing.TB, typ driver.EventType, tid uint32, params ...any) *fields.Ctx {
	t.Helper()
	if n := len(typ.Info().Params); n != len(params) {
		t.Fatalf("%s takes %d parameters, test gave %d", typ, n, len(params))
	}
	r.ts += 1000
	r.b.Begin(nil, typ, r.ts, tid, tid)
	for _, p := range params {
		switch v := p.(type) {
		case int:
			r.b.Int(int64(v))
		case uint32:
			r.b.Int(int64(v))
		case uint64:
			r.b.Int(int64(v))
		case string:
			r.b.Str(v)
		case []string:
			r.b.Raw([]byte(strings.Join(v, "\x00") + "\x00"))
		case []byte:
			r.b.Raw(v)
		case nil:
			r.b.Raw(nil)
		default:
			t.Fatalf("event param %T", p)
		}
	}
	if err := r.ev.Decode(r.b.End()); err != nil {
		t.Fatalf("decode %s: %v", typ, err)
	}
	r.ctx.Event = &r.ev
	r.ctx.Thread = r.tab.Update(&r.ev)
	return &r.ctx
}

// spawn forks pid from parent and execs exe with argv, as uid.
func (r *replay) spawn(t testing.TB, parent, pid uint32, exe string, argv []string, cwd string, uid uint32) *fields.Ctx {
	t.Helper()
	comm := exe[strings.LastIndexByte(exe, '/')+1:]
	r.event(t, driver.EvProcFork, parent, int(pid), int(pid), int(parent), comm)
	vals := map[string]any{"res": 0, "exe": exe, "args": argv, "cwd": cwd, "comm": comm, "ppid": int(parent),
		"vpid": int(pid), "vtid": int(pid), "uid": uid, "euid": uid, "gid": uid, "egid": uid, "loginuid": uid, "cgroup": "/"}
	params := make([]any, len(driver.EvExecve.Info().Params))
	for i, p := range driver.EvExecve.Info().Params {
		if v, ok := vals[p.Name]; ok {
			params[i] = v
		} else {
			params[i] = 0
		}
	}
	return r.event(t, driver.EvExecve, pid, params...)
}

// sockaddr encodes a PTSockAddr of AF_INET (family, address, port).
func sockaddr(t testing.TB, addr string) []byte {
	t.Helper()
	a := netip.MustParseAddrPort(addr)
	if !a.Addr().Is4() {
		t.Fatalf("sockaddr %s: IPv4 only", addr)
	}
	ip := a.Addr().As4()
	b := append([]byte{unix.AF_INET}, ip[:]...)
	return append(b, byte(a.Port()), byte(a.Port()>>8))
}
