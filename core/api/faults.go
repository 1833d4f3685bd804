package api

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/transport"
)

// The API's request and answer bodies are defined in core/apitypes (so
// the shell reads them without importing the driver).
type (
	// FaultSpec is apitypes.FaultSpec.
	FaultSpec = apitypes.FaultSpec
	// FaultInfo is apitypes.FaultInfo.
	FaultInfo = apitypes.FaultInfo
	// FaultAdded is apitypes.FaultAdded.
	FaultAdded = apitypes.FaultAdded
	// FaultsRemoved is apitypes.FaultsRemoved.
	FaultsRemoved = apitypes.FaultsRemoved
)

const faultExample = `{"peer": "n2", "link": 0, "dir": "both", "drop": 1}`

// faultsEnabled answers 403 when fault injection is off.
func (h *Handler) faultsEnabled(w http.ResponseWriter) bool {
	if h.n.FaultInjection() {
		return true
	}
	WriteError(w, http.StatusForbidden, "fault injection is disabled on this node",
		"set [debug] fault_injection = true in the node's config and restart it (the demo cluster has it on); never on a production cluster")
	return false
}

func (h *Handler) faultAdd(w http.ResponseWriter, r *http.Request) {
	if !h.faultsEnabled(w) {
		return
	}
	var spec FaultSpec
	if !decodeBody(w, r, &spec, false, faultExample) {
		return
	}
	f := transport.Fault{Link: -1, Dir: transport.Both, Drop: spec.Drop, Dup: spec.Dup}
	if spec.Link != nil {
		f.Link = *spec.Link
	}
	if spec.Dir != "" {
		d, err := transport.ParseDir(spec.Dir)
		if err != nil {
			errorf(w, http.StatusBadRequest, "dir is in, out or both: "+faultExample, "dir %q is not a direction", spec.Dir)
			return
		}
		f.Dir = d
	}
	if spec.Delay != "" {
		d, err := time.ParseDuration(spec.Delay)
		if err != nil {
			errorf(w, http.StatusBadRequest, `delay is a duration such as "100ms"`, "delay %q: %v", spec.Delay, err)
			return
		}
		f.Delay = d
	}
	if spec.Peer != "" {
		st, err := h.n.StatusDoc()
		if err != nil {
			nodeError(w, "faults", err)
			return
		}
		if spec.Peer == st.Node {
			errorf(w, http.StatusBadRequest, "name another node: the rule acts on packets to and from that peer", "peer %q is this node", spec.Peer)
			return
		}
		addrs, ok := h.n.NodeAddrs(spec.Peer)
		if !ok {
			errorf(w, http.StatusBadRequest, "the nodes are "+nodeNames(st)+"; leave peer out for every peer", "no node named %q", spec.Peer)
			return
		}
		f.Peer = addrs
	}
	id, err := h.n.Faults().AddFault(f)
	switch {
	case errors.Is(err, transport.ErrFaultsDisabled):
		h.faultsEnabled(w)
		return
	case errors.Is(err, transport.ErrInvalidFault):
		WriteError(w, http.StatusBadRequest, err.Error(), "e.g. "+faultExample)
		return
	case err != nil:
		nodeError(w, "faults", err)
		return
	}
	f.ID = id
	WriteJSON(w, http.StatusCreated, FaultAdded{ID: id, Fault: h.faultInfo(f, nil)})
}

// faultInfo describes a rule, naming its peer; names maps node names to
// addresses (nil: looked up).
func (h *Handler) faultInfo(f transport.Fault, names []string) FaultInfo {
	fi := FaultInfo{ID: f.ID, Link: f.Link, Dir: f.Dir.String(), Drop: f.Drop, Dup: f.Dup, Delay: f.Delay.String()}
	if len(f.Peer) == 0 {
		return fi
	}
	if names == nil {
		if st, err := h.n.StatusDoc(); err == nil {
			for _, n := range st.Nodes {
				names = append(names, n.Name)
			}
		}
	}
	for _, name := range names {
		addrs, _ := h.n.NodeAddrs(name)
		if slices.ContainsFunc(f.Peer, func(a netip.Addr) bool { return slices.Contains(addrs, a) }) {
			fi.Peer = name
			return fi
		}
	}
	fi.Peer = f.Peer[0].String()
	return fi
}

func (h *Handler) faultList(w http.ResponseWriter, _ *http.Request) {
	if !h.faultsEnabled(w) {
		return
	}
	var names []string
	if st, err := h.n.StatusDoc(); err == nil {
		for _, n := range st.Nodes {
			names = append(names, n.Name)
		}
	}
	out := []FaultInfo{}
	for _, f := range h.n.Faults().Faults() {
		out = append(out, h.faultInfo(f, names))
	}
	WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) faultClear(w http.ResponseWriter, _ *http.Request) {
	if !h.faultsEnabled(w) {
		return
	}
	n := len(h.n.Faults().Faults())
	h.n.Faults().ClearFaults()
	WriteJSON(w, http.StatusOK, FaultsRemoved{Removed: n})
}

func (h *Handler) faultRemove(w http.ResponseWriter, r *http.Request) {
	if !h.faultsEnabled(w) {
		return
	}
	s := r.PathValue("id")
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		errorf(w, http.StatusBadRequest, "fault ids are numbers: GET /v1/debug/faults lists them", "fault id %q is not a number", s)
		return
	}
	err = h.n.Faults().RemoveFault(id)
	switch {
	case errors.Is(err, transport.ErrUnknownFault):
		errorf(w, http.StatusNotFound, "GET /v1/debug/faults lists the active rules", "no fault %d", id)
		return
	case err != nil:
		nodeError(w, "faults", err)
		return
	}
	WriteJSON(w, http.StatusOK, FaultsRemoved{Removed: 1})
}
