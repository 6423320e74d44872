// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package modinfo reads the .modinfo section of a kernel module file: its
// name, vermagic, licence and the rest, as modinfo(8) shows them.
package modinfo

import (
	"debug/elf"
	"fmt"
	"strings"
)

// Read returns the key=value pairs of a module's .modinfo section. A key
// that appears more than once (alias, depends) keeps its last value.
func Read(ko string) (map[string]string, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", ko, err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("read module %s: no .modinfo section: not a kernel module", ko)
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo of %s: %w", ko, err)
	}
	m := map[string]string{}
	for _, kv := range strings.Split(string(data), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m, nil
}
