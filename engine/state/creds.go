// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import "github.com/vigil-dev/vigil/driver"

// Credentials after set*id and capset, as the kernel computes them
// (kernel/sys.c), kept simple where the kernel's rules turn on state the
// table does not hold:
//
//   - "Privileged" is euid 0 or CAP_SETUID (CAP_SETGID for the gid calls)
//     in the effective set. A privileged setuid(id) sets the real,
//     effective and saved ids; an unprivileged one only the effective id
//     (it succeeded, so the kernel allowed it).
//   - setreuid sets the saved id to the new effective id when the real id
//     is set, or the effective id is set to something other than the old
//     real id. -1 (0xffffffff) leaves an id as it is, in every call.
//   - Capabilities follow uid changes as cap_emulate_setxuid does without
//     securebits (SECBIT_KEEP_CAPS and SECBIT_NO_SETUID_FIXUP are not
//     tracked): leaving uid 0 in all of real, effective and saved clears
//     the permitted and effective sets; effective 0 → non-zero clears the
//     effective set; non-zero → 0 raises it to the permitted set.
//   - Credentials are per thread in the kernel but per process here: the
//     C library applies set*id to every thread of the process.

const (
	capSetGID = 6
	capSetUID = 7
	unchanged = 0xffffffff // the -1 of the set*id calls
)

// setCreds applies a successful set*id or capset exit event to p.
func setCreds(p *Process, e *driver.Event) {
	if res, _ := e.Res(); res != 0 {
		return
	}
	arg := func(i int) uint32 {
		if !e.Has(i) {
			return unchanged
		}
		return uint32(e.Uint(i))
	}
	oldR, oldE, oldS := p.UID, p.EUID, p.SUID
	switch e.Type {
	case driver.EvSetuid:
		id := arg(1)
		if id == unchanged {
			return
		}
		if p.EUID == 0 || p.CapEffective&(1<<capSetUID) != 0 {
			p.UID, p.EUID, p.SUID = id, id, id
		} else {
			p.EUID = id
		}
	case driver.EvSetgid:
		id := arg(1)
		if id == unchanged {
			return
		}
		if p.EUID == 0 || p.CapEffective&(1<<capSetGID) != 0 {
			p.GID, p.EGID, p.SGID = id, id, id
		} else {
			p.EGID = id
		}
		return
	case driver.EvSetreuid:
		p.UID, p.EUID, p.SUID = setre(p.UID, p.EUID, p.SUID, arg(1), arg(2))
	case driver.EvSetregid:
		p.GID, p.EGID, p.SGID = setre(p.GID, p.EGID, p.SGID, arg(1), arg(2))
		return
	case driver.EvSetresuid:
		p.UID, p.EUID, p.SUID = setres(p.UID, arg(1)), setres(p.EUID, arg(2)), setres(p.SUID, arg(3))
	case driver.EvSetresgid:
		p.GID, p.EGID, p.SGID = setres(p.GID, arg(1)), setres(p.EGID, arg(2)), setres(p.SGID, arg(3))
		return
	case driver.EvCapset:
		// The driver reports the sets as they are after the call.
		if e.Has(1) && e.Has(2) && e.Has(3) {
			p.CapInheritable, p.CapPermitted, p.CapEffective = e.Uint(1), e.Uint(2), e.Uint(3)
		}
		return
	default:
		return
	}
	fixupCaps(p, oldR, oldE, oldS)
}

// setre computes setreuid/setregid's real, effective and saved ids.
func setre(r, eff, s, newR, newE uint32) (uint32, uint32, uint32) {
	oldR := r
	if newR != unchanged {
		r = newR
	}
	if newE != unchanged {
		eff = newE
	}
	if newR != unchanged || (newE != unchanged && newE != oldR) {
		s = eff
	}
	return r, eff, s
}

func setres(old, v uint32) uint32 {
	if v == unchanged {
		return old
	}
	return v
}

// fixupCaps applies cap_emulate_setxuid after a uid change.
func fixupCaps(p *Process, oldR, oldE, oldS uint32) {
	if (oldR == 0 || oldE == 0 || oldS == 0) && p.UID != 0 && p.EUID != 0 && p.SUID != 0 {
		p.CapPermitted, p.CapEffective = 0, 0
	}
	if oldE == 0 && p.EUID != 0 {
		p.CapEffective = 0
	}
	if oldE != 0 && p.EUID == 0 {
		p.CapEffective = p.CapPermitted
	}
}
