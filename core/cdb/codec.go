package cdb

import (
	"errors"
	"maps"
	"slices"

	"github.com/corral-ha/corral/core/wire"
)

// Encoding versions.
const (
	snapVersion  = 1
	msgVersion   = 1
	maxListCount = 1 << 24
)

// ErrCorrupt is returned for an encoding that does not decode.
var ErrCorrupt = errors.New("cdb: corrupt or unsupported encoding")

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func putConds(w *wire.Writer, cs []Cond) {
	w.Uvarint(uint64(len(cs)))
	for _, c := range cs {
		w.String(c.Key)
		w.Uvarint(c.ModRev)
	}
}

func getConds(r *wire.Reader) []Cond {
	n := r.Count(1, maxListCount)
	var cs []Cond
	for i := 0; i < n && r.Err() == nil; i++ {
		cs = append(cs, Cond{Key: r.String(), ModRev: r.Uvarint()})
	}
	return cs
}

func putOps(w *wire.Writer, ops []Op) {
	w.Uvarint(uint64(len(ops)))
	for _, o := range ops {
		w.Uint8(uint8(o.Kind))
		w.String(o.Key)
		w.Bytes(o.Value)
	}
}

func getOps(r *wire.Reader) []Op {
	n := r.Count(1, maxListCount)
	var ops []Op
	for i := 0; i < n && r.Err() == nil; i++ {
		o := Op{Kind: OpKind(r.Uint8()), Key: r.String(), Value: clone(r.Bytes())}
		if o.Kind != OpPut && o.Kind != OpDelete {
			r.Fail()
		}
		if o.Kind == OpDelete {
			o.Value = nil
		}
		ops = append(ops, o)
	}
	return ops
}

// AppendUpdate appends u's encoding to w (the bcast payload).
func AppendUpdate(w *wire.Writer, u Update) {
	w.Uint8(msgVersion)
	w.Uint16(uint16(u.Origin))
	w.String(u.Client)
	w.Uvarint(u.Seq)
	w.Uint64(uint64(u.Time))
	putConds(w, u.If)
	putOps(w, u.Then)
}

// DecodeUpdate reads what AppendUpdate wrote.
func DecodeUpdate(r *wire.Reader) (Update, error) {
	if v := r.Uint8(); v != msgVersion && r.Err() == nil {
		return Update{}, ErrCorrupt
	}
	var u Update
	u.Origin = wire.NodeID(r.Uint16())
	u.Client = r.String()
	u.Seq = r.Uvarint()
	u.Time = int64(r.Uint64())
	u.If = getConds(r)
	u.Then = getOps(r)
	if r.Err() != nil {
		return Update{}, ErrCorrupt
	}
	return u, nil
}

// EncodeUpdate is the bcast payload of u.
func EncodeUpdate(u Update) []byte {
	var w wire.Writer
	AppendUpdate(&w, u)
	return w
}

// AppendEntry appends e's encoding (the driver's log record) to w.
func AppendEntry(w *wire.Writer, e Entry) {
	w.Uvarint(e.Rev)
	w.ViewID(e.View)
	w.Uvarint(e.Seq)
	AppendUpdate(w, e.Update)
}

// DecodeEntry reads what AppendEntry wrote.
func DecodeEntry(r *wire.Reader) (Entry, error) {
	e := Entry{Rev: r.Uvarint(), View: r.ViewID(), Seq: r.Uvarint()}
	u, err := DecodeUpdate(r)
	if err != nil || r.Err() != nil {
		return Entry{}, ErrCorrupt
	}
	e.Update = u
	return e, nil
}

// snapshot encoding (state at s.rev):
//
//	version u8 | rev uvarint | nkeys, {key, value, create, mod} sorted by key |
//	nclients, {client, seq, rev, flags} sorted by client |
//	nhist, {change} oldest first
func (s *state) encode() []byte {
	var w wire.Writer
	w.Uint8(snapVersion)
	w.Uvarint(s.rev)
	keys := s.sortedKeys("")
	w.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		rec := s.kv[k]
		w.String(k)
		w.Bytes(rec.Value)
		w.Uvarint(rec.CreateRev)
		w.Uvarint(rec.ModRev)
	}
	clients := slices.Sorted(maps.Keys(s.dedup))
	w.Uvarint(uint64(len(clients)))
	for _, c := range clients {
		d := s.dedup[c]
		w.String(c)
		w.Uvarint(d.seq)
		w.Uvarint(d.res.Rev)
		w.Uint8(flags(d.res))
	}
	w.Uvarint(uint64(len(s.hist)))
	for _, h := range s.hist {
		w.Uvarint(h.Rev)
		w.ViewID(h.View)
		w.Uint16(uint16(h.Node))
		w.String(h.Client)
		w.Uvarint(h.Seq)
		w.Uint64(uint64(h.Time))
		putConds(&w, h.If)
		putOps(&w, h.Ops)
		w.Uint8(flags(Result{OK: h.OK}))
	}
	return w
}

func flags(r Result) uint8 {
	var f uint8
	if r.OK {
		f |= 1
	}
	if r.Old {
		f |= 2
	}
	return f
}

func decodeState(b []byte, histCap int) (*state, error) {
	r := wire.NewReader(b)
	if r.Uint8() != snapVersion {
		return nil, ErrCorrupt
	}
	s := newState(histCap)
	s.rev = r.Uvarint()
	n := r.Count(1, maxListCount)
	prev := ""
	for i := 0; i < n && r.Err() == nil; i++ {
		k := r.String()
		rec := &record{Value: clone(r.Bytes()), CreateRev: r.Uvarint(), ModRev: r.Uvarint()}
		if r.Err() != nil {
			break
		}
		if (i > 0 && k <= prev) || rec.ModRev == 0 || rec.ModRev > s.rev || rec.CreateRev == 0 || rec.CreateRev > rec.ModRev {
			return nil, ErrCorrupt
		}
		if rec.Value == nil {
			rec.Value = []byte{}
		}
		s.kv[k] = rec
		prev = k
	}
	n = r.Count(1, maxListCount)
	prev = ""
	for i := 0; i < n && r.Err() == nil; i++ {
		c := r.String()
		d := dedupRec{seq: r.Uvarint()}
		d.res.Rev = r.Uvarint()
		f := r.Uint8()
		if r.Err() != nil {
			break
		}
		if (i > 0 && c <= prev) || f > 3 || d.res.Rev > s.rev {
			return nil, ErrCorrupt
		}
		d.res.OK, d.res.Old = f&1 != 0, f&2 != 0
		s.dedup[c] = d
		prev = c
	}
	n = r.Count(1, maxListCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		h := Change{Rev: r.Uvarint(), View: r.ViewID(), Node: wire.NodeID(r.Uint16()),
			Client: r.String(), Seq: r.Uvarint(), Time: int64(r.Uint64()), If: getConds(r), Ops: getOps(r)}
		f := r.Uint8()
		if f > 1 || h.Rev > s.rev || (len(s.hist) > 0 && h.Rev <= s.hist[len(s.hist)-1].Rev) {
			return nil, ErrCorrupt
		}
		h.OK = f == 1
		s.hist = append(s.hist, h)
	}
	if r.Err() != nil || r.Len() != 0 {
		return nil, ErrCorrupt
	}
	for len(s.hist) > s.histCap {
		s.hist = s.hist[1:]
	}
	return s, nil
}
