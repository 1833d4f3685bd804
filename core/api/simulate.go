package api

import (
	"errors"
	"net/http"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
)

// Simulator is what POST /v1/simulate needs from the node (*node.Node
// has it); a Node without it answers 501 there.
type Simulator interface {
	Simulate(req apitypes.SimulateRequest) (node.SimulateResult, error)
}

var _ Simulator = (*node.Node)(nil)

func (h *Handler) addSimulate() {
	h.add("/v1/simulate", "POST /v1/simulate {staged, stage, kill, pause, partition, fail}",
		map[string]http.HandlerFunc{http.MethodPost: h.simulate})
}

// simulate runs a what-if on the live state (core/whatif).
func (h *Handler) simulate(w http.ResponseWriter, r *http.Request) {
	sim, ok := h.n.(Simulator)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node cannot simulate", "use a corral agent built with it")
		return
	}
	var req apitypes.SimulateRequest
	if !decodeBody(w, r, &req, true, `{"kill": ["n2"]}`) {
		return
	}
	res, err := sim.Simulate(req)
	switch {
	case errors.Is(err, node.ErrBadFault):
		WriteError(w, http.StatusBadRequest, err.Error(), "name members of the view (`status`) and configured resources (`resources`)")
	case errors.Is(err, node.ErrNotPrimary):
		WriteError(w, http.StatusServiceUnavailable, err.Error(), "ask a node of the primary view")
	case err != nil:
		nodeError(w, "simulate", err)
	default:
		WriteJSON(w, http.StatusOK, res)
	}
}
