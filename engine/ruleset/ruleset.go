// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package ruleset holds vigil's default rules, embedded in the binary so
// that `vigil run` detects something with no file at hand.
package ruleset

import _ "embed"

// Name is the file name the default rules report errors and alerts under.
const Name = "vigil_rules.yaml"

//go:embed vigil_rules.yaml
var defaultRules []byte

// Default returns the default rules file.
func Default() []byte { return append([]byte(nil), defaultRules...) }
