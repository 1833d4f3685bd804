package lua

import (
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// TestConcatJoinsTwoAtATime: gopher-lua compiles a..b..c.. into one
// CONCAT instruction that joins every operand in one Go allocation the
// deadline and the watchdog cannot stop: 190 operands of a 64 MiB string
// are 12 GiB at once, and the node dies. Each CONCAT the sandbox compiles
// joins two registers, so the watchdog stops a growing chain between two.
func TestConcatJoinsTwoAtATime(t *testing.T) {
	code := `local s, t = "x", {}
local a = s..s..s..s..s..s..s..s
t[s..s..s] = (s..s)..(s..s..s) .. f(s..s..s, ...) .. (s and s..s) .. s
return a .. s .. s, function() return s..s..s..s end`
	proto, _, err := compile("chain", []byte(code))
	if err != nil {
		t.Fatal(err)
	}
	var check func(p *glua.FunctionProto)
	n := 0
	check = func(p *glua.FunctionProto) {
		for pc, inst := range p.Code {
			if int(inst>>26) != glua.OP_CONCAT {
				continue
			}
			n++
			b, c := int(inst&0x1ff), int(inst>>9)&0x1ff
			if c-b > 1 {
				t.Errorf("%s:%d: CONCAT joins %d registers at once", p.SourceName, p.DbgSourcePositions[pc], c-b+1)
			}
		}
		for _, child := range p.FunctionPrototypes {
			check(child)
		}
	}
	check(proto)
	if n == 0 {
		t.Fatal("no CONCAT compiled")
	}
}
