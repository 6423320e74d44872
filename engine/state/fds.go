// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"net/netip"
	"path/filepath"

	"github.com/vigil-dev/vigil/driver"
	"golang.org/x/sys/unix"
)

// The fd table follows the syscalls that make, copy and drop fds. Only a
// successful call changes it; every handler returns before allocating when
// the call failed or changes nothing.

// openIdx holds where each open-family exit event keeps its parameters;
// -1 for one it lacks.
type openIdx struct{ dirfd, name, flags, dev, ino int }

var openParams = func() (m [driver.EvTypeMax]openIdx) {
	for _, t := range []driver.EventType{driver.EvOpen, driver.EvOpenat, driver.EvOpenat2, driver.EvCreat} {
		m[t] = openIdx{t.ParamIndex("dirfd"), t.ParamIndex("name"), t.ParamIndex("flags"), t.ParamIndex("dev"), t.ParamIndex("ino")}
	}
	return m
}()

// enterNameIdx is where each open-family entry event keeps the path.
var enterNameIdx = func() (m [driver.EvTypeMax]int) {
	for _, t := range []driver.EventType{driver.EvOpenE, driver.EvOpenatE, driver.EvOpenat2E, driver.EvCreatE} {
		m[t] = t.ParamIndex("name")
	}
	return m
}()

// enterOf is the entry event of each open-family exit event.
var enterOf = [driver.EvTypeMax]driver.EventType{
	driver.EvOpen: driver.EvOpenE, driver.EvOpenat: driver.EvOpenatE,
	driver.EvOpenat2: driver.EvOpenat2E, driver.EvCreat: driver.EvCreatE,
}

// rawOpenPath computes OpenRaw for an open-family exit event of th, and
// consumes the entry event: a later exit whose entry was lost must not
// take this one's path.
func (th *Thread) rawOpenPath(e *driver.Event) []byte {
	fromEntry := th.enterType != 0 && th.enterType == enterOf[e.Type]
	th.enterType = 0
	if !fromEntry {
		th.enterName = append(th.enterName[:0], e.Bytes(openParams[e.Type].name)...)
	}
	if len(th.enterName) == 0 {
		return nil
	}
	th.enterName = foldSlashes(th.enterName)
	return th.enterName
}

// foldSlashes turns every run of '/' in p into one, in place.
func foldSlashes(p []byte) []byte {
	out, prev := p[:0], byte(0)
	for _, c := range p {
		if c != '/' || prev != '/' {
			out = append(out, c)
		}
		prev = c
	}
	return out
}

// creatFlags are the open flags creat(2) implies.
const creatFlags = unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC

// einprogress is a non-blocking connect under way: the socket has its
// tuple (the local port is bound) although the handshake is not done.
const einprogress = -int64(unix.EINPROGRESS)

// applyFD applies an fd-changing exit event to p's table (and cwd); raw
// is the path an open-family call was given (Thread.OpenRaw). It reports
// whether the event renamed an fd the table already had (a connect or
// bind giving a socket its tuple): Falco's fd.name_changed.
func applyFD(p *Process, e *driver.Event, raw []byte) (renamed bool) {
	fds := p.FDs
	if fds == nil {
		fds = NewFDTable()
		p.FDs = fds
	}
	res, _ := e.Res()
	switch e.Type {
	case driver.EvOpen, driver.EvOpenat, driver.EvOpenat2, driver.EvCreat:
		if res < 0 {
			return
		}
		ix := &openParams[e.Type]
		flags := uint32(creatFlags)
		if ix.flags >= 0 {
			flags = uint32(e.Uint(ix.flags))
		}
		dirfd := int64(unix.AT_FDCWD)
		if ix.dirfd >= 0 {
			dirfd = e.Int(ix.dirfd)
		}
		fd := &FD{Num: res, Type: FDFile, Flags: flags, Dev: uint32(e.Uint(ix.dev)), Ino: e.Uint(ix.ino)}
		fd.Name = absPath(p, dirfd, e.Bytes(ix.name))
		fd.NameRaw = string(raw)
		if flags&unix.O_DIRECTORY != 0 {
			fd.Type = FDDirectory
		}
		fds.Set(fd)

	case driver.EvMemfdCreate: // res, name, flags
		if res < 0 {
			return
		}
		fd := &FD{Num: res, Type: FDMemfd, Name: "memfd:" + string(e.Bytes(1)), Flags: unix.O_RDWR}
		if e.Uint(2)&unix.MFD_CLOEXEC != 0 {
			fd.Flags |= unix.O_CLOEXEC
		}
		fds.Set(fd)

	case driver.EvSocket: // res, domain, type, proto
		if res < 0 {
			return
		}
		domain, typ := uint32(e.Uint(1)), uint32(e.Uint(2))
		fd := &FD{Num: res, Type: typeOfDomain(domain), Flags: unix.O_RDWR, Domain: domain, SockType: typ & 0xf}
		if typ&unix.SOCK_CLOEXEC != 0 {
			fd.Flags |= unix.O_CLOEXEC
		}
		if fd.Type == FDIPv4 || fd.Type == FDIPv6 {
			fd.Proto = protoOf(typ&0xf, uint32(e.Uint(3)))
		}
		fds.Set(fd)

	case driver.EvConnect: // res, fd, tuple
		if res != 0 && res != einprogress {
			return
		}
		tup, err := driver.ParseSockTuple(e.Param(2))
		if err != nil {
			return
		}
		fd := fds.Get(e.Int(1))
		if fd == nil {
			fd = &FD{Num: e.Int(1), Flags: unix.O_RDWR, Domain: uint32(tup.Family), Type: typeOfDomain(uint32(tup.Family))}
			fds.Set(fd)
			setTuple(fd, tup, true)
			return false
		}
		old := fd.Name
		setTuple(fd, tup, true)
		return fd.Name != old

	case driver.EvAccept, driver.EvAccept4: // res, fd, tuple [, flags]
		if res < 0 {
			return
		}
		fd := &FD{Num: res, Flags: unix.O_RDWR}
		if e.Type == driver.EvAccept4 && e.Uint(3)&unix.SOCK_CLOEXEC != 0 {
			fd.Flags |= unix.O_CLOEXEC
		}
		if l := fds.Get(e.Int(1)); l != nil {
			fd.Type, fd.Proto, fd.Domain, fd.SockType = l.Type, l.Proto, l.Domain, l.SockType
			if fd.Type == FDUnix {
				fd.Name = l.Name
			}
		}
		if tup, err := driver.ParseSockTuple(e.Param(2)); err == nil {
			if fd.Type == FDUnknown {
				fd.Domain, fd.Type = uint32(tup.Family), typeOfDomain(uint32(tup.Family))
			}
			setTuple(fd, tup, false)
		}
		fds.Set(fd)

	case driver.EvBind: // res, fd, addr
		if res != 0 {
			return
		}
		addr, err := driver.ParseSockAddr(e.Param(2))
		if err != nil {
			return
		}
		fd := fds.Get(e.Int(1))
		known := fd != nil
		if !known {
			fd = &FD{Num: e.Int(1), Flags: unix.O_RDWR, Domain: uint32(addr.Family), Type: typeOfDomain(uint32(addr.Family))}
			fds.Set(fd)
		}
		old := fd.Name
		switch addr.Family {
		case unix.AF_INET, unix.AF_INET6:
			fd.LocalIP, fd.LocalPort = addr.Addr.AsSlice(), addr.Port
			fd.Name = addrPortName(addr.Addr, addr.Port)
		case unix.AF_UNIX:
			fd.Name = addr.Path
		}
		return known && fd.Name != old

	case driver.EvListen: // res, fd, backlog
		if res != 0 {
			return
		}
		if fd := fds.Get(e.Int(1)); fd != nil {
			fd.Listening = true
		}

	case driver.EvDup, driver.EvDup2, driver.EvDup3: // res, oldfd [, newfd [, flags]]
		if res < 0 {
			return
		}
		old := fds.Get(e.Int(1))
		if old == nil {
			// Whatever the table had under the new number is gone.
			fds.Delete(res)
			return
		}
		if old.Num == res {
			return // dup2(fd, fd)
		}
		// A new number for the same open file: a copy, whose close-on-exec
		// flag dup clears and dup3 may set.
		c := *old
		c.Num = res
		c.Flags &^= unix.O_CLOEXEC
		if e.Type == driver.EvDup3 && e.Uint(3)&unix.O_CLOEXEC != 0 {
			c.Flags |= unix.O_CLOEXEC
		}
		fds.Set(&c)

	case driver.EvClose: // res, fd
		// Linux frees the number whatever close returns; EBADF means
		// there was nothing to free.
		fds.Delete(e.Int(1))

	case driver.EvPipe, driver.EvPipe2: // res, fd1, fd2 [, flags]
		if res != 0 || !e.Has(1) || !e.Has(2) {
			return
		}
		var cloexec uint32
		if e.Type == driver.EvPipe2 && e.Uint(3)&unix.O_CLOEXEC != 0 {
			cloexec = unix.O_CLOEXEC
		}
		fds.Set(&FD{Num: e.Int(1), Type: FDPipe, Flags: unix.O_RDONLY | cloexec})
		fds.Set(&FD{Num: e.Int(2), Type: FDPipe, Flags: unix.O_WRONLY | cloexec})

	case driver.EvChdir: // res, path
		if res == 0 && e.Has(1) {
			p.Cwd = absPath(p, unix.AT_FDCWD, e.Bytes(1))
		}

	case driver.EvFchdir: // res, fd
		if res != 0 {
			return
		}
		if fd := fds.Get(e.Int(1)); fd != nil && len(fd.Name) > 0 && fd.Name[0] == '/' && fd.Name != p.Cwd {
			p.Cwd = fd.Name
		}
	}
	return false
}

// absPath makes an event's path absolute and clean. The drivers resolve
// relative paths against the dirfd or cwd but leave "." and ".." inside,
// and pass a path through as is when they cannot resolve it; then the
// table's own idea of the dirfd or cwd serves.
func absPath(p *Process, dirfd int64, name []byte) string {
	if len(name) > 0 && name[0] == '/' {
		return filepath.Clean(string(name))
	}
	base := p.Cwd
	if int32(dirfd) != unix.AT_FDCWD {
		if d := p.FDs.Get(dirfd); d != nil {
			base = d.Name
		}
	}
	if len(base) == 0 || base[0] != '/' {
		return string(name)
	}
	return filepath.Join(base, string(name))
}

// typeOfDomain is the fd type of a socket of an address family.
func typeOfDomain(domain uint32) FDType {
	switch domain {
	case unix.AF_INET:
		return FDIPv4
	case unix.AF_INET6:
		return FDIPv6
	case unix.AF_UNIX:
		return FDUnix
	case unix.AF_NETLINK:
		return FDNetlink
	}
	return FDUnknown
}

// protoOf is the l4 protocol of an inet socket, from its type, or from its
// protocol number for the other types.
func protoOf(typ, proto uint32) string {
	switch typ {
	case unix.SOCK_STREAM:
		return "tcp"
	case unix.SOCK_DGRAM:
		return "udp"
	case unix.SOCK_RAW:
		return "raw"
	}
	switch proto {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return ""
}

// setTuple fills a socket's ends from a connect or accept tuple (Src is
// the local end). Falco names a connection client first, so a connecting
// socket reads "local->peer" and an accepted one "peer->local".
func setTuple(fd *FD, tup driver.SockTuple, localIsClient bool) {
	switch tup.Family {
	case unix.AF_INET, unix.AF_INET6:
		l, r := tup.Src, tup.Dst
		fd.LocalIP, fd.LocalPort = l.Addr().AsSlice(), l.Port()
		fd.PeerIP, fd.PeerPort = r.Addr().AsSlice(), r.Port()
		if localIsClient {
			fd.Name = tupleName(l.Addr(), l.Port(), r.Addr(), r.Port())
		} else {
			fd.Name = tupleName(r.Addr(), r.Port(), l.Addr(), l.Port())
		}
	case unix.AF_UNIX:
		if tup.Path != "" {
			fd.Name = tup.Path
		}
	}
}

// sockAddr returns an fd's local or peer end, for callers that want a
// netip value rather than the bytes.
func sockAddr(ip []byte, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a, port)
}

// Local returns the socket's local end (zero when unknown).
func (fd *FD) Local() netip.AddrPort { return sockAddr(fd.LocalIP, fd.LocalPort) }

// Peer returns the socket's remote end (zero when unknown).
func (fd *FD) Peer() netip.AddrPort { return sockAddr(fd.PeerIP, fd.PeerPort) }
