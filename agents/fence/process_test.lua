local exec = require("exec")
local fs = require("fs")

-- a fake node: a script that writes its pid file like `corral agent` does
-- (pid_file) and keeps running, with a resource process beside it.
local function fakeCorral(t)
  local dir = t:tempdir()
  local bin = dir .. "/fake-corral"
  fs.write(bin, [[#!/bin/sh
# fake-corral agent --config DIR/NODE/corral.toml
cfg="$3"
d=$(dirname "$cfg")
echo "$(cat /proc/sys/kernel/random/boot_id) $(cut -d' ' -f22 /proc/$$/stat)" > "$d/corral.pid.id"
echo $$ > "$d/corral.pid"
sleep 300 &
wait
]])
  exec.run{ argv = { "chmod", "+x", bin } }
  fs.mkdir(dir .. "/n2")
  fs.write(dir .. "/n2/corral.toml", "node = \"n2\"\n")
  return dir, bin
end

local function waitGone(pid)
  return exec.wait(pid, 5)
end

function TestProcessFenceOnOffReboot(t)
  local dir, bin = fakeCorral(t)
  local p = { dir = dir, corral = bin, wait = "5s", pidfiles = "web.pid" }
  t:eq(host.fence("process", "status", "n2", p), "not_running", "off before it starts")
  t:eq(host.fence("process", "on", "n2", p), "ok")
  t:eq(host.fence("process", "status", "n2", p), "ok")
  local pid = tonumber(fs.read(dir .. "/n2/corral.pid"):match("%d+"))
  t:ok(exec.alive(pid), "the node runs")
  -- a resource process of the node, with its pid file
  local web = exec.start{ argv = { "sleep", "300" }, pidfile = dir .. "/n2/web.pid" }
  t:ok(web, "resource started")
  t:eq(host.fence("process", "off", "n2", p), "ok")
  t:ok(not exec.alive(pid), "the node's process is gone")
  t:ok(waitGone(web), "the resource process is gone")
  t:eq(host.fence("process", "status", "n2", p), "not_running")
  t:eq(host.fence("process", "off", "n2", p), "ok", "off again: already off")
  t:eq(host.fence("process", "reboot", "n2", p), "ok")
  local pid2 = tonumber(fs.read(dir .. "/n2/corral.pid"):match("%d+"))
  t:ok(pid2 ~= pid and exec.alive(pid2), "a new process after reboot")
  t:eq(host.fence("process", "off", "n2", p), "ok")
  t:ok(waitGone(pid2), "off after reboot")
end

function TestProcessFenceOnNeedsConfig(t)
  local st, msg = host.fence("process", "on", "n9", { dir = t:tempdir() })
  t:eq(st, "config")
  t:ok(msg:find("corral.toml", 1, true), msg)
end

-- A wrong dir must not confirm a fence: off fails without the node's config.
function TestProcessFenceOffNeedsNodeDir(t)
  local st, msg = host.fence("process", "off", "n9", { dir = t:tempdir() })
  t:eq(st, "config")
  t:ok(msg:find("cannot tell", 1, true), msg)
end

-- A stale pid file naming a process that is not a node is left alone.
function TestProcessFenceStalePid(t)
  local dir = t:tempdir()
  fs.mkdir(dir .. "/n2")
  fs.write(dir .. "/n2/corral.toml", "node = \"n2\"\n")
  local other = exec.start{ argv = { "sleep", "300" } }
  fs.write(dir .. "/n2/corral.pid", tostring(other) .. "\n")
  t:eq(host.fence("process", "status", "n2", { dir = dir }), "not_running", "not a corral agent")
  t:eq(host.fence("process", "off", "n2", { dir = dir }), "ok")
  t:ok(exec.alive(other), "the unrelated process lives")
  exec.kill(other, "KILL")
end

-- A stale pid file whose pid an unrelated process has now (one whose
-- command line holds "agent", like the node's): neither status nor off
-- takes it for the node, whatever its command line; the same for a
-- resource's pid file (issue 22: off killed such a process).
function TestProcessFenceReusedPid(t)
  local dir = t:tempdir()
  fs.mkdir(dir .. "/n2")
  fs.write(dir .. "/n2/corral.toml", "node = \"n2\"\n")
  local other = exec.start{ argv = { "/bin/sh", "-c", "sleep 300; :", "agent" } }
  local res = exec.start{ argv = { "/bin/sh", "-c", "sleep 300; :", "agent" } }
  fs.write(dir .. "/n2/corral.pid", tostring(other) .. "\n")
  fs.write(dir .. "/n2/web.pid", tostring(res) .. "\n")
  -- the identity of the process that wrote the pid file, long gone
  fs.write(dir .. "/n2/corral.pid.id", (exec.identity(other):gsub(" %d+$", " 1")) .. "\n")
  local p = { dir = dir, pidfiles = "web.pid", wait = "1s" }
  t:eq(host.fence("process", "status", "n2", p), "not_running", "another process has the pid")
  t:eq(host.fence("process", "off", "n2", p), "ok")
  t:ok(exec.alive(other), "the unrelated process with agent in its command line lives")
  t:ok(exec.alive(res), "the unrelated process in a resource's pid file lives")
  exec.kill(other, "KILL")
  exec.kill(res, "KILL")
end

function TestProcessFenceList(t)
  local st, _, targets = host.fence("process", "list", "", { dir = "/tmp", nodes = "n1,n2, n3" })
  t:eq(st, "ok")
  t:eq(targets, { "n1", "n2", "n3" })
end
