// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/engine/eval"
)

const appendConfig = `
append_output:
  - suggested_output: true
  - match:
      source: syscall
      tags: [container, mitre_execution]
    extra_output: "on CPU %evt.cpu"
    extra_fields:
      - home: "%user.homedir"
      - evt.hostname
      - site: "${VIGIL_TEST_SITE} $5"
  - match: {rule: Terminal shell in container}
    extra_output: "(shell)"
`

// appendOptionsOf runs vigil run with the file and flags and returns what
// the rules would be compiled with.
func appendOptionsOf(t *testing.T, config string, args ...string) ([]eval.AppendOutput, bool, *cli.Context, error) {
	t.Helper()
	path := writeConfig(t, t.TempDir(), map[string]string{"vigil.yaml": config})
	c, err := runWithConfig(t, append([]string{"--config", path}, args...)...)
	if err != nil {
		return nil, false, nil, err
	}
	entries, suggested, err := appendOptions(c)
	return entries, suggested, c, err
}

func TestAppendOutputConfig(t *testing.T) {
	t.Setenv("VIGIL_TEST_SITE", "lab")
	entries, suggested, _, err := appendOptionsOf(t, appendConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := []eval.AppendOutput{
		{Source: "syscall", Tags: []string{"container", "mitre_execution"}, ExtraOutput: "on CPU %evt.cpu",
			ExtraFields: []eval.ExtraField{{Key: "home", Format: "%user.homedir"}, {Key: "evt.hostname"}, {Key: "site", Format: "lab $5"}}},
		{Rule: "Terminal shell in container", ExtraOutput: "(shell)"},
	}
	if !reflect.DeepEqual(entries, want) || !suggested {
		t.Errorf("entries %+v suggested %v\nwant %+v and suggested", entries, suggested, want)
	}

	// Suggested output is on by default, without a file too.
	if _, suggested, _, err := appendOptionsOf(t, ""); err != nil || !suggested {
		t.Errorf("default: suggested %v, err %v", suggested, err)
	}
}

func TestAppendOutputFlagsWin(t *testing.T) {
	entries, suggested, _, err := appendOptionsOf(t, appendConfig, "--append-output", "pid=%proc.pid", "--no-suggested-output")
	if err != nil {
		t.Fatal(err)
	}
	if want := []eval.AppendOutput{{ExtraOutput: "pid=%proc.pid"}}; !reflect.DeepEqual(entries, want) || suggested {
		t.Errorf("entries %+v suggested %v, want %+v without suggested", entries, suggested, want)
	}

	// suggested_output: false in the file turns it off, as the flag does.
	_, suggested, c, err := appendOptionsOf(t, "append_output: [{suggested_output: false}]\n")
	if err != nil || suggested || !c.Bool(flagNoSuggestedOutput) {
		t.Errorf("suggested_output: false: suggested %v, err %v", suggested, err)
	}
}

func TestAppendOutputConfigErrors(t *testing.T) {
	path := writeConfig(t, t.TempDir(), map[string]string{"vigil.yaml": `append_output:
  - match: {tagz: [a]}
    extra_output: x
  - extra_fields: [[a]]
  - surgested_output: true
`})
	_, err := runWithConfig(t, "--config", path)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		path + `:2:13: unknown key "append_output[0].match.tagz" (did you mean "tags"?)`,
		path + `:4:20: append_output[1].extra_fields[0]: want a field name, or a mapping of one key to an output format`,
		path + `:5:5: unknown key "append_output[2].surgested_output" (did you mean "suggested_output"?)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// A field vigil does not know fails the load, naming the entry.
	_, _, _, err = appendOptionsOf(t, "append_output:\n  - extra_output: \"on %proc.nosuch\"\n")
	if err == nil || !strings.Contains(err.Error(), `append_output entry 1: extra_output "on %proc.nosuch", at byte 4: unknown field`) {
		t.Errorf("unknown field: %v", err)
	}
	_, _, _, err = appendOptionsOf(t, "", "--append-output", "%evt.nosuch")
	if err == nil || !strings.Contains(err.Error(), "evt.nosuch") {
		t.Errorf("unknown field in --append-output: %v", err)
	}
}
