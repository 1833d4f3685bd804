package shell

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
)

// crmNode adds a resource manager to the API's fake node.
type crmNode struct {
	*apitest.Node
	moves []string
}

func (f *crmNode) Groups() ([]apitypes.GroupStatus, error) {
	return []apitypes.GroupStatus{
		{Name: "db", State: "blocked", Reason: "waiting for fence of n3", Target: "started"},
		{Name: "web", State: "online", Owner: "n2", Address: "127.0.0.2", Target: "started"},
	}, nil
}

func (f *crmNode) Resources() ([]apitypes.ResourceStatus, error) {
	return []apitypes.ResourceStatus{{Name: "ip", Agent: "dummy", Group: "web", State: "started", Node: "n2"}}, nil
}

func (f *crmNode) Move(g, n string, d time.Duration) error {
	f.moves = append(f.moves, g+" "+n+" "+d.String())
	return nil
}
func (f *crmNode) Cleanup(string) error                            { return nil }
func (f *crmNode) Explain(g string) (string, error)                { return "Group " + g + " is online on n2.\n", nil }
func (f *crmNode) SetTarget(context.Context, string, string) error { return nil }

func serveCRM(t *testing.T, f *crmNode) string {
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

func TestCRMCommands(t *testing.T) {
	f := &crmNode{Node: apitest.New()}
	sock := serveCRM(t, f)
	exec := func(cmd string) (string, string, int) {
		env, out, errb := testEnv("")
		code := Run([]string{"--socket", sock, "-c", cmd}, env)
		return out.String(), errb.String(), code
	}
	// groups --json: [{name, state, owner, address, reason}]
	out, errs, code := exec("groups --json")
	var gs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &gs) != nil || len(gs) != 2 {
		t.Fatalf("groups --json: %d %q %q", code, out, errs)
	}
	for _, k := range []string{"name", "state", "owner", "address", "reason"} {
		if _, ok := gs[1][k]; !ok {
			t.Fatalf("groups --json lacks %s: %s", k, out)
		}
	}
	if gs[0]["reason"] != "waiting for fence of n3" || gs[1]["owner"] != "n2" {
		t.Fatalf("groups --json: %s", out)
	}
	if out, _, _ = exec("groups"); !strings.Contains(out, "web    online") || !strings.Contains(out, "waiting for fence of n3") {
		t.Fatalf("groups:\n%s", out)
	}
	if _, errs, code = exec("move web n3 --for 30s"); code != 0 || len(f.moves) != 1 || f.moves[0] != "web n3 30s" {
		t.Fatalf("move: %d %q %v", code, errs, f.moves)
	}
	if _, errs, code = exec("move web --for soon"); code != 2 || !strings.Contains(errs, "--for \"soon\"") {
		t.Fatalf("move --for soon: %d %q", code, errs)
	}
	if out, _, code = exec("explain web"); code != 0 || out != "Group web is online on n2.\n" {
		t.Fatalf("explain: %d %q", code, out)
	}
	// resource add writes the resource and the group's start order
	for _, c := range []string{"group add web --prefer n1,n2 --service http/tcp/8080", "resource add ip ipaddr ip=10.0.0.5 --group web --monitor 5s",
		"resource add app process command=serve --group web"} {
		if _, errs, code := exec(c); code != 0 {
			t.Fatalf("%s: %d %q", c, code, errs)
		}
	}
	kv, _, _, _ := f.CDBGet("/resources/ip")
	var r map[string]any
	if json.Unmarshal(kv.Value, &r) != nil || r["agent"] != "ipaddr" || r["group"] != "web" || r["monitor"] != "5s" ||
		r["params"].(map[string]any)["ip"] != "10.0.0.5" {
		t.Fatalf("/resources/ip = %s", kv.Value)
	}
	kv, _, _, _ = f.CDBGet("/groups/web")
	var g map[string]any
	if json.Unmarshal(kv.Value, &g) != nil || !reflect.DeepEqual(g["resources"], []any{"ip", "app"}) ||
		!reflect.DeepEqual(g["preferred"], []any{"n1", "n2"}) || g["service"].(map[string]any)["port"] != 8080.0 {
		t.Fatalf("/groups/web = %s", kv.Value)
	}
	if _, errs, code := exec("resource del ip"); code != 0 {
		t.Fatalf("resource del: %d %q", code, errs)
	}
	kv, _, _, _ = f.CDBGet("/groups/web")
	if !strings.Contains(string(kv.Value), `"resources":["app"]`) {
		t.Fatalf("after resource del: /groups/web = %s", kv.Value)
	}
	if _, errs, code := exec("resource add x dummy"); code != 2 || !strings.Contains(errs, "--group G is required") {
		t.Fatalf("resource add without a group: %d %q", code, errs)
	}
	if _, errs, code := exec("group add web --service http-8080"); code != 2 || !strings.Contains(errs, "NAME/PROTO/PORT") {
		t.Fatalf("bad service: %d %q", code, errs)
	}
	// group del --with-resources takes the group's resources with it, in
	// one transaction
	if out, errs, code := exec("group del web --with-resources"); code != 0 || !strings.Contains(out, "with its resources app") {
		t.Fatalf("group del --with-resources: %d %q %q", code, out, errs)
	}
	for _, k := range []string{"/groups/web", "/resources/app"} {
		if _, found, _, _ := f.CDBGet(k); found {
			t.Fatalf("%s survived group del --with-resources", k)
		}
	}
	if h, _ := f.CDBHistory(1); len(h) != 1 || len(h[0].Ops) != 2 {
		t.Fatalf("group del --with-resources: last change %+v, want one transaction of two deletes", h)
	}
	if _, errs, code := exec("group del nope"); code != 2 || !strings.Contains(errs, "no group nope") {
		t.Fatalf("group del nope: %d %q", code, errs)
	}

	// completion of group and resource names
	c := &completer{s: &Shell{Client: NewClient(sock)}}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"move ", []string{"db ", "web "}},
		{"move web ", []string{"n1 ", "n2 ", "n3 ", "--for "}},
		{"explain w", []string{"eb "}},
		{"cleanup ", []string{"ip "}},
		{"resource ", []string{"add ", "del "}},
		{"resource del ", []string{"ip "}},
		{"group del ", []string{"db ", "web "}},
		{"resource add x dummy --group ", []string{"db ", "web "}},
	} {
		got, _ := c.Do([]rune(tc.line), len([]rune(tc.line)))
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		sort.Strings(gs)
		sort.Strings(tc.want)
		if !reflect.DeepEqual(gs, tc.want) {
			t.Errorf("complete %q: %q, want %q", tc.line, gs, tc.want)
		}
	}
}
