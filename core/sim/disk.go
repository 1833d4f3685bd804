package sim

import (
	"encoding/binary"
	"sort"
	"strings"
)

// bootKey is where the disk keeps the boot counter. It is reserved: Keys
// hides it and Put or Delete of it panics.
const bootKey = "\x00sim/boot"

// Disk is a node's simple key-value store: writes go to a pending layer and
// reach the durable layer at Sync; a crash loses the pending layer. Reads see
// pending writes (read your writes). Values are copied in and out.
type Disk struct {
	s       *Sim
	node    int
	synced  map[string][]byte
	pending map[string][]byte // nil value: a pending delete
	syncs   uint64
}

func newDisk(s *Sim, node int) *Disk {
	return &Disk{s: s, node: node, synced: map[string][]byte{}, pending: map[string][]byte{}}
}

func reserved(key string) {
	if key == bootKey {
		panic("sim: key " + bootKey + " is reserved for the boot counter")
	}
}

// Put writes key (durable only after Sync).
func (d *Disk) Put(key string, val []byte) {
	reserved(key)
	v := make([]byte, len(val)) // non-nil even when empty
	copy(v, val)
	d.pending[key] = v
}

// Delete removes key (durable only after Sync).
func (d *Disk) Delete(key string) {
	reserved(key)
	d.pending[key] = nil
}

// Get returns a copy of key's value, pending writes included.
func (d *Disk) Get(key string) ([]byte, bool) {
	v, ok := d.pending[key]
	if !ok {
		v, ok = d.synced[key]
	} else if v == nil {
		return nil, false
	}
	if !ok {
		return nil, false
	}
	return append([]byte{}, v...), true
}

// Keys returns the keys with the given prefix, sorted, pending writes
// included.
func (d *Disk) Keys(prefix string) []string {
	var keys []string
	for k := range d.synced {
		if strings.HasPrefix(k, prefix) && k != bootKey {
			if v, ok := d.pending[k]; !ok || v != nil {
				keys = append(keys, k)
			}
		}
	}
	for k, v := range d.pending {
		if _, ok := d.synced[k]; !ok && v != nil && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// Dirty is the number of writes not synced yet.
func (d *Disk) Dirty() int { return len(d.pending) }

// Sync makes every pending write durable (fsync).
func (d *Disk) Sync() {
	n := len(d.pending)
	for k, v := range d.pending { // order does not matter: keys are distinct
		if v == nil {
			delete(d.synced, k)
		} else {
			d.synced[k] = v
		}
	}
	clear(d.pending)
	d.syncs++
	d.s.trace.add(record{kind: kSync, node: d.node, v: int64(n)})
}

// Synced returns a copy of key's durable value, ignoring pending writes: what
// a crash now would leave.
func (d *Disk) Synced(key string) ([]byte, bool) {
	v, ok := d.synced[key]
	if !ok {
		return nil, false
	}
	return append([]byte{}, v...), true
}

func (d *Disk) crash() { clear(d.pending) }

// bumpBoot increments the persisted boot counter, syncs it and returns it.
func (d *Disk) bumpBoot() uint32 {
	var boot uint32
	if v, ok := d.synced[bootKey]; ok {
		boot = binary.BigEndian.Uint32(v)
	}
	boot++
	d.synced[bootKey] = binary.BigEndian.AppendUint32(nil, boot)
	d.s.trace.add(record{kind: kSync, node: d.node, v: 1})
	return boot
}
