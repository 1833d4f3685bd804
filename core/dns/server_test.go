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
	s, err := Listen([]string{"127.85.250.1:0"}, r, nil, r.Malformed, Limits{})
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

// TestListenLimits: over its prefix's rate a UDP client gets every 2nd
// response truncated (TC=1, no answer) and the others dropped; a TCP
// connection beyond the cap is not served until another closes.
func TestListenLimits(t *testing.T) {
	r := acting(testInput())
	s, err := Listen([]string{"127.85.250.2:0"}, r, nil, r.Malformed,
		Limits{MaxTCPConns: 2, Rate: 1, Burst: 5, Slip: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	addr := s.Addrs()[0]
	m := new(mdns.Msg)
	m.SetQuestion("web.demo.corral.", mdns.TypeA)
	uc := &mdns.Client{Net: "udp", Timeout: 300 * time.Millisecond}
	var full, tc, lost int
	for i := 0; i < 20; i++ {
		in, _, err := uc.Exchange(m, addr)
		switch {
		case err != nil:
			lost++
		case in.Truncated && len(in.Answer) == 0:
			tc++
		case len(in.Answer) == 1:
			full++
		}
	}
	// 5 from the burst, at most a few refilled at 1/s over the test's
	// dropped-query timeouts (300 ms each)
	if full < 5 || full > 9 || tc < 4 || lost < 4 || s.RateLimited() != uint64(tc+lost) {
		t.Errorf("20 queries: %d answered, %d TC, %d dropped, %d counted; want 5..9 answered, the rest half TC half dropped", full, tc, lost, s.RateLimited())
	}

	tcpAsk := func(c net.Conn) error {
		co := &mdns.Conn{Conn: c}
		_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		if err := co.WriteMsg(m); err != nil {
			return err
		}
		_, err := co.ReadMsg()
		return err
	}
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i := 0; i < 2; i++ {
		if err := tcpAsk(conns[i]); err != nil {
			t.Fatalf("TCP connection %d of 2: %v", i+1, err)
		}
	}
	// the 3rd waits in the accept queue: its query is read once a slot frees
	co := &mdns.Conn{Conn: conns[2]}
	_ = conns[2].SetDeadline(time.Now().Add(500 * time.Millisecond))
	if err := co.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	if _, err := co.ReadMsg(); err == nil {
		t.Fatal("a 3rd TCP connection was served with a cap of 2")
	}
	conns[0].Close()
	_ = conns[2].SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := co.ReadMsg(); err != nil {
		t.Fatalf("the 3rd TCP connection was not served after one closed: %v", err)
	}
}
