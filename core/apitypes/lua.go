package apitypes

import (
	"github.com/corral-ha/corral/lua"
)

// AgentsDoc answers GET /v1/agents: the loaded scripts with their
// metadata, and the Lua host's state.
type AgentsDoc struct {
	Scripts []lua.Meta `json:"scripts"` // by kind (resource, fence, policy, handler), then name (built-in agents among them, Builtin set); then the kind's broken files
	Lua     LuaStats   `json:"lua"`
}

// EvalRequest is the body of POST /v1/lua/eval.
type EvalRequest struct {
	Code string `json:"code"`
	// Session, when set, evaluates on that session's own VM (made on first
	// use), so globals carry over between requests: the shell's Lua REPL
	// sends one id for its whole session. Session VMs are sandboxed as
	// eval's are; one idle for 15 minutes ends.
	Session string `json:"session,omitempty"`
	// End, with Session, ends the session (no code needed).
	End bool `json:"end,omitempty"`
}

// EvalResult answers POST /v1/lua/eval: what the code printed, then its
// values, tab-separated.
type EvalResult struct {
	Output string `json:"output"`
}

// ReloadResult answers POST /v1/lua/reload.
type ReloadResult struct {
	lua.Changes
	Message string `json:"message"`
	// Restart names config changes a reload does not apply (a new [lua]
	// paths entry): they need a restart of the node.
	Restart []string `json:"restart,omitempty"`
}

// HandlerStats counts one event handler's calls.
type HandlerStats struct {
	Name      string `json:"name"`
	Calls     uint64 `json:"calls"`
	Failures  uint64 `json:"failures"` // returned false or raised an error
	Timeouts  uint64 `json:"timeouts"` // stopped at handler_timeout
	LastError string `json:"last_error,omitempty"`
	Queued    int    `json:"queued"`  // events waiting in its own queue
	Dropped   uint64 `json:"dropped"` // events it missed: its queue was full
	// Disabled: it passed its deadline handler_disable_after times in a
	// row and gets no events until `reload`.
	Disabled bool `json:"disabled,omitempty"`
}

// LuaStats is the Lua host's state for the API (/v1/agents, /metrics).
type LuaStats struct {
	VMs      int            `json:"vms"`       // VMs the pool holds now
	Busy     int            `json:"busy"`      // calls running now
	PoolSize int            `json:"pool_size"` // [lua] pool_size
	Queue    int            `json:"queue"`     // [lua] handler_queue (the log's queue, and each handler's)
	Queued   int            `json:"queued"`    // events waiting for the handlers now, in every queue
	Events   uint64         `json:"events"`    // events the handlers were given and are done with
	LastSeq  uint64         `json:"last_seq"`  // the highest of them
	Dropped  uint64         `json:"dropped"`   // events dropped: a handler was too slow (once per handler missing one)
	Handlers []HandlerStats `json:"handlers"`  // by name
	Timeout  string         `json:"handler_timeout"`
}
