package membership

import (
	"slices"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// ignoreFor is how long a coordinator that failed to include us is ignored.
const ignoreFor = 5 * time.Second

// candidates returns the nodes this node may put in a view with itself:
// itself (unless leaving) and the reachable peers that reported and are
// not leaving.
func (m *Membership) candidates() []wire.NodeID {
	var out []wire.NodeID
	if m.self != StateLeaving {
		out = append(out, m.cfg.Self)
	}
	for _, id := range m.cfg.Nodes {
		r := m.reports[id]
		if id == m.cfg.Self || !m.reach[id] || r == nil || State(r.State) == StateLeaving {
			continue
		}
		if until, ok := m.ignore[id]; ok && m.now < until {
			m.recheck(until)
			continue
		}
		out = append(out, id)
	}
	return out
}

// mutual reports whether a and b hear each other, as far as this node
// knows (its own reachability, the others' reports).
func (m *Membership) mutual(a, b wire.NodeID) bool {
	return m.hears(a, b) && m.hears(b, a)
}

func (m *Membership) hears(a, b wire.NodeID) bool {
	if a == m.cfg.Self {
		return m.reach[b]
	}
	r := m.reports[a]
	if r == nil {
		return false
	}
	_, ok := slices.BinarySearch(r.Reach, b)
	return ok
}

// fullyConnected applies the design's greedy rule (corral help design) to the
// candidates: while some pair does not hear each other, drop the node with
// the fewest mutual links (ties: the highest id). This node is never
// dropped: the set is the one it can coordinate or join.
func (m *Membership) fullyConnected(set []wire.NodeID) []wire.NodeID {
	k := len(set)
	// The mutual-link matrix, built once: O(k²) lookups, then O(k) per drop.
	adj := make([]bool, k*k)
	deg := make([]int, k)
	for i := range set {
		for j := i + 1; j < k; j++ {
			if m.mutual(set[i], set[j]) {
				adj[i*k+j], adj[j*k+i] = true, true
				deg[i]++
				deg[j]++
			}
		}
	}
	alive := make([]bool, k)
	for i := range alive {
		alive[i] = true
	}
	size := k
	for {
		drop := -1
		complete := true
		for i, id := range set {
			if !alive[i] {
				continue
			}
			if deg[i] != size-1 {
				complete = false
			}
			if id == m.cfg.Self {
				continue
			}
			if drop < 0 || deg[i] < deg[drop] || (deg[i] == deg[drop] && id > set[drop]) {
				drop = i
			}
		}
		if complete || drop < 0 {
			break
		}
		alive[drop] = false
		size--
		for j := range set {
			if alive[j] && adj[drop*k+j] {
				deg[j]--
			}
		}
	}
	out := make([]wire.NodeID, 0, size)
	for i, id := range set {
		if alive[i] {
			out = append(out, id)
		}
	}
	return out
}

// coordinate decides whether this node should propose a view, and does.
func (m *Membership) coordinate() {
	if m.self == StateLeaving {
		return
	}
	set := m.fullyConnected(m.candidates())
	slices.Sort(set)
	if m.joinHold(set) {
		m.waitFor = 0 // a wait for a coordinator starts after the hold
		return
	}
	coord := set[0]
	if coord != m.cfg.Self {
		m.deferTo(coord)
		return
	}
	m.waitFor = 0
	states := m.statesOf(set)
	lin := m.lineageOf(set)
	dec := quorum.Decide(m.cfg.Quorum, set, lin)
	if !dec.Primary && m.cfg.Witness && dec.Reason == quorum.ReasonNoTieBreaker {
		// A tie: the witness settles it.
		if m.granted(set) {
			lin.Witness = true
			dec = quorum.Decide(m.cfg.Quorum, set, lin)
		} else {
			m.askWitness(wire.View{ID: wire.ViewID{Epoch: m.st.Epoch + 1, Coord: m.cfg.Self}, Members: set}, false)
			if m.now-m.askedAt < m.cfg.WitnessWait && m.now-m.changeAt < m.cfg.WitnessWait {
				m.recheck(m.askedAt + m.cfg.LeaseEvery)
				m.recheck(m.changeAt + m.cfg.WitnessWait)
				return // wait for the answer before settling for non-primary
			}
		}
	}
	if m.prop != nil {
		pm := m.prop.msg
		if slices.Equal(pm.View.Members, set) && slices.Equal(pm.States, states) && pm.Primary == dec.Primary {
			return // in progress
		}
	}
	if !m.needView(set, states, dec.Primary) {
		return
	}
	if m.now-m.changeAt < m.cfg.Settle || (m.prop != nil && m.now-m.proposeAt < m.cfg.Settle) {
		m.recheck(max(m.changeAt, m.proposeAt) + m.cfg.Settle)
		return
	}
	m.propose(set, states, dec.Primary, lin)
}

// joinHold reports whether a view of set must wait for a joining node
// (one that has installed no view since it started: this node, or a peer
// that reports joining) to hear more: set holds a joining node and leaves
// out a live member of a current primary view, a node X that a
// non-joining member Y of set installed in its primary view and still
// hears (and that does not report leaving). A node that just started also makes no view of itself alone (in
// a cluster of several): that view ended its joining state before its
// circuits came up, and with it the hold. A restarted node's circuits come up one peer at a time; without
// the hold, the first peer it heard made a view with it (it coordinates
// as the lowest id, or the greedy rule drops the higher id of two nodes
// with one link each) that dropped the other survivor, healthy and
// reachable the whole time: it left the primary view uncleanly (fenced)
// and could lose its lease (TestRestartedNodeDoesNotSplitView). The hold
// ends when the joiner hears X (X joins set), when Y stops hearing X or
// installs a view without it, or when the joiner stops joining. This node,
// joining, holds for at most DeferTimeout after its start, so a joiner that
// never hears X still joins by the greedy rule; a joining peer ends its
// own hold the same way. Holding only withholds proposals: never unsafe.
func (m *Membership) joinHold(set []wire.NodeID) bool {
	joiner := m.self == StateJoining && m.now-m.startAt <= m.cfg.DeferTimeout
	if joiner {
		m.recheck(m.startAt + m.cfg.DeferTimeout + 1)
		if len(set) == 1 && len(m.cfg.Nodes) > 1 {
			return true // no view of itself alone before it heard its peers
		}
	}
	for _, id := range set {
		if id != m.cfg.Self && m.joining(id) {
			joiner = true
		}
	}
	if !joiner {
		return false
	}
	for _, y := range set {
		var in wire.View
		var primary bool
		if y == m.cfg.Self {
			if m.self == StateJoining {
				continue
			}
			in, primary = m.st.Installed, m.st.Primary
		} else {
			r := m.reports[y]
			if State(r.State) == StateJoining {
				continue
			}
			in, primary = r.Installed, r.Primary
		}
		if !primary {
			continue
		}
		for _, x := range in.Members {
			if r := m.reports[x]; r != nil && State(r.State) == StateLeaving {
				continue // dropped on purpose: it leaves cleanly
			}
			if x != y && !slices.Contains(set, x) && m.hears(y, x) {
				return true
			}
		}
	}
	return false
}

// joining reports whether the peer id counts as a joiner for the join
// hold: it reports joining, and its first joining report (this
// incarnation) came at most DeferTimeout ago. The bound is this node's,
// on its own clock: a peer that stays joining (it holds for another
// joiner, or cannot install a view) holds nobody for longer, and two
// joiners never hold each other for ever (TestTwoJoinersCutFromOneSurvivorJoin).
func (m *Membership) joining(id wire.NodeID) bool {
	if r := m.reports[id]; r == nil || State(r.State) != StateJoining {
		return false
	}
	seen, ok := m.joinSeen[id]
	if !ok || seen < 0 || m.now-seen > m.cfg.DeferTimeout {
		return false
	}
	m.recheck(seen + m.cfg.DeferTimeout + 1)
	return true
}

// deferTo waits for a lower coordinator to bring this node into its view,
// and ignores it for a while when it does not.
func (m *Membership) deferTo(coord wire.NodeID) {
	if m.st.Installed.ID.Coord == coord && m.st.Promise == m.st.Installed.ID {
		m.waitFor = 0
		return
	}
	if m.waitFor != coord {
		m.waitFor, m.waitSince = coord, m.now
		m.recheck(m.now + m.cfg.DeferTimeout + 1)
		return
	}
	m.recheck(m.waitSince + m.cfg.DeferTimeout + 1)
	if m.now-m.waitSince > m.cfg.DeferTimeout {
		m.ignore[coord] = m.now + ignoreFor
		m.waitFor = 0
	}
}

// statesOf returns the states the members of set will have in the view.
func (m *Membership) statesOf(set []wire.NodeID) []uint8 {
	out := make([]uint8, len(set))
	for i, id := range set {
		s := m.self
		if id != m.cfg.Self {
			s = State(m.reports[id].State)
		}
		if s == StateJoining {
			s = StateOnline
		}
		out[i] = uint8(s)
	}
	return out
}

// lineageOf gathers the members' lineage: the newest LP any of them holds.
func (m *Membership) lineageOf(set []wire.NodeID) quorum.Lineage {
	var lins []wire.Lineage
	for _, id := range set {
		if id == m.cfg.Self {
			lins = append(lins, m.lineage())
		} else {
			lins = append(lins, m.reports[id].Lineage)
		}
	}
	return mergeLineage(lins)
}

// known is a primary view (or primary proposal) some lineage names.
type known struct {
	v         wire.View
	installed bool          // some member installed it
	holders   int           // members holding it as LP
	whole     bool          // an unblocked view no primary view followed (unblockedView, PrevUnblocked)
	age       time.Duration // the smallest LPAge of its holders
}

// mergeLineage judges from what every member knows, never from the first
// holder found (corral help design, Quorum). LP is the newest view any
// member holds as LP. If some member installed it, LPAge is the smallest
// age reported for it and Prev the newest view known installed before it
// (the window). If none did, it may have been installed elsewhere or
// never: LPAge is 0 and Also holds every view that may have been the last
// installed primary instead: the newest view known installed (a member's
// installed LP or Prev; the configured nodes when there is none) and every
// view newer than it that a member promised or names as a reference.
func mergeLineage(lins []wire.Lineage) quorum.Lineage {
	var out quorum.Lineage
	var all []*known // a few views: a slice beats a map
	add := func(v wire.View, installed bool) *known {
		if v.ID.Epoch == 0 {
			return nil
		}
		var k *known
		for _, x := range all {
			if x.v.ID == v.ID {
				k = x
				break
			}
		}
		if k == nil {
			k = &known{v: v}
			all = append(all, k)
		}
		k.installed = k.installed || installed
		return k
	}
	for _, l := range lins {
		out.AllSeen = out.AllSeen || l.AllSeen
		if k := add(l.LP, !l.Promised); k != nil {
			if k.holders == 0 || time.Duration(l.LPAge) < k.age {
				k.age = time.Duration(l.LPAge)
			}
			k.holders++
			k.whole = k.whole || unblockedView(l)
		}
		if k := add(l.Prev, true); k != nil && l.Promised && l.PrevUnblocked {
			k.whole = true
		}
		for _, v := range l.Need {
			add(v, false)
		}
	}
	if len(all) == 0 {
		return out
	}
	slices.SortFunc(all, func(a, b *known) int {
		if idLess(a.v.ID, b.v.ID) {
			return -1
		}
		return 1 // ids are distinct
	})
	best := all[len(all)-1]
	for _, l := range lins {
		out.Unblocked = out.Unblocked || (l.Unblocked && l.LP.ID == best.v.ID)
	}
	ref := func(v wire.View) *quorum.ViewRef {
		return &quorum.ViewRef{ID: qid(v.ID), Members: slices.Clone(v.Members)}
	}
	out.LP = ref(best.v)
	out.UnblockedView = best.whole
	// The newest view known installed before LP.
	base := -1
	for i := len(all) - 2; i >= 0; i-- {
		if all[i].installed {
			base = i
			break
		}
	}
	if best.installed {
		out.LPAge = best.age
		if base >= 0 {
			out.Prev = ref(all[base].v)
		}
		return out
	}
	if base < 0 {
		out.Also = append(out.Also, quorum.ViewRef{}) // the configured nodes
		base = 0
	}
	for _, k := range all[base : len(all)-1] {
		r := ref(k.v)
		r.Whole = k.whole
		out.Also = append(out.Also, *r)
	}
	return out
}

func qid(v wire.ViewID) quorum.ViewID { return quorum.ViewID{Epoch: v.Epoch, Coord: v.Coord} }

// needView reports whether the installed view differs from the desired
// one, or a member has not installed it for too long.
func (m *Membership) needView(set []wire.NodeID, states []uint8, primary bool) bool {
	in := m.st.Installed
	if m.st.Promise != in.ID || !slices.Equal(in.Members, set) || m.st.Primary != primary {
		return true
	}
	for i, s := range m.st.States {
		if uint8(s) != states[i] {
			return true
		}
	}
	if m.now-m.installedAt < m.cfg.ProposeTimeout {
		m.recheck(m.installedAt + m.cfg.ProposeTimeout)
		return false
	}
	for _, id := range set {
		if r := m.reports[id]; id != m.cfg.Self && r != nil && r.Installed.ID != in.ID {
			return true // it missed the commit
		}
	}
	return false
}

// propose starts a new view: persist the epoch, promise it ourselves, send
// it to the others.
func (m *Membership) propose(set []wire.NodeID, states []uint8, primary bool, lin quorum.Lineage) {
	epoch := max(m.st.Epoch, m.st.Promise.Epoch, m.st.Installed.ID.Epoch)
	for _, r := range m.reports {
		epoch = max(epoch, r.Promise.Epoch, r.Installed.ID.Epoch)
	}
	epoch++
	m.st.Epoch = epoch
	m.dirty = true
	p := &wire.Propose{View: wire.View{ID: wire.ViewID{Epoch: epoch, Coord: m.cfg.Self}, Members: slices.Clone(set)},
		States: states, Primary: primary, Unblocked: primary && quorum.Decide(m.cfg.Quorum, set, lin).Unblocked}
	if lin.LP != nil {
		p.Ref = wire.ViewID{Epoch: lin.LP.ID.Epoch, Coord: lin.LP.ID.Coord}
		p.RefMembers = slices.Clone(lin.LP.Members)
	}
	m.prop = &proposal{msg: p, at: m.now, lin: lin, acks: map[wire.NodeID]wire.Lineage{}, flush: map[wire.NodeID][]byte{}}
	m.proposeAt = m.now
	for _, id := range m.cfg.Nodes {
		if r := m.reports[id]; r != nil && m.reach[id] && State(r.State) == StateLeaving && m.inView(id) {
			m.prop.leave = append(m.prop.leave, id)
		}
	}
	m.prop.acks[m.cfg.Self] = m.lineage()
	m.promise(p)
	m.prop.flush[m.cfg.Self] = m.flush
	for _, id := range set {
		if id != m.cfg.Self {
			m.send(id, p)
		}
	}
	m.tryCommit()
}

// onPromise collects a member's promise and commits when all are in.
func (m *Membership) onPromise(from wire.NodeID, msg *wire.Promise) {
	if m.prop == nil || m.prop.msg.View.ID != msg.ID {
		return
	}
	m.prop.acks[from] = msg.Lineage
	m.prop.flush[from] = msg.Flush
	m.tryCommit()
}

// tryCommit commits the proposal once every member promised, if the
// members' lineage at promise time still gives the same decision.
func (m *Membership) tryCommit() {
	p := m.prop
	if p == nil || len(p.acks) < len(p.msg.View.Members) {
		return
	}
	var lins []wire.Lineage
	for _, id := range p.msg.View.Members {
		lins = append(lins, p.acks[id])
	}
	lin := mergeLineage(lins)
	lin.Witness = m.granted(p.msg.View.Members)
	dec := quorum.Decide(m.cfg.Quorum, p.msg.View.Members, lin)
	if dec.Primary != p.msg.Primary || (dec.Primary && dec.Unblocked != p.msg.Unblocked) {
		// A member's lineage moved since its report: judge again.
		m.prop = nil
		m.changeAt = m.now
		return
	}
	var plan []byte
	if m.cfg.Flusher != nil {
		states := make([][]byte, 0, len(p.msg.View.Members))
		for _, id := range p.msg.View.Members {
			states = append(states, p.flush[id])
		}
		var err error
		if plan, err = m.cfg.Flusher.Complete(p.msg.View, states); err != nil {
			m.event(Event{Kind: EventFlushFailed, View: p.msg.View.ID, Detail: err.Error()})
			m.prop = nil
			m.changeAt = m.now
			m.needCoord = true
			return
		}
	}
	for _, id := range p.msg.View.Members {
		if id != m.cfg.Self {
			m.send(id, &wire.Commit{ID: p.msg.View.ID, Plan: plan})
		}
	}
	for _, id := range p.leave {
		m.send(id, &wire.Left{ID: p.msg.View.ID})
	}
	m.prop = nil
	m.install(p.msg, plan)
}

// reportDue returns this node's report and whether it is due: it changed
// or ReportEvery has passed. Ready sends it to the peers it reaches. A
// report that is not due is not built (nil): Ready asks every round.
func (m *Membership) reportDue() (*wire.Report, bool) {
	if l := m.lastReport; l != nil && m.now-m.lastReportAt < m.cfg.ReportEvery && m.reported(l) {
		return nil, false
	}
	r := &wire.Report{State: uint8(m.self), Promise: m.st.Promise, Installed: m.st.Installed, Primary: m.st.Primary,
		Lineage: m.lineage(), Settings: m.settings}
	for _, id := range m.cfg.Nodes {
		if m.reach[id] {
			r.Reach = append(r.Reach, id)
		}
	}
	return r, true
}

// reported reports whether the report this node would send now is the
// same as l by sameReport, without building it.
func (m *Membership) reported(l *wire.Report) bool {
	lin := m.st.Lineage // lineage() differs only in LPAge, which sameReport ignores
	if l.State != uint8(m.self) || l.Promise != m.st.Promise || l.Installed.ID != m.st.Installed.ID ||
		l.Primary != m.st.Primary || l.Lineage.LP.ID != lin.LP.ID || l.Lineage.AllSeen != lin.AllSeen ||
		l.Lineage.Unblocked != lin.Unblocked || l.Lineage.Promised != lin.Promised || l.Lineage.PrevUnblocked != lin.PrevUnblocked ||
		len(l.Lineage.Need) != len(lin.Need) || l.Settings != m.settings {
		return false
	}
	i := 0
	for _, id := range m.cfg.Nodes {
		if m.reach[id] {
			if i == len(l.Reach) || l.Reach[i] != id {
				return false
			}
			i++
		}
	}
	return i == len(l.Reach)
}

// report records that the report due was sent (Advance).
func (m *Membership) report() {
	if r, due := m.reportDue(); due {
		m.lastReport, m.lastReportAt = r, m.now
	}
}

func sameReport(a, b *wire.Report) bool {
	return a.State == b.State && a.Promise == b.Promise && a.Installed.ID == b.Installed.ID &&
		a.Primary == b.Primary && slices.Equal(a.Reach, b.Reach) && a.Lineage.LP.ID == b.Lineage.LP.ID &&
		a.Lineage.AllSeen == b.Lineage.AllSeen && a.Lineage.Unblocked == b.Lineage.Unblocked && a.Lineage.Promised == b.Lineage.Promised && a.Lineage.PrevUnblocked == b.Lineage.PrevUnblocked && len(a.Lineage.Need) == len(b.Lineage.Need) &&
		a.Settings == b.Settings
}

// judge decides whether this node may act as primary now, and whether it
// holds a lease; the quorum events follow the lease, so a view change that
// renews it says nothing.
func (m *Membership) judge() {
	m.quorate = m.acting(m.now)
	_, ok := m.leased(m.now)
	if ok == m.held {
		return
	}
	votes, needed := m.leaseVotes(m.now)
	m.held = ok
	kind := EventQuorumLost
	if ok {
		kind = EventQuorumRegained
	}
	m.event(Event{Kind: kind, View: m.st.Installed.ID, Votes: votes, Needed: needed})
}

// acting reports whether this node holds its lease in a primary view and
// the takeover wait has passed.
func (m *Membership) acting(now time.Duration) bool {
	if !m.leasing() || m.self == StateJoining {
		return false
	}
	wait := time.Duration(float64(m.cfg.Lease)*(1+m.cfg.Drift)) + m.cfg.Margin
	if now-m.installedAt < wait {
		return false
	}
	return m.holds(now, m.st.Installed, m.instUnblocked, m.ackUntil)
}

// viewLeased reports whether a quorum of the installed primary view
// answered lease requests of that view that this node sent less than
// lease/(1+drift) ago (promised newer views do not matter: the answers
// do).
func (m *Membership) viewLeased(now time.Duration) bool {
	if !m.st.Primary || !m.inView(m.cfg.Self) || m.self == StateJoining {
		return false
	}
	return m.holds(now, m.st.Installed, m.instUnblocked, m.ackUntil)
}

// leased returns the view whose lease this node holds at now: its
// installed primary view's own, else the lease of the primary view it
// installed before, carried over while it lasts (its member never has a
// gap when the new view's answers come before the old ones expire).
func (m *Membership) leased(now time.Duration) (wire.ViewID, bool) {
	if m.viewLeased(now) {
		return m.st.Installed.ID, true
	}
	c := m.carry
	if c == nil || !m.st.Primary || !m.inView(m.cfg.Self) || m.self == StateJoining || !m.holds(now, c.view, c.unblocked, c.ackUntil) {
		return wire.ViewID{}, false
	}
	return c.view.ID, true
}

// holds reports whether the answers in ackUntil make a lease of view v at
// now (or the witness settles a tie for v's members).
// A view installed from an unblocked lineage (Propose.Unblocked) is
// leased against itself, as it was judged (quorum.LeaseUnblocked).
func (m *Membership) holds(now time.Duration, v wire.View, unblocked bool, ackUntil map[wire.NodeID]time.Duration) bool {
	ackers := append(m.ackBuf[:0], m.cfg.Self)
	for _, id := range v.Members {
		if id != m.cfg.Self && ackUntil[id] > now {
			ackers = append(ackers, id)
		}
	}
	m.ackBuf = ackers
	if m.lease(v, unblocked, ackers) {
		return true
	}
	// A tie settled by the witness: it holds while its vote does.
	if m.cfg.Witness && m.witness.until > now && slices.Equal(m.witness.members, v.Members) {
		ref := quorum.ViewRef{ID: qid(v.ID), Members: v.Members}
		return quorum.Decide(m.cfg.Quorum, slices.Clone(ackers), quorum.Lineage{LP: &ref, AllSeen: true, Witness: true, Unblocked: unblocked}).Primary
	}
	return false
}

// lease is quorum.Lease for view v and ackers, remembered: the same view
// (id and members) and the same ackers give the same verdict (the quorum
// settings never change in a Membership), so an idle node decides once
// per change, not several times per round.
func (m *Membership) lease(v wire.View, unblocked bool, ackers []wire.NodeID) bool {
	for i := range m.leaseMemo {
		e := &m.leaseMemo[i]
		if e.set && e.id == v.ID && e.unblocked == unblocked && slices.Equal(e.members, v.Members) && slices.Equal(e.ackers, ackers) {
			return e.ok
		}
	}
	lease := quorum.Lease
	if unblocked {
		lease = quorum.LeaseUnblocked
	}
	ok := lease(m.cfg.Quorum, quorum.ViewRef{ID: qid(v.ID), Members: v.Members}, ackers)
	// the newest verdict in slot 0, the one before in slot 1 (two views
	// are asked for in turn: the installed one and the carried one)
	m.leaseMemo[1] = m.leaseMemo[0]
	m.leaseMemo[0] = leaseVerdict{id: v.ID, unblocked: unblocked, members: slices.Clone(v.Members), ackers: slices.Clone(ackers), ok: ok, set: true}
	return ok
}

// ackers returns the installed view and the members whose lease answers
// hold at now, this node included.
func (m *Membership) ackers(now time.Duration) (quorum.ViewRef, []wire.NodeID) {
	v := quorum.ViewRef{ID: qid(m.st.Installed.ID), Members: m.st.Installed.Members}
	ackers := []wire.NodeID{m.cfg.Self}
	for _, id := range m.st.Installed.Members {
		if id != m.cfg.Self && m.ackUntil[id] > now {
			ackers = append(ackers, id)
		}
	}
	return v, ackers
}

// leaseVotes is the lease arithmetic for the quorum events.
func (m *Membership) leaseVotes(now time.Duration) (votes, needed int) {
	v, ackers := m.ackers(now)
	d := quorum.Decide(m.cfg.Quorum, ackers, quorum.Lineage{LP: &v, AllSeen: true, Unblocked: m.instUnblocked})
	return d.Votes, d.Needed
}

// needsWitness reports whether a view of members is primary only with the
// witness's vote (this node's lineage as the reference).
func (m *Membership) needsWitness(members []wire.NodeID) bool {
	lin := m.lineageOf(m.knownOf(members))
	v := quorum.ViewRef{ID: qid(m.st.Installed.ID), Members: members}
	lin.LP, lin.AllSeen = &v, true
	return !quorum.Decide(m.cfg.Quorum, members, lin).Primary
}

// knownOf is members whose lineage this node knows.
func (m *Membership) knownOf(members []wire.NodeID) []wire.NodeID {
	var out []wire.NodeID
	for _, id := range members {
		if id == m.cfg.Self || m.reports[id] != nil {
			out = append(out, id)
		}
	}
	return out
}
