package lua

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

var updateRef = flag.Bool("update", false, "rewrite the generated part of shell/help/lua.md (go generate ./shell/help/)")

// luaRef is the Lua reference shipped in the binary (corral help lua).
const luaRef = "../shell/help/lua.md"

// Markers around the generated part (shell/help's, the same words).
const (
	refBegin = "<!-- BEGIN GENERATED: go generate ./shell/help/ rewrites this part; do not edit it -->"
	refEnd   = "<!-- END GENERATED -->"
)

// moduleFunctions lists every function a script can reach through
// require: "corral.log", ..., and the lock handle's methods as
// "lk:convert", from the modules' own loaders.
func moduleFunctions(t *testing.T) []string {
	t.Helper()
	h, err := New(Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	v := h.newVM()
	defer v.L.Close()
	var out []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range modules {
			if !yield(k) {
				return
			}
		}
	}) {
		L := v.L
		L.Push(L.NewFunction(modules[name].loader(v)))
		L.Call(0, 1)
		tbl := L.Get(-1).(*glua.LTable)
		L.Pop(1)
		tbl.ForEach(func(k, e glua.LValue) {
			if _, ok := e.(*glua.LFunction); ok {
				out = append(out, name+"."+k.String())
			}
		})
	}
	if mt, ok := v.L.GetTypeMetatable(lockTypeName).(*glua.LTable); ok {
		if idx, ok := mt.RawGetString("__index").(*glua.LTable); ok {
			idx.ForEach(func(k, _ glua.LValue) { out = append(out, "lk:"+k.String()) })
		}
	}
	slices.Sort(out)
	return out
}

// TestLuaReference checks the Lua reference against the code: every
// function of every module (and of a lock handle) and every contract
// function of every script kind is documented, and the list of shipped
// scripts is what their meta() says (-update rewrites that part).
func TestLuaReference(t *testing.T) {
	b, err := os.ReadFile(luaRef)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	fns := moduleFunctions(t)
	if len(fns) < 30 {
		t.Fatalf("found only %d module functions: %v", len(fns), fns)
	}
	for _, f := range fns {
		if !strings.Contains(doc, "`"+f) {
			t.Errorf("%s is not in the Lua reference (%s): document it (`%s(...)`)", f, luaRef, f)
		}
	}
	for _, k := range Kinds {
		if !strings.Contains(doc, "## "+string(k)) {
			t.Errorf("the Lua reference has no section for the script kind %q", k)
		}
		for _, fn := range contracts[k] {
			if !strings.Contains(doc, "`"+fn+"(") {
				t.Errorf("the %s contract's %s is not in the Lua reference: document it (`%s(...)`)", k, fn, fn)
			}
		}
	}
	want, err := shippedReference()
	if err != nil {
		t.Fatal(err)
	}
	i, j := strings.Index(doc, refBegin), strings.Index(doc, refEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: no generated part between %q and %q", luaRef, refBegin, refEnd)
	}
	have := doc[i+len(refBegin)+1 : j]
	if have == want {
		return
	}
	if *updateRef {
		if err := os.WriteFile(luaRef, []byte(doc[:i+len(refBegin)+1]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the shipped scripts' list is out of date with their meta(): run go generate ./shell/help/", luaRef)
}

// shippedReference renders every shipped script's meta(), by kind.
func shippedReference() (string, error) {
	h, err := New(Config{Seed: 1})
	if err != nil {
		return "", err
	}
	defer h.Close()
	var b strings.Builder
	for _, k := range Kinds {
		for _, m := range h.Scripts(k) {
			fmt.Fprintf(&b, "#### %s/%s\n\n%s\n\n", k, m.Name, oneLine(m.Description))
			if len(m.Events) > 0 {
				fmt.Fprintf(&b, "Events: %s.\n\n", strings.Join(m.Events, ", "))
			}
			if m.ExtraParameters {
				b.WriteString("Takes parameters it does not declare and passes them on.\n\n")
			}
			for _, p := range m.Parameters {
				fmt.Fprintf(&b, "- `%s` (%s", p.Name, p.Type)
				switch {
				case p.Required:
					b.WriteString(", required")
				case p.hasDefault:
					fmt.Fprintf(&b, ", default `%s`", p.Default)
				}
				fmt.Fprintf(&b, "): %s\n", oneLine(p.Description))
			}
			if len(m.Parameters) > 0 {
				b.WriteString("\n")
			}
		}
	}
	return b.String(), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
