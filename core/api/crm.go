package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/node"
)

// CRM is what the resource manager's endpoints need from the node
// (*node.Node has it); a Node without it answers 501 there.
type CRM interface {
	Groups() ([]node.GroupStatus, error)
	Resources() ([]node.ResourceStatus, error)
	Move(group, node string, d time.Duration) error
	Cleanup(resource string) error
	Explain(group string) (string, error)
	SetTarget(ctx context.Context, group, target string) error
}

var _ CRM = (*node.Node)(nil)

// The API's request and answer bodies are defined in core/apitypes (so
// the shell reads them without importing the driver).
type (
	// MoveRequest is apitypes.MoveRequest.
	MoveRequest = apitypes.MoveRequest
	// GroupAction is apitypes.GroupAction.
	GroupAction = apitypes.GroupAction
	// ExplainResult is apitypes.ExplainResult.
	ExplainResult = apitypes.ExplainResult
	// CleanupResult is apitypes.CleanupResult.
	CleanupResult = apitypes.CleanupResult
)

func (h *Handler) addCRM() {
	get := func(f http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: f}
	}
	post := func(f http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodPost: f}
	}
	h.add("/v1/groups", "GET /v1/groups", get(h.groups))
	h.add("/v1/resources", "GET /v1/resources", get(h.resources))
	h.add("/v1/groups/{name}/move", "POST /v1/groups/NAME/move", post(h.groupMove))
	h.add("/v1/groups/{name}/start", "POST /v1/groups/NAME/start", post(h.groupTarget("start", "started")))
	h.add("/v1/groups/{name}/stop", "POST /v1/groups/NAME/stop", post(h.groupTarget("stop", "stopped")))
	h.add("/v1/groups/{name}/explain", "GET /v1/groups/NAME/explain", get(h.groupExplain))
	h.add("/v1/resources/{name}/cleanup", "POST /v1/resources/NAME/cleanup", post(h.resourceCleanup))
}

func (h *Handler) crm(w http.ResponseWriter) (CRM, bool) {
	c, ok := h.n.(CRM)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node has no resource manager", "use a corral agent built with it")
	}
	return c, ok
}

// crmError answers a failed resource manager request.
func crmError(w http.ResponseWriter, what string, err error) {
	var nq cdb.ErrNoQuorum
	switch {
	case errors.Is(err, node.ErrNotFound):
		WriteError(w, http.StatusNotFound, err.Error(), "list them with GET /v1/groups or GET /v1/resources (shell: groups, resources)")
	case errors.As(err, &nq) || errors.Is(err, cdb.ErrOutcomeUnknown):
		WriteError(w, http.StatusServiceUnavailable, err.Error(),
			"changes need a quorate node: use a node of the primary view (corral shell -c quorum)")
	case errors.Is(err, node.ErrClosed):
		nodeError(w, what, err)
	default:
		WriteError(w, http.StatusBadRequest, what+": "+err.Error(), "see `corral shell -c \"help "+what+"\"`")
	}
}

func (h *Handler) groups(w http.ResponseWriter, _ *http.Request) {
	c, ok := h.crm(w)
	if !ok {
		return
	}
	gs, err := c.Groups()
	if err != nil {
		nodeError(w, "groups", err)
		return
	}
	WriteJSON(w, http.StatusOK, gs)
}

func (h *Handler) resources(w http.ResponseWriter, _ *http.Request) {
	c, ok := h.crm(w)
	if !ok {
		return
	}
	rs, err := c.Resources()
	if err != nil {
		nodeError(w, "resources", err)
		return
	}
	WriteJSON(w, http.StatusOK, rs)
}

func (h *Handler) groupMove(w http.ResponseWriter, r *http.Request) {
	c, ok := h.crm(w)
	if !ok {
		return
	}
	var req MoveRequest
	if !decodeBody(w, r, &req, true, `{"node": "n2", "for": "30s"}`) {
		return
	}
	var d time.Duration
	if req.For != "" {
		var err error
		if d, err = time.ParseDuration(req.For); err != nil || d <= 0 {
			WriteError(w, http.StatusBadRequest, "bad for: "+req.For, `give a positive duration, e.g. {"for": "30s"}`)
			return
		}
	}
	g := r.PathValue("name")
	if err := c.Move(g, req.Node, d); err != nil {
		crmError(w, "move", err)
		return
	}
	WriteJSON(w, http.StatusOK, GroupAction{Group: g, Action: "move", Node: req.Node, For: req.For})
}

func (h *Handler) groupTarget(action, target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.crm(w)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), cdbTimeout)
		defer cancel()
		g := r.PathValue("name")
		if err := c.SetTarget(ctx, g, target); err != nil {
			crmError(w, action, err)
			return
		}
		WriteJSON(w, http.StatusOK, GroupAction{Group: g, Action: action})
	}
}

func (h *Handler) groupExplain(w http.ResponseWriter, r *http.Request) {
	c, ok := h.crm(w)
	if !ok {
		return
	}
	g := r.PathValue("name")
	s, err := c.Explain(g)
	if err != nil {
		crmError(w, "explain", err)
		return
	}
	WriteJSON(w, http.StatusOK, ExplainResult{Group: g, Text: s})
}

func (h *Handler) resourceCleanup(w http.ResponseWriter, r *http.Request) {
	c, ok := h.crm(w)
	if !ok {
		return
	}
	res := r.PathValue("name")
	if err := c.Cleanup(res); err != nil {
		crmError(w, "cleanup", err)
		return
	}
	WriteJSON(w, http.StatusOK, CleanupResult{Resource: res})
}
