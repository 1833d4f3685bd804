package dns

import (
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TestListenUDPAndTCP serves the test zone on a real socket and asks over
// UDP and TCP; a response packet sent to the server is dropped and counted.
func TestListenUDPAndTCP(t *testing.T) {
	r := acting(testInput())
	s, err := Listen([]string{"127.85.250.1:0"}, r, nil, r.Malformed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	addr := s.Addrs()[0]
	for _, netw := range []string{"udp", "tcp"} {
		c := &mdns.Client{Net: netw, Timeout: 2 * time.Second}
		m := new(mdns.Msg)
		m.SetQuestion("web.demo.corral.", mdns.TypeA)
		var in *mdns.Msg
		deadline := time.Now().Add(5 * time.Second)
		for {
			in, _, err = c.Exchange(m, addr)
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", netw, err)
		}
		if len(in.Answer) != 1 || in.Answer[0].(*mdns.A).A.String() != "127.85.0.2" {
			t.Fatalf("%s: answer %v", netw, in.Answer)
		}
	}
	// a response sent to the server: dropped, counted
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := new(mdns.Msg)
	m.SetQuestion("demo.corral.", mdns.TypeA)
	m.Response = true
	b, _ := m.Pack()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte{1, 2, 3}); err != nil { // too short for a header
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Malformed < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("malformed = %d, want 2", r.Stats().Malformed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
