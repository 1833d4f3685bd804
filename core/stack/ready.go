package stack

import (
	"log/slog"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/wire"
)

// Ready is what the driver must do, in this order (doc.go, obligations
// 1 to 6):
//
//  1. Logs (any time; they claim nothing).
//  2. Send Packets and answer EarlyReplies: they claim nothing this
//     Ready's Persist holds.
//  3. Make Persist durable (write and fsync, in the order of its fields).
//     If that fails, stop: send nothing more, answer Replies with the
//     error, never call Advance.
//  4. Send After: packets that attest what Persist holds (Acks, Stables,
//     membership promises) or were produced after it.
//  5. Carry out the rest: Events, Messages, Deliveries, Witness asks,
//     Agent calls, Policy requests, FenceCalls, FenceHistory, Replies,
//     Watch, GroupsChanged, LeaveAsked, DLMCompletions, DLMBlocking,
//     DLMAnswers, DiskIO (off the loop, each answered with DiskIODone),
//     DiskDone (to the export), DiskStale.
//  6. SelfFence, then Stop: the node stops (nothing more leaves it).
//
// Then Advance(now).
type Ready struct {
	Logs []Log

	Packets      []conn.Packet
	EarlyReplies []Reply

	Persist Persist

	After []conn.Packet

	// Events are the cores' events in the order they happened (the
	// node's event log, its logs and its handlers).
	Events []Event
	// Messages are application messages received on circuits (Data is
	// the payload Stack.Send sent).
	Messages []conn.Message
	// Deliveries are application broadcasts (Stack.Broadcast), agreed and
	// safe, in order, with the tag byte stripped.
	Deliveries []bcast.Delivery
	// Witness asks the quorum witness for its vote; answer with
	// WitnessAnswer.
	Witness []membership.WitnessReq
	// Agent calls to run on the executor (start, stop, monitor, probe);
	// answer with AgentResult (and MonitorFailed for the recurring
	// monitors the driver runs after a start with an Interval).
	Agent []crm.Action
	// Policy requests for the policy host; answer with PolicyAnswer.
	Policy []crm.PolicyRequest
	// FenceCalls are device calls; answer with FenceResult. The stack
	// has checked that this node held its lease when it made them.
	FenceCalls []fence.Call
	// FenceHistory records to put in the config DB (through Propose,
	// retried by the driver: they are idempotent).
	FenceHistory []fence.Record
	// Replies answer proposals (Stack.Propose) once durable.
	Replies []Reply
	// Reads are the linearizable reads (Stack.CDBRead) that may be
	// served now: CDBGet and CDBList cover every update acknowledged
	// before the read began (Err nil); or the read failed (Err:
	// cdb.ErrNoQuorum, cdb.ErrReadRetry). They rest on nothing this
	// Ready persists.
	Reads []cdb.ReadDone
	// Watch events of the config DB, for the driver's subscribers (not
	// the resource manager's watches: the stack feeds those itself).
	Watch []cdb.WatchEvent
	// GroupsChanged: the groups' owners or states changed (republish DNS).
	GroupsChanged bool
	// LeaveAsked: a peer asked this node to leave cleanly (the driver
	// drains and leaves, off the loop).
	LeaveAsked bool
	// DLMCompletions are the lock manager's completions (one per
	// accepted LockDLM or UnlockDLM, and Lost ones), DLMBlocking its
	// blocking notices, for the locks' owners, in order: a lock's
	// completion comes before its blocking notices. DLMAnswers answer
	// AskLocks. Nothing of them is persisted.
	DLMCompletions []dlm.Completion
	DLMBlocking    []dlm.Blocking
	DLMAnswers     []dlm.Answer

	// DiskIO is work on the backing stores of the disks this node serves
	// (remote clients' requests): run each off the loop (FUA: durable
	// before the answer) and answer it with a DiskIODone, at any later
	// time. DiskDone answers this node's SubmitDisk requests (to the NBD
	// export). DiskStale names disks this node serves for which a client
	// showed a newer epoch: re-read the header and stop serving
	// (DiskUnserve) if it is newer. Nothing of them is persisted.
	DiskIO    []disk.IO
	DiskDone  []disk.Done
	DiskStale []string

	// SelfFence, when set, says why this node learned it was fenced: the
	// driver stops its resources and then the node.
	SelfFence string
	// Stop, when set, stops the node (Run returns it): nothing more may
	// leave it.
	Stop error

	// Sent and SentAfter are the bcast messages handed to conn in
	// Packets and in After (for traces and checkers; already in the
	// packets).
	Sent      []bcast.Out
	SentAfter []bcast.Out
}

// Persist is the state to make durable before After goes out, in this
// order: the config DB's, membership's, the fence core's, the resource
// manager's. nil (empty) fields are not written.
type Persist struct {
	// CDB is one transaction on the config DB's store (Commit is always
	// set: the DB's revision; Entries, Snapshot, Truncate, Adopted as
	// core/cdb/doc.go step 4 says).
	CDB *cdb.Persist
	// Membership is the promise, epoch and lineage (Marshal).
	Membership *membership.Persisted
	// Fence is the fence core's state (fence.Restore).
	Fence []byte
	// CRM is the resource manager's owner table (crm.EncodeKnown).
	CRM *crm.Known
}

// Empty reports whether there is nothing to persist.
func (p Persist) Empty() bool {
	return p.CDB == nil && p.Membership == nil && p.Fence == nil && p.CRM == nil
}

// Reply answers a config DB proposal (client, seq).
type Reply struct {
	Client string
	Seq    uint64
	Result cdb.Result
	Err    error
}

// Log is one log line of the stack (slog's level, message and key-value
// pairs; node ids are already names).
type Log struct {
	Level slog.Level
	Msg   string
	Args  []any
}

// Event is one event of a core: exactly one of Conn, Member, CRM, Fence,
// DLM and Disk is set. View is the installed view when it happened (for
// DLM: the view its recovery finished in; the event's kind is
// dlm_recovered; for Disk: its Kind, disk_served, disk_stopped or
// disk_failed).
type Event struct {
	View   wire.ViewID
	Conn   *conn.Event
	Member *membership.Event
	CRM    *crm.Event
	Fence  *fence.Event
	DLM    *dlm.Recovered
	Disk   *disk.Event
}

// Empty reports whether there is nothing to do.
func (rd *Ready) Empty() bool {
	return len(rd.Logs) == 0 && len(rd.Packets) == 0 && len(rd.EarlyReplies) == 0 && rd.Persist.Empty() &&
		len(rd.After) == 0 && len(rd.Events) == 0 && len(rd.Messages) == 0 && len(rd.Deliveries) == 0 &&
		len(rd.Witness) == 0 && len(rd.Agent) == 0 && len(rd.Policy) == 0 && len(rd.FenceCalls) == 0 &&
		len(rd.FenceHistory) == 0 && len(rd.Replies) == 0 && len(rd.Reads) == 0 && len(rd.Watch) == 0 && !rd.GroupsChanged &&
		!rd.LeaveAsked && rd.SelfFence == "" && rd.Stop == nil && len(rd.DLMCompletions) == 0 && len(rd.DLMBlocking) == 0 &&
		len(rd.DLMAnswers) == 0 && len(rd.DiskIO) == 0 && len(rd.DiskDone) == 0 && len(rd.DiskStale) == 0
}
