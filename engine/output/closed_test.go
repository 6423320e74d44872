// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"
)

// A writer whose reader went away (stdout piped to head) fails its own
// alerts, logged once, and the other outputs go on.
func TestClosedWriterLogsOnceOthersGoOn(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	path := filepath.Join(t.TempDir(), "alerts.txt")
	file, err := NewFileSink(path, Text, true)
	if err != nil {
		t.Fatal(err)
	}
	log, hook := logtest.NewNullLogger()
	d := NewDispatcher(Options{Log: log}, NewWriterSink("stdout", w, Text), file)
	for range 5 {
		d.Send(&Alert{Time: time.Now(), Rule: "r", Priority: "Warning", Output: "o"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := d.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats[0].Failed != 5 || stats[1].Sent != 5 {
		t.Errorf("stats %v", stats)
	}
	if n := len(hook.AllEntries()); n != 1 || !strings.Contains(hook.LastEntry().Message, "output closed") {
		t.Errorf("%d log lines, want one saying the output closed: %v", n, hook.AllEntries())
	}
	b, _ := os.ReadFile(path)
	if got := strings.Count(string(b), "\n"); got != 5 {
		t.Errorf("file has %d alerts, want 5", got)
	}
}
