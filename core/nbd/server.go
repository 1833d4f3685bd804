package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Server serves the exports of Exports over NBD's fixed newstyle
// protocol (doc.go has the contract).
type Server struct {
	Exports Exports
	Log     *slog.Logger // nil: discard
	Stats   *Stats       // optional counters (atomic), per server
	// InFlight bounds the requests of one connection that run at once;
	// 0: DefaultInFlight. (Added to the fixed surface.)
	InFlight int
}

// ErrBadRequest is wrapped when the client broke the protocol in a way that closes its
// connection (bad magic, an oversized write payload, an unknown client
// flag, a malformed option header).
var ErrBadRequest = errors.New("nbd: protocol violation")

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Serve accepts connections on l and serves each until ctx is done (then
// it closes l and every connection and returns nil) or l fails (then it
// closes every connection and returns the error). It returns once every
// connection's goroutines have ended.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("nbd: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ServeConn(ctx, c); err != nil {
				s.log().Debug("nbd connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// ServeConn runs the handshake and the transmission phase on c and
// closes it. It returns nil when the client aborted or disconnected
// (NBD_CMD_DISC, or EOF between requests) or ctx ended, an error when the
// client broke the protocol (wrapping ErrBadRequest) or I/O failed.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) error {
	defer func() { _ = c.Close() }()
	if s.Stats != nil {
		s.Stats.Connections.Add(1)
		s.Stats.Open.Add(1)
		defer s.Stats.Open.Add(-1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	sess, err := s.negotiate(br, bw)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if sess == nil {
		return nil
	}
	err = s.transmit(ctx, cancel, sess, br, bw)
	if ctx.Err() != nil && !errors.Is(err, ErrBadRequest) {
		return nil
	}
	return err
}

// session is what the handshake agreed on.
type session struct {
	exp        Export
	structured bool
	// negotiated: the client asked for NBD_INFO_BLOCK_SIZE in NBD_OPT_GO
	// (it promised to obey the constraints).
	negotiated bool
	min, pref  uint32
	max        uint32 // the advertised maximum payload
	limit      uint32 // the largest payload accepted on this session
	// hard is the largest write payload read (and refused when above
	// limit) rather than dropping the connection: proto.md asks that
	// payloads up to 32 MiB not be taken for an attack.
	hard   uint32
	tflags uint16
}

// constraints returns an export's block size constraints with defaults.
func constraints(e Export) (minB, pref, maxB uint32) {
	minB, pref, maxB = e.MinBlock, e.PreferredBlock, e.MaxBlock
	if minB == 0 {
		minB = 1
	}
	if pref == 0 {
		pref = 4096
	}
	if pref < minB {
		pref = minB
	}
	if maxB == 0 {
		maxB = DefaultMaxBlock
	}
	if maxB < pref {
		maxB = pref
	}
	return minB, pref, maxB
}

func transmissionFlags(e Export, structured bool) uint16 {
	f := uint16(tflagsAlwaysServed)
	if e.ReadOnly {
		f |= tflagReadOnly
	}
	if e.MultiConn {
		f |= tflagCanMultiConn
	}
	if structured {
		f |= tflagSendDF
	}
	return f
}

func newSession(e Export, structured, negotiated bool) *session {
	ss := &session{exp: e, structured: structured, negotiated: negotiated}
	ss.min, ss.pref, ss.max = constraints(e)
	ss.limit = ss.max
	if !negotiated && ss.limit < DefaultMaxBlock {
		// A client that did not promise to obey the constraints may
		// send up to the protocol's default payload (proto.md "Size
		// constraints").
		ss.limit = DefaultMaxBlock
	}
	ss.hard = max(ss.limit, DefaultMaxBlock)
	ss.tflags = transmissionFlags(e, structured)
	return ss
}

// ---- negotiation ----

// negotiate runs the fixed newstyle handshake. A nil session and nil
// error: the client aborted.
func (s *Server) negotiate(br *bufio.Reader, bw *bufio.Writer) (*session, error) {
	var b [18]byte
	binary.BigEndian.PutUint64(b[0:], magicNBD)
	binary.BigEndian.PutUint64(b[8:], magicOpt)
	binary.BigEndian.PutUint16(b[16:], flagFixedNewstyle|flagNoZeroes)
	if _, err := bw.Write(b[:]); err != nil {
		return nil, fmt.Errorf("nbd: handshake: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("nbd: handshake: %w", err)
	}
	var cf [4]byte
	if _, err := io.ReadFull(br, cf[:]); err != nil {
		return nil, fmt.Errorf("nbd: client flags: %w", err)
	}
	flags := binary.BigEndian.Uint32(cf[:])
	if flags&clientFixedNewstyle == 0 {
		return nil, fmt.Errorf("%w: client without NBD_FLAG_C_FIXED_NEWSTYLE", ErrBadRequest)
	}
	if flags&^uint32(clientFixedNewstyle|clientNoZeroes) != 0 {
		return nil, fmt.Errorf("%w: unknown client flags %#x", ErrBadRequest, flags)
	}
	noZeroes := flags&clientNoZeroes != 0
	structured := false
	for {
		var h [16]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return nil, fmt.Errorf("nbd: option header: %w", err)
		}
		if binary.BigEndian.Uint64(h[0:]) != magicOpt {
			return nil, fmt.Errorf("%w: bad option magic", ErrBadRequest)
		}
		opt := binary.BigEndian.Uint32(h[8:])
		n := binary.BigEndian.Uint32(h[12:])
		if n > maxOptionDrop || (opt == optExportName && n > maxNameLen) {
			return nil, fmt.Errorf("%w: option %d of %d bytes", ErrBadRequest, opt, n)
		}
		if n > maxOptionLen {
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return nil, fmt.Errorf("nbd: option data: %w", err)
			}
			if err := optReply(bw, opt, repErrTooBig, []byte("option data too long")); err != nil {
				return nil, err
			}
			continue
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, fmt.Errorf("nbd: option data: %w", err)
		}
		if opt == optExportName {
			e, ok := s.Exports.Lookup(string(data))
			if !ok {
				return nil, fmt.Errorf("nbd: NBD_OPT_EXPORT_NAME: unknown export %q", data)
			}
			ss := newSession(e, structured, false)
			var r [10 + 124]byte
			binary.BigEndian.PutUint64(r[0:], e.Size)
			binary.BigEndian.PutUint16(r[8:], ss.tflags)
			out := r[:]
			if noZeroes {
				out = r[:10]
			}
			if _, err := bw.Write(out); err != nil {
				return nil, fmt.Errorf("nbd: export reply: %w", err)
			}
			if err := bw.Flush(); err != nil {
				return nil, fmt.Errorf("nbd: export reply: %w", err)
			}
			return ss, nil
		}
		ss, done, err := s.option(bw, opt, data, &structured)
		if err != nil || done {
			return ss, err
		}
	}
}

// option answers one option other than NBD_OPT_EXPORT_NAME. done: leave
// the negotiation (with ss == nil: the client aborted).
func (s *Server) option(bw *bufio.Writer, opt uint32, data []byte, structured *bool) (ss *session, done bool, err error) {
	fail := func(typ uint32, msg string) (*session, bool, error) {
		return nil, false, optReply(bw, opt, typ, []byte(msg))
	}
	switch opt {
	case optAbort:
		// The client may close before reading the ACK.
		_ = optReply(bw, opt, repAck, nil)
		return nil, true, nil
	case optList:
		if len(data) != 0 {
			return fail(repErrInvalid, "NBD_OPT_LIST with data")
		}
		for _, e := range s.Exports.List() {
			p := make([]byte, 4, 4+len(e.Name)+len(e.Description))
			binary.BigEndian.PutUint32(p, uint32(len(e.Name)))
			p = append(p, e.Name...)
			p = append(p, e.Description...)
			if err := optReplyNoFlush(bw, opt, repServer, p); err != nil {
				return nil, false, err
			}
		}
		return nil, false, optReply(bw, opt, repAck, nil)
	case optStartTLS:
		return fail(repErrPolicy, "TLS is not offered")
	case optStructuredReply:
		if len(data) != 0 {
			return fail(repErrInvalid, "NBD_OPT_STRUCTURED_REPLY with data")
		}
		if *structured {
			return fail(repErrInvalid, "structured replies already negotiated")
		}
		*structured = true
		return nil, false, optReply(bw, opt, repAck, nil)
	case optInfo, optGo:
		name, reqs, ok := parseInfo(data)
		if !ok {
			return fail(repErrInvalid, "malformed NBD_OPT_INFO/GO")
		}
		e, found := s.Exports.Lookup(name)
		if !found {
			return fail(repErrUnknown, "unknown export")
		}
		var wantName, wantDesc, wantBlock bool
		for _, r := range reqs {
			switch r {
			case infoName:
				wantName = true
			case infoDescription:
				wantDesc = true
			case infoBlockSize:
				wantBlock = true
			}
		}
		ss := newSession(e, *structured, wantBlock && opt == optGo)
		var ie [12]byte
		binary.BigEndian.PutUint16(ie[0:], infoExport)
		binary.BigEndian.PutUint64(ie[2:], e.Size)
		binary.BigEndian.PutUint16(ie[10:], ss.tflags)
		if err := optReplyNoFlush(bw, opt, repInfo, ie[:]); err != nil {
			return nil, false, err
		}
		if wantName {
			if err := optReplyNoFlush(bw, opt, repInfo, append([]byte{0, infoName}, e.Name...)); err != nil {
				return nil, false, err
			}
		}
		if wantDesc && e.Description != "" {
			if err := optReplyNoFlush(bw, opt, repInfo, append([]byte{0, infoDescription}, e.Description...)); err != nil {
				return nil, false, err
			}
		}
		var bs [14]byte
		binary.BigEndian.PutUint16(bs[0:], infoBlockSize)
		binary.BigEndian.PutUint32(bs[2:], ss.min)
		binary.BigEndian.PutUint32(bs[6:], ss.pref)
		binary.BigEndian.PutUint32(bs[10:], ss.max)
		if err := optReplyNoFlush(bw, opt, repInfo, bs[:]); err != nil {
			return nil, false, err
		}
		if err := optReply(bw, opt, repAck, nil); err != nil {
			return nil, false, err
		}
		if opt == optGo {
			return ss, true, nil
		}
		return nil, false, nil
	case optListMetaContext, optSetMetaContext:
		if !*structured {
			return fail(repErrInvalid, "structured replies not negotiated")
		}
		name, ok := parseMetaContext(data)
		if !ok {
			return fail(repErrInvalid, "malformed meta context option")
		}
		if _, found := s.Exports.Lookup(name); !found {
			return fail(repErrUnknown, "unknown export")
		}
		// No metadata context is supported: the reply lists none.
		return nil, false, optReply(bw, opt, repAck, nil)
	}
	return fail(repErrUnsup, "option not supported")
}

// parseInfo parses NBD_OPT_INFO/GO data.
func parseInfo(d []byte) (name string, reqs []uint16, ok bool) {
	if len(d) < 6 {
		return "", nil, false
	}
	nl := uint64(binary.BigEndian.Uint32(d))
	if nl > maxNameLen || 4+nl+2 > uint64(len(d)) {
		return "", nil, false
	}
	name = string(d[4 : 4+nl])
	rest := d[4+nl:]
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) != 2*n {
		return "", nil, false
	}
	reqs = make([]uint16, n)
	for i := range reqs {
		reqs[i] = binary.BigEndian.Uint16(rest[2*i:])
	}
	return name, reqs, true
}

// parseMetaContext parses NBD_OPT_LIST/SET_META_CONTEXT data (the
// queries are checked for form and ignored).
func parseMetaContext(d []byte) (name string, ok bool) {
	if len(d) < 8 {
		return "", false
	}
	nl := uint64(binary.BigEndian.Uint32(d))
	if nl > maxNameLen || 4+nl+4 > uint64(len(d)) {
		return "", false
	}
	name = string(d[4 : 4+nl])
	rest := d[4+nl:]
	nq := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	for range nq {
		if len(rest) < 4 {
			return "", false
		}
		ql := uint64(binary.BigEndian.Uint32(rest))
		if 4+ql > uint64(len(rest)) {
			return "", false
		}
		rest = rest[4+ql:]
	}
	return name, len(rest) == 0
}

func optReplyNoFlush(bw *bufio.Writer, opt, typ uint32, data []byte) error {
	var h [20]byte
	binary.BigEndian.PutUint64(h[0:], magicOptReply)
	binary.BigEndian.PutUint32(h[8:], opt)
	binary.BigEndian.PutUint32(h[12:], typ)
	binary.BigEndian.PutUint32(h[16:], uint32(len(data)))
	if _, err := bw.Write(h[:]); err != nil {
		return fmt.Errorf("nbd: option reply: %w", err)
	}
	if _, err := bw.Write(data); err != nil {
		return fmt.Errorf("nbd: option reply: %w", err)
	}
	return nil
}

func optReply(bw *bufio.Writer, opt, typ uint32, data []byte) error {
	if err := optReplyNoFlush(bw, opt, typ, data); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("nbd: option reply: %w", err)
	}
	return nil
}
