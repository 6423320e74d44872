// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/state"
	"github.com/vigil-dev/vigil/internal/editdist"
	"github.com/vigil-dev/vigil/loader"
)

// streamFlags select and bound a stream of events; events and capture share
// them.
func streamFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "type", Aliases: []string{"t"},
			Usage: "only events of these types (an event name such as openat or proc_exec, or any syscall name); repeat or separate by commas. Live, the kernel then captures only those syscalls"},
		&cli.UintFlag{Name: "pid", Aliases: []string{"p"}, Usage: "only events of this process (thread-group id) or thread"},
		&cli.StringFlag{Name: "comm", Aliases: []string{"c"}, Usage: "only events of threads with this command name"},
		&cli.Uint64Flag{Name: "count", Aliases: []string{"n"}, Usage: "stop after `N` events (0: no limit)"},
		&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Usage: "stop after this long (0: until Ctrl-C)"},
		&cli.StringFlag{Name: "buffer-size", Value: "8MiB", Usage: "ring buffer size per CPU: a power of two from a page (4KiB) to 2GiB, e.g. 64KiB or 8MiB"},
		&cli.UintFlag{Name: "snaplen", Value: driver.DefaultSnaplen, Usage: "bytes kept of strings and buffers other than paths"},
		&cli.StringFlag{Name: "host-root", Value: "/", EnvVars: []string{"HOST_ROOT", "VIGIL_HOST_ROOT"},
			Usage: "where the host's root is mounted (/host in a container); its /proc names processes"},
	}, loaderFlags()...)
}

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:  "events",
		Usage: "print live events from the driver the loader picks (--driver), or the events of a capture file",
		Description: `One event per line: time, CPU, command, pid:tid, parent pid, type and
parameters; with --json one object per line. On exit the driver's counters
(events, drops) go to stderr.`,
		Flags: append(streamFlags(),
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "one JSON object per line"},
			&cli.StringFlag{Name: "read", Aliases: []string{"r"}, Usage: "read events from capture `FILE` instead of the kernel"},
			&cli.BoolFlag{Name: "list-types", Usage: "list the event types --type accepts, and exit"},
		),
		Action: func(c *cli.Context) error {
			if c.Bool("list-types") {
				return listTypes(c.App.Writer)
			}
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q: events takes only flags (see vigil events --help)", c.Args().First())
			}
			s, err := openStream(c, c.String("read"))
			if err != nil {
				return err
			}
			defer s.src.Close()
			out := newPrinter(c.App.Writer, c.Bool("json"), s)
			err = s.run(out.print, out.flush)
			s.report(os.Stderr, c.String("read"))
			if skips := s.skipped(); err == nil && len(skips) > 0 {
				// Every event outside the damage was printed, but a
				// script must not take the output for the whole capture.
				var n int64
				for _, sk := range skips {
					n += sk.Bytes
				}
				err = fmt.Errorf("%s is damaged: %d unreadable bytes skipped (listed above); the events outside them were read",
					c.String("read"), n)
			}
			return err
		},
	}
}

func captureCommand() *cli.Command {
	return &cli.Command{
		Name:  "capture",
		Usage: "write live events to a capture file (read it back with vigil events -r)",
		Flags: append(streamFlags(),
			&cli.StringFlag{Name: "write", Aliases: []string{"w"}, Required: true,
				Usage: "capture `FILE` to write: written as FILE.tmp, renamed to FILE at the end; a device or FIFO (/dev/null, a named pipe) is written to as it is, and a symbolic link is followed"},
			&cli.StringFlag{Name: "file-mode", Value: "0644",
				Usage: "permissions of FILE, in octal, exactly (the umask does not apply): the default lets users without root read it; 0600 keeps it to its owner (events show every process's command lines and paths). A device or FIFO keeps its own"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q: capture takes only flags (see vigil capture --help)", c.Args().First())
			}
			mode, err := parseFileMode(c.String("file-mode"))
			if err != nil {
				return err
			}
			s, err := openStream(c, "")
			if err != nil {
				return err
			}
			defer s.src.Close()
			path := c.String("write")
			w, err := driver.CreateCaptureMode(path, driver.NewCaptureMeta(s.clock), mode)
			if err != nil {
				return err
			}
			// The processes already running, so that a replay knows them
			// (their names, command lines, parents, open files).
			if err := w.WriteSnapshot(s.threads.Snapshot(0)); err != nil {
				w.Close()
				return err
			}
			// Past the snapshot only --comm asks the table: without it,
			// keeping it is a lookup per event that nothing reads.
			s.noThreads = s.filter.comm == ""
			// The file takes events as they are, and a reader checks
			// them: from a live driver with --type alone, the header says
			// all the filter asks (the kernel selected the syscalls), so
			// the parameters are left undecoded.
			s.rawOut = true
			if hs, ok := s.src.(driver.HeaderSource); ok && s.noThreads {
				hs.SetHeadersOnly(true)
			}
			err = s.run(w.Write, w.Flush)
			if cerr := w.Close(); cerr != nil && err == nil {
				err = cerr
			}
			s.report(os.Stderr, "")
			if err == nil {
				fmt.Fprintf(os.Stderr, "wrote %d events to %s\n", w.Events(), path)
			}
			return err
		},
	}
}

// stream is an open source of events with its filters and bounds.
type stream struct {
	src     driver.Source
	clock   driver.Clock
	tab     *driver.SyscallTable
	threads *state.Threads
	filter  filter
	count   uint64
	until   time.Time

	seen, kept uint64 // events read, events that passed the filter

	// noThreads: no one reads threads per event (a capture without
	// --comm), so events do not update it.
	noThreads bool
	// rawOut: emit reads only an event's bytes (a capture), so an event
	// decoded header only is passed on as it is.
	rawOut bool

	// The --comm verdict of the last thread looked up, kept until an
	// event of another thread or one that changes the table (see
	// state.Threads.Changes): a flood comes from few threads, and the
	// table's work per event is most of what a discarding stream does.
	commTID, commPID  uint32
	commValid, commOK bool
	// reject: the kept verdict is no and nothing else filters, so run
	// drops the thread's events without calling take.
	reject bool

	// changes says, by event type, whether the thread table acts on an
	// event (state.Threads.Changes), made at the first event.
	changes    [driver.EvTypeMax]bool
	changesSet bool
}

// openStream opens the capture file path, or the eBPF probe when path is "".
func openStream(c *cli.Context, path string) (*stream, error) {
	s := &stream{count: c.Uint64("count")}
	d := c.Duration("duration")
	if d < 0 {
		return nil, fmt.Errorf("--duration %s: must not be negative", d)
	}
	open := s.openProbe
	if path != "" {
		open = func(c *cli.Context) error { return s.openCapture(c, path) }
	}
	if err := open(c); err != nil {
		return nil, err
	}
	// The clock starts once events flow: loading the probe takes a while.
	if d > 0 {
		s.until = time.Now().Add(d)
	}
	return s, nil
}

func (s *stream) openCapture(c *cli.Context, path string) error {
	for _, f := range []string{"buffer-size", "snaplen"} {
		if c.IsSet(f) {
			return fmt.Errorf("--%s applies to live events, not to a capture file (-r %s)", f, path)
		}
	}
	r, err := driver.OpenCapture(path)
	if err != nil {
		return err
	}
	meta := r.Meta()
	tab, err := driver.NewSyscallTable(meta.Arch)
	if err != nil {
		r.Close()
		return fmt.Errorf("capture %s: %w", path, err)
	}
	if s.filter, err = parseFilter(c, tab); err != nil {
		r.Close()
		return err
	}
	// The capture's processes lived on another host or at another time:
	// this host's /proc knows nothing of them.
	s.src, s.clock, s.tab, s.threads = r, meta.Clock(), tab, streamThreads("")
	// Its snapshot names the processes that ran before it began.
	snap, err := r.Snapshot()
	if err != nil {
		logrus.Warnf("%v", err)
	}
	for _, e := range snap {
		s.threads.Update(e)
	}
	return nil
}

func (s *stream) openProbe(c *cli.Context) error {
	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		return err
	}
	if s.filter, err = parseFilter(c, tab); err != nil {
		return err
	}
	size, err := parseSize(c.String("buffer-size"))
	if err != nil {
		return fmt.Errorf("--buffer-size: %w", err)
	}
	if err := driver.CheckRingSize(size); err != nil {
		return fmt.Errorf("--buffer-size %s: %w", c.String("buffer-size"), err)
	}
	snaplen := c.Uint("snaplen")
	if snaplen == 0 || snaplen > 65535 {
		return fmt.Errorf("--snaplen %d: want 1 to 65535 bytes", snaplen)
	}
	cfg := driver.Config{
		Syscalls:  s.filter.syscalls,
		Snaplen:   uint32(snaplen),
		IgnorePID: loader.HostPID(c.String("host-root")),
	}
	s.threads = streamThreads(filepath.Join(c.String("host-root"), "proc"))
	if err := s.threads.Seed(); err != nil {
		return fmt.Errorf("%w (is --host-root %s the host's root?)", err, c.String("host-root"))
	}
	l, err := openDriver(c, cfg, size)
	if err != nil {
		return err
	}
	logrus.WithFields(logrus.Fields{"driver": l.Driver, "buffer_size": size, "snaplen": snaplen}).Debug("driver open")
	s.src, s.clock, s.tab = l.Source, driver.NewClock(), tab
	s.filter.live = true
	// --comm and --pid reject most events by their header: decoding only
	// the header of each, and the whole of those kept, saves work. Not
	// --type alone: the kernel already captures only the syscalls asked
	// for, so the events that arrive are kept, and a generic event's
	// syscall is a parameter; header first then in full cost 10% more.
	if hs, ok := s.src.(driver.HeaderSource); ok && (s.filter.comm != "" || s.filter.pid != 0) {
		hs.SetHeadersOnly(true)
	}
	return nil
}

// streamThreads is the thread table of a stream: it names each event's
// thread and command for --comm and the printer, and seeds a capture's
// snapshot. No one asks it for fds after that, so it does not track them:
// every open, close and socket would otherwise allocate on a stream that
// may discard all it reads.
func streamThreads(procRoot string) *state.Threads {
	t := state.NewThreads(procRoot)
	t.NoFDs = true
	return t
}

// take applies one event to the thread table and passes it to emit when
// it matches the filter; done says a --count bound was reached, err is
// emit's. It is the whole per-event cost of a stream that discards what
// it reads, so it must not allocate.
func (s *stream) take(e *driver.Event, emit func(*driver.Event) error) (done bool, err error) {
	s.seen++
	// Whether the thread table acts on e: a look in a table made once,
	// where Threads.Changes is a call per event.
	if !s.changesSet {
		for t := range s.changes {
			s.changes[t] = s.threads != nil && s.threads.Changes(driver.EventType(t))
		}
		s.changesSet = true
	}
	changes := !s.noThreads && s.acts(e)
	// A header-only event (see openProbe) is decoded in full before
	// anything reads its parameters: the filter, for a generic event's
	// syscall; the thread table, for the types it acts on; emit.
	if e.HeaderOnly && (s.filter.types != nil && e.Type == driver.EvGeneric && !s.filter.live || changes) {
		if err := full(e); err != nil {
			return true, err
		}
	}
	if (s.filter.types != nil || s.filter.pid != 0) && !s.filter.matchEvent(e) {
		// Events the filter drops still update the table: a later event
		// may need what they say (a fork, an exec).
		if changes {
			s.commValid, s.reject = false, false
			s.threads.Update(e)
		}
		return false, nil
	}
	if s.filter.comm != "" && !s.commMatch(e, changes) {
		return false, nil
	}
	if e.HeaderOnly && !s.rawOut {
		if err := full(e); err != nil {
			return true, err
		}
	}
	if !s.noThreads && s.filter.comm == "" {
		s.threads.Update(e)
	}
	s.kept++
	if err := emit(e); err != nil {
		return true, err
	}
	return s.count > 0 && s.kept >= s.count, nil
}

// acts says whether the thread table acts on e (see changes).
func (s *stream) acts(e *driver.Event) bool {
	return int(e.Type) < len(s.changes) && s.changes[e.Type]
}

// takeAll takes a batch of events in turn, as take does, stopping where
// take says done or fails.
func (s *stream) takeAll(evs []driver.Event, emit func(*driver.Event) error) (done bool, err error) {
	for i := range evs {
		e := &evs[i]
		// A --comm stream's common case, in the loop: the verdict kept
		// for this thread is no, and e does not change the table.
		if s.reject && e.TID == s.commTID && e.PID == s.commPID && !s.acts(e) {
			s.seen++
			continue
		}
		if done, err := s.take(e, emit); done || err != nil {
			return done, err
		}
	}
	return false, nil
}

// full decodes a header-only event's parameters. Its error is the
// source's (a corrupt event), not the output's.
func full(e *driver.Event) error {
	cpu := e.CPU
	if err := e.Full(); err != nil {
		return sourceError{fmt.Errorf("event from cpu %d: %w", cpu, err)}
	}
	return nil
}

// sourceError is an error of the source that take met, which run returns
// as it is rather than as an output error.
type sourceError struct{ error }

func (e sourceError) Unwrap() error { return e.error }

// commMatch updates the thread table with e and says whether e's thread
// has the command --comm asks for; changes says whether the table acts on
// e.
func (s *stream) commMatch(e *driver.Event, changes bool) bool {
	if s.commValid && e.TID == s.commTID && e.PID == s.commPID && !changes {
		return s.commOK
	}
	th := s.threads.Update(e)
	s.commTID, s.commPID = e.TID, e.PID
	s.commOK = th != nil && th.Comm == s.filter.comm
	// A thread Update does not know may be known (from /proc) at the
	// next look: only a found thread's verdict is kept.
	s.commValid = th != nil && !changes
	s.reject = s.commValid && !s.commOK && s.filter.types == nil && s.filter.pid == 0
	return s.commOK
}

// run reads events until the source ends, a bound is reached or a signal
// arrives, passing the ones that match to emit. idle is called whenever the
// source has nothing to say, so output does not sit in buffers.
//
// A signal or --duration stops a live source's capture and reads on until
// its buffers are empty, so that the events read add up to the driver's
// count; a second signal ends at once. --count ends at once: the rest was
// not asked for.
func (s *stream) run(emit func(*driver.Event) error, idle func() error) error {
	var signals atomic.Int32
	sig := make(chan os.Signal, 1)
	// SIGPIPE too: a closed stdout ends the stream like Ctrl-C, counters
	// printed, rather than killing the process.
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer func() { signal.Stop(sig); close(sig) }()
	go func() {
		for range sig {
			signals.Add(1)
		}
	}()
	draining := false
	// drain stops a live source's capture; false when the source cannot
	// stop (a capture file), and the stream simply ends.
	drain := func() bool {
		if draining {
			return true
		}
		src, ok := s.src.(driver.Stopper)
		if !ok {
			return false
		}
		if err := src.Stop(); err != nil {
			logrus.Warnf("stop capture, to read what the driver already wrote: %v", err)
			return false
		}
		logrus.Debug("capture stopped; reading what the driver already wrote (interrupt again to end now)")
		draining = true
		return true
	}
	var lastDrops uint64
	nextCheck := time.Now().Add(time.Second)
	batcher, _ := s.src.(driver.Batcher)
	checkAt := s.seen + checkEvents
	for {
		if n := signals.Load(); n > 1 || n == 1 && !drain() {
			return idle()
		}
		var err error
		if batcher != nil {
			var evs []driver.Event
			evs, err = batcher.NextBatch()
			done, terr := s.takeAll(evs, emit)
			if terr != nil {
				return takeErr(terr, idle)
			}
			if done {
				return idle()
			}
		} else {
			var e *driver.Event
			if e, err = s.src.Next(); err == nil {
				done, err := s.take(e, emit)
				if err != nil {
					return takeErr(err, idle)
				}
				if done {
					return idle()
				}
			}
		}
		if err == nil {
			if s.seen < checkAt {
				continue
			}
		} else if errors.Is(err, driver.ErrTimeout) {
			if err := idle(); err != nil {
				return outputErr(err)
			}
		} else if errors.Is(err, io.EOF) || errors.Is(err, driver.ErrClosed) {
			return idle()
		} else {
			_ = idle()
			return err
		}
		// Bounds and drop warnings, checked when idle or every
		// checkEvents events.
		checkAt = s.seen + checkEvents
		now := time.Now()
		if !s.until.IsZero() && now.After(s.until) && !drain() {
			return idle()
		}
		if now.After(nextCheck) {
			nextCheck = now.Add(time.Second)
			if st, err := s.src.Stats(); err == nil && st.Drops > lastDrops {
				logrus.WithField("drops", st.Drops-lastDrops).Warn("events dropped: the reader falls behind; raise --buffer-size or narrow --type")
				lastDrops = st.Drops
			}
		}
	}
}

// checkEvents is how many events a stream reads between two looks at the
// clock (--duration, the drop warning).
const checkEvents = 1024

// takeErr is what run returns for an error of take: a source's as it is,
// after flushing the output; emit's through outputErr.
func takeErr(err error, idle func() error) error {
	var se sourceError
	if errors.As(err, &se) {
		_ = idle()
		return se.error
	}
	return outputErr(err)
}

// outputErr turns a closed pipe into a normal end: `vigil events | head`.
func outputErr(err error) error {
	if errors.Is(err, syscall.EPIPE) {
		return nil
	}
	return fmt.Errorf("write events: %w", err)
}

// report prints the counters on exit.
func (s *stream) report(w io.Writer, path string) {
	st, err := s.src.Stats()
	if err != nil {
		fmt.Fprintf(w, "events: %d read, %d matched; driver counters unavailable: %v\n", s.seen, s.kept, err)
		return
	}
	if path != "" {
		fmt.Fprintf(w, "events: %d read from %s, %d matched\n", s.seen, path, s.kept)
		for _, sk := range s.skipped() {
			fmt.Fprintf(w, "  damaged: %v\n", sk)
		}
		return
	}
	unread := ""
	if st.Events > s.seen {
		// --count ended the stream, or events the driver counted never
		// became readable.
		unread = fmt.Sprintf(", %d left unread", st.Events-s.seen)
	}
	fmt.Fprintf(w, "events: %d read, %d matched; driver: %d events, %d drops, %d missed%s\n", s.seen, s.kept, st.Events, st.Drops, st.Missed, unread)
	if st.Drops > 0 {
		for cpu, c := range st.PerCPU {
			if c.Drops > 0 {
				fmt.Fprintf(w, "  cpu %d: %d events, %d drops\n", cpu, c.Events, c.Drops)
			}
		}
	}
}

// skipped returns the damaged stretches a capture's reader skipped; none
// for live events.
func (s *stream) skipped() []*driver.SkipError {
	if r, ok := s.src.(*driver.CaptureReader); ok {
		return r.Skipped()
	}
	return nil
}

// filter is what --type, --pid and --comm ask for.
type filter struct {
	types    []bool // by EventType; nil: every type
	generic  []bool // generic events by syscall number; nil: none unless types is nil
	syscalls []bool // what the kernel must capture; nil: everything
	pid      uint32 // 0: any
	comm     string // "": any
	// live: the source is a driver that captures only syscalls, so a
	// generic event's syscall is one --type asked for (a capture file's
	// events must be looked at).
	live bool
}

func parseFilter(c *cli.Context, tab *driver.SyscallTable) (filter, error) {
	f := filter{pid: uint32(c.Uint("pid")), comm: c.String("comm")}
	var names []string
	for _, v := range c.StringSlice("type") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return f, nil
	}
	f.types = make([]bool, driver.EvTypeMax)
	f.generic = make([]bool, driver.MaxSyscalls)
	f.syscalls = make([]bool, driver.MaxSyscalls)
	for _, n := range names {
		found := false
		for t := driver.EventType(0); t < driver.EvTypeMax; t++ {
			info := t.Info()
			if info.Name != n || t == driver.EvGeneric {
				continue
			}
			found = true
			f.types[t] = true
			for _, sc := range info.Syscalls {
				if nr, ok := tab.Nr(sc); ok {
					f.syscalls[nr] = true
				}
			}
		}
		if nr, ok := tab.Nr(n); ok {
			// A syscall without an event of its own comes as a generic event.
			found = true
			f.syscalls[nr] = true
			if tab.ExitEvent(nr) == driver.EvGeneric {
				f.generic[nr] = true
			}
		}
		if !found {
			return f, fmt.Errorf("--type %q: no such event type or syscall%s; vigil events --list-types lists them all",
				n, suggest(n, typeNames(tab)))
		}
	}
	return f, nil
}

// matchEvent says whether e passes --type and --pid, which the event
// alone decides.
func (f *filter) matchEvent(e *driver.Event) bool {
	if f.types != nil {
		if e.Type == driver.EvGeneric {
			// A live driver's generic events are of the syscalls asked
			// for. Otherwise the syscall id, a u16 (Decode checked its
			// size): one look at the parameter instead of Has and
			// Uint's two.
			if !f.live {
				if id := e.Param(1); len(id) != 2 || !f.generic[(int(id[0])|int(id[1])<<8)%driver.MaxSyscalls] {
					return false
				}
			}
		} else if int(e.Type) >= len(f.types) || !f.types[e.Type] {
			return false
		}
	}
	return f.pid == 0 || e.PID == f.pid || e.TID == f.pid
}

// match says whether e, of thread th (nil: unknown), passes the filter.
func (f *filter) match(e *driver.Event, th *state.Thread) bool {
	if !f.matchEvent(e) {
		return false
	}
	if f.comm != "" && (th == nil || th.Comm != f.comm) {
		return false
	}
	return true
}

// typeNames lists every value --type accepts.
func typeNames(tab *driver.SyscallTable) []string {
	set := map[string]bool{}
	for t := driver.EventType(0); t < driver.EvTypeMax; t++ {
		if t != driver.EvGeneric {
			set[t.Info().Name] = true
		}
	}
	for _, n := range tab.Names() {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func listTypes(w io.Writer) error {
	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for t := driver.EventType(0); t < driver.EvTypeMax; t++ {
		info := t.Info()
		if t == driver.EvGeneric || info.Dir == driver.Enter {
			continue
		}
		var ps []string
		for _, p := range info.Params {
			ps = append(ps, p.Name)
		}
		fmt.Fprintf(bw, "%-16s %s\n", info.Name, strings.Join(ps, " "))
	}
	fmt.Fprintf(bw, "\nAny other syscall name selects its generic event (res, id): %d syscalls on %s.\n",
		len(tab.Names()), runtime.GOARCH)
	return bw.Flush()
}

// suggest returns `; did you mean "x"?` for the nearest known name, or "".
func suggest(name string, known []string) string {
	best, bestD := "", 3 // suggest only close matches
	for _, k := range known {
		if d := editdist.Distance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// parseFileMode reads --file-mode: permission bits in octal, 0644 or 644.
func parseFileMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("--file-mode %q: want permission bits in octal, 0000 to 0777, e.g. 0644 or 0600", s)
	}
	return os.FileMode(m), nil
}

// parseSize reads a byte count: 65536, 64KiB, 8MiB, 1GiB (K/M/G alone too).
func parseSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(t))
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size: write bytes or a number with KiB, MiB or GiB, e.g. 8MiB", s)
	}
	return n * mult, nil
}
