// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import "io"

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
