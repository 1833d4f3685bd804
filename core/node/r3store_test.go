package node

import (
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
)

// TestR3StoreTruncateSnapshotReplay: entries 1..5 are checkpointed into
// bbolt; then, in the log only, a Truncate at 4 with a new entry 4 of a
// later view, and a Snapshot at base 2 with an adopted view; a crash. The
// replay must delete the truncated old 4 and 5 (not resurrect them from
// bbolt), keep the new 4, apply the snapshot (dropping 1 and 2) and the
// adopted view. Mutations caught: the Truncate, Snapshot, Base or
// Adopted field dropped from encodeRecord/applyRecord.
func TestR3StoreTruncateSnapshotReplay(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for rev := uint64(1); rev <= 5; rev++ {
		if err := s.Persist(&cdb.Persist{Entries: []cdb.Entry{testEntry(rev)}, Commit: rev - 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	e4 := testEntry(4)
	e4.View = wire.ViewID{Epoch: 2, Coord: 2}
	e4.Update.Request = cdb.Set("c", 40, "/k", []byte{40})
	if err := s.Persist(&cdb.Persist{Truncate: 4, Entries: []cdb.Entry{e4}}, nil); err != nil {
		t.Fatal(err)
	}
	adopted := wire.ViewID{Epoch: 2, Coord: 2}
	if err := s.Persist(&cdb.Persist{Snapshot: []byte("snap@2"), Base: 2, Commit: 3, Adopted: adopted}, nil); err != nil {
		t.Fatal(err)
	}
	s.crash()
	s, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.GetCDB()
	if err != nil {
		t.Fatal(err)
	}
	want := cdb.Persisted{Snapshot: []byte("snap@2"), Entries: []cdb.Entry{testEntry(3), e4}, Commit: 3, Adopted: adopted}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("after the replay:\n got %+v\nwant %+v", p, want)
	}
}
