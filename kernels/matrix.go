// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Matrix is the list of kernels vigil builds and tests (kernels/matrix.yaml).
type Matrix struct {
	Kernels []MatrixEntry `yaml:"kernels"`
}

// MatrixEntry selects one kernel: either a pinned Release, or with Latest
// the newest kernel of Suite with Flavour.
type MatrixEntry struct {
	Suite   string `yaml:"suite"`
	Release string `yaml:"release,omitempty"`
	Latest  bool   `yaml:"latest,omitempty"`
	Flavour string `yaml:"flavour,omitempty"`

	// Line is where the entry starts in the file (0 when not loaded from one).
	Line int `yaml:"-"`
}

// Name describes the entry for messages.
func (e MatrixEntry) Name() string {
	if e.Latest {
		return e.Suite + "/latest " + e.Flavour
	}
	return e.Suite + "/" + e.Release
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:unmarshal errors:\s*)?line (\d+): (.*)$`)

// LoadMatrix reads and checks a matrix file. Errors name file:line.
func LoadMatrix(path string) (Matrix, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Matrix{}, fmt.Errorf("read kernel matrix: %w", err)
	}
	return parseMatrix(path, data)
}

func parseMatrix(path string, data []byte) (Matrix, error) {
	var m Matrix
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return Matrix{}, fmt.Errorf("%s: empty kernel matrix; want a `kernels:` list", path)
		}
		msg := strings.TrimSpace(err.Error())
		first := strings.SplitN(msg, "\n", 2)[0]
		if mm := yamlLineRE.FindStringSubmatch(first); mm != nil {
			return Matrix{}, fmt.Errorf("%s:%s: %s", path, mm[1], mm[2])
		}
		if strings.HasPrefix(msg, "yaml: unmarshal errors:") {
			lines := strings.Split(msg, "\n")
			if len(lines) > 1 {
				if mm := regexp.MustCompile(`^\s*line (\d+): (.*)$`).FindStringSubmatch(lines[1]); mm != nil {
					return Matrix{}, fmt.Errorf("%s:%s: %s", path, mm[1], mm[2])
				}
			}
		}
		return Matrix{}, fmt.Errorf("%s: %s", path, strings.TrimPrefix(msg, "yaml: "))
	}
	// Line numbers of the entries, for validation messages.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) == 1 {
		doc := root.Content[0]
		for i := 0; i+1 < len(doc.Content); i += 2 {
			if doc.Content[i].Value == "kernels" && doc.Content[i+1].Kind == yaml.SequenceNode {
				for j, n := range doc.Content[i+1].Content {
					if j < len(m.Kernels) {
						m.Kernels[j].Line = n.Line
					}
				}
			}
		}
	}
	if len(m.Kernels) == 0 {
		return Matrix{}, fmt.Errorf("%s: no kernels listed; want a `kernels:` list of {suite, release} or {suite, flavour, latest: true}", path)
	}
	for _, e := range m.Kernels {
		where := fmt.Sprintf("%s:%d", path, e.Line)
		switch {
		case e.Suite == "":
			return Matrix{}, fmt.Errorf("%s: entry has no suite", where)
		case !validSuiteName(e.Suite):
			return Matrix{}, fmt.Errorf("%s: bad suite %q", where, e.Suite)
		case e.Latest && e.Release != "":
			return Matrix{}, fmt.Errorf("%s: entry has both release and latest; pin a release or ask for the latest, not both", where)
		case e.Latest && e.Flavour == "":
			return Matrix{}, fmt.Errorf("%s: latest entry needs a flavour (e.g. cloud-amd64)", where)
		case !e.Latest && e.Release == "":
			return Matrix{}, fmt.Errorf("%s: entry needs a release or `latest: true` with a flavour", where)
		}
	}
	return m, nil
}

// ResolveMatrix turns the entries of m into targets, in order, without
// duplicates.
func (c *Catalogue) ResolveMatrix(ctx context.Context, m Matrix) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for _, e := range m.Kernels {
		var t Target
		var err error
		if e.Latest {
			t, err = c.Latest(ctx, e.Suite, e.Flavour)
		} else {
			t, err = c.Resolve(ctx, e.Suite+"/"+e.Release)
			if err == nil && e.Flavour != "" && t.Flavour != e.Flavour {
				err = fmt.Errorf("%s has flavour %s, not %s", t.Name(), t.Flavour, e.Flavour)
			}
		}
		if err != nil {
			if e.Line > 0 {
				return nil, fmt.Errorf("matrix entry %s (line %d): %w", e.Name(), e.Line, err)
			}
			return nil, fmt.Errorf("matrix entry %s: %w", e.Name(), err)
		}
		if !seen[t.Name()] {
			seen[t.Name()] = true
			out = append(out, t)
		}
	}
	return out, nil
}

//go:embed matrix.yaml
var defaultMatrix []byte

// DefaultMatrix returns the matrix committed as kernels/matrix.yaml.
func DefaultMatrix() (Matrix, error) {
	return parseMatrix("kernels/matrix.yaml", defaultMatrix)
}
