package conn

import (
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// heartbeat sends one heartbeat on every path to every peer.
func (c *Conn) heartbeat() {
	for _, p := range c.peers {
		mask := p.hearsMask()
		for _, pa := range p.paths {
			c.sendHeartbeat(p, pa, mask)
		}
	}
}

func (c *Conn) sendHeartbeat(p *peer, pa *path, mask uint64) {
	hb := &wire.Heartbeat{
		FromLink: uint8(pa.local),
		ToLink:   uint8(pa.remote),
		Hears:    mask,
		SentAt:   int64(c.now),
	}
	if pa.echoAt != 0 {
		hb.EchoAt = pa.echoAt
		hb.EchoHold = int64(c.now - pa.echoRecv)
	}
	c.seal(p, pa, hb)
}

// onHeartbeat handles a heartbeat from p that arrived on our link.
func (c *Conn) onHeartbeat(p *peer, link int, hb *wire.Heartbeat) {
	if int(hb.ToLink) != link {
		// Sent to our other address but routed here: still proof of
		// life, but of the path it actually took.
		c.stats.BadLink++
	}
	pa := p.path(link, int(hb.FromLink))
	if pa == nil {
		c.stats.BadLink++
		return
	}
	if hb.SentAt < pa.newest {
		// Sent before the newest heartbeat heard on this path: reordered
		// (by less than the path's threshold, as the detector expects of
		// this path), or withheld by someone on the path and replayed,
		// maybe after the peer died: the replay window takes a packet it
		// never saw. Older than that, it proves nothing about now.
		th := pa.in.threshold(c.cfg.SuspectMin, c.cfg.SuspectMax, c.cfg.Heartbeat)
		if time.Duration(pa.newest-hb.SentAt) > th {
			c.stats.OldHeartbeats++
			return
		}
	} else {
		pa.newest = hb.SentAt
	}
	newIn := pa.in.arrive(c.now)
	pa.echoAt, pa.echoRecv = hb.SentAt, c.now
	if hb.EchoAt > 0 {
		rtt := c.now - time.Duration(hb.EchoAt) - time.Duration(hb.EchoHold)
		if rtt >= 0 && rtt < c.cfg.SuspectMax {
			if pa.srtt == 0 {
				pa.srtt = rtt
			} else {
				pa.srtt += (rtt - pa.srtt) / 8
			}
		}
	}
	// The peer's view of which paths carry our packets to it, from its
	// newest heartbeat only: a reordered older one must not undo it.
	if hb.SentAt > p.hearsAt {
		p.hearsAt = hb.SentAt
		for _, q := range p.paths {
			q.out = hb.Hears&(1<<(q.remote*MaxLinks+q.local)) != 0
		}
	}
	if newIn {
		// A path we did not hear before: answer at once so the peer learns
		// we hear it within one round trip (the hello exchange).
		c.sendHeartbeat(p, pa, p.hearsMask())
	}
	c.updatePaths(p)
}

// detect suspects the paths whose heartbeats are late.
func (c *Conn) detect() {
	for _, p := range c.peers {
		changed := false
		for _, pa := range p.paths {
			if pa.in.check(c.now, c.cfg.SuspectMin, c.cfg.SuspectMax, c.cfg.Heartbeat) {
				c.stats.Suspicions++
				changed = true
			}
		}
		if !p.hears() {
			// We hear nothing: the peer's last report of hearing us is
			// no longer news.
			for _, pa := range p.paths {
				if pa.out {
					pa.out = false
					changed = true
				}
			}
		}
		if changed {
			c.updatePaths(p)
		}
	}
}

// updatePaths turns the paths' directions into link and peer events.
func (c *Conn) updatePaths(p *peer) {
	any := false
	for _, pa := range p.paths {
		up := pa.in.alive && pa.out
		if up != pa.up {
			pa.up = up
			kind := EventLinkDown
			if up {
				kind = EventLinkUp
			}
			c.event(Event{Kind: kind, Peer: p.id, Local: pa.local, Remote: pa.remote})
		}
		any = any || up
	}
	if any == p.reachable {
		c.moveCircuit(p)
		return
	}
	p.reachable = any
	if any {
		c.event(Event{Kind: EventPeerReachable, Peer: p.id})
	} else {
		p.downSince = c.now
		c.event(Event{Kind: EventPeerUnreachable, Peer: p.id})
	}
	c.moveCircuit(p)
}

// moveCircuit keeps the circuit on a path that is up. When it has to move,
// everything in flight is resent on the new path at once: the receiver
// drops what it already has, so nothing is lost, duplicated or reordered.
func (c *Conn) moveCircuit(p *peer) {
	b := p.best()
	if b == p.current {
		return
	}
	old := p.current
	p.current = b
	if b == nil || old == nil {
		return
	}
	for _, m := range p.inflight {
		m.due = c.now
		m.backoff = 0
	}
}
