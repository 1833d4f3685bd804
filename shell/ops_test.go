package shell

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/stack"
)

// opsFake adds `fence confirm` and `quorum unblock` to the fence fake:
// n1 is alone and not primary; n2 is down once confirmed, n3 too.
type opsFake struct {
	fenceFake
	confirmed map[string]bool
	unblocked int
	notDone   bool // the unblock is not carried out by every member
}

func (f *opsFake) ConfirmFence(target string) (apitypes.FenceConfirm, error) {
	if target == "n1" {
		return apitypes.FenceConfirm{}, fmt.Errorf("fence: n1 is a member of this node's view 7/n1: %w", stack.ErrLiveMember)
	}
	f.confirmed[target] = true
	return apitypes.FenceConfirm{Target: target, Declared: true, Message: target + " declared down on n1"}, nil
}

func (f *opsFake) UnblockPlan() (apitypes.QuorumUnblock, error) {
	p := apitypes.QuorumUnblock{Cluster: "demo", View: "7/n1", Members: []string{"n1"}, Before: "not primary: 1 of 3 votes of configured nodes, need 2; policy majority",
		Expected: 1, Was: 3, Chain: true}
	var not []string
	for _, n := range []string{"n2", "n3"} {
		p.WrittenOff = append(p.WrittenOff, apitypes.UnblockTarget{Node: n, Down: f.confirmed[n], How: "declared down"})
		if !f.confirmed[n] {
			not = append(not, n)
		}
	}
	if len(not) > 0 {
		p.Blocked = fmt.Sprintf("%v not known to be down", not)
	}
	return p, nil
}

func (f *opsFake) QuorumUnblock() (apitypes.QuorumUnblock, error) {
	p, _ := f.UnblockPlan()
	if p.Blocked != "" {
		return p, fmt.Errorf("quorum unblock refused: %s: %w", p.Blocked, stack.ErrNotKnownDown)
	}
	f.unblocked++
	if f.notDone {
		p.Holders, p.Missing = []string{"n1"}, []string{"n4"}
		return p, nil
	}
	p.Done, p.Primary = true, true
	return p, nil
}

// TestQuorumUnblockCommands: `fence confirm` and `quorum unblock` refuse
// without --yes (saying what they would do), refuse a live member and an
// unblock while a node is not known down, and go through with --yes.
func TestQuorumUnblockCommands(t *testing.T) {
	f := &opsFake{fenceFake: fenceFake{crmNode: crmNode{Node: apitest.New()}}, confirmed: map[string]bool{}}
	sock := serveOps(t, f)
	exec := func(cmd string) (string, string, int) {
		env, out, errb := testEnv("")
		code := Run([]string{"--socket", sock, "-c", cmd}, env)
		return out.String(), errb.String(), code
	}
	out, errs, code := exec("quorum unblock --yes")
	if code == 0 || !strings.Contains(errs, "not known to be down") || !strings.Contains(out, "NOT KNOWN DOWN") || f.unblocked != 0 {
		t.Fatalf("quorum unblock before the confirmations: %d %q %q", code, out, errs)
	}
	_, errs, code = exec("fence confirm n2")
	if code == 0 || !strings.Contains(errs, "data may be corrupted") || !strings.Contains(errs, "--yes") || f.confirmed["n2"] {
		t.Fatalf("fence confirm n2 without --yes: %d %q", code, errs)
	}
	_, errs, code = exec("fence confirm n1 --yes")
	if code == 0 || !strings.Contains(errs, "is up") {
		t.Fatalf("fence confirm of a member: %d %q", code, errs)
	}
	for _, n := range []string{"n2", "n3"} {
		if out, errs, code = exec("fence confirm " + n + " --yes"); code != 0 || !strings.Contains(out, "declared down") {
			t.Fatalf("fence confirm %s --yes: %d %q %q", n, code, out, errs)
		}
	}
	out, errs, code = exec("quorum unblock")
	if code == 0 || !strings.Contains(errs, "--yes") || !strings.Contains(out, "writes off n2") || !strings.Contains(out, "1 (was 3)") || f.unblocked != 0 {
		t.Fatalf("quorum unblock without --yes: %d %q %q", code, out, errs)
	}
	out, errs, code = exec("quorum unblock --yes")
	if code != 0 || !strings.Contains(out, "quorum unblocked: n2, n3 written off, expected votes 1") || f.unblocked != 1 {
		t.Fatalf("quorum unblock --yes: %d %q %q", code, out, errs)
	}
	if _, errs, code = exec("quorum --yes"); code == 0 || !strings.Contains(errs, "unblock") {
		t.Fatalf("quorum --yes: %d %q", code, errs)
	}
	// not carried out by every member: said so, with who holds it, and it fails
	f.notDone = true
	out, errs, code = exec("quorum unblock --yes")
	if code == 0 || strings.Contains(out, "quorum unblocked") || !strings.Contains(out, "held by n1, not by n4") || !strings.Contains(errs, "retry `quorum unblock`") {
		t.Fatalf("quorum unblock --yes, not done: %d %q %q", code, out, errs)
	}
}

// TestQuorumUnblockInteractive: the interactive shell shows the plan and
// asks for the cluster's name; anything else unblocks nothing. `fence
// confirm` asks for the node's name.
func TestQuorumUnblockInteractive(t *testing.T) {
	f := &opsFake{fenceFake: fenceFake{crmNode: crmNode{Node: apitest.New()}}, confirmed: map[string]bool{}}
	c := NewClient(serveOps(t, f))
	var out strings.Builder
	for _, ans := range []string{"y", "n2"} {
		s := &Shell{Client: c, Stdout: &out}
		var asked string
		s.readLine = func(p string) (string, error) { asked = p; return ans, nil }
		if err := s.Exec(t.Context(), "fence confirm n2"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(asked, "Type n2") || !strings.Contains(asked, "WARNING") {
			t.Fatalf("prompt %q", asked)
		}
		if f.confirmed["n2"] != (ans == "n2") {
			t.Fatalf("answer %q: confirmed %v", ans, f.confirmed["n2"])
		}
	}
	f.confirmed["n3"] = true
	for _, ans := range []string{"yes", "demo"} {
		s := &Shell{Client: c, Stdout: &out}
		var asked string
		s.readLine = func(p string) (string, error) { asked = p; return ans, nil }
		if err := s.Exec(t.Context(), "quorum unblock"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(asked, "cluster's name (demo)") {
			t.Fatalf("prompt %q", asked)
		}
		if want := map[string]int{"yes": 0, "demo": 1}[ans]; f.unblocked != want {
			t.Fatalf("answer %q: unblocked %d times, want %d", ans, f.unblocked, want)
		}
	}
	if !strings.Contains(out.String(), "not unblocked") || !strings.Contains(out.String(), "writes off n2") {
		t.Fatalf("output %q", out.String())
	}
}

func serveOps(t *testing.T, f *opsFake) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "corral.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(f)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return sock
}
