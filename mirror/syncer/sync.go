// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package syncer copies a signed driver mirror into a directory (`vigil
// mirror sync SRC DST`), for sites whose nodes cannot reach the build
// host: the copy is served with `vigil mirror serve` or read from disk.
//
// The source's index is verified with a trusted key before any artifact
// is fetched, and copied byte for byte with its signature, so the copy is
// still vouched for by the build host's key and nothing on the way (nor
// this program) can add to it. Only missing or changed artifacts are
// transferred; an interrupted transfer resumes. The new index is published
// last, so a reader of DST never sees an index naming a file not yet
// there.
//
// A filtered copy (Filter) holds part of what its index lists: the
// source's signature covers the whole index, and a re-signed, shorter
// index would need a key at the site and break the chain of trust to the
// build host. Such a copy is checked with VerifyPartial; a loader asking
// it for an artifact it does not hold is told the file is missing
// (fs.ErrNotExist) and goes on to its next step.
package syncer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/mirror"
)

// Options says whom to trust, what to copy and how.
type Options struct {
	// Keys are the trusted public keys; the source's index must verify
	// with one of them. Required.
	Keys []ed25519.PublicKey
	// Trust, when set, also names keys that are revoked or expired, so
	// that an index signed only by one is refused naming it.
	Trust *mirror.TrustStore
	// Filter picks the artifacts to copy; the zero Filter copies all.
	Filter Filter
	// Prune removes, once the new index is published, the artifacts (and
	// partial files) in DST that the new index does not list: what the
	// source dropped, now or before.
	Prune bool
	// Transfer bounds each try (Timeout), and retries transient failures
	// (Attempts, Backoff); loader's defaults apply to zero values. A try
	// that received bytes does not count against Attempts, since the next
	// one resumes where it stopped. Its other fields are OpenSource's.
	Transfer loader.RepoOptions
	// Progress, when not nil, gets a line per transfer, retry and pruned
	// file.
	Progress io.Writer
}

// Summary is what a Sync did.
type Summary struct {
	Listed      int   // entries in the source's index
	Selected    int   // of them, those the filter keeps
	Transferred int   // artifacts fetched
	Resumed     int   // of them, those that went on from a partial file
	Bytes       int64 // bytes received from the source
	UpToDate    int   // selected artifacts DST already held, unchanged
	Published   bool  // DST's index was replaced (false: it was already the source's)
	Pruned      int   // files removed by Prune
	// Absent counts the entries of DST's new index that DST does not hold:
	// 0 unless a filter left some out (then use VerifyPartial).
	Absent int
	// Dropped are artifacts and partial files DST still holds that its
	// new index does not list (without Prune, or that Prune could not
	// remove): mirror.Verify reports them until they are removed.
	Dropped []string
	// Unavailable are the artifacts the inventory's nodes need that the
	// source does not list: those nodes will build theirs or use the probe.
	Unavailable []string
}

func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d transferred (%s", s.Transferred, mirror.HumanBytes(s.Bytes))
	if s.Resumed > 0 {
		fmt.Fprintf(&b, ", %d resumed", s.Resumed)
	}
	fmt.Fprintf(&b, "), %d up to date, %d pruned; %d of %d listed artifacts selected", s.UpToDate, s.Pruned, s.Selected, s.Listed)
	if s.Published {
		b.WriteString("; index published")
	} else {
		b.WriteString("; index unchanged")
	}
	if s.Absent > 0 {
		fmt.Fprintf(&b, "; partial copy: %d listed artifacts not held (check it with verify --partial)", s.Absent)
	}
	if len(s.Dropped) > 0 {
		fmt.Fprintf(&b, "; %d files the source dropped kept (--prune removes them)", len(s.Dropped))
	}
	if len(s.Unavailable) > 0 {
		fmt.Fprintf(&b, "; %d needed by the inventory not in the source", len(s.Unavailable))
	}
	return b.String()
}

// Sync copies src's artifacts that opts.Filter keeps into the directory
// dst, made if need be, then publishes src's index and signature in dst.
//
// Order, so that dst's index never names a file dst has not got and its
// old index stays good until the new one replaces it:
//  1. src's index is verified with opts.Keys; on failure nothing is fetched.
//  2. Each selected artifact dst lacks, or holds with another size or
//     sha256, is fetched into "<dir>/.<file>.partial", resumed from that
//     file's size when it exists, and its whole sha256 checked. A new
//     file is renamed into place at once (the old index does not list
//     it); one replacing a file the old index lists waits, complete, until
//     every transfer is done and is renamed in just before the index.
//  3. index.json, then index.json.sig, are renamed into place. (A reader
//     reading both during those two renames may see them mismatch, as with
//     mirror.WriteSigned; the loader then refuses the mirror for that try.)
//  4. With opts.Prune, the artifacts the new index does not list are
//     removed. (A reader that read the old index just before may then find
//     one missing, as if the source had dropped it a moment earlier.)
//
// On error, dst's old index is in place, and what was fetched stays for the
// next run; the Summary says what was done.
func Sync(ctx context.Context, src Source, dst string, opts Options) (Summary, error) {
	var sum Summary
	if len(opts.Keys) == 0 {
		return sum, errors.New("sync: no trusted key: give the source mirror's public key (the .pub file from `vigil mirror keygen`)")
	}
	s := &syncer{src: src, dst: dst, opts: opts, sum: &sum}
	s.defaults()

	var data, sig []byte
	err := s.retry(ctx, src.String()+"/"+mirror.IndexFile, func(ctx context.Context) (bool, error) {
		var err error
		data, sig, err = src.Index(ctx)
		return false, err
	})
	switch {
	case errors.Is(err, mirror.ErrNoSignature):
		return sum, fmt.Errorf("sync: source %s: %w: it is not signed; nothing was copied: have its operator sign it (vigil mirror keygen, vigil driver build --key-file)", src, err)
	case errors.Is(err, fs.ErrNotExist):
		return sum, fmt.Errorf("sync: source %s: no %s (%w): it is not a vigil mirror, or not its root (the directory holding %s)", src, mirror.IndexFile, err, mirror.IndexFile)
	case err != nil:
		return sum, fmt.Errorf("sync: source %s: %w", src, err)
	}
	ix, err := opts.Trust.VerifySignedIndex(data, sig, src.String()+"/"+mirror.IndexFile, opts.Keys...)
	if err != nil {
		return sum, fmt.Errorf("sync: %w; nothing was copied: check that the key you trust is the one the source's operator signs with", err)
	}
	for _, e := range ix.Entries {
		if err := checkName(e.Name); err != nil {
			return sum, fmt.Errorf("sync: source %s: its signed index lists %q: %v; nothing was copied: tell its operator (vigil mirror verify finds it)", src, e.Name, err)
		}
	}
	sel, unavailable := opts.Filter.Select(ix)
	sum.Listed, sum.Selected, sum.Unavailable = len(ix.Entries), len(sel), unavailable
	for _, u := range unavailable {
		s.printf("sync: %s: needed by the inventory, not in the source (nodes running it will build theirs or use the probe)", u)
	}

	if err := os.MkdirAll(dst, 0o755); err != nil {
		return sum, fmt.Errorf("sync: destination: %w", err)
	}
	unlock, err := lockDir(dst)
	if err != nil {
		return sum, err
	}
	defer unlock()
	if s.root, err = os.OpenRoot(dst); err != nil {
		return sum, fmt.Errorf("sync: destination: %w", err)
	}
	defer s.root.Close()

	// The old index is read without its signature: it only says which
	// files a reader may be using now, not whether any is good (every kept
	// file is hashed).
	old, err := mirror.LoadIndex(dst)
	if err != nil {
		s.printf("sync: %s: the old index does not parse (%v): it is replaced", dst, err)
		old = &mirror.Index{}
	}
	var waiting []string // complete partial files, renamed in before the index
	for _, e := range sel {
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("sync: %w; run it again to go on", err)
		}
		if s.holds(e) {
			sum.UpToDate++
			continue
		}
		if err := s.fetch(ctx, e); err != nil {
			return sum, fmt.Errorf("sync: %w; the index of %s was left as it was (run again: transfers resume)", err, dst)
		}
		if o, ok := old.Lookup(e.Name); ok && (o.SHA256 != e.SHA256 || o.Size != e.Size) {
			waiting = append(waiting, e.Name)
			continue
		}
		if err := s.root.Rename(partialName(e.Name), e.Name); err != nil {
			return sum, fmt.Errorf("sync: putting %s in place in %s: %w", e.Name, dst, err)
		}
	}
	for _, name := range waiting {
		if err := s.root.Rename(partialName(name), name); err != nil {
			return sum, fmt.Errorf("sync: putting %s in place in %s: %w; its old index was left as it was", name, dst, err)
		}
	}
	syncDirs(dst, sel)

	if sum.Published, err = publish(dst, data, sig); err != nil {
		return sum, err
	}
	s.finish(ix)
	return sum, nil
}

type syncer struct {
	src  Source
	dst  string
	root *os.Root // dst
	opts Options
	sum  *Summary
}

func (s *syncer) defaults() {
	t := &s.opts.Transfer
	if t.Timeout <= 0 {
		t.Timeout = loader.DefaultTimeout
	}
	if t.Attempts <= 0 {
		t.Attempts = loader.DefaultAttempts
	}
	if t.Backoff <= 0 {
		t.Backoff = loader.DefaultBackoff
	}
}

func (s *syncer) printf(format string, args ...any) {
	if s.opts.Progress != nil {
		fmt.Fprintf(s.opts.Progress, format+"\n", args...)
	}
}

// holds reports whether dst has e's file with e's size and sha256.
func (s *syncer) holds(e mirror.Entry) bool {
	st, err := s.root.Stat(e.Name)
	if err != nil || !st.Mode().IsRegular() || st.Size() != e.Size {
		return false
	}
	sum, n, err := hashFile(s.root, e.Name)
	return err == nil && n == e.Size && sum == e.SHA256
}

// partialName is where an artifact is fetched to: a dotfile beside it,
// which mirror.NewServer never serves.
func partialName(name string) string {
	return path.Join(path.Dir(name), "."+path.Base(name)+".partial")
}

// errRestart: a resumed transfer's whole file did not match, so the
// partial file's prefix was not the artifact's; it was emptied for a try
// from the start.
var errRestart = errors.New("the partial file's prefix was not the artifact's: restarting from byte 0")

// fetch makes e's partial file complete and checked, resuming it.
func (s *syncer) fetch(ctx context.Context, e mirror.Entry) error {
	if err := s.root.MkdirAll(path.Dir(e.Name), 0o755); err != nil {
		return fmt.Errorf("creating the directory of %s in %s: %w", e.Name, s.dst, err)
	}
	start := time.Now()
	var got, best int64
	resumed := false
	restarted := false
	err := s.retry(ctx, s.src.String()+"/"+e.Name, func(ctx context.Context) (bool, error) {
		n, from, err := s.try(ctx, e)
		got += n
		resumed = resumed || from > 0
		if errors.Is(err, errRestart) && !restarted {
			// Once: a fresh file that does not match is the source's fault.
			restarted, best = true, 0
			return true, fmt.Errorf("%w: %w", ErrTransient, err)
		}
		// Progress is a partial file longer than ever: a source that starts
		// over at each try and is cut at the same byte makes none.
		progressed := from+n > best
		best = max(best, from+n)
		return progressed, err
	})
	s.sum.Bytes += got
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is listed in the source's signed index but missing there: the source is incomplete: tell its operator (vigil mirror verify names what is missing), or sync only what it has (--release, --inventory)", err, e.Name)
	}
	if err != nil {
		return err
	}
	s.sum.Transferred++
	if resumed {
		s.sum.Resumed++
	}
	el := time.Since(start)
	s.printf("sync: fetched %s: %s in %s (%s/s)", e.Name, mirror.HumanBytes(got), el.Round(time.Millisecond), mirror.HumanBytes(mirror.Rate(got, el)))
	return nil
}

// try goes on with e's partial file from its size, and returns the bytes
// received and the offset it asked the source for. The partial file keeps
// what arrived, whatever happens, for the next try or run.
func (s *syncer) try(ctx context.Context, e mirror.Entry) (n, from int64, err error) {
	pname := partialName(e.Name)
	where := s.src.String() + "/" + e.Name
	f, err := s.root.OpenFile(pname, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, 0, fmt.Errorf("opening %s in %s: %w", pname, s.dst, err)
	}
	defer f.Close()
	h := sha256.New()
	// The prefix is hashed from disk: the end checks the whole file.
	have, err := io.Copy(h, io.LimitReader(f, e.Size+1))
	if err != nil {
		return 0, 0, fmt.Errorf("reading %s in %s: %w", pname, s.dst, err)
	}
	if have > e.Size {
		have = 0 // longer than the artifact: not its prefix
	}
	if have == e.Size && hex.EncodeToString(h.Sum(nil)) == e.SHA256 {
		return 0, have, nil // complete already (an earlier run was stopped before the rename)
	}
	if have == e.Size {
		have = 0
	}
	if have == 0 {
		if err := restart(f, h); err != nil {
			return 0, 0, fmt.Errorf("emptying %s in %s: %w", pname, s.dst, err)
		}
	}
	part, err := s.src.Open(ctx, e.Name, have)
	if err != nil {
		return 0, have, err
	}
	defer part.Close()
	if part.Size >= 0 && part.Size != e.Size {
		return 0, have, fmt.Errorf("%s is %d bytes, the signed index says %d: the source is corrupt or tampered with: tell its operator (vigil mirror verify finds such files)", where, part.Size, e.Size)
	}
	if part.Start != have {
		// The source starts over (a server ignoring Range): so do we.
		if err := restart(f, h); err != nil {
			return 0, have, fmt.Errorf("emptying %s in %s: %w", pname, s.dst, err)
		}
		have = 0
	}
	if have > 0 {
		s.printf("sync: resuming %s at %s of %s", e.Name, mirror.HumanBytes(have), mirror.HumanBytes(e.Size))
	} else {
		s.printf("sync: fetching %s (%s)", e.Name, mirror.HumanBytes(e.Size))
	}
	src := &mirror.ReadTracker{R: io.LimitReader(part, e.Size-have+1)}
	n, err = io.Copy(io.MultiWriter(f, h), src)
	if serr := f.Sync(); err == nil && serr != nil {
		err = serr
	}
	switch {
	case err != nil && src.Err != nil:
		return n, have, fmt.Errorf("%w: reading %s: %w", ErrTransient, where, err)
	case err != nil:
		return n, have, fmt.Errorf("writing %s in %s: %w", pname, s.dst, err)
	case have+n > e.Size:
		f.Truncate(0)
		return n, have, fmt.Errorf("%s is more than the %d bytes the signed index says: the source is corrupt or tampered with: tell its operator", where, e.Size)
	case have+n < e.Size:
		return n, have, fmt.Errorf("%w: %s ended after %d of %d bytes", ErrTransient, where, have+n, e.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != e.SHA256 {
		f.Truncate(0)
		if have > 0 {
			return n, have, fmt.Errorf("%s: %w", where, errRestart)
		}
		return n, have, fmt.Errorf("%s has sha256 %s, the signed index says %s: the source is corrupt or tampered with: tell its operator (vigil mirror verify finds such files)", where, sum, e.SHA256)
	}
	// A mirror is served to loaders: not the creator's umask.
	if err := f.Chmod(0o644); err != nil {
		return n, have, err
	}
	return n, have, nil
}

func restart(f *os.File, h io.Writer) error {
	h.(interface{ Reset() }).Reset()
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// retry calls try, each call bounded by Timeout, until it succeeds, fails
// for good (an error without ErrTransient), or has failed Attempts times
// in a row without progress (try returns whether it moved forward); it
// waits Backoff, then twice as long and so on, between calls.
func (s *syncer) retry(ctx context.Context, what string, try func(context.Context) (bool, error)) error {
	t := s.opts.Transfer
	wait := t.Backoff
	for failed := 1; ; failed++ {
		tctx, cancel := context.WithTimeout(ctx, t.Timeout)
		progressed, err := try(tctx)
		cancel()
		if err == nil || !errors.Is(err, ErrTransient) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (%w)", what, ctx.Err(), err)
		}
		if progressed {
			failed, wait = 0, t.Backoff
			s.printf("sync: %s: %v; going on", what, err)
			continue
		}
		if failed >= t.Attempts {
			return fmt.Errorf("%s failed %d time(s) in a row, each try bounded by %s; last: %w: check the address, the network and the proxy", what, failed, t.Timeout, err)
		}
		s.printf("sync: %s: try %d of %d failed: %v; retrying in %s", what, failed, t.Attempts, err, wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w (%w)", what, ctx.Err(), err)
		case <-timer.C:
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// publish puts data and sig in place as dst's index.json and
// index.json.sig, unless they are there already; it reports whether it
// wrote them. Each is written to a temporary file first and renamed, so a
// reader sees either the old file or the new, whole.
func publish(dst string, data, sig []byte) (bool, error) {
	indexPath := filepath.Join(dst, mirror.IndexFile)
	sigPath := filepath.Join(dst, mirror.SignatureFile)
	oldData, err1 := os.ReadFile(indexPath)
	oldSig, err2 := os.ReadFile(sigPath)
	if err1 == nil && err2 == nil && bytes.Equal(oldData, data) && bytes.Equal(oldSig, sig) {
		return false, nil
	}
	var temps []string
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	for _, f := range []struct {
		data []byte
		dst  string
	}{{data, indexPath}, {sig, sigPath}} {
		t, err := writeTemp(dst, "."+filepath.Base(f.dst)+".sync-*", f.data)
		if err != nil {
			return false, fmt.Errorf("sync: publishing the index in %s: %w", dst, err)
		}
		temps = append(temps, t)
	}
	if err := os.Rename(temps[0], indexPath); err != nil {
		return false, fmt.Errorf("sync: publishing the index in %s: %w", dst, err)
	}
	if err := os.Rename(temps[1], sigPath); err != nil {
		// The old signature does not match the new index: better none.
		os.Remove(sigPath)
		return true, fmt.Errorf("sync: publishing the index's signature in %s: %w (%s left unsigned: run sync again)", dst, err, mirror.IndexFile)
	}
	mirror.SyncDir(dst)
	return true, nil
}

func writeTemp(dir, pattern string, data []byte) (name string, err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return "", err
	}
	if err = f.Chmod(0o644); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// finish counts what DST lacks of ix, then removes (with Prune) or
// reports what the source dropped: the artifacts and partial files in DST
// that ix does not list. Only what looks like them is touched
// ("<version>/<arch>/vigil_*.ko" and its partial file): a file someone else
// put in DST is left for mirror.Verify to report.
func (s *syncer) finish(ix *mirror.Index) {
	listed := make(map[string]bool, len(ix.Entries))
	for _, e := range ix.Entries {
		listed[e.Name] = true
		if st, err := s.root.Stat(e.Name); err != nil || !st.Mode().IsRegular() {
			s.sum.Absent++
		}
	}
	var dropped []string
	fs.WalkDir(s.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && isArtifact(name) && !listed[artifactOf(name)] {
			dropped = append(dropped, name)
		}
		return nil
	})
	if !s.opts.Prune {
		s.sum.Dropped = dropped
		return
	}
	for _, name := range dropped {
		if err := s.root.Remove(name); err != nil {
			s.printf("sync: cannot prune %s: %v", name, err)
			s.sum.Dropped = append(s.sum.Dropped, name)
			continue
		}
		s.sum.Pruned++
		s.printf("sync: pruned %s", name)
		// Directories the build made and that are now empty; Remove
		// refuses one that is not.
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if s.root.Remove(d) != nil {
				break
			}
		}
	}
}

// isArtifact reports whether name (a path in a mirror) is where a build or
// a sync puts a module, or its partial file.
func isArtifact(name string) bool {
	dv, arch := pathDirs(name)
	base := path.Base(artifactOf(name))
	return dv != "" && arch != "" && strings.HasPrefix(base, "vigil_") && strings.HasSuffix(base, ".ko")
}

// artifactOf returns the artifact a partial file is for, or name itself.
func artifactOf(name string) string {
	base := path.Base(name)
	if a, ok := strings.CutSuffix(strings.TrimPrefix(base, "."), ".partial"); ok && strings.HasPrefix(base, ".") {
		return path.Join(path.Dir(name), a)
	}
	return name
}

// checkName refuses a name that is not a clean relative path inside the
// mirror, or that names a dotfile (where partial files live).
func checkName(name string) error {
	switch {
	case name == "", strings.HasPrefix(name, "/"), strings.ContainsAny(name, "\\\x00"):
		return errors.New("not a relative path with forward slashes")
	case path.Clean(name) != name:
		return errors.New("not a clean path")
	case name == mirror.IndexFile || name == mirror.SignatureFile:
		return errors.New("names the index itself")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." || strings.HasPrefix(el, ".") {
			return errors.New(`has ".." or a dotfile (which mirrors never serve)`)
		}
	}
	return nil
}

// lockDir takes an exclusive lock on the directory dir, so two syncs into
// it do not write the same partial files. The lock is on the directory
// itself: a lock file would be a file its index does not list.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("sync: destination: %w", err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sync: another vigil mirror sync is writing %s: wait for it to end", dir)
		}
		return nil, fmt.Errorf("sync: locking %s: %w", dir, err)
	}
	return func() { d.Close() }, nil
}

func hashFile(r *os.Root, name string) (string, int64, error) {
	f, err := r.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// syncDirs makes the renames into the directories of entries durable
// before the index naming them is published.
func syncDirs(dst string, entries []mirror.Entry) {
	done := map[string]bool{}
	for _, e := range entries {
		d := path.Dir(e.Name)
		if !done[d] {
			done[d] = true
			mirror.SyncDir(filepath.Join(dst, filepath.FromSlash(d)))
		}
	}
}
