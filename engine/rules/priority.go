// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import "strings"

// Priority is a rule priority, ordered like syslog severities (Emergency is
// the most severe and has the lowest value).
type Priority int

// Rule priorities.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = []string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return "Priority(" + itoa(int(p)) + ")"
	}
	return priorityNames[p]
}

// ParsePriority parses a priority name case-insensitively; "info" is
// accepted as an alias of "informational".
func ParsePriority(s string) (Priority, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "info" {
		return PriorityInformational, true
	}
	for i, n := range priorityNames {
		if strings.ToLower(n) == s {
			return Priority(i), true
		}
	}
	return 0, false
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
