package lua

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// script is one loaded script: its compiled chunk (shared by every VM) and
// what it declared.
type script struct {
	meta    Meta
	proto   *glua.FunctionProto
	granted bool
	label   string // "resource/dummy"
	gen     uint64 // the catalog generation it belongs to
	file    string
	sum     [sha256.Size]byte // of its source, so Reload can say what changed
}

// catalog is one generation of loaded scripts; Reload swaps it whole.
type catalog struct {
	gen     uint64
	scripts map[Kind]map[string]*script
	// broken are the files of Config.Paths that did not load, when
	// Config.SkipBroken let New go on without them: Meta.Broken says why.
	broken map[Kind]map[string]Meta
}

func (c *catalog) count() int {
	n := 0
	for _, m := range c.scripts {
		n += len(m)
	}
	return n
}

// source is one script file to load.
type source struct {
	kind    Kind
	name    string
	file    string // the name errors use: agents/resource/dummy.lua or an absolute path
	code    []byte
	granted bool
	shipped bool
}

// load reads, compiles and validates every script. All errors are returned
// together, each naming its file and line. With skipBroken, a file of
// Config.Paths that does not load is no error: it goes to the catalog's
// broken list, and hides a script of its kind and name loaded before it
// (calls to it fail with ErrBroken rather than silently run another).
func (h *Host) load(gen uint64, skipBroken bool) (*catalog, error) {
	srcs, errs := h.sources()
	cat := &catalog{gen: gen, scripts: make(map[Kind]map[string]*script), broken: make(map[Kind]map[string]Meta)}
	for _, k := range Kinds {
		cat.scripts[k] = make(map[string]*script)
		cat.broken[k] = make(map[string]Meta)
	}
	v := h.newVM()
	defer v.L.Close()
	for _, src := range srcs {
		var s *script
		var err error
		if _, reserved := Builtin(src.kind, src.name); reserved {
			err = reservedError(src)
		} else {
			s, err = compileScript(v, src, gen)
		}
		if err != nil && skipBroken && !src.shipped {
			delete(cat.scripts[src.kind], src.name)
			cat.broken[src.kind][src.name] = Meta{Kind: src.kind, Name: src.name, File: src.file, Granted: src.granted,
				Broken: err.Error()}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if old, ok := cat.scripts[src.kind][src.name]; ok {
			h.log.Info("lua: script replaces an earlier one", "script", s.label, "file", src.file, "replaced", old.meta.File)
		}
		delete(cat.broken[src.kind], src.name)
		cat.scripts[src.kind][src.name] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cat, nil
}

// sources lists the shipped scripts, then those of each configured path.
func (h *Host) sources() ([]source, []error) {
	var srcs []source
	var errs []error
	for _, k := range Kinds {
		entries, err := fs.ReadDir(h.cfg.Shipped, string(k))
		if err != nil {
			continue // a kind with no shipped scripts
		}
		for _, e := range entries {
			name, ok := scriptName(e.Name())
			if !ok || e.IsDir() {
				continue
			}
			code, err := fs.ReadFile(h.cfg.Shipped, path.Join(string(k), e.Name()))
			if err != nil {
				errs = append(errs, fmt.Errorf("agents/%s/%s: %w", k, e.Name(), err))
				continue
			}
			srcs = append(srcs, source{kind: k, name: name, file: "agents/" + string(k) + "/" + e.Name(), code: code, granted: true, shipped: true})
		}
	}
	granted := make(map[string]bool)
	for _, g := range h.cfg.Grant {
		granted[filepath.Clean(g)] = true
	}
	for _, dir := range h.cfg.Paths {
		dir = filepath.Clean(dir)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("lua path %s: not a directory: create it with resource/, fence/, policy/ or handler/ folders, or remove it from [lua] paths", dir))
			continue
		}
		for _, k := range Kinds {
			entries, err := os.ReadDir(filepath.Join(dir, string(k)))
			if err != nil {
				continue
			}
			for _, e := range entries {
				name, ok := scriptName(e.Name())
				if !ok || e.IsDir() {
					continue
				}
				file := filepath.Join(dir, string(k), e.Name())
				code, err := os.ReadFile(file)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", file, err))
					continue
				}
				srcs = append(srcs, source{kind: k, name: name, file: file, code: code, granted: granted[dir]})
			}
		}
	}
	return srcs, errs
}

// scriptName is the script name of a file name ("dummy.lua" -> "dummy");
// tests and other files are not scripts.
func scriptName(file string) (string, bool) {
	if !strings.HasSuffix(file, ".lua") || strings.HasSuffix(file, "_test.lua") {
		return "", false
	}
	return strings.TrimSuffix(file, ".lua"), true
}

// compile parses and compiles a chunk, turning parse errors into file:line.
// It refuses a chunk above maxSource bytes or nested deeper than
// maxNesting (gopher-lua's compiler takes time superlinear in an
// expression's depth, with no deadline: a 300,000-term sum took minutes).
func compile(file string, code []byte) (*glua.FunctionProto, []ast.Stmt, error) {
	if len(code) > maxSource {
		return nil, nil, errTooLarge(file, len(code))
	}
	chunk, err := parse.Parse(bytes.NewReader(code), file)
	if err != nil {
		return nil, nil, syntaxError(file, err)
	}
	if err := checkNesting(file, chunk); err != nil {
		return nil, nil, err
	}
	proto, err := glua.Compile(chunk, file)
	if err != nil {
		return nil, nil, syntaxError(file, err)
	}
	return proto, chunk, nil
}

var parseLine = regexp.MustCompile(`line:(\d+)\(column:(\d+)\)`)

func syntaxError(file string, err error) error {
	msg := err.Error()
	if m := parseLine.FindStringSubmatch(msg); m != nil {
		rest := strings.TrimSpace(strings.TrimPrefix(msg[strings.Index(msg, m[0])+len(m[0]):], ":"))
		return fmt.Errorf("%s:%s: syntax error: %s", file, m[1], rest)
	}
	return fmt.Errorf("%s: syntax error: %s", file, msg)
}

// returnLine is the line of the chunk's final return statement, where the
// script's table is built; contract errors point there.
func returnLine(chunk []ast.Stmt) int {
	if len(chunk) == 0 {
		return 1
	}
	last := chunk[len(chunk)-1]
	if r, ok := last.(*ast.ReturnStmt); ok {
		return r.Line()
	}
	return last.LastLine()
}

// compileScript compiles src, runs its top level in L and checks what it
// returns against its kind's contract.
func compileScript(v *vm, src source, gen uint64) (s *script, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%s: loading: the Lua VM failed (%v)", src.file, r)
		}
	}()
	L := v.L
	proto, chunk, err := compile(src.file, src.code)
	if err != nil {
		return nil, err
	}
	line := returnLine(chunk)
	s = &script{proto: proto, granted: src.granted, label: string(src.kind) + "/" + src.name, gen: gen, file: src.file,
		sum: sha256.Sum256(src.code)}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	v.granted = src.granted
	tbl, err := v.instantiate(s)
	if err != nil {
		return nil, fmt.Errorf("%s: loading: %s", src.file, errText(err))
	}
	for _, fn := range append([]string{"meta"}, contracts[src.kind]...) {
		if _, ok := tbl.RawGetString(fn).(*glua.LFunction); !ok {
			return nil, fmt.Errorf("%s:%d: the %s script's table has no function %q (a %s script needs meta, %s)",
				src.file, line, src.kind, fn, src.kind, strings.Join(contracts[src.kind], ", "))
		}
	}
	if err := L.CallByParam(glua.P{Fn: tbl.RawGetString("meta"), NRet: 1, Protect: true}); err != nil {
		return nil, fmt.Errorf("%s: meta(): %s", src.file, errText(err))
	}
	mv := L.Get(-1)
	L.Pop(1)
	mt, ok := mv.(*glua.LTable)
	if !ok {
		return nil, fmt.Errorf("%s:%d: meta() returned %s, not a table {name, description, parameters}", src.file, line, mv.Type())
	}
	meta, err := parseMeta(mt, src.kind)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: meta(): %w", src.file, line, err)
	}
	if meta.Name == "" {
		meta.Name = src.name
	}
	if meta.Name != src.name {
		return nil, fmt.Errorf("%s:%d: meta() names the script %q but its file is %s.lua: make them agree", src.file, line, meta.Name, src.name)
	}
	meta.Kind, meta.File, meta.Granted = src.kind, src.file, src.granted
	s.meta = meta
	return s, nil
}

// parseMeta reads and checks the table meta() returned.
func parseMeta(t *glua.LTable, kind Kind) (Meta, error) {
	var m Meta
	if v := t.RawGetString("name"); v != glua.LNil {
		s, ok := v.(glua.LString)
		if !ok {
			return m, fmt.Errorf("name is a %s, want a string", v.Type())
		}
		m.Name = string(s)
	}
	if v, ok := t.RawGetString("description").(glua.LString); ok {
		m.Description = string(v)
	}
	if m.Description == "" {
		return m, errors.New("description is missing: say in one line what the script does")
	}
	m.ExtraParameters = glua.LVAsBool(t.RawGetString("extra_parameters"))
	params, err := parseParams(t.RawGetString("parameters"))
	if err != nil {
		return m, err
	}
	m.Parameters = params
	ev := t.RawGetString("events")
	if kind == KindHandler {
		et, ok := ev.(*glua.LTable)
		if !ok {
			return m, errors.New(`a handler's meta needs events = {"kind", ...} (or {"*"} for all)`)
		}
		for i := 1; i <= et.Len(); i++ {
			s, ok := et.RawGetInt(i).(glua.LString)
			if !ok || s == "" {
				return m, fmt.Errorf("events[%d] is not an event kind", i)
			}
			m.Events = append(m.Events, string(s))
		}
		if len(m.Events) == 0 {
			return m, errors.New("events is empty: list the event kinds the handler takes")
		}
	}
	return m, nil
}

var paramTypes = map[string]bool{"string": true, "integer": true, "number": true, "boolean": true, "duration": true}

func parseParams(v glua.LValue) ([]Param, error) {
	if v == glua.LNil {
		return nil, nil
	}
	t, ok := v.(*glua.LTable)
	if !ok {
		return nil, fmt.Errorf("parameters is a %s, want a list of {name, type, ...}", v.Type())
	}
	var out []Param
	seen := make(map[string]bool)
	for i := 1; i <= t.Len(); i++ {
		pt, ok := t.RawGetInt(i).(*glua.LTable)
		if !ok {
			return nil, fmt.Errorf("parameters[%d] is not a table", i)
		}
		var p Param
		name, ok := pt.RawGetString("name").(glua.LString)
		if !ok || name == "" {
			return nil, fmt.Errorf("parameters[%d] has no name", i)
		}
		p.Name = string(name)
		if seen[p.Name] {
			return nil, fmt.Errorf("parameter %q is declared twice", p.Name)
		}
		seen[p.Name] = true
		p.Type = "string"
		if tv, ok := pt.RawGetString("type").(glua.LString); ok {
			p.Type = string(tv)
		}
		if !paramTypes[p.Type] {
			return nil, fmt.Errorf("parameter %q has type %q: use string, integer, number, boolean or duration", p.Name, p.Type)
		}
		p.Required = glua.LVAsBool(pt.RawGetString("required"))
		if d, ok := pt.RawGetString("description").(glua.LString); ok {
			p.Description = string(d)
		}
		if dv := pt.RawGetString("default"); dv != glua.LNil {
			switch d := dv.(type) {
			case glua.LString:
				p.Default = string(d)
			case glua.LNumber:
				p.Default = strconv.FormatFloat(float64(d), 'f', -1, 64)
			case glua.LBool:
				p.Default = strconv.FormatBool(bool(d))
			default:
				return nil, fmt.Errorf("parameter %q: default is a %s", p.Name, dv.Type())
			}
			p.hasDefault = true
			if _, err := convertParam(p, p.Default); err != nil {
				return nil, fmt.Errorf("default of %w", err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}
