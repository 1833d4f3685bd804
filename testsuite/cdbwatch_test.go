package testsuite

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

type cdbWatchEvent struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Revision uint64 `json:"revision"`
	Deleted  bool   `json:"deleted"`
}

// watchProc runs `corral shell -c "cdb watch PREFIX ..." --json` on node
// and hands each change it prints to the returned channel; it is killed
// in Cleanup.
func watchProc(t *testing.T, dir, node, args string) <-chan cdbWatchEvent {
	t.Helper()
	cmd := exec.Command(corralBin(t), "shell", "--socket", filepath.Join(dir, node, "corral.sock"), "-c", "cdb watch "+args, "--json")
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ch := make(chan cdbWatchEvent, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev cdbWatchEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Key != "" {
				ch <- ev
			}
		}
		close(ch)
	}()
	return ch
}

func nextWatch(t *testing.T, ch <-chan cdbWatchEvent, what string) cdbWatchEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the watch ended", what)
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no change within 20s", what)
	}
	return cdbWatchEvent{}
}

// TestCDBWatch: a watch on n3 gets every change made on n1 (and n2) under
// its prefix, in revision order, each once; a watch started later with
// --start replays them from the node's log.
func TestCDBWatch(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.83", 3)
	set := func(node, key, value string) cdbWrite {
		t.Helper()
		var w cdbWrite
		eventually(t, 20*time.Second, "set "+key+" on "+node, func() error {
			if err := shellJSON(t, dir, node, "cdb set "+key+" "+value, &w); err != nil {
				return err
			}
			if !w.OK {
				return fmt.Errorf("set %s: %+v", key, w)
			}
			return nil
		})
		return w
	}
	// a primary view first, and n3 caught up; the watch starts after
	// n3's revision, so it gets every change from then on
	first := set("n1", "/other/first", "x")
	var rev uint64
	eventually(t, 10*time.Second, "n3 at the first revision", func() error {
		var l cdbList
		if err := shellJSON(t, dir, "n3", "cdb list /", &l); err != nil {
			return err
		}
		if l.Revision < first.Revision || l.Stale {
			return fmt.Errorf("n3 at revision %d (stale %v), want %d", l.Revision, l.Stale, first.Revision)
		}
		rev = l.Revision
		return nil
	})
	live := watchProc(t, dir, "n3", fmt.Sprintf("/w/ --start %d", rev+1))
	var want []cdbWatchEvent
	for i := range 20 {
		node := "n1"
		if i%5 == 4 {
			node = "n2"
		}
		key := fmt.Sprintf("/w/k%d", i%7)
		w := set(node, key, fmt.Sprintf("v%d", i))
		want = append(want, cdbWatchEvent{Key: key, Value: fmt.Sprintf("v%d", i), Revision: w.Revision})
		if i%6 == 0 {
			set("n1", "/other/k", "unwatched")
		}
	}
	var del cdbWrite
	if err := shellJSON(t, dir, "n1", "cdb del /w/k3", &del); err != nil {
		t.Fatal(err)
	}
	want = append(want, cdbWatchEvent{Key: "/w/k3", Revision: del.Revision, Deleted: true})
	for i, w := range want {
		if ev := nextWatch(t, live, fmt.Sprintf("change %d", i)); ev != w {
			t.Fatalf("change %d on n3's watch: %+v, want %+v", i, ev, w)
		}
	}

	// a watch from a past revision on n2 replays the same changes in order
	replay := watchProc(t, dir, "n2", fmt.Sprintf("/w/ --start %d", want[0].Revision))
	for i, w := range want {
		if ev := nextWatch(t, replay, fmt.Sprintf("replayed change %d", i)); ev != w {
			t.Fatalf("replayed change %d on n2: %+v, want %+v", i, ev, w)
		}
	}
	// and it goes on with live changes
	w := set("n1", "/w/after", "replay")
	if ev := nextWatch(t, replay, "the live change after the replay"); ev != (cdbWatchEvent{Key: "/w/after", Value: "replay", Revision: w.Revision}) {
		t.Fatalf("after the replay: %+v", ev)
	}
	if ev := nextWatch(t, live, "the live change on n3"); ev.Key != "/w/after" {
		t.Fatalf("n3 after the replay: %+v", ev)
	}

	// a write named by (client, seq) retried on another node: the original
	// result, one change
	var first2, again cdbWrite
	if err := shellJSON(t, dir, "n1", "cdb set /w/retry one --client deployer --seq 1", &first2); err != nil || !first2.OK {
		t.Fatalf("named set on n1: %+v %v", first2, err)
	}
	if err := shellJSON(t, dir, "n3", "cdb set /w/retry two --client deployer --seq 1", &again); err != nil || again.Revision != first2.Revision {
		t.Fatalf("the retry on n3: %+v %v, want revision %d", again, err, first2.Revision)
	}
	w = set("n1", "/w/end", "x")
	if ev := nextWatch(t, live, "the named set"); ev != (cdbWatchEvent{Key: "/w/retry", Value: "one", Revision: first2.Revision}) {
		t.Fatalf("n3's watch after the named set: %+v", ev)
	}
	if ev := nextWatch(t, live, "the change after the retry"); ev.Key != "/w/end" || ev.Revision != w.Revision {
		t.Fatalf("after the retry n3's watch has %+v, want /w/end at %d (the retry applied nothing)", ev, w.Revision)
	}
	var g cdbKV
	if err := shellJSON(t, dir, "n3", "cdb get /w/retry", &g); err != nil || g.Value != "one" {
		t.Fatalf("n3 reads %+v %v after the retry, want one", g, err)
	}
}
