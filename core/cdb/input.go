package cdb

import (
	"errors"
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Input is one thing that happened, given to Step. The set is closed: only
// this package's types below implement it.
type Input interface{ input() }

// Hold is an Agreed delivery of a payload from bcast (step 2 of the
// package comment): the update is appended to the log as a tentative entry
// and comes out in Persist.Entries. The driver makes it durable before it
// sends bcast's acknowledgement of it, so a Safe delivery means every
// member of the view holds it on disk.
type Hold Delivery

// Commit is the Safe delivery of a payload given as Hold before (step 3):
// the oldest tentative entry, which must be the same (view, seq), is
// applied and its client answered.
type Commit Delivery

// BeginAdopt starts the adoption of Source's history for the new primary
// view View (Source is ChooseSource over the view's promises). The driver
// gives it on every member once the view is installed and bcast's flush of
// the old view has been given as Hold and Commit, and before it gives any
// message of the new view; it gives them once CatchingUp is false.
type BeginAdopt struct {
	View   wire.ViewID
	Source wire.NodeID
}

// Receive is a history-transfer message (Fetch or Chunk) from peer From.
type Receive struct {
	From wire.NodeID
	Msg  Message
}

func (Hold) input()       {}
func (Commit) input()     {}
func (BeginAdopt) input() {}
func (Receive) input()    {}

// Step takes one input. It returns an error for an input it refuses: a
// Hold during an adoption, a Commit that does not match the next tentative
// entry, a payload that does not decode. now is not used today (the DB has
// no timers); it keeps the shape of every core.
func (d *DB) Step(_ time.Duration, in Input) error {
	switch in := in.(type) {
	case Hold:
		return d.hold(Delivery(in))
	case Commit:
		return d.commit(Delivery(in))
	case BeginAdopt:
		d.beginAdopt(in.View, in.Source)
	case Receive:
		d.receive(in.From, in.Msg)
	default:
		return fmt.Errorf("cdb: input %T: %w", in, ErrUnknownInput)
	}
	return nil
}

// ErrUnknownInput is Step's error for an input it does not know (nil).
var ErrUnknownInput = errors.New("unknown input")
