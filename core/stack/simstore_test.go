package stack_test

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/wire"
)

// simStore is one incarnation's store on its simulated disk (sim.Disk),
// modelled on core/node's: a write-ahead log in front of the applied
// state. One write (one Ready's Persist, all its fields: group commit) is
// one log record whose fsync takes time: the write is visible to this
// incarnation at once (written), and durable only when its fsync ends, in
// the order the writes were made; a crash before that loses it and every
// later one (the pending writes live in the incarnation's memory, and the
// incarnation never runs again), and may leave the first of them torn on
// the disk (part of its bytes, a checksum that does not match). Every
// ckptEvery durable records, a checkpoint applies the log to the state
// (one atomic synced write, as bbolt's transaction) and drops the records
// it covers. A restart reads the state, then replays the log's records,
// cutting a torn last one (a bad record before a good one fails the run:
// that is corruption, not a torn write). What sim.Disk holds is what a
// restart reads back: only writes whose fsync ended.
type simStore struct {
	h       *sim.Host
	s       func() *sim.Sim   // (the Sim is being built while the first incarnations start)
	written map[string][]byte // durable plus pending: what this incarnation reads
	durable map[string][]byte // what a restart now would read (records whose fsync ended)
	pending [][]byte          // log records whose fsync has not ended, in order
	next    uint64            // the next record's LSN
	applied uint64            // the last record the checkpoints applied
	alive   func() bool       // the incarnation runs (after a crash nothing more reaches the disk)
	cut     int               // torn records cut at this incarnation's start
}

// simKV is one change of a write: a put (val not nil) or a delete.
type simKV struct {
	key string
	val []byte
}

// The disk's layout: the applied state under keyState, the log's records
// under keyLog (by LSN), the last applied LSN at keyApplied.
const (
	keyState   = "state/"
	keyLog     = "wal/"
	keyApplied = "wal-applied"
	ckptEvery  = 16
)

func logKey(lsn uint64) string { return fmt.Sprintf("%s%016x", keyLog, lsn) }

// encodeRec is one log record: a CRC-32C of the ops, then the ops.
func encodeRec(ops []simKV) []byte {
	var w wire.Writer
	for _, o := range ops {
		w.String(o.key)
		w.Bool(o.val != nil)
		w.Bytes(o.val)
	}
	return append(binary.BigEndian.AppendUint32(nil, crc32.Checksum(w, crcTable)), w...)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// decodeRec reads a record back; ok false when its checksum is bad.
func decodeRec(rec []byte) (ops []simKV, ok bool) {
	if len(rec) < 4 || crc32.Checksum(rec[4:], crcTable) != binary.BigEndian.Uint32(rec) {
		return nil, false
	}
	r := wire.NewReader(rec[4:])
	for r.Len() > 0 {
		k, put, v := r.String(), r.Bool(), r.Bytes()
		if !put {
			v = nil
		}
		ops = append(ops, simKV{k, v})
	}
	return ops, r.Err() == nil
}

// applyOps applies copies of ops to m.
func applyOps(m map[string][]byte, ops []simKV) {
	for _, o := range ops {
		if o.val == nil {
			delete(m, o.key)
		} else {
			m[o.key] = append([]byte{}, o.val...)
		}
	}
}

// applyShared applies ops to durable, sharing the values (durable is only
// looked up, never handed out).
func applyShared(durable map[string][]byte, ops []simKV) {
	for _, o := range ops {
		if o.val == nil {
			delete(durable, o.key)
		} else {
			durable[o.key] = o.val
		}
	}
}

// openSimStore reads the applied state and replays the log, cutting a
// torn last record (fatal calls the world's failure on corruption).
func openSimStore(s func() *sim.Sim, h *sim.Host, alive func() bool, fatal func(string, ...any)) *simStore {
	st := &simStore{h: h, s: s, written: map[string][]byte{}, alive: alive}
	d := h.Disk()
	for _, k := range d.Keys(keyState) {
		v, _ := d.Get(k)
		st.written[strings.TrimPrefix(k, keyState)] = v
	}
	if v, ok := d.Get(keyApplied); ok {
		st.applied = binary.BigEndian.Uint64(v)
	}
	st.next = st.applied + 1
	recs := d.Keys(keyLog)
	for i, k := range recs {
		var lsn uint64
		_, _ = fmt.Sscanf(strings.TrimPrefix(k, keyLog), "%016x", &lsn)
		if lsn <= st.applied {
			fatal("n%d: log record %d is still on the disk after a checkpoint applied it", h.ID(), lsn)
			continue
		}
		if lsn != st.next {
			fatal("n%d: log record %d follows %d: records are missing", h.ID(), lsn, st.next-1)
		}
		v, _ := d.Get(k)
		ops, ok := decodeRec(v)
		if !ok {
			if i != len(recs)-1 {
				fatal("n%d: log record %d is damaged and records follow it: corruption, not a torn write", h.ID(), lsn)
			}
			d.Delete(k) // a torn last record: it was never acknowledged
			d.Sync()
			st.cut++
			break
		}
		applyOps(st.written, ops)
		st.next++
	}
	st.durable = maps.Clone(st.written)
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

// write makes one write (one log record) whose fsync ends after the
// given time from now: it is durable then, unless the incarnation crashed
// first. The caller's round accounts the time (writes of one round run one
// after the other).
func (st *simStore) write(ops []simKV, durableAfter time.Duration) {
	applyOps(st.written, ops)
	rec := encodeRec(ops)
	lsn := st.next
	st.next++
	st.pending = append(st.pending, rec)
	id := st.h.ID()
	st.s().After(durableAfter, func() {
		if !st.alive() {
			return
		}
		d := st.s().Disk(id)
		d.Put(logKey(lsn), rec)
		d.Sync()
		st.pending = st.pending[1:]
		applyShared(st.durable, ops)
		if lsn-st.applied >= ckptEvery {
			st.checkpoint(d, lsn)
		}
	})
}

// checkpoint applies the durable records up to lsn to the state and drops
// them, in one synced write (bbolt's transaction).
func (st *simStore) checkpoint(d *sim.Disk, lsn uint64) {
	for l := st.applied + 1; l <= lsn; l++ {
		v, _ := d.Get(logKey(l))
		ops, _ := decodeRec(v)
		for _, o := range ops {
			if o.val == nil {
				d.Delete(keyState + o.key)
			} else {
				d.Put(keyState+o.key, o.val)
			}
		}
		d.Delete(logKey(l))
	}
	d.Put(keyApplied, binary.BigEndian.AppendUint64(nil, lsn))
	d.Sync()
	st.applied = lsn
}

// crashed: the pending writes are lost; it says how many. With torn, the
// first of them reaches the disk torn (a part of it, its checksum wrong),
// which the next start must cut.
func (st *simStore) crashed(torn bool) int {
	if torn && len(st.pending) > 0 {
		rec := st.pending[0]
		bad := append([]byte{}, rec[:4+(len(rec)-4)/2]...)
		bad[0] ^= 0x5a
		d := st.s().Disk(st.h.ID())
		d.Put(logKey(st.next-uint64(len(st.pending))), bad)
		d.Sync()
	}
	return len(st.pending)
}

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
	if _, ok := st.durable[cdbEntryKey(rev)]; ok {
		return true
	}
	if v, ok := st.durable[keyCDBSnap]; ok && len(v) >= 8 {
		return rev <= binary.BigEndian.Uint64(v)
	}
	return false
}
