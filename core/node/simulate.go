package node

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/whatif"
	"github.com/corral-ha/corral/core/wire"
)

// This file serves `simulate` (issue 23): it gathers what this node knows
// of the cluster on its loop and runs core/whatif on it, off the loop.

// SimulateResult is apitypes.SimulateResult.
type SimulateResult = apitypes.SimulateResult

// ErrNotPrimary is returned by Simulate on a node that is not a member of
// a primary view: what it knows may be old.
var ErrNotPrimary = errors.New("this node is not in a primary view")

// ErrBadFault is returned for a what-if that names nothing it can act on.
var ErrBadFault = whatif.ErrBadFault

// Simulate runs the what-if req on the live state this node knows.
func (n *Node) Simulate(req apitypes.SimulateRequest) (SimulateResult, error) {
	var in whatif.Input
	var primary bool
	err := n.do(func() {
		ms := n.st.Membership()
		primary = ms.Primary
		for _, nd := range n.cfg.Nodes {
			in.Nodes = append(in.Nodes, whatif.Node{Name: nd.Name, ID: wire.NodeID(nd.ID)})
		}
		in.Quorum = quorumConfig(n.cfg)
		in.Witness = n.cfg.Quorum.Witness.Disk != "" || n.cfg.Quorum.Witness.Arbiter != ""
		in.Fence = FenceConfig(n.cfg, 0)
		in.FenceState = n.st.FenceSnapshot()
		in.View, in.Primary = ms.View.ID, ms.Primary
		for _, id := range ms.View.Members {
			name := n.names[id]
			in.Members = append(in.Members, name)
			switch ms.States[id] {
			case membership.StatePaused:
				in.Paused = append(in.Paused, name)
			case membership.StateLeaving:
				in.Leaving = append(in.Leaving, name)
			}
		}
		in.Config = map[string][]byte{}
		for _, p := range []string{crm.ResourcePrefix, crm.GroupPrefix} {
			kvs, _, _ := n.st.CDBList(p)
			for _, kv := range kvs {
				in.Config[kv.Key] = kv.Value
			}
		}
		in.State, in.Known = n.st.CRMSnapshot()
	})
	if err != nil {
		return SimulateResult{}, err
	}
	if !primary {
		return SimulateResult{}, fmt.Errorf("%w: what it knows may be old; run simulate on a node of the primary view (`quorum`)", ErrNotPrimary)
	}
	t := time.Now()
	y, m, d := t.Date()
	in.TimeOfDay, in.Clock = t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location())), true
	f := whatif.Faults{Kill: req.Kill, Pause: req.Pause, Partition: req.Partition, Fail: req.Fail}
	if req.Staged {
		f.Stage = map[string][]byte{}
		for k, v := range req.Stage {
			if strings.HasPrefix(k, crm.ResourcePrefix) || strings.HasPrefix(k, crm.GroupPrefix) {
				f.Stage[k] = []byte(v)
			}
		}
	}
	out, err := whatif.Run(in, f)
	if err != nil {
		return SimulateResult{}, err
	}
	return SimulateResult{Output: out, Node: n.cfg.Node, Staged: req.Staged, Text: out.Text()}, nil
}
