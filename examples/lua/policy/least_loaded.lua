-- least_loaded: a failover policy that puts a group on the candidate with
-- the lowest load. A node's load is cluster.nodes[NAME].load (whatever the
-- node reports: its load average by default); ties go to the node with
-- fewer groups, then by name. Preferred owners are ignored: load decides.
--
-- Use it: copy this folder's parent into a [lua] paths directory and set the
-- group's policy to "least_loaded".
local M = {}

function M.meta()
  return {
    name = "least_loaded",
    description = "Puts a group on the least loaded candidate (then fewest groups, then by name); restarts up to restart_max",
  }
end

local function node(cluster, name)
  local n = cluster and cluster.nodes and cluster.nodes[name]
  if type(n) == "table" then
    return n
  end
  return {}
end

local function groups(n)
  if type(n.groups) == "table" then
    return #n.groups
  end
  return tonumber(n.groups) or 0
end

function M.choose_owner(group, candidates, cluster)
  local best, bload, bgroups
  for _, c in ipairs(candidates) do
    local n = node(cluster, c)
    local load, g = tonumber(n.load) or 0, groups(n)
    if best == nil or load < bload or (load == bload and (g < bgroups or (g == bgroups and c < best))) then
      best, bload, bgroups = c, load, g
    end
  end
  return best
end

function M.on_failure(resource, failures)
  if failures < (tonumber(resource.restart_max) or 3) then
    return "restart"
  end
  return "failover"
end

return M
