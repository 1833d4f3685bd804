package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/node"
)

// watchEvent reads one event of a cdb-watch stream, skipping comments; it
// returns the event's kind and its data.
func watchEvent(t *testing.T, r *bufio.Reader) (kind, id string, data []byte) {
	t.Helper()
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
			data = []byte(line[6:])
		case line == "" && kind != "":
			return kind, id, data
		}
	}
}

func openWatch(t *testing.T, srv *httptest.Server, query string) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/cdb-watch"+query, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

func TestCDBWatch(t *testing.T) {
	f := apitest.New()
	h := New(f)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); srv.Close() })
	set := func(key, value string) {
		t.Helper()
		if _, err := f.CDBTxn(t.Context(), nil, []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: []byte(value)}}); err != nil {
			t.Fatal(err)
		}
	}
	set("/a/1", "one")   // 1
	set("/b/1", "other") // 2
	set("/a/2", "two")   // 3

	// replay from revision 2, then the live changes, in order, only under /a/
	resp, r := openWatch(t, srv, "?prefix=/a/&start=2")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("status %d Content-Type %q", resp.StatusCode, ct)
	}
	next := func() (string, CDBWatchEvent) {
		t.Helper()
		kind, id, data := watchEvent(t, r)
		var ev CDBWatchEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if id != fmt.Sprint(ev.Revision) {
			t.Fatalf("id %s for %+v", id, ev)
		}
		return kind, ev
	}
	if k, ev := next(); k != "set" || ev != (CDBWatchEvent{Key: "/a/2", Value: "two", Revision: 3}) {
		t.Fatalf("replayed %s %+v", k, ev)
	}
	set("/b/2", "x")                                                                                   // 4
	if _, err := f.CDBTxn(t.Context(), nil, []cdb.Op{{Kind: cdb.OpDelete, Key: "/a/1"}}); err != nil { // 5
		t.Fatal(err)
	}
	set("/a/3", "three") // 6
	if k, ev := next(); k != "delete" || ev != (CDBWatchEvent{Key: "/a/1", Revision: 5, Deleted: true}) {
		t.Fatalf("live delete %s %+v", k, ev)
	}
	if k, ev := next(); k != "set" || ev.Revision != 6 || ev.Value != "three" {
		t.Fatalf("live set %s %+v", k, ev)
	}

	// a dropped watch ends the stream with an error event that says why
	f.DropWatches(fmt.Errorf("%w: watch again from revision 7", node.ErrWatchBehind))
	if k, _, data := watchEvent(t, r); k != "error" || !strings.Contains(string(data), "fell behind") || !strings.Contains(string(data), "hint") {
		t.Fatalf("after drop: %s %s", k, data)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("the stream goes on after the error event")
	}

	// Last-Event-ID resumes after that revision
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/cdb-watch?prefix=/a/", nil)
	req.Header.Set("Last-Event-ID", "3")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	r = bufio.NewReader(resp2.Body)
	if _, ev := next(); ev.Revision != 5 {
		t.Fatalf("after Last-Event-ID 3: %+v", ev)
	}

	// the stream ends when the client goes; the watch is removed
	resp2.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.Watches() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d watches left after the clients went", f.Watches())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// a compacted start is refused with 410 and what to do instead
	f.Compacted = 4
	h2 := newHandler(t, f)
	wantError(t, do(t, h2, http.MethodGet, "/v1/cdb-watch?prefix=/a/&start=2"), http.StatusGone, "revision 2 is compacted")
	wantError(t, do(t, h2, http.MethodGet, "/v1/cdb-watch?prefix=/a/&start=x"), http.StatusBadRequest, "not a revision")
	wantError(t, do(t, h2, http.MethodGet, "/v1/cdb-watch?prefx=/a/"), http.StatusBadRequest, "unknown query parameter")
}
