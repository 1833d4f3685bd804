package node

import (
	"context"
	"fmt"
	"sync"
)

// AgentStatus is a resource agent call's outcome. It mirrors the Lua
// host's statuses (package lua: StatusOK, StatusNotRunning, StatusFailed,
// StatusConfig, StatusTimeout), in the same order.
type AgentStatus int

// Agent call outcomes.
const (
	StatusOK AgentStatus = iota
	StatusNotRunning
	StatusFailed
	StatusConfig
	StatusTimeout
)

// Outcome is what an agent call returned (the Lua host's lua.Outcome).
type Outcome struct {
	Status  AgentStatus
	Message string
}

// Executor runs resource agents off the event loop: the Lua host in
// production. params are the resource's parameters plus "instance", the
// resource's name (like OCF_RESOURCE_INSTANCE). ctx carries the call's
// deadline (the resource's timeout for the action). An error is a call
// that could not be made (reported as failed with its text).
type Executor interface {
	RunAgent(ctx context.Context, agent, action string, params map[string]string) (Outcome, error)
}

// InstanceParam is the parameter that names the resource in agent calls.
const InstanceParam = "instance"

// DummyExecutor is an in-memory stand-in for the Lua host with one agent,
// "dummy" (like ocf:heartbeat:Dummy, without a state file): start marks
// the instance running, stop not running, monitor reports which. Any other
// agent is a configuration error. Kill and FailStarts let tests fail
// instances. Safe for concurrent use.
type DummyExecutor struct {
	mu        sync.Mutex
	running   map[string]bool
	failStart map[string]bool
	calls     int
}

// NewDummyExecutor returns an executor with nothing running.
func NewDummyExecutor() *DummyExecutor {
	return &DummyExecutor{running: map[string]bool{}, failStart: map[string]bool{}}
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
