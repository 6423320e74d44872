// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"bytes"
	"os"
	"testing"
)

// Both drivers' copies of the header (the kernel module's directory is
// built on its own, in a container) must match the schema.
func TestHeaderIsFresh(t *testing.T) {
	for _, p := range []string{"include/vigil_schema.h", "../kmod/vigil_schema.h"} {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read header: %v (run `go generate ./driver/...`)", err)
		}
		if !bytes.Equal(got, CHeader()) {
			t.Errorf("%s is stale: run `go generate ./driver/...` and commit the result", p)
		}
	}
}

func TestSchemaIsWellFormed(t *testing.T) {
	tab, err := NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]EventType{}
	for et := EventType(0); et < EvTypeMax; et++ {
		info := et.Info()
		if info.Name == "" {
			t.Errorf("event %d has no name", et)
		}
		if len(info.Params) > MaxParams {
			t.Errorf("%s has %d params, more than MaxParams=%d", et, len(info.Params), MaxParams)
		}
		if info.Dir == Exit && et != EvGeneric && info.Params[0].Name != "res" {
			t.Errorf("%s: the first parameter of an exit event must be res", et)
		}
		key := et.String()
		if prev, dup := seen[key]; dup {
			t.Errorf("%s and %d share the name %q", et, prev, key)
		}
		seen[key] = et
		for _, sc := range info.Syscalls {
			nr, ok := tab.Nr(sc)
			if !ok {
				t.Errorf("%s names unknown syscall %q", et, sc)
				continue
			}
			if info.Dir == Enter {
				if got, _ := tab.EnterEvent(nr); got != et {
					t.Errorf("enter event of %s = %s, want %s", sc, got, et)
				}
			} else if got := tab.ExitEvent(nr); got != et {
				t.Errorf("exit event of %s = %s, want %s", sc, got, et)
			}
		}
	}
	// A syscall without an event of its own is generic.
	nr, _ := tab.Nr("getppid")
	if got := tab.ExitEvent(nr); got != EvGeneric {
		t.Errorf("getppid exit event = %s, want syscall (generic)", got)
	}
	if _, ok := tab.EnterEvent(nr); ok {
		t.Error("getppid has an entry event; only time-of-check-sensitive syscalls should")
	}
}

func TestUnsupportedArch(t *testing.T) {
	if _, err := NewSyscallTable("mips"); err == nil {
		t.Fatal("want an error for an unsupported arch")
	}
}
