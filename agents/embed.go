// Package agents holds the Lua scripts shipped inside the corral binary: one
// folder per script kind (resource/, fence/, policy/, handler/), each file a
// script whose name is its base name. The Lua host (package lua) loads them
// before the directories in `[lua] paths` and grants them the exec, fs and net
// modules. Files ending in _test.lua are Lua tests, run by `go test ./lua/`,
// and are not loaded as scripts.
package agents

import (
	"embed"
	"io/fs"
)

//go:embed resource fence policy handler
var files embed.FS

// FS returns the shipped scripts, rooted so that the kind folders are at its
// top ("resource/dummy.lua").
func FS() fs.FS { return files }
