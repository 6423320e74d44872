// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package builder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/kernels"
)

// kmod/dkms.conf works with Debian's dkms: in a bookworm container with
// dkms, and a matrix kernel's headers from the catalogue installed where
// dkms looks, `dkms add` and `dkms build` make a module for that kernel.
func TestDKMSBuildsTheModule(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	f, err := e.cat.Fetch(ctx, e.target, kernels.PartHeaders)
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.images.Ensure(ctx, RecipeFor("bookworm", "gcc-12").With("dkms"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Abs("../kmod")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	// Each headers directory on its own, so that /usr/src stays writable
	// for the source dkms expects there.
	mounts := []Mount{{Host: src, Guest: "/src", ReadOnly: true}, {Host: out, Guest: "/out"}}
	dirs, _ := filepath.Glob(filepath.Join(f.Root, "usr/src/linux-headers-*"))
	kb, _ := filepath.Glob(filepath.Join(f.Root, "usr/lib/linux-kbuild-*"))
	for _, d := range dirs {
		mounts = append(mounts, Mount{Host: d, Guest: "/usr/src/" + filepath.Base(d), ReadOnly: true})
	}
	for _, d := range kb {
		mounts = append(mounts, Mount{Host: d, Guest: "/usr/lib/" + filepath.Base(d), ReadOnly: true})
	}
	rel := e.target.Release
	script := fmt.Sprintf(`set -e
cp -r /src /usr/src/vigil-0.1.0
mkdir -p /lib/modules/%[1]s
ln -s /usr/src/linux-headers-%[1]s /lib/modules/%[1]s/build
dkms add vigil/0.1.0
dkms build vigil/0.1.0 -k %[1]s
cp /var/lib/dkms/vigil/0.1.0/%[1]s/x86_64/module/vigil.ko* /out/
`, rel)
	var log bytes.Buffer
	res, err := e.docker.Run(ctx, Job{Name: "dkms", Image: id, Cmd: []string{"/bin/sh", "-c", script},
		Env: reproducibleEnv, Mounts: mounts, Timeout: 5 * time.Minute, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("dkms exited %d\n%s", res.ExitCode, log.String())
	}
	kos, _ := filepath.Glob(filepath.Join(out, "vigil.ko*"))
	if len(kos) != 1 {
		t.Fatalf("dkms made %v\n%s", kos, log.String())
	}
	ko := kos[0]
	if strings.HasSuffix(ko, ".xz") || strings.HasSuffix(ko, ".zst") || strings.HasSuffix(ko, ".gz") {
		t.Fatalf("dkms compressed the module (%s): decompress it here before checking vermagic", filepath.Base(ko))
	}
	vm, err := Vermagic(ko)
	if err != nil || !strings.HasPrefix(vm, rel+" ") {
		t.Fatalf("dkms module vermagic %q (%v), want %s", vm, err, rel)
	}
	if fi, _ := os.Stat(ko); fi.Size() == 0 {
		t.Fatal("empty module")
	}
}
