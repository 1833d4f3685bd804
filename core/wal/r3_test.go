package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestR3TwoDamagedRecordsMidLogRefused: two adjacent damaged records (one
// bad sector spanning both, or two bit flips) with intact, acknowledged
// records after them are not a torn last write: Open must refuse
// (ErrCorrupt), not cut the acknowledged records 4..8 away. validAfter
// only looks for a valid record of LSN lsn or lsn+1 after the bad one,
// so a damaged lsn+1 hides every later record.
func TestR3TwoDamagedRecordsMidLogRefused(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 0)
	offs := appendN(t, l, 0, 8)
	path := l.Segments()[0]
	l.Close()
	if err := flip(path, offs[1]+recHeader+1); err != nil { // record 2
		t.Fatal(err)
	}
	if err := flip(path, offs[2]+recHeader+1); err != nil { // record 3
		t.Fatal(err)
	}
	l2, recs, err := Open(dir, 0, Options{})
	if l2 != nil {
		defer l2.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open: err %v with %d records: acknowledged records 4..8 (intact) were cut as a torn tail, want ErrCorrupt", err, len(recs))
	}
}

// TestR3PreallocatedSegmentWithoutHeader: a crash while a segment was
// being created can leave it at its preallocated size with its header
// not yet on disk (fallocate's size change is metadata, journaled apart
// from the 16-byte data write; writeHeader syncs only after both). The
// file is all zeros and holds no record: Open should treat it like the
// short interrupted creation it already repairs, not refuse to start the
// node with "bad magic".
func TestR3PreallocatedSegmentWithoutHeader(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 4096)
	appendN(t, l, 0, 3)
	l.Close()
	next := filepath.Join(dir, segName(4))
	if err := os.WriteFile(next, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	l, recs, _ := open(t, dir, 0, 4096) // fails here: bad magic
	defer l.Close()
	checkRecs(t, recs, 1, 3)
}

// TestR3ReleasedSegmentReappears: Release deletes segments 1 and 3 (all
// their records applied, after = 4) without syncing the directory; after
// a crash the filesystem may keep the deletion of 3 but not that of 1.
// Segment 1 holds only applied records: Open should skip it, not refuse
// to start the node with "records are missing" between 1 and 5.
func TestR3ReleasedSegmentReappears(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 200)
	appendN(t, l, 0, 8)
	segs := l.Segments()
	l.Close()
	if len(segs) != 4 || filepath.Base(segs[1]) != segName(3) {
		t.Fatalf("segments %v, want 4 of 2 records each", segs)
	}
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	l, recs, _ := open(t, dir, 4, 200) // fails here: ErrCorrupt, records are missing
	defer l.Close()
	checkRecs(t, recs, 5, 4)
}

// TestR3FlippedLastRecordRefused: the last record was synced (its Append
// returned: acknowledged, and it may hold this node's own membership
// promise, fence state or owner table, which no peer can give back),
// then the disk flipped one bit in it. A torn write into the
// preallocated zeros always leaves a whole zero sector in the record (or
// a short record); a record with no zero sector and a bad checksum is
// damage, not a crash during the write, and must be refused like damage
// anywhere else (etcd's decoder, isTornEntry, does exactly this: a CRC
// mismatch without a zero sector is ErrCRCMismatch, not a torn write).
// Today Open cuts it silently (TestTornTail's "flipped" case asserts
// the cut: it must change with the fix).
func TestR3FlippedLastRecordRefused(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 0)
	offs := appendN(t, l, 0, 3)
	path := l.Segments()[0]
	l.Close()
	if err := flip(path, offs[2]+recHeader+3); err != nil {
		t.Fatal(err)
	}
	l2, recs, err := Open(dir, 0, Options{})
	if l2 != nil {
		defer l2.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open: err %v with %d records: the synced last record was cut, want ErrCorrupt", err, len(recs))
	}
}
