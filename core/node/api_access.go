package node

import (
	"net/netip"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/dns"
	"github.com/corral-ha/corral/core/transport"
)

// This file holds the accessors the admin API (package api) needs beyond
// the status document and the event stream.

// FaultInjection reports whether the debug fault API is enabled ([debug]
// fault_injection = true).
func (n *Node) FaultInjection() bool { return n.cfg.Debug.FaultInjection }

// NodeAddrs returns the link IP addresses of the configured node called
// name (this node's own included), and whether there is such a node.
func (n *Node) NodeAddrs(name string) ([]netip.Addr, bool) {
	for _, nd := range n.cfg.Nodes {
		if nd.Name != name {
			continue
		}
		var out []netip.Addr
		for _, s := range nd.Addresses {
			if a, err := netip.ParseAddr(s); err == nil {
				out = append(out, a)
			}
		}
		return out, true
	}
	return nil, false
}

// QuorumStatus is apitypes.QuorumStatus (the API types are defined there, so the shell reads
// them without importing the driver).
type QuorumStatus = apitypes.QuorumStatus

// QuorumDoc returns the quorum arithmetic of the installed view.
func (n *Node) QuorumDoc() (QuorumStatus, error) {
	var q QuorumStatus
	err := n.do(func() {
		ms := n.st.Membership()
		qc := quorumConfig(n.cfg)
		d := ms.Decision
		q = QuorumStatus{View: n.viewName(ms.View.ID), Primary: ms.Primary, Quorate: n.st.Quorate(n.now()),
			Votes: d.Votes, Needed: d.Needed, Total: d.Total, Reference: d.Ref, Policy: string(qc.Policy),
			TwoNode: qc.TwoNode, TieBreaker: d.TieBreaker, Reason: d.Reason, Explanation: d.Explain(qc)}
		switch {
		case ms.View.ID.Epoch == 0:
			q.Explanation = "no view yet; " + q.Explanation
		case ms.Primary && !q.Quorate:
			q.Explanation += "; not acting: the lease is not held (or the takeover wait has not passed)"
		}
	})
	return q, err
}

// Metrics is a snapshot of the counters the API's /metrics exposes.
type Metrics struct {
	Epoch     uint64
	Members   int
	Primary   bool
	Quorate   bool
	Conn      conn.Stats
	Transport transport.Stats
	Peers     []conn.PeerStatus
	// Groups and Resources count them by state (every state of
	// GroupStates and ResourceStates, 0 included), as this node knows them.
	Groups    []Count
	Resources []Count
	// DNS is the responder's counters (queries by rcode); zero without DNS.
	DNS dns.Stats
	// CDBWrites counts this node's config DB transactions by result;
	// CDBRevision is the revision it has applied.
	CDBWrites   []Count
	CDBRevision uint64
	// FenceCalls counts the device calls this node made by action and
	// result; FenceOps the fence events (fence_started, node_fenced,
	// fence_failed) it saw.
	FenceCalls []Count
	FenceOps   []Count
	// LuaCalls counts Lua calls by script kind and result (ok, failed,
	// config, timeout); LuaLatency is their latency by kind.
	LuaCalls   []Count
	LuaLatency []Histogram
	// The served disks (disk.go): DiskRequests by disk, op (read,
	// write, flush, trim, zero) and path (local: the fast path; remote:
	// through the disk core) of this node's export; DiskBytes by disk
	// and dir (read, write); DiskErrors by disk (requests answered with
	// an error); DiskEpoch and DiskServing (1 when this node serves it)
	// by disk.
	DiskRequests []Count
	DiskBytes    []Count
	DiskErrors   []Count
	DiskEpoch    []Count
	DiskServing  []Count
}

// Metrics returns the node's counters and gauges.
func (n *Node) Metrics() (Metrics, error) {
	var m Metrics
	var disks []disk.Status
	err := n.do(func() {
		ms := n.st.Membership()
		m = Metrics{Epoch: ms.View.ID.Epoch, Members: len(ms.View.Members), Primary: ms.Primary,
			Quorate: n.st.Quorate(n.now()), Conn: n.st.ConnStats(), Peers: n.st.Peers()}
		var gs, rs []string
		for _, g := range n.st.Groups() {
			gs = append(gs, string(g.State))
		}
		for _, r := range n.st.Resources() {
			rs = append(rs, r.State)
		}
		m.Groups, m.Resources = byState(GroupStates, gs), byState(ResourceStates, rs)
		m.CDBRevision = n.st.CDBRev()
		disks = n.st.Disks()
	})
	n.diskMetrics(&m, disks)
	m.Transport = n.tr.Stats()
	if n.dns.resp != nil {
		m.DNS = n.dns.resp.Stats()
	}
	n.counts.snapshot(&m)
	return m, err
}
