package stack_test

import (
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/stack"
	"github.com/corral-ha/corral/core/wire"
)

// The simulation's uses of the stack's read and request API, in one place.

func (nd *simNode) db() *cdb.DB { return nd.st.SimDB() }

// quorate: acts as primary now (membership's Quorate: the lease of its
// view and the takeover wait).
func (nd *simNode) quorate() bool { return nd.st.Quorate(nd.h.Now()) }

func (nd *simNode) leaseView() (wire.ViewID, bool) { return nd.st.SimLeaseView(nd.h.Now()) }

// propose hands a client's request to the stack (its reply comes out of
// Ready.Replies once durable).
func (nd *simNode) propose(op *simOp) error {
	err := nd.st.Propose(nd.h.Now(), cdb.Request{Client: op.client, Seq: op.seq, If: op.ifs, Then: op.then})
	if err == nil {
		for _, f := range nd.w.onPropose {
			f(nd.h.ID())
		}
		nd.w.onPropose = nil
	}
	return err
}

// abandon drops the wait for a reply (a cancelled call): the driver
// keeps the waiters, so a late reply to it is ignored (simClient.answer).
func (nd *simNode) abandon(client string, seq uint64) {}

func (nd *simNode) move(group, node string, d time.Duration) error {
	return nd.st.Move(nd.h.Now(), crm.Move{Group: group, Node: node, For: d})
}

var _ = stack.ErrStopped
