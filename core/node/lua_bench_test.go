package node

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLuaHandlerDispatch measures an event's way from the event log
// through the handlers' queue into a Lua handler that does nothing (and
// the shipped log handler), on a
// running node: ns/op is the cost per event, which bounds how many events
// a second the handlers keep up with before [lua] handler_queue fills.
func BenchmarkLuaHandlerDispatch(b *testing.B) {
	dir := b.TempDir()
	paths := writeCluster(b, dir, 91, 1)
	scripts := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(filepath.Join(scripts, "handler"), 0o755); err != nil {
		b.Fatal(err)
	}
	code := `local M = {}
function M.meta() return { description = "counts", events = { "bench" } } end
function M.handle(e) return true end
return M
`
	if err := os.WriteFile(filepath.Join(scripts, "handler", "nop.lua"), []byte(code), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(paths[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(f, "\n[lua]\npaths = [%q]\nhandler_queue = 1048576\n", scripts)
	f.Close()
	n := startNode(b, paths[0])
	// Each event goes to nop and to the shipped log handler (every node
	// has it; it logs at debug level, discarded here): two Lua calls.
	base := n.LuaStats().Events
	b.ResetTimer()
	start := time.Now()
	const batch = 256
	for sent := 0; sent < b.N; sent += batch {
		evs := make([]Event, min(batch, b.N-sent))
		for i := range evs {
			evs[i].Kind = "bench"
		}
		if err := n.do(func() { n.Node.events.append(evs) }); err != nil {
			b.Fatal(err)
		}
	}
	for n.LuaStats().Events-base < uint64(b.N) {
		if st := n.LuaStats(); st.Dropped > 0 {
			b.Fatalf("dropped %d", st.Dropped)
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}
