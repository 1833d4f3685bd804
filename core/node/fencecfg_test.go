package node

import (
	"testing"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/fence"
)

func TestFenceConfig(t *testing.T) {
	cfg, err := config.Load("../../examples/two-node/n2.toml")
	if err != nil {
		t.Fatal(err)
	}
	fc := FenceConfig(cfg, 7)
	if fc.Self != "n2" || fc.Boot != 7 || fc.Lease != cfg.Timers.Lease.D() {
		t.Errorf("config %+v", fc)
	}
	n1 := fc.Targets["n1"]
	if n1.Delay != 5*time.Second || n1.Watchdog || len(n1.Levels) != 1 || n1.Levels[0][0].Name != "ipmi-n1" || n1.Levels[0][0].Params["agent"] != "fence_ipmilan" {
		t.Errorf("n1: %+v", n1)
	}
	if n2 := fc.Targets["n2"]; n2.Delay != 0 || len(n2.Levels) != 1 || n2.Levels[0][0].Name != "ipmi-n2" {
		t.Errorf("n2: %+v", n2)
	}
	if _, err := fence.New(fc); err != nil {
		t.Fatal(err)
	}
}
