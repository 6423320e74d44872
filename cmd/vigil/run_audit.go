// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/k8saudit"
	"github.com/vigil-dev/vigil/engine/output"
)

// Flags of the Kubernetes audit source of vigil run.
const (
	flagK8sAuditListen  = "k8s-audit-listen"
	flagK8sAuditToken   = "k8s-audit-token"
	flagK8sAuditTLSCert = "k8s-audit-tls-cert"
	flagK8sAuditTLSKey  = "k8s-audit-tls-key"
)

func auditFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagK8sAuditListen, Usage: fmt.Sprintf("receive Kubernetes audit events (the API server's audit webhook) on `ADDR`, "+
			"e.g. 127.0.0.1:%d, path %s, and run the rules with source: k8s_audit on them (default: off)", k8saudit.DefaultPort, k8saudit.DefaultPath)},
		// From the environment too, so that the token is not in ps.
		&cli.StringFlag{Name: flagK8sAuditToken, EnvVars: []string{"VIGIL_K8S_AUDIT_TOKEN"},
			Usage: "bearer `TOKEN` the audit webhook must send (401 otherwise)"},
		&cli.StringFlag{Name: flagK8sAuditTLSCert, Usage: "serve the audit endpoint over HTTPS with this PEM certificate `FILE` (with --" + flagK8sAuditTLSKey + ")"},
		&cli.StringFlag{Name: flagK8sAuditTLSKey, Usage: "PEM private key `FILE` of --" + flagK8sAuditTLSCert},
	}
}

// auditSource is vigil run's Kubernetes audit endpoint and the goroutine
// that runs the k8s_audit rules on what it receives; nil when off.
type auditSource struct {
	srv  *k8saudit.Server
	det  *k8saudit.Detector
	done chan struct{}
}

// startAudit starts the audit endpoint when --k8s-audit-listen is set.
// Its alerts go to emit, beside the syscall rules'.
func startAudit(c *cli.Context, prog *eval.Program, emit func(*output.Alert)) (*auditSource, error) {
	listen := c.String(flagK8sAuditListen)
	if listen == "" {
		for _, f := range []string{flagK8sAuditToken, flagK8sAuditTLSCert, flagK8sAuditTLSKey} {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--%s: the audit endpoint is off; give --%s ADDR too", f, flagK8sAuditListen)
			}
		}
		if prog.Runs(k8saudit.Source) {
			logrus.Warnf("rules with source: %s are loaded but see no events: give --%s ADDR to receive the API server's audit webhook",
				k8saudit.Source, flagK8sAuditListen)
		}
		return nil, nil
	}
	if !prog.Runs(k8saudit.Source) {
		logrus.Warnf("--%s: no rule with source: %s runs, events will be received and counted only (add e.g. --rules k8s_audit_rules.yaml)",
			flagK8sAuditListen, k8saudit.Source)
	}
	srv, err := k8saudit.Listen(k8saudit.Config{
		Listen: listen, Token: c.String(flagK8sAuditToken),
		TLSCert: c.String(flagK8sAuditTLSCert), TLSKey: c.String(flagK8sAuditTLSKey),
	})
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", flagK8sAuditListen, listen, err)
	}
	hostname, _ := os.Hostname()
	a := &auditSource{srv: srv, det: k8saudit.NewDetector(prog, hostname, emit), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		// Ends when stop closes the server, which closes Events.
		a.det.Run(context.Background(), srv.Events())
	}()
	logrus.WithFields(logrus.Fields{"url": srv.URL(), "token": c.String(flagK8sAuditToken) != ""}).Info("receiving Kubernetes audit events")
	return a, nil
}

// Stats returns the endpoint's counters (zero when off).
func (a *auditSource) Stats() k8saudit.Stats {
	if a == nil {
		return k8saudit.Stats{}
	}
	return a.srv.Stats()
}

// stop closes the endpoint, lets the rules finish the queued events and
// logs the counters. Call it before closing the outputs.
func (a *auditSource) stop() error {
	if a == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Close(ctx)
	<-a.done
	st := a.srv.Stats()
	events, alerts := a.det.Counts()
	log := logrus.WithFields(logrus.Fields{"events": events, "alerts": alerts, "requests": st.Requests,
		"dropped": st.Dropped, "refused": st.Refused()})
	if st.Dropped > 0 {
		log.Warn("Kubernetes audit source stopped: events were dropped, the rules were slower than the API server")
	} else {
		log.Info("Kubernetes audit source stopped")
	}
	if err != nil {
		return errors.New("close the Kubernetes audit endpoint: " + err.Error())
	}
	return nil
}
