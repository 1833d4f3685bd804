-- pin_site: a failover policy that keeps a group inside one site. The
-- group's site is group.attributes.site (or group.site); a node's site is
-- cluster.nodes[NAME].attributes.site. Among the candidates of that site,
-- the group's preferred owners come first in their order, then the node
-- with the fewest groups, then by name. When no node of the site can take
-- it the group stays down, unless group.attributes.site_fallback is "true":
-- then any candidate will do.
local M = {}

function M.meta()
  return {
    name = "pin_site",
    description = "Keeps a group on the nodes of its site (node attribute site); stays down rather than leave it unless site_fallback",
  }
end

local function attrs(t)
  if type(t) == "table" and type(t.attributes) == "table" then
    return t.attributes
  end
  return {}
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

local function pick(group, candidates, cluster)
  local can = {}
  for _, c in ipairs(candidates) do
    can[c] = true
  end
  for _, p in ipairs(group.preferred_owners or {}) do
    if can[p] then
      return p
    end
  end
  local best, least
  for _, c in ipairs(candidates) do
    local g = groups(node(cluster, c))
    if best == nil or g < least or (g == least and c < best) then
      best, least = c, g
    end
  end
  return best
end

function M.choose_owner(group, candidates, cluster)
  local site = attrs(group).site or group.site
  if not site then
    return pick(group, candidates, cluster)
  end
  local here = {}
  for _, c in ipairs(candidates) do
    if attrs(node(cluster, c)).site == site then
      table.insert(here, c)
    end
  end
  if #here == 0 and tostring(attrs(group).site_fallback) == "true" then
    return pick(group, candidates, cluster)
  end
  return pick(group, here, cluster)
end

function M.on_failure(resource, failures)
  if failures < (tonumber(resource.restart_max) or 3) then
    return "restart"
  end
  return "failover"
end

return M
