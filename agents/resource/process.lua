-- process: runs a command as a supervised daemon. start runs it in its own
-- process group (it dies with the node) and writes its pid file; monitor
-- checks that pid; stop sends stop_signal to the group, then KILL after
-- stop_timeout.
local exec = require("exec")
local fs = require("fs")
local corral = require("corral")

local M = {}

function M.meta()
  return {
    name = "process",
    description = "Runs and supervises a long-running command with a pid file",
    parameters = {
      { name = "command", type = "string", required = true,
        description = "the command line, run by /bin/sh (exec'ed, so the pid is the command's)" },
      { name = "pidfile", type = "string",
        description = "pid file (default /tmp/corral-process-<resource>.pid)" },
      { name = "log", type = "string", default = "/dev/null",
        description = "file the command's stdout and stderr are appended to" },
      { name = "dir", type = "string", default = "/",
        description = "working directory" },
      { name = "env", type = "string", default = "",
        description = "extra environment, space-separated NAME=VALUE words" },
      { name = "start_wait", type = "duration", default = "0.2s",
        description = "how long the command must stay up for start to succeed" },
      { name = "stop_signal", type = "string", default = "TERM",
        description = "the signal stop sends first" },
      { name = "stop_timeout", type = "duration", default = "10s",
        description = "how long stop waits before it sends KILL" },
    },
  }
end

local function pidfile(p, info)
  return p.pidfile or ("/tmp/corral-process-" .. (info.resource or "process") .. ".pid")
end

local function readpid(p, info)
  local text = fs.read(pidfile(p, info))
  if not text then
    return nil
  end
  return tonumber(text:match("%d+"))
end

local function tail(path)
  local text = fs.read(path)
  if not text or text == "" then
    return ""
  end
  return ": " .. text:sub(-300):gsub("%s+$", "")
end

function M.monitor(p, info)
  local pid = readpid(p, info)
  if not pid then
    return "not_running", "no pid file " .. pidfile(p, info)
  end
  if exec.alive(pid) then
    return "ok"
  end
  return "failed", "process " .. pid .. " (from " .. pidfile(p, info) .. ") is gone"
end

function M.start(p, info)
  if M.monitor(p, info) == "ok" then
    return "ok"
  end
  local env = {}
  for k, v in p.env:gmatch("([%w_]+)=(%S*)") do
    env[k] = v
  end
  local pid, err = exec.start{
    argv = { "/bin/sh", "-c", "exec " .. p.command },
    env = env, dir = p.dir, pidfile = pidfile(p, info), log = p.log,
  }
  if not pid then
    return "failed", "cannot start " .. p.command .. ": " .. err
  end
  if p.start_wait > 0 and exec.wait(pid, p.start_wait) then
    fs.remove(pidfile(p, info))
    local why = p.log ~= "/dev/null" and tail(p.log) or ""
    return "failed", p.command .. " exited at once" .. why
  end
  return "ok"
end

function M.stop(p, info)
  local pid = readpid(p, info)
  if not pid or not exec.alive(pid) then
    fs.remove(pidfile(p, info))
    return "ok"
  end
  -- The command runs in its own process group: signal all of it.
  exec.kill(-pid, p.stop_signal)
  if not exec.wait(pid, p.stop_timeout) then
    corral.warn("process did not stop on " .. p.stop_signal .. ": killing it", { pid = pid })
    exec.kill(-pid, "KILL")
    if not exec.wait(pid, 5) then
      return "failed", "process " .. pid .. " survives KILL"
    end
  end
  exec.kill(-pid, "KILL") -- what it forked
  fs.remove(pidfile(p, info))
  return "ok"
end

return M
