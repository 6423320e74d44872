// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// ErrClosed says an output's reader went away for good (stdout piped to a
// program that exited): every later alert for it fails at once, and the
// Dispatcher logs it once rather than every few seconds.
var ErrClosed = errors.New("output closed by its reader")

// WriterSink writes one line per alert to an io.Writer (stdout, usually).
type WriterSink struct {
	name string
	w    io.Writer
	enc  Encoder
	buf  []byte
	// broken is set once a write met EPIPE: a closed pipe never opens
	// again, so later alerts do not try.
	broken bool
}

// NewWriterSink writes alerts in format f to w, one Write per alert.
func NewWriterSink(name string, w io.Writer, f Format) *WriterSink {
	return &WriterSink{name: name, w: w, enc: Encoder{Format: f}}
}

// Name implements Sink.
func (s *WriterSink) Name() string { return s.name }

// Write implements Sink.
func (s *WriterSink) Write(_ context.Context, a *Alert) error {
	if s.broken {
		return fmt.Errorf("write to %s: %w", s.name, ErrClosed)
	}
	s.buf = s.enc.AppendLine(s.buf[:0], a)
	if _, err := s.w.Write(s.buf); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			s.broken = true
			return fmt.Errorf("write to %s: %w: %w", s.name, ErrClosed, err)
		}
		return fmt.Errorf("write to %s: %w", s.name, err)
	}
	return nil
}

// Close implements Sink; the writer is the caller's and stays open.
func (s *WriterSink) Close(context.Context) error { return nil }

// FileSink appends alerts to a file, with Falco's file_output semantics:
// without keep-alive the file is opened, written and closed for every alert
// (so rotation needs nothing); with keep-alive it stays open until Reopen.
type FileSink struct {
	path      string
	keepAlive bool
	enc       Encoder
	buf       []byte

	mu sync.Mutex // guards f against Reopen from another goroutine
	f  *os.File
}

// fileMode keeps alerts, which name users, commands and files, private to
// the account vigil runs as.
const fileMode = 0o600

// NewFileSink opens path once to check that alerts can be written there.
func NewFileSink(path string, f Format, keepAlive bool) (*FileSink, error) {
	s := &FileSink{path: path, keepAlive: keepAlive, enc: Encoder{Format: f}}
	file, err := s.open()
	if err != nil {
		return nil, err
	}
	if keepAlive {
		s.f = file
	} else if err := file.Close(); err != nil {
		return nil, fmt.Errorf("close output file %s: %w", path, err)
	}
	return s, nil
}

func (s *FileSink) open() (*os.File, error) {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open output file: %w", err)
	}
	return f, nil
}

// Name implements Sink.
func (s *FileSink) Name() string { return "file " + s.path }

// Write implements Sink.
func (s *FileSink) Write(_ context.Context, a *Alert) error {
	s.buf = s.enc.AppendLine(s.buf[:0], a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		f, err := s.open()
		if err != nil {
			return err
		}
		s.f = f
	}
	_, err := s.f.Write(s.buf)
	if err != nil {
		err = fmt.Errorf("write output file %s: %w", s.path, err)
	}
	if !s.keepAlive {
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close output file %s: %w", s.path, cerr)
		}
		s.f = nil
	}
	return err
}

// Reopen closes the file and opens its path again, which creates it anew
// after a rotation renamed it.
func (s *FileSink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cerr error
	if s.f != nil {
		cerr = s.f.Close()
		s.f = nil
	}
	if !s.keepAlive {
		return cerr
	}
	f, err := s.open()
	if err != nil {
		return err
	}
	s.f = f
	if cerr != nil {
		return fmt.Errorf("close output file %s: %w", s.path, cerr)
	}
	return nil
}

// Close implements Sink.
func (s *FileSink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("close output file %s: %w", s.path, err)
	}
	return nil
}
