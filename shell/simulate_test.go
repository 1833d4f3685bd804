package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/whatif"
)

// simulateFake is the API's fake node that records what simulate asks.
type simulateFake struct {
	*verifyFake
	got []apitypes.SimulateRequest
}

func (f *simulateFake) Simulate(req apitypes.SimulateRequest) (node.SimulateResult, error) {
	f.got = append(f.got, req)
	for _, n := range req.Kill {
		if n == "n9" {
			return node.SimulateResult{}, fmt.Errorf("--kill n9: no such node: %w", node.ErrBadFault)
		}
	}
	out := whatif.Output{Quorate: true, Primary: "n1", Steps: []whatif.Step{{Kind: whatif.StepStart, Node: "n3", Resource: "ip", Text: "start ip of group web on n3"}},
		Groups: []whatif.Group{{Name: "web", BeforeState: "online", BeforeOwner: "n2", State: "online", Owner: "n3", Moved: true}}}
	return node.SimulateResult{Output: out, Node: "n1", Staged: req.Staged, Text: out.Text()}, nil
}

// TestSimulate: simulate sends the failures it is given and, in a staged
// session, the stage; it prints the node's answer, or JSON; it refuses
// to run with nothing to simulate.
func TestSimulate(t *testing.T) {
	f := &simulateFake{verifyFake: &verifyFake{apitest.New()}}
	sock := serveNode(t, f)
	ctx := context.Background()
	var out bytes.Buffer
	sh := &Shell{Client: NewClient(sock), Stdout: &out, session: true}
	run := func(line string) (string, error) {
		out.Reset()
		err := sh.Exec(ctx, line)
		return out.String(), err
	}
	if _, err := run("simulate"); err == nil || !strings.Contains(err.Error(), "nothing to simulate") {
		t.Fatalf("simulate with nothing: %v", err)
	}
	if _, err := run("simulate --partition n1,n2"); err == nil || !strings.Contains(err.Error(), "two sides or more") {
		t.Fatalf("a partition with one side: %v", err)
	}
	text, err := run("simulate --kill n2 --partition n1,n2|n3 --pause n3 --fail web/ip,db")
	if err != nil {
		t.Fatal(err)
	}
	want := apitypes.SimulateRequest{Kill: []string{"n2"}, Pause: []string{"n3"}, Partition: [][]string{{"n1", "n2"}, {"n3"}}, Fail: []string{"web/ip", "db"}}
	if len(f.got) != 1 || fmt.Sprint(f.got[0]) != fmt.Sprint(want) {
		t.Fatalf("requests %+v, want %+v", f.got, want)
	}
	if !strings.Contains(text, "Nothing was changed") || !strings.Contains(text, "1. start ip of group web on n3") ||
		!strings.Contains(text, "web: online on n3 (moved from n2)") || strings.Contains(text, "staged change") {
		t.Fatalf("simulate output:\n%s", text)
	}
	if _, err := run("simulate --kill n9"); err == nil || !strings.Contains(err.Error(), "no such node") {
		t.Fatalf("a bad fault: %v", err)
	}
	// in a staged session: the stage goes with it
	f.got = nil
	if _, err := run("group add web"); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"configure", "group add web --possible n3", "resource add ip dummy --group web"} {
		if _, err := run(l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	text, err = run("simulate --json")
	if err != nil {
		t.Fatal(err)
	}
	var res apitypes.SimulateResult
	if err := json.Unmarshal([]byte(text), &res); err != nil || !res.Staged || len(res.Steps) != 1 || res.Groups[0].Owner != "n3" {
		t.Fatalf("simulate --json: %v\n%s", err, text)
	}
	if len(f.got) != 1 || !f.got[0].Staged || !strings.Contains(f.got[0].Stage["/groups/web"], `"possible":["n3"]`) || f.got[0].Stage["/resources/ip"] == "" {
		t.Fatalf("staged request %+v", f.got)
	}
	if _, err := run("abort"); err != nil {
		t.Fatal(err)
	}
}
