local cluster = {
  nodes = {
    a1 = { attributes = { site = "amsterdam" }, groups = 2 },
    a2 = { attributes = { site = "amsterdam" }, groups = 1 },
    b1 = { attributes = { site = "berlin" }, groups = 0 },
    b2 = { attributes = { site = "berlin" }, groups = 0 },
  },
}
local all = { "a1", "a2", "b1", "b2" }

function TestStaysInItsSite(t)
  local g = { name = "db", attributes = { site = "amsterdam" } }
  t:eq(host.choose_owner("pin_site", g, all, cluster), "a2", "the least busy Amsterdam node, though Berlin is idler")
  g.preferred_owners = { "b1", "a1" }
  t:eq(host.choose_owner("pin_site", g, all, cluster), "a1", "a preferred owner outside the site is skipped")
end

function TestSiteDownMeansNowhere(t)
  local g = { name = "db", attributes = { site = "amsterdam" } }
  local owner, err = host.choose_owner("pin_site", g, { "b1", "b2" }, cluster)
  t:eq(owner, nil, err)
  g.attributes.site_fallback = "true"
  t:eq(host.choose_owner("pin_site", g, { "b2", "b1" }, cluster), "b1", "with site_fallback: any candidate")
end

function TestNoSiteBehavesLikeDefault(t)
  t:eq(host.choose_owner("pin_site", { name = "x" }, all, cluster), "b1")
  t:eq(host.choose_owner("pin_site", { name = "x", site = "berlin", preferred_owners = { "b2" } }, all, cluster), "b2",
    "group.site works too")
end

function TestRestartThenFailover(t)
  t:eq(host.on_failure("pin_site", {}, 2), "restart")
  t:eq(host.on_failure("pin_site", {}, 3), "failover")
end
