-- dummy: keeps track of whether it is "running" with a state file and does
-- nothing else, like ocf:heartbeat:Dummy. For tests and as a template.
local fs = require("fs")

local M = {}

function M.meta()
  return {
    name = "dummy",
    description = "Does nothing but remember in a state file whether it runs (like ocf:heartbeat:Dummy)",
    parameters = {
      { name = "state", type = "string",
        description = "state file (default <state_dir>/dummy-<resource>.state: the node's own directory, else /tmp)" },
      { name = "fake", type = "string", default = "dummy",
        description = "a parameter that does nothing, to test parameter changes" },
    },
  }
end

local function statefile(p, info)
  return p.state or ((info.state_dir and (info.state_dir .. "/") or "/tmp/corral-") .. "dummy-" .. (info.resource or "dummy") .. ".state")
end

function M.monitor(p, info)
  if fs.exists(statefile(p, info)) then
    return "ok"
  end
  return "not_running", "no state file " .. statefile(p, info)
end

function M.start(p, info)
  if M.monitor(p, info) == "ok" then
    return "ok"
  end
  local ok, err = fs.write(statefile(p, info), p.fake .. "\n")
  if not ok then
    return "failed", "cannot write the state file: " .. err
  end
  return "ok"
end

function M.stop(p, info)
  local ok, err = fs.remove(statefile(p, info))
  if not ok then
    return "failed", "cannot remove the state file: " .. err
  end
  return "ok"
end

return M
