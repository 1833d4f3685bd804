function TestTCPCheck(t)
  local p = { port = vars.tcp_port, state = t:tempdir() .. "/s", wait = "1s" }
  t:eq(host.run("tcp_check", "monitor", p), "not_running", "before start")
  t:eq(host.run("tcp_check", "start", p), "ok")
  t:eq(host.run("tcp_check", "monitor", p), "ok")
  t:eq(host.run("tcp_check", "stop", p), "ok")
  t:eq(host.run("tcp_check", "monitor", p), "not_running", "after stop")
end

function TestTCPCheckClosedPort(t)
  local p = { port = vars.closed_port, state = t:tempdir() .. "/s", wait = "0.3s", timeout = "0.5s" }
  local st, msg = host.run("tcp_check", "start", p)
  t:eq(st, "failed", msg)
  t:ok(msg:find("does not answer", 1, true), msg)
end

function TestTCPCheckPortMustBeInteger(t)
  local st, msg = host.run("tcp_check", "monitor", { port = "http" })
  t:eq(st, "config")
  t:ok(msg:find('"http" is not an integer', 1, true), msg)
end
