// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
)

// A live engine resolves the names its rules compare fd.*ip.name with;
// one replaying a capture does not (today's answers are not the
// capture's).
func TestEngineResolvesRuleDomains(t *testing.T) {
	set, err := rules.Load("dns.yaml", []byte("- rule: r\n  desc: d\n  condition: evt.type = connect and fd.sip.name = localhost\n  output: o\n  priority: INFO\n"))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(*output.Alert) {}
	replay, err := New(Config{Program: prog, Emit: emit})
	if err != nil {
		t.Fatal(err)
	}
	if replay.dns != nil || replay.ctx.DNS != nil {
		t.Error("a capture's engine resolves names")
	}
	live, err := New(Config{Program: prog, Emit: emit, Live: true})
	if err != nil {
		t.Fatal(err)
	}
	if live.dns == nil || live.ctx.DNS == nil || !slices.Equal(live.dns.Names(), []string{"localhost"}) {
		t.Fatalf("live engine: dns %v", live.dns)
	}
	// localhost resolves from /etc/hosts, without the network.
	live.dns.Resolve(context.Background())
	if !live.ctx.DNS.Has("localhost", netip.MustParseAddr("127.0.0.1")) {
		t.Error("localhost does not resolve to 127.0.0.1")
	}
}
