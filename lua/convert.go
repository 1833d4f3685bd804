package lua

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// toLua converts a Go value (as encoding/json produces, plus string slices
// and maps, integers and durations) into a Lua value.
func toLua(L *glua.LState, x any) glua.LValue {
	switch v := x.(type) {
	case nil:
		return glua.LNil
	case glua.LValue:
		return v
	case string:
		return glua.LString(v)
	case bool:
		return glua.LBool(v)
	case float64:
		return glua.LNumber(v)
	case float32:
		return glua.LNumber(v)
	case int:
		return glua.LNumber(v)
	case int64:
		return glua.LNumber(v)
	case int32:
		return glua.LNumber(v)
	case uint64:
		return glua.LNumber(v)
	case uint32:
		return glua.LNumber(v)
	case uint:
		return glua.LNumber(v)
	case time.Duration:
		return glua.LNumber(v.Seconds())
	case json.Number:
		f, _ := v.Float64()
		return glua.LNumber(f)
	case []string:
		t := L.CreateTable(len(v), 0)
		for _, s := range v {
			t.Append(glua.LString(s))
		}
		return t
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]string:
		t := L.CreateTable(0, len(v))
		for k, s := range v {
			t.RawSetString(k, glua.LString(s))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	// Other slices and maps, and structs through JSON.
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		t := L.CreateTable(rv.Len(), 0)
		for i := range rv.Len() {
			t.Append(toLua(L, rv.Index(i).Interface()))
		}
		return t
	case reflect.Map:
		t := L.CreateTable(0, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			t.RawSetString(fmt.Sprint(it.Key().Interface()), toLua(L, it.Value().Interface()))
		}
		return t
	case reflect.Pointer:
		if rv.IsNil() {
			return glua.LNil
		}
	}
	b, err := json.Marshal(x)
	if err != nil {
		return glua.LString(fmt.Sprint(x))
	}
	var generic any
	if json.Unmarshal(b, &generic) != nil {
		return glua.LString(string(b))
	}
	return toLua(L, generic)
}

// Bounds of fromLua and show: a script's value is converted for a log
// line or the shell, never in full when it is huge. A table reached twice
// is converted twice (it is not a tree otherwise), so without a budget a
// table of shared subtables 20 deep converts into a million.
const (
	maxConvertValues = 10000   // values fromLua converts; the rest are left out
	maxConvertBytes  = 1 << 20 // string bytes fromLua copies, and bytes show writes
)

// fromLua converts a Lua value into Go: tables with only keys 1..n become
// []any, other tables map[string]any; functions and userdata become their
// type name. A table within itself becomes "<cycle>"; past
// maxConvertValues values or maxConvertBytes bytes of strings, the rest
// becomes "<truncated>".
func fromLua(v glua.LValue) any {
	c := converter{path: make(map[*glua.LTable]bool)}
	return c.from(v, 0)
}

type converter struct {
	values, bytes int
	path          map[*glua.LTable]bool // the tables being converted, to spot a cycle
}

const truncated = "<truncated>"

func (c *converter) from(v glua.LValue, depth int) any {
	c.values++
	if c.values > maxConvertValues {
		return truncated
	}
	switch x := v.(type) {
	case *glua.LNilType:
		return nil
	case glua.LBool:
		return bool(x)
	case glua.LNumber:
		f := float64(x)
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f)
		}
		return f
	case glua.LString:
		if c.bytes+len(x) > maxConvertBytes {
			n := max(maxConvertBytes-c.bytes, 0)
			c.bytes = maxConvertBytes
			return string(x[:n]) + truncated
		}
		c.bytes += len(x)
		return string(x)
	case *glua.LTable:
		if depth > 32 {
			return "<table nested too deep>"
		}
		if c.path[x] {
			return "<cycle>"
		}
		c.path[x] = true
		defer delete(c.path, x)
		n := x.Len()
		count := 0
		x.ForEach(func(glua.LValue, glua.LValue) { count++ })
		if n > 0 && count == n {
			out := make([]any, 0, min(n, maxConvertValues))
			for i := 1; i <= n && c.values <= maxConvertValues; i++ {
				out = append(out, c.from(x.RawGetInt(i), depth+1))
			}
			return out
		}
		out := make(map[string]any, min(count, maxConvertValues))
		x.ForEach(func(k, e glua.LValue) {
			if c.values <= maxConvertValues {
				out[k.String()] = c.from(e, depth+1)
			}
		})
		return out
	default:
		return v.Type().String()
	}
}

// show renders a Lua value for the shell's lua command: strings as they
// are, tables as sorted Lua-like text, cut at maxConvertBytes.
func show(v glua.LValue) string {
	var b strings.Builder
	showTo(&b, v, 0)
	if b.Len() > maxConvertBytes {
		return b.String()[:maxConvertBytes] + "..."
	}
	return b.String()
}

func showTo(b *strings.Builder, v glua.LValue, depth int) {
	if b.Len() > maxConvertBytes {
		return
	}
	t, ok := v.(*glua.LTable)
	if !ok {
		if s, ok := v.(glua.LString); ok && depth > 0 {
			b.WriteString(strconv.Quote(string(s)))
			return
		}
		b.WriteString(v.String())
		return
	}
	if depth > 8 {
		b.WriteString("{...}")
		return
	}
	type kv struct {
		k string
		v glua.LValue
	}
	var items []kv
	n := t.Len()
	for i := 1; i <= n; i++ {
		items = append(items, kv{"", t.RawGetInt(i)})
	}
	var named []kv
	t.ForEach(func(k, e glua.LValue) {
		if num, ok := k.(glua.LNumber); ok && float64(num) == math.Trunc(float64(num)) && int(num) >= 1 && int(num) <= n {
			return
		}
		key := k.String()
		if _, ok := k.(glua.LString); !ok {
			key = "[" + key + "]"
		}
		named = append(named, kv{key, e})
	})
	sort.Slice(named, func(i, j int) bool { return named[i].k < named[j].k })
	items = append(items, named...)
	b.WriteString("{")
	for i, it := range items {
		if b.Len() > maxConvertBytes {
			return
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if it.k != "" {
			b.WriteString(it.k)
			b.WriteString(" = ")
		}
		showTo(b, it.v, depth+1)
	}
	b.WriteString("}")
}

// convertParam checks a parameter's text against its type and returns the
// Lua value the script gets (durations in seconds).
func convertParam(p Param, text string) (glua.LValue, error) {
	switch p.Type {
	case "integer":
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %q is not an integer", p.Name, text)
		}
		return glua.LNumber(n), nil
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %q is not a number", p.Name, text)
		}
		return glua.LNumber(f), nil
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true", "yes", "on", "1":
			return glua.LTrue, nil
		case "false", "no", "off", "0":
			return glua.LFalse, nil
		}
		return nil, fmt.Errorf("parameter %s: %q is not a boolean (true or false)", p.Name, text)
	case "duration":
		t := strings.TrimSpace(text)
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return glua.LNumber(f), nil
		}
		d, err := time.ParseDuration(t)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %q is not a duration (say 5s, 1m30s, or seconds)", p.Name, text)
		}
		return glua.LNumber(d.Seconds()), nil
	default:
		return glua.LString(text), nil
	}
}

// namedValue is one checked parameter.
type namedValue struct {
	name string
	v    glua.LValue
}

// checkParams type-checks params against the script's declaration and
// applies defaults. Keys starting with "_" are call context, not parameters.
func checkParams(m Meta, params map[string]string, required bool) ([]namedValue, map[string]string, error) {
	out := make([]namedValue, 0, len(m.Parameters)+len(params))
	var info map[string]string
	declared := make(map[string]bool, len(m.Parameters))
	for _, p := range m.Parameters {
		declared[p.Name] = true
		text, ok := params[p.Name]
		if !ok {
			if !p.hasDefault {
				if p.Required && required {
					if p.Description != "" {
						return nil, nil, fmt.Errorf("parameter %s is required (%s)", p.Name, p.Description)
					}
					return nil, nil, fmt.Errorf("parameter %s is required", p.Name)
				}
				continue
			}
			text = p.Default
		}
		lv, err := convertParam(p, text)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, namedValue{p.Name, lv})
	}
	var unknown []string
	for k, text := range params {
		if declared[k] {
			continue
		}
		if strings.HasPrefix(k, "_") {
			if info == nil {
				info = make(map[string]string)
			}
			info[k[1:]] = text
			continue
		}
		if !m.ExtraParameters {
			unknown = append(unknown, k)
			continue
		}
		out = append(out, namedValue{k, glua.LString(text)})
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		var names []string
		for _, p := range m.Parameters {
			names = append(names, p.Name)
		}
		return nil, nil, fmt.Errorf("unknown parameter %s (%s %s takes %s)", strings.Join(unknown, ", "), m.Kind, m.Name, strings.Join(names, ", "))
	}
	return out, info, nil
}
