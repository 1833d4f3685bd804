-- ipaddr: adds an IP address to an interface with `ip addr add` (needs
-- root), removes it on stop, and checks it is there on monitor.
local exec = require("exec")

local M = {}

function M.meta()
  return {
    name = "ipaddr",
    description = "Adds an IP address to a network interface (ip addr add; needs root)",
    parameters = {
      { name = "ip", type = "string", required = true, description = "the address, 10.0.0.5 or fd00::5" },
      { name = "nic", type = "string", required = true, description = "the interface, eth0" },
      { name = "cidr_netmask", type = "integer", description = "prefix length (default 32 for IPv4, 128 for IPv6)" },
      { name = "ip_command", type = "string", default = "ip", description = "the ip program" },
    },
  }
end

local function prefix(p)
  local len = p.cidr_netmask or (p.ip:find(":") and 128 or 32)
  return p.ip .. "/" .. len
end

local function ip(p, ...)
  local code, out, err, why = exec.run{ argv = { p.ip_command, ... }, timeout = 10 }
  return code, out, (why or err or ""):gsub("%s+$", "")
end

function M.monitor(p)
  local code, out, err = ip(p, "-o", "addr", "show", "dev", p.nic)
  if code ~= 0 then
    return "failed", "ip addr show dev " .. p.nic .. ": " .. err
  end
  -- Lines read "2: eth0    inet 10.0.0.5/24 brd ...".
  for addr in out:gmatch("inet6? (%S+)") do
    if addr == prefix(p) or addr:match("^[^/]+") == p.ip then
      return "ok"
    end
  end
  return "not_running", p.ip .. " is not on " .. p.nic
end

function M.start(p)
  if M.monitor(p) == "ok" then
    return "ok"
  end
  local code, _, err = ip(p, "addr", "add", prefix(p), "dev", p.nic)
  if code ~= 0 then
    if err:find("Operation not permitted") then
      return "config", "ip addr add needs root: " .. err
    end
    if err:find("Cannot find device") then
      return "config", err
    end
    return "failed", "ip addr add " .. prefix(p) .. " dev " .. p.nic .. ": " .. err
  end
  return "ok"
end

function M.stop(p)
  local st, why = M.monitor(p)
  if st == "not_running" then
    return "ok"
  end
  if st ~= "ok" then
    -- it cannot tell whether the address is there: never "stopped"
    return "failed", why
  end
  local code, _, err = ip(p, "addr", "del", prefix(p), "dev", p.nic)
  if code ~= 0 then
    return "failed", "ip addr del " .. prefix(p) .. " dev " .. p.nic .. ": " .. err
  end
  return "ok"
end

return M
