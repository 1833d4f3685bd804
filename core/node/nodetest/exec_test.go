package nodetest_test

import (
	"context"
	"testing"

	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/node/nodetest"
)

var _ node.Executor = (*nodetest.DummyExecutor)(nil)

func TestDummyExecutor(t *testing.T) {
	ctx := context.Background()
	d := nodetest.NewDummyExecutor()
	params := map[string]string{node.InstanceParam: "r1"}
	call := func(action string) node.AgentStatus {
		t.Helper()
		o, err := d.RunAgent(ctx, "dummy", action, params)
		if err != nil {
			t.Fatal(err)
		}
		return o.Status
	}
	if s := call("monitor"); s != node.StatusNotRunning {
		t.Fatalf("monitor before start: %v", s)
	}
	if s := call("start"); s != node.StatusOK || !d.Running("r1") || d.Running("r2") {
		t.Fatalf("start: %v, running r1 %v", s, d.Running("r1"))
	}
	if s := call("monitor"); s != node.StatusOK {
		t.Fatalf("monitor after start: %v", s)
	}
	d.Kill("r1")
	if s := call("monitor"); s != node.StatusNotRunning {
		t.Fatalf("monitor after kill: %v", s)
	}
	d.FailStarts("r1", true)
	if s := call("start"); s != node.StatusFailed {
		t.Fatalf("failing start: %v", s)
	}
	if o, _ := d.RunAgent(ctx, "IPaddr2", "start", params); o.Status != node.StatusConfig {
		t.Fatalf("another agent: %v", o.Status)
	}
}
