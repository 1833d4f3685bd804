package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// Store is the node's durable state: <data_dir>/corral.db. Every write is
// a bbolt transaction, fsynced at commit.
type Store struct {
	db *bolt.DB
}

var (
	bucketNode = []byte("node")
	keyBoot    = []byte("boot")
	// keyMembership holds membership.Persisted: promise, epoch, lineage.
	keyMembership = []byte("membership")
)

// OpenStore opens (creating) the data store in dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, "corral.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterr.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another corral process holds it (is this node already running?)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// NextBoot increments the persisted boot id and returns the new value; it
// is on disk when NextBoot returns.
func (s *Store) NextBoot() (uint32, error) {
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
		boot++
		return b.Put(keyBoot, binary.BigEndian.AppendUint32(nil, boot))
	})
	if err != nil {
		return 0, fmt.Errorf("store: next boot id: %w", err)
	}
	return boot, nil
}

// Put writes one value of the node bucket; it is on disk when Put returns.
func (s *Store) Put(key, val []byte) error {
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
