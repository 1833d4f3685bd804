local exec = require("exec")
local fs = require("fs")
local corral = require("corral")

function TestRunOutputAndCodes(t)
  local code, out, err = exec.run{ argv = { "sh", "-c", "cat; echo oops >&2; exit 3" }, stdin = "abc" }
  t:eq(code, 3)
  t:eq(out, "abc")
  t:eq(err, "oops\n")
  code, out = exec.run{ "sh", "-c", "echo $GREETING-$PATH" , env = { GREETING = "hi" } }
  t:eq(code, 0)
  t:ok(out:match("^hi%-/"), "env and PATH reach the child:", out)
  local _, _, _, why = exec.run{ argv = { "/nonexistent/prog" } }
  t:ok(why and why:find("no such file", 1, true), why)
  _, _, _, why = exec.run{ argv = { "no-such-program-anywhere" } }
  t:ok(why and why:find("not found", 1, true), why)
end

function TestRunTimeoutKillsTheGroup(t)
  local f = t:tempdir() .. "/child"
  local t0 = corral.now()
  local code, _, _, why = exec.run{ argv = { "sh", "-c", "sleep 30 & echo $! > " .. f .. "; wait" }, timeout = 0.3 }
  t:eq(code, -1)
  t:ok(why and why:find("timeout after 300ms", 1, true), why)
  t:ok(corral.now() - t0 < 10, "returned after", corral.now() - t0, "s")
  local child = tonumber(fs.read(f):match("%d+"))
  t:ok(exec.wait(child, 2), "the grandchild", child, "was killed with the group")
end

function TestStartAliveKill(t)
  local d = t:tempdir()
  local pid = exec.start{ argv = { "sleep", "30" }, pidfile = d .. "/pid", log = d .. "/log" }
  t:ok(pid, "started")
  t:eq(tonumber(fs.read(d .. "/pid")), pid)
  t:ok(exec.alive(pid), "alive")
  t:ok(not exec.wait(pid, 0.05), "still alive after 50ms")
  t:ok(exec.kill(pid, "TERM"))
  t:ok(exec.wait(pid, 5), "gone after TERM")
  t:ok(not exec.alive(pid), "not alive")
  local ok, err = pcall(exec.kill, pid, "BOGUS")
  t:ok(not ok and err:find("unknown signal BOGUS", 1, true), err)
  ok, err = exec.kill(pid, "TERM")
  t:eq(ok, nil, "a signal to a gone process fails")
  t:ok(err:find("no such process", 1, true), err)
end

function TestStartError(t)
  local pid, err = exec.start{ argv = { "/nonexistent/daemon" } }
  t:eq(pid, nil)
  t:ok(err:find("no such file", 1, true), err)
end

function TestNetTCPRefused(t)
  local ok, err = require("net").tcp{ port = vars.closed_port, timeout = 1 }
  t:eq(ok, nil)
  t:ok(err:find("refused", 1, true), err)
end
