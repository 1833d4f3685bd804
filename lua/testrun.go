package lua

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// testTimeout bounds one Lua test function.
const testTimeout = 2 * time.Minute

// TestFiles lists the *_test.lua files under dirs, sorted.
func TestFiles(dirs ...string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && strings.HasSuffix(p, "_test.lua") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// RunTestFile runs every global function TestX of a Lua file as a subtest
// of t, in name order, each with a t object (t:log, t:fatal, t:error,
// t:eq, t:ok, t:skip, t:tempdir, t:name) and a fresh copy of the file's
// globals. The file may use every module (exec, fs and net included) and
// the global host, which calls h: host.run(agent, action, params) and
// host.fence(driver, action, target, params) return status, message;
// host.choose_owner, host.on_failure and host.handle return the result, or
// nil and the error; host.scripts(kind) lists metas; host.script(kind, name)
// is a script's table; host.eval(code). vars is the global vars (strings the
// Go test passes, such as a port it listens on).
func RunTestFile(t *testing.T, h *Host, file string, vars map[string]string) {
	t.Helper()
	code, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	proto, _, err := compile(file, code)
	if err != nil {
		t.Fatal(err)
	}
	names, err := testNames(h, proto, vars)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(names) == 0 {
		t.Fatalf("%s has no function TestX(t)", file)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			v := h.newVM()
			defer v.L.Close()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			v.L.SetContext(ctx)
			env, err := v.testEnv(proto, h, vars)
			if err != nil {
				t.Fatalf("%s: loading: %s", file, errText(err))
			}
			fn, _ := env.RawGetString(name).(*glua.LFunction)
			lt := &T{t: t}
			err = v.L.CallByParam(glua.P{Fn: fn, NRet: 0, Protect: true}, LVT(v.L, lt))
			switch {
			case lt.skipped != "":
				t.Skip(lt.skipped)
			case lt.fatal:
				t.FailNow()
			case err != nil:
				t.Fatalf("%s", err)
			}
		})
	}
}

// RunTests runs every *_test.lua file under dirs, one subtest each.
func RunTests(t *testing.T, h *Host, vars map[string]string, dirs ...string) {
	t.Helper()
	files, err := TestFiles(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *_test.lua files under %v", dirs)
	}
	for _, f := range files {
		// "resource:dummy_test.lua": the kind folder and the file (a slash
		// would split the name for -run).
		name := filepath.Base(f)
		if dir := filepath.Base(filepath.Dir(f)); dir != "." {
			name = dir + ":" + name
		}
		t.Run(name, func(t *testing.T) { RunTestFile(t, h, f, vars) })
	}
}

// testEnv runs a test file's chunk in its own globals, granted.
func (v *vm) testEnv(proto *glua.FunctionProto, h *Host, vars map[string]string) (*glua.LTable, error) {
	L := v.L
	v.granted = true
	env := v.newEnv(true)
	env.RawSetString("host", v.hostTable(h))
	env.RawSetString("vars", toLua(L, vars))
	fn := L.NewFunctionFromProto(proto)
	fn.Env = env
	if err := L.CallByParam(glua.P{Fn: fn, NRet: 0, Protect: true}); err != nil {
		return nil, err
	}
	return env, nil
}

func testNames(h *Host, proto *glua.FunctionProto, vars map[string]string) ([]string, error) {
	v := h.newVM()
	defer v.L.Close()
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	v.L.SetContext(ctx)
	env, err := v.testEnv(proto, h, vars)
	if err != nil {
		return nil, errors.New(errText(err))
	}
	var names []string
	env.ForEach(func(k, val glua.LValue) {
		if s, ok := k.(glua.LString); ok && strings.HasPrefix(string(s), "Test") {
			if _, ok := val.(*glua.LFunction); ok {
				names = append(names, string(s))
			}
		}
	})
	sort.Strings(names)
	return names, nil
}

// hostTable is the test files' host global.
func (v *vm) hostTable(h *Host) *glua.LTable {
	L := v.L
	t := L.NewTable()
	params := func(L *glua.LState, n int) map[string]string {
		out := map[string]string{}
		if pt, ok := L.Get(n).(*glua.LTable); ok {
			pt.ForEach(func(k, val glua.LValue) { out[k.String()] = val.String() })
		}
		return out
	}
	pushOutcome := func(L *glua.LState, o Outcome) int {
		L.Push(glua.LString(o.Status.String()))
		L.Push(glua.LString(o.Message))
		L.Push(toLua(L, o.Targets))
		return 3
	}
	L.SetFuncs(t, map[string]glua.LGFunction{
		"run": func(L *glua.LState) int {
			o, _ := h.RunAgent(callContext(L), L.CheckString(1), L.CheckString(2), params(L, 3))
			return pushOutcome(L, o)
		},
		"fence": func(L *glua.LState) int {
			o, _ := h.RunFence(callContext(L), L.CheckString(1), L.CheckString(2), L.OptString(3, ""), params(L, 4))
			return pushOutcome(L, o)
		},
		"choose_owner": func(L *glua.LState) int {
			group, _ := fromLua(L.CheckTable(2)).(map[string]any)
			var cands []string
			ct := L.CheckTable(3)
			for i := 1; i <= ct.Len(); i++ {
				cands = append(cands, ct.RawGetInt(i).String())
			}
			cluster, _ := fromLua(L.OptTable(4, L.NewTable())).(map[string]any)
			owner, err := h.ChooseOwner(callContext(L), L.CheckString(1), group, cands, cluster)
			if err != nil {
				return fail(L, err)
			}
			if owner == "" {
				L.Push(glua.LNil)
				return 1
			}
			L.Push(glua.LString(owner))
			return 1
		},
		"on_failure": func(L *glua.LState) int {
			res, _ := fromLua(L.CheckTable(2)).(map[string]any)
			act, err := h.OnFailure(callContext(L), L.CheckString(1), res, L.CheckInt(3))
			if err != nil {
				return fail(L, err)
			}
			L.Push(glua.LString(act))
			return 1
		},
		"handle": func(L *glua.LState) int {
			ev, _ := fromLua(L.CheckTable(2)).(map[string]any)
			if err := h.Handle(callContext(L), L.CheckString(1), ev); err != nil {
				return fail(L, err)
			}
			L.Push(glua.LTrue)
			return 1
		},
		"script": func(L *glua.LState) int {
			s, err := h.script(Kind(L.CheckString(1)), L.CheckString(2))
			if err != nil {
				L.RaiseError("%s", err)
			}
			tbl, err := v.instantiate(s)
			if err != nil {
				L.RaiseError("%s", errText(err))
			}
			L.Push(tbl)
			return 1
		},
		"scripts": func(L *glua.LState) int {
			L.Push(toLua(L, h.Scripts(Kind(L.CheckString(1)))))
			return 1
		},
		"eval": func(L *glua.LState) int {
			out, err := h.Eval(callContext(L), L.CheckString(1))
			if err != nil {
				return fail(L, err)
			}
			L.Push(glua.LString(out))
			return 1
		},
	})
	return t
}

// T is the t a Lua test function gets.
type T struct {
	t       *testing.T
	fatal   bool
	skipped string
}

const tTypeName = "corral.T"

// errStop unwinds a Lua test after t:fatal or t:skip.
var errStop = "corral test stopped"

// LVT wraps a T as Lua userdata with its methods.
func LVT(L *glua.LState, lt *T) *glua.LUserData {
	mt := L.GetTypeMetatable(tTypeName)
	if mt == glua.LNil {
		m := L.NewTypeMetatable(tTypeName)
		L.SetField(m, "__index", L.SetFuncs(L.NewTable(), tMethods))
		mt = m
	}
	ud := L.NewUserData()
	ud.Value = lt
	L.SetMetatable(ud, mt)
	return ud
}

// CheckT returns the T at stack position n, or raises an argument error.
func CheckT(L *glua.LState, n int) *T {
	ud := L.CheckUserData(n)
	if lt, ok := ud.Value.(*T); ok {
		return lt
	}
	L.ArgError(n, "t expected (call it as t:method)")
	return nil
}

func where(L *glua.LState) string {
	return strings.TrimSuffix(L.Where(1), " ")
}

func joinArgs(L *glua.LState, from int) string {
	var parts []string
	for i := from; i <= L.GetTop(); i++ {
		parts = append(parts, show(L.Get(i)))
	}
	return strings.Join(parts, " ")
}

var tMethods = map[string]glua.LGFunction{
	"log": func(L *glua.LState) int {
		lt := CheckT(L, 1)
		lt.t.Log(where(L) + " " + joinArgs(L, 2))
		return 0
	},
	"error": func(L *glua.LState) int {
		lt := CheckT(L, 1)
		lt.t.Error(where(L) + " " + joinArgs(L, 2))
		return 0
	},
	"fatal": func(L *glua.LState) int {
		lt := CheckT(L, 1)
		lt.t.Error(where(L) + " " + joinArgs(L, 2))
		lt.fatal = true
		L.RaiseError("%s", errStop)
		return 0
	},
	"skip": func(L *glua.LState) int {
		lt := CheckT(L, 1)
		lt.skipped = where(L) + " " + joinArgs(L, 2)
		L.RaiseError("%s", errStop)
		return 0
	},
	// t:ok(cond, msg...) fails the test (and stops it) when cond is false or nil.
	"ok": func(L *glua.LState) int {
		lt := CheckT(L, 1)
		if !glua.LVAsBool(L.Get(2)) {
			lt.t.Error(where(L) + " not ok: " + joinArgs(L, 3))
			lt.fatal = true
			L.RaiseError("%s", errStop)
		}
		return 0
	},
	// t:eq(got, want, msg...) compares values (tables deeply) and stops the
	// test when they differ.
	"eq": func(L *glua.LState) int {
		lt := CheckT(L, 1)
		got, want := L.Get(2), L.Get(3)
		if !reflect.DeepEqual(fromLua(got), fromLua(want)) {
			msg := joinArgs(L, 4)
			lt.t.Errorf("%s %s\n\tgot:  %s\n\twant: %s", where(L), msg, show(got), show(want))
			lt.fatal = true
			L.RaiseError("%s", errStop)
		}
		return 0
	},
	"tempdir": func(L *glua.LState) int {
		lt := CheckT(L, 1)
		L.Push(glua.LString(lt.t.TempDir()))
		return 1
	},
	"name": func(L *glua.LState) int {
		L.Push(glua.LString(CheckT(L, 1).t.Name()))
		return 1
	},
}
