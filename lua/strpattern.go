package lua

import (
	"strconv"
	"strings"
	"unsafe"

	glua "github.com/yuin/gopher-lua"

	"github.com/corral-ha/corral/lua/internal/pm"
)

// The string library's pattern functions (find, match, gmatch, gsub), as
// gopher-lua's stringlib.go has them, on our copy of its matcher, which
// checks the call's context every few thousand steps: a backtracking
// pattern stops at the call's deadline instead of running on in Go. gsub
// also builds its result in linear time (gopher-lua's copies the string
// once per match).

// patternCheck is the matcher's check: the call's context's error.
func patternCheck(L *glua.LState) func() error {
	ctx := L.Context()
	if ctx == nil {
		return nil
	}
	return func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return nil
	}
}

// What these functions give a script is a copy, never a slice of the
// string it came from: a one-byte match kept the whole string it was
// found in alive, uncounted by the retained-memory walk (strSub too).

// strSub is string.sub(s, i [, j]), as gopher-lua's but copying.
func strSub(L *glua.LState) int {
	str := L.CheckString(1)
	start := strIndex(str, L.CheckInt(2))
	end := L.OptInt(3, -1)
	if end < 0 {
		end = len(str) + end + 1
	}
	end = min(max(end, 0), len(str))
	if start >= len(str) || end < start {
		L.Push(glua.LString(""))
		return 1
	}
	L.Push(glua.LString(strings.Clone(str[start:end])))
	return 1
}

// find runs the matcher, raising its error (the deadline's, once passed).
func find(L *glua.LState, pattern, str string, offset, limit int) []*pm.MatchData {
	// The matcher only reads src: no copy of str.
	src := unsafe.Slice(unsafe.StringData(str), len(str))
	mds, err := pm.Find(pattern, src, offset, limit, patternCheck(L))
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return mds
}

// pushCaptures pushes a match's captures (positions as numbers) and
// returns how many.
func pushCaptures(L *glua.LState, md *pm.MatchData, str string) int {
	n := 0
	for i := 2; i < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			L.Push(glua.LNumber(md.Capture(i)))
		} else {
			L.Push(glua.LString(strings.Clone(str[md.Capture(i):md.Capture(i+1)])))
		}
		n++
	}
	return n
}

func strIndex(str string, i int) int {
	if i != 0 {
		i--
	}
	if i < 0 {
		i = len(str) + i + 1
	}
	return max(0, i)
}

// strFind is string.find(s, pattern [, init [, plain]]).
func strFind(L *glua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	if len(pattern) == 0 {
		L.Push(glua.LNumber(1))
		L.Push(glua.LNumber(0))
		return 2
	}
	init := strIndex(str, L.OptInt(3, 1))
	if L.GetTop() == 4 && glua.LVAsBool(L.Get(4)) {
		if init > len(str) {
			L.Push(glua.LNil)
			return 1
		}
		pos := strings.Index(str[init:], pattern)
		if pos < 0 {
			L.Push(glua.LNil)
			return 1
		}
		L.Push(glua.LNumber(init + pos + 1))
		L.Push(glua.LNumber(init + pos + len(pattern)))
		return 2
	}
	mds := find(L, pattern, str, init, 1)
	if len(mds) == 0 {
		L.Push(glua.LNil)
		return 1
	}
	md := mds[0]
	L.Push(glua.LNumber(md.Capture(0) + 1))
	L.Push(glua.LNumber(md.Capture(1)))
	return 2 + pushCaptures(L, md, str)
}

// strMatch is string.match(s, pattern [, init]).
func strMatch(L *glua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	offset := L.OptInt(3, 1)
	if offset < 0 {
		offset = len(str) + offset + 1
	}
	offset = max(offset-1, 0)
	mds := find(L, pattern, str, offset, 1)
	if len(mds) == 0 {
		L.Push(glua.LNil)
		return 1
	}
	md := mds[0]
	if md.CaptureLength() == 2 {
		L.Push(glua.LString(strings.Clone(str[md.Capture(0):md.Capture(1)])))
		return 1
	}
	return pushCaptures(L, md, str)
}

type gmatchState struct {
	str     string
	pos     int
	matches []*pm.MatchData
}

// strGmatch is string.gmatch(s, pattern): the matches are found at once,
// under the call's deadline.
func strGmatch(L *glua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	mds := find(L, pattern, str, 0, -1)
	ud := L.NewUserData()
	ud.Value = &gmatchState{str: str, matches: mds}
	L.Push(L.NewFunction(gmatchIter))
	L.Push(ud)
	return 2
}

func gmatchIter(L *glua.LState) int {
	st, ok := L.CheckUserData(1).Value.(*gmatchState)
	if !ok || st.pos >= len(st.matches) {
		return 0
	}
	md := st.matches[st.pos]
	st.pos++
	if md.CaptureLength() == 2 {
		L.Push(glua.LString(strings.Clone(st.str[md.Capture(0):md.Capture(1)])))
		return 1
	}
	return pushCaptures(L, md, st.str)
}

// capture is capture idx (0: the whole match) of md as text.
func capture(L *glua.LState, md *pm.MatchData, str string, idx int) string {
	if idx > 2 && idx >= md.CaptureLength() {
		L.RaiseError("invalid capture index")
	}
	if idx >= md.CaptureLength() && idx == 2 {
		idx = 0
	}
	if md.IsPosCapture(idx) {
		return strconv.Itoa(md.Capture(idx))
	}
	return str[md.Capture(idx):md.Capture(idx+1)]
}

// strGsub is string.gsub(s, pattern, repl [, n]).
func strGsub(L *glua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	L.CheckTypes(3, glua.LTString, glua.LTTable, glua.LTFunction)
	repl := L.CheckAny(3)
	limit := L.OptInt(4, -1)
	mds := find(L, pattern, str, 0, limit)
	if len(mds) == 0 {
		L.SetTop(1)
		L.Push(glua.LNumber(0))
		return 2
	}
	var b strings.Builder
	last := 0
	for _, md := range mds {
		start, end := md.Capture(0), md.Capture(1)
		b.WriteString(str[last:start])
		last = end
		whole := str[start:end]
		var with glua.LValue
		switch r := repl.(type) {
		case glua.LString:
			b.WriteString(expandRepl(L, string(r), md, str))
			if b.Len() > maxRep {
				L.RaiseError("string.gsub: the result is above the %d MiB cap", maxRep>>20)
			}
			continue
		case *glua.LTable:
			if md.CaptureLength() > 2 && md.IsPosCapture(2) {
				with = L.GetTable(r, glua.LNumber(md.Capture(2)))
			} else {
				with = L.GetField(r, strings.Clone(capture(L, md, str, 2)))
			}
		case *glua.LFunction:
			L.Push(r)
			n := 1
			if md.CaptureLength() > 2 {
				n = pushCaptures(L, md, str)
			} else {
				L.Push(glua.LString(strings.Clone(whole)))
			}
			L.Call(n, 1)
			with = L.Get(-1)
			L.Pop(1)
		}
		if glua.LVIsFalse(with) {
			b.WriteString(whole)
		} else {
			b.WriteString(glua.LVAsString(with))
		}
		if b.Len() > maxRep {
			L.RaiseError("string.gsub: the result is above the %d MiB cap", maxRep>>20)
		}
	}
	b.WriteString(str[last:])
	L.Push(glua.LString(b.String()))
	L.Push(glua.LNumber(len(mds)))
	return 2
}

// expandRepl is a gsub replacement string for one match: %0 to %9 are
// captures, %% a percent sign, and % before another character that
// character as it is.
func expandRepl(L *glua.LState, repl string, md *pm.MatchData, str string) string {
	if !strings.Contains(repl, "%") {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		c = repl[i]
		if c >= '0' && c <= '9' {
			b.WriteString(capture(L, md, str, 2*int(c-'0')))
			continue
		}
		if c != '%' {
			b.WriteByte('%')
		}
		b.WriteByte(c)
	}
	return b.String()
}
