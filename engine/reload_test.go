// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"io"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
)

// fakeSource returns n openat events; before event i it calls before(i).
type fakeSource struct {
	n, i   int
	before func(int)
	b      driver.Builder
	ev     driver.Event
}

func (s *fakeSource) Next() (*driver.Event, error) {
	if s.i == s.n {
		return nil, io.EOF
	}
	s.before(s.i)
	s.i++
	s.b.Begin(nil, driver.EvOpenat, uint64(s.i), 42, 42)
	s.b.Int(3).Int(unix.AT_FDCWD).Str("/tmp/x").Int(unix.O_RDONLY).Int(0).Int(0).Int(0)
	if err := s.ev.Decode(s.b.End()); err != nil {
		return nil, err
	}
	return &s.ev, nil
}
func (s *fakeSource) Stats() (driver.Stats, error) { return driver.Stats{}, nil }
func (s *fakeSource) Close() error                 { return nil }

func compileRule(t *testing.T, name string) *eval.Program {
	t.Helper()
	set, err := rules.Load(name+".yaml", []byte("- rule: "+name+"\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n"))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// A program handed to Reload takes over between two events: no event is
// lost or counted twice, and the counters go on.
func TestEngineReloadBetweenEvents(t *testing.T) {
	var got []string
	eng, err := New(Config{Program: compileRule(t, "A"), Emit: func(a *output.Alert) { got = append(got, a.Rule) }})
	if err != nil {
		t.Fatal(err)
	}
	b := compileRule(t, "B")
	src := &fakeSource{n: 5, before: func(i int) {
		if i == 2 {
			eng.Reload(b)
		}
	}}
	if err := eng.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	// The program is taken before Next: event 2 was already being read
	// when Reload came, so it is the first one B sees after it.
	if want := []string{"A", "A", "A", "B", "B"}; !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
	if st := eng.Stats(); st.Events != 5 || st.Alerts != 5 {
		t.Errorf("stats %+v, want 5 events and 5 alerts", st)
	}
}
