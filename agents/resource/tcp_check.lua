-- tcp_check: a monitor-only resource. start waits until host:port accepts
-- a connection, monitor checks it again, stop forgets about it. A state file
-- tells "stopped" (not_running) from "started and failing" (failed).
local net = require("net")
local fs = require("fs")
local corral = require("corral")

local M = {}

function M.meta()
  return {
    name = "tcp_check",
    description = "Checks that a TCP port accepts connections",
    parameters = {
      { name = "port", type = "integer", required = true, description = "the port" },
      { name = "host", type = "string", default = "127.0.0.1", description = "the host" },
      { name = "timeout", type = "duration", default = "2s", description = "connect timeout" },
      { name = "wait", type = "duration", default = "10s",
        description = "how long start waits for the port to answer" },
      { name = "state", type = "string",
        description = "state file (default <state_dir>/tcp_check-<resource>.state: the node's own directory, else /tmp)" },
    },
  }
end

local function statefile(p, info)
  return p.state or ((info.state_dir and (info.state_dir .. "/") or "/tmp/corral-") .. "tcp_check-" .. (info.resource or (p.host .. "_" .. p.port)) .. ".state")
end

local function check(p)
  return net.tcp{ host = p.host, port = p.port, timeout = p.timeout }
end

function M.monitor(p, info)
  if not fs.exists(statefile(p, info)) then
    return "not_running"
  end
  local ok, err = check(p)
  if ok then
    return "ok"
  end
  return "failed", p.host .. ":" .. p.port .. ": " .. err
end

function M.start(p, info)
  local deadline = corral.now() + p.wait
  local ok, err = check(p)
  while not ok and corral.now() < deadline do
    corral.sleep(0.1)
    ok, err = check(p)
  end
  if not ok then
    return "failed", p.host .. ":" .. p.port .. " does not answer: " .. err
  end
  fs.write(statefile(p, info), "started\n")
  return "ok"
end

function M.stop(p, info)
  fs.remove(statefile(p, info))
  return "ok"
end

return M
