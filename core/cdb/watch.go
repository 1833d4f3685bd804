package cdb

import (
	"fmt"
	"sort"
	"strings"
)

// ErrCompacted refuses a watch whose start revision this node no longer
// holds the changes of (they were folded into the base snapshot).
type ErrCompacted struct {
	Start  uint64 // the revision asked for
	Oldest uint64 // the oldest revision this node can replay from
}

func (e ErrCompacted) Error() string {
	return fmt.Sprintf("cdb: revision %d is compacted: this node replays changes from revision %d on; "+
		"read the prefix (its revision R) and watch from R+1", e.Start, e.Oldest)
}

// WatchFrom registers a watch on prefix like Watch and also returns the
// committed changes under prefix with revision >= start, in order, that
// were applied before it (start 0: none, only what is applied from now).
// The replay and Ready.Watch together give every change from start on,
// each once. A start at or below the log's base (compacted into the
// snapshot) is refused with ErrCompacted and registers nothing.
func (d *DB) WatchFrom(prefix string, start uint64) (uint64, []WatchEvent, error) {
	if start == 0 || start > d.st.rev {
		return d.Watch(prefix), nil, nil
	}
	if start <= d.base {
		return 0, nil, ErrCompacted{Start: start, Oldest: d.base + 1}
	}
	// Replay the committed entries from the base snapshot: the log keeps
	// the requests, and applying them again gives the same changes.
	st, err := decodeState(d.baseSnap, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("cdb: watch replay: %w", err)
	}
	var out []WatchEvent
	for st.rev < d.st.rev {
		e := d.entry(st.rev + 1)
		_, evs := st.apply(*e)
		if e.Rev < start {
			continue
		}
		for _, ev := range evs {
			if strings.HasPrefix(ev.Key, prefix) {
				out = append(out, ev)
			}
		}
	}
	id := d.Watch(prefix)
	for i := range out {
		out[i].Watch = id
	}
	return id, out, nil
}

// Entry returns the log entry at rev (tentative or committed); ok is false
// when rev is not in the log (compacted, or past its end).
func (d *DB) Entry(rev uint64) (Entry, bool) {
	if e := d.entry(rev); e != nil {
		return *e, true
	}
	return Entry{}, false
}

// Stale reports whether reads are stale (see Get).
func (d *DB) Stale() bool { return d.stale() }

// watchJump gives watches the difference between two states when the DB
// jumps from one to the other by a snapshot (the changes in between are
// not in its log): every key that differs comes out as a set or a delete
// at the new state's revision, in key order.
func (d *DB) watchJump(from, to *state) {
	if len(d.watches) == 0 || d.quiet {
		return
	}
	keys := append(from.sortedKeys(""), to.sortedKeys("")...)
	sort.Strings(keys)
	var evs []WatchEvent
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			continue
		}
		a, had := from.kv[k]
		b, has := to.kv[k]
		switch {
		case has && (!had || a.ModRev != b.ModRev):
			evs = append(evs, WatchEvent{Rev: to.rev, Key: k, Value: clone(b.Value)})
		case had && !has:
			evs = append(evs, WatchEvent{Rev: to.rev, Key: k, Deleted: true})
		}
	}
	ids := make([]uint64, 0, len(d.watches))
	for id := range d.watches {
		ids = append(ids, id)
	}
	sortU64(ids)
	for _, ev := range evs {
		for _, id := range ids {
			if strings.HasPrefix(ev.Key, d.watches[id]) {
				ev.Watch = id
				d.rd.Watch = append(d.rd.Watch, ev)
			}
		}
	}
}
