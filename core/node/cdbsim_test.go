package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
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
// and restarts, power losses (every node at one instant), pauses and loss.
// In half the seeds the fence core and the resource manager run too
// (fenceTick, fenceView, fenceDeliver and crmView, crmDeliver, crmResync
// are the node's; fenceRound, crmRound and crmTick are copies with a
// simulated power switch, which crashes its target and restarts it a
// while later, and simulated agents that succeed), so their broadcasts
// and the fence state's writes travel with the DB's.
// Only the event loop around them (Run, gather and execute, without the
// transport and the event log) is the test's, and it follows the node's
// rule: persist, fsync, then send. Every write to the store is an I/O
// that takes a simulated fsync time, during which the node is busy (what
// arrives meanwhile is gathered into the next round, group commit); the
// write is durable only when its fsync ends: a crash before puts the store
// back to the state before it (and before every later write), kept by a
// bbolt read transaction taken before each write (simNode.fsync, crashed).
// What the round sends after a write leaves when that write's fsync ends,
// and never if the node crashes first: packets (Submits and Orders that
// cdbPersist transmits before the write leave at once, Acks and Stables
// after it) and the answers to clients (simNode.replied), which the client
// takes the moment they leave. The commit mark that cdbPersist leaves in
// memory is written at the tick (cdbTick), and a crash before that loses
// it. Clients write through the DB with their own (client, seq) and retry
// an unanswered request with the same id on another node.
//
// Checked after every step of every node:
//   - committed entries agree: revision r holds the same update on every
//     node that committed it, for good (no committed entry is truncated,
//     none is lost in a crash);
//   - every committed entry was sequenced by a primary view;
//   - G3: a node that has settled in a primary view installed after an
//     update was acknowledged holds it committed (it is at the same
//     revision everywhere by the first check);
//   - an answer is handed to its client only once its update is on the
//     replying node's disk (written by this round or an earlier one: it
//     leaves when those writes' fsyncs end); an Ack or a Stable is handed
//     to conn only once the node's whole log is on its disk (the contract
//     of core/cdb/doc.go: durable before acknowledged).
//
// At the end (faults over, one view): every node has the same history,
// every client's request was answered, and the answers are linearizable:
// the revisions are a linearization that respects real time, and replaying
// the history in a sequential key-value model (with the same dedupe)
// gives each acknowledged request exactly the result its client got.
// TestCDBSimDeterministic runs seeds twice to the same trace.
//
// Mutations (temporary edits of cdb.go) and the seed that catches each:
//   - Acks and Stables sent before the write (cdbPersist sends every
//     message early: `if false && attests(o.Msg)`) -> seed 1 (the Ack
//     check: "n3 sends *bcast.Ack ... while its log up to revision 1 is
//     not on its disk"); without that check, seed 64 through G3 alone (a
//     power loss right after an answer: nodes that had acked the update
//     from memory lost it, came back first and settled without it: "G3:
//     n1 committed ... at revision 52, another node ...").
//   - Answers sent before the write (cdbAnswerEarly answers every reply
//     before cdbPersist) -> caught by no seed, and none can: no reachable
//     round answers an update that its own write holds. A node holds an
//     update (and writes it) before it acks it, commits only once its own
//     Ack is in, and commits an adopted history only at the first Safe
//     message of the adopted view, after the catch-up's writes; the rounds
//     that fold the log (Persist.Snapshot) answer updates written earlier.
//     Measured over 300 seeds (before slow fsyncs): cdbAnswerEarly held back 1097
//     answers to after a write (rounds that fold the log, adopt or
//     truncate), and the update of every one was on disk before that
//     write. The check above (the update on the replying node's disk)
//     fails at once on any answer that precedes its update's write.

const cdbSimSeeds = 300 // the default sweep (make test, about 45 s of one core); -seeds N for more

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
	// stack: the fence core and the resource manager run too (fenceRound,
	// crmRound), with a simulated power switch and agents
	stack bool
	// held: answers handed to a waiter by a round whose writes are not
	// durable yet; the client sees one only once they are (simNode.replied)
	held map[chan cdbReply]bool
	// onAnswer, onPropose: what runs right after the next answer
	// (afterAnswer), the next request taken (afterPropose)
	onAnswer  []func(int)
	onPropose []func(int)
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
	// crashes that lost a commit mark cdbPersist had left in memory;
	// ioLost: crashes that lost writes whose fsync had not ended
	grouped, lazyLost, ioLost int
	// fences: power switch calls; actions: agent calls; crmEvents: the
	// resource manager's events (the stack's traffic)
	fences, actions, crmEvents int
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

	// The disk: every write to the store is an I/O that ends (is durable)
	// when its fsync time is over; a crash before that loses it and every
	// later one. snap is a read transaction taken before the next write
	// (the state that write starts from); io are the writes whose fsync
	// has not ended, oldest first, each with the state before it.
	snap *bolt.Tx
	io   []*bolt.Tx
	// okRev: the log head last seen on disk by the Ack check
	okRev uint64
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
// in the file when it returns. What a crash keeps is the simulation's
// (simNode.fsync, crashed): the state before the oldest write whose
// simulated fsync had not ended. The mmap is large from the start: a
// write transaction that had to grow it would wait for the read
// transactions the disk model keeps open (bbolt remaps under a lock).
func openSimStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "corral.db"), 0o600, &bolt.Options{Timeout: time.Second, NoSync: true, NoFreelistSync: true,
		InitialMmapSize: 256 << 20})
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func (w *cdbWorld) factory(h *sim.Host) sim.Process {
	id := h.ID()
	if old := w.node[id]; old != nil {
		old.crashed() // the crashed incarnation never runs again
	}
	nd := &simNode{w: w, h: h}
	w.logf("n%d starts, boot %d", id, h.Boot())
	name := fmt.Sprintf("n%d", id)
	n := &Node{cfg: &config.Config{Node: name, DataDir: filepath.Join(w.dir, name)}, self: wire.NodeID(id), boot: h.Boot(),
		names: map[wire.NodeID]string{}, done: make(chan struct{}), loopDone: make(chan struct{})}
	for i := 1; i <= w.n; i++ {
		n.cfg.Nodes = append(n.cfg.Nodes, config.Node{Name: fmt.Sprintf("n%d", i), ID: i})
	}
	n.log = slog.New(&simLog{nd: nd})
	n.packetOut = nd.send
	n.clock = h.Now
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
		if ev.reply != nil {
			nd.replied(*ev.reply)
		}
		if ev.sent != nil && attests(ev.sent.Msg) {
			// an Ack or a Stable says what this node holds: all of it is
			// on its disk (durable when the round's fsyncs so far end,
			// which is when the message leaves)
			if h := n.cdb.db.Head(); h.Rev > 0 && h.Rev != nd.okRev {
				if !nd.onDisk(h.Rev) {
					w.fatalf("n%d sends %T %+v while its log up to revision %d is not on its disk", id, ev.sent.Msg, ev.sent.Msg, h.Rev)
				}
				nd.okRev = h.Rev
			}
		}
	}
	if w.compact {
		// fold the log often and transfer in small chunks, so joiners get
		// snapshots from compacted sources
		if n.cdb.db, err = cdb.New(cdb.Config{Self: n.self, CompactEvery: 8, ChunkEntries: 3}); err != nil {
			w.r.Fatalf("n%d: %v", id, err)
		}
		pd, err := n.store.GetCDB()
		if err != nil {
			w.r.Fatalf("n%d: %v", id, err)
		}
		if err := n.cdb.db.Recover(pd); err != nil {
			w.r.Fatalf("n%d: %v", id, err)
		}
	}
	if w.stack {
		nd.openStack()
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
		Flusher: failingFlusher{flusher: n.flusher(), w: w, id: id}, Persisted: p, Start: h.Now()}); err != nil {
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

// beforeWrite keeps the store's state before a write that may come
// (a read transaction), unless it is kept already.
func (nd *simNode) beforeWrite() {
	if nd.snap != nil {
		return
	}
	tx, err := nd.n.store.db.Begin(false)
	if err != nil {
		nd.w.r.Fatalf("n%d: store: %v", nd.h.ID(), err)
	}
	nd.snap = tx
}

// dropSnap lets go of the state kept by beforeWrite when no write came.
func (nd *simNode) dropSnap() {
	if nd.snap != nil {
		_ = nd.snap.Rollback()
		nd.snap = nil
	}
}

// fsync is one write to the store (just made): the round takes that much
// longer, and the write is durable only when its fsync ends; a crash
// before loses it (crashed).
func (nd *simNode) fsync() {
	w := nd.w
	if nd.snap == nil {
		w.r.Fatalf("n%d wrote its store where the simulation's loop kept no state before the write (a write point the loop misses)", nd.h.ID())
	}
	d := time.Duration(200+w.rng.IntN(2800)) * time.Microsecond
	if w.rng.IntN(10) == 0 { // a slow one (a busy disk)
		d = time.Duration(3+w.rng.IntN(27)) * time.Millisecond
	}
	nd.wait += d
	tx := nd.snap
	nd.snap = nil
	nd.io = append(nd.io, tx)
	w.s.After(nd.wait, func() {
		if !nd.live() || len(nd.io) == 0 || nd.io[0] != tx {
			return // crashed first: crashed() restores the state before it
		}
		nd.io = nd.io[1:]
		_ = tx.Rollback()
	})
}

// crashed puts the crashed incarnation's store back to what was durable:
// the state before its oldest write whose fsync had not ended.
func (nd *simNode) crashed() {
	w, id := nd.w, nd.h.ID()
	path := filepath.Join(nd.n.cfg.DataDir, "corral.db")
	lost := len(nd.io)
	if lost > 0 {
		if err := nd.io[0].CopyFile(path+".durable", 0o600); err != nil {
			w.r.Fatalf("n%d: keep the durable state: %v", id, err)
		}
	}
	for _, tx := range nd.io {
		_ = tx.Rollback()
	}
	nd.io = nil
	nd.dropSnap()
	nd.n.store.Close()
	if lost > 0 {
		if err := os.Rename(path+".durable", path); err != nil {
			w.r.Fatalf("n%d: restore the durable state: %v", id, err)
		}
		w.stats.ioLost++
		w.logf("n%d crashed with %d writes whose fsync had not ended: lost", id, lost)
	}
	if nd.n.cdb.commitDirty {
		w.stats.lazyLost++
	}
}

// replied: the round hands r to its waiter now. The answer leaves when
// the round's writes so far are durable (as every message sent at this
// point does) and never if the node crashes first: the client sees it
// only then. Checked: its update is on this node's disk by then
// (persist, fsync, then answer).
func (nd *simNode) replied(r cdb.Reply) {
	w, n := nd.w, nd.n
	ch, ok := n.cdb.waiters[cdbKey{r.Client, r.Seq}]
	if !ok {
		return
	}
	if r.Err == nil && !nd.onDisk(r.Result.Rev) {
		w.fatalf("n%d answers %s seq %d (revision %d) before the update is on its disk", nd.h.ID(), r.Client, r.Seq, r.Result.Rev)
	}
	w.held[ch] = true
	w.s.After(nd.wait, func() {
		if nd.live() {
			delete(w.held, ch)
			for _, c := range w.clients {
				if c.ch == ch {
					c.take() // at once: a crash right after must not hide it from the checks
				}
			}
		}
	})
}

// onDisk reports whether revision rev is in the store (written: durable
// once the round's fsyncs so far end), as an entry or folded into the
// snapshot.
func (nd *simNode) onDisk(rev uint64) bool {
	found := false
	err := nd.n.store.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCDB)
		if b == nil {
			return nil
		}
		es := b.Bucket(bucketEntries)
		if es != nil && es.Get(revKey(rev)) != nil {
			found = true
			return nil
		}
		if b.Get(keySnapshot) != nil {
			first := ^uint64(0)
			if es != nil {
				if k, _ := es.Cursor().First(); k != nil {
					first = binary.BigEndian.Uint64(k)
				}
			}
			found = rev < first
		}
		return nil
	})
	if err != nil {
		nd.w.r.Fatalf("n%d: store: %v", nd.h.ID(), err)
	}
	return found
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
				_ = n.conn.Step(nd.h.Now(), conn.Received{Link: p.link, Data: p.data})
			}
			nd.pkts = nil
			now := nd.h.Now()
			n.conn.Tick(now)
			n.mem.Tick(now)
			dirty := n.cdb.commitDirty
			nd.beforeWrite()
			n.cdbTick()
			if dirty && !n.cdb.commitDirty {
				nd.fsync()
			}
			if w.stack {
				n.fenceTick(now)
				nd.crmTick(now)
			}
		}
		for range maxGather { // gather, taking packets and requests as a select would
			if len(nd.pkts) == 0 && len(nd.reqs) == 0 {
				break
			}
			if len(nd.reqs) == 0 || (len(nd.pkts) > 0 && w.rng.IntN(2) == 0) {
				p := nd.pkts[0]
				nd.pkts = nd.pkts[1:]
				_ = n.conn.Step(nd.h.Now(), conn.Received{Link: p.link, Data: p.data})
			} else {
				f := nd.reqs[0]
				nd.reqs = nd.reqs[1:]
				f()
			}
		}
		nd.execute(nd.h.Now())
		nd.dropSnap()
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
		n.conn.Advance()
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
				_ = n.mem.Step(now, membership.Reach{Peer: e.Peer, Up: true})
			case conn.EventPeerUnreachable:
				_ = n.mem.Step(now, membership.Reach{Peer: e.Peer, Up: false})
			case conn.EventPeerRestarted:
				_ = n.mem.Step(now, membership.Restarted{Peer: e.Peer})
			}
		}
		nd.beforeWrite()
		rb := n.bc.Ready()
		n.bc.Advance()
		cdbBusy := n.cdbRound(now, rb)
		rm := n.mem.Ready()
		n.mem.Advance()
		if rm.Persist != nil {
			nd.beforeWrite()
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
		var fenceBusy, crmBusy bool
		if nd.w.stack {
			fenceBusy = nd.fenceRound(now, rm.Events)
			crmBusy = nd.crmRound(now, len(rm.Events) > 0)
		}
		if rc.Empty() && !n.conn.HasReady() && !cdbBusy && !fenceBusy && !crmBusy && rm.Persist == nil && len(rm.Messages) == 0 && len(rm.Events) == 0 {
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
		if !c.take() {
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
				delete(w.held, ch)
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
		if err == nil {
			for _, f := range w.onPropose {
				f(id)
			}
			w.onPropose = nil
		}
	})
}

// take takes the answer to the current attempt if it has left the node
// (an answer whose round's writes are not durable yet has not).
func (c *simClient) take() bool {
	if c.ch == nil || c.w.held[c.ch] {
		return false
	}
	select {
	case r := <-c.ch:
		c.ch = nil
		c.answer(r)
		return true
	default:
		return false
	}
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
	for _, f := range w.onAnswer {
		f(c.on.h.ID())
	}
	w.onAnswer = nil
	c.done = append(c.done, c.op)
	c.op = nil
	c.next = now + time.Duration(w.rng.IntN(50))*time.Millisecond
}

var simKeys = []string{"/a", "/b", "/c"}

func (w *cdbWorld) newOp(c *simClient) *simOp {
	op := &simOp{client: apiClientPrefix + c.name, seq: c.seq, inv: w.s.Now()}
	if w.stack && c.name == "c1" && c.seq == 1 {
		// the resource manager's desired state: two groups to place
		for _, g := range []string{"g1", "g2"} {
			op.then = append(op.then,
				cdb.Op{Kind: cdb.OpPut, Key: crm.ResourcePrefix + g + "-r", Value: []byte(`{"agent": "sim", "group": "` + g + `"}`)},
				cdb.Op{Kind: cdb.OpPut, Key: crm.GroupPrefix + g, Value: []byte(`{"resources": ["` + g + `-r"]}`)})
		}
		return op
	}
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

// simFault injects one fault; afterAnswer(f) runs f right after the next
// answer a client takes, afterPropose(f) right after the next request a
// node takes (f gets the node that answered, took it).
func simFault(s *sim.Sim, n int, rng *rand.Rand, afterAnswer, afterPropose func(func(int))) {
	a := 1 + rng.IntN(n)
	b := 1 + (a+rng.IntN(n-1))%n
	switch rng.IntN(13) {
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
	case 8, 9, 10: // a power loss: every node at one instant, soon (or right after a client got an answer); they come back one by one
		power := func(last int) { // (last, when not 0, comes back last)
			for i := 1; i <= n; i++ {
				s.Crash(i)
			}
			order := rng.Perm(n)
			if last != 0 {
				order = slices.DeleteFunc(order, func(i int) bool { return i == last-1 })
				order = append(order, last-1)
			}
			var at time.Duration
			for _, i := range order {
				at += time.Duration(100+rng.IntN(1500)) * time.Millisecond
				s.After(at, func() {
					if s.Process(i+1) == nil {
						s.Restart(i + 1)
					}
				})
			}
		}
		if k := rng.IntN(3); k == 0 {
			s.After(time.Duration(rng.IntN(40))*time.Millisecond, func() { power(0) })
		} else {
			// (half the time the node that answered is the last back: the
			// others settle first, from what they made durable)
			afterAnswer(func(id int) {
				if rng.IntN(2) == 0 {
					id = 0
				}
				s.After(time.Duration(rng.IntN(1000*k))*time.Microsecond, func() { power(id) })
			})
		}
	case 11, 12: // the node that just took a request is cut off, for a while (its update goes on without it)
		afterPropose(func(id int) {
			s.After(time.Duration(rng.IntN(3000))*time.Microsecond, func() {
				s.Isolate(id)
				s.After(time.Duration(300+rng.IntN(2000))*time.Millisecond, s.Heal)
			})
		})
	}
}

// afterPropose runs f right after the next request a node takes.
func (w *cdbWorld) afterPropose(f func(int)) {
	w.onPropose = append(w.onPropose, f)
}

// afterAnswer runs f right after the next answer a client takes, with
// the node that answered.
func (w *cdbWorld) afterAnswer(f func(int)) {
	w.onAnswer = append(w.onAnswer, f)
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
		total.ioLost += st.ioLost
		total.fences += st.fences
		total.actions += st.actions
		total.crmEvents += st.crmEvents
	})
	t.Logf("acknowledged %d, outcome unknown %d, abandoned calls %d, refused %d, adoptions from a peer %d, snapshot transfers %d, writes of several entries %d, crashes that lost a commit mark %d, crashes that lost writes in flight %d, fence calls %d, agent calls %d, resource manager events %d",
		total.acked, total.unknown, total.retries, total.refused, total.adoptions, total.snapshots, total.grouped, total.lazyLost, total.ioLost, total.fences, total.actions, total.crmEvents)
	if total.acked == 0 || total.adoptions == 0 || total.grouped == 0 || (len(simtest.SeedsN(seeds)) >= 8 &&
		(total.snapshots == 0 || total.lazyLost == 0 || total.ioLost == 0 || total.fences == 0 || total.actions == 0)) {
		t.Fatalf("the sweep exercised too little: %+v", *total)
	}
}

// TestCDBSimDeterministic: a seed of each shape (three and five nodes,
// with the fence core and the resource manager, one with compaction) runs
// twice to the same trace: nothing of the real clock or of map order leaks
// into the simulation.
func TestCDBSimDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulation")
	}
	base, err := os.MkdirTemp(shmDir(), "cdbsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	for _, seed := range []int64{4, 5, 11} { // fence core and resource manager on 3, 5 nodes; 5 nodes, compaction
		simtest.Deterministic(t, seed, func(r *simtest.Run) { runCDBSim(r, filepath.Join(base, fmt.Sprint(r.Seed))) })
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
	// the fence core and the resource manager run in half the seeds (they
	// cost more than the rest: fenceView reads membership's Status at
	// every pass of the loop)
	w := newCDBWorld(r, dir, 3+2*int(r.Seed%2), r.Seed%4 == 3, (r.Seed/2)%2 == 0)
	defer w.close()
	n := w.n
	w.s.Run(2 * time.Second)
	for range 1 + w.rng.IntN(4) {
		simFault(w.s, n, w.rng, w.afterAnswer, w.afterPropose)
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

// newCDBWorld starts n nodes; stack: the fence core and the resource
// manager run too.
func newCDBWorld(r *simtest.Run, dir string, n int, compact, stack bool) *cdbWorld {
	w := &cdbWorld{compact: compact, stack: stack, r: r, rng: rand.New(rand.NewPCG(uint64(r.Seed), 23)), n: n, dir: dir, node: map[int]*simNode{},
		primary: map[wire.ViewID]bool{}, committed: map[uint64]simID{}, load: true, stats: &simStats{}, held: map[chan cdbReply]bool{}}
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
		for _, tx := range nd.io {
			_ = tx.Rollback()
		}
		nd.io = nil
		nd.dropSnap()
		nd.n.store.Close()
	}
}

// ---- the fence core and the resource manager (fence.go, crm.go) ----

// openStack builds the fence core (every node has one level: a simulated
// power switch) and the resource manager, as openFence and openCRM do
// without the Lua host.
func (nd *simNode) openStack() {
	w, n, id := nd.w, nd.n, nd.h.ID()
	fc := fence.Config{Self: n.cfg.Node, Boot: uint64(n.boot), Targets: map[string]fence.Target{}}
	for i := 1; i <= w.n; i++ {
		fc.Targets[fmt.Sprintf("n%d", i)] = fence.Target{Levels: [][]fence.Device{{{Name: "power", Driver: "sim"}}}}
	}
	f, err := fence.New(fc)
	if err != nil {
		w.r.Fatalf("n%d: fence.New: %v", id, err)
	}
	b, err := n.store.Get(keyFence)
	if err != nil {
		w.r.Fatalf("n%d: %v", id, err)
	}
	if b != nil {
		if err := f.Restore(b); err != nil {
			w.r.Fatalf("n%d: fence restore: %v", id, err)
		}
	}
	n.fence = fenceDriver{f: f, configured: true, clean: map[wire.ViewID][]string{}}
	r := &n.crm
	if r.c, err = crm.New(crm.Config{Self: n.cfg.Node}); err != nil {
		w.r.Fatalf("n%d: crm.New: %v", id, err)
	}
	r.monitors = map[string]uint64{}
	r.watch[0] = n.cdb.db.Watch(crm.ResourcePrefix)
	r.watch[1] = n.cdb.db.Watch(crm.GroupPrefix)
	n.crmResync()
}

// later runs f on nd's loop after d (an answer from outside the loop, as
// Node.post).
func (nd *simNode) later(d time.Duration, f func()) {
	nd.w.s.After(d, func() { nd.request(f) })
}

// fenceRound is Node.fenceRound with the simulated power switch, and
// self-fencing as a crash.
func (nd *simNode) fenceRound(now time.Duration, memberEvents []membership.Event) bool {
	w, n := nd.w, nd.n
	d := &n.fence
	if d.selfFenced {
		return false
	}
	n.fenceMemberEvents(memberEvents)
	n.fenceView(now)
	rd := d.f.Ready()
	if rd.Empty() {
		return false
	}
	d.f.Advance()
	if rd.Persist != nil {
		nd.beforeWrite()
		if err := n.store.Put(keyFence, rd.Persist); err != nil {
			w.r.Fatalf("n%d: persist the fence state: %v", nd.h.ID(), err)
		}
		nd.fsync()
	}
	for _, p := range rd.Broadcast {
		if _, err := n.bc.Broadcast(append([]byte{tagFence}, p...)); err != nil {
			n.log.Warn("fence broadcast", "err", err)
		}
	}
	for _, c := range rd.Calls {
		nd.fenceCall(now, c)
	}
	for _, e := range rd.Events {
		w.logf("n%d %s target=%s by=%s error=%s", nd.h.ID(), e.Kind, e.Target, e.By, e.Error)
	}
	for _, c := range rd.Confirmed {
		if d.view.Coordinator != n.cfg.Node {
			continue
		}
		n.crmView(now)
		if err := n.crm.c.Step(now, crm.Fenced{Node: c.Target}); err != nil {
			n.log.Warn("fencing: tell the resource manager", "target", c.Target, "err", err)
		}
	}
	for _, r := range rd.History {
		// Node.fenceHistory writes through the API, off the loop: one try
		nd.later(0, func() {
			ch := make(chan cdbReply, 1)
			_ = n.cdbPropose(nd.h.Now(), "", 0, 0, nil, []cdb.Op{{Kind: cdb.OpPut, Key: r.Key, Value: r.Value}}, ch)
		})
	}
	if rd.SelfFence != "" {
		d.selfFenced = true
		w.logf("n%d fences itself: %s", nd.h.ID(), rd.SelfFence)
		id := nd.h.ID()
		w.s.After(0, func() {
			if nd.live() {
				w.s.Crash(id)
				w.s.After(time.Duration(300+w.rng.IntN(1500))*time.Millisecond, func() {
					if w.s.Process(id) == nil {
						w.s.Restart(id)
					}
				})
			}
		})
	}
	return true
}

// fenceCall is Node.fenceCall on a simulated power switch: some time
// later the target is off (a crash) and the call succeeds; it is back on
// (restarted) a while after.
func (nd *simNode) fenceCall(now time.Duration, c fence.Call) {
	w, n := nd.w, nd.n
	if !n.mem.Quorate(now) {
		_ = n.fence.f.Step(now, fence.Result{Call: c.ID, OK: false, Error: "the runner lost its lease before the call"})
		return
	}
	var tid int
	if _, err := fmt.Sscanf(c.Target, "n%d", &tid); err != nil || tid < 1 || tid > w.n {
		w.r.Fatalf("n%d: fence call for %q", nd.h.ID(), c.Target)
	}
	w.logf("n%d fence call: %s %s", nd.h.ID(), c.Action, c.Target)
	w.s.After(time.Duration(10+w.rng.IntN(200))*time.Millisecond, func() {
		w.stats.fences++
		w.s.Crash(tid)
		w.logf("%s is off (fenced)", c.Target)
		w.s.After(time.Duration(300+w.rng.IntN(1500))*time.Millisecond, func() {
			if w.s.Process(tid) == nil {
				w.s.Restart(tid)
			}
		})
		nd.request(func() { _ = n.fence.f.Step(nd.h.Now(), fence.Result{Call: c.ID, OK: true}) })
	})
}

// crmTick is Node.crmTick without the time of day (no failback windows
// here; it would read the real clock).
func (nd *simNode) crmTick(now time.Duration) {
	n := nd.n
	r := &n.crm
	n.crmView(now)
	if now-r.lastTick < crmTickEvery {
		return
	}
	r.lastTick = now
	r.c.Tick(now)
}

// crmRound is Node.crmRound with simulated agents (every call succeeds
// after a while) and no policy host (the built-in default decides).
func (nd *simNode) crmRound(now time.Duration, memberChanged bool) bool {
	w, n := nd.w, nd.n
	if memberChanged || !n.crm.viewSet {
		n.crmView(now)
	}
	r := &n.crm
	if !r.c.HasReady() {
		return false
	}
	rd := r.c.Ready()
	r.c.Advance()
	for _, p := range rd.Broadcast {
		if _, err := n.bc.Broadcast(append([]byte{tagCRM}, p...)); err != nil {
			n.log.Warn("resource manager broadcast", "err", err)
		}
	}
	for _, a := range rd.Exec {
		w.stats.actions++
		nd.later(time.Duration(5+w.rng.IntN(100))*time.Millisecond, func() {
			_ = r.c.Step(nd.h.Now(), crm.ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: crm.StatusOK})
		})
	}
	for _, p := range rd.Policy {
		_ = r.c.Step(now, crm.PolicyAnswer{ID: p.ID, Error: "no policy host in the simulation"})
	}
	for _, e := range rd.Events {
		w.stats.crmEvents++
		w.logf("n%d %s group=%s resource=%s owner=%s on=%s reason=%s", nd.h.ID(), e.Kind, e.Group, e.Resource, e.Owner, e.On, e.Reason)
	}
	return true
}
