package conn

import (
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// sackBits is how many sequence numbers past the cumulative ack an Ack
// reports individually.
const sackBits = 64

// flush sends what the circuits owe: due retransmissions and new messages
// the window admits. It runs after every input.
func (c *Conn) flush() {
	for _, p := range c.peers {
		if len(p.inflight) == 0 && len(p.queue) == 0 {
			continue // nothing to send: it runs at every input, for every peer
		}
		pa := p.best()
		if pa != nil && p.boot != 0 {
			for _, m := range p.inflight {
				if m.due <= c.now && !m.sacked {
					c.stats.Retransmits++
					m.retries++
					c.transmit(p, pa, m)
				}
			}
			for len(p.queue) > 0 && len(p.inflight) < c.cfg.Window &&
				(len(p.inflight) == 0 || p.inflightB+len(p.queue[0].data) <= c.cfg.WindowBytes) {
				m := p.queue[0]
				p.queue[0] = nil
				p.queue = p.queue[1:]
				p.queuedBytes -= len(m.data)
				m.seq = p.nextSeq
				p.nextSeq++
				p.inflight = append(p.inflight, m)
				p.inflightB += len(m.data)
				c.stats.Sent++
				c.transmit(p, pa, m)
			}
		}
	}
}

// flushAcks sends the acknowledgements not piggybacked on data. It runs in
// Advance, where a round ends.
func (c *Conn) flushAcks() {
	for _, p := range c.peers {
		switch {
		case p.ackHeld:
			// Messages from p were in the Ready just carried out: hold the
			// acknowledgement one round, so a reply the application sends
			// to them carries it (the driver delivers them, then calls
			// Ready again).
			p.ackHeld = false
		case p.ackDue:
			c.sendAck(p)
		}
	}
}

// rto is the retransmission timeout before backoff.
func (c *Conn) rto(p *peer) time.Duration {
	srtt, rttvar := p.srtt, p.rttvar
	if srtt == 0 && p.current != nil {
		srtt, rttvar = p.current.srtt, p.current.srtt/2
	}
	return max(c.cfg.MinRTO, min(c.cfg.MaxRTO, srtt+4*rttvar))
}

// transmit sends m on pa, with an acknowledgement piggybacked, and sets
// its next retransmission.
func (c *Conn) transmit(p *peer, pa *path, m *outMsg) {
	d := &wire.Data{DstBoot: p.boot, Circ: p.circ, Seq: m.seq, More: m.more, Payload: m.data}
	if p.rcirc != 0 {
		d.AckCirc, d.AckCum = p.rcirc, p.expected-1
		p.ackDue = false
	}
	c.seal(p, pa, d)
	if m.backoff == 0 {
		m.backoff = c.rto(p)
	} else {
		m.backoff = min(2*m.backoff, c.cfg.MaxRTO)
	}
	m.sentAt = c.now
	m.due = c.now + m.backoff
}

func (c *Conn) sendAck(p *peer) {
	pa := p.best()
	if pa == nil {
		// Not up both ways yet: answer on any path we hear the peer on.
		for _, q := range p.paths {
			if q.in.alive {
				pa = q
				break
			}
		}
	}
	if pa == nil || p.rcirc == 0 {
		return
	}
	a := &wire.Ack{DstBoot: p.boot, Circ: p.rcirc, Cum: p.expected - 1}
	for i := range uint64(sackBits) {
		if _, ok := p.ooo[p.expected+1+i]; ok {
			a.Sack |= 1 << i
		}
	}
	c.seal(p, pa, a)
	c.stats.Acks++
	p.ackDue = false
}

// onData handles a circuit message from p.
func (c *Conn) onData(p *peer, d *wire.Data) {
	if d.DstBoot != c.cfg.Boot {
		// Meant for an earlier incarnation of this node: the sender will
		// learn our boot id from our heartbeats and give those up.
		c.stats.WrongBoot++
		return
	}
	if d.AckCirc != 0 {
		c.onAck(p, d.DstBoot, d.AckCirc, d.AckCum, 0)
	}
	switch {
	case d.Circ < p.rcirc:
		c.stats.Duplicates++ // a circuit the sender gave up on
		return
	case d.Circ > p.rcirc:
		// The sender gave up on what it had in flight and starts over.
		p.rcirc, p.expected, p.partial = d.Circ, 1, nil
		clear(p.ooo)
	}
	p.ackDue = true
	switch {
	case d.Seq < p.expected:
		c.stats.Duplicates++
	case d.Seq == p.expected:
		c.deliver(p, d)
		for {
			next, ok := p.ooo[p.expected]
			if !ok {
				break
			}
			delete(p.ooo, p.expected)
			c.deliver(p, next)
		}
	case d.Seq-p.expected < uint64(max(2*c.cfg.Window, 1024)):
		if _, dup := p.ooo[d.Seq]; dup {
			c.stats.Duplicates++
		} else {
			p.ooo[d.Seq] = d
		}
	default:
		// Beyond any window the sender may use: ignore, it will resend.
		c.stats.Duplicates++
	}
}

// deliver takes the next chunk in order; the last chunk of a message
// delivers the message.
func (c *Conn) deliver(p *peer, d *wire.Data) {
	p.expected++
	if d.More || p.partial != nil {
		if len(p.partial)+len(d.Payload) > c.cfg.MaxMessage {
			// Only a peer configured with a bigger limit sends this.
			c.stats.BadMessage++
			p.partial = nil
			return
		}
		p.partial = append(p.partial, d.Payload...)
		if d.More {
			return
		}
		d.Payload, p.partial = p.partial, nil
	}
	c.rd.Messages = append(c.rd.Messages, Message{From: p.id, Boot: p.boot, Data: d.Payload})
	c.stats.Delivered++
	p.ackHeld = true
}

// onAck removes acknowledged messages from p's window.
func (c *Conn) onAck(p *peer, dstBoot, circ uint32, cum, sack uint64) {
	if dstBoot != c.cfg.Boot || circ != p.circ {
		c.stats.WrongBoot++
		return
	}
	kept := p.inflight[:0]
	for _, m := range p.inflight {
		if m.seq > cum {
			// Selectively acknowledged chunks stay until the cumulative
			// ack passes them: the receiver may still lose them (a crash),
			// and then they must be reported undeliverable.
			if m.seq-cum-2 < sackBits && sack&(1<<(m.seq-cum-2)) != 0 {
				m.sacked = true
			}
			kept = append(kept, m)
			continue
		}
		p.inflightB -= len(m.data)
		if m.retries == 0 {
			c.sampleRTT(p, c.now-m.sentAt)
		}
	}
	clear(p.inflight[len(kept):])
	p.inflight = kept
}

// sampleRTT updates the circuit's round-trip estimate (RFC 6298).
func (c *Conn) sampleRTT(p *peer, r time.Duration) {
	if p.srtt == 0 {
		p.srtt, p.rttvar = r, r/2
		return
	}
	diff := p.srtt - r
	if diff < 0 {
		diff = -diff
	}
	p.rttvar += (diff - p.rttvar) / 4
	p.srtt += (r - p.srtt) / 8
}

// restarted handles the first packet from a new incarnation of p.
func (c *Conn) restarted(p *peer, boot uint32, start uint64) {
	first := p.boot == 0
	p.boot, p.start = boot, start
	p.hearsAt = 0 // the new incarnation's clock starts again
	for _, pa := range p.paths {
		pa.echoAt, pa.echoRecv, pa.newest = 0, 0, 0
	}
	p.rcirc, p.expected, p.ackDue, p.partial = 0, 1, false, nil
	clear(p.ooo)
	if first {
		return
	}
	c.event(Event{Kind: EventPeerRestarted, Peer: p.id, Boot: boot})
	c.giveUp(p, fmt.Sprintf("peer restarted (boot %d)", boot))
}

// checkUndeliverable gives up on p's messages when it has been unreachable
// for too long.
func (c *Conn) checkUndeliverable(p *peer) {
	if p.reachable || (len(p.inflight) == 0 && len(p.queue) == 0) {
		return
	}
	since := max(p.downSince, p.pendingSince())
	if c.now-since >= c.cfg.Undeliverable {
		c.giveUp(p, fmt.Sprintf("peer unreachable for %v", c.cfg.Undeliverable))
	}
}

// giveUp reports everything pending for p as undeliverable and starts a
// new circuit.
func (c *Conn) giveUp(p *peer, reason string) {
	var ids []uint64
	for _, m := range append(p.inflight, p.queue...) {
		if len(ids) == 0 || ids[len(ids)-1] != m.id {
			ids = append(ids, m.id)
		}
	}
	p.inflight, p.queue = nil, nil
	p.inflightB, p.queuedBytes = 0, 0
	p.circ++
	p.nextSeq = 1
	p.srtt, p.rttvar = 0, 0
	if len(ids) == 0 {
		return
	}
	c.stats.Undeliverable += uint64(len(ids))
	c.event(Event{Kind: EventUndeliverable, Peer: p.id, IDs: ids, Reason: reason})
}

// pendingSince is when the oldest pending message was handed to Send.
func (p *peer) pendingSince() time.Duration {
	if len(p.inflight) > 0 {
		return p.inflight[0].queuedAt
	}
	if len(p.queue) > 0 {
		return p.queue[0].queuedAt
	}
	return 0
}
