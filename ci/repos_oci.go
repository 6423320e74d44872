// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

// The air-gapped path of the loader driver: the mirror pushed to a private
// OCI registry on the host (Debian's docker-registry with TLS from a CA of
// its own and a login), which one kernel's guest reaches as
// oci://10.0.2.2:PORT/vigil/drivers and loads its module from.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/mirror/oci"
)

// Kernel command line parameters of the registry check.
const (
	paramOCI   = "vigil.oci"    // oci://USER:PASSWORD@10.0.2.2:PORT/vigil/drivers
	paramOCICA = "vigil.oci.ca" // the registry's CA certificate: base64 of its DER
)

// ociRepository is the repository the mirror is pushed to.
const ociRepository = "vigil/drivers"

// startRegistry launches a registry under dir, pushes the mirror to it and
// returns the guest's parameters for it. The guest reaches the host's
// loopback as 10.0.2.2, which the registry's certificate names.
func (l *loaderRepos) startRegistry(mirrorDir string, key ed25519.PublicKey, dir string) (string, error) {
	if _, err := os.Stat(testenv.RegistryBin); err != nil {
		return "", fmt.Errorf("driver loader: the OCI registry check needs %s (Debian's docker-registry; scripts/deps test installs it)", testenv.RegistryBin)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	reg, err := testenv.LaunchRegistry(testenv.RegistryOptions{Dir: dir, IPs: []net.IP{hostAddr}})
	if err != nil {
		return "", fmt.Errorf("driver loader: %w", err)
	}
	l.reg = reg
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = oci.Push(ctx, mirrorDir, oci.Scheme+reg.Addr+"/"+ociRepository, oci.Options{
		Keys: []ed25519.PublicKey{key}, Username: reg.Username, Password: reg.Password, CAFile: reg.CAFile})
	if err != nil {
		return "", fmt.Errorf("driver loader: push the mirror to the registry: %w", err)
	}
	// The round trip a site makes: pulled into an empty directory, the
	// mirror must verify and be the same, byte for byte.
	pulled := filepath.Join(dir, "pulled")
	if _, err := oci.Pull(ctx, oci.Scheme+reg.Addr+"/"+ociRepository, pulled, oci.Options{
		Keys: []ed25519.PublicKey{key}, Username: reg.Username, Password: reg.Password, CAFile: reg.CAFile}); err != nil {
		return "", fmt.Errorf("driver loader: pull the mirror back from the registry: %w", err)
	}
	if err := sameFiles(mirrorDir, pulled); err != nil {
		return "", fmt.Errorf("driver loader: the mirror pulled back from the registry differs from %s: %w", mirrorDir, err)
	}
	b, err := os.ReadFile(reg.CAFile)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return "", fmt.Errorf("driver loader: %s holds no PEM certificate", reg.CAFile)
	}
	_, port, _ := net.SplitHostPort(reg.Addr)
	ref := oci.Scheme + url.UserPassword(reg.Username, reg.Password).String() + "@" + net.JoinHostPort(hostAddr.String(), port) + "/" + ociRepository
	return fmt.Sprintf("%s=%s %s=%s", paramOCI, ref, paramOCICA, base64.StdEncoding.EncodeToString(block.Bytes)), nil
}

// sameFiles fails unless b holds exactly a's regular files with the same
// bytes.
func sameFiles(a, b string) error {
	files := func(root string) (map[string][]byte, error) {
		m := map[string][]byte{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			m[rel], err = os.ReadFile(p)
			return err
		})
		return m, err
	}
	fa, err := files(a)
	if err != nil {
		return err
	}
	fb, err := files(b)
	if err != nil {
		return err
	}
	for name, data := range fa {
		if got, ok := fb[name]; !ok {
			return fmt.Errorf("%s is missing", name)
		} else if !bytes.Equal(got, data) {
			return fmt.Errorf("%s differs", name)
		}
	}
	for name := range fb {
		if _, ok := fa[name]; !ok {
			return fmt.Errorf("%s was not pushed", name)
		}
	}
	return nil
}

// writeGuestCA writes the registry's CA from its parameter into the
// guest's /etc and returns the file's path.
func writeGuestCA(param string) (string, error) {
	der, err := base64.StdEncoding.DecodeString(param)
	if err != nil {
		return "", fmt.Errorf("%s: %w", paramOCICA, err)
	}
	path := filepath.Join("/etc", "vigil-registry-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", err
	}
	return path, nil
}
