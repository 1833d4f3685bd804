function TestLogHandlerTakesEveryEvent(t)
  local ok, err = host.handle("log", { seq = 1, kind = "group_moved", group = "web", from = "n1", to = "n2" })
  t:ok(ok, err)
  local metas = host.scripts("handler")
  local found
  for _, m in ipairs(metas) do
    if m.name == "log" then found = m end
  end
  t:ok(found, "log is listed")
  t:eq(found.events, { "*" })
end
