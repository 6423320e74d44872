// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package syncer

import (
	"context"
	"crypto/ed25519"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/mirror"
	"github.com/vigil-dev/vigil/mirror/oci"
)

// A mirror pushed to a real registry (TLS, a login) syncs to a directory
// byte for byte, and a second sync transfers nothing.
func TestSyncFromRegistry(t *testing.T) {
	reg := testenv.StartRegistry(t)
	src := newSource(t, 2)
	ref := oci.Scheme + reg.Addr + "/vigil/drivers"
	if _, err := oci.Push(context.Background(), src.root, ref, oci.Options{
		Keys: []ed25519.PublicKey{src.pub}, Username: reg.Username, Password: reg.Password, CAFile: reg.CAFile,
	}); err != nil {
		t.Fatal(err)
	}
	spec := "oci://" + url.UserPassword(reg.Username, reg.Password).String() + "@" + reg.Addr + "/vigil/drivers"
	o := options(src.pub)
	o.Transfer.CAFile = reg.CAFile
	dst := filepath.Join(t.TempDir(), "copy")
	sum, err := syncFrom(t, spec, dst, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror.Verify(dst, src.pub); err != nil {
		t.Fatalf("the copy does not verify: %v", err)
	}
	sameTree(t, src.root, dst)
	if sum.Transferred != 2 {
		t.Errorf("first sync: %+v", sum)
	}
	if sum, err = syncFrom(t, spec, dst, o); err != nil || sum.Transferred != 0 || sum.UpToDate != 2 {
		t.Errorf("second sync: %+v, %v", sum, err)
	}
}
