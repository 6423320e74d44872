// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"net"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// tcpPair makes a listener on loopback, a client connected to it and the
// accepted end.
func tcpPair(t *testing.T) (net.Listener, net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return l, c, a
}

func listenUnix(t *testing.T, path string) int {
	t.Helper()
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(s, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(s, 1); err != nil {
		t.Fatal(err)
	}
	return s
}

// fdOf returns the fd number behind a net.Conn or net.Listener.
func fdOf(t *testing.T, c any) int64 {
	t.Helper()
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatalf("%T has no fd", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int64
	_ = rc.Control(func(f uintptr) { fd = int64(f) })
	return fd
}

// checkTCP checks the seeded sockets of a loopback connection against the
// ports the kernel gave them: names are client first on both ends.
func checkTCP(t *testing.T, fds *FDTable, l net.Listener, c, a net.Conn) {
	t.Helper()
	sport := l.Addr().(*net.TCPAddr).Port
	cport := c.LocalAddr().(*net.TCPAddr).Port
	conn := "127.0.0.1:" + strconv.Itoa(cport) + "->127.0.0.1:" + strconv.Itoa(sport)
	if fd := fds.Get(fdOf(t, l)); fd == nil || fd.Type != FDIPv4 || fd.Proto != "tcp" || !fd.Listening ||
		int(fd.LocalPort) != sport || fd.Name != "127.0.0.1:"+strconv.Itoa(sport) {
		t.Errorf("listener fd = %+v, want tcp listening on %d", fd, sport)
	}
	if fd := fds.Get(fdOf(t, c)); fd == nil || fd.Type != FDIPv4 || fd.Name != conn || int(fd.PeerPort) != sport || fd.Listening {
		t.Errorf("client fd = %+v, want %s", fd, conn)
	}
	if fd := fds.Get(fdOf(t, a)); fd == nil || fd.Type != FDIPv4 || fd.Name != conn || int(fd.LocalPort) != sport {
		t.Errorf("accepted fd = %+v, want %s", fd, conn)
	}
}
