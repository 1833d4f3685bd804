package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/membership"
)

// serve runs the real admin API over a fake node on a Unix socket.
func serve(t *testing.T, f *apitest.Node) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "corral.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(f)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return sock
}

// fakeWithStatus is a fake node serving st.
func fakeWithStatus(st apitypes.Status) *apitest.Node {
	f := apitest.New()
	f.St = st
	return f
}

// testEnv is a non-terminal environment with empty stdin.
func testEnv(stdin string) (Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}, &out, &errb
}

func TestMainStatus(t *testing.T) {
	sock := serve(t, fakeWithStatus(sampleStatus()))
	for _, args := range [][]string{
		{"--socket", sock, "-c", "status", "--json"},
		{"--socket", sock, "-c", "status --json"},
		{"--json", "--socket", sock, "-c", "status"},
	} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 0 {
			t.Fatalf("%q: exit %d, stderr %s", args, code, errb.String())
		}
		var st apitypes.Status
		dec := json.NewDecoder(&out)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil || !reflect.DeepEqual(st, sampleStatus()) {
			t.Fatalf("%q: %+v, %v", args, st, err)
		}
		if dec.More() {
			t.Fatalf("%q: more than one JSON document", args)
		}
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"--socket", sock, "-c", "status"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "cluster      demo\n") {
		t.Fatalf("table: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

func TestMainErrors(t *testing.T) {
	sock := serve(t, apitest.New())
	missing := filepath.Join(t.TempDir(), "none.sock")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--socket", missing, "-c", "status"}, 1, "cannot reach the node at " + missing + ": "},
		{[]string{"--socket", missing, "-c", "status"}, 1, "is `corral agent` running? start a local cluster with `corral demo`"},
		{[]string{"--socket", sock, "-c", "frob"}, 2, `unknown command "frob"`},
		{[]string{"--socket", sock, "-c", "stat"}, 2, "did you mean start or status?"},
		{[]string{"--socket", sock, "-c", "status now"}, 2, "status takes no arguments"},
		{[]string{"--socket", sock, "-c", `status "`}, 2, "unterminated"},
		{[]string{"--socket", sock, "-c", "events --since x"}, 2, `--since "x": give a number`},
		{[]string{"--socket", sock, "-c", "events --bogus"}, 2, "events does not take --bogus"},
		{[]string{"--socket", sock, "-c", "events --since"}, 2, "--since needs a value"},
		{[]string{"--socket", sock, "-c", "pause"}, 2, "pause needs one node name"},
		{[]string{"--socket", sock, "-c", "pause n9"}, 1, `no node named "n9"`},
		{[]string{"--socket", sock, "-c", "leave n2"}, 2, "leave acts on the node this shell is connected to"},
		{[]string{"--socket", sock, "-c", "debug fault add --peer n2"}, 2, "say what the rule does"},
		{[]string{"--socket", sock, "-c", "debug fault add --peer n2 --drop x"}, 2, "probability"},
		{[]string{"--socket", sock, "-c", "debug fault list --drop 1"}, 2, "goes with `debug fault add`"},
		{[]string{"--socket", sock, "-c", "debug fault clear 99"}, 1, "no fault 99"},
		{[]string{"--socket", sock, "-c", "debug frob"}, 2, "usage: debug fault"},
		{[]string{"--socket", sock, "-c", "cdb get /"}, 2, "keys are paths"},
		{[]string{"--socket", sock, "-c", "cdb get /nope"}, 1, "no key /nope"},
		{[]string{"--socket", sock, "-c", "cdb frob"}, 2, "use get, list, set, del, history or watch"},
		{[]string{"--socket", sock, "-c", "cdb get /a --if-revision 3"}, 2, "goes with `cdb set`"},
		{[]string{"--socket", sock, "-c", "help frob"}, 2, `no command "frob"`},
		{[]string{"--socket", sock, "-c", "watch"}, 2, "watch what?"},
		{[]string{"--socket", sock, "-c", "watch pause n2"}, 2, "not actions"},
		{[]string{"--socket", sock, "-c", "watch status --interval 1ns"}, 2, "at least 100ms"},
		{[]string{"--socket", sock, "-f", filepath.Join(t.TempDir(), "nope")}, 2, "no such file"},
	}
	for _, tc := range cases {
		env, _, errb := testEnv("")
		code := Run(tc.args, env)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}

func TestFaultsDisabledShown(t *testing.T) {
	f := apitest.New()
	f.FaultsOn = false
	sock := serve(t, f)
	env, _, errb := testEnv("")
	if code := Run([]string{"--socket", sock, "-c", "debug fault list"}, env); code != 1 || !strings.Contains(errb.String(), "fault_injection = true") {
		t.Fatalf("exit %d, %q", code, errb.String())
	}
}

// TestEveryCommandJSON: every command with --json prints exactly one
// JSON document of the right shape.
func TestEveryCommandJSON(t *testing.T) {
	f := apitest.New()
	p := true
	f.Emit(apitypes.Event{Kind: "view_changed", View: "4/n1", Members: []string{"n1", "n2", "n3"}, Primary: &p})
	f.Emit(apitypes.Event{Kind: "link_down", Peer: "n3"})
	sock := serve(t, f)
	cases := []struct {
		cmd  string
		into any
		ok   func(v any) bool
	}{
		{"status", &apitypes.Status{}, func(v any) bool { return v.(*apitypes.Status).Node == "n1" }},
		{"nodes", &[]apitypes.NodeInfo{}, func(v any) bool { return len(*v.(*[]apitypes.NodeInfo)) == 3 }},
		{"links", &[]apitypes.Link{}, func(v any) bool { return len(*v.(*[]apitypes.Link)) == 4 }},
		{"quorum", &apitypes.QuorumStatus{}, func(v any) bool { return v.(*apitypes.QuorumStatus).Needed == 2 }},
		{"views", &[]apitypes.Event{}, func(v any) bool { e := *v.(*[]apitypes.Event); return len(e) == 1 && e[0].Seq == 1 }},
		{"events --since 0", &[]apitypes.Event{}, func(v any) bool { return len(*v.(*[]apitypes.Event)) == 2 }},
		{"events --since 1 --limit 1", &[]apitypes.Event{}, func(v any) bool { e := *v.(*[]apitypes.Event); return len(e) == 1 && e[0].Seq == 2 }},
		{"pause n2", &apitypes.ActionResult{}, func(v any) bool { return v.(*apitypes.ActionResult).Action == "pause" }},
		{"resume n2", &apitypes.ActionResult{}, func(v any) bool { return v.(*apitypes.ActionResult).Action == "resume" }},
		{"leave", &apitypes.ActionResult{}, func(v any) bool { return v.(*apitypes.ActionResult).Node == "n1" }},
		{"debug fault add --peer n2 --link 0 --drop 1", &apitypes.FaultAdded{}, func(v any) bool { return v.(*apitypes.FaultAdded).Fault.Peer == "n2" }},
		{"debug fault add n3 --delay 100ms --dir out", &apitypes.FaultAdded{}, func(v any) bool { return v.(*apitypes.FaultAdded).Fault.Dir == "out" }},
		{"debug fault list", &[]apitypes.FaultInfo{}, func(v any) bool { return len(*v.(*[]apitypes.FaultInfo)) == 2 }},
		{"debug fault clear 1", &apitypes.FaultsRemoved{}, func(v any) bool { return v.(*apitypes.FaultsRemoved).Removed == 1 }},
		{"debug fault clear", &apitypes.FaultsRemoved{}, func(v any) bool { return v.(*apitypes.FaultsRemoved).Removed == 1 }},
	}
	for _, tc := range cases {
		env, out, errb := testEnv("")
		if code := Run([]string{"--socket", sock, "-c", tc.cmd, "--json"}, env); code != 0 {
			t.Fatalf("%s --json: exit %d: %s", tc.cmd, code, errb)
		}
		dec := json.NewDecoder(out)
		dec.DisallowUnknownFields()
		if err := dec.Decode(tc.into); err != nil || !tc.ok(tc.into) {
			t.Fatalf("%s --json: %v, %+v\n%s", tc.cmd, err, tc.into, out)
		}
		if dec.More() {
			t.Fatalf("%s --json: more than one document", tc.cmd)
		}
	}
	if want := []string{"pause n2", "resume n2", "leave n1"}; !reflect.DeepEqual(f.Actions, want) {
		t.Fatalf("actions %q", f.Actions)
	}
}

func TestTables(t *testing.T) {
	f := apitest.New()
	f.St.Nodes[2].State = "paused"
	p := true
	f.Emit(apitypes.Event{Kind: "view_changed", View: "4/n1", Members: []string{"n1", "n2"}, Primary: &p})
	link := 0
	f.Emit(apitypes.Event{Kind: "link_down", Peer: "n3", Link: &link, Remote: &link})
	sock := serve(t, f)
	want := map[string]string{
		"nodes": `NODE  ID  STATE   MEMBER  REACHABLE  LINKS UP  ROLE
n1    1   online  yes     self       -         self, coordinator
n2    2   online  yes     yes        2/2       -
n3    3   paused  yes     yes        1/2       -
`,
		"links": `PEER  LINK  REMOTE LINK  STATE    RTT
n2    0     0            up       150µs
n2    1     1            up       160µs
n3    0     0            up       170µs
n3    1     1            in-only  -
`,
		"quorum": `quorate      yes
primary      yes
view         4/n1
votes        3 of 3, need 2
judged by    configured nodes
policy       majority
explanation  primary: 3 of 3 votes of configured nodes, need 2; policy majority
`,
		"views": `SEQ  TIME                      VIEW  PRIMARY  MEMBERS
1    2026-01-02T03:04:05.000Z  4/n1  yes      n1, n2
`,
		"events": `SEQ  TIME                      KIND          VIEW  DETAILS
1    2026-01-02T03:04:05.000Z  view_changed  4/n1  members=n1,n2 primary=true
2    2026-01-02T03:04:05.000Z  link_down     -     peer=n3 link=0 remote_link=0
`,
		"debug fault list": "no fault rules\n",
	}
	for cmd, w := range want {
		env, out, errb := testEnv("")
		if code := Run([]string{"--socket", sock, "-c", cmd}, env); code != 0 {
			t.Fatalf("%s: exit %d: %s", cmd, code, errb)
		}
		if out.String() != w {
			t.Errorf("%s:\n%s\nwant:\n%s", cmd, out, w)
		}
	}
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestColors: colours only when asked, and alignment survives them.
func TestColors(t *testing.T) {
	f := apitest.New()
	f.St.Nodes[2].State = "offline"
	sock := serve(t, f)
	plain, colored := &bytes.Buffer{}, &bytes.Buffer{}
	for _, sh := range []*Shell{{Client: NewClient(sock), Stdout: plain}, {Client: NewClient(sock), Stdout: colored, Color: true}} {
		if err := sh.Exec(t.Context(), "nodes"); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Fatalf("colours without a terminal: %q", plain)
	}
	if !strings.Contains(colored.String(), ansiGreen+"online"+ansiReset) || !strings.Contains(colored.String(), ansiRed+"offline"+ansiReset) {
		t.Fatalf("no state colours: %q", colored)
	}
	if got := ansiRE.ReplaceAllString(colored.String(), ""); got != plain.String() {
		t.Fatalf("colours change the layout:\n%s\nvs\n%s", got, plain)
	}
}

func TestHelpEveryCommand(t *testing.T) {
	var list bytes.Buffer
	sh := &Shell{Stdout: &list}
	if err := sh.Exec(t.Context(), "help"); err != nil {
		t.Fatal(err)
	}
	names := commandNames()
	for _, want := range []string{"status", "nodes", "links", "quorum", "views", "events", "pause", "resume", "leave", "debug", "cdb", "watch", "help", "exit"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("no command %s", want)
		}
	}
	for _, c := range commands() {
		if !strings.Contains(list.String(), "  "+c.name+" ") {
			t.Errorf("help list lacks %q", c.name)
		}
		var b bytes.Buffer
		if err := (&Shell{Stdout: &b}).Exec(t.Context(), "help "+c.name); err != nil {
			t.Fatalf("help %s: %v", c.name, err)
		}
		out := b.String()
		if !strings.HasPrefix(out, "Usage: "+c.name) || !strings.Contains(out, "Example:\n  ") || c.help == "" {
			t.Errorf("help %s:\n%s", c.name, out)
		}
		// Every example line is a command that parses.
		for _, ex := range strings.Split(c.example, "\n") {
			words, err := Split(ex)
			if err != nil || lookup(words[0]) == nil {
				t.Errorf("help %s: example %q is not a command", c.name, ex)
				continue
			}
			var rest []string
			for _, w := range words[1:] {
				if w != "--json" {
					rest = append(rest, w)
				}
			}
			if _, err := lookup(words[0]).parse(rest); err != nil {
				t.Errorf("help %s: example %q: %v", c.name, ex, err)
			}
		}
	}
}

func writeScript(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.corral")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScript(t *testing.T) {
	f := apitest.New()
	sock := serve(t, f)
	script := writeScript(t, "# pause and resume n2\n\npause n2\n  # indented comment\nfrob\nresume n2\n")

	env, out, errb := testEnv("")
	if code := Run([]string{"--socket", sock, "-f", script}, env); code != 2 {
		t.Fatalf("exit %d, want 2 (usage error on line 5)", code)
	}
	if !strings.Contains(errb.String(), script+":5: frob: unknown command") || !strings.Contains(errb.String(), "stopped at "+script+":5") {
		t.Fatalf("stderr %q", errb)
	}
	if !strings.Contains(out.String(), "asked n2 to pause") || strings.Contains(out.String(), "resume") {
		t.Fatalf("stdout %q: want line 3 run and line 6 not", out)
	}
	if want := []string{"pause n2"}; !reflect.DeepEqual(f.Actions, want) {
		t.Fatalf("actions %q", f.Actions)
	}

	env, out, errb = testEnv("")
	if code := Run([]string{"--socket", sock, "-f", script, "--keep-going"}, env); code != 2 {
		t.Fatalf("--keep-going: exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), ":5: frob") || strings.Contains(errb.String(), "stopped at") || !strings.Contains(out.String(), "asked n2 to resume") {
		t.Fatalf("--keep-going: stdout %q stderr %q", out, errb)
	}

	// A script on stdin (not a terminal); exit ends it successfully.
	env, out, errb = testEnv("nodes --json\nexit\nfrob\n")
	if code := Run([]string{"--socket", sock}, env); code != 0 {
		t.Fatalf("stdin script: exit %d: %s", code, errb)
	}
	var ns []apitypes.NodeInfo
	if err := json.Unmarshal(out.Bytes(), &ns); err != nil || len(ns) != 3 {
		t.Fatalf("stdin script output %q: %v", out, err)
	}
	// -f - reads stdin too; a failing API call is exit 1 with its line.
	env, _, errb = testEnv("status\npause n9\n")
	if code := Run([]string{"--socket", sock, "-f", "-"}, env); code != 1 || !strings.Contains(errb.String(), "stdin:2: pause n9: no node named") {
		t.Fatalf("-f -: exit %d, %q", code, errb)
	}
}

func TestCompletion(t *testing.T) {
	sock := serve(t, apitest.New())
	c := &completer{s: &Shell{Client: NewClient(sock)}}
	cases := []struct {
		line string
		want []string // completions (the rest of the word, with a space)
		n    int      // length of the word being completed
	}{
		{"sta", []string{"rt ", "tus "}, 3},
		{"", commandNamesSpaced(), 0},
		{"pause ", []string{"n1 ", "n2 ", "n3 "}, 0},
		{"resume n", []string{"1 ", "2 ", "3 "}, 1},
		{"debug ", []string{"fault "}, 0},
		{"debug fault ", []string{"add ", "clear ", "list "}, 0},
		{"debug fault add --peer n", []string{"1 ", "2 ", "3 "}, 1},
		{"debug fault add --dir ", []string{"both ", "in ", "out "}, 0},
		{"events --f", []string{"ollow "}, 3},
		{"events --", []string{"follow ", "json ", "limit ", "since "}, 2},
		{"watch st", []string{"art ", "atus ", "op "}, 2},
		{"watch --interval 2s no", []string{"des "}, 2},
		{"help ev", []string{"ents "}, 2},
		{"frob ", nil, 0},
		{"status ", nil, 0},
	}
	for _, tc := range cases {
		got, n := c.Do([]rune(tc.line), len([]rune(tc.line)))
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		sort.Strings(gs)
		want := append([]string(nil), tc.want...)
		sort.Strings(want)
		if !reflect.DeepEqual(gs, want) || n != tc.n {
			t.Errorf("complete %q: %q (len %d), want %q (len %d)", tc.line, gs, n, want, tc.n)
		}
	}
}

func commandNamesSpaced() []string {
	var out []string
	for _, n := range commandNames() {
		out = append(out, n+" ")
	}
	return out
}

// syncBuffer is a goroutine-safe buffer that signals writes.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1000)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until cond holds on the buffer's text, or fails.
func (s *syncBuffer) waitFor(t *testing.T, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond(s.String()) {
		select {
		case <-s.wrote:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; output:\n%s", what, s.String())
		}
	}
}

func TestWatch(t *testing.T) {
	f := apitest.New()
	sock := serve(t, f)
	out := newSyncBuffer()
	sh := &Shell{Client: NewClient(sock), Stdout: out}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sh.Exec(ctx, "watch nodes --interval 100ms") }()
	out.waitFor(t, "two redraws", func(s string) bool { return strings.Count(s, "Every 100ms: nodes") >= 2 })
	if err := f.SetNodeState("n2", membership.StatePaused); err != nil { // the next redraw shows it
		t.Fatal(err)
	}
	out.waitFor(t, "the paused node", func(s string) bool { return regexp.MustCompile(`n2 +2 +paused`).MatchString(s) })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch ended with %v, want nil on Ctrl-C", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop when cancelled")
	}
}

func TestEventsFollow(t *testing.T) {
	f := apitest.New()
	f.Emit(apitypes.Event{Kind: "view_changed", View: "1/n1"})
	sock := serve(t, f)
	for i, js := range []bool{false, true} {
		out := newSyncBuffer()
		sh := &Shell{Client: NewClient(sock), Stdout: out, JSON: js}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- sh.Exec(ctx, "events --follow --since 0") }()
		out.waitFor(t, "the stored event", func(s string) bool { return strings.Contains(s, "view_changed") })
		e := f.Emit(apitypes.Event{Kind: "node_paused", Target: "n2"})
		out.waitFor(t, "the live event", func(s string) bool { return strings.Count(s, "node_paused") == i+1 })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if js {
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var last apitypes.Event
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Seq != e.Seq {
				t.Fatalf("--json follow: %q: %v", lines, err)
			}
		} else if !strings.Contains(out.String(), "target=n2") {
			t.Fatalf("follow: %q", out)
		}
	}
}

// TestEventsFollowReconnects: when the node goes away and comes back, the
// stream says so and resumes after the last event it printed.
func TestEventsFollowReconnects(t *testing.T) {
	f := apitest.New()
	f.Emit(apitypes.Event{Kind: "view_changed", View: "1/n1"})
	sock := filepath.Join(t.TempDir(), "corral.sock")
	start := func() func() {
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		h := api.New(f)
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		return func() { h.Close(); srv.Close() }
	}
	stop := start()
	out := newSyncBuffer()
	sh := &Shell{Client: NewClient(sock), Stdout: out}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sh.Exec(ctx, "events --follow --since 0") }()
	out.waitFor(t, "the first event", func(s string) bool { return strings.Contains(s, "view_changed") })
	stop()
	out.waitFor(t, "the lost connection", func(s string) bool { return strings.Contains(s, "connection to the node lost") })
	f.Emit(apitypes.Event{Kind: "node_paused", Target: "n2"}) // while nobody listens
	stop = start()
	defer stop()
	out.waitFor(t, "the missed event", func(s string) bool { return strings.Contains(s, "node_paused") })
	if !strings.Contains(out.String(), "reconnected") || strings.Count(out.String(), "view_changed") != 1 {
		t.Fatalf("output:\n%s", out)
	}
	cancel()
	<-done
}

func TestPrompt(t *testing.T) {
	for _, tc := range []struct {
		quorate, reach, utf8 bool
		want                 string
	}{
		{true, true, true, "demo n1 ✓> "},
		{false, true, true, "demo n1 ✗> "},
		{true, true, false, "demo n1 +> "},
		{false, true, false, "demo n1 -> "},
		{false, false, true, "corral (disconnected)> "},
	} {
		if got := prompt("demo", "n1", tc.quorate, tc.reach, tc.utf8); got != tc.want {
			t.Errorf("prompt(%v, %v, %v) = %q, want %q", tc.quorate, tc.reach, tc.utf8, got, tc.want)
		}
	}
	if !utf8Locale(func(k string) string { return map[string]string{"LANG": "en_US.UTF-8"}[k] }) ||
		utf8Locale(func(k string) string { return map[string]string{"LC_ALL": "C", "LANG": "en_US.UTF-8"}[k] }) {
		t.Fatal("utf8Locale")
	}
}

func TestHistoryFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	if got, want := HistoryFile(), filepath.Join(home, ".config", "corral", "history"); got != want {
		t.Fatalf("HistoryFile() = %q, want %q", got, want)
	}
}
