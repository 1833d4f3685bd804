package help

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/config"
)

var update = flag.Bool("update", false, "rewrite the generated parts of the topics (go generate ./shell/help/)")

// configSrc is core/config's source, where the schema's comments, the
// defaults and the validation rules are.
const configSrc = "../../core/config"

// Markers around the generated part of a topic.
const (
	genBegin = "<!-- BEGIN GENERATED: go generate ./shell/help/ rewrites this part; do not edit it -->"
	genEnd   = "<!-- END GENERATED -->"
)

// TestConfigReference checks that config.md's reference is what
// core/config says: every key with its type, default, meaning and the
// validation's checks. Run `go generate ./shell/help/` after changing the
// schema, a default or a rule.
func TestConfigReference(t *testing.T) {
	want, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	checkGenerated(t, "config.md", want)
}

// checkGenerated compares the generated part of file with want, or
// rewrites it with -update.
func checkGenerated(t *testing.T, file, want string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, genBegin), strings.Index(doc, genEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q markers", file, genBegin, genEnd)
	}
	have := doc[i+len(genBegin)+1 : j]
	if have == want {
		return
	}
	if *update {
		doc = doc[:i+len(genBegin)+1] + want + doc[j:]
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	hl, wl := strings.Split(have, "\n"), strings.Split(want, "\n")
	for k := 0; k < len(hl) || k < len(wl); k++ {
		var h, w string
		if k < len(hl) {
			h = hl[k]
		}
		if k < len(wl) {
			w = wl[k]
		}
		if h != w {
			t.Fatalf("%s is out of date with the code (first difference, generated line %d):\n have: %q\n want: %q\nrun: go generate ./shell/help/", file, k+1, h, w)
		}
	}
}

// derived are the defaults Load computes from other settings
// (config's derive); TestDerivedDefaults checks them.
var derived = map[string]string{
	"nodes.votes": "`1`",
	"dns.listen":  "`<first address>:53`",
	"dns.domain":  "`<cluster>.corral.`",
}

// TestDerivedDefaults checks the derived defaults the reference states.
func TestDerivedDefaults(t *testing.T) {
	c, err := config.Parse("/etc/corral/corral.toml", []byte(`cluster = "prod"
node = "a"
key_file = "k"
[[nodes]]
name = "a"
id = 1
addresses = ["10.0.0.1"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Nodes[0].VotesOf(); derived["nodes.votes"] != fmt.Sprintf("`%d`", got) {
		t.Errorf("votes default %d, the reference says %s", got, derived["nodes.votes"])
	}
	if got := strings.Join(c.DNS.Listen, ","); got != "10.0.0.1:53" || derived["dns.listen"] != "`<first address>:53`" {
		t.Errorf("dns.listen default %q, the reference says %s", got, derived["dns.listen"])
	}
	if got := c.DNS.Domain; got != "prod.corral." || derived["dns.domain"] != "`<cluster>.corral.`" {
		t.Errorf("dns.domain default %q, the reference says %s", got, derived["dns.domain"])
	}
}

// configReference renders the reference from core/config.
func configReference() (string, error) {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(configSrc, "*.go"))
	if err != nil {
		return "", err
	}
	var files []*ast.File
	for _, name := range names { // Glob sorts them
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return "", err
		}
		files = append(files, f)
	}
	docs, typeDocs := fieldDocs(files)
	defs := defaultDocs(fset, files)
	rules := validationRules(files)
	var b strings.Builder
	var missing []string
	var walk func(t reflect.Type, v reflect.Value, goPath, tomlPath, header string)
	walk = func(t reflect.Type, v reflect.Value, goPath, tomlPath, header string) {
		var nested []func()
		if header != "" {
			fmt.Fprintf(&b, "### %s\n\n", header)
			if d := typeDocs[t.Name()]; d != "" {
				fmt.Fprintf(&b, "%s\n\n", d)
			}
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" || !f.IsExported() {
				continue
			}
			key := join(tomlPath, tag)
			gp := join(goPath, f.Name)
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(config.Duration(0)):
				fv := v.Field(i)
				nested = append(nested, func() { walk(ft, fv, gp, key, "`["+key+"]`") })
				continue
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				et := ft.Elem()
				nested = append(nested, func() { walk(et, reflect.New(et).Elem(), gp, key, "`[["+key+"]]`") })
				continue
			}
			doc := docs[t.Name()+"."+f.Name]
			if doc == "" {
				missing = append(missing, t.Name()+"."+f.Name)
			}
			if rest, ok := strings.CutPrefix(doc, f.Name+" "); ok {
				doc = "`" + tag + "` " + rest // the key, not the Go field (TTL too)
			}
			doc = keyNames(doc, t)
			fmt.Fprintf(&b, "- `%s`: %s, default %s. %s", tag, typeName(ft), defaultOf(key, v.Field(i), rules[key]), doc)
			if r := defs[gp]; r != "" && !strings.Contains(doc, r) {
				fmt.Fprintf(&b, " Why this default: %s", r)
			}
			if len(rules[key]) > 0 {
				fmt.Fprintf(&b, " Checks: %s.", strings.Join(rules[key], "; "))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
		for _, n := range nested {
			n()
		}
	}
	d := config.Default()
	walk(reflect.TypeOf(*d), reflect.ValueOf(*d), "", "", "Top level")
	if len(missing) > 0 {
		return "", fmt.Errorf("core/config: fields without a comment (the reference's meaning): %s", strings.Join(missing, ", "))
	}
	return b.String(), nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func mapsKeys[M ~map[string]V, V any](m M) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// fieldRE finds Go field names in a comment: a word, or Config.Word.
var fieldRE = regexp.MustCompile(`\b(Config\.)?[A-Z][A-Za-z]*\b`)

// keyNames writes the keys for the Go field names a comment uses: the
// fields of t (Nodes is `nodes`) and Config.Port-style references, but
// not sections (Lua) or acronyms (TTL, API), which are prose.
func keyNames(doc string, t reflect.Type) string {
	return fieldRE.ReplaceAllStringFunc(doc, func(w string) string {
		st := t
		if name, ok := strings.CutPrefix(w, "Config."); ok {
			st, w = reflect.TypeOf(config.Config{}), name
		}
		f, ok := st.FieldByName(w)
		if !ok || f.Tag.Get("toml") == "" || strings.ToUpper(w) == w {
			return w
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(config.Duration(0)) {
			return w // not a key; TTL, API: acronyms in prose; Lua: a section
		}
		return "`" + f.Tag.Get("toml") + "`"
	})
}

// typeName is a key's type as a user writes it.
func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(config.Duration(0)):
		return "duration (\"100ms\", \"5s\")"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	case t.Kind() == reflect.Map:
		return "table of " + typeName(t.Elem()) + "s"
	}
	return t.String()
}

// defaultOf is a key's default as the reference states it.
func defaultOf(key string, v reflect.Value, rules []string) string {
	if d, ok := derived[key]; ok {
		return d
	}
	if v.IsZero() {
		for _, r := range rules {
			if strings.HasPrefix(r, "\"missing") || strings.HasPrefix(r, "\"no ") {
				return "none (required)"
			}
		}
		switch v.Kind() {
		case reflect.String, reflect.Slice, reflect.Map:
			return "none"
		}
	}
	if d, ok := v.Interface().(config.Duration); ok {
		return "`" + d.String() + "`"
	}
	if v.Kind() == reflect.String {
		return "`" + strconv.Quote(v.String()) + "`"
	}
	return fmt.Sprintf("`%v`", v.Interface())
}

// comment joins a comment group into one line.
func comment(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

// fieldDocs maps "Type.Field" to the field's comment and "Type" to the
// type's.
func fieldDocs(files []*ast.File) (fields, types map[string]string) {
	fields, types = map[string]string{}, map[string]string{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				d := comment(ts.Doc)
				if d == "" {
					d = comment(gd.Doc)
				}
				types[ts.Name.Name] = d
				for _, fl := range st.Fields.List {
					doc := comment(fl.Doc)
					if doc == "" {
						doc = comment(fl.Comment)
					}
					for _, n := range fl.Names {
						fields[ts.Name.Name+"."+n.Name] = doc
					}
				}
			}
		}
	}
	return fields, types
}

// defaultDocs maps a Config field path ("Timers.Heartbeat") to the comment
// above its value in Default.
func defaultDocs(fset *token.FileSet, files []*ast.File) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Name.Name != "Default" {
				continue
			}
			byEnd := map[int]*ast.CommentGroup{}
			for _, g := range f.Comments {
				if g.Pos() >= fd.Pos() && g.End() <= fd.End() {
					byEnd[fset.Position(g.End()).Line] = g
				}
			}
			var lit func(cl *ast.CompositeLit, path string)
			lit = func(cl *ast.CompositeLit, path string) {
				for _, e := range cl.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					id, ok := kv.Key.(*ast.Ident)
					if !ok {
						continue
					}
					p := join(path, id.Name)
					if g := byEnd[fset.Position(kv.Pos()).Line-1]; g != nil {
						// The last paragraph: earlier ones speak of other keys.
						paras := strings.Split(strings.TrimSpace(g.Text()), "\n\n")
						out[p] = strings.Join(strings.Fields(paras[len(paras)-1]), " ")
					}
					if inner, ok := kv.Value.(*ast.CompositeLit); ok {
						lit(inner, p)
					}
				}
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if u, ok := n.(*ast.UnaryExpr); ok {
					if cl, ok := u.X.(*ast.CompositeLit); ok {
						lit(cl, "")
						return false
					}
				}
				return true
			})
		}
	}
	return out
}

// validationRules maps a key ("timers.lease", "nodes.id") to the messages
// Validate reports for it, with their verbs shown as "…". It reads the
// calls v.addf(KEY, FORMAT, ...) where KEY is a literal, a literal after
// an indexed prefix (key+".name" with key := fmt.Sprintf("nodes[%d]", i)),
// or a prefix and a closure's parameter that the function's calls give as
// literals ("timers."+key in pos("heartbeat", ...)).
func validationRules(files []*ast.File) map[string][]string {
	out := map[string][]string{}
	add := func(key, format string) {
		key = strings.NewReplacer("[%d]", "").Replace(key)
		msg := strings.NewReplacer("%q", "…", "%s", "…", "%d", "…", "%g", "…", "%%", "%", "%v", "…").Replace(format)
		msg = "\"" + msg + "\""
		if !slices.Contains(out[key], msg) {
			out[key] = append(out[key], msg)
		}
	}
	for _, f := range files {
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			// Idents bound to a literal or fmt.Sprintf("lit", ...) in this function.
			bound := map[string]string{}
			// Closures: name -> first parameter's name; calls' literal first args.
			closureParam := map[string]string{}
			callArgs := map[string][]string{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.AssignStmt:
					for i, l := range n.Lhs {
						id, ok := l.(*ast.Ident)
						if !ok || i >= len(n.Rhs) {
							continue
						}
						if s, ok := literal(n.Rhs[i]); ok {
							bound[id.Name] = s
						}
						if fl, ok := n.Rhs[i].(*ast.FuncLit); ok && len(fl.Type.Params.List) > 0 && len(fl.Type.Params.List[0].Names) > 0 {
							closureParam[id.Name] = fl.Type.Params.List[0].Names[0].Name
						}
					}
				case *ast.CallExpr:
					if id, ok := n.Fun.(*ast.Ident); ok && len(n.Args) > 0 {
						if s, ok := literal(n.Args[0]); ok {
							callArgs[id.Name] = append(callArgs[id.Name], s)
						}
					}
				}
				return true
			})
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) < 2 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "addf" {
					return true
				}
				format, ok := literal(call.Args[1])
				if !ok {
					return true
				}
				for _, key := range keysOf(call.Args[0], bound, closureParam, callArgs) {
					add(key, format)
				}
				return true
			})
		}
	}
	return out
}

// literal evaluates a string literal, or fmt.Sprintf's literal format.
func literal(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.CallExpr:
		if sel, ok := e.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" && len(e.Args) > 0 {
			return literal(e.Args[0])
		}
	}
	return "", false
}

// keysOf resolves an addf key expression to the keys it can be.
func keysOf(e ast.Expr, bound, closureParam map[string]string, callArgs map[string][]string) []string {
	if s, ok := literal(e); ok {
		return []string{s}
	}
	if id, ok := e.(*ast.Ident); ok {
		if s, ok := bound[id.Name]; ok {
			return []string{s}
		}
		for fn, p := range closureParam {
			if p == id.Name {
				return callArgs[fn]
			}
		}
		return nil
	}
	be, ok := e.(*ast.BinaryExpr)
	if !ok || be.Op != token.ADD {
		return nil
	}
	var out []string
	for _, l := range keysOf(be.X, bound, closureParam, callArgs) {
		for _, r := range keysOf(be.Y, bound, closureParam, callArgs) {
			out = append(out, l+r)
		}
	}
	return out
}

// TestConfigKeysDocumented is the reference's other direction: every key
// the schema has appears in config.md under its section, whatever the
// generated text says (a mutation that drops a key's line fails here too).
func TestConfigKeysDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(".", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := map[string]bool{}
	cur := "Top level"
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "### ") {
			cur = strings.Trim(strings.TrimPrefix(l, "### "), "`[]")
			continue
		}
		if strings.HasPrefix(l, "- `") {
			k := strings.SplitN(strings.TrimPrefix(l, "- `"), "`", 2)[0]
			if cur == "Top level" {
				section[k] = true
			} else {
				section[cur+"."+k] = true
			}
		}
	}
	var keys []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" {
				continue
			}
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(config.Duration(0)):
				walk(ft, join(path, tag))
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), join(path, tag))
			default:
				keys = append(keys, join(path, tag))
			}
		}
	}
	walk(reflect.TypeOf(config.Config{}), "")
	if len(keys) < 40 {
		t.Fatalf("found only %d keys in config.Config", len(keys))
	}
	for _, k := range keys {
		if !section[k] {
			t.Errorf("config key %s is not in config.md: run go generate ./shell/help/", k)
		}
	}
}
