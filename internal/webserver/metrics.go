// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package webserver

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics' names are Falco's (falcosecurity_*) where Falco has one
// for the same thing, so that dashboards carry over; vigil_* otherwise.
var (
	descVersion   = desc("vigil_version_info", "vigil's version, event schema and driver (always 1).", "version", "schema_version", "driver", "driver_version")
	descEngine    = desc("falcosecurity_scap_engine_name_info", "The driver vigil reads events from (always 1).", "engine_name")
	descEvts      = desc("falcosecurity_scap_n_evts_total", "Events the driver wrote to its buffers.", "driver")
	descDrops     = desc("falcosecurity_scap_n_drops_total", "Events the driver lost because a buffer was full.", "driver")
	descEvtsCPU   = desc("falcosecurity_scap_n_evts_cpu_total", "Events the driver wrote, per CPU.", "driver", "cpu")
	descDropsCPU  = desc("falcosecurity_scap_n_drops_cpu_total", "Events the driver lost for a full buffer, per CPU.", "driver", "cpu")
	descMissed    = desc("vigil_driver_missed_total", "Probe runs the kernel skipped (eBPF recursion protection): events lost before the driver saw them.", "driver")
	descFiltered  = desc("vigil_driver_filtered_total", "Events the in-kernel filter discarded, which no rule and no state tracking could use: neither events nor drops.", "driver")
	descProcessed = desc("vigil_engine_events_total", "Events the engine processed (published every few events).")
	descAlerts    = desc("vigil_engine_alerts_total", "Alerts the rules raised.")
	descMatches   = desc("falcosecurity_falco_rules_matches_total", "Alerts by rule; tags are the rule's, joined by commas.", "rule_name", "priority", "source", "tags")
	descThreads   = desc("vigil_state_threads", "Threads in the engine's state table.")
	descProcs     = desc("vigil_state_processes", "Processes in the engine's state table.")
	descFull      = desc("vigil_state_threads_full_total", "Threads not added because the table was full.")
	descPurged    = desc("vigil_state_threads_purged_total", "Threads dropped because /proc no longer had them (their exit was missed).")
	descProcLoads = desc("vigil_state_proc_loads_total", "Threads read from /proc because no event had told of them.")
	descSent      = desc("vigil_outputs_sent_total", "Alerts an output delivered.", "output")
	descDropped   = desc("vigil_outputs_dropped_total", "Alerts an output dropped for a full queue.", "output")
	descFailed    = desc("vigil_outputs_failed_total", "Alerts an output tried and failed to deliver.", "output")
	descQueued    = desc("vigil_outputs_queued", "Alerts waiting in an output's queue.", "output")
	descQueueDrop = desc("falcosecurity_falco_outputs_queue_num_drops_total", "Alerts dropped for a full output queue, all outputs.")
	descCEntries  = desc("vigil_container_cache_entries", "Containers whose metadata is cached.")
	descCFetches  = desc("vigil_container_lookups_total", "Container metadata fetches from the runtime.")
	descCFailures = desc("vigil_container_lookup_failures_total", "Container metadata fetches that failed (fields read <NA>).")
	descCDropped  = desc("vigil_container_lookups_dropped_total", "Container metadata fetches not queued for a full queue.")
	descRules     = desc("vigil_rules_info", "The loaded rules: sha256 of the rules files in load order (always 1).", "sha256")
	descRulesAt   = desc("vigil_rules_loaded_timestamp_seconds", "When the engine took the rules it runs (start or reload).")
	descReloads   = desc("vigil_rules_reloads_total", "Rule reloads the engine took.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// collector reads every counter when scraped: nothing is counted twice,
// and nothing runs between scrapes.
type collector struct{ s *Server }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVersion, descEngine, descEvts, descDrops, descEvtsCPU, descDropsCPU,
		descMissed, descFiltered, descProcessed, descAlerts, descMatches, descThreads, descProcs, descFull, descPurged, descProcLoads, descSent, descDropped, descFailed,
		descQueued, descQueueDrop, descCEntries, descCFetches, descCFailures, descCDropped, descRules, descRulesAt, descReloads} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	cfg := &c.s.cfg
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descVersion, 1, cfg.Version, cfg.SchemaVersion, cfg.DriverKind, cfg.DriverVersion)
	gauge(descEngine, 1, cfg.DriverKind)
	if st, err := cfg.DriverStats(); err == nil {
		counter(descEvts, st.Events, cfg.DriverKind)
		counter(descDrops, st.Drops, cfg.DriverKind)
		counter(descMissed, st.Missed, cfg.DriverKind)
		counter(descFiltered, st.Filtered, cfg.DriverKind)
		for i, cpu := range st.PerCPU {
			counter(descEvtsCPU, cpu.Events, cfg.DriverKind, strconv.Itoa(i))
			counter(descDropsCPU, cpu.Drops, cfg.DriverKind, strconv.Itoa(i))
		}
	}
	pub := cfg.Engine.Published()
	counter(descProcessed, pub.Events)
	counter(descAlerts, pub.Alerts)
	gauge(descThreads, float64(pub.State.Threads))
	gauge(descProcs, float64(pub.State.Processes))
	counter(descFull, pub.State.Full)
	counter(descPurged, pub.State.Purged)
	counter(descProcLoads, pub.State.ProcLoads)
	c.s.matches.Range(func(k, v any) bool {
		m := k.(matchKey)
		counter(descMatches, v.(*atomic.Uint64).Load(), m.rule, m.priority, m.source, m.tags)
		return true
	})
	var queueDrops uint64
	if cfg.Outputs != nil {
		for _, o := range cfg.Outputs() {
			counter(descSent, o.Sent, o.Name)
			counter(descDropped, o.Dropped, o.Name)
			counter(descFailed, o.Failed+o.Lost, o.Name)
			gauge(descQueued, float64(o.Queued), o.Name)
			queueDrops += o.Dropped
		}
	}
	counter(descQueueDrop, queueDrops)
	if cfg.Containers != nil {
		cs := cfg.Containers()
		gauge(descCEntries, float64(cs.Entries))
		counter(descCFetches, cs.Fetches)
		counter(descCFailures, cs.Failures)
		counter(descCDropped, cs.Dropped)
	}
	r := c.s.rulesNow(pub)
	gauge(descRules, 1, r.sha256)
	gauge(descRulesAt, float64(r.at.UnixNano())/1e9)
	counter(descReloads, pub.Reloads)
}
