local fs = require("fs")

local function needDummy(t)
  if not fs.exists("/usr/lib/ocf/resource.d/heartbeat/Dummy") then
    t:skip("Debian's resource-agents is not installed (apt-get install resource-agents): no /usr/lib/ocf/resource.d/heartbeat/Dummy")
  end
end

function TestOCFDummyLifecycle(t)
  needDummy(t)
  local p = { type = "Dummy", state = t:tempdir() .. "/Dummy.state", _resource = "d1" }
  t:eq(host.run("ocf", "monitor", p), "not_running")
  t:eq(host.run("ocf", "start", p), "ok")
  t:ok(fs.exists(p.state), "Dummy wrote its state file (OCF_RESKEY_state)")
  t:eq(host.run("ocf", "monitor", p), "ok")
  t:eq(host.run("ocf", "stop", p), "ok")
  local st, msg = host.run("ocf", "monitor", p)
  t:eq(st, "not_running", msg)
  t:ok(msg:find("No process state file found", 1, true), "the exit reason is in the message:", msg)
end

function TestOCFDummyMetaData(t)
  needDummy(t)
  local st, json = host.run("ocf", "meta", { type = "Dummy" })
  t:eq(st, "ok", json)
  t:ok(json:find('"name":"state"', 1, true), json)
  t:ok(json:find('"name":"fake"', 1, true), json)
  t:ok(json:find("Example stateless resource agent", 1, true), json)
end

function TestOCFDescribe(t)
  -- describe is pure: test it without an installed agent.
  local ocf = host.script("resource", "ocf")
  local xml = [[
<resource-agent name="X"><shortdesc lang="en">An &lt;x&gt; agent</shortdesc>
<parameters>
<parameter name="port" required="1"><shortdesc lang="en">The port</shortdesc><content type="integer" default="80"/></parameter>
<parameter name="path"><longdesc lang="en">Where
  it lives</longdesc><content type="integer" default="/var/x"/></parameter>
</parameters></resource-agent>]]
  local m = ocf.describe(xml, { provider = "acme", type = "X" })
  t:eq(m.description, "OCF agent acme:X: An <x> agent")
  t:ok(m.extra_parameters, "passes undeclared parameters on")
  local byname = {}
  for _, prm in ipairs(m.parameters) do
    byname[prm.name] = prm
  end
  t:eq(byname.port, { name = "port", type = "integer", required = true, default = "80", description = "The port" })
  t:eq(byname.path.type, "string", "a non-numeric default makes an integer a string")
  t:eq(byname.path.description, "Where it lives")
  t:ok(byname.type and byname.provider and byname.root, "the wrapper's own parameters are there")
end

function TestOCFMissingAgent(t)
  local st, msg = host.run("ocf", "start", { type = "NoSuchAgent", provider = "nobody" })
  t:eq(st, "config", msg)
  t:ok(msg:find("NoSuchAgent", 1, true), msg)
end

function TestOCFTypeRequired(t)
  local st, msg = host.run("ocf", "start", {})
  t:eq(st, "config", msg)
end

-- TestOCFStateDirPerNode: Dummy keeps its state file in HA_RSCTMP by
-- default; each node's state directory gives it its own, so two nodes on
-- one machine (the demo) never see each other's resources as running.
function TestOCFStateDirPerNode(t)
  needDummy(t)
  local fs = require("fs")
  local d = t:tempdir()
  local a = { type = "Dummy", _resource = "ocf-shared", _state_dir = d .. "/a" }
  local b = { type = "Dummy", _resource = "ocf-shared", _state_dir = d .. "/b" }
  fs.mkdir(a._state_dir)
  fs.mkdir(b._state_dir)
  t:eq(host.run("ocf", "start", a), "ok")
  t:ok(fs.exists(d .. "/a/ocf/rsctmp/Dummy-ocf-shared.state"), "the state file is under the node's state directory")
  local st, msg = host.run("ocf", "monitor", b)
  t:eq(st, "not_running", "another node's directory does not share it: " .. tostring(msg))
  t:eq(host.run("ocf", "stop", a), "ok")
  t:ok(not fs.exists("/run/resource-agents/Dummy-ocf-shared.state"), "nothing left in /run/resource-agents")
end
