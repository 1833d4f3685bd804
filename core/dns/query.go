package dns

import (
	"fmt"
	"net"
	"strings"

	mdns "github.com/miekg/dns"
)

// Answer is one query's reply as the admin API shows it.
type Answer struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Rcode     string   `json:"rcode"`
	Truncated bool     `json:"truncated,omitempty"`
	Answer    []Record `json:"answer"`
	Authority []Record `json:"authority"`
	Extra     []Record `json:"extra"`
	// Reason says why this node answers SERVFAIL.
	Reason string `json:"reason,omitempty"`
}

// ParseType reads a record type ("A", "aaaa", "SRV", "TYPE65"); empty
// is A.
func ParseType(s string) (uint16, error) {
	if s == "" {
		return mdns.TypeA, nil
	}
	u := strings.ToUpper(s)
	if t, ok := mdns.StringToType[u]; ok {
		return t, nil
	}
	var n uint16
	if _, err := fmt.Sscanf(u, "TYPE%d", &n); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("dns: %q is not a record type: use A, AAAA, SRV, NS, SOA, ANY or TYPEn", s)
}

// Query asks h one question in process, as a client over TCP would (no
// truncation), and returns the reply. name may omit the trailing dot.
func Query(h Handler, name, qtype string) (Answer, error) {
	t, err := ParseType(qtype)
	if err != nil {
		return Answer{}, err
	}
	if _, ok := mdns.IsDomainName(name); !ok || name == "" {
		return Answer{}, fmt.Errorf("dns: %q is not a domain name", name)
	}
	req := new(mdns.Msg)
	req.SetQuestion(mdns.Fqdn(name), t)
	rec := &Recorder{Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
	Serve(h, rec, req)
	if rec.Msg == nil {
		return Answer{}, fmt.Errorf("dns: no reply to %s %s", name, mdns.TypeToString[t])
	}
	a := Answer{Name: req.Question[0].Name, Type: mdns.TypeToString[t], Rcode: mdns.RcodeToString[rec.Msg.Rcode], Truncated: rec.Msg.Truncated,
		Answer: []Record{}, Authority: []Record{}, Extra: []Record{}}
	for _, rr := range rec.Msg.Answer {
		a.Answer = append(a.Answer, toRecord(rr))
	}
	for _, rr := range rec.Msg.Ns {
		a.Authority = append(a.Authority, toRecord(rr))
	}
	for _, rr := range rec.Msg.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			a.Extra = append(a.Extra, toRecord(rr))
		}
	}
	if r, ok := h.(*Responder); ok && rec.Msg.Rcode == mdns.RcodeServerFailure {
		_, a.Reason = r.Zone().Serving()
	}
	return a, nil
}

// Recorder is a ResponseWriter that keeps the message written (CoreDNS's
// dnstest.Recorder): for in-process queries and tests.
type Recorder struct {
	Remote net.Addr // RemoteAddr; a *net.TCPAddr means TCP (no truncation)
	Msg    *mdns.Msg
}

// LocalAddr is a fixed loopback address.
func (r *Recorder) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }

// RemoteAddr is Remote, else a UDP loopback address.
func (r *Recorder) RemoteAddr() net.Addr {
	if r.Remote != nil {
		return r.Remote
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

// WriteMsg keeps m (after checking that it packs).
func (r *Recorder) WriteMsg(m *mdns.Msg) error {
	if _, err := m.Pack(); err != nil {
		return err
	}
	r.Msg = m
	return nil
}

// Write unpacks b and keeps it.
func (r *Recorder) Write(b []byte) (int, error) {
	m := new(mdns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	r.Msg = m
	return len(b), nil
}

// Close does nothing.
func (r *Recorder) Close() error { return nil }

// TsigStatus is nil: no TSIG.
func (r *Recorder) TsigStatus() error { return nil }

// TsigTimersOnly does nothing.
func (r *Recorder) TsigTimersOnly(bool) {}

// Hijack does nothing.
func (r *Recorder) Hijack() {}
