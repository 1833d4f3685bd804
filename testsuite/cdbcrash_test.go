package testsuite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCDBKillRightAfterAcks: 16 clients set keys on n1 and n2 at once
// (batched rounds: several entries a bbolt transaction), then every node
// is killed with kill -9 the moment the last answer arrives, before a
// commit mark written lazily reaches the disk. After a restart every node
// has every acknowledged update, at its revision (the entries are read
// back from bbolt; those above the commit mark stay tentative until the
// new primary view adopts them). The acknowledged entries were in each
// node's write-ahead log only (the store applies it to corral.db in
// batches): every node says at its restart that it applied the log.
func TestCDBKillRightAfterAcks(t *testing.T) {
	dir := t.TempDir()
	const n = 3
	startDemo(t, dir, "127.82", n)
	names := []string{"n1", "n2", "n3"}
	type write struct {
		value string
		rev   uint64
	}
	setter := func(node string) func(key, value string) (cdbWrite, error) {
		var d net.Dialer
		sock := filepath.Join(dir, node, "corral.sock")
		hc := cdbBenchClient(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", sock) })
		return func(key, value string) (cdbWrite, error) {
			body, err := json.Marshal(map[string]string{"value": value})
			if err != nil {
				return cdbWrite{}, err
			}
			out, err := cdbBenchDo(hc, http.MethodPut, "http://corral/v1/cdb"+key, body)
			if err != nil {
				return cdbWrite{}, err
			}
			var w cdbWrite
			if err := json.Unmarshal(out, &w); err != nil || !w.OK || w.Revision == 0 {
				return cdbWrite{}, fmt.Errorf("set %s: %v: %s", key, err, out)
			}
			return w, nil
		}
	}
	first := setter("n1")
	eventually(t, 20*time.Second, "a first set on n1", func() error { _, err := first("/crash/first", "one"); return err })
	// The writers use n1 and n2: both must hold the lease of the view of
	// all three (a first set on n1 may come before n3 joined, and n2 has
	// no lease for a moment after that view change).
	eventually(t, 20*time.Second, "one quorate view of three", func() error { return sameView(t, dir, names, names, true) })

	const clients, per = 16, 30
	var mu sync.Mutex
	acked := map[string]write{}
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for w := range clients {
		set := setter(names[w%2])
		wg.Go(func() {
			for i := range per {
				key, value := fmt.Sprintf("/crash/w%d/k%d", w, i), fmt.Sprintf("v%d-%d", w, i)
				res, err := set(key, value)
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				acked[key] = write{value, res.Revision}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	pids := demoPIDs(t, dir, n)
	for _, p := range pids {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
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
		eventually(t, 30*time.Second, nd+" has every acknowledged update after kill -9 of every node", func() error {
			var l cdbList
			if err := shellJSON(t, dir, nd, "cdb list /crash/w", &l); err != nil {
				return err
			}
			if l.Stale {
				return fmt.Errorf("%s: list is stale", nd)
			}
			got := map[string]cdbKV{}
			for _, kv := range l.Keys {
				got[kv.Key] = kv
			}
			for k, w := range acked {
				if g, ok := got[k]; !ok || g.Value != w.value || g.Revision != w.rev {
					return fmt.Errorf("%s: %s is %+v (present %v), want %q at revision %d", nd, k, g, ok, w.value, w.rev)
				}
			}
			if len(got) != len(acked) || len(acked) != clients*per {
				return fmt.Errorf("%s: %d keys, %d acknowledged, want %d", nd, len(got), len(acked), clients*per)
			}
			return nil
		})
	}
	for _, nd := range names {
		data, err := os.ReadFile(filepath.Join(dir, nd, "corral.log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "applied the write-ahead log") {
			t.Errorf("%s did not replay its write-ahead log at the restart: the acknowledged writes were not in the log only", nd)
		}
	}
}
