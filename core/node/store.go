package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// Store is the node's durable state: <data_dir>/corral.db. Every write is
// a bbolt transaction, fsynced at commit.
type Store struct {
	db *bolt.DB
	// putFault, set by tests on the event loop, fails Put of a key (a
	// disk that refuses a write).
	putFault func(key []byte) error
}

var (
	bucketNode = []byte("node")
	keyBoot    = []byte("boot")
	// keyMembership holds membership.Persisted: promise, epoch, lineage.
	keyMembership = []byte("membership")
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

// OpenStore opens (creating) the data store in dir.
func OpenStore(dir string) (*Store, error) {
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
	return &Store{db: db}, nil
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
	if s.putFault != nil {
		if err := s.putFault(key); err != nil {
			return fmt.Errorf("store: put %s: %w", key, err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNode)
		if err != nil {
			return err
		}
		return b.Put(key, val)
	})
	if err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	return nil
}

// Get reads one value of the node bucket (nil if absent).
func (s *Store) Get(key []byte) ([]byte, error) {
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

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

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

// PutCDB writes one Ready.Persist of the config DB in one transaction: it
// is on disk (fsync) when PutCDB returns.
func (s *Store) PutCDB(p *cdb.Persist) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
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
	})
	if err != nil {
		return fmt.Errorf("store: config database: %w", err)
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
