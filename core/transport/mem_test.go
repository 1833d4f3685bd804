package transport

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestMemNetwork(t *testing.T) {
	n := NewMemNetwork()
	ip := netip.MustParseAddr("10.1.0.1")
	fixed := netip.AddrPortFrom(ip, 5420)
	sa := &sink{}
	a, err := n.Listen([]netip.AddrPort{fixed, netip.AddrPortFrom(ip, 0), netip.AddrPortFrom(ip, 0)}, sa.handle, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	l := a.Links()
	if l[0] != fixed || l[1].Port() == 0 || l[2].Port() == 0 || l[1] == l[2] {
		t.Errorf("links %v: want %s and two distinct assigned ports", l, fixed)
	}

	// An address in use is refused, and the links bound before are freed.
	other := netip.MustParseAddrPort("10.1.0.2:5420")
	if _, err := n.Listen([]netip.AddrPort{other, fixed}, sa.handle, Options{}); err == nil ||
		!strings.Contains(err.Error(), "link 1 (10.1.0.1:5420): address already in use") {
		t.Errorf("listen on an address in use: %v", err)
	}
	sb := &sink{}
	b, err := n.Listen([]netip.AddrPort{other}, sb.handle, Options{})
	if err != nil {
		t.Fatalf("address of a failed listen not freed: %v", err)
	}

	// Unknown destination: lost, no error.
	if err := b.Send(0, netip.MustParseAddrPort("10.9.9.9:1"), []byte("void")); err != nil {
		t.Errorf("send to nobody: %v", err)
	}
	// A mapped destination reaches the IPv4 owner.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(ip.As16()), 5420)
	send(t, b, 0, mapped, "mapped")
	eventually(t, "mapped packet", func() bool { return sa.count(nil) == 1 })

	// After Close the addresses are free again and nothing is delivered.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	send(t, b, 0, fixed, "to closed")
	sc := &sink{}
	c, err := n.Listen([]netip.AddrPort{fixed}, sc.handle, Options{})
	if err != nil {
		t.Fatalf("reusing a closed transport's address: %v", err)
	}
	defer c.Close()
	send(t, b, 0, fixed, "to new owner")
	eventually(t, "packet at the new owner", func() bool { return sc.count(nil) == 1 })
	if sa.count(nil) != 1 {
		t.Errorf("closed transport got %d packets, want 1", sa.count(nil))
	}
}

// TestMemOverflow: a receiver whose handler is stuck loses packets past its
// queue, and Send does not block.
func TestMemOverflow(t *testing.T) {
	n := NewMemNetwork()
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	a, err := n.Listen([]netip.AddrPort{netip.MustParseAddrPort("10.1.0.1:1")}, func(Packet) {
		if first {
			first = false
			close(entered)
			<-release
		}
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := n.Listen([]netip.AddrPort{netip.MustParseAddrPort("10.1.0.2:1")}, func(Packet) {}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	to := a.Links()[0]
	send(t, b, 0, to, "block")
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
	}
	for range MemQueueLen + 5 {
		send(t, b, 0, to, "x")
	}
	if o := a.Stats().Links[0].Overflows; o != 5 {
		t.Errorf("overflows %d, want 5", o)
	}
	close(release)
	eventually(t, "queue drained", func() bool { return a.Stats().Links[0].PacketsReceived == MemQueueLen+1 })
}
