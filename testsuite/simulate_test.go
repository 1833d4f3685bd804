package testsuite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// simJSON is what `simulate --json` prints (apitypes.SimulateResult).
type simJSON struct {
	Quorate bool   `json:"quorate"`
	Primary string `json:"primary"`
	Staged  bool   `json:"staged"`
	Steps   []struct {
		Kind, Text string
	} `json:"steps"`
	Fenced []struct {
		Node      string `json:"node"`
		Confirmed bool   `json:"confirmed"`
		Device    string `json:"device"`
		By        string `json:"by"`
	} `json:"fenced"`
	Groups []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Owner string `json:"owner"`
	} `json:"groups"`
	Text string `json:"text"`
}

func (s simJSON) owner(group string) string {
	for _, g := range s.Groups {
		if g.Name == group && g.State == "online" {
			return g.Owner
		}
	}
	return ""
}

func (s simJSON) fenced() []string {
	var out []string
	for _, f := range s.Fenced {
		if f.Confirmed {
			out = append(out, f.Node)
		}
	}
	return out
}

// TestSimulateMatchesRealCluster checks on a real three-node demo that
// what `simulate` predicts is what the cluster then does: for a staged
// change of web's possible owners (it moves), for a kill -9 of web's owner
// (fenced by the demo's process device, web fails over, quorum kept), and
// for a SIGSTOP of the next owner past its lease (fenced before web moves).
func TestSimulateMatchesRealCluster(t *testing.T) {
	dir := t.TempDir()
	const net = "127.238"
	startDemoArgs(t, dir, net, 3)
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	webOn := func(node, want string) func() error {
		return func() error {
			var gs []groupJSON
			if err := run(node, "groups", &gs); err != nil {
				return err
			}
			for _, g := range gs {
				if g.Name == "web" && g.State == "online" && (want == "" || g.Owner == want) {
					return nil
				}
			}
			return fmt.Errorf("groups on %s: %+v, want web online on %q", node, gs, want)
		}
	}
	eventually(t, 30*time.Second, "web online on n1", webOn("n1", "n1"))
	fencedOn := func(node, target string) func() error {
		return func() error {
			var f explainFenceJSON
			if err := run(node, "explain fence "+target, &f); err != nil {
				return err
			}
			if f.Target == nil || !f.Target.Confirmed {
				return fmt.Errorf("explain fence %s: %+v", target, f)
			}
			return nil
		}
	}
	simulate := func(node, what string) simJSON {
		t.Helper()
		var s simJSON
		eventually(t, 20*time.Second, "simulate "+what, func() error { return run(node, "simulate "+what, &s) })
		t.Logf("simulate %s:\n%s", what, s.Text)
		return s
	}

	// 1. a staged change: web may run on n2 and n3 only
	script := filepath.Join(dir, "move.corral")
	writeFile(t, script, "configure\ngroup add web --possible n2,n3\nsimulate\ncommit\n")
	r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n1", "corral.sock"), "-f", script, "--json")
	if r.code != 0 {
		t.Fatalf("staged move: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var moved simJSON
	dec := json.NewDecoder(bytes.NewReader([]byte(r.stdout)))
	for {
		var s simJSON
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("staged move output: %v\n%s", err, r.stdout)
		}
		if s.Staged {
			moved = s
		}
	}
	want := moved.owner("web")
	if want == "" || want == "n1" || !moved.Quorate || len(moved.Fenced) != 0 {
		t.Fatalf("simulate of the staged move: %+v", moved)
	}
	eventually(t, 30*time.Second, "web online where simulate said ("+want+")", webOn("n1", want))

	// 2. kill -9 of web's owner
	owner := want
	idx := int(owner[1] - '1')
	pred := simulate("n1", "--kill "+owner)
	want = pred.owner("web")
	if want == "" || want == owner || !pred.Quorate || pred.Primary == "" || !slices.Equal(pred.fenced(), []string{owner}) {
		t.Fatalf("simulate --kill %s: %+v", owner, pred)
	}
	if err := syscall.Kill(demoPIDs(t, dir, 3)[idx], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "web online where simulate said ("+want+")", webOn("n1", want))
	eventually(t, 30*time.Second, owner+" fenced, as simulate said", fencedOn("n1", owner))
	eventually(t, 20*time.Second, "quorum kept, coordinated by "+pred.Primary+" as simulate said", func() error {
		var st struct {
			Quorate     bool   `json:"quorate"`
			Coordinator string `json:"coordinator"`
		}
		if err := run("n1", "status", &st); err != nil || !st.Quorate || st.Coordinator != pred.Primary {
			return fmt.Errorf("status after the kill: %+v %v", st, err)
		}
		return nil
	})

	// bring the killed node back (the demo starts the nodes that are down)
	startDemoArgs(t, dir, net, 3)
	eventually(t, 30*time.Second, "three members again", func() error {
		var s struct {
			Members []string `json:"members"`
		}
		if err := run("n1", "status", &s); err != nil || len(s.Members) != 3 {
			return fmt.Errorf("status: %+v %v", s, err)
		}
		return nil
	})

	// 3. SIGSTOP of web's owner past its lease
	owner = want
	idx = int(owner[1] - '1')
	pred = simulate("n1", "--pause "+owner)
	want = pred.owner("web")
	if want == "" || want == owner || !pred.Quorate || !slices.Equal(pred.fenced(), []string{owner}) {
		t.Fatalf("simulate --pause %s: %+v", owner, pred)
	}
	pid := demoPIDs(t, dir, 3)[idx]
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "web online where simulate said ("+want+")", webOn("n1", want))
	eventually(t, 30*time.Second, owner+" fenced, as simulate said", fencedOn("n1", owner))
}
