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
// ctx bounds the wait, and a read the view change refused is tried again
// while ctx allows.
func (n *Node) cdbRead(ctx context.Context, serve func()) error {
	for {
		err := n.cdbReadOnce(ctx, serve)
		if !errors.Is(err, cdb.ErrReadRetry) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(readRetryWait):
		}
	}
}

func (n *Node) cdbReadOnce(ctx context.Context, serve func()) error {
	ch := make(chan error, 1)
	var id uint64
	var err error
	if e := n.do(func() {
		n.cdb.readSeq++
		id = n.cdb.readSeq
		if err = n.st.CDBRead(n.now(), id); err != nil {
			return
		}
		if n.cdb.readers == nil {
			n.cdb.readers = map[uint64]func(error){}
		}
		n.cdb.readers[id] = func(err error) {
			if err == nil {
				serve()
			}
			ch <- err
		}
	}); e != nil {
		return e
	}
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		_ = n.do(func() {
			delete(n.cdb.readers, id)
			n.st.CancelRead(id)
		})
		select {
		case err := <-ch: // served meanwhile
			return err
		default:
		}
		return fmt.Errorf("config database: the read could not be ordered in time (%w); retry, or read this node's state with --stale", ctx.Err())
	case <-n.loopDone:
		return ErrClosed
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
