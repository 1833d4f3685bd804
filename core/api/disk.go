package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/node"
)

// The served disks' endpoints (issue 19). A disk is a resource of the
// built-in agent disk.Agent in a group (ARCHITECTURE section 5, "Served
// disk"): POST writes both in one config DB transaction, DELETE removes
// them, and placement, moves and failover are the group's.

type (
	// DiskStatus is apitypes.DiskStatus.
	DiskStatus = apitypes.DiskStatus
	// DiskAddRequest is apitypes.DiskAddRequest.
	DiskAddRequest = apitypes.DiskAddRequest
	// DiskResult is apitypes.DiskResult.
	DiskResult = apitypes.DiskResult
)

// DiskNode is what GET /v1/disks needs from a node that runs the served
// disks (*node.Node has it): each disk as this node's disk core sees it.
// A node without it lists the disks the config DB defines, none served.
type DiskNode interface {
	DiskStatus() ([]node.DiskInfo, error)
}

var _ DiskNode = (*node.Node)(nil)

// diskMonitor is the monitor interval disk add gives the disk's resource:
// the server checks that its lock, descriptor and epoch are still its own.
const diskMonitor = "10s"

func (h *Handler) addDisk() {
	h.add("/v1/disks", "GET|POST /v1/disks", map[string]http.HandlerFunc{
		http.MethodGet: h.diskList, http.MethodPost: h.diskAdd})
	h.add("/v1/disks/{name}", "GET|DELETE /v1/disks/NAME", map[string]http.HandlerFunc{
		http.MethodGet: h.diskOne, http.MethodDelete: h.diskDel})
}

// disks builds the disk list: the config DB's disk resources, with this
// node's view of their servers and their groups' states.
func (h *Handler) disks() ([]DiskStatus, error) {
	kvs, _, _, err := h.n.CDBList(crm.ResourcePrefix)
	if err != nil {
		return nil, err
	}
	groups := map[string]apitypes.GroupStatus{}
	if c, ok := h.n.(CRM); ok {
		if gs, err := c.Groups(); err == nil {
			for _, g := range gs {
				groups[g.Name] = g
			}
		}
	}
	served := map[string]node.DiskInfo{}
	if dn, ok := h.n.(DiskNode); ok {
		ds, err := dn.DiskStatus()
		if err != nil {
			return nil, err
		}
		for _, s := range ds {
			served[s.Name] = s
		}
	}
	out := []DiskStatus{}
	for _, kv := range kvs {
		r, err := crm.ParseResource(strings.TrimPrefix(kv.Key, crm.ResourcePrefix), kv.Value)
		if err != nil || r.Agent != disk.Agent {
			continue
		}
		size, _ := strconv.ParseUint(r.Params[disk.ParamSize], 10, 64)
		d := DiskStatus{Name: r.Name, State: "stopped", Clients: []string{}, Size: size,
			Backing: r.Params[disk.ParamBacking], Group: r.Group}
		if s, ok := served[r.Name]; ok {
			d.State, d.Epoch, d.Serving = s.State, s.Epoch, s.Serving
			if s.Server != "" {
				srv := s.Server
				d.Server = &srv
			}
			d.Clients = append(d.Clients, s.Clients...)
			d.Pending, d.Reads, d.Writes, d.Flushes = s.Pending, s.Reads, s.Writes, s.Flushes
			d.ServedReads, d.ServedWrites = s.ServedReads, s.ServedWrites
			d.Local, d.Remote, d.BytesRead, d.BytesWritten, d.Errors = s.Local, s.Remote, s.BytesRead, s.BytesWritten, s.Errors
		}
		if g, ok := groups[r.Group]; ok && g.State != "online" {
			// why the resource manager does not serve it (a start that
			// failed on a locked backing store, a fence awaited, ...)
			d.Reason = g.Reason
			for _, rs := range g.Resources {
				if rs.Name == r.Name && rs.Error != "" {
					d.Reason = strings.TrimPrefix(strings.TrimSpace(d.Reason+"; "+rs.Error), "; ")
				}
			}
			if d.State != "serving" && g.State != "" {
				d.State = g.State
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func (h *Handler) diskList(w http.ResponseWriter, _ *http.Request) {
	ds, err := h.disks()
	if err != nil {
		nodeError(w, "disks", err)
		return
	}
	WriteJSON(w, http.StatusOK, ds)
}

func (h *Handler) diskOne(w http.ResponseWriter, r *http.Request) {
	ds, err := h.disks()
	if err != nil {
		nodeError(w, "disks", err)
		return
	}
	for _, d := range ds {
		if d.Name == r.PathValue("name") {
			WriteJSON(w, http.StatusOK, d)
			return
		}
	}
	WriteError(w, http.StatusNotFound, "no disk "+r.PathValue("name"), "list them with GET /v1/disks (shell: disks); add one with POST /v1/disks (shell: disk add)")
}

// diskTxnError answers a failed disk add or delete transaction.
func diskTxnError(w http.ResponseWriter, what string, err error) {
	var nq cdb.ErrNoQuorum
	switch {
	case errors.Is(err, node.ErrClosed):
		nodeError(w, what, err)
	case errors.As(err, &nq) || errors.Is(err, cdb.ErrOutcomeUnknown):
		WriteError(w, http.StatusServiceUnavailable, err.Error(),
			"changes need a quorate node: use a node of the primary view (corral shell -c quorum); then see `disks` before trying again")
	case errors.Is(err, node.ErrInvalidConfig):
		WriteError(w, http.StatusBadRequest, strings.TrimSuffix(err.Error(), ": "+node.ErrInvalidConfig.Error()),
			"nothing was written; see `help disk`")
	default:
		WriteError(w, http.StatusServiceUnavailable, what+": "+err.Error(), "retry in a moment; see the agent's log")
	}
}

// cdbDoc reads a config DB key as a JSON object (nil, 0 when absent).
func (h *Handler) cdbDoc(key string) (map[string]any, uint64, error) {
	kv, found, _, err := h.n.CDBGet(key)
	if err != nil || !found {
		return nil, 0, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(kv.Value, &m); err != nil {
		return nil, 0, fmt.Errorf("%s is not a JSON object: %w", key, err)
	}
	return m, kv.ModRev, nil
}

func stringList(v any) []string {
	out := []string{}
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// diskAdd serves POST /v1/disks: the resource /resources/NAME and its
// group (a new one named as the disk, or the existing group the request
// names, which then starts with the disk) in one transaction.
func (h *Handler) diskAdd(w http.ResponseWriter, r *http.Request) {
	const example = `{"name": "drd1", "backing": "/srv/drd1.img", "size": "256MiB", "servers": ["n1", "n2"]}`
	var req DiskAddRequest
	if !decodeBody(w, r, &req, false, example) {
		return
	}
	if req.Name == "" {
		WriteError(w, http.StatusBadRequest, "a disk needs a name", "send e.g. "+example)
		return
	}
	size := strconv.FormatUint(uint64(req.Size), 10)
	if err := node.CheckDiskParams(map[string]string{disk.ParamSize: size, disk.ParamBacking: req.Backing}); err != nil {
		hint := `give the size in bytes or with a binary unit ("256MiB", "1GiB": whole 512-byte sectors, at least 1MiB) and the backing store's absolute path, the same on every server`
		WriteError(w, http.StatusBadRequest, "disk "+req.Name+": "+err.Error(), hint)
		return
	}
	group := req.Group
	if group == "" {
		group = req.Name
	}
	resKey, grpKey := crm.ResourcePrefix+req.Name, crm.GroupPrefix+group
	res, err := json.Marshal(map[string]any{"agent": disk.Agent, "group": group, "monitor": diskMonitor,
		"params": map[string]string{disk.ParamSize: size, disk.ParamBacking: req.Backing}})
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error(), "report this")
		return
	}
	if err := node.ValidateResource(req.Name, res, nil); err != nil { // the name
		WriteError(w, http.StatusBadRequest, strings.TrimSuffix(err.Error(), ": "+node.ErrInvalidConfig.Error()),
			"disk names are letters, digits, '-', '_' and '.' (at most 64): the NBD export is named so too")
		return
	}
	old, found, _, err := h.n.CDBGet(resKey)
	if err != nil {
		nodeError(w, "disk add", err)
		return
	}
	if found {
		what := "a resource " + req.Name + " exists"
		if rs, err := crm.ParseResource(req.Name, old.Value); err == nil && rs.Agent == disk.Agent {
			what = "the disk " + req.Name + " exists"
		}
		WriteError(w, http.StatusConflict, what, "choose another name, or delete it first (shell: disk del "+req.Name+" or resource del "+req.Name+")")
		return
	}
	g, grev, err := h.cdbDoc(grpKey)
	if err != nil {
		nodeError(w, "disk add", err)
		return
	}
	groupOp := "created"
	switch {
	case g != nil && req.Group == "":
		WriteError(w, http.StatusConflict, "a group "+group+" exists",
			"choose another disk name, or put the disk at the head of that group with --group "+group+` ({"group": "`+group+`"})`)
		return
	case g != nil && len(req.Servers) > 0:
		WriteError(w, http.StatusBadRequest, "group "+group+" exists: its possible owners are the disk's servers",
			"leave out --servers, or change the group's owners first: group add "+group+" --possible n1,n2")
		return
	case g != nil:
		groupOp = "joined"
		g["resources"] = append([]string{req.Name}, slices.DeleteFunc(stringList(g["resources"]), func(s string) bool { return s == req.Name })...)
	default:
		if len(req.Servers) == 0 {
			WriteError(w, http.StatusBadRequest, "disk "+req.Name+": no servers",
				"name the nodes that may serve it (each must reach the backing store at the same path): --servers n1,n2 ("+`"servers": ["n1", "n2"]`+")")
			return
		}
		st, err := h.n.StatusDoc()
		if err != nil {
			nodeError(w, "disk add", err)
			return
		}
		var configured []string
		for _, nd := range st.Nodes {
			configured = append(configured, nd.Name)
		}
		seen := map[string]bool{}
		for _, s := range req.Servers {
			if !slices.Contains(configured, s) {
				WriteError(w, http.StatusBadRequest, "server "+strconv.Quote(s)+" is not a configured node",
					"give node names of this cluster ("+strings.Join(configured, ", ")+"), comma-separated: --servers "+strings.Join(configured, ","))
				return
			}
			if seen[s] {
				WriteError(w, http.StatusBadRequest, "server "+s+" is listed twice", "name each server once")
				return
			}
			seen[s] = true
		}
		g = map[string]any{"resources": []string{req.Name}, "possible": req.Servers}
	}
	gb, err := json.Marshal(g)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error(), "report this")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), cdbTimeout)
	defer cancel()
	out, err := h.n.CDBTxn(ctx, []cdb.Cond{{Key: resKey}, {Key: grpKey, ModRev: grev}},
		[]cdb.Op{{Kind: cdb.OpPut, Key: resKey, Value: res}, {Kind: cdb.OpPut, Key: grpKey, Value: gb}})
	if err != nil {
		diskTxnError(w, "disk add", err)
		return
	}
	if !out.OK {
		WriteError(w, http.StatusConflict, resKey+" or "+grpKey+" changed meanwhile; nothing was written",
			"look at `disks` and `groups`, then try again")
		return
	}
	WriteJSON(w, http.StatusCreated, DiskResult{Disk: req.Name, Op: "add", Group: group, GroupOp: groupOp, Size: uint64(req.Size), Revision: out.Rev})
}

// diskDel serves DELETE /v1/disks/NAME: the resource, and its group when
// the disk was all it held (else the disk leaves the group's order), in
// one transaction; the resource manager stops the server.
func (h *Handler) diskDel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	resKey := crm.ResourcePrefix + name
	kv, found, _, err := h.n.CDBGet(resKey)
	if err != nil {
		nodeError(w, "disk del", err)
		return
	}
	if !found {
		WriteError(w, http.StatusNotFound, "no disk "+name, "list them with `disks` (GET /v1/disks)")
		return
	}
	rs, err := crm.ParseResource(name, kv.Value)
	if err != nil || rs.Agent != disk.Agent {
		WriteError(w, http.StatusBadRequest, "resource "+name+" is not a disk (agent "+rs.Agent+")",
			"delete other resources with `resource del "+name+"`")
		return
	}
	grpKey := crm.GroupPrefix + rs.Group
	g, grev, err := h.cdbDoc(grpKey)
	if err != nil {
		nodeError(w, "disk del", err)
		return
	}
	ops := []cdb.Op{{Kind: cdb.OpDelete, Key: resKey}}
	groupOp := "kept"
	if g != nil {
		left := slices.DeleteFunc(stringList(g["resources"]), func(s string) bool { return s == name })
		if len(left) == 0 {
			groupOp = "deleted"
			ops = append(ops, cdb.Op{Kind: cdb.OpDelete, Key: grpKey})
		} else {
			g["resources"] = left
			gb, err := json.Marshal(g)
			if err != nil {
				WriteError(w, http.StatusInternalServerError, err.Error(), "report this")
				return
			}
			ops = append(ops, cdb.Op{Kind: cdb.OpPut, Key: grpKey, Value: gb})
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), cdbTimeout)
	defer cancel()
	out, err := h.n.CDBTxn(ctx, []cdb.Cond{{Key: resKey, ModRev: kv.ModRev}, {Key: grpKey, ModRev: grev}}, ops)
	if err != nil {
		diskTxnError(w, "disk del", err)
		return
	}
	if !out.OK {
		WriteError(w, http.StatusConflict, resKey+" or "+grpKey+" changed meanwhile; nothing was deleted",
			"look at `disks` and `groups`, then try again")
		return
	}
	WriteJSON(w, http.StatusOK, DiskResult{Disk: name, Op: "delete", Group: rs.Group, GroupOp: groupOp, Revision: out.Rev})
}
