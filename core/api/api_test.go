package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/transport"
)

func newHandler(t *testing.T, f *apitest.Node) *Handler {
	t.Helper()
	h := New(f)
	t.Cleanup(h.Close)
	return h
}

func do(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	return doBody(t, h, method, path, "")
}

func doBody(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

// decode decodes a 2xx JSON body strictly into v.
func decode(t *testing.T, rec *httptest.ResponseRecorder, code int, v any) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d: %s", rec.Code, code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatal(err)
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

// wantError checks an error response's status and that the error or hint
// says want.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, code int, want string) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d: %s", rec.Code, code, rec.Body)
	}
	e := decodeError(t, rec)
	if !strings.Contains(e.Error+" "+e.Hint, want) {
		t.Fatalf("error %+v does not say %q", e, want)
	}
}

func TestStatus(t *testing.T) {
	f := apitest.New()
	var got node.Status
	decode(t, do(t, newHandler(t, f), http.MethodGet, "/v1/status"), http.StatusOK, &got)
	if !reflect.DeepEqual(got, f.St) {
		t.Fatalf("status round trip:\n got %+v\nwant %+v", got, f.St)
	}
}

func TestStatusTrailingSlashAndHead(t *testing.T) {
	h := newHandler(t, apitest.New())
	if rec := do(t, h, http.MethodGet, "/v1/status/"); rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/status/: %d", rec.Code)
	}
	if rec := do(t, h, http.MethodHead, "/v1/status"); rec.Code != http.StatusOK {
		t.Fatalf("HEAD /v1/status: %d", rec.Code)
	}
}

func TestNotFound(t *testing.T) {
	h := newHandler(t, apitest.New())
	for _, tc := range []struct{ path, hint string }{
		{"/v1/nope", "GET /v1/status"},
		{"/status", "versioned"},
		{"/", "versioned"},
		{"/v2/status", "versioned"},
		{"/v1/nodes/n1/frob", "POST /v1/nodes/NAME/pause"},
		{"/v1/nodes//pause", "GET /v1/nodes"},
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
	h := newHandler(t, apitest.New())
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/v1/status", "GET"},
		{http.MethodPost, "/v1/nodes", "GET"},
		{http.MethodGet, "/v1/nodes/n2/pause", "POST"},
		{http.MethodDelete, "/v1/links", "GET"},
		{http.MethodPut, "/v1/quorum", "GET"},
		{http.MethodPost, "/v1/views", "GET"},
		{http.MethodPost, "/v1/events", "GET"},
		{http.MethodPut, "/v1/debug/faults", "DELETE, GET, POST"},
		{http.MethodGet, "/v1/debug/faults/1", "DELETE"},
		{http.MethodPost, "/metrics", "GET"},
	} {
		rec := do(t, h, tc.method, tc.path)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s: %d, want 405", tc.method, tc.path, rec.Code)
		}
		if a := rec.Header().Get("Allow"); a != tc.allow {
			t.Fatalf("%s %s: Allow %q, want %q", tc.method, tc.path, a, tc.allow)
		}
		if e := decodeError(t, rec); !strings.Contains(e.Hint, tc.path) {
			t.Fatalf("hint %q", e.Hint)
		}
	}
}

func TestNodeErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{node.ErrClosed, http.StatusServiceUnavailable, "shutting down"},
		{errors.New("boom"), http.StatusInternalServerError, "boom"},
	} {
		f := apitest.New()
		f.Err = tc.err
		h := newHandler(t, f)
		for _, p := range []string{"/v1/status", "/v1/nodes", "/v1/nodes/n1", "/v1/links", "/v1/quorum", "/v1/views", "/v1/events", "/metrics"} {
			wantError(t, do(t, h, http.MethodGet, p), tc.code, tc.want)
		}
		wantError(t, do(t, h, http.MethodPost, "/v1/nodes/n2/pause"), tc.code, tc.want)
	}
}

func TestNodes(t *testing.T) {
	f := apitest.New()
	f.St.Nodes[2].State = "paused"
	h := newHandler(t, f)
	var got []NodeInfo
	decode(t, do(t, h, http.MethodGet, "/v1/nodes"), http.StatusOK, &got)
	want := []NodeInfo{
		{Name: "n1", ID: 1, State: "online", Reachable: true, Self: true, Member: true, Coordinator: true},
		{Name: "n2", ID: 2, State: "online", Reachable: true, Member: true, LinksUp: 2, Links: 2},
		{Name: "n3", ID: 3, State: "paused", Reachable: true, Member: true, LinksUp: 1, Links: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("nodes:\n got %+v\nwant %+v", got, want)
	}
	var one NodeInfo
	decode(t, do(t, h, http.MethodGet, "/v1/nodes/n3"), http.StatusOK, &one)
	if one != want[2] {
		t.Fatalf("nodes/n3: %+v", one)
	}
	wantError(t, do(t, h, http.MethodGet, "/v1/nodes/n9"), http.StatusNotFound, "n1, n2, n3")
}

func TestNodeActions(t *testing.T) {
	f := apitest.New()
	h := newHandler(t, f)
	var res ActionResult
	decode(t, doBody(t, h, http.MethodPost, "/v1/nodes/n2/pause", ""), http.StatusAccepted, &res)
	if res.Node != "n2" || res.Action != "pause" || !strings.Contains(res.Message, "paused") {
		t.Fatalf("pause: %+v", res)
	}
	decode(t, doBody(t, h, http.MethodPost, "/v1/nodes/n2/resume", "{}"), http.StatusAccepted, &res)
	decode(t, doBody(t, h, http.MethodPost, "/v1/nodes/n3/leave", " "), http.StatusAccepted, &res)
	decode(t, doBody(t, h, http.MethodPost, "/v1/nodes/n1/leave", ""), http.StatusOK, &res)
	if !strings.Contains(res.Message, "left the cluster") {
		t.Fatalf("self leave: %+v", res)
	}
	if want := []string{"pause n2", "resume n2", "leave n3", "leave n1"}; !reflect.DeepEqual(f.Actions, want) {
		t.Fatalf("actions %q, want %q", f.Actions, want)
	}
	// Bad input.
	wantError(t, doBody(t, h, http.MethodPost, "/v1/nodes/n9/pause", ""), http.StatusNotFound, "no node named \"n9\"")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/nodes/n2/pause", `{"force": true}`), http.StatusBadRequest, "unknown field")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/nodes/n2/pause", `{`), http.StatusBadRequest, "bad JSON")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/nodes/n2/pause", `{} {}`), http.StatusBadRequest, "more than one")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/nodes/n2/pause", `[1]`), http.StatusBadRequest, "bad JSON")
	f.ActionErr = errors.New("no circuit")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/nodes/n2/pause", ""), http.StatusConflict, "reachable")
	if len(f.Actions) != 4 {
		t.Fatalf("bad requests acted: %q", f.Actions)
	}
}

func TestLinks(t *testing.T) {
	var got []Link
	decode(t, do(t, newHandler(t, apitest.New()), http.MethodGet, "/v1/links"), http.StatusOK, &got)
	if len(got) != 4 {
		t.Fatalf("links: %+v", got)
	}
	if want := (Link{Peer: "n3", Local: 1, Remote: 1, In: true}); got[3] != want {
		t.Fatalf("n3 link 1: %+v, want %+v", got[3], want)
	}
	if got[0].Peer != "n2" || !got[0].Up || got[0].RTT != "150µs" {
		t.Fatalf("n2 link 0: %+v", got[0])
	}
	// No peers: an empty list, not null.
	f := apitest.New()
	f.St.Nodes = f.St.Nodes[:1]
	rec := do(t, newHandler(t, f), http.MethodGet, "/v1/links")
	if strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("no links: %q", rec.Body)
	}
}

func TestQuorum(t *testing.T) {
	f := apitest.New()
	var got node.QuorumStatus
	decode(t, do(t, newHandler(t, f), http.MethodGet, "/v1/quorum"), http.StatusOK, &got)
	if got != f.Quorum || !strings.Contains(got.Explanation, "3 of 3 votes") {
		t.Fatalf("quorum %+v", got)
	}
}

func emitViews(f *apitest.Node) {
	p := true
	f.Emit(node.Event{Kind: "view_changed", View: "1/n1", Members: []string{"n1"}, Primary: new(bool)})
	f.Emit(node.Event{Kind: "peer_reachable", Peer: "n2"})
	f.Emit(node.Event{Kind: "view_changed", View: "2/n1", Members: []string{"n1", "n2"}, Primary: &p})
	f.Emit(node.Event{Kind: "node_paused", Target: "n2"})
}

func TestViewsAndEvents(t *testing.T) {
	f := apitest.New()
	emitViews(f)
	h := newHandler(t, f)
	var views []node.Event
	decode(t, do(t, h, http.MethodGet, "/v1/views"), http.StatusOK, &views)
	if len(views) != 2 || views[0].Seq != 1 || views[1].Seq != 3 || views[1].View != "2/n1" || !*views[1].Primary {
		t.Fatalf("views %+v", views)
	}
	decode(t, do(t, h, http.MethodGet, "/v1/views?limit=1"), http.StatusOK, &views)
	if len(views) != 1 || views[0].Seq != 3 {
		t.Fatalf("views?limit=1 %+v", views)
	}
	var evs []node.Event
	decode(t, do(t, h, http.MethodGet, "/v1/events"), http.StatusOK, &evs)
	if len(evs) != 4 {
		t.Fatalf("events %+v", evs)
	}
	decode(t, do(t, h, http.MethodGet, "/v1/events?since=2&limit=1"), http.StatusOK, &evs)
	if len(evs) != 1 || evs[0].Seq != 3 {
		t.Fatalf("events?since=2&limit=1 %+v", evs)
	}
	rec := do(t, h, http.MethodGet, "/v1/events?since=99")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("events past the end: %d %q", rec.Code, rec.Body)
	}
	wantError(t, do(t, h, http.MethodGet, "/v1/events?since=x"), http.StatusBadRequest, "not a number")
	wantError(t, do(t, h, http.MethodGet, "/v1/events?limit=-1"), http.StatusBadRequest, "not a count")
	wantError(t, do(t, h, http.MethodGet, "/v1/events?sinse=1"), http.StatusBadRequest, "unknown query parameter")
	wantError(t, do(t, h, http.MethodGet, "/v1/events?follow=maybe"), http.StatusBadRequest, "follow=1")
	wantError(t, do(t, h, http.MethodGet, "/v1/views?since=-1"), http.StatusBadRequest, "not a number")
}

// sseEvent reads one event from an SSE stream, skipping comments.
func sseEvent(t *testing.T, r *bufio.Reader) node.Event {
	t.Helper()
	var id, kind string
	var e node.Event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &e); err != nil {
				t.Fatal(err)
			}
		case line == "" && id != "":
			if kind != e.Kind || id != jsonNum(e.Seq) {
				t.Fatalf("id %s event %s for %+v", id, kind, e)
			}
			return e
		}
	}
}

func jsonNum(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func TestEventStream(t *testing.T) {
	f := apitest.New()
	emitViews(f)
	h := New(f)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); srv.Close() })

	for _, tc := range []struct {
		query  string
		accept string
	}{
		{"&follow=1", ""},
		{"", "text/event-stream"},
	} {
		all, _ := f.Events(0, 0)
		since := uint64(len(all)) - 2
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/events?since="+jsonNum(since)+tc.query, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
		r := bufio.NewReader(resp.Body)
		// Replay since 2, then live events in order.
		if e := sseEvent(t, r); e.Seq != since+1 {
			t.Fatalf("first replayed %+v", e)
		}
		if e := sseEvent(t, r); e.Seq != since+2 {
			t.Fatalf("second replayed %+v", e)
		}
		live := f.Emit(node.Event{Kind: "node_resumed", Target: "n2"})
		if e := sseEvent(t, r); e.Seq != live.Seq || e.Target != "n2" {
			t.Fatalf("live %+v, want seq %d", e, live.Seq)
		}
		resp.Body.Close()
	}
	// Last-Event-ID resumes a stream.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e := sseEvent(t, bufio.NewReader(resp.Body)); e.Seq != 6 {
		t.Fatalf("after Last-Event-ID 5: %+v", e)
	}
}

// TestEventStreamFillsGaps: events a slow subscription drops are read back
// from the store, so the stream has every seq once, in order.
func TestEventStreamFillsGaps(t *testing.T) {
	f := apitest.New()
	h := New(f)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); srv.Close() })
	resp, err := http.Get(srv.URL + "/v1/events?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.Subscribers() < 2 { // the handler's counter and this stream
		if time.Now().After(deadline) {
			t.Fatal("the stream never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	const n = 1000 // more than the stream's subscription buffer
	for i := 0; i < n; i++ {
		f.Emit(node.Event{Kind: "link_up", Peer: "n2"})
	}
	r := bufio.NewReader(resp.Body)
	for i := 1; i <= n; i++ {
		if e := sseEvent(t, r); e.Seq != uint64(i) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
}

func TestEventStreamEndsOnClose(t *testing.T) {
	f := apitest.New()
	h := New(f)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/events?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h.Close()
	done := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(resp.Body).ReadString(0)
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived Close")
	}
}

func TestFaults(t *testing.T) {
	f := apitest.New()
	h := newHandler(t, f)
	var list []FaultInfo
	decode(t, do(t, h, http.MethodGet, "/v1/debug/faults"), http.StatusOK, &list)
	if len(list) != 0 {
		t.Fatalf("initial faults %+v", list)
	}
	var added FaultAdded
	decode(t, doBody(t, h, http.MethodPost, "/v1/debug/faults", `{"peer":"n2","link":0,"dir":"out","drop":1}`), http.StatusCreated, &added)
	want := FaultInfo{ID: added.ID, Peer: "n2", Link: 0, Dir: "out", Drop: 1, Delay: "0s"}
	if added.ID == 0 || added.Fault != want {
		t.Fatalf("added %+v, want %+v", added, want)
	}
	rules := f.Faults().Faults()
	if len(rules) != 1 || rules[0].Link != 0 || rules[0].Dir != transport.Out || !reflect.DeepEqual(rules[0].Peer, f.Addrs["n2"]) {
		t.Fatalf("rule %+v", rules)
	}
	// Defaults: every link, both ways, every peer.
	decode(t, doBody(t, h, http.MethodPost, "/v1/debug/faults", `{"delay":"100ms","dup":0.5}`), http.StatusCreated, &added)
	if added.Fault.Link != -1 || added.Fault.Dir != "both" || added.Fault.Peer != "" || added.Fault.Delay != "100ms" {
		t.Fatalf("defaults %+v", added.Fault)
	}
	decode(t, do(t, h, http.MethodGet, "/v1/debug/faults"), http.StatusOK, &list)
	if len(list) != 2 || list[0] != want {
		t.Fatalf("list %+v", list)
	}
	// Bad input.
	for _, tc := range []struct{ body, want string }{
		{`{"peer":"n2","drop":1,"los":1}`, "unknown field"},
		{`{"peer":"n2","drop":"all"}`, "bad JSON"},
		{``, "needs a JSON body"},
		{`{"peer":"n9","drop":1}`, `no node named "n9"`},
		{`{"peer":"n1","drop":1}`, "is this node"},
		{`{"peer":"n2","dir":"sideways","drop":1}`, "not a direction"},
		{`{"peer":"n2","delay":"soon"}`, "delay"},
		{`{"peer":"n2","link":7,"drop":1}`, "link"},
		{`{"peer":"n2"}`, "does nothing"},
	} {
		rec := doBody(t, h, http.MethodPost, "/v1/debug/faults", tc.body)
		wantError(t, rec, http.StatusBadRequest, tc.want)
	}
	// Remove one, then clear.
	var rm FaultsRemoved
	decode(t, do(t, h, http.MethodDelete, "/v1/debug/faults/"+jsonNum(want.ID)), http.StatusOK, &rm)
	if rm.Removed != 1 {
		t.Fatalf("removed %+v", rm)
	}
	wantError(t, do(t, h, http.MethodDelete, "/v1/debug/faults/"+jsonNum(want.ID)), http.StatusNotFound, "no fault")
	wantError(t, do(t, h, http.MethodDelete, "/v1/debug/faults/x"), http.StatusBadRequest, "not a number")
	decode(t, do(t, h, http.MethodDelete, "/v1/debug/faults"), http.StatusOK, &rm)
	if rm.Removed != 1 || len(f.Faults().Faults()) != 0 {
		t.Fatalf("clear %+v, left %+v", rm, f.Faults().Faults())
	}
}

func TestFaultsDisabled(t *testing.T) {
	f := apitest.New()
	f.FaultsOn = false
	h := newHandler(t, f)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/debug/faults", ""},
		{http.MethodPost, "/v1/debug/faults", `{"peer":"n2","drop":1}`},
		{http.MethodDelete, "/v1/debug/faults", ""},
		{http.MethodDelete, "/v1/debug/faults/1", ""},
	} {
		wantError(t, doBody(t, h, tc.method, tc.path, tc.body), http.StatusForbidden, "[debug] fault_injection = true")
	}
}

func TestToken(t *testing.T) {
	f := apitest.New()
	h := newHandler(t, f)
	th := h.RequireToken("s3cret-token-0123456789")
	for _, auth := range []string{"", "Bearer wrong", "s3cret-token-0123456789", "Basic s3cret-token-0123456789", "Bearer s3cret-token-012345678"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		th.ServeHTTP(rec, req)
		wantError(t, rec, http.StatusUnauthorized, "Authorization: Bearer")
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
	}
	if n := h.Unauthorized(); n != 5 {
		t.Fatalf("counted %d refusals, want 5", n)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer s3cret-token-0123456789")
	th.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "\ncorral_api_unauthorized_total 5\n") {
		t.Fatalf("metrics with the token: %d\n%s", rec.Code, rec.Body)
	}
	// The Unix socket's handler needs no token.
	if rec := do(t, h, http.MethodGet, "/v1/status"); rec.Code != http.StatusOK {
		t.Fatalf("plain handler: %d", rec.Code)
	}
}

// TestTokenConnections: on a real server with a read timeout, a 401 closes
// its connection (a client without the token keeps no descriptor), and an
// authenticated event stream outlives the read timeout.
func TestTokenConnections(t *testing.T) {
	f := apitest.New()
	h := newHandler(t, f)
	srv := httptest.NewUnstartedServer(h.RequireToken("s3cret-token-0123456789"))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.IdleTimeout = time.Minute
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %s", resp.Status)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the connection of a 401 is still open (read: %v), want it closed", err)
	}

	s, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := io.WriteString(s, "GET /v1/events?follow=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token-0123456789\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = s.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	sr := bufio.NewReader(s)
	resp, err = http.ReadResponse(sr, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stream with the token: %v %v", resp, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("the event stream ended after the server's read timeout (%v), want it open until the client's deadline", err)
	}
}

func TestMetrics(t *testing.T) {
	f := apitest.New()
	f.Metric = node.Metrics{Epoch: 7, Members: 3, Primary: true, Quorate: true,
		Conn:      conn.Stats{Retransmits: 11, Suspicions: 2, PacketsIn: 100},
		Transport: transport.Stats{Links: []transport.LinkStats{{PacketsSent: 5, Dropped: 3}, {PacketsReceived: 9}}},
		Peers:     []conn.PeerStatus{{ID: 2, Reachable: true, Paths: []conn.PathStatus{{Local: 0, Remote: 0, Up: true, RTT: time.Millisecond, Suspicions: 1}}}}}
	f.Metric.Conn.Wire.Auth = 4
	f.Metric.DiskRequests = []node.Count{{Labels: []string{"d1", "write", "local"}, Value: 6}}
	f.Metric.DiskBytes = []node.Count{{Labels: []string{"d1", "read"}, Value: 4096}}
	f.Metric.DiskErrors = []node.Count{{Labels: []string{"d1"}, Value: 1}}
	f.Metric.DiskEpoch = []node.Count{{Labels: []string{"d1"}, Value: 3}}
	f.Metric.DiskServing = []node.Count{{Labels: []string{"d1"}, Value: 1}}
	h := newHandler(t, f)
	f.Emit(node.Event{Kind: "view_changed", View: "7/n1"})
	f.Emit(node.Event{Kind: "link_down", Peer: "n2"})
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec := do(t, h, http.MethodGet, "/metrics")
		if rec.Code != http.StatusOK {
			t.Fatalf("metrics %d", rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Fatalf("Content-Type %q", ct)
		}
		body = rec.Body.String()
		if strings.Contains(body, `corral_events_total{kind="link_down"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		"# HELP corral_view_epoch ", "# TYPE corral_view_epoch gauge\ncorral_view_epoch 7\n",
		"corral_view_members 3\n", "corral_quorate 1\n",
		"# TYPE corral_view_changes_total counter\ncorral_view_changes_total 1\n",
		`corral_events_total{kind="link_down"} 1`,
		`corral_transport_packets_total{link="0",result="sent"} 5`,
		`corral_transport_packets_total{link="0",result="fault_dropped"} 3`,
		`corral_transport_packets_total{link="1",result="received"} 9`,
		`corral_wire_packets_total{result="auth_failed"} 4`,
		`corral_conn_packets_total{result="in"} 100`,
		"corral_detector_suspicions_total 2\n",
		"corral_circuit_retransmits_total 11\n",
		`corral_path_up{peer="n2",link="0",remote_link="0"} 1`,
		`corral_path_rtt_seconds{peer="n2",link="0",remote_link="0"} 0.001`,
		`corral_path_suspicions_total{peer="n2",link="0",remote_link="0"} 1`,
		"corral_api_unauthorized_total 0\n",
		`corral_disk_requests_total{disk="d1",op="write",path="local"} 6`,
		`corral_disk_bytes_total{disk="d1",dir="read"} 4096`,
		`corral_disk_errors_total{disk="d1"} 1`,
		`corral_disk_epoch{disk="d1"} 3`,
		`corral_disk_serving{disk="d1"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every sample's family has HELP and TYPE lines before it.
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			seen[strings.Fields(line)[2]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name := strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]
		if !seen[name] || !strings.HasPrefix(name, "corral_") {
			t.Errorf("sample %q without a TYPE line or corral_ prefix", line)
		}
	}
}

// TestServer runs the handler behind a real HTTP server, as the agent does.
func TestServer(t *testing.T) {
	h := New(apitest.New())
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	resp, err := http.Get(srv.URL + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st node.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Node != "n1" || len(st.Nodes) != 3 {
		t.Fatalf("status over HTTP: %+v, %v", st, err)
	}
}
