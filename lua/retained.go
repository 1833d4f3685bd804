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
	// shareString: strings of at least this many bytes are counted once
	// however many tables hold them (a cache holding one big string twice
	// does not hold it twice).
	shareString = 256
)

// retained estimates the bytes the VM's scripts keep: everything reachable
// from their environments and tables, but the sandbox's libraries (the
// same in every VM). It stops counting once above limit.
func (v *vm) retained(limit uint64) uint64 {
	seen := map[any]bool{v.globals: true, v.L.Env: true}
	for _, mt := range v.libMeta {
		seen[mt] = true
		seen[mt.RawGetString("__index")] = true
	}
	for _, mt := range v.mods {
		seen[mt] = true
	}
	var stack []glua.LValue
	for _, env := range v.envs {
		stack = append(stack, env)
	}
	for _, t := range v.inst {
		stack = append(stack, t)
	}
	var total uint64
	for len(stack) > 0 && total <= limit {
		val := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch x := val.(type) {
		case glua.LString:
			if len(x) >= shareString {
				p := unsafe.StringData(string(x))
				if seen[p] {
					continue
				}
				seen[p] = true
			}
			total += sizeString + uint64(len(x))
		case *glua.LTable:
			if seen[x] {
				continue
			}
			seen[x] = true
			total += sizeTable
			x.ForEach(func(k, e glua.LValue) {
				total += sizeEntry
				stack = append(stack, k, e)
			})
			if x.Metatable != glua.LNil && x.Metatable != nil {
				stack = append(stack, x.Metatable)
			}
		case *glua.LFunction:
			if seen[x] {
				continue
			}
			seen[x] = true
			total += sizeFunction + sizeUpvalue*uint64(len(x.Upvalues))
			for _, uv := range x.Upvalues {
				if uv != nil {
					stack = append(stack, uv.Value())
				}
			}
			if x.Env != nil {
				stack = append(stack, x.Env)
			}
		case *glua.LUserData:
			if seen[x] {
				continue
			}
			seen[x] = true
			total += sizeUserData
			if x.Metatable != glua.LNil && x.Metatable != nil {
				stack = append(stack, x.Metatable)
			}
		}
	}
	return total
}
