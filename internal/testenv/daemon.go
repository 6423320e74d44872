// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

// DaemonDir readies the start of a daemon of the test's own: it needs
// root (rootWhy says what for, in the words "needs root to …"), else the
// test is Unavailable. It returns a new directory for the daemon, its path
// short (a unix socket's path has a length limit) and starting with
// prefix; removing it is the caller's.
func DaemonDir(t testing.TB, rootWhy, prefix string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root to "+rootWhy)
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// APIAnswers tells whether a Docker-compatible API (Docker's, podman's)
// answers /_ping on the unix socket sock.
func APIAnswers(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("GET /_ping HTTP/1.0\r\n\r\n")); err != nil {
		return false
	}
	b := make([]byte, 64)
	n, _ := c.Read(b)
	return n > 12 && string(b[9:12]) == "200"
}

// DeadSocket leaves a unix socket file at path that nothing listens on, as
// a daemon that died leaves it: connecting is refused.
func DeadSocket(t testing.TB, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}
