// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// Endpoint is where a Docker Engine API listens: a unix socket, or a TCP
// address (plain HTTP: the client is given no TLS configuration).
type Endpoint struct {
	Network string // "unix" or "tcp"
	Address string // the socket's absolute path, or host:port
}

// ParseEndpoint reads an Engine API address as --docker-socket takes it:
// unix:///path (DOCKER_HOST's form, which the warnings suggest), a bare
// path, or tcp://host:port.
func ParseEndpoint(s string) (Endpoint, error) {
	s = strings.TrimSpace(s)
	const want = "want unix:///path/to/docker.sock, a path, or tcp://host:port"
	if s == "" {
		return Endpoint{}, errors.New("empty: " + want)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		// host:port without a scheme would otherwise be taken for a file.
		if _, port, err := net.SplitHostPort(s); err == nil && !strings.Contains(s, "/") && port != "" {
			return Endpoint{}, fmt.Errorf("looks like a TCP address: write tcp://%s", s)
		}
		return unixEndpoint(s)
	}
	switch scheme {
	case "unix":
		if !strings.HasPrefix(rest, "/") {
			return Endpoint{}, fmt.Errorf("unix:// takes an absolute path, with three slashes: unix:///%s", rest)
		}
		return unixEndpoint(rest)
	case "tcp":
		u, err := url.Parse(s)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%v: write tcp://host:port", err)
		}
		if u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return Endpoint{}, errors.New("write tcp://host:port, with a port and nothing after it")
		}
		return Endpoint{Network: "tcp", Address: u.Host}, nil
	}
	return Endpoint{}, fmt.Errorf("scheme %s:// is not supported: %s", scheme, want)
}

func unixEndpoint(path string) (Endpoint, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Endpoint{}, fmt.Errorf("socket path %s: %w", path, err)
	}
	return Endpoint{Network: "unix", Address: abs}, nil
}

// Host is the endpoint as the Docker client takes it: unix:///path or
// tcp://host:port.
func (e Endpoint) Host() string { return e.Network + "://" + e.Address }

// String is what messages name: a socket's path, or tcp://host:port.
func (e Endpoint) String() string {
	if e.Network == "unix" {
		return e.Address
	}
	return e.Host()
}
