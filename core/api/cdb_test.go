package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/cdb"
)

func TestCDB(t *testing.T) {
	f := apitest.New()
	h := newHandler(t, f)
	var w CDBWriteResult
	decode(t, doBody(t, h, http.MethodPut, "/v1/cdb/resources/web/ip", `{"value": "10.0.0.5"}`), http.StatusOK, &w)
	if w != (CDBWriteResult{Key: "/resources/web/ip", Op: "set", Revision: 1, OK: true}) {
		t.Fatalf("set %+v", w)
	}
	decode(t, doBody(t, h, http.MethodPost, "/v1/cdb/resources/db/ip", `{"value": "10.0.0.6", "if_revision": 0}`), http.StatusOK, &w)
	var g CDBGetResult
	decode(t, do(t, h, http.MethodGet, "/v1/cdb/resources/web/ip"), http.StatusOK, &g)
	if g.Key != "/resources/web/ip" || g.Value != "10.0.0.5" || g.Revision != 1 || g.CreateRevision != 1 || g.Stale {
		t.Fatalf("get %+v", g)
	}
	var l CDBListResult
	decode(t, do(t, h, http.MethodGet, "/v1/cdb?prefix=/resources/"), http.StatusOK, &l)
	if len(l.Keys) != 2 || l.Keys[0].Key != "/resources/db/ip" || l.Revision != 2 {
		t.Fatalf("list %+v", l)
	}
	decode(t, do(t, h, http.MethodGet, "/v1/cdb/"), http.StatusOK, &l)
	if len(l.Keys) != 2 {
		t.Fatalf("list all %+v", l)
	}
	// a failed compare-and-set: 409, nothing changed
	rec := doBody(t, h, http.MethodPut, "/v1/cdb/resources/web/ip", `{"value": "x", "if_revision": 7}`)
	wantError(t, rec, http.StatusConflict, "revision mismatch")
	decode(t, do(t, h, http.MethodGet, "/v1/cdb/resources/web/ip"), http.StatusOK, &g)
	if g.Value != "10.0.0.5" {
		t.Fatalf("after failed CAS %+v", g)
	}
	decode(t, do(t, h, http.MethodDelete, "/v1/cdb/resources/web/ip"), http.StatusOK, &w)
	if w.Op != "delete" || !w.OK {
		t.Fatalf("delete %+v", w)
	}
	wantError(t, do(t, h, http.MethodGet, "/v1/cdb/resources/web/ip"), http.StatusNotFound, "no key /resources/web/ip")
	wantError(t, doBody(t, h, http.MethodPut, "/v1/cdb/a", `{"val": 1}`), http.StatusBadRequest, "bad JSON")
	wantError(t, doBody(t, h, http.MethodPut, "/v1/cdb", `{"value": "1"}`), http.StatusBadRequest, "no key")
	wantError(t, do(t, h, http.MethodPatch, "/v1/cdb/a"), http.StatusMethodNotAllowed, "not allowed")

	var hs []CDBChange
	decode(t, do(t, h, http.MethodGet, "/v1/cdb-history?n=2"), http.StatusOK, &hs)
	if len(hs) != 2 || hs[0].OK || hs[1].Ops[0].Op != "delete" {
		t.Fatalf("history %+v", hs)
	}
	if hs[0].Node != 1 || hs[0].NodeName != "n1" {
		t.Fatalf("history names node %d %q, want 1 n1", hs[0].Node, hs[0].NodeName)
	}
	wantError(t, do(t, h, http.MethodGet, "/v1/cdb-history?n=x"), http.StatusBadRequest, "bad n")
}

func TestCDBNoQuorum(t *testing.T) {
	f := apitest.New()
	f.Stale = true
	f.WriteErr = cdb.ErrNoQuorum{Votes: 1, Expected: 3}
	f.KV = map[string]cdb.KV{"/a": {Key: "/a", Value: []byte("1"), CreateRev: 1, ModRev: 1}}
	h := newHandler(t, f)
	wantError(t, doBody(t, h, http.MethodPut, "/v1/cdb/a", `{"value": "2"}`), http.StatusServiceUnavailable, "no quorum: 1 of 3 votes")
	// a read is linearizable by default: refused without a quorum, with
	// the way to read this node's state anyway
	wantError(t, do(t, h, http.MethodGet, "/v1/cdb/a"), http.StatusServiceUnavailable, "stale=true")
	wantError(t, do(t, h, http.MethodGet, "/v1/cdb?prefix=/"), http.StatusServiceUnavailable, "no quorum: 1 of 3 votes")
	var g CDBGetResult
	decode(t, do(t, h, http.MethodGet, "/v1/cdb/a?stale=true"), http.StatusOK, &g)
	if !g.Stale || g.Value != "1" {
		t.Fatalf("stale get %+v", g)
	}
	var l CDBListResult
	decode(t, do(t, h, http.MethodGet, "/v1/cdb?prefix=/&stale=true"), http.StatusOK, &l)
	if !l.Stale || len(l.Keys) != 1 {
		t.Fatalf("stale list %+v", l)
	}
	wantError(t, do(t, h, http.MethodGet, "/v1/cdb/a?stale=maybe"), http.StatusBadRequest, "not true or false")
}

// TestCDBReadTimedOut: a linearizable read that timed out (on a quorate
// node, waiting to be ordered) says so and to retry, not that a quorate
// node is needed.
func TestCDBReadTimedOut(t *testing.T) {
	f := apitest.New()
	f.ReadErr = fmt.Errorf("config database: the read could not be ordered in time (%w)", context.DeadlineExceeded)
	h := newHandler(t, f)
	for _, path := range []string{"/v1/cdb/a", "/v1/cdb?prefix=/"} {
		rec := do(t, h, http.MethodGet, path)
		wantError(t, rec, http.StatusServiceUnavailable, "timed out waiting to be ordered")
		if e := decodeError(t, do(t, h, http.MethodGet, path)); strings.Contains(e.Hint, "quorate") {
			t.Fatalf("%s: a timed-out read blames quorum: %+v", path, e)
		}
	}
}

// TestCDBStaleParam: a quorate node's default read is linearizable
// (stale: false); ?stale=true reads its state and says stale: true.
func TestCDBStaleParam(t *testing.T) {
	f := apitest.New()
	f.KV = map[string]cdb.KV{"/a": {Key: "/a", Value: []byte("1"), CreateRev: 1, ModRev: 1}}
	h := newHandler(t, f)
	var g CDBGetResult
	decode(t, do(t, h, http.MethodGet, "/v1/cdb/a"), http.StatusOK, &g)
	if g.Stale || g.Value != "1" {
		t.Fatalf("linearizable get %+v", g)
	}
	decode(t, do(t, h, http.MethodGet, "/v1/cdb/a?stale=true"), http.StatusOK, &g)
	if !g.Stale {
		t.Fatalf("stale get %+v", g)
	}
	var l CDBListResult
	decode(t, do(t, h, http.MethodGet, "/v1/cdb?prefix=/&stale"), http.StatusOK, &l)
	if !l.Stale || len(l.Keys) != 1 {
		t.Fatalf("stale list %+v", l)
	}
}

// TestCDBRetry: a write named by (client, seq) whose answer was lost
// ("outcome unknown") is retried with the same id and gets the original
// result; nothing is applied twice; an older seq and a half id are
// refused with what to do.
func TestCDBRetry(t *testing.T) {
	f := apitest.New()
	h := newHandler(t, f)
	f.LoseAnswer = cdb.ErrOutcomeUnknown
	rec := doBody(t, h, http.MethodPut, "/v1/cdb/k", `{"value": "one", "client": "deployer", "seq": 1}`)
	wantError(t, rec, http.StatusServiceUnavailable, `retry with the same client "deployer" and seq 1`)
	var w CDBWriteResult
	decode(t, doBody(t, h, http.MethodPut, "/v1/cdb/k", `{"value": "one", "client": "deployer", "seq": 1}`), http.StatusOK, &w)
	if w != (CDBWriteResult{Key: "/k", Op: "set", Revision: 1, OK: true, Client: "deployer", Seq: 1}) {
		t.Fatalf("retry %+v", w)
	}
	// the same id through the headers, even with another value: the original result
	req := httptest.NewRequest(http.MethodPut, "/v1/cdb/k", strings.NewReader(`{"value": "two"}`))
	req.Header.Set("Corral-Client", "deployer")
	req.Header.Set("Corral-Seq", "1")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	decode(t, rec, http.StatusOK, &w)
	if w.Revision != 1 {
		t.Fatalf("header retry %+v", w)
	}
	var g CDBGetResult
	decode(t, do(t, h, http.MethodGet, "/v1/cdb/k"), http.StatusOK, &g)
	if g.Value != "one" || f.Rev != 1 {
		t.Fatalf("applied twice: %+v, database revision %d", g, f.Rev)
	}
	// a delete names its request with the headers
	req = httptest.NewRequest(http.MethodDelete, "/v1/cdb/k", nil)
	req.Header.Set("Corral-Client", "deployer")
	req.Header.Set("Corral-Seq", "2")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	decode(t, rec, http.StatusOK, &w)
	if w.Op != "delete" || w.Revision != 2 || w.Seq != 2 {
		t.Fatalf("delete %+v", w)
	}
	wantError(t, doBody(t, h, http.MethodPut, "/v1/cdb/k", `{"value": "x", "client": "deployer", "seq": 1}`), http.StatusConflict, "older than its last applied request")
	wantError(t, doBody(t, h, http.MethodPut, "/v1/cdb/k", `{"value": "x", "client": "deployer"}`), http.StatusBadRequest, "both a client and a seq")
	req = httptest.NewRequest(http.MethodPut, "/v1/cdb/k", strings.NewReader(`{"value": "x", "client": "a", "seq": 1}`))
	req.Header.Set("Corral-Client", "b")
	req.Header.Set("Corral-Seq", "1")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantError(t, rec, http.StatusBadRequest, "given twice")
	// without an id, an unknown outcome says how to make a retry safe
	f.LoseAnswer = cdb.ErrOutcomeUnknown
	wantError(t, doBody(t, h, http.MethodPut, "/v1/cdb/k", `{"value": "x"}`), http.StatusServiceUnavailable, "give writes a request id")
}

// TestCDBInvalidRequest: a request the config DB refuses as malformed
// (cdb.ErrInvalidRequest) is the client's mistake, 400, whatever its text
// and however the node wrapped it; any other write error is 503 (retry).
func TestCDBInvalidRequest(t *testing.T) {
	bad := cdb.Validate(cdb.Request{Client: "c", Seq: 1, Then: []cdb.Op{{Kind: cdb.OpPut, Key: "a"}}})
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{bad, http.StatusBadRequest, `cdb: key "a" must start with /`},
		{fmt.Errorf("proposing: %w", bad), http.StatusBadRequest, "proposing: cdb: key"},
		{cdb.InvalidRequest("cdb: unknown operation 7"), http.StatusBadRequest, "unknown operation"},
		{errors.New("cdb: key store is busy"), http.StatusServiceUnavailable, "busy"},
	} {
		f := apitest.New()
		f.WriteErr = tc.err
		wantError(t, doBody(t, newHandler(t, f), http.MethodPut, "/v1/cdb/a", `{"value": "2"}`), tc.code, tc.want)
	}
}

// TestCDBTxn: POST /v1/cdb-txn applies several keys as one transaction:
// all of them, or (a condition failed) none (issue 16: resource add wrote
// the resource and not its group).
func TestCDBTxn(t *testing.T) {
	f := apitest.New()
	h := newHandler(t, f)
	body := `{"if": [{"key": "/resources/r3", "revision": 0}, {"key": "/groups/g3", "revision": 0}],
		"ops": [{"op": "set", "key": "/resources/r3", "value": "{}"}, {"op": "set", "key": "/groups/g3", "value": "{}"}]}`
	var w CDBWriteResult
	decode(t, doBody(t, h, http.MethodPost, "/v1/cdb-txn", body), http.StatusOK, &w)
	if !w.OK || w.Op != "txn" || w.Key != "/resources/r3,/groups/g3" {
		t.Fatalf("txn %+v", w)
	}
	// the same again: the conditions fail, nothing is written
	wantError(t, doBody(t, h, http.MethodPost, "/v1/cdb-txn", strings.Replace(body, `"/groups/g3", "value": "{}"`, `"/groups/g3", "value": "{\"x\": 1}"`, 1)),
		http.StatusConflict, "revision mismatch")
	if kv, _, _, _ := f.CDBGet("/groups/g3"); string(kv.Value) != "{}" {
		t.Fatalf("/groups/g3 = %q after a failed transaction", kv.Value)
	}
	decode(t, doBody(t, h, http.MethodPost, "/v1/cdb-txn", `{"ops": [{"op": "delete", "key": "/groups/g3"}, {"op": "delete", "key": "/resources/r3"}]}`),
		http.StatusOK, &w)
	for _, k := range []string{"/groups/g3", "/resources/r3"} {
		if _, found, _, _ := f.CDBGet(k); found {
			t.Fatalf("%s survived the delete", k)
		}
	}
	wantError(t, doBody(t, h, http.MethodPost, "/v1/cdb-txn", `{"ops": []}`), http.StatusBadRequest, "needs ops")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/cdb-txn", `{"ops": [{"op": "frob", "key": "/a"}]}`), http.StatusBadRequest, "use set or delete")
}
