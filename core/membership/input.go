package membership

import (
	"errors"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Input is one thing that happened, given to Step. The set is closed: only
// this package's types below implement it.
type Input interface{ input() }

// Receive is a membership message from peer From (a wire.Report,
// Propose, Promise, Refuse, Commit, LeaseReq, LeaseAck or Left).
type Receive struct {
	From wire.NodeID
	Msg  wire.Message
}

// Reach says that peer Peer became reachable both ways (Up) or
// unreachable (conn's EventPeerReachable and EventPeerUnreachable).
type Reach struct {
	Peer wire.NodeID
	Up   bool
}

// Restarted says that peer Peer came back with a new boot id: what it
// reported before is void (conn's EventPeerRestarted).
type Restarted struct {
	Peer wire.NodeID
}

// SetState asks for this node's own state: StateOnline, StatePaused or
// StateLeaving; Step refuses any other with ErrBadState.
type SetState struct {
	State State
}

// Unblock is an operator's quorum unblock given in the installed view
// View (not primary): it writes off every configured node outside View
// and makes View the reference its next views are judged against
// (quorum.PlanUnblock; corral help operations). The stack gives it to
// every member of View at the delivery of the operator's broadcast in
// View. Refused (ErrCannotUnblock, wrapped with the reason) when View is
// not the installed view, a view change is under way, or quorum refuses
// (primary already, two_node, no votes).
type Unblock struct {
	View wire.ViewID
	By   wire.NodeID // the node the operator gave it on
}

// WitnessAnswer is the witness's answer to a WitnessReq made at At: its
// vote (Granted) for Members, valid for Lease from the moment it was asked.
type WitnessAnswer struct {
	Members []wire.NodeID
	Granted bool
	Lease   time.Duration
	At      time.Duration
}

func (Receive) input()       {}
func (Reach) input()         {}
func (Restarted) input()     {}
func (SetState) input()      {}
func (WitnessAnswer) input() {}
func (Unblock) input()       {}

var (
	// ErrUnknownNode is Step's error for an input that names this node itself
	// or a node that is not configured where a peer is meant.
	ErrUnknownNode = errors.New("not a configured peer")
	// ErrBadState is Step's error for a SetState a node cannot be asked for.
	ErrBadState = errors.New("a node can be asked only for online, paused or leaving")
	// ErrCannotUnblock is Step's error for an Unblock it refuses.
	ErrCannotUnblock = errors.New("cannot unblock quorum")
	// ErrUnknownInput is Step's error for an input it does not know (nil).
	ErrUnknownInput = errors.New("unknown input")
)
