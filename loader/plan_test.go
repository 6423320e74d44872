// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"errors"
	"strings"
	"testing"
)

// debianCloud is a Debian 12 cloud VM: modules, BTF, no lockdown, nothing
// loaded, no headers installed.
func debianCloud() Facts {
	return Facts{
		HostRoot: "/", ProcDir: "/proc", SysDir: "/sys",
		Release: "6.1.0-50-cloud-amd64", Version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)", Arch: "x86_64",
		Kernel: KernelVersion{6, 1, 0}, KernelPackage: "6.1.176-1",
		Distro: Distro{ID: "debian", VersionID: "12"},
		Target: Target{"debian", "6.1.0-50-cloud-amd64", "1"},
		BTF:    true, Modules: true, Lockdown: "none",
	}
}

// thisKindOfHost is the Firecracker VM these tests run on: a 6.18 kernel
// with BTF but CONFIG_MODULES off, Debian's user space, not Debian's kernel.
func thisKindOfHost() Facts {
	return Facts{
		HostRoot: "/", ProcDir: "/proc", SysDir: "/sys",
		Release: "6.18.44-fc-v1300", Version: "#1 SMP PREEMPT_DYNAMIC @0", Arch: "x86_64",
		Kernel: KernelVersion{6, 18, 44},
		Distro: Distro{ID: "debian", VersionID: "12"},
		Target: Target{"debian", "6.18.44-fc-v1300", "1"},
		BTF:    true,
	}
}

// ubuntu2004 is Ubuntu 20.04's GA kernel: 5.4, no BTF, headers installed.
func ubuntu2004() Facts {
	return Facts{
		HostRoot: "/", ProcDir: "/proc", SysDir: "/sys",
		Release: "5.4.0-42-generic", Version: "#46-Ubuntu SMP Fri Jul 10 00:24:02 UTC 2020", Arch: "x86_64",
		Kernel:  KernelVersion{5, 4, 0},
		Distro:  Distro{ID: "ubuntu", VersionID: "20.04"},
		Target:  Target{"ubuntu-generic", "5.4.0-42-generic", "46"},
		Modules: true, Lockdown: "none",
		Headers: "/lib/modules/5.4.0-42-generic/build",
	}
}

func change(f Facts, fn func(*Facts)) Facts { fn(&f); return f }

const (
	debKo    = "vigil_debian_6.1.0-50-cloud-amd64_1.ko"
	debPath  = "0.1.0/x86_64/" + debKo
	debCache = "/var/cache/vigil/driver/" + debPath
	debHdrs  = "/lib/modules/6.1.0-50-cloud-amd64/build, /usr/src/linux-headers-6.1.0-50-cloud-amd64"
	mirrorA  = "https://mirror.example/vigil"
	mirrorB  = "file:///srv/vigil-mirror"
)

func TestNewPlan(t *testing.T) {
	repos := []string{mirrorA, mirrorB}
	for _, c := range []struct {
		name  string
		f     Facts
		o     Options
		first StepKind // the first usable step; "" when NewPlan must fail
		want  string   // Plan.String()
	}{{
		name:  "this kind of host: no module support, so the probe",
		f:     thisKindOfHost(),
		o:     Options{Repos: repos[:1], Build: true},
		first: StepProbe,
		want: `1. use the loaded vigil module 0.1.0: skipped: the kernel has no module support (no /proc/modules)
2. load vigil_debian_6.18.44-fc-v1300_1.ko from the cache (/var/cache/vigil/driver/0.1.0/x86_64/vigil_debian_6.18.44-fc-v1300_1.ko): skipped: the kernel has no module support (no /proc/modules)
3. fetch 0.1.0/x86_64/vigil_debian_6.18.44-fc-v1300_1.ko from https://mirror.example/vigil, verify it and load it: skipped: the kernel has no module support (no /proc/modules)
4. build vigil_debian_6.18.44-fc-v1300_1.ko with the host's headers (/lib/modules/6.18.44-fc-v1300/build, /usr/src/linux-headers-6.18.44-fc-v1300) and load it: skipped: the kernel has no module support (no /proc/modules)
5. load the embedded eBPF probe
`,
	}, {
		name:  "Debian cloud, auto: cache, each mirror in order, a container build, the probe",
		f:     debianCloud(),
		o:     Options{Repos: repos, Build: true},
		first: StepCache,
		want: `1. use the loaded vigil module 0.1.0: skipped: no vigil module is loaded
2. load ` + debKo + ` from the cache (` + debCache + `)
3. fetch ` + debPath + ` from https://mirror.example/vigil, verify it and load it
4. fetch ` + debPath + ` from file:///srv/vigil-mirror, verify it and load it
5. build ` + debKo + ` in a container of the kernel's Debian suite and load it
6. load the embedded eBPF probe
`,
	}, {
		name: "Debian cloud, this version loaded: reuse it",
		f: change(debianCloud(), func(f *Facts) {
			f.Module = &LoadedModule{State: "Live", Taints: "OE", Version: "0.1.0", API: 1, Schema: "1.0.0"}
		}),
		o:     Options{},
		first: StepLoaded,
		want: `1. use the loaded vigil module 0.1.0
2. load ` + debKo + ` from the cache (` + debCache + `)
3. build ` + debKo + ` in a container of the kernel's Debian suite and load it: skipped: building is not allowed (enable it to build when no module can be had)
4. load the embedded eBPF probe
`,
	}, {
		name: "Debian cloud, an older module loaded: unload it before loading ours",
		f: change(debianCloud(), func(f *Facts) {
			f.Module = &LoadedModule{State: "Live", Version: "0.0.9"}
		}),
		o:     Options{Driver: DriverKmod, CacheDir: "/tmp/vigil-cache", Repos: repos[1:]},
		first: StepCache,
		want: `1. use the loaded vigil module 0.1.0: skipped: the loaded vigil module is 0.0.9, this vigil needs 0.1.0
2. load ` + debKo + ` from the cache (/tmp/vigil-cache/` + debPath + `), after unloading the vigil module loaded now
3. fetch ` + debPath + ` from file:///srv/vigil-mirror, verify it and load it, after unloading the vigil module loaded now
4. build ` + debKo + ` in a container of the kernel's Debian suite and load it: skipped: building is not allowed (enable it to build when no module can be had)
`,
	}, {
		name: "a loaded module of this version that speaks another API or schema is not reused",
		f: change(debianCloud(), func(f *Facts) {
			f.Module = &LoadedModule{State: "Live", Version: "0.1.0", API: 2}
		}),
		o:     Options{Driver: DriverKmod},
		first: StepCache,
		want: `1. use the loaded vigil module 0.1.0: skipped: the loaded vigil module speaks API 2, this vigil 1
2. load ` + debKo + ` from the cache (` + debCache + `), after unloading the vigil module loaded now
3. build ` + debKo + ` in a container of the kernel's Debian suite and load it: skipped: building is not allowed (enable it to build when no module can be had)
`,
	}, {
		name: "lockdown=integrity: a loaded module still serves, no new one loads",
		f: change(debianCloud(), func(f *Facts) {
			f.Lockdown = "integrity"
			f.Module = &LoadedModule{State: "Live", Version: "0.1.0"}
		}),
		o:     Options{Repos: repos[:1], Build: true},
		first: StepLoaded,
		want: `1. use the loaded vigil module 0.1.0
2. load ` + debKo + ` from the cache (` + debCache + `): skipped: lockdown=integrity refuses unsigned modules
3. fetch ` + debPath + ` from https://mirror.example/vigil, verify it and load it: skipped: lockdown=integrity refuses unsigned modules
4. build ` + debKo + ` in a container of the kernel's Debian suite and load it: skipped: lockdown=integrity refuses unsigned modules
5. load the embedded eBPF probe
`,
	}, {
		name: "lockdown=integrity and nothing loaded: the probe",
		f:    change(debianCloud(), func(f *Facts) { f.Lockdown = "integrity" }),
		o:    Options{Build: true}, first: StepProbe,
		want: `1. use the loaded vigil module 0.1.0: skipped: no vigil module is loaded
2. load ` + debKo + ` from the cache (` + debCache + `): skipped: lockdown=integrity refuses unsigned modules
3. build ` + debKo + ` in a container of the kernel's Debian suite and load it: skipped: lockdown=integrity refuses unsigned modules
4. load the embedded eBPF probe
`,
	}, {
		name: "module.sig_enforce=Y and lockdown=confidentiality: both reasons",
		f: change(debianCloud(), func(f *Facts) {
			f.SigEnforce, f.Lockdown = true, "confidentiality"
		}),
		o: Options{}, first: StepProbe,
		want: `1. use the loaded vigil module 0.1.0: skipped: no vigil module is loaded
2. load ` + debKo + ` from the cache (` + debCache + `): skipped: lockdown=confidentiality refuses unsigned modules; module.sig_enforce=Y and vigil's modules are unsigned
3. build ` + debKo + ` in a container of the kernel's Debian suite and load it: skipped: lockdown=confidentiality refuses unsigned modules; module.sig_enforce=Y and vigil's modules are unsigned
4. load the embedded eBPF probe
`,
	}, {
		name:  "kernel 5.4 without BTF: the module only, built with the host's headers",
		f:     ubuntu2004(),
		o:     Options{Repos: repos[:1], Build: true},
		first: StepCache,
		want: `1. use the loaded vigil module 0.1.0: skipped: no vigil module is loaded
2. load vigil_ubuntu-generic_5.4.0-42-generic_46.ko from the cache (/var/cache/vigil/driver/0.1.0/x86_64/vigil_ubuntu-generic_5.4.0-42-generic_46.ko)
3. fetch 0.1.0/x86_64/vigil_ubuntu-generic_5.4.0-42-generic_46.ko from https://mirror.example/vigil, verify it and load it
4. build vigil_ubuntu-generic_5.4.0-42-generic_46.ko with the host's headers (/lib/modules/5.4.0-42-generic/build, /usr/src/linux-headers-5.4.0-42-generic) and load it
5. load the embedded eBPF probe: skipped: kernel 5.4 < 5.8: the eBPF probe needs 5.8 and BTF; no BTF (/sys/kernel/btf/vmlinux is absent)
`,
	}, {
		name: "Ubuntu without headers: no container build for a kernel Debian did not ship",
		f:    change(ubuntu2004(), func(f *Facts) { f.Headers = "" }),
		o:    Options{Driver: DriverKmod, Build: true}, first: StepCache,
		want: `1. use the loaded vigil module 0.1.0: skipped: no vigil module is loaded
2. load vigil_ubuntu-generic_5.4.0-42-generic_46.ko from the cache (/var/cache/vigil/driver/0.1.0/x86_64/vigil_ubuntu-generic_5.4.0-42-generic_46.ko)
3. build vigil_ubuntu-generic_5.4.0-42-generic_46.ko with the host's headers (/lib/modules/5.4.0-42-generic/build, /usr/src/linux-headers-5.4.0-42-generic) and load it: skipped: no headers for 5.4.0-42-generic (looked in /lib/modules/5.4.0-42-generic/build, /usr/src/linux-headers-5.4.0-42-generic), and the container builder knows only Debian's kernels, which name their package in uname -v: install the running kernel's headers
`,
	}, {
		name: "in a container: every host path under /host, headers found there",
		f: change(debianCloud(), func(f *Facts) {
			f.HostRoot, f.ProcDir, f.SysDir = "/host", "/host/proc", "/sys"
			f.Headers = "/host/lib/modules/6.1.0-50-cloud-amd64/build"
		}),
		o:     Options{HostRoot: "/host/", Driver: DriverKmod, Build: true},
		first: StepCache,
		want: `1. use the loaded vigil module 0.1.0: skipped: no vigil module is loaded
2. load ` + debKo + ` from the cache (/host` + debCache + `)
3. build ` + debKo + ` with the host's headers (/host/lib/modules/6.1.0-50-cloud-amd64/build, /host/usr/src/linux-headers-6.1.0-50-cloud-amd64) and load it
`,
	}, {
		name: "Container-Optimized OS: no module, the probe",
		f: change(debianCloud(), func(f *Facts) {
			f.Release, f.KernelPackage, f.Kernel = "6.1.58+", "", KernelVersion{6, 1, 58}
			f.Distro, f.Target = Distro{ID: "cos", BuildID: "17800.66.78"}, Target{"cos", "6.1.58+", "1"}
		}),
		o: Options{}, first: StepProbe,
		want: `1. use the loaded vigil module 0.1.0: skipped: no vigil module is loaded
2. load vigil_cos_6.1.58+_1.ko from the cache (/var/cache/vigil/driver/0.1.0/x86_64/vigil_cos_6.1.58+_1.ko): skipped: Container-Optimized OS loads modules only from its own read-only root (LoadPin)
3. build vigil_cos_6.1.58+_1.ko with the host's headers (/lib/modules/6.1.58+/build, /usr/src/linux-headers-6.1.58+) and load it: skipped: Container-Optimized OS loads modules only from its own read-only root (LoadPin)
4. load the embedded eBPF probe
`,
	}, {
		name:  "--driver bpf: the probe alone",
		f:     debianCloud(),
		o:     Options{Driver: DriverBPF, Repos: repos, Build: true},
		first: StepProbe,
		want:  "1. load the embedded eBPF probe\n",
	}, {
		name: "--driver kmod on a kernel without modules: no usable step",
		f:    thisKindOfHost(),
		o:    Options{Driver: DriverKmod, Repos: repos[:1], Build: true},
		want: `1. use the loaded vigil module 0.1.0: skipped: the kernel has no module support (no /proc/modules)
2. load vigil_debian_6.18.44-fc-v1300_1.ko from the cache (/var/cache/vigil/driver/0.1.0/x86_64/vigil_debian_6.18.44-fc-v1300_1.ko): skipped: the kernel has no module support (no /proc/modules)
3. fetch 0.1.0/x86_64/vigil_debian_6.18.44-fc-v1300_1.ko from https://mirror.example/vigil, verify it and load it: skipped: the kernel has no module support (no /proc/modules)
4. build vigil_debian_6.18.44-fc-v1300_1.ko with the host's headers (/lib/modules/6.18.44-fc-v1300/build, /usr/src/linux-headers-6.18.44-fc-v1300) and load it: skipped: the kernel has no module support (no /proc/modules)
`,
	}, {
		name: "--driver bpf on 5.4 without BTF: no usable step",
		f:    ubuntu2004(),
		o:    Options{Driver: DriverBPF},
		want: "1. load the embedded eBPF probe: skipped: kernel 5.4 < 5.8: the eBPF probe needs 5.8 and BTF; no BTF (/sys/kernel/btf/vmlinux is absent)\n",
	}} {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPlan(c.f, c.o)
			if p == nil {
				t.Fatalf("no plan: %v", err)
			}
			if got := p.String(); got != c.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, c.want)
			}
			first, ok := p.First()
			switch {
			case c.first == "" && (err == nil || !errors.Is(err, ErrNoDriver)):
				t.Errorf("err = %v, want ErrNoDriver", err)
			case c.first == "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("the error does not list the plan:\n%v", err)
			case c.first != "" && err != nil:
				t.Errorf("err = %v", err)
			case c.first != "" && (!ok || first.Kind != c.first):
				t.Errorf("first usable step %q, want %s", first, c.first)
			}
			// The same facts and options make the same plan.
			if again, _ := NewPlan(c.f, c.o); again.String() != p.String() {
				t.Errorf("a second plan differs:\n%s", again)
			}
		})
	}
}

// What an executor needs is in the steps, not only in their text.
func TestPlanStepFields(t *testing.T) {
	f := change(debianCloud(), func(f *Facts) { f.Headers = "/usr/src/linux-headers-6.1.0-50-cloud-amd64" })
	p, err := NewPlan(f, Options{Repos: []string{"/srv/mirror/"}, Build: true, CacheDir: "/c"})
	if err != nil {
		t.Fatal(err)
	}
	repo, build := p.Steps[2], p.Steps[3]
	if repo.Kind != StepRepo || repo.Repo != "/srv/mirror/" || repo.Path != debPath || repo.Artifact != debKo || repo.CachePath != "/c/"+debPath {
		t.Errorf("repository step %+v", repo)
	}
	if build.Kind != StepBuild || build.Method != BuildHeaders || build.CachePath != "/c/"+debPath ||
		strings.Join(build.HeaderDirs, ", ") != debHdrs {
		t.Errorf("build step %+v", build)
	}
	if p.DriverVersion != "0.1.0" || p.Target != f.Target || p.Release != f.Release || p.Driver != DriverAuto {
		t.Errorf("plan header %+v", p)
	}
}

// The errors say what to do.
func TestNewPlanErrors(t *testing.T) {
	_, err := NewPlan(thisKindOfHost(), Options{Driver: DriverKmod})
	if err == nil || !strings.Contains(err.Error(), "the eBPF probe can run here: use --driver auto or bpf") {
		t.Errorf("kmod on a kernel without modules: %v", err)
	}
	locked := change(ubuntu2004(), func(f *Facts) { f.Lockdown = "integrity" })
	_, err = NewPlan(locked, Options{})
	if err == nil || !strings.Contains(err.Error(), "lockdown=integrity refuses unsigned modules\n") ||
		!strings.Contains(err.Error(), "kernel 5.4 < 5.8") || !strings.HasSuffix(err.Error(), "remove one of the reasons above") {
		t.Errorf("lockdown and no BTF: %v", err)
	}
	_, err = NewPlan(debianCloud(), Options{HostRoot: "/host"})
	if err == nil || !strings.Contains(err.Error(), `read them with ReadFacts("/host")`) {
		t.Errorf("facts from another root: %v", err)
	}
	_, err = NewPlan(debianCloud(), Options{Driver: "ebpf"})
	if err == nil || !strings.Contains(err.Error(), "--driver bpf") {
		t.Errorf("driver ebpf: %v", err)
	}
	bad := change(debianCloud(), func(f *Facts) { f.Target.Version = "" })
	_, err = NewPlan(bad, Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot name the module") {
		t.Errorf("empty kernel version: %v", err)
	}
	// The probe needs no artifact name: bpf plans for any kernel.
	if _, err := NewPlan(bad, Options{Driver: DriverBPF}); err != nil {
		t.Errorf("bpf with an unnamable kernel: %v", err)
	}
}

func TestParseDriver(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    Driver
		errHint string
	}{
		{"", DriverAuto, ""},
		{"auto", DriverAuto, ""},
		{"kmod", DriverKmod, ""},
		{" BPF ", DriverBPF, ""},
		{"modern_ebpf", "", "--driver bpf"},
		{"ebpf", "", "--driver bpf"},
		{"module", "", "--driver kmod"},
		{"gvisor", "", "want auto, kmod or bpf (--driver or VIGIL_DRIVER)"},
	} {
		got, err := ParseDriver(c.in)
		if got != c.want || (c.errHint == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.errHint) {
			t.Errorf("ParseDriver(%q) = %q, %v; want %q and an error with %q", c.in, got, err, c.want, c.errHint)
		}
	}
}

func TestParseRepos(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "",
		"https://a.example/vigil":               "https://a.example/vigil",
		" https://a.example/vigil , file:///m,": "https://a.example/vigil|file:///m",
		"https://a.example/x%2Cy,oci://r:5000/vigil": "https://a.example/x%2Cy|oci://r:5000/vigil",
	} {
		if got := strings.Join(ParseRepos(in), "|"); got != want {
			t.Errorf("ParseRepos(%q) = %q, want %q", in, got, want)
		}
	}
}

// A loaded module is reused only when it is ours, whole and speaking our
// interface; anything else is unloaded before a new one loads.
func TestLoadedModuleReuse(t *testing.T) {
	for _, c := range []struct {
		m    LoadedModule
		skip string
	}{
		{LoadedModule{State: "Live", Version: "0.1.0"}, ""},
		{LoadedModule{State: "Live", Version: "0.1.0", API: 1, Schema: "1.4.0"}, ""},
		{LoadedModule{State: "Live", Version: "0.1.0", Schema: "2.0.0"}, "the loaded vigil module writes schema 2.0.0, this vigil reads 1.0.0"},
		{LoadedModule{State: "Loading", Version: "0.1.0"}, "the loaded vigil module is Loading, not Live"},
		{LoadedModule{State: "Live"}, "the loaded vigil module is unversioned, this vigil needs 0.1.0"},
	} {
		f := change(debianCloud(), func(f *Facts) { f.Module = &c.m })
		p, err := NewPlan(f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Steps[0].Skip; got != c.skip {
			t.Errorf("%+v: skip %q, want %q", c.m, got, c.skip)
		}
		if unload := p.Steps[1].Unload; unload != (c.skip != "") {
			t.Errorf("%+v: the cache step's Unload is %v", c.m, unload)
		}
	}
}
