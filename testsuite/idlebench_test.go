package testsuite

// Idle cost and scale of real agent processes on loopback (`make bench`):
//
//	BenchmarkNodeIdleCPU  CPU and RSS of each node of a quiet 3-node demo cluster
//	BenchmarkScale        n nodes: time to one quorate view, its hold, idle CPU
//	                      per node, re-forming after a kill -9 (only with
//	                      $CORRAL_SCALE_NODES, e.g. "16,32,64")
//
// CPU is utime+stime from /proc/PID/stat over the window, per process, so
// other work on the machine counts only through contention; the load
// average at the end of each window is logged and reported with it.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Address blocks of these benchmarks.
const (
	idleNet  = "127.93"
	scaleNet = "127.94"
)

const (
	// idleWindowDefault is BenchmarkNodeIdleCPU's measurement window
	// ($CORRAL_IDLE_WINDOW overrides it).
	idleWindowDefault = 60 * time.Second
	// idleSettle lets a fresh cluster finish its start-up work (history
	// adoption, the lock manager's recovery, the first reports) before
	// the window opens.
	idleSettle = 5 * time.Second
	// scaleHoldDefault is how long BenchmarkScale watches the formed view
	// for evictions ($CORRAL_SCALE_HOLD overrides it; the soak is
	// 10m).
	scaleHoldDefault = 60 * time.Second
)

// envDuration reads a duration from the environment, def when unset.
func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		tb.Fatalf("$%s=%q: want a positive duration like 60s", name, s)
	}
	return d
}

// procUsage is what idleCPU measured of one process.
type procUsage struct {
	pct   float64 // % of one core over the window
	rssKB int
}

// idleCPU measures each pid's utime+stime over window, and its VmRSS at
// the end. A pid that exits fails tb.
func idleCPU(tb testing.TB, pids []int, window time.Duration) []procUsage {
	tb.Helper()
	tck := clockTicks()
	before := make([]uint64, len(pids))
	for i, p := range pids {
		v, err := readCPUTicks(p)
		if err != nil {
			tb.Fatalf("pid %d: %v", p, err)
		}
		before[i] = v
	}
	start := time.Now()
	time.Sleep(window) // the measurement window, not a wait for a condition
	elapsed := time.Since(start)
	out := make([]procUsage, len(pids))
	for i, p := range pids {
		v, err := readCPUTicks(p)
		if err != nil {
			tb.Fatalf("pid %d: %v", p, err)
		}
		out[i].pct = float64(v-before[i]) / tck / elapsed.Seconds() * 100
		out[i].rssKB = readRSSKB(p)
	}
	return out
}

// readRSSKB is a process's VmRSS in kB (0 when unreadable).
func readRSSKB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return 0
}

// loadAvg is the 1-minute load average (/proc/loadavg), as text.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// usageSummary is the mean and max CPU and the max RSS of us.
func usageSummary(us []procUsage) (mean, worst float64, rssMB float64) {
	for _, u := range us {
		mean += u.pct
		worst = max(worst, u.pct)
		rssMB = max(rssMB, float64(u.rssKB)/1024)
	}
	return mean / float64(len(us)), worst, rssMB
}

// BenchmarkNodeIdleCPU: a 3-node demo cluster (no web group, no fencing)
// forms one quorate view and settles; then each agent's CPU (utime+stime)
// and RSS are read from /proc over $CORRAL_IDLE_WINDOW (default 60 s).
// Reported: cpu-pct-mean and cpu-pct-max (% of one core), rss-mb-max, and
// the 1-minute load average when the window closed. Goal: at most 0.5 %
// and 40 MB per node. Run it with -benchtime 1x.
func BenchmarkNodeIdleCPU(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc: cannot read process CPU times")
	}
	window := envDuration(b, "CORRAL_IDLE_WINDOW", idleWindowDefault)
	c := startMemberDemo(b, b.TempDir(), idleNet, 3, "--web=false", "--fence=false")
	all := c.names
	c.waitFor(20*time.Second, 50*time.Millisecond, "one quorate view of n1 n2 n3", func() error { return c.oneView(all, all) })
	time.Sleep(idleSettle) // start-up work ends; not a wait for a condition
	pids := memberPIDs(c.dir, 3)
	var us []procUsage
	for b.Loop() {
		us = idleCPU(b, pids, window)
	}
	load := loadAvg()
	for i, u := range us {
		b.Logf("%s: %.2f %% of one core over %v, RSS %.1f MB", all[i], u.pct, window, float64(u.rssKB)/1024)
	}
	b.Logf("load average (1 min) at the end: %s", load)
	if err := c.oneView(all, all); err != nil {
		b.Errorf("the cluster did not stay in one quorate view while idle: %v", err)
	}
	mean, worst, rss := usageSummary(us)
	b.ReportMetric(mean, "cpu-pct-mean")
	b.ReportMetric(worst, "cpu-pct-max")
	b.ReportMetric(rss, "rss-mb-max")
	if l, err := strconv.ParseFloat(load, 64); err == nil {
		b.ReportMetric(l, "loadavg")
	}
}

// BenchmarkScale runs only with $CORRAL_SCALE_NODES (a comma-separated
// list of node counts, e.g. "16,32,64"): for each n, a demo cluster of n
// nodes (no web group, no fencing) is started; reported are form-s (from
// the start to one quorate view of all n on every node), view-changes
// while it is then watched for $CORRAL_SCALE_HOLD (default 60 s; the
// issue's soak is 10m: 0 expected), the idle CPU per node over the last
// 30 s of the hold (cpu-pct-mean, cpu-pct-max, with the load average), and
// reform-ms from a kill -9 of the last node to one quorate view of the
// others on every survivor. Run it with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	spec := os.Getenv("CORRAL_SCALE_NODES")
	if spec == "" {
		b.Skip(`set CORRAL_SCALE_NODES (e.g. "16,32,64") to run the scale benchmark`)
	}
	hold := envDuration(b, "CORRAL_SCALE_HOLD", scaleHoldDefault)
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 || n > 64 {
			b.Fatalf("$CORRAL_SCALE_NODES=%q: %q is not a node count in 2..64", spec, f)
		}
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for b.Loop() {
				scaleOnce(b, n, hold)
			}
		})
	}
}

func scaleOnce(b *testing.B, n int, hold time.Duration) {
	dir := b.TempDir()
	began := time.Now()
	c := startMemberDemo(b, dir, scaleNet, n, "--web=false", "--fence=false")
	all := c.names
	c.waitFor(5*time.Minute, 200*time.Millisecond, fmt.Sprintf("one quorate view of %d nodes", n),
		func() error { return c.oneView(all, all) })
	form := time.Since(began)
	b.Logf("%d nodes: one quorate view %v after the start", n, form.Round(time.Millisecond))

	// The hold: every node's log records its view changes; any after this
	// point evicted somebody (nothing else changes).
	offsets := map[string]int64{}
	for _, name := range all {
		if fi, err := os.Stat(filepath.Join(dir, name, "corral.log")); err == nil {
			offsets[name] = fi.Size()
		}
	}
	pids := memberPIDs(dir, n)
	measure := min(hold, 30*time.Second)
	time.Sleep(hold - measure) // the hold, not a wait for a condition
	us := idleCPU(b, pids, measure)
	load := loadAvg()
	changes := 0
	for _, name := range all {
		vs := memberViewChanges(b, filepath.Join(dir, name, "corral.log"), offsets[name])
		changes = max(changes, len(vs))
	}
	mean, worst, rss := usageSummary(us)
	b.Logf("%d nodes: held %v with %d view change(s); CPU per node %.2f %% mean, %.2f %% max over %v; RSS max %.1f MB; load average %s",
		n, hold, changes, mean, worst, measure, rss, load)
	if err := c.oneView(all, all); err != nil {
		b.Errorf("%d nodes: not in one quorate view after the hold: %v", n, err)
	}

	victim := n - 1
	survivors := slices.Clone(all[:victim])
	if err := syscall.Kill(pids[victim], syscall.SIGKILL); err != nil {
		b.Fatal(err)
	}
	killed := time.Now()
	c.waitFor(60*time.Second, 20*time.Millisecond, fmt.Sprintf("one quorate view of the %d survivors", n-1),
		func() error { return c.oneView(survivors, survivors) })
	reform := time.Since(killed)
	b.Logf("%d nodes: kill -9 of %s to one quorate view of the others on all of them: %v", n, all[victim], reform.Round(time.Millisecond))

	b.ReportMetric(form.Seconds(), "form-s")
	b.ReportMetric(float64(changes), "view-changes")
	b.ReportMetric(mean, "cpu-pct-mean")
	b.ReportMetric(worst, "cpu-pct-max")
	b.ReportMetric(rss, "rss-mb-max")
	b.ReportMetric(float64(reform)/float64(time.Millisecond), "reform-ms")
	if l, err := strconv.ParseFloat(load, 64); err == nil {
		b.ReportMetric(l, "loadavg")
	}
}
