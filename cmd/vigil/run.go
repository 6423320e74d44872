// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/loader"
)

// detectFlags are the flags vigil run and vigil replay share: which rules,
// and where alerts go.
func detectFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "rules", Aliases: []string{"r"}, Usage: "rules `FILE` (repeatable, loaded in order); default: vigil's embedded rules"},
		&cli.StringFlag{Name: "min-priority", Usage: "run only rules at least this severe (emergency … debug)"},
		&cli.StringSliceFlag{Name: "enable-tag", Usage: "run only rules with one of these tags"},
		&cli.StringSliceFlag{Name: "disable-tag", Usage: "do not run rules with any of these tags"},
		&cli.BoolFlag{Name: "all-matches", Usage: "an alert for every matching rule, not only the first"},
		// The output flags' names are output's, which its errors name.
		&cli.StringFlag{Name: output.FlagFormat, Aliases: []string{"o"}, Value: "text", Usage: "alert format on stdout, file and program outputs: text or json"},
		&cli.BoolFlag{Name: output.FlagNoStdout, Usage: "do not write alerts to stdout"},
		&cli.StringFlag{Name: output.FlagFile, Usage: "append alerts to `FILE`"},
		&cli.StringFlag{Name: output.FlagHTTPURL, Usage: "POST each alert as JSON to `URL` (Falcosidekick-compatible)"},
		&cli.StringSliceFlag{Name: output.FlagHTTPHeader, Usage: "extra `\"Name: value\"` header for --" + output.FlagHTTPURL + " (repeatable)"},
		&cli.DurationFlag{Name: output.FlagHTTPTimeout, Value: output.DefaultHTTPTimeout, Usage: "give up on one POST to --" + output.FlagHTTPURL + " after this long"},
		&cli.StringFlag{Name: output.FlagProgram, Usage: "write each alert as a line to the stdin of `COMMAND` (run with sh -c)"},
		&cli.BoolFlag{Name: output.FlagProgramKeepAlive, Usage: "run --" + output.FlagProgram + " once and keep it running, instead of once per alert"},
		&cli.IntFlag{Name: output.FlagQueueSize, Usage: "alerts each output holds before it drops (0: the default)"},
		&cli.DurationFlag{Name: "duration", Usage: "stop after this long (0: until interrupted)"},
	}, appendOutputFlags()...)
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "detect: the driver's events through the rules to the outputs (default rules, alerts on stdout)",
		Description: "Gets a driver as vigil driver install does (--driver auto: the kernel module where one can be\n" +
			"had, else the embedded CO-RE eBPF probe), tells it to capture only the syscalls the rules and\n" +
			"state tracking need, and raises an alert for each event a rule matches. Container metadata\n" +
			"comes from the Docker Engine socket under --host-root; when it cannot be had, container\n" +
			"fields read <NA> and one warning per runtime says why.",
		Flags: append(append(detectFlags(),
			&cli.StringFlag{Name: "host-root", Value: "/", EnvVars: []string{"HOST_ROOT", "VIGIL_HOST_ROOT"},
				Usage: "where the host's root is mounted (/host in a container): its /proc, /etc and container sockets"},
			&cli.StringFlag{Name: "docker-socket", Usage: "Docker Engine API: unix:///path, a socket path, or tcp://host:port " +
				"(default: $DOCKER_HOST when it is unix://, else <host-root>/var/run/docker.sock)"},
			&cli.StringFlag{Name: "containerd-socket", Usage: "containerd's socket, a path or unix:///path, for CRI metadata (default: <host-root>/run/containerd/containerd.sock)"},
			&cli.StringFlag{Name: "crio-socket", Usage: "CRI-O's socket, a path or unix:///path, for CRI metadata (default: <host-root>/var/run/crio/crio.sock)"},
			&cli.StringFlag{Name: "podman-socket", Usage: "the podman service's API socket: unix:///path, a socket path, or tcp://host:port " +
				"(default: <host-root>/run/podman/podman.sock)"},
			&cli.StringFlag{Name: "buffer-size", Value: runBufferSize, Usage: "ring buffer size per CPU (a power of two); the kernel's pages of each count twice in vigil's resident memory"},
			&cli.BoolFlag{Name: "all-syscalls", Usage: "capture every syscall, not only those the rules and state tracking need"},
			kernelFilterFlag(), configFlag(), webListenFlag(),
		), append(append(loaderFlags(), daemonFlags()...), auditFlags()...)...),
		Action: runAction,
	}
}

// runBufferSize is vigil run's ring buffer per CPU. Mapped ring pages
// count in RSS at once: at 8 MiB, mapped twice as they were then, the
// rings alone were 33 MiB of a 2-CPU agent's 70 MiB. run captures only
// what the rules and state need; under a 60 s exec and open flood (~480k
// events/s on 2 CPUs) 4 MiB dropped nothing where 2 MiB lost 0.1% of the
// events, so 4 MiB it is (8 MiB of RSS on 2 CPUs, each ring now mapped
// once). A host that drops raises --buffer-size.
const runBufferSize = "4MiB"

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "run rules over a capture file (vigil capture), alerts to the outputs",
		ArgsUsage: "FILE",
		Flags:     detectFlags(),
		Action:    replayAction,
	}
}

// detector is what run and replay build from the shared flags.
type detector struct {
	prog *eval.Program
	out  *output.Dispatcher
	// mtimes are the rules files' as they were before being compiled:
	// --watch-rules compares with them, so no change after compiling is
	// missed however late its goroutine starts.
	mtimes []time.Time
}

func newDetector(c *cli.Context, tab *driver.SyscallTable) (*detector, error) {
	mtimes := ruleMtimes(c)
	prog, running, err := compileRules(c, tab)
	if err != nil {
		return nil, err
	}
	out, err := output.New(output.Config{
		Format: c.String(output.FlagFormat), Stdout: !c.Bool(output.FlagNoStdout), File: c.String(output.FlagFile), FileKeepAlive: true,
		HTTPURL: c.String(output.FlagHTTPURL), HTTPHeaders: c.StringSlice(output.FlagHTTPHeader), HTTPTimeout: c.Duration(output.FlagHTTPTimeout),
		Program: c.String(output.FlagProgram), ProgramKeepAlive: c.Bool(output.FlagProgramKeepAlive),
		QueueSize: c.Int(output.FlagQueueSize), Version: version,
	})
	if err != nil {
		return nil, err
	}
	logrus.WithField("rules", running).Info("rules loaded")
	return &detector{prog: prog, out: out, mtimes: mtimes}, nil
}

// finish closes the outputs, waiting a little for queued alerts, and logs
// what the run counted.
func (d *detector) finish(eng *engine.Engine) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := d.out.Close(ctx)
	fields := logrus.Fields{}
	if eng != nil {
		st := eng.Stats()
		fields["events"], fields["alerts"] = st.Events, st.Alerts
	}
	for _, s := range stats {
		if s.Undelivered() > 0 {
			logrus.Warnf("output %s", s)
		}
	}
	logrus.WithFields(fields).Info("detection stopped")
	return err
}

// signalContext is done on SIGINT, SIGTERM or after d (when d > 0).
func signalContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if d <= 0 {
		return ctx, stop
	}
	ctx2, cancel := context.WithTimeout(ctx, d)
	return ctx2, func() { cancel(); stop() }
}

func runAction(c *cli.Context) error {
	sigs := notifyDaemonSignals() // before anything: a SIGHUP must not kill vigil
	defer sigs.stop()
	if err := applyConfig(c); err != nil {
		return err
	}
	if c.Duration("duration") < 0 {
		return fmt.Errorf("--duration %s: want a positive duration, or 0 to run until interrupted", c.Duration("duration"))
	}
	size, err := parseSize(c.String("buffer-size"))
	if err != nil {
		return fmt.Errorf("--buffer-size: %w", err)
	}
	if err := driver.CheckRingSize(size); err != nil {
		return fmt.Errorf("--buffer-size %s: %w", c.String("buffer-size"), err)
	}
	for _, name := range []string{"docker-socket", "podman-socket"} {
		if s := c.String(name); s != "" {
			if _, err := container.ParseEndpoint(s); err != nil {
				return fmt.Errorf("--%s %q: %w", name, s, err)
			}
		}
	}
	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		return err
	}
	// Starting (the rules compiled, the tables seeded, the driver loaded)
	// makes garbage by the MiB that a collector waiting for the heap to
	// double lets pile up into the agent's resident peak: collect often
	// until detection starts (vigil run's peak when ready: 39.6-41.7 MiB
	// without, 38.4-38.8 with).
	gcPercent := debug.SetGCPercent(10)
	d, err := newDetector(c, tab)
	if err != nil {
		return err
	}
	audit, err := startAudit(c, d.prog, d.out.Send)
	if err != nil {
		d.finish(nil)
		return err
	}
	hostRoot := c.String("host-root")
	resolver := container.NewResolver(container.Config{
		HostRoot: hostRoot, DockerSocket: c.String("docker-socket"),
		ContainerdSocket: c.String("containerd-socket"), CRIOSocket: c.String("crio-socket"), PodmanSocket: c.String("podman-socket"),
		Warn: func(w container.Warning) { logrus.Warn(w.String()) },
		Recovered: func(w container.Warning) {
			logrus.WithField("runtime", w.Runtime).Info("container metadata available again")
		},
	})
	defer resolver.Close()
	hostname, _ := os.Hostname()
	eng, err := engine.New(engine.Config{
		Program: d.prog, Emit: d.out.Send, HostRoot: hostRoot, Live: true,
		Containers: resolver, Clock: driver.NewClock(), Syscalls: tab, Hostname: hostname,
	})
	if err != nil {
		d.finish(nil)
		return err
	}
	cfg := driver.Config{Snaplen: driver.DefaultSnaplen, IgnorePID: loader.HostPID(hostRoot)}
	if !c.Bool("all-syscalls") {
		cfg.Syscalls = engine.Syscalls(d.prog, tab)
	}
	cfg.Filter = kernelFilter(c, d.prog, logrus.NewEntry(logrus.StandardLogger()))
	l, err := openDriver(c, cfg, size)
	if err != nil {
		d.finish(nil)
		return err
	}
	kernelFilterDriver(cfg, l.Driver)
	src := l.Source
	// Loading the driver and seeding the tables left garbage several times
	// the size of what the engine keeps (the kernel's BTF alone is ~10 MiB
	// while the probe loads); give it back now rather than when the
	// scavenger gets to it, so that the steady state is what is resident.
	debug.FreeOSMemory()
	debug.SetGCPercent(gcPercent)
	fields := logrus.Fields{"driver": l.Driver, "buffer_size": size, "syscalls": "all"}
	if cfg.Syscalls != nil {
		n := 0
		for _, on := range cfg.Syscalls {
			if on {
				n++
			}
		}
		fields["syscalls"] = n
	}
	if am, ok := src.(interface{ AttachMode() string }); ok {
		fields["hooks"] = am.AttachMode()
	}
	logrus.WithFields(fields).Info("detecting")
	ctx, cancel := signalContext(c.Duration("duration"))
	defer cancel()
	// Close the source when the context ends: that interrupts a blocked Next.
	go func() { <-ctx.Done(); src.Close() }()
	if err := startWeb(ctx, c, webParts{eng: eng, out: d.out, src: src, driver: l.Driver, containers: resolver}); err != nil {
		return errors.Join(err, d.finish(eng)) // the deferred cancel closes the source
	}
	go sigs.serve(ctx, &daemon{c: c, tab: tab, eng: eng, out: d.out, src: src, audit: audit, cfg: cfg, hostname: hostname, mtimes: d.mtimes})
	runErr := eng.Run(ctx, src)
	if st, err := src.Stats(); err == nil && st.Drops+st.Missed > 0 {
		logrus.WithFields(logrus.Fields{"drops": st.Drops, "missed": st.Missed}).Warn("events were lost: raise --buffer-size")
	}
	src.Close()
	return outputsExit(errors.Join(runErr, audit.stop(), d.finish(eng)), d.out)
}

func replayAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("vigil replay FILE: want one capture file, got %d arguments", c.NArg())
	}
	r, err := driver.OpenCapture(c.Args().First())
	if err != nil {
		return err
	}
	defer r.Close()
	meta := r.Meta()
	tab, err := driver.NewSyscallTable(meta.Arch)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Args().First(), err)
	}
	d, err := newDetector(c, tab)
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Config{
		Program: d.prog, Emit: d.out.Send, Clock: meta.Clock(), Syscalls: tab, Hostname: meta.Hostname,
	})
	if err != nil {
		d.finish(nil)
		return err
	}
	snap, err := r.Snapshot()
	if err != nil {
		// The events are still good: replay them without the snapshot.
		logrus.Warnf("%v", err)
	}
	eng.Restore(snap)
	ctx, cancel := signalContext(c.Duration("duration"))
	defer cancel()
	runErr := eng.Run(ctx, r)
	// Alerts from every event outside the damage were raised; say what
	// could not be read, and fail, so that no one takes it for the whole.
	var damage []error
	for _, sk := range r.Skipped() {
		damage = append(damage, sk)
	}
	return errors.Join(append([]error{runErr, d.finish(eng)}, damage...)...)
}
