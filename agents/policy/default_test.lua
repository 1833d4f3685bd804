local cluster = {
  nodes = {
    n1 = { groups = 3 },
    n2 = { groups = { "a" } },
    n3 = { groups = 1 },
    n4 = { groups = 0 },
  },
}

function TestPreferredOwnersInOrder(t)
  local g = { name = "web", preferred_owners = { "n3", "n1" } }
  t:eq(host.choose_owner("default", g, { "n1", "n2", "n3" }, cluster), "n3")
  t:eq(host.choose_owner("default", g, { "n1", "n2" }, cluster), "n1", "n3 is not a candidate")
end

function TestFewestGroupsThenName(t)
  local g = { name = "web", preferred_owners = { "n9" } }
  t:eq(host.choose_owner("default", g, { "n1", "n2", "n3" }, cluster), "n2", "n2 and n3 run one group each: n2 by name")
  t:eq(host.choose_owner("default", g, { "n3", "n2", "n1" }, cluster), "n2", "candidate order does not matter")
  t:eq(host.choose_owner("default", g, { "n1", "n4" }, cluster), "n4")
  t:eq(host.choose_owner("default", { name = "x" }, { "n5", "n1" }, cluster), "n5", "an unknown node runs nothing")
  t:eq(host.choose_owner("default", { name = "x" }, { "b", "a" }, {}), "a", "no cluster facts: by name")
end

function TestNoCandidates(t)
  local owner, err = host.choose_owner("default", { name = "web" }, {}, cluster)
  t:eq(owner, nil, err)
end

function TestOnFailureRestartThenFailover(t)
  local r = { name = "db", restart_max = 2 }
  t:eq(host.on_failure("default", r, 0), "restart")
  t:eq(host.on_failure("default", r, 1), "restart")
  t:eq(host.on_failure("default", r, 2), "failover")
  t:eq(host.on_failure("default", r, 7), "failover")
  t:eq(host.on_failure("default", { name = "x", restart_max = 0 }, 0), "failover", "restart_max 0 never restarts")
  local default = host.script("policy", "default").DEFAULT_RESTART_MAX
  t:eq(host.on_failure("default", { name = "x" }, default - 1), "restart")
  t:eq(host.on_failure("default", { name = "x" }, default), "failover")
end
