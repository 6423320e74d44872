// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// A capture is readable by users without root unless asked otherwise, and
// --file-mode is applied exactly, whatever the umask.
func TestCaptureFileMode(t *testing.T) {
	testenv.RequireProbe(t)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want os.FileMode
	}{{nil, 0o644}, {[]string{"--file-mode", "0600"}, 0o600}, {[]string{"--file-mode", "640"}, 0o640}} {
		file := filepath.Join(dir, strings.Join(append([]string{"x"}, c.args...), "")+".vcap")
		r := run(t, append([]string{"capture", "-w", file, "--count", "1"}, c.args...)...)
		if r.code != 0 {
			t.Fatalf("capture %v: exit %d\n%s", c.args, r.code, r.stderr)
		}
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != c.want {
			t.Errorf("capture %v: mode %v (%v), want %04o", c.args, fi.Mode(), err, c.want)
		}
	}
}

// Flags are checked before the probe loads: no root needed to be told.
func TestCaptureFlagErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.vcap")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--file-mode", "0999"}, []string{`--file-mode "0999"`, "octal", "0600"}},
		{[]string{"--file-mode", "01777"}, []string{`--file-mode "01777"`, "0000 to 0777"}},
	} {
		r := run(t, append([]string{"capture", "-w", file}, c.args...)...)
		if r.code == 0 {
			t.Errorf("capture %v succeeded", c.args)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("capture %v: stderr lacks %q:\n%s", c.args, w, r.stderr)
			}
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("capture %v wrote %s: %v", c.args, file, err)
		}
	}
}

// --buffer-size is checked against what both drivers can map, with the
// range in the message; 4GiB once silently became 0.
func TestBufferSizeRange(t *testing.T) {
	for _, c := range []struct{ size, want string }{
		{"4GiB", "4GiB (4294967296 bytes)"},
		{"8G", "8GiB (8589934592 bytes)"},
		{"3MiB", "3MiB (3145728 bytes)"},
		{"100", "100 bytes"},
	} {
		for _, cmd := range [][]string{{"events", "--count", "1"}, {"capture", "-w", filepath.Join(t.TempDir(), "x.vcap"), "--count", "1"}, {"run", "--duration", "1s"}} {
			r := run(t, append(cmd, "--buffer-size", c.size)...)
			if r.code == 0 {
				t.Errorf("%s --buffer-size %s succeeded", cmd[0], c.size)
			}
			for _, w := range []string{"--buffer-size " + c.size, c.want, "power of two", "to 2GiB"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("%s --buffer-size %s: stderr lacks %q:\n%s", cmd[0], c.size, w, r.stderr)
				}
			}
		}
	}
}

// writeDamagedCapture writes n close events into a capture and damages
// the payload of its third block; it returns the file and the blocks'
// offsets.
func writeDamagedCapture(t *testing.T, n int) (string, []int) {
	t.Helper()
	var buf bytes.Buffer
	w, err := driver.NewCaptureWriter(&buf, driver.CaptureMeta{})
	if err != nil {
		t.Fatal(err)
	}
	var b driver.Builder
	var e driver.Event
	for i := range n {
		b.Begin(nil, driver.EvClose, uint64(1000+i), uint32(10000+i), uint32(10000+i))
		if err := e.Decode(b.Int(0).Int(3).End()); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Blocks after the 10-byte file header: 2-byte type, 2 flags, 4 length,
	// 4 CRC, payload. Damage the payload of the third (the second of events).
	var offs []int
	for off := 10; off < len(data); off += 12 + int(binary.LittleEndian.Uint32(data[off+4:])) {
		offs = append(offs, off)
	}
	if len(offs) < 4 {
		t.Fatalf("%d blocks, want several", len(offs))
	}
	data[offs[2]+100] ^= 0x55
	file := filepath.Join(t.TempDir(), "damaged.vcap")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return file, offs
}

// vigil replay reads past the damage too, and fails saying what it skipped.
func TestReplayDamagedCapture(t *testing.T) {
	file, offs := writeDamagedCapture(t, 6000)
	r := run(t, "replay", file)
	skipped := fmt.Sprintf("skipped %d bytes, from offset %d", offs[3]-offs[2], offs[2])
	if r.code == 0 || !strings.Contains(r.stderr, skipped) {
		t.Errorf("replay of a damaged capture: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// events -r reads past a damaged block, says on stderr what it skipped,
// and exits non-zero: the output is not the whole capture.
func TestEventsReadDamagedCapture(t *testing.T) {
	const n = 6000
	file, offs := writeDamagedCapture(t, n)

	r := run(t, "events", "-r", file, "--json")
	if r.code == 0 {
		t.Errorf("events -r of a damaged capture exited 0")
	}
	evs := decodeLines(t, r.stdout)
	if len(evs) == 0 || len(evs) >= n || evs[len(evs)-1].TID != 10000+n-1 {
		t.Fatalf("read %d of %d events, the last tid %v; want all but the damaged block's, up to the last", len(evs), n, evs)
	}
	skipped := fmt.Sprintf("skipped %d bytes, from offset %d", offs[3]-offs[2], offs[2])
	for _, want := range []string{"damaged: ", file, fmt.Sprintf("block 2 at offset %d is corrupt", offs[2]), skipped, file + " is damaged"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

var countersRE = regexp.MustCompile(`events: (\d+) read, \d+ matched; driver: (\d+) events, (\d+) drops`)

// When --duration or Ctrl-C ends a live stream, what the driver had
// written is still read: the counters on stderr add up, with no drops
// (events and capture used to stop with events in the buffers).
func TestStopReadsWhatTheDriverWrote(t *testing.T) {
	testenv.RequireProbe(t)
	// Processes starting and ending all along: lifecycle events the
	// kernel always captures, at a rate no buffer overflows at.
	load := exec.Command("sh", "-c", "while :; do /bin/true; done")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { load.Process.Kill(); load.Wait() }()

	check := func(name, stderr string) {
		t.Helper()
		m := countersRE.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("%s: no counters on stderr:\n%s", name, stderr)
		}
		if m[1] != m[2] || m[3] != "0" {
			t.Errorf("%s: read %s events, the driver wrote %s, %s drops; want all read, no drops:\n%s", name, m[1], m[2], m[3], stderr)
		}
	}
	file := filepath.Join(t.TempDir(), "x.vcap")
	r := run(t, "capture", "-w", file, "--type", "getppid", "--duration", "1s")
	if r.code != 0 {
		t.Fatalf("capture: exit %d\n%s", r.code, r.stderr)
	}
	check("capture --duration", r.stderr)

	cmd := exec.Command(vigilBin, "events", "--type", "getppid")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("events, interrupted: %v\n%s", err, errb.String())
	}
	check("events, interrupted", errb.String())
}

// TestCaptureTypeByHeader: a live capture with --type alone decodes only
// the events' headers (the kernel selected the syscalls) and writes them
// as they are. The file holds the getppid and openat events asked for,
// every one readable, and none of the process events the probe also
// writes while programs start: they are told apart by the header alone.
func TestCaptureTypeByHeader(t *testing.T) {
	testenv.RequireProbe(t)
	file := filepath.Join(t.TempDir(), "x.vcap")
	cmd := exec.Command(vigilBin, "capture", "-w", file, "--type", "getppid,openat", "--duration", "3s")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Getppid calls, opens and processes starting until capture ends.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	calls := 0
	for running := true; running; {
		for i := 0; i < 1000; i++ {
			syscall.Getppid()
		}
		calls += 1000
		_ = exec.Command("true").Run()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("capture: %v\n%s", err, errb.String())
			}
			running = false
		case <-time.After(20 * time.Millisecond):
		}
	}
	cr, err := driver.OpenCapture(file)
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	getppid, openat := 0, 0
	for {
		e, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		switch {
		case e.Type == driver.EvGeneric && e.Uint(1) == syscall.SYS_GETPPID:
			getppid++
		case e.Type == driver.EvOpenat || e.Type == driver.EvOpenatE:
			openat++
		default:
			t.Fatalf("capture --type getppid,openat wrote a %s event: %+v", e.Type.Info().Name, e)
		}
	}
	if getppid < 1000 || openat == 0 {
		t.Fatalf("the capture holds %d getppid and %d openat events; this test made %d getppid and started processes", getppid, openat, calls)
	}
	t.Logf("%d getppid and %d openat events, nothing else", getppid, openat)
}
