// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// debianSuites are the code names and aliases of Debian suites (not derivatives).
var debianSuites = map[string]bool{
	"buzz": true, "rex": true, "bo": true, "hamm": true, "slink": true, "potato": true,
	"woody": true, "sarge": true, "etch": true, "lenny": true, "squeeze": true,
	"wheezy": true, "jessie": true, "stretch": true, "buster": true, "bullseye": true,
	"bookworm": true, "trixie": true, "forky": true, "duke": true, "sid": true,
	"stable": true, "testing": true, "unstable": true, "oldstable": true,
	"oldoldstable": true, "experimental": true,
}

// isDebianSuite reports whether suite (e.g. "bookworm-updates") is a Debian
// suite other than a security one.
func isDebianSuite(suite string) bool {
	suite = strings.TrimSuffix(suite, "/")
	if strings.HasSuffix(suite, "-security") || strings.Contains(suite, "/") {
		return false
	}
	base, _, _ := strings.Cut(suite, "-")
	return debianSuites[base]
}

// aptSource is one "deb" line or deb822 stanza.
type aptSource struct {
	uris, suites, comps []string
	file                string
}

func (s aptSource) mirror() (string, bool) {
	if !contains(s.comps, "main") {
		return "", false
	}
	ok := false
	for _, su := range s.suites {
		if isDebianSuite(su) {
			ok = true
		}
	}
	if !ok {
		return "", false
	}
	for _, u := range s.uris {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https" && pu.Scheme != "file") {
			continue
		}
		if strings.HasSuffix(strings.TrimSuffix(pu.Path, "/"), "-security") {
			continue
		}
		return strings.TrimSuffix(u, "/"), true
	}
	return "", false
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// MirrorFromApt returns the URL of the Debian mirror the apt configuration
// under root ("/" normally, or "/host" in a container) uses: the URIs of the
// first deb822 stanza in etc/apt/sources.list.d/*.sources, or the first
// one-line entry of etc/apt/sources.list and etc/apt/sources.list.d/*.list,
// whose suites include a Debian suite and whose components include main.
// Security mirrors are skipped.
func MirrorFromApt(root string) (string, error) {
	if root == "" {
		root = "/"
	}
	var read, problems []string
	deb822, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d/*.sources"))
	sort.Strings(deb822)
	for _, f := range deb822 {
		data, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		read = append(read, f)
		for _, s := range parseDeb822Sources(data, f) {
			if m, ok := s.mirror(); ok {
				return m, nil
			}
		}
	}
	oneLine := []string{filepath.Join(root, "etc/apt/sources.list")}
	more, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d/*.list"))
	sort.Strings(more)
	oneLine = append(oneLine, more...)
	for _, f := range oneLine {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		read = append(read, f)
		for _, s := range parseOneLineSources(data, f) {
			if m, ok := s.mirror(); ok {
				return m, nil
			}
		}
	}
	msg := "no Debian mirror (a deb source with a Debian suite and component main) found"
	if len(read) > 0 {
		msg += " in " + strings.Join(read, ", ")
	} else {
		msg += fmt.Sprintf(": no apt sources under %s", filepath.Join(root, "etc/apt"))
	}
	if len(problems) > 0 {
		msg += " (" + strings.Join(problems, "; ") + ")"
	}
	return "", fmt.Errorf("%s; set VIGIL_DEBIAN_MIRROR=<url of a Debian mirror> or pass --mirror", msg)
}

func parseDeb822Sources(data []byte, file string) []aptSource {
	var out []aptSource
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) == 0 {
			return
		}
		types := strings.Fields(fields["types"])
		enabled := strings.ToLower(strings.TrimSpace(fields["enabled"]))
		if contains(types, "deb") && enabled != "no" && enabled != "false" {
			out = append(out, aptSource{
				uris:   strings.Fields(fields["uris"]),
				suites: strings.Fields(fields["suites"]),
				comps:  strings.Fields(fields["components"]),
				file:   file,
			})
		}
		fields = map[string]string{}
		last = ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = strings.ToLower(strings.TrimSpace(k))
		fields[last] = strings.TrimSpace(v)
	}
	flush()
	return out
}

func parseOneLineSources(data []byte, file string) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		// Options: deb [arch=amd64 signed-by=...] URL suite comps...
		if i := strings.IndexByte(line, '['); i >= 0 {
			if j := strings.IndexByte(line[i:], ']'); j >= 0 {
				line = line[:i] + line[i+j+1:]
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "deb" {
			continue
		}
		out = append(out, aptSource{uris: f[1:2], suites: f[2:3], comps: f[3:], file: file})
	}
	return out
}

// aptValidUntilOff reports whether the host's apt configuration under root
// turns the Valid-Until check off (Acquire::Check-Valid-Until "false"), and
// in which file. vigil follows the host: a mirror apt accepts (a snapshot,
// say) is one vigil accepts.
func aptValidUntilOff(root string) (bool, string) {
	if root == "" {
		root = "/"
	}
	files := []string{filepath.Join(root, "etc/apt/apt.conf")}
	more, _ := filepath.Glob(filepath.Join(root, "etc/apt/apt.conf.d/*"))
	sort.Strings(more)
	off, where := false, ""
	// Later files override earlier ones, as apt reads them.
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			k, v, ok := strings.Cut(line, " ")
			if !ok || !strings.EqualFold(k, "Acquire::Check-Valid-Until") {
				continue
			}
			v = strings.Trim(strings.TrimSuffix(strings.TrimSpace(v), ";"), `"`)
			switch strings.ToLower(v) {
			case "false", "no", "0", "off":
				off, where = true, f
			case "true", "yes", "1", "on":
				off, where = false, ""
			}
		}
	}
	return off, where
}
