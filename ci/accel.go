// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// How QEMU runs a guest. A /dev/kvm that opens is not a KVM that works:
// under nested virtualisation some hosts expose one whose guests stop in
// early boot ("KVM internal error ... emulation failure"), and QEMU then
// pauses the guest instead of exiting. So AccelAuto trusts KVM only after
// a short boot has shown it runs a kernel, and falls back to TCG.
const (
	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// probeTimeout bounds the proving boot. A Debian cloud kernel reaches its
// root mount in about 2 s under TCG and well under 1 s under a working
// KVM; a KVM five times slower than TCG is no gain.
const probeTimeout = 10 * time.Second

// accelArg is QEMU's -accel value for an accelerator. TCG runs
// single-threaded: with one host thread per vCPU, code the kernel patches
// while another vCPU runs it (text_poke_bp, as attaching a probe enables
// tracepoints) was seen stale now and then, an "Oops: int3" in two of six
// boots. The matrix runs one VM per host core anyway.
func accelArg(accel string) string {
	if accel == AccelKVM {
		return "kvm"
	}
	return "tcg,thread=single"
}

// ParseAccel checks a user's --accel value.
func ParseAccel(s string) (string, error) {
	switch s {
	case "", AccelAuto:
		return AccelAuto, nil
	case AccelKVM, AccelTCG:
		return s, nil
	}
	return "", fmt.Errorf("accelerator %q: want auto (KVM if a probe boot proves it works, else TCG), kvm or tcg", s)
}

// ChooseAccel resolves want (auto, kvm or tcg) into the accelerator the
// matrix boots with, and says why. For auto it boots kernel under KVM
// without an initramfs: a KVM that works takes it to the panic for want
// of a root filesystem within seconds; one that does not stalls or
// reports an internal error, and TCG is chosen.
func ChooseAccel(ctx context.Context, want, kernel string) (accel, why string) {
	switch want {
	case AccelKVM:
		return AccelKVM, "asked for (--accel kvm)"
	case AccelTCG:
		return AccelTCG, "asked for (--accel tcg)"
	}
	probed.mu.Lock()
	defer probed.mu.Unlock()
	if v, ok := probed.verdicts[kvmDevice]; ok {
		return v[0], v[1]
	}
	accel, why = probeAccel(ctx, kernel)
	if ctx.Err() == nil { // an interrupted probe proved nothing
		probed.verdicts[kvmDevice] = [2]string{accel, why}
	}
	return accel, why
}

// probed keeps each device's verdict for the life of the process: the
// machine does not change between two matrix runs of one test binary.
var probed = struct {
	mu       sync.Mutex
	verdicts map[string][2]string
}{verdicts: map[string][2]string{}}

func probeAccel(ctx context.Context, kernel string) (accel, why string) {
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		return AccelTCG, fmt.Sprintf("no usable %s (%v)", kvmDevice, err)
	}
	f.Close()
	if err := probeKVM(ctx, kernel); err != nil {
		return AccelTCG, fmt.Sprintf("%s opens, but %v", kvmDevice, err)
	}
	return AccelKVM, "a probe boot under KVM reached the kernel's root mount"
}

// kvmDevice is a variable so that tests can point it elsewhere.
var kvmDevice = "/dev/kvm"

// probeKVM boots kernel under KVM with no initramfs and reports why KVM
// cannot be used, or nil once the kernel has run to its root mount.
func probeKVM(ctx context.Context, kernel string) error {
	qemu, err := qemuBinary()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vigil-kvm-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	console := filepath.Join(dir, "console.log")
	cctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, qemu,
		"-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
		"-accel", "kvm", "-cpu", qemuCPU, "-m", "256", "-smp", "1",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1",
		"-serial", "file:"+console)
	stderr := &stderrWatch{stop: cancel}
	cmd.Stderr = stderr
	start := time.Now()
	runErr := cmd.Run()
	out, _ := os.ReadFile(console)
	switch {
	case stderr.kvmFailed():
		return fmt.Errorf("a probe boot under KVM failed: %s", stderr.firstLine())
	case ctx.Err() != nil:
		return ctx.Err()
	case cctx.Err() != nil:
		return fmt.Errorf("a probe boot under KVM did not reach the kernel's root mount in %s (%d console bytes)", probeTimeout, len(out))
	case !bytes.Contains(out, []byte("Kernel panic")):
		return fmt.Errorf("a probe boot under KVM ended after %s without reaching the root mount (qemu: %v %s)",
			time.Since(start).Round(time.Millisecond), runErr, stderr.firstLine())
	}
	return nil
}

// stderrWatch keeps QEMU's stderr and stops the VM as soon as KVM reports
// an internal error: QEMU then pauses the guest rather than exiting, and
// the run would otherwise wait for its timeout.
type stderrWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	stop func()
	kvm  bool
}

func (w *stderrWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() < 64<<10 {
		w.buf.Write(p)
	}
	if !w.kvm && bytes.Contains(w.buf.Bytes(), []byte("KVM internal error")) {
		w.kvm = true
		w.stop()
	}
	return len(p), nil
}

func (w *stderrWatch) kvmFailed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kvm
}

func (w *stderrWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// firstLine is the line that says what went wrong: KVM's error if there
// is one, else the first line QEMU printed.
func (w *stderrWatch) firstLine() string {
	s := w.String()
	if i := strings.Index(s, "KVM internal error"); i >= 0 {
		s = s[i:]
	}
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
