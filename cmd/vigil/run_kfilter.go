// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"reflect"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/kfilter"
	"github.com/vigil-dev/vigil/loader"
)

func kernelFilterFlag() cli.Flag {
	return &cli.BoolFlag{Name: "kernel-filter", Value: true,
		Usage: "discard in the kernel the open, socket and connect events no rule and no state tracking can use " +
			"(derived from the rules; the eBPF probe applies it, the kernel module does not; off with --all-syscalls)"}
}

// kernelFilter derives the in-kernel filter for prog and logs what it
// keeps; nil when it is off (--kernel-filter=false, --all-syscalls) or
// nothing can be dropped.
func kernelFilter(c *cli.Context, prog *eval.Program, log *logrus.Entry) *driver.KernelFilter {
	if !c.Bool("kernel-filter") || c.Bool("all-syscalls") {
		return nil
	}
	r := kfilter.Derive(prog)
	for _, n := range r.Notes {
		log.Debug("kernel filter: " + n)
	}
	if r.Filter == nil {
		log.WithField("why", r.Notes).Info("kernel filter: none, the rules can use every event")
		return nil
	}
	log.WithField("kernel_filter", r.Filter.String()).Info("kernel filter derived from the rules")
	return r.Filter
}

// kernelFilterDriver says, once the driver is known, whether it applies
// the filter.
func kernelFilterDriver(cfg driver.Config, d loader.Driver) {
	if cfg.Filter != nil && d != loader.DriverBPF {
		logrus.WithField("driver", d).Info("kernel filter: the kernel module does not apply it (eBPF probe only): every event of the selected syscalls is read")
	}
}

// updateFilter gives the driver the filter of the reloaded rules. Until
// then the old filter may discard what a new rule needs, as the old
// syscall selection may.
func (d *daemon) updateFilter(log *logrus.Entry, prog *eval.Program) {
	f := kernelFilter(d.c, prog, log)
	if reflect.DeepEqual(f, d.cfg.Filter) {
		return
	}
	sc, ok := d.src.(interface{ SetConfig(driver.Config) error })
	if !ok {
		log.Warn("the driver cannot change its kernel filter: rules matching what the old one discards do not fire until restart")
		return
	}
	cfg := d.cfg
	cfg.Filter = f
	if err := sc.SetConfig(cfg); err != nil {
		log.WithError(err).Warn("the driver's kernel filter was not updated: rules matching what the old one discards do not fire until restart")
		return
	}
	d.cfg = cfg
	log.Info("driver's kernel filter updated for the new rules")
}
