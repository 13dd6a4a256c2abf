# Routine tasks. `make help` lists them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# A development secret for `make run` and `make token`. Production sets VBS_TOKEN_SECRET (or
# VBS_TOKEN_SECRET_FILE) itself; the services refuse to start without one.
export VBS_TOKEN_SECRET ?= vbs-development-secret-change-me-0123456789
PROJECT ?= demo-project
NEXTEST_PROFILE ?= default
PG_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: run
run: ## Run the services: policies at :8080, tasks at :8081 (needs PostgreSQL and RabbitMQ: `make deps-up`)
	@scripts/run.sh

.PHONY: token
token: ## Print a token for PROJECT (make token PROJECT=<id>)
	@cargo run -q -p vbsctl -- token --project $(PROJECT)

.PHONY: test
test: check-types-crate check-schema ## Run every test (unit, API, messaging) against real PostgreSQL and RabbitMQ
	cargo nextest run --workspace --profile $(NEXTEST_PROFILE)

.PHONY: lint
lint: ## rustfmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: openapi
openapi: ## Regenerate the committed OpenAPI documents
	cargo run -q -p vbsctl -- openapi policy-service > openapi/policy-service.json
	cargo run -q -p vbsctl -- openapi task-scheduler > openapi/task-scheduler.json

.PHONY: check-types-crate
check-types-crate: ## api-types must not depend on diesel, actix or lapin
	@for dep in diesel actix-web lapin; do \
		if cargo tree -p api-types -e normal -i $$dep >/dev/null 2>&1; then \
			echo "api-types depends on $$dep"; exit 1; fi; done
	@echo "api-types is free of diesel, actix-web and lapin"

.PHONY: check-schema
check-schema: ## The committed diesel schema.rs files match the migrations
	@scripts/check-schema.sh policy-service task-scheduler

.PHONY: deps-up
deps-up: ## Start PostgreSQL and RabbitMQ on this machine if they are not running
	@scripts/deps-up.sh
