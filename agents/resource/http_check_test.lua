function TestHTTPCheck(t)
  local p = { url = vars.http_url .. "/ok", state = t:tempdir() .. "/s", wait = "1s" }
  t:eq(host.run("http_check", "monitor", p), "not_running")
  t:eq(host.run("http_check", "start", p), "ok")
  t:eq(host.run("http_check", "monitor", p), "ok")
  p.expect = "hello from corral"
  t:eq(host.run("http_check", "monitor", p), "ok", "body contains expect")
  p.expect = "goodbye"
  local st, msg = host.run("http_check", "monitor", p)
  t:eq(st, "failed", msg)
  p.expect = nil
  t:eq(host.run("http_check", "stop", p), "ok")
  t:eq(host.run("http_check", "monitor", p), "not_running")
end

function TestHTTPCheckBadStatus(t)
  local p = { url = vars.http_url .. "/bad", state = t:tempdir() .. "/s", wait = "0.3s" }
  local st, msg = host.run("http_check", "start", p)
  t:eq(st, "failed", msg)
  t:ok(msg:find("status 500", 1, true), msg)
  p.expect = "500"
  t:eq(host.run("http_check", "start", p), "ok", "expect a status code")
end

function TestHTTPCheckRefused(t)
  local p = { url = "http://127.0.0.1:" .. vars.closed_port .. "/", state = t:tempdir() .. "/s", wait = "0.2s" }
  local st, msg = host.run("http_check", "start", p)
  t:eq(st, "failed", msg)
  t:ok(msg:find("refused", 1, true), msg)
end
