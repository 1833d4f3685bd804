package fence

import (
	"sort"

	"github.com/corral-ha/corral/core/wire"
)

// Call results, ordered: a join keeps the highest (a success reported
// late beats an abandonment).
const (
	resultNone      uint8 = iota // outstanding
	resultAbandoned              // its runner could not answer; never ran or ended unknown
	resultFailed
	resultOK
)

type opRec struct {
	ID       ID
	Target   string
	Boot     uint64 // the target's incarnation this op fences
	Reason   string
	Req      string // the manual request it serves; "": a departure
	Watchdog string // the coordinator that saw the watchdog wait pass ("": not yet)
	Failed   string // cannot proceed (no device)
	// By and ByBoot are the incarnation of the coordinator that began it
	// ("": unknown, an op of an older version).
	By     string
	ByBoot uint64
}

type attRec struct {
	ID                           ID
	Op                           ID
	Target                       string
	Round, Level, Dev, LevelSize int
	Device                       string
	Runner                       string
	RunnerBoot                   uint64
	Result                       uint8
	Error                        string
}

type reqRec struct {
	Key    string // from.boot.n
	Target string
	From   string
	Reason string
	Served bool // an op was begun for it
}

// cleanRec: the node left cleanly at Boot; View is the primary view
// whose install reported it (the node is not a member of it). Zero View:
// an older snapshot, the view unknown.
type cleanRec struct {
	Boot uint64
	View wire.ViewID
}

func viewLess(a, b wire.ViewID) bool {
	return a.Epoch < b.Epoch || (a.Epoch == b.Epoch && a.Coord < b.Coord)
}

type confRec struct {
	Boot uint64
	By   string
}

// state is the replicated knowledge: records that only grow (a join of
// two states is their union, keeping the most advanced copy of a record),
// so members that merge the same reports hold the same state whatever
// they held before. Everything else is derived from it.
type state struct {
	boots    map[string]uint64      // last boot id announced by each node
	clean    map[string]cleanRec    // left cleanly at that boot, in that view
	member   map[string]wire.ViewID // newest primary view the node was a member of
	confirms map[string]confRec
	ops      map[ID]*opRec
	atts     map[ID]*attRec
	reqs     map[string]*reqRec
}

func newState() *state {
	return &state{boots: map[string]uint64{}, clean: map[string]cleanRec{}, member: map[string]wire.ViewID{}, confirms: map[string]confRec{},
		ops: map[ID]*opRec{}, atts: map[ID]*attRec{}, reqs: map[string]*reqRec{}}
}

func maxInto(dst map[string]uint64, k string, v uint64) bool {
	if v > dst[k] {
		dst[k] = v
		return true
	}
	return false
}

// join merges o into s; it reports whether s changed.
func (s *state) join(o *state) bool {
	ch := false
	for _, k := range sortedKeys(o.boots) {
		ch = maxInto(s.boots, k, o.boots[k]) || ch
	}
	for _, k := range sortedKeys(o.clean) {
		ch = s.addClean(k, o.clean[k]) || ch
	}
	for _, k := range sortedKeys(o.member) {
		ch = s.addMember(k, o.member[k]) || ch
	}
	for _, k := range sortedKeys(o.confirms) {
		ch = s.confirm(k, o.confirms[k]) || ch
	}
	for _, op := range o.sortedOps() {
		ch = s.addOp(*op) || ch
	}
	for _, a := range o.sortedAtts() {
		ch = s.addAtt(*a) || ch
	}
	for _, q := range o.sortedReqs() {
		if old := s.reqs[q.Key]; old == nil {
			c := *q
			s.reqs[q.Key] = &c
			ch = true
		} else if q.Served && !old.Served {
			old.Served, ch = true, true
		}
	}
	return ch
}

// addClean keeps the newest clean leave: the higher boot, then the later
// view.
func (s *state) addClean(node string, c cleanRec) bool {
	old, ok := s.clean[node]
	if !ok || c.Boot > old.Boot || (c.Boot == old.Boot && viewLess(old.View, c.View)) {
		s.clean[node] = c
		return true
	}
	return false
}

// addMember records that node was a member of primary view v.
func (s *state) addMember(node string, v wire.ViewID) bool {
	if viewLess(s.member[node], v) {
		s.member[node] = v
		return true
	}
	return false
}

// leftCleanly: node's last clean leave is at its last boot id and it has
// not been a member of a primary view since (a node that rejoined, e.g.
// resumed at the same boot id, must leave cleanly again to count as
// clean: otherwise its next departure is unclean and it is fenced).
func (s *state) leftCleanly(node string) bool {
	b := s.boots[node]
	c, ok := s.clean[node]
	m := s.member[node]
	return ok && b > 0 && c.Boot >= b && (m == wire.ViewID{} || viewLess(m, c.View))
}

func (s *state) confirm(target string, c confRec) bool {
	old, ok := s.confirms[target]
	if !ok || c.Boot > old.Boot || (c.Boot == old.Boot && c.By < old.By) {
		s.confirms[target] = c
		return true
	}
	return false
}

func (s *state) addOp(o opRec) bool {
	old := s.ops[o.ID]
	if old == nil {
		s.ops[o.ID] = &o
		return true
	}
	ch := false
	if o.Watchdog != "" && (old.Watchdog == "" || o.Watchdog < old.Watchdog) {
		old.Watchdog, ch = o.Watchdog, true
	}
	if o.Failed > old.Failed {
		old.Failed, ch = o.Failed, true
	}
	if old.By == "" && o.By != "" {
		old.By, old.ByBoot, ch = o.By, o.ByBoot, true
	}
	return ch
}

func (s *state) addAtt(a attRec) bool {
	old := s.atts[a.ID]
	if old == nil {
		s.atts[a.ID] = &a
		return true
	}
	return old.resolve(a.Result, a.Error)
}

func (a *attRec) resolve(res uint8, err string) bool {
	if res > a.Result || (res == a.Result && res != resultNone && err < a.Error) {
		a.Result, a.Error = res, err
		return true
	}
	return false
}

func (s *state) sortedOps() []*opRec {
	out := make([]*opRec, 0, len(s.ops))
	for _, o := range s.ops {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i].ID, out[j].ID) })
	return out
}

func (s *state) sortedAtts() []*attRec {
	out := make([]*attRec, 0, len(s.atts))
	for _, a := range s.atts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i].ID, out[j].ID) })
	return out
}

func (s *state) sortedReqs() []*reqRec {
	out := make([]*reqRec, 0, len(s.reqs))
	for _, q := range s.reqs {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Derived op status.
const (
	opPending = iota
	opRunning
	opDone
	opFailed
	opObsolete // the target came back with a newer boot id, or a newer op took over
	// opVoid: not done, and every incarnation that worked on it (the
	// coordinator that began it, the runners of its calls) has since been
	// confirmed fenced or restarted: it condemns nobody (gone).
	opVoid
)

type pos struct{ Round, Level, Dev int }

type opView struct {
	op       *opRec
	status   int
	next     pos
	attempts []*attRec
	running  *attRec // outstanding call
	doneBy   *attRec // the call that completed the level (nil: watchdog)
	lastErr  string
	lastDev  string
}

// view derives an op's status from its records. nLevels and rounds come
// from the configuration (the same on every node).
func (s *state) view(o *opRec, nLevels, rounds int) opView {
	v := opView{op: o, attempts: s.attsOf(o.ID)}
	v.doneBy = doneBy(v.attempts)
	for _, a := range v.attempts {
		v.lastDev = a.Device
		switch a.Result {
		case resultNone:
			v.running = a
		case resultOK:
			if a.Dev+1 < a.LevelSize {
				v.next = pos{a.Round, a.Level, a.Dev + 1}
			} else {
				v.next = pos{a.Round + 1, 0, 0} // (done anyway)
			}
		default:
			v.lastErr = a.Error
			if a.Level+1 < nLevels {
				v.next = pos{a.Round, a.Level + 1, 0}
			} else {
				v.next = pos{a.Round + 1, 0, 0}
			}
		}
	}
	switch {
	case v.doneBy != nil || o.Watchdog != "":
		v.status = opDone
	case s.gone(o, v.attempts):
		v.status = opVoid
	case v.running != nil:
		v.status = opRunning
	case o.Failed != "":
		v.status, v.lastErr = opFailed, o.Failed
	case v.next.Round >= rounds:
		v.status = opFailed
	case s.boots[o.Target] > o.Boot:
		v.status = opObsolete
	default:
		v.status = opPending
	}
	return v
}

// attsOf are the calls of op id, in id order.
func (s *state) attsOf(id ID) []*attRec {
	var out []*attRec
	for _, a := range s.sortedAtts() {
		if a.Op == id {
			out = append(out, a)
		}
	}
	return out
}

// doneBy is the call that completed a level of an op (nil: none): some
// (round, level) has every device ok, whatever the order results came in.
func doneBy(atts []*attRec) *attRec {
	type rl struct{ r, l int }
	oks := map[rl]map[int]*attRec{}
	for _, a := range atts {
		if a.Result == resultOK {
			k := rl{a.Round, a.Level}
			if oks[k] == nil {
				oks[k] = map[int]*attRec{}
			}
			oks[k][a.Dev] = a
			if len(oks[k]) >= a.LevelSize {
				return a
			}
		}
	}
	return nil
}

// gone reports whether every incarnation that worked on op o (the
// coordinator that began it and the runner of each of its calls) has
// since been confirmed fenced at that boot or announced a newer one: it
// can no longer carry the op on, and none of its calls can still be
// running (a call dies with its runner). Such an op, unless done,
// condemns nobody: its target need not stop itself, and a later
// coordinator fences the target only if it needs that on its own. An op
// whose coordinator is unknown (version 1) is never gone, nor one that
// serves a request (a person's `fence NODE`, a failed stop's escalation:
// the reason outlives whoever began it).
func (s *state) gone(o *opRec, atts []*attRec) bool {
	if o.By == "" || o.ByBoot == 0 || o.Req != "" {
		return false // ByBoot 0: begun by a version-1 coordinator, its boot unknown
	}
	if !s.ended(o.By, o.ByBoot) {
		return false
	}
	for _, a := range atts {
		if !s.ended(a.Runner, a.RunnerBoot) {
			return false
		}
	}
	return true
}

// ended reports whether node's incarnation boot is over: the node
// announced a newer boot id, or it was confirmed fenced at boot or later.
func (s *state) ended(node string, boot uint64) bool {
	if s.boots[node] > boot {
		return true
	}
	b, _, _ := s.fencedBoot(node)
	return b > 0 && b >= boot
}

// fencedBoot is the highest incarnation of target confirmed fenced, with
// the device and the node that did it.
func (s *state) fencedBoot(target string) (uint64, string, string) {
	var b uint64
	dev, by := "", ""
	if c, ok := s.confirms[target]; ok {
		b, dev, by = c.Boot, DeviceManual, c.By
	}
	for _, o := range s.sortedOps() {
		if o.Target != target || o.Boot < b || (o.Boot == b && dev != "") {
			continue
		}
		d := doneBy(s.attsOf(o.ID))
		if d == nil && o.Watchdog == "" {
			continue
		}
		b = o.Boot
		if d != nil {
			dev, by = d.Device, d.Runner
		} else {
			dev, by = DeviceWatchdog, o.Watchdog
		}
	}
	return b, dev, by
}

// outstanding is a call on target that has no result yet (any op).
func (s *state) outstanding(target string) *attRec {
	for _, a := range s.sortedAtts() {
		if a.Target == target && a.Result == resultNone {
			return a
		}
	}
	return nil
}

// prune drops old records: per target it keeps the newest keepOps ops,
// the newest done op, every op with an outstanding call, and their calls;
// of served requests the newest keepReqs. What a stale report brings back
// is harmless: a resolved call that comes back outstanding is abandoned
// again after the wait, an old op is just history.
func (s *state) prune(nLevels func(string) int, rounds int) {
	const keepOps, keepReqs = 4, 64
	byTarget := map[string][]*opRec{}
	for _, o := range s.sortedOps() {
		byTarget[o.Target] = append(byTarget[o.Target], o)
	}
	keep := map[ID]bool{}
	for _, t := range sortedKeys(byTarget) {
		ops := byTarget[t]
		doneSeen := false
		for i := len(ops) - 1; i >= 0; i-- {
			o := ops[i]
			v := s.view(o, nLevels(t), rounds)
			if len(ops)-i <= keepOps || v.running != nil || (!doneSeen && v.status == opDone) {
				keep[o.ID] = true
			}
			if v.status == opDone {
				doneSeen = true
			}
		}
	}
	for id := range s.ops {
		if !keep[id] {
			delete(s.ops, id)
		}
	}
	for id, a := range s.atts {
		if s.ops[a.Op] == nil && a.Result != resultNone {
			delete(s.atts, id)
		}
	}
	var served []*reqRec
	for _, q := range s.sortedReqs() {
		if q.Served {
			served = append(served, q)
		}
	}
	for i := 0; i+keepReqs < len(served); i++ {
		delete(s.reqs, served[i].Key)
	}
}
