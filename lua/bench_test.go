package lua_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/lua"
	"github.com/corral-ha/corral/testsuite/benchrec"
)

const ocfDummy = "/usr/lib/ocf/resource.d/heartbeat/Dummy"

// BenchmarkMonitor measures one monitor call through the pool: the shipped
// Lua dummy agent, and next to it, in the same run, Debian's OCF Dummy
// through the ocf wrapper (a fork+exec of a shell script, as Pacemaker runs
// it). It reports p50 and p99 per call in µs, and the OCF/Lua p50 ratio.
func BenchmarkMonitor(b *testing.B) {
	h, err := lua.New(lua.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	state := b.TempDir() + "/state"
	var luaP50 float64
	run := func(b *testing.B, agent string, params map[string]string) float64 {
		ctx := context.Background()
		if out, err := h.RunAgent(ctx, agent, "start", params); err != nil || out.Status != lua.StatusOK {
			b.Fatalf("start: %v %v", out, err)
		}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for b.Loop() {
			t0 := time.Now()
			out, err := h.RunAgent(ctx, agent, "monitor", params)
			lat = append(lat, time.Since(t0))
			if err != nil || out.Status != lua.StatusOK {
				b.Fatalf("monitor: %v %v", out, err)
			}
		}
		b.StopTimer()
		slices.Sort(lat)
		p50 := float64(lat[len(lat)/2].Nanoseconds()) / 1e3
		p99 := float64(lat[len(lat)*99/100].Nanoseconds()) / 1e3
		b.ReportMetric(p50, "p50-µs")
		b.ReportMetric(p99, "p99-µs")
		return p50
	}
	b.Run("lua-dummy", func(b *testing.B) {
		luaP50 = run(b, "dummy", map[string]string{"state": state})
		benchrec.Log(b, benchrec.Record{Figure: "lua-monitor-p50", Value: luaP50, Unit: "µs"})
	})
	b.Run("ocf-Dummy", func(b *testing.B) {
		if _, err := os.Stat(ocfDummy); err != nil {
			b.Skip("Debian's resource-agents is not installed (apt-get install resource-agents): no " + ocfDummy)
		}
		p50 := run(b, "ocf", map[string]string{"type": "Dummy", "state": state + ".ocf"})
		if luaP50 > 0 {
			b.ReportMetric(p50/luaP50, "x-lua-p50")
			benchrec.Log(b, benchrec.Record{Figure: "lua-monitor-p50", Value: luaP50, Unit: "µs", Peer: "OCF Dummy", PeerValue: p50})
		}
	})
}
