// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Warning says why a runtime's metadata cannot be had, and what to do. The
// resolver gives one per runtime and outage, not one per container or event.
type Warning struct {
	Runtime string // container.type of the runtime: docker, podman, containerd, cri-o
	Socket  string // the API socket tried; "" when the runtime has no client
	Err     string // the error as the system or the client gave it
	Cause   string // what is wrong, in words
	Fix     string // what to do about it
}

// String renders the warning as one log line.
func (w Warning) String() string {
	s := w.Runtime + " container metadata unavailable: " + w.Cause
	if w.Fix != "" {
		s += "; " + w.Fix
	}
	if w.Err != "" {
		s += " (" + w.Err + ")"
	}
	return s
}

// engineName is how a runtime is called in messages about its socket.
func engineName(rt Runtime) string {
	switch rt {
	case Podman:
		return "Podman"
	case Containerd:
		return "containerd"
	case CRIO:
		return "CRI-O"
	}
	return "Docker"
}

// apiName is how a runtime's API server is called in messages.
func apiName(rt Runtime) string {
	if rt == Containerd || rt == CRIO {
		return engineName(rt) + " CRI"
	}
	return engineName(rt) + " Engine"
}

// diagnose finds out why a runtime's socket cannot be talked to, by looking
// at the socket file and connecting to it: the API client folds every
// transport failure into one message and loses the errno. It returns false
// when the socket accepts connections, so the trouble lies beyond it.
func diagnose(rt Runtime, ep Endpoint, timeout time.Duration) (Warning, bool) {
	if ep.Network == "tcp" {
		return diagnoseTCP(rt, ep, timeout)
	}
	sock := ep.Address
	w := Warning{Runtime: string(rt), Socket: sock}
	name := engineName(rt)
	st, err := os.Stat(sock)
	if err != nil {
		w.Err = err.Error()
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			w.Cause = fmt.Sprintf("no %s socket at %s", name, sock)
			w.Fix = mountFix(rt)
		case errors.Is(err, fs.ErrPermission):
			w.Cause, w.Fix = permissionDenied(name, sock, nil)
		default:
			w.Cause = fmt.Sprintf("cannot look at the %s socket %s", name, sock)
			w.Fix = mountFix(rt)
		}
		return w, true
	}
	if st.Mode().Type() != fs.ModeSocket {
		w.Err = "mode " + st.Mode().String()
		w.Cause = fmt.Sprintf("%s is not a socket", sock)
		w.Fix = socketFix(rt)
		return w, true
	}
	c, err := net.DialTimeout("unix", sock, timeout)
	if err == nil {
		c.Close()
		return w, false
	}
	w.Err = err.Error()
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		w.Cause = fmt.Sprintf("connection refused: %s is a socket file, but no %s daemon listens on it (%s is not running)", sock, name, daemonName(rt))
		w.Fix = fmt.Sprintf("start %s on the host, or mount the socket of the running one", daemonName(rt))
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		w.Cause, w.Fix = permissionDenied(name, sock, st)
	case errors.As(err, &ne) && ne.Timeout():
		w.Cause = fmt.Sprintf("the %s socket %s did not accept a connection within %s", name, sock, timeout)
		w.Fix = fmt.Sprintf("check that %s is healthy on the host", daemonName(rt))
	default:
		w.Cause = fmt.Sprintf("cannot connect to the %s socket %s", name, sock)
		w.Fix = fmt.Sprintf("check that %s runs and the socket is mounted", daemonName(rt))
	}
	return w, true
}

// diagnoseTCP is diagnose for an Engine API on a TCP address: there is no
// file to look at, only the connection.
func diagnoseTCP(rt Runtime, ep Endpoint, timeout time.Duration) (Warning, bool) {
	w := Warning{Runtime: string(rt), Socket: ep.String()}
	name := engineName(rt)
	c, err := net.DialTimeout("tcp", ep.Address, timeout)
	if err == nil {
		c.Close()
		return w, false
	}
	w.Err = err.Error()
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		w.Cause = fmt.Sprintf("connection refused: nothing listens on %s", ep)
		w.Fix = fmt.Sprintf("start %s with -H %s, or give the address it listens on", daemonName(rt), ep)
	case errors.As(err, &ne) && ne.Timeout():
		w.Cause = fmt.Sprintf("%s did not accept a connection within %s", ep, timeout)
		w.Fix = "check the address and that no firewall drops the connection"
	default:
		w.Cause = fmt.Sprintf("cannot connect to the %s Engine at %s", name, ep)
		w.Fix = "check the address, and that the host name resolves"
	}
	return w, true
}

func daemonName(rt Runtime) string {
	switch rt {
	case Podman:
		return "the podman service"
	case Containerd:
		return "containerd"
	case CRIO:
		return "crio"
	}
	return "dockerd"
}

// socketFix says how to point vigil at the runtime's socket.
func socketFix(rt Runtime) string {
	switch rt {
	case Containerd:
		return "point vigil at containerd's socket (--containerd-socket; by default <host-root>/run/containerd/containerd.sock)"
	case CRIO:
		return "point vigil at CRI-O's socket (--crio-socket; by default <host-root>/var/run/crio/crio.sock)"
	case Podman:
		return "point vigil at the podman service's API socket (--podman-socket; by default <host-root>/run/podman/podman.sock)"
	}
	return fmt.Sprintf("point vigil at the %s Engine's API socket (its socket option, or DOCKER_HOST=unix:///path)", engineName(rt))
}

// noCRIFix says what to do about a runtime socket that does not serve the
// CRI.
func noCRIFix(rt Runtime) string {
	if rt == Containerd {
		return "enable containerd's cri plugin (remove \"cri\" from disabled_plugins in /etc/containerd/config.toml and restart containerd), " +
			"or point --containerd-socket at the containerd the kubelet uses"
	}
	return "point --crio-socket at CRI-O's socket (crio.sock)"
}

func mountFix(rt Runtime) string {
	switch rt {
	case Containerd:
		return "mount the host's /run/containerd under the host root, e.g. -v /run/containerd:/host/run/containerd:ro with --host-root /host"
	case CRIO:
		return "mount the host's /var/run/crio under the host root, e.g. -v /var/run/crio:/host/var/run/crio:ro with --host-root /host"
	}
	if rt == Podman {
		return "enable the podman.socket unit on the host and mount its /run/podman/podman.sock, " +
			"e.g. -v /run/podman/podman.sock:/host/run/podman/podman.sock:ro (or point --podman-socket at it)"
	}
	return "mount the host's /var/run/docker.sock, e.g. -v /var/run/docker.sock:/host/var/run/docker.sock:ro " +
		"(or set DOCKER_HOST=unix:///path/to/docker.sock)"
}

// permissionDenied explains a refused connect: a non-root user lacks the
// socket's group; root refused is confined by a security module or lives in
// a user namespace that does not own the socket.
func permissionDenied(name, sock string, st fs.FileInfo) (cause, fix string) {
	owner := ""
	var gid uint32
	if st != nil {
		if s, ok := st.Sys().(*syscall.Stat_t); ok {
			owner = fmt.Sprintf(" (owned by %d:%d, mode %04o)", s.Uid, s.Gid, st.Mode().Perm())
			gid = s.Gid
		}
	}
	if uid := os.Geteuid(); uid != 0 {
		cause = fmt.Sprintf("permission denied connecting to %s as uid %d%s", sock, uid, owner)
		fix = "run vigil as root or in the docker group"
		if name != "Docker" {
			fix = "run vigil as root or in the socket's group"
		}
		if st != nil && gid != 0 {
			fix += fmt.Sprintf(" (the socket's group, gid %d)", gid)
		}
		return cause, fix
	}
	cause = fmt.Sprintf("permission denied connecting to %s as root%s", sock, owner)
	if kind, label := securityLabel(); kind != "" {
		cause += fmt.Sprintf(": likely the %s %s confining vigil", kind, label)
		if kind == "AppArmor profile" {
			fix = fmt.Sprintf("allow the socket in AppArmor profile %s (rules `%s rw,` and `unix (connect, send, receive) type=stream,`), "+
				"or run vigil unconfined (--security-opt apparmor=unconfined)", label, sock)
		} else {
			fix = fmt.Sprintf("let SELinux domain %s connect to the %s socket (e.g. run vigil as spc_t: --security-opt label=type:spc_t, "+
				"or --security-opt label=disable)", label, name)
		}
		return cause, fix
	}
	if !initialUserNS() {
		cause += ": vigil's root is root of a user namespace, not of the host that owns the socket"
		return cause, "run vigil in the host's user namespace (no user-namespace remapping, not rootless)"
	}
	return cause, fmt.Sprintf("check the socket's mount and any security module confining vigil (%s)", name)
}

// securityLabel names the security module context vigil runs in, when one
// confines it, from /proc/self/attr (apparmor/current where LSMs stack).
func securityLabel() (kind, label string) {
	for _, f := range []string{"/proc/self/attr/apparmor/current", "/proc/self/attr/current"} {
		if b, err := os.ReadFile(f); err == nil {
			return classifyLabel(string(b))
		}
	}
	return "", ""
}

// classifyLabel tells an AppArmor profile ("docker-default (enforce)") from
// an SELinux label ("system_u:system_r:container_t:s0:c1,c2"), and "" for
// the unconfined ones.
func classifyLabel(attr string) (kind, label string) {
	l := strings.TrimSpace(strings.TrimRight(attr, "\x00\n"))
	switch {
	case l == "" || l == "unconfined" || strings.HasPrefix(l, "unconfined (") ||
		strings.Contains(l, ":unconfined_t:") || strings.Contains(l, ":spc_t:"):
		return "", ""
	case strings.HasSuffix(l, ")"): // "profile (mode)"
		return "AppArmor profile", l
	case strings.Count(l, ":") >= 2: // user:role:type[:level]
		return "SELinux label", l
	default:
		return "AppArmor profile", l
	}
}

// initialUserNS reports whether vigil runs in the host's user namespace,
// where uid 0 maps to uid 0 across the whole range.
func initialUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}
