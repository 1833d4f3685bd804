package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/node"
)

type fakeNode struct {
	st  node.Status
	err error
}

func (f *fakeNode) StatusDoc() (node.Status, error) { return f.st, f.err }

func sample() node.Status {
	return node.Status{Cluster: "demo", Node: "n1", Boot: 3, Uptime: "1.5s",
		Nodes: []node.NodeStatus{
			{Name: "n1", ID: 1, State: "online", Reachable: true},
			{Name: "n2", ID: 2, State: "offline", Reachable: true,
				Links: []node.LinkStatus{{Local: 0, Remote: 0, Up: true, In: true, Out: true, RTT: "120µs"}}},
		}}
}

func do(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestStatus(t *testing.T) {
	f := &fakeNode{st: sample()}
	rec := do(t, New(f), http.MethodGet, "/v1/status")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/status: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var got node.Status
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f.st) {
		t.Fatalf("status round trip:\n got %+v\nwant %+v", got, f.st)
	}
}

func TestStatusTrailingSlashAndHead(t *testing.T) {
	h := New(&fakeNode{st: sample()})
	if rec := do(t, h, http.MethodGet, "/v1/status/"); rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/status/: %d", rec.Code)
	}
	if rec := do(t, h, http.MethodHead, "/v1/status"); rec.Code != http.StatusOK {
		t.Fatalf("HEAD /v1/status: %d", rec.Code)
	}
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) Error {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	var e Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	if e.Error == "" || e.Hint == "" {
		t.Fatalf("error body without error or hint: %+v", e)
	}
	return e
}

func TestNotFound(t *testing.T) {
	h := New(&fakeNode{st: sample()})
	for _, tc := range []struct{ path, hint string }{
		{"/v1/nope", "GET /v1/status"},
		{"/status", "versioned"},
		{"/", "versioned"},
		{"/v2/status", "versioned"},
	} {
		rec := do(t, h, http.MethodGet, tc.path)
		if rec.Code != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", tc.path, rec.Code)
		}
		e := decodeError(t, rec)
		if !strings.Contains(e.Error, tc.path) || !strings.Contains(e.Hint, tc.hint) {
			t.Errorf("GET %s: %+v: want the path in error and %q in hint", tc.path, e, tc.hint)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rec := do(t, New(&fakeNode{st: sample()}), http.MethodPost, "/v1/status")
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /v1/status: %d, want 405", rec.Code)
	}
	if a := rec.Header().Get("Allow"); a != "GET" {
		t.Fatalf("Allow %q", a)
	}
	if e := decodeError(t, rec); !strings.Contains(e.Hint, "GET /v1/status") {
		t.Fatalf("hint %q", e.Hint)
	}
}

func TestStatusErrors(t *testing.T) {
	rec := do(t, New(&fakeNode{err: node.ErrClosed}), http.MethodGet, "/v1/status")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("closed node: %d, want 503", rec.Code)
	}
	decodeError(t, rec)
	rec = do(t, New(&fakeNode{err: errors.New("boom")}), http.MethodGet, "/v1/status")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("failing node: %d, want 500", rec.Code)
	}
	if e := decodeError(t, rec); !strings.Contains(e.Error, "boom") {
		t.Fatalf("error %q", e.Error)
	}
}

// TestServer runs the handler behind a real HTTP server, as the agent does.
func TestServer(t *testing.T) {
	srv := httptest.NewServer(New(&fakeNode{st: sample()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st node.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Node != "n1" || len(st.Nodes) != 2 {
		t.Fatalf("status over HTTP: %+v, %v", st, err)
	}
}
