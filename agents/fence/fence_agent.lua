-- fence_agent: runs an installed fence-agents program (ClusterLabs
-- fence-agents: fence_ipmilan, fence_virsh, fence_apc, ...) the way
-- Pacemaker's fencer does: the options as key=value lines on stdin
-- (action=..., plug=<target> and every extra parameter of the device, such
-- as ip, username, password), and its exit code mapped to a status. For
-- status, exit 0 means on and 2 off (fence-agents' convention); list
-- prints "plug,alias" lines.
local exec = require("exec")
local corral = require("corral")
local fs = require("fs")

local M = {}

function M.meta()
  return {
    name = "fence_agent",
    description = "Runs an installed fence-agents program (fence_ipmilan, fence_virsh, ...) with key=value options on stdin",
    parameters = {
      { name = "agent", type = "string", required = true,
        description = "the program: a name in sbin_dir (fence_ipmilan) or an absolute path" },
      { name = "sbin_dir", type = "string", default = "/usr/sbin", description = "where fence-agents are installed" },
      { name = "plug", type = "string", default = "",
        description = "the plug (port, VM name) to act on; default the target node's name" },
      { name = "send_plug", type = "boolean", default = true,
        description = "send plug= (off for agents with one plug, like fence_dummy)" },
    },
    -- every other parameter is passed to the agent as key=value
    extra_parameters = true,
  }
end

local own = { agent = true, sbin_dir = true, plug = true, send_plug = true }

-- Names the agent itself writes on stdin: an extra parameter with one of
-- these names would override them (action=status after action=off makes
-- a fence a no-op that reports success), so none may be given.
local reserved = { action = true, plug = true, port = true, nodename = true }

-- A value must stay on its line: no newline, carriage return or NUL.
local function badValue(v)
  return v:find("[\n\r%z]") ~= nil
end

local function program(p)
  if p.agent:sub(1, 1) == "/" then
    return p.agent
  end
  if not p.agent:match("^[%w_%-]+$") then
    return nil
  end
  return p.sbin_dir .. "/" .. p.agent
end

local function stdin(action, target, p)
  local lines = { "action=" .. action }
  if p.send_plug and target ~= "" then
    local plug = p.plug ~= "" and p.plug or target
    if badValue(plug) then
      return nil, "plug " .. string.format("%q", plug) .. " holds a newline, carriage return or NUL: give the plug name alone"
    end
    table.insert(lines, "plug=" .. plug)
  end
  local keys = {}
  for k in pairs(p) do
    if not own[k] then
      table.insert(keys, k)
    end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local name = tostring(k)
    if name == "" or name:find("[=\n\r%z]") then
      return nil, "parameter name " .. string.format("%q", name) .. " holds '=', a newline, carriage return or NUL: names are words such as ip or username"
    end
    if reserved[name:lower()] then
      return nil, "parameter " .. name .. " is reserved: corral sends action and plug itself (set the plug with plug=, not " .. name .. "=)"
    end
    local v = tostring(p[k])
    if badValue(v) then
      return nil, "parameter " .. name .. " holds a newline, carriage return or NUL: each parameter is one line"
    end
    table.insert(lines, name .. "=" .. v)
  end
  return table.concat(lines, "\n") .. "\n"
end

-- run runs one action: the exit code, stdout, or nil and a status and message.
local function run(action, target, p)
  local prog = program(p)
  if not prog then
    return nil, "config", "agent " .. p.agent .. ": give a program name such as fence_ipmilan or an absolute path"
  end
  local input, bad = stdin(action, target, p)
  if not input then
    return nil, "config", bad
  end
  local left = corral.remaining()
  local argv = { prog }
  if left and fs.exists("/usr/bin/timeout") then
    -- timeout(1) enforces the deadline from outside this process: even if
    -- the node is paused (SIGSTOP, a frozen VM) the agent cannot outlive
    -- the call, which is what lets the next coordinator call again after
    -- the deadline without two fences of one node at once.
    argv = { "/usr/bin/timeout", "-s", "KILL", string.format("%.3f", left), prog }
  end
  local code, out, err, why = exec.run{ argv = argv, stdin = input, timeout = left }
  if code == 137 and argv[1] == "/usr/bin/timeout" then
    return nil, "failed", prog .. " " .. action .. ": stopped at its deadline"
  end
  if code == 127 and argv[1] == "/usr/bin/timeout" then
    return nil, "config", prog .. ": not found (is fence-agents installed?)"
  end
  if why then
    if code == -1 and not why:find("deadline") then
      return nil, "config", prog .. ": " .. why .. " (is fence-agents installed?)"
    end
    return nil, "failed", prog .. " " .. action .. ": " .. why
  end
  local msg = (err ~= "" and err or out):gsub("%s+$", "")
  return code, out, msg:sub(-300)
end

local function power(action, target, p)
  local code, out, msg = run(action, target, p)
  if not code then
    return out, msg
  end
  if code == 0 then
    return "ok"
  end
  return "failed", p.agent .. " " .. action .. " " .. target .. ": exit code " .. code .. (msg ~= "" and (": " .. msg) or "")
end

function M.off(target, p) return power("off", target, p) end
function M.on(target, p) return power("on", target, p) end
function M.reboot(target, p) return power("reboot", target, p) end

function M.status(target, p)
  local code, out, msg = run("status", target, p)
  if not code then
    return out, msg
  end
  if code == 0 then
    return "ok", target .. " is on"
  elseif code == 2 then
    return "not_running", target .. " is off"
  end
  return "failed", p.agent .. " status " .. target .. ": exit code " .. code .. (msg ~= "" and (": " .. msg) or "")
end

function M.list(p)
  local code, out, msg = run("list", "", p)
  if code ~= 0 then
    error(p.agent .. " list: " .. tostring(msg))
  end
  local names = {}
  for line in out:gmatch("[^\n]+") do
    local plug = line:match("^%s*([^,]+)")
    if plug and plug ~= "" then
      table.insert(names, (plug:gsub("%s+$", "")))
    end
  end
  return names
end

return M
