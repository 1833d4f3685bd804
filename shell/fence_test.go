package shell

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/node"
)

// fenceFake adds fencing to the API's fake node.
type fenceFake struct {
	crmNode
	fenced []string
}

func (f *fenceFake) FenceStatus() (apitypes.FenceStatus, error) {
	return apitypes.FenceStatus{Configured: true, Action: "reboot",
		Targets: []apitypes.FenceTarget{{Target: "n3", Boot: 4, State: "failed", Device: "ipmi", Attempts: 2, Error: "timeout"}},
		Devices: []apitypes.FenceDevice{{Name: "ipmi", Driver: "fence_agent", Params: []string{"agent", "ip"}}},
		Levels:  []apitypes.FenceLevelOf{{Node: "n3", Levels: [][]string{{"ipmi"}}, Delay: "5s"}}}, nil
}

func (f *fenceFake) FenceHistory() ([]apitypes.FenceRecord, error) {
	return []apitypes.FenceRecord{{Key: "/fence/history/n3/4-1-1", HistoryRecord: fence.HistoryRecord{Op: "4/1.1", Target: "n3", Boot: 4, State: "done", Device: "ipmi", By: "n1", Reason: "left"}}}, nil
}

func (f *fenceFake) Fence(target, reason string) error {
	if target == "nx" {
		return fmt.Errorf("node %q: %w", target, node.ErrNotMember)
	}
	f.fenced = append(f.fenced, target+":"+reason)
	return nil
}

func TestFenceCommands(t *testing.T) {
	f := &fenceFake{crmNode: crmNode{Node: apitest.New()}}
	sock := serveFence(t, f)
	exec := func(cmd string) (string, string, int) {
		env, out, errb := testEnv("")
		code := Run([]string{"--socket", sock, "-c", cmd}, env)
		return out.String(), errb.String(), code
	}
	out, errs, code := exec("fence")
	if code != 0 || !strings.Contains(out, "n3") || !strings.Contains(out, "failed") || !strings.Contains(out, "timeout") {
		t.Fatalf("fence: %d %q %q", code, out, errs)
	}
	out, errs, code = exec("fence --json")
	var ts []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 1 || ts[0]["state"] != "failed" {
		t.Fatalf("fence --json: %d %q %q", code, out, errs)
	}
	out, errs, code = exec("fence history")
	if code != 0 || !strings.Contains(out, "4/1.1") || !strings.Contains(out, "done") {
		t.Fatalf("fence history: %d %q %q", code, out, errs)
	}
	out, _, code = exec("fence history --json")
	var hs []apitypes.FenceRecord
	if code != 0 || json.Unmarshal([]byte(out), &hs) != nil || len(hs) != 1 || hs[0].By != "n1" {
		t.Fatalf("fence history --json: %d %q", code, out)
	}
	out, errs, code = exec("fence devices")
	if code != 0 || !strings.Contains(out, "fence_agent") || !strings.Contains(out, "1:ipmi") || !strings.Contains(out, "5s") {
		t.Fatalf("fence devices: %d %q %q", code, out, errs)
	}
	out, _, code = exec("fence devices --json")
	var ds struct {
		Devices []apitypes.FenceDevice  `json:"devices"`
		Levels  []apitypes.FenceLevelOf `json:"levels"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds.Devices) != 1 || len(ds.Levels) != 1 {
		t.Fatalf("fence devices --json: %d %q", code, out)
	}
	// -c without --yes: refused, says to add it; nothing is fenced
	_, errs, code = exec("fence n3")
	if code == 0 || !strings.Contains(errs, "--yes") || len(f.fenced) != 0 {
		t.Fatalf("fence n3 without --yes: %d %q %v", code, errs, f.fenced)
	}
	out, errs, code = exec(`fence n3 --yes --reason "disk hung"`)
	if code != 0 || !strings.Contains(out, "fencing n3") || strings.Join(f.fenced, ",") != "n3:disk hung" {
		t.Fatalf("fence n3 --yes: %d %q %q %v", code, out, errs, f.fenced)
	}
	_, errs, code = exec("fence nx --yes")
	if code == 0 || !strings.Contains(errs, "not a configured node") {
		t.Fatalf("fence nx: %d %q", code, errs)
	}
}

// TestFenceConfirmInteractive: the interactive shell asks before it
// fences; anything but y/yes leaves the node alone.
func TestFenceConfirmInteractive(t *testing.T) {
	f := &fenceFake{crmNode: crmNode{Node: apitest.New()}}
	sock := serveFence(t, f)
	c := NewClient(sock)
	var out strings.Builder
	for _, ans := range []string{"n", "y"} {
		s := &Shell{Client: c, Stdout: &out}
		var asked string
		s.readLine = func(p string) (string, error) { asked = p; return ans, nil }
		if err := s.Exec(t.Context(), "fence n3"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(asked, "fence n3?") {
			t.Fatalf("prompt %q", asked)
		}
	}
	if strings.Join(f.fenced, ",") != "n3:manual" || !strings.Contains(out.String(), "not fenced") {
		t.Fatalf("fenced %v, output %q", f.fenced, out.String())
	}
}

func serveFence(t *testing.T, f *fenceFake) string {
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
