package node

import (
	"os"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/config"
)

// TestRestartNeededDLM: a changed [dlm] deadlock_timeout is named as
// needing a restart (the lock manager takes it at start).
func TestRestartNeededDLM(t *testing.T) {
	path := writeCluster(t, t.TempDir(), 172, 1)[0]
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: cfg}
	if got := n.RestartNeeded(); len(got) != 0 {
		t.Fatalf("nothing changed, yet %q", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, []byte("\n[dlm]\ndeadlock_timeout = \"3s\"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	got := n.RestartNeeded()
	if len(got) != 1 || !strings.Contains(got[0], "[dlm] deadlock_timeout changed to 3s") {
		t.Fatalf("RestartNeeded = %q", got)
	}
}
