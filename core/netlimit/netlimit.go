package netlimit

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// Listener wraps a net.Listener so that at most max accepted connections
// are open at once.
type Listener struct {
	net.Listener
	sem     chan struct{}
	done    chan struct{}
	once    sync.Once
	waiting atomic.Uint64 // Accept calls that found the limit reached
}

// Listen wraps l with a limit of max open connections (max >= 1).
func Listen(l net.Listener, max int) *Listener {
	if max < 1 {
		max = 1
	}
	return &Listener{Listener: l, sem: make(chan struct{}, max), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	default:
		l.waiting.Add(1)
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &conn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open is how many accepted connections are open now.
func (l *Listener) Open() int { return len(l.sem) }

// Max is the limit.
func (l *Listener) Max() int { return cap(l.sem) }

// Saturated counts the times Accept found the limit reached.
func (l *Listener) Saturated() uint64 { return l.waiting.Load() }

type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// minCap is the smallest cap Budget returns.
const minCap = 8

// Budget scales the wanted caps down so that together they use at most a
// quarter of limit descriptors; each stays at least minCap and at most
// what was asked.
func Budget(limit uint64, want ...int) []int {
	out := make([]int, len(want))
	total := 0
	for _, w := range want {
		total += w
	}
	room := int(limit / 4)
	for i, w := range want {
		c := w
		if total > room && total > 0 {
			c = w * room / total
		}
		out[i] = max(min(c, w), min(minCap, w))
	}
	return out
}

// NoFile returns the process's soft RLIMIT_NOFILE (the Go runtime has
// already raised it to the hard limit at start on Linux), or 0 if unknown.
func NoFile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}
