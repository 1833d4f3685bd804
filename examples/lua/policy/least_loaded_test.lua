local cluster = {
  nodes = {
    n1 = { load = 2.5, groups = 0 },
    n2 = { load = 0.3, groups = 4 },
    n3 = { load = 0.3, groups = 1 },
    n4 = { load = 9, groups = 0 },
  },
}

function TestLeastLoadedWins(t)
  t:eq(host.choose_owner("least_loaded", { name = "web" }, { "n1", "n2", "n4" }, cluster), "n2")
  t:eq(host.choose_owner("least_loaded", { name = "web", preferred_owners = { "n4" } }, { "n1", "n4" }, cluster), "n1",
    "load beats preferred owners")
end

function TestTiesByGroupsThenName(t)
  t:eq(host.choose_owner("least_loaded", { name = "web" }, { "n2", "n3" }, cluster), "n3", "same load: fewer groups")
  local even = { nodes = { b = { load = 1 }, a = { load = 1 } } }
  t:eq(host.choose_owner("least_loaded", { name = "web" }, { "b", "a" }, even), "a", "same load and groups: by name")
end

function TestUnknownLoadCountsAsIdle(t)
  t:eq(host.choose_owner("least_loaded", { name = "web" }, { "n1", "n9" }, cluster), "n9")
  local owner = host.choose_owner("least_loaded", { name = "web" }, {}, cluster)
  t:eq(owner, nil, "no candidates: nowhere")
end

function TestRestartThenFailover(t)
  t:eq(host.on_failure("least_loaded", { restart_max = 1 }, 0), "restart")
  t:eq(host.on_failure("least_loaded", { restart_max = 1 }, 1), "failover")
end
