// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A server's own CA is trusted; a file without a certificate, or none,
// is refused naming the file.
func TestConfig(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Config(ca)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Certificate().Verify(x509Opts(cfg)); err != nil {
		t.Errorf("the given CA is not trusted: %v", err)
	}
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("not a certificate\n"), 0o644)
	if _, err := Config(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("a file without a certificate: %v", err)
	}
	if _, err := Config(filepath.Join(dir, "absent.pem")); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("a missing file: %v", err)
	}
}

func x509Opts(cfg *tls.Config) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: "example.com"}
}
