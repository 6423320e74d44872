// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/driver"
)

// The in-kernel filter (c/filter.h): driver.KernelFilter as the probe's
// globals. A nil filter turns it off.

const kfWords = 8 // c/filter.h KF_WORDS

func filterValues(f *driver.KernelFilter) map[string]any {
	var (
		on, sockAll, connAll uint32
		openAll, openSuccess uint8
		n                    uint32
		lens, types, needs   [driver.KFMaxTerms]uint8
		pfx, mask            [driver.KFMaxTerms][kfWords]uint64
		sockRule, sockState  uint64
		connRule, connState  uint64
	)
	if f != nil {
		on = 1
		openAll, openSuccess = f.OpenAll, f.OpenSuccess
		for i, t := range f.OpenTerms {
			if i >= driver.KFMaxTerms {
				break // Valid refused it before
			}
			var b, m [kfWords * 8]byte
			k := copy(b[:driver.KFPrefixMax], t.Prefix)
			for j := 0; j < k; j++ {
				m[j] = 0xff
			}
			for w := range pfx[i] {
				pfx[i][w] = binary.LittleEndian.Uint64(b[w*8:])
				mask[i][w] = binary.LittleEndian.Uint64(m[w*8:])
			}
			lens[i], types[i], needs[i] = uint8(min(len(t.Prefix), driver.KFPrefixMax)), t.Types, t.Need
			n++
		}
		if f.Socket.All {
			sockAll = 1
		}
		if f.Connect.All {
			connAll = 1
		}
		sockRule, sockState = f.Socket.Rule, f.Socket.State
		connRule, connState = f.Connect.Rule, f.Connect.State
	}
	return map[string]any{
		probeVarCfgKfOn: on, probeVarCfgKfOpenAll: openAll, probeVarCfgKfOpenSuccess: openSuccess,
		probeVarCfgKfNterms: n, probeVarCfgKfTermLen: lens, probeVarCfgKfTermTypes: types,
		probeVarCfgKfTermNeed: needs, probeVarCfgKfTermPfx: pfx, probeVarCfgKfTermMask: mask,
		probeVarCfgKfSockAll: sockAll, probeVarCfgKfSockRule: sockRule, probeVarCfgKfSockState: sockState,
		probeVarCfgKfConnAll: connAll, probeVarCfgKfConnRule: connRule, probeVarCfgKfConnState: connState,
	}
}

// filterVars are the loaded probe's filter globals, by name.
func (p *Probe) filterVars() map[string]*ebpf.Variable {
	o := &p.objs
	return map[string]*ebpf.Variable{
		probeVarCfgKfOn: o.CfgKfOn, probeVarCfgKfOpenAll: o.CfgKfOpenAll, probeVarCfgKfOpenSuccess: o.CfgKfOpenSuccess,
		probeVarCfgKfNterms: o.CfgKfNterms, probeVarCfgKfTermLen: o.CfgKfTermLen, probeVarCfgKfTermTypes: o.CfgKfTermTypes,
		probeVarCfgKfTermNeed: o.CfgKfTermNeed, probeVarCfgKfTermPfx: o.CfgKfTermPfx, probeVarCfgKfTermMask: o.CfgKfTermMask,
		probeVarCfgKfSockAll: o.CfgKfSockAll, probeVarCfgKfSockRule: o.CfgKfSockRule, probeVarCfgKfSockState: o.CfgKfSockState,
		probeVarCfgKfConnAll: o.CfgKfConnAll, probeVarCfgKfConnRule: o.CfgKfConnRule, probeVarCfgKfConnState: o.CfgKfConnState,
	}
}

// setFilter writes the filter into the loaded probe. Turning it off goes
// first and on last, so that no event sees half of one filter and half
// of another as a whole (a run between two writes may still mix terms:
// only ever keeping more or fewer events than either filter, each of
// which keeps all a rule can match).
func (p *Probe) setFilter(f *driver.KernelFilter) error {
	if err := f.Valid(); err != nil {
		return err
	}
	vals := filterValues(f)
	vars := p.filterVars()
	if err := vars[probeVarCfgKfOn].Set(uint32(0)); err != nil {
		return fmt.Errorf("set probe %s: %w", probeVarCfgKfOn, err)
	}
	for name, v := range vals {
		if name == probeVarCfgKfOn {
			continue
		}
		if err := vars[name].Set(v); err != nil {
			return fmt.Errorf("set probe %s: %w", name, err)
		}
	}
	if err := vars[probeVarCfgKfOn].Set(vals[probeVarCfgKfOn]); err != nil {
		return fmt.Errorf("set probe %s: %w", probeVarCfgKfOn, err)
	}
	return nil
}

// filtered sums the per-CPU count of events the filter discarded.
func (p *Probe) filtered() (uint64, error) {
	var per []uint64
	if err := p.objs.KfStats.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("read probe filter counters: %w", err)
	}
	var n uint64
	for _, c := range per {
		n += c
	}
	return n, nil
}
