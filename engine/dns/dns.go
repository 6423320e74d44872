// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package dns answers Falco's fd.*ip.name fields: which of the domain
// names the rules mention resolve to an address. As Falco's DNS manager
// does, it resolves those names (and no others: nothing sniffs DNS
// traffic) and keeps their addresses; a comparison fd.sip.name = NAME is
// true when the server address is among NAME's addresses.
//
// Lookups never wait: the names are resolved by a goroutine of their own
// (Run), every Refresh, and the engine reads the last answers through an
// atomic pointer. Until a name's first resolution completes, nothing
// resolves to it.
package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
)

// Refresh is how often Run resolves the names again: often enough to
// follow a DNS change, rarely enough to cost nothing.
const Refresh = 30 * time.Second

// lookupTimeout bounds one name's resolution.
const lookupTimeout = 5 * time.Second

// Cache holds the addresses of a fixed set of names. Has and NameOf are
// safe to call from any goroutine while Run resolves.
type Cache struct {
	names []string
	// Lookup resolves a name; nil: the system resolver. Tests replace it.
	Lookup func(ctx context.Context, name string) ([]netip.Addr, error)
	snap   atomic.Pointer[snapshot]
}

// snapshot is one round of answers; never modified once published.
type snapshot struct {
	addrs map[string][]netip.Addr // name → its addresses
	names map[netip.Addr][]string // address → the names resolving to it, sorted
}

// New returns a cache for names (duplicates are ignored). Nothing
// resolves until Resolve or Run.
func New(names []string) *Cache {
	n := slices.Clone(names)
	slices.Sort(n)
	c := &Cache{names: slices.Compact(n)}
	c.snap.Store(&snapshot{})
	return c
}

// Names returns the names the cache resolves, sorted.
func (c *Cache) Names() []string { return slices.Clone(c.names) }

// Has reports whether name resolved to ip in the last round.
func (c *Cache) Has(name string, ip netip.Addr) bool {
	return slices.Contains(c.snap.Load().addrs[name], ip.Unmap())
}

// NameOf returns a name that resolved to ip (the first in order), or "".
func (c *Cache) NameOf(ip netip.Addr) string {
	if n := c.snap.Load().names[ip.Unmap()]; len(n) > 0 {
		return n[0]
	}
	return ""
}

// Resolve resolves every name once and publishes the answers. A name that
// fails to resolve keeps its previous addresses: a DNS hiccup must not
// turn rules off.
func (c *Cache) Resolve(ctx context.Context) {
	lookup := c.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, name string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
		}
	}
	old := c.snap.Load()
	s := &snapshot{addrs: map[string][]netip.Addr{}, names: map[netip.Addr][]string{}}
	for _, name := range c.names {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		addrs, err := lookup(lctx, name)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			addrs = old.addrs[name]
		}
		for _, a := range addrs {
			a = a.Unmap()
			s.addrs[name] = append(s.addrs[name], a)
			s.names[a] = append(s.names[a], name)
		}
	}
	c.snap.Store(s)
}

// Run resolves the names now and every Refresh until ctx is done.
func (c *Cache) Run(ctx context.Context) {
	if len(c.names) == 0 {
		return
	}
	t := time.NewTicker(Refresh)
	defer t.Stop()
	for {
		c.Resolve(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
