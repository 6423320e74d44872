// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package output delivers alerts: to stdout, a file, an HTTP endpoint or a
// program, each behind a bounded queue so that a slow or dead output drops
// alerts (and counts them) rather than stalling detection.
package output

import "time"

// This file is the contract with the rule engine, which builds Alerts.

// Alert is one rule match, with the fields Falco's JSON output carries.
type Alert struct {
	Time     time.Time
	Rule     string
	Priority string // Falco's names: Emergency … Debug
	Source   string // "syscall"
	Tags     []string
	Hostname string
	// Output is the rule's output template with its fields filled in;
	// unavailable fields read <NA>.
	Output string
	// OutputFields maps each %field of the template to its value: a
	// string, an integer, a bool, or nil for <NA>.
	OutputFields map[string]any
}
