package lua_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/lua"
)

// TestFenceAgentDeadlineFromOutside: the fence_agent driver runs the
// fence-agents program under timeout(1), so a call cannot outlive its
// deadline even when the node itself is frozen (the next coordinator relies
// on that before it fences again). A stand-in agent that hangs is killed at
// the deadline, and its parent is timeout, not the node.
func TestFenceAgentDeadlineFromOutside(t *testing.T) {
	if _, err := os.Stat("/usr/bin/timeout"); err != nil {
		t.Skip("no /usr/bin/timeout (coreutils)")
	}
	dir := t.TempDir()
	agent := filepath.Join(dir, "fence_hang")
	script := "#!/bin/sh\necho $$ > " + dir + "/pid\ncat /proc/$PPID/comm > " + dir + "/parent\nexec sleep 30\n"
	if err := os.WriteFile(agent, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, lua.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	o, err := h.RunFence(ctx, "fence_agent", "off", "n3", map[string]string{"agent": agent})
	if err == nil && o.Status == lua.StatusOK {
		t.Fatalf("a hanging agent succeeded: %+v", o)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the call took %v, its deadline was 1s", took)
	}
	parent, _ := os.ReadFile(filepath.Join(dir, "parent"))
	if strings.TrimSpace(string(parent)) != "timeout" {
		t.Errorf("the agent's parent is %q, want timeout", parent)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatal("the stand-in did not start")
	}
	for end := time.Now().Add(5 * time.Second); ; {
		if syscall.Kill(pid, 0) != nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("agent %d still runs after the deadline", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
