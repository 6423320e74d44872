// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

//go:embed Dockerfile
var dockerfile []byte

// Where the image keeps the binary; the Dockerfile's ENTRYPOINT, and the
// command the Kubernetes manifests name.
const binaryPath = "/usr/bin/vigil"

// defaultCACerts is Debian's bundle (package ca-certificates).
const defaultCACerts = "/etc/ssl/certs/ca-certificates.crt"

// spec is what an image is built from.
type spec struct {
	Binary  string    // a static vigil
	CACerts string    // a PEM bundle, copied to /etc/ssl/certs/ca-certificates.crt
	Version string    // the image's version label
	Tags    []string  // "repository:tag", at least one
	Log     io.Writer // the builder's step lines
}

// result is the image built.
type result struct {
	ID   string
	Size int64 // bytes, as `docker images` counts them
}

// buildImage builds the image of spec with the engine's classic builder:
// Debian 12's docker.io has neither BuildKit's buildx nor a CLI that
// defaults to the classic builder in every version, but its engine API
// builds a Dockerfile as it always has. The build context is made in
// memory, so nothing is staged on disk.
func buildImage(ctx context.Context, cli *client.Client, s spec) (result, error) {
	if len(s.Tags) == 0 {
		return result{}, errors.New("build image: no tag given")
	}
	if err := checkStatic(s.Binary); err != nil {
		return result{}, err
	}
	buildCtx, err := contextTar(s)
	if err != nil {
		return result{}, err
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(buildCtx), build.ImageBuildOptions{
		Tags:        s.Tags,
		Dockerfile:  "Dockerfile",
		BuildArgs:   map[string]*string{"VERSION": &s.Version},
		Version:     build.BuilderV1,
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return result{}, fmt.Errorf("build image %s: %w", s.Tags[0], err)
	}
	defer resp.Body.Close()
	log := s.Log
	if log == nil {
		log = io.Discard
	}
	id, err := readBuild(resp.Body, log)
	if err != nil {
		return result{}, fmt.Errorf("build image %s: %w", s.Tags[0], err)
	}
	img, err := cli.ImageInspect(ctx, id)
	if err != nil {
		return result{}, fmt.Errorf("inspect the image just built (%s): %w", id, err)
	}
	return result{ID: img.ID, Size: img.Size}, nil
}

// checkStatic refuses a dynamically linked binary: in a scratch image it
// would fail only when run, with a bare "no such file or directory" for
// its missing interpreter.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: not an ELF binary (run make build first): %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0 (make build) for a scratch image", path)
		}
	}
	return nil
}

// contextTar is the build context: the Dockerfile, the binary and the CA
// bundle, under the names the Dockerfile copies.
func contextTar(s spec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the binary for the image: %w", err)
	}
	certs, err := os.ReadFile(s.CACerts)
	if err != nil {
		return nil, fmt.Errorf("read the CA certificates for the image (Debian's package ca-certificates, installed by scripts/deps): %w", err)
	}
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"vigil", 0o755, bin}, {"ca-certificates.crt", 0o644, certs}} {
		if err := add(f.name, f.mode, f.data); err != nil {
			return nil, fmt.Errorf("build context: %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return buf.Bytes(), nil
}

// buildMessage is one JSON message of the engine's build stream.
type buildMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux *struct {
		ID string `json:"ID"`
	} `json:"aux"`
}

// readBuild copies the build's step lines to log and returns the image id,
// or the error the builder reported: the engine answers 200 to a build that
// fails, and says so only in the stream.
func readBuild(r io.Reader, log io.Writer) (string, error) {
	dec := json.NewDecoder(r)
	var id string
	for {
		var m buildMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("read the engine's build output: %w", err)
		}
		switch {
		case m.ErrorDetail != nil && m.ErrorDetail.Message != "":
			return "", errors.New(m.ErrorDetail.Message)
		case m.Error != "":
			return "", errors.New(m.Error)
		case m.Aux != nil && m.Aux.ID != "":
			id = m.Aux.ID
		}
		if m.Stream != "" {
			fmt.Fprint(log, m.Stream)
		}
	}
	if id == "" {
		return "", errors.New("the engine's build output ended without an image id")
	}
	return id, nil
}
