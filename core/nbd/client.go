package nbd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// ClientOptions choose how Dial negotiates.
type ClientOptions struct {
	// Structured negotiates NBD_OPT_STRUCTURED_REPLY.
	Structured bool
	// List sends NBD_OPT_LIST first (Client.Exports has the names).
	List bool
	// Info sends NBD_OPT_INFO before NBD_OPT_GO.
	Info bool
	// ExportName ends the handshake with NBD_OPT_EXPORT_NAME instead of
	// NBD_OPT_GO (no block size, no errors).
	ExportName bool
	// NoBlockSize leaves NBD_INFO_BLOCK_SIZE out of NBD_OPT_GO (the
	// client does not promise to obey the constraints).
	NoBlockSize bool
}

// OptionError is an error reply to an option during the handshake.
type OptionError struct {
	Option uint32
	Reply  uint32 // NBD_REP_ERR_* value
	Msg    string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("nbd: option %d refused: reply %#x: %s", e.Option, e.Reply, e.Msg)
}

// ErrClosed is returned once the client was closed or its connection failed.
var ErrClosed = errors.New("nbd: client closed")

// Client is a small NBD client (tests and benchmarks): safe for
// concurrent use, requests are pipelined and matched by cookie.
type Client struct {
	c          net.Conn
	br         *bufio.Reader
	size       uint64
	flags      uint16
	minB, pref uint32
	maxB       uint32
	structured bool
	exports    []string

	wmu sync.Mutex
	bw  *bufio.Writer

	mu      sync.Mutex
	next    uint64
	pending map[uint64]*call
	err     error // set when the reader stops
	done    chan struct{}
}

type call struct {
	typ  uint16
	off  uint64
	buf  []byte // read destination
	got  uint64 // bytes of data received (structured)
	err  error
	done chan struct{}
}

// Dial connects to an NBD server and negotiates export name.
func Dial(network, addr, name string, o ClientOptions) (*Client, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, fmt.Errorf("nbd: dial: %w", err)
	}
	cl, err := NewClient(c, name, o)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return cl, nil
}

// NewClient runs the handshake on c.
func NewClient(c net.Conn, name string, o ClientOptions) (*Client, error) {
	cl := &Client{c: c, br: bufio.NewReaderSize(c, 64<<10), bw: bufio.NewWriterSize(c, 64<<10),
		pending: map[uint64]*call{}, done: make(chan struct{}), minB: 1, pref: 4096, maxB: DefaultMaxBlock}
	if err := cl.handshake(name, o); err != nil {
		return nil, err
	}
	go cl.reader()
	return cl, nil
}

// List returns the export names the server lists.
func List(network, addr string) ([]string, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, fmt.Errorf("nbd: dial: %w", err)
	}
	defer func() { _ = c.Close() }()
	cl := &Client{c: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}
	if err := cl.start(); err != nil {
		return nil, err
	}
	names, err := cl.list()
	if err != nil {
		return nil, err
	}
	_ = cl.sendOpt(optAbort, nil)
	return names, nil
}

func (cl *Client) start() error {
	var b [18]byte
	if _, err := io.ReadFull(cl.br, b[:]); err != nil {
		return fmt.Errorf("nbd: greeting: %w", err)
	}
	if binary.BigEndian.Uint64(b[0:]) != magicNBD || binary.BigEndian.Uint64(b[8:]) != magicOpt {
		return fmt.Errorf("nbd: not a newstyle NBD server")
	}
	hf := binary.BigEndian.Uint16(b[16:])
	if hf&flagFixedNewstyle == 0 || hf&flagNoZeroes == 0 {
		return fmt.Errorf("nbd: server flags %#x: want fixed newstyle and no zeroes", hf)
	}
	var f [4]byte
	binary.BigEndian.PutUint32(f[:], clientFixedNewstyle|clientNoZeroes)
	if _, err := cl.bw.Write(f[:]); err != nil {
		return fmt.Errorf("nbd: client flags: %w", err)
	}
	return nil
}

func (cl *Client) sendOpt(opt uint32, data []byte) error {
	var h [16]byte
	binary.BigEndian.PutUint64(h[0:], magicOpt)
	binary.BigEndian.PutUint32(h[8:], opt)
	binary.BigEndian.PutUint32(h[12:], uint32(len(data)))
	_, _ = cl.bw.Write(h[:])
	_, _ = cl.bw.Write(data)
	if err := cl.bw.Flush(); err != nil {
		return fmt.Errorf("nbd: option %d: %w", opt, err)
	}
	return nil
}

// readOptReply reads one option reply to opt.
func (cl *Client) readOptReply(opt uint32) (typ uint32, data []byte, err error) {
	var h [20]byte
	if _, err := io.ReadFull(cl.br, h[:]); err != nil {
		return 0, nil, fmt.Errorf("nbd: option reply: %w", err)
	}
	if binary.BigEndian.Uint64(h[0:]) != magicOptReply || binary.BigEndian.Uint32(h[8:]) != opt {
		return 0, nil, fmt.Errorf("nbd: bad option reply to %d", opt)
	}
	typ = binary.BigEndian.Uint32(h[12:])
	n := binary.BigEndian.Uint32(h[16:])
	if n > maxOptionLen {
		return 0, nil, fmt.Errorf("nbd: option reply of %d bytes", n)
	}
	data = make([]byte, n)
	if _, err := io.ReadFull(cl.br, data); err != nil {
		return 0, nil, fmt.Errorf("nbd: option reply: %w", err)
	}
	if typ&(1<<31) != 0 {
		return typ, data, &OptionError{Option: opt, Reply: typ, Msg: string(data)}
	}
	return typ, data, nil
}

func (cl *Client) list() ([]string, error) {
	if err := cl.sendOpt(optList, nil); err != nil {
		return nil, err
	}
	var names []string
	for {
		typ, data, err := cl.readOptReply(optList)
		if err != nil {
			return nil, err
		}
		if typ == repAck {
			return names, nil
		}
		if typ != repServer || len(data) < 4 || uint64(binary.BigEndian.Uint32(data))+4 > uint64(len(data)) {
			return nil, fmt.Errorf("nbd: bad NBD_REP_SERVER")
		}
		names = append(names, string(data[4:4+binary.BigEndian.Uint32(data)]))
	}
}

// infoGo sends NBD_OPT_INFO or GO and reads the replies.
func (cl *Client) infoGo(opt uint32, name string, blockSize bool) error {
	d := make([]byte, 4, 4+len(name)+8)
	binary.BigEndian.PutUint32(d, uint32(len(name)))
	d = append(d, name...)
	reqs := []uint16{infoName, infoDescription}
	if blockSize {
		reqs = append(reqs, infoBlockSize)
	}
	d = binary.BigEndian.AppendUint16(d, uint16(len(reqs)))
	for _, r := range reqs {
		d = binary.BigEndian.AppendUint16(d, r)
	}
	if err := cl.sendOpt(opt, d); err != nil {
		return err
	}
	gotExport := false
	for {
		typ, data, err := cl.readOptReply(opt)
		if err != nil {
			return err
		}
		if typ == repAck {
			if !gotExport {
				return fmt.Errorf("nbd: no NBD_INFO_EXPORT")
			}
			return nil
		}
		if typ != repInfo || len(data) < 2 {
			return fmt.Errorf("nbd: bad reply %d to option %d", typ, opt)
		}
		switch binary.BigEndian.Uint16(data) {
		case infoExport:
			if len(data) != 12 {
				return fmt.Errorf("nbd: bad NBD_INFO_EXPORT")
			}
			cl.size = binary.BigEndian.Uint64(data[2:])
			cl.flags = binary.BigEndian.Uint16(data[10:])
			gotExport = true
		case infoBlockSize:
			if len(data) != 14 {
				return fmt.Errorf("nbd: bad NBD_INFO_BLOCK_SIZE")
			}
			cl.minB = binary.BigEndian.Uint32(data[2:])
			cl.pref = binary.BigEndian.Uint32(data[6:])
			cl.maxB = binary.BigEndian.Uint32(data[10:])
		}
	}
}

func (cl *Client) handshake(name string, o ClientOptions) error {
	if err := cl.start(); err != nil {
		return err
	}
	if o.List {
		names, err := cl.list()
		if err != nil {
			return err
		}
		cl.exports = names
	}
	if o.Structured {
		if err := cl.sendOpt(optStructuredReply, nil); err != nil {
			return err
		}
		if _, _, err := cl.readOptReply(optStructuredReply); err != nil {
			return err
		}
		cl.structured = true
	}
	if o.Info {
		if err := cl.infoGo(optInfo, name, true); err != nil {
			return err
		}
	}
	if o.ExportName {
		if err := cl.sendOpt(optExportName, []byte(name)); err != nil {
			return err
		}
		var b [10]byte
		if _, err := io.ReadFull(cl.br, b[:]); err != nil {
			return fmt.Errorf("nbd: NBD_OPT_EXPORT_NAME: %w", err)
		}
		cl.size = binary.BigEndian.Uint64(b[0:])
		cl.flags = binary.BigEndian.Uint16(b[8:])
		return nil
	}
	return cl.infoGo(optGo, name, !o.NoBlockSize)
}

// Size is the export's size in bytes.
func (cl *Client) Size() uint64 { return cl.size }

// Flags are the transmission flags.
func (cl *Client) Flags() uint16 { return cl.flags }

// BlockSize returns the block size constraints (defaults if none came).
func (cl *Client) BlockSize() (minimum, preferred, maximum uint32) {
	return cl.minB, cl.pref, cl.maxB
}

// Exports are the names NBD_OPT_LIST returned (ClientOptions.List).
func (cl *Client) Exports() []string { return cl.exports }

// Structured reports whether structured replies were negotiated.
func (cl *Client) Structured() bool { return cl.structured }

// do sends one request and waits for its reply.
func (cl *Client) do(typ, flags uint16, off uint64, length uint32, payload, buf []byte) error {
	cl.mu.Lock()
	if cl.err != nil {
		err := cl.err
		cl.mu.Unlock()
		return err
	}
	cl.next++
	cookie := cl.next
	k := &call{typ: typ, off: off, buf: buf, done: make(chan struct{})}
	cl.pending[cookie] = k
	cl.mu.Unlock()
	var h [requestSize]byte
	binary.BigEndian.PutUint32(h[0:], magicRequest)
	binary.BigEndian.PutUint16(h[4:], flags)
	binary.BigEndian.PutUint16(h[6:], typ)
	binary.BigEndian.PutUint64(h[8:], cookie)
	binary.BigEndian.PutUint64(h[16:], off)
	binary.BigEndian.PutUint32(h[24:], length)
	cl.wmu.Lock()
	_, err := cl.bw.Write(h[:])
	if err == nil && len(payload) > 0 {
		_, err = cl.bw.Write(payload)
	}
	if err == nil {
		err = cl.bw.Flush()
	}
	cl.wmu.Unlock()
	if err != nil {
		cl.fail(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	<-k.done
	return k.err
}

// ReadAt reads len(p) bytes at off.
func (cl *Client) ReadAt(p []byte, off uint64) error {
	return cl.do(cmdRead, 0, off, uint32(len(p)), nil, p)
}

// WriteAt writes p at off (fua: durable before the reply).
func (cl *Client) WriteAt(p []byte, off uint64, fua bool) error {
	return cl.do(cmdWrite, fuaFlag(fua), off, uint32(len(p)), p, nil)
}

// Flush sends NBD_CMD_FLUSH.
func (cl *Client) Flush() error { return cl.do(cmdFlush, 0, 0, 0, nil, nil) }

// Trim sends NBD_CMD_TRIM.
func (cl *Client) Trim(off uint64, length uint32, fua bool) error {
	return cl.do(cmdTrim, fuaFlag(fua), off, length, nil, nil)
}

// Zero sends NBD_CMD_WRITE_ZEROES (noHole: NBD_CMD_FLAG_NO_HOLE).
func (cl *Client) Zero(off uint64, length uint32, fua, noHole bool) error {
	f := fuaFlag(fua)
	if noHole {
		f |= cmdFlagNoHole
	}
	return cl.do(cmdWriteZeroes, f, off, length, nil, nil)
}

// Raw sends any request (tests of the server's checks); buf receives a
// read's data.
func (cl *Client) Raw(typ, flags uint16, off uint64, length uint32, payload, buf []byte) error {
	return cl.do(typ, flags, off, length, payload, buf)
}

func fuaFlag(fua bool) uint16 {
	if fua {
		return cmdFlagFUA
	}
	return 0
}

// Close sends NBD_CMD_DISC and closes the connection once the server
// has closed it (every reply to earlier requests came first).
func (cl *Client) Close() error {
	var h [requestSize]byte
	binary.BigEndian.PutUint32(h[0:], magicRequest)
	binary.BigEndian.PutUint16(h[6:], cmdDisc)
	cl.wmu.Lock()
	_, err := cl.bw.Write(h[:])
	if err == nil {
		err = cl.bw.Flush()
	}
	cl.wmu.Unlock()
	if err != nil {
		_ = cl.c.Close()
	}
	<-cl.done
	return cl.c.Close()
}

func (cl *Client) fail(err error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err == nil {
		cl.err = err
	}
	for c, k := range cl.pending {
		k.err = cl.err
		close(k.done)
		delete(cl.pending, c)
	}
}

func (cl *Client) take(cookie uint64, remove bool) *call {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	k := cl.pending[cookie]
	if remove {
		delete(cl.pending, cookie)
	}
	return k
}

func (cl *Client) reader() {
	defer close(cl.done)
	err := cl.readReplies()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if err != nil {
		_ = cl.c.Close()
		cl.fail(fmt.Errorf("%w: %w", ErrClosed, err))
		return
	}
	cl.fail(ErrClosed)
}

func (cl *Client) readReplies() error {
	var h [20]byte
	for {
		if _, err := io.ReadFull(cl.br, h[:4]); err != nil {
			return err
		}
		switch binary.BigEndian.Uint32(h[:4]) {
		case magicSimple:
			if _, err := io.ReadFull(cl.br, h[4:16]); err != nil {
				return err
			}
			e := Errno(binary.BigEndian.Uint32(h[4:]))
			k := cl.take(binary.BigEndian.Uint64(h[8:]), true)
			if k == nil {
				return fmt.Errorf("nbd: reply to unknown cookie")
			}
			if e != 0 {
				k.err = e
			} else if k.typ == cmdRead {
				if cl.structured {
					return fmt.Errorf("nbd: simple reply to a read with structured replies")
				}
				if _, err := io.ReadFull(cl.br, k.buf); err != nil {
					return err
				}
			}
			close(k.done)
		case magicStructure:
			if _, err := io.ReadFull(cl.br, h[4:20]); err != nil {
				return err
			}
			if err := cl.chunk(binary.BigEndian.Uint16(h[4:]), binary.BigEndian.Uint16(h[6:]),
				binary.BigEndian.Uint64(h[8:]), binary.BigEndian.Uint32(h[16:])); err != nil {
				return err
			}
		default:
			return fmt.Errorf("nbd: bad reply magic")
		}
	}
}

func (cl *Client) chunk(flags, typ uint16, cookie uint64, n uint32) error {
	if !cl.structured {
		return fmt.Errorf("nbd: structured reply not negotiated")
	}
	k := cl.take(cookie, flags&replyFlagDone != 0)
	if k == nil {
		return fmt.Errorf("nbd: chunk for unknown cookie")
	}
	switch typ {
	case chunkNone:
		if n != 0 {
			return fmt.Errorf("nbd: NONE chunk with payload")
		}
	case chunkOffsetData:
		var o [8]byte
		if n < 8 || k.typ != cmdRead {
			return fmt.Errorf("nbd: bad OFFSET_DATA chunk")
		}
		if _, err := io.ReadFull(cl.br, o[:]); err != nil {
			return err
		}
		off := binary.BigEndian.Uint64(o[:])
		dn := uint64(n - 8)
		if off < k.off || off-k.off+dn > uint64(len(k.buf)) {
			return fmt.Errorf("nbd: OFFSET_DATA chunk out of the request")
		}
		if _, err := io.ReadFull(cl.br, k.buf[off-k.off:off-k.off+dn]); err != nil {
			return err
		}
		k.got += dn
	case chunkError, chunkErrorOffset:
		if n < 6 || n > maxOptionLen {
			return fmt.Errorf("nbd: bad error chunk")
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(cl.br, p); err != nil {
			return err
		}
		e := Errno(binary.BigEndian.Uint32(p))
		if e == 0 {
			return fmt.Errorf("nbd: error chunk with error 0")
		}
		if k.err == nil {
			k.err = e
		}
	default:
		return fmt.Errorf("nbd: unknown chunk type %d", typ)
	}
	if flags&replyFlagDone != 0 {
		if k.err == nil && k.typ == cmdRead && k.got != uint64(len(k.buf)) {
			k.err = fmt.Errorf("nbd: read reply with %d of %d bytes", k.got, len(k.buf))
		}
		close(k.done)
	}
	return nil
}
