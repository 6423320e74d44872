// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// fixedAlert is Falco's documented "Write below binary dir" example, with
// fields of every JSON type.
func fixedAlert() Alert {
	return Alert{
		Time:     time.Date(2017, 10, 9, 23, 31, 56, 746609046, time.UTC),
		Rule:     "Write below binary dir",
		Priority: "Error",
		Source:   "syscall",
		Tags:     []string{"mitre_persistence", "filesystem", "filesystem"},
		Hostname: "node-1",
		Output:   "File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack parent=<NA>)",
		OutputFields: map[string]any{
			"user.name":               "root",
			"proc.cmdline":            "touch /bin/hack",
			"fd.name":                 "/bin/hack",
			"proc.pid":                int64(4242),
			"user.uid":                uint32(0),
			"user.loginuid":           -1,
			"proc.is_exe_upper_layer": false,
			"proc.pname":              nil,
		},
	}
}

const (
	goldenText = "23:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack parent=<NA>)"
	goldenJSON = `{"hostname":"node-1",` +
		`"output":"23:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack parent=<NA>)",` +
		`"output_fields":{"evt.time":1507591916746609046,"fd.name":"/bin/hack","proc.cmdline":"touch /bin/hack","proc.is_exe_upper_layer":false,` +
		`"proc.pid":4242,"proc.pname":null,"user.loginuid":-1,"user.name":"root","user.uid":0},` +
		`"priority":"Error","rule":"Write below binary dir","source":"syscall","tags":["filesystem","mitre_persistence"],` +
		`"time":"2017-10-09T23:31:56.746609046Z"}`
)

func TestTextGolden(t *testing.T) {
	a := fixedAlert()
	e := Encoder{Format: Text, Location: time.UTC}
	if got := string(e.AppendLine(nil, &a)); got != goldenText+"\n" {
		t.Errorf("text line\n got %q\nwant %q", got, goldenText+"\n")
	}
	// Falco prints the prefix in local time: another zone, another clock
	// (and here another day, which the text form does not show).
	e.Location = time.FixedZone("UTC+2", 2*3600)
	if got := string(e.AppendText(nil, &a)); !strings.HasPrefix(got, "01:31:56.746609046: Error File below") {
		t.Errorf("text in UTC+2 = %q", got)
	}
}

func TestTextKeepsOneLine(t *testing.T) {
	a := fixedAlert()
	a.Output = "cmd=sh -c 'x\n23:00:00.000000000: Critical forged\r'"
	e := Encoder{Location: time.UTC}
	got := string(e.AppendText(nil, &a))
	if strings.ContainsAny(got, "\n\r") {
		t.Fatalf("text line holds a raw line break: %q", got)
	}
	if want := `x\n23:00:00.000000000: Critical forged\r'`; !strings.HasSuffix(got, want) {
		t.Errorf("got %q, want it to end in %q", got, want)
	}
}

func TestJSONGolden(t *testing.T) {
	a := fixedAlert()
	e := Encoder{Format: JSON, Location: time.UTC}
	got := e.AppendJSON(nil, &a)
	if string(got) != goldenJSON {
		t.Errorf("json\n got %s\nwant %s", got, goldenJSON)
	}
	// The same encoder again gives the same bytes (scratch reuse).
	if again := e.AppendJSON(nil, &a); !bytes.Equal(again, got) {
		t.Errorf("second encoding differs:\n%s\n%s", again, got)
	}
}

// TestJSONParsesBack reads the object with encoding/json and checks every
// key, in Falco's order, and the type of every value.
func TestJSONParsesBack(t *testing.T) {
	a := fixedAlert()
	e := Encoder{Format: JSON, Location: time.UTC}
	line := e.AppendLine(nil, &a)
	if line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", line)
	}

	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("first token %v, %v", tok, err)
	}
	var keys []string
	got := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("value of %s: %v", k, err)
		}
		keys = append(keys, k)
		got[k] = v
	}
	wantKeys := []string{"hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"}
	if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("keys %v, want %v", keys, wantKeys)
	}

	for k, want := range map[string]string{
		"hostname": "node-1", "output": goldenText, "priority": "Error", "rule": "Write below binary dir", "source": "syscall",
		"time": "2017-10-09T23:31:56.746609046Z",
	} {
		if s, ok := got[k].(string); !ok || s != want {
			t.Errorf("%s = %#v, want string %q", k, got[k], want)
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, got["time"].(string))
	if err != nil || !ts.Equal(a.Time) {
		t.Errorf("time parses as %v (%v), want %v", ts, err, a.Time)
	}
	tags, ok := got["tags"].([]any)
	if !ok || len(tags) != 2 || tags[0] != "filesystem" || tags[1] != "mitre_persistence" {
		t.Errorf("tags = %#v, want sorted unique strings", got["tags"])
	}

	fields, ok := got["output_fields"].(map[string]any)
	if !ok {
		t.Fatalf("output_fields = %#v", got["output_fields"])
	}
	num := func(k, want string) {
		if n, ok := fields[k].(json.Number); !ok || n.String() != want {
			t.Errorf("output_fields[%s] = %#v, want number %s", k, fields[k], want)
		}
	}
	num("evt.time", "1507591916746609046")
	num("proc.pid", "4242")
	num("user.uid", "0")
	num("user.loginuid", "-1")
	for k, want := range map[string]string{"user.name": "root", "proc.cmdline": "touch /bin/hack", "fd.name": "/bin/hack"} {
		if s, ok := fields[k].(string); !ok || s != want {
			t.Errorf("output_fields[%s] = %#v, want %q", k, fields[k], want)
		}
	}
	if b, ok := fields["proc.is_exe_upper_layer"].(bool); !ok || b {
		t.Errorf("proc.is_exe_upper_layer = %#v, want false", fields["proc.is_exe_upper_layer"])
	}
	if v, ok := fields["proc.pname"]; !ok || v != nil {
		t.Errorf("proc.pname = %#v (present %v), want null", v, ok)
	}
	if len(fields) != 9 {
		t.Errorf("output_fields has %d keys, want 9: %v", len(fields), fields)
	}
}

func TestJSONEmptyAndOverride(t *testing.T) {
	a := Alert{Time: time.Unix(0, 5).UTC(), OutputFields: map[string]any{"evt.time": "12:00:00"}}
	e := Encoder{Format: JSON, Location: time.UTC}
	got := string(e.AppendJSON(nil, &a))
	want := `{"hostname":"","output":"00:00:00.000000005:  ","output_fields":{"evt.time":5},"priority":"","rule":"","source":"","tags":[],"time":"1970-01-01T00:00:00.000000005Z"}`
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

// Strings from the watched system can hold anything: control characters,
// quotes, invalid UTF-8. The JSON must stay valid and mean the same text.
func TestJSONEscapes(t *testing.T) {
	nasty := []string{"\x00\x01\x1f\x7f", "tab\there \"quoted\" back\\slash", "\xff\xfeend", "cut\xc3", "\u2028\u2029", "é日本\U0001F600", "line\nbreak\r"}
	for _, s := range nasty {
		a := fixedAlert()
		a.Output = s
		a.Rule = s
		a.Tags = []string{s}
		a.OutputFields = map[string]any{s: s, "b": []byte(s)}
		e := Encoder{Format: JSON, Location: time.UTC}
		line := e.AppendJSON(nil, &a)
		var back struct {
			Output       string         `json:"output"`
			Rule         string         `json:"rule"`
			Tags         []string       `json:"tags"`
			OutputFields map[string]any `json:"output_fields"`
		}
		if err := json.Unmarshal(line, &back); err != nil {
			t.Errorf("%q: %s does not parse: %v", s, line, err)
			continue
		}
		want := string([]rune(s)) // each invalid byte reads U+FFFD
		if back.Rule != want || back.Tags[0] != want || back.OutputFields[want] != want || back.OutputFields["b"] != want {
			t.Errorf("%q: parsed back as rule %q tags %q fields %q", s, back.Rule, back.Tags, back.OutputFields)
		}
		if !strings.HasSuffix(back.Output, " Error "+want) {
			t.Errorf("%q: output %q", s, back.Output)
		}
	}
}

func TestJSONValueTypes(t *testing.T) {
	a := Alert{Time: time.Unix(1, 0), OutputFields: map[string]any{
		"f": 1.5, "nan": nanValue(), "i8": int8(-8), "u64": uint64(1 << 63), "list": []string{"a", "b"},
		"dur": 2 * time.Second, "odd": struct{ X int }{3},
	}}
	e := Encoder{Format: JSON}
	var back struct {
		F map[string]any `json:"output_fields"`
	}
	line := e.AppendJSON(nil, &a)
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	for k, want := range map[string]any{"f": 1.5, "nan": nil, "i8": -8.0, "u64": float64(1 << 63), "dur": "2s", "odd": "{3}"} {
		if back.F[k] != want {
			t.Errorf("%s = %#v, want %#v", k, back.F[k], want)
		}
	}
	if l, ok := back.F["list"].([]any); !ok || len(l) != 2 || l[1] != "b" {
		t.Errorf("list = %#v", back.F["list"])
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"text": Text, "": Text, "JSON": JSON, " json ": JSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), `"json"`) {
		t.Errorf("ParseFormat(xml) error = %v", err)
	}
}

// Encoding runs once per alert per output: once warm it allocates nothing.
func TestEncodeAllocs(t *testing.T) {
	a := fixedAlert()
	for _, f := range []Format{Text, JSON} {
		e := Encoder{Format: f}
		buf := e.AppendLine(nil, &a)
		if n := testing.AllocsPerRun(200, func() { buf = e.AppendLine(buf[:0], &a) }); n != 0 {
			t.Errorf("%v: %v allocations per alert", f, n)
		}
	}
}

func FuzzJSON(f *testing.F) {
	f.Add("plain", "proc.name", "bash", "tag")
	f.Add("\x00\"\\\n", "\xff", "\u2028", "")
	f.Add("é日本\U0001F600", "evt.time", "\xed\xa0\x80", "a,b")
	f.Fuzz(func(t *testing.T, output, key, value, tag string) {
		a := Alert{Time: time.Unix(0, 42), Rule: value, Priority: "Notice", Output: output, Tags: []string{tag},
			OutputFields: map[string]any{key: value}}
		e := Encoder{Format: JSON, Location: time.UTC}
		line := e.AppendJSON(nil, &a)
		var back struct {
			Output string         `json:"output"`
			Rule   string         `json:"rule"`
			Tags   []string       `json:"tags"`
			Fields map[string]any `json:"output_fields"`
		}
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		valid := func(s string) string { return string([]rune(s)) }
		if back.Output != "00:00:00.000000042: Notice "+valid(output) || back.Rule != valid(value) || len(back.Tags) != 1 || back.Tags[0] != valid(tag) {
			t.Fatalf("round trip of %q: %+v", line, back)
		}
		if valid(key) != evtTime {
			if back.Fields[valid(key)] != valid(value) {
				t.Fatalf("field %q = %#v, want %q", key, back.Fields[valid(key)], value)
			}
		} else if n, ok := back.Fields[evtTime].(float64); !ok || n != 42 {
			t.Fatalf("evt.time = %#v", back.Fields[evtTime])
		}
	})
}
