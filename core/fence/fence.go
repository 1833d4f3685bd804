package fence

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Fence is one node's fencing state machine. Not safe for concurrent use.
type Fence struct {
	cfg Config
	now time.Duration
	st  *state

	view      View
	installAt time.Duration // when the current view was given
	settled   bool
	settledAt time.Duration
	leaseAt   time.Duration   // when this node got the lease of the current view
	reports   map[string][]ID // members' running calls, from their reports in this view
	n         uint32          // ID counter in the current view
	reqN      uint64

	running    map[ID]Call     // calls this node runs
	unreported map[ID]Result   // results of this node's calls not yet delivered in a primary view
	issuing    map[string]bool // targets with a command of this coordinator in flight
	seen       map[ID]time.Duration
	failSeen   map[ID]time.Duration

	confirmedOut map[string]uint64
	selfFenced   bool
	dirty        bool
	out          Ready
}

// New returns a fence state machine. It refuses a config it cannot use.
func New(cfg Config) (*Fence, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Fence{cfg: cfg, st: newState(), reports: map[string][]ID{}, running: map[ID]Call{},
		unreported: map[ID]Result{}, issuing: map[string]bool{}, seen: map[ID]time.Duration{},
		failSeen: map[ID]time.Duration{}, confirmedOut: map[string]uint64{}}, nil
}

// Restore loads what Ready.Persist last gave (at a restart, before any
// input).
func (f *Fence) Restore(b []byte) error {
	s, err := decodeState(b)
	if err != nil {
		return err
	}
	f.st = s
	// what was confirmed before the restart was already handed over
	for _, t := range f.targets() {
		if b, ok := f.confirmed(t); ok {
			f.confirmedOut[t] = b
		}
	}
	return nil
}

// Ready returns what the driver must do.
func (f *Fence) Ready() Ready { return f.out }

// HasReady reports whether Ready has anything.
func (f *Fence) HasReady() bool { return !f.out.Empty() }

// Advance clears what Ready returned.
func (f *Fence) Advance() { f.out = Ready{} }

func (f *Fence) nLevels(t string) int { return len(f.cfg.Targets[t].Levels) }

func (f *Fence) member(n string) bool { return slices.Contains(f.view.Members, n) }

func (f *Fence) isCoord() bool {
	return f.view.Primary && f.view.Lease && f.view.Coordinator == f.cfg.Self && f.settled
}

func (f *Fence) newID() ID {
	f.n++
	return ID{View: f.view.ID, N: f.n}
}

func (f *Fence) broadcast(m Message) {
	m.From, m.FromBoot = f.cfg.Self, f.cfg.Boot
	f.out.Broadcast = append(f.out.Broadcast, Encode(m))
}

// Step takes one input. Errors are for requests a person gave (an
// unknown node, no primary view) and for payloads that do not decode.
func (f *Fence) Step(now time.Duration, in Input) error {
	f.now = now
	var err error
	switch in := in.(type) {
	case View:
		f.setView(in)
	case Deliver:
		err = f.deliver(in)
	case Result:
		f.result(in)
	case Request:
		err = f.request(in)
	case Confirm:
		err = f.confirmReq(in)
	default:
		err = fmt.Errorf("fence: unknown input %T", in)
	}
	f.post()
	return err
}

// Tick lets time pass: delays, watchdog waits, abandon waits, retries.
func (f *Fence) Tick(now time.Duration) {
	f.now = now
	f.post()
}

func (f *Fence) setView(v View) {
	v.Members = slices.Clone(v.Members)
	sort.Strings(v.Members)
	changed := v.ID != f.view.ID
	if v.Lease && (changed || !f.view.Lease) {
		f.leaseAt = f.now
	}
	f.view = v
	if !changed {
		return
	}
	f.installAt = f.now
	f.settled = false
	f.reports = map[string][]ID{}
	f.n = 0
	f.issuing = map[string]bool{}
	if !v.Primary || !f.member(f.cfg.Self) {
		return
	}
	for _, n := range v.Members {
		if f.st.addMember(n, v.ID) {
			f.dirty = true // a node that left cleanly and is back must leave cleanly again
		}
	}
	snap, _ := decodeState(f.st.encode())
	for _, id := range sortedIDs(f.unreported) {
		r := f.unreported[id]
		if a := snap.atts[id]; a != nil {
			a.resolve(resultOf(r.OK), r.Error)
		}
	}
	var clean []nodeBoot
	for _, n := range v.Clean {
		if b := f.st.boots[n]; b > 0 && !f.member(n) {
			clean = append(clean, nodeBoot{Node: n, Boot: b})
		}
	}
	f.broadcast(Message{Kind: kindReport, Issued: v.ID, Boot: f.cfg.Boot, Running: sortedIDs(f.running), Clean: clean, State: snap.encode()})
}

func resultOf(ok bool) uint8 {
	if ok {
		return resultOK
	}
	return resultFailed
}

func sortedIDs[V any](m map[ID]V) []ID {
	ids := make([]ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	return ids
}

func (f *Fence) request(in Request) error {
	if !f.known(in.Target) {
		return fmt.Errorf("fence: %q is not a configured node (nodes: %s)", in.Target, strings.Join(f.targets(), ", "))
	}
	if !f.view.Primary {
		return fmt.Errorf("fence: this node is not in a primary view: ask a node of the quorate side: %w", ErrCannotFence)
	}
	tc := f.cfg.Targets[in.Target]
	if len(tc.Levels) == 0 {
		if !tc.Watchdog {
			return fmt.Errorf("fence: no fence device for %s and watchdog mode is off: configure [[fence.levels]] for it: %w", in.Target, ErrCannotFence)
		}
		if f.member(in.Target) {
			return fmt.Errorf("fence: no fence device for %s, and watchdog mode fences only a node that left the view: %w", in.Target, ErrCannotFence)
		}
	}
	if f.member(in.Target) && len(f.view.Members) == 1 {
		return fmt.Errorf("fence: %s is the only member of the view: no other node can carry out its fence: %w", in.Target, ErrCannotFence)
	}
	f.reqN++
	reason := in.Reason
	if reason == "" {
		reason = "requested by " + f.cfg.Self
	}
	f.broadcast(Message{Kind: kindRequest, Req: fmt.Sprintf("%s.%d.%d", f.cfg.Self, f.cfg.Boot, f.reqN), Target: in.Target, Reason: reason})
	return nil
}

func (f *Fence) confirmReq(in Confirm) error {
	if !f.known(in.Target) {
		return fmt.Errorf("fence: %q is not a configured node (nodes: %s)", in.Target, strings.Join(f.targets(), ", "))
	}
	if !f.view.Primary {
		return fmt.Errorf("fence: this node is not in a primary view: confirm on a node of the quorate side")
	}
	if f.member(in.Target) {
		return fmt.Errorf("fence: %s is a member of the view, so it is up: fence it with 'fence %s' instead", in.Target, in.Target)
	}
	// A node never seen in a primary view (boot id 0) is confirmed at boot
	// id 0: down, whatever incarnation, until it announces one.
	b := f.st.boots[in.Target]
	f.broadcast(Message{Kind: kindConfirm, Target: in.Target, Boot: b})
	return nil
}

func (f *Fence) known(n string) bool {
	_, ok := f.cfg.Targets[n]
	return ok || f.st.boots[n] > 0
}

// targets are every configured node and every node seen, sorted.
func (f *Fence) targets() []string {
	set := map[string]bool{}
	for t := range f.cfg.Targets {
		set[t] = true
	}
	for t := range f.st.boots {
		set[t] = true
	}
	return sortedKeys(set)
}

func (f *Fence) result(r Result) {
	c, ok := f.running[r.Call]
	if !ok {
		return
	}
	delete(f.running, r.Call)
	f.unreported[r.Call] = r
	f.broadcast(Message{Kind: kindDone, ID: r.Call, Op: c.Op, Target: c.Target, OK: r.OK, Reason: r.Error})
}

func (f *Fence) deliver(d Deliver) error {
	if !d.Primary {
		return nil // only primary views decide anything about fencing
	}
	m, err := Decode(d.Payload)
	if err != nil {
		return err
	}
	f.dirty = true
	valid := m.Issued == d.View // a coordinator command counts only in its own view
	before := map[string]bool{}
	if m.Target != "" {
		_, before[m.Target] = f.confirmed(m.Target)
	}
	switch m.Kind {
	case kindReport:
		s, err := decodeState(m.State)
		if err != nil {
			return err
		}
		s.boots[m.From] = max(s.boots[m.From], m.Boot)
		s.addMember(m.From, m.Issued)
		for _, c := range m.Clean {
			s.addClean(c.Node, cleanRec{Boot: c.Boot, View: m.Issued})
		}
		f.st.join(s)
		f.markSeen()
		if d.View == f.view.ID && !d.Flush {
			f.reports[m.From] = m.Running
			f.checkSettled()
		}
	case kindBegin:
		if !valid {
			return nil
		}
		f.st.addOp(opRec{ID: m.ID, Target: m.Target, Boot: m.Boot, Reason: m.Reason, Req: m.Req, By: m.From, ByBoot: m.FromBoot})
		if q := f.st.reqs[m.Req]; q != nil {
			q.Served = true
		}
		f.markSeen()
		if m.From == f.cfg.Self {
			delete(f.issuing, m.Target)
		}
	case kindAttempt:
		a := attRec{ID: m.ID, Op: m.Op, Target: m.Target, Round: m.Round, Level: m.Level, Dev: m.Dev, LevelSize: m.LevelSize,
			Device: m.Device, Runner: m.From, RunnerBoot: m.Boot}
		if !valid {
			a.Result, a.Error = resultAbandoned, fmt.Sprintf("issued in view %d/%d, delivered in %d/%d: void", m.Issued.Epoch, m.Issued.Coord, d.View.Epoch, d.View.Coord)
		}
		f.st.addAtt(a)
		f.markSeen()
		if m.From == f.cfg.Self {
			delete(f.issuing, m.Target)
		}
		if !valid {
			return nil
		}
		f.event(Event{Kind: EventStarted, View: d.View, Target: m.Target, Device: m.Device})
		if m.From == f.cfg.Self && m.Boot == f.cfg.Boot && !d.Flush && d.View == f.view.ID && f.view.Primary && f.view.Lease {
			f.startCall(a)
		}
	case kindDone, kindAbandon:
		if m.Kind == kindAbandon && !valid {
			return nil
		}
		a := f.st.atts[m.ID]
		if m.Kind == kindDone && m.From == f.cfg.Self {
			delete(f.unreported, m.ID)
		}
		if m.Kind == kindAbandon && m.From == f.cfg.Self {
			delete(f.issuing, m.Target)
		}
		if a == nil {
			return nil // pruned, or never known: a report will carry it if it matters
		}
		res := resultAbandoned
		if m.Kind == kindDone {
			res = resultOf(m.OK)
		}
		wasNone := a.Result == resultNone
		if !a.resolve(res, m.Reason) || !wasNone {
			break
		}
		if res != resultOK {
			f.event(Event{Kind: EventFailed, View: d.View, Target: a.Target, Device: a.Device, Error: m.Reason})
		}
		f.opEnded(a.Op)
	case kindWatchdog, kindFail:
		if !valid {
			return nil
		}
		if m.From == f.cfg.Self {
			delete(f.issuing, m.Target)
		}
		o := f.st.ops[m.ID]
		if o == nil {
			return nil
		}
		c := *o
		if m.Kind == kindWatchdog {
			c.Watchdog = m.From
		} else {
			c.Failed = m.Reason
		}
		if f.st.addOp(c) {
			if m.Kind == kindFail {
				f.event(Event{Kind: EventFailed, View: d.View, Target: o.Target, Error: m.Reason})
			}
			f.opEnded(o.ID)
		}
	case kindRequest:
		if f.st.reqs[m.Req] == nil {
			f.st.reqs[m.Req] = &reqRec{Key: m.Req, Target: m.Target, From: m.From, Reason: m.Reason}
		}
	case kindConfirm:
		f.st.confirm(m.Target, confRec{Boot: m.Boot, By: m.From})
	}
	if t := m.Target; t != "" && m.Kind != kindReport {
		if _, now := f.confirmed(t); now && !before[t] {
			_, dev, by := f.st.fencedBoot(t)
			f.event(Event{Kind: EventFenced, View: d.View, Target: t, Device: dev, By: by})
		}
	}
	return nil
}

func (f *Fence) markSeen() {
	for id := range f.st.ops {
		if _, ok := f.seen[id]; !ok {
			f.seen[id] = f.now
		}
	}
	for id := range f.st.atts {
		if _, ok := f.seen[id]; !ok {
			f.seen[id] = f.now
		}
	}
}

func (f *Fence) checkSettled() {
	if f.settled {
		return
	}
	for _, n := range f.view.Members {
		if _, ok := f.reports[n]; !ok {
			return
		}
	}
	f.settled, f.settledAt = true, f.now
}

func (f *Fence) event(e Event) { f.out.Events = append(f.out.Events, e) }

func (f *Fence) startCall(a attRec) {
	t := f.cfg.Targets[a.Target]
	var dev *Device
	if a.Level < len(t.Levels) && a.Dev < len(t.Levels[a.Level]) && t.Levels[a.Level][a.Dev].Name == a.Device {
		dev = &t.Levels[a.Level][a.Dev]
	}
	if dev == nil {
		// not this node's configuration: fail the call rather than guess
		f.unreported[a.ID] = Result{Call: a.ID, Error: "device " + a.Device + " is not configured on " + f.cfg.Self}
		f.broadcast(Message{Kind: kindDone, ID: a.ID, Op: a.Op, Target: a.Target, Reason: f.unreported[a.ID].Error})
		return
	}
	c := Call{ID: a.ID, Op: a.Op, Target: a.Target, Device: dev.Name, Driver: dev.Driver, Action: f.cfg.Action,
		Params: dev.Params, Timeout: f.cfg.Timeout, Deadline: f.now + f.cfg.Timeout}
	f.running[a.ID] = c
	f.out.Calls = append(f.out.Calls, c)
}

// opEnded writes the history record of an op that just ended, on the
// coordinator.
func (f *Fence) opEnded(id ID) {
	o := f.st.ops[id]
	if o == nil || f.view.Coordinator != f.cfg.Self || !f.view.Primary {
		return
	}
	v := f.st.view(o, f.nLevels(o.Target), f.cfg.Rounds)
	if v.status != opDone && v.status != opFailed {
		return
	}
	r := HistoryRecord{Op: id.String(), Target: o.Target, Boot: o.Boot, Reason: o.Reason, State: StateFailed, Error: v.lastErr, Attempts: []HistoryAttempt{}}
	if v.status == opDone {
		r.State, r.Error = StateDone, ""
		if v.doneBy != nil {
			r.Device, r.By = v.doneBy.Device, v.doneBy.Runner
		} else {
			r.Device, r.By = DeviceWatchdog, o.Watchdog
		}
	}
	names := [...]string{"running", "abandoned", "failed", "ok"}
	for _, a := range v.attempts {
		r.Attempts = append(r.Attempts, HistoryAttempt{Device: a.Device, Level: a.Level + 1, Round: a.Round + 1, Runner: a.Runner, Result: names[a.Result], Error: a.Error})
	}
	b, _ := json.Marshal(r)
	f.out.History = append(f.out.History, Record{Key: fmt.Sprintf("%s%s/%010d-%05d-%06d", HistoryPrefix, o.Target, id.View.Epoch, id.View.Coord, id.N), Value: b})
}

// confirmed reports whether t is fenced at its last known incarnation:
// boot id 0 for a node never seen in a primary view (an op begun or a
// confirmation made before any boot id of it was known), which holds
// until the node announces a boot id.
func (f *Fence) confirmed(t string) (uint64, bool) {
	b, dev, _ := f.st.fencedBoot(t)
	return b, dev != "" && b >= f.st.boots[t]
}

// post runs after every input: outputs derived from the state, then the
// coordinator's decisions.
func (f *Fence) post() {
	for _, t := range f.targets() {
		b, ok := f.confirmed(t)
		if out, done := f.confirmedOut[t]; ok && (!done || out != b) {
			f.confirmedOut[t] = b
			_, dev, by := f.st.fencedBoot(t)
			f.out.Confirmed = append(f.out.Confirmed, Confirmed{Target: t, Boot: b, Device: dev, By: by})
		}
	}
	if !f.selfFenced {
		if b, dev, by := f.st.fencedBoot(f.cfg.Self); b >= f.cfg.Boot && b > 0 {
			f.selfFenced = true
			f.out.SelfFence = fmt.Sprintf("%s was confirmed fenced at its boot id %d (device %s, by %s): stop everything now and restart", f.cfg.Self, b, dev, by)
		} else if o := f.unfinishedSelf(); o != nil {
			f.selfFenced = true
			f.out.SelfFence = fmt.Sprintf("a fence of %s at its boot id %d (op %v: %s) was begun while it was cut off: stop everything now and restart", f.cfg.Self, o.Boot, o.ID, o.Reason)
			if o.Req != "" {
				f.out.SelfFence = fmt.Sprintf("a fence of %s at its boot id %d was requested (op %v: %s): stop everything now; the other members carry it out", f.cfg.Self, o.Boot, o.ID, o.Reason)
			}
		}
	}
	f.schedule()
	if f.dirty {
		f.dirty = false
		f.st.prune(f.nLevels, f.cfg.Rounds)
		f.out.Persist = f.st.encode()
	}
}

// unfinishedSelf is an op against this incarnation that is not done and
// could still be carried out (one with no device is not, nor one whose
// every worker is gone: opVoid).
func (f *Fence) unfinishedSelf() *opRec {
	if !f.settled {
		return nil
	}
	for _, o := range f.st.sortedOps() {
		if o.Target != f.cfg.Self || o.Boot != f.cfg.Boot || o.Failed != "" {
			continue
		}
		if v := f.st.view(o, f.nLevels(o.Target), f.cfg.Rounds); v.status != opDone && v.status != opObsolete && v.status != opVoid {
			return o
		}
	}
	return nil
}

// active is the op that now works for t: the newest that is pending or
// running (an older one still running is covered by outstanding).
func (f *Fence) active(t string) (opView, bool) {
	ops := f.st.sortedOps()
	for i := len(ops) - 1; i >= 0; i-- {
		o := ops[i]
		if o.Target != t {
			continue
		}
		v := f.st.view(o, f.nLevels(t), f.cfg.Rounds)
		if v.status == opPending || v.status == opRunning {
			return v, true
		}
	}
	return opView{}, false
}

// lastOp is the newest op of t at boot b.
func (f *Fence) lastOp(t string, b uint64) (opView, bool) {
	ops := f.st.sortedOps()
	for i := len(ops) - 1; i >= 0; i-- {
		if o := ops[i]; o.Target == t && o.Boot == b {
			return f.st.view(o, f.nLevels(t), f.cfg.Rounds), true
		}
	}
	return opView{}, false
}

// need reports why t must be fenced now ("": it need not): a request for
// it is open; or an op for its last incarnation was begun and failed (an
// op once begun is carried through, even if the node came back at the
// same boot id, unless everyone who worked on it is gone: opVoid); or it
// left the primary view uncleanly at its last boot and is not fenced at
// it.
func (f *Fence) need(t string) (reason, req string) {
	for _, q := range f.st.sortedReqs() {
		if q.Target == t && !q.Served {
			return q.Reason, q.Key
		}
	}
	b := f.st.boots[t]
	if b == 0 {
		return "", ""
	}
	if fb, _, _ := f.st.fencedBoot(t); fb >= b {
		return "", ""
	}
	if last, ok := f.lastOp(t, b); ok && last.status != opVoid {
		return "retry: " + strings.TrimPrefix(last.op.Reason, "retry: "), ""
	}
	if f.member(t) || f.st.leftCleanly(t) {
		return "", ""
	}
	if !f.view.Takeover && slices.Contains(f.view.Reach, t) {
		return "", "" // reachable: it may be a member of the next view (View.Reach)
	}
	return fmt.Sprintf("left view %d/%d uncleanly", f.view.ID.Epoch, f.view.ID.Coord), ""
}

// schedule is the coordinator's turn: begin ops, issue calls, abandon
// calls whose runner cannot answer, confirm watchdog waits.
func (f *Fence) schedule() {
	if !f.isCoord() {
		return
	}
	for _, t := range f.targets() {
		if f.issuing[t] {
			continue
		}
		tc := f.cfg.Targets[t]
		if a := f.st.outstanding(t); a != nil {
			f.waitOrAbandon(a) // one call on a node at a time, whatever op it serves
			continue
		}
		if t == f.cfg.Self {
			// The coordinator runs no call against itself. A request for
			// it (`fence` of the coordinator from any node, or its own
			// failed stop) is begun like any other: the op against its
			// own incarnation makes it stop itself (post: unfinishedSelf),
			// and the next coordinator, which holds the op, carries it
			// out with the devices (active). So the request survives the
			// coordinator change, as Pacemaker's fencing of the DC does.
			if _, ok := f.active(t); ok {
				continue
			}
			if reason, req := f.need(t); req != "" && f.selfFenceable() {
				f.issuing[t] = true
				f.broadcast(Message{Kind: kindBegin, Issued: f.view.ID, ID: f.newID(), Target: t, Boot: f.st.boots[t], Reason: reason, Req: req})
			}
			continue
		}
		v, ok := f.active(t)
		if !ok {
			reason, req := f.need(t)
			if reason == "" {
				continue
			}
			if req == "" {
				if last, ok := f.lastOp(t, f.st.boots[t]); ok && last.status == opFailed {
					if last.op.Failed != "" {
						continue // no device: only a person can help (fence confirm)
					}
					at, seen := f.failSeen[last.op.ID]
					if !seen {
						f.failSeen[last.op.ID] = f.now
						at = f.now
					}
					if f.now < at+f.cfg.RetryAfter {
						continue
					}
				}
			}
			f.issuing[t] = true
			f.broadcast(Message{Kind: kindBegin, Issued: f.view.ID, ID: f.newID(), Target: t, Boot: f.st.boots[t], Reason: reason, Req: req})
			continue
		}
		o := v.op
		if tc.Watchdog && !f.member(t) && o.Watchdog == "" && f.now >= f.installAt+f.cfg.WatchdogWait() {
			f.issuing[t] = true
			f.broadcast(Message{Kind: kindWatchdog, Issued: f.view.ID, ID: o.ID, Target: t})
			continue
		}
		if len(tc.Levels) == 0 {
			if !tc.Watchdog || f.member(t) {
				why := fmt.Sprintf("no fence device for %s and watchdog mode is off: configure [[fence.levels]], or check it is down and run 'fence confirm %s'", t, t)
				if tc.Watchdog {
					why = fmt.Sprintf("no fence device for %s, and watchdog mode fences only a node that left the view", t)
				}
				f.issuing[t] = true
				f.broadcast(Message{Kind: kindFail, Issued: f.view.ID, ID: o.ID, Target: t, Reason: why})
			}
			continue
		}
		if o.Req == "" && len(v.attempts) == 0 && f.now < max(f.settledAt, f.leaseAt, f.seen[o.ID])+tc.Delay {
			continue
		}
		p := v.next
		if p.Level >= len(tc.Levels) || p.Dev >= len(tc.Levels[p.Level]) {
			p = pos{Round: p.Round}
		}
		lv := tc.Levels[p.Level]
		f.issuing[t] = true
		f.broadcast(Message{Kind: kindAttempt, Issued: f.view.ID, ID: f.newID(), Op: o.ID, Target: t, Boot: f.cfg.Boot,
			Round: p.Round, Level: p.Level, Dev: p.Dev, LevelSize: len(lv), Device: lv[p.Dev].Name})
	}
}

// selfFenceable reports whether a fence of this node, the coordinator,
// can be carried out by the next coordinator: some other member exists
// and a device or the watchdog reaches this node.
func (f *Fence) selfFenceable() bool {
	tc := f.cfg.Targets[f.cfg.Self]
	return len(f.view.Members) > 1 && (len(tc.Levels) > 0 || tc.Watchdog)
}

// waitOrAbandon decides about an outstanding call: wait for a runner that
// is running it, abandon at once a call its runner (a member, same boot)
// says it is not running, and abandon after AbandonWait one whose runner
// cannot be asked.
func (f *Fence) waitOrAbandon(a *attRec) {
	if a.Runner == f.cfg.Self && a.RunnerBoot == f.cfg.Boot {
		if _, ok := f.running[a.ID]; ok {
			return
		}
		if _, ok := f.unreported[a.ID]; ok {
			return // its Done is on its way
		}
		f.abandon(a, "this node is not running it (the view changed before it started)")
		return
	}
	if f.member(a.Runner) && f.st.boots[a.Runner] == a.RunnerBoot {
		if slices.Contains(f.reports[a.Runner], a.ID) {
			return // the runner reports it when it ends
		}
		f.abandon(a, a.Runner+" is not running it")
		return
	}
	// The coordinator acts with its view's lease, before the takeover wait
	// has passed: a runner the view excluded may start a call until then.
	if f.now >= max(f.settledAt, f.leaseAt, f.installAt+f.cfg.TakeoverWait(), f.seen[a.ID])+f.cfg.AbandonWait() {
		f.abandon(a, fmt.Sprintf("runner %s left before reporting; its deadline has passed", a.Runner))
	}
}

func (f *Fence) abandon(a *attRec, why string) {
	f.issuing[a.Target] = true
	f.broadcast(Message{Kind: kindAbandon, Issued: f.view.ID, ID: a.ID, Target: a.Target, Reason: "abandoned: " + why})
}

// Confirmed reports whether node is fenced at the last boot id seen, and
// that boot id.
func (f *Fence) Confirmed(node string) (uint64, bool) { return f.confirmed(node) }

// LeftCleanly reports whether node left a view cleanly at the last boot
// id seen and has not been a member of a primary view since (it runs
// nothing and acknowledges nothing until it rejoins).
func (f *Fence) LeftCleanly(node string) bool { return f.st.leftCleanly(node) }

// Settled reports whether every member's report of the current view was
// delivered (the coordinator acts only then).
func (f *Fence) Settled() bool { return f.settled }

// Running lists the device calls this node runs now.
func (f *Fence) Running() []Call {
	var out []Call
	for _, id := range sortedIDs(f.running) {
		out = append(out, f.running[id])
	}
	return out
}

// Status is every node's fencing state, sorted by name.
func (f *Fence) Status() []TargetStatus {
	var out []TargetStatus
	for _, t := range f.targets() {
		ts := TargetStatus{Target: t, Boot: f.st.boots[t]}
		_, dev, _ := f.st.fencedBoot(t)
		_, ts.Confirmed = f.confirmed(t)
		v, ok := f.active(t)
		if !ok {
			v, ok = f.lastOp(t, ts.Boot)
		}
		if ok {
			ts.Op, ts.Reason, ts.Attempts, ts.Error = v.op.ID.String(), v.op.Reason, len(v.attempts), v.lastErr
			switch v.status {
			case opPending:
				ts.State = StatePending
			case opRunning:
				ts.State, ts.Device = StateInProgress, v.running.Device
			case opDone:
				ts.State, ts.Device = StateDone, dev
			case opFailed:
				ts.State = StateFailed
			}
		}
		if !ts.Confirmed && (ts.State == "" || ts.State == StateDone || ts.State == StateFailed) {
			// a request not yet served shows as pending at once
			if reason, req := f.need(t); req != "" {
				ts.State, ts.Op, ts.Reason, ts.Attempts, ts.Error, ts.Device = StatePending, "", reason, 0, "", ""
			}
		}
		if ts.Confirmed && ts.State == "" {
			ts.State, ts.Device = StateDone, dev
		}
		if ts.State == StatePending && f.cfg.Targets[t].Watchdog && !f.member(t) {
			ts.State = StateInProgress
			ts.Device = DeviceWatchdog
		}
		out = append(out, ts)
	}
	return out
}

// Snapshot is this node's replicated fencing knowledge in the form
// Restore takes (boot ids, clean leaves, operations, calls,
// confirmations): what a what-if simulation (core/whatif) starts its
// fence cores from. It changes nothing.
func (f *Fence) Snapshot() []byte { return f.st.encode() }
