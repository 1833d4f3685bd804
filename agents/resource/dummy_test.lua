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

function TestDummyStateDir(t)
  local d = t:tempdir()
  local a = { _resource = "x", _state_dir = d .. "/a" }
  local b = { _resource = "x", _state_dir = d .. "/b" }
  require("fs").mkdir(a._state_dir)
  require("fs").mkdir(b._state_dir)
  t:eq(host.run("dummy", "start", a), "ok")
  t:ok(require("fs").exists(d .. "/a/dummy-x.state"), "state file in the node's state directory")
  t:eq(host.run("dummy", "monitor", b), "not_running", "another node's directory does not share it")
  t:eq(host.run("dummy", "stop", a), "ok")
end
