-- default: the failover policy a group gets unless it names another.
-- choose_owner: the first preferred owner that can take the group, else the
-- candidate that runs the fewest groups (ties by name).
-- on_failure: restart in place while failures < restart_max, then fail over.
local M = {}

function M.meta()
  return {
    name = "default",
    description = "Preferred owners in order, else the least busy node; restart up to restart_max, then fail over",
  }
end

-- groups is how many groups cluster.nodes[name] runs (a count or a list).
local function groups(cluster, name)
  local node = cluster and cluster.nodes and cluster.nodes[name]
  if type(node) ~= "table" then
    return 0
  end
  local g = node.groups
  if type(g) == "table" then
    return #g
  end
  return tonumber(g) or 0
end

function M.choose_owner(group, candidates, cluster)
  local can = {}
  for _, c in ipairs(candidates) do
    can[c] = true
  end
  for _, n in ipairs(group.preferred_owners or {}) do
    if can[n] then
      return n
    end
  end
  local best, least
  for _, c in ipairs(candidates) do
    local n = groups(cluster, c)
    if best == nil or n < least or (n == least and c < best) then
      best, least = c, n
    end
  end
  return best
end

-- DEFAULT_RESTART_MAX is the restart threshold of a resource that sets none.
M.DEFAULT_RESTART_MAX = 3

function M.on_failure(resource, failures)
  local max = tonumber(resource.restart_max) or M.DEFAULT_RESTART_MAX
  if failures < max then
    return "restart"
  end
  return "failover"
end

return M
