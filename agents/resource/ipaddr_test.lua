-- Runs only inside a network namespace of its own: lua's TestIPAddr re-runs
-- the test binary under `unshare --net` and sets vars.netns.
function TestIPAddr(t)
  if vars.netns ~= "1" then
    t:skip("not in a network namespace of its own: TestIPAddr runs this under unshare --net")
  end
  local p = { ip = "10.203.0.7", cidr_netmask = "24", nic = "lo" }
  t:eq(host.run("ipaddr", "monitor", p), "not_running")
  t:eq(host.run("ipaddr", "start", p), "ok")
  t:eq(host.run("ipaddr", "monitor", p), "ok")
  local _, out = require("exec").run{ argv = { "ip", "-o", "addr", "show", "dev", "lo" } }
  t:ok(out:find("10.203.0.7/24", 1, true), out)
  t:eq(host.run("ipaddr", "start", p), "ok", "start again")
  t:eq(host.run("ipaddr", "stop", p), "ok")
  t:eq(host.run("ipaddr", "monitor", p), "not_running")
  t:eq(host.run("ipaddr", "stop", p), "ok", "stop again")
end

function TestIPAddrNoSuchDevice(t)
  if vars.netns ~= "1" then
    t:skip("not in a network namespace of its own: TestIPAddr runs this under unshare --net")
  end
  local st, msg = host.run("ipaddr", "start", { ip = "10.203.0.8", nic = "nosuch0" })
  t:ok(st == "failed" or st == "config", st, msg)
end

-- A stop that cannot tell whether the address is there (`ip addr show`
-- fails) must fail, not answer ok: the group would start elsewhere while
-- the address may still be here (G4). Needs no namespace: nothing is added.
function TestIPAddrStopWhenMonitorFails(t)
  local p = { ip = "10.203.0.9", nic = "lo", ip_command = "false" }
  t:eq(host.run("ipaddr", "monitor", p), "failed")
  t:eq(host.run("ipaddr", "stop", p), "failed")
end
