package lua

import (
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// buildValue builds Lua values from a program of bytes, as a script could
// make them: numbers (any float, NaN and infinities too), strings,
// booleans, tables (nested, shared, cyclic, with keys of every type),
// functions and userdata. It returns the last value built.
func buildValue(L *glua.LState, prog []byte) glua.LValue {
	vals := []glua.LValue{glua.LNil, glua.LTrue, glua.LNumber(0), glua.LString("ok"), L.NewTable()}
	var tables []*glua.LTable
	tables = append(tables, vals[4].(*glua.LTable))
	pick := func(b byte) glua.LValue { return vals[int(b)%len(vals)] }
	for len(prog) >= 3 && len(vals) < 4096 {
		op, a, b := prog[0], prog[1], prog[2]
		prog = prog[3:]
		switch op % 9 {
		case 0: // a number from 8 bytes
			var x [8]byte
			n := copy(x[:], prog)
			prog = prog[n:]
			vals = append(vals, glua.LNumber(math.Float64frombits(binary.BigEndian.Uint64(x[:]))))
		case 1: // an integer
			vals = append(vals, glua.LNumber(float64(int16(uint16(a)<<8|uint16(b)))))
		case 2: // a string of the next a bytes
			n := min(int(a), len(prog))
			vals = append(vals, glua.LString(prog[:n]))
			prog = prog[n:]
		case 3:
			vals = append(vals, glua.LBool(a&1 == 1))
		case 4:
			t := L.NewTable()
			tables = append(tables, t)
			vals = append(vals, t)
		case 5: // t[k] = v, with k and v among the values built
			t := tables[int(a)%len(tables)]
			k := pick(b)
			if len(prog) == 0 {
				break
			}
			v := pick(prog[0])
			prog = prog[1:]
			if n, ok := k.(glua.LNumber); k == glua.LNil || ok && math.IsNaN(float64(n)) {
				break // Lua refuses these keys
			}
			t.RawSet(k, v)
		case 6: // append
			tables[int(a)%len(tables)].Append(pick(b))
		case 7:
			vals = append(vals, L.NewFunction(func(*glua.LState) int { return 0 }))
		case 8:
			vals = append(vals, L.NewUserData())
		}
	}
	return vals[len(vals)-1]
}

// checkGo walks what fromLua produced: only the types it promises.
func checkGo(t *testing.T, x any, nan *bool) {
	switch v := x.(type) {
	case nil, bool, int64, string:
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			*nan = true
		}
	case []any:
		for _, e := range v {
			checkGo(t, e, nan)
		}
	case map[string]any:
		for _, e := range v {
			checkGo(t, e, nan)
		}
	default:
		t.Fatalf("fromLua produced a %T", x)
	}
}

// FuzzLuaValues: the values a script hands the host (what an action,
// meta(), a policy or a log call returns) cross into Go through fromLua,
// show, parseMeta and outcomeOf. None panics, whatever the value; fromLua
// gives only JSON-like types within its bounds, and converting its result
// back into Lua and again gives the same result; show stays within its
// bound; a meta table is accepted only with well-formed parameters (named,
// once each, of a known type, with a default of that type); an action's
// result is one of the statuses.
func FuzzLuaValues(f *testing.F) {
	f.Add([]byte{4, 0, 0, 2, 3, 0, 'a', 'b', 'c', 5, 1, 5, 6})             // {abc = abc}
	f.Add([]byte{4, 0, 0, 5, 1, 4, 5, 6, 1, 1, 4})                         // a table within itself
	f.Add([]byte{0, 0, 0, 0x7F, 0xF8, 0, 0, 0, 0, 0, 1, 4, 0, 0, 6, 1, 5}) // {NaN}
	f.Add([]byte{4, 0, 0, 2, 4, 0, 'n', 'a', 'm', 'e', 2, 11, 0, 'd', 'e', 's', 'c', 'r', 'i', 'p', 't', 'i', 'o', 'n', 5, 1, 6, 7})
	f.Add([]byte{2, 6, 0, 'f', 'a', 'i', 'l', 'e', 'd', 7, 0, 0, 8, 0, 0})
	L := glua.NewState()
	f.Cleanup(L.Close)
	f.Fuzz(func(t *testing.T, prog []byte) {
		v := buildValue(L, prog)
		c := converter{path: make(map[*glua.LTable]bool)}
		g := c.from(v, 0)
		var nan bool
		checkGo(t, g, &nan)
		cut := c.values > maxConvertValues || c.bytes >= maxConvertBytes
		if !nan && !cut {
			if again := fromLua(toLua(L, g)); !reflect.DeepEqual(again, g) {
				t.Fatalf("fromLua(toLua(%#v)) = %#v", g, again)
			}
		}
		if s := show(v); len(s) > maxConvertBytes+3 {
			t.Fatalf("show wrote %d bytes", len(s))
		}
		if tbl, ok := v.(*glua.LTable); ok {
			for _, k := range Kinds {
				m, err := parseMeta(tbl, k)
				if err != nil {
					continue
				}
				if m.Description == "" || k == KindHandler && len(m.Events) == 0 {
					t.Fatalf("%s meta accepted without description or events: %+v", k, m)
				}
				var names []string
				for _, p := range m.Parameters {
					if p.Name == "" || slices.Contains(names, p.Name) || !paramTypes[p.Type] {
						t.Fatalf("parameter %+v accepted", p)
					}
					names = append(names, p.Name)
					if p.hasDefault {
						if err := p.Check(p.Default); err != nil {
							t.Fatalf("default of %+v accepted: %v", p, err)
						}
					}
				}
			}
		}
		o := outcomeOf("start", v, v)
		if _, ok := ParseStatus(o.Status.String()); !ok || o.Status == StatusTimeout {
			t.Fatalf("outcome %+v", o)
		}
		if o.Status == StatusFailed && v != glua.LNil && v != glua.LFalse && o.Message == "" {
			t.Fatalf("%s returned: failed without a message", v.Type())
		}
	})
}
