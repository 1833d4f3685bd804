-- dummy: a fence driver for tests. It remembers each target's power state
-- in a folder and succeeds, unless told to fail: by its fail parameter, or,
-- at run time, by a file named "fail" in its folder.
local fs = require("fs")

local M = {}

function M.meta()
  return {
    name = "dummy",
    description = "A test fence driver: records power states in files; fails on command",
    parameters = {
      { name = "dir", type = "string", default = "/tmp/corral-fence-dummy", description = "where it records states" },
      { name = "fail", type = "boolean", default = false, description = "fail every action" },
      { name = "targets", type = "string", default = "", description = "what list answers, comma-separated" },
    },
  }
end

local function failing(p)
  if p.fail then
    return true, "told to fail (fail = true)"
  end
  if fs.exists(p.dir .. "/fail") then
    return true, "told to fail (" .. p.dir .. "/fail exists)"
  end
  return false
end

local function set(target, state, p)
  local bad, why = failing(p)
  if bad then
    return "failed", why
  end
  fs.mkdir(p.dir)
  local ok, err = fs.write(p.dir .. "/" .. target, state .. "\n")
  if not ok then
    return "failed", err
  end
  return "ok"
end

function M.off(target, p) return set(target, "off", p) end
function M.on(target, p) return set(target, "on", p) end

function M.reboot(target, p)
  local st, why = set(target, "off", p)
  if st ~= "ok" then
    return st, why
  end
  return set(target, "on", p)
end

function M.status(target, p)
  local bad, why = failing(p)
  if bad then
    return "failed", why
  end
  local state = fs.read(p.dir .. "/" .. target)
  if state and state:match("^off") then
    return "not_running", target .. " is off"
  end
  return "ok"
end

function M.list(p)
  local out = {}
  for t in p.targets:gmatch("[^,%s]+") do
    table.insert(out, t)
  end
  return out
end

return M
