package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wal"
	"github.com/corral-ha/corral/core/wire"
	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// Store is the node's durable state: <data_dir>/corral.db (bbolt) with a
// write-ahead log in front of it, <data_dir>/wal (core/wal). The state
// the stack persists each round (Persist: config database, membership,
// fence state, owner table) is one log record, synced by one fdatasync;
// it is durable when Persist returns. A checkpointer applies the records
// to bbolt in batches (one bbolt transaction, fsynced at commit, which
// also records the last applied record) and then releases the log
// segments it no longer needs. A failed checkpoint (a failed fsync: the
// page cache may no longer match the disk) breaks the store: every later
// Persist fails with ErrStoreBroken, so the node stops, and nothing is
// released or checkpointed again in this process; the next start replays
// the log. At open the records bbolt lacks are
// applied before anything is read; a torn last record (a crash during its
// write, never acknowledged) is cut off and logged. The boot id is
// written to bbolt directly (fsynced), outside the log.
//
// On-disk format 2 (storeFormat): bbolt's meta bucket holds the format
// and the last applied record. A data directory of format 1 (bbolt
// alone, written before the log existed) is upgraded in place at open;
// one of a newer format is refused (ErrStoreFormat).
type Store struct {
	db  *bolt.DB
	wal *wal.Log
	log *slog.Logger
	// putFault, set by tests on the event loop, fails Put of a key (a
	// disk that refuses a write).
	putFault func(key []byte) error
	// ckptFault, set by tests, fails a checkpoint's bbolt transaction (a
	// disk that fails the fsync).
	ckptFault func() error

	mu       sync.Mutex
	pending  []pendingRec // synced in the log, not yet applied to bbolt
	pendSize int
	// broken is set by a failed checkpoint (ErrStoreBroken): after a
	// failed fsync the page cache may no longer match the disk, so the
	// store takes no more writes, releases no log and does not checkpoint
	// at Close; a restart replays the log into corral.db.
	broken  error
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	// ckptMu serializes checkpoints (the checkpointer's and Get's).
	ckptMu sync.Mutex
}

// pendingRec is one log record not yet applied to bbolt.
type pendingRec struct {
	lsn  uint64
	data []byte
}

// KV is one value of the node bucket for Persist.
type KV struct{ Key, Val []byte }

var (
	bucketNode = []byte("node")
	keyBoot    = []byte("boot")
	// keyMembership holds membership.Persisted: promise, epoch, lineage.
	keyMembership = []byte("membership")

	// bucketMeta: the store's format and the last log record applied.
	bucketMeta    = []byte("meta")
	keyFormat     = []byte("format")
	keyWALApplied = []byte("wal-applied")
)

// ErrStoreDamaged means corral.db cannot be opened (a damaged or foreign
// file); the node refuses to start and says how to recover from the peers.
var ErrStoreDamaged = errors.New("the data store is damaged")

// storeRecoverHint says how a node whose store is damaged recovers: it
// starts with an empty data directory and rejoins, taking the config DB
// from its peers (a wiped data directory starts at a boot id above the
// ones its peers saw: doc.go).
func storeRecoverHint(dir string) string {
	return fmt.Sprintf("the node refuses to start. To recover from the peers, move the data directory away (mv %s %s.damaged; keep it for a post-mortem) "+
		"and start the node: it starts empty and takes the configuration database from its peers when it rejoins", dir, dir)
}

// openBolt opens path with bbolt, turning a panic on a damaged file
// (bbolt trusts the pages its meta page points at) into an error.
func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("reading it failed: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
}

// storeFormat is the data directory's format: 1 was bbolt alone (no meta
// bucket), 2 adds the write-ahead log.
const storeFormat = 2

// Checkpoint thresholds: the log records (or bytes) not yet in bbolt
// after which the checkpointer applies them.
const (
	ckptRecords = 1024
	ckptBytes   = 8 << 20
)

var (
	// ErrStoreFormat is returned when the data directory was written by a newer corral.
	ErrStoreFormat = errors.New("data directory of an unknown format")
	// ErrStoreBroken is returned by every write after a checkpoint of the
	// write-ahead log into corral.db failed: the node must stop (a restart
	// replays the log).
	ErrStoreBroken = errors.New("a checkpoint of the write-ahead log into corral.db failed; the node stops, restart it (it replays the log)")
	// ErrStoreLog is returned when the write-ahead log is damaged beyond a torn last
	// write (wal.ErrCorrupt, wal.ErrVersion) or does not fit corral.db.
	ErrStoreLog = errors.New("write-ahead log cannot be read")
)

// recoverHint says how to get out of a data directory that cannot be read.
const recoverHint = "move the data directory away (keep it for a post-mortem) and start the node: " +
	"it starts empty and takes the configuration database from its peers (corral help operations, Backup and restore)"

// OpenStore opens (creating) the data store in dir.
func OpenStore(dir string) (*Store, error) { return openStore(dir, slog.Default()) }

func openStore(dir string, logger *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, "corral.db")
	db, err := openBolt(path)
	if err != nil {
		if errors.Is(err, bolterr.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another corral process holds it (is this node already running?)", path)
		}
		return nil, fmt.Errorf("open %s: %w: %w: %s", path, ErrStoreDamaged, err, storeRecoverHint(dir))
	}
	s := &Store{db: db, log: logger, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	applied, err := s.format(path)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	walDir := filepath.Join(dir, "wal")
	l, recs, err := wal.Open(walDir, applied, wal.Options{Logger: logger})
	if err != nil {
		_ = db.Close()
		if errors.Is(err, wal.ErrVersion) {
			return nil, fmt.Errorf("%w: %w, or %s", ErrStoreLog, err, recoverHint)
		}
		return nil, fmt.Errorf("%w: %w: %s", ErrStoreLog, err, recoverHint)
	}
	s.wal = l
	for _, r := range recs {
		s.pending = append(s.pending, pendingRec{r.LSN, r.Data})
	}
	if err := s.checkpoint(); err != nil {
		_ = l.Close()
		_ = db.Close()
		return nil, fmt.Errorf("%w: applying %s to %s: %w: %s", ErrStoreLog, walDir, path, err, recoverHint)
	}
	if len(recs) > 0 {
		logger.Info("store: applied the write-ahead log", "records", len(recs), "from", recs[0].LSN, "to", recs[len(recs)-1].LSN)
	}
	go s.checkpointer()
	return s, nil
}

// format checks (and sets up or upgrades) the store's format and returns
// the last log record bbolt holds.
func (s *Store) format(path string) (uint64, error) {
	var applied uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m != nil {
			v := m.Get(keyFormat)
			if len(v) != 4 {
				return fmt.Errorf("%w: %s has a meta bucket without a valid format: %s", ErrStoreFormat, path, recoverHint)
			}
			if f := binary.BigEndian.Uint32(v); f != storeFormat {
				return fmt.Errorf("%w: %s is of format %d, this corral reads format %d: run the corral that wrote it, or %s",
					ErrStoreFormat, path, f, storeFormat, recoverHint)
			}
			if v := m.Get(keyWALApplied); len(v) == 8 {
				applied = binary.BigEndian.Uint64(v)
			}
			return nil
		}
		// new, or format 1 (bbolt alone): everything is in bbolt already
		if tx.Bucket(bucketNode) != nil || tx.Bucket(bucketCDB) != nil {
			s.log.Info("store: upgrading the data directory to format 2 (a write-ahead log in front of corral.db)", "file", path)
		}
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := m.Put(keyFormat, binary.BigEndian.AppendUint32(nil, storeFormat)); err != nil {
			return err
		}
		return m.Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, 0))
	})
	if err != nil {
		if errors.Is(err, ErrStoreFormat) {
			return 0, err
		}
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	return applied, nil
}

// checkpointer applies the log to bbolt when kicked, until Close.
func (s *Store) checkpointer() {
	defer close(s.stopped)
	for {
		select {
		case <-s.kick:
			if err := s.checkpoint(); err != nil {
				s.log.Error("store: checkpoint of the write-ahead log into corral.db failed (the log keeps the data; the node stops at its next write, restart it)", "err", err)
			}
		case <-s.stop:
			return
		}
	}
}

// checkpoint applies the pending records to bbolt in one transaction
// (fsynced at commit, with the last record's LSN), then releases the log
// segments bbolt now covers.
func (s *Store) checkpoint() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.mu.Lock()
	recs, broken := s.pending, s.broken
	s.mu.Unlock()
	if broken != nil {
		return broken
	}
	if len(recs) == 0 {
		return nil
	}
	last := recs[len(recs)-1].lsn
	err := s.db.Update(func(tx *bolt.Tx) error {
		if s.ckptFault != nil {
			if err := s.ckptFault(); err != nil {
				return err
			}
		}
		for _, r := range recs {
			if err := applyRecord(tx, r.data); err != nil {
				return fmt.Errorf("record %d: %w", r.lsn, err)
			}
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, last))
	})
	s.mu.Lock()
	if err == nil {
		size := 0
		for _, r := range recs {
			size += len(r.data)
		}
		s.pending = s.pending[len(recs):]
		s.pendSize -= size
	}
	if err != nil {
		s.broken = fmt.Errorf("%w: %w", ErrStoreBroken, err)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.wal.Release(last); err != nil {
		s.mu.Lock()
		s.broken = fmt.Errorf("%w: %w", ErrStoreBroken, err)
		s.mu.Unlock()
		return err
	}
	return nil
}

// Record items (the payload of one log record, format 2).
const (
	itemCDB = 1 // a cdb.Persist
	itemPut = 2 // a value of the node bucket
)

func encodeRecord(p *cdb.Persist, puts []KV) []byte {
	var w wire.Writer
	if p != nil {
		w.Uint8(itemCDB)
		w.Bool(p.Snapshot != nil)
		w.Bytes(p.Snapshot)
		w.Uvarint(p.Base)
		w.Uvarint(p.Truncate)
		w.Uvarint(uint64(len(p.Entries)))
		for _, e := range p.Entries {
			var ew wire.Writer
			cdb.AppendEntry(&ew, e)
			w.Bytes(ew)
		}
		w.Uvarint(p.Commit)
		w.Uvarint(p.Adopted.Epoch)
		w.Uint16(uint16(p.Adopted.Coord))
	}
	for _, kv := range puts {
		w.Uint8(itemPut)
		w.Bytes(kv.Key)
		w.Bytes(kv.Val)
	}
	return w
}

// applyRecord applies one log record to bbolt.
func applyRecord(tx *bolt.Tx, data []byte) error {
	r := wire.NewReader(data)
	for r.Len() > 0 {
		switch kind := r.Uint8(); kind {
		case itemCDB:
			var p cdb.Persist
			if r.Bool() {
				p.Snapshot = append([]byte{}, r.Bytes()...)
			} else {
				r.Bytes()
			}
			p.Base = r.Uvarint()
			p.Truncate = r.Uvarint()
			n := r.Count(1, r.Len())
			for range n {
				e, err := cdb.DecodeEntry(wire.NewReader(append([]byte(nil), r.Bytes()...)))
				if err != nil {
					return fmt.Errorf("config database entry: %w", err)
				}
				p.Entries = append(p.Entries, e)
			}
			p.Commit = r.Uvarint()
			p.Adopted = wire.ViewID{Epoch: r.Uvarint(), Coord: wire.NodeID(r.Uint16())}
			if r.Err() != nil {
				return fmt.Errorf("config database item: %w", r.Err())
			}
			if err := applyCDB(tx, &p); err != nil {
				return err
			}
		case itemPut:
			k, v := r.Bytes(), r.Bytes()
			if r.Err() != nil {
				return fmt.Errorf("put item: %w", r.Err())
			}
			b, err := tx.CreateBucketIfNotExists(bucketNode)
			if err != nil {
				return err
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown item kind %d", kind)
		}
	}
	return r.Err()
}

// Persist makes one round's writes durable together: the config
// database's Persist (nil: none) and values of the node bucket, in one
// log record with one fdatasync. They are durable when Persist returns.
func (s *Store) Persist(p *cdb.Persist, puts []KV) error {
	if s.putFault != nil {
		for _, kv := range puts {
			if err := s.putFault(kv.Key); err != nil {
				return fmt.Errorf("store: put %s: %w", kv.Key, err)
			}
		}
	}
	s.mu.Lock()
	broken := s.broken
	s.mu.Unlock()
	if broken != nil {
		return fmt.Errorf("store: %w", broken)
	}
	data := encodeRecord(p, puts)
	lsn, err := s.wal.Append(data)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.mu.Lock()
	s.pending = append(s.pending, pendingRec{lsn, data})
	s.pendSize += len(data)
	full := len(s.pending) >= ckptRecords || s.pendSize >= ckptBytes
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// NextBoot persists and returns the next boot id: one more than the last,
// and at least floor (the driver's wall-clock seconds, so that a wiped or
// restored data directory does not start again below the boot ids its
// peers have seen). It is on disk when NextBoot returns.
func (s *Store) NextBoot(floor uint32) (uint32, error) {
	var boot uint32
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNode)
		if err != nil {
			return err
		}
		if v := b.Get(keyBoot); len(v) == 4 {
			boot = binary.BigEndian.Uint32(v)
		}
		if boot == ^uint32(0) {
			return errors.New("boot id exhausted: wipe the data dir to start the node as new")
		}
		boot = max(boot+1, floor)
		return b.Put(keyBoot, binary.BigEndian.AppendUint32(nil, boot))
	})
	if err != nil {
		return 0, fmt.Errorf("store: next boot id: %w", err)
	}
	return boot, nil
}

// RaiseBoot records that this node has used boot id seen (a peer heard
// it, from a start whose data directory was since wiped or restored): the
// next NextBoot returns above it. It is on disk when RaiseBoot returns.
func (s *Store) RaiseBoot(seen uint32) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNode)
		if err != nil {
			return err
		}
		if v := b.Get(keyBoot); len(v) == 4 && binary.BigEndian.Uint32(v) >= seen {
			return nil
		}
		return b.Put(keyBoot, binary.BigEndian.AppendUint32(nil, seen))
	})
	if err != nil {
		return fmt.Errorf("store: raise boot id to %d: %w", seen, err)
	}
	return nil
}

// Put writes one value of the node bucket; it is on disk when Put returns.
func (s *Store) Put(key, val []byte) error {
	return s.Persist(nil, []KV{{key, val}})
}

// Get reads one value of the node bucket (nil if absent).
func (s *Store) Get(key []byte) ([]byte, error) {
	if err := s.checkpoint(); err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketNode); b != nil {
			if v := b.Get(key); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	return out, nil
}

// Close applies what the log holds to bbolt (a clean stop leaves nothing
// to replay) and closes the store; after a failed checkpoint it does not
// try again (the next start replays the log).
func (s *Store) Close() error {
	close(s.stop)
	<-s.stopped
	s.mu.Lock()
	broken := s.broken
	s.mu.Unlock()
	var err error
	if broken == nil {
		err = s.checkpoint()
	}
	return errors.Join(err, s.wal.Close(), s.db.Close())
}

// The config DB's bucket: the base snapshot, the committed revision, the
// last adopted view, and the log entries (sub-bucket, keyed by revision).
var (
	bucketCDB     = []byte("cdb")
	bucketEntries = []byte("entries")
	keySnapshot   = []byte("snapshot")
	keyCommit     = []byte("commit")
	keyAdopted    = []byte("adopted")
)

func revKey(rev uint64) []byte { return binary.BigEndian.AppendUint64(nil, rev) }

// PutCDB writes one Ready.Persist of the config DB: it is on disk when
// PutCDB returns.
func (s *Store) PutCDB(p *cdb.Persist) error { return s.Persist(p, nil) }

// applyCDB applies one Persist of the config DB to bbolt.
func applyCDB(tx *bolt.Tx, p *cdb.Persist) error {
	b, err := tx.CreateBucketIfNotExists(bucketCDB)
	if err != nil {
		return err
	}
	es, err := b.CreateBucketIfNotExists(bucketEntries)
	if err != nil {
		return err
	}
	if p.Snapshot != nil {
		if err := b.Put(keySnapshot, p.Snapshot); err != nil {
			return err
		}
		if err := deleteRange(es, 0, p.Base); err != nil {
			return err
		}
	}
	if p.Truncate != 0 {
		if err := deleteRange(es, p.Truncate, ^uint64(0)); err != nil {
			return err
		}
	}
	for _, e := range p.Entries {
		var w wire.Writer
		cdb.AppendEntry(&w, e)
		if err := es.Put(revKey(e.Rev), w); err != nil {
			return err
		}
	}
	if p.Commit != 0 {
		if err := b.Put(keyCommit, revKey(p.Commit)); err != nil {
			return err
		}
	}
	if p.Adopted != (wire.ViewID{}) {
		var w wire.Writer
		w.Uvarint(p.Adopted.Epoch)
		w.Uint16(uint16(p.Adopted.Coord))
		if err := b.Put(keyAdopted, w); err != nil {
			return err
		}
	}
	return nil
}

// deleteRange deletes the entries with from <= rev <= to.
func deleteRange(b *bolt.Bucket, from, to uint64) error {
	c := b.Cursor()
	var keys [][]byte
	for k, _ := c.Seek(revKey(from)); k != nil && binary.BigEndian.Uint64(k) <= to; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// GetCDB reads back what PutCDB wrote.
func (s *Store) GetCDB() (cdb.Persisted, error) {
	var p cdb.Persisted
	if err := s.checkpoint(); err != nil {
		return p, fmt.Errorf("store: config database: %w", err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCDB)
		if b == nil {
			return nil
		}
		if v := b.Get(keySnapshot); v != nil {
			p.Snapshot = append([]byte(nil), v...)
		}
		if v := b.Get(keyCommit); len(v) == 8 {
			p.Commit = binary.BigEndian.Uint64(v)
		}
		if v := b.Get(keyAdopted); v != nil {
			r := wire.NewReader(v)
			p.Adopted = wire.ViewID{Epoch: r.Uvarint(), Coord: wire.NodeID(r.Uint16())}
			if r.Err() != nil {
				return fmt.Errorf("adopted view: %w", r.Err())
			}
		}
		es := b.Bucket(bucketEntries)
		if es == nil {
			return nil
		}
		return es.ForEach(func(k, v []byte) error {
			e, err := cdb.DecodeEntry(wire.NewReader(append([]byte(nil), v...)))
			if err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			p.Entries = append(p.Entries, e)
			return nil
		})
	})
	if err != nil {
		return cdb.Persisted{}, fmt.Errorf("store: config database: %w", err)
	}
	return p, nil
}
