package shell

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/apitypes"
)

func TestParseArgs(t *testing.T) {
	cases := []struct {
		args []string
		want Options
		err  string // substring of the usage error, "" for none
	}{
		{[]string{"-c", "status"}, Options{Command: "status"}, ""},
		{[]string{"-c", "status", "--json"}, Options{Command: "status", JSON: true}, ""},
		{[]string{"--json", "-c", "status"}, Options{Command: "status", JSON: true}, ""},
		{[]string{"-c", "status --json"}, Options{Command: "status --json"}, ""},
		{[]string{"-c=status", "--socket=/x.sock"}, Options{Command: "status", Socket: "/x.sock"}, ""},
		{[]string{"--socket", "/x.sock", "-c", "status"}, Options{Command: "status", Socket: "/x.sock"}, ""},
		{[]string{"-c", "debug", "fault", "list"}, Options{Command: "debug fault list"}, ""},
		{[]string{"-c", "x", "a b"}, Options{Command: `x "a b"`}, ""},
		{nil, Options{}, ""},
		{[]string{"--help"}, Options{Help: true}, ""},
		{[]string{"--socket"}, Options{}, "--socket needs a value"},
		{[]string{"status"}, Options{}, "give the command with -c"},
		{[]string{"--bogus"}, Options{}, "unknown flag --bogus"},
		{[]string{"-c", "status", "-c", "status"}, Options{}, "-c given twice"},
		{[]string{"-f", "script"}, Options{File: "script"}, ""},
		{[]string{"-f", "script", "--keep-going"}, Options{File: "script", KeepGoing: true}, ""},
		{[]string{"-f", "a", "-f", "b"}, Options{}, "-f given twice"},
		{[]string{"-f", "a", "-c", "status"}, Options{}, "-c and -f together"},
		{[]string{"--keep-going=yes"}, Options{}, "takes no value"},
		{[]string{"--json=yes", "-c", "status"}, Options{}, "takes no value"},
	}
	for _, tc := range cases {
		got, err := ParseArgs(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseArgs(%q): err %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseArgs(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		line string
		want []string
	}{
		{"status", []string{"status"}},
		{"  status   --json ", []string{"status", "--json"}},
		{`resource add web process "cmd=sleep 10"`, []string{"resource", "add", "web", "process", "cmd=sleep 10"}},
		{`a 'b "c"' d\ e ""`, []string{"a", `b "c"`, "d e", ""}},
		{"", nil},
	}
	for _, tc := range cases {
		got, err := Split(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{`a "b`, `a 'b`, `a\`} {
		if _, err := Split(bad); err == nil {
			t.Errorf("Split(%q): no error", bad)
		}
	}
	// ParseArgs' appended words survive Split.
	o, _ := ParseArgs([]string{"-c", "x", `a "b" c`, `d\e`})
	if got, _ := Split(o.Command); !reflect.DeepEqual(got, []string{"x", `a "b" c`, `d\e`}) {
		t.Errorf("round trip: %q -> %q", o.Command, got)
	}
}

func TestFindSocket(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == SocketEnv {
				return v
			}
			return ""
		}
	}
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	cases := []struct {
		flag, env string
		exists    func(string) bool
		want      string
	}{
		{"/flag.sock", "/env.sock", yes, "/flag.sock"},
		{"", "/env.sock", yes, "/env.sock"},
		{"", "", yes, DemoSocket},
		{"", "", no, SystemSocket},
	}
	for _, tc := range cases {
		if got := FindSocket(tc.flag, env(tc.env), tc.exists); got != tc.want {
			t.Errorf("FindSocket(%q, env %q) = %q, want %q", tc.flag, tc.env, got, tc.want)
		}
	}
}

func sampleStatus() apitypes.Status {
	link := func(up bool) apitypes.LinkStatus { return apitypes.LinkStatus{Up: up, In: up, Out: up} }
	return apitypes.Status{Cluster: "demo", Node: "n1", Boot: 4, Epoch: 7, Coordinator: "n1", View: "7/n1",
		Primary: true, Quorate: true, Quorum: "3 of 3 votes, need 2", Members: []string{"n1", "n2", "n3"}, Uptime: "1m2s",
		Nodes: []apitypes.NodeStatus{
			{Name: "n1", ID: 1, State: "online", Reachable: true},
			{Name: "n2", ID: 2, State: "online", Reachable: true, Links: []apitypes.LinkStatus{link(true), link(true), link(false), link(true)}},
			{Name: "n3", ID: 3, State: "offline", Reachable: false, Links: []apitypes.LinkStatus{link(false), link(false)}},
		}}
}

func TestRenderStatus(t *testing.T) {
	var b bytes.Buffer
	if err := RenderStatus(&b, sampleStatus()); err != nil {
		t.Fatal(err)
	}
	want := `cluster      demo
node         n1 (id 1, boot 4, up 1m2s)
view         7/n1 (epoch 7)
coordinator  n1
quorate      yes (3 of 3 votes, need 2)
members      n1, n2, n3

NODE  ID  STATE    REACHABLE  LINKS UP
n1    1   online   self       -
n2    2   online   yes        3/4
n3    3   offline  no         0/2
`
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestRenderStatusBeforeFirstView(t *testing.T) {
	var b bytes.Buffer
	st := apitypes.Status{Cluster: "demo", Node: "n2", Nodes: []apitypes.NodeStatus{{Name: "n2", ID: 2, State: "online", Reachable: true}}}
	if err := RenderStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"view         none yet (epoch 0)", "coordinator  -", "quorate      no\n", "members      -"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("missing %q in\n%s", s, b.String())
		}
	}
}

func TestDescribeResourceEvents(t *testing.T) {
	for _, tc := range []struct {
		e    apitypes.Event
		want string
	}{
		{apitypes.Event{Kind: "group_moved", Group: "web", From: "n2", To: "n1"}, "group=web from=n2 to=n1"},
		{apitypes.Event{Kind: "resource_failed", Group: "web", Resource: "http", On: "n3", Error: "exit 1"}, "group=web resource=http on=n3 error=exit 1"},
		{apitypes.Event{Kind: "group_offline", Group: "db", Owner: "n2", Reason: "waiting for fence of n2"}, "group=db owner=n2 reason=waiting for fence of n2"},
		{apitypes.Event{Kind: "dlm_recovered", Members: []string{"n1", "n3"}, Purged: []string{"n2"}, Resources: func() *int { n := 4; return &n }(), Took: "120ms"},
			"members=n1,n3 purged=n2 resources=4 took=120ms"},
	} {
		if got := describe(tc.e); got != tc.want {
			t.Errorf("%s: describe = %q, want %q", tc.e.Kind, got, tc.want)
		}
	}
}
