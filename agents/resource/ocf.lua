-- ocf: runs an installed OCF resource agent
-- (<root>/resource.d/<provider>/<type>) the way Pacemaker does: the action
-- as its argument, OCF_ROOT, OCF_RESOURCE_INSTANCE and every other
-- parameter as OCF_RESKEY_<name>, and its exit code mapped to a status.
-- The agent's state directories (HA_RSCTMP, HA_VARRUN, HA_VARLIB,
-- HA_VARLOCK) are the node's own, under <state_dir>/ocf/, so nodes that
-- share a machine (the demo) never share /run/resource-agents; the node
-- empties <state_dir>/ocf/rsctmp when it starts, as a reboot empties /run.
local exec = require("exec")
local corral = require("corral")
local fs = require("fs")

local M = {}

local base = {
  { name = "type", type = "string", required = true, description = "the agent, Dummy or IPaddr2" },
  { name = "provider", type = "string", default = "heartbeat", description = "the provider folder" },
  { name = "root", type = "string", default = "/usr/lib/ocf", description = "OCF_ROOT" },
}

-- OCF exit codes (OCF resource agent API, "Return codes").
local codes = {
  [0] = { "ok", "success" },
  [1] = { "failed", "generic error" },
  [2] = { "config", "invalid arguments" },
  [3] = { "failed", "unimplemented action" },
  [4] = { "failed", "insufficient privileges" },
  [5] = { "config", "not installed" },
  [6] = { "config", "not configured" },
  [7] = { "not_running", "not running" },
  [8] = { "ok", "running (promoted)" },
  [9] = { "failed", "failed (promoted)" },
}

local function agentpath(p)
  return p.root .. "/resource.d/" .. p.provider .. "/" .. p.type
end

local function env(p, info, action)
  local e = {
    OCF_ROOT = p.root,
    OCF_RA_VERSION_MAJOR = "1",
    OCF_RA_VERSION_MINOR = "1",
    OCF_RESOURCE_INSTANCE = info.resource or p.type,
    OCF_RESOURCE_TYPE = p.type,
    OCF_RESOURCE_PROVIDER = p.provider,
    __OCF_ACTION = action,
  }
  -- A recurring monitor is not a probe (ocf_is_probe); info.interval is
  -- the monitor interval in ms, as Pacemaker passes it.
  e.OCF_RESKEY_CRM_meta_interval = info.interval or (action == "monitor" and "10000" or "0")
  local left = corral.remaining()
  if left then
    e.OCF_RESKEY_CRM_meta_timeout = tostring(math.floor(left * 1000))
  end
  if info.state_dir then
    local base = info.state_dir .. "/ocf"
    for var, sub in pairs({ HA_RSCTMP = "rsctmp", HA_VARRUN = "run", HA_VARLIB = "lib", HA_VARLOCK = "lock" }) do
      e[var] = base .. "/" .. sub
      fs.mkdir(e[var])
    end
  end
  for k, v in pairs(p) do
    if k ~= "type" and k ~= "provider" and k ~= "root" then
      e["OCF_RESKEY_" .. k] = tostring(v)
    end
  end
  return e
end

-- run runs one action and maps its exit code.
local function run(action, p, info)
  local code, out, err, why = exec.run{ argv = { agentpath(p), action }, env = env(p, info, action) }
  if why then
    if code == -1 and not why:find("deadline") then
      return "config", agentpath(p) .. ": " .. why, out
    end
    return "failed", agentpath(p) .. " " .. action .. ": " .. why, out
  end
  local c = codes[code] or { "failed", "exit code " .. code }
  -- ocf_exit_reason writes "ocf-exit-reason:TEXT" to stderr.
  local reason = err:match("ocf%-exit%-reason:([^\n]*)")
  local msg
  if code ~= 0 then
    msg = p.type .. " " .. action .. ": " .. c[2] .. " (" .. code .. ")"
    if reason then
      msg = msg .. ": " .. reason
    elseif err ~= "" then
      msg = msg .. ": " .. err:sub(-300):gsub("%s+$", "")
    end
  end
  return c[1], msg, out
end

function M.start(p, info) return run("start", p, info) end
function M.stop(p, info) return run("stop", p, info) end
function M.monitor(p, info) return run("monitor", p, info) end

local function unxml(s)
  return (s:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&apos;", "'"):gsub("&amp;", "&"))
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%s+", " "))
end

local types = { string = "string", integer = "integer", boolean = "boolean", number = "number" }

-- describe reads an agent's meta-data into our meta table.
function M.describe(xml, p)
  local m = {
    name = "ocf",
    description = "OCF agent " .. p.provider .. ":" .. p.type,
    extra_parameters = true,
    parameters = {},
  }
  for _, b in ipairs(base) do
    table.insert(m.parameters, b)
  end
  local head = xml:match("<resource%-agent.-<parameters>") or xml
  local short = head:match("<shortdesc[^>]*>(.-)</shortdesc>")
  if short then
    m.description = m.description .. ": " .. trim(unxml(short))
  end
  for attrs, body in xml:gmatch("<parameter%s([^>]*)>(.-)</parameter>") do
    local name = attrs:match('name="([^"]+)"')
    if name then
      local content = body:match("<content%s([^>]*)>") or ""
      local desc = body:match("<shortdesc[^>]*>(.-)</shortdesc>") or body:match("<longdesc[^>]*>(.-)</longdesc>") or ""
      local prm = {
        name = name,
        type = types[content:match('type="([^"]+)"') or "string"] or "string",
        required = attrs:match('required="1"') ~= nil,
        description = trim(unxml(desc)),
      }
      local default = content:match('default="([^"]*)"')
      if default and default ~= "" then
        prm.default = unxml(default)
        if prm.type ~= "string" and not (prm.type == "boolean" and (default == "true" or default == "false")) and not tonumber(default) then
          prm.type = "string" -- a default the agent computes; keep it as text
        end
      end
      table.insert(m.parameters, prm)
    end
  end
  return m
end

-- meta: without a type, this wrapper's own parameters; with one, the
-- agent's, from its meta-data action.
function M.meta(p)
  p = p or {}
  if not p.type then
    return {
      name = "ocf",
      description = "Runs an installed OCF resource agent (/usr/lib/ocf/resource.d/<provider>/<type>)",
      extra_parameters = true,
      parameters = base,
    }
  end
  p.provider, p.root = p.provider or "heartbeat", p.root or "/usr/lib/ocf"
  local code, out, err, why = exec.run{ argv = { agentpath(p), "meta-data" }, env = env(p, {}, "meta-data"), timeout = 10 }
  if code ~= 0 then
    error(agentpath(p) .. " meta-data: " .. (why or ("exit code " .. code .. ": " .. err)))
  end
  corral.debug("read OCF meta-data", { agent = agentpath(p) })
  return M.describe(out, p)
end

return M
