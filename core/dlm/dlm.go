package dlm

import (
	"math/rand/v2"
	"time"
)

// DLM is one node's lock manager (see the package comment).
type DLM struct {
	cfg Config
	rng *rand.Rand
}

// New returns a node's lock manager.
func New(cfg Config, rng *rand.Rand) (*DLM, error) { return &DLM{cfg: cfg, rng: rng}, nil }

// Step takes one input.
func (d *DLM) Step(now time.Duration, in Input) error { return ErrStopped }

// Lock asks for a new lock or a conversion.
func (d *DLM) Lock(now time.Duration, r Request) (LockID, error) { return 0, ErrStopped }

// Unlock releases, cancels or force-unlocks a lock.
func (d *DLM) Unlock(now time.Duration, id LockID, flags Flags, lvb []byte) error { return ErrStopped }

// Tick lets time pass.
func (d *DLM) Tick(now time.Duration) {}

// HasReady reports whether Ready has anything.
func (d *DLM) HasReady() bool { return false }

// Ready returns what to do.
func (d *DLM) Ready() Ready { return Ready{} }

// Advance acknowledges the last Ready.
func (d *DLM) Advance() {}

// Locks describes what this node holds.
func (d *DLM) Locks(lockspace string) []ResourceInfo { return nil }
