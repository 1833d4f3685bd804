-- process: the demo's fence device, a power switch for nodes that are
-- processes on this machine. off pulls the power cord: SIGKILL to the
-- target node's corral process (by its pid file, DIR/<node>/corral.pid)
-- and its process group, and to the resource processes of the pid files
-- listed in pidfiles and their process groups (also when the group's
-- leader is dead but what it forked lives on), then it confirms they are
-- gone. on starts the node
-- again detached (`corral agent --config DIR/<node>/corral.toml` in its own
-- session, not tied to the life of the node that fences). reboot is off
-- then on. status says whether the node's process runs; list names the
-- nodes given in nodes.
local exec = require("exec")
local fs = require("fs")

local M = {}

function M.meta()
  return {
    name = "process",
    description = "Power switch for cluster nodes that are processes on this machine (corral demo)",
    parameters = {
      { name = "dir", type = "string", required = true,
        description = "the demo directory: each node lives in DIR/<node>/ (corral.pid, corral.toml, corral.log)" },
      { name = "corral", type = "string", default = "corral",
        description = "the corral binary on starts the node with" },
      { name = "pidfiles", type = "string", default = "",
        description = "more pid files of the node's processes (resources), space-separated; relative to DIR/<node>/; {node} is replaced by the node; off kills each one's process group, also what the process forked when it died first" },
      { name = "wait", type = "duration", default = "5s",
        description = "how long off waits for the processes to be gone, and on for the node's pid file" },
      { name = "nodes", type = "string", default = "",
        description = "what list answers, comma-separated" },
    },
  }
end

local function nodedir(target, p)
  return p.dir .. "/" .. target
end

local function readpid(path)
  local text = fs.read(path)
  if not text then
    return nil
  end
  local digits = text:match("%d+")
  return digits and tonumber(digits)
end

-- pidfiles are the node's pid file and the resources' ones.
local function pidfiles(target, p)
  local out = { nodedir(target, p) .. "/corral.pid" }
  for f in p.pidfiles:gmatch("%S+") do
    f = f:gsub("{node}", target)
    if f:sub(1, 1) ~= "/" then
      f = nodedir(target, p) .. "/" .. f
    end
    table.insert(out, f)
  end
  return out
end

-- ours: a stale pid file may name a pid some other process reuses now.
-- The node's agent and the process resource agent keep the identity of
-- the process they wrote (boot id, start time) in <pidfile>.id: only a
-- process with that identity is the node's.
local function ours(path, pid)
  local id = fs.read(path .. ".id")
  local now = exec.identity(pid)
  return id ~= nil and now ~= nil and (id:gsub("%s+$", "")) == now
end

local function nodepid(target, p)
  local path = nodedir(target, p) .. "/corral.pid"
  local pid = readpid(path)
  if pid and exec.alive(pid) and ours(path, pid) then
    return pid
  end
  return nil
end

function M.status(target, p)
  local pid = nodepid(target, p)
  if pid then
    return "ok", target .. " runs (pid " .. pid .. ")"
  end
  return "not_running", target .. " is off"
end

function M.off(target, p)
  -- Without the node's directory nothing says the node is off: a wrong
  -- dir must never confirm a fence that did not happen.
  local config = nodedir(target, p) .. "/corral.toml"
  if not fs.exists(config) then
    return "config", "no " .. config .. ": cannot tell that " .. target .. " is off; is dir the demo directory?"
  end
  -- The node is a session leader and each resource has its own process
  -- group. Kill the group, then the process itself. A group outlives its
  -- leader: a resource's leader dies with the node (Pdeathsig), but what
  -- it forked does not and keeps serving, in the group. Linux gives no new
  -- process a pid that is still a process group id, so while the group
  -- has members the pid names that group; a pid that a live process of
  -- another identity has now is stale, and its group is not ours.
  local pids, groups = {}, {}
  for _, f in ipairs(pidfiles(target, p)) do
    local pid = readpid(f)
    if pid and pid > 1 then
      local leader = exec.alive(pid) and ours(f, pid)
      local reused = exec.alive(pid) and not leader
      if leader or (not reused and exec.group_alive(pid)) then
        exec.kill(-pid, "KILL")
        table.insert(groups, pid)
      end
      if leader then
        exec.kill(pid, "KILL")
        table.insert(pids, pid)
      end
    end
  end
  for _, pid in ipairs(pids) do
    if not exec.wait(pid, p.wait) then
      return "failed", "process " .. pid .. " of " .. target .. " survives SIGKILL"
    end
  end
  for _, pgid in ipairs(groups) do
    local t = 0
    while exec.group_alive(pgid) do
      if t >= p.wait then
        return "failed", "process group " .. pgid .. " of " .. target .. " survives SIGKILL"
      end
      exec.wait(1, 0.05) -- pid 1 never ends: a 50 ms pause
      t = t + 0.05
    end
  end
  return "ok"
end

function M.on(target, p)
  if nodepid(target, p) then
    return "ok"
  end
  local dir = nodedir(target, p)
  local config = dir .. "/corral.toml"
  if not fs.exists(config) then
    return "config", "no " .. config .. ": is dir the demo directory?"
  end
  fs.remove(dir .. "/corral.pid")
  fs.remove(dir .. "/corral.pid.id")
  -- setsid --fork: the node runs in its own session and is not our child,
  -- so neither our death nor our process group takes it along.
  local code, _, err, why = exec.run{
    argv = { "/bin/sh", "-c", 'cd "$1" && exec setsid --fork "$2" agent --config "$3" >>"$1/corral.log" 2>&1 </dev/null',
      "sh", dir, p.corral, config },
    timeout = p.wait,
  }
  if why or code ~= 0 then
    return "failed", "cannot start " .. target .. ": " .. (why or ("exit code " .. code .. " " .. err))
  end
  local t = 0
  while t < p.wait do
    if nodepid(target, p) then
      return "ok"
    end
    exec.wait(1, 0.05) -- pid 1 never ends: a 50 ms pause
    t = t + 0.05
  end
  return "failed", target .. " started but wrote no live pid to " .. dir .. "/corral.pid within " .. p.wait .. "s (see " .. dir .. "/corral.log)"
end

function M.reboot(target, p)
  local st, why = M.off(target, p)
  if st ~= "ok" then
    return st, why
  end
  return M.on(target, p)
end

function M.list(p)
  local out = {}
  for n in p.nodes:gmatch("[^,%s]+") do
    table.insert(out, n)
  end
  return out
end

return M
