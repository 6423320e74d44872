// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kfilter

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/engine/ruleset"
	"github.com/vigil-dev/vigil/internal/testenv"
)

const stableRules = "../../../shared/fixtures/falco-rules/falco_rules.yaml"

func compile(t *testing.T, yaml string) *eval.Program {
	t.Helper()
	set, err := rules.Load("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	p, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func rule(name, cond string) string {
	return "- rule: " + name + "\n  desc: d\n  condition: " + cond + "\n  output: o %fd.num\n  priority: WARNING\n"
}

// ruleOut is a rule whose output reads no fd field.
func ruleOut(name, cond, out string) string {
	return "- rule: " + name + "\n  desc: d\n  condition: " + cond + "\n  output: " + out + "\n  priority: WARNING\n"
}

func terms(f *driver.KernelFilter) map[string]uint8 {
	m := map[string]uint8{}
	for _, t := range f.OpenTerms {
		m[t.Prefix] = t.Need
	}
	return m
}

func TestOpenPrefixes(t *testing.T) {
	r := Derive(compile(t, rule("a", "evt.type in (open, openat) and evt.is_open_read=true and fd.num>=0 and fd.name in (/etc/shadow, /etc/gshadow)")+
		rule("b", "evt.type=openat and evt.is_open_write=true and (fd.directory=/var/log or fd.name startswith /srv/data/)")+
		rule("c", "evt.type=openat and fd.name pmatch (/opt/app/*/conf, /home)")))
	f := r.Filter
	if f == nil {
		t.Fatalf("no filter: %v", r.Notes)
	}
	want := map[string]uint8{
		"/etc/shadow": driver.KFNeedSuccess | driver.KFNeedRead, "/etc/gshadow": driver.KFNeedSuccess | driver.KFNeedRead,
		"/var/log": driver.KFNeedWrite, "/srv/data/": driver.KFNeedWrite, "/opt/app/": 0, "/home": 0,
	}
	got := terms(f)
	if len(got) != len(want) {
		t.Errorf("terms %v, want %v", got, want)
	}
	for p, n := range want {
		if g, ok := got[p]; !ok || g != n {
			t.Errorf("term %q: need %b (present %v), want %b", p, g, ok, n)
		}
	}
	for _, tm := range f.OpenTerms {
		if tm.Prefix == "/etc/shadow" && tm.Types != driver.KFOpen|driver.KFOpenat {
			t.Errorf("/etc/shadow types %b, want open and openat", tm.Types)
		}
		if tm.Prefix == "/var/log" && tm.Types != driver.KFOpenat {
			t.Errorf("/var/log types %b, want openat", tm.Types)
		}
	}
	if f.OpenAll != 0 || f.OpenSuccess != 0 {
		t.Errorf("OpenAll %b OpenSuccess %b, want 0 (no rule reads an fd later)", f.OpenAll, f.OpenSuccess)
	}
}

// What the analysis cannot bound keeps every path, for the rule's event
// types only.
func TestOpenUnanalysable(t *testing.T) {
	for _, cond := range []string{
		"evt.type=openat and fd.name contains secret",
		"evt.type=openat and not fd.name startswith /tmp",
		"evt.type=openat and fd.name endswith .pem",
		"evt.type=openat and tolower(fd.name) startswith /etc",
		"evt.type=openat and (fd.name startswith /etc or proc.name=cat)",
		"evt.type=openat and fd.nameraw startswith /etc",
	} {
		f := Derive(compile(t, rule("r", cond))).Filter
		if f == nil {
			t.Fatalf("%s: no filter", cond)
		}
		if n, ok := terms(f)[""]; !ok || n != 0 || len(f.OpenTerms) != 1 || f.OpenTerms[0].Types != driver.KFOpenat {
			t.Errorf("%s: terms %+v, want one any-path term for openat", cond, f.OpenTerms)
		}
	}
}

// A traversal (every match holds "..") adds no term: the driver keeps
// such paths itself.
func TestOpenDotted(t *testing.T) {
	f := Derive(compile(t, rule("r", "evt.type=openat and fd.name contains id_rsa and fd.nameraw contains '../' and fd.nameraw glob '*../*../*'"))).Filter
	if f == nil || len(f.OpenTerms) != 0 || f.OpenAll != 0 {
		t.Fatalf("filter %v, want no open term", f)
	}
	f = Derive(compile(t, rule("r", "evt.type=openat and fd.nameraw glob '*x*'"))).Filter
	if len(f.OpenTerms) != 1 || f.OpenTerms[0].Prefix != "" {
		t.Errorf("a glob without '..': terms %+v, want any path", f.OpenTerms)
	}
}

// A rule that reads, on a later event, an fd an open may have made keeps
// every successful open; one that only reads sockets keeps none.
func TestStateReaders(t *testing.T) {
	f := Derive(compile(t, rule("dup", "evt.type=dup2 and fd.name startswith /etc"))).Filter
	if f.OpenSuccess != driver.KFOpenFamily || f.Socket.State != ^uint64(0) || f.Connect.State != ^uint64(0) {
		t.Errorf("dup reading any fd: OpenSuccess %b socket state %x connect state %x, want all", f.OpenSuccess, f.Socket.State, f.Connect.State)
	}
	f = Derive(compile(t, rule("dup", "evt.type=dup2 and fd.type in (ipv4, ipv6)"))).Filter
	if f.OpenSuccess != 0 {
		t.Errorf("dup reading sockets: OpenSuccess %b, want 0", f.OpenSuccess)
	}
	if want := uint64(1<<unix.AF_INET | 1<<unix.AF_INET6); f.Socket.State != want || f.Connect.State != want {
		t.Errorf("dup reading sockets: state families %x/%x, want %x", f.Socket.State, f.Connect.State, want)
	}
	// not fd.type = file matches an fd the table lacks: an open dropped
	// there would change it.
	f = Derive(compile(t, rule("close", "evt.type=close and not fd.type=file"))).Filter
	if f.OpenSuccess != driver.KFOpenFamily {
		t.Errorf("close reading 'not file': OpenSuccess %b, want all", f.OpenSuccess)
	}
	// proc.cwd follows fchdir on an opened fd.
	f = Derive(compile(t, ruleOut("cwd", "evt.type=unlinkat and proc.name=rm", "o %proc.cwd"))).Filter
	if f.OpenSuccess != driver.KFOpenFamily {
		t.Errorf("proc.cwd on unlinkat: OpenSuccess %b, want all", f.OpenSuccess)
	}
	f = Derive(compile(t, ruleOut("cwd", "evt.type=execve and proc.name=rm", "o %proc.cwd"))).Filter
	if f.OpenSuccess != 0 {
		t.Errorf("proc.cwd on execve (carried by the event): OpenSuccess %b, want 0", f.OpenSuccess)
	}
	// The output counts: fd.name of a close reads the table.
	f = Derive(compile(t, ruleOut("c", "evt.type=close and proc.name=x", "o %fd.name"))).Filter
	if f.OpenSuccess != driver.KFOpenFamily {
		t.Errorf("fd.name in a close rule's output: OpenSuccess %b, want all", f.OpenSuccess)
	}
}

func TestSocketFamilies(t *testing.T) {
	f := Derive(compile(t, rule("p", "evt.type=socket and evt.arg.domain contains AF_PACKET"))).Filter
	if f.Socket.Rule&(1<<unix.AF_PACKET) == 0 || f.Socket.Rule&(1<<unix.AF_UNIX|1<<unix.AF_INET|1<<unix.AF_NETLINK) != 0 || f.Socket.All {
		t.Errorf("socket rule families %x, want AF_PACKET and not unix/inet/netlink", f.Socket.Rule)
	}
	f = Derive(compile(t, rule("p", "evt.type=socket and proc.name=nc"))).Filter
	if !f.Socket.All {
		t.Errorf("socket rule on any family: %+v, want all", f.Socket)
	}
	f = Derive(compile(t, rule("c", "evt.type=connect and (fd.typechar=4 or fd.typechar=6)"))).Filter
	if want := uint64(1<<unix.AF_INET | 1<<unix.AF_INET6); f.Connect.Rule != want || f.Connect.All {
		t.Errorf("connect rule families %x, want %x", f.Connect.Rule, want)
	}
}

func TestEvtNumTurnsItOff(t *testing.T) {
	if r := Derive(compile(t, ruleOut("n", "evt.type=openat and fd.name=/x", "o %evt.num"))); r.Filter != nil {
		t.Errorf("evt.num in output: filter %v, want none", r.Filter)
	}
	if r := Derive(compile(t, rule("n", "evt.type=openat and evt.num > 5"))); r.Filter != nil {
		t.Errorf("evt.num in condition: filter %v, want none", r.Filter)
	}
	if r := Derive(compile(t, rule("n", "evt.type=openat and fd.name=/x and not evt.num=0"))); r.Filter == nil {
		t.Errorf("evt.num=0 (never true): no filter: %v", r.Notes)
	}
}

func TestTooManyTerms(t *testing.T) {
	var names []string
	for i := 0; i < 40; i++ {
		names = append(names, "/d"+string(rune('a'+i%26))+string(rune('a'+i/26))+"/f")
	}
	f := Derive(compile(t, rule("m", "evt.type=openat and fd.name in ("+strings.Join(names, ",")+")"))).Filter
	if f.OpenAll != driver.KFOpenFamily && len(f.OpenTerms) > driver.KFMaxTerms {
		t.Errorf("%d terms, drivers hold %d", len(f.OpenTerms), driver.KFMaxTerms)
	}
	if f.OpenAll != driver.KFOpenFamily {
		t.Errorf("40 distinct directories: OpenAll %b, want the family kept whole", f.OpenAll)
	}
	// Under one directory they merge.
	names = names[:0]
	for i := 0; i < 40; i++ {
		names = append(names, "/etc/x"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	f = Derive(compile(t, rule("m", "evt.type=openat and fd.name in ("+strings.Join(names, ",")+")"))).Filter
	if len(f.OpenTerms) != 1 || f.OpenTerms[0].Prefix != "/etc/" {
		t.Errorf("40 files under /etc: terms %+v, want /etc/", f.OpenTerms)
	}
	if err := f.Valid(); err != nil {
		t.Error(err)
	}
}

// The upstream stable rules: what is derived (logged), and what it must
// hold.
func TestUpstreamStable(t *testing.T) {
	if _, err := os.Stat(stableRules); err != nil {
		testenv.Unavailable(t, "upstream Falco rules fixture missing (expected beside the repository in ../shared/fixtures/falco-rules): "+err.Error())
	}
	set, err := rules.LoadFiles(stableRules)
	if err != nil {
		t.Fatal(err)
	}
	p, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := Derive(p)
	t.Logf("filter: %s", r.Filter)
	for _, n := range r.Notes {
		t.Logf("note: %s", n)
	}
	f := r.Filter
	if f == nil {
		t.Fatal("no filter for the stable rules")
	}
	if err := f.Valid(); err != nil {
		t.Fatal(err)
	}
	got := terms(f)
	for _, p := range []string{"/etc/shadow", "/etc/sudoers", "/etc/pam.d"} {
		if n, ok := got[p]; !ok || n != driver.KFNeedSuccess|driver.KFNeedRead {
			t.Errorf("term %s: %b %v, want a successful read", p, n, ok)
		}
	}
	// release_agent (endswith) keeps every successful write.
	if n, ok := got[""]; !ok || n != driver.KFNeedSuccess|driver.KFNeedWrite {
		t.Errorf("any-path term %b %v, want successful writes", n, ok)
	}
	if f.OpenSuccess != 0 || f.OpenAll != 0 {
		t.Errorf("OpenSuccess %b OpenAll %b: the stable readers read sockets only", f.OpenSuccess, f.OpenAll)
	}
	if f.Socket.Rule&(1<<unix.AF_UNIX|1<<unix.AF_NETLINK) != 0 || f.Socket.State&(1<<unix.AF_UNIX) != 0 || f.Connect.Rule&(1<<unix.AF_UNIX) != 0 {
		t.Errorf("AF_UNIX/AF_NETLINK kept: socket %+v connect %+v", f.Socket, f.Connect)
	}
	if f.Socket.State&(1<<unix.AF_INET) == 0 || f.Connect.State&(1<<unix.AF_INET6) == 0 {
		t.Errorf("inet sockets not kept for the dup and connect rules: %+v %+v", f.Socket, f.Connect)
	}
}

// vigil's default rules: what is derived (logged); they must leave
// something to drop, or the filter is pointless by default.
func TestDefaultRules(t *testing.T) {
	p, err := ruleset.Program(eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := Derive(p)
	t.Logf("filter: %s", r.Filter)
	for _, n := range r.Notes {
		t.Logf("note: %s", n)
	}
	if r.Filter == nil {
		t.Fatal("no filter for the default rules")
	}
	if err := r.Filter.Valid(); err != nil {
		t.Fatal(err)
	}
}

// A directory opened with O_DIRECTORY is its own fd.directory: the
// filter keeps it.
func TestDirectoryOpenKept(t *testing.T) {
	f := Derive(compile(t, rule("d", "evt.type=openat and fd.directory=/srv/dir"))).Filter
	var b driver.Builder
	b.Begin(nil, driver.EvOpenat, 1, 10, 10)
	b.Int(3).Int(unix.AT_FDCWD).Str("/srv/dir").Int(unix.O_RDONLY | unix.O_DIRECTORY).Int(0).Int(0).Int(0)
	var e driver.Event
	if err := e.Decode(b.End()); err != nil {
		t.Fatal(err)
	}
	if !f.Keep(&e, false) {
		t.Errorf("open of /srv/dir (O_DIRECTORY) dropped by %s", f)
	}
	b.Begin(nil, driver.EvOpenat, 2, 10, 10)
	b.Int(3).Int(unix.AT_FDCWD).Str("/srv/other").Int(unix.O_RDONLY).Int(0).Int(0).Int(0)
	if err := e.Decode(b.End()); err != nil {
		t.Fatal(err)
	}
	if f.Keep(&e, false) {
		t.Errorf("open of /srv/other kept by %s", f)
	}
}
