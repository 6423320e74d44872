// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// The names of the CLI flags that fill a Config (vigil run and replay).
// cmd/vigil defines its flags with these constants and errors name them, so
// a message can never point at a flag that does not exist.
const (
	FlagFormat           = "output"
	FlagNoStdout         = "no-stdout"
	FlagFile             = "output-file"
	FlagHTTPURL          = "http-url"
	FlagHTTPTimeout      = "http-timeout"
	FlagHTTPHeader       = "http-header"
	FlagProgram          = "output-program"
	FlagProgramKeepAlive = "output-program-keep-alive"
	FlagQueueSize        = "output-queue-size"
)

// FlagNames lists every Flag* constant, for tests that check the CLI
// defines them all.
func FlagNames() []string {
	return []string{FlagFormat, FlagNoStdout, FlagFile, FlagHTTPURL, FlagHTTPTimeout, FlagHTTPHeader,
		FlagProgram, FlagProgramKeepAlive, FlagQueueSize}
}

// flag is a flag's name as the user types it, for messages.
func flag(name string) string { return "--" + name }

// Config is what the CLI's output flags say; the Flag* constant named on a
// field is its flag.
type Config struct {
	// Format of stdout, file and program lines: "text" (default) or
	// "json". HTTP always sends JSON. FlagFormat
	Format string
	// Stdout enables the stdout output. The CLI sets it unless
	// FlagNoStdout is given.
	Stdout bool
	// Writer is where the stdout output writes; nil means os.Stdout.
	Writer io.Writer
	// File enables the file output, appending to this path. FlagFile
	File string
	// FileKeepAlive keeps the file open between alerts (Reopen after
	// rotation).
	FileKeepAlive bool
	// HTTPURL enables the HTTP output. FlagHTTPURL
	HTTPURL string
	// HTTPTimeout bounds each POST; 0 means DefaultHTTPTimeout.
	// FlagHTTPTimeout
	HTTPTimeout time.Duration
	// HTTPHeaders are "Name: value" lines added to each POST.
	// FlagHTTPHeader
	HTTPHeaders []string
	// Program enables the program output, run with sh -c. FlagProgram
	Program string
	// ProgramKeepAlive runs the program once instead of once per alert.
	// FlagProgramKeepAlive
	ProgramKeepAlive bool
	// QueueSize is each output's queue; 0 means DefaultQueueSize.
	// FlagQueueSize
	QueueSize int
	// Version goes into the HTTP User-Agent.
	Version string
	// Log receives the outputs' errors. Default: logrus.StandardLogger().
	Log logrus.FieldLogger
}

// ConfigError says which flag is wrong, and how to put it right.
type ConfigError struct {
	Flag    string
	Value   string
	Problem string
	Fix     string
}

func (e *ConfigError) Error() string {
	v := ""
	if e.Value != "" {
		v = fmt.Sprintf(" %q", e.Value)
	}
	return fmt.Sprintf("%s%s: %s: %s", e.Flag, v, e.Problem, e.Fix)
}

// New checks cfg and starts a Dispatcher with every output it enables.
func New(cfg Config) (*Dispatcher, error) {
	format, err := ParseFormat(cfg.Format)
	if err != nil {
		return nil, &ConfigError{Flag: flag(FlagFormat), Value: cfg.Format, Problem: "unknown format", Fix: `use "text" or "json"`}
	}
	if cfg.QueueSize < 0 {
		return nil, &ConfigError{Flag: flag(FlagQueueSize), Value: fmt.Sprint(cfg.QueueSize), Problem: "negative queue size",
			Fix: fmt.Sprintf("give the number of alerts each output may hold, or 0 for %d", DefaultQueueSize)}
	}
	if cfg.HTTPTimeout < 0 {
		return nil, &ConfigError{Flag: flag(FlagHTTPTimeout), Value: cfg.HTTPTimeout.String(), Problem: "negative timeout",
			Fix: fmt.Sprintf("give a duration such as 5s, or 0 for %s", DefaultHTTPTimeout)}
	}
	if cfg.Program != "" && strings.TrimSpace(cfg.Program) == "" {
		return nil, &ConfigError{Flag: flag(FlagProgram), Value: cfg.Program, Problem: "empty command",
			Fix: `give a shell command that reads alerts on stdin, such as "logger -t vigil"`}
	}
	if cfg.File != "" && strings.TrimSpace(cfg.File) == "" {
		return nil, &ConfigError{Flag: flag(FlagFile), Value: cfg.File, Problem: "empty path", Fix: "give the path of the file to append alerts to"}
	}
	header, err := parseHeaders(cfg.HTTPHeaders)
	if err != nil {
		return nil, err
	}
	if len(cfg.HTTPHeaders) > 0 && cfg.HTTPURL == "" {
		return nil, &ConfigError{Flag: flag(FlagHTTPHeader), Value: cfg.HTTPHeaders[0], Problem: "headers without an HTTP output",
			Fix: "also give " + flag(FlagHTTPURL) + ", or drop the headers"}
	}
	if !cfg.Stdout && cfg.File == "" && cfg.HTTPURL == "" && cfg.Program == "" {
		// Stdout is on unless the user turned it off, so that flag is
		// the one to name.
		return nil, &ConfigError{Flag: flag(FlagNoStdout), Problem: "no output is enabled",
			Fix: fmt.Sprintf("drop %s, or enable at least one of %s, %s, %s", flag(FlagNoStdout), flag(FlagFile), flag(FlagHTTPURL), flag(FlagProgram))}
	}

	var sinks []Sink
	if cfg.HTTPURL != "" {
		if problem, fix := httpURLProblem(cfg.HTTPURL); problem != "" {
			return nil, &ConfigError{Flag: flag(FlagHTTPURL), Value: cfg.HTTPURL, Problem: problem, Fix: fix}
		}
		s, err := NewHTTPSink(HTTPConfig{URL: cfg.HTTPURL, Timeout: cfg.HTTPTimeout, Header: header, Version: cfg.Version})
		if err != nil {
			return nil, &ConfigError{Flag: flag(FlagHTTPURL), Value: cfg.HTTPURL, Problem: err.Error(), Fix: "write it as http://host:port/path"}
		}
		sinks = append(sinks, s)
	}
	if cfg.Program != "" {
		s, err := NewProgramSink(ProgramConfig{Command: cfg.Program, Format: format, KeepAlive: cfg.ProgramKeepAlive, Log: cfg.Log})
		if err != nil {
			return nil, &ConfigError{Flag: flag(FlagProgram), Value: cfg.Program, Problem: err.Error(), Fix: "give a shell command"}
		}
		sinks = append(sinks, s)
	}
	if cfg.File != "" {
		s, err := NewFileSink(cfg.File, format, cfg.FileKeepAlive)
		if err != nil {
			closeAll(sinks)
			problem := err.Error()
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				problem = pe.Err.Error()
			}
			return nil, &ConfigError{Flag: flag(FlagFile), Value: cfg.File, Problem: problem,
				Fix: "give a file in a directory that exists and vigil can write to"}
		}
		sinks = append(sinks, s)
	}
	if cfg.Stdout {
		w := cfg.Writer
		if w == nil {
			w = os.Stdout
		}
		sinks = append(sinks, NewWriterSink("stdout", w, format))
	}
	return NewDispatcher(Options{QueueSize: cfg.QueueSize, Log: cfg.Log}, sinks...), nil
}

func closeAll(sinks []Sink) {
	for _, s := range sinks {
		_ = s.Close(context.Background())
	}
}

func parseHeaders(lines []string) (http.Header, error) {
	h := http.Header{}
	for _, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validHeaderName(name) || strings.ContainsAny(value, "\r\n") {
			return nil, &ConfigError{Flag: flag(FlagHTTPHeader), Value: l, Problem: "not a header line",
				Fix: `write it as "Name: value", for example "Authorization: Bearer <token>"`}
		}
		h.Add(name, value)
	}
	return h, nil
}

// validHeaderName accepts RFC 9110 tokens.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
