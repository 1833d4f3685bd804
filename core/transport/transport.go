package transport

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Packet is one datagram received on a local link.
type Packet struct {
	Link int            // index of the local link (socket) it arrived on
	From netip.AddrPort // sender's address
	Data []byte         // owned by the receiver of the Packet
}

// Handler receives packets. It is called from the transport's reader
// goroutines (one per link for UDP, one per transport for Mem) and from
// timers delivering packets delayed by fault injection, so it may run
// concurrently with itself and must be safe for that. It must not block for
// long (a blocked handler stops its link), and it must not call Close.
// Calling Send from a handler is fine.
type Handler func(Packet)

// Transport sends and receives best-effort datagrams over a node's links.
type Transport interface {
	// Links returns the local link addresses; the index is the link number.
	Links() []netip.AddrPort
	// Send writes one datagram from the given local link to the address.
	// It does not keep data after it returns. A nil error says nothing
	// about delivery.
	Send(link int, to netip.AddrPort, data []byte) error
	// Close stops delivery and waits for the reader goroutines and pending
	// delayed packets; after it returns the handler is not called again.
	Close() error
}

// FaultInjector is the fault injection API both transports implement. It is
// active only with Options.FaultInjection; otherwise AddFault and
// RemoveFault return ErrFaultsDisabled.
type FaultInjector interface {
	AddFault(f Fault) (uint64, error)
	Faults() []Fault
	RemoveFault(id uint64) error
	ClearFaults()
}

var (
	_ Transport     = (*UDP)(nil)
	_ Transport     = (*Mem)(nil)
	_ FaultInjector = (*UDP)(nil)
	_ FaultInjector = (*Mem)(nil)
)

// DefaultSocketBuffer is the UDP socket receive and send buffer size asked
// for when Options.SocketBuffer is 0. The kernel may grant less
// (net.core.rmem_max, wmem_max).
const DefaultSocketBuffer = 4 << 20

// Options configure a transport.
type Options struct {
	// FaultInjection enables AddFault (config [debug] fault_injection).
	FaultInjection bool
	// Seed seeds the random source of fault injection; 0 seeds it from
	// crypto/rand.
	Seed uint64
	// SocketBuffer is the UDP SO_RCVBUF and SO_SNDBUF size: 0 means
	// DefaultSocketBuffer, negative leaves the system default. Mem ignores it.
	SocketBuffer int
}

// LinkStats are the counters of one local link.
type LinkStats struct {
	Addr netip.AddrPort // the link's local address

	// Packets and bytes that crossed the socket: written by Send (after
	// fault injection: a dropped packet is not counted, a duplicated one
	// twice) and read from it (before fault injection).
	PacketsSent     uint64
	BytesSent       uint64
	PacketsReceived uint64
	BytesReceived   uint64
	SendErrors      uint64 // writes that failed
	ReadErrors      uint64 // reads that failed (UDP), other than at Close

	// Fault injection, both directions together.
	Dropped    uint64 // packets dropped by a rule
	Duplicated uint64 // packets sent or delivered twice by a rule
	Delayed    uint64 // packets held back by a rule

	// Overflows counts packets lost because the receiver's queue was full
	// (Mem only; the kernel's UDP drops are not visible here).
	Overflows uint64
}

// Stats is a snapshot of a transport's counters.
type Stats struct {
	Links []LinkStats // index = link number
}

// Total adds up the counters of all links (Addr is left zero).
func (s Stats) Total() LinkStats {
	var t LinkStats
	for _, l := range s.Links {
		t.PacketsSent += l.PacketsSent
		t.BytesSent += l.BytesSent
		t.PacketsReceived += l.PacketsReceived
		t.BytesReceived += l.BytesReceived
		t.SendErrors += l.SendErrors
		t.ReadErrors += l.ReadErrors
		t.Dropped += l.Dropped
		t.Duplicated += l.Duplicated
		t.Delayed += l.Delayed
		t.Overflows += l.Overflows
	}
	return t
}

type linkCounters struct {
	sent, sentBytes, recv, recvBytes atomic.Uint64
	sendErrs, readErrs               atomic.Uint64
	dropped, duplicated, delayed     atomic.Uint64
	overflows                        atomic.Uint64
	_                                [48]byte // keep links' hot counters off each other's cache lines
}

// endpoint is what UDP and Mem share: the link list, the handler, the
// counters, the fault rules and the timers of delayed packets.
type endpoint struct {
	links  []netip.AddrPort
	h      Handler
	stats  []linkCounters
	faults faultSet
	timers timerSet
	closed atomic.Bool
}

func (e *endpoint) init(links []netip.AddrPort, h Handler, opt Options) {
	e.links = links
	e.h = h
	e.stats = make([]linkCounters, len(links))
	e.faults.init(len(links), opt)
	e.timers.init()
}

// Links returns the local link addresses (with the bound ports); the index
// is the link number.
func (e *endpoint) Links() []netip.AddrPort {
	return append([]netip.AddrPort(nil), e.links...)
}

// Stats returns a copy of the counters.
func (e *endpoint) Stats() Stats {
	s := Stats{Links: make([]LinkStats, len(e.stats))}
	for i := range e.stats {
		c := &e.stats[i]
		s.Links[i] = LinkStats{
			Addr:            e.links[i],
			PacketsSent:     c.sent.Load(),
			BytesSent:       c.sentBytes.Load(),
			PacketsReceived: c.recv.Load(),
			BytesReceived:   c.recvBytes.Load(),
			SendErrors:      c.sendErrs.Load(),
			ReadErrors:      c.readErrs.Load(),
			Dropped:         c.dropped.Load(),
			Duplicated:      c.duplicated.Load(),
			Delayed:         c.delayed.Load(),
			Overflows:       c.overflows.Load(),
		}
	}
	return s
}

// AddFault validates f, gives it the next ID and applies it to every packet
// sent or received from now on. It returns ErrFaultsDisabled unless
// Options.FaultInjection is set, and an error wrapping ErrInvalidFault if f
// is not valid.
func (e *endpoint) AddFault(f Fault) (uint64, error) { return e.faults.add(f) }

// Faults returns the active rules, sorted by ID.
func (e *endpoint) Faults() []Fault { return e.faults.list() }

// RemoveFault lifts one rule. An unknown id gives an error wrapping
// ErrUnknownFault.
func (e *endpoint) RemoveFault(id uint64) error { return e.faults.remove(id) }

// ClearFaults lifts every rule. Packets already delayed are still delivered.
func (e *endpoint) ClearFaults() { e.faults.clear() }

// checkSend validates the arguments of Send.
func (e *endpoint) checkSend(link int) error {
	if uint(link) >= uint(len(e.links)) {
		return fmt.Errorf("transport: send on link %d: no such link (have %d)", link, len(e.links))
	}
	if e.closed.Load() {
		return fmt.Errorf("transport: link %d (%s): send: %w", link, e.links[link], net.ErrClosed)
	}
	return nil
}

// sendFaulty applies the outgoing rules to one packet; write puts one copy
// on the wire and takes ownership of nothing. rs is non-nil.
func (e *endpoint) sendFaulty(rs *ruleSet, link int, to netip.AddrPort, data []byte,
	write func(link int, to netip.AddrPort, data []byte) error) error {
	v := e.faults.judge(rs, link, to.Addr(), Out)
	c := &e.stats[link]
	if v.drop {
		c.dropped.Add(1)
		return nil
	}
	n := 1
	if v.dup {
		c.duplicated.Add(1)
		n = 2
	}
	if v.delay > 0 {
		c.delayed.Add(1)
		buf := append([]byte(nil), data...)
		e.timers.after(v.delay, func() {
			for range n {
				_ = write(link, to, buf)
			}
		})
		return nil
	}
	var err error
	for range n {
		if werr := write(link, to, data); werr != nil {
			err = werr
		}
	}
	return err
}

// receive hands one packet read from a link to the handler, through the
// incoming rules if there are any. data is owned by the callee.
func (e *endpoint) receive(link int, from netip.AddrPort, data []byte) {
	c := &e.stats[link]
	c.recv.Add(1)
	c.recvBytes.Add(uint64(len(data)))
	if rs := e.faults.active(); rs != nil {
		e.receiveFaulty(rs, link, from, data)
		return
	}
	e.h(Packet{Link: link, From: from, Data: data})
}

func (e *endpoint) receiveFaulty(rs *ruleSet, link int, from netip.AddrPort, data []byte) {
	v := e.faults.judge(rs, link, from.Addr(), In)
	c := &e.stats[link]
	if v.drop {
		c.dropped.Add(1)
		return
	}
	if v.dup {
		c.duplicated.Add(1)
	}
	deliver := func() {
		if v.dup {
			e.h(Packet{Link: link, From: from, Data: append([]byte(nil), data...)})
		}
		e.h(Packet{Link: link, From: from, Data: data})
	}
	if v.delay > 0 {
		c.delayed.Add(1)
		e.timers.after(v.delay, deliver)
		return
	}
	deliver()
}

// timerSet runs delayed deliveries and lets Close cancel the ones not yet
// due and wait for the ones running.
type timerSet struct {
	mu     sync.Mutex
	timers map[*time.Timer]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (s *timerSet) init() { s.timers = make(map[*time.Timer]struct{}) }

// after runs fn after d unless the set is closed first.
func (s *timerSet) after(d time.Duration, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	var t *time.Timer
	// The callback takes s.mu, which is held until t is set and recorded.
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.timers, t)
		closed := s.closed
		s.mu.Unlock()
		defer s.wg.Done()
		if !closed {
			fn()
		}
	})
	s.timers[t] = struct{}{}
}

// close cancels the pending timers and waits for running callbacks.
func (s *timerSet) close() {
	s.mu.Lock()
	s.closed = true
	for t := range s.timers {
		if t.Stop() {
			delete(s.timers, t)
			s.wg.Done()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}
