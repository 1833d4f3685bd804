-- doorbell: wake a process on any node without polling, with a lock's
-- blocking notice (VMS's LOCK /SURRENDER idiom). The listener holds EX on
-- "doorbell.<name>" and waits for a blocking notice; a ringer asks for EX
-- with NOQUEUE and NOQUEUEBAST: it is refused at once (EAGAIN), but the
-- holder is told someone wanted the lock. The listener then re-arms by
-- converting to NL and back to EX (a blocking notice comes once per grant,
-- so rings that come while it handles one coalesce into it: a doorbell says
-- "look", not how many times someone rang).
--
--   corral shell -c "lua run examples/lua/automation/doorbell.lua listen jobs 3 'echo ring'"
--   corral shell -c "lua run examples/lua/automation/doorbell.lua ring jobs"
--
-- listen: arg[2] the bell's name, arg[3] how many rings to answer (default
-- 1), arg[4] a command to run at each ring (default: none), arg[5] the
-- seconds to wait for each ring (default: for ever).
-- ring: arg[2] the bell's name; arg[3] how many seconds to keep trying while
-- the listener is re-arming (default 5).
local lock = require("lock")
local corral = require("corral")

local role, bell = arg[1], arg[2]
assert((role == "listen" or role == "ring") and bell, "usage: doorbell.lua listen|ring NAME ...")
local name = "doorbell." .. bell

if role == "ring" then
  local patience = tonumber(arg[3]) or 5
  local deadline = corral.now() + patience
  while true do
    local lk, status = lock.acquire{ name = name, mode = "EX", flags = { "noqueue", "noqueuebast" } }
    if not lk and status == "EAGAIN" then
      return "rang " .. bell
    end
    if lk then
      lk:release() -- nobody holds it: nobody listening, or it is re-arming
    end
    if corral.now() > deadline then
      return "nobody is listening on " .. bell
    end
    corral.sleep(0.02)
  end
end

-- listen
local rings = tonumber(arg[3]) or 1
local command = arg[4]
local wait = tonumber(arg[5])
local lk, status = lock.acquire{ name = name, mode = "EX", flags = { "noqueue" } }
if not lk then
  error("someone else listens on " .. bell .. " (" .. status .. ")")
end
print("listening on " .. bell)
for i = 1, rings do
  local mode, why = lk:wait_blocking(wait)
  if not mode then
    lk:release()
    return "stopped listening on " .. bell .. " after " .. (i - 1) .. " rings: " .. why
  end
  print("ring " .. i .. " on " .. bell .. " (someone wanted " .. mode .. ")")
  if command then
    local code, out = require("exec").run{ argv = { "/bin/sh", "-c", command } }
    if out ~= "" then
      print(out)
    end
  end
  -- re-arm: a new grant makes the next ring notify again
  assert(lk:convert{ mode = "NL" })
  assert(lk:convert{ mode = "EX" })
end
lk:release()
return "answered " .. rings .. " rings on " .. bell
