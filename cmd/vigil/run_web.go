// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

// vigil run's web server: /healthz, /versions and /metrics
// (internal/webserver), started once the driver runs.

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/ruleset"
	"github.com/vigil-dev/vigil/internal/webserver"
	"github.com/vigil-dev/vigil/loader"
)

const flagWebListen = "webserver-listen"

func webListenFlag() cli.Flag {
	return &cli.StringFlag{Name: flagWebListen, EnvVars: []string{"VIGIL_WEBSERVER_LISTEN"},
		Usage: "serve /healthz, /versions and /metrics on `ADDR` (host:port; the config file's webserver: " +
			webserver.DefaultListen + " unless it says otherwise); empty: no web server"}
}

// webParts are what the web server reports on.
type webParts struct {
	eng        *engine.Engine
	out        *output.Dispatcher
	src        driver.Source
	driver     loader.Driver
	containers *container.Resolver
}

// startWeb listens on --webserver-listen, if given, and serves until ctx
// is done. It must run before the engine and anything else sends alerts:
// it makes the outputs count them by rule from then on.
func startWeb(ctx context.Context, c *cli.Context, p webParts) error {
	addr := c.String(flagWebListen)
	if addr == "" {
		return nil
	}
	fc := fileConfigOf(c).Webserver
	cfg := webserver.Config{
		Engine: p.eng, DriverStats: p.src.Stats, DriverKind: string(p.driver), DriverVersion: version,
		Outputs: p.out.Stats, Containers: p.containers.Stats, Version: version, SchemaVersion: driver.SchemaVersion,
		Rules:   func() ([][]byte, error) { return rulesBytes(c) },
		Metrics: metricsEnabled(fileConfigOf(c)),
	}
	if p.driver == loader.DriverKmod {
		cfg.DriverVersion = driver.DriverVersion
	}
	if fc.K8sHealthzEndpoint != nil {
		cfg.HealthzPath = *fc.K8sHealthzEndpoint
	}
	if fc.StallTimeout != nil {
		cfg.StallTimeout = fc.StallTimeout.Duration
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--%s: %w", flagWebListen, err)
	}
	s := webserver.New(cfg)
	p.out.Observe(s.CountAlert)
	logrus.WithField("address", ln.Addr().String()).Info("web server listening")
	go func() {
		if err := s.Serve(ctx, ln); err != nil {
			logrus.WithError(err).Error("web server stopped")
		}
	}()
	return nil
}

// metricsEnabled: /metrics is served unless the file turns it off, either
// way Falco's file can (metrics.enabled or
// webserver.prometheus_metrics_enabled false).
func metricsEnabled(fc *fileConfig) bool {
	off := func(b *bool) bool { return b != nil && !*b }
	return !off(fc.Metrics.Enabled) && !off(fc.Webserver.PrometheusMetricsEnabled)
}

// rulesBytes reads the rules vigil run loads, in order, for their hash.
func rulesBytes(c *cli.Context) ([][]byte, error) {
	files := c.StringSlice("rules")
	if len(files) == 0 {
		return [][]byte{ruleset.Default()}, nil
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
