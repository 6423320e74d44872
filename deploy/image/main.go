// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Command image builds vigil's container image (make image): FROM scratch,
// the static binary at /usr/bin/vigil, the host's CA certificates, and
// ENTRYPOINT vigil; see the Dockerfile beside this file. It talks to the
// local Docker Engine through its API, so it needs neither BuildKit nor a
// docker CLI, and it pulls nothing.
//
//	go run ./deploy/image --binary bin/vigil --version 1.2.3
//
// tags vigil:1.2.3 and vigil:latest and prints the image's size.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/vigil-dev/vigil/builder"
)

func main() {
	binary := flag.String("binary", "bin/vigil", "the static vigil binary to put in the image")
	caCerts := flag.String("ca-certs", defaultCACerts, "the PEM bundle of CA certificates to put in the image")
	repo := flag.String("repo", "vigil", "the image's repository name")
	version := flag.String("version", "dev", "the image's version: its label, and the tag beside latest")
	flag.Parse()
	if err := run(*binary, *caCerts, *repo, *version); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(binary, caCerts, repo, version string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tag, err := tagFor(version)
	if err != nil {
		return err
	}
	d, err := builder.NewDocker(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	tags := []string{repo + ":" + tag, repo + ":latest"}
	res, err := buildImage(ctx, d.Client(), spec{
		Binary: binary, CACerts: caCerts, Version: version, Tags: tags, Log: os.Stderr,
	})
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", strings.Join(tags, " "), res.ID, humanSize(res.Size))
	return nil
}

// A Docker tag: word characters, dots and dashes, 128 at most, not
// starting with a dot or a dash.
var (
	tagBad   = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
	tagValid = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// tagFor turns a version into a tag: git describe's names are tags as they
// are; semver's build metadata ("+abc") becomes "-abc".
func tagFor(version string) (string, error) {
	tag := tagBad.ReplaceAllString(version, "-")
	if !tagValid.MatchString(tag) {
		return "", fmt.Errorf("version %q makes no Docker tag (%q): want letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128", version, tag)
	}
	return tag, nil
}

func humanSize(n int64) string {
	return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
}
