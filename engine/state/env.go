// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"bytes"
	"io"
	"os"
	"strings"
)

// maxEnviron bounds what Env reads of one process's environment: far more
// than any real one, small enough that a process with a huge environment
// cannot stall the event loop.
const maxEnviron = 64 << 10

// Env returns p's environment as exec gave it (NAME=value strings), read
// from /proc/<pid>/environ the first time it is asked for and kept until
// the process execs again; a forked child shares its parent's, as the
// kernel copies it. The drivers do not capture the environment with the
// exec event, so it is known only for live events (not from a capture
// file) and only while the process runs: ok is false otherwise, or when
// the pid now belongs to a younger process.
//
// Reading /proc costs a few syscalls, which is why it is lazy: only a rule
// that evaluates proc.env for the process pays it.
func (t *Threads) Env(p *Process) (env []string, ok bool) {
	if p == nil {
		return nil, false
	}
	if p.envRead {
		return p.Env, p.envOK
	}
	if t.proc == "" {
		return nil, false
	}
	p.envRead = true
	dir := t.pidDir(p.PID)
	f, err := os.Open(dir + "/environ")
	if err != nil {
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxEnviron))
	f.Close()
	if err != nil {
		return nil, false
	}
	// The pid may have been reused since the table learned of p.
	if st, err := os.ReadFile(dir + "/stat"); err != nil {
		return nil, false
	} else if s, err := parseProcStat(st); err != nil || !samePIDLife(p, s) {
		return nil, false
	}
	p.Env, p.envOK = splitEnviron(b), true
	return p.Env, true
}

// splitEnviron splits /proc's NUL-separated environment.
func splitEnviron(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return []string{}
	}
	return strings.Split(string(b), "\x00")
}

// EnvValue returns the value of variable name in env, with surrounding
// spaces trimmed as Falco's proc.env[NAME] does; "" when it is not set.
func EnvValue(env []string, name string) string {
	for _, kv := range env {
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			return strings.Trim(kv[len(name)+1:], " ")
		}
	}
	return ""
}
