package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/cdb"
)

// Linearizable reads (core/cdb read.go): the API call begins a read on
// the loop, the stack says in a later Ready when this node's state covers
// every update acknowledged before it began, and the read is served then,
// on the loop.

// readRetryWait is the pause before a read refused with cdb.ErrReadRetry
// (the view was changing) is tried again.
const readRetryWait = 20 * time.Millisecond

// cdbReadsDone serves the reads the stack let go.
func (n *Node) cdbReadsDone(rs []cdb.ReadDone) {
	for _, r := range rs {
		f, ok := n.cdb.readers[r.ID]
		if !ok {
			continue
		}
		delete(n.cdb.readers, r.ID)
		f(r.Err)
	}
}

// cdbRead begins a linearizable read and, on the loop, calls serve once
// this node's state covers every update acknowledged before the call;
// ctx bounds the wait. A read the view change refused (cdb.ErrReadRetry)
// is tried again while ctx allows, and so is one refused for want of
// quorum while this node is in a primary view that is not acting yet:
// after every view install the lease is waited out (corral help design)
// before anything is ordered, and a quorate cluster would otherwise answer
// 503 at every view change (a node joining). A node outside the primary
// view fails at once: the client tries another node.
func (n *Node) cdbRead(ctx context.Context, serve func()) error {
	for {
		waiting, err := n.cdbReadOnce(ctx, serve)
		if !errors.Is(err, cdb.ErrReadRetry) && !waiting {
			return err
		}
		select {
		case <-ctx.Done():
			if waiting {
				return fmt.Errorf("config database: the read could not be ordered in time: this node is in the primary view but did not take its lease yet (%w); retry, or read this node's state with --stale", ctx.Err())
			}
			return err
		case <-time.After(readRetryWait):
		}
	}
}

// cdbReadOnce is one try of cdbRead; waiting reports that it failed for
// want of quorum while this node is in a primary view (not acting yet).
func (n *Node) cdbReadOnce(ctx context.Context, serve func()) (waiting bool, err error) {
	type done struct {
		err     error
		waiting bool
	}
	ch := make(chan done, 1)
	var id uint64
	// notActing, on the loop: a refusal for want of quorum while the view
	// is primary is the lease wait after a view install.
	notActing := func(err error) bool {
		var nq cdb.ErrNoQuorum
		return errors.As(err, &nq) && n.st.Membership().Primary
	}
	if e := n.do(func() {
		n.cdb.readSeq++
		id = n.cdb.readSeq
		if err = n.st.CDBRead(n.now(), id); err != nil {
			waiting = notActing(err)
			return
		}
		if n.cdb.readers == nil {
			n.cdb.readers = map[uint64]func(error){}
		}
		n.cdb.readers[id] = func(err error) {
			if err == nil {
				serve()
			}
			ch <- done{err, notActing(err)}
		}
	}); e != nil {
		return false, e
	}
	if err != nil {
		return waiting, err
	}
	select {
	case d := <-ch:
		return d.waiting, d.err
	case <-ctx.Done():
		_ = n.do(func() {
			delete(n.cdb.readers, id)
			n.st.CancelRead(id)
		})
		select {
		case d := <-ch: // served meanwhile
			return d.waiting, d.err
		default:
		}
		return false, fmt.Errorf("config database: the read could not be ordered in time (%w); retry, or read this node's state with --stale", ctx.Err())
	case <-n.loopDone:
		return false, ErrClosed
	}
}

// CDBGetLinear reads a key linearizably: the value is at least as new as
// every update acknowledged (on any node) before the call. It fails with
// cdb.ErrNoQuorum on a node that is not quorate (CDBGet reads this node's
// state anyway) and when ctx ends before the read could be ordered.
func (n *Node) CDBGetLinear(ctx context.Context, key string) (kv cdb.KV, found bool, err error) {
	err = n.cdbRead(ctx, func() { kv, found, _ = n.st.CDBGet(key) })
	return
}

// CDBListLinear lists the keys under prefix linearizably, with the
// committed revision (CDBGetLinear).
func (n *Node) CDBListLinear(ctx context.Context, prefix string) (kvs []cdb.KV, rev uint64, err error) {
	err = n.cdbRead(ctx, func() { kvs, rev, _ = n.st.CDBList(prefix) })
	return
}
