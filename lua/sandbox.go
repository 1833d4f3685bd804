package lua

import (
	"math/rand/v2"
	"sort"
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
	str.RawSetString("find", L.NewFunction(strFind))
	str.RawSetString("sub", L.NewFunction(strSub))
	str.RawSetString("match", L.NewFunction(strMatch))
	str.RawSetString("gmatch", L.NewFunction(strGmatch))
	str.RawSetString("gfind", str.RawGetString("gmatch"))
	str.RawSetString("gsub", L.NewFunction(guardGsub(L.NewFunction(strGsub))))
	str.RawSetString("format", L.NewFunction(guardFormat(str.RawGetString("format"))))
	tbl := g.RawGetString("table").(*glua.LTable)
	tbl.RawSetString("concat", L.NewFunction(tableConcat))
	tbl.RawSetString("sort", L.NewFunction(tableSort))

	m := g.RawGetString("math").(*glua.LTable)
	// math.random and randomseed are each environment's own (newEnv): a
	// script seeding its source does not make another's predictable.
	m.RawSetString("random", glua.LNil)
	m.RawSetString("randomseed", glua.LNil)

	// os: the clock only (Nakama's restricted os): no execute, exit, remove,
	// rename, getenv, tmpname, setlocale.
	full := g.RawGetString("os").(*glua.LTable)
	os := L.NewTable()
	for _, name := range []string{"time", "clock", "date", "difftime"} {
		os.RawSetString(name, full.RawGetString(name))
	}
	os.RawSetString("date", L.NewFunction(guardDate(full.RawGetString("date"))))
	g.RawSetString("os", os)
	g.RawSetString("setmetatable", L.NewFunction(guardSetmetatable(g.RawGetString("setmetatable"))))
	for _, name := range []string{"load", "loadstring"} {
		g.RawSetString(name, glua.LNil) // each environment gets its own (newEnv)
	}

	// The library tables are never handed to a script: each environment
	// gets read-only views of them (newEnv). The string metatable, shared
	// by every string of the VM, is locked: getmetatable("") is "locked"
	// and setmetatable refuses it, so ("x"):gsub is always the sandbox's.
	v.libMeta = make(map[string]*glua.LTable)
	for _, name := range []string{"string", "table", "math", "os"} {
		v.libMeta[name] = v.readOnlyMeta(name, g.RawGetString(name).(*glua.LTable))
	}
	// gopher-lua makes the string library its own metatable (string.__index
	// is string): strings get a metatable of their own instead.
	str.RawSetString("__index", glua.LNil)
	smt := L.NewTable()
	smt.RawSetString("__index", str)
	smt.RawSetString("__metatable", glua.LString(locked))
	L.SetMetatable(glua.LString(""), smt)
	// The base functions every environment reads through its metatable
	// (locked: the table is out of a script's reach).
	v.baseFns = L.NewTable()
	g.ForEach(func(k, val glua.LValue) {
		if name, ok := k.(glua.LString); ok {
			if _, lib := v.libMeta[string(name)]; lib || name == "_G" {
				return
			}
		}
		v.baseFns.RawSet(k, val)
	})
	v.envMeta = L.NewTable()
	v.envMeta.RawSetString("__index", v.baseFns)
	v.envMeta.RawSetString("__metatable", glua.LString(locked))
	// Code that reaches the VM's default environment (a function made
	// without one) finds an empty locked table, never the libraries.
	dead := L.NewTable()
	L.SetMetatable(dead, v.readOnlyMeta("the default environment", L.NewTable()))
	L.Env, L.G.Global = dead, dead
}

// locked is what getmetatable returns for the string metatable and the
// read-only library views.
const locked = "locked"

// readOnlyMeta is the metatable of a read-only view of lib: reads go to
// lib, writes raise an error, and the metatable itself is out of reach
// (getmetatable gives "locked", setmetatable refuses it).
func (v *vm) readOnlyMeta(name string, lib *glua.LTable) *glua.LTable {
	L := v.L
	mt := L.NewTable()
	mt.RawSetString("__index", lib)
	mt.RawSetString("__newindex", L.NewFunction(func(L *glua.LState) int {
		L.RaiseError("%s is read-only: scripts share the sandbox's libraries and modules; keep your own functions in locals or in your script's table", name)
		return 0
	}))
	mt.RawSetString("__metatable", glua.LString(locked))
	return mt
}

// readOnly is a new read-only view with metatable mt (one per
// environment, so a rawset on it changes only the script that made it).
func (v *vm) readOnly(mt *glua.LTable) *glua.LTable {
	t := v.L.NewTable()
	t.Metatable = mt
	return t
}

// newEnv makes a script's own environment: its own globals table (with
// _G itself), holding read-only views of the libraries and its own
// require, load and loadstring, and reading the base functions through a
// locked metatable. Nothing in it is shared with another environment but
// immutable functions and what the locked metatables and the views lead
// to, out of a script's reach, so one script cannot change what another
// calls. granted says whether require gives exec, fs and net.
func (v *vm) newEnv(granted bool) *glua.LTable {
	L := v.L
	env := L.CreateTable(0, 8)
	env.Metatable = v.envMeta
	for name, mt := range v.libMeta {
		if name == "math" {
			mt = v.ownMath()
		}
		env.RawSetString(name, v.readOnly(mt))
	}
	env.RawSetString("_G", env)
	env.RawSetString("require", L.NewFunction(v.require(granted, make(map[string]glua.LValue))))
	env.RawSetString("loadstring", L.NewFunction(v.loadString(env)))
	env.RawSetString("load", L.NewFunction(v.loadFunc(env)))
	return env
}

// guardSetmetatable is setmetatable for tables only (Lua 5.1's contract):
// gopher-lua's would set the metatable every boolean, number or function
// of the VM shares, and so change what another script's tostring(5) runs.
func guardSetmetatable(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		L.CheckTable(1)
		L.Insert(orig, 1)
		L.Call(L.GetTop()-1, glua.MultRet)
		return L.GetTop()
	}
}

// loadString is an environment's loadstring(code [, name]): the chunk is
// compiled with the sandbox's bounds and runs in that environment (not
// the VM's default one, as gopher-lua's would).
func (v *vm) loadString(env *glua.LTable) glua.LGFunction {
	return func(L *glua.LState) int {
		return v.loadChunk(L, env, L.CheckString(1), L.OptString(2, "<string>"))
	}
}

// loadFunc is an environment's load(reader [, name]): reader returns the
// chunk's pieces until nil or "".
func (v *vm) loadFunc(env *glua.LTable) glua.LGFunction {
	return func(L *glua.LState) int {
		reader := L.CheckFunction(1)
		name := L.OptString(2, "=(load)")
		var b strings.Builder
		for {
			L.Push(reader)
			L.Call(0, 1)
			piece := L.Get(-1)
			L.Pop(1)
			if piece == glua.LNil {
				break
			}
			s, ok := piece.(glua.LString)
			if !ok {
				L.Push(glua.LNil)
				L.Push(glua.LString("reader function must return a string"))
				return 2
			}
			if s == "" {
				break
			}
			if b.Len()+len(s) > maxSource {
				L.Push(glua.LNil)
				L.Push(glua.LString(errTooLarge(name, b.Len()+len(s)).Error()))
				return 2
			}
			b.WriteString(string(s))
		}
		return v.loadChunk(L, env, b.String(), name)
	}
}

func (v *vm) loadChunk(L *glua.LState, env *glua.LTable, code, name string) int {
	proto, _, err := compile(name, []byte(code))
	if err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString(err.Error()))
		return 2
	}
	fn := L.NewFunctionFromProto(proto)
	fn.Env = env
	L.Push(fn)
	return 1
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
		if n := float64(j) - float64(i) + 1; n > maxResults { // in floats: j-i+1 overflows an int
			L.RaiseError("unpack: too many results (%.0f, at most %d)", n, maxResults)
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

// tableConcat is table.concat(t [, sep [, i [, j]]]) refusing a result
// above the cap. It builds the string itself: gopher-lua's pushes every
// piece and separator on the value stack, which 200,000 pieces overflow
// after growing it 1024 slots at a time (3.7 s in one Go call).
func tableConcat(L *glua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i, j := L.OptInt(3, 1), L.OptInt(4, t.Len())
	// First the size (nothing is built past the cap), then the string.
	total := 0
	for k := i; k <= j; k++ {
		switch v := t.RawGetInt(k).(type) {
		case glua.LString:
			total += len(v)
		case glua.LNumber:
			total += len(v.String())
		default:
			L.RaiseError("invalid value (%s) at index %d in table for concat", v.Type().String(), k)
		}
		if k != j {
			total += len(sep)
		}
		if total > maxRep {
			L.RaiseError("table.concat: the result would be above the %d MiB cap", maxRep>>20)
		}
	}
	var b strings.Builder
	b.Grow(total)
	for k := i; k <= j; k++ {
		b.WriteString(t.RawGetInt(k).String())
		if k != j {
			b.WriteString(sep)
		}
	}
	L.Push(glua.LString(b.String()))
	return 1
}

// guardFormat is string.format refusing a result that could pass the
// string cap: gopher-lua's is Go's fmt.Sprintf on the script's format, one
// Go call the deadline and the watchdog cannot stop, where widths,
// repeated or indexed (%[1]s) arguments and %v of a table (its entries
// in full) multiply what the arguments hold. Arguments other than strings
// and numbers are passed as their tostring text ("table: 0x...").
func guardFormat(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		f := L.CheckString(1)
		top := L.GetTop()
		largest := 0
		for i := 2; i <= top; i++ {
			switch a := L.Get(i).(type) {
			case glua.LString:
				largest = max(largest, len(a))
			case glua.LNumber:
			default:
				L.Replace(i, glua.LString(a.String()))
				largest = max(largest, len(a.String()))
			}
		}
		if n := formatBound(f, largest); n > maxRep {
			L.RaiseError("string.format: the result could reach %d bytes, above the %d MiB cap", n, maxRep>>20)
		}
		L.Insert(orig, 1)
		L.Call(L.GetTop()-1, glua.MultRet)
		return L.GetTop()
	}
}

// formatBound bounds the length of fmt.Sprintf(f, args...) when no
// argument is longer than largest bytes: each verb writes at most its
// width, its precision (Go refuses either above 1e6) and its argument
// escaped (%q, %x: at most 4 bytes a byte), plus a number's digits. It
// charges each verb the longest argument (an index, %[1]s, repeats one).
func formatBound(f string, largest int) int {
	const maxWidth = 1e6
	n := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			n++
			continue
		}
		if i+1 < len(f) && f[i+1] == '%' {
			n++
			i++
			continue
		}
		n += 400 // a number's digits (%f of 1e308), a "%!v(MISSING)" note
		w := 0
		for i++; i < len(f); i++ {
			c := f[i]
			if c >= '0' && c <= '9' {
				w = min(w*10+int(c-'0'), maxWidth)
				continue
			}
			n += w
			w = 0
			if c == '+' || c == '-' || c == '#' || c == ' ' || c == '.' || c == '[' || c == ']' || c == '*' {
				continue
			}
			switch c {
			case 'q', 'x', 'X': // \xNN, or "% x"'s "NN "
				n += 4 * largest
			default:
				n += largest
			}
			break
		}
		n += w
		if n > maxRep {
			return n
		}
	}
	return n
}

// maxDateFormat bounds os.date's format: it is expanded in one Go call
// (an 8 MiB format took seconds past the deadline and built 600 MiB).
const maxDateFormat = 4 << 10

// guardDate is os.date refusing a format above maxDateFormat bytes.
func guardDate(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		if s, ok := L.Get(1).(glua.LString); ok && len(s) > maxDateFormat {
			L.RaiseError("os.date: the format is %d bytes, above the %d KiB cap", len(s), maxDateFormat>>10)
		}
		L.Insert(orig, 1)
		L.Call(L.GetTop()-1, glua.MultRet)
		return L.GetTop()
	}
}

// tableSort is table.sort(t [, comp]) checking the call's context before
// each comparison: gopher-lua's sorts in one Go call, and a Go function as
// the comparator runs no Lua instruction that would stop at the deadline
// (string.rep sorted 1000 numbers for 23 s; one comparison of two 64 MiB
// strings takes milliseconds). It sorts t[1] to t[#t], as Lua's does.
func tableSort(L *glua.LState) int {
	t := L.CheckTable(1)
	var comp glua.LValue
	if L.GetTop() >= 2 && L.Get(2) != glua.LNil {
		comp = L.CheckFunction(2)
	}
	vals := make([]glua.LValue, t.Len())
	for i := range vals {
		vals[i] = t.RawGetInt(i + 1)
	}
	ctx := L.Context()
	sort.Slice(vals, func(i, j int) bool {
		if ctx != nil && ctx.Err() != nil {
			L.RaiseError("%s", ctx.Err().Error())
		}
		if comp == nil {
			return L.LessThan(vals[i], vals[j])
		}
		L.Push(comp)
		L.Push(vals[i])
		L.Push(vals[j])
		L.Call(2, 1)
		r := L.Get(-1)
		L.Pop(1)
		return glua.LVAsBool(r)
	})
	for i, val := range vals {
		t.RawSetInt(i+1, val)
	}
	return 0
}

// ownMath is the metatable of an environment's math view: the math
// library with random and randomseed on a source of the environment's
// own, seeded from the VM's (never Go's global one).
func (v *vm) ownMath() *glua.LTable {
	L := v.L
	rng := rand.New(rand.NewPCG(v.rng.Uint64(), v.rng.Uint64()|1))
	own := L.NewTable()
	own.Metatable = v.libMeta["math"] // the rest of math, read-only
	own.RawSetString("random", L.NewFunction(func(L *glua.LState) int { return random(L, rng) }))
	own.RawSetString("randomseed", L.NewFunction(func(L *glua.LState) int {
		seed := uint64(L.CheckInt64(1))
		rng = rand.New(rand.NewPCG(seed, seed>>1|1))
		return 0
	}))
	return v.readOnlyMeta("math", own)
}

// random is math.random on rng.
func random(L *glua.LState, rng *rand.Rand) int {
	switch L.GetTop() {
	case 0:
		L.Push(glua.LNumber(rng.Float64()))
	case 1:
		n := L.CheckInt(1)
		if n < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(glua.LNumber(rng.IntN(n) + 1))
	default:
		lo, hi := L.CheckInt(1), L.CheckInt(2)
		if hi < lo {
			L.ArgError(2, "interval is empty")
		}
		L.Push(glua.LNumber(lo + rng.IntN(hi-lo+1)))
	}
	return 1
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
	"lock":   {granted: true, loader: (*vm).lockLoader},
}

// require is an environment's require: it gives a read-only view of the
// VM's module table (made once per VM by the module's loader), the same
// view each time in one environment (cache).
func (v *vm) require(granted bool, cache map[string]glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		name := L.CheckString(1)
		m, ok := modules[name]
		if !ok {
			L.RaiseError("module %q not found: the sandbox has corral, exec, fs, net and lock", name)
		}
		if m.granted && !granted {
			L.RaiseError("module %q is not granted to this script: only shipped scripts and directories listed in [lua] grant may use exec, fs, net and lock", name)
		}
		if t, ok := cache[name]; ok {
			L.Push(t)
			return 1
		}
		mt, ok := v.mods[name]
		if !ok {
			L.Push(L.NewFunction(m.loader(v)))
			L.Call(0, 1)
			t, ok := L.Get(-1).(*glua.LTable)
			L.Pop(1)
			if !ok {
				L.RaiseError("module %q did not load", name)
			}
			mt = v.readOnlyMeta(name, t)
			v.mods[name] = mt
		}
		view := v.readOnly(mt)
		cache[name] = view
		L.Push(view)
		return 1
	}
}
