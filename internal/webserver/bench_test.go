// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package webserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/ruleset"
)

// scrapeEvery is far more often than Prometheus scrapes (15 s by
// default): the cost measured is an upper bound.
const scrapeEvery = 5 * time.Millisecond

// The engine's rate through the default rules over a capture, with the
// webserver serving /metrics and /healthz and scraped every 5 ms, against
// the same run with no webserver: interleaved rounds, medians, one ratio.
func BenchmarkWebserverOnOff(b *testing.B) {
	const n = 2000000
	capture := writeCapture(b, n)
	prog, err := ruleset.Program(eval.Options{})
	if err != nil {
		b.Fatal(err)
	}
	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		b.Fatal(err)
	}
	run := func(withWeb bool) float64 {
		src, err := driver.OpenCapture(capture)
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		var alerts uint64
		eng, err := engine.New(engine.Config{Program: prog, Emit: func(*output.Alert) { alerts++ },
			Clock: src.Meta().Clock(), Syscalls: tab, Hostname: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if withWeb {
			s := New(Config{Engine: eng, DriverStats: src.Stats, DriverKind: "capture", Metrics: true})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go s.Serve(ctx, ln)
			go scrape(ctx, "http://"+ln.Addr().String()+"/metrics")
		}
		t0 := time.Now()
		if err := eng.Run(ctx, src); err != nil && err != io.EOF {
			b.Fatal(err)
		}
		return float64(n) / time.Since(t0).Seconds()
	}
	var on, off []float64
	for range 5 {
		off = append(off, run(false))
		on = append(on, run(true))
	}
	mOn, mOff := median(on), median(off)
	fmt.Printf("engine, default rules: %.0f events/s with the webserver and /metrics scraped every %s, %.0f events/s without: ratio %.3f (medians of 5 interleaved rounds of %d events)\n",
		mOn, scrapeEvery, mOff, mOn/mOff, n)
	b.ReportMetric(mOn, "on-events/s")
	b.ReportMetric(mOff, "off-events/s")
	b.ReportMetric(mOn/mOff, "on/off")
}

func scrape(ctx context.Context, url string) {
	t := time.NewTicker(scrapeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
}

// writeCapture writes n events of a few processes opening and closing
// files into a capture file: what the engine's state and rules work on.
func writeCapture(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.vcap")
	w, err := driver.CreateCapture(path, driver.NewCaptureMeta(driver.NewClock()))
	if err != nil {
		b.Fatal(err)
	}
	var bl driver.Builder
	var e driver.Event
	for i := range n {
		tid := uint32(1000 + i%16)
		bl.Begin(nil, driver.EvClose, uint64(1_000_000+i), tid, tid)
		if err := e.Decode(bl.Int(0).Int(int64(3 + i%8)).End()); err != nil {
			b.Fatal(err)
		}
		if err := w.Write(&e); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
