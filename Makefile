# vigil: `make run` starts detection on this host, `make test` runs every test.
# Both install what they need first (scripts/deps: apt-get and Go modules).

GO      ?= go
BIN     := bin/vigil
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The probe is loaded as root; sudo only where we are not root already.
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo env "PATH=$(PATH)")
# clang and llvm-strip for `make bpf`: Debian 12's LLVM 19.
BPF_CLANG ?= clang-19
BPF_STRIP ?= llvm-strip-19
FUZZTIME  ?= 30s

.PHONY: all build build-libbpf run test matrix debug-matrix mirror image kmod bench bpf fuzz deps clean

all: build

# A static binary: the same file is the host CLI, the init container and the
# QEMU matrix's in-VM agent.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/vigil

# The same binary built with the libbpfgo loader (cgo, linked statically
# against Debian's libbpf, libelf and zlib): the matrix's libbpf row boots it.
BIN_LIBBPF := bin/vigil-libbpf
build-libbpf:
	CGO_ENABLED=1 $(GO) build -tags libbpfgo,netgo,osusergo -trimpath -ldflags "-s -w -X main.version=$(VERSION) -linkmode external -extldflags -static" -o $(BIN_LIBBPF) ./cmd/vigil

run: 
	scripts/deps run
	$(MAKE) build
	$(SUDO) ./$(BIN) run

test:
	scripts/deps test
	scripts/dockerd
	$(GO) vet ./...
	$(SUDO) $(GO) test -count=1 -timeout 60m ./...
	$(SUDO) $(GO) test -tags libbpfgo -count=1 ./bpf/libbpf/

# The kernel compatibility matrix: every kernel of kernels/matrix.yaml booted
# in QEMU with bin/vigil as /init; tables in out/matrix/matrix.md and .json.
# Kernels are cached under /var/cache/vigil (or $$XDG_CACHE_HOME/vigil).
# With a mirror from `make mirror`, each VM also checks the kernel module,
# and the loader fetching it from the mirror served over QEMU's network.
COMMA := ,
matrix:
	scripts/deps test
	$(MAKE) build
	$(SUDO) ./$(BIN) matrix run --out out/matrix $(if $(wildcard out/mirror/index.json),--drivers bpf$(COMMA)kmod$(COMMA)loader --modules out/mirror --key out/mirror-key.pub,--drivers bpf)
	$(MAKE) build-libbpf
	$(SUDO) ./$(BIN) matrix run --out out/matrix-libbpf --agent $(BIN_LIBBPF) --drivers libbpf

# The matrix on a debug kernel (KASAN, lockdep, DEBUG_ATOMIC_SLEEP) built
# from Debian's linux-source by scripts/debug-kernel (once; cached): both
# drivers, their parity, and no kernel warning. Not in CI: the first build
# takes most of an hour on two CPUs.
debug-matrix:
	$(MAKE) build
	dir=$$(scripts/debug-kernel) && $(SUDO) ./$(BIN) matrix run --image $$dir/arch/x86/boot/bzImage --module $$dir/vigil.ko \
		$(if $(wildcard out/mirror/*/*/*.ko),--foreign $(firstword $(wildcard out/mirror/*/*/*.ko))) \
		--drivers bpf,kmod --timeout 20m --out out/debug-matrix

# Modules for every kernel of kernels/matrix.yaml, each built in a container
# of its kernel's suite and compiler, into out/mirror with a signed index
# (key: out/mirror-key.key, made on first use).
MODULE_SRC  ?= kmod
MODULE_NAME ?= vigil
mirror:
	scripts/deps test
	scripts/dockerd
	$(MAKE) build
	mkdir -p out
	test -f out/mirror-key.key || ./$(BIN) mirror keygen --out out/mirror-key
	$(SUDO) ./$(BIN) driver build --matrix kernels/matrix.yaml --source $(MODULE_SRC) --module $(MODULE_NAME) --out out/mirror --key-file out/mirror-key.key
	./$(BIN) mirror verify out/mirror --key out/mirror-key.pub

# vigil's container image (deploy/image): FROM scratch, the static binary at
# /usr/bin/vigil and the host's CA certificates, ENTRYPOINT vigil; built by
# the local Docker Engine (its API: no BuildKit, no registry) and tagged
# vigil:$(VERSION) and vigil:latest. Prints the image's size.
image:
	scripts/deps test
	scripts/dockerd
	$(MAKE) build
	$(SUDO) $(GO) run ./deploy/image --binary $(BIN) --version $(VERSION)

# The kernel module against any headers tree: make kmod KDIR=/usr/src/linux-headers-...
KDIR ?= /lib/modules/$(shell uname -r)/build
kmod:
	$(MAKE) -C kmod KDIR=$(KDIR)

# Figures the issues ask for: the fast-path table (bare, every syscall
# captured, an unselected syscall, vigil run with default and upstream
# stable rules; interleaved, one run), probe overhead against a bare
# syscall loop, sustained rate, decode throughput and allocations;
# the rule engine's events/s, allocations per event and peak memory over a
# recorded capture of a busy workload, default rules against upstream's;
# with a mirror from `make mirror`, the module's per-syscall cost against
# the probe's in a VM of every matrix kernel, and the loader's time to a
# driver ready, to the first event and to the first alert, the module
# fetched from the host's mirror (out/bench/matrix.md); the engine's rate
# with the webserver scraped against without it, and audit events/s.
bench:
	scripts/deps test
	$(SUDO) $(GO) test -run '^$$' -bench 'BenchmarkFastPath|BenchmarkEventsDiscard|BenchmarkRunRSS' -benchtime=1x ./cmd/vigil/
	$(GO) test -run '^$$' -bench BenchmarkStreamTake -benchmem ./cmd/vigil/
	$(SUDO) $(GO) test -run '^$$' -bench . -benchtime=1x ./bpf/
	$(GO) test -run '^$$' -bench . -benchmem ./driver/
	$(SUDO) $(GO) test -run '^$$' -bench BenchmarkRulesets -benchtime=1x ./engine/
	scripts/dockerd
	$(SUDO) $(GO) test -run '^$$' -bench BenchmarkContainerChurn -benchtime=1x -timeout 30m ./engine/
	$(GO) test -run '^$$' -bench . -benchmem ./engine/eval/ ./engine/state/ ./engine/output/ ./engine/k8saudit/
	$(GO) test -run '^$$' -bench BenchmarkWebserverOnOff -benchtime=1x ./internal/webserver/
	$(MAKE) build
	$(if $(wildcard out/mirror/index.json),$(SUDO) ./$(BIN) matrix run --drivers bench$(COMMA)loader --modules out/mirror --key out/mirror-key.pub --out out/bench,@echo "bench: no out/mirror; run make mirror first for the module against the probe")

# Regenerate the probe's object and bindings (committed, so that `go build`
# needs no clang) and the schema header.
bpf:
	scripts/deps test
	$(GO) generate ./driver/...
	BPF_CLANG=$(BPF_CLANG) BPF_STRIP=$(BPF_STRIP) $(GO) generate ./bpf/

# Run every fuzzer for FUZZTIME each; new crashers land in testdata/fuzz.
# (go test -fuzz takes one target of one package at a time.)
FUZZERS := $(shell grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -H '^func Fuzz' | sed -E 's|^\./(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*).*|\1:\2|' | sort -u)
fuzz:
	@set -e; for f in $(FUZZERS); do \
		pkg=$${f%%:*}; fn=$${f##*:}; \
		echo "fuzz ./$$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg/; \
	done

deps:
	scripts/deps test

clean:
	rm -rf bin
