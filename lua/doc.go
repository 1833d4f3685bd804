// Package lua is corral's Lua host: it loads the resource agents, fence
// drivers, failover policies and event handlers written in Lua, and runs
// them in a bounded pool of sandboxed gopher-lua VMs (imported as glua).
//
// # API
//
//	h, err := lua.New(lua.Config{Paths, Grant, PoolSize, Log, Cluster, Timeout, MemoryLimit, Seed})
//	defer h.Close()
//	h.Reload() error                                   // re-read every script; on error keep the old ones
//	h.Scripts(kind) []Meta; h.Script(kind, name) (Meta, bool); h.Subscribers(eventKind) []string
//	h.Broken(kind) []Meta                              // files that did not load (Config.SkipBroken)
//	h.Generation() uint64                              // loads that took: 1 after New, +1 per Reload
//	h.RunAgent(ctx, agent, action, params) (Outcome, error)        // start|stop|monitor|meta
//	h.RunFence(ctx, driver, action, target, params) (Outcome, error) // off|on|reboot|status|list|meta
//	h.ChooseOwner(ctx, policy, group, candidates, cluster) (string, error)
//	h.OnFailure(ctx, policy, resource, failures) (string, error)   // restart|failover|ignore|stop
//	h.Handle(ctx, handler, event) error
//	h.Eval(ctx, code) (string, error)                  // the shell's lua command (corral is a global there; reads only)
//	h.EvalSession(ctx, id, code) (string, error)       // the shell's Lua REPL: one sandboxed VM per session id
//	h.EndSession(id)                                   // (globals carry over; session.go has the rules)
//	h.RunFile(ctx, file, args, out) error              // the shell's lua run FILE (automation)
//	h.CheckParams(kind, name, params) error            // validate a configuration without a call
//	h.VMs(), h.Busy()                                  // pool gauges
//
// Every call blocks its caller until the script returns or ctx's deadline
// passes (Config.Timeout, default 20 s, when ctx has none): never call one
// on the node's event loop; hand it to a goroutine and feed the result back
// as an input. RunFile runs on a VM of its own with no deadline but ctx's.
//
// RunAgent's Outcome always says what happened: StatusOK, StatusNotRunning,
// StatusFailed (a retry or another node may do better), StatusConfig (bad
// parameters, not installed: no node will do better), StatusTimeout. Its
// error is non-nil only when the host could not run the action as asked
// (unknown agent or action, bad parameters, no VM free or the deadline
// passed, a memory bomb); a script that raises an error is StatusFailed with
// its message and a nil error.
//
// # Scripts
//
// A script is a file in a kind's folder: resource/, fence/, policy/ or
// handler/, first those shipped in the binary (package agents), then those
// of each Config.Paths directory in order; a later script replaces an
// earlier one of the same kind and name. The names of the built-in agents
// (Builtins: the resource agent "disk", a served disk the node runs
// itself) are reserved: resource/disk.lua is a load error (broken with
// Config.SkipBroken), and `agents` lists the built-in one with
// Meta.Builtin set. Files ending in _test.lua are Lua
// tests, not scripts. A script returns a table of functions, with meta()
// returning {name, description, parameters = {{name, type, required,
// default, description}}, extra_parameters} (a handler adds events =
// {kinds} or {"*"}), and its kind's contract:
//
//	resource  start(params, info), stop(params, info), monitor(params, info) -> status [, message]
//	fence     off(target, params, info), on(...), reboot(...), status(...) -> status [, message]; list(params, info) -> {targets}
//	policy    choose_owner(group, candidates, cluster) -> name | nil; on_failure(resource, failures) -> action
//	handler   handle(event) -> true | false, message
//
// A status is "ok", "not_running", "failed" or "config" (also corral.OK ...;
// true is ok, false or nil failed). Parameter types are string, integer,
// number, boolean and duration ("5s", or seconds; the script gets seconds).
// Before a call the host checks params against meta() (unknown names are
// refused unless extra_parameters, required ones must be there, values must
// parse) and applies defaults. Keys starting with "_" are call context: the
// caller passes "_resource" (the resource's name), "_group", "_interval"
// (a monitor's interval in ms), "_node" (the node's name), "_address" (its
// first address), "_state_dir" (a directory of the node's own for state
// and pid files: the shipped agents keep theirs there, else in /tmp) ...
// and the script gets them without the underscore in info. Scripts are compiled once per load
// (the FunctionProto is shared by every VM) and validated then: a syntax
// error, an error at the top level, a bad meta() or a missing contract
// function fails New or Reload with the file and line. With
// Config.SkipBroken (the node's choice) New instead logs a file of
// Config.Paths that does not load, lists it in Broken(kind) with the
// error, and calls to that kind and name fail with ErrBroken.
//
// The tables policies get: group {name, preferred_owners = {...},
// attributes = {...}, ...}; cluster {nodes = {NAME = {groups = count or
// list, load = number, attributes = {site = ...}}}}; resource {name, group,
// restart_max, ...}. The default policy reads preferred_owners,
// nodes[].groups and restart_max (default 3).
//
// # Sandbox
//
// Each VM opens base, table, string and math, and an os with only time,
// clock, date and difftime. dofile, loadfile, require's file search (the
// package library is not opened), getfenv/setfenv, collectgarbage and
// string.dump are absent; load and loadstring compile text only (gopher-lua
// cannot load bytecode). math.random uses a source of each environment's
// own, seeded from the VM's (Config.Seed + the VM's number). print
// logs (or, in Eval and RunFile, is the output). require gives the modules:
//
//	corral  log, debug, warn, sleep, now, remaining, OK...; and the Cluster: status, get,
//	        list, wait_event (reads), set, move, start, stop, pause, resume (changes)
//	exec    run{argv, env, dir, stdin, timeout} -> code, stdout, stderr [, err];
//	        start{argv, env, dir, pidfile, log} -> pid; alive(pid); kill(pid, sig); wait(pid, secs)
//	fs      exists, read, write, remove, mkdir
//	net     tcp{host, port, timeout}; http{url, method, timeout, expect} -> ok, code, body
//	lock    acquire{name, mode, lockspace, flags, lvb, valblk, timeout} -> lk, "ok", sb | nil, status;
//	        lk:convert{mode, flags, lvb, timeout}, lk:release{lvb, flags}, lk:lvb() -> value, valid,
//	        lk:set_lvb(v), lk:mode(), lk:id(), lk:wait_blocking(secs) -> mode | nil, "timeout"|"lost"
//
// The lock module locks through Config.Locks (the node's own lock
// manager; `lua run` in the shell: a lock session over the admin socket).
// A call's locks are one owner's, in one session opened at the first
// acquire and closed when the call ends: locks never outlive the call that
// took them (a handler that must hold a lock runs as lua run, or keeps
// its call going). Statuses are the lock manager's names: EAGAIN (busy,
// with noqueue), EDEADLK (a deadlock victim), ETIMEDOUT (the timeout
// cancelled it), lost; flags are lower-case (noqueue, valblk, quecvt,
// noqueuebast, ...). A value given as lvb (or valblk = true) sets the
// valblk flag; it is written on the way down from PW or EX and read on
// a grant, per the value block table.
//
// Processes exec starts run in their own process group (a timeout kills the
// group) and get SIGKILL when the node dies (Pdeathsig). fs.write writes a
// file of a random name created with O_EXCL|O_NOFOLLOW and renames it.
//
// # Grants
//
// Code is granted or not; there is one grant, because each granted right
// gives the others: exec runs commands as root, and a /resources/... entry
// written with the process agent does too.
//
//   - Granted: the shipped scripts (package agents), the scripts of the
//     Config.Grant directories ([lua] grant), RunFile (the shell's lua run:
//     the user's own file, in the shell's process, acting on the cluster
//     through the admin API with the user's rights) and Lua test files. They
//     may require exec, fs, net and lock (a lock can hold up every node's
//     agents) and call the corral functions that
//     change the cluster: set, move, start, stop, pause, resume.
//   - Not granted: every other script, and Eval (the shell's lua command,
//     /v1/lua/eval). They read the cluster (status, get, list, wait_event)
//     and log; require of exec, fs or net and the changing functions raise
//     an error naming [lua] grant (Eval's names the shell's commands and
//     lua run FILE instead).
//
// Ungranted calls get at most PoolSize - PoolSize/4 of the pool's VMs at
// once, and the memory watchdog stops an ungranted call before a granted
// one: ungranted code cannot starve or get stopped a shipped agent's
// monitor (a failed monitor would restart or move its group).
//
// A call is granted when its script is (vm.granted, set by do for the
// call): the changing functions check it, not which module table the code
// holds, so a function reference cannot carry a grant. That holds because
// no code of one script runs in another's call: scripts share nothing
// mutable (below), and the host passes data, never functions, between them.
//
// # Isolation
//
// Every script (and every Eval) runs in its own environment (newEnv): its
// own globals table, with _G itself and its own require, load and
// loadstring (whose chunks run in that environment, not the VM's default
// one); it reads the base functions (print, pairs, tostring ...) through a
// locked metatable (getmetatable(_G) is "locked", setmetatable(_G, ...)
// is refused, rawget(_G, "print") is nil). The string, table, math and os
// libraries, and every module require gives, are read-only views: an
// assignment raises
// "... is read-only", a rawset changes only the view of the script that
// made it (each environment has its own views), getmetatable gives
// "locked" and setmetatable refuses them. The string metatable is a table
// of its own, locked the same way, so ("x"):gsub is always the sandbox's;
// setmetatable takes tables only (gopher-lua's would set the metatable all
// numbers or booleans share). The VM's default environment, which only
// functions made without one see, is an empty locked table. pairs over a
// library lists nothing (views have no entries of their own).
//
// # Runaways
//
// A call runs with its context set on the VM (L.SetContext), so an endless
// loop stops at the deadline, also inside pcall (pcall and xpcall re-raise
// once the context is done). Go calls the deadline cannot interrupt are
// bounded: string.find, match, gmatch and gsub run on a copy of
// gopher-lua's matcher (internal/pm) that checks the call's context every
// few thousand steps; a chunk (a script file, Eval's code, loadstring's or
// load's text) above 256 KiB, nesting expressions or blocks more than 200
// deep, or with a function of more than 1024 distinct constants and
// labels is refused before it is compiled (gopher-lua's compiler is
// superlinear in an expression's depth and in a function's constants and
// labels); a..b..c compiles as (a..b)..c,
// one instruction per pair, so a chain of big strings is not joined in
// one Go allocation the watchdog cannot stop (a __concat metamethod sees
// the pairs from the left); corral.log and the lua command's
// output convert at most 10,000 values and 1 MiB (a table within itself is
// "<cycle>", the rest "<truncated>"); string.rep, table.concat and
// string.gsub refuse results above 64 MiB, and string.format one that
// could be (it charges each verb its width, precision and the longest
// argument; a table argument is its tostring text); os.date refuses a
// format above 4 KiB; table.sort checks the context before each
// comparison (a Go comparator runs no Lua instruction); table.concat
// builds its string without the value stack (gopher-lua's pushed every
// piece: 200,000 overflowed it, seconds in one Go call); unpack and
// string.byte return at most 8000 values; the value stack and call depth
// are capped.
//
// Memory: gopher-lua has no allocation hook. A watchdog samples the Go heap
// every 5 ms while calls run and stops calls during which it grew by more
// than Config.MemoryLimit (default 256 MiB): an ungranted call before a
// granted one (an ungranted handler's bomb must not fail a shipped agent's
// monitor), then the one that started last. What a VM's scripts keep from
// call to call (their environments, tables and upvalues, the compiled
// code of their functions, gmatch iterators' matches, estimated by a
// walk that stops past the limit) counts too: after each call, a VM that
// keeps more than the limit is replaced and its scripts start afresh. So
// no VM holds more than the limit between calls (by the walk's estimate),
// nor grows by more during one. string.sub and the pattern functions'
// captures are copies, not slices of their string (a kept byte would keep
// the whole string, out of the walk's sight). Errors name the script and the call ("lua: resource/loop monitor:
// stopped at its deadline (2s) ..."). A VM whose call was stopped is
// thrown away and replaced.
//
// # Lua tests
//
// RunTests(t, h, vars, dirs...) runs every *_test.lua file under dirs: each
// global function TestX(t) is a subtest, with t:log, t:error, t:fatal,
// t:ok(cond, ...), t:eq(got, want, ...), t:skip, t:tempdir and t:name, the
// global host (host.run, host.fence, host.choose_owner, host.on_failure,
// host.handle, host.script, host.scripts, host.eval) and the global vars.
package lua
