local fs = require("fs")
local exec = require("exec")

-- fence_dummy (Debian's fence-agents) with type=file keeps the power state
-- in status_file; type=fail fails every action.
local function dummy(t)
  if not fs.exists("/usr/sbin/fence_dummy") then
    t:skip("fence_dummy is not installed (apt-get install fence-agents)")
  end
  return { agent = "fence_dummy", send_plug = "false", type = "file", status_file = t:tempdir() .. "/status" }
end

function TestFenceAgentDummyPower(t)
  local p = dummy(t)
  t:eq(host.fence("fence_agent", "on", "n2", p), "ok")
  t:eq(host.fence("fence_agent", "status", "n2", p), "ok")
  t:eq(fs.read(p.status_file), "on", "the agent got status_file on stdin")
  t:eq(host.fence("fence_agent", "off", "n2", p), "ok")
  t:eq(host.fence("fence_agent", "status", "n2", p), "not_running", "exit code 2 is off")
  t:eq(fs.read(p.status_file), "off")
  t:eq(host.fence("fence_agent", "reboot", "n2", p), "ok")
  t:eq(host.fence("fence_agent", "status", "n2", p), "ok")
end

function TestFenceAgentDummyFails(t)
  local p = dummy(t)
  p.type = "fail"
  p.power_timeout = "1" -- it waits that long for a power change that never comes
  local st, msg = host.fence("fence_agent", "off", "n2", p)
  t:eq(st, "failed")
  t:ok(msg:find("exit code 1", 1, true), msg)
end

function TestFenceAgentNotInstalled(t)
  local st, msg = host.fence("fence_agent", "off", "n2", { agent = "fence_nosuch_agent" })
  t:eq(st, "config")
  t:ok(msg:find("fence-agents", 1, true), msg)
  st, msg = host.fence("fence_agent", "off", "n2", { agent = "../../bin/sh" })
  t:eq(st, "config", msg)
end

-- The stdin protocol, seen from the agent's side: a stand-in agent records
-- what it read; plug is the target, extra parameters follow; list parses
-- "plug,alias" lines.
function TestFenceAgentStdin(t)
  local dir = t:tempdir()
  local agent = dir .. "/fence_recorder"
  fs.write(agent, [[#!/bin/sh
cat > "$(dirname "$0")/stdin"
grep -q '^action=list' "$(dirname "$0")/stdin" && printf 'vm1,alias one\nvm2,\n'
grep -q '^action=status' "$(dirname "$0")/stdin" && exit 2
exit 0
]])
  exec.run{ argv = { "chmod", "+x", agent } }
  local p = { agent = agent, ip = "10.0.0.9", username = "admin" }
  t:eq(host.fence("fence_agent", "off", "n3", p), "ok")
  t:eq(fs.read(dir .. "/stdin"), "action=off\nplug=n3\nip=10.0.0.9\nusername=admin\n")
  p.plug = "vm-n3"
  t:eq(host.fence("fence_agent", "reboot", "n3", p), "ok")
  t:eq(fs.read(dir .. "/stdin"), "action=reboot\nplug=vm-n3\nip=10.0.0.9\nusername=admin\n")
  t:eq(host.fence("fence_agent", "status", "n3", p), "not_running")
  local st, _, targets = host.fence("fence_agent", "list", "", { agent = agent })
  t:eq(st, "ok")
  t:eq(targets, { "vm1", "vm2" })
end

-- Parameters cannot smuggle lines onto the agent's stdin (issue 22): a
-- plug or value with a newline, a name with '=' or a newline, or a
-- reserved name (action, plug, port, nodename) is a config error, and
-- the agent is never run.
function TestFenceAgentRejectsInjection(t)
  local dir = t:tempdir()
  local agent = dir .. "/fence_recorder"
  fs.write(agent, [[#!/bin/sh
cat > "$(dirname "$0")/stdin"
exit 0
]])
  exec.run{ argv = { "chmod", "+x", agent } }
  local cases = {
    { plug = "vm2\naction=status" },
    { plug = "vm2\raction=status" },
    { plug = "vm2\0" },
    { ip = "10.0.0.9\naction=status" },
    { ip = "10.0.0.9\r" },
    { ["ip\naction"] = "status" },
    { ["a=b"] = "c" },
    { action = "status" },
    { Action = "status" },
    { port = "vm3" },
    { nodename = "n1" },
  }
  for i, extra in ipairs(cases) do
    local p = { agent = agent }
    for k, v in pairs(extra) do p[k] = v end
    local st, msg = host.fence("fence_agent", "off", "n3", p)
    t:eq(st, "config", "case " .. i .. ": " .. tostring(msg))
    t:ok(not fs.exists(dir .. "/stdin"), "case " .. i .. ": the agent ran")
  end
  t:eq(host.fence("fence_agent", "off", "n3", { agent = agent, ip = "a=b" }), "ok", "'=' in a value is fine")
  t:eq(fs.read(dir .. "/stdin"), "action=off\nplug=n3\nip=a=b\n")
end
