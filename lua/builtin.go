package lua

import (
	"fmt"

	"github.com/corral-ha/corral/core/disk"
)

// The built-in agents: resource agents compiled into corral that no
// script implements (the node runs them itself). Their names are
// reserved: a script of that kind and name is refused at load, so it can
// never be mistaken for the built-in one. They are listed with the
// scripts (`agents`) with Meta.Builtin set.
var builtins = map[Kind][]Meta{
	KindResource: {{
		Kind: KindResource,
		Name: disk.Agent,
		Description: "a served disk, exported over NBD on every node (the node serves it itself; " +
			"add one with `disk add`)",
		Parameters: []Param{
			{Name: disk.ParamSize, Type: "integer", Required: true,
				Description: "the disk's data size in bytes (decimal, a multiple of 512, at least 1 MiB)"},
			{Name: disk.ParamBacking, Type: "string", Required: true,
				Description: "the backing store: an absolute path, the same on every possible server (created sparse if missing)"},
		},
		File:    "built in",
		Granted: true,
		Builtin: true,
	}},
}

// Builtins lists the built-in agents of a kind, sorted by name.
func Builtins(kind Kind) []Meta {
	out := make([]Meta, len(builtins[kind]))
	copy(out, builtins[kind])
	for i := range out {
		out[i].Parameters = append([]Param(nil), out[i].Parameters...)
	}
	return out
}

// Builtin returns the built-in agent of a kind and name (false: none).
func Builtin(kind Kind, name string) (Meta, bool) {
	for _, m := range builtins[kind] {
		if m.Name == name {
			m.Parameters = append([]Param(nil), m.Parameters...)
			return m, true
		}
	}
	return Meta{}, false
}

// reservedError is the load error of a script named as a built-in agent.
func reservedError(src source) error {
	m, _ := Builtin(src.kind, src.name)
	return fmt.Errorf("%s: the %s name %q is reserved for corral's built-in agent (%s): rename the file",
		src.file, src.kind, src.name, m.Description)
}
