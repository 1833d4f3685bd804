package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/node"
)

// The API's request and answer bodies are defined in core/apitypes (so
// the shell reads them without importing the driver).
type (
	// CDBKey is apitypes.CDBKey.
	CDBKey = apitypes.CDBKey
	// CDBGetResult is apitypes.CDBGetResult.
	CDBGetResult = apitypes.CDBGetResult
	// CDBListResult is apitypes.CDBListResult.
	CDBListResult = apitypes.CDBListResult
	// CDBSetRequest is apitypes.CDBSetRequest.
	CDBSetRequest = apitypes.CDBSetRequest
	// CDBWriteResult is apitypes.CDBWriteResult.
	CDBWriteResult = apitypes.CDBWriteResult
	// CDBOp is apitypes.CDBOp.
	CDBOp = apitypes.CDBOp
	// CDBCond is apitypes.CDBCond.
	CDBCond = apitypes.CDBCond
	// CDBChange is apitypes.CDBChange.
	CDBChange = apitypes.CDBChange
	// CDBTxnRequest is apitypes.CDBTxnRequest.
	CDBTxnRequest = apitypes.CDBTxnRequest
)

// cdbTimeout bounds a write's wait for its answer.
const cdbTimeout = 10 * time.Second

func cdbKey(kv cdb.KV) CDBKey {
	return CDBKey{Key: kv.Key, Value: string(kv.Value), Revision: kv.ModRev, CreateRevision: kv.CreateRev}
}

// cdb serves /v1/cdb and /v1/cdb/KEY (keys have several segments).
func (h *Handler) cdb(w http.ResponseWriter, r *http.Request, path string) {
	key := strings.TrimPrefix(path, "/v1/cdb")
	_, hasPrefix := r.URL.Query()["prefix"]
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		stale, ok := staleParam(w, r)
		if !ok {
			return
		}
		if hasPrefix || key == "" || key == "/" {
			h.cdbList(w, r, r.URL.Query().Get("prefix"), stale)
			return
		}
		h.cdbGet(w, r, key, stale)
	case http.MethodPut, http.MethodPost:
		if key == "" || key == "/" {
			WriteError(w, http.StatusBadRequest, "no key to set", `PUT /v1/cdb/KEY with {"value": "..."}`)
			return
		}
		var req CDBSetRequest
		if !decodeBody(w, r, &req, false, `{"value": "10.0.0.5", "if_revision": 7}`) {
			return
		}
		var ifs []cdb.Cond
		if req.IfRevision != nil {
			ifs = []cdb.Cond{{Key: key, ModRev: *req.IfRevision}}
		}
		id, ok := requestID(w, r, req.Client, req.Seq)
		if !ok {
			return
		}
		h.cdbWrite(w, r, key, "set", id, ifs, []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: []byte(req.Value)}})
	case http.MethodDelete:
		if key == "" || key == "/" {
			WriteError(w, http.StatusBadRequest, "no key to delete", "DELETE /v1/cdb/KEY")
			return
		}
		id, ok := requestID(w, r, "", 0)
		if !ok {
			return
		}
		h.cdbWrite(w, r, key, "delete", id, nil, []cdb.Op{{Kind: cdb.OpDelete, Key: key}})
	default:
		w.Header().Set("Allow", "DELETE, GET, POST, PUT")
		WriteError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+path,
			"use GET, PUT, POST or DELETE /v1/cdb/KEY, or GET /v1/cdb?prefix=P")
	}
}

// staleParam reads the stale query parameter: true reads this node's
// state as it is (no quorum needed; the answer says stale: true), false
// or absent reads linearizably.
func staleParam(w http.ResponseWriter, r *http.Request) (stale, ok bool) {
	v, has := r.URL.Query()["stale"]
	if !has {
		return false, true
	}
	if len(v) == 0 || v[0] == "" {
		return true, true
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		WriteError(w, http.StatusBadRequest, "stale="+strconv.Quote(v[0])+" is not true or false",
			"add ?stale=true to read this node's state as it is, or leave it out for a linearizable read")
		return false, false
	}
	return b, true
}

// cdbReadError answers a read that failed.
func cdbReadError(w http.ResponseWriter, what string, err error) {
	var nq cdb.ErrNoQuorum
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// on a quorate node too: the read could not be ordered in time
		WriteError(w, http.StatusServiceUnavailable, err.Error(),
			"the read timed out waiting to be ordered (the view may be changing): retry, or add ?stale=true to read this node's state as it is")
	case errors.As(err, &nq), errors.Is(err, cdb.ErrReadRetry):
		WriteError(w, http.StatusServiceUnavailable, err.Error(),
			"a linearizable read needs a quorate node: use a node of the primary view (corral shell -c quorum shows this node's votes), or add ?stale=true to read this node's state as it is")
	default:
		nodeError(w, what, err)
	}
}

func (h *Handler) cdbGet(w http.ResponseWriter, r *http.Request, key string, stale bool) {
	var (
		kv    cdb.KV
		found bool
		err   error
	)
	if stale {
		kv, found, _, err = h.n.CDBGet(key)
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), cdbTimeout)
		kv, found, err = h.n.CDBGetLinear(ctx, key)
		cancel()
	}
	if err != nil {
		cdbReadError(w, "cdb get", err)
		return
	}
	if !found {
		hint := "list the keys with GET /v1/cdb?prefix=/"
		if stale {
			hint = "this is this node's state as it is (stale=true), which may be old; " + hint
		}
		WriteError(w, http.StatusNotFound, "no key "+key, hint)
		return
	}
	WriteJSON(w, http.StatusOK, CDBGetResult{CDBKey: cdbKey(kv), Stale: stale})
}

func (h *Handler) cdbList(w http.ResponseWriter, r *http.Request, prefix string, stale bool) {
	var (
		kvs []cdb.KV
		rev uint64
		err error
	)
	if stale {
		kvs, rev, _, err = h.n.CDBList(prefix)
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), cdbTimeout)
		kvs, rev, err = h.n.CDBListLinear(ctx, prefix)
		cancel()
	}
	if err != nil {
		cdbReadError(w, "cdb list", err)
		return
	}
	out := CDBListResult{Prefix: prefix, Revision: rev, Stale: stale, Keys: []CDBKey{}}
	for _, kv := range kvs {
		out.Keys = append(out.Keys, cdbKey(kv))
	}
	WriteJSON(w, http.StatusOK, out)
}

// reqID is a caller's request id (client "" for none).
type reqID struct {
	client string
	seq    uint64
}

// requestID takes the request id from the body's fields or the
// Corral-Client and Corral-Seq headers; both or neither.
func requestID(w http.ResponseWriter, r *http.Request, client string, seq uint64) (reqID, bool) {
	const hint = `name a request with both a client and a seq from 1: {"client": "deployer-7", "seq": 12} or the headers Corral-Client and Corral-Seq`
	if hc, hs := r.Header.Get("Corral-Client"), r.Header.Get("Corral-Seq"); hc != "" || hs != "" {
		if client != "" || seq != 0 {
			WriteError(w, http.StatusBadRequest, "the request id is given twice (body and headers)", hint)
			return reqID{}, false
		}
		v, err := strconv.ParseUint(hs, 10, 64)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "Corral-Seq "+strconv.Quote(hs)+" is not a sequence number", hint)
			return reqID{}, false
		}
		client, seq = hc, v
	}
	if (client == "") != (seq == 0) {
		WriteError(w, http.StatusBadRequest, "a request id needs both a client and a seq from 1", hint)
		return reqID{}, false
	}
	return reqID{client, seq}, true
}

func (h *Handler) cdbWrite(w http.ResponseWriter, r *http.Request, key, op string, id reqID, ifs []cdb.Cond, then []cdb.Op) {
	ctx, cancel := context.WithTimeout(r.Context(), cdbTimeout)
	defer cancel()
	var (
		res cdb.Result
		err error
	)
	if id.client != "" {
		res, err = h.n.CDBTxnAs(ctx, id.client, id.seq, ifs, then)
	} else {
		res, err = h.n.CDBTxn(ctx, ifs, then)
	}
	retry := "give writes a request id (client and seq) to make a retry safe"
	if id.client != "" {
		retry = fmt.Sprintf("retry with the same client %q and seq %d: the update is applied at most once", id.client, id.seq)
	}
	var nq cdb.ErrNoQuorum
	switch {
	case errors.Is(err, node.ErrClosed):
		nodeError(w, "cdb "+op, err)
		return
	case errors.Is(err, cdb.ErrOutcomeUnknown):
		WriteError(w, http.StatusServiceUnavailable, err.Error(),
			"use a node of the primary view (corral shell -c quorum shows this node's votes); "+retry)
		return
	case errors.As(err, &nq):
		WriteError(w, http.StatusServiceUnavailable, err.Error(),
			"writes need a quorate node: use a node of the primary view (corral shell -c quorum shows this node's votes)")
		return
	case errors.Is(err, node.ErrInvalidConfig):
		WriteError(w, http.StatusBadRequest, strings.TrimSuffix(err.Error(), ": "+node.ErrInvalidConfig.Error()),
			"nothing was written; see `help resource`, `help group` and `agents resource`")
		return
	case errors.Is(err, node.ErrDiskFull):
		WriteError(w, http.StatusInsufficientStorage, err.Error(),
			"free space under the node's data directory, then retry")
		return
	case errors.Is(err, node.ErrInFlight):
		WriteError(w, http.StatusConflict, err.Error(), "wait for the first call's answer, or retry after it timed out")
		return
	case errors.Is(err, cdb.ErrInvalidRequest):
		WriteError(w, http.StatusBadRequest, err.Error(), "keys are paths like /resources/web/ip")
		return
	case err != nil:
		WriteError(w, http.StatusServiceUnavailable, err.Error(), "retry in a moment; see the agent's log; "+retry)
		return
	case res.Old:
		WriteError(w, http.StatusConflict,
			fmt.Sprintf("request seq %d of client %q is older than its last applied request: its outcome is no longer kept and nothing was applied", id.seq, id.client),
			"use a new seq (one more than the last) for a new request")
		return
	}
	code := http.StatusOK
	if !res.OK {
		code = http.StatusConflict
		WriteJSON(w, code, struct {
			Error string `json:"error"`
			Hint  string `json:"hint"`
			CDBWriteResult
		}{"revision mismatch: " + key + " was changed since (or does not exist as expected); nothing was applied",
			"read it again (GET /v1/cdb" + key + ") and retry with its revision",
			CDBWriteResult{Key: key, Op: op, Revision: res.Rev, Client: id.client, Seq: id.seq}})
		return
	}
	WriteJSON(w, code, CDBWriteResult{Key: key, Op: op, Revision: res.Rev, OK: true, Client: id.client, Seq: id.seq})
}

// cdbTxn serves POST /v1/cdb-txn; it answers as a set does, with Key the
// keys of the ops (comma-separated) and Op "txn".
func (h *Handler) cdbTxn(w http.ResponseWriter, r *http.Request) {
	const example = `{"if": [{"key": "/groups/web", "revision": 0}], "ops": [{"op": "set", "key": "/groups/web", "value": "{}"}]}`
	var req CDBTxnRequest
	if !decodeBody(w, r, &req, false, example) {
		return
	}
	if len(req.Ops) == 0 {
		WriteError(w, http.StatusBadRequest, "a transaction needs ops", example)
		return
	}
	var ifs []cdb.Cond
	for _, c := range req.If {
		ifs = append(ifs, cdb.Cond{Key: c.Key, ModRev: c.Revision})
	}
	var then []cdb.Op
	var keys []string
	for _, o := range req.Ops {
		switch o.Op {
		case "set":
			then = append(then, cdb.Op{Kind: cdb.OpPut, Key: o.Key, Value: []byte(o.Value)})
		case "delete":
			then = append(then, cdb.Op{Kind: cdb.OpDelete, Key: o.Key})
		default:
			WriteError(w, http.StatusBadRequest, "op "+strconv.Quote(o.Op)+" of "+o.Key+": use set or delete", example)
			return
		}
		keys = append(keys, o.Key)
	}
	id, ok := requestID(w, r, req.Client, req.Seq)
	if !ok {
		return
	}
	h.cdbWrite(w, r, strings.Join(keys, ","), "txn", id, ifs, then)
}

func (h *Handler) cdbHistory(w http.ResponseWriter, r *http.Request) {
	n := 20
	if s := r.URL.Query().Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			WriteError(w, http.StatusBadRequest, "bad n: "+s, "n is a count of changes, e.g. /v1/cdb-history?n=50")
			return
		}
		n = v
	}
	hs, err := h.n.CDBHistory(n)
	if err != nil {
		nodeError(w, "cdb history", err)
		return
	}
	names := map[int]string{}
	if st, err := h.n.StatusDoc(); err == nil {
		for _, nd := range st.Nodes {
			names[nd.ID] = nd.Name
		}
	}
	name := func(id int) string {
		if s, ok := names[id]; ok {
			return s
		}
		return strconv.Itoa(id)
	}
	out := make([]CDBChange, 0, len(hs))
	for _, c := range hs {
		ch := CDBChange{Revision: c.Rev, View: strconv.FormatUint(c.View.Epoch, 10) + "/" + name(int(c.View.Coord)),
			Node: int(c.Node), NodeName: name(int(c.Node)), Client: c.Client, Seq: c.Seq, OK: c.OK, Ops: []CDBOp{}}
		if c.Time != 0 {
			ch.Time = time.Unix(0, c.Time).UTC().Format(node.TimeLayout)
		}
		for _, cd := range c.If {
			ch.If = append(ch.If, CDBCond{Key: cd.Key, Revision: cd.ModRev})
		}
		for _, o := range c.Ops {
			op := CDBOp{Op: "set", Key: o.Key, Value: string(o.Value)}
			if o.Kind == cdb.OpDelete {
				op.Op = "delete"
			}
			ch.Ops = append(ch.Ops, op)
		}
		out = append(out, ch)
	}
	WriteJSON(w, http.StatusOK, out)
}
