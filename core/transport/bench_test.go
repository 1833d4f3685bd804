package transport

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// BenchmarkRoundTrip measures 64-byte round trips on loopback, each timed on
// its own, and reports their p50 and p99 (p50-ns, p99-ns) so the
// sub-benchmarks of one run can be compared:
//
//   - raw: two net.UDPConn; one echoes from a goroutine, the benchmark
//     writes on the other and reads the reply itself.
//   - rawchan: the same, but the reply is read by a reader goroutine that
//     signals a channel, the hand-off any driver with an event loop makes.
//   - transport: two *UDP; one's handler echoes with Send, the other's
//     handler signals a channel.
//   - transport-inline: two *UDP; the client's handler times the reply and
//     sends the next request itself, so no goroutine hand-off is measured:
//     the same work per round trip as raw, through the transport.
//
// transport-inline/raw is the transport's own overhead; transport/rawchan
// compares the two when both pay the hand-off to a waiting goroutine.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("raw", benchRaw)
	b.Run("rawchan", benchRawChan)
	b.Run("transport", benchTransport)
	b.Run("transport-inline", benchTransportInline)
}

func benchTransportInline(b *testing.B) {
	lo := []netip.AddrPort{loopback}
	var echo *UDP
	echo, err := ListenUDP(lo, func(p Packet) {
		_ = echo.Send(p.Link, p.From, p.Data)
	}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer echo.Close()
	to := echo.Links()[0]
	msg := make([]byte, 64)
	rtts := make([]time.Duration, 0, b.N)
	done := make(chan struct{})
	var client *UDP
	var start time.Time
	client, err = ListenUDP(lo, func(Packet) {
		rtts = append(rtts, time.Since(start))
		if len(rtts) == b.N {
			close(done)
			return
		}
		start = time.Now()
		_ = client.Send(0, to, msg)
	}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	w := newWaiter(b, done)
	b.ReportAllocs()
	b.ResetTimer()
	start = time.Now()
	if err := client.Send(0, to, msg); err != nil {
		b.Fatal(err)
	}
	w.wait(b)
	b.StopTimer()
	reportRTT(b, rtts)
}

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

// udpEcho starts a plain UDP echo server.
func udpEcho(b *testing.B) netip.AddrPort {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	go func() {
		buf := make([]byte, maxDatagram)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
				return
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func udpClient(b *testing.B) *net.UDPConn {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func benchRaw(b *testing.B) {
	to := udpEcho(b)
	client := udpClient(b)
	// One deadline for the run: a reply lost on loopback fails the
	// benchmark instead of hanging it, without a timer per round trip.
	if err := client.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	buf := make([]byte, maxDatagram)
	rtts := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := client.WriteToUDPAddrPort(msg, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := client.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
	}
	b.StopTimer()
	reportRTT(b, rtts)
}

func benchRawChan(b *testing.B) {
	to := udpEcho(b)
	client := udpClient(b)
	got := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, maxDatagram)
		for {
			if _, _, err := client.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			got <- struct{}{}
		}
	}()
	msg := make([]byte, 64)
	rtts := make([]time.Duration, 0, b.N)
	w := newWaiter(b, got)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := client.WriteToUDPAddrPort(msg, to); err != nil {
			b.Fatal(err)
		}
		w.wait(b)
		rtts = append(rtts, time.Since(start))
	}
	b.StopTimer()
	reportRTT(b, rtts)
}

func benchTransport(b *testing.B) {
	lo := []netip.AddrPort{loopback}
	var echo *UDP
	echo, err := ListenUDP(lo, func(p Packet) {
		_ = echo.Send(p.Link, p.From, p.Data)
	}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer echo.Close()
	got := make(chan struct{}, 1)
	client, err := ListenUDP(lo, func(Packet) { got <- struct{}{} }, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	to := echo.Links()[0]
	msg := make([]byte, 64)
	rtts := make([]time.Duration, 0, b.N)
	w := newWaiter(b, got)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := client.Send(0, to, msg); err != nil {
			b.Fatal(err)
		}
		w.wait(b)
		rtts = append(rtts, time.Since(start))
	}
	b.StopTimer()
	reportRTT(b, rtts)
}

// waiter waits for a reply signal. A reply lost on loopback fails the
// benchmark within a minute instead of hanging it, with one timer for the
// whole run rather than one per round trip.
type waiter struct {
	got  chan struct{}
	lost chan struct{}
}

func newWaiter(b *testing.B, got chan struct{}) *waiter {
	w := &waiter{got: got, lost: make(chan struct{})}
	t := time.AfterFunc(time.Minute, func() { close(w.lost) })
	b.Cleanup(func() { t.Stop() })
	return w
}

func (w *waiter) wait(b *testing.B) {
	select {
	case <-w.got:
	case <-w.lost:
		b.Fatal("a reply was lost on loopback (or the run took over a minute): rerun")
	}
}

func reportRTT(b *testing.B, rtts []time.Duration) {
	if len(rtts) == 0 {
		return
	}
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Nanoseconds()), "p99-ns")
}
