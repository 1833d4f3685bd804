package apitypes

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/apitypes/locknames"
)

// The lock session (GET /v1/dlm/session with "Connection: Upgrade" and
// "Upgrade: corral-dlm", answered 101 Switching Protocols) carries
// newline-delimited JSON both ways: the client writes LockOps, the node
// writes LockMsgs. A session is one lock owner (dlm.Owner); when it
// closes, for any reason, the node unlocks every lock it took (a closed
// session is a lost lock).
//
//	-> {"op":"hello","owner":"n1:7"}                       (optional, first line only: join an owner)
//	<- {"type":"hello","owner":"n1:7","node":"n1"}
//	-> {"op":"lock","id":1,"name":"R","mode":"EX","flags":["noqueue"],"timeout":"5s"}
//	<- {"type":"queued","tag":1,"lock":3}                  (the lock's id, before its completion)
//	<- {"type":"completion","tag":1,"lock":3,"status":"ok","mode":"EX"}
//	<- {"type":"blocking","lock":3,"mode":"PR"}            (a request for PR waits behind it)
//	-> {"op":"convert","id":2,"lock":3,"mode":"NL","flags":["valblk"],"lvb":"AAEC..."}
//	-> {"op":"unlock","id":3,"lock":3}
//	<- {"type":"completion","tag":3,"lock":3,"status":"EUNLOCK","mode":"IV"}
//	<- {"type":"error","tag":9,"status":"EINVAL","error":"...","hint":"..."} (the session goes on)
//	<- {"type":"lost","lock":3,"error":"..."}              (the lock is gone: act as if never held)
//
// The session opens with the client's first line (a hello, or its first
// request, which then takes a fresh owner); the node's first line is always
// its hello, naming the owner, before any answer. Every accepted
// lock or convert gets one queued line and then exactly one completion;
// an unlock or cancel that was accepted gets its completion (a cancel with
// nothing pending gets {"type":"done","tag":N}). A request that was not
// accepted gets one error line with the tag and a status: EINVAL (bad
// arguments), EBUSY (an operation is in flight on that lock), ENOENT (no
// such lock), EPROTO (a line that is not a request), ESTOPPED (the node
// is stopping). A timeout that passes before the grant cancels the
// request: its completion says "ETIMEDOUT".

// LockSessionProto is the protocol name of the lock session's upgrade.
const LockSessionProto = "corral-dlm"

// LockSessionPath is the lock session's route.
const LockSessionPath = "/v1/dlm/session"

// LockOwnerEnv is the environment variable `corral lock` sets for its
// command: the session's owner ("NODE:ID"), which a `corral lock` run
// inside joins (a nested lock is the same owner, as in VMS).
const LockOwnerEnv = "CORRAL_LOCK_OWNER"

// The client's operations.
const (
	LockOpHello   = "hello"
	LockOpLock    = "lock"
	LockOpConvert = "convert"
	LockOpUnlock  = "unlock"
	LockOpCancel  = "cancel"
)

// The node's message types.
const (
	LockMsgHello      = "hello"
	LockMsgQueued     = "queued"
	LockMsgCompletion = "completion"
	LockMsgBlocking   = "blocking"
	LockMsgDone       = "done"
	LockMsgError      = "error"
	LockMsgLost       = "lost"
)

// LockOp is one line a session's client writes.
type LockOp struct {
	Op string `json:"op"` // hello, lock, convert, unlock, cancel
	// ID is the client's tag for this request: the node's answers to it
	// carry it as "tag".
	ID uint64 `json:"id,omitempty"`
	// Owner (hello only): join this owner ("NODE:ID", from
	// $CORRAL_LOCK_OWNER) instead of a fresh one.
	Owner     string   `json:"owner,omitempty"`
	Lockspace string   `json:"lockspace,omitempty"` // lock: "" is "default"
	Name      string   `json:"name,omitempty"`      // lock: the resource
	Mode      string   `json:"mode,omitempty"`      // lock, convert: NL CR CW PR PW EX
	Flags     []string `json:"flags,omitempty"`     // lower-case flag names (LockFlagNames)
	LVB       []byte   `json:"lvb,omitempty"`       // base64: with valblk, the value to write
	// Timeout (lock, convert): give up if not granted within this
	// duration ("5s"): the request is cancelled and completes ETIMEDOUT.
	Timeout string `json:"timeout,omitempty"`
	// Lock names the lock of a convert, unlock or cancel (the "lock" of
	// its queued or completion line).
	Lock uint64 `json:"lock,omitempty"`
}

// LockMsg is one line the node writes on a session.
type LockMsg struct {
	Type  string `json:"type"`           // hello, queued, completion, blocking, done, error, lost
	Tag   uint64 `json:"tag,omitempty"`  // the request's id
	Lock  uint64 `json:"lock,omitempty"` // the lock's id on this node
	Owner string `json:"owner,omitempty"`
	Node  string `json:"node,omitempty"` // hello: the node's name
	// Status: a completion's (ok, EAGAIN, EDEADLK, ECANCEL, EUNLOCK,
	// ETIMEDOUT, lost) or an error's (EINVAL, EBUSY, ENOENT, EPROTO,
	// ESTOPPED).
	Status string   `json:"status,omitempty"`
	Mode   string   `json:"mode,omitempty"` // completion: the granted mode after it (IV: none); blocking: the mode asked for
	SB     []string `json:"sb,omitempty"`   // demoted, valnotvalid, altmode
	LVB    []byte   `json:"lvb,omitempty"`  // base64: with valblk, the value read
	Error  string   `json:"error,omitempty"`
	Hint   string   `json:"hint,omitempty"`
}

// Completion statuses as sessions write them (beside StatusName's).
const (
	LockStatusTimedOut = locknames.TimedOut
	LockStatusLost     = locknames.Lost
)

// Error statuses of a request that was not accepted.
const (
	LockErrInvalid  = locknames.ErrInvalid
	LockErrBusy     = locknames.ErrBusy
	LockErrNotFound = locknames.ErrNotFound
	LockErrProto    = "EPROTO"
	LockErrStopped  = locknames.ErrStopped
)

// LocksDoc answers GET /v1/locks[?lockspace=LS]: the cluster-wide lock
// table, one entry per resource as its master holds it.
type LocksDoc struct {
	Resources []LockResource `json:"resources"`
	// Missing names members that did not answer in time (their
	// resources are absent).
	Missing []string `json:"missing,omitempty"`
}

// LockResource is one resource of the lock table.
type LockResource struct {
	Lockspace  string      `json:"lockspace"`
	Name       string      `json:"name"`
	Master     string      `json:"master"`
	Directory  string      `json:"directory"`
	LVBValid   bool        `json:"lvb_valid"`
	LVB        []byte      `json:"lvb,omitempty"`
	Granted    []LockEntry `json:"granted"`
	Converting []LockEntry `json:"converting"`
	Waiting    []LockEntry `json:"waiting"`
}

// LockEntry is one lock in a resource's queue.
type LockEntry struct {
	Node    string   `json:"node"` // the node that took it
	ID      uint64   `json:"id"`   // its id there
	Owner   string   `json:"owner"`
	Granted string   `json:"granted"`          // IV while waiting
	Wanted  string   `json:"wanted,omitempty"` // converting or waiting: the mode asked for
	Flags   []string `json:"flags,omitempty"`
	Orphan  bool     `json:"orphan,omitempty"`
}

// The names of modes, flags, statuses and status-block flags (package
// locknames, which the Lua host shares).
var (
	ModeName      = locknames.Mode
	ParseMode     = locknames.ParseMode
	LockFlagNames = locknames.FlagList
	ParseFlags    = locknames.ParseFlags
	FlagNames     = locknames.Flags
	StatusName    = locknames.Status
	SBNames       = locknames.SB
)

// FormatOwner writes an owner as "NODE:ID" (the node's name).
func FormatOwner(node string, id uint64) string {
	return node + ":" + strconv.FormatUint(id, 10)
}

// ParseOwner reads "NODE:ID".
func ParseOwner(s string) (node string, id uint64, err error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, fmt.Errorf("owner %q: want NODE:ID (as %s holds it)", s, LockOwnerEnv)
	}
	id, err = strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil || id == 0 {
		return "", 0, fmt.Errorf("owner %q: want NODE:ID with a positive ID (as %s holds it)", s, LockOwnerEnv)
	}
	return s[:i], id, nil
}
