// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

var condSeeds = []string{
	"(evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0)",
	"(not proc.name in (\"<NA>\",\"N/A\"))",
	"(proc.aname[2]=chef_command_wr or proc.aname[3]=chef_command_wr or proc.name=chef-client)",
	"(proc.cmdline startswith \"sh -c envdir \\\"/run/etc/wal-e.d/env\\\" wal-g wal-push\")",
	"(not proc.pname exists or proc.pname in (runc:[0:PARENT], runc:[1:CHILD], runc))",
	"spawned_process and container and evt.rawres in (0, 1, 2) and fd.type in (\"ipv4\", \"ipv6\")",
	"tolower(proc.name) = val(proc.pname) and container.label[io.kubernetes.pod.name] glob 'web-*'",
	"a or b and not (c or d)",
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range condSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		n, err := ParseCondition(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not *SyntaxError", err)
			}
			if se.Offset < 0 || se.Offset > len(src) || se.Line < 1 || se.Col < 1 {
				t.Fatalf("error position %+v outside input of length %d", se.Pos, len(src))
			}
			return
		}
		s1 := n.String()
		n2, err := ParseCondition(s1)
		if err != nil {
			t.Fatalf("String() %q does not reparse: %v", s1, err)
		}
		if s2 := n2.String(); s2 != s1 {
			t.Fatalf("round trip differs:\n%q\n%q", s1, s2)
		}
	})
}

func FuzzLoad(f *testing.F) {
	// A slice of the fixture: the whole file is too big for the fuzzer's
	// minimizer to be useful.
	if data, err := os.ReadFile(fixture); err == nil {
		if i := bytes.Index(data, []byte("\n- rule:")); i > 0 && i < 12000 {
			data = data[:i]
		} else if len(data) > 8000 {
			data = data[:8000]
		}
		f.Add(data)
	}
	f.Add([]byte(baseRules))
	f.Add([]byte("- macro: a\n  condition: b\n- macro: b\n  condition: a\n- rule: r\n  desc: d\n  output: o\n  priority: info\n  condition: a\n"))
	f.Add([]byte("- list: a\n  items: [b]\n- list: b\n  items: [a]\n"))
	f.Add([]byte("- rule: r\n  condition: >\n    x and\n  append: true\n"))
	f.Add([]byte("- rule: r\n  desc: d\n  output: o\n  priority: info\n  condition: a.b exists\n  exceptions:\n    - name: e\n      fields: [a.b, c.d]\n      values: [[x, [y]]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Load("fuzz.yaml", data)
		if s == nil {
			t.Fatal("nil set")
		}
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not a non-empty ErrorList", err)
			}
			for _, e := range list {
				if e.Line < 1 || e.Col < 1 {
					t.Fatalf("bad position in %v", e)
				}
			}
		}
	})
}
