// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/loader/build"
	"github.com/vigil-dev/vigil/mirror"
)

// Exit codes of vigil driver install (and of run, events and capture when
// no driver can be had), documented in `vigil driver install --help`.
const (
	exitNoDriver = 3 // every step of the plan was skipped or failed
)

// EnvTrustedKeys lists the repositories' public keys (files or values),
// separated by commas, as VIGIL_DRIVER_REPOS lists repositories.
const envTrustedKeys = "VIGIL_TRUSTED_KEYS"

// loaderFlags are the driver loader's options, the same for driver
// install/printenv and for run, events and capture.
func loaderFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "driver", Value: string(loader.DriverAuto), EnvVars: []string{loader.EnvDriver},
			Usage: "auto (the kernel module where one can be had, else the eBPF probe), kmod or bpf"},
		&cli.StringSliceFlag{Name: "repo", EnvVars: []string{loader.EnvRepos},
			Usage: "a mirror of prebuilt modules: a `DIR`, file://, http(s):// or oci://REGISTRY/REPO URL; repeatable, tried in order (in $" + loader.EnvRepos + ", separated by commas)"},
		&cli.StringSliceFlag{Name: "trusted-key", EnvVars: []string{envTrustedKeys},
			Usage: "a repository's public `KEY`: a .pub file, a trust store file (keys with not-after= and revoked) or the " + mirror.PublicKeyPrefix + "… value; repeatable (a mirror's index must verify with one)"},
		&cli.StringFlag{Name: "cache-dir", Usage: "where verified modules are kept (default: <host-root>" + loader.DefaultCacheDir + ")"},
		&cli.BoolFlag{Name: "build", Value: true, EnvVars: []string{"VIGIL_DRIVER_BUILD"},
			Usage: "build the module when no prebuilt one can be had (--build=false: never)"},
		&cli.StringFlag{Name: "module-params", Usage: "kernel module parameters (\"ring_pages=512\")"},
		&cli.DurationFlag{Name: "repo-timeout", Usage: "bound each try of each download (default 1m)"},
		&cli.IntFlag{Name: "repo-attempts", Usage: "tries per file for network errors, 5xx and 429 (default 4, with backoff)"},
		&cli.StringSliceFlag{Name: "repo-header", Usage: "an HTTP header for the repositories, \"Name: value\"; repeatable"},
		&cli.StringFlag{Name: "repo-ca-file", TakesFile: true, Usage: "PEM CA certificates trusted for https repositories, beside the system's"},
	}
}

// hostRootFlag is --host-root for the commands that do not have it yet.
func hostRootFlag() cli.Flag {
	return &cli.StringFlag{Name: "host-root", Value: "/", EnvVars: []string{"HOST_ROOT", loader.EnvHostRoot},
		Usage: "the host's root file system (in a container: where it is mounted, /host)"}
}

// loaderSetup reads the host's facts and lays out the plan the options ask for.
func loaderSetup(c *cli.Context) (loader.Facts, *loader.Plan, error) {
	d, err := loader.ParseDriver(c.String("driver"))
	if err != nil {
		return loader.Facts{}, nil, err
	}
	f, err := loader.ReadFacts(c.String("host-root"))
	if err != nil {
		return loader.Facts{}, nil, fmt.Errorf("read the host's facts: %w", err)
	}
	if rel := c.String("kernel-release"); c.Command.Name == "install" && rel != "" {
		if c.String("kernel-version") == "" {
			return f, nil, fmt.Errorf("--kernel-release %s needs --kernel-version: that kernel's uname -v (\"#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)\")", rel)
		}
		f = f.ForKernel(rel, c.String("kernel-version"))
	}
	var repos []string
	for _, r := range c.StringSlice("repo") {
		repos = append(repos, loader.ParseRepos(r)...)
	}
	p, err := loader.NewPlan(f, loader.Options{
		Driver: d, Repos: repos, CacheDir: c.String("cache-dir"), HostRoot: f.HostRoot, Build: c.Bool("build"),
		Prepare: c.Command.Name == "install" && c.String("kernel-release") != "",
	})
	return f, p, err
}

// loadOptions turns the flags into the loader's load options.
func loadOptions(c *cli.Context) (loader.LoadOptions, error) {
	trust, err := loadTrust(c.StringSlice("trusted-key"), "--trusted-key")
	if err != nil {
		return loader.LoadOptions{}, err
	}
	return loader.LoadOptions{
		// Keys are the keys trusted now; Trust names the revoked and
		// expired ones when only they sign an index.
		Keys:         trust.Usable(time.Now()),
		ModuleParams: c.String("module-params"),
		Repo: loader.RepoOptions{
			Trust:    trust,
			Timeout:  c.Duration("repo-timeout"),
			Attempts: c.Int("repo-attempts"),
			Headers:  c.StringSlice("repo-header"),
			CAFile:   c.String("repo-ca-file"),
			Progress: os.Stderr,
		},
		Build: buildModule,
		Log:   logWriter{},
	}, nil
}

// logWriter sends the loader's attempt lines to the log.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	logrus.Info(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// openDriver gets a driver the way `vigil driver install` would and opens
// it for reading with cfg.
func openDriver(c *cli.Context, cfg driver.Config, bufferSize int) (*loader.Loaded, error) {
	f, p, err := loaderSetup(c)
	if err != nil {
		return nil, noDriver(err)
	}
	o, err := loadOptions(c)
	if err != nil {
		return nil, err
	}
	o.Config, o.BufferSize = cfg, bufferSize
	l, err := loader.Load(c.Context, f, p, o)
	if err != nil {
		return nil, noDriver(err)
	}
	logrus.WithFields(logrus.Fields{"driver": l.Driver, "ready_ms": l.Report.Ready.Milliseconds()}).Info("driver ready")
	return l, nil
}

func noDriver(err error) error {
	if errors.Is(err, loader.ErrNoDriver) {
		return cli.Exit(err.Error(), exitNoDriver)
	}
	return err
}

// driverLoaderCommands are falcoctl's names for the loader's jobs.
func driverLoaderCommands() []*cli.Command {
	root := func(fs ...cli.Flag) []cli.Flag { return append([]cli.Flag{hostRootFlag()}, fs...) }
	return []*cli.Command{
		{
			Name:  "install",
			Usage: "get a driver into this kernel: the kernel module (loaded, cached, from a repository, or built), else the eBPF probe",
			Description: "The init container's job. It prints each step of the plan and how it ended.\n\n" +
				"Exit codes: 0, a driver is usable (the module is loaded, or the eBPF probe will be used);\n" +
				"1, bad flags or an unexpected error; 3, no driver can be had (every attempt is listed).",
			Flags: root(append(loaderFlags(),
				&cli.StringFlag{Name: "kernel-release", Usage: "act for this `RELEASE` (uname -r) instead of the running kernel's: prepare a module for another kernel (it is cached, not loaded)"},
				&cli.StringFlag{Name: "kernel-version", Usage: "with --kernel-release: that kernel's `VERSION` (uname -v)"},
				&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			)...),
			Action: installAction,
		},
		{
			Name:   "printenv",
			Usage:  "print what the loader sees (kernel, distribution, target, module support) and the plan it would follow",
			Flags:  root(loaderFlags()...),
			Action: printenvAction,
		},
		{
			Name:   "status",
			Usage:  "is a vigil module loaded (its version, state and readers), and is the eBPF probe possible here",
			Flags:  root(),
			Action: statusAction,
		},
		{
			Name:   "cleanup",
			Usage:  "unload the vigil module (refused while a reader holds it) and empty the module cache",
			Flags:  root(&cli.StringFlag{Name: "cache-dir", Usage: "the module cache (default: <host-root>" + loader.DefaultCacheDir + ")"}),
			Action: cleanupAction,
		},
	}
}

func installAction(c *cli.Context) error {
	f, p, err := loaderSetup(c)
	if err != nil {
		return noDriver(err)
	}
	o, err := loadOptions(c)
	if err != nil {
		return err
	}
	o.InstallOnly = true
	other := p.Prepare // a module for another kernel: cached, never loaded
	l, err := loader.Load(c.Context, f, p, o)
	if l != nil {
		b, _ := json.MarshalIndent(l.Report, "", "  ")
		if c.Bool("json") {
			fmt.Fprintln(c.App.Writer, string(b))
		}
		if !other {
			// What the init container chose, for vigil driver status and
			// for whoever debugs the node later.
			if werr := writeReport(f.HostRoot, b); werr != nil {
				logrus.WithError(werr).Warn("could not keep the install report")
			}
		}
	}
	if err != nil {
		return noDriver(err)
	}
	switch {
	case other:
		fmt.Fprintf(c.App.Writer, "driver: module for %s ready in the cache (%s)\n", f.Release, l.Report.Attempts[len(l.Report.Attempts)-1].Step.CachePath)
	case l.Driver == loader.DriverBPF:
		fmt.Fprintln(c.App.Writer, "driver: bpf: the embedded eBPF probe will be used")
	default:
		fmt.Fprintf(c.App.Writer, "driver: kmod: the %s module %s is loaded\n", loader.ModuleName, driver.DriverVersion)
	}
	return nil
}

// installReport is where driver install keeps its last report.
func installReport(hostRoot string) string {
	return filepath.Join(hostRoot, loader.LockDir, "install.json")
}

func writeReport(hostRoot string, b []byte) error {
	path := installReport(hostRoot)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func printenvAction(c *cli.Context) error {
	f, p, err := loaderSetup(c)
	if p == nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "VIGIL_KERNEL_RELEASE=%s\n", f.Release)
	fmt.Fprintf(w, "VIGIL_KERNEL_VERSION=%s\n", f.Version)
	fmt.Fprintf(w, "VIGIL_ARCH=%s\n", f.Arch)
	fmt.Fprintf(w, "VIGIL_DISTRO=%s\n", f.Distro.ID)
	fmt.Fprintf(w, "VIGIL_TARGET=%s\n", f.Target.ID)
	fmt.Fprintf(w, "VIGIL_DRIVER_VERSION=%s\n", driver.DriverVersion)
	fmt.Fprintf(w, "VIGIL_ARTIFACT=%s\n", f.Target.ArtifactName())
	fmt.Fprintf(w, "VIGIL_HOST_ROOT=%s\n", f.HostRoot)
	fmt.Fprintf(w, "VIGIL_MODULES=%t\nVIGIL_BTF=%t\nVIGIL_LOCKDOWN=%s\nVIGIL_SIG_ENFORCE=%t\n", f.Modules, f.BTF, f.Lockdown, f.SigEnforce)
	fmt.Fprintf(w, "VIGIL_HEADERS=%s\n", f.Headers)
	fmt.Fprintf(w, "\nplan (--driver %s):\n%s", p.Driver, p)
	if err != nil {
		return noDriver(err)
	}
	return nil
}

func statusAction(c *cli.Context) error {
	f, err := loader.ReadFacts(c.String("host-root"))
	if err != nil {
		return err
	}
	w := c.App.Writer
	switch {
	case !f.Modules:
		fmt.Fprintln(w, "module: none (the kernel has no module support)")
	case f.Module == nil:
		fmt.Fprintln(w, "module: not loaded")
	default:
		readers := "unknown"
		if b, err := os.ReadFile(filepath.Join(f.SysDir, "module", loader.ModuleName, "refcnt")); err == nil {
			readers = strings.TrimSpace(string(b))
		}
		fmt.Fprintf(w, "module: %s %s, %s, readers %s (this vigil needs %s)\n", loader.ModuleName, f.Module.Version, f.Module.State, readers, driver.DriverVersion)
	}
	p, err := loader.NewPlan(f, loader.Options{Driver: loader.DriverBPF, HostRoot: f.HostRoot})
	if err != nil {
		fmt.Fprintf(w, "probe: cannot run here: %s\n", p.Steps[0].Skip)
	} else {
		fmt.Fprintf(w, "probe: possible (kernel %s, BTF)\n", f.Release)
	}
	var rep loader.Report
	if b, err := os.ReadFile(installReport(f.HostRoot)); err == nil && json.Unmarshal(b, &rep) == nil {
		fmt.Fprintf(w, "last install: driver %q for %s, ready in %s\n", rep.Driver, rep.Release, rep.Ready)
		for i, a := range rep.Attempts {
			fmt.Fprintf(w, "  %d. %s: %s", i+1, a.Outcome, a.What)
			if a.Reason != "" {
				fmt.Fprintf(w, ": %s", a.Reason)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

func cleanupAction(c *cli.Context) error {
	f, err := loader.ReadFacts(c.String("host-root"))
	if err != nil {
		return err
	}
	var errs []error
	if f.Module != nil {
		if err := loader.UnloadModule(loader.ModuleName); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(c.App.Writer, "cleanup: unloaded the %s module\n", loader.ModuleName)
		}
	}
	cache := c.String("cache-dir")
	if cache == "" {
		cache = filepath.Join(f.HostRoot, loader.DefaultCacheDir)
	}
	if err := os.RemoveAll(cache); err != nil {
		errs = append(errs, fmt.Errorf("empty the module cache: %w", err))
	} else {
		fmt.Fprintf(c.App.Writer, "cleanup: emptied %s\n", cache)
	}
	return errors.Join(errs...)
}

// buildModule is the loader's build step: DKMS or Kbuild with the host's
// headers, else the containerized builder with headers from the Debian
// catalogue, through the host's Docker socket.
var buildModule = build.New(build.Options{Log: os.Stderr})
