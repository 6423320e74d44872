// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

// String matching helpers that allocate nothing.

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// indexFold reports whether s contains sub (already lower case), comparing
// ASCII letters without case, as Falco's icontains does.
func containsFold(s, sub string) bool {
	if len(sub) == 0 {
		return true
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && lowerASCII(s[i+j]) == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

// glob matches s against pattern: '*' matches any run of bytes, '/'
// included (Falco's glob); '?' one byte; '[...]' a class ('!' or '^'
// negates, a-z ranges); '\' escapes. fold compares ASCII letters without
// case (iglob).
func glob(pattern, s string, fold bool) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) || px < len(pattern) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if sx < len(s) {
					if ok, n := matchClass(pattern[px:], s[sx], fold); n > 0 {
						if ok {
							px += n
							sx++
							continue
						}
					} else if eqByte('[', s[sx], fold) { // unterminated: literal '['
						px++
						sx++
						continue
					}
				}
			default:
				if c == '\\' && px+1 < len(pattern) {
					if sx < len(s) && eqByte(pattern[px+1], s[sx], fold) {
						px += 2
						sx++
						continue
					}
				} else if sx < len(s) && eqByte(c, s[sx], fold) {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 && starS < len(s) {
			starS++
			px, sx = starP+1, starS
			continue
		}
		return false
	}
	return true
}

func eqByte(a, b byte, fold bool) bool {
	if fold {
		return lowerASCII(a) == lowerASCII(b)
	}
	return a == b
}

// matchClass matches c against the class at the start of p ("[...]"); n
// is the class's length, 0 when it is not terminated.
func matchClass(p string, c byte, fold bool) (ok bool, n int) {
	i := 1
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(p) && (p[i] != ']' || first) {
		first = false
		lo := p[i]
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		hi := lo
		if i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']' {
			hi = p[i+2]
			i += 2
		}
		i++
		if (lo <= c && c <= hi) || (fold && lowerASCII(lo) <= lowerASCII(c) && lowerASCII(c) <= lowerASCII(hi)) {
			ok = true
		}
	}
	if i >= len(p) {
		return false, 0
	}
	return ok != neg, i + 1
}

func hasGlobMeta(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// pathPrefix is one right-hand path of pmatch, split into components.
type pathPrefix struct {
	comps []string
	globs []bool
}

func newPathPrefix(p string) pathPrefix {
	var pp pathPrefix
	for _, c := range splitPath(p) {
		pp.comps = append(pp.comps, c)
		pp.globs = append(pp.globs, hasGlobMeta(c))
	}
	return pp
}

func splitPath(p string) []string {
	var out []string
	for len(p) > 0 {
		i := 0
		for i < len(p) && p[i] != '/' {
			i++
		}
		if i > 0 {
			out = append(out, p[:i])
		}
		if i < len(p) {
			i++
		}
		p = p[i:]
	}
	return out
}

// match reports whether pp's components are a prefix of path's,
// component by component (so /var/run matches /var/run/x but not
// /var/runner).
func (pp *pathPrefix) match(path string) bool {
	k := 0
	for len(path) > 0 && k < len(pp.comps) {
		if path[0] == '/' {
			path = path[1:]
			continue
		}
		i := 0
		for i < len(path) && path[i] != '/' {
			i++
		}
		comp := path[:i]
		path = path[i:]
		if pp.globs[k] {
			if !glob(pp.comps[k], comp, false) {
				return false
			}
		} else if pp.comps[k] != comp {
			return false
		}
		k++
	}
	return k == len(pp.comps)
}
