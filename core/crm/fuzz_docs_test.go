package crm

import (
	"testing"
	"time"
)

// FuzzConfigDocs gives a three-node cluster's resource managers documents
// from the fuzzer for /resources/NAME and /groups/web, beside a valid
// resource of web, as a user can write them into the configuration
// database. A document that does not parse is refused by name (Check and
// the parsers never panic); whatever the documents, the harness's safety
// checks hold at every step (a group runs on one node of a primary view)
// and after a while every group is where its target says, or blocked or
// failed with a reason.
func FuzzConfigDocs(f *testing.F) {
	f.Add("ip", []byte(`{"agent": "dummy", "group": "web", "monitor": "1s"}`), []byte(`{"resources": ["ip", "web"]}`))
	f.Add("ip", []byte(`{"agent": "dummy", "group": "web", "params": {"a": 1, "b": true}, "timeouts": {"start": "0s"}}`),
		[]byte(`{"resources": ["web", "ip"], "preferred": ["n3", "n9"], "restart": {"max": 0, "period": "0s"}, "failback": {"mode": "window", "window": "23:59-00:00"}}`))
	f.Add("web", []byte(`{"agent": "dummy", "group": "other"}`), []byte(`{"possible": [], "target": "stopped", "after": ["x"]}`))
	f.Add("x", []byte(`{"agent": "dummy", "group": "web", "monitor": "-1s"}`), []byte(`{"service": {"port": 80, "proto": "sctp"}}`))
	f.Add("a b", []byte(`[]`), []byte(`{"policy": "nosuch", "address": "::1"}`))
	f.Fuzz(func(t *testing.T, name string, res, grp []byte) {
		if len(res) > 4096 || len(grp) > 4096 || len(name) > 80 {
			return
		}
		if _, err := ParseResource(name, res); err == nil && !validName(name) {
			t.Fatalf("resource %q accepted", name)
		}
		if g, err := ParseGroup("web", grp); err == nil {
			if g.Target != TargetStarted && g.Target != TargetStopped || g.Restart.Max < 0 || g.Failover.Max < 0 {
				t.Fatalf("group accepted as %+v", g)
			}
			for _, list := range [][]string{g.Resources, g.After, g.Possible, g.Preferred} {
				for _, n := range list {
					if !validName(n) {
						t.Fatalf("group accepted with name %q", n)
					}
				}
			}
		}
		h := newHarness(t, 3, 1)
		h.put(ResourcePrefix+"web", `{"agent": "dummy", "group": "web", "monitor": "1s"}`)
		h.put(ResourcePrefix+name, string(res))
		h.put(GroupPrefix+"web", string(grp))
		h.run(8 * time.Second)
		if err := h.converged(); err != nil {
			t.Fatalf("after 8s: %v", err)
		}
	})
}
