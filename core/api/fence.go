package api

import (
	"errors"
	"net/http"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
)

// Fencer is what the fencing endpoints need from the node (*node.Node
// has it); a Node without it answers 501 there.
type Fencer interface {
	FenceStatus() (node.FenceStatus, error)
	FenceHistory() ([]node.FenceRecord, error)
	Fence(target, reason string) error
}

var _ Fencer = (*node.Node)(nil)

// The API's request and answer bodies are defined in core/apitypes (so
// the shell reads them without importing the driver).
type (
	// FenceRequest is apitypes.FenceRequest.
	FenceRequest = apitypes.FenceRequest
	// FenceAction is apitypes.FenceAction.
	FenceAction = apitypes.FenceAction
)

func (h *Handler) addFence() {
	h.add("/v1/fence", "GET /v1/fence", map[string]http.HandlerFunc{http.MethodGet: h.fenceStatus})
	h.add("/v1/fence/history", "GET /v1/fence/history", map[string]http.HandlerFunc{http.MethodGet: h.fenceHistory})
	h.add("/v1/fence/{name}", "POST /v1/fence/NODE", map[string]http.HandlerFunc{http.MethodPost: h.fenceNode})
}

func (h *Handler) fencer(w http.ResponseWriter) (Fencer, bool) {
	f, ok := h.n.(Fencer)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node has no fencing", "use a corral agent built with it")
	}
	return f, ok
}

func (h *Handler) fenceStatus(w http.ResponseWriter, _ *http.Request) {
	f, ok := h.fencer(w)
	if !ok {
		return
	}
	st, err := f.FenceStatus()
	if err != nil {
		nodeError(w, "fence", err)
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

func (h *Handler) fenceHistory(w http.ResponseWriter, _ *http.Request) {
	f, ok := h.fencer(w)
	if !ok {
		return
	}
	hs, err := f.FenceHistory()
	if err != nil {
		nodeError(w, "fence history", err)
		return
	}
	WriteJSON(w, http.StatusOK, hs)
}

func (h *Handler) fenceNode(w http.ResponseWriter, r *http.Request) {
	f, ok := h.fencer(w)
	if !ok {
		return
	}
	var req FenceRequest
	if !decodeBody(w, r, &req, true, `{"reason": "disk controller hung"}`) {
		return
	}
	target := r.PathValue("name")
	if req.Reason == "" {
		req.Reason = "manual"
	}
	if err := f.Fence(target, req.Reason); err != nil {
		switch {
		case errors.Is(err, node.ErrNotMember):
			WriteError(w, http.StatusNotFound, err.Error(), "list the nodes with GET /v1/nodes (shell: nodes)")
		case errors.Is(err, node.ErrClosed):
			nodeError(w, "fence", err)
		default:
			WriteError(w, http.StatusBadRequest, "fence: "+err.Error(), "see `corral shell -c \"help fence\"`")
		}
		return
	}
	WriteJSON(w, http.StatusAccepted, FenceAction{Target: target, Reason: req.Reason})
}
