package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/node"
)

// verifyFake is the API's fake node with the whole-configuration check
// (node.VerifyConfig without agents: parse, references, cycles, owners).
type verifyFake struct{ *apitest.Node }

func (f *verifyFake) Verify(docs map[string][]byte, only []string) (problems, warnings []string) {
	for _, k := range only { // a staged step: the value alone
		if strings.Contains(string(docs[k]), "nosuchagent") {
			problems = append(problems, k+`: no resource agent "nosuchagent"`)
		}
	}
	if only != nil {
		return problems, nil
	}
	for _, e := range node.VerifyConfig(docs, []string{"n1", "n2"}, nil) {
		problems = append(problems, e.Error())
	}
	return problems, nil
}

// TestStagedSession: configure copies the configuration; resource, group
// and set change the stage only; diff and verify see it; commit refuses
// a stage whose keys moved live, commit --force rebases and applies it in
// one transaction; abort drops it.
func TestStagedSession(t *testing.T) {
	f := &verifyFake{apitest.New()}
	sock := serveNode(t, f)
	ctx := context.Background()
	var out bytes.Buffer
	sh := &Shell{Client: NewClient(sock), Stdout: &out, session: true}
	live := &Shell{Client: NewClient(sock), Stdout: &bytes.Buffer{}}
	exec := func(s *Shell, line string) error {
		t.Helper()
		out.Reset()
		return s.Exec(ctx, line)
	}
	must := func(s *Shell, line string) string {
		t.Helper()
		if err := exec(s, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return out.String()
	}
	must(live, "group add web --prefer n1")
	must(live, "resource add ip dummy --group web")
	if err := exec(sh, "commit"); err == nil || !strings.Contains(err.Error(), "no staged session") {
		t.Fatalf("commit without a stage: %v", err)
	}
	must(sh, "configure")
	if err := exec(sh, "configure"); err == nil || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("configure twice: %v", err)
	}
	if err := exec(sh, "resource add bad nosuchagent --group web"); err == nil || !strings.Contains(err.Error(), `no resource agent "nosuchagent"`) {
		t.Fatalf("a staged step with an unknown agent: %v", err)
	}
	must(sh, "resource add app dummy --group web")
	must(sh, "group add db --after web")
	must(sh, "set maintenance true")
	must(sh, "resource del ip")
	for _, k := range []string{"/resources/app", "/groups/db", "/settings/maintenance"} {
		if _, ok, _, _ := f.CDBGet(k); ok {
			t.Fatalf("%s written live while staged", k)
		}
	}
	if _, ok, _, _ := f.CDBGet("/resources/ip"); !ok {
		t.Fatalf("/resources/ip deleted live while staged")
	}
	var d struct {
		Changes []struct {
			Key, Op string
			Moved   bool
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(must(sh, "diff --json")), &d); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, c := range d.Changes {
		got = append(got, c.Op+" "+c.Key)
	}
	if want := "add /groups/db,change /groups/web,add /resources/app,delete /resources/ip,add /settings/maintenance"; strings.Join(got, ",") != want {
		t.Fatalf("diff: %v, want %s", got, want)
	}
	if s := must(sh, "diff"); !strings.Contains(s, "+ /resources/app") || !strings.Contains(s, "- /resources/ip") || !strings.Contains(s, "~ /groups/web") {
		t.Fatalf("diff:\n%s", s)
	}
	if s := must(sh, "verify"); !strings.Contains(s, "valid") {
		t.Fatalf("verify: %s", s)
	}
	// a cycle and an unknown owner: verify and commit refuse
	must(sh, "group add web --after db --possible n1,n7")
	err := exec(sh, "verify")
	if err == nil || !strings.Contains(out.String(), "dependency cycle") || !strings.Contains(out.String(), "n7 not a configured node") {
		t.Fatalf("verify of a cycle: %v\n%s", err, out.String())
	}
	if err := exec(sh, "commit"); err == nil || !strings.Contains(err.Error(), "dependency cycle") {
		t.Fatalf("commit of a cycle: %v", err)
	}
	must(sh, "group add web --after '' --possible ''")
	// a staged key moves live: commit refuses, nothing is written
	must(live, "group add web --prefer n2")
	err = exec(sh, "commit")
	if !errors.Is(err, errMoved) {
		t.Fatalf("commit after a live change: %v, want errMoved", err)
	}
	if _, ok, _, _ := f.CDBGet("/resources/app"); ok || sh.stage == nil {
		t.Fatalf("a refused commit wrote /resources/app or closed the stage")
	}
	if s := must(sh, "diff"); !strings.Contains(s, "moved live since configure") {
		t.Fatalf("diff does not mark the moved key:\n%s", s)
	}
	revBefore := len(f.Changes)
	var c struct {
		Changes int  `json:"changes"`
		Rebased bool `json:"rebased"`
	}
	if err := json.Unmarshal([]byte(must(sh, "commit --force --json")), &c); err != nil || !c.Rebased || c.Changes != 5 {
		t.Fatalf("commit --force: %+v %v", c, err)
	}
	if n := len(f.Changes) - revBefore; n != 1 {
		t.Fatalf("commit made %d config DB transactions, want 1", n)
	}
	web, _, _, _ := f.CDBGet("/groups/web")
	var g map[string]any
	if json.Unmarshal(web.Value, &g) != nil || strings.Join(stringList(g["preferred"]), ",") != "n2" ||
		strings.Join(stringList(g["resources"]), ",") != "app" {
		t.Fatalf("/groups/web after the rebase = %s: want the live preference n2 and the staged resources [app]", web.Value)
	}
	for _, k := range []string{"/resources/app", "/groups/db", "/settings/maintenance"} {
		if _, ok, _, _ := f.CDBGet(k); !ok {
			t.Fatalf("%s not committed", k)
		}
	}
	if _, ok, _, _ := f.CDBGet("/resources/ip"); ok || sh.stage != nil {
		t.Fatalf("/resources/ip still there, or the stage still open")
	}
	// abort drops everything
	must(sh, "configure")
	must(sh, "group del db")
	if s := must(sh, "abort"); !strings.Contains(s, "1 change(s) not applied") {
		t.Fatalf("abort: %q", s)
	}
	if _, ok, _, _ := f.CDBGet("/groups/db"); !ok {
		t.Fatalf("abort deleted /groups/db")
	}
	// configure needs a session; a script must not end with a stage open
	if code, _, errs := runMain(t, "--socket", sock, "-c", "configure"); code != 2 || !strings.Contains(errs, "needs a session") {
		t.Fatalf("configure with -c: %d %q", code, errs)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-f", writeScript(t, "configure\nset x 1\n")); code != 1 || !strings.Contains(errs, "staged session open") {
		t.Fatalf("script ending with a stage open: %d %q", code, errs)
	}
	if _, ok, _, _ := f.CDBGet("/settings/x"); ok {
		t.Fatalf("an uncommitted script stage was written")
	}
}
