package dns

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	mdns "github.com/miekg/dns"
)

// Handler is CoreDNS's plugin.Handler: ServeDNS answers r on w and
// returns the rcode. SERVFAIL, REFUSED, FORMERR and NOTIMP mean nothing
// was written: the caller (Serve, Query) writes that reply.
type Handler interface {
	ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error)

// ServeDNS calls f.
func (f HandlerFunc) ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
	return f(ctx, w, r)
}

// ClientWrite reports whether a handler that returned rcode wrote the
// reply itself (CoreDNS's rule).
func ClientWrite(rcode int) bool {
	switch rcode {
	case mdns.RcodeServerFailure, mdns.RcodeRefused, mdns.RcodeFormatError, mdns.RcodeNotImplemented:
		return false
	}
	return true
}

// UDPLimit is the largest UDP answer (the EDNS buffer size of the 2020
// DNS flag day); larger answers are truncated with TC=1.
const UDPLimit = 1232

// Stats are the responder's counters.
type Stats struct {
	Queries   uint64            `json:"queries"`
	Rcodes    map[string]uint64 `json:"rcodes"`
	Malformed uint64            `json:"malformed"` // dropped or answered FORMERR
	Truncated uint64            `json:"truncated"` // answered with TC=1
}

// Responder is the zone's Handler. Publish swaps its zone; ServeDNS reads
// the current zone with one atomic load.
type Responder struct {
	zone atomic.Pointer[Zone]

	mu     sync.Mutex // serialises Publish
	served *Zone      // the last zone published while acting

	queries   atomic.Uint64
	rcodes    [24]atomic.Uint64
	malformed atomic.Uint64
	truncated atomic.Uint64
}

// NewResponder returns a responder for origin that answers SERVFAIL until
// the first Publish.
func NewResponder(origin string) *Responder {
	r := &Responder{}
	r.zone.Store(Refusing(origin, "starting: no view yet"))
	return r
}

// Standing is how this node stands towards the primary view (G2).
type Standing int

const (
	// NotActing means not in a primary view, or not holding its lease. The
	// zone answers SERVFAIL.
	NotActing Standing = iota
	// Waiting means a view change is running that leads this node into a
	// primary view (it promised to one, or is in the takeover wait of G2
	// after installing one). The zone served in the previous primary view
	// keeps being served; without one, SERVFAIL.
	Waiting
	// Acting means in the primary view, lease held, wait over. The zone built
	// from the input is served.
	Acting
)

// Publish makes the zone for in and st current. reason says why this
// node does not act (for SERVFAIL answers and the API); it is ignored
// when st is Acting.
func (r *Responder) Publish(in Input, st Standing, reason string) *Zone {
	r.mu.Lock()
	defer r.mu.Unlock()
	var z *Zone
	switch {
	case st == Acting:
		z = Build(in)
		r.served = z
	case st == Waiting && r.served != nil:
		z = r.served
	default:
		if st == NotActing {
			// Outside a primary view what was served is forgotten: it may
			// be stale by the time this node acts again.
			r.served = nil
		}
		if reason == "" {
			reason = "this node is not acting as primary (guarantee G2: corral help design)"
		}
		z = Refusing(in.Domain, reason)
	}
	r.zone.Store(z)
	return z
}

// Zone returns the zone being served.
func (r *Responder) Zone() *Zone { return r.zone.Load() }

// Stats returns the counters.
func (r *Responder) Stats() Stats {
	s := Stats{Queries: r.queries.Load(), Malformed: r.malformed.Load(), Truncated: r.truncated.Load(), Rcodes: map[string]uint64{}}
	for i := range r.rcodes {
		if v := r.rcodes[i].Load(); v > 0 {
			s.Rcodes[mdns.RcodeToString[i]] = v
		}
	}
	return s
}

func (r *Responder) count(rcode int) int {
	if rcode >= 0 && rcode < len(r.rcodes) {
		r.rcodes[rcode].Add(1)
	}
	return rcode
}

// ServeDNS answers one query from the current zone.
func (r *Responder) ServeDNS(_ context.Context, w mdns.ResponseWriter, req *mdns.Msg) (int, error) {
	r.queries.Add(1)
	if req.Response || len(req.Question) != 1 {
		r.malformed.Add(1)
		return r.count(mdns.RcodeFormatError), nil
	}
	switch req.Opcode {
	case mdns.OpcodeQuery:
	case mdns.OpcodeNotify, mdns.OpcodeUpdate:
		return r.count(mdns.RcodeRefused), nil
	default:
		return r.count(mdns.RcodeNotImplemented), nil
	}
	opt := req.IsEdns0()
	if opt != nil && opt.Version() != 0 {
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeBadVers)
		m.SetEdns0(UDPLimit, false)
		_ = w.WriteMsg(m)
		return r.count(mdns.RcodeBadVers), nil
	}
	q := req.Question[0]
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		return r.count(mdns.RcodeRefused), nil
	}
	name := lower(q.Name)
	z := r.zone.Load()
	if !z.inZone(name) {
		return r.count(mdns.RcodeRefused), nil
	}
	if q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR {
		return r.count(mdns.RcodeRefused), nil
	}
	if !z.serve {
		return r.count(mdns.RcodeServerFailure), nil
	}
	size := mdns.MaxMsgSize
	if isUDP(w) {
		size = mdns.MinMsgSize
		if opt != nil {
			size = min(max(int(opt.UDPSize()), mdns.MinMsgSize), UDPLimit)
		}
	}
	e, ok := z.names[name]
	if ok {
		if b := z.packed(req, name, e, opt != nil, size); b != nil {
			if _, err := w.Write(b); err != nil {
				return r.count(mdns.RcodeSuccess), err
			}
			return r.count(mdns.RcodeSuccess), nil
		}
	}
	m := z.answer(req, name, e)
	if maxLen(m) > size && m.Len() > size {
		m.Truncate(size)
		if m.Truncated {
			r.truncated.Add(1)
		}
	}
	if err := w.WriteMsg(m); err != nil {
		return r.count(m.Rcode), err
	}
	return r.count(m.Rcode), nil
}

// lower returns s in lower case, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func isUDP(w mdns.ResponseWriter) bool {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	return !tcp
}

// reply writes the reply a handler left to its caller (ClientWrite false).
func reply(w mdns.ResponseWriter, req *mdns.Msg, rcode int) {
	m := new(mdns.Msg)
	m.SetRcode(req, rcode)
	if len(req.Question) > 1 {
		m.Question = nil
	}
	if opt := req.IsEdns0(); opt != nil && rcode != mdns.RcodeFormatError {
		m.SetEdns0(UDPLimit, false)
	}
	_ = w.WriteMsg(m)
}

// maxLen bounds m's packed size from above without packing it (Len packs
// with compression, which costs as much as the answer itself).
func maxLen(m *mdns.Msg) int {
	n := 12
	for _, q := range m.Question {
		n += len(q.Name) + 2 + 4
	}
	for _, sec := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			n += len(rr.Header().Name) + 2 + 10
			switch rr := rr.(type) {
			case *mdns.A:
				n += 4
			case *mdns.AAAA:
				n += 16
			case *mdns.NS:
				n += len(rr.Ns) + 2
			case *mdns.SRV:
				n += 6 + len(rr.Target) + 2
			case *mdns.SOA:
				n += len(rr.Ns) + len(rr.Mbox) + 4 + 20
			case *mdns.HINFO:
				n += len(rr.Cpu) + len(rr.Os) + 2
			case *mdns.OPT:
				if len(rr.Option) > 0 {
					return 1 << 16
				}
			default:
				return 1 << 16 // unknown: measure it
			}
		}
	}
	return n
}

// Malformed counts a message dropped or answered FORMERR before it reached
// ServeDNS (Listen's onMalformed).
func (r *Responder) Malformed() { r.malformed.Add(1) }

// inZone reports whether name (lower case, fully qualified) is the origin
// or under it.
func (z *Zone) inZone(name string) bool {
	o := z.origin
	if len(name) == len(o) {
		return name == o
	}
	// a label boundary right before the origin, not escaped ("a\\.demo.")
	return len(name) > len(o) && name[len(name)-len(o):] == o && name[len(name)-len(o)-1] == '.' &&
		(len(name)-len(o) < 2 || name[len(name)-len(o)-2] != '\\')
}
