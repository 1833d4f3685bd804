package node

import (
	"maps"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/fence"
)

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
