package cdb

import (
	"errors"
	"fmt"

	"github.com/corral-ha/corral/core/wire"
)

// OpKind is what an Op does.
type OpKind uint8

// Op kinds.
const (
	OpPut    OpKind = 1 // set Key to Value
	OpDelete OpKind = 2 // remove Key (nothing happens if it is absent)
)

// Op is one change of a transaction.
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte
}

// Cond is a condition of a transaction: Key's ModRev must be ModRev, where 0
// means the key must not exist.
type Cond struct {
	Key    string
	ModRev uint64
}

// Request is a client's write: a transaction that applies all of Then if
// every condition of If holds, else nothing. Set, Delete and CAS are
// transactions with one Op (see Set, Del, CAS).
type Request struct {
	Client string // a stable client id (shell session, resource manager, ...)
	Seq    uint64 // grows by one per request of Client; a retry reuses it
	Time   int64  // unix ns from the driver's clock, for people (history) only
	If     []Cond
	Then   []Op
}

// Set is a request that sets key to value.
func Set(client string, seq uint64, key string, value []byte) Request {
	return Request{Client: client, Seq: seq, Then: []Op{{Kind: OpPut, Key: key, Value: value}}}
}

// Del is a request that deletes key.
func Del(client string, seq uint64, key string) Request {
	return Request{Client: client, Seq: seq, Then: []Op{{Kind: OpDelete, Key: key}}}
}

// CAS is a request that sets key to value if key's ModRev is modRev (0:
// the key must not exist).
func CAS(client string, seq uint64, key string, modRev uint64, value []byte) Request {
	return Request{Client: client, Seq: seq, If: []Cond{{Key: key, ModRev: modRev}},
		Then: []Op{{Kind: OpPut, Key: key, Value: value}}}
}

// Update is a Request as it travels through the ordered broadcast: the
// request plus the node that took it from the client.
type Update struct {
	Origin wire.NodeID
	Request
}

// Entry is one update in the log, sequenced by View; Seq is its bcast
// sequence number in View (it matches Hold to Commit).
type Entry struct {
	Rev    uint64
	View   wire.ViewID
	Seq    uint64
	Update Update
}

// Result is the outcome of an applied update.
type Result struct {
	Rev uint64 // the revision the update got (every applied update gets one)
	OK  bool   // the conditions held and the ops were applied
	// Old: the request's Seq was lower than the client's last applied one
	// (a late retry of an old request); nothing was applied and Rev is the
	// revision of this no-op.
	Old bool
}

// KV is a key with its value and revisions.
type KV struct {
	Key       string
	Value     []byte
	CreateRev uint64 // the revision that created it (since it last did not exist)
	ModRev    uint64 // the revision that last changed it
}

// Change is one applied update as the shell's history shows it.
type Change struct {
	Rev    uint64
	View   wire.ViewID
	Node   wire.NodeID // the node that took the request
	Client string
	Seq    uint64
	Time   int64 // unix ns, by the origin's clock (for people)
	If     []Cond
	Ops    []Op
	OK     bool
}

// WatchEvent is one change of a key under a watched prefix.
type WatchEvent struct {
	Watch   uint64
	Rev     uint64
	Key     string
	Value   []byte
	Deleted bool
}

// Reply is the answer to a client request taken on this node. The driver
// sends it after it has made the Ready's Persist durable.
type Reply struct {
	Client string
	Seq    uint64
	Result Result
	Err    error // ErrOutcomeUnknown, or nil
}

// ErrOutcomeUnknown answers a request that was delivered in a view that was
// not primary: it was not applied there, but a primary view this node was
// cut off from may have applied it. The client retries with the same
// (Client, Seq), which is answered with the original result if it was
// applied.
var ErrOutcomeUnknown = errors.New("no quorum: the update was not applied in this view and may have been applied elsewhere; retry with the same request id")

// ErrInvalidRequest is every refusal of a malformed request (errors.Is):
// Validate's (no request id, no operation, a key that is not a path, an
// unknown operation) and the driver's own checks of a request id. No node
// takes such a request, so a retry cannot help.
var ErrInvalidRequest = errors.New("cdb: invalid request")

// InvalidRequest is one refusal of a malformed request: its text says
// what is wrong, and it is ErrInvalidRequest.
type InvalidRequest string

func (e InvalidRequest) Error() string { return string(e) }

// Is makes an InvalidRequest ErrInvalidRequest for errors.Is.
func (e InvalidRequest) Is(target error) bool { return target == ErrInvalidRequest }

// ErrNoQuorum is the error Propose returns on a node that is not quorate.
type ErrNoQuorum struct {
	Votes, Expected int
	Reason          string // why, when the votes alone do not say it
}

func (e ErrNoQuorum) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("no quorum: %d of %d votes (%s)", e.Votes, e.Expected, e.Reason)
	}
	return fmt.Sprintf("no quorum: %d of %d votes", e.Votes, e.Expected)
}

// Head is where a node's log ends: the revision and view of its last entry
// (tentative ones included). Membership carries it in the promise.
type Head struct {
	Rev     uint64
	View    wire.ViewID
	Adopted wire.ViewID // the last primary view whose adoption this node completed
}

// Candidate is a member of a new primary view as seen by ChooseSource.
type Candidate struct {
	Node wire.NodeID
	Head Head // the member's Head, from its promise
}

// ChooseSource returns the member whose history a new primary view adopts:
// the newest last primary view whose history it completed adopting
// (Head.Adopted: membership's LP minus the views where the node crashed
// before it had caught up), then the longest log, then the lowest node id. Every member
// must compute it from the same candidates (the promises of the view).
func ChooseSource(cands []Candidate) wire.NodeID {
	best := -1
	for i, c := range cands {
		if best < 0 {
			best = i
			continue
		}
		b := cands[best]
		switch {
		case viewLess(b.Head.Adopted, c.Head.Adopted):
			best = i
		case c.Head.Adopted != b.Head.Adopted:
		case c.Head.Rev > b.Head.Rev:
			best = i
		case c.Head.Rev == b.Head.Rev && c.Node < b.Node:
			best = i
		}
	}
	if best < 0 {
		return 0
	}
	return cands[best].Node
}

func viewLess(a, b wire.ViewID) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch < b.Epoch
	}
	return a.Coord < b.Coord
}

// Progress reports a history transfer to this node (the driver logs it).
type Progress struct {
	View     wire.ViewID
	Source   wire.NodeID
	Rev      uint64 // where this node's log is now
	Head     uint64 // where it will be when the transfer is done
	Snapshot int    // bytes of snapshot taken in this step, if any
	Done     bool
}

func (p Progress) String() string {
	pct := 100
	if p.Head > 0 {
		pct = int(p.Rev * 100 / p.Head)
	}
	s := fmt.Sprintf("cdb: adopting history of n%d for view %d/%d: revision %d of %d (%d%%)",
		p.Source, p.View.Epoch, p.View.Coord, p.Rev, p.Head, pct)
	if p.Snapshot > 0 {
		s += fmt.Sprintf(", snapshot %d bytes", p.Snapshot)
	}
	if p.Done {
		s += ", done"
	}
	return s
}

// Persist is what the driver writes durably (bbolt, fsync) before it acts
// on anything else of the same Ready, in this order: Snapshot, Truncate,
// Entries, Commit. A Persist with only Commit may be written later (the
// package documentation, driver's contract step 4).
type Persist struct {
	// Snapshot, when not nil, is the new base (the state at revision Base);
	// the driver stores it and deletes the entries with Rev <= Base.
	Snapshot []byte
	Base     uint64
	// Truncate, when not 0, deletes the entries with Rev >= Truncate.
	Truncate uint64
	// Entries are put, keyed by Rev.
	Entries []Entry
	// Commit, when not 0, is the highest committed revision.
	Commit uint64
	// Adopted, when not zero, is the primary view whose history this node
	// has just finished adopting (keep the last one).
	Adopted wire.ViewID
}

// Persisted is what the driver read back at a restart.
type Persisted struct {
	Snapshot []byte  // the last Persist.Snapshot, nil if none
	Entries  []Entry // the entries after it, by revision
	Commit   uint64
	Adopted  wire.ViewID
}

// Empty reports whether there is nothing to persist.
func (p *Persist) Empty() bool {
	return p.Snapshot == nil && p.Truncate == 0 && len(p.Entries) == 0 && p.Commit == 0 && p.Adopted == (wire.ViewID{})
}

// Ready is the output of the DB since the last Ready call.
type Ready struct {
	Persist  Persist
	Messages []Message // to send to peers (circuits)
	Replies  []Reply   // to clients, after Persist is durable
	Watch    []WatchEvent
	Progress []Progress
	// Broadcast are payloads the driver broadcasts (bcast Broadcast) like
	// Propose's: the source of an adoption sends a no-op barrier whose safe
	// delivery proves every member has caught up.
	Broadcast [][]byte
	// Reads are the linearizable reads (Read) that may be served now from
	// this node's state, or that failed.
	Reads []ReadDone
}
