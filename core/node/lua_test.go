package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// withLua appends a [lua] section to a node's config file.
func withLua(t *testing.T, path, section string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "\n[lua]\n%s\n", section); err != nil {
		t.Fatal(err)
	}
}

// recorder is a handler that appends "seq kind target" for each event it
// gets to file, once gate exists (gate "": at once). An event of kind
// test_slow makes it sleep past any deadline.
func recorder(name, events, file, gate string) string {
	return fmt.Sprintf(`local corral = require("corral")
local fs = require("fs")
local M = {}
function M.meta() return { name = %q, description = "records events", events = { %s } } end
function M.handle(e)
  if e.kind == "test_slow" then corral.sleep(600) end
  local gate = %q
  if gate ~= "" and not fs.exists(gate) then
    fs.write(gate .. ".waiting", tostring(e.seq))
    while not fs.exists(gate) do corral.sleep(0.01) end
  end
  local old = fs.read(%q) or ""
  assert(fs.write(%q, old .. e.seq .. " " .. e.kind .. " " .. (e.target or "-") .. "\n"))
  return true
end
return M
`, name, events, gate, file, file)
}

func readRecord(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

func TestLuaHandlersSeeEventsInOrder(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 91, 3)
	scripts := filepath.Join(dir, "scripts")
	record := filepath.Join(dir, "seen.txt")
	if err := os.MkdirAll(filepath.Join(scripts, "handler"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scripts, "handler", "record.lua"),
		[]byte(recorder("record", `"view_changed", "node_left"`, record, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	withLua(t, paths[0], fmt.Sprintf("paths = [%q]\ngrant = [%q]\nhandler_timeout = \"5s\"", scripts, scripts))
	n1 := startNode(t, paths[0])
	startNode(t, paths[1])
	n3 := startNode(t, paths[2])
	eventually(t, 30*time.Second, "a view of 3 members on n1", func() bool {
		st, err := n1.StatusDoc()
		return err == nil && len(st.Members) == 3
	})
	if err := n3.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the handler records n3 leaving", func() bool {
		for _, l := range readRecord(t, record) {
			if strings.HasSuffix(l, "_node_left_n3") {
				return true
			}
		}
		return false
	})
	got := readRecord(t, record)
	last, _ := strconv.ParseUint(strings.SplitN(got[len(got)-1], "_", 2)[0], 10, 64)
	evs, err := n1.Events(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range evs {
		if (e.Kind == "view_changed" || e.Kind == "node_left") && e.Seq <= last {
			target := e.Target
			if target == "" {
				target = "-"
			}
			want = append(want, fmt.Sprintf("%d_%s_%s", e.Seq, e.Kind, target))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the handler saw\n%v\nthe stream has\n%v", got, want)
	}
	st := n1.LuaStats()
	if st.Dropped != 0 {
		t.Errorf("dropped %d events with an idle handler", st.Dropped)
	}
	for _, hs := range st.Handlers {
		if hs.Failures+hs.Timeouts != 0 {
			t.Errorf("handler %s: %+v", hs.Name, hs)
		}
	}
}

func TestLuaSlowHandlerNeverBlocksTheLoop(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 91, 1)
	scripts := filepath.Join(dir, "scripts")
	record := filepath.Join(dir, "seen.txt")
	gate := filepath.Join(dir, "gate")
	if err := os.MkdirAll(filepath.Join(scripts, "handler"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scripts, "handler", "slow.lua"),
		[]byte(recorder("slow", `"test_slow", "test_hold", "test_flood"`, record, gate)), 0o644); err != nil {
		t.Fatal(err)
	}
	withLua(t, paths[0], fmt.Sprintf("paths = [%q]\ngrant = [%q]\nhandler_timeout = \"3s\"\nhandler_queue = 2", scripts, scripts))
	n := startNode(t, paths[0])
	emit := func(kind string, count int) {
		t.Helper()
		evs := make([]Event, count)
		for i := range evs {
			evs[i].Kind = kind
		}
		if err := n.do(func() { n.Node.events.append(evs) }); err != nil {
			t.Fatal(err)
		}
	}
	stats := func() HandlerStats {
		for _, hs := range n.LuaStats().Handlers {
			if hs.Name == "slow" {
				return hs
			}
		}
		return HandlerStats{}
	}
	// A handler past its deadline is stopped and counted.
	emit("test_slow", 1)
	eventually(t, 30*time.Second, "the slow call stopped at its deadline", func() bool { return stats().Timeouts == 1 })
	if hs := stats(); !strings.Contains(hs.LastError, "deadline") {
		t.Errorf("last error %q does not say it passed its deadline", hs.LastError)
	}
	// A handler that holds on: the loop goes on, events beyond the queue
	// are dropped and counted.
	emit("test_hold", 1)
	eventually(t, 30*time.Second, "the held call waiting at the gate", func() bool {
		_, err := os.Stat(gate + ".waiting")
		return err == nil
	})
	// The held event is not counted as handled while its call runs: the
	// drain wait below (Queued 0, Events+Dropped at the last seq) would
	// otherwise pass with a call still to finish.
	n.Node.events.mu.Lock()
	heldSeq := n.Node.events.next - 1
	n.Node.events.mu.Unlock()
	if st := n.LuaStats(); st.Events+st.Dropped >= heldSeq {
		t.Fatalf("events %d + dropped %d count the held call (seq %d) as done while it runs", st.Events, st.Dropped, heldSeq)
	}
	emit("test_flood", 20)
	if _, err := n.StatusDoc(); err != nil { // answered by the loop while the handler holds
		t.Fatal(err)
	}
	if n.Lua().Busy() != 1 || stats().Calls != 1 {
		t.Fatalf("the held call ended before the gate opened: %+v", stats())
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n.Node.events.mu.Lock()
	lastSeq := n.Node.events.next - 1
	n.Node.events.mu.Unlock()
	eventually(t, 30*time.Second, "the queue drained", func() bool {
		st := n.LuaStats()
		return st.Queued == 0 && st.Events+st.Dropped >= lastSeq && n.Lua().Busy() == 0
	})
	st := n.LuaStats()
	if st.Dropped < 15 {
		t.Fatalf("dropped %d of 20 events with a queue of 2 and a held handler", st.Dropped)
	}
	got := readRecord(t, record)
	if uint64(len(got))+st.Dropped < 21 || len(got) < 2 {
		t.Fatalf("recorded %d, dropped %d of 21 events", len(got), st.Dropped)
	}
	var prev uint64
	for _, l := range got {
		seq, _ := strconv.ParseUint(strings.SplitN(l, "_", 2)[0], 10, 64)
		if seq <= prev {
			t.Fatalf("out of order: %v", got)
		}
		prev = seq
	}
}

func TestLuaClusterOnNode(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 91, 1)
	n := startNode(t, paths[0])
	eventually(t, 30*time.Second, "a quorate view", func() bool {
		q, err := n.Quorate()
		return err == nil && q
	})
	var moved []string
	n.SetLuaAction("move", func(_ context.Context, args []string) error {
		moved = append(moved, strings.Join(args, " "))
		return nil
	})
	n.SetLuaStatus("groups", func(context.Context) (any, error) {
		return []map[string]any{{"name": "web", "owner": "n1"}}, nil
	})
	eval := func(code string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := n.Lua().Eval(ctx, code)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		return out
	}
	// Changing the cluster takes a grant: the lua command (Eval) only
	// reads; a granted script's call or lua run (RunFile) writes.
	run := func(code string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		file := filepath.Join(dir, "run.lua")
		if err := os.WriteFile(file, []byte("local corral = require('corral')\n"+code), 0o644); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := n.Lua().RunFile(ctx, file, nil, &out); err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		return strings.TrimSuffix(out.String(), "\n")
	}
	if _, err := n.Lua().Eval(context.Background(), `corral.set("/lua/x", "1")`); err == nil || !strings.Contains(err.Error(), "does not change it") {
		t.Errorf("eval corral.set: %v; want refused", err)
	}
	if got := run(`assert(corral.set("/lua/x", "1")) return corral.get("/lua/x"), corral.list("/lua")["/lua/x"], corral.get("/lua/none")`); got != "1\t1\tnil" {
		t.Errorf("config DB through corral: %q", got)
	}
	if got := eval(`local st = corral.status() return st.node, st.groups[1].name, #st.members`); got != "n1\tweb\t1" {
		t.Errorf("status: %q", got)
	}
	if got := run(`return corral.move("web", "n1", "30s")`); got != "true" || strings.Join(moved, ",") != "web n1 --for 30s" {
		t.Errorf("move: %q %v", got, moved)
	}
	if got := run(`return corral.start("web")`); !strings.Contains(got, `no group "web"`) {
		t.Errorf("start of a group that is not configured (the node registers start): %q", got)
	}
	since := n.LastEventSeq()
	if err := n.do(func() { n.Node.events.append([]Event{{Kind: "test_a"}, {Kind: "test_b", Target: "n1"}}) }); err != nil {
		t.Fatal(err)
	}
	got := eval(fmt.Sprintf(`local e = corral.wait_event{ kinds = { "test_b" }, since = %d, timeout = 5 } return e.kind, e.target, e.seq`, since))
	if got != fmt.Sprintf("test_b\tn1\t%d", since+2) {
		t.Errorf("wait_event: %q", got)
	}
	if got := eval(`return corral.wait_event{ kinds = { "test_b" }, timeout = 0.1 }`); got != "nil\ttimeout" {
		t.Errorf("wait_event from now: %q", got)
	}
}
