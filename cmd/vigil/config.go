// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/internal/editdist"
)

// This file is vigil run's configuration file: Falco's falco.yaml keys
// where they mean the same, and vigil's own. The file only fills in flags
// the user did not set, so flags (and their environment variables) win
// and the rest of run reads flags alone.

const (
	defaultConfigFile = "/etc/vigil/vigil.yaml"
	flagConfig        = "config"
	// configMetadata is where the loaded file waits in cli.App.Metadata
	// for the settings that are no flag (the web server's).
	configMetadata = "vigil.config"
)

func configFlag() cli.Flag {
	return &cli.StringFlag{Name: flagConfig, Value: defaultConfigFile, EnvVars: []string{"VIGIL_CONFIG"}, TakesFile: true,
		Usage: "configuration `FILE` (falco.yaml keys), then the files of the config.d directory beside it in lexical order; flags override it"}
}

// fileConfig is the file's schema. Pointers tell a key that is absent
// from one set to its zero value, so that config.d files override only
// what they name.
type fileConfig struct {
	RulesFiles    []string      `yaml:"rules_files"`
	Priority      *string       `yaml:"priority"`
	RuleMatching  *string       `yaml:"rule_matching"` // first or all: --all-matches
	JSONOutput    *bool         `yaml:"json_output"`
	StdoutOutput  stdoutOutput  `yaml:"stdout_output"`
	FileOutput    fileOutput    `yaml:"file_output"`
	HTTPOutput    httpOutput    `yaml:"http_output"`
	ProgramOutput programOutput `yaml:"program_output"`
	Webserver     webserverConf `yaml:"webserver"`
	Metrics       metricsConf   `yaml:"metrics"`
	Driver        driverConf    `yaml:"driver"`
	BufferSize    *string       `yaml:"buffer_size"`
	// OutputsQueue is vigil's --output-queue-size.
	OutputsQueue *int `yaml:"outputs_queue_size"`
	// AppendOutput is Falco's append_output, read by compileRules.
	AppendOutput []appendOutputConf `yaml:"append_output"`

	// ignored are falco.yaml keys vigil does not implement, with their
	// place: logged, not refused, so that a falco.yaml can be reused.
	ignored []string `yaml:"-"`
}

// falcoOnly are falco.yaml's keys that vigil has no use for, by section
// ("" is the top level).
var falcoOnly = map[string][]string{
	"": {"config_files", "watch_config_files", "outputs_queue", "outputs",
		"static_fields", "time_format_iso_8601", "buffer_format_base64",
		"json_include_output_property", "json_include_message_property", "json_include_tags_property",
		"json_include_output_fields_property", "buffered_outputs", "syslog_output", "grpc_output", "grpc",
		"log_stderr", "log_syslog", "log_level", "libs_logger", "output_timeout", "syscall_event_timeouts",
		"syscall_event_drops", "base_syscalls", "falco_libs", "engine", "plugins", "load_plugins",
		"container_engines", "capture", "modern_bpf", "syscall_buf_size_preset", "syscall_drop_failed_exit"},
	"http_output": {"user_agent", "insecure", "ca_cert", "ca_bundle", "ca_path", "compress_uploads", "keep_alive",
		"mtls", "client_cert", "client_key", "echo", "max_consecutive_timeouts"},
	"webserver": {"threadiness", "ssl_enabled", "ssl_certificate"},
	"metrics": {"output_rule", "output_file", "rules_counters_enabled", "resource_utilization_enabled",
		"state_counters_enabled", "kernel_event_counters_enabled", "kernel_event_counters_per_cpu_enabled",
		"libbpf_stats_enabled", "plugins_metrics_enabled", "jemalloc_stats_enabled", "convert_memory_to_mb",
		"include_empty_values"},
}

type stdoutOutput struct {
	Enabled *bool `yaml:"enabled"`
}

type fileOutput struct {
	Enabled  *bool   `yaml:"enabled"`
	Filename *string `yaml:"filename"`
	// KeepAlive is accepted for falco.yaml's sake: vigil always keeps the
	// file open (and reopens it after rotation).
	KeepAlive *bool `yaml:"keep_alive"`
}

type httpOutput struct {
	Enabled *bool     `yaml:"enabled"`
	URL     *string   `yaml:"url"`
	Headers []string  `yaml:"headers"`
	Timeout *duration `yaml:"timeout"`
}

type programOutput struct {
	Enabled   *bool   `yaml:"enabled"`
	Program   *string `yaml:"program"`
	KeepAlive *bool   `yaml:"keep_alive"`
}

type webserverConf struct {
	Enabled                  *bool     `yaml:"enabled"`
	ListenAddress            *string   `yaml:"listen_address"`
	ListenPort               *int      `yaml:"listen_port"`
	K8sHealthzEndpoint       *string   `yaml:"k8s_healthz_endpoint"`
	PrometheusMetricsEnabled *bool     `yaml:"prometheus_metrics_enabled"`
	StallTimeout             *duration `yaml:"stall_timeout"`
}

type metricsConf struct {
	Enabled  *bool     `yaml:"enabled"`
	Interval *duration `yaml:"interval"`
}

type driverConf struct {
	Kind        *string  `yaml:"kind"`
	Repos       []string `yaml:"repos"`
	TrustedKeys []string `yaml:"trusted_keys"`
}

// appendOutputConf is an entry of append_output.
type appendOutputConf struct {
	Match struct {
		Source *string  `yaml:"source"`
		Tags   []string `yaml:"tags"`
		Rule   *string  `yaml:"rule"`
	} `yaml:"match"`
	ExtraOutput     *string          `yaml:"extra_output"`
	ExtraFields     []extraFieldConf `yaml:"extra_fields"`
	SuggestedOutput *bool            `yaml:"suggested_output"`
}

// extraFieldConf is an item of extra_fields: a field name, or a mapping
// of one key to an output template.
type extraFieldConf struct{ Key, Format string }

func (f *extraFieldConf) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Value != "":
		f.Key = n.Value
		return nil
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[1].Kind == yaml.ScalarNode:
		f.Key, f.Format = n.Content[0].Value, n.Content[1].Value
		return nil
	}
	return errors.New("not an extra field") // configDecoder says what is wanted
}

// duration is a Go duration in the file ("30s", "15m", "1h").
type duration struct{ time.Duration }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		return errors.New("not a duration") // configDecoder says what is wanted
	}
	d.Duration = v
	return nil
}

// loadConfig reads path and the config.d directory beside it. A missing
// file is no error when it is the default one (optional says so).
func loadConfig(path string, optional bool) (*fileConfig, []string, error) {
	cfg := &fileConfig{}
	var read []string
	err := decodeConfigFile(path, cfg)
	switch {
	case err == nil:
		read = append(read, path)
	case optional && errors.Is(err, fs.ErrNotExist):
	default:
		return nil, nil, err
	}
	dir := filepath.Join(filepath.Dir(path), "config.d")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	// os.ReadDir sorts by name: the lexical order config.d files merge in.
	for _, e := range entries {
		if e.IsDir() || !isYAML(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := decodeConfigFile(p, cfg); err != nil {
			return nil, nil, err
		}
		read = append(read, p)
	}
	return cfg, read, nil
}

func isYAML(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

func decodeConfigFile(path string, cfg *fileConfig) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	d := &configDecoder{file: path}
	d.decode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
	cfg.ignored = append(cfg.ignored, d.ignored...)
	return errors.Join(d.errs...)
}

// configDecoder walks the yaml.Node tree beside the schema, so that every
// unknown key and every wrong type is reported with its position, and all
// of them at once.
type configDecoder struct {
	file    string
	errs    []error
	ignored []string
}

func (d *configDecoder) fail(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s:%d:%d: %s", d.file, n.Line, n.Column, fmt.Sprintf(format, args...)))
}

func (d *configDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	_, custom := v.Addr().Interface().(yaml.Unmarshaler)
	if v.Kind() == reflect.Struct && !custom {
		d.mapping(n, v, path)
		return
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct && n.Kind == yaml.SequenceNode {
		// Each entry is decoded as a mapping, so that its unknown keys
		// are reported at their place too.
		for i, item := range n.Content {
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(item, e, fmt.Sprintf("%s[%d]", path, i))
			v.Set(reflect.Append(v, e))
		}
		return
	}
	if n.Tag == "!!null" {
		return // "key:" with no value sets nothing
	}
	ptr := v.Addr()
	if v.Kind() == reflect.Pointer {
		ptr = reflect.New(v.Type().Elem())
	}
	want := describe(v.Type())
	if v.Kind() == reflect.Slice && n.Kind != yaml.SequenceNode {
		d.fail(n, "%s: want %s", path, want)
		return
	}
	if err := n.Decode(ptr.Interface()); err != nil {
		if n.Kind == yaml.ScalarNode {
			d.fail(n, "%s: want %s, not %q", path, want, n.Value)
		} else {
			d.fail(n, "%s: want %s", path, want)
		}
		return
	}
	if v.Kind() == reflect.Pointer {
		v.Set(ptr)
	}
}

func (d *configDecoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			d.fail(n, "%s: want a mapping of keys", orTop(path))
		}
		return
	}
	keys := map[string]int{}
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if name != "-" {
			keys[name] = i
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		full := k.Value
		if path != "" {
			full = path + "." + k.Value
		}
		f, ok := keys[k.Value]
		if !ok && slices.Contains(falcoOnly[path], k.Value) {
			d.ignored = append(d.ignored, fmt.Sprintf("%s:%d:%d: %s", d.file, k.Line, k.Column, full))
			continue
		}
		if !ok {
			d.fail(k, "unknown key %q%s", full, hint(k.Value, keys))
			continue
		}
		d.decode(val, v.Field(f), full)
	}
}

func orTop(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// hint names the known key nearest to an unknown one, if one is near.
func hint(key string, keys map[string]int) string {
	best, bestD := "", 0
	for k := range keys {
		if dd := editdist.Distance(key, k); best == "" || dd < bestD || dd == bestD && k < best {
			best, bestD = k, dd
		}
	}
	if best == "" || bestD > max(2, len(key)/3) {
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		return " (known: " + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func describe(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(duration{}):
		return "a duration such as 30s"
	case t == reflect.TypeOf(extraFieldConf{}):
		return "a field name, or a mapping of one key to an output format"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "a list of strings"
	case t.Kind() == reflect.Slice:
		return "a list of entries"
	}
	return "a string"
}

// applyConfig loads --config and sets every flag the file gives a value
// for and the user did not set. It keeps the file in c.App.Metadata for
// the settings that have no flag (webConfig).
func applyConfig(c *cli.Context) error {
	path := c.String(flagConfig)
	cfg, read, err := loadConfig(path, !c.IsSet(flagConfig))
	if err != nil {
		return err
	}
	if len(read) == 0 {
		return nil
	}
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata[configMetadata] = cfg
	for _, k := range cfg.ignored {
		logrus.Warnf("config %s: a falco.yaml key vigil does not implement: ignored", k)
	}
	return cfg.apply(c, strings.Join(read, ", "))
}

// fileConfigOf returns the file applyConfig loaded, or an empty one.
func fileConfigOf(c *cli.Context) *fileConfig {
	if cfg, ok := c.App.Metadata[configMetadata].(*fileConfig); ok {
		return cfg
	}
	return &fileConfig{}
}

func (cfg *fileConfig) apply(c *cli.Context, files string) error {
	var errs []error
	set := func(flag string, values ...string) {
		if c.IsSet(flag) || len(values) == 0 {
			return
		}
		for _, v := range values {
			if err := c.Set(flag, v); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %s sets --%s %q: %w", files, flagKey(flag), flag, v, err))
			}
		}
	}
	one := func(flag string, p *string) {
		if p != nil {
			set(flag, *p)
		}
	}
	rules, err := expandRulesFiles(cfg.RulesFiles)
	if err != nil {
		errs = append(errs, fmt.Errorf("config %s: rules_files: %w", files, err))
	}
	set("rules", rules...)
	one("min-priority", cfg.Priority)
	if m := cfg.RuleMatching; m != nil {
		switch *m {
		case "first", "all":
			set("all-matches", strconv.FormatBool(*m == "all"))
		default:
			errs = append(errs, fmt.Errorf("config %s: rule_matching %q: want first or all", files, *m))
		}
	}
	if cfg.JSONOutput != nil {
		set(output.FlagFormat, map[bool]string{true: "json", false: "text"}[*cfg.JSONOutput])
	}
	if e := cfg.StdoutOutput.Enabled; e != nil && !*e {
		set(output.FlagNoStdout, "true")
	}
	if on(cfg.FileOutput.Enabled) {
		if cfg.FileOutput.Filename == nil {
			errs = append(errs, fmt.Errorf("config %s: file_output is enabled without a filename", files))
		}
		one(output.FlagFile, cfg.FileOutput.Filename)
	}
	if on(cfg.HTTPOutput.Enabled) {
		if cfg.HTTPOutput.URL == nil {
			errs = append(errs, fmt.Errorf("config %s: http_output is enabled without a url", files))
		}
		one(output.FlagHTTPURL, cfg.HTTPOutput.URL)
		set(output.FlagHTTPHeader, cfg.HTTPOutput.Headers...)
		if t := cfg.HTTPOutput.Timeout; t != nil {
			set(output.FlagHTTPTimeout, t.String())
		}
	}
	if on(cfg.ProgramOutput.Enabled) {
		if cfg.ProgramOutput.Program == nil {
			errs = append(errs, fmt.Errorf("config %s: program_output is enabled without a program", files))
		}
		one(output.FlagProgram, cfg.ProgramOutput.Program)
		if k := cfg.ProgramOutput.KeepAlive; k != nil {
			set(output.FlagProgramKeepAlive, strconv.FormatBool(*k))
		}
	}
	if q := cfg.OutputsQueue; q != nil {
		set(output.FlagQueueSize, strconv.Itoa(*q))
	}
	if on(cfg.Webserver.Enabled) {
		set(flagWebListen, cfg.Webserver.listen())
	}
	if on(cfg.Metrics.Enabled) && cfg.Metrics.Interval != nil {
		set("stats-interval", cfg.Metrics.Interval.String())
	}
	one("driver", cfg.Driver.Kind)
	set("repo", cfg.Driver.Repos...)
	set("trusted-key", cfg.Driver.TrustedKeys...)
	one("buffer-size", cfg.BufferSize)
	for _, a := range cfg.AppendOutput {
		if a.SuggestedOutput != nil && !*a.SuggestedOutput {
			set(flagNoSuggestedOutput, "true")
		}
	}
	return errors.Join(errs...)
}

func on(b *bool) bool { return b != nil && *b }

// listen is the web server's address: loopback unless the file says
// otherwise, Falco's port.
func (w webserverConf) listen() string {
	host, port := "127.0.0.1", 8765
	if w.ListenAddress != nil {
		host = *w.ListenAddress
	}
	if w.ListenPort != nil {
		port = *w.ListenPort
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]" // an IPv6 address
	}
	return host + ":" + strconv.Itoa(port)
}

// flagKey names the file key that sets a flag, for errors.
func flagKey(flag string) string {
	k := map[string]string{
		"rules": "rules_files", "min-priority": "priority", output.FlagFormat: "json_output", "all-matches": "rule_matching",
		output.FlagNoStdout: "stdout_output.enabled", output.FlagFile: "file_output.filename",
		output.FlagHTTPURL: "http_output.url", output.FlagHTTPHeader: "http_output.headers",
		output.FlagHTTPTimeout: "http_output.timeout", output.FlagProgram: "program_output.program",
		output.FlagProgramKeepAlive: "program_output.keep_alive", output.FlagQueueSize: "outputs_queue_size",
		flagWebListen: "webserver", "stats-interval": "metrics.interval", "driver": "driver.kind", "repo": "driver.repos",
		"trusted-key": "driver.trusted_keys", "buffer-size": "buffer_size",
		flagNoSuggestedOutput: "append_output.suggested_output",
	}[flag]
	if k == "" {
		return flag
	}
	return k
}

// expandRulesFiles replaces a directory by its YAML files in lexical
// order, as Falco reads rules_files (/etc/falco/rules.d).
func expandRulesFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			out = append(out, p) // a missing file is the rules loader's to report
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() && isYAML(e.Name()) {
				out = append(out, filepath.Join(p, e.Name()))
			}
		}
	}
	return slices.Clip(out), nil
}
