// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const passwdText = `# a comment
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh
broken line without colons
bob:x:notanumber:1000::/home/bob:/bin/sh
toomany:x:5:5:a:b:c:d
shadow:x:1000:1000::/home/shadow:/bin/sh
+nisuser
crlf:x:1001:1001::/home/crlf:/bin/sh` + "\r\n"

const groupText = `root:x:0:
wheel:x:10:alice,bob
users:x:100:
bad:x:
:x:7:
`

func writeRoot(t *testing.T, passwd, group string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"passwd": passwd, "group": group} {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestUsersFromRoot(t *testing.T) {
	u, err := NewUsers(writeRoot(t, passwdText, groupText))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		uid  uint32
		want User
	}{
		{0, User{UID: 0, Name: "root", Home: "/root", Shell: "/bin/bash"}},
		{1000, User{UID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/zsh"}}, // first wins over "shadow"
		{1001, User{UID: 1001, Name: "crlf", Home: "/home/crlf", Shell: "/bin/sh"}},
	} {
		if got, ok := u.User(c.uid); !ok || got != c.want {
			t.Errorf("User(%d) = %+v %v, want %+v", c.uid, got, ok, c.want)
		}
	}
	if _, ok := u.User(5); ok {
		t.Error("a line with 8 fields was taken as uid 5")
	}
	if _, ok := u.User(4242); ok {
		t.Error("unknown uid found")
	}
	if g, ok := u.Group(10); !ok || g.Name != "wheel" {
		t.Errorf("Group(10) = %+v %v", g, ok)
	}
	if _, ok := u.Group(7); ok {
		t.Error("a group without a name was taken")
	}
	// broken, bob, toomany in passwd; bad and the nameless one in group.
	if n := u.Malformed(); n != 5 {
		t.Errorf("Malformed = %d, want 5", n)
	}
	if a := testing.AllocsPerRun(1000, func() {
		u.User(1000)
		u.Group(10)
	}); a != 0 {
		t.Errorf("lookups allocate %.1f times", a)
	}
}

func TestUsersReloadOnChange(t *testing.T) {
	root := writeRoot(t, passwdText, groupText)
	u, err := NewUsers(root)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	u.now = func() time.Time { return clock }
	path := filepath.Join(root, "etc", "passwd")
	if err := os.WriteFile(path, []byte(passwdText+"carol:x:2000:2000::/home/carol:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Within the second after the last check the files are not looked at.
	if _, ok := u.User(2000); ok {
		t.Error("reloaded before a second passed")
	}
	clock = clock.Add(1100 * time.Millisecond)
	if got, ok := u.User(2000); !ok || got.Name != "carol" {
		t.Fatalf("after the change and a second, User(2000) = %+v %v", got, ok)
	}
	// Unchanged files are not read again: the snapshot stays.
	snap := u.cur.Load()
	clock = clock.Add(2 * time.Second)
	u.User(0)
	if u.cur.Load() != snap {
		t.Error("unchanged files were read again")
	}
	// A removed file empties the table.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Second)
	if _, ok := u.User(0); ok {
		t.Error("a removed passwd still resolves")
	}
}

func TestUsersMissingAndUnreadable(t *testing.T) {
	u, err := NewUsers(t.TempDir()) // no etc at all: a minimal image
	if err != nil {
		t.Fatalf("missing files: %v", err)
	}
	if _, ok := u.User(0); ok {
		t.Error("empty root resolves uid 0")
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc", "passwd"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = NewUsers(root)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "etc", "passwd")) {
		t.Errorf("passwd is a directory: err = %v, want one naming the file", err)
	}
}

// Lookups from many goroutines while the files change: the race detector
// checks the snapshot hand-over.
func TestUsersConcurrentReload(t *testing.T) {
	root := writeRoot(t, passwdText, groupText)
	u, err := NewUsers(root)
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64
	u.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	u.nextCheck.Store(0) // check on every lookup from now on
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				if usr, ok := u.User(0); !ok || usr.Name != "root" {
					t.Errorf("User(0) = %+v %v during reloads", usr, ok)
					return
				}
				u.nextCheck.Store(0)
			}
		}()
	}
	for i := 0; i < 20; i++ {
		extra := "u" + strings.Repeat("x", i) + ":x:3000:3000::/:/bin/sh\n"
		if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte(passwdText+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	// Once the writes have settled, the last version is read.
	offset.Store(int64(2 * time.Second))
	u.nextCheck.Store(0)
	if usr, ok := u.User(3000); !ok || usr.Name != "u"+strings.Repeat("x", 19) {
		t.Errorf("after the writes settled User(3000) = %+v %v", usr, ok)
	}
}
