# corral's build. `make test` is what CI and README.md run.
MAKEFLAGS += --warn-undefined-variables
SHELL := bash
.SHELLFLAGS := -o pipefail -euc
.DEFAULT_GOAL := build

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/corral
# Packages the lint rule keeps pure (corral help design).
BENCHTIME ?= 2s
# The etcd lock client of the DLM benchmarks (built by `make bench`, never committed).
ETCD_LOCKBENCH_SRC ?= $(CURDIR)/../shared/anchors/peers/etcd/lockbench
ETCD_LOCKBENCH ?= /tmp/corral-etcd-lockbench

.PHONY: build test unit suite race lint bench tidy demo fuzz chaos clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./shell/cmd/corral

# Package tests in parallel (fuzz seed corpora included), then the whole-cluster
# suite one package at a time (it runs real processes on loopback).
test: build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 13m $$($(GO) list ./... | grep -v /testsuite)
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -p 1 -timeout 10m ./testsuite/...

race:
	$(GO) test -race -count=1 -timeout 20m ./...

lint:
	golangci-lint run ./...

# Throughput and latency figures; see README.md "Benchmarks". The testsuite
# lines measure connectivity between real processes on loopback
# (testsuite/connbench_test.go): round trip next to raw UDP and throughput,
# then the one-shot figures (20 kill -9 runs; 10 s of an idle 3-node cluster).
# Every benchmark that makes a headline figure appends it (one JSON line,
# testsuite/benchrec) to $(BENCH_RESULTS), emptied first; `make bench` ends with
# them as one Markdown table (testsuite/benchtable): corral, the peer of the same
# run, the ratio, the goal, met or not.
BENCH_RESULTS := $(CURDIR)/bin/bench-results.jsonl
bench: export CORRAL_BENCH_RESULTS = $(BENCH_RESULTS)
bench: build
	: > $(BENCH_RESULTS)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./core/wire/ ./core/transport/
	$(GO) test -run '^$$' -bench '^BenchmarkConn(RoundTrip|Throughput)$$' -benchtime $(BENCHTIME) ./testsuite/
	$(GO) test -run '^$$' -bench '^BenchmarkConn(KillToUnreachable|IdleCPU)$$' -benchtime 1x ./testsuite/
	# Membership (testsuite/memberbench_test.go, core/membership/converge_bench_test.go):
	# 20 kill -9 runs to a new view; false evictions under a CPU hog on every core
	# for $$CORRAL_HOG_DURATION (default 60s; the issue's soak: CORRAL_HOG_DURATION=10m make bench);
	# simulated convergence after a partition heals, 16, 64 and 256 nodes.
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkKillToNewView$$' -benchtime 1x -timeout 10m ./testsuite/
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkFalseEvictionsUnderCPUHog$$' -benchtime 1x -timeout 2h ./testsuite/
	$(GO) test -run '^$$' -bench '^BenchmarkConvergence$$' -benchtime 1x -timeout 1h ./core/membership/
	# Idle cost (testsuite/idlebench_test.go): CPU (utime+stime from /proc) and RSS of
	# each node of a quiet 3-node demo over $$CORRAL_IDLE_WINDOW (default 60s; goal
	# <= 0.5 % of a core, <= 40 MB). Scale, only with $$CORRAL_SCALE_NODES (e.g.
	# CORRAL_SCALE_NODES=16,32,64 make bench): time to one quorate view, view changes
	# over $$CORRAL_SCALE_HOLD (default 60s; the issue's: 10m), idle CPU per node, and
	# kill -9 to a re-formed view.
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkNodeIdleCPU$$' -benchtime 1x -timeout 10m ./testsuite/
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkScale$$' -benchtime 1x -timeout 2h ./testsuite/
	-cd $(ETCD_LOCKBENCH_SRC) && $(GO) build -o $(ETCD_LOCKBENCH) .
	CORRAL_ETCD_LOCKBENCH=$$(test -x $(ETCD_LOCKBENCH) && echo $(ETCD_LOCKBENCH)) CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkCDBSetVsEtcd$$' -benchtime 1x -timeout 15m ./testsuite/
	# DNS (testsuite/dnsbench_test.go, core/node/dns_test.go): dnsperf against one node
	# pinned to CPU 1 next to a bare miekg/dns server, same run (skips without dnsperf);
	# a group's owner change to the first UDP answer naming it; the handler in process.
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkDNSQPS$$' -benchtime 1x -timeout 10m ./testsuite/
	$(GO) test -run '^$$' -bench '^BenchmarkDNSOwnerChange$$' -benchtime 1x ./core/node/
	$(GO) test -run '^$$' -bench '^BenchmarkServeDNS$$' -benchtime $(BENCHTIME) ./core/dns/
	# Lua host (lua/bench_test.go): one monitor call through the VM pool, the Lua
	# dummy agent next to Debian's OCF Dummy through the ocf wrapper (fork+exec); p50/p99.
	$(GO) test -run '^$$' -bench '^BenchmarkMonitor$$' -benchtime $(BENCHTIME) ./lua/
	# Resource manager: one transition for 1,000 resources in 100 groups on 16 simulated
	# nodes (core/crm/bench_test.go); kill -9 of a group's owner to the group online on
	# another node, 20 runs with the dummy agent (testsuite/crmbench_test.go).
	$(GO) test -run '^$$' -bench '^BenchmarkPlacement$$' -benchtime 200x -timeout 10m ./core/crm/
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkKillOwnerToGroupOnline$$' -benchtime 1x -timeout 10m ./testsuite/
	# kill -9 of the owner of the demo's web (Lua process agent running corral whoami) to
	# curl answering on another node, 20 runs (testsuite/crmbench_test.go; Pacemaker: 8.85 s).
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkKillOwnerToWebAnswering$$' -benchtime 1x -timeout 10m ./testsuite/
	# The same failover as a client behind a caching resolver sees it: unbound on
	# loopback forwarding the demo's zone to the three nodes; kill -9 of web's owner to
	# unbound answering the new owner, $$CORRAL_RESOLVER_RUNS runs (default 10), with the
	# default [dns] ttl (5s) and with ttl = "1s" (testsuite/resolverbench_test.go; skips
	# without Debian's unbound).
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkKillOwnerToResolverAnswer$$' -benchtime 1x -timeout 20m ./testsuite/
	# The first failover of a freshly formed demo, on its own: kill -9 of web's owner as
	# soon as web is online, 5 fresh demos (testsuite/firstbench_test.go; $$CORRAL_FIRST_RUNS).
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkFirstFailover$$' -benchtime 1x -timeout 10m ./testsuite/
	# DLM (core/dlm/dlmbench_test.go): lock EX + unlock through the Go API, p50/p99 in us:
	# locally mastered (goal <= 5 us), and with the master on the other node of an
	# in-process pair (messages handed over at once: the DLM's own cost, no network);
	# acquisitions/s on 3 in-process nodes, 1 and 16 clients on distinct names, 8 on one
	# name with fairness (min/max acquisitions per client). Real UDP and the 3-node etcd
	# anchor (../shared/anchors/peers/etcd/) side by side: testsuite/dlmbench_test.go, next.
	$(GO) test -run '^$$' -bench '^BenchmarkDLM(LockUnlock|Acquisitions)' -benchtime $(BENCHTIME) ./core/dlm/
	# Lock manager (testsuite/dlmbench_test.go): lock+unlock through the Go API on
	# 3 in-process nodes over UDP, local and remote master, next to a raw UDP round
	# trip; acquisitions/s (1 and 16 clients on distinct names, 8 on one name with
	# fairness) and `corral lock` next to a 3-node etcd (Debian etcd-server and
	# etcd-client; skipped without them). etcd's concurrency.Mutex runs through the
	# anchor's lockbench client, built outside this module into $(ETCD_LOCKBENCH).
	$(GO) test -run '^$$' -bench '^BenchmarkDLMUDPLockUnlock$$' -benchtime $(BENCHTIME) ./testsuite/
	-cd $(ETCD_LOCKBENCH_SRC) && $(GO) build -o $(ETCD_LOCKBENCH) .
	CORRAL_ETCD_LOCKBENCH=$$(test -x $(ETCD_LOCKBENCH) && echo $(ETCD_LOCKBENCH)) $(GO) test -run '^$$' -bench '^BenchmarkDLMUDPAcquisitions$$' -benchtime 1x -timeout 15m ./testsuite/
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkDLMLockCLI$$' -benchtime 1x -timeout 5m ./testsuite/
	# Event handlers on a running node (core/node/lua_bench_test.go): events through
	# the handlers' queue into a Lua handler (and the shipped log handler), events/s.
	$(GO) test -run '^$$' -bench '^BenchmarkLuaHandlerDispatch$$' -benchtime 20000x ./core/node/
	# Served disk (testsuite/diskbench_test.go): a 3-node demo serving a 1 GiB disk next
	# to nbd-server (../shared/anchors/peers/nbd/) exporting a file of the same content,
	# same run, nothing pinned ($$CORRAL_DISKBENCH_CPUS pins both): nbdcopy sequential
	# read and write (--flush), fio's nbd engine 4 KiB randread/randwrite at iodepth 1 and
	# 16, for the serving node, a non-serving node and nbd-server, medians of
	# $$CORRAL_DISKBENCH_RUNS (default 3), ratios against the goals (skips without
	# nbdcopy, fio, nbd-server); kill -9 of the serving node to the first completed read
	# through another node, p50 of $$CORRAL_DISKBENCH_FAILOVERS (default 10).
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkDiskVsNBDServer$$' -benchtime 1x -timeout 45m ./testsuite/
	CORRAL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench '^BenchmarkDiskFailover$$' -benchtime 1x -timeout 15m ./testsuite/
	# The one table of the figures recorded above.
	$(GO) run ./testsuite/benchtable -results $(BENCH_RESULTS)

# The chaos suite (testsuite/chaos_test.go): CHAOS_ROUNDS rounds of seeded
# faults on a real cluster under load, checked from outside (G3 linearizable
# config DB, G4 one incarnation of the service, G5 `corral lock` holders,
# continuity, G7 healing, availability); a table per round and a verdict. CHAOS_SEED replays a
# run (a failure prints the command), CHAOS_NODES=5, CHAOS_SERVICE=exec (the
# service's process is whoami itself; the default, fork, runs whoami as its
# child). `make test` runs a short run (3 rounds).
CHAOS_ROUNDS ?= 100
CHAOS_SEED ?=
CHAOS_NODES ?= 3
CHAOS_SERVICE ?= fork
CHAOS_FIRST ?= 1
chaos: build
	CORRAL_BIN=$(CURDIR)/$(BIN) CHAOS_ROUNDS=$(CHAOS_ROUNDS) CHAOS_SEED=$(CHAOS_SEED) CHAOS_NODES=$(CHAOS_NODES) \
	  CHAOS_SERVICE=$(CHAOS_SERVICE) CHAOS_FIRST=$(CHAOS_FIRST) \
	  $(GO) test -count=1 -p 1 -run '^TestChaos$$' -v -timeout 4h ./testsuite/

# Fuzzing of every decoder and parser a peer or a user can reach, one
# target after another, each for $(FUZZTIME) (`make fuzz FUZZTIME=30s` for a
# short pass; FUZZFLAGS=-parallel=1 on a shared machine). The targets are
# listed here, package:Target (testsuite/fuzzlist_test.go checks the list
# is complete); a crashing input lands in the package's
# testdata/fuzz/Target/, which `make test` runs as a seed (fix it, keep it).
FUZZTIME ?= 10m
FUZZFLAGS ?=
FUZZ_TARGETS = \
	core/wire:FuzzOpen core/wire:FuzzReassemble core/wire:FuzzDecode core/wire:FuzzHelpers core/wire:FuzzKeyHolder \
	core/transport:FuzzFaults core/conn:FuzzKeyHolder \
	core/membership:FuzzPeerMessages core/membership:FuzzUnmarshalPersisted \
	core/bcast:FuzzDecode \
	core/cdb:FuzzDecodeMessage core/cdb:FuzzDeliver core/cdb:FuzzSnapshot \
	core/crm:FuzzDecode core/crm:FuzzConfigDocs \
	core/fence:FuzzDecode \
	core/dlm:FuzzDecodeMsg \
	core/disk:FuzzDecode core/disk:FuzzParseHeader \
	core/witness:FuzzArbiterFrame core/witness:FuzzDiskSlots \
	core/config:FuzzParse \
	core/api:FuzzBodies core/api:FuzzLockSession \
	shell:FuzzSplit shell:FuzzExec \
	lua:FuzzLuaValues \
	core/dns:FuzzHandler \
	core/nbd:FuzzOptions core/nbd:FuzzRequestParser
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./$$pkg/; \
	done

tidy:
	cp go.mod go.mod.orig; cp go.sum go.sum.orig
	$(GO) mod tidy
	status=0; diff -u go.mod.orig go.mod && diff -u go.sum.orig go.sum || status=1; \
	mv go.mod.orig go.mod; mv go.sum.orig go.sum; \
	if [ $$status -ne 0 ]; then echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result" >&2; exit 1; fi

# A local 3-node cluster in .corral-demo (one `corral agent` per node, in the
# background); `bin/corral demo stop` stops it. See README.md "Demo".
demo: build
	$(BIN) demo

clean:
	rm -rf bin
