package lua

import (
	"math/rand/v2"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// removed are the base functions a script never sees: file and bytecode
// loading, the package system (require is ours), environments (a script
// could reach another script's), and a GC trigger that stalls the node.
var removed = []string{"dofile", "loadfile", "collectgarbage", "_printregs", "getfenv", "setfenv", "module", "require", "newproxy"}

// openSandbox opens base, table, string and math, a clock-only os, and our
// require; it replaces what would escape or blow up the sandbox.
func (v *vm) openSandbox() {
	L := v.L
	for _, lib := range []struct {
		name string
		open glua.LGFunction
	}{{glua.BaseLibName, glua.OpenBase}, {glua.TabLibName, glua.OpenTable}, {glua.StringLibName, glua.OpenString}, {glua.MathLibName, glua.OpenMath}, {glua.OsLibName, glua.OpenOs}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	v.globals = g
	for _, name := range removed {
		g.RawSetString(name, glua.LNil)
	}
	g.RawSetString("print", L.NewFunction(v.print))
	g.RawSetString("pcall", L.NewFunction(guard(g.RawGetString("pcall"))))
	g.RawSetString("xpcall", L.NewFunction(guard(g.RawGetString("xpcall"))))

	g.RawSetString("unpack", L.NewFunction(guardUnpack(g.RawGetString("unpack"))))
	str := g.RawGetString("string").(*glua.LTable)
	str.RawSetString("byte", L.NewFunction(guardByte(str.RawGetString("byte"))))
	str.RawSetString("dump", glua.LNil)
	str.RawSetString("rep", L.NewFunction(strRep))
	str.RawSetString("gsub", L.NewFunction(guardGsub(str.RawGetString("gsub"))))
	tbl := g.RawGetString("table").(*glua.LTable)
	tbl.RawSetString("concat", L.NewFunction(guardConcat(tbl.RawGetString("concat"))))

	m := g.RawGetString("math").(*glua.LTable)
	m.RawSetString("random", L.NewFunction(v.random))
	m.RawSetString("randomseed", L.NewFunction(v.randomseed))

	// os: the clock only (Nakama's restricted os): no execute, exit, remove,
	// rename, getenv, tmpname, setlocale.
	full := g.RawGetString("os").(*glua.LTable)
	os := L.NewTable()
	for _, name := range []string{"time", "clock", "date", "difftime"} {
		os.RawSetString(name, full.RawGetString(name))
	}
	g.RawSetString("os", os)

	v.reqs[0] = L.NewFunction(v.require(false))
	v.reqs[1] = L.NewFunction(v.require(true))
	g.RawSetString("require", v.reqs[0])
}

// guard wraps pcall/xpcall so that a stopped call cannot be caught: once the
// call's context is done, the error goes on up.
func guard(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		L.Insert(orig, 1)
		L.Call(L.GetTop()-1, glua.MultRet)
		if ctx := L.Context(); ctx != nil && ctx.Err() != nil {
			L.RaiseError("%s", ctx.Err().Error())
		}
		return L.GetTop()
	}
}

// print writes to the Eval output, or logs at info with the call's name.
func (v *vm) print(L *glua.LState) int {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	line := strings.Join(parts, "\t")
	v.mu.Lock()
	out, label := v.out, v.label
	v.mu.Unlock()
	if out != nil {
		_, _ = out.WriteString(line)
		_ = out.WriteByte('\n')
		return 0
	}
	v.h.log.Info(line, "lua", label)
	return 0
}

func strRep(L *glua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || s == "" {
		L.Push(glua.LString(""))
		return 1
	}
	if n > maxRep/len(s) {
		L.RaiseError("string.rep: the result would be %d bytes, above the %d MiB cap", int64(len(s))*int64(n), maxRep>>20)
	}
	L.Push(glua.LString(strings.Repeat(s, n)))
	return 1
}

// maxResults caps how many values unpack and string.byte return (Lua 5.1's
// own C stack limit): each is pushed by one Go function the deadline cannot
// interrupt.
const maxResults = 8000

// guardUnpack refuses unpack(t, i, j) of more than maxResults values.
func guardUnpack(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		t := L.CheckTable(1)
		i, j := L.OptInt(2, 1), L.OptInt(3, t.Len())
		if j-i+1 > maxResults {
			L.RaiseError("unpack: too many results (%d, at most %d)", j-i+1, maxResults)
		}
		L.Insert(orig, 1)
		L.Call(L.GetTop()-1, glua.MultRet)
		return L.GetTop()
	}
}

// guardByte refuses string.byte(s, i, j) of more than maxResults values,
// and gives string.byte(s) Lua's meaning (gopher-lua returns every byte).
func guardByte(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		n := len(L.CheckString(1))
		if L.GetTop() == 1 {
			L.Push(glua.LNumber(1)) // Lua 5.1: string.byte(s) is s's first byte only
		}
		i := L.OptInt(2, 1)
		j := L.OptInt(3, i)
		if i < 0 {
			i += n + 1
		}
		if j < 0 {
			j += n + 1
		}
		if j-i+1 > maxResults {
			L.RaiseError("string.byte: too many results (%d, at most %d)", j-i+1, maxResults)
		}
		L.Insert(orig, 1)
		L.Call(L.GetTop()-1, glua.MultRet)
		return L.GetTop()
	}
}

// guardGsub refuses a gsub whose string replacement could build a string
// above the cap in one Go call (the watchdog cannot stop a Go function).
func guardGsub(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		s := L.CheckString(1)
		if repl, ok := L.Get(3).(glua.LString); ok && len(repl) > 1 {
			n := len(s) + 1
			if max, ok := L.Get(4).(glua.LNumber); ok && int(max) < n {
				n = int(max)
			}
			if n > 0 && len(repl) > maxRep/n {
				L.RaiseError("string.gsub: the result could reach %d bytes, above the %d MiB cap", int64(n)*int64(len(repl)), maxRep>>20)
			}
		}
		L.Insert(orig, 1)
		L.Call(L.GetTop()-1, glua.MultRet)
		return L.GetTop()
	}
}

// guardConcat refuses a table.concat whose result would be above the cap.
func guardConcat(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		t := L.CheckTable(1)
		sep := len(L.OptString(2, ""))
		i, j := L.OptInt(3, 1), L.OptInt(4, t.Len())
		total := 0
		for k := i; k <= j; k++ {
			if s, ok := t.RawGetInt(k).(glua.LString); ok {
				total += len(s)
			} else {
				total += 24
			}
			total += sep
			if total > maxRep {
				L.RaiseError("table.concat: the result would be above the %d MiB cap", maxRep>>20)
			}
		}
		L.Insert(orig, 1)
		L.Call(L.GetTop()-1, glua.MultRet)
		return L.GetTop()
	}
}

// random is math.random on the VM's own source (never Go's global one).
func (v *vm) random(L *glua.LState) int {
	switch L.GetTop() {
	case 0:
		L.Push(glua.LNumber(v.rng.Float64()))
	case 1:
		n := L.CheckInt(1)
		if n < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(glua.LNumber(v.rng.IntN(n) + 1))
	default:
		lo, hi := L.CheckInt(1), L.CheckInt(2)
		if hi < lo {
			L.ArgError(2, "interval is empty")
		}
		L.Push(glua.LNumber(lo + v.rng.IntN(hi-lo+1)))
	}
	return 1
}

func (v *vm) randomseed(L *glua.LState) int {
	seed := uint64(L.CheckInt64(1))
	v.rng = rand.New(rand.NewPCG(seed, seed>>1|1))
	return 0
}

// module is one module require can return; granted ones only to granted
// scripts. Each is built by its Loader, as with gopher-lua's PreloadModule,
// but through our own require: the package library would also load modules
// from files on disk.
type module struct {
	granted bool
	loader  func(v *vm) glua.LGFunction
}

var modules = map[string]module{
	"corral": {loader: (*vm).corralLoader},
	"exec":   {granted: true, loader: (*vm).execLoader},
	"fs":     {granted: true, loader: (*vm).fsLoader},
	"net":    {granted: true, loader: (*vm).netLoader},
}

func (v *vm) require(granted bool) glua.LGFunction {
	return func(L *glua.LState) int {
		name := L.CheckString(1)
		m, ok := modules[name]
		if !ok {
			L.RaiseError("module %q not found: the sandbox has corral, exec, fs and net", name)
		}
		if m.granted && !granted {
			L.RaiseError("module %q is not granted to this script: only shipped scripts and directories listed in [lua] grant may use exec, fs and net", name)
		}
		if t, ok := v.mods[name]; ok {
			L.Push(t)
			return 1
		}
		L.Push(L.NewFunction(m.loader(v)))
		L.Call(0, 1)
		v.mods[name] = L.Get(-1)
		return 1
	}
}
