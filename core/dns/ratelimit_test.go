package dns

import (
	"net"
	"testing"
	"time"
)

func TestLimiterPerPrefix(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(10, 5, 2, func() time.Time { return now })
	a := &net.UDPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}
	sameNet := &net.UDPAddr{IP: net.ParseIP("192.0.2.200"), Port: 2}
	other := &net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 1}
	for i := 0; i < 5; i++ {
		if v := l.check(a); v != allow {
			t.Fatalf("response %d within the burst: %v", i, v)
		}
	}
	// the bucket is the /24's: another address of it is over too
	got := []verdict{l.check(sameNet), l.check(a), l.check(a), l.check(a)}
	want := []verdict{drop, slip, drop, slip}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("over the limit: %v, want %v (every 2nd slips)", got, want)
		}
	}
	if v := l.check(other); v != allow {
		t.Fatalf("another prefix: %v", v)
	}
	now = now.Add(100 * time.Millisecond) // one token at 10/s
	if v := l.check(a); v != allow {
		t.Fatalf("after a refill: %v", v)
	}
	if v := l.check(a); v == allow {
		t.Fatal("two responses for one token")
	}
	// IPv6: a /56 shares a bucket
	l6 := newLimiter(1, 1, 0, func() time.Time { return now })
	if l6.check(&net.UDPAddr{IP: net.ParseIP("2001:db8:0:1::1")}) != allow ||
		l6.check(&net.UDPAddr{IP: net.ParseIP("2001:db8:0:ff::2")}) != drop ||
		l6.check(&net.UDPAddr{IP: net.ParseIP("2001:db8:1::1")}) != allow {
		t.Fatal("IPv6 buckets are not per /56")
	}
}

func TestLimiterTableBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(10, 5, 2, func() time.Time { return now })
	for i := 0; i < maxBuckets+10; i++ {
		l.check(&net.UDPAddr{IP: net.IPv4(10, byte(i>>8), byte(i), 1)})
	}
	if len(l.buckets) > maxBuckets {
		t.Fatalf("%d buckets, want at most %d", len(l.buckets), maxBuckets)
	}
}

// BenchmarkLimiter is the rate check's cost per UDP query (one client
// prefix; the bucket table lookup under a mutex).
func BenchmarkLimiter(b *testing.B) {
	l := newLimiter(1<<30, 1<<30, 2, time.Now)
	a := &net.UDPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}
	b.ReportAllocs()
	for b.Loop() {
		l.check(a)
	}
}
