// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-dev/vigil/loader"
)

// fromRegistry is the air-gapped path in the guest: the module from the
// host's private OCI registry (paramOCI, its CA in paramOCICA), fetched by
// its tag into a cache of its own (the default one holds the module of the
// check before), verified, loaded, and the sensitive-file alert raised on
// its events.
func (d *detection) fromRegistry(p map[string]string, key ed25519.PublicKey) (string, error) {
	ca, err := writeGuestCA(p[paramOCICA])
	if err != nil {
		return "", err
	}
	cache := filepath.Join(os.TempDir(), "vigil-cache-oci")
	run, err := d.loadAndDetect(loader.Options{Repos: []string{p[paramOCI]}, CacheDir: cache},
		[]ed25519.PublicKey{key}, loader.RepoOptions{CAFile: ca}, nil)
	if err != nil {
		return "", err
	}
	a, ok := chosenAttempt(run)
	if run.Chosen != string(loader.DriverKmod) || !ok || a.Step.Kind != loader.StepRepo || !strings.Contains(a.What, "oci://") {
		return "", fmt.Errorf("Load chose %q (%s), want the module from the OCI registry; attempts:\n%s", run.Chosen, a.What, attemptLines(run.Attempts))
	}
	return fmt.Sprintf("module from the registry ready in %d ms, alert in %d ms", run.ReadyMS, run.AlertMS), nil
}
