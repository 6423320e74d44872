// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package k8saudit is vigil's Kubernetes audit event source, as Falco's
// k8saudit plugin: an HTTP(S) endpoint for the API server's webhook audit
// backend (Server), the audit.k8s.io/v1 event model (Event), the ka.* and
// jevt.* fields the k8s_audit rules read (registered with engine/fields
// under the source "k8s_audit"), and the loop that runs those rules on the
// received events (Detect).
//
// Decisions:
//
//   - An event is kept as its decoded JSON tree: the rules read a few
//     dozen paths of it, and jevt.value[/json/pointer] can name any.
//   - Field values follow the plugin: strings as they are, other JSON
//     values (numbers, bools, objects, arrays) as their compact JSON text,
//     a missing or null value is not available. List fields (ka.user.groups,
//     ka.req.pod.containers.image, …) are lists: `in` needs every element
//     in the set, `intersects` one; an empty list is not available.
//   - Falco's per-container fields also read initContainers and
//     ephemeralContainers (ka.req.pod.initContainers.image, …), which the
//     upstream rules use.
package k8saudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Source is the rules' name of this event source (source: k8s_audit).
const Source = "k8s_audit"

// Event is one audit.k8s.io/v1 Event.
type Event struct {
	// Raw is the event's JSON text (jevt.obj).
	Raw json.RawMessage
	// Time is the stage timestamp (else the request's, else the receipt).
	Time time.Time

	obj map[string]any
}

// ParseEvent decodes one audit event object.
func ParseEvent(raw []byte) (*Event, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // keep numbers as written: response codes, uids
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, fmt.Errorf("audit event: %w", err)
	}
	if obj == nil {
		return nil, errors.New("audit event: null, want an object")
	}
	if k, _ := obj["kind"].(string); k != "" && k != "Event" {
		return nil, fmt.Errorf("audit event: kind %q, want Event", k)
	}
	e := &Event{Raw: append(json.RawMessage(nil), raw...), obj: obj}
	for _, k := range []string{"stageTimestamp", "requestReceivedTimestamp"} {
		if s, ok := obj[k].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				e.Time = t
				break
			}
		}
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	return e, nil
}

// ParseBody decodes what the webhook backend posts: one Event, or an
// EventList of them. An error names what is wrong, for the 400 answer.
func ParseBody(body []byte) ([]*Event, error) {
	var head struct {
		Kind       string            `json:"kind"`
		APIVersion string            `json:"apiVersion"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, fmt.Errorf("body is not a JSON audit Event or EventList: %w", err)
	}
	if head.APIVersion != "" && !strings.HasPrefix(head.APIVersion, "audit.k8s.io/") {
		return nil, fmt.Errorf("apiVersion %q: want audit.k8s.io/v1", head.APIVersion)
	}
	switch head.Kind {
	case "EventList":
		out := make([]*Event, 0, len(head.Items))
		for i, it := range head.Items {
			e, err := ParseEvent(it)
			if err != nil {
				return nil, fmt.Errorf("items[%d]: %w", i, err)
			}
			out = append(out, e)
		}
		return out, nil
	case "Event":
		e, err := ParseEvent(body)
		if err != nil {
			return nil, err
		}
		return []*Event{e}, nil
	}
	return nil, fmt.Errorf("kind %q: want Event or EventList (audit.k8s.io/v1)", head.Kind)
}

// get walks object keys from the event's root; nil when a key is missing.
func (e *Event) get(keys ...string) any {
	var v any = e.obj
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// Pointer resolves a JSON pointer (RFC 6901: /a/b/0, ~1 for '/', ~0 for
// '~') in the event; nil when it names nothing.
func (e *Event) Pointer(p string) any {
	if p == "" {
		return e.obj
	}
	if p[0] != '/' {
		return nil
	}
	var v any = e.obj
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// text renders a JSON value as the plugin does: strings as they are,
// anything else as compact JSON; false for a missing or null value.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// texts renders each element of a JSON array; false when v is not one.
func texts(v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := text(x); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// each collects, for every element of the array at keys, the value at
// sub inside it (missing ones skipped); false when there is no array.
func (e *Event) each(keys []string, sub ...string) ([]string, bool) {
	arr, ok := e.get(keys...).([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		for _, k := range sub {
			m, _ := x.(map[string]any)
			x = m[k]
		}
		if s, ok := text(x); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// repository is an image reference without its tag or digest:
// registry:5000/a/b:1.2@sha256:… is registry:5000/a/b.
func repository(image string) string {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		image = image[:i]
	}
	return image
}
