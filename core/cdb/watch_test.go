package cdb

import (
	"errors"
	"testing"
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
