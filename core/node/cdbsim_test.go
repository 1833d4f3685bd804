package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// The full-stack simulation of the config DB: every simulated node runs
// the node's own config DB driver (cdbRound, deliver, beginInstall, the
// flusher, cdbPropose, openCDB over a real bbolt store) on real conn,
// membership and bcast, on core/sim's network with partitions, crashes
// and restarts (data kept), pauses and loss. Only the event loop around
// them (Run, gather and execute, without the transport and the event log)
// is the test's, and it follows the node's: every write to the store
// takes a simulated fsync time during which the node is busy (what
// arrives meanwhile is gathered into the next round, group commit) and
// what the round sends after the write leaves when it ends (Submits and
// Orders that cdbPersist transmits before the write leave at once); the
// commit mark that cdbPersist leaves in memory is written at the tick
// (cdbTick), and a crash before that loses it.
// Clients write through the DB with their own (client, seq) and retry an
// unanswered request with the same id on another node.
//
// Checked after every step of every node:
//   - committed entries agree: revision r holds the same update on every
//     node that committed it, for good (no committed entry is truncated);
//   - every committed entry was sequenced by a primary view;
//   - G3: a node that has settled in a primary view installed after an
//     update was acknowledged holds it committed (it is at the same
//     revision everywhere by the first check).
//
// At the end (faults over, one view): every node has the same history,
// every client's request was answered, and the answers are linearizable:
// the revisions are a linearization that respects real time, and replaying
// the history in a sequential key-value model (with the same dedupe)
// gives each acknowledged request exactly the result its client got.

const cdbSimSeeds = 300 // the default sweep (make test, about 15 s on 2 cores); -seeds N for more

var simKey = []byte("0123456789abcdef0123456789abcdef")

type simID struct {
	view   wire.ViewID
	seq    uint64
	client string
	cseq   uint64
}

func idOf(e cdb.Entry) simID {
	return simID{view: e.View, seq: e.Seq, client: e.Update.Client, cseq: e.Update.Seq}
}

type simAck struct {
	at  time.Duration // sim time of the answer
	rev uint64
}

type cdbWorld struct {
	r    *simtest.Run
	s    *sim.Sim
	rng  *rand.Rand
	n    int
	dir  string
	qc   quorum.Config
	node map[int]*simNode

	primary   map[wire.ViewID]bool // every installed view's primary flag
	committed map[uint64]simID     // revision -> the update committed there
	acks      []simAck             // in time order
	ackMax    []uint64             // ackMax[i] = max rev of acks[:i+1]

	clients []*simClient
	load    bool // clients start new requests
	stats   *simStats
	trace   []string // the config DB's story, printed on a failure

	// failInstall, when set, makes a node's flush Install of a view fail
	// (TestCDBInstallFailure); allowErr is an error log that is expected.
	failInstall func(id int, v wire.View) bool
	allowErr    string
	// compact: the DB folds its log every 8 revisions (every 4th seed)
	compact bool
}

// failingFlusher is the node's flusher, with an Install that fails when
// the world says so (a plan that does not decode).
type failingFlusher struct {
	*flusher
	w  *cdbWorld
	id int
}

func (f failingFlusher) Install(v wire.View, plan []byte) error {
	if f.w.failInstall != nil && f.w.failInstall(f.id, v) {
		plan = plan[:1]
	}
	return f.flusher.Install(v, plan)
}

func (w *cdbWorld) logf(format string, a ...any) {
	var now time.Duration
	if w.s != nil {
		now = w.s.Now()
	}
	w.trace = append(w.trace, fmt.Sprintf("%v ", now)+fmt.Sprintf(format, a...))
}

func (w *cdbWorld) fatalf(format string, a ...any) {
	t := w.trace
	if len(t) > 300 {
		t = t[len(t)-300:]
	}
	w.r.Logf("config DB story (last %d lines):\n%s", len(t), strings.Join(t, "\n"))
	w.r.Fatalf(format, a...)
}

type simStats struct {
	acked, unknown, retries, refused, adoptions, snapshots int
	// grouped: writes of more than one entry (group commit); lazyLost:
	// crashes that lost a commit mark cdbPersist had left in memory
	grouped, lazyLost int
}

type simNode struct {
	w    *cdbWorld
	h    *sim.Host
	n    *Node
	inst time.Duration // sim time the installed view was installed
	rev  uint64        // committed revisions checked so far
	errs []string

	// The loop (Run): packets and requests wait in pkts and reqs while a
	// round's fsync runs (until busyTill, sim time); a tick that falls in
	// it waits too. wait is the current round's fsync time so far: what it
	// sends from then on leaves when the round ends.
	pkts     []simPkt
	reqs     []func()
	tickDue  bool
	busyTill time.Duration
	wait     time.Duration
}

type simPkt struct {
	link int
	data []byte
}

// simLog forwards the node's log to the sim trace and fails the run on an
// error-level record (the driver logs its bugs that way).
type simLog struct {
	nd    *simNode
	attrs []slog.Attr
}

func (l *simLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *simLog) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.nd.h.Logf("%s", b.String())
	l.nd.w.logf("n%d %s", l.nd.h.ID(), b.String())
	if strings.HasPrefix(rec.Message, "config database: adopting") {
		l.nd.w.stats.adoptions++
	}
	if strings.Contains(rec.Message, "snapshot") {
		l.nd.w.stats.snapshots++
	}
	if rec.Level >= slog.LevelError && (l.nd.w.allowErr == "" || !strings.Contains(b.String(), l.nd.w.allowErr)) {
		l.nd.errs = append(l.nd.errs, b.String())
	}
	return nil
}
func (l *simLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &simLog{nd: l.nd, attrs: append(append([]slog.Attr(nil), l.attrs...), as...)}
}
func (l *simLog) WithGroup(string) slog.Handler { return l }

// openSimStore opens a node's bbolt store without fsync: every write is
// in the file when PutCDB returns, and a simulated crash loses nothing
// written (as a synced write on a real disk).
func openSimStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "corral.db"), 0o600, &bolt.Options{Timeout: time.Second, NoSync: true, NoFreelistSync: true})
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func (w *cdbWorld) factory(h *sim.Host) sim.Process {
	id := h.ID()
	if old := w.node[id]; old != nil {
		old.n.store.Close() // the crashed incarnation never runs again
		if old.n.cdb.commitDirty {
			w.stats.lazyLost++
		}
	}
	nd := &simNode{w: w, h: h}
	w.logf("n%d starts, boot %d", id, h.Boot())
	name := fmt.Sprintf("n%d", id)
	n := &Node{cfg: &config.Config{Node: name, DataDir: filepath.Join(w.dir, name)}, self: wire.NodeID(id), boot: h.Boot(),
		names: map[wire.NodeID]string{}, done: make(chan struct{}), loopDone: make(chan struct{})}
	n.log = slog.New(&simLog{nd: nd})
	n.packetOut = nd.send
	nd.n = n
	var err error
	if n.store, err = openSimStore(n.cfg.DataDir); err != nil {
		w.r.Fatalf("n%d: store: %v", id, err)
	}
	var peers []conn.Peer
	var all []wire.NodeID
	for i := 1; i <= w.n; i++ {
		n.names[wire.NodeID(i)] = fmt.Sprintf("n%d", i)
		all = append(all, wire.NodeID(i))
		if i != id {
			peers = append(peers, conn.Peer{ID: wire.NodeID(i), Links: 2})
		}
	}
	if n.conn, err = conn.New(conn.Config{Cluster: "sim", Key: simKey, Self: n.self, Boot: n.boot, Links: 2, Peers: peers}, h.Rand()); err != nil {
		w.r.Fatalf("conn.New: %v", err)
	}
	if n.bc, err = bcast.New(bcast.Config{Self: n.self, Boot: n.boot}); err != nil {
		w.r.Fatalf("bcast.New: %v", err)
	}
	if err = n.openCDB(); err != nil {
		w.r.Fatalf("n%d: %v", id, err)
	}
	n.cdb.trace = func(ev cdbEvent) {
		if ev.sent == nil && ev.reply == nil { // cdbPersist wrote
			nd.fsync()
			if len(ev.durable) > 1 {
				w.stats.grouped++
			}
		}
	}
	if w.compact {
		// fold the log often and transfer in small chunks, so joiners get
		// snapshots from compacted sources
		n.cdb.db = cdb.New(cdb.Config{Self: n.self, CompactEvery: 8, ChunkEntries: 3})
		pd, err := n.store.GetCDB()
		if err != nil {
			w.r.Fatalf("n%d: %v", id, err)
		}
		if err := n.cdb.db.Recover(pd); err != nil {
			w.r.Fatalf("n%d: %v", id, err)
		}
	}
	var p membership.Persisted
	b, err := n.store.Get(keyMembership)
	if err != nil {
		w.r.Fatalf("n%d: %v", id, err)
	}
	if b != nil {
		if p, err = membership.UnmarshalPersisted(b); err != nil {
			w.r.Fatalf("n%d: %v", id, err)
		}
	}
	if n.mem, err = membership.New(membership.Config{Self: n.self, Nodes: all, Quorum: w.qc,
		Flusher: failingFlusher{flusher: n.flusher(), w: w, id: id}}, p, h.Now()); err != nil {
		w.r.Fatalf("membership.New: %v", err)
	}
	w.node[id] = nd
	nd.check()
	return nd
}

func (nd *simNode) Tick(time.Duration) {
	nd.tickDue = true
	nd.run()
}

func (nd *simNode) Receive(_ time.Duration, link int, _ sim.Addr, data []byte) {
	nd.pkts = append(nd.pkts, simPkt{link, data})
	nd.run()
}

// request runs f on the loop, as Node.do does: now, or after the round
// that is writing.
func (nd *simNode) request(f func()) {
	nd.reqs = append(nd.reqs, f)
	nd.run()
}

// live reports whether nd is the running incarnation of its node.
func (nd *simNode) live() bool {
	id := nd.h.ID()
	return nd.w.node[id] == nd && nd.w.s.Process(id) == sim.Process(nd)
}

// fsync is one write to the store: the round takes that much longer.
func (nd *simNode) fsync() {
	nd.wait += time.Duration(200+nd.w.rng.IntN(2800)) * time.Microsecond
}

// send is the node's packetOut: a packet leaves now, or, once the round
// has written, when its fsync is over.
func (nd *simNode) send(p conn.Packet) {
	h, to := nd.h, sim.Addr{Node: int(p.To), Link: p.ToLink}
	if nd.wait == 0 {
		h.Send(p.Link, to, p.Data)
		return
	}
	nd.w.s.After(nd.wait, func() { h.Send(p.Link, to, p.Data) }) // a no-op once crashed
}

// run is Node.Run's loop: a tick (drain, then conn, membership and
// cdbTick) or what is queued, then gather (everything queued, up to
// maxGather), then a round (execute). A round that wrote keeps the node
// busy for its fsync time; what arrives meanwhile waits for the next.
func (nd *simNode) run() {
	w, n := nd.w, nd.n
	for nd.live() && w.s.Now() >= nd.busyTill && (nd.tickDue || len(nd.pkts) > 0 || len(nd.reqs) > 0) {
		if w.s.Paused(nd.h.ID()) {
			w.s.After(time.Millisecond, nd.run)
			return
		}
		if nd.tickDue {
			nd.tickDue = false
			for _, p := range nd.pkts { // drain
				n.conn.Receive(nd.h.Now(), p.link, p.data)
			}
			nd.pkts = nil
			now := nd.h.Now()
			n.conn.Tick(now)
			n.mem.Tick(now)
			dirty := n.cdb.commitDirty
			n.cdbTick()
			if dirty && !n.cdb.commitDirty {
				nd.fsync()
			}
		}
		for range maxGather { // gather, taking packets and requests as a select would
			if len(nd.pkts) == 0 && len(nd.reqs) == 0 {
				break
			}
			if len(nd.reqs) == 0 || (len(nd.pkts) > 0 && w.rng.IntN(2) == 0) {
				p := nd.pkts[0]
				nd.pkts = nd.pkts[1:]
				n.conn.Receive(nd.h.Now(), p.link, p.data)
			} else {
				f := nd.reqs[0]
				nd.reqs = nd.reqs[1:]
				f()
			}
		}
		nd.execute(nd.h.Now())
		if nd.wait > 0 {
			nd.busyTill = w.s.Now() + nd.wait
			w.s.After(nd.wait, nd.run)
			nd.wait = 0
		}
	}
}

// execute is Node.execute on the simulated network and clock.
func (nd *simNode) execute(now time.Duration) {
	n := nd.n
	for {
		rc := n.conn.Ready()
		if len(n.carry.Messages) > 0 || len(n.carry.Events) > 0 {
			rc.Messages = append(n.carry.Messages, rc.Messages...)
			rc.Events = append(n.carry.Events, rc.Events...)
			n.carry = conn.Ready{}
		}
		n.sendPackets(rc.Packets)
		for _, m := range rc.Messages {
			n.deliver(now, m)
		}
		for _, e := range rc.Events {
			switch e.Kind {
			case conn.EventPeerReachable:
				n.mem.Reach(now, e.Peer, true)
			case conn.EventPeerUnreachable:
				n.mem.Reach(now, e.Peer, false)
			case conn.EventPeerRestarted:
				n.mem.Restarted(now, e.Peer)
			}
		}
		cdbBusy := n.cdbRound(now, n.bc.Ready())
		rm := n.mem.Ready()
		if rm.Persist != nil {
			if err := n.store.Put(keyMembership, rm.Persist.Marshal()); err != nil {
				nd.w.r.Fatalf("n%d: persist membership: %v", nd.h.ID(), err)
			}
			nd.fsync()
		}
		for _, o := range rm.Messages {
			if lease(o.Msg) {
				_ = n.conn.Datagram(now, o.To, wire.Encode(o.Msg))
				continue
			}
			if _, err := n.conn.Send(now, o.To, wire.Encode(o.Msg)); err != nil {
				nd.w.r.Fatalf("n%d: send: %v", nd.h.ID(), err)
			}
		}
		for _, e := range rm.Events {
			nd.h.Logf("membership %v", e)
			if e.Kind == membership.EventViewChanged {
				if p, ok := nd.w.primary[e.View]; ok && p != e.Primary {
					nd.w.r.Fatalf("view %v installed primary=%v and primary=%v", e.View, p, e.Primary)
				}
				nd.w.primary[e.View] = e.Primary
				nd.inst = nd.w.s.Now()
				nd.w.logf("n%d installs %v primary=%v members %v; log head %+v rev %d", nd.h.ID(), e.View, e.Primary, e.Members, n.cdb.db.Head(), n.cdb.db.Rev())
			}
		}
		n.cdbQuorum(now, len(rm.Events) > 0)
		if rc.Empty() && !cdbBusy && rm.Persist == nil && len(rm.Messages) == 0 && len(rm.Events) == 0 {
			break
		}
	}
	nd.check()
}

// check runs the per-step checks on this node.
func (nd *simNode) check() {
	w, n, id := nd.w, nd.n, nd.h.ID()
	if len(nd.errs) > 0 {
		w.fatalf("n%d logged an error: %s", id, nd.errs[0])
	}
	if n.fatalErr != nil {
		w.r.Fatalf("n%d stopped: %v", id, n.fatalErr)
	}
	db := n.cdb.db
	rev := db.Rev()
	if rev < nd.rev {
		w.fatalf("n%d: committed revision went back from %d to %d", id, nd.rev, rev)
	}
	for r := nd.rev + 1; r <= rev; r++ {
		e, ok := db.Entry(r)
		if !ok {
			continue // in the snapshot it took
		}
		got := idOf(e)
		want, seen := w.committed[r]
		if seen && want != got {
			w.fatalf("G3: n%d committed %+v at revision %d, another node %+v", id, got, r, want)
		}
		if !seen {
			w.logf("n%d commits rev %d: %+v", id, r, got)
		}
		w.committed[r] = got
		if !w.primary[e.View] {
			w.fatalf("n%d committed revision %d sequenced by view %v, which is not primary", id, r, e.View)
		}
	}
	nd.rev = rev
	if !db.Stale() && len(w.acks) > 0 {
		i := sort.Search(len(w.acks), func(i int) bool { return w.acks[i].at >= nd.inst })
		if i > 0 && rev < w.ackMax[i-1] {
			w.fatalf("G3: n%d settled in view %v (installed at %v) at revision %d without the update acknowledged at revision %d before it",
				id, n.cdb.cur, nd.inst, rev, w.ackMax[i-1])
		}
	}
}

// simClient writes through the DB: one request at a time, retried with
// the same (client, seq) until it is answered.
type simClient struct {
	w      *cdbWorld
	name   string
	seq    uint64
	op     *simOp
	ch     chan cdbReply
	on     *simNode // the node the current attempt waits on
	giveUp time.Duration
	next   time.Duration // when to try (again)
	done   []*simOp
}

type simOp struct {
	client  string
	seq     uint64
	ifs     []cdb.Cond
	then    []cdb.Op
	inv     time.Duration
	ret     time.Duration
	res     cdb.Result
	unknown int // "outcome unknown" answers before the final one
}

func (c *simClient) poll() {
	w := c.w
	now := w.s.Now()
	if c.ch != nil {
		select {
		case r := <-c.ch:
			c.ch = nil
			c.answer(r)
		default:
			if now >= c.giveUp || !c.on.live() {
				// no answer: abandon the call (as a cancelled context
				// does, on the loop) and retry elsewhere
				on, ch := c.on, c.ch
				on.request(func() {
					for k, x := range on.n.cdb.waiters {
						if x == ch {
							delete(on.n.cdb.waiters, k)
						}
					}
				})
				c.ch = nil
				w.stats.retries++
				c.next = now + time.Duration(50+w.rng.IntN(200))*time.Millisecond
			}
		}
		if c.ch != nil {
			return
		}
	}
	if now < c.next {
		return
	}
	if c.op == nil {
		if !w.load {
			return
		}
		c.seq++
		c.op = w.newOp(c)
	}
	// an attempt on a random running node
	id := 1 + w.rng.IntN(w.n)
	nd := w.node[id]
	if nd == nil || w.s.Process(id) == nil || w.s.Paused(id) {
		c.next = now + 20*time.Millisecond
		return
	}
	ch := make(chan cdbReply, 1)
	c.ch, c.on, c.giveUp = ch, nd, now+3*time.Second
	op := c.op
	nd.request(func() {
		err := nd.n.cdbPropose(nd.h.Now(), op.client, op.seq, 0, op.ifs, op.then, ch)
		if err != nil && c.ch == ch {
			w.stats.refused++
			c.ch = nil
			c.next = w.s.Now() + time.Duration(50+w.rng.IntN(200))*time.Millisecond
		}
	})
}

func (c *simClient) answer(r cdbReply) {
	w := c.w
	now := w.s.Now()
	if r.err != nil {
		if errors.Is(r.err, cdb.ErrOutcomeUnknown) {
			w.stats.unknown++
			c.op.unknown++
		}
		c.next = now + time.Duration(50+w.rng.IntN(200))*time.Millisecond
		return
	}
	if r.res.Old {
		w.r.Fatalf("%s seq %d answered Old: the client never goes back", c.name, c.op.seq)
	}
	c.op.ret, c.op.res = now, r.res
	// (with compaction a revision may be folded before a check saw it)
	if got, seen := w.committed[r.res.Rev]; (seen || !w.compact) && (got.client != apiClientPrefix+c.name || got.cseq != c.op.seq) {
		w.fatalf("%s seq %d acknowledged at revision %d, which holds %+v", c.name, c.op.seq, r.res.Rev, got)
	}
	w.acks = append(w.acks, simAck{at: now, rev: r.res.Rev})
	w.logf("%s seq %d acknowledged by n%d: %+v", c.name, c.op.seq, c.on.h.ID(), r.res)
	m := r.res.Rev
	if k := len(w.ackMax); k > 0 && w.ackMax[k-1] > m {
		m = w.ackMax[k-1]
	}
	w.ackMax = append(w.ackMax, m)
	w.stats.acked++
	c.done = append(c.done, c.op)
	c.op = nil
	c.next = now + time.Duration(w.rng.IntN(50))*time.Millisecond
}

var simKeys = []string{"/a", "/b", "/c"}

func (w *cdbWorld) newOp(c *simClient) *simOp {
	op := &simOp{client: apiClientPrefix + c.name, seq: c.seq, inv: w.s.Now()}
	key := simKeys[w.rng.IntN(len(simKeys))]
	switch k := w.rng.IntN(10); {
	case k < 6:
		op.then = []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: []byte(fmt.Sprintf("%s-%d", c.name, c.seq))}}
	case k < 8: // compare-and-set on the revision the client last saw for key
		var mod uint64
		for i := len(c.done) - 1; i >= 0; i-- {
			if d := c.done[i]; len(d.then) == 1 && d.then[0].Key == key && d.res.OK {
				mod = d.res.Rev
				break
			}
		}
		op.ifs = []cdb.Cond{{Key: key, ModRev: mod}}
		op.then = []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: []byte(fmt.Sprintf("%s-%d", c.name, c.seq))}}
	case k < 9:
		op.then = []cdb.Op{{Kind: cdb.OpDelete, Key: key}}
	default: // a transaction of two keys
		k2 := simKeys[(w.rng.IntN(len(simKeys)-1)+1+indexOf(key))%len(simKeys)]
		op.then = []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: []byte("t")}, {Kind: cdb.OpPut, Key: k2, Value: []byte(fmt.Sprintf("%s-%d", c.name, c.seq))}}
	}
	return op
}

func indexOf(k string) int {
	for i, s := range simKeys {
		if s == k {
			return i
		}
	}
	return 0
}

func (w *cdbWorld) tickClients() {
	for _, c := range w.clients {
		c.poll()
	}
	w.s.After(5*time.Millisecond, w.tickClients)
}

func (w *cdbWorld) busy() bool {
	for _, c := range w.clients {
		if c.op != nil {
			return true
		}
	}
	return false
}

func (w *cdbWorld) converged() bool {
	var id wire.ViewID
	for i := 1; i <= w.n; i++ {
		nd := w.node[i]
		if w.s.Process(i) == nil || nd == nil || w.s.Paused(i) {
			return false
		}
		st := nd.n.mem.Status()
		if len(st.View.Members) != w.n || (i > 1 && st.View.ID != id) || nd.n.cdb.cur != st.View.ID || nd.n.cdb.db.Stale() {
			return false
		}
		id = st.View.ID
	}
	return true
}

func simFault(s *sim.Sim, n int, rng *rand.Rand) {
	a := 1 + rng.IntN(n)
	b := 1 + (a+rng.IntN(n-1))%n
	switch rng.IntN(8) {
	case 0: // a partition of random shape
		groups := make([][]int, 1+rng.IntN(3))
		for i := 1; i <= n; i++ {
			g := rng.IntN(len(groups))
			groups[g] = append(groups[g], i)
		}
		s.Partition(groups...)
	case 1:
		s.Cut(a, b)
	case 2, 3: // a crash, or a restart of a node that is down (data kept)
		if s.Process(a) != nil {
			s.Crash(a)
		} else {
			s.Restart(a)
		}
	case 4:
		s.Pause(a, time.Duration(100+rng.IntN(3000))*time.Millisecond)
	case 5:
		s.SetNet(sim.NetConfig{MinDelay: 100 * time.Microsecond, MaxDelay: 5 * time.Millisecond,
			Drop: rng.Float64() * 0.2, Dup: rng.Float64() * 0.05, Reorder: rng.Float64() * 0.1})
	case 6:
		s.Isolate(a)
	case 7: // a crash in the middle of an update: soon, at a random instant
		s.After(time.Duration(rng.IntN(40))*time.Millisecond, func() {
			if s.Process(a) != nil {
				s.Crash(a)
				s.After(time.Duration(200+rng.IntN(1500))*time.Millisecond, func() { s.Restart(a) })
			}
		})
	}
}

// TestCDBOnFullStack is the full-stack G3 and linearizability sweep
// described above: -seeds N (default cdbSimSeeds), -seed S replays one.
func TestCDBOnFullStack(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulation sweep")
	}
	base, err := os.MkdirTemp(shmDir(), "cdbsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	total := &simStats{}
	seeds := cdbSimSeeds
	if raceOn {
		seeds = cdbSimSeeds / 10
	}
	simtest.SweepSeeds(t, simtest.SeedsN(seeds), func(r *simtest.Run) {
		st := runCDBSim(r, filepath.Join(base, fmt.Sprint(r.Seed)))
		total.acked += st.acked
		total.unknown += st.unknown
		total.retries += st.retries
		total.refused += st.refused
		total.adoptions += st.adoptions
		total.snapshots += st.snapshots
		total.grouped += st.grouped
		total.lazyLost += st.lazyLost
	})
	t.Logf("acknowledged %d, outcome unknown %d, abandoned calls %d, refused %d, adoptions from a peer %d, snapshot transfers %d, writes of several entries %d, crashes that lost a commit mark %d",
		total.acked, total.unknown, total.retries, total.refused, total.adoptions, total.snapshots, total.grouped, total.lazyLost)
	if total.acked == 0 || total.adoptions == 0 || total.grouped == 0 || (len(simtest.SeedsN(seeds)) >= 8 && (total.snapshots == 0 || total.lazyLost == 0)) {
		t.Fatalf("the sweep exercised too little: %+v", *total)
	}
}

func shmDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

func runCDBSim(r *simtest.Run, dir string) *simStats {
	defer os.RemoveAll(dir)
	w := newCDBWorld(r, dir, 3+2*int(r.Seed%2), r.Seed%4 == 3)
	defer w.close()
	n := w.n
	w.s.Run(2 * time.Second)
	for range 1 + w.rng.IntN(4) {
		simFault(w.s, n, w.rng)
		w.s.Run(time.Duration(300+w.rng.IntN(2500)) * time.Millisecond)
	}
	// the faults end: heal, a clean network, every node up
	w.s.Heal()
	w.s.SetNet(sim.DefaultNet())
	for i := 1; i <= n; i++ {
		if w.s.Process(i) == nil {
			w.s.Restart(i)
		}
	}
	if !w.s.RunUntil(w.converged, 60*time.Second) {
		r.Fatalf("no single settled view after the faults")
	}
	w.load = false
	if !w.s.RunUntil(func() bool { return !w.busy() }, 30*time.Second) {
		var open []string
		for _, c := range w.clients {
			if c.op != nil {
				open = append(open, fmt.Sprintf("%s seq %d", c.name, c.op.seq))
			}
		}
		r.Fatalf("requests never answered after the faults: %v", open)
	}
	w.s.Run(time.Second)
	if !w.s.RunUntil(w.converged, 60*time.Second) {
		r.Fatalf("no single settled view at the end")
	}
	w.final()
	return w.stats
}

// final checks one history everywhere and the clients' answers against it.
func (w *cdbWorld) final() {
	ref := w.node[1].n.cdb.db
	for i := 2; i <= w.n; i++ {
		db := w.node[i].n.cdb.db
		// (a log folded at other revisions ends in a snapshot: no view)
		if db.Rev() != ref.Rev() || db.Head().Rev != ref.Head().Rev || (!w.compact && db.Head() != ref.Head()) {
			w.fatalf("n%d at revision %d head %+v, n1 at %d head %+v", i, db.Rev(), db.Head(), ref.Rev(), ref.Head())
		}
	}
	for i := 2; i <= w.n; i++ {
		if !bytes.Equal(w.node[i].n.cdb.db.Snapshot(), ref.Snapshot()) {
			w.fatalf("n%d's state differs from n1's at revision %d", i, ref.Rev())
		}
	}
	if w.compact {
		// the logs are folded: no full history to replay (the checks of
		// every step and the equal states above are what is left)
		return
	}
	// the sequential model, with the same dedupe: the first copy of a
	// (client, seq) applies, later copies answer its result
	type rec struct{ mod uint64 }
	kv := map[string]rec{}
	first := map[simID]cdb.Result{}
	last := map[string]uint64{}
	for r := uint64(1); r <= ref.Rev(); r++ {
		e, ok := ref.Entry(r)
		if !ok {
			w.fatalf("n1 lacks revision %d of its history", r)
		}
		u := e.Update
		if u.Client == "" {
			continue
		}
		k := simID{client: u.Client, cseq: u.Seq}
		if s, ok := last[u.Client]; ok && u.Seq <= s {
			if _, applied := first[k]; !applied && u.Seq == s {
				w.fatalf("dedupe model: %v", k)
			}
			continue
		}
		last[u.Client] = u.Seq
		res := cdb.Result{Rev: r, OK: true}
		for _, c := range u.If {
			if kv[c.Key].mod != c.ModRev {
				res.OK = false
			}
		}
		if res.OK {
			for _, o := range u.Then {
				if o.Kind == cdb.OpPut {
					kv[o.Key] = rec{mod: r}
				} else {
					delete(kv, o.Key)
				}
			}
		}
		first[k] = res
	}
	var ops []*simOp
	for _, c := range w.clients {
		ops = append(ops, c.done...)
	}
	for _, op := range ops {
		want, ok := first[simID{client: op.client, cseq: op.seq}]
		if !ok {
			w.fatalf("G3: %s seq %d was acknowledged at revision %d and is not in the final history", op.client, op.seq, op.res.Rev)
		}
		if want != op.res {
			w.fatalf("linearizability: %s seq %d got %+v, the history gives %+v", op.client, op.seq, op.res, want)
		}
	}
	for _, a := range ops {
		for _, b := range ops {
			if a.ret < b.inv && a.res.Rev >= b.res.Rev {
				w.fatalf("linearizability: %s seq %d answered at %v (revision %d) before %s seq %d began at %v, which got revision %d",
					a.client, a.seq, a.ret, a.res.Rev, b.client, b.seq, b.inv, b.res.Rev)
			}
		}
	}
	// every node's committed state is the model's
	for k, rc := range kv {
		got, found, _ := ref.Get(k)
		if !found || got.ModRev != rc.mod {
			w.fatalf("n1 has %s %+v (found %v), the model revision %d", k, got, found, rc.mod)
		}
	}
	kvs, _, _ := ref.List("/")
	if len(kvs) != len(kv) {
		w.fatalf("n1 has %d keys, the model %d", len(kvs), len(kv))
	}
}

func newCDBWorld(r *simtest.Run, dir string, n int, compact bool) *cdbWorld {
	w := &cdbWorld{compact: compact, r: r, rng: rand.New(rand.NewPCG(uint64(r.Seed), 23)), n: n, dir: dir, node: map[int]*simNode{},
		primary: map[wire.ViewID]bool{}, committed: map[uint64]simID{}, load: true, stats: &simStats{}}
	w.qc = quorum.Config{Votes: map[wire.NodeID]int{}, Policy: quorum.Majority, Window: 10 * time.Second}
	for i := 1; i <= n; i++ {
		w.qc.Votes[wire.NodeID(i)] = 1
	}
	for i := range 4 {
		w.clients = append(w.clients, &simClient{w: w, name: fmt.Sprintf("c%d", i+1)})
	}
	w.s = r.New(sim.Config{Nodes: n, Links: 2, RandomNet: true}, w.factory)
	w.s.After(0, w.tickClients)
	return w
}

func (w *cdbWorld) close() {
	for _, nd := range w.node {
		nd.n.store.Close()
	}
}
