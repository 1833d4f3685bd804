package watchdog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Feeder feeds a watchdog.
type Feeder interface {
	// Feed feeds it; it does not block for long (a supervisor that does
	// not read makes it fail after feedTimeout).
	Feed() error
	// Close closes it and leaves it armed: it fires W after the last feed
	// (a crash, a fatal error, a self-fence).
	Close() error
	// Disarm is the magic close, for a clean leave: a device gets 'V' then
	// is closed (a kernel built with nowayout keeps it armed anyway); a
	// supervisor gets 'V' and stops without killing.
	Disarm() error
}

// feedTimeout bounds one write to a supervisor's socket (its queue is full
// only if it stopped reading).
const feedTimeout = time.Second

// magicClose is the byte that disarms a watchdog (the kernel's
// "magic close" convention).
const magicClose = 'V'

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

func (s sockFeeder) Feed() error { return s.write('f') }

func (s sockFeeder) write(b byte) error {
	if err := s.c.SetWriteDeadline(time.Now().Add(feedTimeout)); err != nil {
		return err
	}
	_, err := s.c.Write([]byte{b})
	return err
}

func (s sockFeeder) Close() error { return s.c.Close() }

// Disarm tells the supervisor to stop without killing, then closes.
func (s sockFeeder) Disarm() error { return errors.Join(s.write(magicClose), s.c.Close()) }

type devFeeder struct{ f *os.File }

// Feed writes to the device (any byte but 'V' feeds it).
func (d devFeeder) Feed() error {
	_, err := d.f.Write([]byte{0})
	return err
}

// Close closes the device without the magic 'V': the watchdog stays armed
// (with nowayout semantics a stopped corral must be restarted within W).
func (d devFeeder) Close() error { return d.f.Close() }

// Disarm writes the magic 'V' before the close: the kernel stops the
// watchdog (unless it was built or loaded with nowayout).
func (d devFeeder) Disarm() error {
	_, err := d.f.Write([]byte{magicClose})
	return errors.Join(err, d.f.Close())
}

// ErrFired is Supervisor.Run's error when W passed without a feed.
var ErrFired = errors.New("watchdog: not fed in time")

// Supervisor plays the watchdog: it listens on Socket and calls Kill when
// Timeout passes without a datagram (counted from Run's start: it is
// armed at once). A datagram 'V' (Feeder.Disarm, a clean leave) disarms
// it: Run returns nil without killing.
type Supervisor struct {
	Socket  string
	Timeout time.Duration
	Kill    func()
	// Fed, if set, is called at every feed (for tests and logs).
	Fed func()
	// Refused, if set, is called with the uid of each datagram ignored
	// because its sender is neither root nor the supervisor's user (-1:
	// no credentials).
	Refused func(uid int)
}

// Listen binds the socket; call it before starting the node so that its
// Open finds the socket. The socket is 0600 (bound under umask 077, so
// there is no moment at which others could connect) in a directory made
// 0700 if it does not exist, and it receives its senders' credentials
// (SO_PASSCRED): Run takes feeds and disarms only from root and the
// supervisor's own user.
func (s *Supervisor) Listen() (*net.UnixConn, error) {
	if err := os.MkdirAll(filepath.Dir(s.Socket), 0o700); err != nil {
		return nil, fmt.Errorf("watchdog supervisor: %w", err)
	}
	_ = os.Remove(s.Socket)
	old := syscall.Umask(0o077)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.Socket, Net: "unixgram"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("watchdog supervisor: %w", err)
	}
	if err := os.Chmod(s.Socket, 0o600); err != nil {
		c.Close()
		return nil, fmt.Errorf("watchdog supervisor: %w", err)
	}
	rc, err := c.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
		})
		if cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("watchdog supervisor: receiving senders' credentials: %w", err)
	}
	return c, nil
}

// senderUID is the uid in a datagram's SCM_CREDENTIALS, or -1.
func senderUID(oob []byte) int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return -1
	}
	for i := range msgs {
		if cred, err := syscall.ParseUnixCredentials(&msgs[i]); err == nil {
			return int(cred.Uid)
		}
	}
	return -1
}

// Run serves c (from Listen) until ctx ends or the node disarms it (nil)
// or the watchdog fires (ErrFired, after Kill).
func (s *Supervisor) Run(ctx context.Context, c *net.UnixConn) error {
	if s.Timeout <= 0 {
		return fmt.Errorf("watchdog supervisor: timeout %v must be positive", s.Timeout)
	}
	defer c.Close()
	defer os.Remove(s.Socket)
	feeds := make(chan struct{}, 1)
	disarm := make(chan struct{})
	go func() {
		buf := make([]byte, 16)
		oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
		self := os.Getuid()
		for {
			k, ok, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			if uid := senderUID(oob[:ok]); uid != 0 && uid != self {
				if s.Refused != nil {
					s.Refused(uid)
				}
				continue
			}
			if k > 0 && buf[0] == magicClose {
				close(disarm)
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
		case <-disarm:
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
