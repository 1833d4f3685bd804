package node

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// wallClockUses are the places in the shipped code that read the wall
// clock or build a time without a monotonic reading, with how many calls
// and why no decision depends on them. Keyed "file func selector".
var wallClockUses = map[string]struct {
	n   int // how many calls
	why string
}{
	"core/node/cdbretry.go cdbTxnOnce UnixNano": {1, "the time a config DB change was made, for `cdb history` (people)"},
	"core/node/fence.go FenceHistory Unix":      {1, "fence history times, for people"},
	"core/node/fence.go FenceHistory UTC":       {1, "fence history times, for people"},
	"core/node/crm.go crmTimeOfDay Date": {1, "the failback window is a time of day the operator sets: wall time is its meaning; " +
		"a step moves when a failback may happen, never what is safe"},
	"core/node/simulate.go Simulate Date": {1, "the failback window's time of day for a what-if, as crmTimeOfDay: wall time is its meaning; " +
		"it changes only what the simulation predicts about a failback"},
	"core/node/events.go append UTC": {1, "the event's time field, for people (order is seq)"},
	"core/node/wirelog.go bootFloor Unix": {1, "the boot id floor after a wiped data directory: a best effort above what peers saw; " +
		"the boot id is the persisted counter + 1 whatever the clock says, and a floor below what peers saw is corrected by ErrNewerSelf"},
	"core/api/cdb.go cdbHistory Unix":          {1, "the time of a config DB change, for people"},
	"core/api/cdb.go cdbHistory UTC":           {1, "the time of a config DB change, for people"},
	"core/witness/arbiter.go Decide UnixMilli": {1, "GrantUntil in arbiter.json, for people: the grant ends by the monotonic clock (until)"},
	"shell/reload.go reloadAll UTC":            {1, "who asked for a reload and when, for people"},
}

// TestNoDecisionOnWallClock looks for the calls that read the wall clock
// or drop the monotonic reading (t.Unix*, and t.UTC, t.Local, t.In and
// t.Round(0), which strip it; time.Unix*, time.Date and time.Parse build a
// time without one): differences of such times move when the wall clock
// is stepped.
//
// TestNoDecisionOnWallClock (issue 21, a clock step): a wall-clock step
// (NTP, an operator's date -s) must not change what a node decides. The
// cores take a monotonic `now` (golangci forbids them the clock), and
// the drivers measure durations with time.Now/time.Since, whose
// differences use the monotonic reading. This test lists every place in
// the shipped code that reads the wall clock or drops the monotonic
// reading and fails on one not in wallClockUses with its reason. (A real
// step cannot be tested here: changing the system clock would disturb
// every other process, and a time namespace offsets only the monotonic
// and boot clocks, not the wall clock.)
func TestNoDecisionOnWallClock(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := map[string]int{}
	var unknown []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || rel == "testsuite" || rel == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(x ast.Node) bool {
				call, ok := x.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				name := sel.Sel.Name
				var wall bool
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" {
					wall = slices.Contains([]string{"Unix", "UnixMilli", "UnixMicro", "Date", "Parse", "ParseInLocation"}, name)
				} else {
					switch name {
					case "UTC", "Local", "Unix", "UnixNano", "UnixMilli", "UnixMicro":
						wall = len(call.Args) == 0
					case "In":
						wall = len(call.Args) == 1
					case "Round":
						lit, ok := call.Args[0].(*ast.BasicLit)
						wall = len(call.Args) == 1 && ok && lit.Value == "0"
					}
				}
				if !wall {
					return true
				}
				key := fmt.Sprintf("%s %s %s", filepath.ToSlash(rel), fn.Name.Name, name)
				if _, ok := wallClockUses[key]; ok {
					seen[key]++
				} else {
					unknown = append(unknown, fmt.Sprintf("%s (%s)", key, fset.Position(call.Pos())))
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range unknown {
		t.Errorf("%s reads the wall clock (or drops the monotonic reading): decide on the monotonic clock "+
			"(the node's now, or differences of time.Now values); if it is only shown to people, add it to wallClockUses with that reason", u)
	}
	for k, u := range wallClockUses {
		if seen[k] != u.n {
			t.Errorf("%s: %d calls, wallClockUses says %d (%s): a new one decides on the wall clock, or the list is out of date", k, seen[k], u.n, u.why)
		}
	}
}
