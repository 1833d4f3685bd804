local exec = require("exec")
local fs = require("fs")

local function params(t, command)
  local d = t:tempdir()
  return { command = command, pidfile = d .. "/p.pid", log = d .. "/p.log", stop_timeout = "2s" }
end

local function pid(p)
  return tonumber(fs.read(p.pidfile):match("%d+"))
end

function TestProcessLifecycle(t)
  local p = params(t, "sleep 60")
  t:eq(host.run("process", "monitor", p), "not_running")
  t:eq(host.run("process", "start", p), "ok")
  t:eq(host.run("process", "monitor", p), "ok")
  local n = pid(p)
  t:ok(exec.alive(n), "pid", n, "alive after start")
  t:eq(host.run("process", "start", p), "ok", "start again")
  t:eq(pid(p), n, "start again keeps the process")
  t:eq(host.run("process", "stop", p), "ok")
  t:ok(not exec.alive(n), "pid", n, "gone after stop")
  t:ok(not fs.exists(p.pidfile), "pid file removed")
  t:eq(host.run("process", "monitor", p), "not_running")
end

function TestProcessDiedIsFailed(t)
  local p = params(t, "sleep 60")
  t:eq(host.run("process", "start", p), "ok")
  exec.kill(pid(p), "KILL")
  t:ok(exec.wait(pid(p), 5), "killed process gone")
  local st, msg = host.run("process", "monitor", p)
  t:eq(st, "failed", msg)
  t:ok(msg:find("is gone", 1, true), msg)
  t:eq(host.run("process", "stop", p), "ok", "stop of a dead process")
  t:eq(host.run("process", "start", p), "ok", "restart")
  t:eq(host.run("process", "stop", p), "ok")
end

function TestProcessStopKillsOrphanedGroup(t)
  -- The command dies, what it forked serves on (G4): stop kills the group.
  local d = t:tempdir()
  local p = params(t, "sleep 61 & echo $! > " .. d .. "/child; wait")
  t:eq(host.run("process", "start", p), "ok")
  local child
  for _ = 1, 250 do
    local text = fs.read(d .. "/child")
    child = text and tonumber(text:match("%d+"))
    if child then break end
    require("corral").sleep(0.02)
  end
  t:ok(child, "the command wrote its child's pid")
  local n = pid(p)
  exec.kill(n, "KILL")
  t:ok(exec.wait(n, 5), "the command is gone")
  t:ok(exec.alive(child), "its child lives on")
  t:eq(host.run("process", "monitor", p), "failed")
  t:eq(host.run("process", "stop", p), "ok")
  t:ok(exec.wait(child, 2), "stop killed what the command forked")
end

function TestProcessStopKillsAfterTimeout(t)
  -- A command that ignores TERM and forks a child: stop must KILL the
  -- whole process group after stop_timeout.
  local d = t:tempdir()
  local p = params(t, "sh -c 'trap \"\" TERM; sleep 61 & echo $! > " .. d .. "/child; while true; do sleep 1; done'")
  p.stop_timeout = "0.5s"
  t:eq(host.run("process", "start", p), "ok")
  local child
  for _ = 1, 100 do
    local text = fs.read(d .. "/child")
    child = text and tonumber(text:match("%d+"))
    if child then break end
    require("corral").sleep(0.02)
  end
  t:ok(child, "the command wrote its child's pid")
  local n = pid(p)
  local t0 = os.time()
  t:eq(host.run("process", "stop", p), "ok")
  t:ok(not exec.alive(n), "the TERM-proof process is gone")
  t:ok(exec.wait(child, 2), "its child is gone too")
  t:ok(os.time() - t0 < 10, "stop took", os.time() - t0, "s")
end

function TestProcessExitsAtOnce(t)
  local p = params(t, "sh -c 'echo no such thing >&2; exit 3'")
  p.start_wait = "10s" -- returns as soon as it exits; long for a loaded machine
  local st, msg = host.run("process", "start", p)
  t:eq(st, "failed", msg)
  t:ok(msg:find("exited at once", 1, true), msg)
  t:ok(msg:find("no such thing", 1, true), "the log tail is in the message:", msg)
  t:eq(host.run("process", "monitor", p), "not_running")
end

function TestProcessEnvAndDir(t)
  local d = t:tempdir()
  local p = params(t, "sh -c 'echo $GREETING > out; sleep 60'")
  p.env, p.dir = "GREETING=hello", d
  t:eq(host.run("process", "start", p), "ok")
  local text
  for _ = 1, 100 do
    text = fs.read(d .. "/out")
    if text and text ~= "" then break end
    require("corral").sleep(0.02)
  end
  t:eq(text, "hello\n")
  t:eq(host.run("process", "stop", p), "ok")
end

function TestProcessNeedsCommand(t)
  local st, msg = host.run("process", "start", {})
  t:eq(st, "config")
  t:ok(msg:find("parameter command is required", 1, true), msg)
end

function TestProcessExpandsCallContext(t)
  local d = t:tempdir()
  local p = params(t, "sh -c 'x=1; echo ${node} ${address} ${group} ${resource} ${x:+shell} > " .. d .. "/out; sleep 60'")
  p._node, p._address, p._group, p._resource = "n7", "127.0.0.7", "web", "app"
  t:eq(host.run("process", "start", p), "ok")
  local text
  for _ = 1, 100 do
    text = fs.read(d .. "/out")
    if text and text ~= "" then break end
    require("corral").sleep(0.02)
  end
  t:eq(text, "n7 127.0.0.7 web app shell\n", "the command line got the call's values; ${x...} is the shell's")
  t:eq(host.run("process", "stop", p), "ok")
  local q = params(t, "echo ${node}")
  local st, msg = host.run("process", "start", q)
  t:eq(st, "config", msg)
  t:ok(msg:find("${node}", 1, true), msg)
end

function TestProcessPidFileInStateDir(t)
  local d = t:tempdir()
  local p = { command = "sleep 60", stop_timeout = "2s", _resource = "sd", _state_dir = d }
  t:eq(host.run("process", "start", p), "ok")
  t:ok(fs.exists(d .. "/process-sd.pid"), "pid file in the node's state directory")
  t:eq(host.run("process", "stop", p), "ok")
  t:ok(not fs.exists(d .. "/process-sd.pid"), "pid file removed")
end

-- A stale pid file whose pid another process has now (issue 22): monitor
-- does not call it ours, start starts the command, stop leaves the other
-- process alone.
function TestProcessReusedPid(t)
  local p = params(t, "sleep 60")
  local other = exec.start{ argv = { "/bin/sh", "-c", "sleep 300; :" } }
  fs.write(p.pidfile, tostring(other) .. "\n")
  local st, msg = host.run("process", "monitor", p)
  t:eq(st, "failed", msg)
  t:ok(msg:find("another process", 1, true), msg)
  -- with an id file of another process too
  fs.write(p.pidfile .. ".id", (exec.identity(other):gsub(" %d+$", " 1")) .. "\n")
  t:eq(host.run("process", "monitor", p), "failed")
  t:eq(host.run("process", "stop", p), "ok")
  t:ok(exec.alive(other), "stop left the other process alive")
  fs.write(p.pidfile, tostring(other) .. "\n")
  t:eq(host.run("process", "start", p), "ok")
  t:ok(pid(p) ~= other, "start started the command")
  t:eq(host.run("process", "monitor", p), "ok")
  t:eq(host.run("process", "stop", p), "ok")
  t:ok(exec.alive(other), "the other process lives")
  exec.kill(other, "KILL")
end

-- A symlink planted at the pid file is replaced, not written through.
function TestProcessPidfileSymlink(t)
  local p = params(t, "sleep 60")
  local victim = t:tempdir() .. "/victim"
  fs.write(victim, "precious\n")
  exec.run{ argv = { "ln", "-s", victim, p.pidfile } }
  local st, msg = host.run("process", "start", p)
  t:eq(st, "ok", msg)
  t:eq(fs.read(victim), "precious\n", "the symlink's target is intact")
  t:eq(host.run("process", "monitor", p), "ok")
  t:eq(host.run("process", "stop", p), "ok")
end
