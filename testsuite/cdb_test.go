package testsuite

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type cdbKV struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Revision uint64 `json:"revision"`
	Stale    bool   `json:"stale"`
}

type cdbList struct {
	Revision uint64  `json:"revision"`
	Stale    bool    `json:"stale"`
	Keys     []cdbKV `json:"keys"`
}

type cdbWrite struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	OK       bool   `json:"ok"`
}

// TestCDB: the configuration database on real processes. A set on n1 is
// read on n3; every acknowledged update survives kill -9 of every node;
// a minority node refuses writes.
func TestCDB(t *testing.T) {
	dir := t.TempDir()
	const n = 3
	startDemo(t, dir, "127.67", n)
	names := []string{"n1", "n2", "n3"}

	acked := map[string]cdbWrite{}
	values := map[string]string{}
	set := func(node, key, value string) error {
		var w cdbWrite
		if err := shellJSON(t, dir, node, "cdb set "+key+" "+value, &w); err != nil {
			return err
		}
		if !w.OK || w.Key != key || w.Revision == 0 {
			return fmt.Errorf("set %s on %s: %+v", key, node, w)
		}
		acked[key], values[key] = w, value
		return nil
	}
	// the first write waits for the cluster's first primary view
	eventually(t, 20*time.Second, "a set on n1", func() error { return set("n1", "/demo/first", "one") })
	for i := range 8 {
		if err := set(names[i%2], fmt.Sprintf("/demo/k%d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := set("n1", "/demo/k0", "v0-again"); err != nil {
		t.Fatal(err)
	}

	// read on n3: the same value and revision
	eventually(t, 10*time.Second, "n3 reads n1's set", func() error {
		var g cdbKV
		if err := shellJSON(t, dir, "n3", "cdb get /demo/first", &g); err != nil {
			return err
		}
		if g.Value != "one" || g.Revision != acked["/demo/first"].Revision || g.Stale {
			return fmt.Errorf("n3 has %+v, want one at revision %d", g, acked["/demo/first"].Revision)
		}
		return nil
	})

	hasAll := func(node string) func() error {
		return func() error {
			var l cdbList
			if err := shellJSON(t, dir, node, "cdb list /demo/", &l); err != nil {
				return err
			}
			if l.Stale {
				return fmt.Errorf("%s: list is stale", node)
			}
			got := map[string]cdbKV{}
			for _, kv := range l.Keys {
				got[kv.Key] = kv
			}
			for k, w := range acked {
				if g, ok := got[k]; !ok || g.Value != values[k] || g.Revision != w.Revision {
					return fmt.Errorf("%s: %s is %+v (present %v), want %q at revision %d", node, k, g, ok, values[k], w.Revision)
				}
			}
			if len(got) != len(acked) {
				return fmt.Errorf("%s: %d keys, want %d", node, len(got), len(acked))
			}
			return nil
		}
	}
	for _, nd := range names {
		eventually(t, 10*time.Second, nd+" has every update", hasAll(nd))
	}

	// kill -9 every node, then start them again: every acknowledged update is there
	pids := demoPIDs(t, dir, n)
	for _, p := range pids {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "every node dead", func() error {
		for _, p := range pids {
			if alive(p) {
				return fmt.Errorf("pid %d alive", p)
			}
		}
		return nil
	})
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo --detach again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, nd := range names {
		eventually(t, 20*time.Second, nd+" has every update after kill -9 of every node", hasAll(nd))
	}
	eventually(t, 20*time.Second, "a set after the restart", func() error { return set("n2", "/demo/after", "restart") })
	for _, nd := range names {
		eventually(t, 10*time.Second, nd+" has the update after the restart", hasAll(nd))
	}

	// n3 misses updates while it is down and catches up when it is back
	pids = demoPIDs(t, dir, n)
	if err := syscall.Kill(pids[2], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "n3 dead", func() error {
		if alive(pids[2]) {
			return fmt.Errorf("pid %d alive", pids[2])
		}
		return nil
	})
	eventually(t, 20*time.Second, "a set without n3", func() error { return set("n1", "/demo/missed", "by-n3") })
	// n2 may take a moment longer to hold the new view's lease
	eventually(t, 10*time.Second, "a set on n2 without n3", func() error { return set("n2", "/demo/k1", "v1-again") })
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo --detach for n3: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, nd := range names {
		eventually(t, 20*time.Second, nd+" has every update after n3 came back", hasAll(nd))
	}

	// kill n1 and n2: n3 alone refuses writes and marks its reads stale
	pids = demoPIDs(t, dir, n)
	for _, p := range pids[:2] {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "n3", "corral.sock")
	eventually(t, 15*time.Second, "n3 refuses a write without quorum", func() error {
		r := corral(t, dir, "shell", "--socket", sock, "-c", "cdb set /demo/minority x")
		if r.code != 1 || !strings.Contains(r.stderr, "no quorum: 1 of 3 votes") {
			return fmt.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		return nil
	})
	// a read is linearizable: refused alone; --stale reads n3's copy
	if r := corral(t, dir, "shell", "--socket", sock, "-c", "cdb get /demo/first"); r.code != 1 || !strings.Contains(r.stderr, "no quorum") || !strings.Contains(r.stderr, "--stale") {
		t.Fatalf("n3 alone: a linearizable get: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var g cdbKV
	if err := shellJSON(t, dir, "n3", "cdb get /demo/first --stale", &g); err != nil || !g.Stale || g.Value != "one" {
		t.Fatalf("n3 alone: get --stale %+v, %v: want the last value, stale", g, err)
	}
}
