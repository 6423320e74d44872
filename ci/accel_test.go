// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without a /dev/kvm, auto is TCG and says why; a forced choice is taken
// as given; anything else is refused with the choices.
func TestChooseAccel(t *testing.T) {
	saved := kvmDevice
	t.Cleanup(func() { kvmDevice = saved })
	kvmDevice = filepath.Join(t.TempDir(), "kvm")
	accel, why := ChooseAccel(context.Background(), AccelAuto, "/nonexistent/vmlinuz")
	if accel != AccelTCG || !strings.Contains(why, kvmDevice) {
		t.Errorf("no /dev/kvm: %s (%s), want tcg naming the device", accel, why)
	}
	for _, want := range []string{AccelKVM, AccelTCG} {
		if got, why := ChooseAccel(context.Background(), want, ""); got != want || !strings.Contains(why, "--accel "+want) {
			t.Errorf("--accel %s: got %s (%s)", want, got, why)
		}
	}
	if _, err := ParseAccel("hvf"); err == nil || !strings.Contains(err.Error(), "auto") {
		t.Errorf("ParseAccel(hvf): %v, want the choices", err)
	}
}

// A KVM that cannot run the guest makes QEMU print an internal error and
// pause: the watch stops the VM at once and keeps the error's line.
func TestStderrWatchStopsOnKVMError(t *testing.T) {
	stopped := false
	w := &stderrWatch{stop: func() { stopped = true }}
	w.Write([]byte("qemu-system-x86_64: warning: host doesn't support requested feature\n"))
	if stopped || w.kvmFailed() {
		t.Fatal("a warning stopped the VM")
	}
	// The error arrives split across writes, as from a pipe.
	w.Write([]byte("KVM internal error. Sube"))
	w.Write([]byte("rror: 1\nemulation failure\nRAX=0000\n"))
	if !stopped || !w.kvmFailed() {
		t.Fatal("KVM's internal error did not stop the VM")
	}
	if got := w.firstLine(); got != "KVM internal error. Suberror: 1" {
		t.Errorf("firstLine = %q", got)
	}
}

// On this machine's /dev/kvm, whatever it does, the probe's verdict is
// one a VM can boot with: the matrix test boots with it (TestMatrix); here
// the probe must finish within its bound and give a reason.
func TestProbeKVMIsBounded(t *testing.T) {
	_, image := bookworm(t)
	accel, why := ChooseAccel(context.Background(), AccelAuto, image)
	t.Logf("accelerator %s: %s", accel, why)
	if why == "" || (accel != AccelKVM && accel != AccelTCG) {
		t.Errorf("ChooseAccel = %q, %q", accel, why)
	}
}

// A call trace longer than the tail keeps the panic line above it.
func TestConsoleTailKeepsReportHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	var b strings.Builder
	b.WriteString("Run /init as init process\n[    4.1] Kernel panic - not syncing: Attempted to kill init!\n[    4.1] Call Trace:\n")
	for i := 0; i < 80; i++ {
		fmt.Fprintf(&b, "[    4.1]  ? do_syscall_64+0x69/0x90 %d\n", i)
	}
	b.WriteString("[    4.1] Kernel Offset: 0xfc00000\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := ConsoleTail(path, 10)
	lines := strings.Split(tail, "\n")
	if !strings.Contains(lines[0], "Kernel panic - not syncing") || lines[1] != "[... 72 lines ...]" || !strings.Contains(lines[len(lines)-1], "Kernel Offset") || len(lines) != 12 {
		t.Errorf("tail:\n%s", tail)
	}
	// No report: the plain last lines.
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tail := ConsoleTail(path, 2); tail != "b\nc" {
		t.Errorf("tail %q, want \"b\\nc\"", tail)
	}
}
