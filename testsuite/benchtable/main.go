// Command benchtable prints the one table `make bench` ends with: each
// headline figure, corral's value, the peer's value from the same run, the
// ratio, the goal and whether it is met. It reads the JSON lines the
// benchmarks append through testsuite/benchrec (the file named by
// $CORRAL_BENCH_RESULTS, or -results); a figure of the catalogue that no
// benchmark recorded is shown as not measured in this run. The last record
// of a figure wins.
//
//	go run ./testsuite/benchtable -results bin/bench-results.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/testsuite/benchrec"
)

// goalKind says what the goal bounds.
type goalKind int

const (
	noGoal   goalKind = iota
	valueMax          // corral's value ≤ goal
	ratioMax          // corral / peer ≤ goal
	ratioMin          // corral / peer ≥ goal
)

// figure is one row of the table.
type figure struct {
	key   string // benchrec.Record.Figure
	title string
	kind  goalKind
	goal  float64
	unit  string // the goal's unit for valueMax
}

// catalogue is the table's rows, in order. Goals are the issues' (quoted in
// README "What works today" and the Makefile's bench comments).
var catalogue = []figure{
	{"failover-web-p50", "Failover: kill -9 of web's owner → web answering elsewhere, p50", valueMax, 1500, "ms"},
	{"resolver-failover-ttl5-p50", "Failover through a caching resolver (unbound), default [dns] ttl 5s, p50", valueMax, 2500, "ms"},
	{"resolver-failover-ttl1-p50", "Failover through a caching resolver (unbound), [dns] ttl 1s, p50", valueMax, 2500, "ms"},
	{"detection-p50", "Detection: kill -9 → peer unreachable, p50", valueMax, 500, "ms"},
	{"cdb-set-p50-1", "Config DB set, 1 client, p50 (vs etcd Put)", ratioMax, 0.5, ""},
	{"cdb-set-p50-16", "Config DB set, 16 clients, p50 (vs etcd Put)", ratioMax, 0.5, ""},
	{"cdb-ups-16", "Config DB updates/s, 16 clients (vs etcd)", ratioMin, 2, ""},
	{"dlm-local-p50", "DLM lock+unlock, local master, p50", valueMax, 5, "µs"},
	{"dlm-acq-16", "DLM acquisitions/s, 16 clients, distinct names (vs etcd concurrency.Mutex)", ratioMin, 100, ""},
	{"disk-seq-read", "Served disk, sequential read (vs nbd-server)", ratioMin, 0.9, ""},
	{"dns-qps", "DNS queries/s (vs a bare miekg/dns server)", noGoal, 0, ""},
	{"dns-owner-change-p50", "DNS: owner change → first UDP answer, p50", valueMax, 50, "ms"},
	{"lua-monitor-p50", "Lua monitor call, p50 (vs OCF Dummy through fork+exec)", noGoal, 0, ""},
	{"idle-cpu-conn", "Idle cost, transport only: CPU of a quiet node-echo peer of 3 (max)", valueMax, 1, "%"},
	{"idle-cpu", "Idle cost: CPU of a quiet node of 3", valueMax, 0.5, "%"},
	{"idle-rss", "Idle cost: RSS of a quiet node of 3", valueMax, 40, "MB"},
}

func main() {
	results := flag.String("results", os.Getenv(benchrec.Env), "JSON lines written by the benchmarks")
	flag.Parse()
	if *results == "" {
		fmt.Fprintf(os.Stderr, "benchtable: no results file: set %s or pass -results FILE\n", benchrec.Env)
		os.Exit(2)
	}
	f, err := os.Open(*results)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v (run the benchmarks with %s set first)\n", err, benchrec.Env)
		os.Exit(1)
	}
	defer f.Close()
	recs, err := read(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %s: %v\n", *results, err)
		os.Exit(1)
	}
	host, _ := os.Hostname()
	fmt.Printf("Benchmarks of %s on %s (%d CPUs, %s)\n\n", time.Now().UTC().Format("2006-01-02"), host, runtime.NumCPU(), cpuModel())
	render(os.Stdout, recs)
}

// read parses the JSON lines; the last record of a figure wins.
func read(r io.Reader) (map[string]benchrec.Record, error) {
	out := map[string]benchrec.Record{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec benchrec.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out[rec.Figure] = rec
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	return out, nil
}

// render writes the Markdown table: catalogue rows first, then any recorded
// figure the catalogue does not know (no goal).
func render(w io.Writer, recs map[string]benchrec.Record) {
	fmt.Fprintln(w, "| Figure | corral | peer (same run) | ratio | goal | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	known := map[string]bool{}
	for _, fg := range catalogue {
		known[fg.key] = true
		rec, ok := recs[fg.key]
		if !ok {
			fmt.Fprintf(w, "| %s | not measured in this run | | | %s | |\n", fg.title, fg.goalText())
			continue
		}
		fmt.Fprintln(w, row(fg, rec))
	}
	var extra []string
	for k := range recs {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		fmt.Fprintln(w, row(figure{key: k, title: k}, recs[k]))
	}
}

// row is one measured figure's line.
func row(fg figure, rec benchrec.Record) string {
	val := num(rec.Value) + " " + rec.Unit
	peer, ratio := "", ""
	var r float64
	hasPeer := rec.Peer != "" && rec.PeerValue != 0
	if hasPeer {
		peer = fmt.Sprintf("%s: %s %s", rec.Peer, num(rec.PeerValue), rec.Unit)
		r = rec.Value / rec.PeerValue
		ratio = num(r) + "×"
	}
	met := ""
	switch fg.kind {
	case valueMax:
		met = yesNo(rec.Value <= fg.goal)
	case ratioMax:
		if hasPeer {
			met = yesNo(r <= fg.goal)
		} else {
			met = "no peer figure"
		}
	case ratioMin:
		if hasPeer {
			met = yesNo(r >= fg.goal)
		} else {
			met = "no peer figure"
		}
	}
	title := fg.title
	if rec.Note != "" {
		title += " (" + rec.Note + ")"
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", title, strings.TrimSpace(val), peer, ratio, fg.goalText(), met)
}

func (fg figure) goalText() string {
	switch fg.kind {
	case valueMax:
		return "≤ " + strconv.FormatFloat(fg.goal, 'f', -1, 64) + " " + fg.unit
	case ratioMax:
		return "≤ " + strconv.FormatFloat(fg.goal, 'f', -1, 64) + "×"
	case ratioMin:
		return "≥ " + strconv.FormatFloat(fg.goal, 'f', -1, 64) + "×"
	}
	return "—"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// num prints a figure with 3 significant digits at most, no exponent.
func num(v float64) string {
	switch a := abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// cpuModel is the first "model name" of /proc/cpuinfo, or GOARCH.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
