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

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }
