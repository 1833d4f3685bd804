package shell

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/cdb"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCDBCommands(t *testing.T) {
	f := apitest.New()
	sock := serve(t, f)
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /resources/web/ip 10.0.0.5"); code != 0 || !strings.Contains(out, "set /resources/web/ip at revision 1") {
		t.Fatalf("set: %d %q %q", code, out, errs)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb get /resources/web/ip"); code != 0 || !strings.Contains(out, "/resources/web/ip = 10.0.0.5  (revision 1)") {
		t.Fatalf("get: %d %q %q", code, out, errs)
	}
	code, out, errs := runMain(t, "--socket", sock, "-c", "cdb get /resources/web/ip --json")
	var g api.CDBGetResult
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil || g.Value != "10.0.0.5" || g.Revision != 1 {
		t.Fatalf("get --json: %d %q %q", code, out, errs)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /resources/web/ip 10.0.0.6 --if-revision 5"); code != 1 || !strings.Contains(errs, "revision mismatch") {
		t.Fatalf("CAS: %d %q %q", code, out, errs)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /resources/web/ip 10.0.0.6 --if-revision 1"); code != 0 {
		t.Fatalf("CAS ok: %d %q %q", code, out, errs)
	}
	code, out, errs = runMain(t, "--socket", sock, "-c", "cdb list /resources")
	if code != 0 || !strings.Contains(out, "/resources/web/ip") || !strings.Contains(out, "10.0.0.6") {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	code, out, _ = runMain(t, "--socket", sock, "--json", "-c", "cdb list")
	var l api.CDBListResult
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Keys) != 1 {
		t.Fatalf("list --json: %d %q", code, out)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb del /resources/web/ip"); code != 0 || !strings.Contains(out, "deleted /resources/web/ip") {
		t.Fatalf("del: %d %q %q", code, out, errs)
	}
	code, out, errs = runMain(t, "--socket", sock, "-c", "cdb history")
	if code != 0 || !strings.Contains(out, "set /resources/web/ip=10.0.0.5") || !strings.Contains(out, "del /resources/web/ip") || !strings.Contains(out, "condition failed") {
		t.Fatalf("history: %d %q %q", code, out, errs)
	}
	code, out, _ = runMain(t, "--socket", sock, "-c", "cdb history --limit 1 --json")
	var hs []api.CDBChange
	if code != 0 || json.Unmarshal([]byte(out), &hs) != nil || len(hs) != 1 {
		t.Fatalf("history --json: %d %q", code, out)
	}
	code, out, _ = runMain(t, "--socket", sock, "-c", "cdb del /x --json")
	var w api.CDBWriteResult
	if code != 0 || json.Unmarshal([]byte(out), &w) != nil || w.Op != "delete" {
		t.Fatalf("del --json: %d %q", code, out)
	}
}

func TestCDBNoQuorum(t *testing.T) {
	f := apitest.New()
	f.Stale = true
	f.WriteErr = cdb.ErrNoQuorum{Votes: 1, Expected: 3}
	f.KV = map[string]cdb.KV{"/a": {Key: "/a", Value: []byte("1"), CreateRev: 1, ModRev: 1}}
	sock := serve(t, f)
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb set /a 2"); code != 1 || !strings.Contains(errs, "no quorum: 1 of 3 votes") {
		t.Fatalf("set: %d %q %q", code, out, errs)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "cdb get /a"); code != 0 || !strings.Contains(out, "stale") {
		t.Fatalf("get: %d %q %q", code, out, errs)
	}
}
