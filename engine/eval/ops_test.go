// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/state"
)

// TestOperators runs every operator and transformer on decoded events.
func TestOperators(t *testing.T) {
	w := newWorld(t)
	cat := w.child(200, 300, "cat", "/usr/bin/cat", "/etc/shadow", "-n")
	cat.CapEffective = 1<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_NET_RAW
	cat.StartTS = 4_000_000_000_000
	open := func() *fields.Ctx {
		return w.openat(t, 300, 3, "/etc/shadow", unix.O_RDONLY|unix.O_CLOEXEC)
	}
	exec := func() *fields.Ctx { return w.execve(t, cat) }
	nc := w.child(200, 301, "nc", "/usr/bin/nc", "10.1.2.3", "4444")
	nc.FDs.Set(&state.FD{Num: 5, Type: state.FDIPv4, Proto: "tcp", Name: "192.168.1.5:40000->10.1.2.3:4444",
		LocalIP: []byte{192, 168, 1, 5}, LocalPort: 40000, PeerIP: []byte{10, 1, 2, 3}, PeerPort: 4444})
	connect := func() *fields.Ctx {
		return w.event(t, driver.EvConnect, 301, 0, 5, tuple("192.168.1.5:40000", "10.1.2.3:4444"))
	}
	cases := []struct {
		name string
		ctx  func() *fields.Ctx
		cond string
		want bool
	}{
		{"eq string", open, "fd.name = /etc/shadow", true},
		{"eq string ==", open, "fd.name == /etc/shadow", true},
		{"eq string miss", open, "fd.name = /etc/passwd", false},
		{"ne string", open, "fd.name != /etc/passwd", true},
		{"ne string same", open, "fd.name != /etc/shadow", false},
		{"contains", open, "fd.name contains sha", true},
		{"contains miss", open, "fd.name contains SHA", false},
		{"icontains", open, "fd.name icontains SHA", true},
		{"icontains miss", open, "fd.name icontains passwd", false},
		{"bcontains", open, "fd.name bcontains 736861", true}, // "sha"
		{"bcontains miss", open, "fd.name bcontains 00ff", false},
		{"startswith", open, "fd.name startswith /etc/", true},
		{"startswith miss", open, "fd.name startswith /var/", false},
		{"bstartswith", open, "fd.name bstartswith 2f657463", true}, // "/etc"
		{"endswith", open, "fd.name endswith shadow", true},
		{"endswith miss", open, "fd.name endswith passwd", false},
		{"glob", open, "fd.name glob '/etc/sh*'", true},
		{"glob crosses slash", open, "fd.name glob '*shad?w'", true},
		{"glob class", open, "fd.name glob '/etc/[rs]hadow'", true},
		{"glob negated class", open, "fd.name glob '/etc/[!s]hadow'", false},
		{"glob miss", open, "fd.name glob '/etc/*.conf'", false},
		{"iglob", open, "fd.name iglob '/ETC/SH*'", true},
		{"regex", open, "fd.name regex '/etc/s[a-z]+'", true},
		{"regex is anchored", open, "fd.name regex 'shadow'", false},
		{"in", open, "fd.name in (/etc/passwd, /etc/shadow)", true},
		{"in miss", open, "fd.name in (/etc/passwd, /etc/group)", false},
		{"intersects scalar", open, "fd.name intersects (/etc/shadow)", true},
		{"pmatch", open, "fd.name pmatch (/var/run, /etc)", true},
		{"pmatch whole components", open, "fd.name pmatch (/et, /var)", false},
		{"pmatch glob", open, "fd.name pmatch (/e*)", true},
		{"exists", open, "fd.name exists", true},
		{"exists missing", open, "fd.sip exists", false},
		{"not exists missing", open, "not fd.sip exists", true},
		{"na compares false", open, "fd.sip != 1.2.3.4", false},
		{"na under not", open, "not fd.sip = 1.2.3.4", true},
		{"num eq", open, "fd.num = 3", true},
		{"num ne", open, "fd.num != 3", false},
		{"num lt", open, "fd.num < 4", true},
		{"num le", open, "fd.num <= 3", true},
		{"num gt", open, "fd.num > 3", false},
		{"num ge", open, "fd.num >= 3", true},
		{"num in", open, "fd.num in (1, 2, 3)", true},
		{"num in miss", open, "fd.num in (1, 2)", false},
		{"num hex", open, "fd.num = 0x3", true},
		{"bool true", open, "evt.is_open_read = true", true},
		{"bool false", open, "evt.is_open_write = false", true},
		{"bool ne", open, "evt.is_open_read != true", false},
		{"and", open, "fd.num = 3 and fd.name = /etc/shadow", true},
		{"and short", open, "fd.num = 4 and fd.name = /etc/shadow", false},
		{"or", open, "fd.num = 4 or fd.name = /etc/shadow", true},
		{"not", open, "not fd.num = 4", true},
		{"tolower", open, "tolower(proc.name) = cat", true},
		{"toupper", open, "toupper(proc.name) = CAT", true},
		{"toupper in", open, "toupper(fd.filename) in (SHADOW)", true},
		{"basename", open, "basename(fd.name) = shadow", true},
		{"len", open, "len(fd.name) = 11", true},
		{"len lt", open, "len(proc.name) < 3", false},
		{"b64", exec, "b64(proc.args) = x", false},
		{"val eq", open, "fd.filename = val(fd.filename)", true},
		{"val ne", open, "fd.directory != val(fd.name)", true},
		{"val contains", open, "fd.name contains val(fd.filename)", true},
		{"val numeric", open, "fd.num < val(proc.pid)", true},
		{"val transformer", open, "toupper(proc.name) = val(toupper(proc.name))", true},
		{"evt.type", open, "evt.type = openat", true},
		{"evt.type in", open, "evt.type in (open, openat, openat2)", true},
		{"evt.dir", open, "evt.dir = '<'", true},
		{"evt.res", open, "evt.res = SUCCESS", true},
		{"evt.rawres", open, "evt.rawres = 3", true},
		{"evt.failed", open, "evt.failed = false", true},
		{"evt.arg.flags", open, "evt.arg.flags contains O_CLOEXEC", true},
		{"evt.arg.flags rdonly", open, "evt.arg.flags startswith O_RDONLY", true},
		{"evt.rawarg.flags", open, "evt.rawarg.flags = 524288", true},
		{"evt.arg[n]", open, "evt.arg[2] = /etc/shadow", true},
		{"evt.num", open, "evt.num = 42", true},
		{"evt.hostname", open, "evt.hostname = testhost", true},
		{"fs.path.name", open, "fs.path.name = /etc/shadow", true},
		{"fd.directory", open, "fd.directory = /etc", true},
		{"fd.typechar", open, "fd.typechar = f", true},
		{"fd.type", open, "fd.type = file", true},
		{"proc.aname any", open, "proc.aname = sshd", true},
		{"proc.aname any self", open, "proc.aname = cat", true},
		{"proc.aname any miss", open, "proc.aname = nginx", false},
		{"proc.aname in", open, "proc.aname in (nginx, systemd)", true},
		{"proc.aname[n]", open, "proc.aname[2] = sshd and proc.aname[1] = bash and proc.aname[3] = systemd", true},
		{"proc.aname[n] beyond", open, "proc.aname[4] exists", false},
		{"proc.apid any", open, "proc.apid = 100", true},
		{"proc.pname", open, "proc.pname = bash", true},
		{"proc.cmdline", open, "proc.cmdline = 'cat /etc/shadow -n'", true},
		{"proc.args", open, "proc.args = '/etc/shadow -n'", true},
		{"proc.pcmdline", open, "proc.pcmdline = bash", true},
		{"proc.cwd slash", open, "proc.cwd = /home/alice/", true},
		{"proc.duration", open, "proc.duration = 1000000000000", true},
		{"proc.tty", open, "proc.tty != 0", true},
		{"proc.sname", open, "proc.sname = bash", true},
		{"proc.loginshellid", open, "proc.loginshellid = 200", true},
		{"user.name", open, "user.name = alice and user.uid = 1000 and user.loginname = alice and user.homedir = /home/alice", true},
		{"user.loginuid", open, "user.loginuid = 1000", true},
		{"group.name", open, "group.name = alice and group.gid = 1000", true},
		{"caps", open, "thread.cap_effective = 'CAP_NET_RAW CAP_SYS_ADMIN'", true},
		{"caps icontains", open, "thread.cap_effective icontains sys_admin", true},
		{"container host", open, "container.id = host and container.name = host", true},
		{"container host image", open, "container.image.repository exists", false},
		{"ip eq", connect, "fd.sip = 10.1.2.3", true},
		{"ip ne", connect, "fd.sip != 10.1.2.3", false},
		{"ip in", connect, "fd.rip in (10.1.2.3, 10.1.2.4)", true},
		{"either ip", connect, "fd.ip = 192.168.1.5", true},
		{"net eq", connect, "fd.snet = 10.0.0.0/8", true},
		{"net ne", connect, "fd.net != 127.0.0.0/8", true},
		{"net in", connect, "fd.cnet in (10.0.0.0/8, 192.168.0.0/16)", true},
		{"net in miss", connect, "fd.snet in (172.16.0.0/12, 192.168.0.0/16)", false},
		{"port", connect, "fd.sport = 4444 and fd.cport = 40000 and fd.lport = 40000 and fd.rport = 4444", true},
		{"port in", connect, "fd.sport in (80, 4444)", true},
		{"either port", connect, "fd.port = 40000", true},
		{"l4proto", connect, "fd.l4proto = tcp and fd.typechar = 4 and fd.sockfamily = ip", true},
		{"connected", connect, "fd.connected = true and fd.is_server = false", true},
		{"exec flags", exec, "evt.arg.flags = 0", true},
		{"exec args icontains", exec, "proc.args icontains SHADOW", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, tc.cond, "x")
			c := tc.ctx()
			got := p.Eval(c, nil) == 1
			if got != tc.want {
				t.Errorf("%s: got %v, want %v", tc.cond, got, tc.want)
			}
		})
	}
}

func TestContainerFields(t *testing.T) {
	w := newWorld(t)
	sh := w.child(200, 1500, "sh", "/bin/sh")
	full := "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
	w.inContainer(sh, full, &container.Info{ID: full[:12], FullID: full, Runtime: container.Docker, Status: container.Ready,
		Name: "/web", Image: "nginx:1.25", ImageRepo: "nginx", ImageTag: "1.25", Privileged: true,
		Mounts:  []container.Mount{{Source: "/var/run/docker.sock", Dest: "/var/run/docker.sock", Mode: "", RW: true, Propagation: "rprivate"}},
		PodName: "web-1", PodNamespace: "prod", Labels: map[string]string{"app": "web"}})
	cases := []struct {
		cond string
		want bool
	}{
		{"container.id = " + full[:12], true},
		{"container.full_id = " + full, true},
		{"container.name = web and container.type = docker", true},
		{"container.image = 'nginx:1.25' and container.image.repository = nginx and container.image.tag = '1.25'", true},
		{"container.image.digest exists", false},
		{"container.privileged = true", true},
		{"container.mounts contains /var/run/docker.sock", true},
		{"container.mount[0] = '/var/run/docker.sock:/var/run/docker.sock::true:rprivate'", true},
		{"container.mount.dest[/var/run/docker.sock] = /var/run/docker.sock", true},
		{"container.label[app] = web", true},
		{"k8s.ns.name = prod and k8s.pod.name = web-1", true},
		{"k8s.pod.uid exists", false},
	}
	for _, tc := range cases {
		p := mustCompile(t, tc.cond, "x")
		if got := p.Eval(w.execve(t, sh), nil) == 1; got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.cond, got, tc.want)
		}
	}
	// Pending metadata: the id is known, nothing else.
	w.containers[full].Status = container.Pending
	for cond, want := range map[string]bool{
		"container.id = " + full[:12]: true,
		"container.name exists":       false,
		"container.image exists":      false,
		"container.id != host":        true,
	} {
		p := mustCompile(t, cond, "x")
		if got := p.Eval(w.execve(t, sh), nil) == 1; got != want {
			t.Errorf("pending: %s: got %v, want %v", cond, got, want)
		}
	}
	// No metadata at all yet: the id comes from the cgroup's id.
	delete(w.containers, full)
	p := mustCompile(t, "container.id = "+full[:12]+" and not container.image exists", "x")
	if p.Eval(w.execve(t, sh), nil) != 1 {
		t.Error("container without Info: want container.id from the process")
	}
}

func TestFailedOpenAndUnknownFD(t *testing.T) {
	w := newWorld(t)
	// A failed open: fd.num -1, name from the event, cleaned as the fd
	// table's names are (open_file_failed and etc_dir).
	c := w.openat(t, 200, -int(unix.ENOENT), "/etc/../etc/shadow", unix.O_RDONLY)
	p := mustCompile(t, "fd.typechar = f and fd.num = -1 and evt.res startswith E and evt.res = ENOENT and fd.name = /etc/shadow and evt.failed = true", "x")
	if p.Eval(c, nil) != 1 {
		t.Error("failed open: want fd.num -1 with the event's path")
	}
	// A successful open the fd table does not know: name from the event.
	c = w.event(t, driver.EvOpenat, 200, 7, unix.AT_FDCWD, "/tmp/x", unix.O_WRONLY|unix.O_TRUNC, 0, 0, 0)
	p = mustCompile(t, "fd.num = 7 and fd.name = /tmp/x and evt.is_open_write = true and evt.arg.flags contains O_TRUNC", "x")
	if p.Eval(c, nil) != 1 {
		t.Error("open missing from the fd table: want fd fields from the event")
	}
	// The entry event of the same open has no fd: rules never see it
	// unless they ask for evt.dir.
	c = w.event(t, driver.EvOpenatE, 200, unix.AT_FDCWD, "/tmp/x", unix.O_WRONLY, 0)
	if p := mustCompile(t, "evt.type = openat", "x"); p.Eval(c, nil) != 0 {
		t.Error("an entry event matched a rule without evt.dir")
	}
	if p := mustCompile(t, "evt.type = openat and evt.dir = '>' and evt.arg.name = /tmp/x", "x"); p.Eval(c, nil) != 1 {
		t.Error("an entry event did not match a rule asking for evt.dir = >")
	}
}

func TestGenericEvents(t *testing.T) {
	w := newWorld(t)
	nr, _ := w.tab.Nr("sendto")
	c := w.event(t, driver.EvGeneric, 200, 10, int(nr))
	p := mustCompile(t, "evt.type in (sendto, sendmsg) and proc.name = bash", "%evt.type %evt.args")
	as := alerts(p, c)
	if len(as) != 1 || as[0].Output != "sendto res=10 id=sendto" {
		t.Fatalf("generic sendto: %+v", as)
	}
	nr2, _ := w.tab.Nr("getppid")
	if p.Eval(w.event(t, driver.EvGeneric, 200, 10, int(nr2)), nil) != 0 {
		t.Error("rule on sendto ran on getppid")
	}
	if got := p.Syscalls(); len(got) != 2 || got[0] != "sendmsg" || got[1] != "sendto" {
		t.Errorf("Syscalls() = %v", got)
	}
}
