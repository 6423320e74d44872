// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// openHelper runs Open in a child process under conditions the test sets up
// (another uid, another personality) and prints the error.
func openHelper() {
	p, err := Open(driver.Config{}, Options{})
	if err != nil {
		fmt.Printf("notsupported=%v\nerror=%v\n", errors.Is(err, driver.ErrNotSupported), err)
		os.Exit(0)
	}
	p.Close()
	fmt.Println("error=<nil>")
	os.Exit(0)
}

func runOpenHelper(t *testing.T, cmd *exec.Cmd) map[string]string {
	t.Helper()
	cmd.Env = append(os.Environ(), "VIGIL_OPEN_HELPER=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v (%s)", err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestOpenNotRoot(t *testing.T) {
	testenv.RequireProbe(t)
	// The test binary must be reachable by nobody.
	dir, err := os.MkdirTemp("", "vigil-notroot-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := dir + "/probe.test"
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	m := runOpenHelper(t, cmd)
	if !strings.Contains(m["error"], "needs root") || !strings.Contains(m["error"], "sudo") {
		t.Errorf("error = %q, want it to say root is needed and how", m["error"])
	}
}

func TestOpenOldKernel(t *testing.T) {
	testenv.RequireProbe(t)
	setarch, err := exec.LookPath("setarch")
	if err != nil {
		t.Skip("setarch (util-linux) not installed")
	}
	// UNAME26 makes uname report 2.6.x: the kernel-version gate must
	// refuse before the verifier is ever asked.
	m := runOpenHelper(t, exec.Command(setarch, "x86_64", "--uname-2.6", os.Args[0], "-test.run=^$"))
	if m["notsupported"] != "true" || !strings.Contains(m["error"], "older than 5.8") ||
		!strings.Contains(m["error"], "kernel module") {
		t.Errorf("got %v, want ErrNotSupported saying the kernel is older than 5.8 and to use the kernel module", m)
	}
}

func TestOpenNoBTF(t *testing.T) {
	testenv.RequireProbe(t)
	_, err := Open(driver.Config{}, Options{KernelBTF: t.TempDir() + "/missing-btf"})
	if !errors.Is(err, driver.ErrNotSupported) {
		t.Fatalf("err = %v, want ErrNotSupported", err)
	}
	if !strings.Contains(err.Error(), "CONFIG_DEBUG_INFO_BTF") {
		t.Errorf("error %q does not name the fix", err)
	}
}

func TestOpenBadBufferSize(t *testing.T) {
	testenv.RequireProbe(t)
	_, err := Open(driver.Config{}, Options{BufferSize: 12345})
	if err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Fatalf("err = %v, want a power-of-two error", err)
	}
}
