// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Command genheader writes driver/include/vigil_schema.h from the Go schema.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vigil-dev/vigil/driver"
)

func main() {
	out := flag.String("o", "include/vigil_schema.h", "output file")
	flag.Parse()
	if err := os.WriteFile(*out, driver.CHeader(), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "genheader: %v\n", err)
		os.Exit(1)
	}
}
