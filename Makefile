# dts — MySQL/MariaDB binlog to Kafka.
#
#   make demo   the whole thing on this machine: MariaDB, a dev Kafka broker, `dts dev`, a task
#   make test   unit and integration tests against real MariaDB, Consul, Nomad and Kafka broker
#
# Everything a target needs is installed or built by the target itself.

SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

CONSUL_VERSION := 1.20.6
NOMAD_VERSION := 1.10.5
# Dolt (the MySQL-flavor test server): its version and the commit deploy/tools/dolt/go.mod pins.
DOLT_VERSION := 1.86.4-73fcb4a868c2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps deps-mariadb deps-hashicorp deps-dolt test lint bench bench-scale demo demo-nomad demo-stop clean

all: build

## build: bin/dts and the dev Kafka broker bin/devkafka
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/dts ./cmd/dts
	$(GO) build -o bin/devkafka ./deploy/devkafka

## deps: MariaDB (Debian package), Consul + Nomad and Dolt (built once per machine into ~/.cache/dts)
deps: deps-mariadb deps-hashicorp deps-dolt

deps-mariadb:
	@command -v mariadbd >/dev/null 2>&1 || test -x /usr/sbin/mariadbd || { \
		echo "installing mariadb-server (Debian package)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends mariadb-server >/dev/null || \
		{ $$SUDO apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends mariadb-server >/dev/null; }; }

deps-hashicorp:
	@bash deploy/tools/build.sh consul $(CONSUL_VERSION)
	@bash deploy/tools/build.sh nomad $(NOMAD_VERSION)

# Dolt links ICU through cgo: its headers come from Debian's libicu-dev.
deps-dolt:
	@test -e /usr/include/unicode/uregex.h || { \
		echo "installing libicu-dev (Debian package)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends libicu-dev >/dev/null || \
		{ $$SUDO apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends libicu-dev >/dev/null; }; }
	@bash deploy/tools/build.sh dolt $(DOLT_VERSION)

## test: every unit and integration test, with the race detector
test: deps lint
	$(GO) test -race -count=1 -timeout 60m ./...

## lint: go.mod tidy, go vet, gofmt and staticcheck (pinned), bench files included
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) mod tidy -diff
	$(GO) vet -tags bench ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './deploy/tools/*')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) -tags bench ./...

## bench: one table of rates, CPU per 1M rows, memory and latency, with baselines measured in the
##        same run (BENCH_ROWS=100000 for a quick run; BENCH_CPUPROFILE=FILE profiles the worker)
bench: deps-mariadb build
	$(GO) test -tags bench -run TestBench -count=1 -v -timeout 60m ./internal/bench

## bench-scale: the control plane with 200 tasks on a Nomad dev agent (DTS_SCALE_TASKS,
## DTS_SCALE_LIST_TASKS, DTS_SCALE_BIN to measure another build), figures printed
bench-scale: deps build
	$(GO) test -tags bench -run TestScale -count=1 -v -timeout 60m ./internal/bench

## demo: MariaDB, the dev broker and `dts dev` on this machine, a task, rows flowing
demo: deps-mariadb build
	@bash deploy/demo/demo.sh

## demo-nomad: the same on real Consul and Nomad agents (./bin), with the dispatcher
demo-nomad: deps build
	@bash deploy/demo/demo.sh --nomad

## demo-stop: stop what demo or demo-nomad started
demo-stop:
	@bash deploy/demo/demo.sh stop

clean: demo-stop
	rm -rf bin dts-data
