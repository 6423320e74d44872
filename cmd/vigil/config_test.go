// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/engine/output"
)

func writeConfig(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "vigil.yaml")
}

// runWithConfig runs `vigil run ARGS` with an action that only applies the
// config file, and returns the context it ran with.
func runWithConfig(t *testing.T, args ...string) (*cli.Context, error) {
	t.Helper()
	cmd := runCommand()
	var got *cli.Context
	cmd.Action = func(c *cli.Context) error {
		got = c
		return applyConfig(c)
	}
	app := &cli.App{Commands: []*cli.Command{cmd}, ExitErrHandler: func(*cli.Context, error) {}}
	err := app.Run(append([]string{"vigil", "run"}, args...))
	return got, err
}

func TestConfigMergeAndFlagsWin(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]string{
		"vigil.yaml": `
rules_files: [/etc/vigil/a.yaml, /etc/vigil/b.yaml]
priority: warning
rule_matching: all
json_output: true
stdout_output: {enabled: false}
file_output: {enabled: true, filename: /var/log/vigil.json, keep_alive: false}
program_output: {enabled: false, program: "logger"}
webserver: {enabled: true, listen_port: 9000}
driver: {kind: bpf, repos: [https://a.example, https://b.example]}
buffer_size: 16MiB
`,
		// config.d merges in lexical order: 20 overrides 10.
		"config.d/20-late.yaml":  "buffer_size: 32MiB\n",
		"config.d/10-early.yaml": "buffer_size: 4MiB\nhttp_output: {enabled: true, url: http://127.0.0.1:2801/}\n",
		"config.d/ignored.txt":   "not: yaml",
	})
	c, err := runWithConfig(t, "--config", path, "--min-priority", "error", "--repo", "/mirror")
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"min-priority":    "error", // the flag wins
		output.FlagFormat: "json", output.FlagFile: "/var/log/vigil.json", output.FlagHTTPURL: "http://127.0.0.1:2801/",
		output.FlagProgram: "", flagWebListen: "127.0.0.1:9000", "driver": "bpf", "buffer-size": "32MiB",
	} {
		if got := c.String(flag); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
	if !c.Bool("all-matches") {
		t.Error("rule_matching: all did not set --all-matches")
	}
	if !c.Bool(output.FlagNoStdout) {
		t.Error("stdout_output.enabled: false did not set --no-stdout")
	}
	if got := c.StringSlice("rules"); !slices.Equal(got, []string{"/etc/vigil/a.yaml", "/etc/vigil/b.yaml"}) {
		t.Errorf("--rules = %q", got)
	}
	if got := c.StringSlice("repo"); !slices.Equal(got, []string{"/mirror"}) {
		t.Errorf("--repo = %q, want the flag's alone", got)
	}
}

func TestConfigErrorsArePlaced(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]string{"vigil.yaml": `rules_file: [x.yaml]
json_output: "yes please"
webserver:
  listen_port: high
  enabeld: true
file_output: [a]
metrics: {interval: soon}
rules_files: [{a: 1}]
`})
	_, err := runWithConfig(t, "--config", path)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		path + `:1:1: unknown key "rules_file" (did you mean "rules_files"?)`,
		path + `:2:14: json_output: want true or false, not "yes please"`,
		path + `:4:16: webserver.listen_port: want an integer, not "high"`,
		path + `:5:3: unknown key "webserver.enabeld" (did you mean "enabled"?)`,
		path + `:6:14: file_output: want a mapping of keys`,
		path + `:7:21: metrics.interval: want a duration such as 30s, not "soon"`,
		path + `:8:14: rules_files: want a list of strings`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestConfigMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	if _, _, err := loadConfig(missing, true); err != nil {
		t.Errorf("the default file, missing: %v", err)
	}
	if _, err := runWithConfig(t, "--config", missing); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("an explicit missing file: %v", err)
	}
}

func TestConfigRulesDirectory(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]string{
		"vigil.yaml":     "rules_files: [" + filepath.Join(dir, "rules.d") + "]\n",
		"rules.d/b.yaml": "- list: b\n  items: []\n",
		"rules.d/a.yml":  "- list: a\n  items: []\n",
	})
	c, err := runWithConfig(t, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "rules.d/a.yml"), filepath.Join(dir, "rules.d/b.yaml")}
	if got := c.StringSlice("rules"); !slices.Equal(got, want) {
		t.Errorf("--rules = %q, want %q", got, want)
	}
}

// TestConfigREADMEExample keeps the README's example file valid.
func TestConfigREADMEExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "### Configuration file")
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README.md has no example configuration file")
	}
	path := writeConfig(t, t.TempDir(), map[string]string{"vigil.yaml": example})
	cfg, _, err := loadConfig(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Webserver.listen() != "127.0.0.1:8765" || !metricsEnabled(cfg) {
		t.Errorf("webserver %s, metrics %v", cfg.Webserver.listen(), metricsEnabled(cfg))
	}
}

// TestConfigFalcoKeysIgnored: a falco.yaml loads; the keys vigil does not
// implement are named with their place, not refused.
func TestConfigFalcoKeysIgnored(t *testing.T) {
	path := writeConfig(t, t.TempDir(), map[string]string{"vigil.yaml": `log_level: info
plugins: [{name: k8saudit}]
http_output: {enabled: false, insecure: true}
json_output: true
`})
	cfg, _, err := loadConfig(path, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{path + ":1:1: log_level", path + ":2:1: plugins", path + ":3:31: http_output.insecure"}
	if !slices.Equal(cfg.ignored, want) || cfg.JSONOutput == nil || !*cfg.JSONOutput {
		t.Errorf("ignored %q, want %q; json_output %v", cfg.ignored, want, cfg.JSONOutput)
	}
}
