// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

// Upstream's "Directory traversal monitored file read" fires on a path
// given with ../ (fd.nameraw), also when the open fails, and not on the
// same file opened by its clean path. fd.nameraw used to be the cleaned
// path, so the rule never fired.
func TestDirectoryTraversalRuleSeesRawPath(t *testing.T) {
	p := compileUpstream(t)
	const rule = "Directory traversal monitored file read"
	setup := func(t *testing.T) *replay {
		r := newReplay()
		r.spawn(t, 1, 50, "/usr/bin/python3", []string{"python3", "app.py"}, "/srv/app", 33)
		r.spawn(t, 50, 60, "/usr/bin/cat", []string{"cat", "../../etc/passwd"}, "/srv/app", 33)
		return r
	}
	t.Run("read", func(t *testing.T) {
		r := setup(t)
		r.event(t, driver.EvOpenatE, 60, unix.AT_FDCWD, "../..//etc/passwd", unix.O_RDONLY, 0)
		c := r.event(t, driver.EvOpenat, 60, 3, unix.AT_FDCWD, "/srv/app/../../etc/passwd", unix.O_RDONLY, 0, 0, 0)
		as := alerts(p, c)
		if len(as) != 1 || as[0].Rule != rule {
			t.Fatalf("alerts = %v, want one from %q", as, rule)
		}
		if got := as[0].OutputFields["fd.nameraw"]; got != "../../etc/passwd" {
			t.Errorf("fd.nameraw = %#v, want ../../etc/passwd", got)
		}
		if got := as[0].OutputFields["fd.name"]; got != "/etc/passwd" {
			t.Errorf("fd.name = %#v, want /etc/passwd", got)
		}
	})
	t.Run("failed open", func(t *testing.T) {
		r := setup(t)
		r.event(t, driver.EvOpenatE, 60, unix.AT_FDCWD, "../../etc/shadow", unix.O_RDONLY, 0)
		c := r.event(t, driver.EvOpenat, 60, -int(unix.EACCES), unix.AT_FDCWD, "/srv/app/../../etc/shadow", unix.O_RDONLY, 0, nil, nil)
		if as := alerts(p, c); len(as) != 1 || as[0].Rule != rule {
			t.Fatalf("alerts = %v, want one from %q", as, rule)
		}
	})
	t.Run("clean path", func(t *testing.T) {
		r := setup(t)
		r.event(t, driver.EvOpenatE, 60, unix.AT_FDCWD, "/etc/passwd", unix.O_RDONLY, 0)
		c := r.event(t, driver.EvOpenat, 60, 3, unix.AT_FDCWD, "/etc/passwd", unix.O_RDONLY, 0, 0, 0)
		if as := alerts(p, c); len(as) != 0 {
			t.Fatalf("a clean path raised %q", as[0].Rule)
		}
	})
}

// Upstream's "Set Setuid or Setgid bit" matches evt.arg.mode against
// Falco's names; the mode used to render as octal, so it never fired.
func TestSetuidBitRuleSeesModeNames(t *testing.T) {
	p := mustCompile(t, `evt.type in (chmod, fchmod, fchmodat) and (evt.arg.mode contains "S_ISUID" or evt.arg.mode contains "S_ISGID")`,
		"mode=%evt.arg.mode raw=%evt.rawarg.mode")
	r := newReplay()
	r.spawn(t, 1, 60, "/usr/bin/chmod", []string{"chmod", "u+s", "/tmp/sh"}, "/tmp", 0)
	as := alerts(p, r.event(t, driver.EvChmod, 60, 0, "/tmp/sh", 0o4755))
	if len(as) != 1 {
		t.Fatalf("chmod 4755: %d alerts, want 1", len(as))
	}
	if want := "mode=S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID raw=2541"; as[0].Output != want {
		t.Errorf("output %q, want %q", as[0].Output, want)
	}
	if n := len(alerts(p, r.event(t, driver.EvFchmodat, 60, 0, unix.AT_FDCWD, "/tmp/f", 0o755))); n != 0 {
		t.Errorf("chmod 755 raised %d alerts", n)
	}
	if n := len(alerts(p, r.event(t, driver.EvFchmod, 60, 0, 3, 0o2755))); n != 1 {
		t.Errorf("fchmod 2755 raised %d alerts, want 1", n)
	}
}
