package stack

import (
	"fmt"
	"maps"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// Identity is what a stack's configuration takes besides the config file:
// who this start is and what the world around it gives.
type Identity struct {
	Boot  uint32 // this start's boot id
	Start uint64 // conn's start id (random per start: the packet key)
	Key   []byte // the cluster key
	// Witness: a quorum witness is configured; WitnessWait is how long a
	// coordinator facing a tie waits for it.
	Witness     bool
	WitnessWait time.Duration
	// Now is the clock's reading at New.
	Now time.Duration
}

// FromConfig builds a stack's Config from a config file.
func FromConfig(cfg *config.Config, id Identity) (Config, error) {
	self := cfg.Self()
	if self == nil {
		return Config{}, fmt.Errorf("node %q is not in the node list", cfg.Node)
	}
	c := Config{Self: wire.NodeID(self.ID), Boot: id.Boot, Start: id.Now}
	var peers []conn.Peer
	var all []wire.NodeID
	for _, nd := range cfg.Nodes {
		nid := wire.NodeID(nd.ID)
		c.Nodes = append(c.Nodes, Node{ID: nid, Name: nd.Name})
		all = append(all, nid)
		if nid == c.Self {
			continue
		}
		peers = append(peers, conn.Peer{ID: nid, Links: len(nd.Addresses)})
	}
	t := cfg.Timers
	c.Conn = conn.Config{
		Cluster: cfg.Cluster, Key: id.Key, Self: c.Self, Boot: id.Boot, Start: id.Start, Links: len(self.Addresses), Peers: peers,
		Heartbeat: t.Heartbeat.D(), SuspectMin: t.SuspectMin.D(), SuspectMax: t.SuspectMax.D(),
	}
	c.Membership = membership.Config{Self: c.Self, Nodes: all, Quorum: QuorumConfig(cfg),
		Witness: id.Witness, WitnessWait: id.WitnessWait,
		Heartbeat: t.Heartbeat.D(), Lease: t.Lease.D(), Margin: t.Margin.D(), Drift: t.Drift}
	c.Fence = FenceConfig(cfg, uint64(id.Boot))
	c.DeadlockTimeout = cfg.DLM.DeadlockTimeout.D()
	return c, nil
}

// QuorumConfig maps the [quorum] settings to the quorum package.
func QuorumConfig(cfg *config.Config) quorum.Config {
	q := quorum.Config{Votes: map[wire.NodeID]int{}, Policy: quorum.Policy(cfg.Quorum.Policy),
		TwoNode: cfg.Quorum.TwoNode, WaitForAll: cfg.Quorum.WaitForAll, AutoTieBreaker: cfg.Quorum.AutoTieBreaker,
		Window: cfg.Quorum.Window.D()}
	for _, nd := range cfg.Nodes {
		q.Votes[wire.NodeID(nd.ID)] = nd.VotesOf()
	}
	return q
}

// FenceConfig is the fence state machine's configuration for this node
// from its config file: every node's levels (config.FenceLevelsFor), its
// fence_delay, watchdog mode when [fence] watchdog is set, and the lease
// timings of G2.
func FenceConfig(cfg *config.Config, boot uint64) fence.Config {
	fc := fence.Config{
		Self: cfg.Node, Boot: boot, Targets: map[string]fence.Target{},
		Lease: cfg.Timers.Lease.D(), Margin: cfg.Timers.Margin.D(), Drift: cfg.Timers.Drift,
		WatchdogTimeout: cfg.Fence.WatchdogTimeout.D(), Action: cfg.Fence.Action,
	}
	for _, n := range cfg.Nodes {
		t := fence.Target{Delay: n.FenceDelay.D(), Watchdog: cfg.Fence.Watchdog != "off"}
		for _, lv := range cfg.FenceLevelsFor(n.Name) {
			var devs []fence.Device
			for _, d := range lv {
				devs = append(devs, fence.Device{Name: d.Name, Driver: d.Driver, Params: maps.Clone(d.Params)})
			}
			t.Levels = append(t.Levels, devs)
		}
		fc.Targets[n.Name] = t
	}
	return fc
}
