// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
)

// absent is a build argument for a parameter the driver could not read.
type absent struct{}

// buildRaw writes one event of type t with the given parameters: integers
// (sized by the schema), strings (NUL added), raw bytes, or absent{}.
func buildRaw(t testing.TB, typ EventType, args ...any) []byte {
	t.Helper()
	var b Builder
	b.Begin(nil, typ, 1000, 42, 41)
	for _, a := range args {
		switch v := a.(type) {
		case int:
			b.Int(int64(v))
		case int64:
			b.Int(v)
		case uint64:
			b.Int(int64(v))
		case string:
			b.Str(v)
		case []byte:
			b.Raw(v)
		case absent:
			b.Raw(nil)
		default:
			t.Fatalf("buildRaw: unsupported argument %T", a)
		}
	}
	return b.End()
}

func build(t testing.TB, typ EventType, args ...any) *Event {
	t.Helper()
	var e Event
	if err := e.Decode(buildRaw(t, typ, args...)); err != nil {
		t.Fatalf("decode %s: %v", typ, err)
	}
	return &e
}

func inet4(a [4]byte, port uint16) []byte {
	b := append([]byte{2}, a[:]...)
	return binary.LittleEndian.AppendUint16(b, port)
}

func tuple4(s [4]byte, sp uint16, d [4]byte, dp uint16) []byte {
	b := append([]byte{2}, s[:]...)
	b = binary.LittleEndian.AppendUint16(b, sp)
	b = append(b, d[:]...)
	return binary.LittleEndian.AppendUint16(b, dp)
}

func tuple6(s [16]byte, sp uint16, d [16]byte, dp uint16) []byte {
	b := append([]byte{10}, s[:]...)
	b = binary.LittleEndian.AppendUint16(b, sp)
	b = append(b, d[:]...)
	return binary.LittleEndian.AppendUint16(b, dp)
}

var loop6 = netip.MustParseAddr("::1").As16()

// execArgs are the parameters of an execve event in schema order.
func execArgs(res int, exe string, argv any) []any {
	return []any{res, exe, argv, "/home/u", "ls",
		1, 2, 2, 1, 2, // ppid vpid vtid sid pgid
		1000, 1000, 1000, 1000, 1000, // uid gid euid egid loginuid
		0x8801, "/user.slice", 0, uint64(0x1ffffffffff), uint64(0x1ffffffffff),
		ExeMemfd | ExeUpperLayer, 99}
}

func TestFormat(t *testing.T) {
	tab, err := NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	getppid, _ := tab.Nr("getppid")
	tests := []struct {
		name       string
		ev         *Event
		wantName   string
		text, json string
	}{
		{
			name:     "openat",
			ev:       build(t, EvOpenat, 3, -100, "/tmp/x", 0x241, 0o644, 0x803, 1234),
			wantName: "openat",
			text:     `res=3 dirfd=AT_FDCWD name=/tmp/x flags=0x241 mode=0644 dev=0x803 ino=1234`,
			json:     `{"res":3,"dirfd":-100,"name":"/tmp/x","flags":577,"mode":420,"dev":2051,"ino":1234}`,
		},
		{
			name:     "openat failed, absent params",
			ev:       build(t, EvOpenat, -2, 5, "rel", 0, 0, absent{}, absent{}),
			wantName: "openat",
			text:     `res=-2(ENOENT) dirfd=5 name=rel flags=0x0 mode=0 dev=<NA> ino=<NA>`,
			json:     `{"res":-2,"dirfd":5,"name":"rel","flags":0,"mode":0,"dev":null,"ino":null}`,
		},
		{
			name:     "openat entry event",
			ev:       build(t, EvOpenatE, -100, "/etc/shadow", 0, 0),
			wantName: "openat",
			text:     `dirfd=AT_FDCWD name=/etc/shadow flags=0x0 mode=0`,
			json:     `{"dirfd":-100,"name":"/etc/shadow","flags":0,"mode":0}`,
		},
		{
			name:     "errno without a name and a non-errno negative",
			ev:       build(t, EvClose, -4000, 7),
			wantName: "close",
			text:     `res=-4000 fd=7`,
			json:     `{"res":-4000,"fd":7}`,
		},
		{
			name:     "result below -MAX_ERRNO is a value",
			ev:       build(t, EvClose, -4097, -1),
			wantName: "close",
			text:     `res=-4097 fd=-1`,
			json:     `{"res":-4097,"fd":-1}`,
		},
		{
			name:     "generic",
			ev:       build(t, EvGeneric, 1, int(getppid)),
			wantName: "getppid",
			text:     `res=1 id=getppid`,
			json:     `{"res":1,"id":"getppid"}`,
		},
		{
			name:     "generic, failed",
			ev:       build(t, EvGeneric, -1, int(getppid)),
			wantName: "getppid",
			text:     `res=-1(EPERM) id=getppid`,
			json:     `{"res":-1,"id":"getppid"}`,
		},
		{
			name:     "generic, unknown syscall",
			ev:       build(t, EvGeneric, 0, 511),
			wantName: "syscall",
			text:     `res=0 id=511`,
			json:     `{"res":0,"id":"511"}`,
		},
		{
			name:     "generic, absent id",
			ev:       build(t, EvGeneric, 0, absent{}),
			wantName: "syscall",
			text:     `res=0 id=<NA>`,
			json:     `{"res":0,"id":null}`,
		},
		{
			name:     "execve",
			ev:       build(t, EvExecve, execArgs(0, "/usr/bin/ls", "ls\x00-l\x00/tmp")...),
			wantName: "execve",
			text: `res=0 exe=/usr/bin/ls args=ls -l /tmp cwd=/home/u comm=ls ppid=1 vpid=2 vtid=2 sid=1 pgid=2 ` +
				`uid=1000 gid=1000 euid=1000 egid=1000 loginuid=1000 tty=0x8801 cgroup=/user.slice ` +
				`cap_inheritable=0x0 cap_permitted=0x1ffffffffff cap_effective=0x1ffffffffff exe_flags=0x3 ino=99`,
			json: `{"res":0,"exe":"/usr/bin/ls","args":["ls","-l","/tmp"],"cwd":"/home/u","comm":"ls","ppid":1,"vpid":2,"vtid":2,"sid":1,"pgid":2,` +
				`"uid":1000,"gid":1000,"euid":1000,"egid":1000,"loginuid":1000,"tty":34817,"cgroup":"/user.slice",` +
				`"cap_inheritable":0,"cap_permitted":2199023255551,"cap_effective":2199023255551,"exe_flags":3,"ino":99}`,
		},
		{
			name:     "execve, empty and absent argv",
			ev:       build(t, EvExecve, execArgs(-13, "", absent{})...),
			wantName: "execve",
			text: `res=-13(EACCES) exe= args=<NA> cwd=/home/u comm=ls ppid=1 vpid=2 vtid=2 sid=1 pgid=2 ` +
				`uid=1000 gid=1000 euid=1000 egid=1000 loginuid=1000 tty=0x8801 cgroup=/user.slice ` +
				`cap_inheritable=0x0 cap_permitted=0x1ffffffffff cap_effective=0x1ffffffffff exe_flags=0x3 ino=99`,
			json: `{"res":-13,"exe":"","args":null,"cwd":"/home/u","comm":"ls","ppid":1,"vpid":2,"vtid":2,"sid":1,"pgid":2,` +
				`"uid":1000,"gid":1000,"euid":1000,"egid":1000,"loginuid":1000,"tty":34817,"cgroup":"/user.slice",` +
				`"cap_inheritable":0,"cap_permitted":2199023255551,"cap_effective":2199023255551,"exe_flags":3,"ino":99}`,
		},
		{
			name:     "escaping",
			ev:       build(t, EvUnlink, 0, "a\"b\\c\n\r\t\b\f\x01\x1f\x7f é\xff\xc3\u2028z/日本"),
			wantName: "unlink",
			text:     "res=0 path=a\"b\\c\n\r\t\b\f\x01\x1f\x7f é\xff\xc3\u2028z/日本",
			json:     `{"res":0,"path":"a\"b\\c\n\r\t\b\f\u0001\u001f` + "\x7f é" + `\ufffd\ufffd\u2028z/日本"}`,
		},
		{
			name:     "argv with empty and escaped strings",
			ev:       build(t, EvExecve, execArgs(0, "/bin/sh", "sh\x00-c\x00\x00echo \"hi\"\n")...),
			wantName: "execve",
			text: "res=0 exe=/bin/sh args=sh -c  echo \"hi\"\n cwd=/home/u comm=ls ppid=1 vpid=2 vtid=2 sid=1 pgid=2 " +
				`uid=1000 gid=1000 euid=1000 egid=1000 loginuid=1000 tty=0x8801 cgroup=/user.slice ` +
				`cap_inheritable=0x0 cap_permitted=0x1ffffffffff cap_effective=0x1ffffffffff exe_flags=0x3 ino=99`,
			json: `{"res":0,"exe":"/bin/sh","args":["sh","-c","","echo \"hi\"\n"],"cwd":"/home/u","comm":"ls","ppid":1,"vpid":2,"vtid":2,"sid":1,"pgid":2,` +
				`"uid":1000,"gid":1000,"euid":1000,"egid":1000,"loginuid":1000,"tty":34817,"cgroup":"/user.slice",` +
				`"cap_inheritable":0,"cap_permitted":2199023255551,"cap_effective":2199023255551,"exe_flags":3,"ino":99}`,
		},
		{
			name:     "connect inet",
			ev:       build(t, EvConnect, 0, 3, tuple4([4]byte{10, 0, 0, 1}, 40000, [4]byte{93, 184, 216, 34}, 443)),
			wantName: "connect",
			text:     `res=0 fd=3 tuple=10.0.0.1:40000->93.184.216.34:443`,
			json:     `{"res":0,"fd":3,"tuple":{"family":"inet","src":"10.0.0.1:40000","dst":"93.184.216.34:443"}}`,
		},
		{
			name:     "connect inet6, in progress",
			ev:       build(t, EvConnect, -115, 4, tuple6(loop6, 5, loop6, 80)),
			wantName: "connect",
			text:     `res=-115(EINPROGRESS) fd=4 tuple=[::1]:5->[::1]:80`,
			json:     `{"res":-115,"fd":4,"tuple":{"family":"inet6","src":"[::1]:5","dst":"[::1]:80"}}`,
		},
		{
			name:     "accept unix",
			ev:       build(t, EvAccept4, 5, 3, []byte("\x01/run/x.sock\x00"), 0x80000),
			wantName: "accept4",
			text:     `res=5 fd=3 tuple=/run/x.sock flags=0x80000`,
			json:     `{"res":5,"fd":3,"tuple":{"family":"unix","path":"/run/x.sock"},"flags":524288}`,
		},
		{
			name:     "unnamed unix, no terminator",
			ev:       build(t, EvAccept, 5, 3, []byte{1}),
			wantName: "accept",
			text:     `res=5 fd=3 tuple=`,
			json:     `{"res":5,"fd":3,"tuple":{"family":"unix","path":""}}`,
		},
		{
			name:     "bind inet",
			ev:       build(t, EvBind, 0, 3, inet4([4]byte{1, 2, 3, 4}, 80)),
			wantName: "bind",
			text:     `res=0 fd=3 addr=1.2.3.4:80`,
			json:     `{"res":0,"fd":3,"addr":{"family":"inet","addr":"1.2.3.4","port":80}}`,
		},
		{
			name:     "connect entry inet6",
			ev:       build(t, EvConnectE, 3, append(append([]byte{10}, loop6[:]...), 0x50, 0)),
			wantName: "connect",
			text:     `fd=3 addr=[::1]:80`,
			json:     `{"fd":3,"addr":{"family":"inet6","addr":"::1","port":80}}`,
		},
		{
			name:     "bind netlink",
			ev:       build(t, EvBind, 0, 3, []byte{16, 0, 0}),
			wantName: "bind",
			text:     `res=0 fd=3 addr=af_16`,
			json:     `{"res":0,"fd":3,"addr":{"family":"af_16"}}`,
		},
		{
			name:     "malformed sockaddr",
			ev:       build(t, EvBind, 0, 3, []byte{2, 1, 2}),
			wantName: "bind",
			text:     `res=0 fd=3 addr=<malformed:020102>`,
			json:     `{"res":0,"fd":3,"addr":{"malformed":"020102"}}`,
		},
		{
			name:     "lifecycle",
			ev:       build(t, EvProcExec, "/usr/bin/id", 77),
			wantName: "proc_exec",
			text:     `filename=/usr/bin/id old_tid=77`,
			json:     `{"filename":"/usr/bin/id","old_tid":77}`,
		},
		{
			name:     "fds",
			ev:       build(t, EvDup3, 10, -100, 10, 0x80000),
			wantName: "dup3",
			text:     `res=10 oldfd=AT_FDCWD newfd=10 flags=0x80000`,
			json:     `{"res":10,"oldfd":-100,"newfd":10,"flags":524288}`,
		},
		{
			name:     "socket",
			ev:       build(t, EvSocket, 3, 2, 0x80801, 6),
			wantName: "socket",
			text:     `res=3 domain=2 type=0x80801 proto=6`,
			json:     `{"res":3,"domain":2,"type":526337,"proto":6}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EventName(tt.ev, tab); got != tt.wantName {
				t.Errorf("EventName = %q, want %q", got, tt.wantName)
			}
			if got := string(AppendParamsText(nil, tt.ev, tab)); got != tt.text {
				t.Errorf("text:\n got %q\nwant %q", got, tt.text)
			}
			got := AppendParamsJSON(nil, tt.ev, tab)
			if string(got) != tt.json {
				t.Errorf("json:\n got %s\nwant %s", got, tt.json)
			}
			if !json.Valid(got) {
				t.Errorf("invalid JSON: %s", got)
			}
		})
	}
}

func TestFormatNilTable(t *testing.T) {
	e := build(t, EvGeneric, 0, 110)
	if got := EventName(e, nil); got != "syscall" {
		t.Errorf("EventName = %q, want syscall", got)
	}
	if got := string(AppendParamsText(nil, e, nil)); got != "res=0 id=110" {
		t.Errorf("text = %q", got)
	}
	if got := string(AppendParamsJSON(nil, e, nil)); got != `{"res":0,"id":"110"}` {
		t.Errorf("json = %s", got)
	}
}

func TestFormatUnknownType(t *testing.T) {
	e := &Event{Type: EvTypeMax + 3}
	if got := EventName(e, nil); got != "unknown" {
		t.Errorf("EventName = %q", got)
	}
	if got := string(AppendParamsText([]byte("x"), e, nil)); got != "x" {
		t.Errorf("text = %q", got)
	}
	if got := string(AppendParamsJSON(nil, e, nil)); got != "{}" {
		t.Errorf("json = %q", got)
	}
}

// The JSON escaper must agree with encoding/json on what the string means.
func TestJSONStringRoundTrip(t *testing.T) {
	for _, s := range []string{
		"", "plain", "\x00\x01\x1f\x7f", `"\`, "é日本\U0001F600", "\xff\xfe", "a\xc3", "\xed\xa0\x80",
		"\u2028\u2029", "</script>&",
	} {
		got := AppendJSONString(nil, []byte(s))
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s does not parse: %v", s, got, err)
			continue
		}
		want := []rune(s) // invalid bytes become U+FFFD, like encoding/json
		if back != string(want) {
			t.Errorf("%q: round trip gives %q, want %q", s, back, string(want))
		}
	}
}

func TestParseSock(t *testing.T) {
	a, err := ParseSockAddr(inet4([4]byte{1, 2, 3, 4}, 80))
	if err != nil || a.Family != 2 || a.Addr != netip.MustParseAddr("1.2.3.4") || a.Port != 80 || a.String() != "1.2.3.4:80" {
		t.Errorf("inet: %+v %v", a, err)
	}
	a, err = ParseSockAddr([]byte("\x01/run/x.sock\x00junk"))
	if err != nil || a.Family != 1 || a.Path != "/run/x.sock" || a.String() != "/run/x.sock" {
		t.Errorf("unix: %+v %v", a, err)
	}
	tu, err := ParseSockTuple(tuple6(loop6, 5, loop6, 80))
	if err != nil || tu.Family != 10 || tu.Src != netip.MustParseAddrPort("[::1]:5") ||
		tu.Dst != netip.MustParseAddrPort("[::1]:80") || tu.String() != "[::1]:5->[::1]:80" {
		t.Errorf("inet6 tuple: %+v %v", tu, err)
	}
	tu, err = ParseSockTuple(tuple4([4]byte{1, 2, 3, 4}, 5, [4]byte{5, 6, 7, 8}, 80))
	if err != nil || tu.String() != "1.2.3.4:5->5.6.7.8:80" {
		t.Errorf("inet tuple: %+v %v", tu, err)
	}
	for _, bad := range [][]byte{nil, {2}, {2, 1, 2, 3, 4, 5}, {10, 1}} {
		if _, err := ParseSockAddr(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSockAddr(%x) = %v, want ErrMalformed", bad, err)
		}
	}
	// An address is not a tuple: a sockaddr's 7 bytes are too few for one.
	if _, err := ParseSockTuple(inet4([4]byte{1, 2, 3, 4}, 80)); !errors.Is(err, ErrMalformed) {
		t.Errorf("short tuple: %v, want ErrMalformed", err)
	} else if want := "malformed event: socktuple of family inet needs 12 bytes after the family byte, got 6"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

// Printing sits on the event path: with a buffer that is large enough it
// must not allocate.
func TestFormatAllocs(t *testing.T) {
	tab, _ := NewSyscallTable("amd64")
	evs := []*Event{
		build(t, EvOpenat, -2, -100, "/tmp/\xffx\n", 0x241, 0o644, absent{}, 1),
		build(t, EvExecve, execArgs(0, "/usr/bin/ls", "ls\x00-l")...),
		build(t, EvConnect, 0, 3, tuple6(loop6, 5, loop6, 80)),
		build(t, EvBind, 0, 3, inet4([4]byte{1, 2, 3, 4}, 80)),
		build(t, EvGeneric, 0, 110),
	}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		for _, e := range evs {
			buf = AppendParamsText(buf[:0], e, tab)
			buf = AppendParamsJSON(buf[:0], e, tab)
			_ = EventName(e, tab)
		}
	})
	if allocs != 0 {
		t.Errorf("formatting allocates %v times per run, want 0", allocs)
	}
}
