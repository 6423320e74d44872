// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"fmt"
	"io"
	"time"
)

// ReadTracker remembers a read error, which io.Copy does not tell apart
// from a write error: a download whose source failed is worth another
// try, one whose disk failed is not.
type ReadTracker struct {
	R   io.Reader
	Err error // the first read error other than io.EOF
}

func (t *ReadTracker) Read(p []byte) (int, error) {
	n, err := t.R.Read(p)
	if err != nil && err != io.EOF && t.Err == nil {
		t.Err = err
	}
	return n, err
}

// Rate is n bytes over d, per second (0 for no time at all).
func Rate(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// HumanBytes writes a byte count for progress lines: "1.5 MiB", "12 B".
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
