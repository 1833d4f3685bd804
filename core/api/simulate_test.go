package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
)

// simFake adds Simulate to the API's fake node.
type simFake struct {
	*apitest.Node
	got     apitypes.SimulateRequest
	primary bool
}

func (f *simFake) Simulate(req apitypes.SimulateRequest) (node.SimulateResult, error) {
	f.got = req
	switch {
	case !f.primary:
		return node.SimulateResult{}, fmt.Errorf("%w: ask another", node.ErrNotPrimary)
	case len(req.Kill) > 0 && req.Kill[0] == "n9":
		return node.SimulateResult{}, fmt.Errorf("--kill n9: no such node: %w", node.ErrBadFault)
	}
	return node.SimulateResult{Node: "n1", Text: "ok\n"}, nil
}

// TestSimulateEndpoint: POST /v1/simulate passes the what-if to the node
// and maps its refusals: 400 for a fault naming nothing, 503 outside the
// primary view; a body with an unknown field is 400.
func TestSimulateEndpoint(t *testing.T) {
	f := &simFake{Node: apitest.New(), primary: true}
	h := New(f)
	t.Cleanup(h.Close)
	var res apitypes.SimulateResult
	decode(t, doBody(t, h, http.MethodPost, "/v1/simulate", `{"kill": ["n2"], "partition": [["n1"], ["n2", "n3"]], "fail": ["web/ip"]}`), http.StatusOK, &res)
	if res.Node != "n1" || res.Text != "ok\n" || fmt.Sprint(f.got.Partition) != "[[n1] [n2 n3]]" || f.got.Kill[0] != "n2" || f.got.Fail[0] != "web/ip" {
		t.Fatalf("result %+v, request %+v", res, f.got)
	}
	if rec := doBody(t, h, http.MethodPost, "/v1/simulate", `{"kill": ["n9"]}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("a bad fault: %d %s", rec.Code, rec.Body)
	}
	if rec := doBody(t, h, http.MethodPost, "/v1/simulate", `{"kil": ["n2"]}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("an unknown field: %d %s", rec.Code, rec.Body)
	}
	f.primary = false
	if rec := doBody(t, h, http.MethodPost, "/v1/simulate", `{"kill": ["n2"]}`); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("outside the primary view: %d %s", rec.Code, rec.Body)
	}
}
