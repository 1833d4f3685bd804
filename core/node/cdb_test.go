package node

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/corral-ha/corral/core/bcast"
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

func testEntry(rev uint64) cdb.Entry {
	v := wire.ViewID{Epoch: 1, Coord: 1}
	return cdb.Entry{Rev: rev, View: v, Seq: rev, Update: cdb.Update{Origin: 1, Request: cdb.Set("c", rev, "/k", []byte{byte(rev)})}}
}

func reopen(t *testing.T, s *Store, dir string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantCDB(t *testing.T, s *Store, commit uint64, revs ...uint64) {
	t.Helper()
	p, err := s.GetCDB()
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, e := range p.Entries {
		if !reflect.DeepEqual(e, testEntry(e.Rev)) {
			t.Fatalf("entry %d read back as %+v", e.Rev, e)
		}
		got = append(got, e.Rev)
	}
	if p.Commit != commit || !reflect.DeepEqual(got, revs) {
		t.Fatalf("read back entries %v commit %d, want %v commit %d", got, p.Commit, revs, commit)
	}
}

// TestStoreJournal: entries and commit marks appended to the journal are
// read back after a restart, on top of the last checkpoint; a checkpoint
// (a truncation here) folds them into bbolt, and the older generation's
// records that remain in the file further on are not read again.
func TestStoreJournal(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for rev := uint64(1); rev <= 5; rev++ {
		if err := s.PutCDB(&cdb.Persist{Entries: []cdb.Entry{testEntry(rev)}, Commit: rev - 1}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.wal.recs) != 5 {
		t.Fatalf("%d journal records, want 5 (the appends did not go to the journal)", len(s.wal.recs))
	}
	s = reopen(t, s, dir)
	wantCDB(t, s, 4, 1, 2, 3, 4, 5)
	// a checkpoint: truncate 4 and 5
	if err := s.PutCDB(&cdb.Persist{Truncate: 4, Commit: 3}); err != nil {
		t.Fatal(err)
	}
	if len(s.wal.recs) != 0 {
		t.Fatalf("journal holds %d records after a checkpoint", len(s.wal.recs))
	}
	if err := s.PutCDB(&cdb.Persist{Entries: []cdb.Entry{testEntry(4)}}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, dir)
	wantCDB(t, s, 3, 1, 2, 3, 4) // not 5: it is of the old generation
}

// TestStoreJournalTorn: a record torn by a crash ends the journal; what
// came before it is read back, and appends go on from there.
func TestStoreJournalTorn(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for rev := uint64(1); rev <= 3; rev++ {
		if err := s.PutCDB(&cdb.Persist{Entries: []cdb.Entry{testEntry(rev)}, Commit: rev - 1}); err != nil {
			t.Fatal(err)
		}
	}
	end := s.wal.off
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "cdb.wal"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, end-3); err != nil { // inside record 3
		t.Fatal(err)
	}
	f.Close()
	s, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantCDB(t, s, 1, 1, 2)
	if err := s.PutCDB(&cdb.Persist{Entries: []cdb.Entry{testEntry(3)}, Commit: 2}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, dir)
	wantCDB(t, s, 2, 1, 2, 3)
}

// TestStoreJournalFull: when the journal is full, a write checkpoints into
// bbolt and the journal starts again; nothing is lost across restarts.
func TestStoreJournalFull(t *testing.T) {
	defer func(n int64) { walSize = n }(walSize)
	walSize = 400
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	var revs []uint64
	checkpoints := 0
	for rev := uint64(1); rev <= 40; rev++ {
		gen := s.wal.gen
		if err := s.PutCDB(&cdb.Persist{Entries: []cdb.Entry{testEntry(rev)}, Commit: rev - 1}); err != nil {
			t.Fatal(err)
		}
		if s.wal.gen != gen {
			checkpoints++
		}
		revs = append(revs, rev)
		if rev%7 == 0 {
			s = reopen(t, s, dir)
			wantCDB(t, s, rev-1, revs...)
		}
	}
	if checkpoints < 2 {
		t.Fatalf("%d checkpoints for 40 entries in a 400-byte journal", checkpoints)
	}
	s = reopen(t, s, dir)
	wantCDB(t, s, 39, revs...)
}

// TestBcastBatch: a batch of bcast messages decodes to the same messages
// in order; a single message is sent as bcast encodes it; bad batches are
// refused.
func TestBcastBatch(t *testing.T) {
	v := wire.ViewID{Epoch: 3, Coord: 1}
	msgs := []bcast.Message{&bcast.Ack{View: v, Contiguous: 4}, &bcast.Stable{View: v, Seq: 3}, &bcast.Ack{View: v, Contiguous: 5}}
	var enc [][]byte
	for _, m := range msgs {
		enc = append(enc, bcast.Encode(m))
	}
	got, err := decodeBcast(encodeBcast(enc))
	if err != nil || !reflect.DeepEqual(got, msgs) {
		t.Fatalf("batch decoded to %v, %v; want %v", got, err, msgs)
	}
	if one := encodeBcast(enc[:1]); string(one) != string(enc[0]) {
		t.Fatalf("a single message is %x, want bcast's encoding %x", one, enc[0])
	}
	got, err = decodeBcast(enc[1])
	if err != nil || !reflect.DeepEqual(got, msgs[1:2]) {
		t.Fatalf("single message decoded to %v, %v", got, err)
	}
	b := encodeBcast(enc)
	for _, bad := range [][]byte{b[:len(b)-1], append(slices.Clone(b), 0), {bcastBatch}, {bcastBatch, 0xff, 0xff, 0xff}} {
		if _, err := decodeBcast(bad); err == nil {
			t.Fatalf("bad batch %x accepted", bad)
		}
	}
}
