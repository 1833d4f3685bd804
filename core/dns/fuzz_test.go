package dns

import (
	"net"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzHandler feeds random messages to the responder: every message that
// unpacks gets exactly one reply that packs, carries the query's id, and
// fits the UDP limit; nothing panics. The seed corpus runs in make test.
func FuzzHandler(f *testing.F) {
	seed := func(name string, qt uint16, edit func(m *mdns.Msg)) {
		m := new(mdns.Msg)
		m.SetQuestion(name, qt)
		if edit != nil {
			edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed("demo.corral.", mdns.TypeA, nil)
	seed("web.demo.corral.", mdns.TypeANY, nil)
	seed("_http._tcp.web.demo.corral.", mdns.TypeSRV, func(m *mdns.Msg) { m.SetEdns0(4096, true) })
	seed("demo.corral.", mdns.TypeNS, func(m *mdns.Msg) { m.SetEdns0(100, false) })
	seed("demo.corral.", mdns.TypeAXFR, nil)
	seed("demo.corral.", mdns.TypeSOA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate })
	seed("example.com.", mdns.TypeA, func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) })
	seed("n1.node.demo.corral.", mdns.TypeA, func(m *mdns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(3) })
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1})
	in := testInput()
	r := acting(in)
	refusing := NewResponder(in.Domain)
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(mdns.Msg)
		if err := req.Unpack(b); err != nil {
			return // the server drops it (MsgInvalidFunc) or answers FORMERR from the header
		}
		for _, h := range []*Responder{r, refusing} {
			for _, tcp := range []bool{false, true} {
				rec := &Recorder{}
				if tcp {
					rec.Remote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
				}
				Serve(h, rec, req)
				if rec.Msg == nil {
					t.Fatalf("no reply to %v", req)
				}
				out, err := rec.Msg.Pack()
				if err != nil {
					t.Fatalf("reply does not pack: %v", err)
				}
				if rec.Msg.Id != req.Id || !rec.Msg.Response {
					t.Fatalf("reply id %d qr %v, query id %d", rec.Msg.Id, rec.Msg.Response, req.Id)
				}
				if !tcp && len(out) > UDPLimit {
					t.Fatalf("UDP reply of %d bytes", len(out))
				}
			}
		}
	})
}
