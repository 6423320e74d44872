// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryBin is the CNCF distribution registry that Debian's
// docker-registry package installs (scripts/deps test).
const RegistryBin = "/usr/bin/docker-registry"

// Registry is a private OCI registry on a loopback port, as a site would
// run one: TLS with a certificate from a CA of its own, and a login
// (htpasswd, bcrypt).
type Registry struct {
	Addr     string // 127.0.0.1:PORT
	CAFile   string // PEM of the CA that signed the registry's certificate
	Username string
	Password string
	LogFile  string // the registry's log: one line per request, among others
	Storage  string // the registry's files: tests tamper with blobs there

	cmd  *exec.Cmd
	done chan struct{}
}

// RegistryOptions tune LaunchRegistry.
type RegistryOptions struct {
	// Dir holds the configuration, certificates, storage and log.
	Dir string
	// IPs are more addresses the certificate is valid for, beside
	// 127.0.0.1: 10.0.2.2 for a QEMU guest reaching the host's loopback.
	IPs []net.IP
}

// StartRegistry launches a registry for the test, stopped when it ends.
// Without docker-registry the test skips, or fails in CI.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	if _, err := os.Stat(RegistryBin); err != nil {
		Unavailable(t, "needs "+RegistryBin+" (Debian's docker-registry: scripts/deps test installs it)")
	}
	r, err := LaunchRegistry(RegistryOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// LaunchRegistry starts RegistryBin on a free loopback port and waits until
// it answers; Close stops it. It is for tests and the QEMU matrix, not
// for serving a real site.
func LaunchRegistry(o RegistryOptions) (*Registry, error) {
	if o.Dir == "" {
		return nil, errors.New("registry: no directory given")
	}
	r := &Registry{
		CAFile:   filepath.Join(o.Dir, "ca.pem"),
		Username: "vigil",
		Password: randomHex(12),
		LogFile:  filepath.Join(o.Dir, "registry.log"),
		Storage:  filepath.Join(o.Dir, "storage"),
	}
	if err := writeCerts(o.Dir, o.IPs); err != nil {
		return nil, fmt.Errorf("registry: certificates: %w", err)
	}
	// The registry checks the password of every request; the lowest cost
	// keeps a test's few hundred requests from spending seconds in bcrypt.
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "htpasswd"), []byte(r.Username+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	// A port picked by the kernel, then given to the registry: another
	// process may take it in between, so try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		if lastErr = r.start(o.Dir); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

func (r *Registry) start(dir string) error {
	config := filepath.Join(dir, "config.yml")
	// Paths are quoted as JSON strings, which YAML reads as they are.
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	yml := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
  tls:
    certificate: %s
    key: %s
auth:
  htpasswd:
    realm: vigil-test
    path: %s
`, q(r.Storage), q(r.Addr), q(randomHex(16)),
		q(filepath.Join(dir, "server.pem")), q(filepath.Join(dir, "server.key")), q(filepath.Join(dir, "htpasswd")))
	if err := os.WriteFile(config, []byte(yml), 0o600); err != nil {
		return err
	}
	log, err := os.OpenFile(r.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	// RegistryBin spelled out: deps_test finds the programs tests run by
	// their literal names.
	cmd := exec.Command("/usr/bin/docker-registry", "serve", config)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("registry: start %s: %w", RegistryBin, err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(r.done) }()
	if err := r.waitReady(15 * time.Second); err != nil {
		r.Close()
		return fmt.Errorf("registry: %w; its log: %s", err, r.LogFile)
	}
	return nil
}

// waitReady polls /v2/ until the registry asks for a login.
func (r *Registry) waitReady(timeout time.Duration) error {
	pool, err := r.CertPool()
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	var last error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-r.done:
			return fmt.Errorf("%s exited at start (%v)", RegistryBin, r.cmd.ProcessState)
		default:
		}
		resp, err := c.Get("https://" + r.Addr + "/v2/")
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			return nil
		}
		last = fmt.Errorf("GET /v2/: %s, want 401 (a login)", resp.Status)
	}
	return fmt.Errorf("%s did not answer on %s within %s: %v", RegistryBin, r.Addr, timeout, last)
}

// Close stops the registry.
func (r *Registry) Close() error {
	if r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	r.cmd.Process.Kill()
	<-r.done
	return nil
}

// Log returns the registry's log so far.
func (r *Registry) Log() string {
	b, _ := os.ReadFile(r.LogFile)
	return string(b)
}

// BlobFile is where the registry keeps the blob of sha256 hex digest sum
// (the filesystem driver's layout).
func (r *Registry) BlobFile(sum string) string {
	return filepath.Join(r.Storage, "docker", "registry", "v2", "blobs", "sha256", sum[:2], sum, "data")
}

// CertPool holds the registry's CA.
func (r *Registry) CertPool() (*x509.CertPool, error) {
	b, err := os.ReadFile(r.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no certificate", r.CAFile)
	}
	return pool, nil
}

// WriteDockerConfig writes a Docker config file at path with the
// registry's login, as `docker login` would.
func (r *Registry) WriteDockerConfig(path string) error {
	auth := base64.StdEncoding.EncodeToString([]byte(r.Username + ":" + r.Password))
	b, err := json.Marshal(map[string]any{"auths": map[string]any{r.Addr: map[string]string{"auth": auth}}})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// writeCerts writes ca.pem, server.pem and server.key into dir: a CA of
// its own and a certificate it signs for 127.0.0.1, localhost and ips.
func writeCerts(dir string, ips []net.IP) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil test registry CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "vigil test registry"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...),
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: leafDER},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return os.Chmod(filepath.Join(dir, "ca.pem"), 0o644)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
