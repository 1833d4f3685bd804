package dns

import (
	"encoding/binary"

	mdns "github.com/miekg/dns"
)

// Packed replies. Build packs every positive answer and every NODATA
// reply of the zone once, as a whole message whose question is the
// lower-case name; ServeDNS then copies the bytes and writes the query's
// id, RD and CD flags, question name (same length, any case), type and
// class into them, instead of packing a message per query. Compression
// pointers into the question name stay valid whatever its case. NXDOMAIN,
// truncated and unusual replies take the general path.

// wireKey names a packed reply: qtype 0 is the name's NODATA reply.
type wireKey struct {
	name  string
	qtype uint16
	edns  bool
}

// packReplies fills z.wire from z.names.
func (z *Zone) packReplies() {
	z.wire = map[wireKey][]byte{}
	for name, e := range z.names {
		types := []uint16{0, mdns.TypeANY}
		for t := range e.sets {
			types = append(types, t)
		}
		for _, t := range types {
			for _, edns := range []bool{false, true} {
				q := new(mdns.Msg)
				qt := t
				if t == 0 {
					qt = mdns.TypeNone // a type no name has: the NODATA reply
				}
				q.SetQuestion(name, qt)
				if edns {
					q.SetEdns0(UDPLimit, false)
				}
				m := z.answer(q, name, e)
				b, err := m.Pack()
				if err != nil || len(b) > UDPLimit {
					continue // the general path answers (and truncates)
				}
				z.wire[wireKey{name, t, edns}] = b
			}
		}
	}
}

// answer is the reply to q for an existing name (the general path).
func (z *Zone) answer(req *mdns.Msg, name string, e *entry) *mdns.Msg {
	q := req.Question[0]
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Compress = true
	if e == nil {
		m.Rcode = mdns.RcodeNameError
		m.Ns = z.negSOA
	} else if q.Qtype == mdns.TypeANY {
		// RFC 8482 section 4.2: one synthesised HINFO instead of everything
		m.Answer = []mdns.RR{&mdns.HINFO{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeHINFO, Class: mdns.ClassINET, Ttl: z.ttl}, Cpu: "RFC8482"}}
	} else if rrs := e.sets[q.Qtype]; len(rrs) > 0 {
		m.Answer = rrs[:len(rrs):len(rrs)]
		if x := e.extra[q.Qtype]; len(x) > 0 {
			m.Extra = x[:len(x):len(x)]
		}
	} else {
		m.Ns = z.negSOA // NODATA
	}
	if req.IsEdns0() != nil {
		m.SetEdns0(UDPLimit, false)
	}
	return m
}

// packed returns the packed reply to req for name (lower case) that fits
// size, or nil when the general path must answer.
func (z *Zone) packed(req *mdns.Msg, name string, e *entry, edns bool, size int) []byte {
	q := req.Question[0]
	t := q.Qtype
	if t != mdns.TypeANY && len(e.sets[t]) == 0 {
		t = 0
	}
	tpl := z.wire[wireKey{name, t, edns}]
	if tpl == nil || len(tpl) > size || len(q.Name) != len(name) {
		return nil
	}
	out := make([]byte, len(tpl))
	copy(out, tpl)
	binary.BigEndian.PutUint16(out[0:], req.Id)
	out[2] &^= 0x01
	if req.RecursionDesired {
		out[2] |= 0x01
	}
	out[3] &^= 0x10
	if req.CheckingDisabled {
		out[3] |= 0x10
	}
	// the question: labels of q.Name, then type and class
	off := 12
	start := 0
	for i := 0; i < len(q.Name); i++ {
		c := q.Name[i]
		if c == '\\' {
			return nil // escaped names take the general path
		}
		if c != '.' {
			continue
		}
		l := i - start
		if l == 0 || l > 63 || off+1+l > len(out) || int(out[off]) != l {
			return nil
		}
		off++
		copy(out[off:], q.Name[start:i])
		off += l
		start = i + 1
	}
	if off >= len(out) || out[off] != 0 || off+5 > len(out) {
		return nil
	}
	binary.BigEndian.PutUint16(out[off+1:], q.Qtype)
	binary.BigEndian.PutUint16(out[off+3:], q.Qclass)
	return out
}
