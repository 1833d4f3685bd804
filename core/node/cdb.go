package node

import (
	"context"
	"fmt"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/stack"
)

// cdbReply is the answer to a write waiting in an API call.
type cdbReply struct {
	res cdb.Result
	err error
}

type cdbKey struct {
	client string
	seq    uint64
}

// cdbDriver is the node's side of the config DB: the API calls waiting
// for their answers and the watches (the DB and its wiring are in
// core/stack); all of it runs on the event loop.
type cdbDriver struct {
	client  string // this node's client id for API writes (name/boot)
	seq     uint64
	waiters map[cdbKey]chan cdbReply
	// trace, set by tests before Run, sees what the durability ordering
	// is about: entries made durable, bcast messages handed to the
	// transport, answers.
	trace func(cdbEvent)

	watchers map[uint64]*cdbWatcher // API watches by the DB's watch id (cdbwatch.go)

	readSeq uint64                 // the last linearizable read's id (cdbread.go)
	readers map[uint64]func(error) // reads waiting for the stack, by id
}

// cdbEvent is one event for cdbDriver.trace: entries on disk, a bcast
// message handed to the transport, or an answer to a client.
type cdbEvent struct {
	durable []cdb.Entry
	sent    *bcast.Out
	reply   *cdb.Reply
}

// traceSent traces the bcast messages of packets just sent.
func (n *Node) traceSent(out []bcast.Out) {
	if n.cdb.trace == nil {
		return
	}
	for _, o := range out {
		n.cdb.trace(cdbEvent{sent: &o})
	}
}

// cdbAnswerAll answers the stack's replies to the waiting API calls.
func (n *Node) cdbAnswerAll(rs []stack.Reply) {
	for _, r := range rs {
		if n.cdb.trace != nil {
			n.cdb.trace(cdbEvent{reply: &cdb.Reply{Client: r.Client, Seq: r.Seq, Result: r.Result, Err: r.Err}})
		}
		n.cdbAnswer(r.Client, r.Seq, cdbReply{res: r.Result, err: r.Err})
	}
}

func (n *Node) cdbAnswer(client string, seq uint64, r cdbReply) {
	k := cdbKey{client, seq}
	if ch, ok := n.cdb.waiters[k]; ok {
		delete(n.cdb.waiters, k)
		ch <- r
	}
}

// cdbTick writes the committed revision the stack has not written yet
// (core/stack doc.go, guarantee 4), at a clean stop.
func (n *Node) cdbTick() {
	p := n.st.PendingCommit()
	if p == nil {
		return
	}
	if err := n.store.PutCDB(p); err != nil {
		n.fatal(fmt.Errorf("config database: cannot persist: %w", err))
	}
}

// CDBGet reads a key from this node's committed state (a `--stale` read;
// CDBGetLinear for one that sees every acknowledged update); stale is
// true when this node is not quorate or is catching up (the value may be
// old).
func (n *Node) CDBGet(key string) (kv cdb.KV, found, stale bool, err error) {
	err = n.do(func() { kv, found, stale = n.st.CDBGet(key) })
	return
}

// CDBList lists the keys under prefix with the committed revision, from
// this node's state (CDBListLinear: linearizable).
func (n *Node) CDBList(prefix string) (kvs []cdb.KV, rev uint64, stale bool, err error) {
	err = n.do(func() { kvs, rev, stale = n.st.CDBList(prefix) })
	return
}

// CDBHistory returns the last n changes, oldest first.
func (n *Node) CDBHistory(count int) ([]cdb.Change, error) {
	var h []cdb.Change
	err := n.do(func() { h = n.st.CDBHistory(count) })
	return h, err
}

// CDBTxn applies a transaction: every op of then if every condition of
// ifs holds, else nothing. It returns once every member of the primary
// view has it on disk, or an error ("no quorum: 1 of 3 votes" on a node
// that may not take writes); ctx bounds the wait. A transaction that
// would write an invalid resource or group, or delete a group that keeps
// resources, is refused before it is proposed (ErrInvalidConfig,
// validate.go).
func (n *Node) CDBTxn(ctx context.Context, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error) {
	return n.cdbTxn(ctx, "", 0, ifs, then)
}

// CDBSet sets key to value.
func (n *Node) CDBSet(ctx context.Context, key string, value []byte) (cdb.Result, error) {
	return n.CDBTxn(ctx, nil, []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: value}})
}

// CDBDelete deletes key.
func (n *Node) CDBDelete(ctx context.Context, key string) (cdb.Result, error) {
	return n.CDBTxn(ctx, nil, []cdb.Op{{Kind: cdb.OpDelete, Key: key}})
}

// CDBCAS sets key to value if its revision is modRev (0: absent); the
// result's OK is false when it was not.
func (n *Node) CDBCAS(ctx context.Context, key string, modRev uint64, value []byte) (cdb.Result, error) {
	return n.CDBTxn(ctx, []cdb.Cond{{Key: key, ModRev: modRev}}, []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: value}})
}
