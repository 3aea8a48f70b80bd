// Package metric names the Prometheus metrics whisgee serves beyond the
// Envoy-named ones of its admin endpoint (proxyctl/admin: envoy_http_*,
// envoy_cluster_*, envoy_server_*): the supervisor's view of each worker.
// The admin endpoint's /stats/prometheus, the alerting rules and the
// Grafana dashboard (fleet/prom, assets/prometheus, assets/grafana) all
// take the names from here, so they cannot drift apart.
//
// It is a leaf package (the standard library only), so that the engines
// that serve these metrics and the renderers that query them can both
// import it. AppendWorkers renders the families in the Prometheus text
// format:
//
//	b = metric.AppendWorkers(b, states, []metric.Worker{{ID: 0, Name: "worker-0", State: "running", Up: true}})
package metric

import (
	"strconv"
	"strings"
)

// The worker families. Every series carries the labels worker (the id,
// stable across restarts) and name; WorkerState also carries state.
const (
	// WorkerUp is 1 while the worker serves: its process runs and passed
	// its last health check; else 0.
	WorkerUp = "whisgee_worker_up"
	// WorkerState is one series per state a worker can be in, 1 for its
	// current state and 0 for the others (so a change of state is a change
	// of value, not a new series).
	WorkerState = "whisgee_worker_state"
	// WorkerRestartsTotal counts the processes started for the worker
	// after its first one (crashes, restarts, reloads).
	WorkerRestartsTotal = "whisgee_worker_restarts_total"
	// WorkerCPUSecondsTotal is the CPU time (user and system) the worker's
	// processes used, summed over the processes it has had.
	WorkerCPUSecondsTotal = "whisgee_worker_cpu_seconds_total"
	// WorkerResidentMemoryBytes is the resident memory of the worker's
	// current process (0 when none runs).
	WorkerResidentMemoryBytes = "whisgee_worker_resident_memory_bytes"
	// WorkerLastExitCode is the exit status of the worker's last process
	// to end, negative for a signal (-9 for SIGKILL); absent before any
	// process of the worker ended.
	WorkerLastExitCode = "whisgee_worker_last_exit_code"
)

// Label names of the worker families.
const (
	LabelWorker = "worker"
	LabelName   = "name"
	LabelState  = "state"
)

// Family describes one metric family.
type Family struct {
	// Name is the family's name.
	Name string
	// Type is counter or gauge.
	Type string
	// Help is its # HELP text.
	Help string
	// Labels are its label names, in the order they are written.
	Labels []string
}

// WorkerFamilies lists the worker families in the order AppendWorkers
// writes them.
func WorkerFamilies() []Family {
	wn := []string{LabelWorker, LabelName}
	return []Family{
		{WorkerUp, "gauge", "1 while the worker serves (process running, last health check passed).", wn},
		{WorkerState, "gauge", "1 for the worker's current state, 0 for the other states.", append(wn, LabelState)},
		{WorkerRestartsTotal, "counter", "Processes started for the worker after its first.", wn},
		{WorkerCPUSecondsTotal, "counter", "CPU seconds (user+system) used by the worker's processes.", wn},
		{WorkerResidentMemoryBytes, "gauge", "Resident memory of the worker's current process.", wn},
		{WorkerLastExitCode, "gauge", "Exit status of the worker's last ended process (negative: the signal).", wn},
	}
}

// Worker is one worker's values, as the supervisor reports them.
type Worker struct {
	// ID is the worker's id (the worker label).
	ID int
	// Name is the worker's name (the name label).
	Name string
	// State is its current state, one of the states given to
	// AppendWorkers.
	State string
	// Up: the worker's process runs and passed its last health check.
	Up bool
	// Restarts counts processes started after the first.
	Restarts uint64
	// CPUSeconds is the CPU time its processes used.
	CPUSeconds float64
	// ResidentBytes is its current process's resident memory.
	ResidentBytes uint64
	// Exited says a process of the worker has ended, so LastExitCode holds.
	Exited bool
	// LastExitCode is that process's exit status, negative for a signal.
	LastExitCode int
}

// AppendWorkers appends the worker families to b in the Prometheus text
// format (version 0.0.4), with # HELP and # TYPE lines. states are every
// state a worker can be in (supervisor's State constants): each worker
// gets one WorkerState series per state.
func AppendWorkers(b []byte, states []string, workers []Worker) []byte {
	for _, f := range WorkerFamilies() {
		b = append(b, "# HELP "+f.Name+" "+f.Help+"\n# TYPE "+f.Name+" "+f.Type+"\n"...)
		for i := range workers {
			w := &workers[i]
			labels := LabelWorker + `="` + strconv.Itoa(w.ID) + `",` + LabelName + `="` + escape(w.Name) + `"`
			series := func(extra, value string) {
				b = append(b, f.Name+"{"+labels+extra+"} "+value+"\n"...)
			}
			switch f.Name {
			case WorkerUp:
				series("", boolValue(w.Up))
			case WorkerState:
				for _, s := range states {
					series(","+LabelState+`="`+escape(s)+`"`, boolValue(s == w.State))
				}
			case WorkerRestartsTotal:
				series("", strconv.FormatUint(w.Restarts, 10))
			case WorkerCPUSecondsTotal:
				series("", strconv.FormatFloat(w.CPUSeconds, 'g', -1, 64))
			case WorkerResidentMemoryBytes:
				series("", strconv.FormatUint(w.ResidentBytes, 10))
			case WorkerLastExitCode:
				if w.Exited {
					series("", strconv.Itoa(w.LastExitCode))
				}
			}
		}
	}
	return b
}

func boolValue(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// escape is a label value as the text format writes it.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
