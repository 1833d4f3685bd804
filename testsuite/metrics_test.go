package testsuite

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// metricValue is the value of one series ("name{labels}" as written) in a
// Prometheus text body.
func metricValue(body, series string) (float64, bool) {
	for _, l := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestMetricsDemo: /metrics counts groups and resources by state, fence
// operations and device calls, DNS queries by rcode, config DB writes, and
// Lua calls with their latency, with values that match what happened: one
// group online, its resource started, a fence of n2, one NOERROR and one
// NXDOMAIN answer, the shell's writes.
func TestMetricsDemo(t *testing.T) {
	dir, run := fenceDemo(t, "127.137")
	for _, q := range []struct{ name, rcode string }{{"demo.corral.", "NOERROR"}, {"nope.demo.corral.", "NXDOMAIN"}} {
		eventually(t, 15*time.Second, "n1 answers "+q.name, func() error {
			r, err := askDNS("127.137.0.1:8053", q.name, "A", false)
			if err == nil && r.rcode != q.rcode {
				err = fmt.Errorf("rcode %s, want %s", r.rcode, q.rcode)
			}
			return err
		})
	}
	pids := demoPIDs(t, dir, 3)
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "web online on n3 after kill -9 of n2", fenceWebOnline(run, "n1", "n3"))

	// want: series -> a check of its value.
	atLeast := func(min float64) func(float64) bool { return func(v float64) bool { return v >= min } }
	exactly := func(x float64) func(float64) bool { return func(v float64) bool { return v == x } }
	check := func(node string, want map[string]func(float64) bool, families []string) {
		t.Helper()
		sock := filepath.Join(dir, node, "corral.sock")
		eventually(t, 20*time.Second, "metrics on "+node, func() error {
			body, err := unixGet(sock, "/metrics")
			if err != nil {
				return err
			}
			for _, f := range families {
				if !strings.Contains(body, "# TYPE "+f+" ") {
					return fmt.Errorf("no family %s", f)
				}
			}
			for series, ok := range want {
				v, found := metricValue(body, series)
				if !found {
					return fmt.Errorf("no series %s", series)
				}
				if !ok(v) {
					return fmt.Errorf("%s = %v", series, v)
				}
			}
			return nil
		})
	}
	families := []string{"corral_groups", "corral_resources", "corral_fence_operations_total", "corral_fence_calls_total",
		"corral_dns_queries_total", "corral_cdb_writes_total", "corral_cdb_revision", "corral_lua_calls_total", "corral_lua_call_seconds"}
	check("n1", map[string]func(float64) bool{
		`corral_groups{state="online"}`:                          exactly(1),
		`corral_groups{state="failed"}`:                          exactly(0),
		`corral_resources{state="started"}`:                      exactly(1),
		`corral_dns_queries_total{rcode="NOERROR"}`:              atLeast(1),
		`corral_dns_queries_total{rcode="NXDOMAIN"}`:             atLeast(1),
		`corral_cdb_writes_total{result="ok"}`:                   atLeast(2), // group add, resource add
		`corral_cdb_revision`:                                    atLeast(2),
		`corral_fence_operations_total{event="node_fenced"}`:     atLeast(1),
		`corral_lua_call_seconds_count{kind="fence"}`:            atLeast(1),
		`corral_lua_call_seconds_bucket{kind="fence",le="+Inf"}`: atLeast(1),
	}, families)
	check("n3", map[string]func(float64) bool{
		`corral_groups{state="online"}`:                       exactly(1),
		`corral_lua_calls_total{kind="resource",result="ok"}`: atLeast(2), // start, monitor
		`corral_lua_call_seconds_count{kind="resource"}`:      atLeast(2),
		`corral_fence_operations_total{event="node_fenced"}`:  atLeast(1),
	}, families)
	// The fencing node's device call: the coordinator (n1) ran it.
	body, err := unixGet(filepath.Join(dir, "n1", "corral.sock"), "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var okCalls float64
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "corral_fence_calls_total{") && strings.Contains(l, `result="ok"`) {
			v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			okCalls += v
		}
	}
	if okCalls < 1 {
		t.Fatalf("n1 made no successful fence device call:\n%s", grepLines(body, "corral_fence"))
	}
	// The histogram's sum is a latency: positive, below the calls' count
	// times the longest deadline.
	if sum, _ := metricValue(body, `corral_lua_call_seconds_sum{kind="fence"}`); sum <= 0 || sum > 60 {
		t.Fatalf("fence call latency sum %v s", sum)
	}
}

func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
