// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/output"
)

// dropAndExecute is an event "Drop and execute new binary in container"
// (tags container, mitre_persistence, …) alerts on.
func dropAndExecute(t *testing.T) *fields.Ctx {
	w, runc := containerWorld(t)
	x := w.child(runc.PID, 1001, "xmrig", "/tmp/xmrig")
	x.ExeFlags = driver.ExeUpperLayer
	x.SID = 1
	return w.execve(t, x)
}

func upstreamWith(t *testing.T, opts Options) *Program {
	t.Helper()
	p, err := Compile(loadUpstream(t), opts)
	if err != nil {
		t.Fatalf("compile upstream: %v", err)
	}
	return p
}

func oneAlert(t *testing.T, p *Program, c *fields.Ctx) (string, map[string]any) {
	t.Helper()
	as := alerts(p, c)
	if len(as) != 1 {
		t.Fatalf("want one alert, got %d", len(as))
	}
	return as[0].Output, as[0].OutputFields
}

func TestSuggestedOutput(t *testing.T) {
	const id = "0123456789ab"
	text, vals := oneAlert(t, upstreamWith(t, Options{SuggestedOutput: true}), dropAndExecute(t))
	if want := " exe_flags=EXE_UPPER_LAYER container_id=" + id + " container_name=app"; !strings.HasSuffix(text, want) {
		t.Errorf("output %q\ndoes not end with %q", text, want)
	}
	if vals["container.id"] != id || vals["container.name"] != "app" {
		t.Errorf("output_fields container.id=%#v container.name=%#v", vals["container.id"], vals["container.name"])
	}

	text, vals = oneAlert(t, upstreamWith(t, Options{}), dropAndExecute(t))
	if _, ok := vals["container.id"]; ok || strings.Contains(text, "container_id=") {
		t.Errorf("without suggested output: %q %v", text, vals)
	}
}

// A rule that names a suggested field already is left as it is.
func TestSuggestedOutputNamed(t *testing.T) {
	p, err := compileRule(t, "evt.type = execve and evt.dir = <", "started in %container.name", Options{SuggestedOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.rules[0].out.segs; len(got) != 4 || got[3].key != "container.id" || got[2].lit != " container_id=" {
		t.Errorf("segments %+v: want only container_id appended", got)
	}
}

func TestAppendOutputMatch(t *testing.T) {
	opts := Options{Append: []AppendOutput{
		{Tags: []string{"container", "mitre_persistence"}, ExtraOutput: "on CPU %evt.cpu",
			ExtraFields: []ExtraField{{Key: "proc.pid"}, {Key: "where", Format: "in %container.image.repository"}}},
		{Tags: []string{"no_such_tag"}, ExtraOutput: "never"},
		{Rule: "Drop and execute new binary in container", Source: "syscall", ExtraOutput: "(second)"},
	}, SuggestedOutput: true}
	text, vals := oneAlert(t, upstreamWith(t, opts), dropAndExecute(t))
	if want := " exe_flags=EXE_UPPER_LAYER on CPU 1 (second) container_id=0123456789ab container_name=app"; !strings.HasSuffix(text, want) {
		t.Errorf("output %q\ndoes not end with %q", text, want)
	}
	if vals["where"] != "in debian" || vals["proc.pid"] == nil {
		t.Errorf("extra fields: where=%#v proc.pid=%#v", vals["where"], vals["proc.pid"])
	}
	if _, ok := vals["evt.cpu"]; !ok {
		t.Errorf("extra_output's field is not in output_fields: %v", vals)
	}
	if strings.Contains(text, "in debian") {
		t.Errorf("an extra field is in the text: %q", text)
	}

	// An entry for another tag leaves the rule alone.
	opts.Append = opts.Append[1:2]
	text, _ = oneAlert(t, upstreamWith(t, opts), dropAndExecute(t))
	if strings.Contains(text, "never") {
		t.Errorf("an entry for other tags applied: %q", text)
	}
}

func TestAppendOutputUnknownField(t *testing.T) {
	bad := []AppendOutput{{Tags: []string{"container"}, ExtraOutput: "on %proc.nosuch"}}
	err := CheckAppend(bad)
	if err == nil || !strings.Contains(err.Error(), "append_output entry 1: extra_output \"on %proc.nosuch\", at byte 4") {
		t.Fatalf("CheckAppend: %v", err)
	}
	_, err = Compile(loadUpstream(t), Options{Append: bad})
	if err == nil || !strings.Contains(err.Error(), "append_output entry 1") || !strings.Contains(err.Error(), "proc.nosuch") {
		t.Fatalf("Compile: %v", err)
	}
	if err := CheckAppend([]AppendOutput{{ExtraFields: []ExtraField{{Key: "proc.nosuch"}}}}); err == nil ||
		!strings.Contains(err.Error(), "extra_fields proc.nosuch") {
		t.Fatalf("CheckAppend extra_fields: %v", err)
	}
}

// On the host the suggested fields read "host", as Falco's do; in JSON
// they are output_fields keys.
func TestSuggestedOutputHostJSON(t *testing.T) {
	w := newWorld(t)
	w.child(200, 300, "cat", "/usr/bin/cat", "/etc/shadow")
	c := w.openat(t, 300, 3, "/etc/shadow", unix.O_RDONLY)
	as := alerts(upstreamWith(t, Options{SuggestedOutput: true}), c)
	if len(as) != 1 {
		t.Fatalf("want one alert, got %d", len(as))
	}
	if !strings.HasSuffix(as[0].Output, " container_id=host container_name=host") {
		t.Errorf("output %q", as[0].Output)
	}
	enc := output.Encoder{Format: output.JSON, Location: time.UTC}
	line := string(enc.AppendJSON(nil, as[0]))
	if !strings.Contains(line, `"container.id":"host","container.name":"host"`) {
		t.Errorf("JSON lacks the suggested output_fields: %s", line)
	}
}
