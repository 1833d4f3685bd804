package watchdog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Feeder feeds a watchdog.
type Feeder interface {
	Feed() error
	Close() error
}

// Open returns the feeder of path: a supervisor's Unix socket, or a
// watchdog device (opening a device arms it).
func Open(path string) (Feeder, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("watchdog %s: %w (is the watchdog module loaded, or the supervisor running?)", path, err)
	}
	if st.Mode()&os.ModeSocket != 0 {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			return nil, fmt.Errorf("watchdog supervisor %s: %w", path, err)
		}
		return sockFeeder{c}, nil
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		return nil, fmt.Errorf("watchdog %s is neither a watchdog device nor a supervisor's socket", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("watchdog %s: %w", path, err)
	}
	return devFeeder{f}, nil
}

type sockFeeder struct{ c *net.UnixConn }

func (s sockFeeder) Feed() error {
	_, err := s.c.Write([]byte{'f'})
	return err
}

func (s sockFeeder) Close() error { return s.c.Close() }

type devFeeder struct{ f *os.File }

// Feed writes to the device (any byte but 'V' feeds it).
func (d devFeeder) Feed() error {
	_, err := d.f.Write([]byte{0})
	return err
}

// Close closes the device without the magic 'V': the watchdog stays armed
// (with nowayout semantics a stopped corral must be restarted within W).
func (d devFeeder) Close() error { return d.f.Close() }

// ErrFired is Supervisor.Run's error when W passed without a feed.
var ErrFired = errors.New("watchdog: not fed in time")

// Supervisor plays the watchdog: it listens on Socket and calls Kill when
// Timeout passes without a datagram (counted from Run's start: it is
// armed at once).
type Supervisor struct {
	Socket  string
	Timeout time.Duration
	Kill    func()
	// Fed, if set, is called at every feed (for tests and logs).
	Fed func()
}

// Listen binds the socket; call it before starting the node so that its
// Open finds the socket.
func (s *Supervisor) Listen() (*net.UnixConn, error) {
	_ = os.Remove(s.Socket)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.Socket, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("watchdog supervisor: %w", err)
	}
	return c, nil
}

// Run serves c (from Listen) until ctx ends (nil) or the watchdog fires
// (ErrFired, after Kill).
func (s *Supervisor) Run(ctx context.Context, c *net.UnixConn) error {
	if s.Timeout <= 0 {
		return fmt.Errorf("watchdog supervisor: timeout %v must be positive", s.Timeout)
	}
	defer c.Close()
	defer os.Remove(s.Socket)
	feeds := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 16)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			select {
			case feeds <- struct{}{}:
			default:
			}
		}
	}()
	t := time.NewTimer(s.Timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-feeds:
			if s.Fed != nil {
				s.Fed()
			}
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
			t.Reset(s.Timeout)
		case <-t.C:
			s.Kill()
			return ErrFired
		}
	}
}
