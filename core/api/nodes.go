package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/node"
)

// The API's request and answer bodies are defined in core/apitypes (so
// the shell reads them without importing the driver).
type (
	// NodeInfo is apitypes.NodeInfo.
	NodeInfo = apitypes.NodeInfo
	// Link is apitypes.Link.
	Link = apitypes.Link
	// ActionResult is apitypes.ActionResult.
	ActionResult = apitypes.ActionResult
	// ActionRequest is apitypes.ActionRequest.
	ActionRequest = apitypes.ActionRequest
)

func nodeInfos(st node.Status) []NodeInfo {
	out := make([]NodeInfo, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		ni := NodeInfo{Name: n.Name, ID: n.ID, State: n.State, Reachable: n.Reachable, Self: n.Name == st.Node,
			Member: slices.Contains(st.Members, n.Name), Coordinator: n.Name == st.Coordinator, Links: len(n.Links)}
		for _, l := range n.Links {
			if l.Up {
				ni.LinksUp++
			}
		}
		out = append(out, ni)
	}
	return out
}

func nodeNames(st node.Status) string {
	var names []string
	for _, n := range st.Nodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}

func (h *Handler) nodes(w http.ResponseWriter, _ *http.Request) {
	st, err := h.n.StatusDoc()
	if err != nil {
		nodeError(w, "nodes", err)
		return
	}
	WriteJSON(w, http.StatusOK, nodeInfos(st))
}

func (h *Handler) nodeOne(w http.ResponseWriter, r *http.Request) {
	st, err := h.n.StatusDoc()
	if err != nil {
		nodeError(w, "nodes", err)
		return
	}
	name := r.PathValue("name")
	for _, ni := range nodeInfos(st) {
		if ni.Name == name {
			WriteJSON(w, http.StatusOK, ni)
			return
		}
	}
	errorf(w, http.StatusNotFound, "the nodes are "+nodeNames(st), "no node named %q", name)
}

// leaveWait bounds how long POST /v1/nodes/SELF/leave waits: the node's
// groups moving away (config.DrainTimeout), then the view without it.
const leaveWait = config.DrainTimeout + 5*time.Second

func (h *Handler) action(s membership.State, verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req ActionRequest
		if !decodeBody(w, r, &req, true, "{} (or no body)") {
			return
		}
		st, err := h.n.StatusDoc()
		if err != nil {
			nodeError(w, verb, err)
			return
		}
		name := r.PathValue("name")
		known := slices.ContainsFunc(st.Nodes, func(n node.NodeStatus) bool { return n.Name == name })
		if !known {
			errorf(w, http.StatusNotFound, "the nodes are "+nodeNames(st)+": POST /v1/nodes/NAME/"+verb, "no node named %q", name)
			return
		}
		res := ActionResult{Node: name, Action: verb}
		if s == membership.StateLeaving && name == st.Node {
			ctx, cancel := context.WithTimeout(r.Context(), leaveWait)
			defer cancel()
			if err := h.n.Leave(ctx); err != nil {
				errorf(w, http.StatusConflict, "the node may still leave; watch `events --follow` or `nodes`, and resume it to rejoin",
					"leave: %v", err)
				return
			}
			res.Message = name + " left the cluster cleanly; `resume " + name + "` brings it back"
			WriteJSON(w, http.StatusOK, res)
			return
		}
		if err := h.n.SetNodeState(name, s); err != nil {
			if err == node.ErrClosed {
				nodeError(w, verb, err)
				return
			}
			errorf(w, http.StatusConflict, "check that "+name+" is reachable (`nodes`, `links`) and try again",
				"%s %s: %v", verb, name, err)
			return
		}
		switch verb {
		case "pause":
			res.Message = "asked " + name + " to pause; the next view shows it paused (`nodes`)"
		case "resume":
			res.Message = "asked " + name + " to resume; the next view shows it online (`nodes`)"
		default:
			res.Message = "asked " + name + " to leave the cluster; the next view is without it (`nodes`)"
		}
		WriteJSON(w, http.StatusAccepted, res)
	}
}

func (h *Handler) links(w http.ResponseWriter, _ *http.Request) {
	st, err := h.n.StatusDoc()
	if err != nil {
		nodeError(w, "links", err)
		return
	}
	out := []Link{}
	for _, n := range st.Nodes {
		for _, l := range n.Links {
			out = append(out, Link{Peer: n.Name, Local: l.Local, Remote: l.Remote, Up: l.Up, In: l.In, Out: l.Out, RTT: l.RTT})
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) views(w http.ResponseWriter, r *http.Request) {
	since, limit, ok := sinceLimit(w, r)
	if !ok {
		return
	}
	evs, err := h.n.Events(since, 0)
	if err != nil {
		nodeError(w, "views", err)
		return
	}
	out := []node.Event{}
	for _, e := range evs {
		if e.Kind == membership.EventViewChanged.String() {
			out = append(out, e)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	WriteJSON(w, http.StatusOK, out)
}
