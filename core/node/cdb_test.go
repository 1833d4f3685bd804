package node

import (
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
)

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
