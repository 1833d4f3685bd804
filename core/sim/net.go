package sim

import (
	"fmt"
	"time"
)

// packet is one datagram (or one copy of it) on the simulated network.
type packet struct {
	id       uint64
	from, to Addr
	data     []byte
}

// Reasons a packet is dropped, as traced.
const (
	dropLoss = iota + 1
	dropPartition
	dropCut
	dropLinkCut
	dropNoRoute
	dropDown
	dropOverflow
)

var dropNames = [...]string{"", "loss", "partition", "cut", "link cut", "no route (links are separate networks)", "destination down", "buffer full at paused node"}

// send is Host.Send: it decides the packet's fate now, from the network in
// force at the send, and schedules its delivery (or drops it).
func (s *Sim) send(from, to Addr, data []byte) {
	if from.Link < 0 || from.Link >= s.cfg.Links || to.Link < 0 || to.Link >= s.cfg.Links ||
		to.Node < 1 || to.Node > s.cfg.Nodes {
		panic(fmt.Sprintf("sim: n%d sends from link %d to %v: no such address (nodes 1..%d, links 0..%d)",
			from.Node, from.Link, to, s.cfg.Nodes, s.cfg.Links-1))
	}
	s.nextPkt++
	p := &packet{id: s.nextPkt, from: from, to: to, data: append([]byte(nil), data...)}
	s.stats.Sent++
	s.trace.add(record{kind: kSend, node: from.Node, pkt: p.id, from: from, to: to, v: int64(len(data)), data: data})
	if why := s.blocked(from, to); why != 0 {
		s.drop(p, why)
		return
	}
	net := &s.net
	if net.Drop > 0 && s.rng.Float64() < net.Drop {
		s.drop(p, dropLoss)
		return
	}
	s.schedule(p)
	if net.Dup > 0 && s.rng.Float64() < net.Dup {
		s.nextPkt++
		c := &packet{id: s.nextPkt, from: from, to: to, data: append([]byte(nil), data...)}
		s.stats.Duplicated++
		s.trace.add(record{kind: kDup, node: from.Node, pkt: c.id, v: int64(p.id), from: from, to: to})
		s.schedule(c)
	}
}

// schedule draws the packet's delay and queues its delivery.
func (s *Sim) schedule(p *packet) {
	net := &s.net
	d := net.MinDelay
	if net.MaxDelay > net.MinDelay {
		d += time.Duration(s.rng.Int64N(int64(net.MaxDelay-net.MinDelay) + 1))
	}
	if net.Reorder > 0 && s.rng.Float64() < net.Reorder {
		d += net.MaxDelay + time.Duration(s.rng.Int64N(int64(4*net.MaxDelay+time.Millisecond)+1))
		s.stats.Reordered++
	}
	s.q.push(event{at: s.now + d, kind: evDeliver, node: p.to.Node, pkt: p})
}

// blocked says why the topology forbids from→to now (0: it does not).
func (s *Sim) blocked(from, to Addr) int {
	if from.Link != to.Link {
		return dropNoRoute
	}
	if s.group[from.Node] != s.group[to.Node] {
		return dropPartition
	}
	if s.cut[(from.Node-1)*s.cfg.Nodes+to.Node-1] {
		return dropCut
	}
	if len(s.linkCuts) > 0 {
		if _, ok := s.linkCuts[[2]Addr{from, to}]; ok {
			return dropLinkCut
		}
	}
	return 0
}

func (s *Sim) drop(p *packet, why int) {
	switch why {
	case dropLoss:
		s.stats.Lost++
	case dropDown:
		s.stats.Down++
	case dropOverflow:
		s.stats.Overflow++
	default:
		s.stats.Blocked++
	}
	s.trace.add(record{kind: kDrop, node: p.to.Node, pkt: p.id, from: p.from, to: p.to, v: int64(why)})
}

func (s *Sim) deliver(p *packet) {
	n := s.nodes[p.to.Node]
	switch {
	case !n.up:
		s.drop(p, dropDown)
	case n.paused:
		if len(n.inbox) >= s.cfg.SocketBuffer {
			s.drop(p, dropOverflow)
			return
		}
		s.stats.Queued++
		s.trace.add(record{kind: kQueue, node: n.id, pkt: p.id, from: p.from, to: p.to})
		n.inbox = append(n.inbox, p)
	default:
		s.receive(n, p)
	}
}

func (s *Sim) receive(n *node, p *packet) {
	s.stats.Delivered++
	now := s.local(n)
	s.trace.add(record{kind: kRecv, node: n.id, pkt: p.id, from: p.from, to: p.to, v: int64(now)})
	n.proc.Receive(now, p.to.Link, p.from, p.data)
}

// SetNet changes the network for packets sent from now on (packets in
// flight keep their fate).
func (s *Sim) SetNet(c NetConfig) {
	c.validate()
	s.net = c
	s.trace.add(record{kind: kNet, text: "net " + c.String()})
}

// Net returns the network in force.
func (s *Sim) Net() NetConfig { return s.net }

// Partition splits the cluster: packets between nodes of different groups
// are dropped. Nodes named in no group form one more group together. It
// replaces the previous partition and keeps cuts. Partition() with no group
// ends the partition.
func (s *Sim) Partition(groups ...[]int) {
	for i := range s.group {
		s.group[i] = 0
	}
	for g, ids := range groups {
		for _, id := range ids {
			s.node(id)
			if s.group[id] != 0 {
				panic(fmt.Sprintf("sim: node %d is in two partition groups", id))
			}
			s.group[id] = g + 1
		}
	}
	s.trace.add(record{kind: kNet, text: fmt.Sprintf("partition %v", groups)})
}

// Cut drops every packet from node from to node to, on every link (one way:
// to can still reach from).
func (s *Sim) Cut(from, to int) {
	s.node(from)
	s.node(to)
	s.cut[(from-1)*s.cfg.Nodes+to-1] = true
	s.trace.add(record{kind: kNet, text: fmt.Sprintf("cut n%d -> n%d", from, to)})
}

// CutLink drops every packet from address a to address b, and from b to a
// unless oneWay.
func (s *Sim) CutLink(a, b Addr, oneWay bool) {
	s.linkCuts[[2]Addr{a, b}] = struct{}{}
	if !oneWay {
		s.linkCuts[[2]Addr{b, a}] = struct{}{}
	}
	s.trace.add(record{kind: kNet, text: fmt.Sprintf("cut link %v -> %v (one way: %t)", a, b, oneWay)})
}

// Isolate cuts node id off from every other node, both ways, on every link.
func (s *Sim) Isolate(id int) {
	s.node(id)
	for o := 1; o <= s.cfg.Nodes; o++ {
		if o != id {
			s.cut[(id-1)*s.cfg.Nodes+o-1] = true
			s.cut[(o-1)*s.cfg.Nodes+id-1] = true
		}
	}
	s.trace.add(record{kind: kNet, text: fmt.Sprintf("isolate n%d", id)})
}

// Heal ends the partition and removes every cut. The network's loss and
// delay (SetNet) stay as they are.
func (s *Sim) Heal() {
	for i := range s.group {
		s.group[i] = 0
	}
	for i := range s.cut {
		s.cut[i] = false
	}
	clear(s.linkCuts)
	s.trace.add(record{kind: kNet, text: "heal"})
}
