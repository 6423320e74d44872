// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

// The host's side of the loader driver: the mirror served read-only on a
// loopback port for the run (QEMU's user network takes the guest's
// 10.0.2.2 to the host's 127.0.0.1), and for the failure cases, served
// beside it, copies of it that a loader must refuse.

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vigil-dev/vigil/mirror"
)

// loaderRepos are the repositories of one run.
type loaderRepos struct {
	servers []*http.Server
	reg     io.Closer // the OCI registry of repos_oci.go, or nil
	log     *os.File
	good    string // kernel parameters naming the mirror and its key
	// failure are the failure cases' parameters, for the kernel named
	// failureKernel.
	failure, failureKernel string
}

// guestURL is how the guest reaches a host loopback port.
func guestURL(port int) string { return fmt.Sprintf("http://%s:%d/", hostAddr, port) }

// startLoaderRepos serves opts.Mirror, and the failure cases' mirrors for
// the first kernel that has a module in it, until Close. Everything it
// writes goes under <opts.Out>/loader-repos, with the servers' access log.
func startLoaderRepos(opts Options, kernels []Kernel) (_ *loaderRepos, err error) {
	if opts.Mirror == "" || len(opts.Key) != ed25519.PublicKeySize {
		return nil, errors.New("driver loader: the run needs a mirror and its public key (--modules, --key)")
	}
	ix, err := mirror.VerifyIndex(opts.Mirror, opts.Key)
	if err != nil {
		return nil, fmt.Errorf("driver loader: mirror %s: %w", opts.Mirror, err)
	}
	dir := filepath.Join(opts.Out, "loader-repos")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &loaderRepos{}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.log, err = os.Create(filepath.Join(dir, "access.log")); err != nil {
		return nil, err
	}
	port, err := l.serve(opts.Mirror)
	if err != nil {
		return nil, err
	}
	l.good = fmt.Sprintf("%s=%s %s=%s", paramRepo, guestURL(port), paramKey, mirror.EncodePublicKey(opts.Key))

	var k *Kernel
	for i := range kernels {
		if len(kernels[i].Modules) > 0 {
			k = &kernels[i]
			break
		}
	}
	if k == nil {
		return l, nil // no kernel of the run is in the mirror: no failure cases
	}
	own := func(e mirror.Entry) bool {
		return slices.Contains(k.Modules, filepath.Join(opts.Mirror, filepath.FromSlash(e.Name)))
	}
	var params []string
	add := func(param, sub string, write func(string) error) error {
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := write(d); err != nil {
			return fmt.Errorf("driver loader: mirror %s: %w", sub, err)
		}
		port, err := l.serve(d)
		if err != nil {
			return err
		}
		params = append(params, param+"="+guestURL(port))
		return nil
	}
	// A mirror of every other kernel, signed by a key of its own, which
	// the guest trusts for that case only.
	absentPub, absentKey, err := mirror.GenerateKey()
	if err != nil {
		return nil, err
	}
	params = append(params, paramAbsentKey+"="+mirror.EncodePublicKey(absentPub))
	if err := add(paramAbsent, "absent", func(d string) error {
		others := &mirror.Index{}
		for _, e := range ix.Entries {
			if !own(e) {
				others.Entries = append(others.Entries, e)
			}
		}
		return mirror.WriteSigned(d, others, absentKey)
	}); err != nil {
		return nil, err
	}
	// The mirror's own index and signature, this kernel's module with a
	// byte flipped in its middle.
	if err := add(paramTampered, "tampered", func(d string) error {
		if err := copyIndex(opts.Mirror, d, true); err != nil {
			return err
		}
		return copyEntries(opts.Mirror, d, ix, own, true)
	}); err != nil {
		return nil, err
	}
	// The mirror's own index, signed by a key nobody trusts.
	if err := add(paramOtherKey, "otherkey", func(d string) error {
		if err := copyIndex(opts.Mirror, d, false); err != nil {
			return err
		}
		_, other, err := mirror.GenerateKey()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(filepath.Join(d, mirror.IndexFile))
		if err != nil {
			return err
		}
		sig := base64.StdEncoding.EncodeToString(ed25519.Sign(other, data)) + "\n"
		if err := os.WriteFile(filepath.Join(d, mirror.SignatureFile), []byte(sig), 0o644); err != nil {
			return err
		}
		return copyEntries(opts.Mirror, d, ix, own, false)
	}); err != nil {
		return nil, err
	}
	// A port that was just free: nothing answers there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	params = append(params, paramClosed+"="+guestURL(ln.Addr().(*net.TCPAddr).Port))
	ln.Close()
	// The air-gapped path: the mirror from a private OCI registry.
	ociParams, err := l.startRegistry(opts.Mirror, opts.Key, filepath.Join(dir, "registry"))
	if err != nil {
		return nil, err
	}
	params = append(params, ociParams)
	l.failure, l.failureKernel = strings.Join(params, " "), k.Name
	return l, nil
}

// params are the kernel parameters of kernel name's VM.
func (l *loaderRepos) params(name string) string {
	if name == l.failureKernel && l.failure != "" {
		return l.good + " " + l.failure
	}
	return l.good
}

// serve serves the mirror in dir on a loopback port.
func (l *loaderRepos) serve(dir string) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("driver loader: serve %s: %w", dir, err)
	}
	srv := &http.Server{Handler: mirror.NewServer(dir, &lockedWriter{w: l.log})}
	l.servers = append(l.servers, srv)
	go srv.Serve(ln)
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Close stops the servers.
func (l *loaderRepos) Close() {
	for _, s := range l.servers {
		s.Close()
	}
	if l.reg != nil {
		l.reg.Close()
	}
	if l.log != nil {
		l.log.Close()
	}
}

// lockedWriter lets the servers share the access log.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// copyIndex copies a mirror's index.json, and its signature when sig.
func copyIndex(from, to string, sig bool) error {
	names := []string{mirror.IndexFile}
	if sig {
		names = append(names, mirror.SignatureFile)
	}
	for _, n := range names {
		if err := copyFile(filepath.Join(from, n), filepath.Join(to, n), false); err != nil {
			return err
		}
	}
	return nil
}

// copyEntries copies the entries own selects, each with a byte flipped
// when flip.
func copyEntries(from, to string, ix *mirror.Index, own func(mirror.Entry) bool, flip bool) error {
	for _, e := range ix.Entries {
		if !own(e) {
			continue
		}
		dst := filepath.Join(to, filepath.FromSlash(e.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(filepath.Join(from, filepath.FromSlash(e.Name)), dst, flip); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, flip bool) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if flip && len(b) > 0 {
		b[len(b)/2] ^= 0x01
	}
	return os.WriteFile(dst, b, 0o644)
}
