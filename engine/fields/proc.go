// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/state"
)

// maxAncestry bounds ancestor walks, so a parent cycle in a corrupt table
// cannot hang the engine.
const maxAncestry = 256

// procGetter reads one property of process p; self is set when p is the
// event's own process (proc.name reads the thread's comm then).
type procGetter func(c *Ctx, p *state.Process, self bool, v *Value) bool

func (c *Ctx) proc() *state.Process {
	if c.Thread == nil {
		return nil
	}
	return c.Thread.Proc
}

func (c *Ctx) parentOf(p *state.Process) *state.Process {
	if c.Parent == nil || p == nil {
		return nil
	}
	par := c.Parent(p)
	if par == p {
		return nil
	}
	return par
}

// ancestor returns the n-th ancestor of the event's process (0: itself),
// caching the walk for the event.
func (c *Ctx) ancestor(n int) *state.Process {
	if n > maxAncestry {
		return nil
	}
	if c.nanc == 0 {
		p := c.proc()
		if p == nil {
			return nil
		}
		c.anc[0], c.nanc = p, 1
	}
	for c.nanc <= n && !c.ancEnd && c.nanc < len(c.anc) {
		par := c.parentOf(c.anc[c.nanc-1])
		if par == nil {
			c.ancEnd = true
			break
		}
		c.anc[c.nanc] = par
		c.nanc++
	}
	if n < c.nanc {
		return c.anc[n]
	}
	if c.ancEnd {
		return nil
	}
	p := c.anc[c.nanc-1]
	for i := c.nanc - 1; i < n && p != nil; i++ {
		p = c.parentOf(p)
	}
	return p
}

// procFields registers proc.NAME (the process), proc.pNAME (its parent,
// when pname is set) and proc.aNAME[n] (ancestor n, any ancestor bare,
// when aname is set) over one getter.
func procFields(name, pname, aname string, t Type, desc string, get procGetter) {
	add(&Field{Name: "proc." + name, Type: t, Desc: desc, ext: func(c *Ctx, _ *Bound, v *Value) bool {
		p := c.proc()
		return p != nil && get(c, p, true, v)
	}})
	if pname != "" {
		add(&Field{Name: "proc." + pname, Type: t, Desc: desc + " of the parent process", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			p := c.ancestor(1)
			return p != nil && get(c, p, false, v)
		}})
	}
	if aname != "" {
		add(&Field{Name: "proc." + aname, Type: t, Arg: ArgIndex, Multi: true, FilterOnly: true,
			Desc: desc + " of ancestor n (0: the process, 1: its parent, ...); without [n], matches any of the process and its ancestors",
			ext: func(c *Ctx, b *Bound, v *Value) bool {
				p := c.ancestor(b.Index)
				return p != nil && get(c, p, b.Index == 0, v)
			},
			multi: func(c *Ctx, b *Bound, i int, v *Value) (bool, bool) {
				p := c.ancestor(i)
				if p == nil {
					return false, false
				}
				return get(c, p, i == 0, v), i < maxAncestry
			}})
	}
}

func appendArgs(dst []byte, args []string) []byte {
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, a...)
	}
	return dst
}

func procName(c *Ctx, p *state.Process, self bool) string {
	if self && c.Thread != nil && c.Thread.Comm != "" {
		return c.Thread.Comm
	}
	return p.Comm
}

func nonEmpty(v *Value, s string) bool {
	v.S = s
	return s != ""
}

func init() {
	procFields("name", "pname", "aname", String, "name of the process (its comm)", func(c *Ctx, p *state.Process, self bool, v *Value) bool {
		return nonEmpty(v, procName(c, p, self))
	})
	procFields("pid", "ppid", "apid", Int64, "process id", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.N = int64(p.PID)
		return true
	})
	procFields("exe", "pexe", "aexe", String, "argv[0] of the process", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		return nonEmpty(v, p.Exe)
	})
	procFields("exepath", "pexepath", "aexepath", String, "full path of the executable", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		return nonEmpty(v, p.ExePath)
	})
	procFields("cmdline", "pcmdline", "acmdline", String, "proc.name and the arguments", func(c *Ctx, p *state.Process, self bool, v *Value) bool {
		name := procName(c, p, self)
		if name == "" {
			return false
		}
		start := len(c.buf)
		c.buf = append(c.buf, name...)
		if len(p.Args) > 0 {
			c.buf = appendArgs(append(c.buf, ' '), p.Args)
		}
		v.S = c.str(start)
		return true
	})
	procFields("exeline", "", "", String, "proc.exe and the arguments", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		start := len(c.buf)
		c.buf = append(c.buf, p.Exe...)
		if len(p.Args) > 0 {
			c.buf = appendArgs(append(c.buf, ' '), p.Args)
		}
		v.S = c.str(start)
		return true
	})
	procFields("args", "", "", String, "the arguments (argv[1:]) joined by spaces", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		start := len(c.buf)
		c.buf = appendArgs(c.buf, p.Args)
		v.S = c.str(start)
		return true
	})
	procFields("cmdnargs", "", "", Int64, "number of arguments", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.N = int64(len(p.Args))
		return true
	})
	procFields("cwd", "", "", String, "current directory, ending with '/'", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		if p.Cwd == "" {
			return false
		}
		if p.Cwd[len(p.Cwd)-1] == '/' {
			v.S = p.Cwd
			return true
		}
		start := len(c.buf)
		c.buf = append(append(c.buf, p.Cwd...), '/')
		v.S = c.str(start)
		return true
	})
	procFields("vpid", "", "", Int64, "process id in its pid namespace", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.N = p.VPID
		return p.VPID != 0
	})
	procFields("sid", "", "", Int64, "session id (in the process's pid namespace)", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.N = p.SID
		return true
	})
	procFields("vpgid", "", "", Int64, "process group id (in the process's pid namespace)", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.N = p.PGID
		return true
	})
	procFields("is_sid_leader", "", "", Bool, "true for the session leader", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.B = p.VPID != 0 && p.SID == p.VPID
		return p.VPID != 0
	})
	procFields("is_vpgid_leader", "", "", Bool, "true for the process group leader", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.B = p.VPID != 0 && p.PGID == p.VPID
		return p.VPID != 0
	})
	procFields("tty", "", "", Int64, "controlling terminal device number; 0 when none", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.N = int64(p.TTY)
		return true
	})
	procFields("is_exe_upper_layer", "", "", Bool, "the executable lives in an overlayfs upper layer (written in the container)", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.B = p.ExeFlags&driver.ExeUpperLayer != 0
		return true
	})
	procFields("is_exe_from_memfd", "", "", Bool, "the executable is a memfd (fileless execution)", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.B = p.ExeFlags&driver.ExeMemfd != 0
		return true
	})
	procFields("exe_ino", "", "", Uint64, "inode of the executable", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		v.N = int64(p.ExeIno)
		return p.ExeIno != 0
	})
	const noInodeTimes = "vigil's drivers do not record the executable's inode times"
	const noProbes = "vigil does not read containers' health-check and probe commands"
	add(never("proc.exe_ino.ctime", AbsTime, "ctime of the executable's inode", noInodeTimes),
		never("proc.exe_ino.mtime", AbsTime, "mtime of the executable's inode", noInodeTimes),
		never("proc.exe_ino.ctime_duration_proc_start", RelTime, "time from the executable's ctime to the process start", noInodeTimes),
		never("proc.is_container_healthcheck", Bool, "the process is the container's health check", noProbes),
		never("proc.is_container_liveness_probe", Bool, "the process is the container's Kubernetes liveness probe", noProbes),
		never("proc.is_container_readiness_probe", Bool, "the process is the container's Kubernetes readiness probe", noProbes))
	procFields("duration", "", "", RelTime, "ns since the process started", func(c *Ctx, p *state.Process, _ bool, v *Value) bool {
		if p.StartTS == 0 || c.Event.TS < p.StartTS {
			return false
		}
		v.N = int64(c.Event.TS - p.StartTS)
		return true
	})
	add(
		&Field{Name: "proc.env", Type: String, Arg: ArgKey,
			Desc: "environment of the process as exec gave it, NAME=value pairs joined by spaces; proc.env[NAME]: the value of NAME " +
				`("" when unset). Read from /proc/<pid>/environ: not available from a capture file or once the process has exited`,
			ext: func(c *Ctx, b *Bound, v *Value) bool {
				p := c.proc()
				if p == nil || c.Env == nil {
					return false
				}
				env, ok := c.Env(p)
				if !ok {
					return false
				}
				if b.HasArg {
					v.S = state.EnvValue(env, b.Arg)
					return true
				}
				start := len(c.buf)
				for i, kv := range env {
					if i > 0 {
						c.buf = append(c.buf, ' ')
					}
					c.buf = append(c.buf, kv...)
				}
				v.S = c.str(start)
				return true
			}},
		&Field{Name: "proc.sname", Type: String, Desc: "name of the session leader", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			p := c.proc()
			if p == nil || p.VPID == 0 {
				return false
			}
			for i := 0; i <= maxAncestry; i++ {
				a := c.ancestor(i)
				if a == nil {
					return false
				}
				if a.VPID == p.SID {
					return nonEmpty(v, procName(c, a, i == 0))
				}
			}
			return false
		}},
		&Field{Name: "proc.loginshellid", Type: Int64, Desc: "pid of the oldest shell among the process and its ancestors", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			found := false
			for i := 0; i <= maxAncestry; i++ {
				a := c.ancestor(i)
				if a == nil {
					break
				}
				if shells[procName(c, a, i == 0)] {
					v.N, found = int64(a.PID), true
				}
			}
			return found
		}},
		&Field{Name: "thread.tid", Type: Int64, Desc: "thread id", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.N = int64(c.Event.TID)
			return true
		}},
		&Field{Name: "thread.vtid", Type: Int64, Desc: "thread id in its pid namespace", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			if c.Thread == nil || c.Thread.VTID == 0 {
				return false
			}
			v.N = c.Thread.VTID
			return true
		}},
		capField("thread.cap_permitted", "permitted capabilities", func(p *state.Process) uint64 { return p.CapPermitted }),
		capField("thread.cap_effective", "effective capabilities", func(p *state.Process) uint64 { return p.CapEffective }),
		capField("thread.cap_inheritable", "inheritable capabilities", func(p *state.Process) uint64 { return p.CapInheritable }),
		&Field{Name: "user.uid", Type: Uint64, Desc: "effective user id", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			p := c.proc()
			if p == nil {
				return false
			}
			v.N = int64(p.EUID)
			return true
		}},
		userField("user.name", "user name", func(c *Ctx, p *state.Process) (uint32, bool) { return p.EUID, true }, func(u state.User) string { return u.Name }),
		userField("user.homedir", "home directory", func(c *Ctx, p *state.Process) (uint32, bool) { return p.EUID, true }, func(u state.User) string { return u.Home }),
		userField("user.shell", "login shell", func(c *Ctx, p *state.Process) (uint32, bool) { return p.EUID, true }, func(u state.User) string { return u.Shell }),
		&Field{Name: "user.loginuid", Type: Int64, Desc: "audit login uid; -1 when unset", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			p := c.proc()
			if p == nil {
				return false
			}
			v.N = int64(int32(p.LoginUID))
			return true
		}},
		userField("user.loginname", "name of the audit login user", func(c *Ctx, p *state.Process) (uint32, bool) {
			return p.LoginUID, p.LoginUID != 0xffffffff
		}, func(u state.User) string { return u.Name }),
		&Field{Name: "group.gid", Type: Uint64, Desc: "effective group id", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			p := c.proc()
			if p == nil {
				return false
			}
			v.N = int64(p.EGID)
			return true
		}},
		&Field{Name: "group.name", Type: String, Desc: "group name", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			p := c.proc()
			if p == nil || c.Users == nil {
				return false
			}
			g, ok := c.Users.Group(p.EGID)
			return ok && nonEmpty(v, g.Name)
		}},
	)
}

func capField(name, desc string, get func(*state.Process) uint64) *Field {
	return &Field{Name: name, Type: String, Desc: desc + ", as capability names separated by spaces (CAP_SYS_ADMIN CAP_NET_RAW)",
		ext: func(c *Ctx, _ *Bound, v *Value) bool {
			p := c.proc()
			if p == nil {
				return false
			}
			start := len(c.buf)
			c.buf = appendCaps(c.buf, get(p))
			v.S = c.str(start)
			return true
		}}
}

func userField(name, desc string, id func(*Ctx, *state.Process) (uint32, bool), get func(state.User) string) *Field {
	return &Field{Name: name, Type: String, Desc: desc, ext: func(c *Ctx, _ *Bound, v *Value) bool {
		p := c.proc()
		if p == nil || c.Users == nil {
			return false
		}
		uid, ok := id(c, p)
		if !ok {
			return false
		}
		u, ok := c.Users.User(uid)
		return ok && nonEmpty(v, get(u))
	}}
}
