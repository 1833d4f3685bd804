-- rolling_maintenance: takes the cluster's nodes through maintenance one at
-- a time. For each node: pause it (standby, as in Pacemaker: its groups
-- move to other nodes and none is placed on it), wait until it owns no
-- group, run the maintenance command with NODE set to its name, resume it,
-- wait until it is back. Groups do not move back by themselves.
--
--   corral shell -c "lua run examples/lua/automation/rolling_maintenance.lua 'ssh $NODE apt-get -y upgrade'"
--
-- arg[1] is the command (run by /bin/sh; default: true); arg[2] the
-- seconds to wait for each step (default 120).
local corral = require("corral")
local exec = require("exec")

local command = arg[1] or "true"
local patience = tonumber(arg[2]) or 120

local function owned(name)
  local out = {}
  for _, g in ipairs(corral.status().groups or {}) do
    if g.owner == name then
      table.insert(out, g.name)
    end
  end
  return out
end

local function state(name)
  for _, n in ipairs(corral.status().nodes or {}) do
    if n.name == name then
      return n.state
    end
  end
end

-- waitfor polls cond, woken early by the events it may depend on.
local function waitfor(what, cond)
  local deadline = corral.now() + patience
  while not cond() do
    if corral.now() > deadline then
      error(what .. ": still not done after " .. patience .. " s; resume by hand and look at `explain`")
    end
    corral.wait_event{ kinds = { "group_moved", "group_offline", "group_online", "node_paused", "node_resumed" }, timeout = 1 }
  end
end

local nodes = {}
for _, n in ipairs(corral.status().nodes) do
  table.insert(nodes, n.name)
end
table.sort(nodes)

for _, name in ipairs(nodes) do
  local groups = owned(name)
  print("maintenance of " .. name .. ": pausing")
  assert(corral.pause(name))
  -- pause is asked for; the next view makes it so
  waitfor(name .. " is paused", function() return state(name) == "paused" end)
  -- a paused node's groups move away by themselves
  for _, g in ipairs(groups) do
    print("maintenance of " .. name .. ": moving " .. g .. " away")
  end
  waitfor(name .. " hands over its groups", function() return #owned(name) == 0 end)
  print("maintenance of " .. name .. ": running " .. command)
  local code, out, err, why = exec.run{ argv = { "/bin/sh", "-c", command }, env = { NODE = name } }
  if code ~= 0 then
    error(name .. ": the command failed (" .. tostring(why or code) .. "): " .. err .. "; it stays paused")
  end
  if out ~= "" then
    print(out)
  end
  assert(corral.resume(name))
  waitfor(name .. " comes back", function() return state(name) == "online" end)
  print("maintenance of " .. name .. ": done")
end
return #nodes .. " nodes done"
