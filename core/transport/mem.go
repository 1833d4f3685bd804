package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// MemQueueLen is the number of packets a Mem transport holds for its
// handler; when the queue is full further packets are lost (counted in
// LinkStats.Overflows), as a full socket buffer loses them.
const MemQueueLen = 4096

// firstMemPort is where MemNetwork starts handing out ports for port 0.
const firstMemPort = 49152

// MemNetwork is an in-memory network for tests of the layers above the
// transport. It delivers a packet to the Mem transport that owns the
// destination address (exact address and port match); a packet to an
// address nobody owns is silently lost, as with UDP.
type MemNetwork struct {
	mu       sync.RWMutex
	owners   map[netip.AddrPort]memOwner
	nextPort uint16
}

type memOwner struct {
	m    *Mem
	link int
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{owners: make(map[netip.AddrPort]memOwner), nextPort: firstMemPort}
}

// Mem is a transport on a MemNetwork. Packets are queued to the receiver
// and handed to its handler by one delivery goroutine per Mem, so a handler
// that sends (even to itself) does not deadlock.
type Mem struct {
	endpoint
	net   *MemNetwork
	queue chan memPacket
	done  chan struct{}
	wg    sync.WaitGroup
}

type memPacket struct {
	link int // the receiver's link
	from netip.AddrPort
	data []byte
}

// Listen registers a transport owning the given addresses (port 0 gets a
// free port from 49152 up; Links reports it) and starts delivering the
// packets sent to them to h.
func (n *MemNetwork) Listen(links []netip.AddrPort, h Handler, opt Options) (*Mem, error) {
	if len(links) == 0 {
		return nil, errors.New("transport: no links to listen on")
	}
	if h == nil {
		return nil, errors.New("transport: nil handler")
	}
	m := &Mem{
		net:   n,
		queue: make(chan memPacket, MemQueueLen),
		done:  make(chan struct{}),
	}
	bound := make([]netip.AddrPort, len(links))
	n.mu.Lock()
	for i, a := range links {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		var err error
		switch {
		case !a.Addr().IsValid():
			err = errors.New("address is not set")
		case a.Port() == 0:
			a, err = n.freePort(a.Addr())
		default:
			if _, taken := n.owners[a]; taken {
				err = errors.New("address already in use")
			}
		}
		if err != nil {
			for _, b := range bound[:i] {
				delete(n.owners, b)
			}
			n.mu.Unlock()
			return nil, fmt.Errorf("transport: link %d (%s): %w", i, links[i], err)
		}
		bound[i] = a
		n.owners[a] = memOwner{m: m, link: i}
	}
	n.mu.Unlock()
	m.init(bound, h, opt)
	m.wg.Go(m.deliver)
	return m, nil
}

// freePort finds a free port on addr; n.mu is held.
func (n *MemNetwork) freePort(addr netip.Addr) (netip.AddrPort, error) {
	for range 65536 - firstMemPort {
		p := n.nextPort
		n.nextPort++
		if n.nextPort == 0 {
			n.nextPort = firstMemPort
		}
		a := netip.AddrPortFrom(addr, p)
		if _, taken := n.owners[a]; !taken {
			return a, nil
		}
	}
	return netip.AddrPort{}, errors.New("no free port")
}

func (n *MemNetwork) lookup(a netip.AddrPort) (memOwner, bool) {
	if a.Addr().Is4In6() {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	n.mu.RLock()
	o, ok := n.owners[a]
	n.mu.RUnlock()
	return o, ok
}

func (n *MemNetwork) unregister(m *Mem) {
	n.mu.Lock()
	for _, a := range m.links {
		if o, ok := n.owners[a]; ok && o.m == m {
			delete(n.owners, a)
		}
	}
	n.mu.Unlock()
}

// deliver is the delivery goroutine.
func (m *Mem) deliver() {
	for {
		select {
		case <-m.done:
			return
		case p := <-m.queue:
			m.receive(p.link, p.from, p.data)
		}
	}
}

// Send copies data and queues it to the owner of the destination address.
// It never blocks on the receiver. As with UDP, a nil error says nothing
// about delivery: unknown destinations and full queues lose the packet.
func (m *Mem) Send(link int, to netip.AddrPort, data []byte) error {
	if err := m.checkSend(link); err != nil {
		return err
	}
	if rs := m.faults.active(); rs != nil {
		return m.sendFaulty(rs, link, to, data, m.write)
	}
	return m.write(link, to, data)
}

// write puts one copy of data on the network.
func (m *Mem) write(link int, to netip.AddrPort, data []byte) error {
	c := &m.stats[link]
	c.sent.Add(1)
	c.sentBytes.Add(uint64(len(data)))
	o, ok := m.net.lookup(to)
	if !ok {
		return nil
	}
	p := memPacket{link: o.link, from: m.links[link], data: append([]byte(nil), data...)}
	select {
	case o.m.queue <- p:
	default:
		o.m.stats[o.link].overflows.Add(1)
	}
	return nil
}

// Close unregisters the addresses, stops the delivery goroutine, cancels
// the packets delayed by fault injection and waits for deliveries in
// progress. After it returns the handler is not called again; packets still
// queued are lost. Closing again is a no-op that returns nil.
func (m *Mem) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	m.net.unregister(m)
	close(m.done)
	m.wg.Wait()
	m.timers.close()
	return nil
}
