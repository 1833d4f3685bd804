package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/corral-ha/corral/core/netlimit"

	mdns "github.com/miekg/dns"
)

// Server serves a Handler on UDP and TCP listeners.
type Server struct {
	h       Handler
	log     *slog.Logger
	onBad   func() // counts a malformed message
	servers []*mdns.Server
	addrs   []string
	lim     Limits
	rrl     *limiter // nil: UDP responses not rate limited
	limited atomic.Uint64
}

// Listen binds every address of addrs (host:port) on UDP and TCP and
// serves h on them until Close. onMalformed, when set, is called for each
// message dropped or answered FORMERR before it reaches h. lim bounds TCP
// connections and UDP responses per client prefix (zero: no limits).
func Listen(addrs []string, h Handler, log *slog.Logger, onMalformed func(), lim Limits) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if onMalformed == nil {
		onMalformed = func() {}
	}
	s := &Server{h: h, log: log, onBad: onMalformed, lim: lim}
	if lim.Rate > 0 {
		s.rrl = newLimiter(lim.Rate, lim.Burst, lim.Slip, time.Now)
	}
	idle := 10 * time.Second
	if lim.TCPIdleTimeout > 0 {
		idle = lim.TCPIdleTimeout
	}
	for _, a := range addrs {
		pc, err := net.ListenPacket("udp", a)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("dns: listen udp %s: %w (set [dns] listen to a free address, or listen = [] to turn DNS off)", a, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			_ = pc.Close()
			s.Close()
			return nil, fmt.Errorf("dns: listen tcp %s: %w (set [dns] listen to a free address, or listen = [] to turn DNS off)", a, err)
		}
		if lim.MaxTCPConns > 0 {
			ln = netlimit.Listen(ln, lim.MaxTCPConns)
		}
		s.addrs = append(s.addrs, pc.LocalAddr().String())
		s.start(&mdns.Server{PacketConn: pc, UDPSize: 4096}, s.rrl)
		s.start(&mdns.Server{Listener: ln, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
			IdleTimeout: func() time.Duration { return idle }, MaxTCPQueries: lim.MaxTCPQueries}, nil)
	}
	return s, nil
}

func (s *Server) start(srv *mdns.Server, rrl *limiter) {
	srv.Handler = mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		if rrl != nil {
			switch rrl.check(w.RemoteAddr()) {
			case slip:
				s.limited.Add(1)
				m := new(mdns.Msg)
				m.SetReply(r)
				m.Truncated = true
				_ = w.WriteMsg(m)
				return
			case drop:
				s.limited.Add(1)
				return
			}
		}
		Serve(s.h, w, r)
	})
	srv.MsgAcceptFunc = func(dh mdns.Header) mdns.MsgAcceptAction {
		a := accept(dh)
		if a != mdns.MsgAccept {
			s.onBad()
		}
		return a
	}
	srv.MsgInvalidFunc = func([]byte, error) { s.onBad() }
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "closed") {
			s.log.Warn("dns listener stopped", "err", err)
		}
	}()
}

// accept is the first check of a message (from its header only): answers
// are dropped (a reply to one could be used for amplification), queries
// other than QUERY, NOTIFY and UPDATE are NOTIMP, and a message whose
// section counts a query cannot have is FORMERR. UPDATE and NOTIFY pass
// so that ServeDNS refuses them.
func accept(dh mdns.Header) mdns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 { // QR
		return mdns.MsgIgnore
	}
	switch op := int(dh.Bits>>11) & 0xF; op {
	case mdns.OpcodeQuery, mdns.OpcodeNotify, mdns.OpcodeUpdate:
	default:
		return mdns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount > 64 || dh.Nscount > 64 || dh.Arcount > 2 {
		return mdns.MsgReject
	}
	return mdns.MsgAccept
}

// Serve calls h and writes the reply h left to its caller.
func Serve(h Handler, w mdns.ResponseWriter, r *mdns.Msg) {
	rcode, _ := h.ServeDNS(context.Background(), w, r)
	if !ClientWrite(rcode) {
		reply(w, r, rcode)
	}
}

// RateLimited counts UDP queries answered TC=1 or dropped by the rate limit.
func (s *Server) RateLimited() uint64 { return s.limited.Load() }

// Addrs are the bound addresses (the UDP side of each listener).
func (s *Server) Addrs() []string { return s.addrs }

// Close stops every listener.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			// not started yet, or already stopped: close its socket
			if srv.PacketConn != nil {
				_ = srv.PacketConn.Close()
			}
			if srv.Listener != nil {
				_ = srv.Listener.Close()
			}
		}
	}
}
