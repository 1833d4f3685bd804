package lua

import (
	"unsafe"

	glua "github.com/yuin/gopher-lua"
)

// Memory a VM keeps across calls. The watchdog bounds how much the heap
// grows during one call; a script can also keep what each call builds (in
// a local of its chunk, its globals, its table) and grow a little every
// call. After each call, do measures what the VM's scripts keep (retained)
// and replaces the VM when that is above the memory limit, so no VM holds
// more than the limit from one call to the next.

// Rough sizes of gopher-lua's values, in bytes: a table's entry is a key
// and a value (two interfaces) plus the map's or slice's overhead.
const (
	sizeTable    = 96
	sizeEntry    = 48
	sizeFunction = 64
	sizeUpvalue  = 40
	sizeString   = 16
	sizeUserData = 64
	sizeMatch    = 64 // a gmatch iterator's match: its pointer, MatchData and captures
	sizeCode     = 16 // a compiled instruction, with its line and debug data
	// shareString: strings of at least this many bytes are counted once
	// however many tables hold them (a cache holding one big string twice
	// does not hold it twice).
	shareString = 256
)

// retained estimates the bytes the VM's scripts keep: everything reachable
// from their environments and tables, but the sandbox's libraries (the
// same in every VM). It stops counting once above limit.
func (v *vm) retained(limit uint64) uint64 {
	// The map and the stack are the VM's, kept from call to call: the walk
	// runs after every call and should not allocate.
	if v.walkSeen == nil {
		v.walkSeen = make(map[unsafe.Pointer]struct{})
	}
	seen := v.walkSeen
	clear(seen)
	mark := func(p unsafe.Pointer) bool {
		if _, ok := seen[p]; ok {
			return false
		}
		seen[p] = struct{}{}
		return true
	}
	mark(unsafe.Pointer(v.globals))
	mark(unsafe.Pointer(v.baseFns))
	mark(unsafe.Pointer(v.envMeta))
	mark(unsafe.Pointer(v.L.Env))
	for _, mt := range v.libMeta {
		mark(unsafe.Pointer(mt))
		if lib, ok := mt.RawGetString("__index").(*glua.LTable); ok {
			mark(unsafe.Pointer(lib))
		}
	}
	for _, mt := range v.mods {
		mark(unsafe.Pointer(mt))
	}
	stack := v.walkStack[:0]
	for _, env := range v.envs {
		stack = append(stack, env)
	}
	for _, t := range v.inst {
		stack = append(stack, t)
	}
	var total uint64
	var protos []*glua.FunctionProto
	push := func(k, e glua.LValue) {
		total += sizeEntry
		stack = append(stack, k, e)
	}
	for len(stack) > 0 && total <= limit {
		val := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch x := val.(type) {
		case glua.LString:
			if len(x) >= shareString && !mark(unsafe.Pointer(unsafe.StringData(string(x)))) {
				continue
			}
			total += sizeString + uint64(len(x))
		case *glua.LTable:
			if !mark(unsafe.Pointer(x)) {
				continue
			}
			total += sizeTable
			x.ForEach(push)
			if x.Metatable != nil && x.Metatable != glua.LNil {
				stack = append(stack, x.Metatable)
			}
		case *glua.LFunction:
			if x.IsG {
				// A Go function holds only its upvalues (its Env is the
				// VM's default or the sandbox's base: nothing a script
				// keeps). Not marked: the map is the walk's main cost.
				total += sizeFunction
				for _, uv := range x.Upvalues {
					if uv != nil {
						stack = append(stack, uv.Value())
					}
				}
				continue
			}
			if !mark(unsafe.Pointer(x)) {
				continue
			}
			total += sizeFunction + sizeUpvalue*uint64(len(x.Upvalues))
			// Its compiled code (loadstring's chunks are each a proto of
			// their own, with their constants).
			if x.Proto != nil && mark(unsafe.Pointer(x.Proto)) {
				protos = append(protos, x.Proto)
				for len(protos) > 0 && total <= limit {
					p := protos[len(protos)-1]
					protos = protos[:len(protos)-1]
					total += sizeFunction + sizeCode*uint64(len(p.Code)) + sizeEntry*uint64(len(p.Constants))
					for _, c := range p.Constants {
						if s, ok := c.(glua.LString); ok {
							total += uint64(len(s))
						}
					}
					for _, child := range p.FunctionPrototypes {
						if mark(unsafe.Pointer(child)) {
							protos = append(protos, child)
						}
					}
				}
			}
			for _, uv := range x.Upvalues {
				if uv != nil {
					stack = append(stack, uv.Value())
				}
			}
			if x.Env != nil {
				stack = append(stack, x.Env)
			}
		case *glua.LUserData:
			if !mark(unsafe.Pointer(x)) {
				continue
			}
			total += sizeUserData
			if st, ok := x.Value.(*gmatchState); ok {
				// A gmatch iterator's state: every match of its string.
				total += sizeMatch * uint64(len(st.matches))
				stack = append(stack, glua.LString(st.str))
			}
			if x.Metatable != nil && x.Metatable != glua.LNil {
				stack = append(stack, x.Metatable)
			}
		}
	}
	clear(stack[:cap(stack)])
	if cap(stack) <= 4096 {
		v.walkStack = stack[:0] // keep a small stack; let a big one go
	} else {
		v.walkStack = nil
	}
	if len(seen) > 4096 {
		v.walkSeen = nil
	}
	return total
}
