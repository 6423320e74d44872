// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// VM is one QEMU boot of a kernel with the agent's initramfs.
type VM struct {
	Kernel  string // vmlinuz
	Initrd  string // from WriteInitramfs
	Params  string // extra kernel command line
	MemMiB  int    // 0: 1024
	CPUs    int    // 0: 2 (the probe's per-CPU buffers need more than one to be tested)
	Timeout time.Duration
	Dir     string // where console.log and result.log go
	Accel   string // AccelKVM or AccelTCG (empty: TCG); ChooseAccel picks one
	// Net gives the guest a virtio-net card on QEMU's user network: the
	// guest is 10.0.2.15 and reaches the host's loopback at 10.0.2.2.
	Net bool
}

// qemuCPU is every feature TCG emulates but CMPXCHG16B: Debian 6.12
// kernels' SLUB fast path uses it, and QEMU 7.2's TCG intermittently
// corrupts the flags around it (a double fault in kmem_cache_alloc in about
// one boot in three; none in ten without it). The kernel falls back to a
// lock when the CPU lacks it.
const qemuCPU = "max,cx16=off"

// Boot is what came out of a VM.
type Boot struct {
	Results  []AgentResult // one per driver the agent reported on
	Done     bool          // the agent said it had finished
	TimedOut bool
	Elapsed  time.Duration
	Console  string // path of the console log
	Err      error  // why the VM did not report, if it did not
}

// qemuBinary finds QEMU for x86-64 guests.
func qemuBinary() (string, error) {
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", fmt.Errorf("qemu-system-x86_64 not found: install Debian's qemu-system-x86 (make deps): %w", err)
	}
	return p, nil
}

// Run boots the VM and waits until it powers off or the timeout cuts it
// off. A VM that panics, hangs or reports nothing is a Boot with Err set,
// not an error: the matrix goes on with the other kernels. Run returns an
// error only when QEMU cannot be started at all.
func (v VM) Run(ctx context.Context) (*Boot, error) {
	qemu, err := qemuBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(v.Dir, 0o755); err != nil {
		return nil, err
	}
	console := filepath.Join(v.Dir, "console.log")
	result := filepath.Join(v.Dir, "result.log")
	mem, cpus := v.MemMiB, v.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 2
	}
	timeout := v.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	// panic=-1 and oops=panic turn any oops into a reboot, which
	// -no-reboot turns into QEMU's exit: a broken kernel ends at once
	// instead of at the timeout.
	args := []string{
		"-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
		"-accel", accelArg(v.Accel),
		"-cpu", qemuCPU, "-m", fmt.Sprint(mem), "-smp", fmt.Sprint(cpus),
		"-kernel", v.Kernel, "-initrd", v.Initrd,
		"-append", strings.TrimSpace("console=ttyS0 panic=-1 oops=panic " + v.Params),
		"-serial", "file:" + console, "-serial", "file:" + result,
	}
	if v.Net {
		args = append(args, "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0")
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, qemu, args...)
	stderr := &stderrWatch{stop: cancel}
	cmd.Stderr = stderr
	start := time.Now()
	runErr := cmd.Run()
	b := &Boot{Elapsed: time.Since(start), Console: console}
	b.Results, b.Done = readResults(result)
	switch {
	case stderr.kvmFailed():
		// QEMU pauses a guest KVM cannot run rather than exiting; the
		// watch stopped it at once instead of at the timeout.
		b.Err = fmt.Errorf("KVM could not run the guest (%s); use --accel tcg", stderr.firstLine())
	case cctx.Err() == context.DeadlineExceeded:
		b.TimedOut = true
		b.Err = fmt.Errorf("cut off after %s: the kernel hung, or ran too slowly; see its console", timeout)
	case ctx.Err() != nil:
		b.Err = ctx.Err()
	case runErr != nil && !b.Done:
		b.Err = fmt.Errorf("qemu: %v: %s", runErr, strings.TrimSpace(stderr.String()))
	case !b.Done:
		b.Err = fmt.Errorf("the VM stopped without a result%s", panicReason(console))
	}
	return b, nil
}

// readResults reads the agent's lines from the result port's file.
func readResults(path string) ([]AgentResult, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var rs []AgentResult
	done := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if rest, ok := strings.CutPrefix(line, resultPrefix); ok {
			var r AgentResult
			if err := json.Unmarshal([]byte(rest), &r); err == nil {
				rs = append(rs, r)
			}
		} else if line == donePrefix {
			done = true
		}
	}
	return rs, done
}

// panicReason finds the kernel's panic message in a console log.
func panicReason(console string) string {
	b, _ := os.ReadFile(console)
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.Index(l, "Kernel panic"); i >= 0 {
			return ": " + strings.TrimSpace(strings.TrimRight(l[i:], "\r"))
		}
	}
	return ""
}

// ConsoleTail returns the last n lines of a console log.
func ConsoleTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	cut := len(lines) - n
	// A long call trace can push the line that says what happened out
	// of the tail (a stack full of stale "? " frames is longer than n):
	// the kernel's last report header is kept, above the tail.
	for i := len(lines) - 1; i >= 0; i-- {
		if reportHeader(lines[i]) {
			if i < cut {
				return lines[i] + fmt.Sprintf("\n[... %d lines ...]\n", cut-i-1) + strings.Join(lines[cut:], "\n")
			}
			break
		}
	}
	return strings.Join(lines[cut:], "\n")
}

// reportHeader says whether a console line starts one of the kernel's
// reports of a failure.
func reportHeader(line string) bool {
	for _, h := range []string{"Kernel panic", "BUG:", "Oops:", "general protection fault", "WARNING:", "watchdog:", "INFO: task"} {
		if strings.Contains(line, h) {
			return true
		}
	}
	return false
}
