// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func programSink(t *testing.T, command string, keepAlive bool) *ProgramSink {
	t.Helper()
	p, err := NewProgramSink(ProgramConfig{Command: command, KeepAlive: keepAlive, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantLines(t *testing.T, path string, idx ...int) {
	t.Helper()
	got := readLines(t, path)
	var want []string
	for _, i := range idx {
		want = append(want, textLine(alertN(i)))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s holds\n%q\nwant\n%q", filepath.Base(path), got, want)
	}
}

func TestProgramKeepAlive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	p := programSink(t, "cat >> "+path, true)
	d := NewDispatcher(Options{Log: quietLog()}, p)
	for i := range 5 {
		a := alertN(i)
		d.Send(&a)
	}
	waitFor(t, "program started", p.Running)
	st := closeOK(t, d)[0]
	wantLines(t, path, 0, 1, 2, 3, 4)
	if st.Sent != 5 || st.Undelivered() != 0 || st.Restarts != 0 {
		t.Errorf("stats %v restarts %d", st, st.Restarts)
	}
	if p.Running() {
		t.Error("program still running after Close")
	}
}

// Falco's default: one run of the program per alert.
func TestProgramPerAlert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	d := NewDispatcher(Options{Log: quietLog()}, programSink(t, "cat >> "+path, false))
	for i := range 3 {
		a := alertN(i)
		d.Send(&a)
	}
	st := closeOK(t, d)[0]
	wantLines(t, path, 0, 1, 2)
	if st.Sent != 3 || st.Undelivered() != 0 {
		t.Errorf("stats %v", st)
	}
}

func TestProgramPerAlertFailures(t *testing.T) {
	dir := t.TempDir()
	// exit 3 reads nothing: the alert is left in the pipe, and the exit
	// status is wrong too; "cat >/dev/null; exit 4" reads it but fails.
	for _, c := range []struct{ cmd, want string }{
		{"exit 3", "exited before reading the alert"},
		{"cat >/dev/null; exit 4", "exit status 4"},
		{"cat > " + filepath.Join(dir, "no", "such", "dir"), "exited before reading the alert"},
	} {
		log, hook := quietLogHook()
		p, err := NewProgramSink(ProgramConfig{Command: c.cmd, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		d := NewDispatcher(Options{Log: log}, p)
		a := alertN(0)
		d.Send(&a)
		st := closeOK(t, d)[0]
		if st.Failed != 1 || st.Sent != 0 {
			t.Errorf("%s: stats %v, want 1 failed", c.cmd, st)
		}
		if e := hook.LastEntry(); e == nil || !strings.Contains(fmt.Sprint(e.Data["error"]), c.want) {
			t.Errorf("%s: logged %v, want an error with %q", c.cmd, e, c.want)
		}
	}
}

// A keep-alive program that exits is started again for the next alert:
// here head takes one line per run, and every alert still arrives.
func TestProgramRestartsAfterExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	p := programSink(t, "head -n 1 >> "+path, true)
	d := NewDispatcher(Options{Log: quietLog()}, p)
	const n = 4
	for i := range n {
		a := alertN(i)
		d.Send(&a)
		waitFor(t, fmt.Sprintf("alert %d in the file", i), func() bool { return wholeLines(path) == i+1 })
		waitFor(t, "head to exit", func() bool { return !p.Running() })
	}
	st := closeOK(t, d)[0]
	wantLines(t, path, 0, 1, 2, 3)
	if st.Restarts != n-1 || st.Sent != n || st.Undelivered() != 0 {
		t.Errorf("stats %v restarts %d, want %d sent and %d restarts", st, st.Restarts, n, n-1)
	}
}

// Bursts into a program that reads one line and exits: whatever it left in
// its pipe is counted lost, so the counters add up to exactly what reached
// the file.
func TestProgramCountsWhatWasLost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	// dash's read takes one byte at a time, so exactly one line per run.
	p := programSink(t, `IFS= read -r line && printf '%s\n' "$line" >> `+path, true)
	const bursts, size, n = 5, 12, 60
	d := NewDispatcher(Options{QueueSize: n, Log: quietLog()}, p)
	for b := range bursts {
		for i := b * size; i < (b+1)*size; i++ {
			a := alertN(i)
			d.Send(&a)
		}
		waitFor(t, "burst written", func() bool {
			st := d.Stats()[0]
			return st.Sent+st.Failed == uint64((b+1)*size)
		})
		waitFor(t, "program to exit", func() bool { return !p.Running() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stats, err := d.Close(ctx)
	st := stats[0]
	lines := readLines(t, path)
	t.Logf("%v restarts %d; file has %d lines; close: %v", st, st.Restarts, len(lines), err)

	if st.Sent+st.Failed+st.Dropped+st.Unsent != n {
		t.Errorf("counters account for %d of %d alerts", st.Sent+st.Failed+st.Dropped+st.Unsent, n)
	}
	if uint64(len(lines)) != st.Sent-st.Lost {
		t.Errorf("file has %d alerts, counters say %d sent - %d lost = %d", len(lines), st.Sent, st.Lost, st.Sent-st.Lost)
	}
	if st.Restarts+1 < uint64(len(lines)) || len(lines) < bursts || st.Restarts < bursts-1 {
		t.Errorf("%d lines from %d runs of a one-line program, want at least one run and line per burst", len(lines), st.Restarts+1)
	}
	if st.Lost == 0 {
		t.Error("nothing lost: the program cannot have read whole bursts")
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Errorf("line twice: %q", l)
		}
		seen[l] = true
	}
	for i := range n {
		delete(seen, textLine(alertN(i)))
	}
	if len(seen) != 0 {
		t.Errorf("lines that are no alert: %v", seen)
	}
}

// A program that never reads: every alert written to it is counted lost.
func TestProgramThatReadsNothing(t *testing.T) {
	p := programSink(t, "exit 0", true)
	d := NewDispatcher(Options{Log: quietLog()}, p)
	for i := range 5 {
		a := alertN(i)
		d.Send(&a)
	}
	st, _ := d.Close(context.Background())
	if st[0].Lost != st[0].Sent || st[0].Sent+st[0].Failed != 5 {
		t.Errorf("stats %v: every alert sent should be lost", st[0])
	}
}

// Close gives a program that ignores end of input until the deadline, then
// kills it and everything its shell started.
func TestProgramKilledAtDeadline(t *testing.T) {
	p := programSink(t, "sleep 600", true)
	d := NewDispatcher(Options{Log: quietLog()}, p)
	a := alertN(0)
	d.Send(&a)
	waitFor(t, "program started", func() bool { return d.Stats()[0].Sent == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := d.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Close error = %v, want one saying the program was killed", err)
	}
	if st[0].Lost != 1 {
		t.Errorf("stats %v, want the unread alert lost", st[0])
	}
	if p.Running() {
		t.Error("program survived Close")
	}
}

// A program that stops reading but stays alive: at Close the lines still in
// its pipe are counted exactly, long after the first lines were read.
func TestProgramLostCountIsExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	const read, n = 1900, 2000 // more than a pipe's 64 KiB goes through
	p := programSink(t, `i=0; while [ $i -lt `+fmt.Sprint(read)+` ] && IFS= read -r l; do printf '%s\n' "$l" >> `+path+`; i=$((i+1)); done; exec sleep 600`, true)
	d := NewDispatcher(Options{QueueSize: n, Log: quietLog()}, p)
	for i := range n {
		a := alertN(i)
		d.Send(&a)
	}
	waitFor(t, "all alerts written", func() bool { return d.Stats()[0].Sent == n })
	waitFor(t, "the program to read its share", func() bool { return wholeLines(path) == read })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := d.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("(%d alerts unread)", n-read)) {
		t.Errorf("Close error = %v", err)
	}
	if st[0].Lost != n-read || st[0].Sent != n {
		t.Errorf("stats %v, want %d sent and %d lost", st[0], n, n-read)
	}
	idx := make([]int, read)
	for i := range idx {
		idx[i] = i
	}
	wantLines(t, path, idx...)
}
