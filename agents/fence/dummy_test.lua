local fs = require("fs")

function TestFenceDummyPower(t)
  local p = { dir = t:tempdir() }
  t:eq(host.fence("dummy", "status", "n2", p), "ok", "on until fenced")
  t:eq(host.fence("dummy", "off", "n2", p), "ok")
  t:eq(host.fence("dummy", "status", "n2", p), "not_running")
  t:eq(host.fence("dummy", "on", "n2", p), "ok")
  t:eq(host.fence("dummy", "status", "n2", p), "ok")
  t:eq(host.fence("dummy", "reboot", "n2", p), "ok")
  t:eq(host.fence("dummy", "status", "n2", p), "ok")
end

function TestFenceDummyFailsOnCommand(t)
  local p = { dir = t:tempdir() }
  fs.write(p.dir .. "/fail", "")
  local st, msg = host.fence("dummy", "off", "n2", p)
  t:eq(st, "failed")
  t:ok(msg:find("told to fail", 1, true), msg)
  fs.remove(p.dir .. "/fail")
  t:eq(host.fence("dummy", "off", "n2", p), "ok", "after the fail file is gone")
  p.fail = "true"
  t:eq(host.fence("dummy", "reboot", "n2", p), "failed", "fail = true")
end

function TestFenceDummyList(t)
  local st, _, targets = host.fence("dummy", "list", "", { targets = "n1, n2,n3" })
  t:eq(st, "ok")
  t:eq(targets, { "n1", "n2", "n3" })
end
