// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import "errors"

// ErrNotSupported means the running kernel or architecture lacks something a
// driver needs. Callers branch on it (the loader falls back to another
// driver) and tests skip on it.
var ErrNotSupported = errors.New("not supported")

// ErrClosed is returned by Source.Next after Close.
var ErrClosed = errors.New("source closed")

// ErrMalformed wraps every decoding error: the bytes do not follow the wire
// format.
var ErrMalformed = errors.New("malformed event")

// ErrTimeout is returned by a live Source's Next when no event arrived
// within its poll interval; it is not a failure.
var ErrTimeout = errors.New("no event within the poll interval")
