package node

import (
	"errors"
	"os"
	"reflect"
	"syscall"
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

// TestR3StoreKeepsLogWhenCheckpointFails: a checkpoint whose bbolt
// transaction fails (here a record bbolt refuses: an empty key) must not
// release any log segment: the log is then the only copy of what Persist
// acknowledged. Mutation caught: Release called before the bbolt
// transaction commits (the log trimmed before the checkpoint is synced).
func TestR3StoreKeepsLogWhenCheckpointFails(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.crash()
	// no background checkpoint: its failure would break the store (every
	// later Persist fails) before the second segment is written
	close(s.stop)
	<-s.stopped
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	close(s.stopped)
	if err := s.Persist(nil, []KV{{Key: []byte{}, Val: []byte("poison")}}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 9<<20)
	for i := range 2 { // the second does not fit the first segment: a second segment
		big[0] = byte(i)
		if err := s.Put(keyCRM, big); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(); err == nil {
		t.Fatal("a checkpoint over an empty key succeeded: the test does not test a failing checkpoint")
	}
	if segs := s.wal.Segments(); len(segs) != 2 {
		t.Fatalf("segments after a failed checkpoint: %v, want the 2 written (nothing is in bbolt)", segs)
	}
	for _, p := range s.wal.Segments() {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("a segment is gone after a failed checkpoint: %v", err)
		}
	}
}

// TestStoreBrokenAfterFailedCheckpoint: a checkpoint whose bbolt
// transaction fails (its fsync: the page cache may no longer match the
// disk) breaks the store: every later Persist fails with ErrStoreBroken
// (the node stops), no checkpoint runs again in this process, not even
// at Close; the next open replays the log. Mutations caught: Persist
// going on after the failure, Close checkpointing.
func TestStoreBrokenAfterFailedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	persist := func(rev uint64) error {
		return s.Persist(&cdb.Persist{Entries: []cdb.Entry{testEntry(rev)}, Commit: rev - 1}, []KV{{keyMembership, []byte{byte(rev)}}})
	}
	for rev := uint64(1); rev <= 4; rev++ {
		if err := persist(rev); err != nil {
			t.Fatal(err)
		}
		if rev == 2 {
			if err := s.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.ckptFault = func() error { return syscall.EIO }
	if err := s.checkpoint(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("checkpoint with a failing disk: %v, want EIO", err)
	}
	s.ckptFault = nil // the disk "works" again: the store must not trust it
	if err := persist(5); !errors.Is(err, ErrStoreBroken) {
		t.Fatalf("persist after a failed checkpoint: %v, want ErrStoreBroken", err)
	}
	if err := s.checkpoint(); !errors.Is(err, ErrStoreBroken) {
		t.Fatalf("checkpoint after a failed one: %v, want ErrStoreBroken", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, applied := boltState(t, dir); applied != 2 {
		t.Fatalf("bbolt applied %d after Close of a broken store, want 2 (no checkpoint after the failure)", applied)
	}
	s, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.GetCDB()
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Get(keyMembership)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 4 || len(m) != 1 || m[0] != 4 {
		t.Fatalf("after the replay: %d entries, membership %v; want 4 and [4]", len(p.Entries), m)
	}
}
