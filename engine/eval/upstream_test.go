// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/engine/state"
)

const upstreamRules = "../../../shared/fixtures/falco-rules/falco_rules.yaml"

func loadUpstream(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.LoadFiles(upstreamRules)
	if err != nil {
		t.Fatalf("load upstream rules: %v", err)
	}
	return set
}

func TestUpstreamCompiles(t *testing.T) {
	set := loadUpstream(t)
	p, err := Compile(set, Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if w := p.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if got := len(p.Rules()); got != len(set.Rules()) || got != 25 {
		t.Errorf("compiled %d rules of %d, want 25", got, len(set.Rules()))
	}
	for _, r := range p.Rules() {
		if r.AllEvents || len(r.EventTypes) == 0 {
			t.Errorf("rule %q is not restricted to event types", r.Name)
		}
		t.Logf("%s: %v", r.Name, r.EventTypes)
	}
	t.Log(p.Syscalls())
}

func compileUpstream(t testing.TB) *Program {
	t.Helper()
	p, err := Compile(loadUpstream(t), Options{})
	if err != nil {
		t.Fatalf("compile upstream: %v", err)
	}
	return p
}

// containerWorld adds a container and, in it, runc's child that starts
// the container's processes.
func containerWorld(t testing.TB) (*world, *state.Process) {
	w := newWorld(t)
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	runc := w.child(1, 1000, "runc:[1:CHILD]", "runc")
	runc.UID, runc.EUID, runc.GID, runc.EGID, runc.LoginUID, runc.TTY = 0, 0, 0, 0, 0xffffffff, 34816
	runc.Cwd = "/"
	w.inContainer(runc, id, &container.Info{ID: id[:12], FullID: id, Runtime: container.Docker, Status: container.Ready,
		Name: "/app", Image: "debian:bookworm", ImageRepo: "debian", ImageTag: "bookworm"})
	return w, runc
}

type e2e struct {
	name  string
	ctx   func(t *testing.T) *fields.Ctx
	rule  string // "" for no alert
	text  string
	field map[string]any
}

func TestUpstreamRulesEndToEnd(t *testing.T) {
	p := compileUpstream(t)
	cases := []e2e{
		{
			name: "terminal shell in container",
			ctx: func(t *testing.T) *fields.Ctx {
				w, runc := containerWorld(t)
				return w.execve(t, w.child(runc.PID, 1001, "bash", "/bin/bash"))
			},
			rule:  "Terminal shell in container",
			text:  "A shell was spawned in a container with an attached terminal | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/bin/bash parent=runc:[1:CHILD] command=bash terminal=34816 exe_flags=0",
			field: map[string]any{"proc.tty": int64(34816), "user.uid": uint64(0), "user.loginuid": int64(-1), "proc.pname": "runc:[1:CHILD]", "evt.arg.flags": "0"},
		},
		{
			name: "shell in container without a terminal",
			ctx: func(t *testing.T) *fields.Ctx {
				w, runc := containerWorld(t)
				sh := w.child(runc.PID, 1001, "bash", "/bin/bash")
				sh.TTY = 0
				return w.execve(t, sh)
			},
		},
		{
			name: "terminal shell on the host",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				return w.execve(t, w.child(1, 1001, "bash", "/bin/bash"))
			},
		},
		{
			name: "read sensitive file untrusted",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				w.child(200, 300, "cat", "/usr/bin/cat", "/etc/shadow")
				return w.openat(t, 300, 3, "/etc/shadow", unix.O_RDONLY)
			},
			rule:  "Read sensitive file untrusted",
			text:  "Sensitive file opened for reading by non-trusted program | file=/etc/shadow gparent=sshd ggparent=systemd gggparent=<NA> evt_type=openat user=alice user_uid=1000 user_loginuid=1000 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow terminal=34816",
			field: map[string]any{"proc.aname[4]": nil, "fd.name": "/etc/shadow", "user.name": "alice"},
		},
		{
			name: "sensitive file read by a trusted program",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				w.child(200, 300, "sshd", "/usr/sbin/sshd")
				return w.openat(t, 300, 3, "/etc/shadow", unix.O_RDONLY)
			},
		},
		{
			name: "non-sensitive file",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				w.child(200, 300, "cat", "/usr/bin/cat", "/etc/passwd")
				return w.openat(t, 300, 3, "/etc/passwd", unix.O_RDONLY)
			},
		},
		{
			name: "packet socket in container",
			ctx: func(t *testing.T) *fields.Ctx {
				w, runc := containerWorld(t)
				w.child(runc.PID, 1001, "tcpdump", "/usr/bin/tcpdump")
				return w.event(t, driver.EvSocket, 1001, 3, unix.AF_PACKET, unix.SOCK_RAW, 768)
			},
			rule: "Packet socket created in container",
			text: "Packet socket was created in a container | socket_info=res=3 domain=17 type=0x3 proto=768 connection=<NA> lport=<NA> rport=<NA> fd_type=<NA> fd_proto=<NA> evt_type=socket user=root user_uid=0 user_loginuid=-1 process=tcpdump proc_exepath=/usr/bin/tcpdump parent=runc:[1:CHILD] command=tcpdump terminal=34816",
		},
		{
			name: "inet socket in container",
			ctx: func(t *testing.T) *fields.Ctx {
				w, runc := containerWorld(t)
				w.child(runc.PID, 1001, "curl", "/usr/bin/curl")
				return w.event(t, driver.EvSocket, 1001, 3, unix.AF_INET, unix.SOCK_STREAM, 0)
			},
		},
		{
			name: "search private keys",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				return w.execve(t, w.child(200, 300, "grep", "grep", "-r", "BEGIN RSA PRIVATE", "/home"))
			},
			rule: "Search Private Keys or Passwords",
			text: "Grep private keys or passwords activities found | evt_type=execve user=alice user_uid=1000 user_loginuid=1000 process=grep proc_exepath=grep parent=bash command=grep -r BEGIN RSA PRIVATE /home terminal=34816 exe_flags=0",
		},
		{
			name: "grep for something else",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				return w.execve(t, w.child(200, 300, "grep", "grep", "-r", "TODO", "/home"))
			},
		},
		{
			name: "drop and execute",
			ctx: func(t *testing.T) *fields.Ctx {
				w, runc := containerWorld(t)
				x := w.child(runc.PID, 1001, "xmrig", "/tmp/xmrig")
				x.ExeFlags = driver.ExeUpperLayer
				x.SID = 1
				return w.execve(t, x)
			},
			rule:  "Drop and execute new binary in container",
			text:  "Executing binary not part of base image | proc_exe=/tmp/xmrig proc_sname=xmrig gparent=systemd proc_exe_ino_ctime=<NA> proc_exe_ino_mtime=<NA> proc_exe_ino_ctime_duration_proc_start=<NA> proc_cwd=/ container_start_ts=<NA> evt_type=execve user=root user_uid=0 user_loginuid=-1 process=xmrig proc_exepath=/tmp/xmrig parent=runc:[1:CHILD] command=xmrig terminal=34816 exe_flags=EXE_UPPER_LAYER",
			field: map[string]any{"container.start_ts": nil, "proc.exe": "/tmp/xmrig"},
		},
		{
			name: "execute from the image",
			ctx: func(t *testing.T) *fields.Ctx {
				w, runc := containerWorld(t)
				return w.execve(t, w.child(runc.PID, 1001, "ls", "/bin/ls"))
			},
		},
		{
			name: "fileless execution",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				x := w.child(200, 300, "3", "memfd:payload")
				x.ExeFlags = driver.ExeMemfd
				return w.execve(t, x)
			},
			rule: "Fileless execution via memfd_create",
			text: "Fileless execution via memfd_create | container_start_ts=<NA> proc_cwd=/home/alice/ evt_res=SUCCESS proc_sname=bash gparent=sshd evt_type=execve user=alice user_uid=1000 user_loginuid=1000 process=3 proc_exepath=memfd:payload parent=bash command=3 terminal=34816 exe_flags=EXE_FROM_MEMFD",
		},
		{
			name: "runc's memfd re-exec",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				x := w.child(200, 300, "runc", "memfd:runc_cloned:/proc/self/exe")
				x.ExeFlags = driver.ExeMemfd
				return w.execve(t, x)
			},
		},
		{
			name: "ptrace attach",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				w.child(200, 300, "gdb", "/usr/bin/gdb", "-p", "100")
				return w.event(t, driver.EvPtrace, 300, 0, unix.PTRACE_ATTACH, 100)
			},
			rule: "PTRACE attached to process",
			text: "Detected ptrace PTRACE_ATTACH attempt | proc_pcmdline=bash evt_type=ptrace user=alice user_uid=1000 user_loginuid=1000 process=gdb proc_exepath=/usr/bin/gdb parent=bash command=gdb -p 100 terminal=34816",
		},
		{
			name: "ptrace traceme",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				w.child(200, 300, "malware", "/tmp/malware")
				return w.event(t, driver.EvPtrace, 300, 0, unix.PTRACE_TRACEME, 0)
			},
			rule: "PTRACE anti-debug attempt",
			text: "Detected potential PTRACE_TRACEME anti-debug attempt | proc_pcmdline=bash evt_type=ptrace user=alice user_uid=1000 user_loginuid=1000 process=malware proc_exepath=/tmp/malware parent=bash command=malware terminal=34816",
		},
		{
			name: "ptrace peek",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				w.child(200, 300, "gdb", "/usr/bin/gdb")
				return w.event(t, driver.EvPtrace, 300, 0, unix.PTRACE_PEEKDATA, 100)
			},
		},
		{
			name: "symlink over /etc/shadow",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				w.child(200, 300, "ln", "/usr/bin/ln", "-s", "/etc/shadow", "/tmp/s")
				return w.event(t, driver.EvSymlinkat, 300, 0, "/etc/shadow", unix.AT_FDCWD, "/tmp/s")
			},
			rule: "Create Symlink Over Sensitive Files",
			text: "Symlinks created over sensitive files | target=/etc/shadow linkpath=/tmp/s evt_type=symlinkat user=alice user_uid=1000 user_loginuid=1000 process=ln proc_exepath=/usr/bin/ln parent=bash command=ln -s /etc/shadow /tmp/s terminal=34816",
		},
		{
			name: "outbound ssh to port 443",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				ssh := w.child(200, 300, "ssh", "/usr/bin/ssh", "-p", "443", "example")
				ssh.FDs.Set(&state.FD{Num: 3, Type: state.FDIPv4, Proto: "tcp", Name: "192.168.1.5:40000->203.0.113.9:443",
					LocalIP: []byte{192, 168, 1, 5}, LocalPort: 40000, PeerIP: []byte{203, 0, 113, 9}, PeerPort: 443})
				return w.event(t, driver.EvConnect, 300, 0, 3, tuple("192.168.1.5:40000", "203.0.113.9:443"))
			},
			rule: "Disallowed SSH Connection Non Standard Port",
			text: "Disallowed SSH Connection | connection=192.168.1.5:40000->203.0.113.9:443 lport=40000 rport=443 fd_type=ipv4 fd_proto=tcp evt_type=connect user=alice user_uid=1000 user_loginuid=1000 process=ssh proc_exepath=/usr/bin/ssh parent=bash command=ssh -p 443 example terminal=34816",
		},
		{
			name: "ssh to a private address",
			ctx: func(t *testing.T) *fields.Ctx {
				w := newWorld(t)
				w.child(200, 300, "ssh", "/usr/bin/ssh")
				return w.event(t, driver.EvConnect, 300, 0, 3, tuple("192.168.1.5:40000", "10.0.0.7:443"))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.ctx(t)
			as := alerts(p, c)
			if tc.rule == "" {
				if len(as) != 0 {
					t.Fatalf("near miss raised %q: %s", as[0].Rule, as[0].Output)
				}
				return
			}
			if len(as) != 1 {
				t.Fatalf("want one alert from %q, got %d", tc.rule, len(as))
			}
			a := as[0]
			if a.Rule != tc.rule {
				t.Errorf("rule %q, want %q", a.Rule, tc.rule)
			}
			if a.Output != tc.text {
				t.Errorf("output\n got  %s\n want %s", a.Output, tc.text)
			}
			if a.Source != "syscall" || a.Hostname != "testhost" || len(a.Tags) == 0 || a.Priority == "" {
				t.Errorf("alert metadata: %+v", a)
			}
			if want := c.Clock.Wall(c.Event.TS); !a.Time.Equal(want) {
				t.Errorf("time %v, want %v", a.Time, want)
			}
			for k, v := range tc.field {
				got, ok := a.OutputFields[k]
				if !ok || got != v {
					t.Errorf("OutputFields[%s] = %#v (present %v), want %#v", k, got, ok, v)
				}
			}
		})
	}
}
