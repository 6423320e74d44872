// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"fmt"
	"math/bits"
	"sort"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/internal/editdist"
)

// The event-type index. A key is an EventType for events of their own, or
// genericBase+nr for a generic event of syscall nr; genericUnknown holds
// generic events without a (known) syscall id.
const (
	genericBase    = int(driver.EvTypeMax)
	genericUnknown = genericBase + driver.MaxSyscalls
	keySpace       = genericUnknown + 1
	keyWords       = (keySpace + 63) / 64
)

type keyset [keyWords]uint64

func (k *keyset) add(i int)          { k[i/64] |= 1 << (i % 64) }
func (k *keyset) has(i int) bool     { return k[i/64]&(1<<(i%64)) != 0 }
func (k keyset) and(o keyset) keyset { return k.op(o, func(a, b uint64) uint64 { return a & b }) }
func (k keyset) or(o keyset) keyset  { return k.op(o, func(a, b uint64) uint64 { return a | b }) }
func (k keyset) not() keyset {
	var out keyset
	for i := range k {
		out[i] = ^k[i]
	}
	out[keyWords-1] &= lastWordMask
	return out
}

const lastWordMask = uint64(1)<<(keySpace%64) - 1

func (k keyset) op(o keyset, f func(a, b uint64) uint64) keyset {
	var out keyset
	for i := range k {
		out[i] = f(k[i], o[i])
	}
	return out
}

func (k keyset) count() int {
	n := 0
	for _, w := range k {
		n += bits.OnesCount64(w)
	}
	return n
}

func allKeys() keyset {
	var k keyset
	return k.not()
}

// entryKeys are the keys of entry events.
var entryKeys = func() keyset {
	var k keyset
	for t := driver.EventType(0); t < driver.EvTypeMax; t++ {
		if driver.Events[t].Dir == driver.Enter {
			k.add(int(t))
		}
	}
	return k
}()

// keyOf returns the index key of an event.
func keyOf(e *driver.Event) int {
	if e.Type != driver.EvGeneric {
		if e.Type >= driver.EvTypeMax {
			return genericUnknown
		}
		return int(e.Type)
	}
	if !e.Has(1) {
		return genericUnknown
	}
	nr := e.Uint(1)
	if nr >= driver.MaxSyscalls {
		return genericUnknown
	}
	return genericBase + int(nr)
}

// names resolves event type names (what evt.type compares with) to keys.
type names struct {
	tab *driver.SyscallTable
}

type nameError struct{ msg, hint string }

// keys returns the keys an evt.type value matches.
func (nm *names) keys(name string) (keyset, *nameError) {
	var k keyset
	found := false
	if name == "procexit" {
		name = "proc_exit"
	}
	for t := driver.EventType(1); t < driver.EvTypeMax; t++ {
		info := &driver.Events[t]
		match := info.Name == name
		for _, sc := range info.Syscalls {
			match = match || sc == name
		}
		if match {
			k.add(int(t))
			found = true
		}
	}
	if nm.tab != nil {
		if nr, ok := nm.tab.Nr(name); ok && nm.tab.ExitEvent(nr) == driver.EvGeneric {
			k.add(genericBase + int(nr))
			found = true
		}
	}
	if !found {
		e := &nameError{msg: fmt.Sprintf("unknown event type '%s'", name)}
		if s := nm.suggest(name); s != "" {
			e.hint = "did you mean '" + s + "'?"
		} else {
			e.hint = "evt.type takes syscall names (open, execve, connect, ...)"
		}
		return k, e
	}
	return k, nil
}

func (nm *names) suggest(name string) string {
	var all []string
	for t := driver.EventType(1); t < driver.EvTypeMax; t++ {
		all = append(all, driver.Events[t].Name)
	}
	if nm.tab != nil {
		all = append(all, nm.tab.Names()...)
	}
	best, bestD := "", 3
	for _, n := range all {
		if d := editdist.Distance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// eventKeys works out which events a condition can match, as Falco does:
// evt.type = x and evt.type in (...) restrict, != and not complement
// (negations pushed to the leaves), and intersects, or unites; any other
// comparison allows every event. Entry events are excluded unless the
// condition mentions evt.dir: the drivers emit them for time-of-check
// safety, and rules, like modern Falco's, run on exit events.
func (nm *names) eventKeys(n rules.Node) keyset {
	k := nm.walk(n, false)
	dir := false
	rules.Walk(n, func(x rules.Node) bool {
		if f, ok := x.(*rules.Field); ok && f.Name == "evt.dir" {
			dir = true
		}
		return true
	})
	if !dir {
		k = k.and(entryKeys.not())
	}
	return k
}

func (nm *names) walk(n rules.Node, neg bool) keyset {
	switch n := n.(type) {
	case *rules.BinaryExpr:
		l, r := nm.walk(n.Left, neg), nm.walk(n.Right, neg)
		if (n.Op == rules.OpAnd) != neg {
			return l.and(r)
		}
		return l.or(r)
	case *rules.NotExpr:
		return nm.walk(n.X, !neg)
	case *rules.CompareExpr:
		if n.Field == nil || n.Field.Name != "evt.type" || n.Field.Transformer != "" || n.Field.HasArg {
			return allKeys()
		}
		var set keyset
		switch v := n.Value.(type) {
		case *rules.Literal:
			if n.Op != "=" && n.Op != "==" && n.Op != "!=" {
				return allKeys()
			}
			set, _ = nm.keys(v.Value)
		case *rules.ListValue:
			if n.Op != "in" {
				return allKeys()
			}
			for _, it := range v.Items {
				if l, ok := it.(*rules.Literal); ok {
					s, _ := nm.keys(l.Value)
					set = set.or(s)
				}
			}
		default:
			return allKeys()
		}
		if (n.Op == "!=") != neg {
			return set.not()
		}
		return set
	}
	return allKeys()
}

// keyNames names the keys of k: event names and generic syscall names.
func (nm *names) keyNames(k keyset) []string {
	seen := map[string]bool{}
	for i := 0; i < keySpace; i++ {
		if !k.has(i) {
			continue
		}
		switch {
		case i < genericBase:
			info := &driver.Events[i]
			n := info.Name
			if info.Dir == driver.Enter {
				n += ">"
			}
			seen[n] = true
		case i < genericUnknown:
			if nm.tab != nil {
				if n := nm.tab.Name(uint16(i - genericBase)); n != "" {
					seen[n] = true
				}
			}
		default:
			seen["syscall"] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// syscalls names the syscalls whose events the keys need.
func (nm *names) syscalls(k keyset) []string {
	seen := map[string]bool{}
	for i := 0; i < genericUnknown; i++ {
		if !k.has(i) {
			continue
		}
		if i < genericBase {
			for _, sc := range driver.Events[i].Syscalls {
				if nm.tab == nil {
					seen[sc] = true
				} else if _, ok := nm.tab.Nr(sc); ok {
					seen[sc] = true
				}
			}
		} else if nm.tab != nil {
			if n := nm.tab.Name(uint16(i - genericBase)); n != "" {
				seen[n] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
