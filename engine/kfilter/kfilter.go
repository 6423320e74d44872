// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package kfilter derives the driver's in-kernel filter (driver.KernelFilter)
// from the compiled rules and what the state tables need: which exit events
// of the open family, socket and connect no running rule can match and no
// state update a rule reads can use, so that the probe discards them before
// they reach the ring buffers and the alerts stay the same, byte for byte.
//
// The derivation over-approximates: each rule's condition is read as the
// set of events it could match, with every comparison it cannot analyse
// taken as "any event". So a filter may keep what no rule wants, never drop
// what one could match.
//
// What a rule's condition can say about an open-family event, as a union
// of terms (path prefix, needs):
//
//   - fd.name = P, in (P...), startswith P, pmatch (P...), glob G: the
//     prefix P (G up to its first wildcard); fd.directory = D, in (D...):
//     the prefix D (a directory opened with O_DIRECTORY is its own
//     fd.directory). The driver compares prefixes with the path as the
//     event carries it, which is what the state table makes of it (cleaned)
//     only for a plain path: absolute, without "//", "." or ".."
//     components and without "..". The driver keeps every other path.
//   - fd.name or fd.nameraw with contains, startswith, =, glob... a text
//     holding "..": no plain path. fd.nameraw is the path given at entry:
//     the driver notes an entry path holding ".." and keeps the exit
//     event, whatever its own path (the two may differ when user memory
//     changed in between).
//   - fd.num >= 0, evt.rawres >= 0, evt.res = SUCCESS, evt.failed = false:
//     the call succeeded; evt.is_open_read = true / evt.is_open_write =
//     true: the access mode.
//   - and intersects, or unites; not is pushed down to the comparisons,
//     where a negated one is "any event".
//
// What the state tables need: an open-family, socket or connect event
// changes the fd table (and, through fchdir, the cwd). A dropped event
// leaves its fd number unknown to the table (or, if the table missed that
// number's close, holding what was there before; see below). That matters
// only to a rule that reads an fd the event did not itself make: fd.* on
// any event naming an fd other than the filtered one's own (dup, close,
// connect, accept, bind...), and proc.cwd on any event but execve and
// execveat (which carry the cwd). Such a rule is a reader; its fd type set
// is the fd types (file, ipv4, ...) and "no entry" its condition can match
// with, analysed as above. Then:
//
//   - a reader whose set holds file, directory or "no entry", or that reads
//     proc.cwd: every successful open is kept;
//   - a reader whose set holds the fd type of a family (ipv4 for AF_INET,
//     unix, netlink; "unknown" for the others), or "no entry": successful
//     sockets and connects of that family are kept.
//
// The one case this cannot see: an fd the table still holds because its
// close was never seen (closed by io_uring, or the close event lost). An
// event dropped on that number leaves the stale entry visible to readers,
// where the unfiltered stream would have replaced it. Lost events are
// counted (drops), and io_uring fd operations are not tracked at all.
//
// A rule that reads evt.num (other than evt.num = 0, which no event has)
// turns the filter off: event numbers count the events read.
package kfilter

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/rules"
)

// Result is a derived filter with the reasons behind it.
type Result struct {
	// Filter is what the driver applies; nil when nothing can be dropped.
	Filter *driver.KernelFilter
	// Notes say, in words, what each kept class is kept for.
	Notes []string
}

// maxWork bounds the terms one condition may produce before it is taken as
// "any path": and over long or-lists multiplies them.
const maxWork = 512

// Derive computes the kernel filter for the running rules of p.
func Derive(p *eval.Program) Result {
	var res Result
	note := func(format string, args ...any) { res.Notes = append(res.Notes, fmt.Sprintf(format, args...)) }
	f := &driver.KernelFilter{}
	var terms []driver.OpenTerm
	var sockRule, connRule uint64
	var sockAll, connAll bool
	var readers []*reader
	for _, r := range p.Rules() {
		if !r.Runs || r.Source != "syscall" {
			continue
		}
		cond := r.Condition()
		if cond == nil {
			continue
		}
		if usesEvtNum(cond, r.OutputRefs()) {
			note("rule %q reads evt.num, which counts the events read: no kernel filter", r.Name)
			return Result{Notes: res.Notes}
		}
		types := ruleTypes(r)
		refs := fieldRefs(cond, r.OutputRefs())

		// The rule's own matches.
		if om := types.openMask(); om != 0 {
			ts, ok := pathTerms(cond)
			if !ok {
				f.OpenAll |= om
				note("rule %q: its condition is too complex for path terms: %s kept whole", r.Name, openNames(om))
			}
			for _, t := range ts {
				terms = append(terms, driver.OpenTerm{Prefix: t.prefix, Types: om, Need: t.need})
			}
		}
		if types.has(driver.EvSocket) {
			m, all := socketFamilies(cond)
			sockRule |= m
			if all {
				sockAll = true
				note("rule %q can match a socket of any family", r.Name)
			}
		}
		if types.has(driver.EvConnect) {
			m := familiesOf(fdTypes(cond))
			connRule |= m
			if m == ^uint64(0) {
				connAll = true
				note("rule %q can match a connect of any family", r.Name)
			}
		}

		// The rule as a reader of state earlier events made.
		if refs.fd && types.readsFDOf() {
			readers = append(readers, &reader{name: r.Name, types: fdTypes(cond)})
		}
		if refs.cwd && types.readsCwd() {
			readers = append(readers, &reader{name: r.Name, cwd: true})
		}
	}

	// State.
	var sockState, connState uint64
	for _, rd := range readers {
		if rd.cwd {
			if f.OpenSuccess != driver.KFOpenFamily {
				note("rule %q reads proc.cwd, which fchdir on an opened fd sets: successful opens kept", rd.name)
			}
			f.OpenSuccess = driver.KFOpenFamily
			continue
		}
		if rd.types&(bit(tFile)|bit(tDirectory)|bit(tNone)) != 0 {
			if f.OpenSuccess != driver.KFOpenFamily {
				note("rule %q reads fds that may be files (types %s): successful opens kept", rd.name, rd.types)
			}
			f.OpenSuccess = driver.KFOpenFamily
		}
		m := familiesOf(rd.types)
		if m&^sockState != 0 {
			note("rule %q reads fds of types %s: successful sockets and connects of families %s kept", rd.name, rd.types, famNames(m))
		}
		sockState |= m
		connState |= m
	}
	f.Socket = driver.FamilyFilter{All: sockAll, Rule: sockRule, State: sockState}
	f.Connect = driver.FamilyFilter{All: connAll, Rule: connRule, State: connState}

	f.OpenTerms, f.OpenAll = fitTerms(terms, f.OpenAll, note)
	if f.OpenAll == driver.KFOpenFamily && f.Socket.All && f.Connect.All {
		note("nothing can be dropped")
		return Result{Notes: res.Notes}
	}
	res.Filter = f
	return res
}

// reader is a rule reading state made by earlier events.
type reader struct {
	name  string
	types typeSet // fd types (and tNone) its condition can match with
	cwd   bool
}

// ---- event types -----------------------------------------------------------

type evset [driver.EvTypeMax]bool

func (s *evset) has(t driver.EventType) bool { return s[t] }

var openTypes = []struct {
	t   driver.EventType
	bit uint8
}{{driver.EvOpen, driver.KFOpen}, {driver.EvOpenat, driver.KFOpenat}, {driver.EvOpenat2, driver.KFOpenat2}, {driver.EvCreat, driver.KFCreat}}

func (s *evset) openMask() uint8 {
	var m uint8
	for _, o := range openTypes {
		if s[o.t] {
			m |= o.bit
		}
	}
	return m
}

// otherFD are the events whose fd fields may read an entry an earlier
// event made: every event naming an fd (see engine/fields, fdSources)
// but the open family and socket, which name the fd they make, and read
// nothing older. Connect reads the socket's entry; accept copies the
// listening socket's type.
var otherFD = []driver.EventType{
	driver.EvAccept, driver.EvAccept4, driver.EvConnect, driver.EvConnectE,
	driver.EvBind, driver.EvListen, driver.EvFchmod, driver.EvSetns, driver.EvFinitModule,
	driver.EvClose, driver.EvFchdir, driver.EvDup, driver.EvDup2, driver.EvDup3,
	driver.EvPipe, driver.EvPipe2, driver.EvMemfdCreate,
}

func (s *evset) readsFDOf() bool {
	for _, t := range otherFD {
		if s[t] {
			return true
		}
	}
	return false
}

// readsCwd: proc.cwd on execve and execveat comes with the event.
func (s *evset) readsCwd() bool {
	for t := driver.EventType(1); t < driver.EvTypeMax; t++ {
		if s[t] && t != driver.EvExecve && t != driver.EvExecveat {
			return true
		}
	}
	return false
}

// ruleTypes are the events a rule runs on.
func ruleTypes(r *eval.Rule) *evset {
	var s evset
	if r.AllEvents {
		for t := range s {
			s[t] = true
		}
		return &s
	}
	for _, n := range r.EventTypes {
		dir := driver.Exit
		if strings.HasSuffix(n, ">") {
			n, dir = strings.TrimSuffix(n, ">"), driver.Enter
		}
		for t := driver.EventType(1); t < driver.EvTypeMax; t++ {
			if info := &driver.Events[t]; info.Name == n && info.Dir == dir {
				s[t] = true
			}
		}
	}
	return &s
}

// ---- field references ------------------------------------------------------

type refs struct{ fd, cwd bool }

// fieldName strips a transformer: tolower(fd.name) reads fd.name.
func fieldName(ref string) string {
	if i := strings.IndexByte(ref, '('); i >= 0 && strings.HasSuffix(ref, ")") {
		ref = ref[i+1 : len(ref)-1]
	}
	if i := strings.IndexByte(ref, '['); i >= 0 {
		ref = ref[:i]
	}
	return ref
}

func fieldRefs(cond rules.Node, out []string) refs {
	var r refs
	see := func(name string) {
		switch {
		case strings.HasPrefix(name, "fd."):
			r.fd = true
		case name == "proc.cwd":
			r.cwd = true
		}
	}
	rules.Walk(cond, func(n rules.Node) bool {
		if f, ok := n.(*rules.Field); ok {
			see(f.Name)
		}
		return true
	})
	for _, o := range out {
		see(fieldName(o))
	}
	return r
}

// usesEvtNum says whether a rule reads evt.num other than in evt.num = 0,
// which no event has (Falco's never_true macro).
func usesEvtNum(cond rules.Node, out []string) bool {
	for _, o := range out {
		if fieldName(o) == "evt.num" {
			return true
		}
	}
	found := false
	rules.Walk(cond, func(n rules.Node) bool {
		c, ok := n.(*rules.CompareExpr)
		if !ok || c.Field == nil || c.Field.Name != "evt.num" {
			if fv, ok := n.(*rules.FieldValue); ok && fv.Field != nil && fv.Field.Name == "evt.num" {
				found = true
			}
			return true
		}
		if l, ok := c.Value.(*rules.Literal); ok && (c.Op == "=" || c.Op == "==") && l.Value == "0" && c.Field.Transformer == "" {
			return false
		}
		found = true
		return false
	})
	return found
}

// ---- open paths ------------------------------------------------------------

type term struct {
	prefix string
	need   uint8
}

var anyPath = []term{{}}

// pathTerms is the union of terms a condition can match on an open-family
// event; ok is false when the analysis gave up (too many terms).
func pathTerms(n rules.Node) (ts []term, ok bool) {
	ok = true
	ts = walkPath(n, false, &ok)
	if !ok {
		return anyPath, false
	}
	return ts, true
}

func walkPath(n rules.Node, neg bool, ok *bool) []term {
	if !*ok {
		return anyPath
	}
	switch n := n.(type) {
	case *rules.BinaryExpr:
		l, r := walkPath(n.Left, neg, ok), walkPath(n.Right, neg, ok)
		if (n.Op == rules.OpAnd) != neg {
			return andTerms(l, r, ok)
		}
		return orTerms(l, r, ok)
	case *rules.NotExpr:
		return walkPath(n.X, !neg, ok)
	case *rules.CompareExpr:
		if neg {
			return anyPath
		}
		return compareTerms(n)
	}
	return anyPath
}

func andTerms(a, b []term, ok *bool) []term {
	var out []term
	for _, x := range a {
		for _, y := range b {
			var p string
			switch {
			case strings.HasPrefix(x.prefix, y.prefix):
				p = x.prefix
			case strings.HasPrefix(y.prefix, x.prefix):
				p = y.prefix
			default:
				continue // no path starts with both
			}
			out = append(out, term{p, x.need | y.need})
			if len(out) > maxWork {
				*ok = false
				return anyPath
			}
		}
	}
	return simplify(out)
}

func orTerms(a, b []term, ok *bool) []term {
	out := simplify(append(slices.Clone(a), b...))
	if len(out) > maxWork {
		*ok = false
		return anyPath
	}
	return out
}

// simplify drops terms another one covers: a shorter prefix needing no
// more.
func simplify(ts []term) []term {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].prefix != ts[j].prefix {
			return ts[i].prefix < ts[j].prefix
		}
		return ts[i].need < ts[j].need
	})
	out := ts[:0]
	for _, t := range ts {
		covered := false
		for _, o := range out {
			if strings.HasPrefix(t.prefix, o.prefix) && o.need&^t.need == 0 {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, t)
		}
	}
	return out
}

// compareTerms reads one comparison on an open-family event.
func compareTerms(c *rules.CompareExpr) []term {
	f := c.Field
	if f == nil || f.Transformer != "" || f.HasArg {
		return anyPath
	}
	lits, isList := literals(c.Value)
	if lits == nil {
		return anyPath // val(field), exists
	}
	switch f.Name {
	case "fd.name", "fd.nameraw", "fd.directory":
		if dotted(c.Op, lits) {
			// Every value it matches holds "..": never a plain path, and
			// the driver keeps the others (and notes entry paths with "..").
			return nil
		}
		if f.Name == "fd.nameraw" {
			return anyPath
		}
		var out []term
		for _, v := range lits {
			p, ok := prefixOf(f.Name, c.Op, v, isList)
			if !ok {
				return anyPath
			}
			if p != "-" {
				out = append(out, term{prefix: p})
			}
		}
		return simplify(out)
	case "fd.num":
		if n, ok := number(c.Op, lits); ok && ((c.Op == ">=" && n >= 0) || (c.Op == ">" && n >= -1)) {
			return []term{{need: driver.KFNeedSuccess}}
		}
	case "evt.rawres":
		if n, ok := number(c.Op, lits); ok && ((c.Op == ">=" && n >= 0) || (c.Op == ">" && n >= -1)) {
			return []term{{need: driver.KFNeedSuccess}}
		}
	case "evt.res":
		if (c.Op == "=" || c.Op == "==") && len(lits) == 1 && lits[0] == "SUCCESS" {
			return []term{{need: driver.KFNeedSuccess}}
		}
	case "evt.failed":
		if (c.Op == "=" || c.Op == "==") && len(lits) == 1 && lits[0] == "false" {
			return []term{{need: driver.KFNeedSuccess}}
		}
	case "evt.is_open_read", "evt.is_open_write":
		if (c.Op == "=" || c.Op == "==") && len(lits) == 1 && lits[0] == "true" {
			if f.Name == "evt.is_open_read" {
				return []term{{need: driver.KFNeedRead}}
			}
			return []term{{need: driver.KFNeedWrite}}
		}
	}
	return anyPath
}

// literals are the comparison's values: one literal, or a list's items.
func literals(v rules.Node) ([]string, bool) {
	switch v := v.(type) {
	case *rules.Literal:
		return []string{v.Value}, false
	case *rules.ListValue:
		out := make([]string, 0, len(v.Items))
		for _, it := range v.Items {
			l, ok := it.(*rules.Literal)
			if !ok {
				return nil, true
			}
			out = append(out, l.Value)
		}
		return out, true
	}
	return nil, false
}

func number(op string, lits []string) (int64, bool) {
	if len(lits) != 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(lits[0], 0, 64)
	return n, err == nil
}

// dotted says whether every value the comparison matches holds "..".
func dotted(op string, lits []string) bool {
	switch op {
	case "=", "==", "contains", "icontains", "startswith", "endswith", "in", "intersects", "bcontains", "bstartswith":
		if op == "bcontains" || op == "bstartswith" {
			return false // hex bytes
		}
		if len(lits) == 0 {
			return false
		}
		for _, v := range lits {
			if !strings.Contains(v, "..") {
				return false
			}
		}
		return true
	case "glob":
		if len(lits) != 1 {
			return false
		}
		g := lits[0]
		if strings.ContainsAny(g, `\[`) {
			return false
		}
		for _, run := range strings.FieldsFunc(g, func(r rune) bool { return r == '*' || r == '?' }) {
			if strings.Contains(run, "..") {
				return true
			}
		}
	}
	return false
}

// prefixOf is the prefix a plain path matching "field op v" starts with;
// "-" when no plain path can match v, ok false when unanalysable.
func prefixOf(field, op, v string, isList bool) (string, bool) {
	if field == "fd.directory" {
		if op != "=" && op != "==" && op != "in" {
			return "", false
		}
		if !strings.HasPrefix(v, "/") {
			return "-", true // a plain path's directory is absolute
		}
		// The path is D/name, or D itself for a directory opened with
		// O_DIRECTORY (its fd.directory is its name).
		if len(v) > 1 {
			v = strings.TrimSuffix(v, "/")
		}
		return v, true
	}
	switch op {
	case "=", "==", "in", "intersects":
		// The table cleans the path: for a plain one that drops at most
		// a trailing '/', so the path starts with what it is compared to.
		if !strings.HasPrefix(v, "/") {
			return "-", true
		}
		return v, true
	case "startswith":
		if !strings.HasPrefix(v, "/") {
			return "", true // not analysed: any path
		}
		return v, true
	case "pmatch":
		// Whole components, with globs: up to the first wildcard.
		p := globPrefix(v)
		if !strings.HasPrefix(p, "/") {
			return "", true
		}
		return p, true
	case "glob":
		if isList {
			return "", false
		}
		p := globPrefix(v)
		if !strings.HasPrefix(p, "/") {
			return "", true
		}
		return p, true
	}
	return "", false
}

func globPrefix(g string) string {
	if i := strings.IndexAny(g, `*?[\`); i >= 0 {
		return g[:i]
	}
	return g
}

// fitTerms merges terms by prefix and need, and makes them fit the
// drivers: prefixes cut to KFPrefixMax, then, when there are too many,
// cut to their first component, then the open family kept whole.
func fitTerms(ts []driver.OpenTerm, all uint8, note func(string, ...any)) ([]driver.OpenTerm, uint8) {
	merge := func(ts []driver.OpenTerm, cut func(string) string) []driver.OpenTerm {
		type key struct {
			p    string
			need uint8
		}
		m := map[key]uint8{}
		for _, t := range ts {
			t.Types &^= all
			if t.Types == 0 {
				continue
			}
			m[key{cut(t.Prefix), t.Need}] |= t.Types
		}
		var out []driver.OpenTerm
		for k, types := range m {
			out = append(out, driver.OpenTerm{Prefix: k.p, Types: types, Need: k.need})
		}
		// Drop a term another covers for all its types.
		sort.Slice(out, func(i, j int) bool {
			if out[i].Prefix != out[j].Prefix {
				return out[i].Prefix < out[j].Prefix
			}
			return out[i].Need < out[j].Need
		})
		kept := out[:0]
		for _, t := range out {
			covered := false
			for _, o := range kept {
				if strings.HasPrefix(t.Prefix, o.Prefix) && o.Need&^t.Need == 0 && t.Types&^o.Types == 0 {
					covered = true
					break
				}
			}
			if !covered {
				kept = append(kept, t)
			}
		}
		return kept
	}
	cut := func(p string) string {
		if len(p) > driver.KFPrefixMax {
			return p[:driver.KFPrefixMax]
		}
		return p
	}
	out := merge(ts, cut)
	if len(out) > driver.KFMaxTerms {
		note("%d path terms, drivers hold %d: cut to their first directory", len(out), driver.KFMaxTerms)
		out = merge(out, func(p string) string {
			if i := strings.IndexByte(strings.TrimPrefix(p, "/"), '/'); i >= 0 {
				return p[:i+2]
			}
			return cut(p)
		})
	}
	if len(out) > driver.KFMaxTerms {
		note("still %d path terms: the open family kept whole", len(out))
		return nil, driver.KFOpenFamily
	}
	return out, all
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

// ---- fd types and families --------------------------------------------------

// fd types as engine/fields names them (fd.type, fd.typechar), and tNone:
// no entry (the field is not available).
const (
	tUnknown = iota
	tFile
	tDirectory
	tIPv4
	tIPv6
	tUnix
	tPipe
	tEvent
	tSignalfd
	tEventpoll
	tInotify
	tTimerfd
	tNetlink
	tMemfd
	tBPF
	tUserfaultfd
	tNone
	nTypes
)

var typeNames = [...]string{"", "file", "directory", "ipv4", "ipv6", "unix", "pipe", "event", "signalfd",
	"eventpoll", "inotify", "timerfd", "netlink", "memfd", "bpf", "userfaultfd"}

var typeChars = [...]string{"o", "f", "d", "4", "6", "u", "p", "e", "s", "l", "i", "t", "n", "m", "b", "u"}

type typeSet uint32

const allTypes = typeSet(1<<nTypes - 1)

func bit(t int) typeSet { return 1 << t }

func (s typeSet) String() string {
	var out []string
	for t := 0; t < nTypes; t++ {
		if s&bit(t) == 0 {
			continue
		}
		switch t {
		case tNone:
			out = append(out, "<no entry>")
		case tUnknown:
			out = append(out, "<unknown>")
		default:
			out = append(out, typeNames[t])
		}
	}
	return strings.Join(out, ",")
}

// fdTypes is the set of fd types a condition can match with.
func fdTypes(n rules.Node) typeSet { return walkTypes(n, false) }

func walkTypes(n rules.Node, neg bool) typeSet {
	switch n := n.(type) {
	case *rules.BinaryExpr:
		l, r := walkTypes(n.Left, neg), walkTypes(n.Right, neg)
		if (n.Op == rules.OpAnd) != neg {
			return l & r
		}
		return l | r
	case *rules.NotExpr:
		return walkTypes(n.X, !neg)
	case *rules.CompareExpr:
		if neg {
			return allTypes
		}
		f := n.Field
		if f == nil || f.Transformer != "" || f.HasArg || (f.Name != "fd.type" && f.Name != "fd.typechar") {
			return allTypes
		}
		if n.Op != "=" && n.Op != "==" && n.Op != "in" {
			return allTypes
		}
		lits, _ := literals(n.Value)
		if lits == nil {
			return allTypes
		}
		names := typeNames[:]
		if f.Name == "fd.typechar" {
			names = typeChars[:]
		}
		var s typeSet
		for _, v := range lits {
			for t, name := range names {
				if name == v {
					s |= bit(t)
				}
			}
		}
		// Without an entry the field is not available: the comparison is
		// false, so tNone stays out.
		return s
	}
	return allTypes
}

// familyType is the fd type a socket of each family gets (engine/state).
func familyType(fam int) int {
	switch fam {
	case unix.AF_INET:
		return tIPv4
	case unix.AF_INET6:
		return tIPv6
	case unix.AF_UNIX:
		return tUnix
	case unix.AF_NETLINK:
		return tNetlink
	}
	return tUnknown
}

// familiesOf are the families whose sockets have a type of s; "no entry"
// is every family (an event that would have made one was dropped).
func familiesOf(s typeSet) uint64 {
	if s&bit(tNone) != 0 {
		return ^uint64(0)
	}
	var m uint64
	for fam := 0; fam < 64; fam++ {
		if s&bit(familyType(fam)) != 0 {
			m |= 1 << fam
		}
	}
	return m
}

func famNames(m uint64) string {
	if m == ^uint64(0) {
		return "all"
	}
	var out []string
	for m != 0 {
		i := bits.TrailingZeros64(m)
		if n, ok := familyNames[uint64(i)]; ok {
			out = append(out, n)
		} else {
			out = append(out, strconv.Itoa(i))
		}
		m &^= 1 << i
	}
	return strings.Join(out, ",")
}

// familyNames are the names engine/fields renders socket families with
// (evt.arg.domain); a family not here is taken to match any comparison.
var familyNames = map[uint64]string{
	unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET", unix.AF_BLUETOOTH: "AF_BLUETOOTH",
	unix.AF_ALG: "AF_ALG", unix.AF_VSOCK: "AF_VSOCK", unix.AF_XDP: "AF_XDP", unix.AF_KEY: "AF_KEY",
	unix.AF_UNSPEC: "AF_UNSPEC", unix.AF_CAN: "AF_CAN", unix.AF_TIPC: "AF_TIPC", unix.AF_RDS: "AF_RDS",
	unix.AF_APPLETALK: "AF_APPLETALK", unix.AF_X25: "AF_X25", unix.AF_AX25: "AF_AX25", unix.AF_IPX: "AF_IPX",
}

// socketFamilies is the set of families a condition can match on a socket
// event; all when it can match any.
func socketFamilies(n rules.Node) (uint64, bool) {
	m := walkFamilies(n, false)
	return m, m == ^uint64(0)
}

func walkFamilies(n rules.Node, neg bool) uint64 {
	switch n := n.(type) {
	case *rules.BinaryExpr:
		l, r := walkFamilies(n.Left, neg), walkFamilies(n.Right, neg)
		if (n.Op == rules.OpAnd) != neg {
			return l & r
		}
		return l | r
	case *rules.NotExpr:
		return walkFamilies(n.X, !neg)
	case *rules.CompareExpr:
		if neg {
			return ^uint64(0)
		}
		f := n.Field
		if f == nil || f.Transformer != "" {
			return ^uint64(0)
		}
		lits, _ := literals(n.Value)
		if lits == nil {
			return ^uint64(0)
		}
		switch {
		case f.Name == "evt.arg.domain" && !f.HasArg:
			return familiesMatching(n.Op, lits)
		case f.Name == "evt.rawarg.domain" && !f.HasArg:
			if n.Op != "=" && n.Op != "==" && n.Op != "in" {
				return ^uint64(0)
			}
			var m uint64
			for _, v := range lits {
				x, err := strconv.ParseUint(v, 0, 64)
				if err != nil {
					return ^uint64(0)
				}
				if x < 64 {
					m |= 1 << x
				}
			}
			return m
		case f.Name == "fd.type" || f.Name == "fd.typechar":
			// On a socket event the fd is the new socket: its type is its
			// family's; a failed call has none.
			return familiesOf(walkTypes(n, false))
		}
	}
	return ^uint64(0)
}

// familiesMatching are the families whose name the text comparison
// matches, and every family without a name.
func familiesMatching(op string, lits []string) uint64 {
	var test func(s string) bool
	switch op {
	case "=", "==":
		test = func(s string) bool { return s == lits[0] }
	case "in", "intersects":
		test = func(s string) bool { return slices.Contains(lits, s) }
	case "contains":
		test = func(s string) bool { return strings.Contains(s, lits[0]) }
	case "icontains":
		test = func(s string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(lits[0])) }
	case "startswith":
		test = func(s string) bool { return strings.HasPrefix(s, lits[0]) }
	case "endswith":
		test = func(s string) bool { return strings.HasSuffix(s, lits[0]) }
	default:
		return ^uint64(0)
	}
	if len(lits) == 0 {
		return ^uint64(0)
	}
	var m uint64
	for fam := uint64(0); fam < 64; fam++ {
		name, ok := familyNames[fam]
		if !ok || test(name) {
			m |= 1 << fam
		}
	}
	return m
}
