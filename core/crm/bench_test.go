package crm

import (
	"fmt"
	"testing"
	"time"
)

// bigCluster: 1,000 resources in 100 groups on 16 simulated nodes, all
// online (the harness with its stand-in agents).
func bigCluster(b *testing.B) (*harness, time.Duration) {
	h := newHarness(b, 16, 1)
	for g := 0; g < 100; g++ {
		name := fmt.Sprintf("g%03d", g)
		var rs []string
		for r := 0; r < 10; r++ {
			rn := fmt.Sprintf("%s-r%d", name, r)
			rs = append(rs, rn)
			h.put(ResourcePrefix+rn, jres{Agent: "dummy", Group: name, Monitor: "10s"})
		}
		spec := map[string]any{"resources": rs}
		if g%2 == 0 {
			spec["preferred"] = []string{fmt.Sprintf("n%d", 1+g%16)}
		}
		if g%10 == 9 {
			spec["after"] = []string{fmt.Sprintf("g%03d", g-1)}
		}
		h.group(name, spec)
	}
	start := h.now
	for i := 0; i < 600; i++ {
		h.run(100 * time.Millisecond)
		if h.converged() == nil {
			return h, h.now - start
		}
	}
	b.Fatalf("not converged: %v", h.converged())
	return nil, 0
}

// BenchmarkPlacement times one transition of the coordinator (placement
// of every group and the actions it needs) for 1,000 resources in 100
// groups on 16 nodes. first-transition-ns is the first placement from nothing
// (100 groups placed, 100 starts issued), ns/op a steady-state pass;
// converge-virtual-s is how long the stand-in cluster took to bring every
// group online (10 starts of 200 ms in a row per group).
func BenchmarkPlacement(b *testing.B) {
	// the first placement, on a fresh coordinator that has every report
	var first time.Duration
	h := newHarness(b, 16, 1)
	h.run(time.Second)
	co := h.coordinator()
	for g := 0; g < 100; g++ {
		name := fmt.Sprintf("g%03d", g)
		for r := 0; r < 10; r++ {
			rn := fmt.Sprintf("%s-r%d", name, r)
			v := []byte(fmt.Sprintf(`{"agent":"dummy","group":%q,"monitor":"10s"}`, name))
			_ = co.crm.Step(h.now, ConfigKey{Key: ResourcePrefix + rn, Value: v})
		}
		v := []byte(fmt.Sprintf(`{"resources":["%s-r0","%s-r1","%s-r2","%s-r3","%s-r4","%s-r5","%s-r6","%s-r7","%s-r8","%s-r9"]}`,
			name, name, name, name, name, name, name, name, name, name))
		co.crm.Advance()
		t0 := time.Now()
		_ = co.crm.Step(h.now, ConfigKey{Key: GroupPrefix + name, Value: v})
		co.crm.HasReady() // (Step scheduled)
		if g == 99 {
			first = time.Since(t0)
		}
	}
	big, conv := bigCluster(b)
	c := big.coordinator().crm
	now := big.now
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += time.Millisecond
		c.Tick(now)
		c.HasReady() // (Tick scheduled)
		c.Advance()
	}
	b.StopTimer()
	b.ReportMetric(float64(first.Nanoseconds()), "first-transition-ns")
	b.ReportMetric(conv.Seconds(), "converge-virtual-s")
}
