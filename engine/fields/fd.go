// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/state"
)

// How each event names its fd.
const (
	fdNone    uint8 = iota
	fdParam         // an fd parameter (fdIdx)
	fdRes           // the return value
	fdOpen          // the return value; path and flags from the event when the table lacks it
	fdSocket        // the return value; type from the domain when the table lacks it
	fdAccept        // the return value; ends from the tuple when the table lacks it
	fdConnect       // the fd parameter; ends from the tuple when the table lacks it
)

type fdSource struct {
	kind  uint8
	fdIdx int8 // fdParam, fdConnect: the fd parameter
	aux   int8 // fdOpen: path; fdSocket: domain; fdAccept, fdConnect: tuple
	flags int8 // fdOpen: flags (-1 for creat)
}

var fdSources = func() (t [driver.EvTypeMax]fdSource) {
	pi := func(et driver.EventType, name string) int8 { return int8(et.ParamIndex(name)) }
	for _, et := range []driver.EventType{driver.EvOpen, driver.EvOpenat, driver.EvOpenat2, driver.EvCreat} {
		t[et] = fdSource{kind: fdOpen, aux: pi(et, "name"), flags: pi(et, "flags")}
	}
	t[driver.EvMemfdCreate] = fdSource{kind: fdRes}
	t[driver.EvSocket] = fdSource{kind: fdSocket, aux: pi(driver.EvSocket, "domain")}
	for _, et := range []driver.EventType{driver.EvAccept, driver.EvAccept4} {
		t[et] = fdSource{kind: fdAccept, aux: pi(et, "tuple")}
	}
	t[driver.EvConnect] = fdSource{kind: fdConnect, fdIdx: pi(driver.EvConnect, "fd"), aux: pi(driver.EvConnect, "tuple")}
	for _, et := range []driver.EventType{driver.EvConnectE, driver.EvBind, driver.EvListen, driver.EvFchmod,
		driver.EvSetns, driver.EvFinitModule, driver.EvClose, driver.EvFchdir} {
		t[et] = fdSource{kind: fdParam, fdIdx: pi(et, "fd")}
	}
	for _, et := range []driver.EventType{driver.EvDup, driver.EvDup2, driver.EvDup3} {
		t[et] = fdSource{kind: fdParam, fdIdx: pi(et, "oldfd")}
	}
	for _, et := range []driver.EventType{driver.EvPipe, driver.EvPipe2} {
		t[et] = fdSource{kind: fdParam, fdIdx: pi(et, "fd1")}
	}
	return t
}()

// FD returns the fd the event refers to (see the package comment), or nil.
// The result may be a synthetic FD owned by c, valid for this event.
func (c *Ctx) FD() *state.FD {
	if c.fdDone {
		return c.fd
	}
	c.fdDone = true
	c.fd = c.findFD()
	return c.fd
}

func (c *Ctx) table() *state.FDTable {
	if p := c.proc(); p != nil {
		return p.FDs
	}
	return nil
}

func (c *Ctx) findFD() *state.FD {
	e := c.Event
	if e.Type >= driver.EvTypeMax {
		return nil
	}
	src := fdSources[e.Type]
	switch src.kind {
	case fdParam:
		if !e.Has(int(src.fdIdx)) {
			return nil
		}
		return c.table().Get(e.Int(int(src.fdIdx)))
	case fdRes:
		r, ok := res(c)
		if !ok || r < 0 {
			return nil
		}
		return c.table().Get(r)
	case fdOpen:
		r, ok := res(c)
		if !ok {
			return nil
		}
		if r >= 0 {
			if fd := c.table().Get(r); fd != nil {
				return fd
			}
		} else {
			r = -1
		}
		if !e.Has(int(src.aux)) {
			return nil
		}
		// The state table cleans the paths it keeps; this one must read
		// the same (/etc/../etc/shadow is /etc/shadow to etc_dir).
		start := len(c.fdBuf)
		c.fdBuf = appendCleanPath(c.fdBuf, e.Bytes(int(src.aux)))
		c.tmpFD = state.FD{Num: r, Type: state.FDFile, Name: bstr(c.fdBuf[start:])}
		if c.Thread != nil {
			c.tmpFD.NameRaw = bstr(c.Thread.OpenRaw())
		}
		if src.flags >= 0 {
			c.tmpFD.Flags = uint32(e.Uint(int(src.flags)))
		} else {
			c.tmpFD.Flags = unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC
		}
		return &c.tmpFD
	case fdSocket:
		r, ok := res(c)
		if !ok || r < 0 {
			return nil
		}
		if fd := c.table().Get(r); fd != nil {
			return fd
		}
		c.tmpFD = state.FD{Num: r, Domain: uint32(e.Uint(int(src.aux)))}
		switch c.tmpFD.Domain {
		case unix.AF_INET:
			c.tmpFD.Type = state.FDIPv4
		case unix.AF_INET6:
			c.tmpFD.Type = state.FDIPv6
		case unix.AF_UNIX:
			c.tmpFD.Type = state.FDUnix
		case unix.AF_NETLINK:
			c.tmpFD.Type = state.FDNetlink
		}
		return &c.tmpFD
	case fdAccept, fdConnect:
		var num int64
		if src.kind == fdAccept {
			r, ok := res(c)
			if !ok || r < 0 {
				return nil
			}
			num = r
		} else {
			if !e.Has(int(src.fdIdx)) {
				return nil
			}
			num = e.Int(int(src.fdIdx))
		}
		if fd := c.table().Get(num); fd != nil {
			return fd
		}
		return c.fdFromTuple(num, e.Param(int(src.aux)), src.kind == fdAccept)
	}
	return nil
}

// appendCleanPath appends p with "." and ".." resolved and repeated
// slashes folded, as filepath.Clean does, without allocating. A relative
// path (one the driver could not resolve) is appended as it is.
func appendCleanPath(dst, p []byte) []byte {
	if len(p) == 0 || p[0] != '/' {
		return append(dst, p...)
	}
	root := len(dst)
	dst = append(dst, '/')
	for len(p) > 0 {
		var comp []byte
		for len(p) > 0 && p[0] == '/' {
			p = p[1:]
		}
		i := 0
		for i < len(p) && p[i] != '/' {
			i++
		}
		comp, p = p[:i], p[i:]
		switch string(comp) {
		case "", ".":
		case "..":
			// Back to the previous '/', never above the root.
			j := len(dst) - 1
			for j > root && dst[j] != '/' {
				j--
			}
			dst = dst[:max(j, root+1)]
		default:
			if len(dst) > root+1 {
				dst = append(dst, '/')
			}
			dst = append(dst, comp...)
		}
	}
	return dst
}

// fdFromTuple builds the fd of an accept or connect the table has not got
// from the event's tuple (local end first).
func (c *Ctx) fdFromTuple(num int64, p []byte, server bool) *state.FD {
	t, err := driver.ParseSockTuple(p)
	if err != nil {
		return nil
	}
	c.tmpFD = state.FD{Num: num, Domain: uint32(t.Family)}
	switch t.Family {
	case unix.AF_UNIX:
		c.tmpFD.Type = state.FDUnix
		c.tmpFD.Name = t.Path
		return &c.tmpFD
	case unix.AF_INET, unix.AF_INET6:
	default:
		return &c.tmpFD
	}
	c.tmpFD.Type, c.tmpFD.Proto = state.FDIPv4, "tcp"
	if t.Family == unix.AF_INET6 {
		c.tmpFD.Type = state.FDIPv6
	}
	c.tmpFD.LocalIP = c.ipBytes(0, t.Src.Addr())
	c.tmpFD.PeerIP = c.ipBytes(1, t.Dst.Addr())
	c.tmpFD.LocalPort, c.tmpFD.PeerPort = t.Src.Port(), t.Dst.Port()
	cli, srv := t.Src, t.Dst
	if server {
		cli, srv = t.Dst, t.Src
	}
	start := len(c.fdBuf)
	c.fdBuf = cli.AppendTo(c.fdBuf)
	c.fdBuf = append(c.fdBuf, "->"...)
	c.fdBuf = srv.AppendTo(c.fdBuf)
	c.tmpFD.Name = bstr(c.fdBuf[start:])
	return &c.tmpFD
}

func (c *Ctx) ipBytes(i int, a netip.Addr) []byte {
	if a.Is4() {
		c.ip4[i] = a.As4()
		return c.ip4[i][:]
	}
	c.ip6[i] = a.As16()
	return c.ip6[i][:]
}

func ipOf(b []byte) (netip.Addr, bool) {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)), true
	case 16:
		return netip.AddrFrom16([16]byte(b)).Unmap(), true
	}
	return netip.Addr{}, false
}

func isIP(fd *state.FD) bool { return fd.Type == state.FDIPv4 || fd.Type == state.FDIPv6 }

// localIsServer decides which end of an IP socket is the server: a
// listening socket, or one whose name puts the local end after "->".
func (c *Ctx) localIsServer(fd *state.FD) bool {
	if fd.Listening {
		return true
	}
	i := strings.Index(fd.Name, "->")
	if i < 0 {
		return false
	}
	ip, ok := ipOf(fd.LocalIP)
	if !ok {
		return false
	}
	start := len(c.buf)
	c.buf = netip.AddrPortFrom(ip, fd.LocalPort).AppendTo(c.buf)
	local := c.str(start)
	c.buf = c.buf[:start]
	return fd.Name[i+2:] == local && fd.Name[:i] != local
}

// end selects one end of a socket.
type end uint8

const (
	endClient end = iota
	endServer
	endLocal
	endRemote
)

func (c *Ctx) sockEnd(which end) (ip netip.Addr, port uint16, ok bool) {
	fd := c.FD()
	if fd == nil || !isIP(fd) {
		return ip, 0, false
	}
	local := which == endLocal
	switch which {
	case endClient:
		local = !c.localIsServer(fd)
	case endServer:
		local = c.localIsServer(fd)
	}
	if local {
		ip, ok = ipOf(fd.LocalIP)
		return ip, fd.LocalPort, ok
	}
	ip, ok = ipOf(fd.PeerIP)
	return ip, fd.PeerPort, ok
}

func fdField(name string, t Type, desc string, get func(c *Ctx, fd *state.FD, v *Value) bool) *Field {
	return &Field{Name: name, Type: t, Desc: desc, ext: func(c *Ctx, _ *Bound, v *Value) bool {
		fd := c.FD()
		return fd != nil && get(c, fd, v)
	}}
}

func ipField(name string, t Type, which end, desc string) *Field {
	return &Field{Name: name, Type: t, Desc: desc, ext: func(c *Ctx, _ *Bound, v *Value) bool {
		ip, _, ok := c.sockEnd(which)
		v.IP = ip
		return ok
	}}
}

func portField(name string, which end, desc string) *Field {
	return &Field{Name: name, Type: Port, Desc: desc, ext: func(c *Ctx, _ *Bound, v *Value) bool {
		_, port, ok := c.sockEnd(which)
		v.N = int64(port)
		return ok
	}}
}

// eitherField is fd.ip, fd.port, fd.net: client or server end.
func eitherField(name string, t Type, port bool, desc string) *Field {
	get := func(c *Ctx, which end, v *Value) bool {
		ip, p, ok := c.sockEnd(which)
		v.IP, v.N = ip, int64(p)
		return ok
	}
	return &Field{Name: name, Type: t, Desc: desc + " (filter only: matches either the client or the server end)",
		Multi: true, FilterOnly: true, Arg: ArgNone,
		ext: func(c *Ctx, _ *Bound, v *Value) bool { return get(c, endClient, v) },
		multi: func(c *Ctx, _ *Bound, i int, v *Value) (bool, bool) {
			if i == 0 {
				return get(c, endClient, v), true
			}
			return get(c, endServer, v), false
		}}
}

// domainField is fd.cip.name and its kin. vigil does not sniff DNS: as
// Falco's DNS manager does, it resolves the names the rules compare these
// fields with (Ctx.DNS), and an address has a name when one of those
// resolved to it. A condition is compiled with MatchDomain; outputs print
// the first such name, or <NA>.
func domainField(name string, which end, side string) *Field {
	ip := func(c *Ctx) (netip.Addr, bool) {
		ip, _, ok := c.sockEnd(which)
		return ip, ok
	}
	return &Field{Name: name, Type: String, domainIP: ip,
		Desc: "domain name of the " + side + " IP: a name the rules compare it with (=, !=, in) that resolves to that address " +
			"(the names are resolved every 30s while vigil runs live)",
		ext: func(c *Ctx, _ *Bound, v *Value) bool {
			a, ok := ip(c)
			if !ok || c.DNS == nil {
				return false
			}
			return nonEmpty(v, c.DNS.NameOf(a))
		}}
}

// IsDomain reports whether b is a domain field (fd.sip.name and its kin),
// which conditions compare through MatchDomain.
func (b *Bound) IsDomain() bool { return b.domainIP != nil }

// MatchDomain reports whether the address of domain field b resolves from
// any of names; ok is false when the event has no such address (not an IP
// socket), when every comparison is false, as Falco's.
func (b *Bound) MatchDomain(c *Ctx, names []string) (match, ok bool) {
	a, ok := b.domainIP(c)
	if !ok {
		return false, false
	}
	if c.DNS == nil {
		return false, true
	}
	for _, n := range names {
		if c.DNS.Has(n, a) {
			return true, true
		}
	}
	return false, true
}

func filePath(fd *state.FD) bool { return fd.Type == state.FDFile || fd.Type == state.FDDirectory }

func init() {
	add(
		fdField("fd.num", Int64, "fd number (-1 for a failed open)", func(c *Ctx, fd *state.FD, v *Value) bool {
			v.N = fd.Num
			return true
		}),
		fdField("fd.type", String, "fd type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, memfd, bpf, userfaultfd", func(c *Ctx, fd *state.FD, v *Value) bool {
			if int(fd.Type) >= len(fdTypeNames) {
				return false
			}
			return nonEmpty(v, fdTypeNames[fd.Type])
		}),
		fdField("fd.typechar", String, "fd type as one character: f d 4 6 u p e s l i t n m b", func(c *Ctx, fd *state.FD, v *Value) bool {
			if int(fd.Type) >= len(fdTypeChars) {
				return false
			}
			v.S = fdTypeChars[fd.Type]
			return true
		}),
		fdField("fd.name", String, "full path of a file, or the connection tuple of a socket", func(c *Ctx, fd *state.FD, v *Value) bool {
			return nonEmpty(v, fd.Name)
		}),
		fdField("fd.nameraw", String, "path of a file fd as the program passed it to open, openat, openat2 or creat: not made absolute nor cleaned (../ kept)", func(c *Ctx, fd *state.FD, v *Value) bool {
			return nonEmpty(v, fd.NameRaw)
		}),
		fdField("fd.directory", String, "directory of a file fd", func(c *Ctx, fd *state.FD, v *Value) bool {
			if !filePath(fd) || fd.Name == "" {
				return false
			}
			if fd.Type == state.FDDirectory {
				v.S = fd.Name
				return true
			}
			i := strings.LastIndexByte(fd.Name, '/')
			switch {
			case i < 0:
				return false
			case i == 0:
				v.S = "/"
			default:
				v.S = fd.Name[:i]
			}
			return true
		}),
		fdField("fd.filename", String, "file name of a file fd, without its directory", func(c *Ctx, fd *state.FD, v *Value) bool {
			if fd.Type != state.FDFile || fd.Name == "" {
				return false
			}
			v.S = fd.Name[strings.LastIndexByte(fd.Name, '/')+1:]
			return true
		}),
		fdField("fd.dev", Uint64, "device number of a file fd", func(c *Ctx, fd *state.FD, v *Value) bool {
			v.N = int64(fd.Dev)
			return filePath(fd)
		}),
		fdField("fd.ino", Uint64, "inode of a file fd", func(c *Ctx, fd *state.FD, v *Value) bool {
			v.N = int64(fd.Ino)
			return filePath(fd) && fd.Ino != 0
		}),
		fdField("fd.l4proto", String, "IP protocol of a socket: tcp, udp, raw", func(c *Ctx, fd *state.FD, v *Value) bool {
			return isIP(fd) && nonEmpty(v, fd.Proto)
		}),
		fdField("fd.sockfamily", String, "socket family: ip or unix", func(c *Ctx, fd *state.FD, v *Value) bool {
			switch {
			case isIP(fd):
				v.S = "ip"
			case fd.Type == state.FDUnix:
				v.S = "unix"
			default:
				return false
			}
			return true
		}),
		fdField("fd.is_server", Bool, "the local end of the socket is the server", func(c *Ctx, fd *state.FD, v *Value) bool {
			v.B = c.localIsServer(fd)
			return isIP(fd)
		}),
		fdField("fd.connected", Bool, "the socket is connected", func(c *Ctx, fd *state.FD, v *Value) bool {
			_, ok := ipOf(fd.PeerIP)
			v.B = ok && fd.PeerPort != 0
			return isIP(fd)
		}),
		fdField("fd.name_changed", Bool, "the event changed the name of the fd (a connect or bind gave a socket its address)", func(c *Ctx, fd *state.FD, v *Value) bool {
			v.B = fd != &c.tmpFD && c.Thread != nil && c.Thread.FDRenamed()
			return true
		}),
		ipField("fd.cip", IPAddr, endClient, "client IP address"),
		ipField("fd.sip", IPAddr, endServer, "server IP address"),
		ipField("fd.lip", IPAddr, endLocal, "local IP address"),
		ipField("fd.rip", IPAddr, endRemote, "remote IP address"),
		ipField("fd.cnet", IPNet, endClient, "client IP address, compared with networks"),
		ipField("fd.snet", IPNet, endServer, "server IP address, compared with networks"),
		ipField("fd.lnet", IPNet, endLocal, "local IP address, compared with networks"),
		ipField("fd.rnet", IPNet, endRemote, "remote IP address, compared with networks"),
		portField("fd.cport", endClient, "client port"),
		portField("fd.sport", endServer, "server port"),
		portField("fd.lport", endLocal, "local port"),
		portField("fd.rport", endRemote, "remote port"),
		eitherField("fd.ip", IPAddr, false, "IP address"),
		eitherField("fd.net", IPNet, false, "IP address compared with networks"),
		eitherField("fd.port", Port, true, "port"),
		domainField("fd.cip.name", endClient, "client"),
		domainField("fd.sip.name", endServer, "server"),
		domainField("fd.lip.name", endLocal, "local"),
		domainField("fd.rip.name", endRemote, "remote"),
		pathField("fs.path.name", 0, false, "path a file syscall operates on"),
		pathField("fs.path.nameraw", 0, true, "path a file syscall operates on, as given (for the open family: as the program passed it)"),
		pathField("fs.path.source", 1, false, "source path of rename, link and symlink (for symlink: the link's target)"),
		pathField("fs.path.sourceraw", 1, true, "source path of rename, link and symlink, as given"),
		pathField("fs.path.target", 2, false, "target path of rename, link and symlink (for symlink: the new link)"),
		pathField("fs.path.targetraw", 2, true, "target path of rename, link and symlink, as given"),
	)
}

// fsPaths holds, per event type, the parameter of fs.path.name, .source and
// .target (-1: none).
var fsPaths = func() (t [driver.EvTypeMax][3]int8) {
	for i := range t {
		t[i] = [3]int8{-1, -1, -1}
	}
	name := map[driver.EventType]string{
		driver.EvOpen: "name", driver.EvOpenat: "name", driver.EvOpenat2: "name", driver.EvCreat: "name",
		driver.EvUnlink: "path", driver.EvUnlinkat: "name", driver.EvMkdir: "path", driver.EvMkdirat: "path",
		driver.EvChmod: "filename", driver.EvFchmodat: "filename", driver.EvUmount2: "name", driver.EvMount: "dir",
		driver.EvChdir: "path",
	}
	for et, n := range name {
		t[et][0] = int8(et.ParamIndex(n))
	}
	for _, et := range []driver.EventType{driver.EvRename, driver.EvRenameat, driver.EvRenameat2, driver.EvLink, driver.EvLinkat} {
		t[et][1], t[et][2] = int8(et.ParamIndex("oldpath")), int8(et.ParamIndex("newpath"))
	}
	for _, et := range []driver.EventType{driver.EvSymlink, driver.EvSymlinkat} {
		t[et][1], t[et][2] = int8(et.ParamIndex("target")), int8(et.ParamIndex("linkpath"))
	}
	return t
}()

func pathField(name string, which int, raw bool, desc string) *Field {
	return &Field{Name: name, Type: String, Desc: desc, ext: func(c *Ctx, _ *Bound, v *Value) bool {
		t := c.Event.Type
		if t >= driver.EvTypeMax || fsPaths[t][which] < 0 {
			return false
		}
		if raw && c.Thread != nil && c.Thread.OpenRaw() != nil {
			return nonEmpty(v, bstr(c.Thread.OpenRaw()))
		}
		b := c.Event.Bytes(int(fsPaths[t][which]))
		return b != nil && nonEmpty(v, bstr(b))
	}}
}
