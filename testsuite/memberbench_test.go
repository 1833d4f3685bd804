package testsuite

// Membership benchmarks between real agent processes on loopback (`make
// bench`); helpers in memberbench_helpers_test.go. Both run their work once
// whatever b.N is (use -benchtime 1x) and report figures, never timed
// assertions:
//
//	BenchmarkKillToNewView              kill -9 of a node to a view without it on both survivors
//	BenchmarkFalseEvictionsUnderCPUHog  views that dropped a node while every core is busy
//
// The hog lasts $CORRAL_HOG_DURATION (default 60s); the 10-minute
// soak is `CORRAL_HOG_DURATION=10m make bench`.

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Address blocks of these benchmarks (other tests and benchmarks of the
// tree use their own).
const (
	memberNetKill = "127.71"
	memberNetHog  = "127.72"
)

const (
	memberKillRuns   = 20                   // kill -9 runs of BenchmarkKillToNewView
	memberKillPoll   = 5 * time.Millisecond // status poll period after a kill
	memberHogPoll    = 200 * time.Millisecond
	memberHogDefault = 60 * time.Second

	// memberKillSettle is how long a kill waits after the view of three
	// formed, so that each run starts from a settled cluster. (A new
	// path's detector is as quick as a learned one; BenchmarkFirstFailover
	// measures a kill right after a fresh start.)
	memberKillSettle = 2 * time.Second
)

// BenchmarkKillToNewView: a 3-node demo cluster; 20 times, kill -9 one
// node (n2, n3, n1 in turn, so the coordinator is killed too) and poll
// both survivors' status every 5 ms until each reports a view without it;
// then start it again and wait for a quorate view of three, and 2 s more
// so that the cluster has settled. Reported:
// p50-ms and max-ms from the kill to the new view on both survivors,
// quorate-p50-ms and quorate-max-ms to both acting on it (quorate: the
// lease wait of G2 included), coord-p50-ms for the runs that killed n1, and
// rejoin-p50-ms from the restart to a quorate view of three. Goal: p50 at
// most 800 ms (corosync 3.1.7 takes 7.4-8.0 s at its defaults).
func BenchmarkKillToNewView(b *testing.B) {
	c := startMemberDemo(b, b.TempDir(), memberNetKill, 3)
	all := c.names
	c.waitFor(20*time.Second, 50*time.Millisecond, "one quorate view of n1 n2 n3", func() error { return c.oneView(all, all) })

	var toView, toQuorate, coord, rejoin []time.Duration
	b.ResetTimer()
	for run := range memberKillRuns {
		time.Sleep(memberKillSettle)
		victim := []int{1, 2, 0}[run%3] // n2, n3, n1
		name := all[victim]
		survivors := slices.Delete(slices.Clone(all), victim, victim+1)
		pid := memberPIDs(c.dir, 3)[victim]
		if !alive(pid) {
			b.Fatalf("run %d: %s (pid %d) is not alive before the kill", run+1, name, pid)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		killed := time.Now()
		view, quorate := c.waitNewView(killed, name, survivors)
		toView = append(toView, view)
		toQuorate = append(toQuorate, quorate)
		if victim == 0 {
			coord = append(coord, view)
		}
		// The next kill starts from a quorate view of three.
		c.waitFor(5*time.Second, 5*time.Millisecond, name+" gone", func() error {
			if alive(pid) {
				return fmt.Errorf("pid %d alive", pid)
			}
			return nil
		})
		c.restart()
		restarted := time.Now()
		c.waitFor(20*time.Second, 20*time.Millisecond, name+" back in a quorate view of three", func() error { return c.oneView(all, all) })
		rejoin = append(rejoin, time.Since(restarted))
		b.Logf("run %2d: kill %s: new view %v, quorate %v; rejoined %v after restart", run+1, name,
			view.Round(time.Millisecond), quorate.Round(time.Millisecond), rejoin[len(rejoin)-1].Round(time.Millisecond))
	}
	b.StopTimer()
	b.ReportMetric(float64(memberKillRuns), "runs")
	b.ReportMetric(memberMS(memberPercentile(toView, 0.5)), "p50-ms")
	b.ReportMetric(memberMS(slices.Max(toView)), "max-ms")
	b.ReportMetric(memberMS(memberPercentile(toQuorate, 0.5)), "quorate-p50-ms")
	b.ReportMetric(memberMS(slices.Max(toQuorate)), "quorate-max-ms")
	b.ReportMetric(memberMS(memberPercentile(coord, 0.5)), "coord-p50-ms")
	b.ReportMetric(memberMS(memberPercentile(rejoin, 0.5)), "rejoin-p50-ms")
}

// waitNewView polls the survivors every memberKillPoll until both report a view
// without victim, then until both are quorate in it. It returns the time
// from killed to the later survivor's new view and to both being quorate.
func (c *memberCluster) waitNewView(killed time.Time, victim string, survivors []string) (view, quorate time.Duration) {
	c.tb.Helper()
	seen := map[string]string{} // survivor -> the view without the victim it reported
	deadline := killed.Add(15 * time.Second)
	for {
		quorateNow := 0
		for _, s := range survivors {
			st, err := c.status(s)
			if err != nil {
				continue // a survivor busy or restarting shows up in the deadline's message
			}
			if slices.Contains(st.Members, victim) {
				continue
			}
			if _, ok := seen[s]; !ok {
				seen[s] = st.View
				if len(seen) == len(survivors) {
					view = time.Since(killed)
				}
			}
			if st.Quorate && slices.Equal(st.Members, survivors) {
				quorateNow++
			}
		}
		if view > 0 && quorateNow == len(survivors) {
			return view, time.Since(killed)
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("kill -9 %s: survivors %v not quorate in a view without it within 15s (views seen: %v)%s",
				victim, survivors, seen, c.logTails(20))
		}
		time.Sleep(memberKillPoll)
	}
}

// BenchmarkFalseEvictionsUnderCPUHog: a 3-node demo cluster while
// runtime.NumCPU() busy loops (`sh -c 'while :; do :; done'`, nice 0) run
// for $CORRAL_HOG_DURATION (default 60s). No node fails, so every view
// installed during the hog that lacks a node is a false eviction.
// Reported: false-evictions (distinct views without every node, from the
// agents' view_changed log lines and from polling every node's status
// every 200 ms), view-changes (distinct views installed during the hog, the view
// of three from before it left out),
// not-quorate-polls (polls in which a node did not act as primary) and
// hog-cpu-s (CPU time the hogs got, to show they ran). Goal: 0 false
// evictions.
func BenchmarkFalseEvictionsUnderCPUHog(b *testing.B) {
	dur := memberHogDefault
	if s := os.Getenv("CORRAL_HOG_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("CORRAL_HOG_DURATION=%q: want a positive duration such as 60s or 10m", s)
		}
		dur = d
	}
	c := startMemberDemo(b, b.TempDir(), memberNetHog, 3)
	all := c.names
	c.waitFor(20*time.Second, 50*time.Millisecond, "one quorate view of n1 n2 n3", func() error { return c.oneView(all, all) })
	before, err := c.status("n1")
	if err != nil {
		b.Fatal(err)
	}
	offsets := map[string]int64{}
	for _, n := range all {
		fi, err := os.Stat(filepath.Join(c.dir, n, "corral.log"))
		if err != nil {
			b.Fatal(err)
		}
		offsets[n] = fi.Size()
	}

	b.ResetTimer()
	hogs := memberStartHogs(b, runtime.NumCPU())
	polled := map[string][]string{} // view id -> members, as polled
	notQuorate, pollErrs := 0, 0
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		for _, n := range all {
			st, err := c.status(n)
			if err != nil {
				pollErrs++
				continue
			}
			if st.View != "" {
				polled[st.View] = st.Members
			}
			if !st.Quorate {
				notQuorate++
			}
		}
		time.Sleep(memberHogPoll)
	}
	hogCPU := memberStopHogs(hogs)
	b.StopTimer()

	logged := map[string][]string{}
	for _, n := range all {
		for id, members := range memberViewChanges(b, filepath.Join(c.dir, n, "corral.log"), offsets[n]) {
			logged[id] = members
		}
	}
	views := map[string][]string{}
	for id, m := range polled {
		views[id] = m
	}
	for id, m := range logged {
		views[id] = m
	}
	evictions := 0
	delete(views, before.View) // installed before the hog started
	for _, id := range slices.Sorted(maps.Keys(views)) {
		if len(views[id]) < len(all) {
			evictions++
			b.Logf("false eviction: view %s members %v", id, views[id])
		}
	}
	b.Logf("hog: %d busy loops for %v (%.1f CPU s); %d views installed during it, %d polls not quorate, %d poll errors",
		len(hogs), dur, hogCPU.Seconds(), len(views), notQuorate, pollErrs)
	b.ReportMetric(float64(evictions), "false-evictions")
	b.ReportMetric(float64(len(views)), "view-changes")
	b.ReportMetric(float64(notQuorate), "not-quorate-polls")
	b.ReportMetric(hogCPU.Seconds(), "hog-cpu-s")
	b.ReportMetric(dur.Seconds(), "hog-s")
}

// memberStartHogs starts n busy loops, each in its own process group, and
// registers their kill in Cleanup (by process group id).
func memberStartHogs(tb testing.TB, n int) []*exec.Cmd {
	tb.Helper()
	var hogs []*exec.Cmd
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			tb.Fatalf("starting a CPU hog: %v", err)
		}
		hogs = append(hogs, cmd)
		tb.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				_ = cmd.Wait()
			}
		})
	}
	return hogs
}

// memberStopHogs kills the hogs and returns the CPU time they used.
func memberStopHogs(hogs []*exec.Cmd) time.Duration {
	var cpu time.Duration
	for _, cmd := range hogs {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if ps := cmd.ProcessState; ps != nil {
			cpu += ps.UserTime() + ps.SystemTime()
		}
	}
	return cpu
}

// memberViewLine matches the agent's log line of an installed view
// (log/slog text: msg=view_changed .*?view=7/n1 members="[n1 n2]" ...).
var memberViewLine = regexp.MustCompile(`msg=view_changed .*?view=(\S+) members="?\[([^\]]*)\]`)

// memberViewChanges returns the views (id -> members) a node's log records after
// offset.
func memberViewChanges(tb testing.TB, path string, offset int64) map[string][]string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		tb.Fatal(err)
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m := memberViewLine.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]] = strings.Fields(m[2])
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// memberPercentile is the p-th quantile (0..1) of ds, nearest rank.
func memberPercentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func memberMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
