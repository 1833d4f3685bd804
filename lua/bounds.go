package lua

import (
	"fmt"
	"strconv"

	"github.com/yuin/gopher-lua/ast"
)

// Bounds on what the sandbox compiles. gopher-lua parses and compiles in
// Go calls that no deadline can interrupt, so a chunk is refused before
// its compilation could run long: the compiler's time grows much faster
// than linearly with an expression's depth (a sum of 20,000 terms took 7 s,
// of 300,000 minutes; 5,000 elseif branches 1.5 s), while parsing is
// linear (the worst shapes, deep unary operators or table constructors,
// took 2-3 s per MiB on a loaded 2-core machine, flat code 0.6 s) and
// compiling code nested at most maxNesting deep is linear too.
const (
	// maxSource bounds a chunk: a script file, the lua command's code,
	// loadstring's and load's text. The largest shipped script is 6 KiB;
	// at this size the worst parse takes well under a second.
	maxSource = 256 << 10
	// maxNesting bounds how deep expressions and blocks nest: Lua 5.1's
	// own parser stops at 200 levels ("chunk has too many syntax levels").
	maxNesting = 200
	// maxConstants bounds the distinct constants (numbers, strings, names
	// of globals, fields and methods), labels and gotos of one function:
	// gopher-lua looks each constant up among those before it, so
	// compiling is quadratic in them (40,000 in a 256 KiB chunk took 16 s;
	// 1024 take a few ms), and labels are superlinear too.
	maxConstants = 1024
)

// boundError is a chunk refused by a bound (not a syntax error: Eval
// reports it as it is).
type boundError struct{ msg string }

func (e *boundError) Error() string { return e.msg }

func errTooLarge(file string, n int) error {
	return &boundError{fmt.Sprintf("%s: the chunk is %d bytes, above the sandbox's %d KiB: split it into scripts", file, n, maxSource>>10)}
}

// pairConcat rewrites the chain a..b..c..d that x heads into
// ((a..b)..c)..d, in place. gopher-lua compiles a chain into one CONCAT
// instruction that joins every operand in one Go allocation, which no
// deadline or watchdog can stop (190 operands of a 64 MiB string are 12
// GiB at once); pairs join two at a time, with the call's context checked
// between two, so the watchdog stops a chain that grows past the limit.
// The result is the same for strings and numbers; a __concat metamethod
// sees (a..b) first rather than (c..d), and the operands are evaluated
// from left to right as before.
func pairConcat(x *ast.StringConcatOpExpr) {
	rest, ok := x.Rhs.(*ast.StringConcatOpExpr)
	if !ok {
		return // a..b: one pair already
	}
	acc := x.Lhs
	for {
		pair := &ast.StringConcatOpExpr{Lhs: acc, Rhs: rest.Lhs}
		pair.SetLine(rest.Line())
		pair.SetLastLine(rest.LastLine())
		acc = pair
		next, ok := rest.Rhs.(*ast.StringConcatOpExpr)
		if !ok {
			x.Lhs, x.Rhs = acc, rest.Rhs
			return
		}
		rest = next
	}
}

// checkNesting refuses a chunk whose expressions and blocks nest deeper
// than maxNesting, naming the line where it goes too deep. The walk stops
// at that depth, so its own cost is linear in the chunk's size. It also
// turns each concatenation chain into pairs (pairConcat) on its way.
func checkNesting(file string, chunk []ast.Stmt) error {
	w := nestWalker{consts: map[string]struct{}{}}
	w.stmts(chunk, 0)
	if w.line > 0 && w.tooMany {
		return &boundError{fmt.Sprintf("%s:%d: a function with more than %d distinct constants (numbers, strings, names) and labels: split it into functions, or keep the data in the cluster's configuration", file, w.line, maxConstants)}
	}
	if w.line > 0 {
		return &boundError{fmt.Sprintf("%s:%d: expressions or blocks nested more than %d deep: split the expression with locals, or the code into functions", file, w.line, maxNesting)}
	}
	return nil
}

type nestWalker struct {
	line    int                 // where the chunk went too deep or had too many constants (0: it did not)
	tooMany bool                // line is where a function passed maxConstants
	consts  map[string]struct{} // the distinct constants of the function being walked
}

func (w *nestWalker) deep(n ast.PositionHolder, depth int) bool {
	if w.line > 0 {
		return true
	}
	if depth > maxNesting {
		w.line = max(n.Line(), 1)
		return true
	}
	return false
}

// constant counts a constant of the function being walked ("n1", "sname").
func (w *nestWalker) constant(n ast.PositionHolder, key string) {
	if w.line > 0 {
		return
	}
	w.consts[key] = struct{}{}
	if len(w.consts) > maxConstants {
		w.line, w.tooMany = max(n.Line(), 1), true
	}
}

func (w *nestWalker) stmts(list []ast.Stmt, depth int) {
	for _, s := range list {
		w.stmt(s, depth)
		if w.line > 0 {
			return
		}
	}
}

func (w *nestWalker) exprs(list []ast.Expr, depth int) {
	for _, e := range list {
		w.expr(e, depth)
	}
}

func (w *nestWalker) stmt(s ast.Stmt, depth int) {
	if s == nil || w.deep(s, depth) {
		return
	}
	d := depth + 1
	switch x := s.(type) {
	case *ast.AssignStmt:
		w.exprs(x.Lhs, d)
		w.exprs(x.Rhs, d)
	case *ast.LocalAssignStmt:
		w.exprs(x.Exprs, d)
	case *ast.FuncCallStmt:
		w.expr(x.Expr, d)
	case *ast.DoBlockStmt:
		w.stmts(x.Stmts, d)
	case *ast.WhileStmt:
		w.expr(x.Condition, d)
		w.stmts(x.Stmts, d)
	case *ast.RepeatStmt:
		w.expr(x.Condition, d)
		w.stmts(x.Stmts, d)
	case *ast.IfStmt:
		w.expr(x.Condition, d)
		w.stmts(x.Then, d)
		w.stmts(x.Else, d)
	case *ast.NumberForStmt:
		w.expr(x.Init, d)
		w.expr(x.Limit, d)
		w.expr(x.Step, d)
		w.stmts(x.Stmts, d)
	case *ast.GenericForStmt:
		w.exprs(x.Exprs, d)
		w.stmts(x.Stmts, d)
	case *ast.FuncDefStmt:
		if x.Name != nil {
			w.expr(x.Name.Func, d)
			w.expr(x.Name.Receiver, d)
			if x.Name.Method != "" {
				w.constant(s, "s"+x.Name.Method)
			}
		}
		w.expr(x.Func, d)
	case *ast.ReturnStmt:
		w.exprs(x.Exprs, d)
	case *ast.LabelStmt, *ast.GotoStmt:
		// Each counts as a constant of its own: gopher-lua resolves
		// labels in time superlinear in their number (20,000 took 0.7 s).
		w.constant(s, "l"+strconv.Itoa(len(w.consts)))
	}
}

func (w *nestWalker) expr(e ast.Expr, depth int) {
	if e == nil || w.deep(e, depth) {
		return
	}
	d := depth + 1
	switch x := e.(type) {
	case *ast.AttrGetExpr:
		w.expr(x.Object, d)
		w.expr(x.Key, d)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			w.expr(f.Key, d)
			w.expr(f.Value, d)
		}
	case *ast.FuncCallExpr:
		w.expr(x.Func, d)
		w.expr(x.Receiver, d)
		w.exprs(x.Args, d)
		if x.Method != "" {
			w.constant(e, "s"+x.Method)
		}
	case *ast.NumberExpr:
		w.constant(e, "n"+x.Value)
	case *ast.StringExpr:
		w.constant(e, "s"+x.Value)
	case *ast.IdentExpr:
		w.constant(e, "s"+x.Value) // a global's name (a local's is counted too: a bound, not a count)
	case *ast.LogicalOpExpr:
		w.expr(x.Lhs, d)
		w.expr(x.Rhs, d)
	case *ast.RelationalOpExpr:
		w.expr(x.Lhs, d)
		w.expr(x.Rhs, d)
	case *ast.StringConcatOpExpr:
		pairConcat(x)
		w.expr(x.Lhs, d)
		w.expr(x.Rhs, d)
	case *ast.ArithmeticOpExpr:
		w.expr(x.Lhs, d)
		w.expr(x.Rhs, d)
	case *ast.UnaryMinusOpExpr:
		w.expr(x.Expr, d)
	case *ast.UnaryNotOpExpr:
		w.expr(x.Expr, d)
	case *ast.UnaryLenOpExpr:
		w.expr(x.Expr, d)
	case *ast.FunctionExpr:
		outer := w.consts
		w.consts = map[string]struct{}{}
		w.stmts(x.Stmts, d)
		w.consts = outer
	}
}
