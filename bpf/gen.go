// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

// The probe object and its Go bindings are committed: building vigil needs
// no clang. `make bpf` reruns this with Debian's clang and llvm-strip;
// TestObjectIsFresh fails when the committed object no longer matches the C.
// fentry, tpentry and tpexit are further objects, loaded with probe's maps (see
// load.go).
//go:generate go tool bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -target amd64 -type cpu_stats probe c/probe.bpf.c -- -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -target amd64 fentry c/fentry.bpf.c -- -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -target amd64 tpentry c/tpentry.bpf.c -- -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -target amd64 tpexit c/tpexit.bpf.c -- -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu
