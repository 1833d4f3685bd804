package dns

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// testInput is a zone of four nodes (n3 offline, n4 on IPv6) and four
// groups: web online on n2 with an HTTP service, db online on n1 with its
// own address, cold defined but offline (with a service), lost online on a
// node without an address.
func testInput() Input {
	return Input{
		Domain: "demo.corral.", Self: "n1", Serial: 7,
		TTL: 5 * time.Second, NodeTTL: 60 * time.Second, NegTTL: 5 * time.Second,
		Nodes: []Node{
			{Name: "n1", Addr: netip.MustParseAddr("127.85.0.1"), Online: true},
			{Name: "n2", Addr: netip.MustParseAddr("127.85.0.2"), Online: true},
			{Name: "n3", Addr: netip.MustParseAddr("127.85.0.3")},
			{Name: "n4", Addr: netip.MustParseAddr("fd00::4"), Online: true},
		},
		Groups: []Group{
			{Name: "web", Online: true, Owner: "n2", Service: Service{Name: "http", Proto: "tcp", Port: 8080}},
			{Name: "db", Online: true, Owner: "n1", Address: netip.MustParseAddr("10.9.0.9")},
			{Name: "cold", Owner: "n3", Service: Service{Name: "pg", Proto: "tcp", Port: 5432}},
			{Name: "lost", Online: true, Owner: "nobody"},
		},
	}
}

const soaRR = "demo.corral. 5 IN SOA ns-n1.demo.corral. hostmaster.demo.corral. 7 3600 600 86400 5"

// testCase is CoreDNS's test.Case: a query and the reply expected.
type testCase struct {
	qname  string
	qtype  uint16
	rcode  int
	answer []string
	ns     []string
	extra  []string
	// no reply written by ServeDNS (the rcode is left to the server)
	unwritten bool
}

func (tc testCase) msg() *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(tc.qname, tc.qtype)
	return m
}

// check compares a section with the expected records (order ignored).
func check(t *testing.T, what string, got []mdns.RR, want []string) {
	t.Helper()
	var g, w []string
	for _, rr := range got {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		g = append(g, strings.ToLower(rr.String()))
	}
	for _, s := range want {
		rr, err := mdns.NewRR(s)
		if err != nil {
			t.Fatalf("bad expected record %q: %v", s, err)
		}
		w = append(w, strings.ToLower(rr.String()))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s:\n got  %q\n want %q", what, g, w)
	}
}

func run(t *testing.T, h Handler, tcs []testCase) {
	t.Helper()
	for _, tc := range tcs {
		t.Run(fmt.Sprintf("%s/%s", tc.qname, mdns.TypeToString[tc.qtype]), func(t *testing.T) {
			rec := &Recorder{}
			req := tc.msg()
			rcode, err := h.ServeDNS(t.Context(), rec, req)
			if err != nil {
				t.Fatalf("ServeDNS: %v", err)
			}
			if rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[rcode], mdns.RcodeToString[tc.rcode])
			}
			if tc.unwritten {
				if rec.Msg != nil {
					t.Fatalf("ServeDNS wrote a reply for %s; the server should", mdns.RcodeToString[rcode])
				}
				Serve(h, rec, req)
				if rec.Msg == nil || rec.Msg.Rcode != tc.rcode || rec.Msg.Id != req.Id {
					t.Fatalf("Serve's reply %v, want rcode %s", rec.Msg, mdns.RcodeToString[tc.rcode])
				}
				return
			}
			m := rec.Msg
			if m == nil {
				t.Fatal("no reply written")
			}
			if m.Rcode != tc.rcode || !m.Response || m.Id != req.Id || !m.Authoritative || m.RecursionAvailable {
				t.Errorf("header: rcode %s qr %v id %d/%d aa %v ra %v", mdns.RcodeToString[m.Rcode], m.Response, m.Id, req.Id, m.Authoritative, m.RecursionAvailable)
			}
			check(t, "answer", m.Answer, tc.answer)
			check(t, "authority", m.Ns, tc.ns)
			check(t, "extra", m.Extra, tc.extra)
		})
	}
}

func acting(in Input) *Responder {
	r := NewResponder(in.Domain)
	r.Publish(in, Acting, "")
	return r
}

func TestZoneRules(t *testing.T) {
	nx := func(q string, qt uint16) testCase {
		return testCase{qname: q, qtype: qt, rcode: mdns.RcodeNameError, ns: []string{soaRR}}
	}
	nodata := func(q string, qt uint16) testCase {
		return testCase{qname: q, qtype: qt, rcode: mdns.RcodeSuccess, ns: []string{soaRR}}
	}
	run(t, acting(testInput()), []testCase{
		// apex: online members only (n3 is offline), first address only
		{qname: "demo.corral.", qtype: mdns.TypeA, answer: []string{
			"demo.corral. 5 IN A 127.85.0.1", "demo.corral. 5 IN A 127.85.0.2"}},
		{qname: "demo.corral.", qtype: mdns.TypeAAAA, answer: []string{"demo.corral. 5 IN AAAA fd00::4"}},
		// names are case-insensitive (the question keeps its case)
		{qname: "DeMo.CoRrAl.", qtype: mdns.TypeA, answer: []string{
			"demo.corral. 5 IN A 127.85.0.1", "demo.corral. 5 IN A 127.85.0.2"}},
		{qname: "demo.corral.", qtype: mdns.TypeSOA, answer: []string{soaRR}},
		{qname: "demo.corral.", qtype: mdns.TypeNS, answer: []string{
			"demo.corral. 5 IN NS ns-n1.demo.corral.", "demo.corral. 5 IN NS ns-n2.demo.corral.", "demo.corral. 5 IN NS ns-n4.demo.corral."},
			extra: []string{"ns-n1.demo.corral. 5 IN A 127.85.0.1", "ns-n2.demo.corral. 5 IN A 127.85.0.2", "ns-n4.demo.corral. 5 IN AAAA fd00::4"}},
		nodata("demo.corral.", mdns.TypeMX),
		nodata("demo.corral.", mdns.TypeSRV),
		// name servers and nodes
		{qname: "ns-n2.demo.corral.", qtype: mdns.TypeA, answer: []string{"ns-n2.demo.corral. 5 IN A 127.85.0.2"}},
		{qname: "n3.node.demo.corral.", qtype: mdns.TypeA, answer: []string{"n3.node.demo.corral. 60 IN A 127.85.0.3"}},
		{qname: "n4.node.demo.corral.", qtype: mdns.TypeAAAA, answer: []string{"n4.node.demo.corral. 60 IN AAAA fd00::4"}},
		nodata("n4.node.demo.corral.", mdns.TypeA),
		nodata("node.demo.corral.", mdns.TypeA), // empty non-terminal
		nx("n9.node.demo.corral.", mdns.TypeA),
		nx("x.n1.node.demo.corral.", mdns.TypeA),
		// groups: owner's address, own address, offline = NODATA
		{qname: "web.demo.corral.", qtype: mdns.TypeA, answer: []string{"web.demo.corral. 5 IN A 127.85.0.2"}},
		{qname: "db.demo.corral.", qtype: mdns.TypeA, answer: []string{"db.demo.corral. 5 IN A 10.9.0.9"}},
		nodata("web.demo.corral.", mdns.TypeAAAA),
		nodata("cold.demo.corral.", mdns.TypeA),
		nodata("lost.demo.corral.", mdns.TypeA),
		// services
		{qname: "_http._tcp.web.demo.corral.", qtype: mdns.TypeSRV,
			answer: []string{"_http._tcp.web.demo.corral. 5 IN SRV 0 0 8080 web.demo.corral."},
			extra:  []string{"web.demo.corral. 5 IN A 127.85.0.2"}},
		nodata("_tcp.web.demo.corral.", mdns.TypeSRV), // empty non-terminal
		nodata("_http._tcp.web.demo.corral.", mdns.TypeA),
		nodata("_pg._tcp.cold.demo.corral.", mdns.TypeSRV), // offline group's service
		nx("_ssh._tcp.web.demo.corral.", mdns.TypeSRV),
		nx("nope.demo.corral.", mdns.TypeA),
		// ANY: RFC 8482's HINFO; NXDOMAIN still NXDOMAIN
		{qname: "web.demo.corral.", qtype: mdns.TypeANY, answer: []string{`web.demo.corral. 5 IN HINFO "RFC8482" ""`}},
		nx("nope.demo.corral.", mdns.TypeANY),
		// outside the zone, zone transfers: refused (written by the server)
		{qname: "example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused, unwritten: true},
		{qname: "corral.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused, unwritten: true},
		{qname: "xdemo.corral.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused, unwritten: true},
		{qname: "demo.corral.", qtype: mdns.TypeAXFR, rcode: mdns.RcodeRefused, unwritten: true},
		{qname: "demo.corral.", qtype: mdns.TypeIXFR, rcode: mdns.RcodeRefused, unwritten: true},
	})
}

func TestGroupNameCollisions(t *testing.T) {
	in := testInput()
	in.Groups = append(in.Groups, Group{Name: "node", Online: true, Owner: "n1"}, Group{Name: "ns-n1", Online: true, Owner: "n2"},
		Group{Name: "bad.name", Online: true, Owner: "n1"})
	z := Build(in)
	if len(z.Problems) != 4 { // node, ns-n1, bad.name, and lost (no address)
		t.Fatalf("problems %q, want 4", z.Problems)
	}
	run(t, acting(in), []testCase{
		{qname: "ns-n1.demo.corral.", qtype: mdns.TypeA, answer: []string{"ns-n1.demo.corral. 5 IN A 127.85.0.1"}},
		{qname: "node.demo.corral.", qtype: mdns.TypeA, ns: []string{soaRR}},
	})
}

func TestServfailUnlessActing(t *testing.T) {
	in := testInput()
	r := NewResponder(in.Domain)
	sf := []testCase{
		{qname: "demo.corral.", qtype: mdns.TypeA, rcode: mdns.RcodeServerFailure, unwritten: true},
		{qname: "nope.demo.corral.", qtype: mdns.TypeA, rcode: mdns.RcodeServerFailure, unwritten: true},
		// outside the zone is still REFUSED, not SERVFAIL
		{qname: "example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused, unwritten: true},
	}
	t.Run("before the first publish", func(t *testing.T) { run(t, r, sf) })
	r.Publish(in, NotActing, "not in a primary view")
	t.Run("not acting", func(t *testing.T) { run(t, r, sf) })
	if ok, why := r.Zone().Serving(); ok || why != "not in a primary view" {
		t.Fatalf("Serving() = %v %q", ok, why)
	}
	r.Publish(in, Waiting, "")
	t.Run("waiting without a previous primary view", func(t *testing.T) { run(t, r, sf) })
	a, err := Query(r, "demo.corral", "A")
	if err != nil || a.Rcode != "SERVFAIL" || a.Reason == "" {
		t.Fatalf("Query = %+v, %v; want SERVFAIL with a reason", a, err)
	}
}

// TestG2WaitKeepsPreviousAnswers: after a view change the node answers
// from the previous primary view's zone during the takeover wait, then
// switches; passing through a non-primary view forgets it.
func TestG2WaitKeepsPreviousAnswers(t *testing.T) {
	in := testInput()
	r := acting(in)
	three := []string{"demo.corral. 5 IN A 127.85.0.1", "demo.corral. 5 IN A 127.85.0.2"}
	next := testInput()
	next.Nodes[1].Online = false // n2 left
	next.Groups[0].Owner = "n1"
	r.Publish(next, Waiting, "takeover wait")
	run(t, r, []testCase{
		{qname: "demo.corral.", qtype: mdns.TypeA, answer: three},
		{qname: "web.demo.corral.", qtype: mdns.TypeA, answer: []string{"web.demo.corral. 5 IN A 127.85.0.2"}},
	})
	r.Publish(next, Acting, "")
	run(t, r, []testCase{
		{qname: "demo.corral.", qtype: mdns.TypeA, answer: three[:1]},
		{qname: "web.demo.corral.", qtype: mdns.TypeA, answer: []string{"web.demo.corral. 5 IN A 127.85.0.1"}},
	})
	r.Publish(next, NotActing, "minority")
	r.Publish(next, Waiting, "takeover wait")
	run(t, r, []testCase{{qname: "demo.corral.", qtype: mdns.TypeA, rcode: mdns.RcodeServerFailure, unwritten: true}})
}

func TestOpcodesAndMalformed(t *testing.T) {
	r := acting(testInput())
	for _, c := range []struct {
		name  string
		edit  func(m *mdns.Msg)
		rcode int
	}{
		{"notify", func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify }, mdns.RcodeRefused},
		{"update", func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate }, mdns.RcodeRefused},
		{"status", func(m *mdns.Msg) { m.Opcode = mdns.OpcodeStatus }, mdns.RcodeNotImplemented},
		{"no question", func(m *mdns.Msg) { m.Question = nil }, mdns.RcodeFormatError},
		{"two questions", func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) }, mdns.RcodeFormatError},
		{"a response", func(m *mdns.Msg) { m.Response = true }, mdns.RcodeFormatError},
		{"chaos class", func(m *mdns.Msg) { m.Question[0].Qclass = mdns.ClassCHAOS }, mdns.RcodeRefused},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := new(mdns.Msg)
			m.SetQuestion("demo.corral.", mdns.TypeA)
			c.edit(m)
			rec := &Recorder{}
			Serve(r, rec, m)
			if rec.Msg == nil || rec.Msg.Rcode != c.rcode {
				t.Fatalf("reply %v, want %s", rec.Msg, mdns.RcodeToString[c.rcode])
			}
		})
	}
	if got := r.Stats().Malformed; got != 3 {
		t.Fatalf("malformed = %d, want 3", got)
	}
}

func TestEDNS(t *testing.T) {
	in := testInput()
	for i := range 200 { // an apex of 200 online nodes does not fit in 1232 bytes
		in.Nodes = append(in.Nodes, Node{Name: fmt.Sprintf("m%d", i), Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Online: true})
	}
	r := acting(in)
	ask := func(t *testing.T, edns int, tcp bool, version uint8) *mdns.Msg {
		t.Helper()
		m := new(mdns.Msg)
		m.SetQuestion("demo.corral.", mdns.TypeA)
		if edns > 0 {
			m.SetEdns0(uint16(edns), true)
			m.IsEdns0().SetVersion(version)
		}
		rec := &Recorder{}
		if tcp {
			rec.Remote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
		}
		Serve(r, rec, m)
		if rec.Msg == nil {
			t.Fatal("no reply")
		}
		b, err := rec.Msg.Pack()
		if err != nil {
			t.Fatal(err)
		}
		limit := 65535
		if !tcp {
			limit = 512
			if edns > 0 {
				limit = min(max(edns, 512), UDPLimit)
			}
		}
		if len(b) > limit {
			t.Fatalf("reply of %d bytes over the limit %d", len(b), limit)
		}
		return rec.Msg
	}
	for _, c := range []struct {
		name    string
		edns    int
		tcp     bool
		tc      bool
		answers int
	}{
		{"udp without EDNS", 0, false, true, -1},
		{"udp EDNS 4096 capped at 1232", 4096, false, true, -1},
		{"udp EDNS 256 raised to 512", 256, false, true, -1},
		{"tcp", 0, true, false, 202},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := ask(t, c.edns, c.tcp, 0)
			if m.Truncated != c.tc || (c.answers >= 0 && len(m.Answer) != c.answers) {
				t.Fatalf("tc %v answers %d, want tc %v answers %d", m.Truncated, len(m.Answer), c.tc, c.answers)
			}
			if opt := m.IsEdns0(); (opt != nil) != (c.edns > 0) || (opt != nil && opt.UDPSize() != UDPLimit) {
				t.Fatalf("OPT in reply %v for a query with EDNS %d", opt, c.edns)
			}
		})
	}
	t.Run("small answer fits without TC", func(t *testing.T) {
		m := new(mdns.Msg)
		m.SetQuestion("web.demo.corral.", mdns.TypeA)
		rec := &Recorder{}
		Serve(r, rec, m)
		if rec.Msg.Truncated || len(rec.Msg.Answer) != 1 {
			t.Fatalf("reply %v", rec.Msg)
		}
	})
	t.Run("EDNS version 1 is BADVERS", func(t *testing.T) {
		m := ask(t, 1232, false, 1)
		if m.Rcode != mdns.RcodeBadVers || m.IsEdns0() == nil {
			t.Fatalf("rcode %s opt %v", mdns.RcodeToString[m.Rcode], m.IsEdns0())
		}
	})
	if r.Stats().Truncated == 0 {
		t.Fatal("truncations not counted")
	}
}

func TestQuery(t *testing.T) {
	r := acting(testInput())
	a, err := Query(r, "_http._tcp.web.demo.corral", "srv")
	if err != nil {
		t.Fatal(err)
	}
	if a.Rcode != "NOERROR" || len(a.Answer) != 1 || a.Answer[0].Data != "0 0 8080 web.demo.corral." || len(a.Extra) != 1 {
		t.Fatalf("answer %+v", a)
	}
	if _, err := Query(r, "web.demo.corral", "BOGUS"); err == nil || !strings.Contains(err.Error(), "record type") {
		t.Fatalf("bad type: %v", err)
	}
	recs := r.Zone().Records()
	if len(recs) == 0 || recs[0].Name > recs[len(recs)-1].Name {
		t.Fatalf("records %+v", recs)
	}
}
