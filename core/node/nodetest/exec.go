// Package nodetest holds stand-ins for the node's tests: DummyExecutor, an
// in-memory resource agent executor (node.Options.Executor) with one agent.
package nodetest

import (
	"context"
	"fmt"
	"sync"

	"github.com/corral-ha/corral/lua"
)

// instanceParam is node.InstanceParam (the package cannot import node: the
// node's own tests use it; TestDummyExecutor calls it with node.InstanceParam).
const instanceParam = "_resource"

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

// RunAgent implements node.Executor.
func (d *DummyExecutor) RunAgent(ctx context.Context, agent, action string, params map[string]string) (lua.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return lua.Outcome{Status: lua.StatusTimeout, Message: err.Error()}, nil
	}
	if agent != "dummy" {
		return lua.Outcome{Status: lua.StatusConfig, Message: fmt.Sprintf("agent %q is not available here (only the built-in dummy; the Lua host runs the others)", agent)}, nil
	}
	inst := params[instanceParam]
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	switch action {
	case "start":
		if d.failStart[inst] {
			return lua.Outcome{Status: lua.StatusFailed, Message: "dummy: start of " + inst + " fails here"}, nil
		}
		d.running[inst] = true
	case "stop":
		if d.failStop[inst] {
			return lua.Outcome{Status: lua.StatusFailed, Message: "dummy: stop of " + inst + " fails here"}, nil
		}
		d.running[inst] = false
	case "monitor":
		if !d.running[inst] {
			return lua.Outcome{Status: lua.StatusNotRunning, Message: "dummy: " + inst + " is not running"}, nil
		}
	default:
		return lua.Outcome{Status: lua.StatusConfig, Message: "dummy: no action " + action}, nil
	}
	return lua.Outcome{Status: lua.StatusOK}, nil
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
