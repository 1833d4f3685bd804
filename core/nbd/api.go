package nbd

// This file is the package's public surface, fixed at the start of the
// served disk issue (19) so that the server and the driver's export can
// be built side by side. Keep every name and signature; add what you
// need and say so.

import (
	"context"
	"fmt"
)

// Backend carries out one export's block requests. Its methods are called
// concurrently (the server runs the requests of a connection, and of all
// connections, in parallel; the backend orders what must be ordered).
// Offsets and lengths are checked against the export's size and block
// constraints before a call. A returned error is sent to the client as
// the Errno it wraps (errors.As), EIO otherwise.
type Backend interface {
	ReadAt(ctx context.Context, p []byte, off uint64) error
	// WriteAt: fua asks for the data to be durable before it returns.
	WriteAt(ctx context.Context, p []byte, off uint64, fua bool) error
	// Flush makes every write that returned before it was called durable.
	Flush(ctx context.Context) error
	Trim(ctx context.Context, off uint64, length uint32, fua bool) error
	// Zero writes zeroes; noHole: the range must stay allocated.
	Zero(ctx context.Context, off uint64, length uint32, fua, noHole bool) error
}

// Export is one named export.
type Export struct {
	Name        string
	Description string
	Size        uint64
	Backend     Backend
	ReadOnly    bool
	// MultiConn advertises NBD_FLAG_CAN_MULTI_CONN: the backend's Flush
	// covers writes completed on every connection.
	MultiConn bool
	// Block size constraints (NBD_INFO_BLOCK_SIZE); 0: 1, 4096 and
	// DefaultMaxBlock.
	MinBlock, PreferredBlock, MaxBlock uint32
}

// DefaultMaxBlock is the largest request payload accepted when an Export
// says nothing (32 MiB, as nbd-server and qemu-nbd).
const DefaultMaxBlock = 32 << 20

// Exports finds the exports a server offers. Lookup is called at every
// handshake (an export added or removed since is seen by the next
// client); "" is the default export name (NBD_OPT_EXPORT_NAME with an
// empty name): Lookup decides what it means.
type Exports interface {
	Lookup(name string) (Export, bool)
	List() []Export
}

// Errno is an error NBD sends to a client (the protocol's values).
type Errno uint32

// NBD's error values (doc/proto.md "Error values").
const (
	EPERM     Errno = 1
	EIO       Errno = 5
	ENOMEM    Errno = 12
	EINVAL    Errno = 22
	ENOSPC    Errno = 28
	EOVERFLOW Errno = 75
	ENOTSUP   Errno = 95
	ESHUTDOWN Errno = 108
)

func (e Errno) Error() string {
	switch e {
	case EPERM:
		return "nbd: operation not permitted"
	case EIO:
		return "nbd: input/output error"
	case ENOMEM:
		return "nbd: out of memory"
	case EINVAL:
		return "nbd: invalid argument"
	case ENOSPC:
		return "nbd: no space left"
	case EOVERFLOW:
		return "nbd: value too large"
	case ENOTSUP:
		return "nbd: operation not supported"
	case ESHUTDOWN:
		return "nbd: server shutting down"
	}
	return fmt.Sprintf("nbd: error %d", uint32(e))
}

// The server (server.go):
//
//	type Server struct {
//		Exports Exports
//		Log     *slog.Logger   // nil: discard
//		Stats   *Stats         // optional counters (atomic), per server
//	}
//	func (s *Server) Serve(ctx context.Context, l net.Listener) error
//	func (s *Server) ServeConn(ctx context.Context, c net.Conn) error
//
// A test client (client.go, used by tests and benchmarks in this
// repository): Dial/Handshake with options, Read/Write/Flush/Trim/Zero
// with FUA, structured replies on or off.
