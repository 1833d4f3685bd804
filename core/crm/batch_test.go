package crm

import (
	"strings"
	"testing"
)

// TestBatch: a Batch applies every input in order and reports their
// errors together; what its inputs configure is there after the one
// scheduling pass.
func TestBatch(t *testing.T) {
	c, err := New(Config{Self: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Step(0, Batch{
		ConfigKeys{{Key: ResourcePrefix + "ip", Value: []byte(`{"agent": "dummy", "group": "web"}`)}},
		ConfigKey{Key: GroupPrefix + "web", Value: []byte(`{"resources": ["ip"]}`)},
		Move{Group: "nope"},
	})
	if err == nil || !strings.Contains(err.Error(), `no group "nope"`) {
		t.Fatalf("Step(Batch) = %v, want the Move's error", err)
	}
	found := false
	for _, g := range c.Groups() {
		found = found || g.Name == "web"
	}
	if !found || len(c.Resources()) != 1 {
		t.Fatalf("after the batch: groups %+v, resources %+v; want web with ip", c.Groups(), c.Resources())
	}
}
