// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/modinfo"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/mirror"
)

// On this host (no module support) driver install names why the module is
// out, chooses the probe and exits 0; --driver kmod exits 3 with every
// attempt listed; printenv shows the plan.
func TestDriverInstallThisHost(t *testing.T) {
	if _, err := os.Stat("/proc/modules"); err == nil {
		testenv.Unavailable(t, "this host takes modules; the test is for one that refuses them")
	}
	r := run(t, "driver", "install", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, "driver: bpf") || !strings.Contains(r.stderr, "no module support") {
		t.Fatalf("install: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Driver   string `json:"driver"`
		Attempts []struct{ Step, Outcome, Reason string }
	}
	if err := json.Unmarshal([]byte(r.stdout[:strings.LastIndex(r.stdout, "}")+1]), &rep); err != nil || rep.Driver != "bpf" || len(rep.Attempts) < 2 {
		t.Errorf("report: %v %+v\n%s", err, rep, r.stdout)
	}
	if r := run(t, "driver", "status"); !strings.Contains(r.stdout, `last install: driver "bpf"`) {
		t.Errorf("status does not show the install:\n%s", r.stdout)
	}
	r = run(t, "driver", "install", "--driver", "kmod")
	if r.code != exitNoDriver || !strings.Contains(r.stderr, "no driver can be loaded") || !strings.Contains(r.stderr, "--driver auto or bpf") {
		t.Errorf("install --driver kmod: exit %d\n%s", r.code, r.stderr)
	}
	r = run(t, "driver", "printenv")
	for _, w := range []string{"VIGIL_KERNEL_RELEASE=", "VIGIL_MODULES=false", "load the embedded eBPF probe"} {
		if r.code != 0 || !strings.Contains(r.stdout, w) {
			t.Errorf("printenv lacks %q (exit %d):\n%s", w, r.code, r.stdout)
		}
	}
	if r := run(t, "driver", "install", "--driver", "modern_ebpf"); r.code == 0 || !strings.Contains(r.stderr, "--driver bpf") {
		t.Errorf("--driver modern_ebpf: exit %d %s", r.code, r.stderr)
	}
}

// vigil driver install --kernel-release R --kernel-version V prepares a
// module for another kernel: fetched from `vigil mirror serve` over HTTP,
// its signed index, size and sha256 verified, cached under the host root
// (not loaded). A key the index was not signed with gets nothing cached.
func TestDriverInstallForAnotherKernelFromServedMirror(t *testing.T) {
	const release = "6.1.0-50-cloud-amd64"
	const version = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)"
	host := t.TempDir()
	writeFile(t, filepath.Join(host, "etc/os-release"), "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n")
	dir := t.TempDir()
	rel := mirror.ArtifactPath(driver.DriverVersion, "x86_64", "debian", release, "1")
	writeFile(t, filepath.Join(dir, rel), string(fakeKo(t, release)))
	e, err := mirror.EntryFor(dir, rel)
	if err != nil {
		t.Fatal(err)
	}
	ix := &mirror.Index{}
	ix.Put(e)
	pub, priv, _ := mirror.GenerateKey()
	if err := mirror.WriteSigned(dir, ix, priv); err != nil {
		t.Fatal(err)
	}
	url := serveMirror(t, dir)
	other, _, _ := mirror.GenerateKey()
	cached := filepath.Join(host, "var/cache/vigil/driver", rel)

	args := []string{"driver", "install", "--host-root", host, "--kernel-release", release, "--kernel-version", version, "--repo", url, "--build=false"}
	r := run(t, append(args, "--trusted-key", mirror.EncodePublicKey(other))...)
	if r.code != exitNoDriver || !strings.Contains(r.stderr, "signature") {
		t.Errorf("another key: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(cached); err == nil {
		t.Fatal("a module whose index did not verify is in the cache")
	}
	r = run(t, append(args, "--trusted-key", mirror.EncodePublicKey(pub))...)
	if r.code != 0 || !strings.Contains(r.stdout, "ready in the cache") {
		t.Fatalf("install: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	mi, err := modinfo.Read(cached)
	if err != nil || !strings.HasPrefix(mi["vermagic"], release+" ") {
		t.Errorf("cached module: vermagic %q, %v", mi["vermagic"], err)
	}
}

// fakeKo is an ELF file with a module's .modinfo for release.
func fakeKo(t *testing.T, release string) []byte {
	t.Helper()
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		testenv.Unavailable(t, "objcopy (binutils) not installed")
	}
	d := t.TempDir()
	info := filepath.Join(d, "modinfo")
	writeFile(t, info, "name=vigil\x00vermagic="+release+" SMP preempt mod_unload modversions \x00")
	ko := filepath.Join(d, "vigil.ko")
	if out, err := exec.Command(objcopy, "--add-section", ".modinfo="+info, vigilBin, ko).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(ko)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serveMirror runs `vigil mirror serve DIR` on a free loopback port and
// returns its URL once it answers.
func serveMirror(t *testing.T, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(vigilBin, "mirror", "serve", dir, "--listen", addr)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		started := false
		for sc.Scan() { // drained to the end, so the server never blocks on its log
			if !started && strings.Contains(sc.Text(), "serving the mirror") {
				started = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("vigil mirror serve did not start")
	}
	return "http://" + addr + "/"
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The build path, as a new user runs it: with no mirror, vigil driver
// install for a Debian kernel this host does not run builds the module in
// a container with headers from the catalogue, verifies and caches it.
// (This host cannot load it: the cached module and its vermagic are the
// proof.)
func TestDriverInstallBuildsInAContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the Docker Engine")
	}
	testenv.RequireDocker(t)
	cat, err := kernels.NewDebian(kernels.Options{})
	if err != nil {
		testenv.Unavailable(t, "no Debian catalogue: "+err.Error())
	}
	tg, err := cat.Latest(context.Background(), "bookworm", "cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	writeFile(t, filepath.Join(host, "etc/os-release"), "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n")
	writeFile(t, filepath.Join(host, "etc/apt/sources.list.d/debian.sources"),
		"Types: deb\nURIs: "+cat.Mirror()+"\nSuites: bookworm\nComponents: main\n")
	version := "#" + tg.Version + " SMP PREEMPT_DYNAMIC Debian " + tg.PackageVersion + " (2026-01-05)"
	cmd := exec.Command(vigilBin, "driver", "install", "--host-root", host, "--kernel-release", tg.Release, "--kernel-version", version)
	// The catalogue's downloads are shared with the other tests.
	cmd.Env = append(os.Environ(), "VIGIL_CACHE_DIR="+cat.CacheDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("driver install: %v\n%s", err, out)
	}
	cached := filepath.Join(host, "var/cache/vigil/driver", mirror.ArtifactPath(driver.DriverVersion, "x86_64", "debian", tg.Release, tg.Version))
	if !strings.Contains(string(out), "in a container of the kernel's Debian suite and cache it") || !strings.Contains(string(out), "ready in the cache ("+cached+")") {
		t.Errorf("install output:\n%s", out)
	}
	mi, err := modinfo.Read(cached)
	if err != nil || !strings.HasPrefix(mi["vermagic"], tg.Release+" ") || mi["name"] != "vigil" || mi["version"] != driver.DriverVersion {
		t.Errorf("cached module: %v %v", mi, err)
	}
	if _, err := os.Stat(cached + ".sha256"); err != nil {
		t.Errorf("no checksum beside the cached module: %v", err)
	}
}
