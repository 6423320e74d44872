// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/testenv"
)

var testMeta = CaptureMeta{
	SchemaVersion: SchemaVersion,
	Arch:          "amd64",
	ClockOffset:   1_700_000_000_123_456_789,
	Hostname:      "node-1.example",
	KernelRelease: "6.1.0-18-cloud-amd64",
	Created:       time.Unix(1_700_000_100, 42),
}

// testEvents returns n events of assorted types and sizes, enough of them
// to span several blocks.
func testEvents(t testing.TB, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; len(out) < n; i++ {
		var raw []byte
		switch i % 6 {
		case 0:
			raw = buildRaw(t, EvOpenat, i, -100, fmt.Sprintf("/tmp/file-%d-%s", i, strings.Repeat("x", i%200)), 0x241, 0o644, absent{}, i)
		case 1:
			raw = buildRaw(t, EvExecve, execArgs(0, "/usr/bin/ls", fmt.Sprintf("ls\x00-l\x00%d", i))...)
		case 2:
			raw = buildRaw(t, EvGeneric, -2, 110)
		case 3:
			raw = buildRaw(t, EvConnect, 0, 3, tuple6(loop6, uint16(i), loop6, 80))
		case 4:
			raw = buildRaw(t, EvProcExec, "/bin/true", i)
		case 5:
			raw = buildRaw(t, EvBind, -98, 3, []byte("\x01/run/x.sock\x00"))
		}
		// Vary the header so a misplaced event cannot compare equal.
		binary.LittleEndian.PutUint64(raw[0:], uint64(1_000_000+i))
		binary.LittleEndian.PutUint32(raw[8:], uint32(i))
		out = append(out, raw)
	}
	return out
}

func writeCapture(t testing.TB, evs [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	cw, err := NewCaptureWriter(&buf, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	for _, raw := range evs {
		if err := e.Decode(raw); err != nil {
			t.Fatal(err)
		}
		if err := cw.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if cw.Events() != uint64(len(evs)) {
		t.Fatalf("writer counted %d events, wrote %d", cw.Events(), len(evs))
	}
	return buf.Bytes()
}

// readAll reads events until an error and returns copies of them.
func readAll(t testing.TB, data []byte) ([][]byte, error) {
	t.Helper()
	cr, err := NewCaptureReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer cr.Close()
	var out [][]byte
	for {
		e, err := cr.Next()
		if err != nil {
			return out, err
		}
		if e.CPU != -1 {
			t.Fatalf("event from a capture has CPU %d, want -1", e.CPU)
		}
		out = append(out, bytes.Clone(e.Raw))
	}
}

func sameEvents(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d differs:\n got %x\nwant %x", i, got[i], want[i])
		}
	}
}

// blocks returns the offset of every block of a capture (the meta block first).
func blocks(t testing.TB, data []byte) []int {
	t.Helper()
	var offs []int
	for off := fileHeaderSize; off < len(data); {
		offs = append(offs, off)
		off += blockHdrSize + int(binary.LittleEndian.Uint32(data[off+4:]))
	}
	return offs
}

// appendBlock appends a block with a correct CRC.
func appendBlock(dst []byte, typ, flags uint16, payload []byte) []byte {
	h := make([]byte, blockHdrSize)
	binary.LittleEndian.PutUint16(h[0:], typ)
	binary.LittleEndian.PutUint16(h[2:], flags)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[8:], blockCRC(h, payload))
	return append(append(dst, h...), payload...)
}

func TestCaptureRoundTrip(t *testing.T) {
	evs := testEvents(t, 3000)
	data := writeCapture(t, evs)
	if n := len(blocks(t, data)); n < 4 {
		t.Fatalf("%d blocks for %d bytes of events; want several", n, len(data))
	}
	got, err := readAll(t, data)
	if err != io.EOF {
		t.Fatalf("read: %v, want io.EOF", err)
	}
	sameEvents(t, got, evs)
}

func TestCaptureEmpty(t *testing.T) {
	got, err := readAll(t, writeCapture(t, nil))
	if err != io.EOF || len(got) != 0 {
		t.Fatalf("empty capture: %d events, %v", len(got), err)
	}
}

func TestCaptureMetaRoundTrip(t *testing.T) {
	cr, err := NewCaptureReader(bytes.NewReader(writeCapture(t, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m := cr.Meta()
	if m.SchemaVersion != testMeta.SchemaVersion || m.Arch != testMeta.Arch || m.ClockOffset != testMeta.ClockOffset ||
		m.Hostname != testMeta.Hostname || m.KernelRelease != testMeta.KernelRelease || !m.Created.Equal(testMeta.Created) {
		t.Fatalf("meta = %+v, want %+v", m, testMeta)
	}
	if got := m.Clock().Wall(5); !got.Equal(time.Unix(0, testMeta.ClockOffset+5)) {
		t.Errorf("clock: %v", got)
	}

	// The defaults a bare meta gets, and what this host reports.
	var buf bytes.Buffer
	if _, err := NewCaptureWriter(&buf, CaptureMeta{}); err != nil {
		t.Fatal(err)
	}
	cr, err = NewCaptureReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if m := cr.Meta(); m.SchemaVersion != SchemaVersion || m.Arch == "" || time.Since(m.Created) > time.Minute {
		t.Errorf("defaults not filled in: %+v", m)
	}
	host := NewCaptureMeta(NewClock())
	if host.KernelRelease == "" || host.Hostname == "" || host.ClockOffset == 0 || host.SchemaVersion != SchemaVersion {
		t.Errorf("NewCaptureMeta = %+v", host)
	}
}

func TestCaptureBadMagic(t *testing.T) {
	for _, data := range []string{"GIF89a\x00\x00\x00\x00\x00\x00", "VIGILCAX\x01\x00", "x"} {
		_, err := NewCaptureReader(strings.NewReader(data))
		if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), "is not a vigil capture file (magic") {
			t.Errorf("%q: %v", data, err)
		}
	}
	_, err := NewCaptureReader(strings.NewReader(""))
	if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty input: %v", err)
	}
	path := filepath.Join(t.TempDir(), "not-a-capture")
	os.WriteFile(path, []byte("hello, world"), 0o600)
	_, err = OpenCapture(path)
	if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), path+" is not a vigil capture file") {
		t.Errorf("named file: %v", err)
	}
}

func TestCaptureVersion(t *testing.T) {
	data := writeCapture(t, nil)
	binary.LittleEndian.PutUint16(data[8:], 2)
	_, err := NewCaptureReader(bytes.NewReader(data))
	if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), "format version 2") {
		t.Fatalf("version 2: %v", err)
	}
}

func TestCaptureTruncated(t *testing.T) {
	evs := testEvents(t, 3000)
	data := writeCapture(t, evs)
	offs := blocks(t, data)
	// Events of the blocks wholly before each block offset.
	before := func(off int) int {
		got, _ := readAll(t, data[:off])
		return len(got)
	}
	cuts := []struct {
		name string
		at   int
	}{
		{"inside the magic", 4},
		{"inside the version", 9},
		{"inside the meta block header", fileHeaderSize + 5},
		{"inside the meta payload", offs[1] - 3},
		{"inside the first events block header", offs[1] + 1},
		{"just after the first events block header", offs[1] + blockHdrSize},
		{"inside the first events payload", offs[1] + 1000},
		{"inside the third block header", offs[3] + 11},
		{"inside the third events payload", offs[3] + blockHdrSize + 30000},
		{"one byte short", len(data) - 1},
	}
	for _, c := range cuts {
		t.Run(c.name, func(t *testing.T) {
			got, err := readAll(t, data[:c.at])
			if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("cut at %d: %v, want a truncation error", c.at, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("truncated at offset %d", c.at)) {
				t.Errorf("error does not name the offset %d: %v", c.at, err)
			}
			// Every whole block before the cut was read.
			want := 0
			for _, off := range offs {
				if off+blockHdrSize+int(binary.LittleEndian.Uint32(data[off+4:])) <= c.at {
					want = before(off + blockHdrSize + int(binary.LittleEndian.Uint32(data[off+4:])))
				}
			}
			sameEvents(t, got, evs[:want])
			if want > 0 && !strings.Contains(err.Error(), fmt.Sprintf("%d events before it are readable", want)) {
				t.Errorf("error does not count the %d readable events: %v", want, err)
			}
		})
	}
}

// readAllSkips reads every event it can and returns the stretches skipped.
func readAllSkips(t testing.TB, data []byte) ([][]byte, []*SkipError, error) {
	t.Helper()
	cr, err := NewCaptureReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	defer cr.Close()
	got, err := readAllFrom(cr)
	return got, cr.Skipped(), err
}

// A damaged block loses its own events only: the reader skips to the next
// good block and says what it skipped.
func TestCaptureCorrupt(t *testing.T) {
	evs := testEvents(t, 3000)
	data := writeCapture(t, evs)
	offs := blocks(t, data)
	if len(offs) < 5 {
		t.Fatalf("%d blocks; the test damages the third of several", len(offs))
	}
	// Events in the blocks before the damaged one, and in it.
	before, _ := readAll(t, data[:offs[2]])
	through, _ := readAll(t, data[:offs[3]])
	want := append(append([][]byte{}, evs[:len(before)]...), evs[len(through):]...)

	for _, c := range []struct {
		name   string
		at     int
		mask   byte
		reason string
	}{
		{"payload", offs[2] + blockHdrSize + 100, 0x10, fmt.Sprintf("block 2 at offset %d is corrupt (crc", offs[2])},
		{"type", offs[2], 0x10, fmt.Sprintf("block 2 at offset %d is corrupt (crc", offs[2])},
		{"shorter length", offs[2] + 5, 0x10, fmt.Sprintf("block 2 at offset %d is corrupt (crc", offs[2])},
		{"longer length", offs[2] + 6, 0x01, fmt.Sprintf("block 2 at offset %d is corrupt (crc", offs[2])},
		{"length past the end", offs[2] + 6, 0x20, fmt.Sprintf("block 2 at offset %d announces", offs[2])},
		{"length past the limit", offs[2] + 7, 0x40, "more than the 16777216-byte limit"},
		{"crc", offs[2] + 9, 0x10, fmt.Sprintf("block 2 at offset %d is corrupt (crc", offs[2])},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Clone(data)
			bad[c.at] ^= c.mask
			got, skips, err := readAllSkips(t, bad)
			if err != io.EOF {
				t.Fatalf("flipped byte at %d: %v, want the events after the damage and io.EOF", c.at, err)
			}
			sameEvents(t, got, want)
			if len(skips) != 1 {
				t.Fatalf("%d skips reported, want 1: %v", len(skips), skips)
			}
			sk := skips[0]
			if sk.Offset != int64(offs[2]) || sk.Bytes != int64(offs[3]-offs[2]) {
				t.Errorf("skipped %d bytes at offset %d, want the %d bytes of block 2 at %d", sk.Bytes, sk.Offset, offs[3]-offs[2], offs[2])
			}
			msg := sk.Error()
			if !errors.Is(sk, ErrBadCapture) || !strings.Contains(msg, c.reason) ||
				!strings.Contains(msg, fmt.Sprintf("skipped %d bytes", offs[3]-offs[2])) {
				t.Errorf("skip %q does not say %q and how much was skipped", msg, c.reason)
			}
		})
	}

	// Two damaged stretches: the first events block, and the one before
	// the last.
	count := func(end int) int { got, _ := readAll(t, data[:end]); return len(got) }
	k := len(offs) - 2
	want = append(append(append([][]byte{}, evs[:count(offs[1])]...), evs[count(offs[2]):count(offs[k])]...), evs[count(offs[k+1]):]...)
	bad := bytes.Clone(data)
	bad[offs[1]+blockHdrSize+7] ^= 1
	bad[offs[k]+blockHdrSize+7] ^= 1
	got, skips, err := readAllSkips(t, bad)
	if err != io.EOF {
		t.Fatalf("two damaged blocks: %v", err)
	}
	sameEvents(t, got, want)
	if len(skips) != 2 || skips[0].Offset != int64(offs[1]) || skips[1].Offset != int64(offs[k]) {
		t.Errorf("two damaged blocks, at %d and %d: skips %v", offs[1], offs[k], skips)
	}

	// Damage in the last block: nothing good follows, an error as before.
	bad = bytes.Clone(data)
	lastOff := offs[len(offs)-1]
	bad[lastOff+blockHdrSize+3] ^= 1
	got, skips, err = readAllSkips(t, bad)
	if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), fmt.Sprintf("block %d at offset %d is corrupt (crc", len(offs)-1, lastOff)) {
		t.Fatalf("damaged last block: %v", err)
	}
	if len(skips) != 0 {
		t.Errorf("damaged last block: skips %v", skips)
	}
	sameEvents(t, got, evs[:count(lastOff)])

	// A damaged meta block.
	bad = bytes.Clone(data)
	bad[fileHeaderSize+blockHdrSize+3] ^= 1
	if _, err := NewCaptureReader(bytes.NewReader(bad)); !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), "block 0 at offset 10 is corrupt") {
		t.Errorf("corrupt meta: %v", err)
	}
}

func TestCaptureHugeBlock(t *testing.T) {
	data := writeCapture(t, nil)
	h := make([]byte, blockHdrSize)
	binary.LittleEndian.PutUint16(h, blockEvents)
	binary.LittleEndian.PutUint32(h[4:], 0xfffffff0)
	_, err := readAll(t, append(data, h...))
	if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), "more than the 16777216-byte limit") {
		t.Fatalf("huge block: %v", err)
	}

	// Within the limit but beyond the file: the reader must not allocate
	// what the length announces, only what arrives.
	binary.LittleEndian.PutUint32(h[4:], MaxCaptureBlock)
	input := append(bytes.Clone(data), h...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = readAll(t, input)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("announced 16 MiB on a short file: %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("reading a short file that announces 16 MiB allocated %d bytes", grew)
	}
}

func TestCaptureUnknownBlock(t *testing.T) {
	evs := testEvents(t, 10)
	data := writeCapture(t, evs[:5])
	data = appendBlock(data, 7, 0x8000, []byte("a process table, one day"))
	data = appendBlock(data, blockMeta, 0, []byte("a second meta block is skipped too"))
	data = appendBlock(data, 9, 0, nil)
	rest := writeCapture(t, evs[5:])
	data = append(data, rest[blocks(t, rest)[1]:]...)
	got, err := readAll(t, data)
	if err != io.EOF {
		t.Fatalf("read: %v", err)
	}
	sameEvents(t, got, evs)

	// Flags a reader does not know on a block it does know are refused:
	// a newer writer changed the block's meaning.
	data = appendBlock(writeCapture(t, nil), blockEvents, 1, evs[0])
	if _, err := readAll(t, data); !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), "flags 0x1") {
		t.Errorf("unknown flags: %v", err)
	}
}

func TestCaptureBadEvent(t *testing.T) {
	evs := testEvents(t, 3)
	payload := append(bytes.Clone(evs[0]), evs[1]...)
	bad := bytes.Clone(evs[2])
	binary.LittleEndian.PutUint16(bad[20:], uint16(EvTypeMax)+10)
	payload = append(payload, bad...)
	data := appendBlock(writeCapture(t, nil), blockEvents, 0, payload)
	got, err := readAll(t, data)
	if !errors.Is(err, ErrBadCapture) || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "event 2 at offset") {
		t.Fatalf("bad event: %v", err)
	}
	sameEvents(t, got, evs[:2])
}

func TestCaptureSchemaMismatch(t *testing.T) {
	for _, v := range []string{"2.0.0", "0.9.1", "garbage"} {
		var buf bytes.Buffer
		m := testMeta
		m.SchemaVersion = v
		if _, err := NewCaptureWriter(&buf, m); err != nil {
			t.Fatal(err)
		}
		_, err := NewCaptureReader(&buf)
		if !errors.Is(err, ErrBadCapture) || !strings.Contains(err.Error(), v) {
			t.Errorf("schema %s: %v", v, err)
		}
		if v == "2.0.0" && !strings.Contains(err.Error(), "captured with schema 2.0.0, this vigil reads "+SchemaVersion) {
			t.Errorf("schema %s: %v", v, err)
		}
	}
	// A newer minor version is readable.
	var buf bytes.Buffer
	m := testMeta
	m.SchemaVersion = "1.7.0"
	NewCaptureWriter(&buf, m)
	if _, err := NewCaptureReader(&buf); err != nil {
		t.Errorf("schema 1.7.0: %v", err)
	}
}

func TestCreateCapture(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.cap")
	evs := testEvents(t, 500)
	cw, err := CreateCapture(path, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	for _, raw := range evs {
		e.Decode(raw)
		if err := cw.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	// Until Close, only the .tmp file exists, and it is readable so far.
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("final name exists before Close: %v", err)
	}
	if fi, err := os.Stat(path + ".tmp"); err != nil || fi.Mode().Perm() != DefaultCaptureMode {
		t.Fatalf("tmp file: %v %v", fi, err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := cw.Write(&e); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("tmp file left behind: %v", err)
	}

	cr, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for {
		e, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bytes.Clone(e.Raw))
	}
	sameEvents(t, got, evs)
	if st, err := cr.Stats(); err != nil || st.Events != uint64(len(evs)) || st.Drops != 0 {
		t.Errorf("stats = %+v, %v", st, err)
	}
	if err := cr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cr.Next(); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
	// A leftover .tmp is the only copy of an interrupted capture: refused,
	// not overwritten.
	os.WriteFile(path+".tmp", []byte("interrupted"), 0o600)
	if _, err := CreateCapture(path, testMeta); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("CreateCapture over a leftover .tmp: %v", err)
	}
	if b, _ := os.ReadFile(path + ".tmp"); string(b) != "interrupted" {
		t.Errorf("leftover .tmp overwritten: %q", b)
	}
	if _, err := CreateCapture(filepath.Join(dir, "no", "such", "dir.cap"), testMeta); err == nil {
		t.Error("CreateCapture in a missing directory succeeded")
	}
	if _, err := OpenCapture(filepath.Join(dir, "missing.cap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenCapture of a missing file: %v", err)
	}
}

// A writer whose file fails keeps the .tmp name and says where it is.
func TestCreateCaptureFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.cap")
	cw, err := CreateCapture(path, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	// Make the rename fail: a non-empty directory at the final name.
	os.MkdirAll(filepath.Join(path, "sub"), 0o755)
	err = cw.Close()
	if err == nil || !strings.Contains(err.Error(), path+".tmp") {
		t.Fatalf("Close = %v, want an error naming the .tmp file", err)
	}
	if _, err := os.Stat(path + ".tmp"); err != nil {
		t.Errorf("tmp file gone: %v", err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestCaptureWriteErrors(t *testing.T) {
	if _, err := NewCaptureWriter(&failWriter{}, testMeta); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("header write: %v", err)
	}
	cw, err := NewCaptureWriter(&failWriter{n: 1}, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	for _, raw := range testEvents(t, 2000) {
		e.Decode(raw)
		if err = cw.Write(&e); err != nil {
			break
		}
	}
	if err == nil {
		// Fewer bytes than one write gathers: the first write is Flush's.
		err = cw.Flush()
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "block 1 at offset") {
		t.Fatalf("block write: %v", err)
	}
	// The error sticks.
	if err := cw.Write(&e); err == nil {
		t.Error("Write after a failed write succeeded")
	}
	if err := cw.Close(); err == nil {
		t.Error("Close after a failed write succeeded")
	}

	// An event whose bytes do not match its header is refused.
	cw, _ = NewCaptureWriter(io.Discard, testMeta)
	raw := buildRaw(t, EvClose, 0, 3)
	if err := cw.Write(&Event{Raw: raw[:10]}); !errors.Is(err, ErrMalformed) {
		t.Errorf("short event: %v", err)
	}
	if err := cw.Write(&Event{Raw: append(raw, 0)}); !errors.Is(err, ErrMalformed) {
		t.Errorf("event longer than its header says: %v", err)
	}
	m := testMeta
	m.Hostname = strings.Repeat("h", 70000)
	if _, err := NewCaptureWriter(io.Discard, m); err == nil || !strings.Contains(err.Error(), "hostname") {
		t.Errorf("oversized hostname: %v", err)
	}
}

func TestCaptureNextAllocs(t *testing.T) {
	evs := testEvents(t, 20000)
	data := writeCapture(t, evs)
	cr, err := NewCaptureReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// Warm up: the block buffer reaches its size.
	for range 200 {
		if _, err := cr.Next(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(10000, func() {
		if _, err := cr.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %v times per event, want 0", allocs)
	}
}

func BenchmarkCaptureNext(b *testing.B) {
	data := writeCapture(b, testEvents(b, 20000))
	b.SetBytes(int64(len(data)) / 20000)
	b.ReportAllocs()
	cr, _ := NewCaptureReader(bytes.NewReader(data))
	for b.Loop() {
		if _, err := cr.Next(); err == io.EOF {
			cr, _ = NewCaptureReader(bytes.NewReader(data))
		}
	}
}

// A snapshot written first comes back from Snapshot, is not among the
// events Next returns, and readers that do not ask for it lose nothing.
func TestCaptureSnapshot(t *testing.T) {
	all := testEvents(t, 40)
	snap, evs := all[:6], all[6:]
	asEvents := func(raws [][]byte) []*Event {
		var out []*Event
		for _, r := range raws {
			var e Event
			if err := e.Decode(r); err != nil {
				t.Fatal(err)
			}
			out = append(out, e.Copy())
		}
		return out
	}
	var buf bytes.Buffer
	w, err := NewCaptureWriter(&buf, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSnapshot(asEvents(snap)); err != nil {
		t.Fatal(err)
	}
	for _, e := range asEvents(evs) {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteSnapshot(nil); err == nil {
		t.Fatal("a second snapshot, after events, was accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()

	r, err := NewCaptureReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, e := range got {
		raws = append(raws, e.Raw)
	}
	sameEvents(t, raws, snap)
	rest, err := readAllFrom(r)
	if err != io.EOF {
		t.Fatalf("read: %v", err)
	}
	sameEvents(t, rest, evs)
	if _, err := r.Snapshot(); err == nil {
		t.Fatal("Snapshot after Next gave no error")
	}

	// Without Snapshot, Next skips it.
	plain, err := readAll(t, data)
	if err != io.EOF {
		t.Fatalf("read: %v", err)
	}
	sameEvents(t, plain, evs)

	// A capture without a snapshot: Snapshot returns nothing, and the
	// first events block is still read.
	r, err = NewCaptureReader(bytes.NewReader(writeCapture(t, evs)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Snapshot(); err != nil || len(got) != 0 {
		t.Fatalf("Snapshot of a capture without one: %d events, %v", len(got), err)
	}
	rest, _ = readAllFrom(r)
	sameEvents(t, rest, evs)
}

func readAllFrom(r *CaptureReader) ([][]byte, error) {
	var out [][]byte
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(e.Raw))
	}
}

// writeTestCapture writes evs to a capture created at path with mode.
func writeTestCapture(t *testing.T, path string, mode os.FileMode, evs [][]byte) error {
	t.Helper()
	cw, err := CreateCaptureMode(path, testMeta, mode)
	if err != nil {
		return err
	}
	var e Event
	for _, raw := range evs {
		if err := e.Decode(raw); err != nil {
			t.Fatal(err)
		}
		if err := cw.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	return cw.Close()
}

// A capture to a device is written into the device, which stays a device
// (the rename of the .tmp file once replaced /dev/null with a file).
func TestCreateCaptureCharDevice(t *testing.T) {
	dir := t.TempDir()
	null := filepath.Join(dir, "null")
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("mknod a character device (needs root): %v", err))
	}
	var before, after unix.Stat_t
	if err := unix.Lstat(null, &before); err != nil {
		t.Fatal(err)
	}
	if err := writeTestCapture(t, null, 0o600, testEvents(t, 2000)); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(null, &after); err != nil {
		t.Fatal(err)
	}
	if after.Mode&unix.S_IFMT != unix.S_IFCHR || after.Rdev != unix.Mkdev(1, 3) || after.Ino != before.Ino || after.Mode != before.Mode {
		t.Fatalf("after the capture %s has mode %o, rdev %d:%d, inode %d; want the character device 1:3 it was (mode %o, inode %d)",
			null, after.Mode, unix.Major(after.Rdev), unix.Minor(after.Rdev), after.Ino, before.Mode, before.Ino)
	}
	if _, err := os.Stat(null + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("a .tmp file was made beside the device: %v", err)
	}
}

// A capture to a FIFO streams into it, whole, and the FIFO stays.
func TestCreateCaptureFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	evs := testEvents(t, 2000)
	got := make(chan []byte, 1)
	go func() {
		// Opening for reading waits for the writer, and the other way round.
		b, err := os.ReadFile(fifo)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	if err := writeTestCapture(t, fifo, DefaultCaptureMode, evs); err != nil {
		t.Fatal(err)
	}
	var data []byte
	select {
	case data = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing came through the FIFO in 10s: the capture went elsewhere")
	}
	read, err := readAll(t, data)
	if err != io.EOF {
		t.Fatalf("reading what came through the FIFO: %v", err)
	}
	sameEvents(t, read, evs)
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode().Type() != os.ModeNamedPipe {
		t.Fatalf("after the capture %s is %v (%v), want the FIFO", fifo, fi.Mode(), err)
	}
}

// A symbolic link is followed: the capture replaces the file it points to
// and the link stays. A link to nothing and a directory are refused.
func TestCreateCaptureSymlink(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "real.vcap"), filepath.Join(dir, "link.vcap")
	if err := os.WriteFile(target, []byte("an older capture"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.vcap", link); err != nil {
		t.Fatal(err)
	}
	evs := testEvents(t, 100)
	if err := writeTestCapture(t, link, DefaultCaptureMode, evs); err != nil {
		t.Fatal(err)
	}
	if dest, err := os.Readlink(link); err != nil || dest != "real.vcap" {
		t.Fatalf("after the capture %s is no longer the link to real.vcap: %q, %v", link, dest, err)
	}
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, data)
	if err != io.EOF {
		t.Fatalf("reading the link's target: %v", err)
	}
	sameEvents(t, got, evs)
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}

	dangling := filepath.Join(dir, "dangling.vcap")
	if err := os.Symlink("missing/x.vcap", dangling); err != nil {
		t.Fatal(err)
	}
	err = writeTestCapture(t, dangling, DefaultCaptureMode, evs)
	if err == nil || !strings.Contains(err.Error(), "symbolic link to missing/x.vcap, which does not exist") {
		t.Errorf("capture to a dangling link: %v", err)
	}
	err = writeTestCapture(t, dir, DefaultCaptureMode, evs)
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("capture to a directory: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
		t.Errorf("refused captures left %v", left)
	}
}

// A capture gets exactly the mode asked for, whatever the umask: by
// default one that users without root can read.
func TestCreateCaptureMode(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	dir := t.TempDir()
	for _, mode := range []os.FileMode{DefaultCaptureMode, 0o600, 0o640} {
		path := filepath.Join(dir, fmt.Sprintf("%04o.vcap", mode))
		if err := writeTestCapture(t, path, mode, testEvents(t, 10)); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("capture with mode %04o: %v, %v", mode, fi.Mode(), err)
		}
	}
	path := filepath.Join(dir, "default.vcap")
	cw, err := CreateCapture(path, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("CreateCapture under umask 077: %v, %v; want group and others to read it", fi.Mode(), err)
	}
}

// A damaged snapshot costs the snapshot, not the events after it; garbage
// longer than what the reader keeps in memory is skipped too.
func TestCaptureCorruptSnapshotAndGarbage(t *testing.T) {
	all := testEvents(t, 3000)
	snap, evs := all[:50], all[50:]
	var buf bytes.Buffer
	w, err := NewCaptureWriter(&buf, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	var snapEvs []*Event
	for _, raw := range snap {
		e.Decode(raw)
		snapEvs = append(snapEvs, e.Copy())
	}
	if err := w.WriteSnapshot(snapEvs); err != nil {
		t.Fatal(err)
	}
	for _, raw := range evs {
		e.Decode(raw)
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	data := buf.Bytes()
	offs := blocks(t, data)
	data[offs[1]+blockHdrSize+30] ^= 0x80 // in the snapshot

	// 3 MiB of garbage where the third events block was.
	garbage := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{1}).Read(garbage)
	for i := 0; i+4 <= len(garbage); i += 997 {
		copy(garbage[i:], "\x01\x00\x00\x00") // events block headers, as far as the type and flags go
	}
	data = slices.Concat(data[:offs[4]], garbage, data[offs[5]:])

	cr, err := NewCaptureReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cr.Snapshot(); err != nil || len(got) != 0 {
		t.Fatalf("damaged snapshot: %d events, %v; want none and no error (it is reported by Skipped)", len(got), err)
	}
	got, err := readAllFrom(cr)
	if err != io.EOF {
		t.Fatalf("read: %v", err)
	}
	count := func(end int) int { got, _ := readAll(t, buf.Bytes()[:end]); return len(got) }
	want := slices.Concat(evs[:count(offs[4])], evs[count(offs[5]):])
	sameEvents(t, got, want)
	skips := cr.Skipped()
	if len(skips) != 2 || skips[0].Offset != int64(offs[1]) || skips[0].Bytes != int64(offs[2]-offs[1]) ||
		skips[1].Offset != int64(offs[4]) || skips[1].Bytes != int64(len(garbage)) {
		t.Errorf("skips %v; want the snapshot block at %d (%d bytes) and %d bytes of garbage at %d",
			skips, offs[1], offs[2]-offs[1], len(garbage), offs[4])
	}
}

// recordWriter keeps what it is given, and the size of each write.
type recordWriter struct {
	data   []byte
	writes []int
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.data = append(w.data, p...)
	w.writes = append(w.writes, len(p))
	return len(p), nil
}

// Events go to the file in large sequential writes of whole blocks, not a
// write per block: the blocks themselves stay about 64 KiB, as a reader
// of any version expects, so that damage still costs one small block.
func TestCaptureWritesLargeBlocks(t *testing.T) {
	var w recordWriter
	cw, err := NewCaptureWriter(&w, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	evs := testEvents(t, 30000)
	var e Event
	size := 0
	for _, raw := range evs {
		if err := e.Decode(raw); err != nil {
			t.Fatal(err)
		}
		if err := cw.Write(&e); err != nil {
			t.Fatal(err)
		}
		size += len(raw)
	}
	if size < 3*writeSize {
		t.Fatalf("%d bytes of events; the test wants several writes' worth", size)
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	// The header and meta block, the full writes, Flush's rest.
	writes := w.writes[1:]
	for i, n := range writes[:len(writes)-1] {
		if n < writeSize || n > writeSize+targetBlock+blockHdrSize {
			t.Errorf("write %d of %d: %d bytes, want about %d", i, len(writes), n, writeSize)
		}
	}
	if len(writes) > size/writeSize+1 {
		t.Errorf("%d writes for %d bytes", len(writes), size)
	}
	offs := blocks(t, w.data)
	for i, off := range offs[1:] {
		if n := int(binary.LittleEndian.Uint32(w.data[off+4:])); n > targetBlock {
			t.Errorf("block %d: %d bytes, more than %d", i+1, n, targetBlock)
		}
	}
	if len(offs) < size/targetBlock {
		t.Errorf("%d blocks for %d bytes of events", len(offs), size)
	}
	got, err := readAll(t, w.data)
	if err != io.EOF {
		t.Fatalf("read: %v, want io.EOF", err)
	}
	sameEvents(t, got, evs)
}

// Writing events allocates nothing, across block ends and writes too.
func TestCaptureWriteAllocs(t *testing.T) {
	cw, err := NewCaptureWriter(io.Discard, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	evs := testEvents(t, 1000)
	decoded := make([]Event, len(evs))
	for i, raw := range evs {
		if err := decoded[i].Decode(raw); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(100000, func() {
		if err := cw.Write(&decoded[i%len(decoded)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Write allocates %v times per event, want 0", allocs)
	}
	if cw.written < 10 {
		t.Errorf("%d blocks written; the test wants several writes", cw.written)
	}
}

func BenchmarkCaptureWrite(b *testing.B) {
	evs := benchStream(b)
	decoded := make([]Event, len(evs))
	size := 0
	for i, raw := range evs {
		if err := decoded[i].Decode(raw); err != nil {
			b.Fatal(err)
		}
		size += len(raw)
	}
	cw, err := NewCaptureWriter(io.Discard, testMeta)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size / len(evs)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := cw.Write(&decoded[i%len(decoded)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
