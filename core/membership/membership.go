package membership

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// Membership is one node's membership state machine. Not safe for
// concurrent use: the driver owns it.
type Membership struct {
	cfg Config
	now time.Duration

	st      Persisted
	dirty   bool          // st changed since the last Ready
	lpSince time.Duration // when Lineage.LP was taken on (restarts count as now)
	startAt time.Duration // when this incarnation started (New)

	self     State // this node's own state
	want     State // requested: online, paused or leaving
	reach    map[wire.NodeID]bool
	reports  map[wire.NodeID]*wire.Report
	joinSeen map[wire.NodeID]time.Duration // when a peer's first joining report came (this incarnation; -1: it joined)
	changeAt time.Duration                 // last reachability or report change

	lastReport   *wire.Report
	lastReportAt time.Duration

	// Coordinator side.
	prop      *proposal
	proposeAt time.Duration
	waitFor   wire.NodeID // a lower coordinator we wait for
	waitSince time.Duration
	ignore    map[wire.NodeID]time.Duration // coordinators ignored until then

	// Member side.
	pending     *wire.Propose // promised, not committed
	before      wire.Lineage  // this node's lineage before it promised pending
	beforeAt    time.Duration // when it promised pending
	flush       []byte        // the Flusher's state for the pending proposal
	installedAt time.Duration
	left        bool

	// Leases.
	witness  grant // the witness's vote as this node holds it
	askedAt  time.Duration
	askedFor []wire.NodeID

	settings string                 // our quorum settings, as reports carry them
	refused  map[wire.NodeID]string // peers whose settings differ: theirs

	needCoord bool          // an input coordinate depends on changed
	coordAt   time.Duration // run coordinate again by then

	leaseSeq      uint64
	leaseSent     map[uint64]time.Duration
	ackUntil      map[wire.NodeID]time.Duration
	nextLease     time.Duration
	quorate       bool     // acting: the view's lease and the takeover wait (Quorate)
	held          bool     // holds a lease, carried or the view's own (Leased): the quorum events follow it
	carry         *carried // the previous primary view's lease, kept across the install of the next
	instUnblocked bool     // the installed view came from an unblocked lineage (Propose.Unblocked): leased against itself

	// leaseMemo remembers the last quorum.Lease verdicts (the installed
	// view's and the carried one's): the lease is asked for several times
	// per round, and the answer changes only with the view or its ackers.
	leaseMemo [2]leaseVerdict
	ackBuf    []wire.NodeID // holds' scratch list of ackers

	rd Ready
}

// leaseVerdict is quorum.Lease's answer for one view and set of ackers.
type leaseVerdict struct {
	id        wire.ViewID
	unblocked bool
	members   []wire.NodeID
	ackers    []wire.NodeID
	ok        bool
	set       bool
}

// carried is the lease of the primary view a member installed before its
// current one: the answers it had collected for that view, which keep
// holding until they expire (continuity, corral help design).
type carried struct {
	view      wire.View
	unblocked bool // installed from an unblocked lineage (Propose.Unblocked)
	ackUntil  map[wire.NodeID]time.Duration
}

// grant is the witness's vote for a member set, valid until a time.
type grant struct {
	members []wire.NodeID
	until   time.Duration
}

type proposal struct {
	msg   *wire.Propose
	at    time.Duration
	lin   quorum.Lineage
	acks  map[wire.NodeID]wire.Lineage
	flush map[wire.NodeID][]byte // the members' Flusher states
	leave []wire.NodeID          // leaving nodes this view drops
}

// New returns a Membership starting at cfg.Start from what was persisted
// (cfg.Persisted).
func New(cfg Config) (*Membership, error) {
	p, now := cfg.Persisted, cfg.Start
	cfg.Persisted = Persisted{} // m.st is the state from now on
	cfg.fillDefaults()
	cfg.Nodes = sortedIDs(cfg.Nodes)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Membership{cfg: cfg, now: now, st: p.Clone(), lpSince: now, startAt: now, self: StateJoining, want: StateOnline,
		reach: map[wire.NodeID]bool{}, reports: map[wire.NodeID]*wire.Report{}, joinSeen: map[wire.NodeID]time.Duration{}, ignore: map[wire.NodeID]time.Duration{},
		leaseSent: map[uint64]time.Duration{}, ackUntil: map[wire.NodeID]time.Duration{},
		settings: Settings(cfg), refused: map[wire.NodeID]string{}}
	// A restarted node is not in its old view until a coordinator puts it
	// in a new one: it forgets the view but keeps promise, epoch and lineage.
	m.st.Installed, m.st.Primary, m.st.States = wire.View{}, false, nil
	return m, nil
}

// Ready returns what the driver must do now: what the inputs since the
// last Advance produced, the report due now, and the state to persist. It
// changes nothing: calling it twice returns the same.
func (m *Membership) Ready() Ready {
	rd := m.rd
	rd.Messages = slices.Clone(rd.Messages)
	if r, due := m.reportDue(); due {
		for _, id := range m.cfg.Nodes {
			if m.reach[id] {
				rd.Messages = append(rd.Messages, Out{To: id, Msg: r})
			}
		}
	}
	if m.dirty {
		p := m.st.Clone()
		rd.Persist = &p
	}
	return rd
}

// Advance acknowledges the last Ready: the driver carried it out (or is
// carrying it out in order). Call it before the next input.
func (m *Membership) Advance() {
	m.report()
	m.dirty = false
	m.rd = Ready{}
}

func (m *Membership) advance(now time.Duration) {
	if now > m.now {
		m.now = now
	}
}

func (m *Membership) send(to wire.NodeID, msg wire.Message) {
	m.rd.Messages = append(m.rd.Messages, Out{To: to, Msg: msg})
}

func (m *Membership) event(e Event) {
	e.At = m.now
	m.rd.Events = append(m.rd.Events, e)
}

// Step takes one input (see Input's types) at now. It returns an error
// for an input it refuses: a message from itself or from a node not
// configured, a state it cannot be asked for.
func (m *Membership) Step(now time.Duration, in Input) error {
	m.advance(now)
	switch in := in.(type) {
	case Receive:
		if in.From == m.cfg.Self || !slices.Contains(m.cfg.Nodes, in.From) {
			return fmt.Errorf("membership: message %T from node %d: %w", in.Msg, in.From, ErrUnknownNode)
		}
		m.receive(now, in.From, in.Msg)
	case Reach:
		if in.Peer == m.cfg.Self {
			return fmt.Errorf("membership: reach of node %d, itself: %w", in.Peer, ErrUnknownNode)
		}
		m.setReach(now, in.Peer, in.Up)
	case Restarted:
		m.restarted(now, in.Peer)
	case SetState:
		if in.State != StateOnline && in.State != StatePaused && in.State != StateLeaving {
			return fmt.Errorf("membership: set state %s: %w", in.State, ErrBadState)
		}
		m.setState(now, in.State)
	case WitnessAnswer:
		m.witnessAnswer(now, in)
	case Unblock:
		return m.unblock(now, in)
	default:
		return fmt.Errorf("membership: input %T: %w", in, ErrUnknownInput)
	}
	return nil
}

// setReach records that a peer became reachable (both ways) or unreachable.
func (m *Membership) setReach(now time.Duration, peer wire.NodeID, up bool) {
	if m.reach[peer] == up {
		return
	}
	if up {
		m.reach[peer] = true
	} else {
		delete(m.reach, peer)
		m.dropAcks(peer)
	}
	m.changeAt = now
	if m.prop != nil && !up && slices.Contains(m.prop.msg.View.Members, peer) {
		m.prop = nil // it will never promise: start over
	}
	m.needCoord = true
	m.update()
}

// refuse ignores a peer whose quorum settings differ from ours, and says
// which setting once per change.
func (m *Membership) refuse(from wire.NodeID, theirs string) {
	if m.refused[from] == theirs {
		return
	}
	m.refused[from] = theirs
	delete(m.reports, from)
	m.changeAt = m.now
	m.needCoord = true
	m.event(Event{Kind: EventConfigDiffers, Target: from, Detail: diffSettings(m.settings, theirs)})
}

// witnessAnswer takes the witness's answer to a WitnessReq made at a.At:
// its vote for a.Members, valid for a.Lease from the moment it was asked.
func (m *Membership) witnessAnswer(now time.Duration, a WitnessAnswer) {
	if a.Granted {
		until := a.At + time.Duration(float64(a.Lease)/(1+m.cfg.Drift))
		if !slices.Equal(m.witness.members, a.Members) || until > m.witness.until {
			m.witness = grant{members: sortedIDs(a.Members), until: until}
		}
		m.changeAt = now
	}
	m.needCoord = true
	m.update()
}

// granted reports whether this node holds the witness's vote for members.
func (m *Membership) granted(members []wire.NodeID) bool {
	return m.cfg.Witness && m.witness.until > m.now && slices.Equal(m.witness.members, members)
}

// askWitness asks the witness for members' vote, at most once per
// LeaseEvery for one set.
func (m *Membership) askWitness(v wire.View, installed bool) {
	if slices.Equal(m.askedFor, v.Members) && m.now-m.askedAt < m.cfg.LeaseEvery {
		return
	}
	m.askedFor, m.askedAt = slices.Clone(v.Members), m.now
	m.rd.Witness = append(m.rd.Witness, WitnessReq{View: wire.View{ID: v.ID, Members: slices.Clone(v.Members)}, Installed: installed, At: m.now})
}

// restarted records that a peer came back with a new boot id: what it
// reported before is void.
func (m *Membership) restarted(now time.Duration, peer wire.NodeID) {
	delete(m.reports, peer)
	delete(m.joinSeen, peer)
	m.dropAcks(peer)
	m.changeAt = now
	if m.prop != nil && slices.Contains(m.prop.msg.View.Members, peer) {
		m.prop = nil
	}
	m.needCoord = true
	m.update()
}

// setState asks for this node's own state: online, paused or leaving.
func (m *Membership) setState(now time.Duration, s State) {
	m.want = s
	if m.self != StateJoining || s == StateLeaving {
		m.self = s
	}
	m.changeAt = now
	m.needCoord = true
	m.update()
}

// receive handles a membership message from a peer.
func (m *Membership) receive(now time.Duration, from wire.NodeID, msg wire.Message) {
	if r, ok := msg.(*wire.Report); ok {
		if r.Settings != m.settings {
			m.refuse(from, r.Settings)
			return
		}
		delete(m.refused, from)
	}
	if m.refused[from] != "" {
		return // until it reports matching settings
	}
	switch msg := msg.(type) {
	case *wire.Report:
		old := m.reports[from]
		m.reports[from] = msg
		if State(msg.State) != StateJoining {
			m.joinSeen[from] = -1 // joined: a late joining report restarts no hold
		} else if _, ok := m.joinSeen[from]; !ok {
			m.joinSeen[from] = now
		}
		if old == nil || !slices.Equal(old.Reach, msg.Reach) || old.State != msg.State {
			m.changeAt = now
		}
		if old != nil && sameReport(old, msg) {
			m.judge() // a periodic repeat: nothing for coordinate
			return
		}
	case *wire.Propose:
		m.onPropose(from, msg)
	case *wire.Promise:
		m.onPromise(from, msg)
	case *wire.Refuse:
		if m.prop != nil && m.prop.msg.View.ID == msg.ID {
			m.prop = nil
		}
		m.seeEpoch(msg.Promise.Epoch)
	case *wire.Commit:
		if m.pending != nil && m.pending.View.ID == msg.ID && m.st.Promise == msg.ID {
			m.install(m.pending, msg.Plan)
		}
	case *wire.LeaseReq:
		if msg.To == m.cfg.Self && m.st.Installed.ID == msg.ID && m.answers() {
			m.send(from, &wire.LeaseAck{ID: msg.ID, Seq: msg.Seq, To: from})
		}
		m.judge()
		return
	case *wire.LeaseAck:
		if msg.To == m.cfg.Self && m.st.Installed.ID == msg.ID {
			if sent, ok := m.leaseSent[msg.Seq]; ok {
				until := sent + time.Duration(float64(m.cfg.Lease)/(1+m.cfg.Drift))
				m.ackUntil[from] = max(m.ackUntil[from], until)
			}
		}
	case *wire.Left:
		if m.self == StateLeaving && !m.left {
			m.left = true
			m.event(Event{Kind: EventLeft, View: msg.ID})
		}
	}
	if _, lease := msg.(*wire.LeaseAck); lease {
		m.judge()
		return
	}
	m.needCoord = true
	m.update()
}

// Tick lets time pass: lease heartbeats, proposal timeouts, reports.
func (m *Membership) Tick(now time.Duration) {
	m.advance(now)
	if m.prop != nil && now-m.prop.at > m.cfg.ProposeTimeout {
		m.prop = nil
		m.needCoord = true
	}
	if m.leasing() && m.cfg.Witness && m.needsWitness(m.st.Installed.Members) {
		m.askWitness(m.st.Installed, true)
	}
	if m.leasing() && now >= m.nextLease {
		m.leaseSeq++
		m.leaseSent[m.leaseSeq] = now
		for seq, at := range m.leaseSent {
			if now-at > m.cfg.Lease {
				delete(m.leaseSent, seq)
			}
		}
		for _, p := range m.st.Installed.Members {
			if p != m.cfg.Self {
				m.send(p, &wire.LeaseReq{ID: m.st.Installed.ID, Seq: m.leaseSeq, To: p})
			}
		}
		m.nextLease = now + m.cfg.LeaseEvery
	}
	m.update()
}

// leasing reports whether this node is in a primary view it has not
// promised away.
func (m *Membership) leasing() bool {
	return m.st.Primary && m.st.Promise == m.st.Installed.ID && m.inView(m.cfg.Self)
}

// answers reports whether this node answers a lease request of its
// installed view: only while it has promised nothing newer. A node that
// promised a newer view answers no lease request of the old one again (not
// even from members of what it promised: it may have promised a view that
// excludes the requester before and missed its commit), so a primary view
// that excludes a node commits only after some member of each of that
// node's lease quorums stopped answering it (issue 15 review: answering
// again after a later promise let an excluded node regain its lease).
func (m *Membership) answers() bool {
	return m.st.Promise == m.st.Installed.ID
}

// dropAcks forgets a peer's lease answers (it is unreachable or
// restarted): never unsafe, a lease only shrinks.
func (m *Membership) dropAcks(peer wire.NodeID) {
	delete(m.ackUntil, peer)
	if m.carry != nil {
		delete(m.carry.ackUntil, peer)
	}
}

func (m *Membership) inView(id wire.NodeID) bool {
	return slices.Contains(m.st.Installed.Members, id)
}

// update runs after every input: coordinate (when something it depends
// on changed, or a deadline it waits for passed), then judge the lease.
func (m *Membership) update() {
	if m.needCoord || m.now >= m.coordAt {
		m.needCoord = false
		m.coordAt = m.now + m.cfg.ReportEvery
		m.coordinate()
	}
	m.judge()
	m.checkLeft()
}

// recheck makes update run coordinate again at t: coordinate waits for it.
func (m *Membership) recheck(t time.Duration) {
	if t < m.coordAt {
		m.coordAt = max(t, m.now)
	}
}

// checkLeft finishes a clean leave when nobody is left to confirm it: every
// peer this node reaches is leaving too (a whole cluster shutting down), or
// it reaches none.
func (m *Membership) checkLeft() {
	if m.self != StateLeaving || m.left {
		return
	}
	for id := range m.reach {
		if r := m.reports[id]; r == nil || State(r.State) != StateLeaving {
			return
		}
	}
	m.left = true
	m.event(Event{Kind: EventLeft, View: m.st.Installed.ID})
}

func (m *Membership) seeEpoch(e uint64) {
	if e > m.st.Epoch {
		m.st.Epoch = e
		m.dirty = true
	}
}

// lineage is this node's lineage now.
func (m *Membership) lineage() wire.Lineage {
	l := m.st.Lineage
	l.LPAge = int64(m.now - m.lpSince)
	return l
}

// takeLP makes v the newest last primary view: installed, or a primary
// proposal promised (which may never be installed anywhere, or may have
// been installed by others; ref is the view it was judged against). Prev
// always stays the last installed one. While LP is only promised, Need
// keeps every view that may have been the last installed primary instead:
// the proposals promised before it since Prev, and their references. A
// node never forgets a primary proposal it promised until it installs a
// primary view after it.
func (m *Membership) takeLP(v wire.View, installed bool, ref wire.View) {
	l := &m.st.Lineage
	if v.ID == l.LP.ID {
		if installed && l.Promised {
			l.Promised, l.Need, l.PrevUnblocked = false, nil, false
			m.dirty = true
		}
		return
	}
	// An unblocked view (unblockedView) that becomes Prev under a promised
	// LP stays marked while LP is only promised: a view must still hold
	// all of its members (core/quorum "Unblock").
	prevUnblocked := !installed && (unblockedView(*l) || (l.Promised && l.PrevUnblocked))
	switch {
	case installed:
		l.Need = nil
	case l.Promised:
		l.Need = append(l.Need, l.LP)
	}
	if !l.Promised && l.LP.ID.Epoch != 0 {
		l.Prev = l.LP
	}
	if !installed && ref.ID.Epoch != 0 {
		l.Need = append(l.Need, wire.View{ID: ref.ID, Members: slices.Clone(ref.Members)})
	}
	l.LP = wire.View{ID: v.ID, Members: slices.Clone(v.Members)}
	l.Promised = !installed
	l.PrevUnblocked = prevUnblocked
	l.Need = pruneNeed(l.Need, l.Prev.ID, l.LP.ID)
	m.lpSince = m.now
	m.dirty = true
}

// pruneNeed sorts need by id and drops duplicates and the views not newer
// than prev (installed, so nothing before it matters) or not older than lp.
func pruneNeed(need []wire.View, prev, lp wire.ViewID) []wire.View {
	var out []wire.View
	for _, v := range need {
		if !idLess(prev, v.ID) || !idLess(v.ID, lp) {
			continue
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b wire.View) int {
		if idLess(a.ID, b.ID) {
			return -1
		}
		if a.ID == b.ID {
			return 0
		}
		return 1
	})
	return slices.CompactFunc(out, func(a, b wire.View) bool { return a.ID == b.ID })
}

// onPropose handles a proposal: promise it if it is higher than any
// promise made, refuse it if lower.
func (m *Membership) onPropose(from wire.NodeID, p *wire.Propose) {
	if !slices.Contains(p.View.Members, m.cfg.Self) || p.View.ID.Coord != from {
		return
	}
	switch {
	case idLess(p.View.ID, m.st.Promise):
		m.send(from, &wire.Refuse{ID: p.View.ID, Promise: m.st.Promise})
		return
	case p.View.ID == m.st.Promise:
		if m.pending != nil && m.pending.View.ID == p.View.ID {
			m.send(from, &wire.Promise{ID: p.View.ID, Lineage: m.lineageBefore(p), Flush: m.flush})
		}
		return
	}
	before := m.lineage()
	m.promise(p)
	m.before, m.beforeAt = before, m.now
	if m.prop != nil && idLess(m.prop.msg.View.ID, p.View.ID) {
		m.prop = nil // our own proposal lost to a higher one
	}
	m.send(from, &wire.Promise{ID: p.View.ID, Lineage: before, Flush: m.flush})
}

// lineageBefore is the lineage a node had before it promised p, the one
// its first promise carried (its age grown since).
func (m *Membership) lineageBefore(p *wire.Propose) wire.Lineage {
	l := m.before
	if l.LP.ID.Epoch != 0 {
		l.LPAge += int64(m.now - m.beforeAt)
	}
	return l
}

// promise records a promise of p, to be persisted before it is sent.
func (m *Membership) promise(p *wire.Propose) {
	m.st.Promise = p.View.ID
	m.seeEpoch(p.View.ID.Epoch)
	if p.Primary {
		m.takeLP(p.View, false, wire.View{ID: p.Ref, Members: p.RefMembers})
		// The flag is kept as proposed: it ends only at an install (below)
		// of a view holding the plain majority, never at a promise. A
		// promise of a proposal that is never installed must leave its
		// promisers judged as under last_man_standing (against the
		// promised LP and Also), or they could form a second primary
		// beside the unblocked view (TestR4UnblockPromisedByWrittenOffOnly).
		m.st.Lineage.Unblocked = p.Unblocked
	}
	m.pending = p
	m.dirty = true
	if m.cfg.Flusher != nil {
		m.flush = m.cfg.Flusher.Propose(p.View.ID)
	}
}

// install makes the promised proposal p the installed view; plan is the
// Flusher's plan from the commit.
func (m *Membership) install(p *wire.Propose, plan []byte) {
	if m.cfg.Flusher != nil {
		if err := m.cfg.Flusher.Install(p.View, plan); err != nil {
			m.event(Event{Kind: EventFlushFailed, View: p.View.ID, Detail: err.Error()})
		}
	}
	prev, prevStates := m.st.Installed, m.st.States
	m.carry = nil
	if m.st.Primary && m.inView(m.cfg.Self) {
		// Continuity: the answers for the previous primary view keep this
		// node's lease until they expire; the new view's answers renew it.
		m.carry = &carried{view: prev, unblocked: m.instUnblocked, ackUntil: maps.Clone(m.ackUntil)}
	}
	m.st.Installed = wire.View{ID: p.View.ID, Members: slices.Clone(p.View.Members)}
	m.st.Primary = p.Primary
	m.instUnblocked = p.Primary && p.Unblocked
	m.st.States = make([]State, len(p.States))
	for i, s := range p.States {
		m.st.States[i] = State(s)
	}
	if p.Primary {
		m.takeLP(p.View, true, wire.View{})
		m.st.Lineage.Unblocked = p.Unblocked && quorum.ContinuesUnblock(m.cfg.Quorum, p.View.Members)
		m.recordAtWitness()
	}
	if len(p.View.Members) == len(m.cfg.Nodes) {
		m.st.Lineage.AllSeen = true
	}
	m.dirty = true
	m.pending = nil
	m.installedAt = m.now
	clear(m.ackUntil)
	clear(m.leaseSent)
	m.nextLease = m.now
	if m.self == StateJoining {
		m.self = m.want
	}
	delete(m.ignore, p.View.ID.Coord)
	m.event(Event{Kind: EventViewChanged, View: p.View.ID, Members: slices.Clone(p.View.Members), Primary: p.Primary})
	m.diff(prev, prevStates)
}

// recordAtWitness asks the witness, at the install of a primary view, to
// record it as its LP (WitnessReq.Installed) when the view's commit rested
// on the witness's vote (this node holds it for the members) or the view
// still needs it, whether or not this node goes on leasing: a member that
// promises its next view in the step that installs this one (the window
// re-judged it) asks nothing in Tick, the grant lapses unrecorded, and the
// witness then grants a set with no member of this view against the older
// LP (seed 237 of TestLineageUnderFaults). The request goes out with the
// commit, while the grant the commit needed still holds, so no other set
// can have been granted before it.
func (m *Membership) recordAtWitness() {
	if !m.cfg.Witness || !m.inView(m.cfg.Self) {
		return
	}
	v := m.st.Installed
	if !m.granted(v.Members) && !m.needsWitness(v.Members) {
		return
	}
	m.askedFor, m.askedAt = slices.Clone(v.Members), m.now
	m.rd.Witness = append(m.rd.Witness, WitnessReq{View: wire.View{ID: v.ID, Members: slices.Clone(v.Members)}, Installed: true, At: m.now})
}

// diff emits node events for the change from the previous view.
func (m *Membership) diff(prev wire.View, prevStates []State) {
	old := map[wire.NodeID]State{}
	for i, id := range prev.Members {
		if i < len(prevStates) {
			old[id] = prevStates[i]
		}
	}
	now := map[wire.NodeID]State{}
	for i, id := range m.st.Installed.Members {
		now[id] = m.st.States[i]
		s, was := old[id]
		switch {
		case !was:
			if prev.ID.Epoch != 0 || id != m.cfg.Self {
				m.event(Event{Kind: EventNodeJoined, View: m.st.Installed.ID, Target: id})
			}
		case s != StatePaused && m.st.States[i] == StatePaused:
			m.event(Event{Kind: EventNodePaused, View: m.st.Installed.ID, Target: id})
		case s == StatePaused && m.st.States[i] != StatePaused:
			m.event(Event{Kind: EventNodeResumed, View: m.st.Installed.ID, Target: id})
		}
	}
	for _, id := range prev.Members {
		if _, still := now[id]; !still {
			clean := false
			if r := m.reports[id]; r != nil && State(r.State) == StateLeaving {
				clean = true
			}
			m.event(Event{Kind: EventNodeLeft, View: m.st.Installed.ID, Target: id, Clean: clean})
		}
	}
}
