// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package kubernetes holds no code: this directory is vigil's Kubernetes
// manifests (README.md), and its test decodes each of them strictly into
// the Kubernetes API types and checks what the deployment relies on.
package kubernetes
