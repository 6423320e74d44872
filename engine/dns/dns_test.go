// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package dns

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestCacheResolvesTheNamesOnly(t *testing.T) {
	answers := map[string][]netip.Addr{
		"api.example":  {netip.MustParseAddr("10.0.0.1")},
		"pool.example": {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::ffff:10.0.0.2")},
	}
	var asked []string
	c := New([]string{"pool.example", "api.example", "gone.example", "api.example"})
	c.Lookup = func(_ context.Context, name string) ([]netip.Addr, error) {
		asked = append(asked, name)
		if a, ok := answers[name]; ok {
			return a, nil
		}
		return nil, errors.New("no such host")
	}
	if got := c.Names(); !slices.Equal(got, []string{"api.example", "gone.example", "pool.example"}) {
		t.Errorf("Names = %v", got)
	}
	ip1, ip2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	if c.Has("api.example", ip1) || c.NameOf(ip1) != "" {
		t.Error("a name resolved before any resolution")
	}
	c.Resolve(context.Background())
	if !slices.Equal(asked, []string{"api.example", "gone.example", "pool.example"}) {
		t.Errorf("resolved %v, want each name once", asked)
	}
	if !c.Has("api.example", ip1) || !c.Has("pool.example", ip1) || !c.Has("pool.example", ip2) || c.Has("api.example", ip2) {
		t.Error("Has does not follow the answers (IPv4-mapped addresses count as IPv4)")
	}
	if c.Has("gone.example", ip1) || c.Has("other.example", ip1) {
		t.Error("a name that did not resolve, or was never asked for, matched")
	}
	if got := c.NameOf(ip1); got != "api.example" {
		t.Errorf("NameOf(10.0.0.1) = %q, want the first name", got)
	}
	if got := c.NameOf(netip.MustParseAddr("::ffff:10.0.0.2")); got != "pool.example" {
		t.Errorf("NameOf(::ffff:10.0.0.2) = %q", got)
	}
	// A failed refresh keeps what the name had.
	delete(answers, "pool.example")
	c.Resolve(context.Background())
	if !c.Has("pool.example", ip2) {
		t.Error("a failed refresh dropped the name's addresses")
	}
	if n := testing.AllocsPerRun(100, func() { c.Has("pool.example", ip2); c.NameOf(ip1) }); n != 0 {
		t.Errorf("lookups allocate %v times", n)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	c := New([]string{"a.example"})
	resolved := make(chan struct{}, 1)
	c.Lookup = func(context.Context, string) ([]netip.Addr, error) {
		select {
		case resolved <- struct{}{}:
		default:
		}
		return []netip.Addr{netip.MustParseAddr("192.0.2.1")}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	select {
	case <-resolved:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not resolve at once")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
	if !c.Has("a.example", netip.MustParseAddr("192.0.2.1")) {
		t.Error("Run's answer was not published")
	}
}
