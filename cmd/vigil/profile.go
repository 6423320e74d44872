// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
)

// Profiling is a global option so that any command (events, run, replay)
// can be profiled as users run it, on the real driver: the consumer's cost
// depends on the kernel's event rate, which no in-process benchmark sees.
func profileFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cpuprofile", EnvVars: []string{"VIGIL_CPUPROFILE"},
			Usage: "write a pprof CPU profile of the whole command to `FILE` (go tool pprof reads it)"},
		&cli.StringFlag{Name: "memprofile", EnvVars: []string{"VIGIL_MEMPROFILE"},
			Usage: "write a pprof heap profile to `FILE` when the command ends"},
	}
}

var cpuProfile *os.File

func startProfile(c *cli.Context) error {
	path := c.String("cpuprofile")
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	cpuProfile = f
	return nil
}

// stopProfile runs after the command, also when it failed: a profile of a
// run that ended in an error is still worth reading.
func stopProfile(c *cli.Context) error {
	if cpuProfile != nil {
		pprof.StopCPUProfile()
		if err := cpuProfile.Close(); err != nil {
			logrus.Warnf("--cpuprofile: %v", err)
		}
		cpuProfile = nil
	}
	if path := c.String("memprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		defer f.Close()
		// The live heap as of the last collection, up to date.
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return fmt.Errorf("--memprofile %s: %w", path, err)
		}
	}
	return nil
}
