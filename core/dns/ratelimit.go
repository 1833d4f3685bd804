package dns

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limits bound what clients may cost the server (issue 22); zero values
// mean no limit.
type Limits struct {
	// MaxTCPConns caps open TCP connections per listen address; more wait
	// in the kernel's accept queue.
	MaxTCPConns int
	// TCPIdleTimeout closes an idle TCP connection; MaxTCPQueries closes
	// one after that many queries.
	TCPIdleTimeout time.Duration
	MaxTCPQueries  int
	// Rate and Burst are each UDP client prefix's token bucket (responses
	// per second, depth); Slip: over the limit every Slip-th response is
	// sent empty with TC=1 (a real client retries over TCP), the others
	// are dropped (Slip 0: all dropped).
	Rate, Burst, Slip int
}

// maxBuckets bounds the rate limiter's table (spoofed sources can name
// any prefix): when full, idle buckets are swept, and if none is idle
// the table starts again empty.
const maxBuckets = 1 << 16

// limiter is a token bucket per client prefix (/24 for IPv4, /56 for
// IPv6, the prefixes a client usually owns whole).
type limiter struct {
	rate, burst float64
	slip        int
	now         func() time.Time

	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	over   int // responses over the limit, for the slip
}

// verdict of one response.
type verdict int

const (
	allow verdict = iota
	slip          // answer empty with TC=1
	drop
)

func newLimiter(rate, burst, slipEvery int, now func() time.Time) *limiter {
	if burst < 1 {
		burst = 1
	}
	return &limiter{rate: float64(rate), burst: float64(burst), slip: slipEvery, now: now,
		buckets: map[netip.Prefix]*bucket{}}
}

// clientPrefix is the prefix a rate is kept for.
func clientPrefix(a net.Addr) (netip.Prefix, bool) {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 56
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// check takes one token from the client's bucket.
func (l *limiter) check(a net.Addr) verdict {
	p, ok := clientPrefix(a)
	if !ok {
		return allow
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[p]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[p] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return allow
	}
	b.over++
	if l.slip > 0 && b.over%l.slip == 0 {
		return slip
	}
	return drop
}

// sweep forgets buckets that have refilled (their clients idle); if all
// are busy it forgets them all (a flood of spoofed prefixes).
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / max(l.rate, 1) * float64(time.Second))
	for p, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, p)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}
