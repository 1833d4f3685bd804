package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// LVBPrefix is where the config DB fixes each lockspace's value block
// length: LVBPrefix + name + "/lvb_len", a decimal multiple of 8 in
// 8..dlm.MaxLVB, refused once set to a different value (the same on every
// node, whenever it started).
const LVBPrefix = "/dlm/lockspaces/"

// lvbSuffix ends a lockspace's value block length key.
const lvbSuffix = "/lvb_len"

// ErrLVBFixed refuses a write that would change or delete a lockspace's
// value block length once set, or set it to a value that is not a
// multiple of 8 in 8..256.
var ErrLVBFixed = errors.New("a lockspace's value block length is fixed once set (a multiple of 8 in 8..256)")

// ErrLeaving refuses a lock request (or a disk request) on a node that is
// leaving cleanly: its lock manager gave up every lock before the leave
// was announced.
var ErrLeaving = errors.New("stack: this node is leaving: it takes no locks nor disk requests")

// dlmState is the stack's side of the lock manager (core/dlm): the views
// it is given, the value block lengths the config DB fixes, and the peers
// that came back with a new boot id.
type dlmState struct {
	d     *dlm.DLM
	watch uint64
	lvb   map[string]int // what SetLVB fixed, per lockspace
	view  dlm.View       // the last View given
	set   bool           // view was given
	// leased: this node held a lease once (Lost is about losing one).
	leased bool
	// installed is membership's installed view and its primary flag, as
	// its view_changed events said (its Status costs a quorum decision).
	installed        wire.View
	installedPrimary bool
	// restarted are the peers back with a new boot id: their old
	// incarnation's locks may go. The value is the first view that holds
	// the new incarnation (zero until one is installed); a recovery of
	// that view or a later one purged the old incarnation, and the peer
	// leaves the list (its new incarnation's locks must not go).
	restarted map[wire.NodeID]wire.ViewID
	// leaving: this node asked to leave cleanly; every View given says
	// Lost (its locks were given up before membership announced the
	// leave, and requests are refused) until it asks for another state.
	leaving bool
	// judged: the view was judged in this round, at the clock's time
	// (judgeOnce; a round and a move of the clock reset it).
	judged bool
	// tickDue: a Tick came; the next round judges the view, after
	// membership took the messages conn holds, then runs the lock
	// manager's and the disk core's timers (dlmRound).
	tickDue bool
	// gated: the last view judged was given not primary and without
	// Release because the disk core's barrier of the installed view was
	// not complete (design 5): each round judges again once it is.
	gated bool
}

// openDLM builds the lock manager with the value block lengths the config
// DB holds and watches them.
func (s *Stack) openDLM(rng *rand.Rand) error {
	x := &s.dlm
	x.restarted = map[wire.NodeID]wire.ViewID{}
	x.lvb = map[string]int{}
	ms := s.mem.Status()
	x.installed, x.installedPrimary = ms.View, ms.Primary
	slices.Sort(x.installed.Members)
	cfg := dlm.Config{Self: s.cfg.Self, DeadlockTimeout: s.cfg.DeadlockTimeout, Linger: s.cfg.DLMLinger, LVB: map[string]int{}}
	for _, nd := range s.cfg.Nodes {
		cfg.Nodes = append(cfg.Nodes, nd.ID)
	}
	slices.Sort(cfg.Nodes)
	kvs, _, _ := s.cdb.db.List(LVBPrefix)
	for _, kv := range kvs {
		if ls, n, ok := s.lvbKey(kv.Key, kv.Value); ok {
			cfg.LVB[ls], x.lvb[ls] = n, n
		}
	}
	d, err := dlm.New(cfg, rng)
	if err != nil {
		return fmt.Errorf("lock manager: %w", err)
	}
	x.d = d
	x.watch = s.cdb.db.Watch(LVBPrefix)
	return nil
}

// lvbKey parses a value block length key and its value: the lockspace,
// the length, and whether both are well formed (a bad one is logged).
func (s *Stack) lvbKey(key string, value []byte) (string, int, bool) {
	ls, ok := strings.CutPrefix(key, LVBPrefix)
	if !ok {
		return "", 0, false
	}
	if ls, ok = strings.CutSuffix(ls, lvbSuffix); !ok || ls == "" || strings.Contains(ls, "/") {
		return "", 0, false
	}
	n, err := parseLVB(value)
	if err != nil {
		s.logf(slog.LevelWarn, "lock manager: ignoring a bad value block length", "key", key, "err", err)
		return "", 0, false
	}
	return ls, n, true
}

// parseLVB reads a value block length: a decimal multiple of 8 in
// 8..dlm.MaxLVB.
func parseLVB(v []byte) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(string(v)))
	if err != nil || n < 8 || n > dlm.MaxLVB || n%8 != 0 {
		return 0, fmt.Errorf("%q: %w", v, ErrLVBFixed)
	}
	return n, nil
}

// dlmWatch feeds the config DB's value block lengths: a new one is fixed
// (SetLVB); a change of one fixed already is refused (logged).
func (s *Stack) dlmWatch(evs []cdb.WatchEvent) {
	for _, ev := range evs {
		if ev.Watch != s.dlm.watch || ev.Deleted {
			continue
		}
		s.dlmSetLVB(ev.Key, ev.Value)
	}
}

// dlmResync feeds every value block length the DB holds (after an
// adopted history, whose changes no watch reported).
func (s *Stack) dlmResync() {
	kvs, _, _ := s.cdb.db.List(LVBPrefix)
	for _, kv := range kvs {
		s.dlmSetLVB(kv.Key, kv.Value)
	}
}

func (s *Stack) dlmSetLVB(key string, value []byte) {
	ls, n, ok := s.lvbKey(key, value)
	if !ok {
		return
	}
	if old, set := s.dlm.lvb[ls]; set {
		if old != n {
			s.logf(slog.LevelWarn, "lock manager: a lockspace's value block length cannot change; keeping the first", "lockspace", ls, "len", old, "asked", n)
		}
		return
	}
	s.dlm.lvb[ls] = n
	if err := s.dlm.d.Step(s.now, dlm.SetLVB{Lockspace: ls, Len: n}); err != nil {
		s.logf(slog.LevelWarn, "lock manager: value block length", "lockspace", ls, "err", err)
	}
}

// dlmCheckPropose refuses a transaction that would delete a value block
// length, set a bad one, or change one the DB holds; it adds to a write
// that creates one the condition that it does not exist yet, so two
// concurrent first writes cannot both commit.
func (s *Stack) dlmCheckPropose(req *cdb.Request) error {
	for _, op := range req.Then {
		if !strings.HasPrefix(op.Key, LVBPrefix) || !strings.HasSuffix(op.Key, lvbSuffix) {
			continue
		}
		if op.Kind != cdb.OpPut {
			return fmt.Errorf("%s: %w", op.Key, ErrLVBFixed)
		}
		n, err := parseLVB(op.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", op.Key, err)
		}
		kv, found, _ := s.cdb.db.Get(op.Key)
		if found {
			if old, err := parseLVB(kv.Value); err != nil || old != n {
				return fmt.Errorf("%s is %s: %w", op.Key, kv.Value, ErrLVBFixed)
			}
			req.If = append(req.If, cdb.Cond{Key: op.Key, ModRev: kv.ModRev})
			continue
		}
		req.If = append(req.If, cdb.Cond{Key: op.Key})
	}
	return nil
}

// dlmCovered reports whether a fence device (or watchdog mode) covers a
// node: then its locks go only once it is confirmed fenced, left cleanly
// or came back with a new boot id, and it keeps its own while cut off.
func (s *Stack) dlmCovered(id wire.NodeID) bool {
	t := s.cfg.Fence.Targets[s.names[id]]
	return len(t.Levels) > 0 || t.Watchdog
}

// dlmViewNow is the View the lock manager must have now (design 4 to 6):
//
//   - Primary: the installed view is primary (and not a lone two_node
//     view that never paired) and this node holds its lease by the clock
//     now (a lease carried across the change counts).
//   - Release: the nodes outside the view confirmed fenced at their last
//     boot id, left cleanly and not back since, or (no fence device
//     covers them) once the takeover wait of this view passed; and the
//     members back with a new boot id (their old incarnation is dead),
//     until a recovery of a view holding the new one finished and purged
//     it. Every absent node stays named for as long as its rule holds (the lock
//     manager waits for all of them).
//   - Lost: this node held a lease, holds none now, and no fence device
//     covers it: the survivors release its locks after the lease wait.
//     Also while this node leaves cleanly (SetState leaving): the
//     survivors release a leaver at once (LeftCleanly), so its lock
//     manager gives up every lock (its clients are told Lost; the masters
//     are sent force-unlocks) before membership announces the leave.
//
// While the disk core's barrier of the installed view is not complete
// here (disk.Fenced, design 5 of the served disk), Primary is false and
// Release empty: a write of a departed incarnation may still land on a
// disk this node serves (wiring rule 13).
func (s *Stack) dlmViewNow(now time.Duration) dlm.View {
	return s.dlmViewOf(now, s.judgeView(now))
}

// viewJudgement is what the lock manager's and the disk core's views
// share (judgeView).
type viewJudgement struct{ primary, lost bool }

// judgeView judges Primary and Lost of the installed view at now, as
// dlmViewNow says (the disk core's View takes the same).
func (s *Stack) judgeView(now time.Duration) viewJudgement {
	x := &s.dlm
	leased := s.mem.Leased(now)
	if leased {
		x.leased = true
	}
	primary := x.installedPrimary && leased && x.installed.ID != (wire.ViewID{})
	if primary && s.qc.TwoNode {
		primary = s.twoNodeAlone(s.mem.Status()) != quorum.AloneIdle
	}
	return viewJudgement{primary: primary, lost: (x.leased && !leased && !s.dlmCovered(s.cfg.Self)) || x.leaving}
}

// dlmViewOf is dlmViewNow with Primary and Lost judged (j).
func (s *Stack) dlmViewOf(now time.Duration, j viewJudgement) dlm.View {
	x := &s.dlm
	v := dlm.View{ID: x.installed.ID, Members: x.installed.Members, Primary: j.primary, Lost: j.lost}
	quorate, asked := false, false
	takeover := func() bool { // asked only when it matters: it costs a quorum decision
		if !asked {
			quorate, asked = s.mem.Quorate(now), true
		}
		return quorate
	}
	for _, nd := range s.cfg.Nodes {
		id := nd.ID
		if id == s.cfg.Self {
			continue
		}
		member := slices.Contains(v.Members, id)
		if rv, ok := x.restarted[id]; ok && member {
			// its old incarnation is dead: released while the new one is
			// a member (its own locks are rebuilt from its copies); absent,
			// the new one may hold locks: the rules below decide
			if rv == (wire.ViewID{}) {
				x.restarted[id] = v.ID
			}
			v.Release = append(v.Release, id)
			continue
		}
		if member {
			continue
		}
		if s.fenceDown(nd, true) || (!s.dlmCovered(id) && takeover()) {
			v.Release = append(v.Release, id)
		}
	}
	slices.Sort(v.Release)
	// design 5: no lock of a departed incarnation goes while one of its
	// writes may still land on a disk this node serves. Withholding
	// Release is not enough: a departed incarnation that is a member
	// again (back with a new boot id) needs no Release for a recovery to
	// start, and the recovery rebuilds the masters from the members'
	// copies, where the new incarnation holds none of the old one's
	// locks. So the lock manager is also told the view is not primary:
	// it starts no recovery (which, a barrier over every member, then
	// finishes nowhere) and grants nothing until the barrier completes
	// (wiring rule 13).
	x.gated = !s.diskFenced()
	if x.gated {
		v.Primary, v.Release = false, nil
	}
	return v
}

// fenceDown reports whether the fence core holds nd down (confirmed
// fenced, or left cleanly) at the incarnation this node last talked to.
// forLocks (the lock manager's Release) also counts a newer incarnation
// back (peer_restarted) that no view installed here held: it holds no
// lock (fenceDownAt), but it is alive, so two_node's peerDown does not.
func (s *Stack) fenceDown(nd Node, forLocks bool) bool {
	cb, confirmed := s.fence.f.Confirmed(nd.Name)
	left := s.fence.f.LeftCleanly(nd.Name)
	if !confirmed && !left {
		return false
	}
	var seen uint32
	for _, p := range s.conn.Status() {
		if p.ID == nd.ID {
			seen = p.Boot
		}
	}
	var fb uint64
	if left {
		for _, t := range s.fence.f.Status() {
			if t.Target == nd.Name {
				fb = t.Boot
			}
		}
	}
	rv, restarted := s.dlm.restarted[nd.ID]
	fresh := forLocks && restarted && rv == (wire.ViewID{})
	return fenceDownAt(cb, confirmed, left, fb, seen, fresh)
}

// fenceDownAt: the fence core judges a node at the last boot id it saw,
// which lags conn's (a new incarnation's first reports may not be
// delivered yet when it is cut off again): a confirmation at boot cb, or
// a clean leave at the fence core's boot fb, holds a node down only when
// conn has talked to no newer incarnation (seen, 0 before any contact).
// A newer one is released by its restart (peer_restarted) only until it
// joined a view that recovered: its own locks must stay.
//
// fresh: conn saw the node come back with a new boot id (peer_restarted)
// and no view installed here held it since. Then a confirmation (or clean
// leave) at the fence core's older boot id holds it down too: every older
// incarnation is over (a node runs one at a time), and the newest holds
// no lock: a lock is granted only in a primary view whose recovery every
// member took part in, and it was a member of none this node installed,
// nor of one the fence core heard of (its Report would carry its boot
// id, and the fence core would then confirm nothing older). Were it a
// member of a primary view this node missed, that view shares a member
// with this one (majority), which installed it and so does not release
// it: the recovery, a barrier over every member, waits.
func fenceDownAt(cb uint64, confirmed, left bool, fb uint64, seen uint32, fresh bool) bool {
	s := uint64(seen)
	return (confirmed && (s <= cb || fresh)) || (left && (s <= fb || fresh))
}

// dlmView gives the lock manager the View when it changed. It is asked
// in the round after every Tick, at every request and installed view
// (not at every round: the lease and the fence core's confirmations are
// judged by the clock, and a lease that lapses is seen by the round
// after the next Tick, well within the margin the survivors wait beyond
// the lease).
func (s *Stack) dlmView(now time.Duration) {
	x := &s.dlm
	j := s.judgeView(now)
	s.diskView(now, j) // first: the lock manager's Release waits for its barrier
	v := s.dlmViewOf(now, j)
	if x.set && v.ID == x.view.ID && v.Primary == x.view.Primary && v.Lost == x.view.Lost &&
		slices.Equal(v.Members, x.view.Members) && slices.Equal(v.Release, x.view.Release) {
		return
	}
	if v.ID != x.view.ID {
		s.dlmResync() // an adopted history: its changes came in no watch
	}
	x.view, x.set = v, true
	v.Members, v.Release = slices.Clone(v.Members), slices.Clone(v.Release)
	if err := x.d.Step(now, v); err != nil {
		s.logf(slog.LevelWarn, "lock manager: view", "view", s.ViewName(v.ID), "err", err)
	}
}

// judgeOnce gives the lock manager and the disk core the view of now
// (dlmView) unless it was judged since the clock last moved: once a
// round, and again for an input or request that comes later than the
// last judgement (a lease may have lapsed meanwhile). Every message,
// input and request that can let the lock manager grant or the disk
// core start IO comes through here (or dlmView) first.
func (s *Stack) judgeOnce(now time.Duration) {
	if s.dlm.judged {
		return
	}
	s.dlmView(now)
	s.dlm.judged = true
}

// dlmRestarted notes a peer back with a new boot id (conn's
// peer_restarted).
func (s *Stack) dlmRestarted(peer wire.NodeID) { s.dlm.restarted[peer] = wire.ViewID{} }

// dlmReceive gives the lock manager a message from a peer's. The view is
// judged first, once a round (now is the round's time, the latest the
// driver gave): a node paused past its lease must learn it is no longer
// primary (or Lost) before a message lets it grant (G5).
func (s *Stack) dlmReceive(now time.Duration, from wire.NodeID, payload []byte) {
	s.judgeOnce(now)
	if err := s.dlm.d.Step(now, dlm.Receive{From: from, Payload: slices.Clone(payload)}); err != nil {
		s.logf(slog.LevelWarn, "lock manager message refused", "from", s.names[from], "err", err)
	}
}

// dlmRound gives the lock manager the view, then takes its Ready: its
// messages go on the peers' circuits, its completions, blocking notices,
// answers and events to the driver. It reports whether there was
// anything.
func (s *Stack) dlmRound(now time.Duration, evs []membership.Event) bool {
	x := &s.dlm
	installed := false
	for _, e := range evs {
		if e.Kind == membership.EventViewChanged {
			x.installed = wire.View{ID: e.View, Members: slices.Sorted(slices.Values(e.Members))}
			x.installedPrimary, installed = e.Primary, true
		}
	}
	if installed || (x.gated && s.diskFenced()) || x.tickDue {
		s.dlmView(now)
		x.judged = true
	}
	if x.tickDue {
		// the timers a Tick called for, with the view just judged (the
		// disk core's drain may start IO)
		x.tickDue = false
		x.d.Tick(now)
		s.disk.d.Tick(now)
	}
	if !x.d.HasReady() {
		return false
	}
	rd := x.d.Ready()
	x.d.Advance()
	for _, o := range rd.Messages {
		if _, err := s.conn.Send(now, o.To, wire.Encode(&wire.DLM{Payload: o.Payload})); err != nil {
			s.logf(slog.LevelWarn, "lock manager send", "to", s.names[o.To], "err", err)
		}
	}
	s.rd.DLMCompletions = append(s.rd.DLMCompletions, rd.Completions...)
	s.rd.DLMBlocking = append(s.rd.DLMBlocking, rd.Blocking...)
	s.rd.DLMAnswers = append(s.rd.DLMAnswers, rd.Answers...)
	for _, e := range rd.Events {
		s.dlmRecovered(e)
	}
	return true
}

// dlmRecovered records a finished recovery (the event dlm_recovered):
// the peers back with a new boot id that a view it covers holds, and
// that it purged, leave Release.
func (s *Stack) dlmRecovered(e dlm.Recovered) {
	s.rd.Events = append(s.rd.Events, Event{View: e.View, DLM: &e})
	var purged []string
	for _, id := range e.Purged {
		purged = append(purged, s.names[id])
	}
	s.logf(slog.LevelInfo, "dlm_recovered", "view", s.ViewName(e.View), "purged", purged, "resources", e.Resources, "took", e.Took)
	for id, rv := range s.dlm.restarted {
		// only a recovery that purged it (named in its Release): one that
		// finished while the disk barrier withheld Release did not
		if rv != (wire.ViewID{}) && !viewLess(e.View, rv) && slices.Contains(e.Purged, id) {
			delete(s.dlm.restarted, id)
		}
	}
}

// viewLess orders view ids by epoch, then coordinator.
func viewLess(a, b wire.ViewID) bool {
	return a.Epoch < b.Epoch || (a.Epoch == b.Epoch && a.Coord < b.Coord)
}

// dlmTick notes that the lock manager's and the disk core's timers are
// due, and their view must be judged again: the next round does both
// (dlmRound), after membership took the messages conn holds. Judged
// here, before them, a lease that the answers already received renewed
// would look lapsed: the lock manager told Lost would complete its locks
// Lost, and the disk core fail its requests (continuity; the sibling of
// crmTick). An input before that round judges the view itself (judgeOnce
// is reset here: membership's Tick may have changed it at this time).
func (s *Stack) dlmTick(time.Duration) {
	s.dlm.tickDue = true
	s.dlm.judged = false
}

// LockDLM asks the lock manager for a new lock or a conversion
// (dlm.Convert); its completion comes in a later Ready's DLMCompletions.
func (s *Stack) LockDLM(now time.Duration, r dlm.Request) (dlm.LockID, error) {
	if s.stop != nil {
		return 0, ErrStopped
	}
	s.advanceClock(now)
	if s.dlm.leaving {
		return 0, ErrLeaving
	}
	s.dlmView(now)
	return s.dlm.d.Lock(now, r)
}

// UnlockDLM releases, cancels (dlm.Cancel) or force-unlocks a lock; its
// completion comes in a later Ready's DLMCompletions.
func (s *Stack) UnlockDLM(now time.Duration, id dlm.LockID, flags dlm.Flags, lvb []byte) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	s.dlmView(now)
	return s.dlm.d.Unlock(now, id, flags, lvb)
}

// PurgeOwner releases every lock of an owner (dlm.PurgeOwner: its
// persistent locks become orphans; its clients get no completion).
func (s *Stack) PurgeOwner(now time.Duration, o dlm.Owner) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	s.dlmView(now)
	return s.dlm.d.Step(now, dlm.PurgeOwner{Owner: o})
}

// AskLocks asks for the cluster-wide table of locks of a lockspace (""
// for every one): the Answer with tag comes in a later Ready's
// DLMAnswers.
func (s *Stack) AskLocks(now time.Duration, tag uint64, lockspace string) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	s.dlmView(now)
	return s.dlm.d.Step(now, dlm.Ask{Tag: tag, Lockspace: lockspace})
}

// DLMLocks describes the locks this node holds and the resources it
// masters (a local read).
func (s *Stack) DLMLocks(lockspace string) []dlm.ResourceInfo { return s.dlm.d.Locks(lockspace) }
