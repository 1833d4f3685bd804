package crm

import (
	"strings"
	"testing"
)

// TestCheck: a whole configuration's cross references, cycles and owners.
func TestCheck(t *testing.T) {
	res := map[string]Resource{"ip": {Name: "ip", Group: "web"}, "app": {Name: "app", Group: "gone"}}
	groups := map[string]Group{
		"web": {Name: "web", Resources: []string{"ip", "nope"}, After: []string{"db"}, Preferred: []string{"n1", "n9"}},
		"db":  {Name: "db", After: []string{"web"}},
		"x":   {Name: "x", After: []string{"y"}, Possible: []string{"n2"}},
	}
	var got []string
	for _, e := range Check(res, groups, []string{"n1", "n2"}) {
		got = append(got, e.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"/resources/app: group gone does not exist",
		"/groups/web: resources: nope does not exist",
		"/groups/web: after: dependency cycle",
		"/groups/db: after: dependency cycle",
		"/groups/x: after: group y does not exist",
		"/groups/web: preferred: n9 not a configured node",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	if len(got) != 6 {
		t.Errorf("%d problems, want 6:\n%s", len(got), all)
	}
	if errs := Check(map[string]Resource{"ip": {Name: "ip", Group: "web"}}, map[string]Group{"web": {Name: "web", Resources: []string{"ip"}, Possible: []string{"n1"}}}, []string{"n1"}); errs != nil {
		t.Errorf("a sound configuration: %v", errs)
	}
}
