package node

import (
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
)

func TestFlushFraming(t *testing.T) {
	h := cdb.Head{Rev: 7, View: wire.ViewID{Epoch: 3, Coord: 2}, Adopted: wire.ViewID{Epoch: 2, Coord: 1}}
	var w wire.Writer
	w.Uint8(flushVersion)
	w.Bytes([]byte("bcast state"))
	putHead(&w, h)
	st, got, err := splitState(w)
	if err != nil || string(st) != "bcast state" || got != h {
		t.Fatalf("state: %q %+v %v", st, got, err)
	}
	if _, _, err := splitState(append(w, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, _, err := splitState(w[:len(w)-1]); err == nil {
		t.Fatal("truncated state accepted")
	}
	var p wire.Writer
	p.Uint8(flushVersion)
	p.Bytes([]byte("plan"))
	p.Uvarint(2)
	putHead(&p, h)
	putHead(&p, cdb.Head{})
	plan, heads, err := splitPlan(p)
	if err != nil || string(plan) != "plan" || len(heads) != 2 || heads[0] != h || heads[1] != (cdb.Head{}) {
		t.Fatalf("plan: %q %+v %v", plan, heads, err)
	}
	if _, _, err := splitPlan(p[:len(p)-2]); err == nil {
		t.Fatal("truncated plan accepted")
	}
}

func TestStoreCDB(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := wire.ViewID{Epoch: 1, Coord: 1}
	e := func(rev uint64) cdb.Entry {
		return cdb.Entry{Rev: rev, View: v, Seq: rev, Update: cdb.Update{Origin: 1, Request: cdb.Set("c", rev, "/k", []byte{byte(rev)})}}
	}
	if err := s.PutCDB(&cdb.Persist{Entries: []cdb.Entry{e(1), e(2), e(3), e(4)}, Commit: 2, Adopted: v}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCDB(&cdb.Persist{Truncate: 4, Snapshot: []byte("snap"), Base: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := s.GetCDB()
	if err != nil {
		t.Fatal(err)
	}
	want := cdb.Persisted{Snapshot: []byte("snap"), Entries: []cdb.Entry{e(2), e(3)}, Commit: 2, Adopted: v}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %+v\nwant %+v", p, want)
	}
}
