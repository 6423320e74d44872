// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package k8saudit

import (
	"testing"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
)

// BenchmarkUpstreamRules measures audit events/s through Falco's k8s audit
// rules: decoding the posted body and evaluating every rule (AllMatches),
// as the endpoint and the Detector do for each event.
func BenchmarkUpstreamRules(b *testing.B) {
	prog := compileUpstream(b, eval.Options{AllMatches: true})
	body := []byte(eventList(podExec, clusterAdminBinding, secretConfigMap, anonymousList, anonymousHealthz))
	alerts := 0
	det := NewDetector(prog, "bench", func(*output.Alert) { alerts++ })
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	for i := 0; i < b.N; i++ {
		evs, err := ParseBody(body)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			det.Eval(e)
		}
		events += len(evs)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	if alerts == 0 {
		b.Fatal("no alert: the benchmark does not exercise the rules")
	}
}
