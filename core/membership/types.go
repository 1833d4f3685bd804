package membership

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// State is a node's membership state (as NT clusters': Offline, Online, Paused;
// plus joining and leaving around them, and fenced).
type State uint8

// Node states. The values travel on the wire: append only.
const (
	StateJoining State = iota + 1 // running, not in a view yet
	StateOnline                   // member, runs work
	StatePaused                   // member, votes, runs nothing new
	StateLeaving                  // asked to leave cleanly
	StateOffline                  // not in this node's view
	StateFenced                   // confirmed fenced (set by the fencing layer)
)

var stateNames = [...]string{"", "joining", "online", "paused", "leaving", "offline", "fenced"}

func (s State) String() string {
	if int(s) < len(stateNames) && s != 0 {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Flusher is the layer above membership that must agree, at every view
// change, on what was delivered in the old view before the new one is
// installed (core/bcast: virtual synchrony). Membership calls it inside
// its own inputs; an implementation is a pure state machine too.
type Flusher interface {
	// Propose: this node promises proposal id; the state returned travels
	// in the promise to the coordinator.
	Propose(id wire.ViewID) []byte
	// Complete runs on the coordinator once every member promised, with
	// their states in member order; the plan travels in the commit. An
	// error stops the commit (the view is proposed again).
	Complete(v wire.View, states [][]byte) ([]byte, error)
	// Install: this node installs v (the proposal it promised last),
	// before anything else of v happens.
	Install(v wire.View, plan []byte) error
}

// Config configures a Membership. Zero durations take defaults.
type Config struct {
	Self   wire.NodeID
	Nodes  []wire.NodeID // every configured node, this one included
	Quorum quorum.Config
	// Persisted is what this node persisted last (Ready.Persist; the zero
	// Persisted for a new node).
	Persisted Persisted
	// Start is when this incarnation starts, on the driver's clock.
	Start time.Duration
	// Flusher, when set, completes the old views at every view change.
	Flusher Flusher
	// Witness says a witness (arbiter) is configured: ties are settled by
	// asking it (Ready.Witness, answered with WitnessAnswer).
	Witness bool
	// WitnessWait is how long a coordinator facing a tie waits for the
	// witness's answer before it proposes a non-primary view.
	WitnessWait time.Duration

	Heartbeat time.Duration // [timers] heartbeat
	Lease     time.Duration // T_lease
	// LeaseEvery is the lease request period: several requests per lease,
	// so one lost request or answer does not cost the lease.
	LeaseEvery time.Duration
	Margin     time.Duration // added to lease waits
	Drift      float64       // ρ, clock rate error bound

	// ReportEvery is how often a node repeats its report unchanged.
	ReportEvery time.Duration
	// Settle is how long a coordinator waits after a reachability change
	// before it proposes, so that changes seen together make one view.
	Settle time.Duration
	// ProposeTimeout abandons a proposal that not every member promised.
	ProposeTimeout time.Duration
	// DeferTimeout is how long a node waits for a lower coordinator to
	// bring it into a view before it ignores that coordinator.
	DeferTimeout time.Duration
}

func (c *Config) fillDefaults() {
	if c.Heartbeat == 0 {
		// corral help config: [timers] heartbeat.
		c.Heartbeat = 100 * time.Millisecond
	}
	if c.Lease == 0 {
		// [timers] lease: more than 2 heartbeats.
		c.Lease = 500 * time.Millisecond
	}
	if c.LeaseEvery == 0 {
		// Four chances per lease, and never more often than heartbeats.
		c.LeaseEvery = max(c.Heartbeat, c.Lease/4)
	}
	if c.Margin == 0 {
		// [timers] margin.
		c.Margin = 100 * time.Millisecond
	}
	if c.Drift == 0 {
		// [timers] drift: 1 %.
		c.Drift = 0.01
	}
	if c.ReportEvery == 0 {
		// Changes are reported at once; this only repairs losses.
		c.ReportEvery = time.Second
	}
	if c.Settle == 0 {
		// Long enough for conn events of one failure, seen by several
		// nodes, to arrive together.
		c.Settle = 30 * time.Millisecond
	}
	if c.WitnessWait == 0 {
		// A few round trips to the arbiter.
		c.WitnessWait = time.Second
	}
	if c.ProposeTimeout == 0 {
		// Several round trips and a retransmission or two.
		c.ProposeTimeout = time.Second
	}
	if c.DeferTimeout == 0 {
		// Two proposal rounds of the lower coordinator.
		c.DeferTimeout = 2 * time.Second
	}
}

func (c *Config) validate() error {
	if !slices.Contains(c.Nodes, c.Self) {
		return fmt.Errorf("membership: node %d is not in the node list", c.Self)
	}
	if err := c.Quorum.Validate(); err != nil {
		return fmt.Errorf("membership: %w", err)
	}
	if c.Lease <= 2*c.Heartbeat {
		return fmt.Errorf("membership: lease %v must exceed 2 heartbeats (%v)", c.Lease, 2*c.Heartbeat)
	}
	return nil
}

// Persisted is what a node must keep across restarts. The driver writes
// Ready.Persist durably (fsync) before it sends Ready.Messages, and hands
// the last one written to New at the next start.
type Persisted struct {
	Promise   wire.ViewID // ignore proposals lower than this
	Epoch     uint64      // highest epoch proposed or seen
	Installed wire.View   // installed view
	Primary   bool        // the installed view is primary
	States    []State     // states of Installed.Members
	Lineage   wire.Lineage
}

// Clone returns a deep copy.
func (p Persisted) Clone() Persisted {
	q := p
	q.Installed.Members = slices.Clone(p.Installed.Members)
	q.States = slices.Clone(p.States)
	q.Lineage.LP.Members = slices.Clone(p.Lineage.LP.Members)
	q.Lineage.Prev.Members = slices.Clone(p.Lineage.Prev.Members)
	q.Lineage.Need = slices.Clone(p.Lineage.Need)
	for i := range q.Lineage.Need {
		q.Lineage.Need[i].Members = slices.Clone(q.Lineage.Need[i].Members)
	}
	return q
}

// EventKind says what happened.
type EventKind uint8

// Event kinds.
const (
	EventViewChanged EventKind = iota + 1
	EventNodeJoined
	EventNodeLeft
	EventNodePaused
	EventNodeResumed
	EventQuorumLost
	EventQuorumRegained
	EventLeft          // this node's clean leave is done
	EventConfigDiffers // a peer's quorum settings differ: it is refused
	EventFlushFailed   // the layer above refused a plan (a bug: logged loudly)
	EventQuorumUnblocked
)

var kindNames = [...]string{"", "view_changed", "node_joined", "node_left", "node_paused", "node_resumed",
	"quorum_lost", "quorum_regained", "left", "config_differs", "flush_failed", "quorum_unblocked"}

func (k EventKind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one membership event.
type Event struct {
	Kind    EventKind
	At      time.Duration
	View    wire.ViewID
	Members []wire.NodeID // view_changed
	Primary bool          // view_changed
	Target  wire.NodeID   // node_*
	Clean   bool          // node_left
	Votes   int           // quorum_*
	Needed  int           // quorum_*
	Detail  string        // config_differs: which setting, ours and theirs
	// quorum_unblocked: View is the view it was given in, Members its
	// members, WrittenOff the nodes written off, Votes the expected votes
	// from now on, Needed the votes the view was judged against before,
	// Target the node the operator gave it on.
	WrittenOff []wire.NodeID
}

func (e Event) String() string {
	switch e.Kind {
	case EventViewChanged:
		return fmt.Sprintf("%v view=%d/%d members=%v primary=%v", e.Kind, e.View.Epoch, e.View.Coord, e.Members, e.Primary)
	case EventNodeLeft:
		return fmt.Sprintf("%v target=%d clean=%v", e.Kind, e.Target, e.Clean)
	case EventQuorumLost, EventQuorumRegained:
		return fmt.Sprintf("%v votes=%d needed=%d", e.Kind, e.Votes, e.Needed)
	case EventLeft:
		return e.Kind.String()
	case EventConfigDiffers:
		return fmt.Sprintf("%v peer=%d %s", e.Kind, e.Target, e.Detail)
	}
	return fmt.Sprintf("%v target=%d", e.Kind, e.Target)
}

// Out is a message to send to a peer over its circuit.
type Out struct {
	To  wire.NodeID
	Msg wire.Message
}

// WitnessReq asks the driver to ask the witness for its vote for View's
// members (Installed: View is installed and primary, record it). The
// driver answers with WitnessAnswer, passing At back.
type WitnessReq struct {
	View      wire.View
	Installed bool
	At        time.Duration // when the request was made, by this node's clock
}

// Ready is what the driver must do, in order.
type Ready struct {
	Persist  *Persisted // write and fsync first
	Messages []Out
	Events   []Event
	Witness  []WitnessReq
}

func idLess(a, b wire.ViewID) bool {
	return a.Epoch < b.Epoch || (a.Epoch == b.Epoch && a.Coord < b.Coord)
}

func sortedIDs(ids []wire.NodeID) []wire.NodeID {
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}
