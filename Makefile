# Routine tasks. `make help` lists them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# A development secret for `make run` and `make token`. Production sets VBS_TOKEN_SECRET (or
# VBS_TOKEN_SECRET_FILE) itself; the services refuse to start without one.
export VBS_TOKEN_SECRET ?= vbs-development-secret-change-me-0123456789
PROJECT ?= demo-project
# The contract tests use pact, which otherwise reports usage over the network.
export PACT_DO_NOT_TRACK := true
NEXTEST_PROFILE ?= default
PG_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: run
run: ## Run the API at http://127.0.0.1:8080: the gateway, all services and a worker (needs PostgreSQL and RabbitMQ: `make deps-up`)
	@scripts/run.sh

ROLE ?= member
.PHONY: token
token: ## Print a token for PROJECT with ROLE (make token PROJECT=<id> [ROLE=reader|member|admin])
	@cargo run -q -p vbsctl -- token --project $(PROJECT) --role $(ROLE)

.PHONY: test
test: check-types-crate check-schema ## Run every test (unit, API, messaging, end to end) against real PostgreSQL and RabbitMQ
	@scripts/ensure-nginx.sh
	cargo nextest run --workspace --profile $(NEXTEST_PROFILE)

.PHONY: lint
lint: ## rustfmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: openapi
openapi: ## Regenerate the committed OpenAPI documents (cargo xtask openapi)
	cargo xtask openapi

.PHONY: check-types-crate
check-types-crate: ## api-types must not depend on diesel, actix or lapin
	@for dep in diesel actix-web lapin; do \
		if cargo tree -p api-types -e normal -i $$dep >/dev/null 2>&1; then \
			echo "api-types depends on $$dep"; exit 1; fi; done
	@echo "api-types is free of diesel, actix-web and lapin"

.PHONY: check-schema
check-schema: ## The committed diesel schema.rs files match the migrations
	@scripts/check-schema.sh policy-service task-scheduler backup-service

.PHONY: test-e2e
test-e2e: ## Only the end-to-end scenarios (they start the services, a worker and the gateway as processes)
	@scripts/ensure-nginx.sh
	cargo nextest run -p e2e --profile $(NEXTEST_PROFILE)

# The compose deployment (docker/compose.yaml), on a Docker engine of this machine: Debian's
# docker.io and docker-compose (v1) are installed and dockerd started when missing, and every
# image is built here (scripts/docker-images.sh). Host ports: the gateway and the span recorder
# only, both on 127.0.0.1.
COMPOSE_PROJECT ?= vbs
COMPOSE ?= docker-compose -p $(COMPOSE_PROJECT) -f docker/compose.yaml
export VBS_COMPOSE_PROJECT := $(COMPOSE_PROJECT)
export VBS_VOLUMES_DIR ?= $(CURDIR)/data/compose/volumes
export VBS_GATEWAY_PORT ?= 8080
export VBS_SPANS_PORT ?= 4319

.PHONY: docker-engine
docker-engine: ## Install Debian's docker.io and docker-compose when missing and start dockerd when it is not running
	@scripts/docker-engine.sh

.PHONY: images
images: docker-engine ## Build every image of the compose deployment here (debootstrap base, host-built release binaries)
	@scripts/docker-images.sh

.PHONY: up
up: ## Build and start the compose deployment, waiting until healthy: gateway at http://127.0.0.1:$(VBS_GATEWAY_PORT)
	@scripts/compose-up.sh

.PHONY: down
down: ## Stop the compose deployment (its data volumes are kept; `make down ARGS=-v` drops them and the volumes directory)
	$(COMPOSE) down --remove-orphans $(ARGS)
	$(if $(filter -v,$(ARGS)),rm -rf $(VBS_VOLUMES_DIR))

# One test at a time: the compose scenarios kill a worker and restart the broker and the
# database, which the other scenarios must not see.
.PHONY: test-e2e-compose
test-e2e-compose: ## The end-to-end scenarios against the running compose deployment (`make up` first)
	VBS_E2E_BASE_URL=http://127.0.0.1:$(VBS_GATEWAY_PORT) VBS_E2E_VOLUMES_ROOT=$(VBS_VOLUMES_DIR) \
	VBS_E2E_SPANS_URL=http://127.0.0.1:$(VBS_SPANS_PORT) VBS_E2E_COMPOSE_PROJECT=$(COMPOSE_PROJECT) \
		cargo nextest run -p e2e --profile $(NEXTEST_PROFILE) --test-threads 1 --success-output final \
		-E 'binary(compose) | binary(scenarios)'

.PHONY: check-docker
check-docker: ## Check docker/ without an engine: hadolint, compose config, nginx -t
	@scripts/check-docker.sh

.PHONY: fuzz
fuzz: ## A bounded schemathesis run of openapi/vbs.json against `make run`'s gateway (scripts/fuzz.sh; CI runs it on a stack of its own)
	@scripts/fuzz.sh

.PHONY: deps-up
deps-up: ## Start PostgreSQL and RabbitMQ on this machine if they are not running
	@scripts/deps-up.sh

.PHONY: bench-auth
bench-auth: ## The cost of authentication: local tokens vs cached and cold Keystone validations (starts scripts/keystone.sh)
	@scripts/keystone.sh up >/dev/null
	cargo run --release -q -p service-kit --example bench_auth

.PHONY: bench-api
bench-api: ## API latency and throughput: task query of 100k tasks at 1,000 req/s, services vs a bare actix+diesel ceiling, the gateway (oha; release builds)
	@scripts/bench-api.sh

.PHONY: bench-scheduler
bench-scheduler: ## 100,000 tasks due at one instant, two scheduler replicas: time to the last backup.requested, exactly once
	@scripts/bench-scheduler.sh

BENCH_DIR ?= data/bench
.PHONY: bench-service
bench-service: ## The service path (API → worker → engine) against the engine alone on bench-engine's 4 GiB image, and the 64 MiB latency floor
	@BENCH_DIR=$(BENCH_DIR) scripts/bench-service.sh

.PHONY: bench-rbd
bench-rbd: ## The rbd driver's full and changed-block incremental backups vs the file driver's, on bench-engine's 4 GiB image (starts scripts/ceph.sh)
	@BENCH_DIR=$(BENCH_DIR) scripts/bench-rbd.sh

.PHONY: bench-engine
bench-engine: ## The engine vs restic, borg and cp on a 4 GiB image (needs ~25 GiB free in BENCH_DIR)
	cargo run --release -p backup-engine --example bench_engine -- $(BENCH_DIR) 4
