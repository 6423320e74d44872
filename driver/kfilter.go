// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"fmt"
	"math/bits"
	"strings"
)

// KernelFilter is what a driver may discard before an event reaches its
// buffer, beyond the syscall selection: derived from the loaded rules and
// the state tables' needs (engine/kfilter), so that no alert changes. It
// covers the exit events of the open family, socket and connect; every
// other event, and every entry event, passes. Filtered events are
// neither events nor drops in Stats: they are counted apart (Filtered).
type KernelFilter struct {
	// OpenAll holds the open-family events (KFOpen...) kept whole.
	OpenAll uint8
	// OpenSuccess holds the open-family events kept whenever they
	// succeed: the fd they make is read later.
	OpenSuccess uint8
	// OpenTerms keep an open-family event whose path starts with the
	// prefix and which has what the term needs. Whatever the terms, a
	// driver keeps an event whose path is not absolute and plain (no
	// "//", "." or ".." component, no "..", at most KFScanMax bytes), and
	// one whose path at entry held "..": the rules' paths are matched
	// against what the state table makes of them, which for a plain path
	// is the path itself.
	OpenTerms []OpenTerm
	// Socket filters socket's exit events by the address family asked
	// for, Connect connect's by the socket's family (of the tuple).
	Socket, Connect FamilyFilter
}

// Open-family events, as bits of KernelFilter.OpenAll, OpenSuccess and
// OpenTerm.Types.
const (
	KFOpen uint8 = 1 << iota
	KFOpenat
	KFOpenat2
	KFCreat
	KFOpenFamily = KFOpen | KFOpenat | KFOpenat2 | KFCreat
)

// What an OpenTerm needs of an event.
const (
	KFNeedSuccess uint8 = 1 << iota // the call returned an fd
	KFNeedRead                      // opened for reading (O_RDONLY or O_RDWR)
	KFNeedWrite                     // opened for writing (O_WRONLY or O_RDWR; creat)
)

// Limits of a KernelFilter, as the drivers hold it.
const (
	KFMaxTerms  = 32  // OpenTerms
	KFPrefixMax = 63  // bytes of a prefix kept; a longer one is cut, keeping more
	KFScanMax   = 256 // longest path a driver checks, NUL included; a longer one is kept
)

// OpenTerm keeps the open-family events of Types whose path starts with
// Prefix and which have what Need says.
type OpenTerm struct {
	Prefix string
	Types  uint8
	Need   uint8
}

// FamilyFilter keeps events by address family (bit n of a mask is family
// n); families from 64 up are always kept.
type FamilyFilter struct {
	// All keeps every event.
	All bool
	// Rule holds the families some rule can match, kept whatever the
	// call returned.
	Rule uint64
	// State holds the families whose successful events the state tables
	// need.
	State uint64
}

// Valid says whether the filter fits what the drivers hold.
func (f *KernelFilter) Valid() error {
	if f == nil {
		return nil
	}
	if len(f.OpenTerms) > KFMaxTerms {
		return fmt.Errorf("kernel filter: %d open path terms, drivers hold %d", len(f.OpenTerms), KFMaxTerms)
	}
	for _, t := range f.OpenTerms {
		if len(t.Prefix) > KFPrefixMax {
			return fmt.Errorf("kernel filter: prefix %q longer than %d bytes", t.Prefix, KFPrefixMax)
		}
	}
	return nil
}

// String describes the filter in one line, for logs.
func (f *KernelFilter) String() string {
	if f == nil {
		return "none"
	}
	var b strings.Builder
	b.WriteString("open: ")
	switch {
	case f.OpenAll == KFOpenFamily:
		b.WriteString("all kept")
	default:
		if f.OpenAll != 0 {
			fmt.Fprintf(&b, "all of %s kept; ", openNames(f.OpenAll))
		}
		if f.OpenSuccess != 0 {
			fmt.Fprintf(&b, "successful %s kept; ", openNames(f.OpenSuccess))
		}
		ps := make([]string, 0, len(f.OpenTerms))
		for _, t := range f.OpenTerms {
			p := t.Prefix
			if p == "" {
				p = "*"
			}
			var need []string
			for bit, n := range map[uint8]string{KFNeedSuccess: "ok", KFNeedRead: "r", KFNeedWrite: "w"} {
				if t.Need&bit != 0 {
					need = append(need, n)
				}
			}
			if len(need) > 0 {
				p += "[" + strings.Join(sortStrings(need), ",") + "]"
			}
			if t.Types != KFOpenFamily {
				p += "(" + openNames(t.Types) + ")"
			}
			ps = append(ps, p)
		}
		fmt.Fprintf(&b, "%d path terms %s", len(ps), strings.Join(ps, " "))
	}
	fmt.Fprintf(&b, "; socket: %s; connect: %s", f.Socket.describe(), f.Connect.describe())
	return b.String()
}

func (ff FamilyFilter) describe() string {
	if ff.All {
		return "all kept"
	}
	return fmt.Sprintf("families kept %s, on success also %s", famList(ff.Rule), famList(ff.State&^ff.Rule))
}

func famList(m uint64) string {
	if m == 0 {
		return "none"
	}
	if m == ^uint64(0) {
		return "all"
	}
	var out []string
	for m != 0 {
		i := bits.TrailingZeros64(m)
		out = append(out, fmt.Sprint(i))
		m &^= 1 << i
	}
	return strings.Join(out, ",")
}

func openNames(m uint8) string {
	var out []string
	for i, n := range []string{"open", "openat", "openat2", "creat"} {
		if m&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// KFOpenBit is the KernelFilter bit of an open-family exit event; 0 for
// any other event.
func KFOpenBit(t EventType) uint8 {
	switch t {
	case EvOpen:
		return KFOpen
	case EvOpenat:
		return KFOpenat
	case EvOpenat2:
		return KFOpenat2
	case EvCreat:
		return KFCreat
	}
	return 0
}

// PlainPath says whether a driver compares p with the filter's prefixes:
// absolute, no "//", no "." or ".." component, no "..", at most
// KFScanMax bytes with its NUL.
func PlainPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' || len(p)+1 > KFScanMax {
		return false
	}
	for i := 1; i < len(p); i++ {
		c, prev := p[i], p[i-1]
		switch {
		case c == '/' && prev == '/':
			return false
		case c == '.' && prev == '.':
			return false
		case c == '.' && prev == '/' && (i+1 == len(p) || p[i+1] == '/'):
			return false
		}
	}
	return true
}

// Keep says whether the filter keeps an event: what the drivers do, in Go
// (the reference the tests hold the probe to). enterDotted says the
// event's entry path held "..".
func (f *KernelFilter) Keep(e *Event, enterDotted bool) bool {
	if f == nil {
		return true
	}
	res, ok := e.Res()
	if !ok {
		return true
	}
	switch e.Type {
	case EvOpen, EvOpenat, EvOpenat2, EvCreat:
		bit := KFOpenBit(e.Type)
		if f.OpenAll&bit != 0 || (res >= 0 && f.OpenSuccess&bit != 0) || enterDotted {
			return true
		}
		path := e.Bytes(e.Type.ParamIndex("name"))
		if n := len(path); n > 0 && path[n-1] == 0 {
			path = path[:n-1]
		}
		if !PlainPath(path) {
			return true
		}
		have := uint8(0)
		if res >= 0 {
			have |= KFNeedSuccess
		}
		if e.Type == EvCreat {
			have |= KFNeedWrite
		} else if i := e.Type.ParamIndex("flags"); e.Has(i) {
			switch e.Uint(i) & 3 { // O_ACCMODE
			case 0:
				have |= KFNeedRead
			case 1:
				have |= KFNeedWrite
			case 2:
				have |= KFNeedRead | KFNeedWrite
			}
		}
		for _, t := range f.OpenTerms {
			if t.Types&bit != 0 && t.Need&^have == 0 && strings.HasPrefix(string(path), t.Prefix) {
				return true
			}
		}
		return false
	case EvSocket:
		return f.Socket.keep(e.Uint(e.Type.ParamIndex("domain")), res >= 0)
	case EvConnect:
		tup := e.Bytes(e.Type.ParamIndex("tuple"))
		if len(tup) == 0 {
			return true
		}
		return f.Connect.keep(uint64(tup[0]), res == 0 || res == -115) // EINPROGRESS
	}
	return true
}

func (ff FamilyFilter) keep(fam uint64, ok bool) bool {
	return ff.All || fam >= 64 || ff.Rule&(1<<fam) != 0 || (ok && ff.State&(1<<fam) != 0)
}
