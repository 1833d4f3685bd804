package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/node"
)

// crmFake adds a resource manager to the API's fake node.
type crmFake struct {
	*apitest.Node
	moved  []string
	target map[string]string
}

func (f *crmFake) Groups() ([]node.GroupStatus, error) {
	return []node.GroupStatus{{Name: "web", State: "online", Owner: "n2", Address: "127.0.0.2", Target: "started"}}, nil
}

func (f *crmFake) Resources() ([]node.ResourceStatus, error) {
	return []node.ResourceStatus{{Name: "ip", Agent: "dummy", Group: "web", State: "started", Node: "n2"}}, nil
}

func (f *crmFake) Move(g, n string, d time.Duration) error {
	if g != "web" {
		return fmt.Errorf("no group %q: %w", g, node.ErrNotFound)
	}
	f.moved = append(f.moved, fmt.Sprintf("%s %s %v", g, n, d))
	return nil
}

func (f *crmFake) Cleanup(r string) error {
	if r != "ip" {
		return fmt.Errorf("no resource %q: %w", r, node.ErrNotFound)
	}
	return nil
}

func (f *crmFake) Explain(g string) (string, error) { return "Group " + g + " is online on n2.\n", nil }

func (f *crmFake) SetTarget(_ context.Context, g, t string) error {
	f.target[g] = t
	return nil
}

func TestCRMEndpoints(t *testing.T) {
	f := &crmFake{Node: apitest.New(), target: map[string]string{}}
	h := New(f)
	t.Cleanup(h.Close)
	var gs []node.GroupStatus
	decode(t, do(t, h, http.MethodGet, "/v1/groups"), http.StatusOK, &gs)
	if len(gs) != 1 || gs[0].Owner != "n2" || gs[0].Address != "127.0.0.2" {
		t.Fatalf("groups %+v", gs)
	}
	var rs []node.ResourceStatus
	decode(t, do(t, h, http.MethodGet, "/v1/resources"), http.StatusOK, &rs)
	if len(rs) != 1 || rs[0].Node != "n2" {
		t.Fatalf("resources %+v", rs)
	}
	var a GroupAction
	decode(t, doBody(t, h, http.MethodPost, "/v1/groups/web/move", `{"node": "n3", "for": "30s"}`), http.StatusOK, &a)
	if a.Node != "n3" || fmt.Sprint(f.moved) != "[web n3 30s]" {
		t.Fatalf("move %+v %v", a, f.moved)
	}
	wantError(t, doBody(t, h, http.MethodPost, "/v1/groups/web/move", `{"for": "soon"}`), http.StatusBadRequest, "bad for")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/groups/db/move", `{}`), http.StatusNotFound, "no group")
	decode(t, do(t, h, http.MethodPost, "/v1/groups/web/stop"), http.StatusOK, &a)
	if f.target["web"] != "stopped" {
		t.Fatalf("stop: %v", f.target)
	}
	decode(t, do(t, h, http.MethodPost, "/v1/groups/web/start"), http.StatusOK, &a)
	if f.target["web"] != "started" {
		t.Fatalf("start: %v", f.target)
	}
	var ex ExplainResult
	decode(t, do(t, h, http.MethodGet, "/v1/groups/web/explain"), http.StatusOK, &ex)
	if ex.Text != "Group web is online on n2.\n" {
		t.Fatalf("explain %+v", ex)
	}
	var c CleanupResult
	decode(t, do(t, h, http.MethodPost, "/v1/resources/ip/cleanup"), http.StatusOK, &c)
	wantError(t, do(t, h, http.MethodPost, "/v1/resources/nope/cleanup"), http.StatusNotFound, "no resource")
	// a node without a resource manager says so
	wantError(t, do(t, newHandler(t, apitest.New()), http.MethodGet, "/v1/groups"), http.StatusNotImplemented, "no resource manager")
}
