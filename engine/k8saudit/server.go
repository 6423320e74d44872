// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package k8saudit

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config, as Falco's k8saudit plugin where it has one.
const (
	DefaultPath    = "/k8s-audit"
	DefaultPort    = 9765
	DefaultMaxBody = 10 << 20 // bytes; the API server batches well below
	DefaultQueue   = 4096     // events
)

// Config configures a Server.
type Config struct {
	// Listen is the address to listen on, e.g. 127.0.0.1:9765.
	Listen string
	// Path is the endpoint's path (DefaultPath when empty).
	Path string
	// Token, when set, is the bearer token every request must carry
	// (Authorization: Bearer TOKEN); 401 otherwise.
	Token string
	// TLSCert and TLSKey, when set, are PEM files: the endpoint is HTTPS.
	TLSCert, TLSKey string
	// MaxBody is the largest body accepted, in bytes (DefaultMaxBody when
	// 0); larger ones get 413.
	MaxBody int64
	// Queue is how many events wait for the rules before new ones are
	// dropped (DefaultQueue when 0).
	Queue int
}

// Stats are a Server's counters since it started. Requests count HTTP
// requests; Accepted and Dropped count audit events.
type Stats struct {
	Requests uint64 // requests received on the endpoint
	Accepted uint64 // events queued for the rules
	Dropped  uint64 // events dropped because the queue was full
	// Refused requests, by reason.
	RefusedMethod       uint64 // not a POST: 405
	RefusedUnauthorized uint64 // missing or wrong bearer token: 401
	RefusedTooLarge     uint64 // body over MaxBody: 413
	RefusedMalformed    uint64 // not an audit Event or EventList: 400
}

// Refused is the number of requests refused for any reason.
func (s Stats) Refused() uint64 {
	return s.RefusedMethod + s.RefusedUnauthorized + s.RefusedTooLarge + s.RefusedMalformed
}

// Server receives audit events from the API server's webhook backend.
// Its handlers only parse and queue: the rules run on another goroutine
// (Detect), so a slow rule set drops events, counted, rather than make
// the API server wait.
type Server struct {
	cfg    Config
	events chan *Event
	ln     net.Listener
	srv    *http.Server
	done   chan error
	// mu guards closed: a handler that outlived Shutdown's deadline must
	// not send on the closed channel.
	mu     sync.RWMutex
	closed bool

	requests, accepted, dropped          atomic.Uint64
	refMethod, refAuth, refLarge, refBad atomic.Uint64
}

// Listen binds cfg.Listen and starts serving; the address is in use
// when it returns (see Addr).
func Listen(cfg Config) (*Server, error) {
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("k8s audit endpoint: TLS needs both a certificate and a key file (give both, or neither for plain HTTP)")
	}
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("k8s audit endpoint: load TLS certificate %s and key %s: %w (both PEM files)", cfg.TLSCert, cfg.TLSKey, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("k8s audit endpoint: listen on %s: %w (choose a free address, e.g. 127.0.0.1:%d)", cfg.Listen, err, DefaultPort)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s := &Server{cfg: cfg, events: make(chan *Event, cfg.Queue), ln: ln, done: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc(cfg.Path, s.handle)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the endpoint's URL, for the API server's webhook kubeconfig.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.Addr().String() + s.cfg.Path
}

// Events are the received events, in order; closed by Close.
func (s *Server) Events() <-chan *Event { return s.events }

// Stats returns the counters; safe from any goroutine.
func (s *Server) Stats() Stats {
	return Stats{
		Requests: s.requests.Load(), Accepted: s.accepted.Load(), Dropped: s.dropped.Load(),
		RefusedMethod: s.refMethod.Load(), RefusedUnauthorized: s.refAuth.Load(),
		RefusedTooLarge: s.refLarge.Load(), RefusedMalformed: s.refBad.Load(),
	}
}

// Close stops accepting requests, waits for those in flight (until ctx
// ends) and closes Events.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	s.mu.Lock()
	s.closed = true
	close(s.events)
	s.mu.Unlock()
	return err
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.Method != http.MethodPost {
		s.refMethod.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST audit events here", http.StatusMethodNotAllowed)
		return
	}
	if s.cfg.Token != "" && !s.authorized(r) {
		s.refAuth.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil k8s audit"`)
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	if r.ContentLength > s.cfg.MaxBody {
		s.tooLarge(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.tooLarge(w)
			return
		}
		s.refBad.Add(1)
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	evs, err := ParseBody(body)
	if err != nil {
		s.refBad.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	for _, e := range evs {
		// A full queue drops rather than blocks: the API server's webhook
		// must not wait on detection (its own buffer would then drop, and
		// without count).
		select {
		case s.events <- e:
			s.accepted.Add(1)
		default:
			s.dropped.Add(1)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) tooLarge(w http.ResponseWriter) {
	s.refLarge.Add(1)
	http.Error(w, fmt.Sprintf("body over %d bytes: lower the webhook's batch size (--audit-webhook-batch-max-size)", s.cfg.MaxBody),
		http.StatusRequestEntityTooLarge)
}

func (s *Server) authorized(r *http.Request) bool {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) < len(prefix) || h[:len(prefix)] != prefix {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(s.cfg.Token)) == 1
}
