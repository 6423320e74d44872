// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/state"
)

type testUsers struct{}

func (testUsers) User(uid uint32) (state.User, bool) {
	if uid == 65534 {
		return state.User{UID: uid, Name: "nobody"}, true
	}
	return state.User{}, false
}

func (testUsers) Group(gid uint32) (state.Group, bool) {
	if gid == 33 {
		return state.Group{GID: gid, Name: "www-data"}, true
	}
	return state.Group{}, false
}

// evt.arg renders flag, mode, enum and id parameters with the names and in
// the order Falco prints them, so that rules written against Falco's text
// (evt.arg.mode contains S_ISUID, evt.arg.cmd = BPF_PROG_LOAD,
// evt.arg.uid = nobody) match; evt.rawarg keeps the number.
func TestArgRenderingAsFalco(t *testing.T) {
	cases := []struct {
		typ    driver.EventType
		params []int64
		arg    string
		want   string
	}{
		{driver.EvChmod, []int64{0, -1, 0o4755}, "mode", "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"},
		{driver.EvFchmodat, []int64{0, unix.AT_FDCWD, -1, 0o2770}, "mode", "S_IXGRP|S_IWGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISGID"},
		{driver.EvFchmod, []int64{0, 3, 0o1777}, "mode", "S_IXOTH|S_IWOTH|S_IROTH|S_IXGRP|S_IWGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISVTX"},
		{driver.EvFchmod, []int64{0, 3, 0}, "mode", "0"},
		{driver.EvOpenat, []int64{3, unix.AT_FDCWD, -1, unix.O_RDONLY | unix.O_CLOEXEC, 0, 0, 0}, "flags", "O_RDONLY|O_CLOEXEC"},
		{driver.EvOpenat, []int64{3, unix.AT_FDCWD, -1, unix.O_RDWR | unix.O_CREAT | unix.O_EXCL, 0o600, 0, 0}, "flags", "O_EXCL|O_CREAT|O_RDWR"},
		{driver.EvOpenatE, []int64{unix.AT_FDCWD, -1, unix.O_WRONLY | unix.O_APPEND, 0}, "flags", "O_APPEND|O_WRONLY"},
		{driver.EvOpenat2, []int64{3, unix.AT_FDCWD, -1, unix.O_RDONLY, 0, unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV, 0, 0}, "resolve", "RESOLVE_BENEATH|RESOLVE_NO_XDEV"},
		{driver.EvClone, []int64{123, unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | int64(unix.SIGCHLD), 1, 2}, "flags", "CLONE_FILES|CLONE_FS|CLONE_SIGHAND|CLONE_THREAD|CLONE_VM"},
		{driver.EvUnshare, []int64{0, unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, "flags", "CLONE_NEWNS|CLONE_NEWUSER"},
		{driver.EvSetns, []int64{0, 3, unix.CLONE_NEWNET}, "nstype", "CLONE_NEWNET"},
		{driver.EvMount, []int64{0, -1, -1, -1, unix.MS_MGC_VAL | unix.MS_BIND | unix.MS_REC}, "flags", "BIND|REC"},
		{driver.EvUmount2, []int64{0, -1, unix.MNT_DETACH}, "flags", "DETACH"},
		{driver.EvUnlinkat, []int64{0, unix.AT_FDCWD, -1, unix.AT_REMOVEDIR}, "flags", "AT_REMOVEDIR"},
		{driver.EvRenameat2, []int64{0, unix.AT_FDCWD, -1, unix.AT_FDCWD, -1, unix.RENAME_EXCHANGE}, "flags", "RENAME_EXCHANGE"},
		{driver.EvMemfdCreate, []int64{3, -1, unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING}, "flags", "MFD_CLOEXEC|MFD_ALLOW_SEALING"},
		{driver.EvDup3, []int64{5, 3, 5, unix.O_CLOEXEC}, "flags", "O_CLOEXEC"},
		{driver.EvPipe2, []int64{0, 3, 4, 0}, "flags", "O_NONE"},
		{driver.EvPipe2, []int64{0, 3, 4, unix.O_NONBLOCK | unix.O_CLOEXEC}, "flags", "O_NONBLOCK|O_CLOEXEC"},
		{driver.EvFinitModule, []int64{0, 3, -1, unix.MODULE_INIT_IGNORE_VERMAGIC}, "flags", "MODULE_INIT_IGNORE_VERMAGIC"},
		{driver.EvBpf, []int64{3, unix.BPF_PROG_LOAD}, "cmd", "BPF_PROG_LOAD"},
		{driver.EvBpf, []int64{3, 999}, "cmd", "999"},
		{driver.EvSetuid, []int64{0, 65534}, "uid", "nobody"},
		{driver.EvSetuid, []int64{0, 4242}, "uid", "<NA>"},
		{driver.EvSetresuid, []int64{0, -1, 65534, -1}, "ruid", "<NONE>"},
		{driver.EvSetgid, []int64{0, 33}, "gid", "www-data"},
		{driver.EvPtrace, []int64{0, unix.PTRACE_ATTACH, 7}, "request", "PTRACE_ATTACH"},
		{driver.EvSocket, []int64{3, unix.AF_INET6, unix.SOCK_STREAM, 0}, "domain", "AF_INET6"},
	}
	for _, tc := range cases {
		var b driver.Builder
		b.Begin(nil, tc.typ, 1, 10, 10)
		for i, v := range tc.params {
			if v == -1 && driver.Events[tc.typ].Params[i].Type.FixedSize() == 0 {
				b.Str("x")
			} else {
				b.Int(v)
			}
		}
		var ev driver.Event
		if err := ev.Decode(b.End()); err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		c := &Ctx{Event: &ev, Users: testUsers{}}
		c.Reset()
		f, err := Bind("evt.arg."+tc.arg, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := f.Extract(c, 0); !ok || v.S != tc.want {
			t.Errorf("%s evt.arg.%s = %q (%v), want %q", tc.typ, tc.arg, v.S, ok, tc.want)
		}
	}

	// evt.rawarg stays the number.
	var b driver.Builder
	b.Begin(nil, driver.EvChmod, 1, 10, 10)
	var ev driver.Event
	if err := ev.Decode(b.Int(0).Str("/x").Int(0o4755).End()); err != nil {
		t.Fatal(err)
	}
	c := &Ctx{Event: &ev}
	c.Reset()
	raw, _ := Bind("evt.rawarg.mode", "", false)
	if v, ok := raw.Extract(c, 0); !ok || v.N != 0o4755 {
		t.Errorf("evt.rawarg.mode = %o %v, want 4755", v.N, ok)
	}
}
