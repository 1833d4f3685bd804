package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/corral-ha/corral/lua"
)

// AgentStatus is a resource agent call's outcome: the Lua host's status
// (lua.StatusOK, StatusNotRunning, StatusFailed, StatusConfig,
// StatusTimeout).
type AgentStatus = lua.Status

// Agent call outcomes (package lua's).
const (
	StatusOK         = lua.StatusOK
	StatusNotRunning = lua.StatusNotRunning
	StatusFailed     = lua.StatusFailed
	StatusConfig     = lua.StatusConfig
	StatusTimeout    = lua.StatusTimeout
)

// Outcome is what an agent call returned (the Lua host's lua.Outcome).
type Outcome = lua.Outcome

// Executor runs resource agents off the event loop: the node's Lua host
// (*lua.Host) unless Options.Executor names another. params are the
// resource's parameters plus the call context, keys starting with "_"
// (lua/doc.go): "_resource" (InstanceParam, the resource's name, like
// OCF_RESOURCE_INSTANCE), "_group", "_node" (this node's name),
// "_address" (its first address), "_state_dir" (a directory of this
// node's for the agents' state files: two nodes on one machine never
// share one) and, for monitors, "_interval" (ms). ctx carries the call's
// deadline (the resource's timeout for the action). An error is a call
// that could not be made (reported as failed with its text).
type Executor interface {
	RunAgent(ctx context.Context, agent, action string, params map[string]string) (Outcome, error)
}

// InstanceParam is the call context key that names the resource in agent
// calls (the agent's info.resource).
const InstanceParam = "_resource"

// Call context keys the node adds to every agent call (see Executor).
const (
	GroupParam    = "_group"
	NodeParam     = "_node"
	AddressParam  = "_address"
	StateDirParam = "_state_dir"
	IntervalParam = "_interval"
)

// DummyExecutor is an in-memory stand-in for the Lua host with one agent,
// "dummy" (like ocf:heartbeat:Dummy, without a state file): start marks
// the instance running, stop not running, monitor reports which. Any other
// agent is a configuration error. Kill and FailStarts let tests fail
// instances. Safe for concurrent use.
type DummyExecutor struct {
	mu        sync.Mutex
	running   map[string]bool
	failStart map[string]bool
	failStop  map[string]bool
	calls     int
}

// NewDummyExecutor returns an executor with nothing running.
func NewDummyExecutor() *DummyExecutor {
	return &DummyExecutor{running: map[string]bool{}, failStart: map[string]bool{}, failStop: map[string]bool{}}
}

// RunAgent implements Executor.
func (d *DummyExecutor) RunAgent(ctx context.Context, agent, action string, params map[string]string) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return Outcome{Status: StatusTimeout, Message: err.Error()}, nil
	}
	if agent != "dummy" {
		return Outcome{Status: StatusConfig, Message: fmt.Sprintf("agent %q is not available here (only the built-in dummy; the Lua host runs the others)", agent)}, nil
	}
	inst := params[InstanceParam]
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	switch action {
	case "start":
		if d.failStart[inst] {
			return Outcome{Status: StatusFailed, Message: "dummy: start of " + inst + " fails here"}, nil
		}
		d.running[inst] = true
	case "stop":
		if d.failStop[inst] {
			return Outcome{Status: StatusFailed, Message: "dummy: stop of " + inst + " fails here"}, nil
		}
		d.running[inst] = false
	case "monitor":
		if !d.running[inst] {
			return Outcome{Status: StatusNotRunning, Message: "dummy: " + inst + " is not running"}, nil
		}
	default:
		return Outcome{Status: StatusConfig, Message: "dummy: no action " + action}, nil
	}
	return Outcome{Status: StatusOK}, nil
}

// Running reports whether an instance runs.
func (d *DummyExecutor) Running(inst string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running[inst]
}

// Kill makes an instance stop running behind the cluster's back (its next
// monitor fails).
func (d *DummyExecutor) Kill(inst string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.running[inst] = false
}

// KillAll stops every instance (the node's processes died with it).
func (d *DummyExecutor) KillAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.running = map[string]bool{}
}

// FailStarts makes starts of an instance fail (or succeed again).
func (d *DummyExecutor) FailStarts(inst string, fail bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failStart[inst] = fail
}

// FailStops makes stops of an instance fail, leaving it running (or
// succeed again).
func (d *DummyExecutor) FailStops(inst string, fail bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failStop[inst] = fail
}
