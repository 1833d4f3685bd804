package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadAllAndRestartNotice: `reload --all` reloads every node and
// shows each one's answer; a new [lua] paths entry in a node's config
// file is named by its reload as needing a restart.
func TestReloadAllAndRestartNotice(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.131", 3)
	all := []string{"n1", "n2", "n3"}
	eventually(t, 20*time.Second, "one quorate view of three", func() error {
		return sameView(t, dir, all, all, true)
	})
	sock := filepath.Join(dir, "n1", "corral.sock")
	var r result
	eventually(t, 30*time.Second, "reload --all answered by every node", func() error {
		r = corral(t, dir, "shell", "--socket", sock, "-c", "reload --all")
		if r.code != 0 {
			return fmt.Errorf("reload --all: exit %d, %q %q", r.code, r.stdout, r.stderr)
		}
		return nil
	})
	for _, n := range all {
		if !strings.Contains(r.stdout, n+": reloaded: ") {
			t.Errorf("reload --all: no answer of %s in %q", n, r.stdout)
		}
	}

	// A new [lua] paths entry takes a restart: reload says so.
	scripts := filepath.Join(dir, "more-scripts")
	if err := os.MkdirAll(filepath.Join(scripts, "resource"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "n1", "corral.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "[lua]") {
		t.Fatalf("the demo's config has a [lua] table already; this test adds one:\n%s", b)
	}
	if err := os.WriteFile(cfg, append(b, []byte(fmt.Sprintf("\n[lua]\npaths = [%q]\n", scripts))...), 0o600); err != nil {
		t.Fatal(err)
	}
	r = corral(t, dir, "shell", "--socket", sock, "-c", "reload")
	if r.code != 0 || !strings.Contains(r.stdout, "needs a restart: [lua] paths gained "+scripts) {
		t.Fatalf("reload after a new [lua] paths entry: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r = corral(t, dir, "shell", "--socket", sock, "-c", "reload --all")
	if r.code != 0 || !strings.Contains(r.stdout, "n1: needs a restart: [lua] paths gained") || strings.Contains(r.stdout, "n2: needs") {
		t.Fatalf("reload --all after n1's new [lua] paths entry: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}
