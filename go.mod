module github.com/vigil-dev/vigil

go 1.26.8

require golang.org/x/sys v0.49.0

require github.com/cilium/ebpf v0.22.0 // indirect

tool github.com/cilium/ebpf/cmd/bpf2go
