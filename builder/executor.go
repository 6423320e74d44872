// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package builder compiles kernel modules for target kernels in throwaway
// containers of the suite each kernel was built in, and publishes them in a
// signed mirror.
package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Mount is a host directory made visible to a job.
type Mount struct {
	Host, Guest string
	ReadOnly    bool
}

// Job is one command run in isolation: no network, its own file system
// view, bounded in time.
type Job struct {
	Name    string   // prefixes every log line
	Image   string   // the container image (docker executor)
	Cmd     []string // argv
	Env     []string
	Mounts  []Mount
	Tmpfs   []string // writable scratch directories, empty at start
	Timeout time.Duration
	CPUs    float64 // 0: no limit
	MemMiB  int64   // 0: no limit
	Log     io.Writer
}

// Result is how a job ended.
type Result struct {
	ExitCode int
	TimedOut bool
	Tail     string // the last lines of the job's output
}

// Executor runs jobs. An error means the job could not be run at all; a
// job that ran and failed is a Result with a non-zero ExitCode.
type Executor interface {
	Name() string
	Run(ctx context.Context, j Job) (Result, error)
}

// ErrTimeout is wrapped by results of jobs cut off by their timeout.
var ErrTimeout = errors.New("build timed out")

// tailLines is how much of a job's output a Result keeps.
const tailLines = 30

// LineWriter prefixes each line it forwards and remembers the last ones:
// a job's output shown as it runs, and its tail kept for the error.
type LineWriter struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
	buf    []byte
	tail   []string
}

// NewLineWriter forwards to out (nil: nowhere) with prefix before each line.
func NewLineWriter(out io.Writer, prefix string) *LineWriter {
	if out == nil {
		out = io.Discard
	}
	return &LineWriter{out: out, prefix: prefix}
}

func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *LineWriter) line(l string) {
	l = strings.TrimRight(l, "\r")
	fmt.Fprintf(w.out, "%s%s\n", w.prefix, l)
	w.tail = append(w.tail, l)
	if len(w.tail) > tailLines {
		w.tail = w.tail[len(w.tail)-tailLines:]
	}
}

// Tail flushes a partial last line and returns the remembered lines.
func (w *LineWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
	return strings.Join(w.tail, "\n")
}
