package stack_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/wire"
)

// simStore is one incarnation's store on its simulated disk (sim.Disk),
// with fsyncs that take time: a write is visible to this incarnation at
// once (written), and durable only when its simulated fsync ends, in the
// order the writes were made; a crash before that loses it and every
// later one (the pending writes live in the incarnation's memory, and the
// incarnation never runs again). What sim.Disk holds is what a restart
// reads back: only writes whose fsync ended.
type simStore struct {
	h       *sim.Host
	s       func() *sim.Sim   // (the Sim is being built while the first incarnations start)
	written map[string][]byte // durable plus pending: what this incarnation reads
	pending int               // writes whose fsync has not ended
	alive   func() bool       // the incarnation runs (after a crash nothing more reaches the disk)
}

// simKV is one change of a write: a put (val not nil) or a delete.
type simKV struct {
	key string
	val []byte
}

func openSimStore(s func() *sim.Sim, h *sim.Host, alive func() bool) *simStore {
	st := &simStore{h: h, s: s, written: map[string][]byte{}, alive: alive}
	d := h.Disk()
	for _, k := range d.Keys("") {
		v, _ := d.Get(k)
		st.written[k] = v
	}
	return st
}

// keys returns the written keys with prefix, sorted.
func (st *simStore) keys(prefix string) []string {
	var out []string
	for k := range st.written {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (st *simStore) get(key string) ([]byte, bool) {
	v, ok := st.written[key]
	return v, ok
}

// write makes one write (one transaction) whose fsync ends after the
// given time from now: it is durable then, unless the incarnation crashed
// first. The caller's round accounts the time (writes of one round run one
// after the other).
func (st *simStore) write(ops []simKV, durableAfter time.Duration) {
	for _, o := range ops {
		if o.val == nil {
			delete(st.written, o.key)
		} else {
			st.written[o.key] = append([]byte{}, o.val...)
		}
	}
	st.pending++
	id := st.h.ID()
	st.s().After(durableAfter, func() {
		if !st.alive() {
			return
		}
		d := st.s().Disk(id)
		for _, o := range ops {
			if o.val == nil {
				d.Delete(o.key)
			} else {
				d.Put(o.key, o.val)
			}
		}
		d.Sync()
		st.pending--
	})
}

// crashed: the pending writes are lost; it says how many.
func (st *simStore) crashed() int { return st.pending }

// The config DB's layout (as core/node's bbolt buckets): entries by
// revision, the snapshot and its base, the commit mark, the adopted view.
const (
	keyCDBEntry   = "cdb/e/"
	keyCDBSnap    = "cdb/snapshot"
	keyCDBCommit  = "cdb/commit"
	keyCDBAdopted = "cdb/adopted"
)

func cdbEntryKey(rev uint64) string { return fmt.Sprintf("%s%016x", keyCDBEntry, rev) }

func revOfKey(k string) uint64 {
	var r uint64
	_, _ = fmt.Sscanf(strings.TrimPrefix(k, keyCDBEntry), "%016x", &r)
	return r
}

// cdbOps turns one Ready's cdb.Persist into the ops of one write, in the
// contract's order: Snapshot (deletes entries <= Base), Truncate (deletes
// entries >= it), Entries, Commit, Adopted.
func (st *simStore) cdbOps(p *cdb.Persist) []simKV {
	var ops []simKV
	keys := st.keys(keyCDBEntry)
	gone := map[string]bool{}
	if p.Snapshot != nil {
		ops = append(ops, simKV{keyCDBSnap, append(binary.BigEndian.AppendUint64(nil, p.Base), p.Snapshot...)})
		for _, k := range keys {
			if revOfKey(k) <= p.Base && !gone[k] {
				gone[k] = true
				ops = append(ops, simKV{key: k})
			}
		}
	}
	if p.Truncate != 0 {
		for _, k := range keys {
			if revOfKey(k) >= p.Truncate && !gone[k] {
				gone[k] = true
				ops = append(ops, simKV{key: k})
			}
		}
	}
	for _, e := range p.Entries {
		var w wire.Writer
		cdb.AppendEntry(&w, e)
		ops = append(ops, simKV{cdbEntryKey(e.Rev), w})
	}
	if p.Commit != 0 {
		ops = append(ops, simKV{keyCDBCommit, binary.BigEndian.AppendUint64(nil, p.Commit)})
	}
	if p.Adopted != (wire.ViewID{}) {
		var w wire.Writer
		w.Uvarint(p.Adopted.Epoch)
		w.Uint16(uint16(p.Adopted.Coord))
		ops = append(ops, simKV{keyCDBAdopted, w})
	}
	return ops
}

// cdbPersisted reads back what cdbOps wrote (the written state: at a
// start it is the durable one).
func (st *simStore) cdbPersisted() (cdb.Persisted, error) {
	var p cdb.Persisted
	if v, ok := st.get(keyCDBSnap); ok && len(v) >= 8 {
		p.Snapshot = append([]byte{}, v[8:]...)
	}
	if v, ok := st.get(keyCDBCommit); ok && len(v) == 8 {
		p.Commit = binary.BigEndian.Uint64(v)
	}
	if v, ok := st.get(keyCDBAdopted); ok {
		r := wire.NewReader(v)
		p.Adopted = wire.ViewID{Epoch: r.Uvarint(), Coord: wire.NodeID(r.Uint16())}
		if r.Err() != nil {
			return p, fmt.Errorf("adopted view: %w", r.Err())
		}
	}
	for _, k := range st.keys(keyCDBEntry) {
		v, _ := st.get(k)
		e, err := cdb.DecodeEntry(wire.NewReader(append([]byte{}, v...)))
		if err != nil {
			return p, fmt.Errorf("entry %s: %w", k, err)
		}
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

// cdbOnDisk reports whether revision rev is written (as an entry, or
// folded into the snapshot).
func (st *simStore) cdbOnDisk(rev uint64) bool {
	if _, ok := st.get(cdbEntryKey(rev)); ok {
		return true
	}
	if v, ok := st.get(keyCDBSnap); ok && len(v) >= 8 {
		return rev <= binary.BigEndian.Uint64(v)
	}
	return false
}

// cdbDurable reports whether revision rev is durable on this node's disk
// (its write's fsync ended): as an entry, or folded into the snapshot.
func (st *simStore) cdbDurable(rev uint64) bool {
	d := st.h.Disk()
	if _, ok := d.Synced(cdbEntryKey(rev)); ok {
		return true
	}
	if v, ok := d.Synced(keyCDBSnap); ok && len(v) >= 8 {
		return rev <= binary.BigEndian.Uint64(v)
	}
	return false
}
