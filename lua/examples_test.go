package lua_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/lua"
)

// TestExamples loads examples/lua as a [lua] paths directory (every script
// in it must load) and runs its Lua tests.
func TestExamples(t *testing.T) {
	h := newHost(t, lua.Config{Paths: []string{"../examples/lua"}})
	for _, name := range []string{"least_loaded", "pin_site"} {
		if _, ok := h.Script(lua.KindPolicy, name); !ok {
			t.Fatalf("examples/lua/policy/%s.lua did not load", name)
		}
	}
	lua.RunTests(t, h, nil, "../examples/lua")
}

// fakeCluster is a small in-memory cluster for the corral module: nodes
// with states, groups with owners, a config DB and an event stream. A
// paused node hands its groups to the first online node a little later, as
// a real coordinator would.
type fakeCluster struct {
	mu         sync.Mutex
	nodes      []string
	state      map[string]string
	owner      map[string]string
	kv         map[string]string
	events     []map[string]any
	changed    chan struct{}
	violations []string
	actions    []string
}

func newFakeCluster(nodes []string, owners map[string]string) *fakeCluster {
	c := &fakeCluster{nodes: nodes, state: map[string]string{}, owner: owners, kv: map[string]string{}, changed: make(chan struct{})}
	for _, n := range nodes {
		c.state[n] = "online"
	}
	return c
}

func (c *fakeCluster) emit(ev map[string]any) { // c.mu held
	ev["seq"] = uint64(len(c.events) + 1)
	c.events = append(c.events, ev)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *fakeCluster) Status(context.Context) (map[string]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var nodes, groups []any
	for _, n := range c.nodes {
		nodes = append(nodes, map[string]any{"name": n, "state": c.state[n]})
	}
	names := slices.Sorted(maps.Keys(c.owner))
	for _, g := range names {
		groups = append(groups, map[string]any{"name": g, "owner": c.owner[g], "state": "online"})
	}
	return map[string]any{"cluster": "fake", "node": c.nodes[0], "quorate": true, "nodes": nodes, "groups": groups}, nil
}

func (c *fakeCluster) Get(_ context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.kv[key]
	return v, ok, nil
}

func (c *fakeCluster) List(_ context.Context, prefix string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for k, v := range c.kv {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out, nil
}

func (c *fakeCluster) Set(_ context.Context, key, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kv[key] = value
	c.emit(map[string]any{"kind": "config_changed", "path": key})
	return nil
}

func (c *fakeCluster) Do(_ context.Context, verb string, args []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.actions = append(c.actions, verb+" "+strings.Join(args, " "))
	switch verb {
	case "pause":
		n := args[0]
		if _, ok := c.state[n]; !ok {
			return fmt.Errorf("no node %q", n)
		}
		// Like the cluster: the pause is asked for, the next view makes it
		// so, and the paused node's groups move to another node (standby).
		time.AfterFunc(5*time.Millisecond, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.state[n] = "paused"
			c.emit(map[string]any{"kind": "node_paused", "target": n})
			to := ""
			for _, m := range c.nodes {
				if to == "" && m != n && c.state[m] == "online" {
					to = m
				}
			}
			for _, g := range slices.Sorted(maps.Keys(c.owner)) {
				if c.owner[g] == n && to != "" {
					c.owner[g] = to
					c.emit(map[string]any{"kind": "group_moved", "group": g, "from": n, "to": to})
				}
			}
		})
	case "resume":
		n := args[0]
		for g, o := range c.owner {
			if o == n {
				c.violations = append(c.violations, fmt.Sprintf("%s resumed while it still owned %s", n, g))
			}
		}
		time.AfterFunc(10*time.Millisecond, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.state[n] = "online"
			c.emit(map[string]any{"kind": "node_resumed", "target": n})
		})
	case "move":
		// Like the cluster: move GROUP takes one away from its owner, move GROUP NODE to NODE, and the
		// group is online there a moment later.
		g := args[0]
		from, ok := c.owner[g]
		if !ok {
			return fmt.Errorf("no group %q", g)
		}
		to := ""
		if len(args) > 1 {
			to = args[1]
		}
		for _, m := range c.nodes {
			if to == "" && m != from && c.state[m] == "online" {
				to = m
			}
		}
		if to == "" {
			return fmt.Errorf("no node to move %s to", g)
		}
		time.AfterFunc(10*time.Millisecond, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.owner[g] = to
			c.emit(map[string]any{"kind": "group_moved", "group": g, "from": from, "to": to})
		})
	default:
		return fmt.Errorf("fake cluster: %s is not supported", verb)
	}
	return nil
}

func (c *fakeCluster) WaitEvent(ctx context.Context, kinds []string, since uint64) (map[string]any, error) {
	c.mu.Lock()
	if since == 0 {
		since = uint64(len(c.events))
	}
	for {
		for _, ev := range c.events[since:] {
			if len(kinds) == 0 || slices.Contains(kinds, ev["kind"].(string)) {
				c.mu.Unlock()
				return ev, nil
			}
		}
		since = uint64(len(c.events))
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
	}
}

func TestRollingMaintenance(t *testing.T) {
	fc := newFakeCluster([]string{"n1", "n2", "n3"}, map[string]string{"web": "n1", "db": "n2", "mail": "n1"})
	h := newHost(t, lua.Config{Cluster: fc})
	outFile := filepath.Join(t.TempDir(), "done")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := h.RunFile(ctx, "../examples/lua/automation/rolling_maintenance.lua", []string{"echo $NODE >> " + outFile, "10"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got, _ := os.ReadFile(outFile)
	if string(got) != "n1\nn2\nn3\n" {
		t.Errorf("the command ran for %q, want n1, n2, n3 in order", got)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.violations) > 0 {
		t.Errorf("violations: %v", fc.violations)
	}
	// A paused node's groups move away by themselves (standby): the
	// script only pauses, waits, and resumes.
	want := []string{"pause n1", "resume n1", "pause n2", "resume n2", "pause n3", "resume n3"}
	if !slices.Equal(fc.actions, want) {
		t.Errorf("actions %v, want %v", fc.actions, want)
	}
	for _, n := range fc.nodes {
		if fc.state[n] != "online" {
			t.Errorf("%s is %s at the end", n, fc.state[n])
		}
	}
	if !strings.Contains(out.String(), "maintenance of n3: done") || !strings.HasSuffix(out.String(), "3 nodes done\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestCorralModule(t *testing.T) {
	fc := newFakeCluster([]string{"n1", "n2"}, map[string]string{"web": "n1"})
	h := newHost(t, lua.Config{Cluster: fc})
	ctx := context.Background()
	// Changing the cluster takes a grant: these steps run as lua run does
	// (the lua command's Eval only reads; TestUngrantedCodeCannotChangeCluster).
	dir := t.TempDir()
	for i, c := range []struct{ code, want string }{ // in order: each step sees the last
		{`corral.set("groups/web/policy", "least_loaded")`, "true"},
		{`corral.get("groups/web/policy"), corral.get("nope")`, "least_loaded\tnil"},
		{`corral.list("groups/")`, `{groups/web/policy = "least_loaded"}`},
		{`corral.status().groups[1].owner`, "n1"},
		{`corral.move("web", "n2", "30s")`, "true"},
		{`corral.pause("n9")`, "nil\tno node \"n9\""},
		{`corral.wait_event{kinds = {"node_fenced"}, timeout = 0.05}`, "nil\ttimeout"},
		{`corral.OK, corral.NOT_RUNNING, corral.FAILED, corral.CONFIG`, "ok\tnot_running\tfailed\tconfig"},
		{`type(corral.now())`, "number"},
		{`corral.remaining() > 0 and corral.remaining() <= 20`, "true"},
	} {
		code, want := c.code, c.want
		file := filepath.Join(dir, fmt.Sprintf("step%d.lua", i))
		if err := os.WriteFile(file, []byte("local corral = require('corral') return "+code), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := h.RunFile(sctx, file, nil, &out)
		cancel()
		got := strings.TrimSuffix(out.String(), "\n")
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", code, got, err, want)
		}
	}
	fc.mu.Lock()
	if fc.owner["web"] != "n2" || !slices.Contains(fc.actions, "move web n2 --for 30s") {
		t.Errorf("move did not reach the cluster: %v %v", fc.owner, fc.actions)
	}
	fc.mu.Unlock()
	// An event that happens while the script waits wakes it (since: the
	// events before the wait began do not count, those after do, even if
	// they come before the script gets to wait).
	fc.mu.Lock()
	since := len(fc.events)
	fc.mu.Unlock()
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = fc.Set(ctx, "x", "1")
	}()
	got, err := h.Eval(ctx, fmt.Sprintf(`local e = require('corral').wait_event{kinds = {"config_changed"}, since = %d, timeout = 10} return e.kind, e.path`, since))
	if err != nil || got != "config_changed\tx" {
		t.Errorf("wait_event: %q %v", got, err)
	}

	bare := newHost(t, lua.Config{})
	if _, err := bare.Eval(ctx, `require('corral').status()`); err == nil || !strings.Contains(err.Error(), "no cluster connected") {
		t.Errorf("no cluster: %v", err)
	}
}
