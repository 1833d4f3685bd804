package transport

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dir is the direction a fault rule applies to.
type Dir uint8

// Directions. Both = In | Out.
const (
	In   Dir = 1 << iota // packets received
	Out                  // packets sent
	Both = In | Out
)

// String returns "in", "out" or "both" (the API's spelling).
func (d Dir) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Dir(%d)", uint8(d))
}

// ParseDir parses "in", "out" or "both".
func ParseDir(s string) (Dir, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "in":
		return In, nil
	case "out":
		return Out, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("transport: direction %q: want in, out or both", s)
}

// MaxFaultDelay bounds Fault.Delay.
const MaxFaultDelay = time.Minute

// Fault is one fault injection rule. A packet matches it when its local link
// is Link (or Link is -1), its peer's IP address is in Peer (or Peer is
// empty) and its direction is in Dir. Outgoing packets are matched on
// (local link, destination IP), incoming ones on (arrival link, source IP).
//
// When several rules match one packet: it is dropped if any rule's drop
// roll says so; otherwise it is duplicated (once: two copies in all) if any
// rule's dup roll says so, and delayed by the largest Delay of the matching
// rules (delays take the maximum, they do not add). Both copies of a
// duplicated packet share the delay. Each rule rolls independently.
type Fault struct {
	ID    uint64        // assigned by AddFault; ignored on input
	Peer  []netip.Addr  // the peer's addresses (one node's link IPs); empty = every peer
	Link  int           // local link index; -1 = every link
	Dir   Dir           // In, Out or Both
	Drop  float64       // probability of dropping a packet, 0..1
	Delay time.Duration // added latency, 0..MaxFaultDelay
	Dup   float64       // probability of delivering a packet twice, 0..1
}

// Errors of the fault injection API.
var (
	// ErrFaultsDisabled: the transport was opened without
	// Options.FaultInjection.
	ErrFaultsDisabled = errors.New("transport: fault injection is disabled; set [debug] fault_injection = true in the node's config to use it")
	// ErrInvalidFault wraps every validation error of AddFault.
	ErrInvalidFault = errors.New("invalid fault")
	// ErrUnknownFault: RemoveFault was given an id no active rule has.
	ErrUnknownFault = errors.New("no such fault")
)

// validate checks f against a transport with nlinks links.
func (f *Fault) validate(nlinks int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("transport: %w: %s", ErrInvalidFault, fmt.Sprintf(format, args...))
	}
	if f.Link < -1 || f.Link >= nlinks {
		return bad("link %d: want -1 (all links) or 0..%d", f.Link, nlinks-1)
	}
	if f.Dir != In && f.Dir != Out && f.Dir != Both {
		return bad("dir %v: want in, out or both", f.Dir)
	}
	if !(f.Drop >= 0 && f.Drop <= 1) { // also rejects NaN
		return bad("drop %v: want a probability in [0, 1]", f.Drop)
	}
	if !(f.Dup >= 0 && f.Dup <= 1) {
		return bad("dup %v: want a probability in [0, 1]", f.Dup)
	}
	if f.Delay < 0 || f.Delay > MaxFaultDelay {
		return bad("delay %v: want 0..%v", f.Delay, MaxFaultDelay)
	}
	if f.Drop == 0 && f.Dup == 0 && f.Delay == 0 {
		return bad("it does nothing: set drop, delay or dup")
	}
	for _, a := range f.Peer {
		if !a.IsValid() {
			return bad("peer address is not set")
		}
	}
	return nil
}

func (f *Fault) matches(link int, peer netip.Addr, dir Dir) bool {
	if f.Dir&dir == 0 || (f.Link != -1 && f.Link != link) {
		return false
	}
	if len(f.Peer) == 0 {
		return true
	}
	for _, a := range f.Peer {
		if a == peer {
			return true
		}
	}
	return false
}

func (f Fault) clone() Fault {
	f.Peer = slices.Clone(f.Peer)
	return f
}

// ruleSet is an immutable list of rules sorted by ID; it is replaced whole.
type ruleSet struct {
	rules []Fault
}

// faultSet holds a transport's rules. The packet path reads the rule set
// through an atomic pointer, nil when there are no rules, so without faults
// it takes no lock. mu guards changes and the random source.
type faultSet struct {
	enabled bool
	nlinks  int
	rules   atomic.Pointer[ruleSet]

	mu     sync.Mutex
	rng    *rand.Rand
	nextID uint64
}

func (s *faultSet) init(nlinks int, opt Options) {
	s.enabled = opt.FaultInjection
	s.nlinks = nlinks
	seed := opt.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:]) // never fails (Go 1.24+)
		seed = binary.LittleEndian.Uint64(b[:])
	}
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// active returns the current rules, nil when there are none.
func (s *faultSet) active() *ruleSet { return s.rules.Load() }

func (s *faultSet) add(f Fault) (uint64, error) {
	if !s.enabled {
		return 0, ErrFaultsDisabled
	}
	if err := f.validate(s.nlinks); err != nil {
		return 0, err
	}
	f = f.clone()
	for i, a := range f.Peer {
		f.Peer[i] = a.Unmap().WithZone("")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	f.ID = s.nextID
	var rules []Fault
	if rs := s.rules.Load(); rs != nil {
		rules = slices.Clone(rs.rules)
	}
	s.rules.Store(&ruleSet{rules: append(rules, f)}) // IDs grow: stays sorted
	return f.ID, nil
}

func (s *faultSet) list() []Fault {
	rs := s.rules.Load()
	if rs == nil {
		return nil
	}
	out := make([]Fault, len(rs.rules))
	for i, f := range rs.rules {
		out[i] = f.clone()
	}
	return out
}

func (s *faultSet) remove(id uint64) error {
	if !s.enabled {
		return ErrFaultsDisabled
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.rules.Load()
	var i int
	if rs != nil {
		i = slices.IndexFunc(rs.rules, func(f Fault) bool { return f.ID == id })
	}
	if rs == nil || i < 0 {
		return fmt.Errorf("transport: fault %d: %w", id, ErrUnknownFault)
	}
	rules := slices.Delete(slices.Clone(rs.rules), i, i+1)
	if len(rules) == 0 {
		s.rules.Store(nil)
	} else {
		s.rules.Store(&ruleSet{rules: rules})
	}
	return nil
}

func (s *faultSet) clear() {
	s.mu.Lock()
	s.rules.Store(nil)
	s.mu.Unlock()
}

// verdict is what the rules decided for one packet.
type verdict struct {
	drop  bool
	dup   bool
	delay time.Duration
}

// judge applies the rules of rs to one packet. It takes the lock only when
// a matching rule needs a random roll (a probability strictly between 0 and
// 1).
func (s *faultSet) judge(rs *ruleSet, link int, peer netip.Addr, dir Dir) verdict {
	var v verdict
	peer = peer.Unmap().WithZone("")
	locked := false
	for i := range rs.rules {
		f := &rs.rules[i]
		if !f.matches(link, peer, dir) {
			continue
		}
		v.delay = max(v.delay, f.Delay)
		if !v.drop && s.roll(f.Drop, &locked) {
			v.drop = true
		}
		if !v.dup && s.roll(f.Dup, &locked) {
			v.dup = true
		}
	}
	if locked {
		s.mu.Unlock()
	}
	return v
}

func (s *faultSet) roll(p float64, locked *bool) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	if !*locked {
		s.mu.Lock()
		*locked = true
	}
	return s.rng.Float64() < p
}
