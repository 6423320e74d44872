// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// Users resolves uids and gids to the accounts of one root's /etc/passwd
// and /etc/group: the host's, or a container image's. Lookups are safe for
// concurrent use and allocate nothing; the files are read again when their
// modification time or size changes, checked at most once a second, once
// the change is a second old.
type Users struct {
	passwd, group string
	cur           atomic.Pointer[userSnap]
	nextCheck     atomic.Int64 // unix nanoseconds
	now           func() time.Time
}

// userSnap is one reading of the files; never changed once published.
type userSnap struct {
	users  map[uint32]User
	groups map[uint32]Group
	// What the files looked like when read; a change triggers a reload.
	passwdStamp, groupStamp fileStamp
	malformed               int
}

type fileStamp struct {
	mtime int64
	size  int64
	ok    bool
}

// NewUsers reads <root>/etc/passwd and <root>/etc/group. A missing file is
// an empty table (a minimal image may have none); the error reports a file
// that exists but cannot be read, and the Users returned still serves what
// could be read.
func NewUsers(root string) (*Users, error) {
	u := &Users{
		passwd: filepath.Join(root, "etc", "passwd"),
		group:  filepath.Join(root, "etc", "group"),
		now:    time.Now,
	}
	err := u.load()
	u.nextCheck.Store(u.now().Add(time.Second).UnixNano())
	return u, err
}

// User returns the account of uid.
func (u *Users) User(uid uint32) (User, bool) {
	u.maybeReload()
	usr, ok := u.cur.Load().users[uid]
	return usr, ok
}

// Group returns the group of gid.
func (u *Users) Group(gid uint32) (Group, bool) {
	u.maybeReload()
	g, ok := u.cur.Load().groups[gid]
	return g, ok
}

// Malformed returns how many lines of the files as last read were skipped
// because they could not be parsed.
func (u *Users) Malformed() int { return u.cur.Load().malformed }

// maybeReload re-reads the files when a second has passed since the last
// check and either changed. One caller wins the check; the others go on
// with the current snapshot.
func (u *Users) maybeReload() {
	next := u.nextCheck.Load()
	now := u.now().UnixNano()
	if now < next || !u.nextCheck.CompareAndSwap(next, now+int64(time.Second)) {
		return
	}
	cur := u.cur.Load()
	ps, gs := stamp(u.passwd), stamp(u.group)
	if ps == cur.passwdStamp && gs == cur.groupStamp {
		return
	}
	// A file written in place (truncated, then written) reads empty or
	// half written for a moment: wait until it has not changed for a
	// second. Tools that replace it by rename are read at once after that.
	if !settled(ps, now) || !settled(gs, now) {
		return
	}
	_ = u.load() // on error the files as read so far serve until they change again
}

// settled reports whether a file last changed at least a second ago (or
// has a modification time in the future, from a clock set back, which no
// wait would settle).
func settled(s fileStamp, now int64) bool {
	d := now - s.mtime
	return !s.ok || d >= int64(time.Second) || d < -int64(time.Minute)
}

func stamp(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mtime: st.ModTime().UnixNano(), size: st.Size(), ok: true}
}

// load reads both files into a new snapshot and publishes it.
func (u *Users) load() error {
	s := &userSnap{passwdStamp: stamp(u.passwd), groupStamp: stamp(u.group)}
	var errs []error
	b, err := os.ReadFile(u.passwd)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("read users %s: %w", u.passwd, err))
	}
	var bad int
	s.users, bad = parsePasswd(b)
	s.malformed += bad
	b, err = os.ReadFile(u.group)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("read groups %s: %w", u.group, err))
	}
	s.groups, bad = parseGroup(b)
	s.malformed += bad
	u.cur.Store(s)
	return errors.Join(errs...)
}

// parsePasswd reads passwd(5) lines, "name:password:uid:gid:gecos:home:shell".
// Comments and blank lines are skipped; lines that do not parse are skipped
// and counted. The first entry of a uid wins, as getpwuid finds it.
func parsePasswd(b []byte) (m map[uint32]User, bad int) {
	m = make(map[uint32]User)
	forLines(b, func(line []byte) {
		var f [7][]byte
		if !splitN(line, f[:]) || len(f[0]) == 0 {
			bad++
			return
		}
		uid, err := strconv.ParseUint(string(f[2]), 10, 32)
		if err != nil {
			bad++
			return
		}
		if _, dup := m[uint32(uid)]; !dup {
			m[uint32(uid)] = User{UID: uint32(uid), Name: string(f[0]), Home: string(f[5]), Shell: string(f[6])}
		}
	})
	return m, bad
}

// parseGroup reads group(5) lines, "name:password:gid:members".
func parseGroup(b []byte) (m map[uint32]Group, bad int) {
	m = make(map[uint32]Group)
	forLines(b, func(line []byte) {
		var f [4][]byte
		if !splitN(line, f[:]) || len(f[0]) == 0 {
			bad++
			return
		}
		gid, err := strconv.ParseUint(string(f[2]), 10, 32)
		if err != nil {
			bad++
			return
		}
		if _, dup := m[uint32(gid)]; !dup {
			m[uint32(gid)] = Group{GID: uint32(gid), Name: string(f[0])}
		}
	})
	return m, bad
}

// forLines calls fn for each line that is neither blank nor a comment.
// NIS lines ("+", "-name") are not accounts of this root and are skipped.
func forLines(b []byte, fn func([]byte)) {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		if t := bytes.TrimSpace(line); len(t) == 0 || t[0] == '#' || t[0] == '+' || t[0] == '-' {
			continue
		}
		fn(line)
	}
}

// splitN splits line at ':' into exactly len(f) fields.
func splitN(line []byte, f [][]byte) bool {
	for i := range f {
		if i == len(f)-1 {
			if bytes.IndexByte(line, ':') >= 0 {
				return false
			}
			f[i] = line
			return true
		}
		j := bytes.IndexByte(line, ':')
		if j < 0 {
			return false
		}
		f[i], line = line[:j], line[j+1:]
	}
	return false
}
