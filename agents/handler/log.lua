-- log: logs every event it gets (an example of an event handler, and a way
-- to see the event stream in the node's log).
local corral = require("corral")

local M = {}

function M.meta()
  return {
    name = "log",
    description = "Logs every event at debug level",
    events = { "*" },
  }
end

function M.handle(event)
  local fields = {}
  for k, v in pairs(event) do
    if type(v) ~= "table" then
      fields[k] = v
    end
  end
  corral.debug("event " .. tostring(event.kind), fields)
  return true
end

return M
