// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/uname"
)

// Capture file format, version 1 (`vigil capture -w`, `vigil events -r`).
// Little-endian throughout.
//
//	off  size  field
//	  0     8  magic    "VIGILCAP"
//	  8     2  version  format version: 1
//	 10     …  blocks, back to back; the first is the meta block
//
// Every block:
//
//	off  size  field
//	  0     2  type     0 meta, 1 events, 2 snapshot; a reader skips
//	                    other types
//	  2     2  flags    0; a reader refuses a known block type with flags
//	                    it does not know (a newer writer changed its meaning)
//	  4     4  len      payload length, at most MaxCaptureBlock
//	  8     4  crc      CRC-32C (Castagnoli) of bytes 0..8 of this header,
//	                    then of the payload
//	 12   len  payload
//
// The CRC covers type, flags and length as well as the payload: with a
// payload-only CRC a flipped bit in the type would turn an events block into
// an "unknown" one that readers skip, losing its events without a word.
//
// Meta payload (block type 0, exactly once, first). str is a u16 length
// followed by that many bytes:
//
//	size   field
//	2+n    str  schema version the events follow ("1.0.0")
//	2+n    str  architecture, a GOARCH name (resolves generic syscall ids)
//	8      i64  clock offset: CLOCK_REALTIME - CLOCK_BOOTTIME in ns (see Clock)
//	2+n    str  hostname
//	2+n    str  kernel release (uname -r)
//	8      i64  creation time, Unix ns
//
// A later minor revision may append meta fields; readers ignore bytes past
// the ones they know.
//
// Events payload (block type 1): events in the wire format (see Event),
// back to back; a writer fills a block to about 64 KiB, and writes blocks
// to the file about 1 MiB at a time.
//
// Snapshot payload (block type 2, at most once, right after the meta
// block): events in the wire format, like an events block, that describe
// the processes alive when the capture began (as successful execve exit
// events) and their open files (as openat exit events). They are state,
// not activity: Next skips them; Snapshot returns them. Readers that
// predate the snapshot skip the block, as they skip every unknown type.
//
// Type numbers 3 and up are reserved; readers skip them after checking
// their CRC.
//
// A damaged block (bad CRC, impossible length) after the meta block loses
// its own events only: a reader looks byte by byte for the next events
// block whose CRC matches and goes on from there, saying what it skipped.

// ErrBadCapture wraps every error about a capture file's contents.
var ErrBadCapture = errors.New("bad capture file")

const (
	captureMagic   = "VIGILCAP"
	captureVersion = 1
	fileHeaderSize = 10
	blockHdrSize   = 12

	blockMeta     = 0
	blockEvents   = 1
	blockSnapshot = 2

	// targetBlock is where a writer closes an events block: large enough
	// that the per-block cost vanishes, small enough that a damaged block
	// loses little.
	targetBlock = 64 << 10
	// writeSize is how many bytes of closed blocks a writer gathers before
	// it writes them: one large sequential write, not one per block.
	writeSize = 1 << 20
)

// MaxCaptureBlock bounds a block's payload so that a damaged length field
// cannot make a reader allocate without limit. The largest possible event
// (MaxParams parameters of 64 KiB) is about 1.5 MiB, well below it.
const MaxCaptureBlock = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func blockCRC(hdr, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, hdr[:8]), castagnoli, payload)
}

// CaptureMeta describes where and when a capture was taken; a reader needs
// it to interpret the events (schema, syscall numbering, wall-clock time).
type CaptureMeta struct {
	SchemaVersion string    // schema the events follow; NewCaptureWriter fills in SchemaVersion when empty
	Arch          string    // GOARCH of the captured host; filled in with runtime.GOARCH when empty
	ClockOffset   int64     // realtime - boottime in ns, from Clock.Offset
	Hostname      string    // the captured host
	KernelRelease string    // uname -r of the captured host
	Created       time.Time // when the capture began; filled in with time.Now when zero
}

// NewCaptureMeta describes this host now, with clock's offset: what a live
// capture records.
func NewCaptureMeta(clock Clock) CaptureMeta {
	m := CaptureMeta{
		SchemaVersion: SchemaVersion,
		Arch:          runtime.GOARCH,
		ClockOffset:   clock.Offset(),
		Created:       time.Now(),
	}
	m.Hostname, _ = os.Hostname()
	if u, err := uname.Read(); err == nil {
		m.KernelRelease = u.Release
	}
	return m
}

// Clock returns the captured host's clock, to turn event timestamps into
// wall-clock time.
func (m CaptureMeta) Clock() Clock { return ClockWithOffset(m.ClockOffset) }

func (m *CaptureMeta) marshal() ([]byte, error) {
	var b []byte
	str := func(field, s string) error {
		if len(s) > 0xffff {
			return fmt.Errorf("capture meta: %s is %d bytes, more than the 65535 the format holds", field, len(s))
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
		return nil
	}
	if err := str("schema version", m.SchemaVersion); err != nil {
		return nil, err
	}
	if err := str("arch", m.Arch); err != nil {
		return nil, err
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(m.ClockOffset))
	if err := str("hostname", m.Hostname); err != nil {
		return nil, err
	}
	if err := str("kernel release", m.KernelRelease); err != nil {
		return nil, err
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Created.UnixNano()))
	return b, nil
}

func (m *CaptureMeta) unmarshal(p []byte) error {
	le := binary.LittleEndian
	field := ""
	short := func() error {
		return fmt.Errorf("meta block ends inside the %s field (%d bytes)", field, len(p))
	}
	str := func(name string, dst *string) error {
		field = name
		if len(p) < 2 {
			return short()
		}
		n := int(le.Uint16(p))
		if len(p) < 2+n {
			return short()
		}
		*dst = string(p[2 : 2+n])
		p = p[2+n:]
		return nil
	}
	i64 := func(name string, dst *int64) error {
		field = name
		if len(p) < 8 {
			return short()
		}
		*dst = int64(le.Uint64(p))
		p = p[8:]
		return nil
	}
	var created int64
	for _, err := range []error{
		str("schema version", &m.SchemaVersion),
		str("arch", &m.Arch),
		i64("clock offset", &m.ClockOffset),
		str("hostname", &m.Hostname),
		str("kernel release", &m.KernelRelease),
		i64("creation time", &created),
	} {
		if err != nil {
			return err
		}
	}
	m.Created = time.Unix(0, created)
	return nil
}

// schemaMajor returns the major number of a semantic version.
func schemaMajor(v string) (int, bool) {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return n, err == nil && n >= 0 && !strings.HasPrefix(major, "+")
}

// CaptureWriter writes events to a capture file. It is not safe for
// concurrent use.
type CaptureWriter struct {
	w io.Writer
	// buf holds the closed blocks not yet written, then the open block:
	// room for its header, then its events.
	buf     []byte
	open    int // offset of the open block in buf
	blocks  int // blocks closed, the meta block included
	written int // blocks written to w
	events  uint64
	off     int64 // bytes written to w
	err     error // first write error: the file is unusable after it
	closed  bool
	// room is how long buf may grow before Write must look at the block
	// (see setRoom); 0 when Write must refuse.
	room int

	// Set by CreateCapture: the file Close closes, and renames from tmp to
	// path unless tmp is "" (a device or FIFO, written directly).
	f         *os.File
	tmp, path string
}

// NewCaptureWriter writes the file header and meta to w and returns a writer
// for the events. Empty SchemaVersion, Arch and Created in meta are filled
// in for this vigil and host; use NewCaptureMeta for the rest.
func NewCaptureWriter(w io.Writer, meta CaptureMeta) (*CaptureWriter, error) {
	if meta.SchemaVersion == "" {
		meta.SchemaVersion = SchemaVersion
	}
	if meta.Arch == "" {
		meta.Arch = runtime.GOARCH
	}
	if meta.Created.IsZero() {
		meta.Created = time.Now()
	}
	payload, err := meta.marshal()
	if err != nil {
		return nil, err
	}
	cw := &CaptureWriter{w: w, buf: make([]byte, blockHdrSize, writeSize+targetBlock+blockHdrSize)}
	hdr := make([]byte, 0, fileHeaderSize+blockHdrSize+len(payload))
	hdr = append(hdr, captureMagic...)
	hdr = binary.LittleEndian.AppendUint16(hdr, captureVersion)
	hdr = append(hdr, make([]byte, blockHdrSize)...)
	hdr = append(hdr, payload...)
	putBlockHeader(hdr[fileHeaderSize:], blockMeta, payload)
	cw.blocks++
	if err := cw.write(hdr, 1); err != nil {
		return nil, err
	}
	cw.setRoom()
	return cw, nil
}

// DefaultCaptureMode is the permission of a capture file CreateCapture
// writes: readable by every user, so that reading a capture needs no root
// (see README). Events hold every process's command lines and paths: pass
// 0600 to CreateCaptureMode to keep a capture to its owner.
const DefaultCaptureMode os.FileMode = 0o644

// CreateCapture creates a capture file at path with DefaultCaptureMode; see
// CreateCaptureMode.
func CreateCapture(path string, meta CaptureMeta) (*CaptureWriter, error) {
	return CreateCaptureMode(path, meta, DefaultCaptureMode)
}

// CreateCaptureMode creates a capture file at path with permission mode
// (exactly: the umask does not apply).
//
// A regular file is written to path+".tmp" and renamed to path on Close, so
// a capture that is interrupted (killed, a full disk) never leaves a half
// file under the name readers look for; the .tmp file of a killed capture
// is still readable up to its last block. An existing .tmp file is refused
// rather than overwritten: it is either another capture running or the
// only copy of an interrupted one.
//
// A path that exists and is not a regular file or a directory (/dev/null,
// a FIFO, a terminal) is written to directly, mode untouched: renaming
// over it would replace the device with a file. A symbolic link is
// followed: the capture replaces the file it points to and the link stays.
// A link to nothing is refused, as is a directory.
func CreateCaptureMode(path string, meta CaptureMeta, mode os.FileMode) (*CaptureWriter, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if dest, lerr := os.Readlink(path); lerr == nil {
			return nil, fmt.Errorf("create capture %s: it is a symbolic link to %s, which does not exist: create that file, or capture to it directly",
				path, dest)
		}
	case err != nil:
		return nil, fmt.Errorf("create capture: %w", err)
	case fi.IsDir():
		return nil, fmt.Errorf("create capture %s: it is a directory: name a file in it, e.g. %s",
			path, filepath.Join(path, "vigil.vcap"))
	case !fi.Mode().IsRegular():
		return openCaptureDirect(path, meta, fi.Mode())
	default:
		// Rename over the file the link points to, not over the link.
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return nil, fmt.Errorf("create capture: %w", err)
		}
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create capture %s: %s already exists: another capture to %s is running, or one was interrupted "+
			"(read it with `vigil events -r %s`); remove or rename it, then capture again", path, tmp, path, tmp)
	}
	if err != nil {
		return nil, fmt.Errorf("create capture: %w", err)
	}
	cw, err := func() (*CaptureWriter, error) {
		if err := f.Chmod(mode.Perm()); err != nil {
			return nil, fmt.Errorf("set mode %04o: %w", mode.Perm(), err)
		}
		return NewCaptureWriter(f, meta)
	}()
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("create capture %s: %w", path, err)
	}
	cw.f, cw.tmp, cw.path = f, tmp, path
	return cw, nil
}

// openCaptureDirect writes a capture straight into the device or FIFO at
// path. Opening a FIFO waits for its reader.
func openCaptureDirect(path string, meta CaptureMeta, kind os.FileMode) (*CaptureWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("create capture: %s is a %s, written to as it is: %w", path, fileKind(kind), err)
	}
	cw, err := NewCaptureWriter(f, meta)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create capture %s: %w", path, err)
	}
	cw.f, cw.path = f, path
	return cw, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

func putBlockHeader(h []byte, typ uint16, payload []byte) {
	le := binary.LittleEndian
	le.PutUint16(h[0:], typ)
	le.PutUint16(h[2:], 0)
	le.PutUint32(h[4:], uint32(len(payload)))
	le.PutUint32(h[8:], blockCRC(h, payload))
}

// write writes p, which holds the next n blocks.
func (cw *CaptureWriter) write(p []byte, n int) error {
	if _, err := cw.w.Write(p); err != nil {
		cw.err = fmt.Errorf("write capture block %d at offset %d: %w", cw.written, cw.off, err)
		cw.setRoom()
		return cw.err
	}
	cw.off += int64(len(p))
	cw.written += n
	return nil
}

// WriteSnapshot writes the snapshot block: events that describe the
// processes alive as the capture begins (see the format above). Call it
// once, before the first Write.
func (cw *CaptureWriter) WriteSnapshot(evs []*Event) error {
	switch {
	case cw.closed:
		return fmt.Errorf("capture snapshot: %w", ErrClosed)
	case cw.err != nil:
		return cw.err
	case cw.events > 0 || cw.blocks != 1:
		return errors.New("capture snapshot: written after events; it must come first")
	}
	var payload []byte
	for _, e := range evs {
		payload = append(payload, e.Raw...)
	}
	if len(payload) > MaxCaptureBlock {
		return fmt.Errorf("capture snapshot: %d bytes, more than the %d-byte block limit", len(payload), MaxCaptureBlock)
	}
	blk := make([]byte, blockHdrSize, blockHdrSize+len(payload))
	blk = append(blk, payload...)
	putBlockHeader(blk, blockSnapshot, payload)
	cw.blocks++
	return cw.write(blk, 1)
}

// Write adds a copy of e's bytes to the capture; e may be reused at once.
// It runs once per event: the common case, an event that fits the open
// block, is small enough to be inlined into the caller's loop.
func (cw *CaptureWriter) Write(e *Event) error {
	raw := e.Raw
	// A reader splits a block by the announced lengths: one that lies
	// would make every later event of the block unreadable.
	if n := len(cw.buf); n+len(raw) <= cw.room && len(raw) >= HeaderSize &&
		binary.LittleEndian.Uint32(raw[16:20]) == uint32(len(raw)) {
		cw.buf = cw.buf[:n+len(raw)]
		copy(cw.buf[n:], raw)
		cw.events++
		return nil
	}
	return cw.writeSlow(raw)
}

// writeSlow is Write for an event that does not fit the open block, or
// that Write must refuse.
func (cw *CaptureWriter) writeSlow(raw []byte) error {
	if cw.closed || cw.err != nil || len(raw) < HeaderSize || len(raw) > MaxCaptureBlock ||
		int(binary.LittleEndian.Uint32(raw[16:20])) != len(raw) {
		return cw.refuse(raw)
	}
	if len(cw.buf)-cw.open-blockHdrSize+len(raw) > targetBlock && len(cw.buf) > cw.open+blockHdrSize {
		if err := cw.closeBlock(); err != nil {
			return err
		}
	}
	cw.buf = append(cw.buf, raw...)
	cw.events++
	return nil
}

// setRoom sets how far Write may fill buf without looking further: to the
// end of the open block, or nowhere once the writer is closed or failed.
func (cw *CaptureWriter) setRoom() {
	cw.room = 0
	if !cw.closed && cw.err == nil {
		cw.room = cw.open + blockHdrSize + targetBlock
	}
}

// refuse says why Write cannot take raw.
func (cw *CaptureWriter) refuse(raw []byte) error {
	switch n, _ := PeekLen(raw); {
	case cw.closed:
		return fmt.Errorf("capture write: %w", ErrClosed)
	case cw.err != nil:
		return cw.err
	case len(raw) < HeaderSize:
		return fmt.Errorf("capture write: %w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(raw), HeaderSize)
	case len(raw) > MaxCaptureBlock:
		return fmt.Errorf("capture write: %w: %d-byte event, more than a capture block holds (%d)", ErrMalformed, len(raw), MaxCaptureBlock)
	default:
		return fmt.Errorf("capture write: %w: event announces %d bytes but holds %d", ErrMalformed, n, len(raw))
	}
}

// closeBlock ends the open block and opens the next one, writing the
// closed blocks once they add up to writeSize.
func (cw *CaptureWriter) closeBlock() error {
	putBlockHeader(cw.buf[cw.open:], blockEvents, cw.buf[cw.open+blockHdrSize:])
	cw.blocks++
	if len(cw.buf) >= writeSize {
		err := cw.write(cw.buf, cw.blocks-cw.written)
		cw.buf = cw.buf[:0]
		if err != nil {
			cw.open = 0
			cw.buf = cw.buf[:blockHdrSize]
			return err
		}
	}
	cw.open = len(cw.buf)
	cw.buf = append(cw.buf, make([]byte, blockHdrSize)...)
	cw.setRoom()
	return nil
}

// Flush closes the open block, when it holds events, and writes every
// closed block.
func (cw *CaptureWriter) Flush() error {
	if cw.err != nil {
		return cw.err
	}
	if len(cw.buf) > cw.open+blockHdrSize {
		putBlockHeader(cw.buf[cw.open:], blockEvents, cw.buf[cw.open+blockHdrSize:])
		cw.blocks++
		cw.open = len(cw.buf)
	}
	if cw.open == 0 {
		return nil
	}
	err := cw.write(cw.buf[:cw.open], cw.blocks-cw.written)
	cw.buf = cw.buf[:blockHdrSize]
	cw.open = 0
	cw.setRoom()
	return err
}

// Events returns the number of events written so far.
func (cw *CaptureWriter) Events() uint64 { return cw.events }

// Close flushes the buffered events. It does not close the writer given to
// NewCaptureWriter; for a CreateCapture file it syncs and closes the file
// and renames it to its final name, or, when anything failed, leaves the
// .tmp file and says so. A device or FIFO is only closed.
func (cw *CaptureWriter) Close() error {
	if cw.closed {
		return nil
	}
	cw.closed = true
	err := cw.Flush()
	cw.setRoom()
	if cw.f == nil {
		return err
	}
	if cw.tmp == "" {
		if cerr := cw.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close capture %s: %w", cw.path, cerr)
		}
		return err
	}
	if err == nil {
		// Without the sync a crash after the rename could leave an empty
		// file under the final name, the very thing the rename avoids.
		if serr := cw.f.Sync(); serr != nil {
			err = fmt.Errorf("sync capture: %w", serr)
		}
	}
	if cerr := cw.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close capture: %w", cerr)
	}
	if err == nil {
		if rerr := os.Rename(cw.tmp, cw.path); rerr != nil {
			err = fmt.Errorf("rename capture: %w", rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("%w; the events written so far are in %s", err, cw.tmp)
	}
	return nil
}

// CaptureReader reads a capture file. It is a Source: Next returns io.EOF
// at the end of the file. It is not safe for concurrent use.
type CaptureReader struct {
	r    *bufio.Reader
	f    *os.File // set by OpenCapture; Close closes it
	name string   // for errors: the path, or "input"
	meta CaptureMeta

	off      int64  // file offset of the next unread byte
	block    int    // number of the current block, the meta block being 0
	blockOff int64  // file offset of the current block
	buf      []byte // payload of the current block; reused
	pos      int    // next event in buf
	hdr      [blockHdrSize]byte
	ahead    []byte       // bytes a resync read past the block it found: read before r
	skipped  []*SkipError // damaged stretches skipped so far

	ev     Event
	events uint64
	err    error // sticky: io.EOF or the first error
	closed bool
	// started is set by the first Next (or Snapshot): a snapshot can only
	// be read before the events.
	started bool
}

// OpenCapture opens the capture file at path and reads its header.
func OpenCapture(path string) (*CaptureReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	cr, err := newCaptureReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	cr.f = f
	return cr, nil
}

// NewCaptureReader reads a capture's header from r and returns a reader of
// its events. Close does not close r.
func NewCaptureReader(r io.Reader) (*CaptureReader, error) {
	return newCaptureReader(r, "input")
}

func newCaptureReader(r io.Reader, name string) (*CaptureReader, error) {
	cr := &CaptureReader{r: bufio.NewReaderSize(r, targetBlock), name: name, block: -1}
	cr.ev.CPU = -1
	if err := cr.readHeader(); err != nil {
		return nil, err
	}
	return cr, nil
}

func (cr *CaptureReader) readHeader() error {
	var h [fileHeaderSize]byte
	n, err := cr.readFull(h[:])
	cr.off += int64(n)
	if err != nil && !isEOF(err) {
		return fmt.Errorf("read %s: %w", cr.name, err)
	}
	m := min(n, len(captureMagic))
	if n == 0 {
		return fmt.Errorf("%w: %s is empty, not a vigil capture file; write one with `vigil capture -w FILE`", ErrBadCapture, cr.name)
	}
	if string(h[:m]) != captureMagic[:m] {
		return fmt.Errorf("%w: %s is not a vigil capture file (magic %q, want %q); write one with `vigil capture -w FILE`",
			ErrBadCapture, cr.name, h[:m], captureMagic)
	}
	if err != nil {
		return cr.truncated(cr.off, 0)
	}
	if v := binary.LittleEndian.Uint16(h[8:]); v != captureVersion {
		return fmt.Errorf("%w: %s has capture format version %d, this vigil reads version %d: read it with the vigil that wrote it",
			ErrBadCapture, cr.name, v, captureVersion)
	}
	typ, err := cr.readBlock()
	if err == io.EOF {
		return cr.truncated(cr.off, 0)
	}
	if err != nil {
		return err
	}
	if typ != blockMeta {
		return fmt.Errorf("%w: %s: block 0 at offset %d has type %d, want the meta block (type %d): the file is damaged",
			ErrBadCapture, cr.name, cr.blockOff, typ, blockMeta)
	}
	if err := cr.meta.unmarshal(cr.buf); err != nil {
		return fmt.Errorf("%w: %s: %v at offset %d: the file is damaged", ErrBadCapture, cr.name, err, cr.blockOff)
	}
	cr.buf = cr.buf[:0]
	got, ok := schemaMajor(cr.meta.SchemaVersion)
	want, _ := schemaMajor(SchemaVersion)
	if !ok {
		return fmt.Errorf("%w: %s names schema %q, not a semantic version: the file is damaged",
			ErrBadCapture, cr.name, cr.meta.SchemaVersion)
	}
	if got != want {
		return fmt.Errorf("%w: %s was captured with schema %s, this vigil reads %s: read it with a vigil of schema %d.x",
			ErrBadCapture, cr.name, cr.meta.SchemaVersion, SchemaVersion, got)
	}
	return nil
}

func isEOF(err error) bool { return err == io.EOF || err == io.ErrUnexpectedEOF }

// truncated reports a file that ends inside block (0: the file header,
// meta block included).
func (cr *CaptureReader) truncated(at int64, block int) error {
	where := "the file header"
	if block > 0 {
		where = fmt.Sprintf("block %d", block)
	}
	return fmt.Errorf("%w: %s truncated at offset %d inside %s: the capture was cut short (was the writer killed?); %d events before it are readable",
		ErrBadCapture, cr.name, at, where, cr.events)
}

// readFull reads len(p) bytes, those a resync read ahead first, like
// io.ReadFull.
func (cr *CaptureReader) readFull(p []byte) (int, error) {
	n := copy(p, cr.ahead)
	cr.ahead = cr.ahead[n:]
	if n == len(p) {
		return n, nil
	}
	m, err := io.ReadFull(cr.r, p[n:])
	if err == io.EOF && n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n + m, err
}

// readBlock reads the next block into cr.buf and returns its type. It
// returns io.EOF only at a clean end: no byte of a further block. A damaged
// block after the meta block is skipped, to the next good one (see resync).
func (cr *CaptureReader) readBlock() (uint16, error) {
	le := binary.LittleEndian
	cr.blockOff = cr.off
	cr.block++
	cr.buf = cr.buf[:0]
	n, err := cr.readFull(cr.hdr[:])
	cr.off += int64(n)
	if err == io.EOF {
		return 0, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return 0, cr.truncated(cr.off, cr.block)
	}
	if err != nil {
		return 0, fmt.Errorf("read %s block %d at offset %d: %w", cr.name, cr.block, cr.blockOff, err)
	}
	typ := le.Uint16(cr.hdr[0:])
	size := le.Uint32(cr.hdr[4:])
	if size > MaxCaptureBlock {
		what := fmt.Sprintf("block %d at offset %d announces %d bytes, more than the %d-byte limit", cr.block, cr.blockOff, size, MaxCaptureBlock)
		return cr.resync(what, fmt.Errorf("%w: %s: %s: the file is damaged; the events before it were read",
			ErrBadCapture, cr.name, what))
	}
	if err := cr.readPayload(int(size)); err != nil {
		if !errors.Is(err, ErrBadCapture) {
			return 0, err
		}
		// Cut short, or a damaged length that runs past the end.
		return cr.resync(fmt.Sprintf("block %d at offset %d announces %d bytes, more than the file holds", cr.block, cr.blockOff, size), err)
	}
	if got, want := blockCRC(cr.hdr[:], cr.buf), le.Uint32(cr.hdr[8:]); got != want {
		what := fmt.Sprintf("block %d at offset %d is corrupt (crc %08x, want %08x)", cr.block, cr.blockOff, got, want)
		return cr.resync(what, fmt.Errorf("%w: %s: %s; the events before it were read; the file is damaged: use the %d events read so far, or capture again",
			ErrBadCapture, cr.name, what, cr.events))
	}
	if flags := le.Uint16(cr.hdr[2:]); flags != 0 && (typ == blockMeta || typ == blockEvents) {
		return 0, fmt.Errorf("%w: %s: block %d at offset %d has flags %#x this vigil does not know: read the file with the (newer) vigil that wrote it",
			ErrBadCapture, cr.name, cr.block, cr.blockOff, flags)
	}
	return typ, nil
}

// SkipError is a damaged stretch of a capture file that the reader skipped
// to reach the next good block: the events in it are lost, those after it
// are read. It wraps ErrBadCapture.
type SkipError struct {
	Name   string // the file, or "input"
	Reason string // what was wrong with the block at Offset
	Offset int64  // where the damage begins: the damaged block
	Bytes  int64  // bytes skipped, up to the next good block
}

func (e *SkipError) Error() string {
	return fmt.Sprintf("%v: %s: %s: skipped %d bytes, from offset %d to the next good block at %d; the events in them are lost",
		ErrBadCapture, e.Name, e.Reason, e.Bytes, e.Offset, e.Offset+e.Bytes)
}

func (e *SkipError) Unwrap() error { return ErrBadCapture }

// Skipped returns the damaged stretches skipped so far, in file order; none
// for an intact file.
func (cr *CaptureReader) Skipped() []*SkipError { return cr.skipped }

// resyncTrim bounds the bytes a resync keeps behind the place it looks at.
const resyncTrim = 1 << 20

// resync looks past the damaged block at cr.blockOff, whose bytes up to
// cr.off have been read into cr.hdr and cr.buf, for the next good events
// block: one whose header is plausible, whose first event decodes, and
// whose CRC matches. It makes that block the current one and records
// the skip (what says what was wrong), or returns fail when the file ends
// first. The CRC is what makes a match trustworthy; the checks before it
// only save computing it at every byte. The meta block is not resynced:
// nothing is readable without it.
func (cr *CaptureReader) resync(what string, fail error) (uint16, error) {
	if cr.block == 0 {
		return 0, fail
	}
	le := binary.LittleEndian
	start := cr.blockOff
	// The damaged block's bytes past its first, then the file as needed.
	scan := append(append(make([]byte, 0, blockHdrSize+len(cr.buf)+targetBlock), cr.hdr[1:]...), cr.buf...)
	base := start + 1 // file offset of scan[0]
	eof := false
	// have reads until scan holds n bytes, or says the file ends first.
	have := func(n int) bool {
		for len(scan) < n && !eof {
			grow := min(n-len(scan), targetBlock)
			if cap(scan)-len(scan) < grow {
				scan = append(scan[:cap(scan)], make([]byte, grow)...)[:len(scan)]
			}
			got, err := cr.readFull(scan[len(scan) : len(scan)+grow])
			scan = scan[:len(scan)+got]
			eof = err != nil
		}
		return len(scan) >= n
	}
	for i := 0; have(i + blockHdrSize + HeaderSize); i++ {
		if i >= resyncTrim {
			scan, base, i = scan[i:], base+int64(i), 0
		}
		h := scan[i:]
		size := int(le.Uint32(h[4:]))
		if le.Uint16(h[0:]) != blockEvents || le.Uint16(h[2:]) != 0 || size < HeaderSize || size > MaxCaptureBlock {
			continue
		}
		n, _ := PeekLen(h[blockHdrSize:])
		if n < HeaderSize || n > size || !have(i+blockHdrSize+n) {
			continue
		}
		var first Event
		if first.Decode(scan[i+blockHdrSize:i+blockHdrSize+n]) != nil || !have(i+blockHdrSize+size) {
			continue
		}
		h = scan[i : i+blockHdrSize+size]
		if blockCRC(h, h[blockHdrSize:]) != le.Uint32(h[8:]) {
			continue
		}
		cr.skipped = append(cr.skipped, &SkipError{Name: cr.name, Reason: what, Offset: start, Bytes: base + int64(i) - start})
		copy(cr.hdr[:], h)
		cr.buf = append(cr.buf[:0], h[blockHdrSize:]...)
		// What was read past the block comes before the rest of the file.
		rest := scan[i+len(h):]
		cr.ahead = append(rest[:len(rest):len(rest)], cr.ahead...)
		cr.block++
		cr.blockOff = base + int64(i)
		cr.off = cr.blockOff + int64(len(h))
		return blockEvents, nil
	}
	return 0, fail
}

// readPayload reads n bytes into cr.buf. It grows the buffer with the bytes
// that actually arrive, so a damaged length on a short file costs no more
// memory than the file has.
func (cr *CaptureReader) readPayload(n int) error {
	cr.buf = cr.buf[:0]
	for len(cr.buf) < n {
		chunk := min(n-len(cr.buf), max(targetBlock, len(cr.buf)))
		if cap(cr.buf)-len(cr.buf) < chunk {
			grown := make([]byte, len(cr.buf), len(cr.buf)+chunk)
			copy(grown, cr.buf)
			cr.buf = grown
		}
		got, err := cr.readFull(cr.buf[len(cr.buf) : len(cr.buf)+chunk])
		cr.buf = cr.buf[:len(cr.buf)+got]
		cr.off += int64(got)
		if isEOF(err) {
			return cr.truncated(cr.off, cr.block)
		}
		if err != nil {
			return fmt.Errorf("read %s block %d at offset %d: %w", cr.name, cr.block, cr.blockOff, err)
		}
	}
	return nil
}

// Meta returns the capture's metadata.
func (cr *CaptureReader) Meta() CaptureMeta { return cr.meta }

// Next returns the next event; it is valid until the following call. Its
// CPU is -1: captures do not record it.
func (cr *CaptureReader) Next() (*Event, error) {
	if cr.closed {
		return nil, ErrClosed
	}
	if cr.err != nil {
		return nil, cr.err
	}
	cr.started = true
	for cr.pos >= len(cr.buf) {
		cr.pos = 0
		typ, err := cr.readBlock()
		if err != nil {
			cr.buf = cr.buf[:0]
			cr.err = err
			return nil, err
		}
		if typ != blockEvents {
			// A block this reader does not know (or a second meta block):
			// its CRC is good, so skipping it loses nothing we could read.
			cr.buf = cr.buf[:0]
		}
	}
	if err := cr.ev.Decode(cr.buf[cr.pos:]); err != nil {
		cr.err = fmt.Errorf("%w: %s: event %d at offset %d (block %d at offset %d): %w; the events before it were read; the block's checksum is good, so the writer wrote a bad event",
			ErrBadCapture, cr.name, cr.events, cr.blockOff+blockHdrSize+int64(cr.pos), cr.block, cr.blockOff, err)
		return nil, cr.err
	}
	cr.pos += len(cr.ev.Raw)
	cr.ev.CPU = -1
	cr.events++
	return &cr.ev, nil
}

// Snapshot returns the capture's snapshot events (copies the caller
// keeps), or none when the capture has no snapshot. Call it before the
// first Next: the snapshot is the block that follows the meta block.
func (cr *CaptureReader) Snapshot() ([]*Event, error) {
	if cr.closed {
		return nil, ErrClosed
	}
	if cr.started {
		return nil, errors.New("capture snapshot: read after the events; call Snapshot before Next")
	}
	cr.started = true
	if cr.err != nil {
		return nil, nil
	}
	typ, err := cr.readBlock()
	if err != nil {
		cr.buf = cr.buf[:0]
		cr.err = err
		if err == io.EOF {
			return nil, nil
		}
		return nil, err
	}
	if typ != blockSnapshot {
		// The first events block (or one Next skips): leave it to Next.
		if typ != blockEvents {
			cr.buf = cr.buf[:0]
		}
		cr.pos = 0
		return nil, nil
	}
	var evs []*Event
	for pos := 0; pos < len(cr.buf); {
		var e Event
		if err := e.Decode(cr.buf[pos:]); err != nil {
			cr.buf = cr.buf[:0]
			return nil, fmt.Errorf("%w: %s: snapshot event %d at offset %d: %w; the snapshot is unusable, the events after it are still read",
				ErrBadCapture, cr.name, len(evs), cr.blockOff+blockHdrSize+int64(pos), err)
		}
		e.CPU = -1
		pos += len(e.Raw)
		evs = append(evs, e.Copy())
	}
	cr.buf = cr.buf[:0]
	return evs, nil
}

// Stats returns the number of events read; a capture has no drops.
func (cr *CaptureReader) Stats() (Stats, error) {
	return Stats{Events: cr.events}, nil
}

// Close ends reading; it closes the file OpenCapture opened, not a reader
// given to NewCaptureReader.
func (cr *CaptureReader) Close() error {
	if cr.closed {
		return nil
	}
	cr.closed = true
	cr.buf = nil
	if cr.f != nil {
		if err := cr.f.Close(); err != nil {
			return fmt.Errorf("close capture %s: %w", cr.name, err)
		}
	}
	return nil
}

var _ Source = (*CaptureReader)(nil)
