package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/cdb"
)

// checkWidth fails for a line wider than 80 columns.
func checkWidth(t *testing.T, what, out string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("%s: a line of %d columns: %q", what, n, l)
		}
	}
}

// TestHelpFits walks every command's help: `help`, `help NAME`, `NAME
// --help` and `NAME -h` exit 0 without a node, fit 80 columns, and NAME
// --help says what help NAME says.
func TestHelpFits(t *testing.T) {
	sock := "/nonexistent/corral.sock" // help needs no node
	run := func(args ...string) (int, string, string) {
		env, out, errb := testEnv("")
		code := Run(append([]string{"--socket", sock}, args...), env)
		return code, out.String(), errb.String()
	}
	for _, args := range [][]string{{"--help"}, {"-c", "help"}} {
		code, out, errb := run(args...)
		if code != 0 || errb != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb)
		}
		checkWidth(t, strings.Join(args, " "), out)
	}
	// For lua and watch the rest of the line is an argument: --help there
	// is not a question (lua x = "--help" is Lua; watch needs a node).
	if code, out, _ := run("-c", `lua x = "--help"`); code == 0 || strings.HasPrefix(out, "Usage: lua") {
		t.Errorf(`lua x = "--help": exit %d, %q: want it evaluated (and fail here: no node)`, code, out)
	}
	for _, c := range commands() {
		_, want, _ := run("-c", "help "+c.name)
		checkWidth(t, "help "+c.name, want)
		for _, line := range []string{c.name + " --help", c.name + " -h"} {
			code, out, errb := run("-c", line)
			if code != 0 || errb != "" || out != want {
				t.Errorf("%s: exit %d, stderr %q, stdout %q; want exit 0 and the help of `help %s`", line, code, errb, out, c.name)
			}
		}
	}
}

// TestErrorsNameShellCommands: errors name shell commands, not the admin
// API's routes, and with --json an error is one JSON object on stderr.
func TestErrorsNameShellCommands(t *testing.T) {
	sock := serve(t, apitest.New())
	code, _, errb := runMain(t, "--socket", sock, "-c", "cdb get /nope")
	if code != 1 || !strings.Contains(errb, "no key /nope (list keys with cdb list /)") || strings.Contains(errb, "/v1/") {
		t.Errorf("cdb get /nope: exit %d, stderr %q", code, errb)
	}
	for _, line := range []string{"explain nope", "pause n9", "debug fault clear 99", "fence n9 --yes", "cleanup nope"} {
		_, _, errb := runMain(t, "--socket", sock, "-c", line)
		if strings.Contains(errb, "/v1/") {
			t.Errorf("%s: stderr names a route: %q", line, errb)
		}
	}
	for _, args := range [][]string{
		{"--socket", sock, "--json", "-c", "cdb get /nope"},
		{"--socket", sock, "-c", "cdb get /nope --json"},
		{"--socket", sock, "-c", "events --since x --json"},
		{"--socket", sock, "--json", "-f", writeScript(t, "status\ncdb get /nope\n")},
	} {
		var out, errb bytes.Buffer
		code := Main(args, &out, &errb)
		var e ErrorJSON
		dec := json.NewDecoder(&errb)
		if err := dec.Decode(&e); err != nil || e.Error == "" || e.Exit != code || code == 0 || dec.More() {
			t.Errorf("%q: exit %d, stderr %q: want one JSON error object (%v)", args, code, errb.String(), err)
		}
	}
}

// TestEventsNewest: `events -n N` shows the newest N, oldest first, as
// journalctl -n does; --since now works; --follow starts at the newest
// unless --since N.
func TestEventsNewest(t *testing.T) {
	f := apitest.New()
	for i := 0; i < 30; i++ {
		f.Emit(apitypes.Event{Kind: "node_paused", Target: fmt.Sprintf("t%d", i)})
	}
	sock := serve(t, f)
	seqs := func(out string) []uint64 {
		var evs []apitypes.Event
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		var s []uint64
		for _, e := range evs {
			s = append(s, e.Seq)
		}
		return s
	}
	for _, line := range []string{"events -n 5 --json", "events --limit 5 --json", "events -n=5 --json"} {
		code, out, errb := runMain(t, "--socket", sock, "-c", line)
		if got := seqs(out); code != 0 || !reflect.DeepEqual(got, []uint64{26, 27, 28, 29, 30}) {
			t.Errorf("%s: exit %d, seqs %v, stderr %q; want the newest 5, 26..30", line, code, got, errb)
		}
	}
	code, out, errb := runMain(t, "--socket", sock, "-c", "events --since now --json")
	if got := seqs(out); code != 0 || len(got) != 0 {
		t.Errorf("events --since now: exit %d, seqs %v, stderr %q", code, got, errb)
	}

	for _, tc := range []struct {
		line  string
		first uint64 // the first event printed (0: the first "new" one)
	}{
		{"events --follow --json", 0},
		{"events --follow --since now --json", 0},
		{"events --follow --since 27 --json", 28},
		{"events --follow -n 2 --json", 1}, // 1: the newest but one
	} {
		if tc.first == 1 {
			tc.first = f.LastEventSeq() - 1
		}
		out := newSyncBuffer()
		sh := &Shell{Client: NewClient(sock), Stdout: out}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- sh.Exec(ctx, tc.line) }()
		if tc.first != 0 { // stored events come first: wait for them
			out.waitFor(t, "the stored events", func(s string) bool { return s != "" })
		}
		// The stream may open after an event: emit until one shows.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), `"target":"new"`) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no new event printed; output:\n%s", tc.line, out)
			}
			f.Emit(apitypes.Event{Kind: "node_paused", Target: "new"})
			select {
			case <-out.wrote:
			case <-time.After(100 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		first := strings.SplitN(out.String(), "\n", 2)[0]
		var e apitypes.Event
		err := json.Unmarshal([]byte(first), &e)
		if err != nil || (tc.first != 0 && e.Seq != tc.first) || (tc.first == 0 && e.Target != "new") {
			t.Errorf("%s: first event %q (%v); want seq %d (0: the first new one); output:\n%s", tc.line, first, err, tc.first, out)
		}
	}
}

// TestOneTimeFormat: events, cdb history and fence history print times
// in one format, RFC 3339 in UTC with milliseconds.
func TestOneTimeFormat(t *testing.T) {
	f := apitest.New()
	f.Emit(apitypes.Event{Kind: "node_paused", Target: "n2"})
	f.Changes = []cdb.Change{{Rev: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC).UnixNano(), OK: true,
		Ops: []cdb.Op{{Kind: cdb.OpPut, Key: "/a", Value: []byte(`"x"`)}}}}
	sock := serve(t, f)
	format := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	var evs []apitypes.Event
	_, out, _ := runMain(t, "--socket", sock, "-c", "events --json")
	if err := json.Unmarshal([]byte(out), &evs); err != nil || len(evs) != 1 || !format.MatchString(evs[0].Time) {
		t.Errorf("events: %q (%v)", out, err)
	}
	var hs []struct {
		Time string `json:"time"`
	}
	_, out, _ = runMain(t, "--socket", sock, "-c", "cdb history --json")
	if err := json.Unmarshal([]byte(out), &hs); err != nil || len(hs) != 1 || !format.MatchString(hs[0].Time) {
		t.Errorf("cdb history: %q (%v)", out, err)
	}
}

// TestStaleWithoutQuorum: on a node without quorum, groups, resources,
// status and explain say that what they show may be stale (in --json a
// "stale": true beside the documented fields); with quorum they do not.
func TestStaleWithoutQuorum(t *testing.T) {
	for _, quorate := range []bool{false, true} {
		f := &crmNode{Node: apitest.New()}
		f.St = sampleStatus()
		f.St.Quorate = quorate
		sock := serveCRM(t, f)
		for _, cmd := range []string{"groups", "resources", "status", "explain web"} {
			code, out, errb := runMain(t, "--socket", sock, "-c", cmd)
			if code != 0 || strings.Contains(out, "stale") == quorate {
				t.Errorf("quorate %v: %s: exit %d, stdout %q, stderr %q", quorate, cmd, code, out, errb)
			}
			checkWidth(t, cmd, out)
			code, out, errb = runMain(t, "--socket", sock, "-c", cmd+" --json")
			var doc any
			if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
				t.Fatalf("%s --json: exit %d, %q %q", cmd, code, out, errb)
			}
			rows, ok := doc.([]any)
			if !ok {
				rows = []any{doc}
			}
			for _, r := range rows {
				m := r.(map[string]any)
				if stale, _ := m["stale"].(bool); stale == quorate {
					t.Errorf("quorate %v: %s --json: %s", quorate, cmd, out)
				}
				for _, k := range map[string][]string{"groups": {"name", "state", "owner", "address", "reason"},
					"resources": {"name", "group", "state", "node"}, "status": {"cluster", "node", "quorate", "members", "nodes"},
					"explain web": {"group", "text"}}[cmd] {
					if _, ok := m[k]; !ok {
						t.Errorf("%s --json lacks %s: %s", cmd, k, out)
					}
				}
			}
		}
	}
}

// TestCompletionSubsAndKeys: Tab completes a command's subcommands next
// to node names (fence h -> history) and config DB keys a folder at a
// time (cdb get /gr -> /groups/).
func TestCompletionSubsAndKeys(t *testing.T) {
	f := apitest.New()
	f.KV = map[string]cdb.KV{}
	for i, k := range []string{"/groups/web", "/groups/db", "/resources/ip", "/top"} {
		f.KV[k] = cdb.KV{Key: k, Value: []byte(`"x"`), CreateRev: uint64(i + 1), ModRev: uint64(i + 1)}
	}
	f.Rev = 4
	sock := serve(t, f)
	c := &completer{s: &Shell{Client: NewClient(sock)}}
	cases := []struct {
		line string
		want []string
		n    int
	}{
		{"fence h", []string{"istory "}, 1},
		{"fence d", []string{"evices "}, 1},
		{"cdb get /gr", []string{"oups/"}, 3},
		{"cdb get /groups/w", []string{"eb "}, 9},
		{"cdb get ", []string{"/groups/", "/resources/", "/top "}, 0},
		{"cdb list /res", []string{"ources/"}, 4},
		{"cdb set /t", []string{"op "}, 2},
	}
	for _, tc := range cases {
		got, n := c.Do([]rune(tc.line), len([]rune(tc.line)))
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		sort.Strings(gs)
		if !reflect.DeepEqual(gs, tc.want) || n != tc.n {
			t.Errorf("complete %q: %q (len %d), want %q (len %d)", tc.line, gs, n, tc.want, tc.n)
		}
	}
}
