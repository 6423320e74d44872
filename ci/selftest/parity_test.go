// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package selftest

import (
	"runtime"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/driver"
)

func event(t *testing.T, typ driver.EventType, tid uint32, build func(*driver.Builder)) *driver.Event {
	t.Helper()
	var b driver.Builder
	b.Begin(make([]byte, 0, 256), typ, 1, tid, tid)
	build(&b)
	var e driver.Event
	if err := e.Decode(b.End()); err != nil {
		t.Fatal(err)
	}
	return e.Copy()
}

// The comparison must see a one-byte difference in a parameter, a missing
// event and an extra thread, and name the thread and both events.
func TestCompareThreadsFindsDifferences(t *testing.T) {
	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	open := func(path string) *driver.Event {
		return event(t, driver.EvOpenat, 7, func(b *driver.Builder) {
			b.Int(3).Int(-100).Str(path).Int(0).Int(0).Int(0).Int(0)
		})
	}
	closeEv := event(t, driver.EvClose, 7, func(b *driver.Builder) { b.Int(0).Int(3) })
	other := event(t, driver.EvClose, 9, func(b *driver.Builder) { b.Int(0).Int(4) })

	same := map[uint32][]*driver.Event{7: {open("/etc/passwd"), closeEv}}
	if err := compareThreads(same, map[uint32][]*driver.Event{7: {open("/etc/passwd"), closeEv}}, "a", "b", tab); err != nil {
		t.Fatalf("equal sequences reported as different: %v", err)
	}
	for name, b := range map[string]map[uint32][]*driver.Event{
		"param":   {7: {open("/etc/passwe"), closeEv}},
		"missing": {7: {open("/etc/passwd")}},
		"thread":  {7: {open("/etc/passwd"), closeEv}, 9: {other}},
	} {
		err := compareThreads(same, b, "kmod", "bpf", tab)
		if err == nil {
			t.Errorf("%s: difference not found", name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "tid ") || !strings.Contains(msg, "kmod saw") || !strings.Contains(msg, "bpf saw") {
			t.Errorf("%s: message does not name the thread and both sides: %s", name, msg)
		}
	}
}
