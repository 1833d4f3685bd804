package wire

import (
	"cmp"
	"slices"
	"time"
)

// partial is a fragmented message being reassembled. Its buffer is allocated
// at the first fragment with the declared size; that size plus partialCost
// is what it counts against MaxReassembly.
type partial struct {
	cost    int           // bytes counted against MaxReassembly
	id      uint64        // counter of the first fragment
	count   int           // number of fragments
	chunk   int           // bytes per fragment, except a shorter last one
	buf     []byte        // the message, filled as fragments arrive
	have    []uint64      // bitmap of the fragments received
	missing int           // fragments not received yet
	start   time.Duration // when the first fragment arrived
}

// deadRing remembers the ids of the last partial messages a peer's
// reassembly discarded, so that late fragments of one are dropped rather
// than starting a partial message that cannot complete.
const deadRing = 32

// partialCost is the bookkeeping a partial message costs besides its buffer,
// counted so that many tiny fragmented messages stay bounded too.
const partialCost = 128

type dead struct {
	id  uint64
	err error // ErrExpired or ErrReassemblyLimit
}

// chunkOf returns the bytes per fragment of a size-byte message cut into
// count fragments: ceil(size/count). Fragment i holds the bytes
// [i*chunk, min((i+1)*chunk, size)).
func chunkOf(size, count int) int { return (size + count - 1) / count }

// fragSpan returns where fragment i of a message lies.
func fragSpan(size, count, i int) (lo, hi int) {
	c := chunkOf(size, count)
	lo, hi = i*c, (i+1)*c
	if hi > size {
		hi = size
	}
	return lo, hi
}

// reassemble stores one fragment from peer p and returns the whole message
// once its last fragment arrived, nil before. counter is the authenticated
// packet counter and frag the decrypted payload.
func (e *Endpoint) reassemble(now time.Duration, p *peer, counter uint64, frag []byte) ([]byte, error) {
	if len(frag) < fragLen {
		return nil, ErrBadFragment
	}
	id := be64(frag[fragID:])
	index := int(be16(frag[fragIndex:]))
	count := int(be16(frag[fragCount:]))
	size := int(be32(frag[fragSize:]))
	data := frag[fragLen:]
	if size > e.cfg.MaxMessage {
		return nil, ErrOversize
	}
	// The fragments of a message are sealed with consecutive counters from
	// its id, cut as fragSpan says, each non-empty.
	if count < 2 || index >= count || counter < uint64(index) || counter-uint64(index) != id ||
		(count-1)*chunkOf(size, count) >= size {
		return nil, ErrBadFragment
	}
	if lo, hi := fragSpan(size, count, index); len(data) != hi-lo {
		return nil, ErrBadFragment
	}

	e.expirePeer(now, p)
	m := p.partials[id]
	if m == nil {
		for _, d := range p.dead {
			if d.err != nil && d.id == id {
				return nil, d.err
			}
		}
		cost := size + partialCost + (count+63)/64*8
		e.makeRoom(p, cost)
		m = &partial{
			cost:    cost,
			id:      id,
			count:   count,
			chunk:   chunkOf(size, count),
			buf:     make([]byte, size),
			have:    make([]uint64, (count+63)/64),
			missing: count,
			start:   now,
		}
		p.partials[id] = m
		p.held += cost
		if p.next == 0 || now+e.cfg.ReassemblyTimeout < p.next {
			p.next = now + e.cfg.ReassemblyTimeout
		}
	} else if m.count != count || len(m.buf) != size {
		return nil, ErrBadFragment
	}
	bit := uint64(1) << (index & 63)
	if m.have[index>>6]&bit != 0 {
		// The replay window already drops duplicate packets; this can only
		// be a duplicate that outlived it.
		return nil, ErrReplay
	}
	m.have[index>>6] |= bit
	copy(m.buf[index*m.chunk:], data)
	m.missing--
	if m.missing > 0 {
		return nil, nil
	}
	e.discard(p, m, nil)
	return m.buf, nil
}

// makeRoom discards p's oldest partial messages until cost more bytes fit
// within MaxReassembly.
func (e *Endpoint) makeRoom(p *peer, cost int) {
	for p.held+cost > e.cfg.MaxReassembly && len(p.partials) > 0 {
		var old *partial
		for _, m := range p.partials {
			if old == nil || m.start < old.start || m.start == old.start && m.id < old.id {
				old = m
			}
		}
		e.discard(p, old, ErrReassemblyLimit)
		e.stats.Evicted++
	}
}

// expirePeer discards p's partial messages older than ReassemblyTimeout.
func (e *Endpoint) expirePeer(now time.Duration, p *peer) {
	if len(p.partials) == 0 || now < p.next {
		return
	}
	p.next = 0
	var old []*partial
	for _, m := range p.partials {
		deadline := m.start + e.cfg.ReassemblyTimeout
		if now >= deadline {
			old = append(old, m)
		} else if p.next == 0 || deadline < p.next {
			p.next = deadline
		}
	}
	// Discard in a fixed order: the dead ring must not depend on map order.
	slices.SortFunc(old, func(a, b *partial) int { return cmp.Compare(a.id, b.id) })
	for _, m := range old {
		e.discard(p, m, ErrExpired)
		e.stats.Expired++
	}
}

// discard removes m from p's reassembly. A non-nil reason records m's id so
// that its late fragments are dropped with that error.
func (e *Endpoint) discard(p *peer, m *partial, reason error) {
	delete(p.partials, m.id)
	p.held -= m.cost
	if reason != nil {
		p.dead[p.deadNext] = dead{id: m.id, err: reason}
		p.deadNext = (p.deadNext + 1) % deadRing
	}
	if len(p.partials) == 0 {
		p.next = 0
	}
}
