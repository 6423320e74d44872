// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"syscall"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Rendering of events for `vigil events`: a text form for people and a JSON
// form for machines. Both append to a caller's buffer and allocate nothing
// once it is large enough, so printing keeps up with the event stream.
//
// Socket parameters on the wire (the drivers write them so; ports are in
// host byte order because the drivers convert them once, in the kernel):
//
//	PTSockAddr   family(1) then
//	               AF_INET   addr(4, network order) port(2, LE)
//	               AF_INET6  addr(16) port(2, LE)
//	               AF_UNIX   path, NUL-terminated, possibly empty
//	               other     nothing
//	PTSockTuple  family(1) then
//	               AF_INET   saddr(4) sport(2) daddr(4) dport(2)
//	               AF_INET6  saddr(16) sport(2) daddr(16) dport(2)
//	               AF_UNIX   path, NUL-terminated
//	               other     nothing
//
// "s" is the local end of the socket and "d" its peer. Bytes beyond what a
// family needs are ignored, so a driver may pad.

// naText marks an absent (unreadable) parameter in the text form.
const naText = "<NA>"

// maxErrno is the kernel's MAX_ERRNO: return values in [-4095, -1] are
// errors; anything more negative is a value (an address, say).
const maxErrno = 4095

// SockAddr is a decoded PTSockAddr parameter.
type SockAddr struct {
	Family uint8
	Addr   netip.Addr // AF_INET, AF_INET6
	Port   uint16     // AF_INET, AF_INET6
	Path   string     // AF_UNIX; empty for an unnamed socket
}

// SockTuple is a decoded PTSockTuple parameter: Src is the local end of
// the socket, Dst its peer.
type SockTuple struct {
	Family   uint8
	Src, Dst netip.AddrPort // AF_INET, AF_INET6
	Path     string         // AF_UNIX
}

// sockView is a decoded socket parameter that still aliases the event, so
// rendering needs no allocation. addr/port are a sockaddr's address; src
// and dst a tuple's ends.
type sockView struct {
	fam      uint8
	addr     netip.Addr
	port     uint16
	src, dst netip.AddrPort
	path     []byte
}

// sockNeed is how many bytes a family needs after the family byte, for an
// address (tuple=false) or a tuple; -1 for AF_UNIX (a path of any length).
func sockNeed(fam uint8, tuple bool) int {
	n := 0
	switch fam {
	case unix.AF_INET:
		n = 4 + 2
	case unix.AF_INET6:
		n = 16 + 2
	case unix.AF_UNIX:
		return -1
	default:
		return 0
	}
	if tuple {
		n *= 2
	}
	return n
}

func addrPortAt(p []byte, v6 bool) (netip.AddrPort, int) {
	if v6 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[:16])), binary.LittleEndian.Uint16(p[16:])), 18
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[:4])), binary.LittleEndian.Uint16(p[4:])), 6
}

// parseSock decodes a socket parameter; ok is false when p is too short
// for its family.
func parseSock(p []byte, tuple bool) (v sockView, ok bool) {
	if len(p) == 0 {
		return v, false
	}
	v.fam = p[0]
	need := sockNeed(v.fam, tuple)
	body := p[1:]
	if need < 0 {
		// The path ends at the first NUL; a driver that could not read the
		// terminator still gives us the bytes it has.
		for i, c := range body {
			if c == 0 {
				body = body[:i]
				break
			}
		}
		v.path = body
		return v, true
	}
	if len(body) < need {
		return v, false
	}
	if need == 0 {
		return v, true
	}
	v6 := v.fam == unix.AF_INET6
	ap, n := addrPortAt(body, v6)
	if !tuple {
		v.addr, v.port = ap.Addr(), ap.Port()
		return v, true
	}
	v.src = ap
	v.dst, _ = addrPortAt(body[n:], v6)
	return v, true
}

func sockErr(what string, p []byte) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: empty %s (no family byte)", ErrMalformed, what)
	}
	return fmt.Errorf("%w: %s of family %s needs %d bytes after the family byte, got %d",
		ErrMalformed, what, familyName(p[0]), sockNeed(p[0], what == "socktuple"), len(p)-1)
}

// ParseSockAddr decodes a PTSockAddr parameter. Errors wrap ErrMalformed.
func ParseSockAddr(p []byte) (SockAddr, error) {
	v, ok := parseSock(p, false)
	if !ok {
		return SockAddr{}, sockErr("sockaddr", p)
	}
	return SockAddr{Family: v.fam, Addr: v.addr, Port: v.port, Path: string(v.path)}, nil
}

// ParseSockTuple decodes a PTSockTuple parameter. Errors wrap ErrMalformed.
func ParseSockTuple(p []byte) (SockTuple, error) {
	v, ok := parseSock(p, true)
	if !ok {
		return SockTuple{}, sockErr("socktuple", p)
	}
	return SockTuple{Family: v.fam, Src: v.src, Dst: v.dst, Path: string(v.path)}, nil
}

// String renders the address as the text form does: "1.2.3.4:80",
// "[::1]:80", a unix path, or "af_N" for another family.
func (a SockAddr) String() string {
	return string(appendSockText(nil, sockView{fam: a.Family, addr: a.Addr, port: a.Port, path: []byte(a.Path)}, false))
}

// String renders the tuple as the text form does: "1.2.3.4:5->5.6.7.8:80".
func (t SockTuple) String() string {
	return string(appendSockText(nil, sockView{fam: t.Family, src: t.Src, dst: t.Dst, path: []byte(t.Path)}, true))
}

// appendFamily writes a family's name; unnamed families keep their number
// so nothing is lost.
func appendFamily(dst []byte, fam uint8) []byte {
	switch fam {
	case unix.AF_INET:
		return append(dst, "inet"...)
	case unix.AF_INET6:
		return append(dst, "inet6"...)
	case unix.AF_UNIX:
		return append(dst, "unix"...)
	}
	return strconv.AppendUint(append(dst, "af_"...), uint64(fam), 10)
}

func familyName(fam uint8) string { return string(appendFamily(nil, fam)) }

func appendSockText(dst []byte, v sockView, tuple bool) []byte {
	switch v.fam {
	case unix.AF_UNIX:
		return append(dst, v.path...)
	case unix.AF_INET, unix.AF_INET6:
		if !tuple {
			return netip.AddrPortFrom(v.addr, v.port).AppendTo(dst)
		}
		dst = v.src.AppendTo(dst)
		dst = append(dst, "->"...)
		return v.dst.AppendTo(dst)
	}
	return appendFamily(dst, v.fam)
}

func appendSockJSON(dst []byte, v sockView, tuple bool) []byte {
	dst = append(dst, `{"family":"`...)
	dst = appendFamily(dst, v.fam)
	dst = append(dst, '"')
	switch v.fam {
	case unix.AF_UNIX:
		dst = append(dst, `,"path":`...)
		dst = AppendJSONString(dst, v.path)
	case unix.AF_INET, unix.AF_INET6:
		if tuple {
			dst = append(dst, `,"src":"`...)
			dst = v.src.AppendTo(dst)
			dst = append(dst, `","dst":"`...)
			dst = v.dst.AppendTo(dst)
			dst = append(dst, '"')
		} else {
			dst = append(dst, `,"addr":"`...)
			dst = v.addr.AppendTo(dst)
			dst = append(dst, `","port":`...)
			dst = strconv.AppendUint(dst, uint64(v.port), 10)
		}
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

func appendHex(dst, p []byte) []byte {
	for _, c := range p {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

// EventName returns the name users know an event by: the syscall's name
// for the generic event ("getppid"), else the schema's name ("openat").
// A generic event whose syscall tab does not know (or a nil tab) is
// "syscall", the generic event's own name.
func EventName(e *Event, tab *SyscallTable) string {
	info := e.Type.Info()
	if info == nil {
		return "unknown"
	}
	if e.Type == EvGeneric {
		if name := genericName(e, tab); name != "" {
			return name
		}
	}
	return info.Name
}

// genericIDParam is the index of the generic event's syscall id.
const genericIDParam = 1

func genericName(e *Event, tab *SyscallTable) string {
	if tab == nil || !e.Has(genericIDParam) {
		return ""
	}
	return tab.Name(uint16(e.Uint(genericIDParam)))
}

// isGenericID reports whether parameter i of e is the generic event's
// syscall id, which both forms print as a name.
func isGenericID(e *Event, i int) bool { return e.Type == EvGeneric && i == genericIDParam }

// intValue returns parameter i as the signed value its type means.
func intValue(e *Event, i int, t ParamType) int64 {
	if t == PTInt64 {
		return e.Int(i)
	}
	return int64(e.Uint(i))
}

func appendIntText(dst []byte, e *Event, i int, p Param) []byte {
	switch p.Format {
	case FmtHex:
		return strconv.AppendUint(append(dst, "0x"...), e.Uint(i), 16)
	case FmtOct:
		v := e.Uint(i)
		if v == 0 {
			return append(dst, '0')
		}
		return strconv.AppendUint(append(dst, '0'), v, 8)
	case FmtFD:
		v := intValue(e, i, p.Type)
		if v == unix.AT_FDCWD {
			return append(dst, "AT_FDCWD"...)
		}
		return strconv.AppendInt(dst, v, 10)
	case FmtErrno:
		v := intValue(e, i, p.Type)
		dst = strconv.AppendInt(dst, v, 10)
		if v < 0 && v >= -maxErrno {
			if name := unix.ErrnoName(syscall.Errno(-v)); name != "" {
				dst = append(dst, '(')
				dst = append(dst, name...)
				dst = append(dst, ')')
			}
		}
		return dst
	}
	if p.Type == PTInt64 {
		return strconv.AppendInt(dst, e.Int(i), 10)
	}
	return strconv.AppendUint(dst, e.Uint(i), 10)
}

// AppendParamsText appends e's parameters as `name=value name=value`, in
// schema order. Strings and paths are written as they are; numbers follow
// their Format (0x1f, 0644, AT_FDCWD, -2(ENOENT)); argv is joined by spaces;
// an absent parameter is <NA>. The generic event's id is the syscall's name
// when tab knows it, else its number.
func AppendParamsText(dst []byte, e *Event, tab *SyscallTable) []byte {
	info := e.Type.Info()
	if info == nil {
		return dst
	}
	for i, p := range info.Params {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, p.Name...)
		dst = append(dst, '=')
		raw := e.Param(i)
		if raw == nil {
			dst = append(dst, naText...)
			continue
		}
		if isGenericID(e, i) {
			if name := genericName(e, tab); name != "" {
				dst = append(dst, name...)
				continue
			}
		}
		switch p.Type {
		case PTInt64, PTUint64, PTUint32, PTUint16:
			dst = appendIntText(dst, e, i, p)
		case PTString, PTPath:
			dst = append(dst, e.Bytes(i)...)
		case PTStrArray:
			for _, c := range e.Bytes(i) {
				if c == 0 {
					c = ' '
				}
				dst = append(dst, c)
			}
		case PTSockAddr, PTSockTuple:
			tuple := p.Type == PTSockTuple
			v, ok := parseSock(raw, tuple)
			if !ok {
				dst = append(dst, "<malformed:"...)
				dst = appendHex(dst, raw)
				dst = append(dst, '>')
				continue
			}
			dst = appendSockText(dst, v, tuple)
		default:
			dst = appendHex(dst, raw)
		}
	}
	return dst
}

// AppendParamsJSON appends e's parameters as one JSON object keyed by
// parameter name, in schema order: integers are numbers, strings and paths
// strings (invalid UTF-8 becomes U+FFFD), argv an array of strings, socket
// parameters objects ({"family":"inet","addr":…,"port":…} for an address,
// {"family":"inet","src":"ip:port","dst":"ip:port"} for a tuple,
// {"family":"unix","path":…}), absent parameters null. The generic event's
// id is the syscall's name as a string; when tab does not know it, its
// number as a string, so the field keeps one JSON type. Socket bytes too
// short for their family come out as {"malformed":"<hex>"}.
func AppendParamsJSON(dst []byte, e *Event, tab *SyscallTable) []byte {
	dst = append(dst, '{')
	info := e.Type.Info()
	if info == nil {
		return append(dst, '}')
	}
	for i, p := range info.Params {
		if i > 0 {
			dst = append(dst, ',')
		}
		// Parameter names are schema identifiers: nothing to escape.
		dst = append(dst, '"')
		dst = append(dst, p.Name...)
		dst = append(dst, '"', ':')
		raw := e.Param(i)
		if raw == nil {
			dst = append(dst, "null"...)
			continue
		}
		if isGenericID(e, i) {
			dst = append(dst, '"')
			if name := genericName(e, tab); name != "" {
				dst = append(dst, name...)
			} else {
				dst = strconv.AppendUint(dst, e.Uint(i), 10)
			}
			dst = append(dst, '"')
			continue
		}
		switch p.Type {
		case PTInt64:
			dst = strconv.AppendInt(dst, e.Int(i), 10)
		case PTUint64, PTUint32, PTUint16:
			dst = strconv.AppendUint(dst, e.Uint(i), 10)
		case PTString, PTPath:
			dst = AppendJSONString(dst, e.Bytes(i))
		case PTStrArray:
			dst = append(dst, '[')
			s := e.Bytes(i)
			for {
				end := len(s)
				for j, c := range s {
					if c == 0 {
						end = j
						break
					}
				}
				dst = AppendJSONString(dst, s[:end])
				if end == len(s) {
					break
				}
				dst = append(dst, ',')
				s = s[end+1:]
			}
			dst = append(dst, ']')
		case PTSockAddr, PTSockTuple:
			tuple := p.Type == PTSockTuple
			v, ok := parseSock(raw, tuple)
			if !ok {
				dst = append(dst, `{"malformed":"`...)
				dst = appendHex(dst, raw)
				dst = append(dst, `"}`...)
				continue
			}
			dst = appendSockJSON(dst, v, tuple)
		default:
			dst = append(dst, '"')
			dst = appendHex(dst, raw)
			dst = append(dst, '"')
		}
	}
	return append(dst, '}')
}

// AppendJSONString writes s as a JSON string. It escapes by hand because
// encoding/json would allocate per value; the escapes match what
// encoding/json writes, minus its HTML escaping, which a log line does not
// need. U+2028 and U+2029 are escaped so the output is also valid
// JavaScript.
func AppendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
