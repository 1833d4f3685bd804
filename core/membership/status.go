package membership

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// Status is this node's membership as the shell shows it.
type Status struct {
	View     wire.View
	Primary  bool
	Quorate  bool // primary view, lease held, takeover wait passed
	Leased   bool // holds a lease: its view's, or the previous primary view's carried over
	Self     State
	States   map[wire.NodeID]State // members' states in the installed view
	Pending  wire.ViewID           // promised, not yet committed (zero: none)
	Decision quorum.Decision       // the installed view's quorum arithmetic
	Lineage  wire.Lineage
	// Refused are the peers refused because their quorum settings differ
	// from ours, with what differs (EventConfigDiffers says it once per
	// change; the driver may repeat it while it lasts).
	Refused map[wire.NodeID]string
}

// Status returns this node's membership state.
func (m *Membership) Status() Status {
	st := Status{View: wire.View{ID: m.st.Installed.ID, Members: slices.Clone(m.st.Installed.Members)},
		Primary: m.st.Primary, Quorate: m.quorate, Leased: m.held, Self: m.self, States: map[wire.NodeID]State{}, Lineage: m.lineage()}
	for i, id := range m.st.Installed.Members {
		st.States[id] = m.st.States[i]
	}
	if m.pending != nil {
		st.Pending = m.pending.View.ID
	}
	for id, theirs := range m.refused {
		if st.Refused == nil {
			st.Refused = map[wire.NodeID]string{}
		}
		st.Refused[id] = diffSettings(m.settings, theirs)
	}
	if len(st.View.Members) > 0 {
		st.Decision = quorum.Decide(m.cfg.Quorum, st.View.Members, m.lineageOf(m.knownMembers()))
	} else {
		st.Decision = quorum.Decide(m.cfg.Quorum, []wire.NodeID{m.cfg.Self}, quorum.Lineage{})
	}
	return st
}

// Installed returns the installed view and whether it is primary: what
// Status says of them without its cost (no copies, no quorum decision), for
// callers that ask every round. Members is membership's own slice: read
// it, never change or keep it.
func (m *Membership) Installed() (wire.View, bool) {
	return m.st.Installed, m.st.Primary
}

// knownMembers is the installed view's members whose lineage this node
// knows (itself and those that reported).
func (m *Membership) knownMembers() []wire.NodeID {
	var out []wire.NodeID
	for _, id := range m.st.Installed.Members {
		if id == m.cfg.Self || m.reports[id] != nil {
			out = append(out, id)
		}
	}
	return out
}

// Quorate reports whether this node may act as primary at now: its view
// is primary, its lease holds and the takeover wait has passed. Ask it at
// the moment of acting; the quorum events may lag it by a tick.
func (m *Membership) Quorate(now time.Duration) bool {
	return m.acting(max(now, m.now))
}

// Leased reports whether this node holds a lease at now: a quorum of its
// installed primary view answered it in time, or it was a member of the
// primary view installed before and that view's lease still holds
// (continuity, corral help design). A node keeps running what it runs
// while it holds a lease; it takes over from excluded nodes only once
// Quorate (or a fence is confirmed).
func (m *Membership) Leased(now time.Duration) bool {
	_, ok := m.leased(max(now, m.now))
	return ok
}

// LeaseView is the view whose lease Leased reports: the installed one, or
// the previous primary view while its carried lease holds.
func (m *Membership) LeaseView(now time.Duration) (wire.ViewID, bool) {
	return m.leased(max(now, m.now))
}

// LeaseExpiry is when the lease Leased reports lapses by this node's clock
// if no answer comes meanwhile: the first time at or after now at which
// Leased is false (ok false when Leased(now) is: no lease held). Leased(t)
// holds for every t in [now, expiry) unless an input changes the state
// (an answer only extends it; a view change or a state change may end it
// sooner: ask again after each). A lease that no clock ends (a single
// node's own vote) expires at the largest time.Duration. The fast path of
// a served disk serves only before it (core/stack).
func (m *Membership) LeaseExpiry(now time.Duration) (time.Duration, bool) {
	now = max(now, m.now)
	if _, ok := m.leased(now); !ok {
		return 0, false
	}
	// The answers only lapse: the lease can end only when one of them
	// (or the witness's vote) does, at its own time (ackUntil > t).
	var times []time.Duration
	for _, t := range m.ackUntil {
		times = append(times, t)
	}
	if m.carry != nil {
		for _, t := range m.carry.ackUntil {
			times = append(times, t)
		}
	}
	times = append(times, m.witness.until)
	slices.Sort(times)
	for _, t := range times {
		if t <= now {
			continue
		}
		if _, ok := m.leased(t); !ok {
			return t, true
		}
	}
	return time.Duration(math.MaxInt64), true
}

// ViewLeased reports whether a quorum of the installed primary view itself
// answered this node in time (no carried lease, no takeover wait): the
// coordinator of a new view starts fencing with it.
func (m *Membership) ViewLeased(now time.Duration) bool {
	return m.viewLeased(max(now, m.now))
}

// Reaches reports whether peer is reachable both ways now (as conn last
// said).
func (m *Membership) Reaches(peer wire.NodeID) bool { return m.reach[peer] }

// Left reports whether this node's clean leave was committed.
func (m *Membership) Left() bool { return m.left }

// Marshal encodes what must be persisted.
func (p Persisted) Marshal() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("membership: marshal persisted state: %v", err)) // plain data: cannot fail
	}
	return b
}

// UnmarshalPersisted decodes Persisted.Marshal's output.
func UnmarshalPersisted(b []byte) (Persisted, error) {
	var p Persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return Persisted{}, fmt.Errorf("membership: persisted state: %w", err)
	}
	return p, nil
}
