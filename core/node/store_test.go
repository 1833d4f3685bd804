package node

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wal"
	"github.com/corral-ha/corral/core/wire"
	bolt "go.etcd.io/bbolt"
)

// crash closes s as a kill -9 would leave it: the log and bbolt closed
// without a checkpoint (what only the log holds stays only there).
func (s *Store) crash() {
	close(s.stop)
	<-s.stopped
	_ = s.wal.Close()
	_ = s.db.Close()
}

func testEntry(rev uint64) cdb.Entry {
	v := wire.ViewID{Epoch: 1, Coord: 1}
	return cdb.Entry{Rev: rev, View: v, Seq: rev, Update: cdb.Update{Origin: 1, Request: cdb.Set("c", rev, "/k", []byte{byte(rev)})}}
}

// applied reads what bbolt holds of the config DB and the last applied
// record, bypassing the log.
func boltState(t *testing.T, dir string) (entries int, applied uint64) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "corral.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketCDB); b != nil {
			if es := b.Bucket(bucketEntries); es != nil {
				entries = es.Stats().KeyN
			}
		}
		if m := tx.Bucket(bucketMeta); m != nil {
			if v := m.Get(keyWALApplied); len(v) == 8 {
				applied = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return entries, applied
}

// TestStoreReplaysLog: what Persist returned for is in the log only (no
// checkpoint ran); after a crash, the next open applies it to bbolt and
// reads it back, membership state included.
func TestStoreReplaysLog(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for rev := uint64(1); rev <= 5; rev++ {
		if err := s.Persist(&cdb.Persist{Entries: []cdb.Entry{testEntry(rev)}, Commit: rev - 1}, []KV{{keyMembership, []byte{byte(rev)}}}); err != nil {
			t.Fatal(err)
		}
	}
	s.crash()
	if n, applied := boltState(t, dir); n != 0 || applied != 0 {
		t.Fatalf("bbolt holds %d entries (applied %d) before the replay: the test does not test the log", n, applied)
	}
	s, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.GetCDB()
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Get(keyMembership)
	if err != nil {
		t.Fatal(err)
	}
	want := cdb.Persisted{Entries: []cdb.Entry{testEntry(1), testEntry(2), testEntry(3), testEntry(4), testEntry(5)}, Commit: 4}
	if !reflect.DeepEqual(p, want) || len(m) != 1 || m[0] != 5 {
		t.Fatalf("got %+v membership %v\nwant %+v", p, m, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n, applied := boltState(t, dir); n != 5 || applied != 5 {
		t.Fatalf("bbolt holds %d entries, applied %d after a clean close; want 5, 5", n, applied)
	}
}

// TestStoreCheckpoints: past the checkpoint threshold the log is applied
// to bbolt and its old segments are released.
func TestStoreCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := make([]byte, 64<<10)
	for i := range 2 * ckptBytes / len(big) {
		if err := s.Put(keyCRM, append(big[:len(big):len(big)], byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	if segs := s.wal.Segments(); len(segs) != 1 {
		t.Fatalf("segments after a checkpoint: %v", segs)
	}
	s.mu.Lock()
	n := len(s.pending)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d records pending after a checkpoint", n)
	}
}

// TestStoreFormat1Upgrade: a data directory written before the log
// existed (format 1: bbolt alone, built here with bbolt directly in the
// old layout) opens: its config DB and node values are read back, and it
// is format 2 from then on.
func TestStoreFormat1Upgrade(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "corral.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		nb, _ := tx.CreateBucket(bucketNode)
		_ = nb.Put(keyBoot, binary.BigEndian.AppendUint32(nil, 1700000000))
		_ = nb.Put(keyMembership, []byte("old promise"))
		b, _ := tx.CreateBucket(bucketCDB)
		es, _ := b.CreateBucket(bucketEntries)
		for rev := uint64(1); rev <= 3; rev++ {
			var w wire.Writer
			cdb.AppendEntry(&w, testEntry(rev))
			_ = es.Put(revKey(rev), w)
		}
		return b.Put(keyCommit, revKey(3))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatalf("open a format 1 data directory: %v", err)
	}
	p, err := s.GetCDB()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := s.Get(keyMembership)
	want := cdb.Persisted{Entries: []cdb.Entry{testEntry(1), testEntry(2), testEntry(3)}, Commit: 3}
	if !reflect.DeepEqual(p, want) || string(m) != "old promise" {
		t.Fatalf("got %+v %q\nwant %+v", p, m, want)
	}
	boot, err := s.NextBoot(0)
	if err != nil || boot != 1700000001 {
		t.Fatalf("boot %d %v, want 1700000001", boot, err)
	}
	if err := s.PutCDB(&cdb.Persist{Entries: []cdb.Entry{testEntry(4)}}); err != nil {
		t.Fatal(err)
	}
	s.crash()
	s, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, _ = s.GetCDB(); len(p.Entries) != 4 {
		t.Fatalf("after the upgrade and a crash: %d entries, want 4", len(p.Entries))
	}
	var format uint32
	_ = s.db.View(func(tx *bolt.Tx) error {
		format = binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(keyFormat))
		return nil
	})
	if format != storeFormat {
		t.Fatalf("format %d after the upgrade", format)
	}
}

// TestStoreNewerFormatRefused: a data directory of a newer format is
// refused, saying what to do.
func TestStoreNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, storeFormat+1))
	})
	s.Close()
	_, err = OpenStore(dir)
	if !errors.Is(err, ErrStoreFormat) || !strings.Contains(err.Error(), "format 3") || !strings.Contains(err.Error(), "peers") {
		t.Fatalf("open: %v, want ErrStoreFormat naming format 3 and how to recover", err)
	}
}

// TestStoreCorruptLogRefused: a record damaged in the middle of the log
// (valid records after it) is refused: the error wraps ErrStoreLog and
// wal.ErrCorrupt, names the segment and says how to recover from the
// peers; a torn last record is cut and the rest read back.
func TestStoreCorruptLogRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for rev := uint64(1); rev <= 3; rev++ {
		if err := s.PutCDB(&cdb.Persist{Entries: []cdb.Entry{testEntry(rev)}}); err != nil {
			t.Fatal(err)
		}
	}
	seg := s.wal.Segments()[0]
	s.crash()
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// the first record's data starts at 16 (segment header) + 16
	data[40] ^= 0xff
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = OpenStore(dir)
	if !errors.Is(err, ErrStoreLog) || !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), seg) ||
		!strings.Contains(err.Error(), "takes the configuration database from its peers") {
		t.Fatalf("open: %v\nwant ErrStoreLog, wal.ErrCorrupt, naming %s and the recovery from peers", err, seg)
	}
}
