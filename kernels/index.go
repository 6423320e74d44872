// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
)

// pkgEntry is the part of a Packages stanza the catalogue uses.
type pkgEntry struct {
	Package, Version, Architecture, Filename, SHA256, Depends, Source string
	Size                                                              int64
}

func (p *pkgEntry) basename() string { return filepath.Base(p.Filename) }

// suiteIndex is the verified, parsed index of one suite (linux-* packages only).
type suiteIndex struct {
	suite   string
	release *release
	pkgs    map[string][]*pkgEntry // by package name, highest version first
	targets []Target
}

// find returns the entry of name satisfying d's relation (highest version first).
func (ix *suiteIndex) find(d dep) *pkgEntry {
	for _, p := range ix.pkgs[d.name] {
		if d.satisfies(p.Version) {
			return p
		}
	}
	return nil
}

// index returns the verified index of suite, fetching it when needed.
func (c *Catalogue) index(ctx context.Context, suite string) (*suiteIndex, error) {
	if !validSuiteName(suite) {
		return nil, fmt.Errorf("bad suite name %q; known suites: %s", suite, strings.Join(c.Suites(), ", "))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ix := c.indexes[suite]; ix != nil {
		return ix, nil
	}
	ix, err := c.loadIndex(ctx, suite, false)
	if errors.Is(err, errStaleCache) {
		// The cached Release no longer matches the mirror's files: ask
		// the mirror for the current one.
		ix, err = c.loadIndex(ctx, suite, true)
	}
	if err != nil {
		return nil, err
	}
	c.indexes[suite] = ix
	return ix, nil
}

var suiteNameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

func validSuiteName(s string) bool { return suiteNameRE.MatchString(s) }

// errStaleCache marks a failure that a fresh InRelease may cure.
var errStaleCache = errors.New("cached Release is stale")

func (c *Catalogue) loadIndex(ctx context.Context, suite string, fromMirrorOnly bool) (*suiteIndex, error) {
	rel, fromMirror, err := c.fetchRelease(ctx, suite, fromMirrorOnly)
	if err != nil {
		return nil, err
	}
	comp := "main/binary-" + c.arch + "/"
	var name string
	var sum fileSum
	for _, n := range []string{"Packages.xz", "Packages.gz"} {
		if s, ok := rel.sha256[comp+n]; ok {
			name, sum = n, s
			break
		}
	}
	if name == "" {
		return nil, fmt.Errorf("InRelease of %s lists neither %sPackages.xz nor %sPackages.gz; does the mirror carry %s?", suite, comp, comp, c.arch)
	}
	local := filepath.Join(c.suiteDir(suite), name)
	ok, err := checkFile(local, sum.size, sum.sum)
	if err != nil {
		return nil, fmt.Errorf("check cached %s: %w", local, err)
	}
	if !ok {
		url := c.url("dists/" + suite + "/" + comp + name)
		c.log.Infof("fetch index %s: %s %s", suite, comp+name, humanSize(sum.size))
		if err := c.downloadVerified(ctx, url, local, sum.size, sum.sum); err != nil {
			if !fromMirror && (errors.Is(err, ErrVerify) || isNotFound(err)) {
				// The cached Release may be older than the mirror's files.
				c.log.Infof("fetch Packages for %s with the cached Release failed (%v); fetching InRelease again", suite, err)
				return nil, errStaleCache
			}
			return nil, fmt.Errorf("fetch Packages for %s: %w", suite, err)
		}
	} else if fromMirror {
		// Refresh the mtime so the pair counts as fresh.
		_ = os.Chtimes(local, c.now(), c.now())
	}
	f, err := os.Open(local)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(name, ".xz") {
		r, err = xz.NewReader(r)
	} else {
		r, err = gzip.NewReader(r)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", local, err)
	}
	pkgs, err := parsePackages(r, func(name string) bool { return strings.HasPrefix(name, "linux-") })
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", local, err)
	}
	ix := &suiteIndex{suite: suite, release: rel, pkgs: map[string][]*pkgEntry{}}
	for _, p := range pkgs {
		if p.Architecture != c.arch && p.Architecture != "all" {
			continue
		}
		ix.pkgs[p.Package] = append(ix.pkgs[p.Package], p)
	}
	for _, l := range ix.pkgs {
		sort.SliceStable(l, func(i, j int) bool { return compareVersions(l[i].Version, l[j].Version) > 0 })
	}
	ix.targets = c.targetsOf(ix)
	return ix, nil
}

// parsePackages reads the stanzas of a Packages file whose Package field
// passes keep.
func parsePackages(r io.Reader, keep func(string) bool) ([]*pkgEntry, error) {
	var out []*pkgEntry
	br := bufio.NewReaderSize(r, 1<<20)
	cur := &pkgEntry{}
	var err error
	flush := func() error {
		if cur.Package != "" && keep(cur.Package) {
			if cur.Filename == "" || cur.SHA256 == "" || cur.Size <= 0 || cur.Version == "" {
				return fmt.Errorf("package %s: missing Filename, Size, SHA256 or Version", cur.Package)
			}
			if strings.Contains(cur.Filename, "..") || strings.HasPrefix(cur.Filename, "/") {
				return fmt.Errorf("package %s: bad Filename %q", cur.Package, cur.Filename)
			}
			out = append(out, cur)
		}
		cur = &pkgEntry{}
		return nil
	}
	for {
		line, rerr := br.ReadString('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, rerr
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if err = flush(); err != nil {
				return nil, err
			}
		case line[0] == ' ' || line[0] == '\t':
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimSpace(v)
			switch k {
			case "Package":
				cur.Package = v
			case "Version":
				cur.Version = v
			case "Architecture":
				cur.Architecture = v
			case "Filename":
				cur.Filename = v
			case "SHA256":
				cur.SHA256 = strings.ToLower(v)
			case "Depends":
				cur.Depends = v
			case "Source":
				cur.Source = v
			case "Size":
				cur.Size, err = strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("package %s: bad Size %q", cur.Package, v)
				}
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// imageNameRE splits "<abi>-<flavour>" of a linux-image package: the ABI
// starts with a version and continues with "-<digit>..." parts, the
// flavour starts with a letter.
var imageNameRE = regexp.MustCompile(`^(\d+\.\d+[^-]*(?:-\d[^-]*)*)-([a-z][a-z0-9-]*)$`)

// parseImageName returns release, flavour and whether the package is the
// unsigned variant; ok is false for packages that are not kernel images.
func parseImageName(pkg, arch string) (release, flavour string, unsigned, ok bool) {
	rest, found := strings.CutPrefix(pkg, "linux-image-")
	if !found || strings.HasSuffix(rest, "-dbg") {
		return "", "", false, false
	}
	rest, unsigned = strings.CutSuffix(rest, "-unsigned")
	m := imageNameRE.FindStringSubmatch(rest)
	if m == nil || !strings.HasSuffix(m[2], arch) || strings.HasSuffix(m[2], "-template") {
		return "", "", false, false
	}
	return rest, m[2], unsigned, true
}

func (c *Catalogue) targetsOf(ix *suiteIndex) []Target {
	type cand struct {
		p        *pkgEntry
		flavour  string
		unsigned bool
	}
	best := map[string]cand{}
	for name, l := range ix.pkgs {
		rel, flavour, unsigned, ok := parseImageName(name, c.arch)
		if !ok {
			continue
		}
		p := l[0]
		if p.Architecture != c.arch {
			continue
		}
		old, seen := best[rel]
		if !seen || (old.unsigned && !unsigned) {
			best[rel] = cand{p, flavour, unsigned}
		}
	}
	var out []Target
	for rel, cd := range best {
		out = append(out, Target{
			Distro:         "debian",
			Suite:          ix.suite,
			Release:        rel,
			Version:        "1",
			Flavour:        cd.flavour,
			Arch:           c.arch,
			Package:        cd.p.Package,
			PackageVersion: cd.p.Version,
		})
	}
	sortTargets(out)
	return out
}

func sortTargets(ts []Target) {
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := ts[i], ts[j]
		if ra, rb := suiteRank(a.Suite), suiteRank(b.Suite); ra != rb {
			return ra < rb
		}
		if a.Suite != b.Suite {
			return a.Suite < b.Suite
		}
		if c := compareVersions(a.PackageVersion, b.PackageVersion); c != 0 {
			return c < 0
		}
		return a.Release < b.Release
	})
}

// List returns the kernels of suite ("" for all suites of Suites()), sorted
// by suite, then version. With suite "", a suite whose index cannot be
// loaded does not hide the others: List returns the targets of the suites
// that loaded together with an error naming the ones that did not.
func (c *Catalogue) List(ctx context.Context, suite string) ([]Target, error) {
	suites := []string{suite}
	if suite == "" {
		suites = c.Suites()
	}
	var out []Target
	var errs []error
	for _, s := range suites {
		ix, err := c.index(ctx, s)
		if err != nil {
			if suite != "" || ctx.Err() != nil {
				return nil, err
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, ix.targets...)
	}
	sortTargets(out)
	return out, errors.Join(errs...)
}

// Resolve finds a target by name: "<suite>/<release>", or a bare release
// when exactly one suite has it.
func (c *Catalogue) Resolve(ctx context.Context, name string) (Target, error) {
	name = strings.TrimSpace(name)
	suite, rel, hasSuite := strings.Cut(name, "/")
	if !hasSuite {
		rel, suite = name, ""
	}
	if rel == "" {
		return Target{}, fmt.Errorf("%w: empty kernel name %q; want <suite>/<release>, see `vigil kernels list`", ErrUnknownKernel, name)
	}
	all, listErr := c.List(ctx, suite)
	if listErr != nil && len(all) == 0 {
		return Target{}, listErr
	}
	var hits []Target
	for _, t := range all {
		if t.Release == rel {
			hits = append(hits, t)
		}
	}
	switch {
	case len(hits) == 1:
		if listErr != nil {
			c.log.Warnf("resolve %s: found %s, but not every suite could be searched: %v", name, hits[0].Name(), listErr)
		}
		return hits[0], nil
	case len(hits) > 1:
		var names []string
		for _, t := range hits {
			names = append(names, t.Name())
		}
		return Target{}, fmt.Errorf("%w: %q is ambiguous: %s; name the suite", ErrUnknownKernel, name, strings.Join(names, ", "))
	}
	var names []string
	for _, t := range all {
		names = append(names, t.Name())
	}
	const maxNames = 12
	where := "any suite"
	if suite != "" {
		where = "suite " + suite
	}
	list := strings.Join(names, ", ")
	if len(names) > maxNames {
		list = strings.Join(names[len(names)-maxNames:], ", ") + fmt.Sprintf(" (and %d more)", len(names)-maxNames)
	}
	if len(names) == 0 {
		list = "none"
	}
	err := fmt.Errorf("%w: no kernel %q in %s; known: %s; run `vigil kernels list` for all", ErrUnknownKernel, name, where, list)
	if listErr != nil {
		err = fmt.Errorf("%w (some suites could not be searched: %v)", err, listErr)
	}
	return Target{}, err
}

// Latest returns the newest kernel of suite with the given flavour.
func (c *Catalogue) Latest(ctx context.Context, suite, flavour string) (Target, error) {
	ts, err := c.List(ctx, suite)
	if err != nil {
		return Target{}, err
	}
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Flavour == flavour {
			return ts[i], nil
		}
	}
	fl := map[string]bool{}
	var fls []string
	for _, t := range ts {
		if !fl[t.Flavour] {
			fl[t.Flavour] = true
			fls = append(fls, t.Flavour)
		}
	}
	return Target{}, fmt.Errorf("%w: no %s kernel in %s (flavours there: %s); run `vigil kernels list --suite %s`",
		ErrUnknownKernel, flavour, suite, strings.Join(fls, ", "), suite)
}
