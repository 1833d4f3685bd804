-- deadman: a dead-man lock (the TruCluster and VMS pattern). A worker holds
-- EX on "deadman.<job>" for as long as it lives; a monitor queues its own EX
-- request on the same name, which the lock manager grants only once the
-- worker is gone: its script ended, its shell or node died (after the node
-- is fenced), or it lost its hold on the cluster. The monitor then takes
-- over. Nothing polls: the grant is the notification.
--
--   corral shell -c "lua run examples/lua/automation/deadman.lua worker job1 'sleep 3600'"
--   corral shell -c "lua run examples/lua/automation/deadman.lua monitor job1 'echo job1 died'"
--
-- arg[1] is worker or monitor, arg[2] the job's name, arg[3] the command
-- (run by /bin/sh: the worker's work, or the monitor's takeover), arg[4]
-- how many seconds the monitor waits at most (default: for ever).
local lock = require("lock")
local exec = require("exec")

local role, job, command = arg[1], arg[2], arg[3] or "true"
local patience = tonumber(arg[4])
assert(role == "worker" or role == "monitor", "usage: deadman.lua worker|monitor JOB [COMMAND] [SECONDS]")
assert(job, "usage: deadman.lua worker|monitor JOB [COMMAND] [SECONDS]")
local name = "deadman." .. job

local function run(what)
  local code, out, err, why = exec.run{ argv = { "/bin/sh", "-c", command }, env = { JOB = job } }
  if out ~= "" then
    print(out)
  end
  if code ~= 0 then
    error(what .. " failed (" .. tostring(why or code) .. "): " .. err)
  end
end

if role == "worker" then
  -- NOQUEUE: a second worker for the same job must not wait behind the first.
  local lk, status = lock.acquire{ name = name, mode = "EX", flags = { "noqueue" } }
  if not lk then
    error(job .. ": another worker holds " .. name .. " (" .. status .. ")")
  end
  print("worker " .. job .. ": holding " .. name)
  run("worker " .. job)
  if lk:mode() ~= "EX" then
    error("worker " .. job .. ": the lock was lost while working: the monitor may have taken over")
  end
  lk:release()
  return "worker " .. job .. ": done"
end

-- monitor
print("monitor " .. job .. ": waiting for the worker to go")
local lk, status = lock.acquire{ name = name, mode = "EX", timeout = patience }
if not lk then
  return "monitor " .. job .. ": the worker is still there (" .. status .. ")"
end
print("monitor " .. job .. ": the worker is gone; taking over")
run("takeover of " .. job)
lk:release()
return "monitor " .. job .. ": took over"
