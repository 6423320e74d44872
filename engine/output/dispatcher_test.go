// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vigil-dev/vigil/internal/testenv"
)

func alertN(i int) Alert {
	a := fixedAlert()
	a.Rule = fmt.Sprintf("rule %d", i)
	a.Output = fmt.Sprintf("alert number %d", i)
	return a
}

// waitFor polls cond: the sinks work in their own goroutines, and the
// only thing to wait on from outside is their counters or their files.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func closeOK(t *testing.T, d *Dispatcher) []Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := d.Close(ctx)
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	return st
}

func quietLog() logrus.FieldLogger {
	l, _ := logtest.NewNullLogger()
	return l
}

func quietLogHook() (logrus.FieldLogger, *logtest.Hook) {
	return logtest.NewNullLogger()
}

// wholeLines counts the complete lines of a file another process may be
// writing at this moment: for polling, where a line half written is not
// yet an error.
func wholeLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end in a newline: %q", path, b)
	}
	return strings.Split(string(b[:len(b)-1]), "\n")
}

func textLine(a Alert) string {
	e := Encoder{Format: Text}
	return string(e.AppendText(nil, &a))
}

func TestWriterSink(t *testing.T) {
	var buf testenv.Buffer
	d := NewDispatcher(Options{Log: quietLog()}, NewWriterSink("stdout", &buf, Text))
	for i := range 3 {
		a := alertN(i)
		d.Send(&a)
	}
	st := closeOK(t, d)
	want := textLine(alertN(0)) + "\n" + textLine(alertN(1)) + "\n" + textLine(alertN(2)) + "\n"
	if buf.String() != want {
		t.Errorf("stdout\n got %q\nwant %q", buf.String(), want)
	}
	if st[0].Sent != 3 || st[0].Undelivered() != 0 {
		t.Errorf("stats %v", st[0])
	}
	// After Close, alerts are counted as dropped, never lost silently.
	a := alertN(9)
	d.Send(&a)
	if got := d.Stats()[0].Dropped; got != 1 {
		t.Errorf("dropped after close = %d, want 1", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// Errors are logged once per interval and sink, not once per alert.
func TestErrorLogRateLimited(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	d := NewDispatcher(Options{Log: log, ErrorLogInterval: time.Hour},
		NewWriterSink("broken", failingWriter{}, Text), NewWriterSink("also broken", failingWriter{}, JSON))
	for i := range 5 {
		a := alertN(i)
		d.Send(&a)
	}
	st := closeOK(t, d)
	for _, s := range st {
		if s.Failed != 5 || s.Sent != 0 {
			t.Errorf("stats %v, want 5 failed", s)
		}
	}
	entries := hook.AllEntries()
	if len(entries) != 2 {
		t.Fatalf("%d log lines for 10 failures on 2 sinks, want 2: %v", len(entries), entries)
	}
	seen := map[any]bool{}
	for _, e := range entries {
		if e.Level != logrus.ErrorLevel || !strings.Contains(fmt.Sprint(e.Data[logrus.ErrorKey]), "closed pipe") {
			t.Errorf("log entry %v %v", e.Level, e.Data)
		}
		seen[e.Data["output"]] = true
	}
	if !seen["broken"] || !seen["also broken"] {
		t.Errorf("log lines name outputs %v", seen)
	}
}

func TestFileSinkAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.txt")
	if err := os.WriteFile(path, []byte("earlier line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileSink(path, Text, false)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(Options{Log: quietLog()}, s)
	for i := range 3 {
		a := alertN(i)
		d.Send(&a)
	}
	closeOK(t, d)
	want := []string{"earlier line", textLine(alertN(0)), textLine(alertN(1)), textLine(alertN(2))}
	if got := readLines(t, path); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("file holds\n%q\nwant\n%q", got, want)
	}
}

func TestFileSinkCreatesPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.json")
	s, err := NewFileSink(path, JSON, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	_ = s.Close(context.Background())

	_, err = NewFileSink(filepath.Join(t.TempDir(), "missing", "x.txt"), Text, false)
	if err == nil || !strings.Contains(err.Error(), "missing/x.txt") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("error for a missing directory = %v", err)
	}
}

// Log rotation: logrotate renames the file, then vigil reopens the path.
func TestFileSinkReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path, rotated := filepath.Join(dir, "alerts.txt"), filepath.Join(dir, "alerts.txt.1")
	s, err := NewFileSink(path, Text, true)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(Options{Log: quietLog()}, s)
	send := func(i int) {
		a := alertN(i)
		d.Send(&a)
		waitFor(t, fmt.Sprintf("alert %d written", i), func() bool { return d.Stats()[0].Sent == uint64(i+1) })
	}
	send(0)
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	send(1) // keep-alive: still the renamed file, as with Falco
	if err := d.Reopen(); err != nil {
		t.Fatal(err)
	}
	send(2)
	closeOK(t, d)
	if got, want := readLines(t, rotated), []string{textLine(alertN(0)), textLine(alertN(1))}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rotated file holds %q, want %q", got, want)
	}
	if got, want := readLines(t, path), []string{textLine(alertN(2))}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("new file holds %q, want %q", got, want)
	}
}

// Without keep-alive each alert opens the path, so a rename needs nothing.
func TestFileSinkNoKeepAliveFollowsRename(t *testing.T) {
	dir := t.TempDir()
	path, rotated := filepath.Join(dir, "alerts.txt"), filepath.Join(dir, "old.txt")
	s, err := NewFileSink(path, Text, false)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(Options{Log: quietLog()}, s)
	a := alertN(0)
	d.Send(&a)
	waitFor(t, "first alert", func() bool { return d.Stats()[0].Sent == 1 })
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	a = alertN(1)
	d.Send(&a)
	closeOK(t, d)
	if got := readLines(t, rotated); len(got) != 1 || got[0] != textLine(alertN(0)) {
		t.Errorf("rotated file holds %q", got)
	}
	if got := readLines(t, path); len(got) != 1 || got[0] != textLine(alertN(1)) {
		t.Errorf("new file holds %q", got)
	}
}

type request struct {
	method, path string
	header       http.Header
	body         []byte
}

func TestHTTPSinkRequest(t *testing.T) {
	got := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- request{r.Method, r.URL.Path, r.Header.Clone(), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	s, err := NewHTTPSink(HTTPConfig{URL: srv.URL + "/falco", Version: "1.2.3", Header: http.Header{"X-Token": {"s3cret"}}})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(Options{Log: quietLog()}, s)
	a := fixedAlert()
	d.Send(&a)
	r := <-got
	st := closeOK(t, d)

	if r.method != http.MethodPost || r.path != "/falco" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "vigil/1.2.3", "X-Token": "s3cret"} {
		if r.header.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, r.header.Get(k), want)
		}
	}
	e := Encoder{Format: JSON}
	if want := e.AppendJSON(nil, &a); !bytes.Equal(r.body, want) {
		t.Errorf("body\n got %s\nwant %s", r.body, want)
	}
	if st[0].Sent != 1 || st[0].Undelivered() != 0 {
		t.Errorf("stats %v", st[0])
	}
}

func TestHTTPSinkServerError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database on fire", http.StatusInternalServerError)
	}))
	defer srv.Close()
	s, err := NewHTTPSink(HTTPConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	log, hook := logtest.NewNullLogger()
	d := NewDispatcher(Options{Log: log, ErrorLogInterval: time.Hour}, s)
	for i := range 3 {
		a := alertN(i)
		d.Send(&a)
	}
	st := closeOK(t, d)
	if st[0].Failed != 3 || st[0].Sent != 0 {
		t.Errorf("stats %v, want 3 failed", st[0])
	}
	if len(hook.AllEntries()) != 1 {
		t.Fatalf("%d log lines, want 1", len(hook.AllEntries()))
	}
	msg := fmt.Sprint(hook.LastEntry().Data[logrus.ErrorKey])
	if !strings.Contains(msg, "500") || !strings.Contains(msg, "database on fire") {
		t.Errorf("logged error %q does not give the status and the server's reason", msg)
	}
}

// blockingServer answers nothing until release is closed; arrived hears
// of each request as it comes in.
func blockingServer(t *testing.T) (srv *httptest.Server, arrived chan struct{}, release func(), served *atomic.Int64) {
	arrived = make(chan struct{}, 1000)
	gate := make(chan struct{})
	served = new(atomic.Int64)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		arrived <- struct{}{}
		<-gate
		served.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(srv.Close)
	t.Cleanup(release) // before srv.Close, which waits for the handlers
	return srv, arrived, release, served
}

// sendAll sends alerts from another goroutine and fails the test if Send
// has not returned long after it should have.
func sendAll(t *testing.T, d *Dispatcher, from, to int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		for i := from; i < to; i++ {
			a := alertN(i)
			d.Send(&a)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Send blocked behind a stuck output")
	}
}

func TestSendNeverBlocks(t *testing.T) {
	srv, arrived, release, served := blockingServer(t)
	s, err := NewHTTPSink(HTTPConfig{URL: srv.URL, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const queue, n = 4, 50
	d := NewDispatcher(Options{QueueSize: queue, Log: quietLog()}, s)
	sendAll(t, d, 0, 1)
	<-arrived // the first alert is in flight, its handler waits on release
	sendAll(t, d, 1, n)

	// Send came back while the server still holds the first request.
	if served.Load() != 0 {
		t.Fatal("the server answered before it was released")
	}
	st := d.Stats()[0]
	if st.Dropped != n-queue-1 || st.Queued != queue || st.Sent != 0 {
		t.Errorf("while blocked: %v queued %d, want dropped %d queued %d sent 0", st, st.Queued, n-queue-1, queue)
	}

	release()
	st = closeOK(t, d)[0]
	if st.Sent != queue+1 || st.Dropped != n-queue-1 || st.Failed != 0 || st.Unsent != 0 {
		t.Errorf("after release: %v, want sent %d dropped %d", st, queue+1, n-queue-1)
	}
	if got := served.Load(); got != queue+1 {
		t.Errorf("server answered %d requests, want %d", got, queue+1)
	}
}

// A dead output loses its own alerts; the file next to it gets them all.
func TestBlockedSinkDoesNotStallOthers(t *testing.T) {
	srv, arrived, release, _ := blockingServer(t)
	hs, err := NewHTTPSink(HTTPConfig{URL: srv.URL, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "alerts.txt")
	fs, err := NewFileSink(path, Text, true)
	if err != nil {
		t.Fatal(err)
	}
	const queue, n = 4, 40
	d := NewDispatcher(Options{QueueSize: queue, Log: quietLog()}, hs, fs)
	for i := range n {
		sendAll(t, d, i, i+1)
		if i == 0 {
			<-arrived
		}
		waitFor(t, fmt.Sprintf("alert %d in the file", i), func() bool { return d.Stats()[1].Sent == uint64(i+1) })
	}
	lines := readLines(t, path)
	if len(lines) != n {
		t.Fatalf("file has %d alerts, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l != textLine(alertN(i)) {
			t.Fatalf("line %d = %q", i, l)
		}
	}
	if st := d.Stats()[0]; st.Dropped != n-queue-1 {
		t.Errorf("http: %v, want %d dropped", st, n-queue-1)
	}
	release()
	st := closeOK(t, d)
	if st[0].Sent != queue+1 || st[1].Sent != n || st[1].Dropped != 0 {
		t.Errorf("final: %v / %v", st[0], st[1])
	}
}

// Close gives up at its deadline and says what it left behind.
func TestCloseDeadlineReportsUnsent(t *testing.T) {
	srv, arrived, _, _ := blockingServer(t)
	s, err := NewHTTPSink(HTTPConfig{URL: srv.URL, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(Options{QueueSize: 8, Log: quietLog()}, s)
	sendAll(t, d, 0, 1)
	<-arrived
	sendAll(t, d, 1, 4)

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time at all to drain
	st, err := d.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "4 alerts undelivered") {
		t.Fatalf("Close error = %v, want one saying 4 alerts are undelivered", err)
	}
	if st[0].Unsent != 4 || st[0].Sent != 0 || st[0].Failed != 0 {
		t.Errorf("stats %v, want 4 unsent", st[0])
	}
	if again, err2 := d.Close(context.Background()); err2 == nil || again[0].Unsent != 4 {
		t.Errorf("second Close = %v, %v; want the first result", again, err2)
	}
}

// blockedWriter never returns from Write until unblocked: a stdout piped
// into a process that stopped reading.
type blockedWriter struct {
	entered chan struct{}
	gate    chan struct{}
}

func (w blockedWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.gate
	return len(p), nil
}

// Close cannot interrupt a write into a stuck pipe: it leaves such outputs
// behind after a grace period, all of them, and reports what they held.
func TestCloseLeavesBlockedWritersBehind(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	w1 := blockedWriter{make(chan struct{}, 10), gate}
	w2 := blockedWriter{make(chan struct{}, 10), gate}
	d := NewDispatcher(Options{QueueSize: 8, Log: quietLog()}, NewWriterSink("one", w1, Text), NewWriterSink("two", w2, Text))
	sendAll(t, d, 0, 1)
	<-w1.entered
	<-w2.entered
	sendAll(t, d, 1, 3)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	var st []Stats
	var err error
	go func() {
		st, err = d.Close(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close hangs on blocked writers")
	}
	if err == nil || !strings.Contains(err.Error(), "one: still blocked") || !strings.Contains(err.Error(), "two: still blocked") {
		t.Errorf("Close error = %v", err)
	}
	for _, s := range st {
		if s.Unsent != 3 || s.Sent != 0 {
			t.Errorf("%v, want 3 unsent", s)
		}
	}
}
