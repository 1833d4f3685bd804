package stack

import (
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
)

// What the whole-stack simulation (package stack_test, sim_test.go) reads
// of the cores for its checks, beyond the stack's own reads.

// SimDB is the config DB core (committed entries, staleness, state).
func (s *Stack) SimDB() *cdb.DB { return s.cdb.db }

// SimLeaseView is the view whose lease this node holds at now (its own
// or one carried over), if any.
func (s *Stack) SimLeaseView(now time.Duration) (wire.ViewID, bool) { return s.mem.LeaseView(now) }

// SimMangle makes membership's flush install every view with the plan f
// returns (a plan that does not decode makes bcast's install fail); nil:
// as given.
func (s *Stack) SimMangle(f func(v wire.View, plan []byte) []byte) { s.flush.mangle = f }
