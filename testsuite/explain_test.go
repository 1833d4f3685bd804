package testsuite

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

type explainNodeJSON struct {
	Node       string              `json:"node"`
	State      string              `json:"state"`
	Member     bool                `json:"member"`
	Reachable  bool                `json:"reachable"`
	Links      []struct{ Up bool } `json:"links"`
	LastChange *struct {
		Kind string `json:"kind"`
	} `json:"last_change"`
	Text string `json:"text"`
}

type explainQuorumJSON struct {
	Primary  bool       `json:"primary"`
	Votes    int        `json:"votes"`
	Needed   int        `json:"needed"`
	Total    int        `json:"total"`
	Members  []string   `json:"members"`
	LossSets [][]string `json:"loss_sets"`
	Fewest   int        `json:"fewest"`
	Text     string     `json:"text"`
}

type explainFenceJSON struct {
	Levels  [][]string `json:"levels"`
	Devices []struct {
		Name, Driver string
	} `json:"devices"`
	Target *struct {
		Boot      uint64 `json:"boot"`
		State     string `json:"state"`
		Confirmed bool   `json:"confirmed"`
	} `json:"target"`
	Last *struct {
		State string `json:"state"`
	} `json:"last"`
	Text string `json:"text"`
}

// TestExplainNodeQuorumFenceProcesses: on a real three-node demo, explain
// node says a paused node is paused (and a member, its links up); after
// kill -9 of n3, explain quorum gives 2 of 3 votes with either survivor
// alone able to lose it, explain node n3 says it is not a member, and
// explain fence n3 names the demo's process device and the confirmed
// fence at n3's boot.
func TestExplainNodeQuorumFenceProcesses(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.231", 3)
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	var out map[string]any
	eventually(t, 20*time.Second, "pause n3", func() error { return run("n1", "pause n3", &out) })
	eventually(t, 20*time.Second, "explain node n3 says paused", func() error {
		var x explainNodeJSON
		if err := run("n1", "explain node n3", &x); err != nil {
			return err
		}
		if x.State != "paused" || !x.Member || !strings.Contains(x.Text, "It is paused") || len(x.Links) == 0 || !x.Links[0].Up {
			return fmt.Errorf("explain node n3: %+v", x)
		}
		return nil
	})
	eventually(t, 20*time.Second, "resume n3", func() error { return run("n1", "resume n3", &out) })
	eventually(t, 20*time.Second, "n3 online", func() error {
		var x explainNodeJSON
		if err := run("n1", "explain n3", &x); err != nil { // no group n3: the node
			return err
		}
		if x.State != "online" || !x.Member {
			return fmt.Errorf("explain n3: %+v", x)
		}
		return nil
	})
	var q explainQuorumJSON
	if err := run("n2", "explain quorum", &q); err != nil || q.Fewest != 2 || len(q.LossSets) != 3 {
		t.Fatalf("explain quorum with three members: %+v %v", q, err)
	}
	if err := syscall.Kill(demoPIDs(t, dir, 3)[2], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "explain quorum after kill -9 of n3", func() error {
		if err := run("n1", "explain quorum", &q); err != nil {
			return err
		}
		if !q.Primary || q.Votes != 2 || q.Needed != 2 || q.Total != 3 || !slices.Equal(q.Members, []string{"n1", "n2"}) ||
			q.Fewest != 1 || fmt.Sprint(q.LossSets) != "[[n1] [n2]]" ||
			!strings.Contains(q.Text, "2 of the 3 votes of the configured nodes, and it needs 2") {
			return fmt.Errorf("explain quorum: %+v", q)
		}
		return nil
	})
	eventually(t, 20*time.Second, "explain node n3 after the kill", func() error {
		var x explainNodeJSON
		if err := run("n2", "explain node n3", &x); err != nil {
			return err
		}
		if x.Member || x.LastChange == nil || !strings.Contains(x.Text, "n3 is not a member") {
			return fmt.Errorf("explain node n3: %+v", x)
		}
		return nil
	})
	eventually(t, 30*time.Second, "explain fence n3: confirmed by the process device", func() error {
		var f explainFenceJSON
		if err := run("n1", "explain fence n3", &f); err != nil {
			return err
		}
		if len(f.Devices) != 1 || f.Devices[0].Driver != "process" || len(f.Levels) == 0 || f.Target == nil || !f.Target.Confirmed ||
			f.Target.Boot == 0 || !strings.Contains(f.Text, fmt.Sprintf("confirmed fenced at boot %d", f.Target.Boot)) ||
			!strings.Contains(f.Text, "uses the process fence driver") || f.Last == nil || f.Last.State != "done" {
			return fmt.Errorf("explain fence n3: %+v", f)
		}
		return nil
	})
}
