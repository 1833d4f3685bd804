package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/node"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCDBCommands(t *testing.T) {
	f := apitest.New()
	sock := serve(t, f)
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /resources/web/ip 10.0.0.5"); code != 0 || !strings.Contains(out, "set /resources/web/ip at revision 1") {
		t.Fatalf("set: %d %q %q", code, out, errs)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb get /resources/web/ip"); code != 0 || !strings.Contains(out, "/resources/web/ip = 10.0.0.5  (revision 1)") {
		t.Fatalf("get: %d %q %q", code, out, errs)
	}
	code, out, errs := runMain(t, "--socket", sock, "-c", "cdb get /resources/web/ip --json")
	var g apitypes.CDBGetResult
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil || g.Value != "10.0.0.5" || g.Revision != 1 {
		t.Fatalf("get --json: %d %q %q", code, out, errs)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /resources/web/ip 10.0.0.6 --if-revision 5"); code != 1 || !strings.Contains(errs, "revision mismatch") {
		t.Fatalf("CAS: %d %q %q", code, out, errs)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /resources/web/ip 10.0.0.6 --if-revision 1"); code != 0 {
		t.Fatalf("CAS ok: %d %q %q", code, out, errs)
	}
	code, out, errs = runMain(t, "--socket", sock, "-c", "cdb list /resources")
	if code != 0 || !strings.Contains(out, "/resources/web/ip") || !strings.Contains(out, "10.0.0.6") {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	code, out, _ = runMain(t, "--socket", sock, "--json", "-c", "cdb list")
	var l apitypes.CDBListResult
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Keys) != 1 {
		t.Fatalf("list --json: %d %q", code, out)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb del /resources/web/ip"); code != 0 || !strings.Contains(out, "deleted /resources/web/ip") {
		t.Fatalf("del: %d %q %q", code, out, errs)
	}
	code, out, errs = runMain(t, "--socket", sock, "-c", "cdb history")
	if code != 0 || !strings.Contains(out, "set /resources/web/ip=10.0.0.5") || !strings.Contains(out, "del /resources/web/ip") || !strings.Contains(out, "condition failed") {
		t.Fatalf("history: %d %q %q", code, out, errs)
	}
	code, out, _ = runMain(t, "--socket", sock, "-c", "cdb history --limit 1 --json")
	var hs []apitypes.CDBChange
	if code != 0 || json.Unmarshal([]byte(out), &hs) != nil || len(hs) != 1 {
		t.Fatalf("history --json: %d %q", code, out)
	}
	code, out, _ = runMain(t, "--socket", sock, "-c", "cdb del /x --json")
	var w apitypes.CDBWriteResult
	if code != 0 || json.Unmarshal([]byte(out), &w) != nil || w.Op != "delete" {
		t.Fatalf("del --json: %d %q", code, out)
	}
}

func TestCDBNoQuorum(t *testing.T) {
	f := apitest.New()
	f.Stale = true
	f.WriteErr = cdb.ErrNoQuorum{Votes: 1, Expected: 3}
	f.KV = map[string]cdb.KV{"/a": {Key: "/a", Value: []byte("1"), CreateRev: 1, ModRev: 1}}
	sock := serve(t, f)
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /a 2"); code != 1 || !strings.Contains(errs, "no quorum: 1 of 3 votes") {
		t.Fatalf("set: %d %q %q", code, out, errs)
	}
	// a read is linearizable by default: refused without quorum, saying
	// how to read this node's copy anyway
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb get /a"); code != 1 || !strings.Contains(errs, "no quorum") || !strings.Contains(errs, "--stale") {
		t.Fatalf("get: %d %q %q", code, out, errs)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb get /a --stale"); code != 0 || !strings.Contains(out, "stale") {
		t.Fatalf("get --stale: %d %q %q", code, out, errs)
	}
	var l apitypes.CDBListResult
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb list / --stale --json"); code != 0 || json.Unmarshal([]byte(out), &l) != nil || !l.Stale || len(l.Keys) != 1 {
		t.Fatalf("list --stale --json: %d %q %q", code, out, errs)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-c", "cdb history --stale"); code == 0 || !strings.Contains(errs, "--stale goes with") {
		t.Fatalf("history --stale: %d %q", code, errs)
	}
}

// TestCDBWatchCommand: cdb watch prints each change under the prefix as it
// is applied, resumes without a gap or a repeat when the node drops it
// (even inside a transaction's changes), and --start replays.
func TestCDBWatchCommand(t *testing.T) {
	f := apitest.New()
	sock := serve(t, f)
	put := func(kvs ...string) {
		t.Helper()
		var ops []cdb.Op
		for i := 0; i < len(kvs); i += 2 {
			ops = append(ops, cdb.Op{Kind: cdb.OpPut, Key: kvs[i], Value: []byte(kvs[i+1])})
		}
		if _, err := f.CDBTxn(t.Context(), nil, ops); err != nil {
			t.Fatal(err)
		}
	}
	put("/a/1", "before") // 1: before the watch, not printed
	out := newSyncBuffer()
	sh := &Shell{Client: NewClient(sock), Stdout: out}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sh.Exec(ctx, "cdb watch /a/") }()
	out.waitFor(t, "the watch", func(s string) bool { return strings.Contains(s, "watching /a/ from revision 2") })
	waitWatch(t, f)
	put("/a/2", "two")            // 2
	put("/b/1", "not under /a/")  // 3
	put("/a/3", "x", "/a/4", "y") // 4: two changes of one revision
	out.waitFor(t, "the transaction", func(s string) bool { return strings.Contains(s, "set /a/4 = y") })
	f.DropWatches(fmt.Errorf("%w: test", node.ErrWatchBehind))
	out.waitFor(t, "the drop", func(s string) bool { return strings.Contains(s, "dropped this watch") })
	waitWatch(t, f)
	put("/a/5", "five") // 5
	out.waitFor(t, "the change after the drop", func(s string) bool { return strings.Contains(s, "set /a/5 = five") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"2      set /a/2 = two", "4      set /a/3 = x", "4      set /a/4 = y"} {
		if strings.Count(got, want) != 1 {
			t.Fatalf("%q %d times in:\n%s", want, strings.Count(got, want), got)
		}
	}
	if strings.Contains(got, "before") || strings.Contains(got, "/b/1") {
		t.Fatalf("printed a change it should not:\n%s", got)
	}

	// --start replays, --json gives one object a line
	out = newSyncBuffer()
	sh = &Shell{Client: NewClient(sock), Stdout: out, JSON: true}
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	go func() { done <- sh.Exec(ctx, "cdb watch /a/ --start 4") }()
	out.waitFor(t, "the replay", func(s string) bool { return strings.Count(s, "\n") >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var evs []apitypes.CDBWatchEvent
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev apitypes.CDBWatchEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != 3 || evs[0].Key != "/a/3" || evs[2] != (apitypes.CDBWatchEvent{Key: "/a/5", Value: "five", Revision: 5}) {
		t.Fatalf("replay %+v", evs)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-c", "cdb get /a/1 --start 3"); code != 2 || !strings.Contains(errs, "--start goes with `cdb watch`") {
		t.Fatalf("--start on get: %d %q", code, errs)
	}
	f.Compacted = 3
	if code, _, errs := runMain(t, "--socket", sock, "-c", "cdb watch /a/ --start 2"); code != 1 || !strings.Contains(errs, "compacted") {
		t.Fatalf("compacted start: %d %q", code, errs)
	}
}

// waitWatch waits until the fake node has an open watch.
func waitWatch(t *testing.T, f *apitest.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.Watches() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watch never reached the node")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCDBRetryCommand: a write named with --client and --seq, run again
// after an unknown outcome, gets the original result and applies once.
func TestCDBRetryCommand(t *testing.T) {
	f := apitest.New()
	sock := serve(t, f)
	f.LoseAnswer = cdb.ErrOutcomeUnknown
	if code, _, errs := runMain(t, "--socket", sock, "-c", "cdb set /k one --client deploy --seq 1"); code != 1 || !strings.Contains(errs, `retry with the same client "deploy" and seq 1`) {
		t.Fatalf("first try: %d %q", code, errs)
	}
	code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /k two --client deploy --seq 1")
	if code != 0 || !strings.Contains(out, "set /k at revision 1") {
		t.Fatalf("retry: %d %q %q", code, out, errs)
	}
	kv, _, _, _ := f.CDBGet("/k")
	if _, rev, _, _ := f.CDBList("/"); string(kv.Value) != "one" || rev != 1 {
		t.Fatalf("applied twice: %+v at %d", kv, rev)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb del /k --client deploy --seq 2"); code != 0 || !strings.Contains(out, "deleted /k at revision 2") {
		t.Fatalf("del: %d %q %q", code, out, errs)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-c", "cdb set /k x --client deploy"); code != 2 || !strings.Contains(errs, "both --client ID and --seq N") {
		t.Fatalf("half an id: %d %q", code, errs)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-c", "cdb get /k --client a --seq 1"); code != 2 || !strings.Contains(errs, "go with `cdb set` and `cdb del`") {
		t.Fatalf("id on get: %d %q", code, errs)
	}
}
