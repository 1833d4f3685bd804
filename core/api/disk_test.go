package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/node"
)

// diskFake adds a resource manager and a disk core's status to the API's
// fake node.
type diskFake struct {
	*crmFake
	status []node.DiskInfo
	groups []node.GroupStatus
}

func (f *diskFake) DiskStatus() ([]node.DiskInfo, error)      { return f.status, nil }
func (f *diskFake) Groups() ([]node.GroupStatus, error)       { return f.groups, nil }
func (f *diskFake) Resources() ([]node.ResourceStatus, error) { return nil, nil }

var _ DiskNode = (*diskFake)(nil)

func kvDoc(t *testing.T, n *apitest.Node, key string) map[string]any {
	t.Helper()
	kv, ok := n.KV[key]
	if !ok {
		t.Fatalf("%s absent; have %v", key, n.KV)
	}
	m := map[string]any{}
	if err := json.Unmarshal(kv.Value, &m); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return m
}

// TestDiskAddDel (issue 19, design decision 1): POST /v1/disks writes the
// disk's resource and its own group in ONE transaction, or joins an
// existing group at its head; it refuses what cannot work with what to
// do; DELETE removes the resource and the group it was alone in.
func TestDiskAddDel(t *testing.T) {
	f := &diskFake{crmFake: &crmFake{Node: apitest.New(), target: map[string]string{}}}
	h := New(f)
	t.Cleanup(h.Close)
	var res DiskResult
	decode(t, doBody(t, h, http.MethodPost, "/v1/disks",
		`{"name": "drd1", "backing": "/srv/drd1.img", "size": "256MiB", "servers": ["n1", "n2"]}`), http.StatusCreated, &res)
	if res.Disk != "drd1" || res.Group != "drd1" || res.GroupOp != "created" || res.Size != 256<<20 {
		t.Fatalf("add: %+v", res)
	}
	if n := len(f.Changes); n != 1 || len(f.Changes[0].Ops) != 2 {
		t.Fatalf("add made %d changes, want one transaction of two ops: %+v", n, f.Changes)
	}
	r := kvDoc(t, f.Node, "/resources/drd1")
	params, _ := r["params"].(map[string]any)
	if r["agent"] != "disk" || r["group"] != "drd1" || params["size"] != "268435456" || params["backing"] != "/srv/drd1.img" {
		t.Fatalf("/resources/drd1 = %v", r)
	}
	if err := node.ValidateResource("drd1", f.Node.KV["/resources/drd1"].Value, nil); err != nil {
		t.Fatalf("the written resource does not validate: %v", err)
	}
	g := kvDoc(t, f.Node, "/groups/drd1")
	if !slices.Equal(stringList(g["resources"]), []string{"drd1"}) || !slices.Equal(stringList(g["possible"]), []string{"n1", "n2"}) {
		t.Fatalf("/groups/drd1 = %v", g)
	}

	for _, c := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"exists", `{"name": "drd1", "backing": "/srv/x.img", "size": "1MiB", "servers": ["n1"]}`, http.StatusConflict, "the disk drd1 exists"},
		{"sectors", `{"name": "d2", "backing": "/srv/x.img", "size": 1048577, "servers": ["n1"]}`, http.StatusBadRequest, "multiple of 512"},
		{"small", `{"name": "d2", "backing": "/srv/x.img", "size": "64KiB", "servers": ["n1"]}`, http.StatusBadRequest, "at least 1048576"},
		{"decimal units", `{"name": "d2", "backing": "/srv/x.img", "size": "256MB", "servers": ["n1"]}`, http.StatusBadRequest, "units are binary"},
		{"relative", `{"name": "d2", "backing": "x.img", "size": "1MiB", "servers": ["n1"]}`, http.StatusBadRequest, "absolute path"},
		{"no servers", `{"name": "d2", "backing": "/srv/x.img", "size": "1MiB"}`, http.StatusBadRequest, "no servers"},
		{"unknown server", `{"name": "d2", "backing": "/srv/x.img", "size": "1MiB", "servers": ["n1", "n9"]}`, http.StatusBadRequest, `server "n9" is not a configured node`},
		{"twice", `{"name": "d2", "backing": "/srv/x.img", "size": "1MiB", "servers": ["n1", "n1"]}`, http.StatusBadRequest, "listed twice"},
		{"bad name", `{"name": "d 2", "backing": "/srv/x.img", "size": "1MiB", "servers": ["n1"]}`, http.StatusBadRequest, "bad resource name"},
		{"no name", `{"backing": "/srv/x.img", "size": "1MiB", "servers": ["n1"]}`, http.StatusBadRequest, "needs a name"},
	} {
		rec := doBody(t, h, http.MethodPost, "/v1/disks", c.body)
		if rec.Code != c.code {
			t.Errorf("%s: status %d, want %d: %s", c.name, rec.Code, c.code, rec.Body)
			continue
		}
		if e := decodeError(t, rec); !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: %q, want %q", c.name, e.Error, c.want)
		}
	}
	if n := len(f.Changes); n != 1 {
		t.Fatalf("refused adds wrote: %+v", f.Changes[1:])
	}

	// a group of that name exists: refused unless the disk is to join it
	f.Node.KV["/groups/web"] = cdb.KV{Key: "/groups/web", Value: []byte(`{"resources": ["ip"], "possible": ["n2", "n3"]}`), ModRev: 1}
	rec := doBody(t, h, http.MethodPost, "/v1/disks", `{"name": "web", "backing": "/srv/web.img", "size": "1MiB", "servers": ["n1"]}`)
	if e := decodeError(t, rec); rec.Code != http.StatusConflict || !strings.Contains(e.Error, "a group web exists") || !strings.Contains(e.Hint, "--group web") {
		t.Fatalf("name of an existing group: %d %+v", rec.Code, e)
	}
	rec = doBody(t, h, http.MethodPost, "/v1/disks", `{"name": "d2", "backing": "/srv/d2.img", "size": "1MiB", "servers": ["n1"], "group": "web"}`)
	if e := decodeError(t, rec); rec.Code != http.StatusBadRequest || !strings.Contains(e.Hint, "leave out --servers") {
		t.Fatalf("servers with an existing group: %d %+v", rec.Code, e)
	}
	decode(t, doBody(t, h, http.MethodPost, "/v1/disks", `{"name": "d2", "backing": "/srv/d2.img", "size": 1048576, "group": "web"}`), http.StatusCreated, &res)
	if res.GroupOp != "joined" || res.Group != "web" {
		t.Fatalf("join: %+v", res)
	}
	if g := kvDoc(t, f.Node, "/groups/web"); !slices.Equal(stringList(g["resources"]), []string{"d2", "ip"}) || !slices.Equal(stringList(g["possible"]), []string{"n2", "n3"}) {
		t.Fatalf("/groups/web after the join = %v", g)
	}

	// the list: config from the DB, server and counters from the disk core
	f.status = []node.DiskInfo{{Name: "drd1", Size: 256 << 20, Server: "n2", Epoch: 3, State: "serving", Clients: []string{"n1", "n3"}, Reads: 5, Writes: 7}}
	f.groups = []node.GroupStatus{{Name: "web", State: "failed", Reason: "start failed on n2",
		Resources: []node.ResourceStatus{{Name: "d2", Error: "the backing store is locked by another server"}}}}
	var ds []DiskStatus
	decode(t, do(t, h, http.MethodGet, "/v1/disks"), http.StatusOK, &ds)
	if len(ds) != 2 || ds[0].Name != "d2" || ds[1].Name != "drd1" {
		t.Fatalf("disks: %+v", ds)
	}
	if d := ds[1]; d.Server == nil || *d.Server != "n2" || d.Epoch != 3 || d.State != "serving" || !slices.Equal(d.Clients, []string{"n1", "n3"}) ||
		d.Size != 256<<20 || d.Backing != "/srv/drd1.img" || d.Group != "drd1" || d.Reads != 5 || d.Writes != 7 {
		t.Fatalf("drd1: %+v", d)
	}
	if d := ds[0]; d.Server != nil || d.State != "failed" || !strings.Contains(d.Reason, "locked by another server") || d.Clients == nil {
		t.Fatalf("d2 (its group failed): %+v", d)
	}
	raw := do(t, h, http.MethodGet, "/v1/disks").Body.String()
	if !strings.Contains(raw, `"server": null`) {
		t.Fatalf("an unserved disk's server is not null: %s", raw)
	}
	var one DiskStatus
	decode(t, do(t, h, http.MethodGet, "/v1/disks/drd1"), http.StatusOK, &one)
	if one.Name != "drd1" {
		t.Fatalf("GET /v1/disks/drd1: %+v", one)
	}

	// delete: the own group goes with the disk; a shared group stays
	decode(t, do(t, h, http.MethodDelete, "/v1/disks/drd1"), http.StatusOK, &res)
	if res.GroupOp != "deleted" {
		t.Fatalf("del drd1: %+v", res)
	}
	if _, ok := f.Node.KV["/resources/drd1"]; ok {
		t.Fatal("/resources/drd1 still there")
	}
	if _, ok := f.Node.KV["/groups/drd1"]; ok {
		t.Fatal("/groups/drd1 still there")
	}
	decode(t, do(t, h, http.MethodDelete, "/v1/disks/d2"), http.StatusOK, &res)
	if res.GroupOp != "kept" {
		t.Fatalf("del d2: %+v", res)
	}
	if g := kvDoc(t, f.Node, "/groups/web"); !slices.Equal(stringList(g["resources"]), []string{"ip"}) {
		t.Fatalf("/groups/web after del d2 = %v", g)
	}
	if rec := do(t, h, http.MethodDelete, "/v1/disks/drd1"); rec.Code != http.StatusNotFound {
		t.Fatalf("del of a missing disk: %d %s", rec.Code, rec.Body)
	}
	f.Node.KV["/resources/ip"] = cdb.KV{Key: "/resources/ip", Value: []byte(`{"agent": "dummy", "group": "web"}`), ModRev: 9}
	if rec := do(t, h, http.MethodDelete, "/v1/disks/ip"); rec.Code != http.StatusBadRequest || !strings.Contains(decodeError(t, rec).Hint, "resource del ip") {
		t.Fatalf("del of a resource that is not a disk: %d %s", rec.Code, rec.Body)
	}
	// without quorum: 503 with the advice
	f.Node.WriteErr = cdb.ErrNoQuorum{Votes: 1, Expected: 3}
	rec = doBody(t, h, http.MethodPost, "/v1/disks", `{"name": "d3", "backing": "/srv/d3.img", "size": "1MiB", "servers": ["n1"]}`)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(decodeError(t, rec).Hint, "quorate") {
		t.Fatalf("add without quorum: %d %s", rec.Code, rec.Body)
	}
}
