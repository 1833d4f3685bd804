package testsuite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// notApplied reports whether a set's error proves it was not applied:
// the node was not reached, or refused it before proposing it (no quorum,
// catching up, a view change: nothing written, the error says retry).
func notApplied(err error, body []byte) bool {
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "dial" {
		return true
	}
	b := string(body)
	switch {
	case strings.Contains(b, "may have been applied"), strings.Contains(b, "may still be applied"):
		return false
	case strings.Contains(b, "no quorum:"), strings.Contains(b, "catching up"):
		return true
	}
	return false
}

var unknownLog atomic.Int32

// linReadNet is TestCDBLinearizableReads' loopback block.
const linReadNet = "127.196"

// linInput is one config DB call of the history: a set of Key to Value
// or a (linearizable) get of Key.
type linInput struct {
	Put   bool
	Key   string
	Value string
}

// linOutput is its answer: the value a get saw ("" for absent); Unknown
// marks a set whose outcome is unknown (no answer): it may have been
// applied at any time after its call, or never.
type linOutput struct {
	Value   string
	Unknown bool
}

// linModel is one register per key (the history is partitioned by key).
var linModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(linInput).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, out := input.(linInput), output.(linOutput)
		if in.Put {
			return true, in.Value
		}
		return out.Value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		if in.Put {
			return fmt.Sprintf("set %s %s (unknown %v)", in.Key, in.Value, out.Unknown)
		}
		return fmt.Sprintf("get %s -> %q", in.Key, out.Value)
	},
}

// TestCDBLinearizableReads: on three real nodes, a writer and a reader on
// every node (sets and linearizable gets of three keys through each node's
// admin socket) run while nodes are killed with kill -9 and started again;
// the recorded history is checked for linearizability (porcupine, a
// register per key). A set refused without quorum was not applied and is
// left out; one with no answer may or may not have been (its return is
// open); a get that failed is left out (it saw nothing).
func TestCDBLinearizableReads(t *testing.T) {
	dir := t.TempDir()
	const n = 3
	startDemo(t, dir, linReadNet, n, "--fence=false")
	names := []string{"n1", "n2", "n3"}
	eventually(t, 30*time.Second, "one quorate view of three", func() error { return sameView(t, dir, names, names, true) })

	clients := map[string]*http.Client{}
	for _, nd := range names {
		var d net.Dialer
		sock := filepath.Join(dir, nd, "corral.sock")
		clients[nd] = cdbBenchClient(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", sock) })
		clients[nd].Timeout = 3 * time.Second
	}
	keys := []string{"/lin/a", "/lin/b", "/lin/c"}
	start := time.Now()
	since := func() int64 { return int64(time.Since(start)) }

	var mu sync.Mutex
	var hist []porcupine.Operation
	var sets, gets, unknown, refused, failedGets int
	record := func(op porcupine.Operation) {
		mu.Lock()
		hist = append(hist, op)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for ci, nd := range names {
		hc := clients[nd]
		wg.Go(func() { // the writer
			rng := rand.New(rand.NewPCG(uint64(ci), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := keys[rng.IntN(len(keys))], fmt.Sprintf("%s-%d", nd, i)
				body, _ := json.Marshal(map[string]string{"value": val})
				call := since()
				out, err := cdbBenchDo(hc, http.MethodPut, "http://corral/v1/cdb"+key, body)
				ret := since()
				in := linInput{Put: true, Key: key, Value: val}
				var w cdbWrite
				switch {
				case err == nil && json.Unmarshal(out, &w) == nil && w.OK:
					record(porcupine.Operation{ClientId: 2 * ci, Input: in, Call: call, Output: linOutput{}, Return: ret})
					mu.Lock()
					sets++
					mu.Unlock()
				case err != nil && notApplied(err, out):
					mu.Lock()
					refused++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				default:
					if unknownLog.Load() < 5 {
						unknownLog.Add(1)
						t.Logf("set %s on %s: no answer: %v", key, nd, err)
					}
					record(porcupine.Operation{ClientId: 2 * ci, Input: in, Call: call, Output: linOutput{Unknown: true}, Return: math.MaxInt64})
					mu.Lock()
					unknown++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
		wg.Go(func() { // the reader
			rng := rand.New(rand.NewPCG(uint64(ci), 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				key := keys[rng.IntN(len(keys))]
				call := since()
				out, err := cdbBenchDo(hc, http.MethodGet, "http://corral/v1/cdb"+key, nil)
				ret := since()
				var g cdbKV
				switch {
				case err == nil && json.Unmarshal(out, &g) == nil:
					if g.Stale {
						t.Errorf("a linearizable get on %s says stale: %s", nd, out)
					}
				case err != nil && strings.Contains(err.Error(), "404 Not Found"):
					g = cdbKV{}
				default:
					mu.Lock()
					failedGets++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				record(porcupine.Operation{ClientId: 2*ci + 1, Input: linInput{Key: key}, Call: call, Output: linOutput{Value: g.Value}, Return: ret})
				mu.Lock()
				gets++
				mu.Unlock()
			}
		})
	}

	// The faults: kill -9 a node, start it again, twice, a different
	// node each time; then a while without faults.
	pause := func(d time.Duration) { time.Sleep(d) }
	pause(2 * time.Second)
	for _, victim := range []int{0, 2} {
		pids := demoPIDs(t, dir, n)
		if err := syscall.Kill(pids[victim], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		pause(2 * time.Second)
		if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
			t.Fatalf("demo --detach again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		eventually(t, 20*time.Second, "one quorate view of three again", func() error { return sameView(t, dir, names, names, true) })
		pause(time.Second)
	}
	close(stop)
	wg.Wait()

	// A set with no answer that no get saw is left out: whether it was
	// applied or not, no answer in the history depends on it (leaving it
	// in, open-ended, only slows the search).
	seen := map[string]bool{}
	for _, op := range hist {
		if in := op.Input.(linInput); !in.Put {
			seen[op.Output.(linOutput).Value] = true
		}
	}
	kept := hist[:0]
	for _, op := range hist {
		if op.Output.(linOutput).Unknown && !seen[op.Input.(linInput).Value] {
			continue
		}
		kept = append(kept, op)
	}
	hist = kept
	t.Logf("%d sets acknowledged, %d with no answer, %d refused; %d linearizable gets, %d failed", sets, unknown, refused, gets, failedGets)
	if gets < 100 || sets < 100 {
		t.Fatalf("too little traffic to check: %d gets, %d sets", gets, sets)
	}
	res, info := porcupine.CheckOperationsVerbose(linModel, hist, 20*time.Second)
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Fatalf("the linearizability check did not finish in 20 s (%d operations)", len(hist))
	default:
		t.Fatalf("the history of %d operations is not linearizable%s", len(hist), illegalDetail(info))
	}
}

// illegalDetail describes, for each key, how far its operations could be
// linearized, and the last operations of the longest such prefix.
func illegalDetail(info porcupine.LinearizationInfo) string {
	var b strings.Builder
	for _, part := range info.PartialLinearizationsOperations() {
		if len(part) == 0 || len(part[0]) == 0 {
			continue
		}
		longest := part[0]
		for _, p := range part {
			if len(p) > len(longest) {
				longest = p
			}
		}
		fmt.Fprintf(&b, "\nkey %s: longest linearizable prefix %d operations, ending:", longest[0].Input.(linInput).Key, len(longest))
		for _, op := range longest[max(0, len(longest)-5):] {
			fmt.Fprintf(&b, "\n  client %d [%v, %v] %s", op.ClientId, time.Duration(op.Call), time.Duration(op.Return), linModel.DescribeOperation(op.Input, op.Output))
		}
	}
	return b.String()
}
