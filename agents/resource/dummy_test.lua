function TestDummyLifecycle(t)
  local p = { state = t:tempdir() .. "/dummy.state" }
  t:eq(host.run("dummy", "monitor", p), "not_running", "before start")
  t:eq(host.run("dummy", "start", p), "ok")
  t:eq(host.run("dummy", "monitor", p), "ok", "after start")
  t:eq(host.run("dummy", "start", p), "ok", "start again")
  t:eq(host.run("dummy", "stop", p), "ok")
  t:eq(host.run("dummy", "monitor", p), "not_running", "after stop")
  t:eq(host.run("dummy", "stop", p), "ok", "stop again")
end

function TestDummyStateFromResourceName(t)
  local p = { _resource = "lua-test-" .. math.random(1e9) }
  t:eq(host.run("dummy", "start", p), "ok")
  local fs = require("fs")
  t:ok(fs.exists("/tmp/corral-dummy-" .. p._resource .. ".state"), "state file named after the resource")
  t:eq(host.run("dummy", "stop", p), "ok")
end

function TestDummyWritesFake(t)
  local p = { state = t:tempdir() .. "/dummy.state", fake = "hello" }
  t:eq(host.run("dummy", "start", p), "ok")
  t:eq(require("fs").read(p.state), "hello\n")
end

function TestDummyUnknownParameter(t)
  local st, msg = host.run("dummy", "start", { bogus = "1" })
  t:eq(st, "config")
  t:ok(msg:find("unknown parameter bogus", 1, true), msg)
end

function TestDummyUnwritableState(t)
  local st, msg = host.run("dummy", "start", { state = "/nonexistent/dir/dummy.state" })
  t:eq(st, "failed")
  t:ok(msg:find("cannot write the state file", 1, true), msg)
end
