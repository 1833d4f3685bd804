package testsuite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStagedScriptProcesses drives a real three-node demo through
// `corral shell -f SCRIPT`: a staged step with an unknown agent is refused,
// a stage with an unknown owner fails verify and commit and writes nothing; a stage of a new group commits as one transaction and
// the group comes online where it prefers; a stage whose key moved live
// (a cdb set in between) is refused, then commit --force rebases it.
func TestStagedScriptProcesses(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.232", 3, "--web=false")
	sock := filepath.Join(dir, "n1", "corral.sock")
	script := func(name, text string, extra ...string) result {
		p := filepath.Join(dir, name)
		writeFile(t, p, text)
		return corral(t, dir, append([]string{"shell", "--socket", sock, "-f", p}, extra...)...)
	}
	eventually(t, 20*time.Second, "n1 quorate", func() error {
		var st struct {
			Quorate bool `json:"quorate"`
		}
		if err := shellJSON(t, dir, "n1", "status", &st); err != nil || !st.Quorate {
			return fmt.Errorf("status: %+v %v", st, err)
		}
		return nil
	})
	// an unknown agent is refused at its step; an unknown owner by verify
	// and commit; nothing is written
	r := script("bad.corral", "configure\nresource add cart nosuchagent --group shop\ngroup add shop --prefer n9\nverify\ncommit\nabort\n", "--keep-going")
	if r.code != 1 || !strings.Contains(r.stderr, "bad.corral:2") || !strings.Contains(r.stderr, `no resource agent "nosuchagent"`) ||
		!strings.Contains(r.stdout, "n9 not a configured node") || !strings.Contains(r.stderr, "bad.corral:5") || strings.Contains(r.stderr, "bad.corral:6") {
		t.Fatalf("a stage with an unknown agent and owner: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var gs []groupJSON
	if err := shellJSON(t, dir, "n1", "groups", &gs); err != nil || len(gs) != 0 {
		t.Fatalf("groups after a refused stage: %+v %v", gs, err)
	}
	r = script("shop.corral", "configure\ngroup add shop --prefer n2\nresource add cart dummy --group shop --monitor 500ms\nset maintenance false\ndiff\nverify\ncommit\n")
	if r.code != 0 || !strings.Contains(r.stdout, "+ /resources/cart") || !strings.Contains(r.stdout, "the staged configuration is valid") ||
		!strings.Contains(r.stdout, "committed 3 change(s)") {
		t.Fatalf("shop stage: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 20*time.Second, "shop online on n2", func() error {
		var gs []groupJSON
		if err := shellJSON(t, dir, "n1", "groups", &gs); err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].Name != "shop" || gs[0].State != "online" || gs[0].Owner != "n2" {
			return fmt.Errorf("groups: %+v, want shop online on n2", gs)
		}
		return nil
	})
	// the stage's key moves live between configure and commit: refused,
	// then --force runs the staged line again on the live value
	r = script("move.corral", "configure\ngroup add shop --prefer n3\n"+
		`cdb set /groups/shop '{"resources": ["cart"], "preferred": ["n1"], "target": "started"}'`+"\ncommit\ncommit --force --json\n", "--keep-going")
	if r.code != 1 || !strings.Contains(r.stderr, "the live configuration moved") || !strings.Contains(r.stderr, "move.corral:4") ||
		!strings.Contains(r.stdout, `"rebased": true`) {
		t.Fatalf("moved stage: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var g struct {
		Value string `json:"value"`
	}
	if err := shellJSON(t, dir, "n1", "cdb get /groups/shop", &g); err != nil || !strings.Contains(g.Value, `"preferred":["n3"]`) ||
		!strings.Contains(g.Value, `"target":"started"`) {
		t.Fatalf("/groups/shop after the rebase: %+v %v", g, err)
	}
}
