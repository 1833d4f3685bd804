package api

import (
	"errors"
	"net/http"

	"github.com/corral-ha/corral/core/node"
)

// Explainer is what the explain endpoints beyond groups need from the node
// (*node.Node has it); a Node without it answers 501 there.
type Explainer interface {
	ExplainNode(name string) (node.NodeExplain, error)
	ExplainQuorum() (node.QuorumExplain, error)
	ExplainFence(name string) (node.FenceExplain, error)
}

var _ Explainer = (*node.Node)(nil)

func (h *Handler) addExplain() {
	get := func(f http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: f}
	}
	h.add("/v1/nodes/{name}/explain", "GET /v1/nodes/NAME/explain", get(h.explainNode))
	h.add("/v1/quorum/explain", "GET /v1/quorum/explain", get(h.explainQuorum))
	h.add("/v1/fence/{name}/explain", "GET /v1/fence/NODE/explain", get(h.explainFence))
}

func (h *Handler) explainer(w http.ResponseWriter) (Explainer, bool) {
	x, ok := h.n.(Explainer)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node cannot explain", "use a corral agent built with it")
	}
	return x, ok
}

func explainError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, node.ErrNotFound) {
		WriteError(w, http.StatusNotFound, err.Error(), "list the nodes with GET /v1/nodes (shell: nodes)")
		return
	}
	nodeError(w, what, err)
}

func (h *Handler) explainNode(w http.ResponseWriter, r *http.Request) {
	x, ok := h.explainer(w)
	if !ok {
		return
	}
	res, err := x.ExplainNode(r.PathValue("name"))
	if err != nil {
		explainError(w, "explain node", err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func (h *Handler) explainQuorum(w http.ResponseWriter, _ *http.Request) {
	x, ok := h.explainer(w)
	if !ok {
		return
	}
	res, err := x.ExplainQuorum()
	if err != nil {
		explainError(w, "explain quorum", err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func (h *Handler) explainFence(w http.ResponseWriter, r *http.Request) {
	x, ok := h.explainer(w)
	if !ok {
		return
	}
	res, err := x.ExplainFence(r.PathValue("name"))
	if err != nil {
		explainError(w, "explain fence", err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}
