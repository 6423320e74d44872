// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/engine/state"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// Upstream's "Directory traversal monitored file read" fires on a path
// given with ../ (fd.nameraw), also when the open fails, and not on the
// same file opened by its clean path. fd.nameraw used to be the cleaned
// path, so the rule never fired.
func TestDirectoryTraversalRuleSeesRawPath(t *testing.T) {
	p := compileUpstream(t)
	const rule = "Directory traversal monitored file read"
	setup := func(t *testing.T) *replay {
		r := newReplay()
		r.spawn(t, 1, 50, "/usr/bin/python3", []string{"python3", "app.py"}, "/srv/app", 33)
		r.spawn(t, 50, 60, "/usr/bin/cat", []string{"cat", "../../etc/passwd"}, "/srv/app", 33)
		return r
	}
	t.Run("read", func(t *testing.T) {
		r := setup(t)
		r.event(t, driver.EvOpenatE, 60, unix.AT_FDCWD, "../..//etc/passwd", unix.O_RDONLY, 0)
		c := r.event(t, driver.EvOpenat, 60, 3, unix.AT_FDCWD, "/srv/app/../../etc/passwd", unix.O_RDONLY, 0, 0, 0)
		as := alerts(p, c)
		if len(as) != 1 || as[0].Rule != rule {
			t.Fatalf("alerts = %v, want one from %q", as, rule)
		}
		if got := as[0].OutputFields["fd.nameraw"]; got != "../../etc/passwd" {
			t.Errorf("fd.nameraw = %#v, want ../../etc/passwd", got)
		}
		if got := as[0].OutputFields["fd.name"]; got != "/etc/passwd" {
			t.Errorf("fd.name = %#v, want /etc/passwd", got)
		}
	})
	t.Run("failed open", func(t *testing.T) {
		r := setup(t)
		r.event(t, driver.EvOpenatE, 60, unix.AT_FDCWD, "../../etc/shadow", unix.O_RDONLY, 0)
		c := r.event(t, driver.EvOpenat, 60, -int(unix.EACCES), unix.AT_FDCWD, "/srv/app/../../etc/shadow", unix.O_RDONLY, 0, nil, nil)
		if as := alerts(p, c); len(as) != 1 || as[0].Rule != rule {
			t.Fatalf("alerts = %v, want one from %q", as, rule)
		}
	})
	t.Run("clean path", func(t *testing.T) {
		r := setup(t)
		r.event(t, driver.EvOpenatE, 60, unix.AT_FDCWD, "/etc/passwd", unix.O_RDONLY, 0)
		c := r.event(t, driver.EvOpenat, 60, 3, unix.AT_FDCWD, "/etc/passwd", unix.O_RDONLY, 0, 0, 0)
		if as := alerts(p, c); len(as) != 0 {
			t.Fatalf("a clean path raised %q", as[0].Rule)
		}
	})
}

// Upstream's "Set Setuid or Setgid bit" matches evt.arg.mode against
// Falco's names; the mode used to render as octal, so it never fired.
func TestSetuidBitRuleSeesModeNames(t *testing.T) {
	p := mustCompile(t, `evt.type in (chmod, fchmod, fchmodat) and (evt.arg.mode contains "S_ISUID" or evt.arg.mode contains "S_ISGID")`,
		"mode=%evt.arg.mode raw=%evt.rawarg.mode")
	r := newReplay()
	r.spawn(t, 1, 60, "/usr/bin/chmod", []string{"chmod", "u+s", "/tmp/sh"}, "/tmp", 0)
	as := alerts(p, r.event(t, driver.EvChmod, 60, 0, "/tmp/sh", 0o4755))
	if len(as) != 1 {
		t.Fatalf("chmod 4755: %d alerts, want 1", len(as))
	}
	if want := "mode=S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID raw=2541"; as[0].Output != want {
		t.Errorf("output %q, want %q", as[0].Output, want)
	}
	if n := len(alerts(p, r.event(t, driver.EvFchmodat, 60, 0, unix.AT_FDCWD, "/tmp/f", 0o755))); n != 0 {
		t.Errorf("chmod 755 raised %d alerts", n)
	}
	if n := len(alerts(p, r.event(t, driver.EvFchmod, 60, 0, 3, 0o2755))); n != 1 {
		t.Errorf("fchmod 2755 raised %d alerts, want 1", n)
	}
}

// upstreamFiles are the upstream rulesets in the order users load them
// (vigil run --rules stable --rules incubating --rules sandbox --rules
// deprecated).
var upstreamFiles = []string{
	"../../../shared/fixtures/falco-rules/falco_rules.yaml",
	"../../../shared/fixtures/falco-rules/falco-incubating_rules.yaml",
	"../../../shared/fixtures/falco-rules/falco-sandbox_rules.yaml",
	"../../../shared/fixtures/falco-rules/falco-deprecated_rules.yaml",
}

func loadAllUpstream(t testing.TB) *rules.Set {
	t.Helper()
	for _, f := range upstreamFiles {
		if _, err := os.Stat(f); err != nil {
			testenv.Unavailable(t, "upstream Falco rules fixture missing (expected beside the repository in ../shared/fixtures/falco-rules): "+err.Error())
		}
	}
	set, err := rules.LoadFiles(upstreamFiles...)
	if err != nil {
		t.Fatalf("load the four upstream rulesets: %v", err)
	}
	return set
}

// The four upstream rulesets, loaded together in order as vigil run does,
// compile without an error: all 97 rules (3 of them used to fail, on
// proc.env and evt.buffer).
func TestUpstreamRulesetsCompileTogether(t *testing.T) {
	set := loadAllUpstream(t)
	p, err := Compile(set, Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	for _, w := range p.Warnings() {
		t.Logf("warning: %v", w)
	}
	if got, want := len(p.Rules()), len(set.Rules()); got != want || got != 25+31+37+4 {
		t.Errorf("compiled %d rules of %d, want all 97", got, want)
	}
}

// proc.env (upstream incubating's HTTP_PROXY and GLIBC_TUNABLES rules)
// reads the process's environment; proc.env[NAME] one variable.
func TestProcEnvRules(t *testing.T) {
	p, err := Compile(loadAllUpstream(t), Options{AllMatches: true})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	env := map[uint32][]string{}
	exec := func(t *testing.T, comm, exe string, vars ...string) *fields.Ctx {
		w := newWorld(t)
		c := w.execve(t, w.child(200, 300, comm, exe))
		env[300] = vars
		c.Env = func(p *state.Process) ([]string, bool) { e, ok := env[p.PID]; return e, ok }
		return c
	}
	fired := func(c *fields.Ctx, rule string) *output.Alert {
		for _, a := range alerts(p, c) {
			if a.Rule == rule {
				return a
			}
		}
		return nil
	}
	const proxy = "Program run with disallowed http proxy env"
	c := exec(t, "curl", "/usr/bin/curl", "HOME=/root", "HTTP_PROXY=http://evil.example:8080")
	a := fired(c, proxy)
	if a == nil {
		t.Fatalf("curl with HTTP_PROXY did not raise %q", proxy)
	}
	if got := a.OutputFields["proc.env"]; got != "HOME=/root HTTP_PROXY=http://evil.example:8080" {
		t.Errorf("proc.env = %#v", got)
	}
	if fired(exec(t, "curl", "/usr/bin/curl", "HOME=/root"), proxy) != nil {
		t.Errorf("curl without HTTP_PROXY raised %q", proxy)
	}
	const tunables = "Potential Local Privilege Escalation via Environment Variables Misuse"
	if fired(exec(t, "su", "/usr/bin/su", "GLIBC_TUNABLES=glibc.tune.x=1"), tunables) == nil {
		t.Errorf("GLIBC_TUNABLES did not raise %q", tunables)
	}
	// Without an environment (a capture, an exited process): the field is
	// not available and the rule does not fire.
	c = exec(t, "curl", "/usr/bin/curl")
	delete(env, 300)
	if fired(c, proxy) != nil {
		t.Errorf("a process without a known environment raised %q", proxy)
	}

	one := mustCompile(t, `proc.env[HTTP_PROXY] = "http://evil.example:8080" and proc.env[NOPE] = ""`, "%proc.env[HTTP_PROXY]")
	as := alerts(one, exec(t, "wget", "/usr/bin/wget", "HTTP_PROXY= http://evil.example:8080 "))
	if len(as) != 1 || as[0].Output != "http://evil.example:8080" {
		t.Errorf("proc.env[HTTP_PROXY]: %v", as)
	}
}

// evt.buffer compiles (upstream sandbox's log4shell rule uses it) but
// vigil's drivers capture no I/O data: a warning says the comparison is
// always false, and it is, as Falco treats a field that does not extract.
func TestEvtBufferCompilesNeverMatches(t *testing.T) {
	p := mustCompile(t, "evt.type = connect and evt.buffer bcontains cafebabe", "buf=%evt.buffer")
	w := p.Warnings()
	if len(w) != 1 || !strings.Contains(w[0].Error(), "test.yaml:4:28:") ||
		!strings.Contains(w[0].Msg, "'evt.buffer' is never available") || !strings.Contains(w[0].Msg, "always false") {
		t.Errorf("warnings = %v, want one located at the condition saying evt.buffer is never available", w)
	}
	world := newWorld(t)
	world.child(200, 300, "java", "/usr/bin/java")
	if n := len(alerts(p, world.event(t, driver.EvConnect, 300, 0, 3, tuple("10.0.0.1:40000", "10.0.0.2:80")))); n != 0 {
		t.Errorf("evt.buffer matched %d times", n)
	}
	neg := mustCompile(t, "evt.type = connect and not evt.buffer exists", "buf=%evt.buffer")
	as := alerts(neg, world.event(t, driver.EvConnect, 300, 0, 3, tuple("10.0.0.1:40000", "10.0.0.2:80")))
	if len(as) != 1 || as[0].Output != "buf=<NA>" {
		t.Errorf("not evt.buffer exists: %v, want one alert printing buf=<NA>", as)
	}
}

// evt.is_open_exec is Falco's: a call creating a file with an execute bit
// in its mode. It used to be always false.
func TestIsOpenExec(t *testing.T) {
	p := mustCompile(t, "evt.is_open_exec = true", "x")
	r := newReplay()
	r.spawn(t, 1, 60, "/usr/bin/gcc", []string{"gcc", "-o", "a.out", "a.c"}, "/tmp", 1000)
	cases := []struct {
		name string
		typ  driver.EventType
		args []any
		want bool
	}{
		{"O_CREAT 0755", driver.EvOpenat, []any{3, unix.AT_FDCWD, "/tmp/a.out", unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, 0o755, 0, 0}, true},
		{"O_CREAT 0644", driver.EvOpenat, []any{3, unix.AT_FDCWD, "/tmp/a.o", unix.O_WRONLY | unix.O_CREAT, 0o644, 0, 0}, false},
		{"O_CREAT 0701 (others)", driver.EvOpen, []any{3, "/tmp/x", unix.O_RDWR | unix.O_CREAT, 0o601, 0, 0}, true},
		{"no O_CREAT, mode ignored", driver.EvOpenat, []any{3, unix.AT_FDCWD, "/usr/bin/ls", unix.O_RDONLY, 0o755, 0, 0}, false},
		{"O_TMPFILE 0700", driver.EvOpenat2, []any{3, unix.AT_FDCWD, "/tmp", unix.O_TMPFILE | unix.O_RDWR, 0o700, 0, 0, 0}, true},
		{"creat 0700", driver.EvCreat, []any{3, "/tmp/run.sh", 0o700, 0, 0}, true},
		{"creat 0600", driver.EvCreat, []any{3, "/tmp/data", 0o600, 0, 0}, false},
		{"chmod", driver.EvChmod, []any{0, "/tmp/a.out", 0o755}, false},
	}
	for _, tc := range cases {
		if got := len(alerts(p, r.event(t, tc.typ, 60, tc.args...))) == 1; got != tc.want {
			t.Errorf("%s: evt.is_open_exec = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fd.name_changed is true on the event that renames an fd the table knew:
// a connect or bind giving a socket its address (upstream's outbound
// macro). It used to be always false.
func TestFDNameChanged(t *testing.T) {
	p := mustCompile(t, "fd.name_changed = true", "%fd.name")
	r := newReplay()
	r.spawn(t, 1, 60, "/usr/bin/nc", []string{"nc", "10.0.0.2", "53"}, "/", 1000)
	if n := len(alerts(p, r.event(t, driver.EvSocket, 60, 3, unix.AF_INET, unix.SOCK_DGRAM, 0))); n != 0 {
		t.Errorf("socket: name_changed matched (a new fd is not renamed)")
	}
	as := alerts(p, r.event(t, driver.EvConnect, 60, 0, 3, tuple("10.0.0.1:40000", "10.0.0.2:53")))
	if len(as) != 1 || as[0].Output != "10.0.0.1:40000->10.0.0.2:53" {
		t.Errorf("connect of a known socket: %v, want one alert naming the new tuple", as)
	}
	if n := len(alerts(p, r.event(t, driver.EvConnect, 60, 0, 3, tuple("10.0.0.1:40000", "10.0.0.2:53")))); n != 0 {
		t.Errorf("connect to the same address again: name_changed matched")
	}
	if n := len(alerts(p, r.event(t, driver.EvClose, 60, 0, 3))); n != 0 {
		t.Errorf("close: name_changed matched")
	}
	// A socket the table never saw (opened before vigil): connect makes
	// its fd, nothing is renamed.
	if n := len(alerts(p, r.event(t, driver.EvConnect, 60, 0, 9, tuple("10.0.0.1:40001", "10.0.0.3:53")))); n != 0 {
		t.Errorf("connect of an unknown fd: name_changed matched")
	}
	r.event(t, driver.EvSocket, 60, 4, unix.AF_INET, unix.SOCK_STREAM, 0)
	if n := len(alerts(p, r.event(t, driver.EvBind, 60, 0, 4, sockaddr(t, "0.0.0.0:8080")))); n != 1 {
		t.Errorf("bind of a known socket: %d alerts, want 1", n)
	}
}

// Fields vigil never has data for are rejected in conditions but print
// <NA> in outputs (upstream rules name them in outputs of enabled rules);
// a rule that opts into skip-if-unknown-filter is skipped. fd.sip.name
// without a resolved name prints <NA> too.
func TestNeverAvailableFields(t *testing.T) {
	p := mustCompile(t, "evt.type = connect", "sip=%fd.sip.name cip=%fd.cip.name probe=%proc.is_container_healthcheck")
	w := newWorld(t)
	w.child(200, 300, "curl", "/usr/bin/curl")
	as := alerts(p, w.event(t, driver.EvConnect, 300, 0, 3, tuple("10.0.0.1:40000", "10.0.0.2:80")))
	if len(as) != 1 || as[0].Output != "sip=<NA> cip=<NA> probe=<NA>" {
		t.Errorf("outputs: %v", as)
	}
	y := "- rule: r\n  desc: d\n  condition: evt.type = connect and proc.is_container_healthcheck = false\n  output: o\n  priority: INFO\n  skip-if-unknown-filter: true\n"
	set, err := rules.Load("skip.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(set, Options{})
	if err != nil || len(prog.Rules()) != 0 || len(prog.Warnings()) != 1 || !strings.Contains(prog.Warnings()[0].Msg, "skipped (skip-if-unknown-filter)") {
		t.Errorf("skip-if-unknown-filter: err %v, rules %d, warnings %v", err, len(prog.Rules()), prog.Warnings())
	}
}

// fakeDNS resolves names from a table.
type fakeDNS map[string][]netip.Addr

func (d fakeDNS) Has(name string, ip netip.Addr) bool { return slices.Contains(d[name], ip) }
func (d fakeDNS) NameOf(ip netip.Addr) string {
	for _, n := range slices.Sorted(maps.Keys(d)) {
		if d.Has(n, ip) {
			return n
		}
	}
	return ""
}

// fd.sip.name and its kin work as Falco's DNS manager: stable's "Contact
// K8S API Server From Container" fires on a connect to an address
// kubernetes.default.svc.cluster.local resolves to. They used to be never
// available, so the rule never fired.
func TestDomainFields(t *testing.T) {
	p := compileUpstream(t)
	if got := p.Domains(); !slices.Equal(got, []string{"kubernetes.default.svc.cluster.local"}) {
		t.Errorf("Domains = %v, want the name the k8s rule compares with", got)
	}
	const rule = "Contact K8S API Server From Container"
	dns := fakeDNS{"kubernetes.default.svc.cluster.local": {netip.MustParseAddr("10.96.0.1")}}
	connect := func(t *testing.T, to string) *fields.Ctx {
		w, runc := containerWorld(t)
		app := w.child(runc.PID, 1001, "kubectl", "/usr/bin/kubectl")
		dst := netip.MustParseAddrPort(to)
		app.FDs.Set(&state.FD{Num: 3, Type: state.FDIPv4, Proto: "tcp", Name: "172.17.0.2:40000->" + to,
			LocalIP: []byte{172, 17, 0, 2}, LocalPort: 40000, PeerIP: dst.Addr().AsSlice(), PeerPort: dst.Port()})
		c := w.event(t, driver.EvConnect, 1001, 0, 3, tuple("172.17.0.2:40000", to))
		c.DNS = dns
		return c
	}
	if as := alerts(p, connect(t, "10.96.0.1:443")); len(as) != 1 || as[0].Rule != rule {
		t.Errorf("connect to the API server: %v, want %q", as, rule)
	}
	if as := alerts(p, connect(t, "10.96.0.2:443")); len(as) != 0 {
		t.Errorf("connect elsewhere raised %q", as[0].Rule)
	}

	// =, != and in, and the output.
	q := mustCompile(t, "evt.type = connect and fd.sip.name in (a.example, b.example) and fd.sip.name != c.example and not fd.cip.name = c.example",
		"%fd.sip.name %fd.cip.name")
	if got := q.Domains(); !slices.Equal(got, []string{"a.example", "b.example", "c.example"}) {
		t.Errorf("Domains = %v", got)
	}
	w := newWorld(t)
	w.child(200, 300, "curl", "/usr/bin/curl")
	ctx := func(dns fakeDNS) *fields.Ctx {
		c := w.event(t, driver.EvConnect, 300, 0, 3, tuple("192.168.1.5:40000", "203.0.113.9:443"))
		c.DNS = dns
		return c
	}
	server := netip.MustParseAddr("203.0.113.9")
	if as := alerts(q, ctx(fakeDNS{"b.example": {server}})); len(as) != 1 || as[0].Output != "b.example <NA>" {
		t.Errorf("server resolving from b.example: %v", as)
	}
	if as := alerts(q, ctx(fakeDNS{"b.example": {server}, "c.example": {server}})); len(as) != 0 {
		t.Errorf("fd.sip.name != c.example matched an address c.example resolves to")
	}
	if as := alerts(q, ctx(nil)); len(as) != 0 {
		t.Errorf("nothing resolved, yet the rule matched")
	}
	// Not an IP socket: every comparison is false, != included.
	ne := mustCompile(t, "evt.type = open and fd.sip.name != c.example", "x")
	if n := len(alerts(ne, w.openat(t, 300, 3, "/etc/hosts", unix.O_RDONLY))); n != 0 {
		t.Errorf("fd.sip.name != on a file matched")
	}
}

// A disabled rule that does not compile is a warning, not an error, as in
// Falco; the rules beside it compile and run, and enabling it makes its
// problem an error again.
func TestDisabledRuleCompileErrorsAreWarnings(t *testing.T) {
	y := "- rule: broken\n  desc: d\n  condition: evt.type = open and proc.nmae = sh\n  output: o\n  priority: INFO\n  enabled: false\n" +
		"- rule: parse\n  desc: d\n  condition: evt.type = open and (\n  output: o\n  priority: INFO\n  enabled: false\n" +
		"- rule: fine\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n"
	set, err := rules.Load("disabled.yaml", []byte(y))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	p, err := Compile(set, Options{})
	if err != nil {
		t.Fatalf("compile: %v, want only warnings", err)
	}
	var msgs []string
	for _, w := range p.Warnings() {
		msgs = append(msgs, w.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"disabled.yaml:3:34: rule 'broken': unknown field 'proc.nmae'", "rule 'parse'", "the rule is disabled: a warning"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	if r := p.Rule("fine"); r == nil || !r.Runs {
		t.Errorf("the enabled rule beside them does not run: %+v", r)
	}

	set, err = rules.Load("enabled.yaml", []byte(strings.Replace(y, "  enabled: false\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(set, Options{}); err == nil || !strings.Contains(err.Error(), "unknown field 'proc.nmae'") {
		t.Errorf("enabled, the broken rule compiled: %v", err)
	}
}
