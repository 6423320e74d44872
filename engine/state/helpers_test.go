// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vigil-dev/vigil/driver"
	"golang.org/x/sys/unix"
)

// absent marks a parameter the driver could not read.
type absentParam struct{}

var absent absentParam

// eventAt builds one event with driver.Builder. Integers are sized by the
// schema; []byte goes in as is (sockaddrs, tuples, argv).
func eventAt(t testing.TB, ts uint64, typ driver.EventType, tid, pid uint32, params ...any) *driver.Event {
	t.Helper()
	if n := len(typ.Info().Params); n != len(params) {
		t.Fatalf("%s takes %d parameters, test gave %d", typ, n, len(params))
	}
	var b driver.Builder
	b.Begin(nil, typ, ts, tid, pid)
	for _, p := range params {
		switch v := p.(type) {
		case int:
			b.Int(int64(v))
		case int64:
			b.Int(v)
		case uint64:
			b.Int(int64(v))
		case uint32:
			b.Int(int64(v))
		case string:
			b.Str(v)
		case []byte:
			b.Raw(v)
		case absentParam:
			b.Raw(nil)
		default:
			t.Fatalf("param type %T", p)
		}
	}
	var e driver.Event
	if err := e.Decode(b.End()); err != nil {
		t.Fatal(err)
	}
	return &e
}

func event(t testing.TB, typ driver.EventType, tid, pid uint32, params ...any) *driver.Event {
	t.Helper()
	return eventAt(t, 1, typ, tid, pid, params...)
}

// tuple4 encodes a PTSockTuple of AF_INET: local end first.
func tuple(local, peer string) []byte {
	l, r := netip.MustParseAddrPort(local), netip.MustParseAddrPort(peer)
	fam := byte(unix.AF_INET)
	if l.Addr().Is6() {
		fam = unix.AF_INET6
	}
	b := []byte{fam}
	b = append(b, l.Addr().AsSlice()...)
	b = binary.LittleEndian.AppendUint16(b, l.Port())
	b = append(b, r.Addr().AsSlice()...)
	return binary.LittleEndian.AppendUint16(b, r.Port())
}

// sockaddr encodes a PTSockAddr of AF_INET or AF_INET6.
func sockaddr(addr string) []byte {
	a := netip.MustParseAddrPort(addr)
	fam := byte(unix.AF_INET)
	if a.Addr().Is6() {
		fam = unix.AF_INET6
	}
	b := append([]byte{fam}, a.Addr().AsSlice()...)
	return binary.LittleEndian.AppendUint16(b, a.Port())
}

// unixAddr encodes an AF_UNIX sockaddr or tuple: the family, then a path.
func unixAddr(path string) []byte {
	return append(append([]byte{unix.AF_UNIX}, path...), 0)
}

// execArgs is a full execve exit event's parameters, res 0, with the
// named ones overridden.
func execArgs(t testing.TB, over map[string]any) []any {
	t.Helper()
	info := driver.EvExecve.Info()
	def := map[string]any{
		"res": 0, "exe": "/usr/bin/true", "args": []byte("true\x00"), "cwd": "/",
		"comm": "true", "cgroup": "/",
	}
	args := make([]any, len(info.Params))
	for i, p := range info.Params {
		v, ok := over[p.Name]
		if !ok {
			v, ok = def[p.Name]
		}
		if !ok {
			v = 0
		}
		args[i] = v
	}
	for name := range over {
		if driver.EvExecve.ParamIndex(name) < 0 {
			t.Fatalf("execve has no parameter %q", name)
		}
	}
	return args
}

// newProc starts process pid (one thread) in a table without /proc, as
// the child of a fork the table saw, and returns its thread.
func newProc(t testing.TB, tab *Threads, ppid, pid uint32, comm string) *Thread {
	t.Helper()
	tab.Update(eventAt(t, 100, driver.EvProcFork, ppid, ppid, int(pid), int(pid), int(ppid), comm))
	th := tab.Get(pid, pid)
	if th == nil || th.Proc == nil {
		t.Fatalf("forked process %d not in the table", pid)
	}
	return th
}
