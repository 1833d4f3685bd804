-- http_check: a monitor-only resource like tcp_check, for an HTTP URL: the
-- answer's status must be 2xx/3xx, or the body must contain expect.
local net = require("net")
local fs = require("fs")
local corral = require("corral")

local M = {}

function M.meta()
  return {
    name = "http_check",
    description = "Checks that an HTTP URL answers (status 2xx/3xx, or a body containing expect)",
    parameters = {
      { name = "url", type = "string", required = true, description = "the URL" },
      { name = "expect", type = "string",
        description = "a status code, or text the body must contain" },
      { name = "timeout", type = "duration", default = "2s", description = "request timeout" },
      { name = "wait", type = "duration", default = "10s",
        description = "how long start waits for a good answer" },
      { name = "state", type = "string",
        description = "state file (default <state_dir>/http_check-<resource>.state: the node's own directory, else /tmp)" },
    },
  }
end

local function statefile(p, info)
  local name = info.resource or p.url:gsub("[^%w]", "_")
  return p.state or ((info.state_dir and (info.state_dir .. "/") or "/tmp/corral-") .. "http_check-" .. name .. ".state")
end

local function check(p)
  local ok, code, body = net.http{ url = p.url, timeout = p.timeout, expect = p.expect }
  if ok then
    return true
  end
  if ok == nil then
    return false, code -- the error
  end
  local why = "status " .. code
  if p.expect then
    why = why .. ", expected " .. p.expect
  end
  return false, why .. ": " .. body:sub(1, 200)
end

function M.monitor(p, info)
  if not fs.exists(statefile(p, info)) then
    return "not_running"
  end
  local ok, err = check(p)
  if ok then
    return "ok"
  end
  return "failed", p.url .. ": " .. err
end

function M.start(p, info)
  local deadline = corral.now() + p.wait
  local ok, err = check(p)
  while not ok and corral.now() < deadline do
    corral.sleep(0.1)
    ok, err = check(p)
  end
  if not ok then
    return "failed", p.url .. ": " .. err
  end
  fs.write(statefile(p, info), "started\n")
  return "ok"
end

function M.stop(p, info)
  fs.remove(statefile(p, info))
  return "ok"
end

return M
