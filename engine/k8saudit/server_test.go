// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package k8saudit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
)

// pipeline is an endpoint on loopback whose events run the upstream rules
// (every matching rule raises its alert).
type pipeline struct {
	srv    *Server
	det    *Detector
	alerts chan *output.Alert
}

func newPipeline(t *testing.T, cfg Config) *pipeline {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	prog := compileUpstream(t, eval.Options{AllMatches: true})
	srv, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{srv: srv, alerts: make(chan *output.Alert, 100)}
	p.det = NewDetector(prog, "testhost", func(a *output.Alert) { p.alerts <- a })
	done := make(chan struct{})
	go func() { p.det.Run(context.Background(), srv.Events()); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		<-done
	})
	return p
}

func post(t *testing.T, c *http.Client, url, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitAlerts collects alerts until the detector has evaluated n events.
func (p *pipeline) waitAlerts(t *testing.T, n uint64) []*output.Alert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ev, _ := p.det.Counts(); ev >= n {
			break
		}
		if time.Now().After(deadline) {
			ev, _ := p.det.Counts()
			t.Fatalf("%d events evaluated after 10s, want %d (stats %+v)", ev, n, p.srv.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var out []*output.Alert
	for {
		select {
		case a := <-p.alerts:
			out = append(out, a)
		default:
			return out
		}
	}
}

func ruleNames(as []*output.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Rule)
	}
	return out
}

func TestUpstreamRulesFireOnPostedEvents(t *testing.T) {
	p := newPipeline(t, Config{Token: "s3cret"})
	url := "http://" + p.srv.Addr().String() + DefaultPath
	cases := []struct {
		name, event, rule, want string
	}{
		{"pod exec", podExec, "Attach/Exec Pod", "action=exec command=sh"},
		{"cluster-admin binding", clusterAdminBinding, "Attach to cluster-admin Role", `subject=({"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"})`},
		{"configmap with credentials", secretConfigMap, "Create/Modify Configmap With Private Credentials", "configmap=aws-creds"},
		{"anonymous request", anonymousList, "Anonymous Request Allowed", "user=system:anonymous verb=list"},
	}
	var n uint64
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code := post(t, http.DefaultClient, url, "s3cret", c.event); code != http.StatusOK {
				t.Fatalf("POST: %d, want 200", code)
			}
			n++
			as := p.waitAlerts(t, n)
			i := slices.IndexFunc(as, func(a *output.Alert) bool { return a.Rule == c.rule })
			if i < 0 {
				t.Fatalf("alerts %q, want %q", ruleNames(as), c.rule)
			}
			a := as[i]
			t.Logf("%s: %s (%v)", a.Rule, a.Output, ruleNames(as))
			if !strings.Contains(a.Output, c.want) || a.Source != Source || a.Hostname != "testhost" || a.Time.Year() != 2026 {
				t.Errorf("alert %+v: want output with %q, source k8s_audit", a, c.want)
			}
		})
	}

	// The same events in one EventList, plus one that raises nothing.
	batch := eventList(podExec, clusterAdminBinding, secretConfigMap, anonymousList, anonymousHealthz)
	if code := post(t, http.DefaultClient, url, "s3cret", batch); code != http.StatusOK {
		t.Fatalf("POST EventList: %d, want 200", code)
	}
	as := p.waitAlerts(t, n+5)
	for _, c := range cases {
		if !slices.Contains(ruleNames(as), c.rule) {
			t.Errorf("EventList: alerts %q lack %q", ruleNames(as), c.rule)
		}
	}
	for _, a := range as {
		if strings.Contains(a.Output, "/healthz") {
			t.Errorf("the anonymous health probe raised %s: %s", a.Rule, a.Output)
		}
	}
	if st := p.srv.Stats(); st.Accepted != 9 || st.Refused() != 0 || st.Dropped != 0 || st.Requests != 5 {
		t.Errorf("stats %+v, want 9 accepted in 5 requests", st)
	}
}

func TestRefusals(t *testing.T) {
	p := newPipeline(t, Config{Token: "s3cret"})
	url := "http://" + p.srv.Addr().String() + DefaultPath
	for _, c := range []struct {
		name, token, body string
		code              int
	}{
		{"no token", "", podExec, http.StatusUnauthorized},
		{"wrong token", "guess", podExec, http.StatusUnauthorized},
		{"not JSON", "s3cret", "{kind: Event", http.StatusBadRequest},
		{"not an audit event", "s3cret", `{"kind": "Pod", "apiVersion": "v1"}`, http.StatusBadRequest},
		{"bad item", "s3cret", eventList(podExec, `[1, 2]`), http.StatusBadRequest},
		{"too large", "s3cret", eventList(strings.Repeat(podExec+",", DefaultMaxBody/len(podExec)) + podExec), http.StatusRequestEntityTooLarge},
	} {
		if code := post(t, http.DefaultClient, url, c.token, c.body); code != c.code {
			t.Errorf("%s: %d, want %d", c.name, code, c.code)
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	want := Stats{Requests: 7, RefusedUnauthorized: 2, RefusedMalformed: 3, RefusedTooLarge: 1, RefusedMethod: 1}
	if st := p.srv.Stats(); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if ev, _ := p.det.Counts(); ev != 0 {
		t.Errorf("%d refused events were evaluated", ev)
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	// No detector: the queue of 2 fills.
	srv, err := Listen(Config{Listen: "127.0.0.1:0", Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if code := post(t, http.DefaultClient, srv.URL(), "", eventList(podExec, podExec, podExec, podExec, podExec)); code != http.StatusOK {
		t.Fatalf("POST: %d", code)
	}
	if st := srv.Stats(); st.Accepted != 2 || st.Dropped != 3 {
		t.Errorf("stats %+v, want 2 accepted, 3 dropped", st)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	p := newPipeline(t, Config{TLSCert: cert, TLSKey: key})
	if !strings.HasPrefix(p.srv.URL(), "https://") {
		t.Fatalf("URL %s", p.srv.URL())
	}
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code := post(t, c, p.srv.URL(), "", clusterAdminBinding); code != http.StatusOK {
		t.Fatalf("POST over TLS: %d", code)
	}
	if as := p.waitAlerts(t, 1); !slices.Contains(ruleNames(as), "Attach to cluster-admin Role") {
		t.Errorf("alerts %q", ruleNames(as))
	}
	// Plain HTTP to the TLS endpoint gets nothing through.
	if _, err := http.Post("http://"+p.srv.Addr().String()+DefaultPath, "application/json", strings.NewReader(podExec)); err == nil {
		if st := p.srv.Stats(); st.Accepted != 1 {
			t.Errorf("plain HTTP accepted: %+v", st)
		}
	}
	if _, err := Listen(Config{Listen: "127.0.0.1:0", TLSCert: cert}); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("a certificate without key: %v", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
