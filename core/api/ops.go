package api

import (
	"errors"
	"net/http"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/stack"
)

// Operator is what the operator's recovery endpoints need from the node
// (*node.Node has it): `fence confirm` and `quorum unblock`.
type Operator interface {
	ConfirmFence(target string) (apitypes.FenceConfirm, error)
	UnblockPlan() (apitypes.QuorumUnblock, error)
	QuorumUnblock() (apitypes.QuorumUnblock, error)
}

var _ Operator = (*node.Node)(nil)

func (h *Handler) addOps() {
	h.add("/v1/fence/{name}/confirm", `POST /v1/fence/NODE/confirm {"yes": true}`, map[string]http.HandlerFunc{http.MethodPost: h.fenceConfirm})
	h.add("/v1/quorum/unblock", `GET|POST /v1/quorum/unblock {"yes": true}`,
		map[string]http.HandlerFunc{http.MethodGet: h.unblockPlan, http.MethodPost: h.quorumUnblock})
}

func (h *Handler) operator(w http.ResponseWriter) (Operator, bool) {
	o, ok := h.n.(Operator)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node has no operator actions", "use a corral agent built with them")
	}
	return o, ok
}

func (h *Handler) fenceConfirm(w http.ResponseWriter, r *http.Request) {
	o, ok := h.operator(w)
	if !ok {
		return
	}
	var req apitypes.FenceConfirmRequest
	if !decodeBody(w, r, &req, true, `{"yes": true}`) {
		return
	}
	target := r.PathValue("name")
	if !req.Yes {
		WriteError(w, http.StatusBadRequest, "fence confirm "+target+": not confirmed: declaring a running node fenced risks data corruption",
			`check that `+target+` is powered off, then send {"yes": true} (shell: fence confirm `+target+` --yes)`)
		return
	}
	res, err := o.ConfirmFence(target)
	if err != nil {
		switch {
		case errors.Is(err, node.ErrNotMember):
			WriteError(w, http.StatusNotFound, err.Error(), "list the nodes with GET /v1/nodes (shell: nodes)")
		case errors.Is(err, stack.ErrLiveMember):
			WriteError(w, http.StatusConflict, err.Error(), "a node that is up is not confirmed down; to stop it, fence it (shell: fence "+target+" --yes)")
		case errors.Is(err, node.ErrClosed):
			nodeError(w, "fence confirm", err)
		default:
			WriteError(w, http.StatusBadRequest, "fence confirm: "+err.Error(), "see `corral help operations`")
		}
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func (h *Handler) unblockPlan(w http.ResponseWriter, _ *http.Request) {
	o, ok := h.operator(w)
	if !ok {
		return
	}
	p, err := o.UnblockPlan()
	if err != nil {
		nodeError(w, "quorum unblock", err)
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

func (h *Handler) quorumUnblock(w http.ResponseWriter, r *http.Request) {
	o, ok := h.operator(w)
	if !ok {
		return
	}
	var req apitypes.QuorumUnblockRequest
	if !decodeBody(w, r, &req, true, `{"yes": true}`) {
		return
	}
	if !req.Yes {
		WriteError(w, http.StatusBadRequest, "quorum unblock: not confirmed: the nodes outside this view are written off",
			`check GET /v1/quorum/unblock, then send {"yes": true} (shell: quorum unblock --yes)`)
		return
	}
	p, err := o.QuorumUnblock()
	if err != nil {
		switch {
		case errors.Is(err, stack.ErrNotKnownDown):
			WriteError(w, http.StatusConflict, err.Error(), "confirm each written-off node is powered off, then fence confirm it (shell: fence confirm NODE --yes)")
		case errors.Is(err, quorum.ErrNothingToUnblock), errors.Is(err, quorum.ErrUnblockTwoNode), errors.Is(err, quorum.ErrUnblockNoVotes),
			errors.Is(err, membership.ErrCannotUnblock), errors.Is(err, fence.ErrCannotFence):
			WriteError(w, http.StatusConflict, err.Error(), "see `corral help operations`")
		default:
			nodeError(w, "quorum unblock", err)
		}
		return
	}
	WriteJSON(w, http.StatusOK, p)
}
