// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// warnings collects what a resolver warns and reports recovered.
type warnings struct {
	mu        sync.Mutex
	got       []Warning
	recovered []Warning
}

func (w *warnings) warn(x Warning) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, x)
}

func (w *warnings) recover(x Warning) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recovered = append(w.recovered, x)
}

func (w *warnings) list() []Warning {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Warning(nil), w.got...)
}

func (w *warnings) recoveries() []Warning {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Warning(nil), w.recovered...)
}

func newTestResolver(t *testing.T, cfg Config) (*Resolver, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg.Warn, cfg.Recovered = w.warn, w.recover
	r := NewResolver(cfg)
	t.Cleanup(func() { r.Close() })
	return r, w
}

// testID makes a container id of 64 hex digits.
func testID(n int) string { return fmt.Sprintf("%064x", 0xc0ffee000+n) }

// waitStatus looks the container up until it leaves Pending.
func waitStatus(t *testing.T, r *Resolver, rt Runtime, id string, within time.Duration) *Info {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		info := r.Lookup(rt, id)
		if info.Status != Pending {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still Pending after %s", ShortID(id), within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestHostInfo(t *testing.T) {
	r, _ := newTestResolver(t, Config{DockerSocket: filepath.Join(t.TempDir(), "none.sock")})
	h := r.Lookup(Host, "")
	if h.ID != "host" || h.Name != "host" || h.Runtime != Host || h.Status != Ready {
		t.Fatalf("host info %+v", h)
	}
	if r.Lookup(Docker, "") != h || r.Lookup(Host, "x") != h {
		t.Error("host lookups do not share one Info")
	}
	if n := testing.AllocsPerRun(100, func() { r.Lookup(Host, "") }); n != 0 {
		t.Errorf("host lookup: %v allocations", n)
	}
	if s := r.Stats(); s.Entries != 0 || s.Fetches != 0 {
		t.Errorf("host lookups touched the cache: %+v", s)
	}
}

// A socket that does not exist: every container Failed, one warning naming
// the path and the mount, however many lookups of however many containers.
func TestMissingSocketWarnsOnce(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "var/run/docker.sock")
	r, w := newTestResolver(t, Config{DockerSocket: sock, RetryAfter: 5 * time.Millisecond, MaxRetryAfter: 10 * time.Millisecond})
	for i := range 5 {
		if info := r.Lookup(Docker, testID(i)); info.Status != Pending || info.ID != ShortID(testID(i)) || info.FullID != testID(i) {
			t.Fatalf("first lookup: %+v, want Pending with the id", info)
		}
	}
	// Many lookups over several retry periods.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		for i := range 5 {
			r.Lookup(Docker, testID(i))
		}
	}
	for i := range 5 {
		info := waitStatus(t, r, Docker, testID(i), 5*time.Second)
		if info.Status != Failed || !strings.Contains(info.Reason, sock) {
			t.Errorf("container %d: %+v, want Failed naming %s", i, info, sock)
		}
	}
	if s := r.Stats(); s.Fetches < 10 {
		t.Errorf("only %d fetches: the failures were not retried, so one warning proves nothing", s.Fetches)
	}
	ws := w.list()
	if len(ws) != 1 {
		t.Fatalf("%d warnings, want 1: %v", len(ws), ws)
	}
	got := ws[0]
	if got.Runtime != "docker" || got.Socket != sock {
		t.Errorf("warning for %q at %q, want docker at %s", got.Runtime, got.Socket, sock)
	}
	if got.Cause != "no Docker socket at "+sock {
		t.Errorf("cause %q", got.Cause)
	}
	if !strings.Contains(got.Fix, "-v /var/run/docker.sock:/host/var/run/docker.sock:ro") {
		t.Errorf("fix %q does not say how to mount the socket", got.Fix)
	}
	if !strings.Contains(got.Err, "no such file or directory") {
		t.Errorf("err %q", got.Err)
	}
	if len(w.recoveries()) != 0 {
		t.Error("recovered without an answer")
	}
}

func TestSocketPath(t *testing.T) {
	root := t.TempDir()
	t.Setenv("DOCKER_HOST", "")
	r, w := newTestResolver(t, Config{HostRoot: root})
	want := filepath.Join(root, "var/run/docker.sock")
	if got := r.DockerSocket(); got != want {
		t.Errorf("socket %s, want %s", got, want)
	}
	waitStatus(t, r, Docker, testID(1), 5*time.Second)
	if ws := w.list(); len(ws) != 1 || ws[0].Socket != want {
		t.Errorf("warnings %v, want one for %s", ws, want)
	}

	sockOf := func(cfg Config) string {
		r := NewResolver(cfg)
		defer r.Close()
		return r.DockerSocket()
	}
	t.Setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
	if got := sockOf(Config{HostRoot: root}); got != "/run/user/1000/docker.sock" {
		t.Errorf("DOCKER_HOST ignored: %s", got)
	}
	if got := sockOf(Config{DockerSocket: "/x.sock"}); got != "/x.sock" {
		t.Errorf("DockerSocket does not override DOCKER_HOST: %s", got)
	}
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
	if got := sockOf(Config{HostRoot: root}); got != want {
		t.Errorf("with a tcp DOCKER_HOST: %s, want %s", got, want)
	}
}

// staleSocket leaves a socket file that nothing listens on, as a dockerd
// that died leaves it.
func staleSocket(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	return sock
}

func TestConnectionRefused(t *testing.T) {
	sock := staleSocket(t)
	r, w := newTestResolver(t, Config{DockerSocket: sock})
	info := waitStatus(t, r, Docker, testID(1), 5*time.Second)
	if info.Status != Failed {
		t.Fatalf("%+v", info)
	}
	ws := w.list()
	if len(ws) != 1 {
		t.Fatalf("warnings %v", ws)
	}
	if !strings.Contains(ws[0].Cause, "connection refused") || !strings.Contains(ws[0].Cause, "dockerd is not running") ||
		!strings.Contains(ws[0].Cause, sock) {
		t.Errorf("cause %q", ws[0].Cause)
	}
	if !strings.Contains(ws[0].Err, "connection refused") {
		t.Errorf("err %q", ws[0].Err)
	}
}

func TestNotASocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	if err := os.WriteFile(sock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, w := newTestResolver(t, Config{DockerSocket: sock})
	waitStatus(t, r, Docker, testID(1), 5*time.Second)
	if ws := w.list(); len(ws) != 1 || ws[0].Cause != sock+" is not a socket" {
		t.Errorf("warnings %v", ws)
	}
}

// hungSocket accepts connections and never answers, as a wedged daemon.
func hungSocket(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return sock
}

// A daemon that does not answer: Failed after the timeout, one fetch for
// the many lookups made meanwhile, and the timeout as the cause.
func TestTimeoutAndDedup(t *testing.T) {
	sock := hungSocket(t)
	timeout := time.Second
	r, w := newTestResolver(t, Config{DockerSocket: sock, Timeout: timeout})
	id := testID(7)
	start := time.Now()
	for range 200 {
		if info := r.Lookup(Docker, id); info.Status != Pending {
			t.Fatalf("%+v before the timeout", info)
		}
	}
	if time.Since(start) > timeout/2 {
		t.Fatalf("200 lookups took %s: Lookup waits for the runtime", time.Since(start))
	}
	info := waitStatus(t, r, Docker, id, 10*time.Second)
	if info.Status != Failed {
		t.Fatalf("%+v", info)
	}
	if s := r.Stats(); s.Fetches != 1 {
		t.Errorf("%d fetches for one container, want 1", s.Fetches)
	}
	ws := w.list()
	if len(ws) != 1 || !strings.Contains(ws[0].Cause, "did not answer within "+timeout.String()) {
		t.Fatalf("warnings %v", ws)
	}
	if info.Reason != ws[0].Cause {
		t.Errorf("reason %q, want the warning's cause", info.Reason)
	}
}

// A full queue drops the fetch, never blocks; a later Lookup queues it.
func TestQueueFull(t *testing.T) {
	sock := hungSocket(t)
	r, _ := newTestResolver(t, Config{DockerSocket: sock, Timeout: time.Second, Workers: 1, QueueLen: 1})
	start := time.Now()
	for i := range 4 {
		r.Lookup(Docker, testID(i))
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Fatalf("lookups blocked for %s", time.Since(start))
	}
	if s := r.Stats(); s.Dropped == 0 {
		t.Fatalf("no fetch dropped with one worker and a queue of one: %+v", s)
	}
	for i := range 4 {
		if info := waitStatus(t, r, Docker, testID(i), 10*time.Second); info.Status != Failed {
			t.Errorf("container %d: %+v", i, info)
		}
	}
}

// Failed fetches are retried after a wait that doubles, and not before.
func TestRetryBackoff(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	retry := 400 * time.Millisecond
	r, _ := newTestResolver(t, Config{DockerSocket: sock, RetryAfter: retry, MaxRetryAfter: 10 * retry})
	id := testID(3)
	ent := func() *entry {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return r.entries[id]
	}
	// fetch looks the container up once and waits for the fetch to
	// fail; it returns the retry time set and the bounds of the moment
	// the fetch failed.
	fetch := func(n uint64) (at, from, to time.Time) {
		t.Helper()
		from = time.Now()
		r.Lookup(Docker, id)
		waitUntil(t, fmt.Sprintf("fetch %d", n), 5*time.Second, func() bool {
			return r.Stats().Fetches == n && r.Lookup(Docker, id).Status == Failed && !ent().queued.Load()
		})
		return time.Unix(0, ent().retryAt.Load()), from, time.Now()
	}
	for n, wait := range []time.Duration{retry, 2 * retry, 4 * retry} {
		at, from, to := fetch(uint64(n + 1))
		if at.Before(from.Add(wait)) || at.After(to.Add(wait)) {
			t.Fatalf("fetch %d: retry at +%s after the fetch, want +%s", n+1, at.Sub(from), wait)
		}
		// Lookups before then fetch nothing.
		for time.Until(at) > retry/4 {
			r.Lookup(Docker, id)
			time.Sleep(time.Millisecond)
		}
		if got := r.Stats().Fetches; got != uint64(n+1) {
			t.Fatalf("%d fetches before the retry time, want %d", got, n+1)
		}
		time.Sleep(time.Until(at))
	}
}

func TestMissingSocketsWarnOncePerRuntime(t *testing.T) {
	dir := t.TempDir()
	r, w := newTestResolver(t, Config{
		DockerSocket:     filepath.Join(dir, "docker.sock"),
		PodmanSocket:     filepath.Join(dir, "podman.sock"),
		ContainerdSocket: filepath.Join(dir, "containerd.sock"),
		CRIOSocket:       filepath.Join(dir, "crio.sock"),
		RetryAfter:       time.Millisecond, MaxRetryAfter: time.Millisecond,
	})
	rts := []Runtime{Docker, Podman, Containerd, CRIO}
	for round := range 20 {
		for i := range 4 {
			for j, rt := range rts {
				r.Lookup(rt, testID(100*j+i))
			}
		}
		if round%5 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i := range 4 {
		for j, rt := range rts {
			if info := waitStatus(t, r, rt, testID(100*j+i), 5*time.Second); info.Status != Failed || info.Runtime != rt {
				t.Errorf("%s: %+v", rt, info)
			}
		}
	}
	byRT := map[string]Warning{}
	for _, x := range w.list() {
		if _, dup := byRT[x.Runtime]; dup {
			t.Errorf("second warning for %s: %v", x.Runtime, x)
		}
		byRT[x.Runtime] = x
	}
	if len(byRT) != 4 {
		t.Fatalf("warnings for %d runtimes, want 4: %v", len(byRT), w.list())
	}
	for rt, want := range map[string]string{"containerd": "no containerd socket at " + filepath.Join(dir, "containerd.sock"),
		"cri-o": "no CRI-O socket at " + filepath.Join(dir, "crio.sock")} {
		if got := byRT[rt]; got.Cause != want || !strings.Contains(got.Fix, "--host-root") || got.Err == "" {
			t.Errorf("%s: warning %+v, want cause %q", rt, got, want)
		}
	}
	if got := byRT["podman"]; got.Cause != "no Podman socket at "+filepath.Join(dir, "podman.sock") ||
		!strings.Contains(got.Fix, "podman.socket") {
		t.Errorf("podman warning %+v", got)
	}
}

func TestInvalidIDs(t *testing.T) {
	r, w := newTestResolver(t, Config{DockerSocket: filepath.Join(t.TempDir(), "docker.sock")})
	for _, id := range []string{"../../etc", "abc", strings.Repeat("a", 65), "7951FB549AB9", "7951fb549ab9?x=1"} {
		info := r.Lookup(Docker, id)
		if info.Status != Failed || !strings.Contains(info.Reason, "no container id") {
			t.Errorf("Lookup(%q) = %+v", id, info)
		}
	}
	if info := r.Lookup(Runtime("lxc"), testID(1)); info.Status != Failed || !strings.Contains(info.Reason, `unknown container runtime "lxc"`) {
		t.Errorf("unknown runtime: %+v", info)
	}
	if s := r.Stats(); s.Entries != 0 || s.Fetches != 0 {
		t.Errorf("bad ids were cached or fetched: %+v", s)
	}
	if len(w.list()) != 0 {
		t.Errorf("warnings for bad input: %v", w.list())
	}
}

func (r *Resolver) cached(id string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.entries[id] != nil
}

// The cache is bounded; containers that died go first, whatever their use.
func TestEviction(t *testing.T) {
	r, _ := newTestResolver(t, Config{DockerSocket: filepath.Join(t.TempDir(), "docker.sock"), MaxEntries: 4})
	for i := range 4 {
		waitStatus(t, r, Docker, testID(i), 5*time.Second)
	}
	r.Lookup(Docker, testID(3)) // the most recently used...
	r.Forget(testID(3))         // ...but dead
	waitStatus(t, r, Docker, testID(4), 5*time.Second)
	for i, want := range []bool{true, true, true, false, true} {
		if r.cached(testID(i)) != want {
			t.Errorf("container %d cached: %v, want %v", i, !want, want)
		}
	}
	// None dead: the least recently used goes.
	r.Lookup(Docker, testID(0))
	r.Lookup(Docker, testID(2))
	waitStatus(t, r, Docker, testID(5), 5*time.Second)
	if r.cached(testID(1)) || !r.cached(testID(0)) || !r.cached(testID(5)) {
		t.Errorf("LRU eviction: 0 %v, 1 %v, 5 %v", r.cached(testID(0)), r.cached(testID(1)), r.cached(testID(5)))
	}
	for i := range 50 {
		r.Lookup(Docker, testID(100+i))
	}
	if s := r.Stats(); s.Entries > 4 || s.Evictions != 2+50 {
		t.Errorf("stats %+v, want at most 4 entries and 52 evictions", s)
	}
}

// A container that died keeps its metadata for late events, then goes.
func TestForgetGrace(t *testing.T) {
	grace := 100 * time.Millisecond
	r, _ := newTestResolver(t, Config{DockerSocket: filepath.Join(t.TempDir(), "docker.sock"), DeadGrace: grace})
	id := testID(9)
	info := waitStatus(t, r, Docker, id, 5*time.Second)
	r.Forget(id)
	r.Forget(testID(99)) // unknown: nothing to do
	if got := r.Lookup(Docker, id); got != info {
		t.Fatalf("a forgotten container lost its metadata at once: %+v", got)
	}
	time.Sleep(grace + 10*time.Millisecond)
	r.Lookup(Docker, testID(10)) // inserts sweep
	if r.cached(id) {
		t.Error("a container dead for longer than DeadGrace is still cached")
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	r, _ := newTestResolver(t, Config{DockerSocket: filepath.Join(t.TempDir(), "docker.sock"), RetryAfter: time.Hour})
	id := testID(1)
	waitStatus(t, r, Docker, id, 5*time.Second)
	if n := testing.AllocsPerRun(1000, func() { r.Lookup(Docker, id) }); n != 0 {
		t.Errorf("lookup of a cached container: %v allocations", n)
	}
}

const childSockEnv = "VIGIL_CONTAINER_TEST_SOCK"

// Permission denied for a user outside the socket's group: the check runs
// in a copy of this test binary as uid 65534.
func TestPermissionDeniedNonRoot(t *testing.T) {
	if sock := os.Getenv(childSockEnv); sock != "" {
		permissionChild(t, sock)
		return
	}
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root to run a check as another user")
	}
	dir, err := os.MkdirTemp("", "vigil-container-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "container.test")
	copyFile(t, self, bin, 0o755)

	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chown(sock, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o660); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-test.run=^TestPermissionDeniedNonRoot$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childSockEnv+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var got Warning
	for _, line := range strings.Split(string(out), "\n") {
		if js, ok := strings.CutPrefix(line, "WARNING "); ok {
			if err := json.Unmarshal([]byte(js), &got); err != nil {
				t.Fatalf("child's warning %q: %v", js, err)
			}
		}
	}
	if got.Socket != sock {
		t.Fatalf("no warning for %s from the child:\n%s", sock, out)
	}
	if want := "permission denied connecting to " + sock + " as uid 65534 (owned by 0:0, mode 0660)"; got.Cause != want {
		t.Errorf("cause %q\nwant  %q", got.Cause, want)
	}
	if !strings.HasPrefix(got.Fix, "run vigil as root or in the docker group") {
		t.Errorf("fix %q", got.Fix)
	}
	if !strings.Contains(got.Err, "permission denied") {
		t.Errorf("err %q", got.Err)
	}
}

func permissionChild(t *testing.T, sock string) {
	if os.Geteuid() != 65534 {
		t.Fatalf("child runs as uid %d", os.Geteuid())
	}
	r, w := newTestResolver(t, Config{DockerSocket: sock})
	for i := range 3 {
		r.Lookup(Docker, testID(i))
	}
	for i := range 3 {
		if info := waitStatus(t, r, Docker, testID(i), 10*time.Second); info.Status != Failed {
			t.Fatalf("%+v", info)
		}
	}
	ws := w.list()
	if len(ws) != 1 {
		t.Fatalf("warnings %v", ws)
	}
	js, _ := json.Marshal(ws[0])
	fmt.Printf("WARNING %s\n", js)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLookup(b *testing.B) {
	r := NewResolver(Config{DockerSocket: filepath.Join(b.TempDir(), "docker.sock"), RetryAfter: time.Hour})
	defer r.Close()
	id := testID(1)
	for r.Lookup(Docker, id).Status == Pending {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Lookup(Docker, id)
	}
}

func TestClassifyLabel(t *testing.T) {
	for _, c := range []struct{ attr, kind string }{
		{"docker-default (enforce)\n", "AppArmor profile"},
		{"cri-containerd.apparmor.d (enforce)", "AppArmor profile"},
		{"vigil (complain)\x00", "AppArmor profile"},
		{"unconfined\n", ""},
		{"unconfined (unconfined)", ""},
		{"", ""},
		{"system_u:system_r:container_t:s0:c123,c456\x00", "SELinux label"},
		{"system_u:system_r:container_runtime_t:s0", "SELinux label"},
		{"system_u:system_r:spc_t:s0\x00", ""},
		{"unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023", ""},
	} {
		kind, label := classifyLabel(c.attr)
		if kind != c.kind {
			t.Errorf("classifyLabel(%q) = %q, want %q", c.attr, kind, c.kind)
		}
		if kind != "" && (strings.ContainsAny(label, "\x00\n") || label == "") {
			t.Errorf("classifyLabel(%q) label %q", c.attr, label)
		}
	}
}
