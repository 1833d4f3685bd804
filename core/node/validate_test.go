package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/lua"
)

// TestValidateTxn (issue 16): the one validation of the resource
// manager's keys refuses, with the reason, what would make an agent call
// fail on every node (and, before, fence one), and a group delete that
// leaves resources behind.
func TestValidateTxn(t *testing.T) {
	h, err := lua.New(lua.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	put := func(k, v string) cdb.Op { return cdb.Op{Kind: cdb.OpPut, Key: k, Value: []byte(v)} }
	del := func(k string) cdb.Op { return cdb.Op{Kind: cdb.OpDelete, Key: k} }
	have := map[string][]byte{"/resources/app": []byte(`{"agent": "dummy", "group": "test1"}`)}
	for _, c := range []struct {
		name string
		ops  []cdb.Op
		want string // "" valid
	}{
		{"typo", []cdb.Op{put("/resources/x", `{"agent": "process", "group": "g", "params": {"cmd": "corral serve"}}`)},
			"agent process has no parameter cmd (parameters: command, "},
		{"unknown agent", []cdb.Op{put("/resources/r1", `{"agent": "nosuchagent", "group": "g"}`)}, `no resource agent "nosuchagent" (agents: `},
		{"bogus", []cdb.Op{put("/resources/r3", `{"agent": "dummy", "group": "g3", "params": {"bogus": "1"}}`),
			put("/groups/g3", `{"resources": ["r3"]}`)}, "agent dummy has no parameter bogus"},
		{"required", []cdb.Op{put("/resources/p", `{"agent": "process", "group": "g"}`)}, "agent process needs parameter command"},
		{"type", []cdb.Op{put("/resources/p", `{"agent": "process", "group": "g", "params": {"command": "x", "start_wait": "soon"}}`)},
			"start_wait"},
		{"not JSON", []cdb.Op{put("/resources/web/ip", `10.0.0.5`)}, "/resources/web/ip"},
		{"not JSON at all", []cdb.Op{put("/resources/x", `not json`)}, `/resources/x: bad JSON: invalid character 'o' in literal null (expecting 'u'); write one JSON object, e.g. {"agent": "dummy", "group": "web"}`},
		{"a JSON string", []cdb.Op{put("/resources/x", `"not json"`)}, `/resources/x: bad JSON: json: cannot unmarshal string`},
		{"bad group", []cdb.Op{put("/groups/g", `{"target": "up"}`)}, `target: "up"`},
		{"a missing policy is the default's", []cdb.Op{put("/groups/g", `{"policy": "nope"}`)}, ""},
		{"group del keeps resources", []cdb.Op{del("/groups/test1")}, "group test1 still has resources app"},
		{"group del with resources", []cdb.Op{del("/groups/test1"), del("/resources/app")}, ""},
		{"resource moved away first", []cdb.Op{put("/resources/app", `{"agent": "dummy", "group": "other"}`), del("/groups/test1")}, ""},
		{"good", []cdb.Op{put("/resources/web", `{"agent": "process", "group": "web", "params": {"command": "sleep 600"}, "monitor": "5s"}`),
			put("/groups/web", `{"resources": ["web"]}`)}, ""},
		{"other keys", []cdb.Op{put("/app/x", `v1`)}, ""},
	} {
		err := ValidateTxn(c.ops, have, h)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidConfig)):
			t.Errorf("%s: got %v, want an ErrInvalidConfig saying %q", c.name, err, c.want)
		}
	}
	// without a Lua host only the parse is checked
	if err := ValidateResource("x", []byte(`{"agent": "nosuchagent", "group": "g"}`), nil); err != nil {
		t.Errorf("parse only: %v", err)
	}
}

// TestAgentResultConfig: an agent call the host could not make as
// configured (no such agent, parameters its meta() refuses) is the
// configuration's failure (crm.StatusConfig, never fenced for), not the
// node's.
func TestAgentResultConfig(t *testing.T) {
	h, err := lua.New(lua.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, c := range []struct {
		agent  string
		params map[string]string
	}{
		{"nosuchagent", nil},
		{"process", map[string]string{"cmd": "corral serve", InstanceParam: "app"}},
	} {
		ctx := t.Context()
		out, err := h.RunAgent(ctx, c.agent, "stop", c.params)
		if st, msg := agentResult(out, err, ctx); st != crm.StatusConfig || msg == "" {
			t.Errorf("%s stop: %v %q, want config with the reason", c.agent, st, msg)
		}
	}
}

// TestValidateDisk (issue 19): the built-in disk agent's parameters are
// checked when the resource is written, with a Lua host or without one:
// size and backing are required and well formed, nothing else is taken;
// a refusal is ErrInvalidConfig (nothing written, nothing fenced).
func TestValidateDisk(t *testing.T) {
	h, err := lua.New(lua.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res := func(params string) []byte {
		return []byte(`{"agent": "disk", "group": "d1", "params": ` + params + `}`)
	}
	for _, c := range []struct {
		name, params, want string // want "": valid
	}{
		{"good", `{"size": "268435456", "backing": "/srv/d1.img"}`, ""},
		{"a number", `{"size": 1048576, "backing": "/dev/vdb"}`, ""},
		{"no size", `{"backing": "/srv/d1.img"}`, "needs parameter size"},
		{"no backing", `{"size": "1048576"}`, "needs parameter backing"},
		{"units", `{"size": "256MiB", "backing": "/srv/d1.img"}`, "decimal number"},
		{"negative", `{"size": "-1048576", "backing": "/srv/d1.img"}`, "decimal number"},
		{"plus", `{"size": "+1048576", "backing": "/srv/d1.img"}`, "decimal number"},
		{"small", `{"size": "4096", "backing": "/srv/d1.img"}`, "at least 1048576 bytes"},
		{"sectors", `{"size": "1048577", "backing": "/srv/d1.img"}`, "not a multiple of 512 bytes: give whole sectors, e.g. 1048576"},
		{"huge", `{"size": "18446744073709551104", "backing": "/srv/d1.img"}`, "larger than"},
		{"relative", `{"size": "1048576", "backing": "d1.img"}`, "absolute path"},
		{"directory", `{"size": "1048576", "backing": "/srv/"}`, "not a directory"},
		{"root", `{"size": "1048576", "backing": "/"}`, "not a directory"},
		{"typo", `{"size": "1048576", "backing": "/srv/d1.img", "sise": "1"}`, "agent disk has no parameter sise"},
	} {
		for _, agents := range []Agents{h, nil} {
			err := ValidateResource("d1", res(c.params), agents)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s (lua %v): %v", c.name, agents != nil, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidConfig) ||
				!strings.HasPrefix(err.Error(), "/resources/d1: ")):
				t.Errorf("%s (lua %v): got %v, want an ErrInvalidConfig on /resources/d1 saying %q", c.name, agents != nil, err, c.want)
			}
		}
	}
	// the disk and its group in one transaction, as disk add writes them
	ops := []cdb.Op{{Kind: cdb.OpPut, Key: "/resources/d1", Value: res(`{"size": "1048576", "backing": "/srv/d1.img"}`)},
		{Kind: cdb.OpPut, Key: "/groups/d1", Value: []byte(`{"resources": ["d1"], "possible": ["n1", "n2"]}`)}}
	if err := ValidateTxn(ops, nil, h); err != nil {
		t.Errorf("disk add's transaction: %v", err)
	}
}

// TestVerifyConfig: a whole staged configuration is checked value by
// value against the agents' meta() and then together (crm.Check).
func TestVerifyConfig(t *testing.T) {
	h, err := lua.New(lua.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	docs := map[string][]byte{
		"/resources/app": []byte(`{"agent": "process", "group": "web", "params": {"cmd": "x"}}`),
		"/resources/ip":  []byte(`{"agent": "dummy", "group": "web"}`),
		"/resources/db":  []byte(`{"agent": "dummy", "group": "gone"}`),
		"/groups/web":    []byte(`{"resources": ["ip"], "after": ["other"], "preferred": ["n9"]}`),
		"/groups/other":  []byte(`{"after": ["web"]}`),
		"/settings/x":    []byte(`not checked`),
	}
	var all []string
	for _, e := range VerifyConfig(docs, []string{"n1", "n2"}, h) {
		if !errors.Is(e, ErrInvalidConfig) {
			t.Errorf("%v does not wrap ErrInvalidConfig", e)
		}
		all = append(all, e.Error())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{"agent process has no parameter cmd", "/resources/db: group gone does not exist",
		"/groups/web: after: dependency cycle", "/groups/web: preferred: n9 not a configured node"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if errs := VerifyConfig(map[string][]byte{"/resources/ip": []byte(`{"agent": "dummy", "group": "web"}`),
		"/groups/web": []byte(`{"resources": ["ip"]}`)}, []string{"n1"}, h); errs != nil {
		t.Errorf("a sound configuration: %v", errs)
	}
}
