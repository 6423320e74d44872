// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorFromAptDeb822(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/a-vendor.sources"), `Types: deb
URIs: https://vendor.example/apt
Suites: nodistro
Components: main
`)
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/debian.sources"), `Types: deb
# a comment
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`)
	got, err := MirrorFromApt(root)
	if err != nil {
		t.Fatal(err)
	}
	if got != "http://mirror.example/debian" {
		t.Fatalf("MirrorFromApt = %q, want http://mirror.example/debian", got)
	}
}

func TestMirrorFromAptOneLine(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/apt/sources.list"), `# deb http://old.example/debian buster main
deb http://security.example/debian-security bookworm-security main
deb http://other.example/debian-security bookworm/updates main
deb https://vendor.example/apt cloud-sdk-bookworm main
deb [arch=amd64 signed-by=/x.gpg] http://mirror.example/debian trixie main non-free
`)
	got, err := MirrorFromApt(root)
	if err != nil {
		t.Fatal(err)
	}
	if got != "http://mirror.example/debian" {
		t.Fatalf("MirrorFromApt = %q, want http://mirror.example/debian", got)
	}
}

func TestMirrorFromAptNone(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/apt/sources.list"), "deb http://security.example/debian-security bookworm-security main\n")
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/x.sources"), "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: contrib\n")
	_, err := MirrorFromApt(root)
	if err == nil {
		t.Fatal("MirrorFromApt found a mirror in sources without one")
	}
	for _, want := range []string{"sources.list", "x.sources", "VIGIL_DEBIAN_MIRROR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := MirrorFromApt(t.TempDir()); err == nil || !strings.Contains(err.Error(), "VIGIL_DEBIAN_MIRROR") {
		t.Errorf("empty root: error %v, want one naming VIGIL_DEBIAN_MIRROR", err)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/some/cache")
	if got := DefaultCacheDir(); got != "/some/cache/vigil" {
		t.Errorf("DefaultCacheDir with XDG_CACHE_HOME = %q, want /some/cache/vigil", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	if os.Geteuid() == 0 {
		if got := DefaultCacheDir(); got != "/var/cache/vigil" {
			t.Errorf("DefaultCacheDir as root = %q, want /var/cache/vigil", got)
		}
	}
}

func TestLoadMatrix(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, body, want string }{
		{"bad.yaml", "kernels:\n  - suite: bookworm\n\tflavour: cloud-amd64\n", "tab character that violates indentation"},
		{"unknown.yaml", "kernels:\n  - suite: bookworm\n    flavor: cloud-amd64\n    latest: true\n", "unknown.yaml:3"},
		{"noflavour.yaml", "kernels:\n  - suite: bookworm\n    release: 6.1.0-50-amd64\n  - suite: trixie\n    latest: true\n", "noflavour.yaml:4: latest entry needs a flavour"},
		{"both.yaml", "kernels:\n  - suite: bookworm\n    release: x\n    latest: true\n    flavour: amd64\n", "both.yaml:2"},
		{"empty.yaml", "", "empty kernel matrix"},
		{"nosuite.yaml", "kernels:\n  - release: 6.1.0-50-amd64\n", "nosuite.yaml:2: entry has no suite"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		writeFile(t, p, c.body)
		_, err := LoadMatrix(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadMatrix(%s) error = %v, want one containing %q", c.name, err, c.want)
		} else if c.body != "" && !regexp.MustCompile(regexp.QuoteMeta(p)+`:\d+: `).MatchString(err.Error()) {
			t.Errorf("LoadMatrix(%s) error = %v, want it to start with file:line", c.name, err)
		}
	}
	if _, err := LoadMatrix(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadMatrix(missing) error = %v", err)
	}
	m, err := LoadMatrix("matrix.yaml")
	if err != nil {
		t.Fatalf("committed matrix.yaml: %v", err)
	}
	dm, err := DefaultMatrix()
	if err != nil || len(dm.Kernels) != len(m.Kernels) {
		t.Fatalf("DefaultMatrix = %v, %v", dm, err)
	}
	want := map[string]bool{"bullseye/cloud-amd64": true, "bookworm/cloud-amd64": true, "bookworm-backports/cloud-amd64": true,
		"trixie/cloud-amd64": true, "sid/cloud-amd64": true, "bookworm/amd64": true}
	for _, e := range m.Kernels {
		if !e.Latest {
			t.Errorf("matrix entry %+v is pinned; want latest", e)
		}
		delete(want, e.Suite+"/"+e.Flavour)
	}
	if len(want) > 0 {
		t.Errorf("matrix.yaml misses %v", want)
	}
}

func tarOf(t *testing.T, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h := h
		var body []byte
		if h.Typeflag == tar.TypeReg {
			body = []byte("data of " + h.Name)
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return buf.Bytes()
}

func TestExtractTar(t *testing.T) {
	dir := t.TempDir()
	data := tarOf(t,
		tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "./usr/src/hdr/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "./usr/src/hdr/Makefile", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "./usr/bin/tool", Typeflag: tar.TypeReg, Mode: 0o755},
		tar.Header{Name: "./usr/src/hdr/scripts", Typeflag: tar.TypeSymlink, Linkname: "/usr/lib/kbuild/scripts"},
		tar.Header{Name: "./usr/src/hdr/rel", Typeflag: tar.TypeSymlink, Linkname: "../../bin/tool"},
		tar.Header{Name: "./usr/src/hdr/hard", Typeflag: tar.TypeLink, Linkname: "./usr/bin/tool"},
	)
	if err := extractTar(bytes.NewReader(data), dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "usr/bin/tool"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("usr/bin/tool: %v %v", st, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "usr/src/hdr/scripts")); err != nil || l != "/usr/lib/kbuild/scripts" {
		t.Errorf("absolute symlink = %q, %v; want it kept as is", l, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "usr/src/hdr/hard")); err != nil || string(b) != "data of ./usr/bin/tool" {
		t.Errorf("hard link reads %q, %v", b, err)
	}
	got, err := resolveInRoot(dir, "/usr/src/hdr/scripts/x")
	if err != nil || got != filepath.Join(dir, "usr/lib/kbuild/scripts/x") {
		t.Errorf("resolveInRoot = %q, %v", got, err)
	}
	got, err = resolveInRoot(dir, filepath.Join(dir, "usr/src/hdr/rel"))
	if err != nil || got != filepath.Join(dir, "usr/bin/tool") {
		t.Errorf("resolveInRoot(rel) = %q, %v", got, err)
	}
	// Idempotent over an existing tree.
	if err := extractTar(bytes.NewReader(data), dir); err != nil {
		t.Fatalf("second extraction: %v", err)
	}
}

func TestExtractTarRefusesEscapes(t *testing.T) {
	outside := t.TempDir()
	cases := map[string][]tar.Header{
		"dotdot": {{Name: "./a/../../escaped", Typeflag: tar.TypeReg, Mode: 0o644}},
		"symlink-then-write": {
			{Name: "./link", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "./link/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
		},
		"relative-symlink-then-write": {
			{Name: "./up", Typeflag: tar.TypeSymlink, Linkname: "../.."},
			{Name: "./up/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
		},
		"hardlink-out": {{Name: "./h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "root")
			os.Mkdir(dir, 0o755)
			err := extractTar(bytes.NewReader(tarOf(t, entries...)), dir)
			if err == nil {
				t.Fatal("extraction of an escaping entry succeeded")
			}
			for _, p := range []string{filepath.Join(outside, "escaped"), filepath.Join(filepath.Dir(dir), "escaped")} {
				if _, err := os.Lstat(p); err == nil {
					t.Fatalf("%s was written", p)
				}
			}
		})
	}
}

func TestKernelVersionString(t *testing.T) {
	const vs = "6.1.0-50-cloud-amd64 (builder@example.invalid) #3 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"
	img := make([]byte, 0x1000)
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x20E:], 0x0C00-0x200)
	copy(img[0x0C00:], vs+"\x00")
	p := filepath.Join(t.TempDir(), "vmlinuz")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := KernelVersionString(p)
	if err != nil || got != vs {
		t.Fatalf("KernelVersionString = %q, %v", got, err)
	}
	rel, build, err := parseKernelVersionString(got)
	if err != nil || rel != "6.1.0-50-cloud-amd64" || build != "3" {
		t.Fatalf("parseKernelVersionString = %q %q %v", rel, build, err)
	}
	copy(img[0x202:], "XXXX")
	os.WriteFile(p, img, 0o644)
	if _, err := KernelVersionString(p); err == nil {
		t.Fatal("accepted a file without HdrS")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"6.1.176-1", "6.1.158-1", 1},
		{"6.12.95-1~bpo12+1", "6.12.95-1", -1},
		{"6.12.90-2~bpo12+1", "6.12.90-1~bpo12+1", 1},
		{"1:1.0", "2.0", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0", "1.0", 0},
		{"1.0a", "1.0", 1},
		{"1.0+b1", "1.0", 1},
	} {
		got := compareVersions(c.a, c.b)
		if (got > 0) != (c.want > 0) || (got < 0) != (c.want < 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", c.a, c.b, got, c.want)
		}
	}
}

func TestParseImageName(t *testing.T) {
	for _, c := range []struct {
		pkg, rel, flavour string
		unsigned, ok      bool
	}{
		{"linux-image-6.1.0-50-cloud-amd64", "6.1.0-50-cloud-amd64", "cloud-amd64", false, true},
		{"linux-image-6.1.0-50-amd64-unsigned", "6.1.0-50-amd64", "amd64", true, true},
		{"linux-image-7.2.13+deb14-rt-amd64", "7.2.13+deb14-rt-amd64", "rt-amd64", false, true},
		{"linux-image-6.1.0-0.deb11.17-amd64", "6.1.0-0.deb11.17-amd64", "amd64", false, true},
		{"linux-image-6.1.0-50-amd64-dbg", "", "", false, false},
		{"linux-image-cloud-amd64", "", "", false, false},
		{"linux-image-amd64-signed-template", "", "", false, false},
		{"linux-image-6.1.0-50-arm64", "", "", false, false},
	} {
		rel, fl, uns, ok := parseImageName(c.pkg, "amd64")
		if rel != c.rel || fl != c.flavour || uns != c.unsigned || ok != c.ok {
			t.Errorf("parseImageName(%q) = %q %q %v %v", c.pkg, rel, fl, uns, ok)
		}
	}
	d := parseDepends("gcc-12, linux-headers-6.1.0-50-common (= 6.1.176-1), dracut | initramfs-tools (>= 0.120+deb8u2), python3:any")
	if len(d) != 4 || d[1][0].name != "linux-headers-6.1.0-50-common" || d[1][0].op != "=" || d[1][0].version != "6.1.176-1" ||
		len(d[2]) != 2 || d[2][1].op != ">=" || d[3][0].name != "python3" {
		t.Errorf("parseDepends = %+v", d)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	if errors.Is(ErrVerify, ErrUnknownKernel) {
		t.Fatal("ErrVerify is ErrUnknownKernel")
	}
}

func TestAptValidUntilOff(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "etc/apt/apt.conf.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if off, _ := aptValidUntilOff(root); off {
		t.Fatal("no configuration, yet the check is off")
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("50mirror", "// a snapshot mirror\nAcquire::Check-Valid-Until \"false\";\n")
	if off, file := aptValidUntilOff(root); !off || filepath.Base(file) != "50mirror" {
		t.Fatalf("off=%v file=%q, want off in 50mirror", off, file)
	}
	// A later file turns it back on, as apt reads them in order.
	write("99strict", "Acquire::Check-Valid-Until \"true\";\n")
	if off, _ := aptValidUntilOff(root); off {
		t.Fatal("99strict turns the check on again, but it stays off")
	}
}

// An interrupted fetch names the interruption, not the mirror: a mirror
// that was answering is not to blame for a run someone stopped.
func TestInterruptedFetchDoesNotBlameTheMirror(t *testing.T) {
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stall }))
	defer srv.Close()
	defer close(stall)
	cat, err := NewDebian(Options{Mirror: srv.URL, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = cat.Latest(ctx, "bookworm", "cloud-amd64")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if strings.Contains(err.Error(), "reachable") || strings.Contains(err.Error(), EnvMirror) {
		t.Errorf("an interrupted run blames the mirror: %v", err)
	}

	// A mirror that refuses connections is still named as the cause.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	cat, err = NewDebian(Options{Mirror: dead.URL, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = cat.Latest(context.Background(), "bookworm", "cloud-amd64"); err == nil || !strings.Contains(err.Error(), "reachable") {
		t.Errorf("an unreachable mirror: %v, want the hint to check it", err)
	}
}
