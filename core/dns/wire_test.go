package dns

import (
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestPackedRepliesMatchGeneralPath: for every name of the test zone, every
// type, with and without EDNS, in lower and mixed case, the packed reply
// decodes to the message the general path builds.
func TestPackedRepliesMatchGeneralPath(t *testing.T) {
	z := Build(testInput())
	if len(z.wire) == 0 {
		t.Fatal("no packed replies")
	}
	hits := 0
	for name, e := range z.names {
		for _, qt := range []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeNS, mdns.TypeSOA, mdns.TypeSRV, mdns.TypeMX, mdns.TypeANY, mdns.TypeTXT} {
			for _, edns := range []bool{false, true} {
				for _, qname := range []string{name, strings.ToUpper(name[:1]) + name[1:]} {
					req := new(mdns.Msg)
					req.SetQuestion(qname, qt)
					req.Id = 4242
					req.RecursionDesired = qt%2 == 0
					req.CheckingDisabled = edns
					if edns {
						req.SetEdns0(4096, true)
					}
					b := z.packed(req, name, e, edns, UDPLimit)
					if b == nil {
						continue
					}
					hits++
					got := new(mdns.Msg)
					if err := got.Unpack(b); err != nil {
						t.Fatalf("%s %d: packed reply does not unpack: %v", qname, qt, err)
					}
					want := z.answer(req, name, e)
					wb, err := want.Pack()
					if err != nil {
						t.Fatal(err)
					}
					w := new(mdns.Msg)
					if err := w.Unpack(wb); err != nil {
						t.Fatal(err)
					}
					if g, ws := strings.ToLower(got.String()), strings.ToLower(w.String()); g != ws {
						t.Fatalf("%s %s edns %v:\npacked:\n%s\ngeneral:\n%s", qname, mdns.TypeToString[qt], edns, g, ws)
					}
					if got.Question[0].Name != qname {
						t.Fatalf("question name %q, want the query's %q", got.Question[0].Name, qname)
					}
				}
			}
		}
	}
	if hits < 100 {
		t.Fatalf("only %d packed replies used", hits)
	}
}

func BenchmarkServeDNS(b *testing.B) {
	r := acting(testInput())
	req := new(mdns.Msg)
	req.SetQuestion("demo.corral.", mdns.TypeA)
	w := &discard{}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.ServeDNS(b.Context(), w, req)
	}
}

// discard is a ResponseWriter that packs and drops.
type discard struct{ Recorder }

func (d *discard) WriteMsg(m *mdns.Msg) error  { _, err := m.Pack(); return err }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
