package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// node is what the tests need of either implementation.
type node interface {
	Transport
	FaultInjector
	Stats() Stats
}

// impl opens transports of one implementation. newNet is called once per
// test; the function it returns opens transports on that test's network.
type impl struct {
	name   string
	newNet func(t *testing.T) func(links []netip.AddrPort, h Handler, opt Options) (node, error)
}

var impls = []impl{
	{"udp", func(t *testing.T) func([]netip.AddrPort, Handler, Options) (node, error) {
		return func(links []netip.AddrPort, h Handler, opt Options) (node, error) {
			u, err := ListenUDP(links, h, opt)
			if err != nil {
				return nil, err
			}
			return u, nil
		}
	}},
	{"mem", func(t *testing.T) func([]netip.AddrPort, Handler, Options) (node, error) {
		n := NewMemNetwork()
		return func(links []netip.AddrPort, h Handler, opt Options) (node, error) {
			m, err := n.Listen(links, h, opt)
			if err != nil {
				return nil, err
			}
			return m, nil
		}
	}},
}

// forEach runs f as a subtest for each implementation.
func forEach(t *testing.T, f func(t *testing.T, open opener)) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			listen := im.newNet(t)
			f(t, opener{t: t, listen: listen, name: im.name})
		})
	}
}

type opener struct {
	t      *testing.T
	listen func([]netip.AddrPort, Handler, Options) (node, error)
	name   string
}

var faultsOn = Options{FaultInjection: true, Seed: 1}

// open starts a transport with one link per ip (port 0) and a sink that
// records what it receives; the transport is closed at cleanup.
func (o opener) open(opt Options, ips ...string) (node, *sink) {
	o.t.Helper()
	if len(ips) == 0 {
		ips = []string{"127.0.0.1", "127.0.0.1"}
	}
	links := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		links[i] = netip.AddrPortFrom(netip.MustParseAddr(ip), 0)
	}
	s := &sink{}
	n, err := o.listen(links, s.handle, opt)
	if err != nil {
		if o.name == "udp" && strings.Contains(err.Error(), "assign requested address") {
			o.t.Skipf("cannot bind %v on this host: %v", ips, err)
		}
		o.t.Fatal(err)
	}
	o.t.Cleanup(func() { _ = n.Close() })
	return n, s
}

// sink records packets. If echo is set, it is called (outside the lock)
// for every packet too.
type sink struct {
	mu   sync.Mutex
	pkts []rcvd
	echo func(Packet)
}

type rcvd struct {
	Packet
	at time.Time
}

func (s *sink) handle(p Packet) {
	s.mu.Lock()
	s.pkts = append(s.pkts, rcvd{p, time.Now()})
	echo := s.echo
	s.mu.Unlock()
	if echo != nil {
		echo(p)
	}
}

func (s *sink) setEcho(f func(Packet)) {
	s.mu.Lock()
	s.echo = f
	s.mu.Unlock()
}

func (s *sink) all() []rcvd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rcvd(nil), s.pkts...)
}

// count returns how many packets satisfy keep (all if keep is nil).
func (s *sink) count(keep func(Packet) bool) int {
	n := 0
	for _, p := range s.all() {
		if keep == nil || keep(p.Packet) {
			n++
		}
	}
	return n
}

// find returns the first packet whose data is data.
func (s *sink) find(data string) (rcvd, bool) {
	for _, p := range s.all() {
		if string(p.Data) == data {
			return p, true
		}
	}
	return rcvd{}, false
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func fromLink(addr netip.AddrPort) func(Packet) bool {
	return func(p Packet) bool { return p.From == addr }
}

func onLink(link int) func(Packet) bool {
	return func(p Packet) bool { return p.Link == link }
}

func send(t *testing.T, n node, link int, to netip.AddrPort, data string) {
	t.Helper()
	if err := n.Send(link, to, []byte(data)); err != nil {
		t.Fatalf("send %q on link %d to %s: %v", data, link, to, err)
	}
}

func TestRoundTrip(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, sa := o.open(Options{})
		b, sb := o.open(Options{})
		sb.setEcho(func(p Packet) {
			if err := b.Send(p.Link, p.From, append([]byte("re:"), p.Data...)); err != nil {
				t.Errorf("echo: %v", err)
			}
		})
		al, bl := a.Links(), b.Links()
		for i, l := range append(al, bl...) {
			if l.Port() == 0 || l.Addr() != netip.MustParseAddr("127.0.0.1") {
				t.Fatalf("link %d: address %s, want 127.0.0.1 with a bound port", i, l)
			}
		}
		for i := range al {
			for j := range bl {
				send(t, a, i, bl[j], fmt.Sprintf("%d->%d", i, j))
			}
		}
		eventually(t, "4 echoes at a", func() bool { return sa.count(nil) == 4 })
		for i := range al {
			for j := range bl {
				msg := fmt.Sprintf("%d->%d", i, j)
				p, ok := sb.find(msg)
				if !ok {
					t.Fatalf("b did not get %q", msg)
				}
				if p.Link != j || p.From != al[i] {
					t.Errorf("b got %q on link %d from %s, want link %d from %s", msg, p.Link, p.From, j, al[i])
				}
				p, ok = sa.find("re:" + msg)
				if !ok {
					t.Fatalf("a did not get the echo of %q", msg)
				}
				if p.Link != i || p.From != bl[j] {
					t.Errorf("a got echo of %q on link %d from %s, want link %d from %s", msg, p.Link, p.From, i, bl[j])
				}
			}
		}
		if n := sb.count(nil); n != 4 {
			t.Errorf("b got %d packets, want 4", n)
		}
	})
}

// TestDataOwnership: the sender may reuse its buffer after Send, and a
// packet's Data is not overwritten by later packets.
func TestDataOwnership(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, _ := o.open(Options{})
		b, sb := o.open(Options{})
		const n = 200
		buf := make([]byte, 32)
		for i := range n {
			copy(buf, fmt.Sprintf("packet %04d %s", i, strings.Repeat(".", 20)))
			if err := a.Send(i%2, b.Links()[i%2], buf); err != nil {
				t.Fatal(err)
			}
			for k := range buf {
				buf[k] = 'x'
			}
		}
		// Loopback may lose packets under load; most must arrive.
		eventually(t, "packets at b", func() bool { return sb.count(nil) >= n*9/10 })
		seen := map[string]bool{}
		for _, p := range sb.all() {
			s := string(p.Data)
			if len(s) != 32 || !strings.HasPrefix(s, "packet ") || strings.Contains(s, "x") || seen[s] {
				t.Fatalf("bad or repeated packet %q", s)
			}
			seen[s] = true
		}
	})
}

func TestClose(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, sa := o.open(Options{})
		b, _ := o.open(Options{})
		bl := b.Links()
		send(t, b, 0, a.Links()[0], "before")
		eventually(t, "packet before close", func() bool { return sa.count(nil) == 1 })

		var mu sync.Mutex
		closed := false
		sa.setEcho(func(p Packet) {
			mu.Lock()
			defer mu.Unlock()
			if closed {
				t.Errorf("handler called after Close returned: %q", p.Data)
			}
		})
		if err := a.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		mu.Lock()
		closed = true
		mu.Unlock()
		if err := a.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
		err := a.Send(0, bl[0], []byte("after"))
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("send after close: %v, want net.ErrClosed", err)
		}
		if err := b.Send(0, a.Links()[0], []byte("to closed")); err != nil && o.name == "mem" {
			t.Errorf("send to a closed mem transport: %v, want nil (lost)", err)
		}
		// b still works.
		c, sc := o.open(Options{})
		send(t, b, 1, c.Links()[0], "still up")
		eventually(t, "packet from b", func() bool { return sc.count(nil) == 1 })
		if n := sa.count(nil); n != 1 {
			t.Errorf("a received %d packets, want 1", n)
		}
	})
}

// TestCloseWaitsForHandler: Close does not return while a handler runs.
func TestCloseWaitsForHandler(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		entered, release := make(chan struct{}), make(chan struct{})
		a, sa := o.open(Options{})
		var once sync.Once
		sa.setEcho(func(Packet) {
			once.Do(func() {
				close(entered)
				<-release
			})
		})
		b, _ := o.open(Options{})
		send(t, b, 0, a.Links()[0], "block")
		<-entered
		done := make(chan error)
		go func() { done <- a.Close() }()
		select {
		case <-done:
			t.Fatal("Close returned while the handler was running")
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestCloseCancelsDelayed: Close does not wait for delayed packets, and they
// are not delivered.
func TestCloseCancelsDelayed(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, sa := o.open(faultsOn)
		b, sb := o.open(faultsOn)
		c, _ := o.open(Options{})
		if _, err := a.AddFault(Fault{Link: -1, Dir: In, Delay: MaxFaultDelay}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.AddFault(Fault{Link: -1, Dir: Out, Delay: MaxFaultDelay}); err != nil {
			t.Fatal(err)
		}
		send(t, c, 0, a.Links()[0], "held by a")
		send(t, b, 1, c.Links()[1], "held by b")
		eventually(t, "a packet delayed at a", func() bool { return a.Stats().Total().Delayed == 1 })
		if d := b.Stats().Total().Delayed; d != 1 {
			t.Fatalf("b delayed %d packets, want 1", d)
		}
		start := time.Now()
		for _, n := range []node{a, b} {
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Close took %v: it waited for delayed packets", d)
		}
		if n, m := sa.count(nil), sb.count(nil); n+m != 0 {
			t.Errorf("a got %d, b got %d packets, want none", n, m)
		}
	})
}

func TestStats(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, _ := o.open(Options{})
		b, sb := o.open(Options{})
		al, bl := a.Links(), b.Links()
		for range 3 {
			send(t, a, 0, bl[1], "0123456789")
		}
		for range 2 {
			send(t, a, 1, bl[0], "abcdefg")
		}
		eventually(t, "5 packets at b", func() bool { return sb.count(nil) == 5 })
		sta, stb := a.Stats(), b.Stats()
		want := func(who string, got, want LinkStats) {
			t.Helper()
			if got != want {
				t.Errorf("%s: got %+v, want %+v", who, got, want)
			}
		}
		want("a link 0", sta.Links[0], LinkStats{Addr: al[0], PacketsSent: 3, BytesSent: 30})
		want("a link 1", sta.Links[1], LinkStats{Addr: al[1], PacketsSent: 2, BytesSent: 14})
		want("b link 0", stb.Links[0], LinkStats{Addr: bl[0], PacketsReceived: 2, BytesReceived: 14})
		want("b link 1", stb.Links[1], LinkStats{Addr: bl[1], PacketsReceived: 3, BytesReceived: 30})
		want("a total", sta.Total(), LinkStats{PacketsSent: 5, BytesSent: 44})
		// A copy: changing it changes nothing.
		sta.Links[0].PacketsSent = 99
		if a.Stats().Links[0].PacketsSent != 3 {
			t.Error("Stats returned shared state")
		}
	})
}

// TestHandlerPingPong: handlers that send to each other (and so run Send on
// the reader goroutine) keep going and do not deadlock.
func TestHandlerPingPong(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		const rounds = 1000
		done := make(chan struct{})
		a, sa := o.open(Options{})
		b, sb := o.open(Options{})
		bounce := func(n node) func(Packet) {
			return func(p Packet) {
				k := int(p.Data[0])<<8 | int(p.Data[1])
				if k == rounds {
					close(done)
					return
				}
				k++
				_ = n.Send(p.Link, p.From, []byte{byte(k >> 8), byte(k)})
			}
		}
		sa.setEcho(bounce(a))
		sb.setEcho(bounce(b))
		if err := a.Send(1, b.Links()[1], []byte{0, 0}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("ping-pong stalled after %d+%d packets (loopback loss?)", sa.count(nil), sb.count(nil))
		}
	})
}

func TestSendErrors(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, _ := o.open(Options{})
		for _, link := range []int{-1, 2} {
			if err := a.Send(link, a.Links()[0], []byte("x")); err == nil || !strings.Contains(err.Error(), "no such link") {
				t.Errorf("send on link %d: %v, want no such link", link, err)
			}
		}
		if _, err := o.listen(nil, func(Packet) {}, Options{}); err == nil {
			t.Error("listen with no links: no error")
		}
		if _, err := o.listen(a.Links()[:1], nil, Options{}); err == nil {
			t.Error("listen with nil handler: no error")
		}
		// An address in use fails with the link's number and address, and
		// releases the links already bound.
		free := netip.MustParseAddrPort("127.0.0.1:0")
		_, err := o.listen([]netip.AddrPort{free, a.Links()[1]}, func(Packet) {}, Options{})
		if err == nil {
			t.Fatal("listen on an address in use: no error")
		}
		if want := fmt.Sprintf("transport: link 1 (%s): ", a.Links()[1]); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q, want prefix %q", err, want)
		}
	})
}

func TestFaultsDisabled(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, _ := o.open(Options{})
		_, err := a.AddFault(Fault{Link: -1, Dir: Both, Drop: 1})
		if !errors.Is(err, ErrFaultsDisabled) {
			t.Fatalf("AddFault: %v, want ErrFaultsDisabled", err)
		}
		if !strings.Contains(err.Error(), "[debug] fault_injection = true") {
			t.Errorf("error %q does not say how to enable fault injection", err)
		}
		if err := a.RemoveFault(1); !errors.Is(err, ErrFaultsDisabled) {
			t.Errorf("RemoveFault: %v, want ErrFaultsDisabled", err)
		}
		if f := a.Faults(); len(f) != 0 {
			t.Errorf("Faults: %v", f)
		}
		a.ClearFaults()
	})
}

func TestFaultValidation(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, _ := o.open(faultsOn) // two links
		peer := netip.MustParseAddr("127.0.0.2")
		bad := []struct {
			name string
			f    Fault
			msg  string
		}{
			{"link below -1", Fault{Link: -2, Dir: Both, Drop: 1}, "link -2"},
			{"link past the last", Fault{Link: 2, Dir: Both, Drop: 1}, "link 2"},
			{"no dir", Fault{Link: -1, Drop: 1}, "dir"},
			{"bad dir", Fault{Link: -1, Dir: 4, Drop: 1}, "dir"},
			{"negative drop", Fault{Link: -1, Dir: Both, Drop: -0.1}, "drop"},
			{"drop above 1", Fault{Link: -1, Dir: Both, Drop: 1.5}, "drop"},
			{"NaN drop", Fault{Link: -1, Dir: Both, Drop: nan()}, "drop"},
			{"dup above 1", Fault{Link: -1, Dir: Both, Dup: 2}, "dup"},
			{"negative delay", Fault{Link: -1, Dir: Both, Delay: -time.Millisecond}, "delay"},
			{"delay too long", Fault{Link: -1, Dir: Both, Delay: MaxFaultDelay + 1}, "delay"},
			{"no effect", Fault{Link: -1, Dir: Both}, "does nothing"},
			{"zero peer", Fault{Link: -1, Dir: Both, Drop: 1, Peer: []netip.Addr{{}}}, "peer"},
		}
		for _, c := range bad {
			_, err := a.AddFault(c.f)
			if !errors.Is(err, ErrInvalidFault) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: %v, want ErrInvalidFault mentioning %q", c.name, err, c.msg)
			}
		}
		good := []Fault{
			{ID: 77, Link: -1, Dir: Both, Drop: 1},
			{Link: 0, Dir: In, Dup: 0.5, Peer: []netip.Addr{peer}},
			{Link: 1, Dir: Out, Delay: MaxFaultDelay},
		}
		for i, f := range good {
			id, err := a.AddFault(f)
			if err != nil {
				t.Fatalf("good fault %d: %v", i, err)
			}
			if id != uint64(i+1) {
				t.Errorf("good fault %d: id %d, want %d", i, id, i+1)
			}
		}
		list := a.Faults()
		if len(list) != 3 || list[0].ID != 1 || list[1].ID != 2 || list[2].ID != 3 {
			t.Fatalf("Faults: %+v", list)
		}
		if list[1].Peer[0] != peer || list[1].Dup != 0.5 || list[2].Delay != MaxFaultDelay {
			t.Errorf("Faults lost fields: %+v", list)
		}
		list[1].Peer[0] = netip.MustParseAddr("10.0.0.1")
		if a.Faults()[1].Peer[0] != peer {
			t.Error("Faults returned shared state")
		}
		if err := a.RemoveFault(2); err != nil {
			t.Fatal(err)
		}
		if err := a.RemoveFault(2); !errors.Is(err, ErrUnknownFault) {
			t.Errorf("removing fault 2 twice: %v, want ErrUnknownFault", err)
		}
		if list := a.Faults(); len(list) != 2 || list[0].ID != 1 || list[1].ID != 3 {
			t.Errorf("after remove: %+v", list)
		}
		a.ClearFaults()
		if list := a.Faults(); len(list) != 0 {
			t.Errorf("after clear: %+v", list)
		}
		if err := a.RemoveFault(1); !errors.Is(err, ErrUnknownFault) {
			t.Errorf("removing after clear: %v, want ErrUnknownFault", err)
		}
		if id, _ := a.AddFault(good[0]); id != 4 {
			t.Errorf("id after clear %d, want 4 (ids are not reused)", id)
		}
	})
}

// TestFaultDropOut: dropping outgoing packets on link 0 to a peer cuts that
// link only, in that direction only, until the rule is removed.
func TestFaultDropOut(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, sa := o.open(faultsOn)
		b, sb := o.open(faultsOn)
		al, bl := a.Links(), b.Links()
		id, err := a.AddFault(Fault{Peer: []netip.Addr{bl[0].Addr()}, Link: 0, Dir: Out, Drop: 1})
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			send(t, a, 0, bl[0], "cut")
			send(t, a, 0, bl[1], "cut")
			send(t, a, 1, bl[0], "link 1")
			send(t, a, 1, bl[1], "link 1")
			send(t, b, 0, al[0], "reverse") // In on a is not affected
		}
		eventually(t, "link 1 packets at b", func() bool { return sb.count(nil) == 10 })
		eventually(t, "reverse packets at a", func() bool { return sa.count(nil) == 5 })
		if n := sb.count(fromLink(al[0])); n != 0 {
			t.Errorf("b got %d packets from a's cut link 0", n)
		}
		st := a.Stats().Links[0]
		if st.Dropped != 10 || st.PacketsSent != 0 {
			t.Errorf("a link 0: dropped %d sent %d, want 10 and 0", st.Dropped, st.PacketsSent)
		}
		if err := a.RemoveFault(id); err != nil {
			t.Fatal(err)
		}
		send(t, a, 0, bl[0], "restored")
		eventually(t, "restored link 0", func() bool { _, ok := sb.find("restored"); return ok })
	})
}

// TestFaultDropIn: dropping incoming packets on link 0 from a peer cuts
// that link into this node only.
func TestFaultDropIn(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, sa := o.open(faultsOn)
		b, sb := o.open(faultsOn)
		al, bl := a.Links(), b.Links()
		if _, err := b.AddFault(Fault{Peer: []netip.Addr{al[0].Addr()}, Link: 0, Dir: In, Drop: 1}); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			send(t, a, 0, bl[0], "cut")
			send(t, a, 1, bl[0], "cut")
			send(t, a, 0, bl[1], "link 1")
			send(t, b, 0, al[0], "reverse") // Out on b is not affected
		}
		eventually(t, "drops at b", func() bool { return b.Stats().Links[0].Dropped == 10 })
		eventually(t, "link 1 packets at b", func() bool { return sb.count(nil) == 5 })
		eventually(t, "reverse packets at a", func() bool { return sa.count(nil) == 5 })
		if n := sb.count(onLink(0)); n != 0 {
			t.Errorf("b got %d packets on its cut link 0", n)
		}
		if st := b.Stats().Links[0]; st.PacketsReceived != 10 {
			t.Errorf("b link 0 received %d from the socket, want 10 (dropped after)", st.PacketsReceived)
		}
		b.ClearFaults()
		send(t, a, 0, bl[0], "restored")
		eventually(t, "restored link 0", func() bool { _, ok := sb.find("restored"); return ok })
	})
}

// TestFaultBoth: one rule on b with Dir Both and no peer isolates b.
func TestFaultBoth(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, sa := o.open(faultsOn)
		b, sb := o.open(faultsOn)
		al, bl := a.Links(), b.Links()
		if _, err := b.AddFault(Fault{Link: -1, Dir: Both, Drop: 1}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			send(t, a, i, bl[i], "to b")
			send(t, b, i, al[i], "from b")
		}
		eventually(t, "drops at b", func() bool { return b.Stats().Total().Dropped == 4 })
		if n, m := sa.count(nil), sb.count(nil); n+m != 0 {
			t.Errorf("a got %d, b got %d packets, want none", n, m)
		}
		if st := b.Stats().Total(); st.PacketsSent != 0 || st.PacketsReceived != 2 {
			t.Errorf("b sent %d received %d, want 0 and 2", st.PacketsSent, st.PacketsReceived)
		}
	})
}

// TestFaultPeer: a rule naming one peer leaves the others alone.
func TestFaultPeer(t *testing.T) {
	forEach(t, func(t *testing.T, o opener) {
		a, _ := o.open(faultsOn, "127.0.0.1", "127.0.0.1")
		b, sb := o.open(faultsOn, "127.0.0.1", "127.0.0.1")
		c, sc := o.open(faultsOn, "127.0.0.2", "127.0.0.2")
		cl := c.Links()
		if _, err := a.AddFault(Fault{Peer: []netip.Addr{cl[0].Addr(), cl[1].Addr()}, Link: -1, Dir: Both, Drop: 1}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			send(t, a, i, cl[i], "to c")
			send(t, a, i, b.Links()[i], "to b")
		}
		eventually(t, "packets at b", func() bool { return sb.count(nil) == 2 })
		if n := sc.count(nil); n != 0 {
			t.Errorf("c got %d packets, want 0", n)
		}
		if d := a.Stats().Total().Dropped; d != 2 {
			t.Errorf("a dropped %d, want 2", d)
		}
	})
}

// TestFaultDup: Dup=1 delivers every packet twice, each with its own Data.
func TestFaultDup(t *testing.T) {
	for _, dir := range []Dir{Out, In} {
		t.Run(dir.String(), func(t *testing.T) {
			forEach(t, func(t *testing.T, o opener) {
				a, _ := o.open(faultsOn)
				b, sb := o.open(faultsOn)
				bl := b.Links()
				ruled := a
				if dir == In {
					ruled = b
				}
				if _, err := ruled.AddFault(Fault{Link: -1, Dir: dir, Dup: 1}); err != nil {
					t.Fatal(err)
				}
				for i := range 5 {
					send(t, a, 0, bl[1], fmt.Sprint(i))
				}
				eventually(t, "10 packets at b", func() bool { return sb.count(nil) == 10 })
				ruled.ClearFaults()
				send(t, a, 0, bl[1], "marker") // same path, after the copies
				eventually(t, "marker", func() bool { _, ok := sb.find("marker"); return ok })
				got := sb.all()
				if len(got) != 11 {
					t.Fatalf("b got %d packets, want 10 and the marker", len(got))
				}
				per := map[string]int{}
				for _, p := range got[:10] {
					per[string(p.Data)]++
				}
				for i := range 5 {
					if per[fmt.Sprint(i)] != 2 {
						t.Errorf("packet %d arrived %d times, want 2: %v", i, per[fmt.Sprint(i)], per)
					}
				}
				if st := ruled.Stats().Total(); st.Duplicated != 5 {
					t.Errorf("duplicated %d, want 5", st.Duplicated)
				}
				if dir == Out {
					if st := a.Stats().Links[0]; st.PacketsSent != 11 {
						t.Errorf("a sent %d, want 11", st.PacketsSent)
					}
				} else if st := b.Stats().Links[1]; st.PacketsReceived != 6 {
					t.Errorf("b received %d from the socket, want 6", st.PacketsReceived)
				}
				// The two copies do not share memory.
				var first []byte
				for _, p := range got {
					if string(p.Data) == "0" {
						if first == nil {
							first = p.Data
							continue
						}
						first[0] = 'z'
						if p.Data[0] != '0' {
							t.Error("the copies of a duplicated packet share Data")
						}
					}
				}
			})
		})
	}
}

// TestFaultDelay: a delayed packet arrives at least the delay after Send,
// and neither Send nor the reader waits for it.
func TestFaultDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	for _, dir := range []Dir{Out, In} {
		t.Run(dir.String(), func(t *testing.T) {
			forEach(t, func(t *testing.T, o opener) {
				a, _ := o.open(faultsOn)
				b, sb := o.open(faultsOn)
				bl := b.Links()
				ruled, link := a, 0 // a's link 0 sends to b's link 0
				if dir == In {
					ruled = b
				}
				if _, err := ruled.AddFault(Fault{Link: link, Dir: dir, Delay: delay}); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				send(t, a, 0, bl[0], "slow")
				send(t, a, 1, bl[1], "fast")
				eventually(t, "both packets", func() bool { return sb.count(nil) == 2 })
				got := sb.all()
				if string(got[0].Data) != "fast" {
					t.Errorf("the delayed packet came first: Send or the reader waited for it")
				}
				slow, _ := sb.find("slow")
				if d := slow.at.Sub(start); d < delay {
					t.Errorf("delayed packet arrived after %v, want at least %v", d, delay)
				}
				if slow.Link != 0 || slow.From != a.Links()[0] {
					t.Errorf("delayed packet on link %d from %s", slow.Link, slow.From)
				}
				if st := ruled.Stats().Links[0]; st.Delayed != 1 {
					t.Errorf("delayed count %d, want 1", st.Delayed)
				}
			})
		})
	}
}

func TestParseDir(t *testing.T) {
	for _, d := range []Dir{In, Out, Both} {
		got, err := ParseDir(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDir(%q) = %v, %v", d.String(), got, err)
		}
	}
	if _, err := ParseDir("sideways"); err == nil {
		t.Error("ParseDir(sideways): no error")
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}
