// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package tlsca makes the TLS settings of clients told to trust a CA file
// (--repo-ca-file, --ca-file): a repository's or a registry's own CA.
package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Config trusts the PEM certificates of caFile beside the system's: a
// server moving to a public certificate keeps working, and a host without
// system roots still trusts the given one.
func Config(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
