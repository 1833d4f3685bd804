package node

import (
	"context"

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
