package node

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOCFRunDirEmptiedAtStart: the OCF agents' HA_RSCTMP of a node
// (<data_dir>/agents/ocf/rsctmp) is emptied when the node starts, as a
// reboot empties /run/resource-agents: a state file left by an earlier
// incarnation (Dummy's "I run") must not make a probe say running.
func TestOCFRunDirEmptiedAtStart(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 136, 1)
	stale := filepath.Join(dir, "n1", "agents", "ocf", "rsctmp", "Dummy-d1.state")
	kept := filepath.Join(dir, "n1", "agents", "ocf", "lib", "keep")
	for _, f := range []string{stale, kept} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	startNode(t, paths[0])
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("a state file of the last incarnation is still in HA_RSCTMP: %v", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("HA_VARLIB was emptied too: %v", err)
	}
}
