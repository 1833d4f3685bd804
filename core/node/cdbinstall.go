package node

import (
	"fmt"

	"github.com/corral-ha/corral/core/wire"
)

// cdbInstallFailed is the flusher's answer to a failed bcast Install of
// v. Membership installs v all the same, so the config DB must not stay
// on the old view (settled there, it would take writes bcast sequences in
// a view the others have left): it moves to v as a view that is not
// primary for it, refuses writes and marks reads stale until the next
// view change.
func (n *Node) cdbInstallFailed(v wire.View, err error) {
	n.log.Error("config database: the ordered broadcast could not install the view; writes wait for the next view (a bug: please report it)",
		"view", n.viewName(v.ID), "err", err)
	n.cdb.pending = &installed{view: v, failed: err}
}

// installFailed reports whether the installed view is one bcast could not
// install.
func (c *cdbDriver) installFailed() bool {
	return c.failedErr != nil && c.failed == c.cur
}

func (c *cdbDriver) installFailedReason() string {
	return fmt.Sprintf("the ordered broadcast could not install view %d/%d (%v); writes wait for the next view", c.failed.Epoch, c.failed.Coord, c.failedErr)
}
