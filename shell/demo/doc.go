// Package demo is `corral demo` (ARCHITECTURE section 7, "Demo"): a local
// cluster of agents on loopback addresses, each in its own directory under
// DIR (.corral-demo) with its configuration, key, socket, pid file and log,
// started as child processes of this binary (`corral agent`), with a demo
// fence device (demofence.go), the group web (demoweb.go) and, with
// --disk, the served disk drd1 (demodisk.go; every node's config listens
// for NBD on its first address, port 10809); `corral demo stop` stops
// them. Run is the command; package main calls it.
package demo
