package node

import (
	"sort"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/conn"
)

// The API documents are defined in core/apitypes (so the shell reads them
// without importing the driver).
type (
	// Status is apitypes.Status.
	Status = apitypes.Status
	// NodeStatus is apitypes.NodeStatus.
	NodeStatus = apitypes.NodeStatus //nolint:revive // node.Status is the whole document; this is one node in it
	// LinkStatus is apitypes.LinkStatus.
	LinkStatus = apitypes.LinkStatus
)

// statusDoc builds the status on the loop.
func (n *Node) statusDoc() Status {
	st := Status{Cluster: n.cfg.Cluster, Node: n.cfg.Node, Boot: n.boot, Uptime: n.now().Round(time.Millisecond).String()}
	peers := map[int]conn.PeerStatus{}
	for _, p := range n.st.Peers() {
		peers[int(p.ID)] = p
	}
	for _, nd := range n.cfg.Nodes {
		ns := NodeStatus{Name: nd.Name, ID: nd.ID, State: "offline"}
		if nd.Name == n.cfg.Node {
			ns.State, ns.Reachable = "online", true
		} else if p, ok := peers[nd.ID]; ok {
			ns.Reachable = p.Reachable
			for _, pa := range p.Paths {
				ls := LinkStatus{Local: pa.Local, Remote: pa.Remote, Up: pa.Up, In: pa.In, Out: pa.Out}
				if pa.RTT > 0 {
					ls.RTT = pa.RTT.String()
				}
				ns.Links = append(ns.Links, ls)
			}
		}
		n.membershipStatus(&st, &ns)
		st.Nodes = append(st.Nodes, ns)
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].ID < st.Nodes[j].ID })
	return st
}

// StatusDoc returns the node's status document.
func (n *Node) StatusDoc() (Status, error) {
	var st Status
	err := n.do(func() { st = n.statusDoc() })
	return st, err
}
