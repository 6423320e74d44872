// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package builder

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/internal/modinfo"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/mirror"
)

// Request is a module to build for a set of kernels.
type Request struct {
	Targets       []kernels.Target
	Source        string // directory with the module's Kbuild file
	Module        string // the .ko the source builds, without the suffix
	DriverVersion string
	Out           string // the mirror root
	Jobs          int    // builds at once; 0: 2
	Timeout       time.Duration
	Key           ed25519.PrivateKey // signs index.json
	Progress      io.Writer          // a line per target started and finished, and the build logs
}

// Builder builds modules: headers from the catalogue, a builder image per
// compiler, a job per target on an executor.
type Builder struct {
	Catalogue *kernels.Catalogue
	Images    *Images // nil with the local executor
	Exec      Executor
}

// TargetResult is how one target's build ended.
type TargetResult struct {
	Target   kernels.Target
	Artifact string // path in the mirror, when it succeeded
	SHA256   string
	Image    string // builder image id, or "local"
	Compiler string // CONFIG_CC_VERSION_TEXT of the target
	Duration time.Duration
	Err      error
	Tail     string // the end of the build log, when it failed
}

// Build builds every target, up to Jobs at once. A target that fails does
// not stop the others; only successful artifacts reach Out, each renamed
// into place whole, and then the index is signed. The error is for a
// request that could not run at all, or an index that could not be written.
func (b *Builder) Build(ctx context.Context, req Request) ([]TargetResult, error) {
	if req.Key == nil {
		return nil, errors.New("no signing key for the mirror's index: pass --key-file or set VIGIL_MIRROR_KEY (make one with `vigil mirror keygen`)")
	}
	if _, err := os.Stat(filepath.Join(req.Source, "Kbuild")); err != nil {
		return nil, fmt.Errorf("module source %s: no Kbuild file: %w", req.Source, err)
	}
	if req.Jobs <= 0 {
		req.Jobs = 2
	}
	// Containers mount by absolute path.
	var err error
	if req.Source, err = filepath.Abs(req.Source); err != nil {
		return nil, err
	}
	if req.Out, err = filepath.Abs(req.Out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(req.Out, 0o755); err != nil {
		return nil, err
	}
	results := make([]TargetResult, len(req.Targets))
	work := make(chan int)
	var wg sync.WaitGroup
	var logMu sync.Mutex
	progress := func(format string, args ...any) {
		if req.Progress != nil {
			logMu.Lock()
			fmt.Fprintf(req.Progress, format+"\n", args...)
			logMu.Unlock()
		}
	}
	for range min(req.Jobs, len(req.Targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				t := req.Targets[i]
				progress("build %s: started", t.Name())
				start := time.Now()
				r := b.buildOne(ctx, req, t)
				r.Duration = time.Since(start)
				if r.Err != nil {
					progress("build %s: FAILED after %s: %v", t.Name(), r.Duration.Round(time.Second), r.Err)
				} else {
					progress("build %s: ok in %s: %s", t.Name(), r.Duration.Round(time.Second), r.Artifact)
				}
				results[i] = r
			}
		}()
	}
	for i := range req.Targets {
		work <- i
	}
	close(work)
	wg.Wait()

	ix, err := mirror.LoadIndex(req.Out)
	if err != nil {
		return results, err
	}
	added := 0
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		e, err := mirror.EntryFor(req.Out, r.Artifact)
		if err != nil {
			return results, err
		}
		t := r.Target
		e.Target = mirror.Target{Distro: t.Distro, Suite: t.Suite, Release: t.Release, Version: t.Version, Flavour: t.Flavour, Arch: t.KernelArch()}
		e.BuilderImage, e.Compiler, e.BuildTime, e.DriverVersion = r.Image, r.Compiler, time.Now().UTC(), req.DriverVersion
		ix.Put(e)
		added++
	}
	if added > 0 {
		if err := mirror.WriteSigned(req.Out, ix, req.Key); err != nil {
			return results, err
		}
	}
	return results, nil
}

// buildOne builds one target into a staging directory of the mirror and,
// when everything checks out, renames the module into place.
func (b *Builder) buildOne(ctx context.Context, req Request, t kernels.Target) (r TargetResult) {
	r.Target = t
	fail := func(err error) TargetResult { r.Err = err; return r }
	f, err := b.Catalogue.Fetch(ctx, t, kernels.PartHeaders)
	if err != nil {
		return fail(fmt.Errorf("headers: %w", err))
	}
	cc, ccText, err := Compiler(f.Headers)
	if err != nil {
		return fail(err)
	}
	r.Compiler = ccText
	job, err := b.job(ctx, req, t, f, cc)
	if err != nil {
		return fail(err)
	}
	r.Image = job.Image
	if r.Image == "" {
		r.Image = "local"
	}
	staging, err := os.MkdirTemp(req.Out, ".staging-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(staging)
	job.Mounts = append(job.Mounts, Mount{Host: staging, Guest: "/out"})
	res, err := b.Exec.Run(ctx, job)
	if err != nil {
		return fail(err)
	}
	if res.TimedOut {
		r.Tail = res.Tail
		return fail(fmt.Errorf("%w after %s", ErrTimeout, req.Timeout))
	}
	if res.ExitCode != 0 {
		r.Tail = res.Tail
		return fail(fmt.Errorf("build exited with status %d", res.ExitCode))
	}
	ko := filepath.Join(staging, req.Module+".ko")
	vm, err := Vermagic(ko)
	if err != nil {
		return fail(err)
	}
	if !strings.HasPrefix(vm, t.Release+" ") {
		return fail(fmt.Errorf("vermagic %q of the built module does not match kernel %s: the headers are not the target's", vm, t.Release))
	}
	name := mirror.ArtifactPath(req.DriverVersion, t.KernelArch(), t.Distro, t.Release, t.Version)
	dst := filepath.Join(req.Out, name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fail(err)
	}
	// Same file system: the artifact appears whole or not at all.
	if err := os.Rename(ko, dst); err != nil {
		return fail(fmt.Errorf("place artifact: %w", err))
	}
	r.Artifact = name
	return r
}

// Fixed build paths and identities make two builds of the same inputs
// bit-identical.
const (
	guestSrc   = "/src"
	guestBuild = "/build"
	guestMod   = "/build/module"
)

var reproducibleEnv = []string{
	"KBUILD_BUILD_TIMESTAMP=1970-01-01 00:00:00 UTC",
	"KBUILD_BUILD_USER=vigil",
	"KBUILD_BUILD_HOST=vigil",
	"SOURCE_DATE_EPOCH=0",
	"LC_ALL=C",
	"TZ=UTC",
	"HOME=/tmp",
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
}

// job describes the build of one target: the headers and kbuild trees at
// their real paths, read-only; the source read-only; the module built in a
// scratch directory at a fixed path.
func (b *Builder) job(ctx context.Context, req Request, t kernels.Target, f *kernels.Fetched, cc string) (Job, error) {
	j := Job{
		Name:    t.Name(),
		Env:     reproducibleEnv,
		Tmpfs:   []string{guestBuild},
		Timeout: req.Timeout,
		CPUs:    2,
		MemMiB:  2048,
		Log:     req.Progress,
		Mounts:  []Mount{{Host: req.Source, Guest: guestSrc, ReadOnly: true}},
	}
	// /usr/src holds the flavour and common headers; their scripts and
	// tools are symlinks into /usr/lib/linux-kbuild-*.
	j.Mounts = append(j.Mounts, Mount{Host: filepath.Join(f.Root, "usr/src"), Guest: "/usr/src", ReadOnly: true})
	kb, _ := filepath.Glob(filepath.Join(f.Root, "usr/lib/linux-kbuild-*"))
	for _, d := range kb {
		j.Mounts = append(j.Mounts, Mount{Host: d, Guest: "/usr/lib/" + filepath.Base(d), ReadOnly: true})
	}
	headers := "/usr/src/" + filepath.Base(f.Headers)
	script := fmt.Sprintf(`set -e
cp -r %[1]s %[2]s
cd %[2]s
echo "vigil: building %[3]s.ko for %[4]s with $(%[5]s --version | head -n 1)"
make -C %[6]s M=%[2]s CC=%[5]s modules
cp %[3]s.ko /out/
`, guestSrc, guestMod, req.Module, t.Release, cc, headers)
	j.Cmd = []string{"/bin/sh", "-c", script}
	if b.Images != nil {
		pkg := "gcc-" + cc[strings.LastIndex(cc, "-")+1:]
		id, err := b.Images.Ensure(ctx, RecipeFor(t.Suite, pkg))
		if err != nil {
			return j, err
		}
		j.Image = id
	}
	return j, nil
}

var ccRE = regexp.MustCompile(`^CONFIG_CC_VERSION_TEXT="?((\S*gcc-\d+)\b[^"]*)"?$`)

// Compiler reads the compiler a kernel was built with from its headers'
// .config: the command (gcc-12, x86_64-linux-gnu-gcc-16) and the full
// version text.
func Compiler(headers string) (cmd, text string, err error) {
	f, err := os.Open(filepath.Join(headers, ".config"))
	if err != nil {
		return "", "", fmt.Errorf("find the kernel's compiler: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := ccRE.FindStringSubmatch(sc.Text()); m != nil {
			return m[2], m[1], nil
		}
	}
	return "", "", fmt.Errorf("find the kernel's compiler: no gcc-N in CONFIG_CC_VERSION_TEXT of %s/.config (vigil builds with the kernel's own gcc)", headers)
}

// Vermagic returns the vermagic string of a built module.
func Vermagic(ko string) (string, error) {
	mi, err := modinfo.Read(ko)
	if err != nil {
		return "", err
	}
	vm, ok := mi["vermagic"]
	if !ok {
		return "", fmt.Errorf("module %s has no vermagic", ko)
	}
	return vm, nil
}

// Summary renders results as a table.
func Summary(rs []TargetResult) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-48s %-7s %8s  %s\n", "TARGET", "RESULT", "TIME", "ARTIFACT / ERROR")
	sorted := append([]TargetResult(nil), rs...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].Target.Name() < sorted[b].Target.Name() })
	for _, r := range sorted {
		res, what := "ok", r.Artifact
		if r.Err != nil {
			res, what = "FAILED", r.Err.Error()
		}
		fmt.Fprintf(&sb, "%-48s %-7s %8s  %s\n", r.Target.Name(), res, r.Duration.Round(time.Second), what)
	}
	return sb.String()
}
