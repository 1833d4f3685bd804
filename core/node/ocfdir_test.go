package node

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOCFRunDirEmptiedAtStart: the OCF agents' HA_RSCTMP of a node
// (<data_dir>/agents/ocf/rsctmp) is emptied when the node starts after the
// machine rebooted, as a reboot empties /run/resource-agents: a state file
// left by an earlier boot (Dummy's "I run") must not make a probe say
// running. Without a reboot it is kept: an OCF daemon outlives a restart
// of the node, and the probe at start must find it running (review of
// issue 16: emptied at every start, a surviving daemon was reported not
// running and its group could start elsewhere too). HA_VARLIB is kept.
func TestOCFRunDirEmptiedAtStart(t *testing.T) {
	bootID, err := os.ReadFile(kernelBootID)
	if err != nil {
		t.Skipf("no kernel boot id: %v", err)
	}
	for _, rebooted := range []bool{false, true} {
		dir := t.TempDir()
		paths := writeCluster(t, dir, 136, 1)
		ocf := filepath.Join(dir, "n1", "agents", "ocf")
		state := filepath.Join(ocf, "rsctmp", "Dummy-d1.state")
		kept := filepath.Join(ocf, "lib", "keep")
		for _, f := range []string{state, kept} {
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		last := bootID
		if rebooted {
			last = []byte("00000000-0000-0000-0000-000000000000\n")
		}
		if err := os.WriteFile(filepath.Join(ocf, machineBootFile), last, 0o600); err != nil {
			t.Fatal(err)
		}
		n := startNode(t, paths[0])
		_, err := os.Stat(state)
		switch {
		case rebooted && !os.IsNotExist(err):
			t.Fatalf("after a reboot, a state file of the last boot is still in HA_RSCTMP: %v", err)
		case !rebooted && err != nil:
			t.Fatalf("without a reboot, the state file of a daemon that may still run was removed: %v", err)
		}
		if _, err := os.Stat(kept); err != nil {
			t.Fatalf("HA_VARLIB was emptied too: %v", err)
		}
		n.Close()
	}
}
