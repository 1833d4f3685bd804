package bcast

import (
	"fmt"

	"github.com/corral-ha/corral/core/wire"
)

// Hooks adapts a Bcast to membership's Flusher: the flush state, the plan
// and the install, as the bytes that travel in promises and commits.
type Hooks struct {
	B *Bcast
}

// Propose implements membership.Flusher.
func (h Hooks) Propose(id wire.ViewID) []byte {
	st := h.B.Propose(id)
	return st.Append(nil)
}

// Complete implements membership.Flusher.
func (h Hooks) Complete(v wire.View, states [][]byte) ([]byte, error) {
	sts := make([]FlushState, len(states))
	for i, b := range states {
		r := wire.NewReader(b)
		if err := sts[i].Decode(r); err != nil {
			return nil, fmt.Errorf("bcast: flush state of n%d: %w", v.Members[i], err)
		}
		if r.Len() != 0 {
			return nil, fmt.Errorf("bcast: flush state of n%d: %d trailing bytes", v.Members[i], r.Len())
		}
	}
	plan, err := Complete(v, sts)
	if err != nil {
		return nil, err
	}
	return plan.Append(nil), nil
}

// Install implements membership.Flusher.
func (h Hooks) Install(v wire.View, plan []byte) error {
	var p Plan
	r := wire.NewReader(plan)
	if err := p.Decode(r); err != nil {
		return fmt.Errorf("bcast: plan: %w", err)
	}
	return h.B.Install(v, p)
}
