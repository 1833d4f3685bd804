package demo

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDemoWebKeys(t *testing.T) {
	for _, exe := range []string{"/usr/bin/corral", "/tmp/my dir/it's corral"} {
		kvs := demoWebKeys(exe)
		if len(kvs) != 2 || kvs[0][0] != "/resources/whoami" || kvs[1][0] != "/groups/web" {
			t.Fatalf("keys: %v", kvs)
		}
		var res struct {
			Agent  string            `json:"agent"`
			Group  string            `json:"group"`
			Params map[string]string `json:"params"`
		}
		if err := json.Unmarshal([]byte(kvs[0][1]), &res); err != nil {
			t.Fatalf("%s: %v", kvs[0][1], err)
		}
		cmd := res.Params["command"]
		if res.Agent != "process" || res.Group != "web" || !strings.Contains(cmd, "whoami --listen ${address}:8080 --name ${node}") ||
			!strings.HasPrefix(cmd, shellQuote(exe)+" ") {
			t.Errorf("resource: %+v", res)
		}
		var g struct {
			Resources []string `json:"resources"`
			Service   struct {
				Name, Proto string
				Port        int
			} `json:"service"`
		}
		if err := json.Unmarshal([]byte(kvs[1][1]), &g); err != nil || len(g.Resources) != 1 || g.Service.Port != 8080 || g.Service.Proto != "tcp" {
			t.Errorf("group %s: %+v %v", kvs[1][1], g, err)
		}
	}
	for in, want := range map[string]string{"/usr/bin/corral": "/usr/bin/corral", "/a b": "'/a b'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
