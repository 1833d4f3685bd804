-- process: runs a command as a supervised daemon. start runs it in its own
-- process group (it dies with the node) and writes its pid file (and the
-- process's identity next to it, <pidfile>.id); monitor checks that pid is
-- still that process; stop sends stop_signal to the group, then KILL after
-- stop_timeout (also when the command died and what it forked did not).
-- A pid file whose pid another process has now is stale.
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
        description = "the command line, run by /bin/sh (exec'ed, so the pid is the command's); "
          .. "${node}, ${address} (the node's first address), ${group}, ${resource} and ${state_dir} "
          .. "are replaced by the call's values (also in log, dir and env)" },
      { name = "pidfile", type = "string",
        description = "pid file (default <state_dir>/process-<resource>.pid: the node's own directory, else /tmp)" },
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
  return p.pidfile or ((info.state_dir and (info.state_dir .. "/") or "/tmp/corral-") .. "process-" .. (info.resource or "process") .. ".pid")
end

local function readpid(p, info)
  local text = fs.read(pidfile(p, info))
  if not text then
    return nil
  end
  local digits = text:match("%d+")
  return digits and tonumber(digits)
end

-- ours: the pid file's process is the one start started. exec.start keeps
-- its identity (boot id, start time) in <pidfile>.id; a stale pid file's
-- pid may belong to another process now, which is not ours to report on,
-- nor to kill.
local function ours(pid, p, info)
  local id = fs.read(pidfile(p, info) .. ".id")
  local now = exec.identity(pid)
  return id ~= nil and now ~= nil and (id:gsub("%s+$", "")) == now
end

local function forget(p, info)
  fs.remove(pidfile(p, info))
  fs.remove(pidfile(p, info) .. ".id")
end

-- expand replaces ${node}, ${address}, ${group}, ${resource} and
-- ${state_dir} with the call context's values (a known one the call lacks
-- is an error); other ${...} are left to the shell.
local context_names = { node = true, address = true, group = true, resource = true, state_dir = true }

local function expand(s, info)
  local missing
  local out = s:gsub("%${([%w_]+)}", function(k)
    if not context_names[k] then
      return nil
    end
    local v = info[k]
    if v == nil or v == "" then
      missing = missing or k
      return ""
    end
    return v
  end)
  return out, missing
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
  if exec.alive(pid) and ours(pid, p, info) then
    return "ok"
  end
  return "failed", "process " .. pid .. " (from " .. pidfile(p, info) .. ") is gone"
    .. (exec.alive(pid) and " (its pid belongs to another process now)" or "")
end

function M.start(p, info)
  if M.monitor(p, info) == "ok" then
    return "ok"
  end
  local x = {}
  for _, k in ipairs({ "command", "log", "dir", "env" }) do
    local v, missing = expand(p[k], info)
    if missing then
      return "config", k .. " uses ${" .. missing .. "}, which this call does not have "
        .. "(there are ${node}, ${address}, ${group}, ${resource}, ${state_dir})"
    end
    x[k] = v
  end
  local env = {}
  for k, v in x.env:gmatch("([%w_]+)=(%S*)") do
    env[k] = v
  end
  local pid, err = exec.start{
    argv = { "/bin/sh", "-c", "exec " .. x.command },
    env = env, dir = x.dir, pidfile = pidfile(p, info), log = x.log,
  }
  if not pid then
    return "failed", "cannot start " .. x.command .. ": " .. err
  end
  if p.start_wait > 0 and exec.wait(pid, p.start_wait) then
    forget(p, info)
    local why = x.log ~= "/dev/null" and tail(x.log) or ""
    return "failed", x.command .. " exited at once" .. why
  end
  return "ok"
end

function M.stop(p, info)
  local pid = readpid(p, info)
  if pid and pid > 1 and not exec.alive(pid) and exec.group_alive(pid) then
    -- The command died, what it forked lives on in its process group. A
    -- pid is not given to a new process while it is a group id, so that
    -- group is still the command's: kill it.
    corral.warn("the process is gone, what it forked is not: killing its process group", { pgid = pid })
    exec.kill(-pid, "KILL")
    local t = 0
    while exec.group_alive(pid) do
      if t >= 5 then
        return "failed", "process group " .. pid .. " survives KILL"
      end
      exec.wait(1, 0.05) -- pid 1 never ends: a 50 ms pause
      t = t + 0.05
    end
  end
  if not pid or not exec.alive(pid) or not ours(pid, p, info) then
    forget(p, info)
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
  forget(p, info)
  return "ok"
end

return M
