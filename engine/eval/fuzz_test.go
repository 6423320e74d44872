// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"testing"

	"github.com/vigil-dev/vigil/engine/rules"
)

func FuzzOutputTemplate(f *testing.F) {
	for _, s := range []string{
		"file=%fd.name user=%user.name", "%proc.aname[2] %evt.arg.flags", "%tolower(proc.name)", "100%", "%%x",
		"%proc.aname[", "%tolower(proc.name", "%fd.name.", "%nosuch.field", "%proc.aname", "%len(proc.pid)", "%evt.arg[1]",
	} {
		f.Add(s)
	}
	w := newWorld(f)
	c := w.openat(f, 200, 3, "/etc/shadow", 0)
	f.Fuzz(func(t *testing.T, s string) {
		tm, errs := parseTemplate(s)
		if len(errs) == 0 {
			tm.render(c)
		}
	})
}

func FuzzCompileCondition(f *testing.F) {
	for _, s := range []string{
		"evt.type = open and fd.name startswith /etc", "proc.aname in (a, b) or not proc.pname exists",
		"fd.snet in (10.0.0.0/8)", "fd.num > val(proc.pid)", "tolower(proc.name) glob '[a-'", "fd.name pmatch (/e*/x)",
		"evt.type in (nosuch)", "proc.pid = abc", "fd.name regex '('", "evt.arg.flags contains O_", "len(proc.args) >= 0x10",
	} {
		f.Add(s)
	}
	w := newWorld(f)
	c := w.openat(f, 200, 3, "/etc/shadow", 0)
	nm := &names{tab: w.tab}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := rules.ParseCondition(s)
		if err != nil {
			return
		}
		failed := false
		cc := &compiler{tab: nm, errAt: func(rules.Node, string, string) { failed = true }}
		node := cc.node(n)
		nm.eventKeys(n)
		if !failed {
			node.eval(c)
		}
	})
}
