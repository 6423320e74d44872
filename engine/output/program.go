// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Program restart delays, when ProgramConfig leaves them 0.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// ProgramConfig describes a program output.
type ProgramConfig struct {
	// Command runs with sh -c and reads one alert per line on stdin.
	Command string
	Format  Format
	// KeepAlive is Falco's program_output.keep_alive: false starts the
	// program for every alert and waits for it; true starts it once and
	// keeps writing to it, starting it again whenever it exits.
	KeepAlive bool
	// A program that exits without reading anything is started again
	// after MinBackoff, doubling up to MaxBackoff; one that read something
	// is started again at once.
	MinBackoff, MaxBackoff time.Duration
	// Log hears about exits and restarts. Default: logrus.StandardLogger().
	Log logrus.FieldLogger
}

// ProgramSink writes alerts to a program's stdin. The program's stdout and
// stderr are vigil's, as with Falco's popen.
type ProgramSink struct {
	cfg   ProgramConfig
	enc   Encoder
	buf   []byte
	proc  *process
	delay time.Duration
	// started tells a restart from the first start.
	started bool
	exitLog rateLimit

	lost, restarts atomic.Uint64
	running        atomic.Bool
}

// process is one run of the program. We keep a copy of the pipe's read
// end: with it FIONREAD tells, once the program has exited, how many bytes
// it never read, which is how lost alerts are counted; it also means a
// write to a program that died does not fail with EPIPE, so an exit is
// noticed through Wait instead.
type process struct {
	cmd     *exec.Cmd
	r, w    *os.File
	exited  chan struct{}
	waitErr error
	stop    func() bool // unregisters the kill on abort
	// killed is set when vigil killed the program (Close's deadline, or
	// the dispatcher aborting its outputs, whichever came first).
	killed atomic.Bool

	written int64
	// ends are the offsets just past each whole line written that may
	// still sit in the pipe.
	ends    []int64
	pipeCap int64
}

// NewProgramSink checks the command; the program starts with the first
// alert, as Falco's does.
func NewProgramSink(c ProgramConfig) (*ProgramSink, error) {
	if c.Command == "" {
		return nil, errors.New("program output has no command")
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.Log == nil {
		c.Log = logrus.StandardLogger()
	}
	return &ProgramSink{
		cfg:     c,
		enc:     Encoder{Format: c.Format},
		exitLog: rateLimit{every: DefaultErrorLogInterval},
	}, nil
}

// Name implements Sink.
func (p *ProgramSink) Name() string { return "program " + p.cfg.Command }

// Lost counts alerts written to the program that were still unread in its
// pipe when it exited. Lines a program read and then dropped (head reads a
// whole buffer and prints one line) cannot be seen from here.
func (p *ProgramSink) Lost() uint64 { return p.lost.Load() }

// Restarts counts how often a keep-alive program was started again after
// it exited.
func (p *ProgramSink) Restarts() uint64 { return p.restarts.Load() }

// Running reports whether a keep-alive program is started and has not
// exited.
func (p *ProgramSink) Running() bool { return p.running.Load() }

// Write implements Sink.
func (p *ProgramSink) Write(ctx context.Context, a *Alert) error {
	p.buf = p.enc.AppendLine(p.buf[:0], a)
	if !p.cfg.KeepAlive {
		return p.runOnce(ctx)
	}
	// A program that exited since the last alert is reaped first, so that
	// this alert goes to its successor; one that exits while we write is
	// retried once on a new run.
	for attempt := 0; ; attempt++ {
		if p.proc != nil {
			select {
			case <-p.proc.exited:
				p.reapRunning()
			default:
			}
		}
		if p.proc == nil {
			if err := p.start(ctx); err != nil {
				return err
			}
		}
		err := p.proc.write(p.buf)
		if err == nil {
			return nil
		}
		// The program exited (its watcher cut the write short) or the
		// pipe broke: make sure it is gone, count what it left unread.
		p.kill()
		<-p.proc.exited
		p.reapRunning()
		if attempt > 0 || ctx.Err() != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = errors.New("it exited")
			}
			return fmt.Errorf("write alert to program %q: %w", p.cfg.Command, err)
		}
	}
}

func (pr *process) write(line []byte) error {
	n, err := pr.w.Write(line)
	pr.written += int64(n)
	if err != nil {
		return err
	}
	// Before the list grows: a line that ended a whole pipe's capacity ago
	// has been read. Growing when little is freed keeps this amortized.
	if len(pr.ends) == cap(pr.ends) && len(pr.ends) >= 256 {
		read := pr.written - pr.pipeCap
		i := 0
		for i < len(pr.ends) && pr.ends[i] <= read {
			i++
		}
		pr.ends = append(pr.ends[:0], pr.ends[i:]...)
	}
	pr.ends = append(pr.ends, pr.written)
	return nil
}

// start runs the program, after the backoff delay when the last run read
// nothing.
func (p *ProgramSink) start(ctx context.Context) error {
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("start program %q: %w", p.cfg.Command, ctx.Err())
		}
	}
	pr, err := p.spawn(ctx)
	if err != nil {
		p.grow()
		return err
	}
	if p.started {
		p.restarts.Add(1)
	}
	p.started = true
	p.proc = pr
	return nil
}

func (p *ProgramSink) grow() {
	p.delay = min(max(p.delay*2, p.cfg.MinBackoff), p.cfg.MaxBackoff)
}

func (p *ProgramSink) spawn(ctx context.Context) (*process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start program %q: pipe: %w", p.cfg.Command, err)
	}
	cmd := exec.Command("/bin/sh", "-c", p.cfg.Command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, os.Stdout, os.Stderr
	// Its own process group, so that what the shell started goes too
	// when we kill it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start program %q: %w", p.cfg.Command, err)
	}
	pr := &process{cmd: cmd, r: r, w: w, exited: make(chan struct{}), pipeCap: 1 << 16}
	if rc, err := r.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if n, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil {
				pr.pipeCap = int64(n)
			}
		})
	}
	p.running.Store(true)
	go func() {
		pr.waitErr = cmd.Wait()
		p.running.Store(false)
		close(pr.exited)
		// Cut short a write into a pipe that nobody reads any more.
		_ = w.SetWriteDeadline(time.Unix(1, 0))
	}()
	pr.stop = context.AfterFunc(ctx, func() { pr.killGroup() })
	return pr, nil
}

func (pr *process) killGroup() {
	pr.killed.Store(true)
	_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
}

func (p *ProgramSink) kill() {
	select {
	case <-p.proc.exited:
	default:
		p.proc.killGroup()
	}
}

// unread is how many bytes the pipe still holds.
func (pr *process) unread() int64 {
	rc, err := pr.r.SyscallConn()
	if err != nil {
		return 0
	}
	var n int
	_ = rc.Control(func(fd uintptr) {
		n, err = unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD, which pipes answer too
	})
	if err != nil {
		return 0
	}
	return int64(n)
}

// reap counts the lines the exited program left in its pipe as lost and
// sets the delay before the next start.
func (p *ProgramSink) reap() (lost uint64, waitErr error) {
	pr := p.proc
	p.proc = nil
	pr.stop()
	read := pr.written - pr.unread()
	for _, end := range pr.ends {
		if end > read {
			lost++
		}
	}
	pr.r.Close()
	pr.w.Close()
	p.lost.Add(lost)
	if read > 0 {
		p.delay = 0
	} else {
		p.grow()
	}
	return lost, pr.waitErr
}

// reapRunning reaps a program that exited while vigil still had alerts for
// it, and says so.
func (p *ProgramSink) reapRunning() {
	lost, err := p.reap()
	if ok, n := p.exitLog.allow(); ok {
		e := p.cfg.Log.WithFields(logrus.Fields{"output": p.Name(), "unread_alerts": lost, "restart_in": p.delay})
		if n > 0 {
			e = e.WithField("suppressed", n)
		}
		if err != nil {
			e = e.WithError(err)
		}
		e.Warn("output program exited; it is started again with the next alert")
	}
}

// runOnce is keep-alive off: one run of the program per alert, which must
// read it and exit 0.
func (p *ProgramSink) runOnce(ctx context.Context) error {
	pr, err := p.spawn(ctx)
	if err != nil {
		return err
	}
	defer pr.stop()
	defer pr.r.Close()
	_, werr := pr.w.Write(p.buf)
	pr.w.Close() // end of input: the program may finish
	<-pr.exited
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if werr != nil {
		return fmt.Errorf("write alert to program %q: %w", p.cfg.Command, werr)
	}
	if n := pr.unread(); n > 0 {
		return fmt.Errorf("program %q exited before reading the alert (%d bytes left unread)", p.cfg.Command, n)
	}
	if pr.waitErr != nil {
		return fmt.Errorf("program %q: %w", p.cfg.Command, pr.waitErr)
	}
	return nil
}

// Close implements Sink: the program gets end of input and until ctx is
// done to exit; lines it leaves unread count as lost.
func (p *ProgramSink) Close(ctx context.Context) error {
	pr := p.proc
	if pr == nil {
		return nil
	}
	pr.w.Close()
	select {
	case <-pr.exited:
	case <-ctx.Done():
		pr.killGroup()
		<-pr.exited
	}
	lost, err := p.reap()
	if pr.killed.Load() {
		return fmt.Errorf("program did not exit after its input closed; killed it (%d alerts unread)", lost)
	}
	if lost > 0 {
		return fmt.Errorf("program exited with %d alerts unread", lost)
	}
	if err != nil {
		return fmt.Errorf("program: %w", err)
	}
	return nil
}
