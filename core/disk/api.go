package disk

// This file is the package's public surface, fixed at the start of the
// served disk issue (19) so that the core, the stack, the driver, the
// NBD export and the simulation can be built side by side. Bodies live in
// the other files. Keep every name and signature; add what you need and
// say so.

import (
	"errors"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Agent is the built-in resource agent that serves a disk: a resource
// with this agent is a served disk named as the resource, its parameters
// ParamSize (the data size in bytes, decimal) and ParamBacking (the
// backing store's path, the same on every possible server). The Lua
// loader reserves the name.
const Agent = "disk"

// The disk agent's parameters.
const (
	ParamSize    = "size"
	ParamBacking = "backing"
)

// Inc names one incarnation of a node: its id and its boot id (conn's).
type Inc struct {
	Node wire.NodeID
	Boot uint32
}

// Op is a block request's operation (NBD's commands the export serves).
type Op uint8

// The operations.
const (
	OpRead  Op = 1
	OpWrite Op = 2
	OpFlush Op = 3
	OpTrim  Op = 4
	OpZero  Op = 5 // write zeroes
)

// Errno is a request's result, as NBD reports it.
type Errno uint8

// The results. Only OK means the request was carried out (and, for a
// write with FUA or a flush, made durable).
const (
	OK        Errno = 0
	EIO       Errno = 1 // the request failed or its outcome is unknown (a disk's "I/O error")
	EINVAL    Errno = 2 // out of range, misaligned, or malformed
	ENOSPC    Errno = 3 // the backing store is full
	ESHUTDOWN Errno = 4 // the disk was deleted, or this node is leaving
)

// MaxPiece is the largest data a request or reply message carries: a
// client splits larger requests into pieces of at most this size.
const MaxPiece = 256 << 10

// Errors of Submit and Step.
var (
	ErrNoDisk  = errors.New("disk: no such disk")
	ErrRange   = errors.New("disk: request out of the disk's range")
	ErrStopped = errors.New("disk: core stopped")
)

// Config is a disk core's configuration (defaults in defaults.go).
type Config struct {
	Self Inc
	// Window bounds the pieces one client has in flight to a server, per
	// disk (0: DefaultWindow).
	Window int
	// Retry is how long a request waits for a server that takes it (none
	// serves, the server left, the request was refused as stale) before
	// it fails with EIO (0: DefaultRetry). The seed's retry policy. Never
	// while a copy sent may still be applied (doc.go, "Retry").
	Retry time.Duration
	// DupCache bounds the answers a server keeps per client incarnation
	// for retries (0: DefaultDupCache).
	DupCache int
}

// Disk is one served disk as the config DB defines it (/resources/NAME
// with agent "disk"): its name and data size in bytes.
type Disk struct {
	Name string
	Size uint64
}

// Input is one thing that happened, given to Step. The set is closed.
type Input interface{ input() }

// Define gives the whole set of disks (after every change of the config
// DB's disk resources). A disk that goes away fails its client requests
// with ESHUTDOWN and stops being served (the driver stops the server
// through the resource manager).
type Define struct{ Disks []Disk }

// View is the view the disk core must act in, given by the stack at every
// change (the same judgement as the lock manager's dlm.View):
//
//   - ID and Members: the installed view and the incarnations in it
//     (every member with the boot id conn talks to).
//   - Primary: the view is primary and this node holds its lease. A
//     server applies nothing outside a Primary view; a client sends
//     nothing.
//   - Lost: this node's lease lapsed and no fence device covers it (the
//     lock manager's Lost): every pending client request fails with EIO
//     and is never re-sent (the survivors may have released this node's
//     locks).
type View struct {
	ID      wire.ViewID
	Members []Inc
	Primary bool
	Lost    bool
}

// Receive is a disk message that arrived on the circuit from From (the
// payload Out.Payload carried, type wire.TypeDisk).
type Receive struct {
	From    Inc
	Payload []byte
}

// Serve says this node now serves Disk at Epoch: the driver holds the
// backing store's lock and has written and synced the header with Epoch
// (one more than it read). The core announces it to every member.
type Serve struct {
	Disk  string
	Epoch uint64
}

// Unserve says this node stops serving Disk (the agent's stop, a failed
// monitor, or a newer epoch in the header). The core takes no more
// requests for it; the I/O in flight still comes back as IODone.
type Unserve struct{ Disk string }

// IODone answers one IO: Data for a read (exactly IO.Len bytes).
type IODone struct {
	ID   uint64
	Err  Errno
	Data []byte
}

func (Define) input()  {}
func (View) input()    {}
func (Receive) input() {}
func (Serve) input()   {}
func (Unserve) input() {}
func (IODone) input()  {}

// Request is a client's block request on a disk (from the NBD export of
// this node). ID is the driver's and comes back in Done. Off and Len are
// in the disk's data space (the header is the driver's business). Data is
// a write's payload (len(Data) == Len). A request larger than MaxPiece is
// split by the core; its Done comes when every piece is done.
type Request struct {
	ID     uint64
	Disk   string
	Op     Op
	Off    uint64
	Len    uint32
	Data   []byte
	FUA    bool // durable before the reply (write, trim, zero)
	NoHole bool // write zeroes must allocate
}

// Done answers one Request. Epoch is the server epoch that carried it out
// (for the driver's flush rule, Dirty); Data a read's bytes.
type Done struct {
	ID    uint64
	Err   Errno
	Epoch uint64
	Data  []byte
}

// Out is a message to send on the circuit to To (wire.TypeDisk).
type Out struct {
	To      wire.NodeID
	Payload []byte
}

// IO is work for the driver on the backing store of a disk this node
// serves (a remote client's request): answer with IODone. Off is in the
// data space (the driver adds the header's data offset).
type IO struct {
	ID     uint64
	Disk   string
	Op     Op
	Off    uint64
	Len    uint32
	Data   []byte
	FUA    bool
	NoHole bool
}

// EventKind names a disk event.
type EventKind string

// The event kinds (the node's events disk_served, disk_stopped,
// disk_failed).
const (
	EventServed  EventKind = "disk_served"  // a server announced itself at an epoch
	EventStopped EventKind = "disk_stopped" // the server stopped serving (cleanly)
	EventFailed  EventKind = "disk_failed"  // requests failed with EIO: no server took them in time, or lost
)

// Event is one disk event.
type Event struct {
	Kind   EventKind
	Disk   string
	Server Inc
	Epoch  uint64
	Reason string
}

// Ready is what the driver must do: send Messages, run IO (off the
// loop; every one is answered with IODone), give Done to the clients,
// publish Events. Stale names disks this node serves for which a client
// showed a newer epoch: the driver re-reads the header and stops serving
// if it is newer (Unserve). Fenced is the newest view whose barrier is
// complete here: no request of an incarnation outside it is queued or in
// flight, and none will be taken (the stack gives the lock manager its
// Release only then).
type Ready struct {
	Messages []Out
	IO       []IO
	Done     []Done
	Events   []Event
	Stale    []string
	Fenced   wire.ViewID
}

// Status is one disk as this node sees it.
type Status struct {
	Name    string
	Size    uint64
	Server  *Inc   // nil while none serves (as far as this node knows)
	Epoch   uint64 // the server's epoch (0 while none)
	Serving bool   // this node serves it
	// State: "serving" (a server announced), "recovering" (a server is
	// being waited for: requests are held), "stopped" (none serves).
	State                     string
	Clients                   []wire.NodeID // the server's clients in this epoch, as it announced them
	Pending                   int           // this node's requests not yet answered
	Reads, Writes, Flushes    uint64        // this node's requests answered OK, as a client
	ServedReads, ServedWrites uint64        // requests this node served for remote clients
}

// The core's methods are in disk.go (New, Step, Submit, Tick, HasReady,
// Ready, Advance, Status, Fenced); the pure helpers every driver uses are
// Header (header.go: the backing store's header block) and Dirty
// (dirty.go: the flush rule).
