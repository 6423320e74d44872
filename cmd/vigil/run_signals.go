// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

// vigil run as a daemon: what it does on signals while it detects (SIGHUP
// reloads the rules, SIGUSR1 reopens file outputs), the drop alert, and the
// exit code that says an output failed.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/engine/ruleset"
)

// exitOutputFailed is vigil run's exit code when detection ran to its end
// but an output failed to deliver alerts (a closed stdout, a full disk).
const exitOutputFailed = 4

const (
	// DropRule is the drop alert's rule name, after Falco's "Falco
	// internal: syscall event drop".
	dropRule = "vigil internal: syscall event drop"
	// dropCheckEvery is how often the driver's drop counter is read, as
	// Falco does (every second).
	dropCheckEvery = time.Second
	// dropAlertEvery bounds the drop alerts: a buffer that stays full
	// raises one per interval with the drops since the last one.
	dropAlertEvery = 10 * time.Second
	// watchEvery is how often --watch-rules looks at the files' mtimes.
	watchEvery = 2 * time.Second
)

// daemonFlags are vigil run's flags for a long-running agent.
func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "watch-rules", Usage: "reload the rules when a --rules file changes (as on SIGHUP)"},
		&cli.DurationFlag{Name: "stats-interval", Usage: "log the driver's and the outputs' counters this often (0: never)"},
	}
}

// compileRules loads and compiles the rules the flags name; it returns
// the program and how many of its rules run.
func compileRules(c *cli.Context, tab *driver.SyscallTable) (*eval.Program, int, error) {
	set := rules.NewSet()
	if files := c.StringSlice("rules"); len(files) > 0 {
		var err error
		if set, err = rules.LoadFiles(files...); err != nil {
			return nil, 0, fmt.Errorf("load rules: %w\n(vigil rules validate FILE shows every problem)", err)
		}
	} else {
		if err := set.AddFile(ruleset.Name, ruleset.Default()); err != nil {
			return nil, 0, fmt.Errorf("embedded rules: %w", err)
		}
		if err := set.Resolve(); err != nil {
			return nil, 0, fmt.Errorf("embedded rules: %w", err)
		}
	}
	appended, suggested, err := appendOptions(c)
	if err != nil {
		return nil, 0, err
	}
	prog, err := eval.Compile(set, eval.Options{
		MinPriority: c.String("min-priority"), Tags: c.StringSlice("enable-tag"),
		DisableTags: c.StringSlice("disable-tag"), AllMatches: c.Bool("all-matches"), Syscalls: tab,
		Append: appended, SuggestedOutput: suggested,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("compile rules: %w\n(vigil rules validate FILE shows every problem)", err)
	}
	for _, w := range prog.Warnings() {
		logrus.Warn(w.Error())
	}
	running := 0
	for _, r := range prog.Rules() {
		if r.Runs {
			running++
		}
	}
	if running == 0 {
		return nil, 0, errors.New("no rule runs: check --rules, --min-priority and the tag flags")
	}
	return prog, running, nil
}

// daemonSignals receives the signals vigil run handles itself. It is made
// first thing, so that a SIGHUP during start-up waits for the engine
// instead of killing vigil.
type daemonSignals struct {
	ch chan os.Signal
}

func notifyDaemonSignals() *daemonSignals {
	s := &daemonSignals{ch: make(chan os.Signal, 8)}
	// SIGPIPE is taken too: without a handler Go's runtime kills the
	// process when a write to stdout meets a closed pipe; with one, the
	// write returns EPIPE and only the stdout output fails.
	signal.Notify(s.ch, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGPIPE)
	return s
}

func (s *daemonSignals) stop() { signal.Stop(s.ch) }

// daemon is what the signals act on while the engine runs.
type daemon struct {
	c        *cli.Context
	tab      *driver.SyscallTable
	eng      *engine.Engine
	out      *output.Dispatcher
	src      driver.Source
	audit    *auditSource  // nil without --k8s-audit-listen
	cfg      driver.Config // what the driver was told, updated by reloads
	hostname string

	lastDrops driver.Stats // the counters at the last drop alert
	nextAlert time.Time
	mtimes    []time.Time
}

// serve handles signals, drop alerts, stats and --watch-rules until ctx
// is done. It runs beside the engine's goroutine and only hands it a
// program (engine.Reload) and alerts (the Dispatcher is safe for that).
func (s *daemonSignals) serve(ctx context.Context, d *daemon) {
	drops := time.NewTicker(dropCheckEvery)
	defer drops.Stop()
	var stats, watch <-chan time.Time
	if iv := d.c.Duration("stats-interval"); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		stats = t.C
	}
	if d.c.Bool("watch-rules") {
		if len(d.c.StringSlice("rules")) == 0 {
			logrus.Warn("--watch-rules: no --rules file to watch (the embedded rules do not change)")
		} else {
			t := time.NewTicker(watchEvery)
			defer t.Stop()
			watch = t.C
		}
	}
	d.lastDrops, _ = d.src.Stats()
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-s.ch:
			switch sig {
			case syscall.SIGHUP:
				d.reload("SIGHUP")
			case syscall.SIGUSR1:
				if err := d.out.Reopen(); err != nil {
					logrus.WithError(err).Error("SIGUSR1: reopen outputs")
				} else {
					logrus.Info("SIGUSR1: file outputs reopened")
				}
			}
		case <-drops.C:
			d.checkDrops()
		case <-stats:
			d.logStats()
		case <-watch:
			if m := ruleMtimes(d.c); !slices.Equal(m, d.mtimes) {
				d.mtimes = m
				d.reload("rules file changed")
			}
		}
	}
}

// reload compiles the rules again, as at start, and hands the program to
// the engine; rules that do not compile leave the old ones running.
func (d *daemon) reload(why string) {
	log := logrus.WithField("trigger", why)
	prog, running, err := compileRules(d.c, d.tab)
	if err != nil {
		log.WithError(err).Error("rules not reloaded: the previous rules keep running")
		return
	}
	if !d.c.Bool("all-syscalls") {
		d.updateSyscalls(log, engine.Syscalls(prog, d.tab))
	}
	d.updateFilter(log, prog)
	d.eng.Reload(prog)
	if d.audit != nil {
		d.audit.det.Reload(prog) // k8s_audit rules come from the same files
	}
	log.WithField("rules", running).Info("rules reloaded")
}

// updateSyscalls tells the driver to capture what the new rules need. It
// is best effort: a driver that cannot change its selection keeps the old
// one, and rules on the other syscalls do not fire.
func (d *daemon) updateSyscalls(log *logrus.Entry, sel []bool) {
	if slices.Equal(sel, d.cfg.Syscalls) {
		return
	}
	sc, ok := d.src.(interface{ SetConfig(driver.Config) error })
	if !ok {
		log.Warn("the driver cannot change the syscalls it captures: rules on syscalls it was not capturing do not fire until restart")
		return
	}
	cfg := d.cfg
	cfg.Syscalls = sel
	if err := sc.SetConfig(cfg); err != nil {
		log.WithError(err).Warn("the driver's syscall selection was not updated: rules on syscalls it was not capturing do not fire until restart")
		return
	}
	d.cfg = cfg
	log.Info("driver's syscall selection updated for the new rules")
}

// ruleMtimes are the --rules files' modification times (zero for one
// that cannot be read).
func ruleMtimes(c *cli.Context) []time.Time {
	var m []time.Time
	for _, f := range c.StringSlice("rules") {
		var t time.Time
		if fi, err := os.Stat(f); err == nil {
			t = fi.ModTime()
		}
		m = append(m, t)
	}
	return m
}

// checkDrops raises the drop alert when the driver's drop counter rose,
// at most once per dropAlertEvery, with the drops since the last alert.
func (d *daemon) checkDrops() {
	st, err := d.src.Stats()
	if err != nil || st.Drops <= d.lastDrops.Drops || time.Now().Before(d.nextAlert) {
		return
	}
	prev := d.lastDrops
	d.lastDrops, d.nextAlert = st, time.Now().Add(dropAlertEvery)
	n := st.Drops - prev.Drops
	var perCPU []string
	for i, c := range st.PerCPU {
		var was uint64
		if i < len(prev.PerCPU) {
			was = prev.PerCPU[i].Drops
		}
		if c.Drops > was {
			perCPU = append(perCPU, fmt.Sprintf("cpu%d=%d", i, c.Drops-was))
		}
	}
	msg := fmt.Sprintf("vigil internal: syscall event drop. %d system calls dropped since the last check (raise --buffer-size).", n)
	logrus.WithFields(logrus.Fields{"drops": n, "drops_total": st.Drops, "events": st.Events}).Warn(msg)
	d.out.Send(&output.Alert{
		Time: time.Now(), Rule: dropRule, Priority: "Critical", Source: "internal", Hostname: d.hostname,
		Output: fmt.Sprintf("%s (n_drops=%d n_evts=%d)", msg, n, st.Events-prev.Events),
		OutputFields: map[string]any{
			"n_drops": int64(n), "n_evts": int64(st.Events - prev.Events),
			"n_drops_total": int64(st.Drops), "n_evts_total": int64(st.Events),
			"n_missed_total": int64(st.Missed), "n_drops_per_cpu": strings.Join(perCPU, " "),
		},
	})
}

func (d *daemon) logStats() {
	pub := d.eng.Published()
	f := logrus.Fields{"events": pub.Events, "alerts": pub.Alerts, "reloads": pub.Reloads}
	if st, err := d.src.Stats(); err == nil {
		f["driver_events"], f["drops"], f["missed"], f["filtered"] = st.Events, st.Drops, st.Missed, st.Filtered
	}
	for _, s := range d.out.Stats() {
		f["output "+s.Name] = fmt.Sprintf("sent %d failed %d dropped %d", s.Sent, s.Failed, s.Dropped)
	}
	logrus.WithFields(f).Info("stats")
}

// outputsExit turns a run that ended well but with an output that failed
// to deliver alerts into exitOutputFailed. The Dispatcher is closed by
// then: Close returns its final report again.
func outputsExit(err error, out *output.Dispatcher) error {
	if err != nil {
		return err
	}
	stats, _ := out.Close(context.Background())
	var failed []string
	for _, s := range stats {
		if s.Failed+s.Lost > 0 {
			failed = append(failed, s.String())
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return cli.Exit("outputs failed to deliver alerts: "+strings.Join(failed, "; "), exitOutputFailed)
}
