package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/cdb"
)

// apiClientPrefix keeps callers' client ids (CDBTxnAs) apart from the
// node's own ("n1/3"), so no caller can take over the node's sequence.
const apiClientPrefix = "api:"

// ErrInFlight refuses a CDBTxnAs whose (client, seq) is already waiting
// for its outcome on this node.
var ErrInFlight = errors.New("config database: this request (client, seq) is already waiting for its outcome on this node")

// CDBTxnAs is CDBTxn under the caller's request id: client names the
// caller (any non-empty string) and seq grows by one per new request of
// it, from 1. A caller that got no answer, or cdb.ErrOutcomeUnknown,
// retries with the same (client, seq) on any node of the primary view:
// the update is applied at most once and the retry gets the original
// result. A seq below the client's last applied one gets a Result with
// Old set (its outcome is no longer kept; nothing was applied).
func (n *Node) CDBTxnAs(ctx context.Context, client string, seq uint64, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error) {
	if client == "" || seq == 0 {
		return cdb.Result{}, cdb.InvalidRequest("cdb: a request id needs a client and a sequence number from 1")
	}
	return n.cdbTxn(ctx, apiClientPrefix+client, seq, ifs, then)
}

// cdbTxn proposes a transaction under (client, seq), or under the node's
// own client and next seq when client is "", and waits for its answer.
func (n *Node) cdbTxn(ctx context.Context, client string, seq uint64, ifs []cdb.Cond, then []cdb.Op) (res cdb.Result, err error) {
	defer func() { n.counts.cdbWrite(res, err) }()
	return n.cdbTxnOnce(ctx, client, seq, ifs, then)
}

func (n *Node) cdbTxnOnce(ctx context.Context, client string, seq uint64, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error) {
	// a full disk under the data directory refuses the write before it
	// is proposed (diskfull.go)
	if err := n.checkSpace(); err != nil {
		return cdb.Result{}, err
	}
	// an invalid resource or group is refused here, for every client
	// (validate.go)
	if err := n.validateTxn(then); err != nil {
		return cdb.Result{}, err
	}
	ch := make(chan cdbReply, 1)
	var err error
	if e := n.do(func() { err = n.cdbPropose(n.now(), client, seq, time.Now().UnixNano(), ifs, then, ch) }); e != nil {
		return cdb.Result{}, e
	}
	if err != nil {
		return cdb.Result{}, err
	}
	select {
	case r := <-ch:
		return r.res, r.err
	case <-ctx.Done():
		_ = n.do(func() {
			for k, w := range n.cdb.waiters {
				if w == ch {
					delete(n.cdb.waiters, k)
				}
			}
		})
		return cdb.Result{}, fmt.Errorf("config database: no answer yet (%w); the update may still be applied", ctx.Err())
	case <-n.loopDone:
		return cdb.Result{}, ErrClosed
	}
}

// cdbPropose, on the event loop, proposes a transaction under (client,
// seq), or under the node's own client and next seq when client is "";
// its answer comes on ch (buffered) from a later round.
func (n *Node) cdbPropose(now time.Duration, client string, seq uint64, at int64, ifs []cdb.Cond, then []cdb.Op, ch chan cdbReply) error {
	c := &n.cdb
	req := cdb.Request{Client: client, Seq: seq, Time: at, If: ifs, Then: then}
	if client == "" {
		c.seq++
		req.Client, req.Seq = c.client, c.seq
	}
	k := cdbKey{req.Client, req.Seq}
	if _, busy := c.waiters[k]; busy {
		return ErrInFlight
	}
	c.waiters[k] = ch
	if err := n.st.Propose(now, req); err != nil {
		delete(c.waiters, k)
		return err
	}
	return nil
}
