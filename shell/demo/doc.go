// Package demo is `corral demo` (corral help start, "The demo"): a local
// cluster of agents on loopback addresses, each in its own directory under
// DIR (.corral-demo) with its configuration, key, socket, pid file and log,
// started as child processes of this binary (`corral agent`), with a demo
// fence device (demofence.go) and the group web (demoweb.go); `corral demo
// stop` stops them. Run is the command; package main calls it.
package demo
