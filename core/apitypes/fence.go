package apitypes

import "github.com/corral-ha/corral/core/fence"

// FenceStatus answers GET /v1/fence.
type FenceStatus struct {
	Configured bool           `json:"configured"`
	Action     string         `json:"action"`
	Targets    []FenceTarget  `json:"targets"`
	Devices    []FenceDevice  `json:"devices"`
	Levels     []FenceLevelOf `json:"levels"`
}

// FenceTarget is one node's fencing state.
type FenceTarget struct {
	Target    string `json:"target"`
	Boot      uint64 `json:"boot"`
	State     string `json:"state"` // "", pending, in progress, done, failed
	Confirmed bool   `json:"confirmed"`
	Op        string `json:"op,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Device    string `json:"device,omitempty"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error,omitempty"`
}

// FenceDevice is one configured device (its params are not shown: they
// may hold passwords).
type FenceDevice struct {
	Name    string   `json:"name"`
	Driver  string   `json:"driver"`
	Targets []string `json:"targets,omitempty"`
	Params  []string `json:"params"` // the parameter names
}

// FenceLevelOf is one node's levels, in order.
type FenceLevelOf struct {
	Node     string     `json:"node"`
	Levels   [][]string `json:"levels"`
	Delay    string     `json:"delay,omitempty"`
	Watchdog bool       `json:"watchdog,omitempty"`
}

// FenceRecord is one fence history record: its config DB key, the record
// as the fence core wrote it at /fence/history/... (fence.HistoryRecord,
// see core/fence/doc.go), and when it was written.
type FenceRecord struct {
	Key string `json:"key"`
	fence.HistoryRecord
	// Revision is the config DB revision that wrote the record: the
	// history is in this order, the order the operations ended in.
	Revision uint64 `json:"revision,omitempty"`
	// Time is when the record was written (TimeLayout, as events' times),
	// while the config DB keeps that change's time; else empty.
	Time string `json:"time,omitempty"`
}

// TimeLayout is how the shell's times read (events, cdb history, fence
// history): RFC 3339 in UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FenceRequest is the optional body of POST /v1/fence/NODE.
type FenceRequest struct {
	Reason string `json:"reason,omitempty"` // "": manual
}

// FenceAction answers POST /v1/fence/NODE: the request is broadcast; the
// coordinator carries it out (GET /v1/fence and the events say how).
type FenceAction struct {
	Target string `json:"target"`
	Reason string `json:"reason"`
}
