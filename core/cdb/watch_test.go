package cdb

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/corral-ha/corral/core/wire"
)

// WatchFrom replays the committed changes from a start revision out of the
// log, then the live ones follow in Ready.Watch, each once and in order;
// a start inside the snapshot is refused as compacted.
func TestWatchFrom(t *testing.T) {
	s := newSingle(t)
	s.d.cfg.CompactEvery = 8
	// rev 1 is the barrier; 2.. are the writes
	s.do(Set("c", 1, "/a/x", []byte("1")))      // 2
	s.do(Set("c", 2, "/b/x", []byte("2")))      // 3
	s.do(Del("c", 3, "/a/x"))                   // 4
	s.do(CAS("c", 4, "/a/y", 99, []byte("no"))) // 5: condition fails, no change
	s.do(Set("c", 5, "/a/y", []byte("3")))      // 6
	id, replay, err := s.d.WatchFrom("/a/", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []WatchEvent{{Watch: id, Rev: 4, Key: "/a/x", Deleted: true}, {Watch: id, Rev: 6, Key: "/a/y", Value: []byte("3")}}
	if !sameEvents(replay, want) {
		t.Fatalf("replay %+v, want %+v", replay, want)
	}
	s.do(Set("c", 6, "/b/z", []byte("4"))) // 7: not under /a/
	p, err := s.d.Propose(Set("c", 7, "/a/z", []byte("5")))
	if err != nil {
		t.Fatal(err)
	}
	rd := s.deliver(p)
	if !sameEvents(rd.Watch, []WatchEvent{{Watch: id, Rev: 8, Key: "/a/z", Value: []byte("5")}}) {
		t.Fatalf("live %+v", rd.Watch)
	}
	// a start beyond the committed revision replays nothing and watches
	if _, r, err := s.d.WatchFrom("/a/", 100); err != nil || len(r) != 0 {
		t.Fatalf("future start: %+v %v", r, err)
	}
	// fold the log into the snapshot: the early revisions are gone
	for i := uint64(8); s.d.base == 0; i++ {
		s.do(Set("c", i, "/c", []byte("x")))
	}
	_, _, err = s.d.WatchFrom("/a/", 2)
	var ce ErrCompacted
	if !errors.As(err, &ce) || ce.Oldest != s.d.base+1 {
		t.Fatalf("compacted start: %v (base %d)", err, s.d.base)
	}
	s.do(Set("c", 100, "/c", []byte("y")))
	if _, r, err := s.d.WatchFrom("/c", s.d.base+1); err != nil || len(r) != 1 || string(r[0].Value) != "y" {
		t.Fatalf("start after base: %d events, %v", len(r), err)
	}
}

func sameEvents(a, b []WatchEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Watch != b[i].Watch || a[i].Rev != b[i].Rev || a[i].Key != b[i].Key || a[i].Deleted != b[i].Deleted || string(a[i].Value) != string(b[i].Value) {
			return false
		}
	}
	return true
}

// TestSnapshotTransferFromCompactedSource: a node joining a primary view
// whose source has folded the entries it needs into its snapshot gets the
// snapshot, then the entries after it in chunks; once the view is
// established both have the same state, and a restart of the joiner
// recovers it from what it persisted.
func TestSnapshotTransferFromCompactedSource(t *testing.T) {
	a := mustNew(Config{Self: 1, CompactEvery: 4, ChunkEntries: 2})
	_ = a.Step(0, BeginAdopt{View: v1, Source: 1})
	a.SetQuorum(true, 1, 1)
	seq := uint64(0)
	deliver := func(d *DB, view wire.ViewID, p []byte) {
		t.Helper()
		seq++
		dl := Delivery{View: view, Primary: true, Seq: seq, Payload: p}
		if err := d.Step(0, Hold(dl)); err != nil {
			t.Fatal(err)
		}
		if err := d.Step(0, Commit(dl)); err != nil {
			t.Fatal(err)
		}
	}
	deliver(a, v1, ready(a).Broadcast[0])
	for i := range 14 { // revisions 2..15: the log keeps 13..15 after the snapshot at 12
		p, err := a.Propose(Set("c", uint64(i+1), fmt.Sprintf("/k%d", i%5), []byte{byte('a' + i)}))
		if err != nil {
			t.Fatal(err)
		}
		deliver(a, v1, p)
	}
	ready(a)
	if a.base != 12 {
		t.Fatalf("no compaction: base %d", a.base)
	}
	// b is new: it needs revision 1 on, which a no longer holds
	b := mustNew(Config{Self: 2, CompactEvery: 4, ChunkEntries: 2})
	v2 := wire.ViewID{Epoch: 2, Coord: 1}
	src := ChooseSource([]Candidate{{Node: 1, Head: a.Head()}, {Node: 2, Head: b.Head()}})
	if src != 1 {
		t.Fatalf("source n%d", src)
	}
	wb := b.Watch("/")
	seen := map[string]string{} // what b's watch says, applied in order
	var lastRev uint64
	watch := func(evs []WatchEvent) {
		for _, ev := range evs {
			if ev.Watch != wb || ev.Rev < lastRev {
				t.Fatalf("watch event %+v after revision %d", ev, lastRev)
			}
			lastRev = ev.Rev
			if ev.Deleted {
				delete(seen, ev.Key)
			} else {
				seen[ev.Key] = string(ev.Value)
			}
		}
	}
	_ = a.Step(0, BeginAdopt{View: v2, Source: 1})
	_ = b.Step(0, BeginAdopt{View: v2, Source: 1})
	ra := ready(a)
	barrier := ra.Broadcast[0]
	var persisted Persisted
	keep := func(p Persist) {
		if p.Snapshot != nil {
			persisted.Snapshot, persisted.Entries = p.Snapshot, nil
		}
		if p.Truncate != 0 {
			es := persisted.Entries[:0]
			for _, e := range persisted.Entries {
				if e.Rev < p.Truncate {
					es = append(es, e)
				}
			}
			persisted.Entries = es
		}
		persisted.Entries = append(persisted.Entries, p.Entries...)
		if p.Commit != 0 {
			persisted.Commit = p.Commit
		}
		if p.Adopted != (wire.ViewID{}) {
			persisted.Adopted = p.Adopted
		}
	}
	snapshots, chunks := 0, 0
	for i := 0; i < 20 && b.CatchingUp(); i++ {
		rb := ready(b)
		keep(rb.Persist)
		watch(rb.Watch)
		for _, p := range rb.Progress {
			if p.Snapshot > 0 {
				snapshots++
			}
		}
		for _, m := range rb.Messages {
			_ = a.Step(0, Receive{From: 2, Msg: m})
		}
		ra = ready(a)
		for _, m := range ra.Messages {
			chunks++
			_ = b.Step(0, Receive{From: 1, Msg: m})
		}
	}
	rb := ready(b)
	keep(rb.Persist)
	watch(rb.Watch)
	for _, p := range rb.Progress {
		if p.Snapshot > 0 {
			snapshots++
		}
	}
	if b.CatchingUp() || snapshots != 1 || chunks != 2 {
		t.Fatalf("catching up %v after %d chunks, %d snapshots; want done, one snapshot and 2 chunks", b.CatchingUp(), chunks, snapshots)
	}
	for _, d := range []*DB{a, b} {
		d.SetQuorum(true, 2, 2)
	}
	seq = 0
	dl := Delivery{View: v2, Primary: true, Seq: 1, Payload: barrier}
	for _, d := range []*DB{a, b} {
		if err := d.Step(0, Hold(dl)); err != nil {
			t.Fatal(err)
		}
		if err := d.Step(0, Commit(dl)); err != nil {
			t.Fatal(err)
		}
	}
	rb = ready(b)
	keep(rb.Persist)
	watch(rb.Watch)
	// the watch saw the snapshot as the keys it changed, then the entries
	kvs, _, _ := a.List("/")
	if len(kvs) != len(seen) {
		t.Fatalf("b's watch ends with %v, a has %d keys", seen, len(kvs))
	}
	for _, kv := range kvs {
		if seen[kv.Key] != string(kv.Value) {
			t.Fatalf("b's watch has %s=%q, a %q", kv.Key, seen[kv.Key], kv.Value)
		}
	}
	if !bytes.Equal(a.Snapshot(), b.Snapshot()) || a.Head() != b.Head() || b.Stale() {
		t.Fatalf("after the transfer b is at %d head %+v (stale %v), a at %d head %+v", b.Rev(), b.Head(), b.Stale(), a.Rev(), a.Head())
	}
	b2 := mustNew(Config{Self: 2, CompactEvery: 4, ChunkEntries: 2})
	if err := b2.Recover(persisted); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b2.Snapshot(), b.Snapshot()) || b2.Head() != b.Head() {
		t.Fatalf("b restarted at %d head %+v, was at %d head %+v", b2.Rev(), b2.Head(), b.Rev(), b.Head())
	}
}
