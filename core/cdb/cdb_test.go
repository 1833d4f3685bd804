package cdb

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/corral-ha/corral/core/wire"
)

var v1 = wire.ViewID{Epoch: 1, Coord: 1}

// single is a one-node primary DB driven through Propose, Hold and Commit.
type single struct {
	t   *testing.T
	d   *DB
	seq uint64
}

func newSingle(t *testing.T) *single {
	s := &single{t: t, d: mustNew(Config{Self: 1})}
	_ = s.d.Step(0, BeginAdopt{View: v1, Source: 1})
	s.d.SetQuorum(true, 1, 1)
	s.flushBarrier()
	return s
}

func (s *single) flushBarrier() {
	rd := ready(s.d)
	for _, p := range rd.Broadcast {
		s.deliver(p)
	}
}

func (s *single) deliver(p []byte) Ready {
	s.seq++
	dl := Delivery{View: v1, Primary: true, Seq: s.seq, Payload: p}
	if err := s.d.Step(0, Hold(dl)); err != nil {
		s.t.Fatal(err)
	}
	if err := s.d.Step(0, Commit(dl)); err != nil {
		s.t.Fatal(err)
	}
	return ready(s.d)
}

func (s *single) do(req Request) Result {
	s.t.Helper()
	p, err := s.d.Propose(req)
	if err != nil {
		s.t.Fatal(err)
	}
	var rd Ready
	if p == nil {
		rd = ready(s.d)
	} else {
		rd = s.deliver(p)
	}
	if len(rd.Replies) != 1 || rd.Replies[0].Err != nil {
		s.t.Fatalf("replies %+v", rd.Replies)
	}
	return rd.Replies[0].Result
}

func TestOperations(t *testing.T) {
	s := newSingle(t)
	r := s.do(Set("c", 1, "/resources/web/ip", []byte("10.0.0.1")))
	if !r.OK {
		t.Fatal(r)
	}
	kv, found, stale := s.d.Get("/resources/web/ip")
	if !found || stale || string(kv.Value) != "10.0.0.1" || kv.ModRev != r.Rev || kv.CreateRev != r.Rev {
		t.Fatalf("get %+v %v %v", kv, found, stale)
	}
	r2 := s.do(Set("c", 2, "/resources/web/ip", []byte("10.0.0.2")))
	kv, _, _ = s.d.Get("/resources/web/ip")
	if kv.ModRev != r2.Rev || kv.CreateRev != r.Rev || r2.Rev != r.Rev+1 {
		t.Fatalf("revisions %+v %v %v", kv, r, r2)
	}
	s.do(Set("c", 3, "/resources/db", []byte("x")))
	s.do(Set("c", 4, "/groups/g", []byte("y")))
	kvs, rev, _ := s.d.List("/resources/")
	if len(kvs) != 2 || kvs[0].Key != "/resources/db" || kvs[1].Key != "/resources/web/ip" || rev != s.d.Rev() {
		t.Fatalf("list %+v", kvs)
	}
	// CAS
	if r := s.do(CAS("c", 5, "/resources/db", 1, []byte("z"))); r.OK {
		t.Fatal("CAS with a wrong revision applied")
	}
	kv, _, _ = s.d.Get("/resources/db")
	if r := s.do(CAS("c", 6, "/resources/db", kv.ModRev, []byte("z"))); !r.OK {
		t.Fatal("CAS with the right revision refused")
	}
	if r := s.do(CAS("c", 7, "/new", 0, []byte("n"))); !r.OK {
		t.Fatal("create-if-absent refused")
	}
	if r := s.do(CAS("c", 8, "/new", 0, []byte("n"))); r.OK {
		t.Fatal("create-if-absent applied twice")
	}
	// delete
	s.do(Del("c", 9, "/new"))
	if _, found, _ := s.d.Get("/new"); found {
		t.Fatal("deleted key found")
	}
	// txn: all or nothing
	kv, _, _ = s.d.Get("/groups/g")
	bad := Request{Client: "c", Seq: 10, If: []Cond{{Key: "/groups/g", ModRev: kv.ModRev}, {Key: "/absent", ModRev: 5}},
		Then: []Op{{Kind: OpPut, Key: "/t1", Value: []byte("1")}, {Kind: OpDelete, Key: "/groups/g"}}}
	if r := s.do(bad); r.OK {
		t.Fatal("txn with a false condition applied")
	}
	if _, found, _ := s.d.Get("/t1"); found {
		t.Fatal("part of a failed txn applied")
	}
	good := bad
	good.Seq, good.If = 11, good.If[:1]
	if r := s.do(good); !r.OK {
		t.Fatal("txn refused")
	}
	if _, found, _ := s.d.Get("/groups/g"); found {
		t.Fatal("txn delete not applied")
	}
	if _, found, _ := s.d.Get("/t1"); !found {
		t.Fatal("txn put not applied")
	}
	h := s.d.History(3)
	if len(h) != 3 || h[2].Rev != s.d.Rev() || h[2].Client != "c" || h[2].Seq != 11 || h[1].OK {
		t.Fatalf("history %+v", h)
	}
}

func TestDedupe(t *testing.T) {
	s := newSingle(t)
	r := s.do(Set("c", 1, "/k", []byte("a")))
	s.do(Set("d", 1, "/k", []byte("b")))
	// a retry before the first copy is delivered: both copies are sequenced
	req := Set("c", 2, "/k", []byte("c"))
	p1, _ := s.d.Propose(req)
	p2, _ := s.d.Propose(req)
	rd := s.deliver(p1)
	first := rd.Replies[0].Result
	rd = s.deliver(p2)
	if len(rd.Replies) != 0 {
		t.Fatalf("a second reply %+v", rd.Replies)
	}
	if kv, _, _ := s.d.Get("/k"); kv.ModRev != first.Rev {
		t.Fatalf("applied twice: %+v", kv)
	}
	// a retry after it was applied is answered from the dedupe table
	if got := s.do(req); got != first {
		t.Fatalf("retry gave %+v, want %+v", got, first)
	}
	// an old request is not applied
	if got := s.do(Set("c", 1, "/k", []byte("a"))); !got.Old || got.OK {
		t.Fatalf("late retry of seq 1 (first %+v) gave %+v, want Old", r, got)
	}
}

func TestNoQuorum(t *testing.T) {
	d := mustNew(Config{Self: 1})
	d.SetQuorum(false, 1, 3)
	_, err := d.Propose(Set("c", 1, "/k", nil))
	if err == nil || err.Error() != "no quorum: 1 of 3 votes" {
		t.Fatalf("err %v", err)
	}
	var nq ErrNoQuorum
	if !errors.As(err, &nq) {
		t.Fatal("not ErrNoQuorum")
	}
	d.SetQuorum(false, 2, 3)
	d.SetNoQuorumReason("lease not held yet")
	if _, err := d.Propose(Set("c", 1, "/k", nil)); err == nil || err.Error() != "no quorum: 2 of 3 votes (lease not held yet)" {
		t.Fatalf("with a reason: err %v", err)
	}
	d.SetQuorum(false, 1, 3)
	if _, _, stale := d.Get("/k"); !stale {
		t.Fatal("read on a non-quorate node not stale")
	}
	// an update delivered in a non-primary view is not applied
	d.SetQuorum(true, 2, 3)
	_ = d.Step(0, BeginAdopt{View: v1, Source: 1})
	ready(d)
	_ = d.Step(0, Commit(Delivery{View: v1, Primary: true, Seq: 1})) // nothing held: error ignored
	p := EncodeUpdate(Update{Origin: 1, Request: Set("c", 1, "/k", nil)})
	d.pending[reqKey{"c", 1}] = true
	dl := Delivery{View: wire.ViewID{Epoch: 2, Coord: 1}, Seq: 1, Payload: p}
	if err := d.Step(0, Hold(dl)); err != nil {
		t.Fatal(err)
	}
	if err := d.Step(0, Commit(dl)); err != nil {
		t.Fatal(err)
	}
	rd := ready(d)
	if _, found, _ := d.Get("/k"); found || len(rd.Replies) != 1 || rd.Replies[0].Err != ErrOutcomeUnknown {
		t.Fatalf("non-primary update: found %v replies %+v", found, rd.Replies)
	}
}

// Two DBs fed the same updates reach the same state and results.
func TestDeterministicApply(t *testing.T) {
	a, b := newSingle(t), newSingle(t)
	for i := range 200 {
		key := fmt.Sprintf("/k%d", i%7)
		var req Request
		switch i % 3 {
		case 0:
			req = Set("c", uint64(i+1), key, []byte{byte(i)})
		case 1:
			req = CAS("c", uint64(i+1), key, uint64(i/2), []byte{byte(i)})
		default:
			req = Del("c", uint64(i+1), key)
		}
		if ra, rb := a.do(req), b.do(req); ra != rb {
			t.Fatalf("results differ: %+v %+v", ra, rb)
		}
	}
	if !bytes.Equal(a.d.Snapshot(), b.d.Snapshot()) {
		t.Fatal("states differ")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := newSingle(t)
	for i := range 50 {
		s.do(Set(fmt.Sprintf("c%d", i%3), uint64(i/3+1), fmt.Sprintf("/k/%d", i%11), []byte(fmt.Sprint(i))))
	}
	snap := s.d.Snapshot()
	d := mustNew(Config{Self: 2})
	if err := d.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Snapshot(), snap) || d.Rev() != s.d.Rev() {
		t.Fatal("restore(snapshot(x)) != x")
	}
	if err := d.Restore(snap[:len(snap)-1]); err == nil {
		t.Fatal("a truncated snapshot restored")
	}
}

// Recover keeps committed entries applied and the rest tentative; a
// compaction folds the log into the snapshot.
func TestRecoverAndCompact(t *testing.T) {
	d := mustNew(Config{Self: 1, CompactEvery: 5})
	_ = d.Step(0, BeginAdopt{View: v1, Source: 1})
	d.SetQuorum(true, 1, 1)
	var snap []byte
	entries := map[uint64]Entry{}
	var commit uint64
	persist := func(rd Ready) {
		p := rd.Persist
		if p.Snapshot != nil {
			snap = p.Snapshot
			for r := range entries {
				if r <= p.Base {
					delete(entries, r)
				}
			}
		}
		for _, e := range p.Entries {
			entries[e.Rev] = e
		}
		if p.Commit != 0 {
			commit = p.Commit
		}
	}
	seq := uint64(0)
	hold := func(p []byte) Delivery {
		seq++
		dl := Delivery{View: v1, Primary: true, Seq: seq, Payload: p}
		if err := d.Step(0, Hold(dl)); err != nil {
			t.Fatal(err)
		}
		return dl
	}
	rd := ready(d)
	persist(rd)
	if err := d.Step(0, Commit(hold(rd.Broadcast[0]))); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		p, err := d.Propose(Set("c", uint64(i+1), "/k", []byte{byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		dl := hold(p)
		if i < 11 {
			if err := d.Step(0, Commit(dl)); err != nil {
				t.Fatal(err)
			}
		}
		persist(ready(d))
	}
	if snap == nil || len(entries) > 6 {
		t.Fatalf("no compaction: snapshot %v, %d entries", snap != nil, len(entries))
	}
	var es []Entry
	for r := uint64(0); r <= 100; r++ {
		if e, ok := entries[r]; ok {
			es = append(es, e)
		}
	}
	d2 := mustNew(Config{Self: 1, CompactEvery: 5})
	if err := d2.Recover(Persisted{Snapshot: snap, Entries: es, Commit: commit, Adopted: v1}); err != nil {
		t.Fatal(err)
	}
	if d2.Rev() != d.Rev() || !bytes.Equal(d2.Snapshot(), d.Snapshot()) || d2.Head() != d.Head() {
		t.Fatalf("recovered rev %d head %v, want %d %v", d2.Rev(), d2.Head(), d.Rev(), d.Head())
	}
}

// An update held (persisted) by one node but never safe is truncated when
// that node adopts the history of a later primary view, never resurrected;
// a watch sees only the adopted history.
func TestUnackedWriteTruncated(t *testing.T) {
	a, b := mustNew(Config{Self: 1}), mustNew(Config{Self: 2})
	for _, d := range []*DB{a, b} {
		_ = d.Step(0, BeginAdopt{View: v1, Source: 1})
	}
	barrier := ready(a).Broadcast[0]
	_ = a.Step(0, Receive{From: 2, Msg: ready(b).Messages[0]})
	for _, m := range ready(a).Messages {
		_ = b.Step(0, Receive{From: 1, Msg: m})
	}
	dl := Delivery{View: v1, Primary: true, Seq: 1, Payload: barrier}
	for _, d := range []*DB{a, b} {
		d.SetQuorum(true, 2, 3)
		if err := d.Step(0, Hold(dl)); err != nil {
			t.Fatal(err)
		}
		if err := d.Step(0, Commit(dl)); err != nil {
			t.Fatal(err)
		}
		ready(d)
	}
	// a takes a write; only a holds it (b never does), then a is cut off
	p, _ := a.Propose(Set("c", 1, "/k", []byte("lost")))
	if err := a.Step(0, Hold(Delivery{View: v1, Primary: true, Seq: 2, Payload: p})); err != nil {
		t.Fatal(err)
	}
	ready(a)
	// b (with c, not modelled) forms view 2, primary, and commits other writes
	v2 := wire.ViewID{Epoch: 2, Coord: 2}
	_ = b.Step(0, BeginAdopt{View: v2, Source: 2})
	barrier2 := ready(b).Broadcast[0]
	w := b.Watch("/")
	seq := uint64(0)
	deliver := func(p []byte) {
		seq++
		dl := Delivery{View: v2, Primary: true, Seq: seq, Payload: p}
		if err := b.Step(0, Hold(dl)); err != nil {
			t.Fatal(err)
		}
		if err := b.Step(0, Commit(dl)); err != nil {
			t.Fatal(err)
		}
	}
	b.SetQuorum(true, 2, 3)
	deliver(barrier2)
	p2, err := b.Propose(Set("d", 1, "/k", []byte("kept")))
	if err != nil {
		t.Fatal(err)
	}
	deliver(p2)
	ready(b)
	// a rejoins: view 3, source b (newer adopted view)
	v3 := wire.ViewID{Epoch: 3, Coord: 1}
	src := ChooseSource([]Candidate{{Node: 1, Head: a.Head()}, {Node: 2, Head: b.Head()}})
	if src != 2 {
		t.Fatalf("source n%d, want n2", src)
	}
	wa := a.Watch("/")
	_ = a.Step(0, BeginAdopt{View: v3, Source: src})
	_ = b.Step(0, BeginAdopt{View: v3, Source: src})
	rb := ready(b)
	barrier3 := rb.Broadcast[0]
	for i := 0; i < 10 && a.CatchingUp(); i++ {
		for _, m := range ready(a).Messages {
			_ = b.Step(0, Receive{From: 1, Msg: m})
		}
		for _, m := range rb.Messages {
			_ = a.Step(0, Receive{From: 2, Msg: m})
		}
		rb = ready(b)
	}
	if a.CatchingUp() {
		t.Fatal("adoption did not finish")
	}
	// the adopted history is committed once view 3 proves established:
	// the safe delivery of its first message
	if a.Rev() != 1 || !a.Stale() {
		t.Fatalf("a committed revision %d (stale %v) before view 3 was established, want 1 and stale", a.Rev(), a.Stale())
	}
	dl3 := Delivery{View: v3, Primary: true, Seq: 1, Payload: barrier3}
	for _, d := range []*DB{a, b} {
		d.SetQuorum(true, 2, 3)
		if err := d.Step(0, Hold(dl3)); err != nil {
			t.Fatal(err)
		}
		if err := d.Step(0, Commit(dl3)); err != nil {
			t.Fatal(err)
		}
	}
	kv, _, _ := a.Get("/k")
	if string(kv.Value) != "kept" || !bytes.Equal(a.Snapshot(), b.Snapshot()) || a.Head() != b.Head() {
		t.Fatalf("a has %q head %v, b head %v", kv.Value, a.Head(), b.Head())
	}
	for _, ev := range ready(a).Watch {
		if ev.Watch != wa || string(ev.Value) == "lost" {
			t.Fatalf("watch event %+v", ev)
		}
	}
	_ = w
}

func TestMessageCodec(t *testing.T) {
	ms := []Message{
		{Fetch: &Fetch{View: v1, First: true, Base: 3, Runs: []Run{{View: v1, First: 4, Last: 9}}}},
		{Fetch: &Fetch{View: v1, After: 7}},
		{Chunk: &Chunk{View: v1, From: 2, Snapshot: []byte{1, 2}, SnapRev: 2, Head: 4, Last: true,
			Entries: []Entry{{Rev: 3, View: v1, Seq: 1, Update: Update{Origin: 1, Request: CAS("c", 1, "/k", 0, []byte("v"))}}}}},
	}
	for _, m := range ms {
		var w wire.Writer
		m.Append(&w)
		got, err := DecodeMessage(wire.NewReader(w))
		if err != nil {
			t.Fatal(err)
		}
		var w2 wire.Writer
		got.Append(&w2)
		if !bytes.Equal(w, w2) {
			t.Fatalf("message %+v does not round trip", m)
		}
	}
}

func FuzzSnapshot(f *testing.F) {
	d := mustNew(Config{Self: 1})
	f.Add(d.Snapshot())
	s := &single{t: &testing.T{}, d: mustNew(Config{Self: 1})}
	_ = s.d.Step(0, BeginAdopt{View: v1, Source: 1})
	s.d.SetQuorum(true, 1, 1)
	s.flushBarrier()
	for i := range 5 {
		p, _ := s.d.Propose(Set("c", uint64(i+1), fmt.Sprintf("/k%d", i), []byte("v")))
		s.deliver(p)
	}
	f.Add(s.d.Snapshot())
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := mustNew(Config{Self: 1})
		if err := d.Restore(b); err != nil {
			return
		}
		x := d.Snapshot()
		d2 := mustNew(Config{Self: 1})
		if err := d2.Restore(x); err != nil {
			t.Fatalf("restore of a snapshot: %v", err)
		}
		if !bytes.Equal(d2.Snapshot(), x) {
			t.Fatal("restore(snapshot(x)) != x")
		}
	})
}

// mustNew is New for a configuration a test knows is valid.
func mustNew(cfg Config) *DB {
	d, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return d
}

// ready takes the DB's Ready and acknowledges it, as a driver does.
func ready(d *DB) Ready {
	rd := d.Ready()
	d.Advance()
	return rd
}
