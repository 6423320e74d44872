// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

// The guest's network, for the loader driver: the card's modules from the
// initramfs, then eth0 with QEMU user networking's fixed addresses (the
// guest is 10.0.2.15, the host's loopback is reachable as 10.0.2.2), set
// over rtnetlink from Go: the initramfs has no ip(8).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/loader"
)

// QEMU user networking's addresses (slirp's defaults).
var (
	guestAddr = net.IPv4(10, 0, 2, 15).To4()
	hostAddr  = net.IPv4(10, 0, 2, 2).To4()
)

const guestPrefix = 24

// netUp loads the network card's modules in their order, waits for its
// interface and configures it; it returns the interface's name.
func netUp() (string, error) {
	kos, _ := filepath.Glob(filepath.Join(guestNetModules, "*.ko"))
	slices.Sort(kos) // NN-name.ko: dependencies first
	for _, ko := range kos {
		// Through the loader, so that each is vermagic-checked as vigil's
		// own module is. A module the kernel has already (loaded by an
		// earlier driver's run in this VM) is no error.
		if _, err := loader.LoadModule(ko, ""); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("network: %w", err)
		}
	}
	ifname, err := waitInterface(10 * time.Second)
	if err != nil {
		return "", err
	}
	if err := ifUp(ifname); err != nil {
		return "", err
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return "", fmt.Errorf("network: %w", err)
	}
	if err := addAddress(ifc.Index, guestAddr, guestPrefix); err != nil && !errors.Is(err, unix.EEXIST) {
		return "", fmt.Errorf("network: address %s/%d on %s: %w", guestAddr, guestPrefix, ifname, err)
	}
	// 10.0.2.2 is on the link; the default route is there for anything
	// else the guest might be pointed at.
	if err := addDefaultRoute(ifc.Index, hostAddr); err != nil && !errors.Is(err, unix.EEXIST) {
		return "", fmt.Errorf("network: default route via %s: %w", hostAddr, err)
	}
	return ifname, nil
}

// waitInterface returns the first interface but lo, once the card's
// driver has registered it.
func waitInterface(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		ents, _ := os.ReadDir("/sys/class/net")
		for _, e := range ents {
			if e.Name() != "lo" {
				return e.Name(), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("network: no interface but lo after %s (modules in %s loaded; QEMU runs -device virtio-net-pci)", timeout, guestNetModules)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ifUp sets an interface's IFF_UP flag.
func ifUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring %s up: get flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	return nil
}

// addAddress is `ip addr add addr/prefix dev <index>`.
func addAddress(index int, addr net.IP, prefix uint8) error {
	var b bytes.Buffer
	binary.Write(&b, binary.NativeEndian, unix.IfAddrmsg{Family: unix.AF_INET, Prefixlen: prefix, Index: uint32(index)})
	putAttr(&b, unix.IFA_LOCAL, addr)
	putAttr(&b, unix.IFA_ADDRESS, addr)
	return rtnetlink(unix.RTM_NEWADDR, b.Bytes())
}

// addDefaultRoute is `ip route add default via gw dev <index>`.
func addDefaultRoute(index int, gw net.IP) error {
	var b bytes.Buffer
	binary.Write(&b, binary.NativeEndian, unix.RtMsg{Family: unix.AF_INET, Table: unix.RT_TABLE_MAIN,
		Protocol: unix.RTPROT_BOOT, Scope: unix.RT_SCOPE_UNIVERSE, Type: unix.RTN_UNICAST})
	putAttr(&b, unix.RTA_GATEWAY, gw)
	oif := binary.NativeEndian.AppendUint32(nil, uint32(index))
	putAttr(&b, unix.RTA_OIF, oif)
	return rtnetlink(unix.RTM_NEWROUTE, b.Bytes())
}

// putAttr appends a route attribute, padded to 4 bytes.
func putAttr(b *bytes.Buffer, typ uint16, data []byte) {
	n := unix.SizeofRtAttr + len(data)
	binary.Write(b, binary.NativeEndian, unix.RtAttr{Len: uint16(n), Type: typ})
	b.Write(data)
	b.Write(make([]byte, nlAlign(n)-n))
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// rtnetlink sends one create request and waits for the kernel's answer.
func rtnetlink(typ uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("rtnetlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("rtnetlink bind: %w", err)
	}
	var msg bytes.Buffer
	binary.Write(&msg, binary.NativeEndian, unix.NlMsghdr{
		Len:   uint32(unix.SizeofNlMsghdr + len(body)),
		Type:  typ,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK | unix.NLM_F_CREATE | unix.NLM_F_EXCL,
		Seq:   1,
	})
	msg.Write(body)
	if err := unix.Sendto(fd, msg.Bytes(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("rtnetlink send: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("rtnetlink receive: %w", err)
		}
		// Each message: a header, then for NLMSG_ERROR (the ack) the
		// errno, 0 or negative.
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			t := binary.NativeEndian.Uint16(b[4:6])
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return fmt.Errorf("rtnetlink: malformed answer (length %d of %d bytes)", l, len(b))
			}
			if t == unix.NLMSG_ERROR && l >= unix.SizeofNlMsghdr+4 {
				if code := int32(binary.NativeEndian.Uint32(b[unix.SizeofNlMsghdr:])); code != 0 {
					return unix.Errno(-code)
				}
				return nil
			}
			b = b[min(nlAlign(l), len(b)):]
		}
	}
}
