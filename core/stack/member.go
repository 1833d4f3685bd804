package stack

import (
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/wire"
)

// openMembership builds the membership core from the persisted state.
func (s *Stack) openMembership(saved []byte) error {
	var p membership.Persisted
	if saved != nil {
		var err error
		if p, err = membership.UnmarshalPersisted(saved); err != nil {
			return fmt.Errorf("membership: %w", err)
		}
	}
	mc := s.cfg.Membership
	s.flush = s.flusher()
	mc.Flusher = s.flush
	mc.Persisted, mc.Start = p, s.cfg.Start
	m, err := membership.New(mc)
	if err != nil {
		return err
	}
	s.mem = m
	return nil
}

// SetState asks for this node's own state: online (resume), paused or
// leaving. Before membership announces a leave (the survivors release a
// leaver at once), the lock manager gives up every lock this node holds
// (View.Lost) and takes no more until another state is asked for.
func (s *Stack) SetState(now time.Duration, st membership.State) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	s.dlm.leaving = st == membership.StateLeaving
	s.dlmView(now)
	s.crmResumed(now, st)
	return s.mem.Step(now, membership.SetState{State: st})
}

// crmResumed tells the resource manager that this node is resumed
// (online): a drain it asked before a clean leave ends (crm.Resumed).
func (s *Stack) crmResumed(now time.Duration, st membership.State) {
	if st == membership.StateOnline {
		s.crmStep(now, crm.Resumed{}, "resume")
	}
}

// AskState asks a peer, over its circuit, for a state (online, paused,
// leaving); the view that follows shows the result.
func (s *Stack) AskState(now time.Duration, to wire.NodeID, st membership.State) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	_, err := s.conn.Send(now, to, wire.Encode(&wire.SetState{State: uint8(st), To: to}))
	return err
}

// Send queues an application message to a peer on its circuit; it
// returns the message's id (as conn's undeliverable events name it).
func (s *Stack) Send(now time.Duration, to wire.NodeID, data []byte) (uint64, error) {
	if s.stop != nil {
		return 0, ErrStopped
	}
	s.advanceClock(now)
	return s.conn.Send(now, to, wire.Encode(&wire.User{Payload: data}))
}

// Broadcast sends payload to every member of the view in one total order
// (ordered broadcast with virtual synchrony); every member's
// Ready.Deliveries has it, agreed then safe.
func (s *Stack) Broadcast(payload []byte) (bcast.MsgID, error) {
	if s.stop != nil {
		return bcast.MsgID{}, ErrStopped
	}
	return s.bc.Broadcast(append([]byte{tagApp}, payload...))
}
