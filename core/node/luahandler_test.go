package node

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLuaSlowHandlerDelaysOnlyItself: each handler has its own queue and
// deadline, so one that loops does not hold up the others; after
// handler_disable_after calls in a row past its deadline it is disabled
// (and gets no more events) until a reload.
func TestLuaSlowHandlerDelaysOnlyItself(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 135, 1)
	scripts := filepath.Join(dir, "scripts")
	record := filepath.Join(dir, "seen.txt")
	if err := os.MkdirAll(filepath.Join(scripts, "handler"), 0o755); err != nil {
		t.Fatal(err)
	}
	loop := `local M = {}
function M.meta() return { name = "loop", description = "never returns", events = { "test_mark" } } end
function M.handle(e) while true do end end
return M
`
	for name, code := range map[string]string{
		"loop.lua":   loop,
		"record.lua": recorder("record", `"test_mark"`, record, ""),
	} {
		if err := os.WriteFile(filepath.Join(scripts, "handler", name), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withLua(t, paths[0], fmt.Sprintf("paths = [%q]\ngrant = [%q]\nhandler_timeout = \"3s\"\nhandler_disable_after = 2", scripts, scripts))
	n := startNode(t, paths[0])
	emit := func(count int) {
		t.Helper()
		evs := make([]Event, count)
		for i := range evs {
			evs[i].Kind = "test_mark"
		}
		if err := n.do(func() { n.Node.events.append(evs) }); err != nil {
			t.Fatal(err)
		}
	}
	stats := func(name string) HandlerStats {
		for _, hs := range n.LuaStats().Handlers {
			if hs.Name == name {
				return hs
			}
		}
		return HandlerStats{}
	}
	emit(3)
	eventually(t, 30*time.Second, "record handles the 3 events", func() bool { return len(readRecord(t, record)) == 3 })
	if hs := stats("loop"); hs.Calls != 0 {
		t.Fatalf("record's calls waited for loop's: loop already finished %d calls (%+v)", hs.Calls, hs)
	}
	eventually(t, 60*time.Second, "loop disabled after 2 calls past the deadline", func() bool { return stats("loop").Disabled })
	if hs := stats("loop"); hs.Timeouts != 2 || hs.Calls != 2 {
		t.Fatalf("loop disabled after %+v, want 2 timeouts of 2 calls", hs)
	}
	// Disabled, it gets nothing; the others go on.
	emit(1)
	eventually(t, 30*time.Second, "record handles the 4th event", func() bool { return len(readRecord(t, record)) == 4 })
	eventually(t, 30*time.Second, "the queues drained", func() bool {
		st := n.LuaStats()
		return st.Queued == 0 && n.Lua().Busy() == 0
	})
	if hs := stats("loop"); hs.Calls != 2 || !hs.Disabled {
		t.Fatalf("a disabled handler was called: %+v", hs)
	}
	// A reload enables it again.
	if err := n.Lua().Reload(); err != nil {
		t.Fatal(err)
	}
	emit(1)
	eventually(t, 30*time.Second, "loop called again after the reload", func() bool {
		hs := stats("loop")
		return !hs.Disabled && n.Lua().Busy() > 0 || hs.Calls > 2
	})
}
