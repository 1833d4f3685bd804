package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/dns"
	"github.com/corral-ha/corral/core/node"
)

// fuzzNode is the fake node behind FuzzBodies: the CRM and disk fakes,
// a fencer that refuses a node it does not know, a Verifier that runs the
// real validation of the documents it is sent, and a real DNS responder
// (with no zone published) for the query endpoint.
type fuzzNode struct {
	*diskFake
	resp *dns.Responder
}

func (fuzzNode) DNSRecords() (node.DNSDoc, error) { return node.DNSDoc{}, nil }
func (n fuzzNode) DNSQuery(name, qtype string) (dns.Answer, error) {
	return dns.Query(n.resp, name, qtype)
}

func (fuzzNode) FenceStatus() (node.FenceStatus, error)    { return node.FenceStatus{}, nil }
func (fuzzNode) FenceHistory() ([]node.FenceRecord, error) { return nil, nil }
func (fuzzNode) Fence(target, _ string) error {
	if target != "n1" && target != "n2" && target != "n3" {
		return node.ErrNotMember
	}
	return nil
}

func (fuzzNode) Verify(docs map[string][]byte, only []string) (problems, warnings []string) {
	_ = only
	for _, e := range node.VerifyConfig(docs, []string{"n1", "n2", "n3"}, nil) {
		problems = append(problems, e.Error())
	}
	return problems, nil
}

var (
	_ Fencer   = fuzzNode{}
	_ Verifier = fuzzNode{}
	_ DNSNode  = fuzzNode{}
)

// fuzzRoutes are the endpoints FuzzBodies reaches: every one that takes a
// body, and those whose query or path a user types. X is the fuzzer's path
// segment. (Streams that never end by themselves, the event follow and
// cdb-watch, and the lock session's upgrade are left out.)
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/nodes/X/pause"},
	{http.MethodPost, "/v1/nodes/X/resume"},
	{http.MethodPost, "/v1/nodes/X/leave"},
	{http.MethodPost, "/v1/debug/faults"},
	{http.MethodDelete, "/v1/debug/faults"},
	{http.MethodDelete, "/v1/debug/faults/X"},
	{http.MethodPut, "/v1/cdb/X"},
	{http.MethodPost, "/v1/cdb/X"},
	{http.MethodDelete, "/v1/cdb/X"},
	{http.MethodGet, "/v1/cdb/X"},
	{http.MethodGet, "/v1/cdb"},
	{http.MethodPost, "/v1/cdb-txn"},
	{http.MethodGet, "/v1/cdb-history"},
	{http.MethodPost, "/v1/groups/X/move"},
	{http.MethodPost, "/v1/groups/X/start"},
	{http.MethodPost, "/v1/groups/X/stop"},
	{http.MethodPost, "/v1/resources/X/cleanup"},
	{http.MethodPost, "/v1/disks"},
	{http.MethodDelete, "/v1/disks/X"},
	{http.MethodPost, "/v1/fence/X"},
	{http.MethodPost, "/v1/lua/eval"},
	{http.MethodPost, "/v1/lua/reload"},
	{http.MethodPost, "/v1/config/verify"},
	{http.MethodGet, "/v1/events"},
	{http.MethodGet, "/v1/dns/query"},
	{http.MethodGet, "/v1/nodes/X"},
	{http.MethodGet, "/v1/locks"},
	{http.MethodGet, "/v1/groups/X/explain"},
	{http.MethodGet, "/v1/fence/X/explain"},
}

// FuzzBodies sends the admin API a request from the fuzzer: an endpoint,
// a path segment, a query and a body. Whatever it is, the handler answers
// (no panic) with JSON; a refusal is a 4xx whose body is an Error saying
// what is wrong and what to do; the fake node never fails, so nothing is
// a 500.
func FuzzBodies(f *testing.F) {
	seeds := []struct {
		route       int
		seg, q, bod string
	}{
		{0, "n2", "", "{}"},
		{3, "", "", faultExample},
		{3, "", "", `{"link": 9, "peer": "n7", "dir": "sideways", "loss": 2}`},
		{6, "resources/web", "", `{"value": "10.0.0.5", "if_revision": 7}`},
		{6, "groups/web", "", `{"value": {"resources": ["ip"]}}`},
		{11, "", "", `{"if": [{"key": "/a", "revision": 0}], "ops": [{"op": "put", "key": "/a", "value": "x"}]}`},
		{12, "", "n=-1", ""},
		{13, "web", "", `{"node": "n2", "for": "30s"}`},
		{13, "web", "", `{"node": "n2", "for": "-9999999999h"}`},
		{17, "", "", `{"name": "drd1", "backing": "/srv/drd1.img", "size": "256MiB", "servers": ["n1", "n2"]}`},
		{17, "", "", `{"name": "d", "backing": "rel", "size": "1e99TiB", "servers": []}`},
		{19, "n3", "", `{"reason": "disk controller hung"}`},
		{20, "", "", `{"code": "return 1"}`},
		{22, "", "", `{"docs": {"/groups/web": "{\"resources\": []}", "/resources/ip": "{\"agent\": \"IPaddr\"}"}}`},
		{23, "", "since=18446744073709551615&limit=-3", ""},
		{24, "", "name=web.corral.&type=SRV", ""},
		{26, "", "lockspace=%00", ""},
	}
	for _, s := range seeds {
		f.Add(uint8(s.route), s.seg, s.q, []byte(s.bod))
	}
	resp := dns.NewResponder("demo.corral.")
	f.Fuzz(func(t *testing.T, route uint8, seg, query string, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := strings.Replace(rt.path, "X", url.PathEscape(seg), 1)
		if strings.HasPrefix(rt.path, "/v1/cdb/") {
			path = "/v1/cdb/" + strings.TrimLeft(seg, "/") // a key's slashes are its own
		}
		u, err := url.Parse("http://corral" + path)
		if err != nil {
			return
		}
		q, err := url.ParseQuery(query)
		if err != nil || q.Has("follow") {
			return
		}
		u.RawQuery = q.Encode()
		req, err := http.NewRequest(rt.method, u.String(), bytes.NewReader(body))
		if err != nil {
			return
		}
		fn := fuzzNode{&diskFake{crmFake: &crmFake{Node: apitest.New(), target: map[string]string{}}}, resp}
		fn.DLM = apitest.NewLocks(1)
		h := New(fn)
		defer h.Close()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code := rec.Code
		if code >= 500 && code != http.StatusNotImplemented && code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", rt.method, u, body, code, rec.Body)
		}
		if code < 400 {
			if rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s %q: %d with a body that is not JSON: %q", rt.method, u, body, code, rec.Body)
			}
			return
		}
		var e Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Hint == "" {
			t.Fatalf("%s %s %q: %d without an error and a hint: %+v (%v)", rt.method, u, body, code, e, err)
		}
	})
}
