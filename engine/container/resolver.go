// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Resolver. The zero value works: the sockets of the
// host vigil runs on, the defaults below, warnings dropped.
type Config struct {
	// HostRoot is where the host's root file system is seen: "/" (the
	// default) on the host, "/host" in a container that mounts it there.
	HostRoot string
	// DockerSocket overrides the Docker Engine socket: unix:///path, a
	// path or tcp://host:port (ParseEndpoint, which callers should check
	// it with first: a value it refuses is tried as a path). Otherwise
	// DOCKER_HOST is used when it names a unix socket (unix:///path, in
	// vigil's own mount namespace), else <HostRoot>/var/run/docker.sock.
	// NewResolver leaves it as Endpoint.String gives it.
	DockerSocket string
	// PodmanSocket overrides <HostRoot>/run/podman/podman.sock (or
	// <HostRoot>/var/run/podman/podman.sock, when only that exists), the
	// rootful podman service's socket, whose Docker-compatible API gives
	// the metadata: unix:///path (as podman's --url), a path or
	// tcp://host:port, as ParseEndpoint reads them. NewResolver leaves it
	// as Endpoint.String gives it.
	PodmanSocket string
	// ContainerdSocket overrides <HostRoot>/run/containerd/containerd.sock
	// (or <HostRoot>/var/run/containerd/containerd.sock, when only that
	// exists), containerd's socket: its CRI service answers there.
	ContainerdSocket string
	// CRIOSocket overrides <HostRoot>/var/run/crio/crio.sock (or
	// <HostRoot>/run/crio/crio.sock, when only that exists).
	CRIOSocket string

	Workers       int           // fetches run at once; default 4
	QueueLen      int           // fetches waiting for a worker; default 1024
	MaxEntries    int           // containers kept; default 4096
	Timeout       time.Duration // for one fetch from a runtime; default 5s
	RetryAfter    time.Duration // wait after a failed fetch, doubled per failure; default 1s
	MaxRetryAfter time.Duration // longest wait between retries; default 1m
	DeadGrace     time.Duration // a container that died is kept this long for late events; default 30s

	// Warn receives one Warning per runtime whose metadata cannot be had
	// (again after a recovery). It is called from the resolver's
	// goroutines and must not block for long.
	Warn func(Warning)
	// Recovered receives the Warning given before, once the runtime
	// answers again.
	Recovered func(Warning)
}

func (c *Config) setDefaults() {
	if c.HostRoot == "" {
		c.HostRoot = "/"
	}
	if c.DockerSocket == "" {
		if h, ok := strings.CutPrefix(os.Getenv("DOCKER_HOST"), "unix://"); ok && h != "" {
			c.DockerSocket = h
		} else {
			c.DockerSocket = filepath.Join(c.HostRoot, "var/run/docker.sock")
		}
	}
	if c.PodmanSocket == "" {
		c.PodmanSocket = firstExisting(filepath.Join(c.HostRoot, "run/podman/podman.sock"),
			filepath.Join(c.HostRoot, "var/run/podman/podman.sock"))
	}
	if c.ContainerdSocket == "" {
		c.ContainerdSocket = firstExisting(filepath.Join(c.HostRoot, "run/containerd/containerd.sock"),
			filepath.Join(c.HostRoot, "var/run/containerd/containerd.sock"))
	}
	if c.CRIOSocket == "" {
		c.CRIOSocket = firstExisting(filepath.Join(c.HostRoot, "var/run/crio/crio.sock"),
			filepath.Join(c.HostRoot, "run/crio/crio.sock"))
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Workers, 4)
	def(&c.QueueLen, 1024)
	def(&c.MaxEntries, 4096)
	defDur(&c.Timeout, 5*time.Second)
	defDur(&c.RetryAfter, time.Second)
	defDur(&c.MaxRetryAfter, time.Minute)
	defDur(&c.DeadGrace, 30*time.Second)
	if c.MaxRetryAfter < c.RetryAfter {
		c.MaxRetryAfter = c.RetryAfter
	}
}

// firstExisting returns the first path that exists, else the first: the
// host's /var/run is a link to /run, and a DaemonSet may mount either one
// under the host root (vigil's manifests mount /var/run).
func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}

// hostInfo is what every host process shares.
var hostInfo = &Info{ID: "host", FullID: "host", Name: "host", Runtime: Host, Status: Ready}

// Resolver hands out container metadata without ever making its caller
// wait: a container seen for the first time reads Pending while a worker
// asks its runtime.
type Resolver struct {
	cfg Config

	mu        sync.RWMutex
	entries   map[string]*entry // by full id
	lastSweep time.Time         // under mu

	gen  atomic.Uint64 // bumped per new entry; entries remember the last they were used in
	jobs chan *entry

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	runtimes map[Runtime]*runtimeState // fixed at construction

	fetches, evictions, dropped, failures atomic.Uint64
}

type entry struct {
	fullID string
	rt     Runtime
	info   atomic.Pointer[Info] // replaced, never modified: readers keep what they got
	used   atomic.Uint64        // Resolver.gen at the last Lookup
	queued atomic.Bool          // a fetch is queued or running
	// retryAt is when a Failed entry may be fetched again (unix ns); 0:
	// never (the runtime has no client).
	retryAt atomic.Int64
	deadAt  atomic.Int64 // unix ns when the container was seen to die; 0 while alive
	// failures counts consecutive failed fetches; only the worker
	// fetching the entry touches it (queued makes that one at a time).
	failures int
}

// runtimeState is what the resolver knows of one runtime as a whole.
type runtimeState struct {
	rt  Runtime
	api metadataAPI // nil: no metadata client for the runtime

	mu        sync.Mutex
	cause     *Warning  // the outage in force; nil while the runtime answers
	downUntil time.Time // fetches fail at once until then, without touching the socket
	backoff   time.Duration
	warned    bool // Warn was called for this outage
	apiErrors int  // consecutive API errors
}

// metadataAPI is a runtime's API as the resolver uses it: the Docker Engine
// API (engineAPI) or the CRI (criAPI).
type metadataAPI interface {
	// inspect fetches one container's metadata, and whether it still
	// runs. Errors are errNotFound, a context error (no answer in time),
	// or what the client returned (transport failures, other API errors).
	inspect(ctx context.Context, fullID string) (info *Info, alive bool, err error)
	endpoint() Endpoint
	close()
}

// apiErrorsToWarn is how many API errors in a row, each for a container the
// engine knows nothing wrong about, make a runtime warning: one is that
// container's trouble.
const apiErrorsToWarn = 3

// NewResolver starts a resolver's workers; Close stops them.
func NewResolver(cfg Config) *Resolver {
	cfg.setDefaults()
	dockerEP, err := ParseEndpoint(cfg.DockerSocket)
	if err != nil {
		// The warning will name the path that could not be used.
		dockerEP = Endpoint{Network: "unix", Address: cfg.DockerSocket}
	}
	cfg.DockerSocket = dockerEP.String()
	podmanEP, err := ParseEndpoint(cfg.PodmanSocket)
	if err != nil {
		podmanEP = Endpoint{Network: "unix", Address: cfg.PodmanSocket}
	}
	cfg.PodmanSocket = podmanEP.String()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Resolver{
		cfg:     cfg,
		entries: make(map[string]*entry),
		jobs:    make(chan *entry, cfg.QueueLen),
		ctx:     ctx,
		cancel:  cancel,
		runtimes: map[Runtime]*runtimeState{
			Docker:     {rt: Docker, api: newEngineAPI(Docker, dockerEP)},
			Podman:     {rt: Podman, api: newEngineAPI(Podman, podmanEP)},
			Containerd: {rt: Containerd, api: newContainerdAPI(cfg.ContainerdSocket)},
			CRIO:       {rt: CRIO, api: newCRIAPI(CRIO, cfg.CRIOSocket)},
		},
		lastSweep: time.Now(),
	}
	r.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go r.work()
	}
	return r
}

// Close stops the workers and releases the API clients. Lookups after Close
// still answer from the cache; new containers stay Pending.
func (r *Resolver) Close() error {
	r.cancel()
	r.wg.Wait()
	for _, rs := range r.runtimes {
		if rs.api != nil {
			rs.api.close()
		}
	}
	return nil
}

// DockerSocket returns the Docker Engine socket the resolver uses.
func (r *Resolver) DockerSocket() string { return r.cfg.DockerSocket }

// Lookup returns the metadata of a container, as ParseCgroup named it. It
// never blocks on a runtime: a container not seen before reads Pending, and
// a later Lookup returns it Ready or Failed. The Info returned is shared and
// must not be modified. Host (or an empty id) gives the shared host Info.
// Looking up a known container allocates nothing.
func (r *Resolver) Lookup(rt Runtime, fullID string) *Info {
	if rt == Host || fullID == "" {
		return hostInfo
	}
	r.mu.RLock()
	e := r.entries[fullID]
	r.mu.RUnlock()
	if e == nil {
		if reason := validFullID(rt, fullID); reason != "" {
			return &Info{ID: ShortID(fullID), FullID: fullID, Runtime: rt, Status: Failed, Reason: reason}
		}
		if r.runtimes[rt] == nil {
			return &Info{ID: ShortID(fullID), FullID: fullID, Runtime: rt, Status: Failed,
				Reason: fmt.Sprintf("unknown container runtime %q", rt)}
		}
		e = r.insert(rt, fullID)
	}
	if g := r.gen.Load(); e.used.Load() != g {
		e.used.Store(g)
	}
	info := e.info.Load()
	switch info.Status {
	case Pending:
		if !e.queued.Load() {
			r.schedule(e) // the queue was full before
		}
	case Failed:
		if at := e.retryAt.Load(); at != 0 && !e.queued.Load() && time.Now().UnixNano() >= at {
			r.schedule(e)
		}
	}
	return info
}

func (r *Resolver) insert(rt Runtime, fullID string) *entry {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.entries[fullID]; e != nil {
		return e // another goroutine was first
	}
	if now.Sub(r.lastSweep) >= r.cfg.DeadGrace {
		r.sweepLocked(now)
	}
	if len(r.entries) >= r.cfg.MaxEntries {
		r.evictLocked(now)
	}
	// The id may be a substring of a long cgroup path: keep only the id.
	id := strings.Clone(fullID)
	e := &entry{fullID: id, rt: rt}
	e.info.Store(&Info{ID: ShortID(id), FullID: displayID(id), Runtime: rt, Status: Pending})
	e.used.Store(r.gen.Add(1))
	r.entries[id] = e
	return e
}

// sweepLocked drops the containers that died more than DeadGrace ago.
func (r *Resolver) sweepLocked(now time.Time) {
	r.lastSweep = now
	limit := now.Add(-r.cfg.DeadGrace).UnixNano()
	for id, e := range r.entries {
		if d := e.deadAt.Load(); d != 0 && d <= limit {
			delete(r.entries, id)
			r.evictions.Add(1)
		}
	}
}

// evictLocked makes room for one entry: a container that died goes first,
// then one whose metadata failed, then the one used least recently.
func (r *Resolver) evictLocked(now time.Time) {
	rank := func(e *entry) int {
		switch {
		case e.deadAt.Load() != 0:
			return 0
		case e.info.Load().Status == Failed:
			return 1
		}
		return 2
	}
	var victim *entry
	vr := 0
	for _, e := range r.entries {
		er := rank(e)
		if victim == nil || er < vr || (er == vr && e.used.Load() < victim.used.Load()) {
			victim, vr = e, er
		}
	}
	if victim != nil {
		delete(r.entries, victim.fullID)
		r.evictions.Add(1)
	}
}

// schedule queues a fetch unless one is queued or running; with the queue
// full it gives up, and a later Lookup tries again.
func (r *Resolver) schedule(e *entry) {
	if r.ctx.Err() != nil || !e.queued.CompareAndSwap(false, true) {
		return
	}
	select {
	case r.jobs <- e:
	default:
		e.queued.Store(false)
		r.dropped.Add(1)
	}
}

// Forget says a container died (its init process exited, or the runtime
// said so). Its metadata stays for late events, for DeadGrace at most,
// and it is the first to go when the cache is full.
func (r *Resolver) Forget(fullID string) {
	r.mu.RLock()
	e := r.entries[fullID]
	r.mu.RUnlock()
	if e != nil {
		e.deadAt.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// Stats counts what the resolver did.
type Stats struct {
	Entries   int    // containers cached
	Fetches   uint64 // fetches run (including those failed at once for a runtime known down)
	Evictions uint64 // containers dropped from the cache
	Dropped   uint64 // fetches not queued for a full queue (retried by a later Lookup)
	Failures  uint64 // fetches that failed (the fields read <NA> until a retry works)
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	r.mu.RLock()
	n := len(r.entries)
	r.mu.RUnlock()
	return Stats{Entries: n, Fetches: r.fetches.Load(), Evictions: r.evictions.Load(), Dropped: r.dropped.Load(), Failures: r.failures.Load()}
}

func (r *Resolver) work() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case e := <-r.jobs:
			r.resolve(e)
			e.queued.Store(false)
		}
	}
}

// resolve fetches one container's metadata and stores the outcome.
func (r *Resolver) resolve(e *entry) {
	r.fetches.Add(1)
	rs := r.runtimes[e.rt]
	if rs.api == nil {
		w := Warning{
			Runtime: string(e.rt),
			Cause:   fmt.Sprintf("metadata for %s containers is not supported yet", e.rt),
			Fix:     "container.id and container.type are still reported; the other container fields read <NA>",
		}
		r.warnOnce(rs, w)
		r.fail(e, w.Cause, time.Time{})
		return
	}
	if cause, until, down := rs.isDown(time.Now()); down {
		r.fail(e, cause, until)
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	info, alive, err := rs.api.inspect(ctx, e.fullID)
	cancel()
	if r.ctx.Err() != nil {
		return // closing
	}
	name, sock := apiName(e.rt), rs.api.endpoint().String()
	if ns, _, ok := SplitNamespaced(e.fullID); ok {
		name = "containerd API (namespace " + ns + ")"
	}
	switch {
	case err == nil:
		r.answered(rs)
		e.failures = 0
		e.info.Store(info)
		if !alive {
			e.deadAt.CompareAndSwap(0, time.Now().UnixNano())
		}
	case errors.Is(err, errNotFound):
		r.answered(rs)
		r.fail(e, fmt.Sprintf("the %s at %s does not know this container (it was removed, or another runtime runs it)", name, sock),
			r.retryTime(e))
		e.deadAt.CompareAndSwap(0, time.Now().UnixNano())
	case errors.Is(err, errNoCRI):
		// Every container of the runtime will fail alike: say so at once.
		w := Warning{Runtime: string(e.rt), Socket: sock, Err: err.Error(),
			Cause: fmt.Sprintf("the %s socket %s answers, but not with the CRI v1 API", engineName(e.rt), sock),
			Fix:   noCRIFix(e.rt)}
		r.warnOnce(rs, w)
		r.fail(e, w.Cause, r.retryTime(e))
	default:
		w, transport := diagnose(e.rt, rs.api.endpoint(), r.cfg.Timeout)
		if !transport && errors.Is(err, context.DeadlineExceeded) {
			transport = true
			w.Cause = fmt.Sprintf("the %s at %s did not answer within %s", name, sock, r.cfg.Timeout)
			w.Fix = fmt.Sprintf("check that %s is healthy on the host; vigil retries with backoff", daemonName(e.rt))
		}
		if w.Err == "" {
			w.Err = err.Error()
		}
		if transport {
			until := rs.down(w, r.cfg.RetryAfter, r.cfg.MaxRetryAfter)
			r.warnOnce(rs, w)
			r.fail(e, w.Cause, maxTime(until, r.retryTime(e)))
			return
		}
		w.Cause = fmt.Sprintf("the %s at %s answers with errors", name, sock)
		w.Fix = fmt.Sprintf("see %s's log on the host", daemonName(e.rt))
		if rs.apiError() {
			r.warnOnce(rs, w)
		}
		r.fail(e, "the "+name+" answered: "+err.Error(), r.retryTime(e))
	}
}

// retryTime counts a failure of the entry and says when to try again.
func (r *Resolver) retryTime(e *entry) time.Time {
	e.failures++
	d := r.cfg.RetryAfter
	for i := 1; i < e.failures && d < r.cfg.MaxRetryAfter; i++ {
		d *= 2
	}
	return time.Now().Add(min(d, r.cfg.MaxRetryAfter))
}

// fail marks the entry Failed; retry zero means never again.
func (r *Resolver) fail(e *entry, reason string, retry time.Time) {
	r.failures.Add(1)
	old := e.info.Load()
	if old.Status != Failed || old.Reason != reason {
		e.info.Store(&Info{ID: old.ID, FullID: old.FullID, Runtime: old.Runtime, Status: Failed, Reason: reason})
	}
	if retry.IsZero() {
		e.retryAt.Store(0)
	} else {
		e.retryAt.Store(retry.UnixNano())
	}
}

func (r *Resolver) warnOnce(rs *runtimeState, w Warning) {
	rs.mu.Lock()
	first := !rs.warned
	rs.warned = true
	if rs.cause == nil {
		rs.cause = &w
	}
	rs.mu.Unlock()
	if first && r.cfg.Warn != nil {
		r.cfg.Warn(w)
	}
}

// answered records that the runtime's API answered.
func (r *Resolver) answered(rs *runtimeState) {
	rs.mu.Lock()
	var was *Warning
	if rs.warned {
		was = rs.cause
	}
	rs.cause, rs.warned, rs.backoff, rs.apiErrors = nil, false, 0, 0
	rs.downUntil = time.Time{}
	rs.mu.Unlock()
	if was != nil && r.cfg.Recovered != nil {
		r.cfg.Recovered(*was)
	}
}

// isDown tells whether the runtime is known unreachable for now.
func (rs *runtimeState) isDown(now time.Time) (cause string, until time.Time, down bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.cause != nil && now.Before(rs.downUntil) {
		return rs.cause.Cause, rs.downUntil, true
	}
	return "", time.Time{}, false
}

// down records that the runtime's socket cannot be talked to, and returns
// when to try it again (backing off while it stays down).
func (rs *runtimeState) down(w Warning, first, max time.Duration) time.Time {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.backoff == 0 {
		rs.backoff = first
	} else {
		rs.backoff = min(2*rs.backoff, max)
	}
	rs.cause = &w
	rs.downUntil = time.Now().Add(rs.backoff)
	return rs.downUntil
}

// apiError counts an API error and reports whether they have become
// persistent.
func (rs *runtimeState) apiError() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.apiErrors++
	return rs.apiErrors >= apiErrorsToWarn
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
