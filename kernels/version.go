// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"strings"
)

// compareVersions compares two Debian package versions as dpkg does:
// negative if a < b, zero if equal, positive if a > b.
func compareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := compareNum(ea, eb); c != 0 {
		return c
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

func splitVersion(v string) (epoch, upstream, revision string) {
	epoch = "0"
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

func compareNum(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// order gives the dpkg sort weight of a non-digit character.
func order(c byte) int {
	switch {
	case c == '~':
		return -1
	case isDigit(c):
		return 0
	case c == 0:
		return 0
	case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		return int(c)
	}
	return int(c) + 256
}

func compareFragment(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// Non-digit prefix.
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			var ca, cb byte
			if i < len(a) {
				ca = a[i]
			}
			if j < len(b) {
				cb = b[j]
			}
			oa, ob := order(ca), order(cb)
			if oa != ob {
				return oa - ob
			}
			i++
			j++
		}
		// Digit run.
		si := i
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		sj := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := compareNum(a[si:i], b[sj:j]); c != 0 {
			return c
		}
	}
	return 0
}

// dep is one alternative of a Depends entry.
type dep struct {
	name, op, version string
}

// parseDepends parses a binary package's Depends field into groups of
// alternatives ("a (>= 1) | b, c").
func parseDepends(s string) [][]dep {
	var out [][]dep
	for _, group := range strings.Split(s, ",") {
		var alts []dep
		for _, alt := range strings.Split(group, "|") {
			name, rel, _ := strings.Cut(strings.TrimSpace(alt), "(")
			name, _, _ = strings.Cut(strings.TrimSpace(name), ":") // drop ":any"
			if name == "" {
				continue
			}
			d := dep{name: name}
			rel = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rel), ")"))
			for _, op := range []string{">=", "<=", ">>", "<<", "=", ">", "<"} {
				if strings.HasPrefix(rel, op) {
					d.op, d.version = op, strings.TrimSpace(rel[len(op):])
					break
				}
			}
			alts = append(alts, d)
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}

// satisfies reports whether version v satisfies the relation of d.
func (d dep) satisfies(v string) bool {
	if d.op == "" {
		return true
	}
	c := compareVersions(v, d.version)
	switch d.op {
	case "=":
		return c == 0
	case ">=", ">":
		return c >= 0
	case "<=", "<":
		return c <= 0
	case ">>":
		return c > 0
	case "<<":
		return c < 0
	}
	return false
}
