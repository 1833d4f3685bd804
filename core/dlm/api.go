package dlm

// This file is the package's public surface, fixed at the start of the
// DLM issue so that the engine, the distribution, the stack and the
// surfaces can be built side by side. Bodies live in the other files.

import (
	"errors"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Mode is a lock mode. The order NL < CR < CW < PR < PW < EX is Linux's
// and VMS's; IV is no mode (a new lock before its grant).
type Mode int8

// The modes (Linux's values, include/uapi/linux/dlmconstants.h).
const (
	IV Mode = -1
	NL Mode = 0
	CR Mode = 1
	CW Mode = 2
	PR Mode = 3
	PW Mode = 4
	EX Mode = 5
)

// Flags are a request's flags (Linux's values).
type Flags uint32

// The flags (`corral help dlm` section 3 gives each one's rule).
const (
	NoQueue     Flags = 0x1
	Cancel      Flags = 0x2 // Unlock only
	Convert     Flags = 0x4
	ValBlk      Flags = 0x8
	QueCvt      Flags = 0x10
	IVValBlk    Flags = 0x20
	ConvDeadlk  Flags = 0x40
	Persistent  Flags = 0x80
	NoDlckWt    Flags = 0x100
	Expedite    Flags = 0x400
	NoQueueBast Flags = 0x800
	Orphan      Flags = 0x4000
	AltPR       Flags = 0x8000
	AltCW       Flags = 0x10000
	ForceUnlock Flags = 0x20000
)

// Status is a completion's status (Linux's AST statuses, positive as
// libdlm gives them).
type Status int32

// The statuses. Lost is corral's: the lock died with this node's hold on
// the cluster (its lease lapsed without a fence device to cover it, or its
// lockspace's master state was purged); the client must act as if it had
// never held it.
const (
	OK      Status = 0
	EAGAIN  Status = 11
	EDEADLK Status = 35
	ECANCEL Status = 0x10001
	EUNLOCK Status = 0x10002
	Lost    Status = 0x10100
)

// SBFlags are a completion's status-block flags (Linux's sb_flags).
type SBFlags uint8

// The status-block flags.
const (
	Demoted     SBFlags = 0x1
	ValNotValid SBFlags = 0x2
	AltMode     SBFlags = 0x4
)

// Synchronous errors (returned by the request methods; the operation was
// not accepted and no completion will come). Compare with errors.Is.
var (
	ErrInvalid  = errors.New("invalid argument (EINVAL)")
	ErrBusy     = errors.New("an operation is in flight on this lock (EBUSY)")
	ErrNotFound = errors.New("no such lock (ENOENT)")
	ErrStopped  = errors.New("the lock manager is stopped")
)

// Limits.
const (
	MaxName                = 64 // bytes in a resource or lockspace name (DLM_RESNAME_MAXLEN)
	DefaultLVB             = 32 // a lockspace's value block length unless the config DB fixes another
	MaxLVB                 = 256
	DefaultLinger          = 10 * time.Second // an unused resource lingers this long before the directory forgets it (toss_secs)
	DefaultDeadlockTimeout = 10 * time.Second // [dlm] deadlock_timeout
)

// LockID names a lock on the node that took it (Linux's lkid): unique
// for the node's incarnation, never reused.
type LockID uint64

// Owner is who holds locks: a process, a session, a `corral lock` and the
// ones nested in its command (like VMS's process or dlm_controld's
// transaction id). The deadlock search's graph is over owners. ID is
// chosen by the caller, unique on Node.
type Owner struct {
	Node wire.NodeID
	ID   uint64
}

// Request is a new lock (Lock) or a conversion (Lock with Convert set,
// naming ID).
type Request struct {
	Lockspace string // "" is "default"
	Name      string // resource name, at most MaxName bytes
	Mode      Mode
	Flags     Flags
	Owner     Owner
	LVB       []byte // with ValBlk: the value to write when the table says W
	ID        LockID // with Convert: the lock to convert
}

// Completion is the one completion (AST) of an accepted operation.
type Completion struct {
	ID     LockID
	Owner  Owner
	Status Status
	Mode   Mode // the granted mode after the operation (IV when none)
	SB     SBFlags
	LVB    []byte // with ValBlk: the value read (nil when none)
}

// Blocking is a blocking notice (BAST): a request for Mode is blocked by
// this granted lock.
type Blocking struct {
	ID    LockID
	Owner Owner
	Mode  Mode
}

// Out is a point-to-point message to a peer's DLM (the driver sends it on
// the peer's circuit as wire.TypeDLM).
type Out struct {
	To      wire.NodeID
	Payload []byte
}

// Recovered is the event dlm_recovered: a recovery finished.
type Recovered struct {
	View      wire.ViewID
	Members   []wire.NodeID
	Purged    []wire.NodeID // departed incarnations whose locks were dropped
	Resources int           // resources rebuilt
	Took      time.Duration // from the view's input to the end of recovery
}

// Ready is what the driver must do: send Messages, hand Completions and
// Blocking notices to their owners (a completion before any blocking
// notice of the same lock), record Events. Nothing persists.
type Ready struct {
	Messages    []Out
	Completions []Completion
	Blocking    []Blocking
	Events      []Recovered
	Answers     []Answer
}

// Input is one thing that happened, given to Step. Only this package's
// types implement it.
type Input interface{ input() }

// Receive is a message from a peer's DLM (wire.TypeDLM on its circuit).
type Receive struct {
	From    wire.NodeID
	Payload []byte
}

// View is the membership view and what the stack decided about the nodes
// that left it. A primary view whose Release covers every departed
// member of the last view recovery ran in starts recovery; until then
// nothing is granted (requests queue, never fail).
type View struct {
	ID      wire.ViewID
	Members []wire.NodeID // sorted
	Primary bool          // primary and this node holds its lease (carried across the change)
	// Release: departed nodes whose locks may go (confirmed fenced, left
	// cleanly, back with a higher boot id, or without a fence device after
	// the lease wait), sorted. Every configured node absent from Members
	// must be named here, for as long as it stays absent, before recovery
	// runs (doc.go, "Recovery"): a restarted DLM cannot know which absent
	// node holds locks.
	Release []wire.NodeID
	// Lost: this node must give up every lock it holds (its lease lapsed
	// and no fence device covers it): each held lock completes with Lost.
	Lost bool
}

// PurgeOwner releases every lock of an owner (its session closed, its
// process died): non-persistent locks are unlocked (their clients get no
// completion), persistent ones become orphans (Orphan adopts them).
type PurgeOwner struct{ Owner Owner }

// Ask asks for the cluster-wide table of locks (the shell's `locks`):
// the Answer with the same Tag comes in a later Ready.
type Ask struct {
	Tag       uint64
	Lockspace string // "" for every lockspace
}

// Answer is the table an Ask asked for, gathered from every member.
type Answer struct {
	Tag       uint64
	Resources []ResourceInfo
	Missing   []wire.NodeID // members that did not answer in time
}

// ResourceInfo describes one resource as its master holds it.
type ResourceInfo struct {
	Lockspace  string
	Name       string
	Master     wire.NodeID
	Directory  wire.NodeID
	LVBValid   bool
	LVB        []byte
	Granted    []LockInfo
	Converting []LockInfo
	Waiting    []LockInfo
}

// LockInfo describes one lock in a resource's queue.
type LockInfo struct {
	Node    wire.NodeID
	ID      LockID
	Owner   Owner
	Granted Mode
	Wanted  Mode // converting or waiting: the mode asked for
	Flags   Flags
	Orphan  bool
}

func (Receive) input()    {}
func (View) input()       {}
func (PurgeOwner) input() {}
func (Ask) input()        {}

// Config configures one node's DLM.
type Config struct {
	Self  wire.NodeID
	Nodes []wire.NodeID // every configured node, sorted
	// LVB is each lockspace's value block length (a multiple of 8, at
	// most MaxLVB) as the config DB fixes it; others get DefaultLVB.
	LVB map[string]int
	// DeadlockTimeout is how long a request waits before the cluster-wide
	// waits-for search looks at it (DefaultDeadlockTimeout when 0).
	DeadlockTimeout time.Duration
	// Linger is how long an unused resource stays before the directory
	// forgets it (DefaultLinger when 0).
	Linger time.Duration
}

// SetLVB fixes a lockspace's value block length (the config DB's value;
// the stack refuses a change once set).
type SetLVB struct {
	Lockspace string
	Len       int
}

func (SetLVB) input() {}

// The DLM's methods (bodies in dlm.go):
//
//	func New(cfg Config, rng *rand.Rand) (*DLM, error)
//	func (d *DLM) Step(now time.Duration, in Input) error
//	func (d *DLM) Lock(now time.Duration, r Request) (LockID, error)  // a new lock, or a conversion (Convert)
//	func (d *DLM) Unlock(now time.Duration, id LockID, flags Flags, lvb []byte) error // Cancel, ForceUnlock, ValBlk, IVValBlk
//	func (d *DLM) Tick(now time.Duration)
//	func (d *DLM) HasReady() bool
//	func (d *DLM) Ready() Ready
//	func (d *DLM) Advance()
//	func (d *DLM) Locks(lockspace string) []ResourceInfo // what this node holds: its masters' queues and its own locks
