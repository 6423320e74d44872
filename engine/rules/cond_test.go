// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestParseConditionTable(t *testing.T) {
	tests := []struct{ in, want string }{
		// precedence and associativity
		{"a and b or c", "a and b or c"},
		{"a or b and c", "a or b and c"},
		{"(a or b) and c", "(a or b) and c"},
		{"a and (b and c)", "a and (b and c)"},
		{"a or b or c", "a or b or c"},
		{"not a and b", "not a and b"},
		{"not (a and b)", "not (a and b)"},
		{"not not a", "not not a"},
		{"not not not (a or b)", "not not not (a or b)"},
		{"((((a))))", "a"},
		{"((a or (b and (c or d))))", "a or b and (c or d)"},
		// operators
		{"proc.name = sh", "proc.name = sh"},
		{"proc.name == sh", "proc.name == sh"},
		{"proc.name != sh", "proc.name != sh"},
		{"fd.num<0", "fd.num < 0"},
		{"fd.num<=0", "fd.num <= 0"},
		{"fd.num>1024", "fd.num > 1024"},
		{"fd.num>=-1", "fd.num >= -1"},
		{"proc.cmdline contains x", "proc.cmdline contains x"},
		{"proc.cmdline icontains x", "proc.cmdline icontains x"},
		{"evt.buffer bcontains 0a0b", "evt.buffer bcontains 0a0b"},
		{"fd.name startswith /etc/", "fd.name startswith /etc/"},
		{"evt.buffer bstartswith 7f454c46", "evt.buffer bstartswith 7f454c46"},
		{"fd.name endswith .so", "fd.name endswith .so"},
		{"fd.name glob /home/*/.ssh/*", "fd.name glob /home/*/.ssh/*"},
		{"fd.name iglob '*.PEM'", `fd.name iglob "*.PEM"`},
		{"fd.name pmatch (/etc, /usr/lib)", "fd.name pmatch (/etc, /usr/lib)"},
		{"proc.name in (a,b,  c)", "proc.name in (a, b, c)"},
		{"evt.arg.flags intersects (O_RDONLY, O_CREAT)", "evt.arg.flags intersects (O_RDONLY, O_CREAT)"},
		{`proc.cmdline regex "^sh -c .*"`, `proc.cmdline regex "^sh -c .*"`},
		{"proc.pname exists", "proc.pname exists"},
		{"not proc.pname exists or a", "not proc.pname exists or a"},
		// list values
		{`proc.name in ("a b", 'c', d, "")`, `proc.name in ("a b", "c", d, "")`},
		{"proc.name in ()", "proc.name in ()"},
		{"proc.name in (runc:[0:PARENT], x)", "proc.name in (runc:[0:PARENT], x)"},
		{"fd.sport in (80, 8080)", "fd.sport in (80, 8080)"},
		// fields
		{"proc.aname[2]=sh", "proc.aname[2] = sh"},
		{"proc.apid[3] = 1", "proc.apid[3] = 1"},
		{"evt.arg[0] = x", "evt.arg[0] = x"},
		{"evt.arg.flags contains O_TRUNC", "evt.arg.flags contains O_TRUNC"},
		{"container.label[io.kubernetes.pod.name] = web", "container.label[io.kubernetes.pod.name] = web"},
		{"k8s.pod.label[app]=nginx", "k8s.pod.label[app] = nginx"},
		// transformers and val()
		{"tolower(proc.name) = bash", "tolower(proc.name) = bash"},
		{"toupper(proc.name)=BASH", "toupper(proc.name) = BASH"},
		{"b64(evt.arg.data) contains x", "b64(evt.arg.data) contains x"},
		{"basename(proc.exepath) = sh", "basename(proc.exepath) = sh"},
		{"len(proc.args) > 100", "len(proc.args) > 100"},
		{"proc.name = val(proc.pname)", "proc.name = val(proc.pname)"},
		{"proc.name != val(proc.aname[2])", "proc.name != val(proc.aname[2])"},
		{"tolower(proc.name) = val(tolower(proc.pname))", "tolower(proc.name) = val(tolower(proc.pname))"},
		// quoting and escapes
		{`proc.cmdline = "sh -c \"x\""`, `proc.cmdline = "sh -c \"x\""`},
		{`proc.cmdline = 'it\'s'`, `proc.cmdline = "it's"`},
		{`proc.cmdline = "a\\b\tc\nd"`, `proc.cmdline = "a\\b\tc\nd"`},
		{`proc.cmdline = "x"and a`, `proc.cmdline = "x" and a`},
		{`fd.name = "val(x)"`, `fd.name = "val(x)"`},
		// bare words
		{"fd.name = /etc/passwd", "fd.name = /etc/passwd"},
		{"fd.name glob /tmp/*.sh", "fd.name glob /tmp/*.sh"},
		{"fd.name = a=b", "fd.name = a=b"},
		{"fd.name = x:y/z-1.2", "fd.name = x:y/z-1.2"},
		{"evt.is_open_read=true", "evt.is_open_read = true"},
		{"(fd.name=/etc)", "fd.name = /etc"},
		{"\n  a\n  and b", "a and b"},
	}
	for _, tt := range tests {
		n, err := ParseCondition(tt.in)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tt.in, err)
			continue
		}
		if got := n.String(); got != tt.want {
			t.Errorf("ParseCondition(%q) = %q, want %q", tt.in, got, tt.want)
			continue
		}
		n2, err := ParseCondition(n.String())
		if err != nil || n2.String() != tt.want {
			t.Errorf("round trip of %q: %v %v", tt.in, n2, err)
		}
	}
}

func TestParseConditionShape(t *testing.T) {
	n, err := ParseCondition("a or b and not c")
	if err != nil {
		t.Fatal(err)
	}
	or, ok := n.(*BinaryExpr)
	if !ok || or.Op != OpOr {
		t.Fatalf("root = %#v", n)
	}
	and, ok := or.Right.(*BinaryExpr)
	if !ok || and.Op != OpAnd {
		t.Fatalf("right = %#v", or.Right)
	}
	if _, ok := and.Right.(*NotExpr); !ok {
		t.Fatalf("and.right = %#v", and.Right)
	}

	n, err = ParseCondition("tolower(container.label[io.k8s/x]) in (l1, 'q', /x)")
	if err != nil {
		t.Fatal(err)
	}
	c := n.(*CompareExpr)
	if c.Field.Name != "container.label" || c.Field.Arg != "io.k8s/x" || c.Field.Transformer != "tolower" || c.Op != "in" {
		t.Fatalf("field = %+v op %q", c.Field, c.Op)
	}
	lv := c.Value.(*ListValue)
	if _, ok := lv.Items[0].(*ListRef); !ok {
		t.Errorf("item 0 = %#v, want ListRef", lv.Items[0])
	}
	if l, ok := lv.Items[1].(*Literal); !ok || !l.Quoted || l.Value != "q" {
		t.Errorf("item 1 = %#v", lv.Items[1])
	}
	if l, ok := lv.Items[2].(*Literal); !ok || l.Quoted || l.Value != "/x" {
		t.Errorf("item 2 = %#v", lv.Items[2])
	}

	n, _ = ParseCondition("proc.name = val(proc.pname)")
	if fv, ok := n.(*CompareExpr).Value.(*FieldValue); !ok || fv.Field.Name != "proc.pname" {
		t.Errorf("val() = %#v", n.(*CompareExpr).Value)
	}
	n, _ = ParseCondition("x exists")
	if _, ok := n.(*MacroRef); ok {
		t.Error("x exists parsed as macro")
	}

	n, _ = ParseCondition("a and\n  proc.name = x")
	var fields []*Field
	Walk(n, func(n Node) bool {
		if f, ok := n.(*Field); ok {
			fields = append(fields, f)
		}
		return true
	})
	if len(fields) != 1 || fields[0].Line != 2 || fields[0].Col != 3 {
		t.Errorf("fields = %+v", fields)
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		in        string
		line, col int
		msg       string
	}{
		{"", 1, 1, "expected a field, macro name, 'not' or '(', found end of condition"},
		{"a and and", 1, 7, "expected a condition, found 'and'"},
		{"proc.name = ", 1, 13, "expected a value after '=', found end of condition"},
		{"proc.name", 1, 10, "expected comparison operator after proc.name, found end of condition"},
		{"proc.name foo x", 1, 11, "expected comparison operator after proc.name, found 'foo'"},
		{"proc.name in a", 1, 14, "expected '(' to start the list after 'in', found 'a'"},
		{"proc.name in (a b)", 1, 17, "expected ',' or ')' in list, found 'b'"},
		{"proc.name in (a,", 1, 17, "expected list item, found end of condition"},
		{"(a or b", 1, 8, "expected ')' to close '(' at 1:1, found end of condition"},
		{"a)", 1, 2, "unbalanced ')'"},
		{"a b", 1, 3, "expected 'and', 'or' or end of condition, found 'b'"},
		{"proc.name = 'abc", 1, 13, "unterminated string"},
		{"proc.aname[2 = x", 1, 11, "expected ']'"},
		{"foo(proc.name) = x", 1, 1, "unknown transformer 'foo'"},
		{"a = x", 1, 1, "expected a field name (like proc.name) before '='"},
		{"a and\n   proc.name in (x) or\n  b c", 3, 5, "found 'c'"},
		{"proc.name = (x)", 1, 13, "expected a value after '=', found '('"},
		{"proc.name = x and $", 1, 19, `unexpected character "$"`},
	}
	for _, tt := range tests {
		_, err := ParseCondition(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseCondition(%q) err = %v, want SyntaxError", tt.in, err)
			continue
		}
		if se.Line != tt.line || se.Col != tt.col || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("ParseCondition(%q) = %d:%d %q, want %d:%d containing %q", tt.in, se.Line, se.Col, se.Msg, tt.line, tt.col, tt.msg)
		}
	}
}

func TestDeepNesting(t *testing.T) {
	in := strings.Repeat("(", 5000) + "a" + strings.Repeat(")", 5000)
	if _, err := ParseCondition(in); err == nil {
		t.Fatal("expected nesting error")
	}
	if _, err := ParseCondition(strings.Repeat("not ", 5000) + "a"); err == nil {
		t.Fatal("expected nesting error")
	}
}
