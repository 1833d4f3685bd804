package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// request is one transmission request header.
type request struct {
	flags  uint16
	typ    uint16
	cookie uint64
	off    uint64
	length uint32
}

const requestSize = 28

// parseRequest decodes a request header; false: bad magic.
func parseRequest(b *[requestSize]byte) (request, bool) {
	if binary.BigEndian.Uint32(b[0:]) != magicRequest {
		return request{}, false
	}
	return request{
		flags:  binary.BigEndian.Uint16(b[4:]),
		typ:    binary.BigEndian.Uint16(b[6:]),
		cookie: binary.BigEndian.Uint64(b[8:]),
		off:    binary.BigEndian.Uint64(b[16:]),
		length: binary.BigEndian.Uint32(b[24:]),
	}, true
}

// payloadLen is the number of payload bytes that follow the header on
// the wire, and whether that many may be read (false: drop the
// connection, the payload is too large to read safely).
func (ss *session) payloadLen(r request) (uint32, bool) {
	if r.typ != cmdWrite {
		return 0, true
	}
	return r.length, r.length <= ss.hard
}

// check validates a request against the session (proto.md "Request
// types", "Error values"); 0: valid.
func (ss *session) check(r request) Errno {
	allowed := uint16(cmdFlagFUA) // NBD_FLAG_SEND_FUA: valid on every command
	switch r.typ {
	case cmdRead:
		if ss.structured {
			allowed |= cmdFlagDF
		}
	case cmdWrite, cmdTrim, cmdFlush:
	case cmdWriteZeroes:
		allowed |= cmdFlagNoHole | cmdFlagFastZero
	default: // CACHE and BLOCK_STATUS are not advertised
		return EINVAL
	}
	if r.flags&^allowed != 0 {
		return EINVAL
	}
	if r.typ == cmdFlush {
		if r.off != 0 || r.length != 0 {
			return EINVAL
		}
		return 0
	}
	if ss.exp.ReadOnly && r.typ != cmdRead {
		return EPERM
	}
	if (r.typ == cmdRead || r.typ == cmdWrite) && r.length > ss.limit {
		return EINVAL
	}
	if uint64(r.off)%uint64(ss.min) != 0 || r.length%ss.min != 0 {
		return EINVAL
	}
	end := r.off + uint64(r.length)
	if end < r.off || end > ss.exp.Size {
		if r.typ == cmdWrite || r.typ == cmdWriteZeroes {
			return ENOSPC
		}
		return EINVAL
	}
	if r.typ == cmdWriteZeroes && r.flags&cmdFlagFastZero != 0 {
		// Advertised (NBD_FLAG_SEND_FAST_ZERO) and always refused fast:
		// the client then writes zeroes itself.
		return ENOTSUP
	}
	return 0
}

// xconn is one connection's transmission phase.
type xconn struct {
	s      *Server
	ss     *session
	ctx    context.Context
	cancel context.CancelFunc

	wmu  sync.Mutex
	bw   *bufio.Writer
	werr error
	// queued counts replies waiting for wmu: the last writer of a burst
	// flushes (one syscall for many small replies).
	queued atomic.Int32

	// budget bounds the payload bytes held by requests in flight.
	bmu    sync.Mutex
	bcond  *sync.Cond
	used   int64
	budget int64
	slots  int
	busy   int

	wg sync.WaitGroup
}

func (s *Server) transmit(ctx context.Context, cancel context.CancelFunc, ss *session, br *bufio.Reader, bw *bufio.Writer) error {
	x := &xconn{s: s, ss: ss, ctx: ctx, cancel: cancel, bw: bw}
	x.bcond = sync.NewCond(&x.bmu)
	x.slots = s.InFlight
	if x.slots <= 0 {
		x.slots = DefaultInFlight
	}
	x.budget = 2 * int64(ss.limit)
	if x.budget < 64<<20 {
		x.budget = 64 << 20
	}
	// On the way out: let the requests in flight finish (or see ctx
	// cancelled) before the connection closes.
	defer x.wg.Wait()
	var hb [requestSize]byte
	for {
		if _, err := io.ReadFull(br, hb[:]); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("nbd: request: %w", err)
		}
		r, ok := parseRequest(&hb)
		if !ok {
			cancel()
			return fmt.Errorf("%w: bad request magic %#x", ErrBadRequest, binary.BigEndian.Uint32(hb[:]))
		}
		if r.typ == cmdDisc {
			x.count(r.typ)
			return nil // the deferred Wait finishes the requests in flight
		}
		n, ok := ss.payloadLen(r)
		if !ok {
			cancel()
			return fmt.Errorf("%w: write payload of %d bytes (limit %d)", ErrBadRequest, r.length, ss.hard)
		}
		e := ss.check(r)
		var size int64
		if e == 0 && (r.typ == cmdRead || r.typ == cmdWrite) {
			size = int64(r.length)
		}
		x.acquire(size)
		var payload []byte
		if n > 0 {
			if e == 0 {
				payload = make([]byte, n)
				if _, err := io.ReadFull(br, payload); err != nil {
					x.release(size)
					return fmt.Errorf("nbd: write payload: %w", err)
				}
			} else if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				x.release(size)
				return fmt.Errorf("nbd: write payload: %w", err)
			}
		}
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			defer x.release(size)
			x.handle(r, e, payload)
		}()
	}
}

// acquire takes a slot and size bytes of the payload budget (a request
// larger than the whole budget runs alone).
func (x *xconn) acquire(size int64) {
	x.bmu.Lock()
	for x.busy >= x.slots || (x.used > 0 && x.used+size > x.budget) {
		x.bcond.Wait()
	}
	x.busy++
	x.used += size
	x.bmu.Unlock()
}

func (x *xconn) release(size int64) {
	x.bmu.Lock()
	x.busy--
	x.used -= size
	x.bmu.Unlock()
	x.bcond.Broadcast()
}

func (x *xconn) count(typ uint16) {
	if x.s.Stats != nil && int(typ) < numCommands {
		x.s.Stats.Requests[typ].Add(1)
	}
}

// handle runs one request and sends its reply.
func (x *xconn) handle(r request, e Errno, payload []byte) {
	x.count(r.typ)
	st := x.s.Stats
	var data []byte
	if e == 0 && r.length > 0 || e == 0 && r.typ == cmdFlush {
		b := x.ss.exp.Backend
		fua := r.flags&cmdFlagFUA != 0
		var err error
		switch r.typ {
		case cmdRead:
			data = make([]byte, r.length)
			err = b.ReadAt(x.ctx, data, r.off)
			if err == nil && st != nil {
				st.BytesRead.Add(uint64(r.length))
			}
		case cmdWrite:
			err = b.WriteAt(x.ctx, payload, r.off, fua)
			if err == nil && st != nil {
				st.BytesWritten.Add(uint64(r.length))
			}
		case cmdFlush:
			err = b.Flush(x.ctx)
		case cmdTrim:
			err = b.Trim(x.ctx, r.off, r.length, fua)
		case cmdWriteZeroes:
			err = b.Zero(x.ctx, r.off, r.length, fua, r.flags&cmdFlagNoHole != 0)
		}
		e = toErrno(err)
	}
	if e != 0 {
		if st != nil {
			st.Errors.Add(1)
		}
		x.s.log().Debug("nbd request failed", "export", x.ss.exp.Name, "cmd", cmdName(r.typ),
			"off", r.off, "len", r.length, "errno", uint32(e))
	}
	x.reply(r, e, data)
}

func cmdName(t uint16) string {
	if int(t) < numCommands {
		return cmdNames[t]
	}
	return fmt.Sprintf("cmd%d", t)
}

// toErrno maps a backend error to the errno sent to the client.
func toErrno(err error) Errno {
	if err == nil {
		return 0
	}
	var e Errno
	if errors.As(err, &e) && e != 0 {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ESHUTDOWN
	}
	return EIO
}

// reply writes the one reply of r (simple, or structured for a READ when
// structured replies were negotiated, and for errors then).
func (x *xconn) reply(r request, e Errno, data []byte) {
	var h [32]byte
	var hdr []byte
	switch {
	case !x.ss.structured:
		binary.BigEndian.PutUint32(h[0:], magicSimple)
		binary.BigEndian.PutUint32(h[4:], uint32(e))
		binary.BigEndian.PutUint64(h[8:], r.cookie)
		hdr = h[:16]
		if e != 0 {
			data = nil
		}
	case e != 0:
		// NBD_REPLY_TYPE_ERROR, no message: nothing of the request
		// was sent.
		chunkHeader(&h, replyFlagDone, chunkError, r.cookie, 6)
		binary.BigEndian.PutUint32(h[20:], uint32(e))
		binary.BigEndian.PutUint16(h[24:], 0)
		hdr = h[:26]
		data = nil
	case r.typ == cmdRead && len(data) > 0:
		// One NBD_REPLY_TYPE_OFFSET_DATA chunk with DONE: the data was
		// read in full before the chunk is sent (so DF holds too).
		chunkHeader(&h, replyFlagDone, chunkOffsetData, r.cookie, 8+uint32(len(data)))
		binary.BigEndian.PutUint64(h[20:], r.off)
		hdr = h[:28]
	case r.typ == cmdRead:
		hdr = chunkHeader(&h, replyFlagDone, chunkNone, r.cookie, 0)
	default:
		binary.BigEndian.PutUint32(h[0:], magicSimple)
		binary.BigEndian.PutUint32(h[4:], 0)
		binary.BigEndian.PutUint64(h[8:], r.cookie)
		hdr = h[:16]
	}
	x.queued.Add(1)
	x.wmu.Lock()
	defer x.wmu.Unlock()
	x.queued.Add(-1)
	if x.werr != nil {
		return
	}
	_, err := x.bw.Write(hdr)
	if err == nil && len(data) > 0 {
		_, err = x.bw.Write(data)
	}
	if err == nil && x.queued.Load() == 0 {
		// A reply still queued flushes after its write (the last one
		// of a burst sees none queued).
		err = x.bw.Flush()
	}
	if err != nil {
		x.werr = err
		x.cancel()
	}
}

func chunkHeader(h *[32]byte, flags, typ uint16, cookie uint64, length uint32) []byte {
	binary.BigEndian.PutUint32(h[0:], magicStructure)
	binary.BigEndian.PutUint16(h[4:], flags)
	binary.BigEndian.PutUint16(h[6:], typ)
	binary.BigEndian.PutUint64(h[8:], cookie)
	binary.BigEndian.PutUint32(h[16:], length)
	return h[:20]
}
