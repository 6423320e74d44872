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
	if _, err := compareThreads(same, map[uint32][]*driver.Event{7: {open("/etc/passwd"), closeEv}}, "a", "b", tab, [2]uint64{}); err != nil {
		t.Fatalf("equal sequences reported as different: %v", err)
	}
	for name, b := range map[string]map[uint32][]*driver.Event{
		"param":   {7: {open("/etc/passwe"), closeEv}},
		"missing": {7: {open("/etc/passwd")}},
		"thread":  {7: {open("/etc/passwd"), closeEv}, 9: {other}},
	} {
		_, err := compareThreads(same, b, "kmod", "bpf", tab, [2]uint64{})
		if err == nil {
			t.Errorf("%s: difference not found", name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "tid ") || !strings.Contains(msg, "kmod saw") || !strings.Contains(msg, "bpf saw") {
			t.Errorf("%s: message does not name the thread and both sides: %s", name, msg)
		}
	}
}

// Events missing from the side that counted them as lost are tolerated,
// up to the count; a missing event on the other side, or a changed one,
// is still a difference (a changed event is one missing from each side:
// only losses on both sides could explain it).
func TestCompareThreadsToleratesCountedLosses(t *testing.T) {
	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(fd int) *driver.Event {
		return event(t, driver.EvClose, 7, func(b *driver.Builder) { b.Int(0).Int(int64(fd)) })
	}
	full := map[uint32][]*driver.Event{7: {ev(3), ev(4), ev(5), ev(6)}}
	holes := map[uint32][]*driver.Event{7: {ev(3), ev(5)}}

	n, err := compareThreads(full, holes, "kmod", "bpf", tab, [2]uint64{0, 2})
	if err != nil || n != 2 {
		t.Fatalf("bpf lost 2 and missed 2: tolerated %d, err %v; want 2, nil", n, err)
	}
	if _, err := compareThreads(full, holes, "kmod", "bpf", tab, [2]uint64{0, 1}); err == nil {
		t.Fatal("2 events missing with 1 lost: tolerated")
	}
	if _, err := compareThreads(full, holes, "kmod", "bpf", tab, [2]uint64{2, 0}); err == nil {
		t.Fatal("events missing from bpf tolerated because kmod lost some")
	}
	changed := map[uint32][]*driver.Event{7: {ev(3), ev(9), ev(5), ev(6)}}
	if _, err := compareThreads(full, changed, "kmod", "bpf", tab, [2]uint64{0, 5}); err == nil {
		t.Fatal("a changed event tolerated as a loss")
	}
}
