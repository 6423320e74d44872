// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"testing"
	"time"
)

// A stopped reader ends once it returned what its driver counted and the
// runs begun before the stop had time to finish, or when it waited long
// enough for events it cannot see.
func TestDrain(t *testing.T) {
	var d Drain
	d.Returned()
	d.Returned()
	if d.Stopped() {
		t.Fatal("stopped before Stop")
	}
	d.Stop()
	if !d.Stopped() || d.Done(2) {
		t.Fatalf("stopped %v, done %v at once; want stopped, not done within the grace", d.Stopped(), d.Done(2))
	}
	time.Sleep(drainGrace)
	if !d.Done(2) || !d.Done(1) {
		t.Error("not done after the grace with every counted event returned")
	}
	if d.Done(3) {
		t.Error("done with a counted event not returned, before the timeout")
	}
	d.stopped = time.Now().Add(-drainTimeout)
	if !d.Done(3) {
		t.Error("not done after the timeout")
	}
}
