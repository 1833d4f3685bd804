package node

import (
	"sort"
	"time"

	"github.com/corral-ha/corral/core/conn"
)

// Status is the node's state as the admin API serves it (ARCHITECTURE
// section 7, `status --json`).
type Status struct {
	Cluster     string       `json:"cluster"`
	Node        string       `json:"node"`
	Boot        uint32       `json:"boot"`
	Epoch       uint64       `json:"epoch"`       // installed view's epoch, 0 before the first view
	Coordinator string       `json:"coordinator"` // installed view's coordinator
	View        string       `json:"view"`        // "epoch/coordinator"
	Primary     bool         `json:"primary"`     // the installed view is primary
	Quorate     bool         `json:"quorate"`     // primary view and lease held
	Quorum      string       `json:"quorum"`      // the arithmetic in words
	Members     []string     `json:"members"`     // installed view's members
	Nodes       []NodeStatus `json:"nodes"`       // every configured node
	Uptime      string       `json:"uptime"`
}

// NodeStatus is one configured node as this node sees it.
type NodeStatus struct { //nolint:revive // node.Status is the whole document; this is one node in it
	Name      string       `json:"name"`
	ID        int          `json:"id"`
	State     string       `json:"state"` // joining, online, paused, leaving, offline, fenced
	Reachable bool         `json:"reachable"`
	Links     []LinkStatus `json:"links,omitempty"`
}

// LinkStatus is one path to a peer.
type LinkStatus struct {
	Local  int    `json:"local"`
	Remote int    `json:"remote"`
	Up     bool   `json:"up"`
	In     bool   `json:"in"`
	Out    bool   `json:"out"`
	RTT    string `json:"rtt,omitempty"`
}

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
