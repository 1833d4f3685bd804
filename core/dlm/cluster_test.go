package dlm

// A small deterministic multi-node harness: N DLMs, a network FIFO per
// (from, to) pair, a virtual clock, and datadriven scripts in
// testdata/cluster. After every command that delivers, it checks G5 on
// what the clients believe: the modes granted on one resource to clients
// of live nodes are pairwise compatible.
//
// Commands:
//
//	cluster n=3 [linger=10s] [deadlock=10s]   nodes 1..n, view 1 of them all, primary
//	view [members=(1,2)] [release=(3)] [to=(1,2)] [nonprimary] [lost]
//	                                      a new view (epoch+1, coordinator its lowest member)
//	                                      given to `to` (default: its live members);
//	                                      `same` gives the last view again with the new release
//	lock n=1 l=a name=R mode=EX [ls=L] [flags=(VALBLK,...)] [owner=7] [lvb=text]
//	convert l=a mode=PR [flags=...] [lvb=text]
//	unlock l=a [flags=(CANCEL)] [lvb=text]
//	stabilize                             deliver until quiet; print what clients saw
//	tick d=5s                             time passes on every live node, then stabilize
//	hold from=1 to=2 / release from=1 to=2   stop / resume delivering one direction
//	kill n=3                              crash: its queued messages both ways are lost
//	partition a=(1,2) b=(3)               messages between the groups are lost from now on
//	heal                                  end partitions
//	msgs                                  messages delivered by kind since the last msgs
//	locks n=1 [ls=L]                      Locks on n
//	state                                 each node's master copies and directory entries
//	ask n=1 tag=1 [ls=L]                  an Ask (then stabilize)
//	purge n=1 owner=7 [node=2]            PurgeOwner
//
// Mutations seen caught by these scripts (each made by hand in the code
// named, the scripts run, the failing check noted, the mutation reverted):
//
//	recover.go covered() returns true (recovery, and grants, before Release
//	  covers the departed node)        → deadman "G5: w3 holds EX and m3 holds EX
//	                                     on deadman.9"; minority "G5: a holds EX and
//	                                     d holds EX on R"
//	recover.go stepView: a non-primary view recovers (Primary not checked)
//	                                   → minority "G5: d holds EX and e holds EX on R"
//	dlm.go serve mkLookup: every asker made master (directory ignored)
//	                                   → remote "G5: a holds EX and b holds PR on R",
//	                                     and deadlock, deadman, lost, lvb, orphan
//	recover.go rebuild: process copies not rebuilt (rec-locks ignored)
//	                                   → recovery "G5: b holds PR and c holds EX on R",
//	                                     and deadman, lost, lvb, minority
//	recover.go stepView: operations in flight not resent after recovery
//	                                   → recovery (the request in flight to the dying
//	                                     master never completes), lost
//	deadlock.go pickVictims: every lock of a cycle a victim
//	                                   → deadlock "n1: a2 EDEADLK IV" besides b1's
//	hold.go mustHold returns false (a middle conversion's grant to others
//	  not held back)                   → middle "G5: b holds CW and c holds PR on R";
//	                                     TestClusterRandom seed 358
//	recover.go covered() checks only the last recovered view's members,
//	  not every absent configured node → TestClusterRandom -dlm.seeds=3000, seed 62
//	                                     "G5: 3/2 holds EX and 2/11 holds CW on C"
//	                                     (the nodes that knew n2 held a lock restarted)

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/corral-ha/corral/core/wire"
)

type lref struct {
	node wire.NodeID
	id   LockID
}

type pair struct{ from, to wire.NodeID }

type harness struct {
	t        *testing.T
	now      time.Duration
	cfg      Config
	nodes    map[wire.NodeID]*DLM
	alive    map[wire.NodeID]bool
	q        map[pair][]Out
	held     map[pair]bool
	cut      map[pair]bool
	labels   map[string]lref
	rev      map[lref]string
	names    map[lref]rname // resource of each labelled lock
	owners   map[lref]Owner // owner of each lock
	believed map[lref]Mode  // what each lock's client believes granted
	counts   map[string]int // messages delivered by kind
	view     View           // the last view given
	// Hooks for the randomized test (cluster_random_test.go).
	onComplete func(wire.NodeID, Completion)
	onBast     func(wire.NodeID, Blocking)
	onDeliver  func(pair, msg)
	onEvent    func(wire.NodeID, Recovered)
	onAnswer   func(wire.NodeID, Answer)
	released   map[wire.NodeID]bool // absent nodes the "stack" released
	out        *strings.Builder
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, nodes: map[wire.NodeID]*DLM{}, alive: map[wire.NodeID]bool{}, q: map[pair][]Out{},
		held: map[pair]bool{}, cut: map[pair]bool{}, labels: map[string]lref{}, rev: map[lref]string{},
		released: map[wire.NodeID]bool{}, names: map[lref]rname{}, owners: map[lref]Owner{}, believed: map[lref]Mode{}, counts: map[string]int{}, out: &strings.Builder{}}
}

func (h *harness) sortedNodes() []wire.NodeID {
	var ns []wire.NodeID
	for n := range h.nodes {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func (h *harness) printf(format string, args ...any) { fmt.Fprintf(h.out, format, args...) }

func (h *harness) label(n wire.NodeID, id LockID) string {
	if l, ok := h.rev[lref{n, id}]; ok {
		return l
	}
	return fmt.Sprintf("%d/%d", n, id)
}

// collect takes every live node's Ready: messages into the queues, the
// rest printed.
func (h *harness) collect() bool {
	any := false
	for _, n := range h.sortedNodes() {
		d := h.nodes[n]
		if !h.alive[n] || !d.HasReady() {
			continue
		}
		any = true
		rd := d.Ready()
		for _, m := range rd.Messages {
			if h.cut[pair{n, m.To}] || !h.alive[m.To] {
				continue
			}
			h.q[pair{n, m.To}] = append(h.q[pair{n, m.To}], m)
		}
		for _, c := range rd.Completions {
			ref := lref{n, c.ID}
			if h.onComplete != nil {
				h.onComplete(n, c)
			}
			s := fmt.Sprintf("n%d: %s %s %s", n, h.label(n, c.ID), c.Status, c.Mode)
			if c.SB != 0 {
				s += " " + c.SB.String()
			}
			if c.LVB != nil {
				s += fmt.Sprintf(" lvb=%q", strings.TrimRight(string(c.LVB), "\x00"))
			}
			h.printf("%s\n", s)
			switch c.Status {
			case EUNLOCK, Lost:
				delete(h.believed, ref)
			default:
				if c.Mode == IV {
					delete(h.believed, ref)
				} else {
					h.believed[ref] = c.Mode
				}
			}
		}
		for _, b := range rd.Blocking {
			if h.onBast != nil {
				h.onBast(n, b)
			}
			h.printf("n%d: %s bast %s\n", n, h.label(n, b.ID), b.Mode)
		}
		for _, e := range rd.Events {
			if h.onEvent != nil {
				h.onEvent(n, e)
			}
			h.printf("n%d: recovered view=%d members=%v purged=%v resources=%d\n", n, e.View.Epoch, e.Members, e.Purged, e.Resources)
		}
		for _, a := range rd.Answers {
			if h.onAnswer != nil {
				h.onAnswer(n, a)
			}
			h.printf("n%d: answer tag=%d missing=%v\n", n, a.Tag, a.Missing)
			for _, r := range a.Resources {
				h.printf("  %s\n", infoString(r))
			}
		}
		d.Advance()
	}
	return any
}

func infoString(r ResourceInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s master=%d dir=%d", r.Lockspace, r.Name, r.Master, r.Directory)
	if !r.LVBValid {
		b.WriteString(" lvb-invalid")
	}
	q := func(name string, ls []LockInfo) {
		if len(ls) == 0 {
			return
		}
		fmt.Fprintf(&b, " %s:", name)
		for _, l := range ls {
			fmt.Fprintf(&b, " %d/%d:%s", l.Node, l.ID, l.Granted)
			if l.Wanted != IV {
				fmt.Fprintf(&b, ">%s", l.Wanted)
			}
			if l.Orphan {
				b.WriteString("(orphan)")
			}
		}
	}
	q("granted", r.Granted)
	q("converting", r.Converting)
	q("waiting", r.Waiting)
	return b.String()
}

// stabilize delivers until nothing moves (held links keep theirs).
func (h *harness) stabilize() {
	for i := 0; ; i++ {
		if i > 10000 {
			h.t.Fatalf("no quiescence after 10000 rounds")
		}
		moved := h.collect()
		var ps []pair
		for p, q := range h.q {
			if len(q) > 0 && !h.held[p] {
				ps = append(ps, p)
			}
		}
		sort.Slice(ps, func(i, j int) bool {
			if ps[i].from != ps[j].from {
				return ps[i].from < ps[j].from
			}
			return ps[i].to < ps[j].to
		})
		for _, p := range ps {
			q := h.q[p]
			h.q[p] = nil
			for _, m := range q {
				h.deliver(p, m)
			}
			moved = true
		}
		if !moved {
			break
		}
	}
	h.checkG5()
}

func (h *harness) deliver(p pair, m Out) {
	if !h.alive[p.to] || h.cut[p] {
		return
	}
	if dm, err := decodeMsg(m.Payload); err == nil {
		h.counts[dm.kind.String()]++
		if h.onDeliver != nil {
			h.onDeliver(p, dm)
		}
	}
	if err := h.nodes[p.to].Step(h.now, Receive{From: p.from, Payload: m.Payload}); err != nil {
		h.t.Fatalf("n%d: step: %v", p.to, err)
	}
}

// checkG5: the modes believed granted on one resource by clients of live
// nodes are pairwise compatible.
func (h *harness) checkG5() {
	by := map[rname][]lref{}
	for ref := range h.believed {
		if h.alive[ref.node] {
			by[h.names[ref]] = append(by[h.names[ref]], ref)
		}
	}
	for rn, refs := range by {
		for i, a := range refs {
			for _, b := range refs[i+1:] {
				if !compatible(h.believed[a], h.believed[b]) {
					h.t.Errorf("G5: %s holds %s and %s holds %s on %s", h.label(a.node, a.id), h.believed[a], h.label(b.node, b.id), h.believed[b], rn.name)
					h.printf("G5 VIOLATED on %s\n", rn.name)
				}
			}
		}
	}
}

func parseMode(t *testing.T, s string) Mode {
	for m := NL; m <= EX; m++ {
		if m.String() == s {
			return m
		}
	}
	t.Fatalf("bad mode %q", s)
	return IV
}

func parseFlags(t *testing.T, vals []string) Flags {
	var f Flags
	for _, v := range vals {
		found := false
		for _, n := range flagNames {
			if n.name == strings.ToUpper(v) {
				f |= n.f
				found = true
			}
		}
		if !found {
			t.Fatalf("bad flag %q", v)
		}
	}
	return f
}

func nodeList(t *testing.T, vals []string) []wire.NodeID {
	var out []wire.NodeID
	for _, v := range vals {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("bad node %q", v)
		}
		out = append(out, wire.NodeID(n))
	}
	slices.Sort(out)
	return out
}

func arg(d *datadriven.TestData, key string) ([]string, bool) {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return a.Vals, true
		}
	}
	return nil, false
}

func argStr(d *datadriven.TestData, key, def string) string {
	if v, ok := arg(d, key); ok && len(v) > 0 {
		return v[0]
	}
	return def
}

func argNode(t *testing.T, d *datadriven.TestData, key string) wire.NodeID {
	v := argStr(d, key, "")
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: need %s=N", d.Cmd, key)
	}
	return wire.NodeID(n)
}

func (h *harness) lvbArg(d *datadriven.TestData, n wire.NodeID, ls string) []byte {
	v, ok := arg(d, "lvb")
	if !ok {
		return nil
	}
	b := make([]byte, h.nodes[n].lvbLen(lsName(ls)))
	copy(b, strings.Join(v, ""))
	return b
}

func (h *harness) giveView(v View, to []wire.NodeID) {
	h.view = v
	for _, n := range to {
		if !h.alive[n] {
			continue
		}
		if err := h.nodes[n].Step(h.now, v); err != nil {
			h.t.Fatalf("n%d view: %v", n, err)
		}
	}
}

func (h *harness) handle(t *testing.T, d *datadriven.TestData) string {
	h.out.Reset()
	switch d.Cmd {
	case "cluster":
		n, _ := strconv.Atoi(argStr(d, "n", "3"))
		if v := argStr(d, "linger", ""); v != "" {
			h.cfg.Linger, _ = time.ParseDuration(v)
		}
		if v := argStr(d, "deadlock", ""); v != "" {
			h.cfg.DeadlockTimeout, _ = time.ParseDuration(v)
		}
		var all []wire.NodeID
		for i := 1; i <= n; i++ {
			all = append(all, wire.NodeID(i))
		}
		for _, id := range all {
			h.newNode(id, all)
		}
		h.now = time.Second
		h.giveView(View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: all, Primary: true}, all)
		h.stabilize()
	case "view":
		v := View{Primary: true}
		if _, ok := arg(d, "same"); ok {
			v = h.view
			v.Primary = true
		} else {
			v.ID = wire.ViewID{Epoch: h.view.ID.Epoch + 1}
			v.Members = slices.Clone(h.view.Members)
		}
		if vals, ok := arg(d, "members"); ok {
			v.Members = nodeList(t, vals)
		}
		if len(v.Members) > 0 {
			v.ID.Coord = v.Members[0]
		}
		if vals, ok := arg(d, "release"); ok {
			v.Release = nodeList(t, vals)
		}
		// As the stack does: a node released once stays released while
		// it stays out of the view (Release names every absent node whose
		// locks may go, not only those that left in this change).
		for n := range h.released {
			if slices.Contains(v.Members, n) {
				delete(h.released, n)
			} else if !slices.Contains(v.Release, n) {
				v.Release = append(v.Release, n)
			}
		}
		slices.Sort(v.Release)
		for _, n := range v.Release {
			if !slices.Contains(v.Members, n) {
				h.released[n] = true
			}
		}
		if _, ok := arg(d, "nonprimary"); ok {
			v.Primary = false
		}
		if _, ok := arg(d, "lost"); ok {
			v.Lost = true
		}
		to := v.Members
		if vals, ok := arg(d, "to"); ok {
			to = nodeList(t, vals)
		}
		h.giveView(v, to)
		v.Lost = false
		h.view = v
		h.stabilize()
	case "lock":
		n := argNode(t, d, "n")
		ls := argStr(d, "ls", "")
		r := Request{Lockspace: ls, Name: argStr(d, "name", "R"), Mode: parseMode(t, argStr(d, "mode", "EX")), Owner: Owner{Node: n, ID: 1}}
		if v, ok := arg(d, "flags"); ok {
			r.Flags = parseFlags(t, v)
		}
		if v := argStr(d, "owner", ""); v != "" {
			o, _ := strconv.Atoi(v)
			r.Owner.ID = uint64(o)
		}
		r.LVB = h.lvbArg(d, n, ls)
		id, err := h.nodes[n].Lock(h.now, r)
		if err != nil {
			h.printf("error: %v\n", err)
			break
		}
		l := argStr(d, "l", "")
		if l != "" {
			h.labels[l] = lref{n, id}
			h.rev[lref{n, id}] = l
		}
		h.names[lref{n, id}] = rname{ls: lsName(ls), name: r.Name}
		h.owners[lref{n, id}] = r.Owner
		h.stabilize()
	case "convert":
		ref := h.labels[argStr(d, "l", "")]
		rn := h.names[ref]
		r := Request{Lockspace: rn.ls, Name: rn.name, Mode: parseMode(t, argStr(d, "mode", "EX")), Flags: Convert, ID: ref.id}
		if v, ok := arg(d, "flags"); ok {
			r.Flags |= parseFlags(t, v)
		}
		r.LVB = h.lvbArg(d, ref.node, rn.ls)
		if _, err := h.nodes[ref.node].Lock(h.now, r); err != nil {
			h.printf("error: %v\n", err)
			break
		}
		if r.Flags&ConvDeadlk != 0 && h.believed[ref] != IV {
			h.believed[ref] = NL // its client accepted a demotion to NL until it completes
		}
		h.stabilize()
	case "unlock":
		ref := h.labels[argStr(d, "l", "")]
		var f Flags
		if v, ok := arg(d, "flags"); ok {
			f = parseFlags(t, v)
		}
		if err := h.nodes[ref.node].Unlock(h.now, ref.id, f, h.lvbArg(d, ref.node, h.names[ref].ls)); err != nil {
			h.printf("error: %v\n", err)
			break
		}
		h.stabilize()
	case "stabilize":
		h.stabilize()
	case "tick":
		dur, err := time.ParseDuration(argStr(d, "d", "1s"))
		if err != nil {
			t.Fatal(err)
		}
		// In steps of at most a second, so timers fire in order.
		for dur > 0 {
			step := min(dur, time.Second)
			dur -= step
			h.now += step
			for _, n := range h.sortedNodes() {
				if h.alive[n] {
					h.nodes[n].Tick(h.now)
				}
			}
			h.stabilize()
		}
	case "hold", "release":
		p := pair{argNode(t, d, "from"), argNode(t, d, "to")}
		h.held[p] = d.Cmd == "hold"
		if d.Cmd == "release" {
			h.stabilize()
		}
	case "kill":
		n := argNode(t, d, "n")
		h.alive[n] = false
		for p := range h.q {
			if p.from == n || p.to == n {
				delete(h.q, p)
			}
		}
	case "restart":
		n := argNode(t, d, "n")
		h.newNode(n, h.nodes[n].cfg.Nodes)
		for ref := range h.believed {
			if ref.node == n {
				delete(h.believed, ref)
			}
		}
	case "partition":
		var groups [][]wire.NodeID
		for _, a := range d.CmdArgs {
			groups = append(groups, nodeList(t, a.Vals))
		}
		for i, g := range groups {
			for j, o := range groups {
				if i == j {
					continue
				}
				for _, a := range g {
					for _, b := range o {
						h.cut[pair{a, b}] = true
						delete(h.q, pair{a, b})
					}
				}
			}
		}
	case "heal":
		h.cut = map[pair]bool{}
	case "msgs":
		var ks []string
		total := 0
		for k, v := range h.counts {
			ks = append(ks, fmt.Sprintf("%s=%d", k, v))
			total += v
		}
		slices.Sort(ks)
		h.printf("total=%d %s\n", total, strings.Join(ks, " "))
		h.counts = map[string]int{}
	case "locks":
		n := argNode(t, d, "n")
		for _, r := range h.nodes[n].Locks(argStr(d, "ls", "")) {
			h.printf("%s\n", infoString(r))
		}
	case "state":
		for _, n := range h.sortedNodes() {
			if !h.alive[n] {
				continue
			}
			dm := h.nodes[n]
			var ms, ds []string
			for _, rn := range sortedKeys(dm.mast) {
				ms = append(ms, rn.name)
			}
			for _, rn := range sortedKeys(dm.dir) {
				ds = append(ds, fmt.Sprintf("%s->%d", rn.name, dm.dir[rn]))
			}
			h.printf("n%d: masters=%v dir=%v\n", n, ms, ds)
		}
	case "ask":
		n := argNode(t, d, "n")
		tag, _ := strconv.Atoi(argStr(d, "tag", "1"))
		if err := h.nodes[n].Step(h.now, Ask{Tag: uint64(tag), Lockspace: argStr(d, "ls", "")}); err != nil {
			t.Fatal(err)
		}
		h.stabilize()
	case "purge":
		n := argNode(t, d, "n")
		o, _ := strconv.Atoi(argStr(d, "owner", "1"))
		on := n
		if v := argStr(d, "node", ""); v != "" {
			x, _ := strconv.Atoi(v)
			on = wire.NodeID(x)
		}
		if err := h.nodes[n].Step(h.now, PurgeOwner{Owner: Owner{Node: on, ID: uint64(o)}}); err != nil {
			t.Fatal(err)
		}
		// The owner's clients are gone: they believe nothing any more.
		for ref := range h.believed {
			if ow := h.owners[ref]; ref.node == on && (ow.ID == uint64(o) || o == 0) {
				delete(h.believed, ref)
			}
		}
		h.stabilize()
	default:
		d.Fatalf(t, "unknown command %s", d.Cmd)
	}
	return h.out.String()
}

func (h *harness) newNode(id wire.NodeID, all []wire.NodeID) {
	cfg := h.cfg
	cfg.Self = id
	cfg.Nodes = all
	d, err := New(cfg, rand.New(rand.NewPCG(uint64(id), 1)))
	if err != nil {
		h.t.Fatal(err)
	}
	h.nodes[id] = d
	h.alive[id] = true
	for ref := range h.believed {
		if ref.node == id {
			delete(h.believed, ref) // the old incarnation's clients died with it
		}
	}
	for p := range h.q {
		if p.from == id || p.to == id {
			delete(h.q, p)
		}
	}
}

func TestCluster(t *testing.T) {
	datadriven.Walk(t, "testdata/cluster", func(t *testing.T, path string) {
		h := newHarness(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.handle(t, d)
		})
	})
}
