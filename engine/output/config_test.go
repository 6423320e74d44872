// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// flagRE finds the flags a message names.
var flagRE = regexp.MustCompile(`--[a-z][a-z0-9-]*`)

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		cfg  Config
		flag string
		says []string
	}{
		{"format", Config{Stdout: true, Format: "yaml"}, "--output", []string{`"yaml"`, `"text" or "json"`}},
		{"scheme", Config{HTTPURL: "ftp://host/x"}, "--http-url", []string{`"ftp"`, "http://host:port/path"}},
		{"no scheme", Config{HTTPURL: "localhost:2801"}, "--http-url", []string{"not http or https"}},
		{"no host", Config{HTTPURL: "http:///path"}, "--http-url", []string{"no host"}},
		{"bad url", Config{HTTPURL: "http://[::1"}, "--http-url", []string{"http://host:port/path"}},
		{"program", Config{Program: "   "}, "--output-program", []string{"empty command", "reads alerts on stdin"}},
		{"file dir", Config{File: filepath.Join(dir, "nope", "a.txt")}, "--output-file", []string{"nope/a.txt", "no such file or directory", "directory that exists"}},
		{"queue", Config{Stdout: true, QueueSize: -1}, "--output-queue-size", []string{"-1", "0 for 1024"}},
		{"timeout", Config{HTTPURL: "http://127.0.0.1:1/", HTTPTimeout: -time.Second}, "--http-timeout", []string{"5s"}},
		{"header", Config{HTTPURL: "http://127.0.0.1:1/", HTTPHeaders: []string{"no colon"}}, "--http-header", []string{`"Name: value"`}},
		{"header name", Config{HTTPURL: "http://127.0.0.1:1/", HTTPHeaders: []string{"Bad Name: x"}}, "--http-header", []string{"Bad Name"}},
		{"header alone", Config{Stdout: true, HTTPHeaders: []string{"A: b"}}, "--http-header", []string{"--http-url"}},
		{"nothing", Config{}, "--no-stdout", []string{"no output", "drop --no-stdout", "--output-file", "--http-url", "--output-program"}},
	} {
		d, err := New(c.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Flag != c.flag {
			t.Errorf("%s: New = %v, %v; want a ConfigError for %s", c.name, d, err, c.flag)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, c.flag) {
			t.Errorf("%s: %q does not start with the flag", c.name, msg)
		}
		for _, s := range c.says {
			if !strings.Contains(msg, s) {
				t.Errorf("%s: %q does not say %q", c.name, msg, s)
			}
		}
		// cmd/vigil checks that FlagNames are its flags; every flag a
		// message names must be one of them.
		for _, f := range flagRE.FindAllString(msg, -1) {
			if !slices.Contains(FlagNames(), strings.TrimPrefix(f, "--")) {
				t.Errorf("%s: %q names %s, which is not in FlagNames", c.name, msg, f)
			}
		}
	}
}

// Every output the config enables gets the alert, in its format.
func TestConfigAllOutputs(t *testing.T) {
	dir := t.TempDir()
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
	}))
	defer srv.Close()
	var stdout testenv.Buffer
	file, prog := filepath.Join(dir, "file.json"), filepath.Join(dir, "prog.json")
	d, err := New(Config{
		Format: "json", Stdout: true, Writer: &stdout, File: file, HTTPURL: srv.URL, HTTPHeaders: []string{"Authorization: Bearer t0k"},
		Program: "cat >> " + prog, Version: "9.9", QueueSize: 3, Log: quietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := fixedAlert()
	d.Send(&a)
	r := <-got
	st := closeOK(t, d)
	if len(st) != 4 {
		t.Fatalf("%d outputs, want 4: %v", len(st), st)
	}
	for _, s := range st {
		if s.Sent != 1 {
			t.Errorf("%v", s)
		}
	}
	if r.Header.Get("Authorization") != "Bearer t0k" || r.Header.Get("User-Agent") != "vigil/9.9" {
		t.Errorf("request headers %v", r.Header)
	}
	for name, text := range map[string]string{"stdout": stdout.String(), "file": strings.Join(readLines(t, file), "\n"), "program": strings.Join(readLines(t, prog), "\n")} {
		var back map[string]any
		if err := json.Unmarshal([]byte(text), &back); err != nil || back["rule"] != a.Rule {
			t.Errorf("%s got %q (%v), want the JSON alert", name, text, err)
		}
	}
}
