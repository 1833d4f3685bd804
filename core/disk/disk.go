package disk

import (
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Core is one node's disk core: the client half (this node's requests on
// every disk) and the server half (the disks it serves). SKELETON: the
// bodies are being written (issue 19); the signatures are fixed.
type Core struct {
	cfg Config
	rd  Ready
}

// New returns a core.
func New(cfg Config) (*Core, error) { return &Core{cfg: cfg.withDefaults()}, nil }

// Step takes one input.
func (c *Core) Step(now time.Duration, in Input) error { return nil }

// Submit takes a client request of this node's export; its Done comes in
// a later Ready.
func (c *Core) Submit(now time.Duration, r Request) error { return nil }

// Tick lets time pass (retry deadlines).
func (c *Core) Tick(now time.Duration) {}

// HasReady reports whether Ready has anything.
func (c *Core) HasReady() bool { return false }

// Ready returns what the driver must do (see Ready); call Advance after.
func (c *Core) Ready() Ready { return c.rd }

// Advance says the last Ready was carried out.
func (c *Core) Advance() { c.rd = Ready{Fenced: c.rd.Fenced} }

// Status reports every disk, sorted by name.
func (c *Core) Status() []Status { return nil }

// Fenced reports whether the barrier of view v is complete here.
func (c *Core) Fenced(v wire.ViewID) bool { return true }
