package cdb

import "github.com/corral-ha/corral/core/wire"

// Message is a history-transfer message between two members of a new
// primary view (over circuits), or a linearizable read's ask for an
// index and its answer (read.go). Exactly one of Fetch, Chunk, ReadAsk
// and ReadIndex is set.
type Message struct {
	To        wire.NodeID
	Fetch     *Fetch
	Chunk     *Chunk
	ReadAsk   *ReadAsk
	ReadIndex *ReadIndex
}

// Run is a stretch of a log sequenced by one view.
type Run struct {
	View        wire.ViewID
	First, Last uint64
}

// Fetch asks the source of View for its history. The first Fetch of an
// adoption (First) describes the asker's log (Base and the runs of views
// after it) so the source can find where they part; later ones ask for the
// entries after After.
type Fetch struct {
	View  wire.ViewID
	First bool
	Base  uint64
	Runs  []Run
	After uint64
}

// Chunk is part of the source's history for View. The asker keeps its log
// up to From (truncating what follows), or replaces it by Snapshot (the
// state at SnapRev) when Snapshot is set, then appends Entries. Head is the
// revision the adopted history ends at; Last marks the final chunk.
type Chunk struct {
	View     wire.ViewID
	From     uint64
	Snapshot []byte
	SnapRev  uint64
	Entries  []Entry
	Head     uint64
	Last     bool
}

// Append appends m's encoding (without To) to w.
func (m *Message) Append(w *wire.Writer) {
	w.Uint8(msgVersion)
	switch {
	case m.Fetch != nil:
		f := m.Fetch
		w.Uint8(1)
		w.ViewID(f.View)
		if f.First {
			w.Uint8(1)
		} else {
			w.Uint8(0)
		}
		w.Uvarint(f.Base)
		w.Uvarint(uint64(len(f.Runs)))
		for _, r := range f.Runs {
			w.ViewID(r.View)
			w.Uvarint(r.First)
			w.Uvarint(r.Last)
		}
		w.Uvarint(f.After)
	case m.Chunk != nil:
		c := m.Chunk
		w.Uint8(2)
		w.ViewID(c.View)
		w.Uvarint(c.From)
		w.Bytes(c.Snapshot)
		w.Uvarint(c.SnapRev)
		w.Uvarint(uint64(len(c.Entries)))
		for _, e := range c.Entries {
			AppendEntry(w, e)
		}
		w.Uvarint(c.Head)
		if c.Last {
			w.Uint8(1)
		} else {
			w.Uint8(0)
		}
	case m.ReadAsk != nil:
		w.Uint8(3)
		w.ViewID(m.ReadAsk.View)
		w.Uvarint(m.ReadAsk.ID)
	case m.ReadIndex != nil:
		x := m.ReadIndex
		w.Uint8(4)
		w.ViewID(x.View)
		w.Uvarint(x.ID)
		w.Uvarint(x.Index)
		if x.OK {
			w.Uint8(1)
		} else {
			w.Uint8(0)
		}
	default:
		w.Uint8(0)
	}
}

// DecodeMessage reads what Message.Append wrote; To is left zero.
func DecodeMessage(r *wire.Reader) (Message, error) {
	if r.Uint8() != msgVersion {
		return Message{}, ErrCorrupt
	}
	var m Message
	switch r.Uint8() {
	case 1:
		f := &Fetch{View: r.ViewID(), First: r.Uint8() == 1, Base: r.Uvarint()}
		n := r.Count(1, maxListCount)
		for i := 0; i < n && r.Err() == nil; i++ {
			f.Runs = append(f.Runs, Run{View: r.ViewID(), First: r.Uvarint(), Last: r.Uvarint()})
		}
		f.After = r.Uvarint()
		m.Fetch = f
	case 2:
		c := &Chunk{View: r.ViewID(), From: r.Uvarint()}
		if s := r.Bytes(); len(s) > 0 {
			c.Snapshot = clone(s)
		}
		c.SnapRev = r.Uvarint()
		n := r.Count(1, maxListCount)
		for i := 0; i < n && r.Err() == nil; i++ {
			e, err := DecodeEntry(r)
			if err != nil {
				return Message{}, err
			}
			c.Entries = append(c.Entries, e)
		}
		c.Head = r.Uvarint()
		c.Last = r.Uint8() == 1
		m.Chunk = c
	case 3:
		m.ReadAsk = &ReadAsk{View: r.ViewID(), ID: r.Uvarint()}
	case 4:
		m.ReadIndex = &ReadIndex{View: r.ViewID(), ID: r.Uvarint(), Index: r.Uvarint(), OK: r.Uint8() == 1}
	default:
		return Message{}, ErrCorrupt
	}
	if r.Err() != nil {
		return Message{}, ErrCorrupt
	}
	return m, nil
}
