// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/state"
)

// The fields the task and the upstream ruleset name are all registered.
func TestRegistryCovers(t *testing.T) {
	for _, n := range strings.Fields(`evt.type evt.dir evt.time evt.time.iso8601 evt.rawtime evt.num evt.res evt.rawres
		evt.failed evt.is_open_read evt.is_open_write evt.is_open_exec evt.is_open_create evt.args evt.category
		evt.hostname evt.source proc.name proc.exe proc.exepath proc.cmdline proc.args proc.pid proc.vpid proc.ppid
		proc.pname proc.pcmdline proc.pexe proc.pexepath proc.aname proc.apid proc.aexe proc.aexepath proc.cwd proc.tty
		proc.sid proc.vpgid proc.loginshellid proc.is_exe_upper_layer proc.is_exe_from_memfd proc.exe_ino proc.sname
		proc.is_container_healthcheck proc.is_container_liveness_probe proc.is_container_readiness_probe proc.duration
		proc.exe_ino.ctime proc.exe_ino.mtime proc.exe_ino.ctime_duration_proc_start
		thread.tid thread.vtid thread.cap_permitted thread.cap_effective thread.cap_inheritable fd.num fd.type
		fd.typechar fd.name fd.directory fd.filename fd.ip fd.cip fd.sip fd.lip fd.rip fd.port fd.cport fd.sport
		fd.lport fd.rport fd.l4proto fd.sockfamily fd.is_server fd.name_changed fd.nameraw fd.cip.name fd.sip.name
		fd.net fd.snet fd.cnet fd.connected fs.path.name fs.path.source fs.path.target user.uid user.name user.loginuid
		user.loginname user.homedir user.shell group.gid group.name container.id container.name container.image
		container.image.repository container.image.tag container.image.digest container.image.id container.type
		container.privileged container.mounts container.mount container.start_ts k8s.ns.name k8s.pod.name k8s.pod.uid
		k8s.pod.label k8s.pod.labels`) {
		if _, ok := Lookup(n); !ok {
			t.Errorf("field %s is not registered", n)
		}
	}
	for _, f := range All() {
		if f.Desc == "" || f.Type == 0 {
			t.Errorf("field %s lacks a description or type", f.Name)
		}
	}
}

func TestBind(t *testing.T) {
	b, err := Bind("proc.aname", "3", true)
	if err != nil || b.Index != 3 || b.Multi || b.Text != "proc.aname[3]" {
		t.Fatalf("proc.aname[3]: %+v %v", b, err)
	}
	if b, err := Bind("proc.aname", "", false); err != nil || !b.Multi {
		t.Fatalf("bare proc.aname must iterate ancestors: %+v %v", b, err)
	}
	if b, err := Bind("evt.rawarg.fd", "", false); err != nil || b.Type() != Int64 {
		t.Fatalf("evt.rawarg.fd is numeric: %+v %v", b, err)
	}
	if b, err := Bind("evt.rawarg.name", "", false); err != nil || b.Type() != String {
		t.Fatalf("evt.rawarg.name is a string: %+v %v", b, err)
	}
	for _, c := range []struct {
		name, arg string
		has       bool
		want      string
	}{
		{"proc.nme", "", false, "did you mean 'proc.name'?"},
		{"container.label", "", false, "needs an argument"},
		{"fd.name", "1", true, "takes no argument"},
		{"proc.aname", "-1", true, "is not an index"},
		{"evt.arg.bogus", "", false, "unknown event argument 'bogus'"},
		{"zzz.qqq", "", false, "unknown field 'zzz.qqq'"},
	} {
		_, err := Bind(c.name, c.arg, c.has)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Bind(%s): %v, want %q", c.name, err, c.want)
		}
	}
}

func TestSymbolicRendering(t *testing.T) {
	if got := string(appendCaps(nil, 1<<unix.CAP_SYS_ADMIN|1<<unix.CAP_CHOWN|1<<50)); got != "CAP_CHOWN CAP_SYS_ADMIN CAP_50" {
		t.Errorf("caps: %q", got)
	}
	// In the order of Falco's file_flags table.
	if got := string(appendOpenFlags(nil, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC)); got != "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC" {
		t.Errorf("open flags: %q", got)
	}
	if got, _ := exeSet.append(nil, driver.ExeMemfd|driver.ExeUpperLayer|0x100); string(got) != "EXE_UPPER_LAYER|EXE_FROM_MEMFD" {
		t.Errorf("exe flags: %q", got)
	}
}

// Extraction on a decoded event with a small state; Reset clears the fd
// cache between events.
func TestExtractAndReset(t *testing.T) {
	var b driver.Builder
	b.Begin(nil, driver.EvSocket, 1, 10, 10)
	raw := b.Int(4).Int(unix.AF_PACKET).Int(unix.SOCK_RAW).Int(0).End()
	var ev driver.Event
	if err := ev.Decode(raw); err != nil {
		t.Fatal(err)
	}
	p := &state.Process{PID: 10, Comm: "x", FDs: state.NewFDTable()}
	c := &Ctx{Event: &ev, Thread: &state.Thread{TID: 10, PID: 10, Comm: "x", Proc: p}}
	c.Reset()
	dom, _ := Bind("evt.arg.domain", "", false)
	if v, ok := dom.Extract(c, 0); !ok || v.S != "AF_PACKET" {
		t.Errorf("evt.arg.domain = %q %v", v.S, ok)
	}
	num, _ := Bind("fd.num", "", false)
	if v, ok := num.Extract(c, 0); !ok || v.N != 4 {
		t.Errorf("fd.num of a socket missing from the table = %d %v", v.N, ok)
	}
	typ, _ := Bind("fd.type", "", false)
	if _, ok := typ.Extract(c, 0); ok {
		t.Error("fd.type of an AF_PACKET socket should not be available")
	}
	// The table learns the fd; after Reset the cached synthetic fd is gone.
	p.FDs.Set(&state.FD{Num: 4, Type: state.FDNetlink, Name: "netlink"})
	c.Reset()
	if v, ok := typ.Extract(c, 0); !ok || v.S != "netlink" {
		t.Errorf("fd.type after Reset = %q %v", v.S, ok)
	}
	// No thread: process fields are not available, event fields are.
	c.Thread = nil
	c.Reset()
	name, _ := Bind("proc.name", "", false)
	if _, ok := name.Extract(c, 0); ok {
		t.Error("proc.name without a thread should not be available")
	}
	et, _ := Bind("evt.type", "", false)
	if v, ok := et.Extract(c, 0); !ok || v.S != "socket" {
		t.Errorf("evt.type = %q", v.S)
	}
}
