package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxDatagram is the read buffer size: the largest UDP payload fits.
const maxDatagram = 64 << 10

// UDP is the production transport: one UDP socket per link, one reader
// goroutine per socket.
type UDP struct {
	endpoint
	conns []*net.UDPConn
	wg    sync.WaitGroup
}

// ListenUDP opens one UDP socket per address (port 0 picks a free port;
// Links reports the bound one) and starts delivering the packets they
// receive to h. IPv4 addresses get udp4 sockets, IPv6 ones udp6.
func ListenUDP(links []netip.AddrPort, h Handler, opt Options) (*UDP, error) {
	if len(links) == 0 {
		return nil, errors.New("transport: no links to listen on")
	}
	if h == nil {
		return nil, errors.New("transport: nil handler")
	}
	u := &UDP{conns: make([]*net.UDPConn, 0, len(links))}
	bound := make([]netip.AddrPort, len(links))
	for i, a := range links {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		c, err := listen(a, opt.SocketBuffer)
		if err != nil {
			for _, c := range u.conns {
				_ = c.Close()
			}
			return nil, fmt.Errorf("transport: link %d (%s): %w", i, a, err)
		}
		u.conns = append(u.conns, c)
		la := c.LocalAddr().(*net.UDPAddr).AddrPort()
		bound[i] = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
	}
	u.init(bound, h, opt)
	for i, c := range u.conns {
		u.wg.Go(func() { u.read(i, c) })
	}
	return u, nil
}

func listen(a netip.AddrPort, buf int) (*net.UDPConn, error) {
	if !a.Addr().IsValid() {
		return nil, errors.New("address is not set")
	}
	network := "udp4"
	if a.Addr().Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(a))
	if err != nil {
		return nil, err
	}
	if buf == 0 {
		buf = DefaultSocketBuffer
	}
	if buf > 0 {
		_ = c.SetReadBuffer(buf) // the kernel caps it; a smaller buffer still works
		_ = c.SetWriteBuffer(buf)
	}
	return c, nil
}

// read is the reader goroutine of one link.
func (u *UDP) read(link int, c *net.UDPConn) {
	buf := make([]byte, maxDatagram)
	fails := 0
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if u.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Errors like ICMP-induced ECONNREFUSED are transient; back off
			// a little if they repeat so a broken socket does not spin.
			u.stats[link].readErrs.Add(1)
			fails++
			if fails > 1 {
				time.Sleep(min(time.Duration(fails)*time.Millisecond, 100*time.Millisecond))
			}
			continue
		}
		fails = 0
		data := make([]byte, n) // the handler owns it: the read buffer is reused
		copy(data, buf[:n])
		if from.Addr().Is4In6() {
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		}
		u.receive(link, from, data)
	}
}

// Send writes one datagram from link to the address. Delivery is not
// guaranteed; an error means the packet certainly was not sent (bad link,
// closed transport, or the kernel refused it). Send does not keep data.
func (u *UDP) Send(link int, to netip.AddrPort, data []byte) error {
	if err := u.checkSend(link); err != nil {
		return err
	}
	if rs := u.faults.active(); rs != nil {
		return u.sendFaulty(rs, link, to, data, u.write)
	}
	return u.write(link, to, data)
}

func (u *UDP) write(link int, to netip.AddrPort, data []byte) error {
	c := &u.stats[link]
	if _, err := u.conns[link].WriteToUDPAddrPort(data, to); err != nil {
		c.sendErrs.Add(1)
		return fmt.Errorf("transport: link %d (%s): send to %s: %w", link, u.links[link], to, err)
	}
	c.sent.Add(1)
	c.sentBytes.Add(uint64(len(data)))
	return nil
}

// Close closes the sockets, waits for the reader goroutines, cancels the
// packets delayed by fault injection and waits for deliveries in progress.
// After it returns the handler is not called again. Closing again is a
// no-op that returns nil.
func (u *UDP) Close() error {
	if !u.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	for i, c := range u.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("transport: link %d (%s): close: %w", i, u.links[i], err))
		}
	}
	u.wg.Wait()
	u.timers.close()
	return errors.Join(errs...)
}
