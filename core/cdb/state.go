package cdb

import (
	"sort"
	"strings"
)

type record struct {
	Value     []byte
	CreateRev uint64
	ModRev    uint64
}

type dedupRec struct {
	seq uint64
	res Result
}

// state is the applied (committed) key-value state at revision rev.
type state struct {
	rev     uint64
	kv      map[string]*record
	dedup   map[string]dedupRec
	hist    []Change
	histCap int
}

func newState(histCap int) *state {
	return &state{kv: map[string]*record{}, dedup: map[string]dedupRec{}, histCap: histCap}
}

func (s *state) sortedKeys(prefix string) []string {
	keys := make([]string, 0, len(s.kv))
	for k := range s.kv {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// apply applies e (whose Rev must be s.rev+1) and returns its result and
// the keys it changed, in op order.
func (s *state) apply(e Entry) (Result, []WatchEvent) {
	u := e.Update
	s.rev = e.Rev
	res := Result{Rev: e.Rev}
	if d, ok := s.dedup[u.Client]; ok && u.Client != "" && u.Seq <= d.seq {
		if u.Seq == d.seq {
			return d.res, nil // a retry: the original result, applied once
		}
		res.Old = true
		return res, nil
	}
	res.OK = true
	for _, c := range u.If {
		var mod uint64
		if rec, ok := s.kv[c.Key]; ok {
			mod = rec.ModRev
		}
		if mod != c.ModRev {
			res.OK = false
			break
		}
	}
	var evs []WatchEvent
	if res.OK {
		for _, o := range u.Then {
			switch o.Kind {
			case OpPut:
				rec, ok := s.kv[o.Key]
				if !ok {
					rec = &record{CreateRev: e.Rev}
					s.kv[o.Key] = rec
				}
				rec.Value = clone(o.Value)
				if rec.Value == nil {
					rec.Value = []byte{}
				}
				rec.ModRev = e.Rev
				evs = append(evs, WatchEvent{Rev: e.Rev, Key: o.Key, Value: rec.Value})
			case OpDelete:
				if _, ok := s.kv[o.Key]; ok {
					delete(s.kv, o.Key)
					evs = append(evs, WatchEvent{Rev: e.Rev, Key: o.Key, Deleted: true})
				}
			}
		}
	}
	if u.Client != "" {
		s.dedup[u.Client] = dedupRec{seq: u.Seq, res: res}
	}
	if s.histCap > 0 && u.Client != "" {
		s.hist = append(s.hist, Change{Rev: e.Rev, View: e.View, Node: u.Origin, Client: u.Client,
			Seq: u.Seq, Time: u.Time, If: u.If, Ops: u.Then, OK: res.OK})
		if len(s.hist) > s.histCap {
			s.hist = append(s.hist[:0:0], s.hist[len(s.hist)-s.histCap:]...)
		}
	}
	return res, evs
}
